#!/usr/bin/env bash
# scripts/check-benchmark-train.sh - one training step of each full-size
# benchmark model (../shared/bench/torch_baseline.py: mlp, cnn, gpt) with
# `kiln step` on the CPU, against PyTorch's step on the same batch in float64
# (AdamW, lr 1e-3, weight decay 0.01, the benchmark's settings): the loss and
# every gradient to rtol 1e-4 / atol 1e-5, and the time each takes. Outside
# the default suite: it needs ../shared/bench and a Python with torch, onnx,
# numpy and safetensors from PyPI, given as TORCH_PYTHON.
#
# The models are exported as the training fixtures are (TorchScript exporter,
# training mode, no constant folding), with the benchmark's batch sizes. The
# updated parameters are not compared here: where a true gradient is zero
# (GPT's attention key biases), float32 rounding noise decides the direction
# of Adam's first step; test/training/ covers the updates.
#
#   TORCH_PYTHON=/tmp/venv/bin/python bash scripts/check-benchmark-train.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${BENCH:-../shared/bench/torch_baseline.py}
python=${TORCH_PYTHON:?set TORCH_PYTHON to a python with torch, onnx, numpy, safetensors}
out=${OUT:-build/bench-train}
mkdir -p "$out"
status=0
for m in ${WORKLOADS:-mlp cnn gpt}; do
  start=$(date +%s)
  "$python" - "$bench" "$m" "$out" <<'PY'
import importlib.util, io, os, sys, warnings
import numpy as np, onnx, torch, torch.nn.functional as F
from onnx import numpy_helper
from safetensors.numpy import save_file
warnings.filterwarnings("ignore")
bench, name, out = sys.argv[1:]
spec = importlib.util.spec_from_file_location("torch_baseline", bench)
tb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tb)
torch.manual_seed(0)
model, x, y, _ = tb.workload(name, "cpu")
model.train()
f = io.BytesIO()
torch.onnx.export(model, (x,), f, dynamo=False, opset_version=17, input_names=["input"],
                  output_names=["logits"], training=torch.onnx.TrainingMode.TRAINING,
                  do_constant_folding=False)
proto = onnx.load_from_string(f.getvalue())
# Saving with external data rewrites the proto it is given: save a copy.
onnx.save(onnx.load_from_string(f.getvalue()), os.path.join(out, name + ".onnx"),
          save_as_external_data=True, location=name + ".onnx.data")
before = {k: v.detach().clone() for k, v in model.named_parameters()}
ref = model.double()
params = dict(ref.named_parameters())
loss = tb.loss_fn(ref(x if x.dtype == torch.int64 else x.double()), y)
loss.backward()
tensors = {"input": x.numpy() if x.dtype == torch.int64 else x.numpy().astype(np.float32),
           "labels": y.numpy().astype(np.int64), "expected:loss": np.array(loss.item(), np.float32)}
for init in proto.graph.initializer:
    if init.name in params:
        tensors["expected:grad." + init.name] = params[init.name].grad.numpy().astype(np.float32)
        continue
    value = numpy_helper.to_array(init)
    for k, p in before.items():
        if p.dim() == 2 and tuple(p.shape[::-1]) == value.shape and np.array_equal(p.T.numpy(), value):
            tensors["expected:grad." + init.name] = params[k].grad.T.numpy().astype(np.float32)
save_file(tensors, os.path.join(out, name + ".reference.safetensors"))
print(f"== {name}: PyTorch float64 loss {loss.item():.6f}, "
      f"{sum(k.startswith('expected:grad.') for k in tensors)} gradients")
PY
  ref_s=$(($(date +%s) - start))
  start=$(date +%s%N)
  build/tools/kiln step "$out/$m.onnx" --optimizer adamw --lr 1e-3 \
    --inputs "$out/$m.reference.safetensors" -o "$out/$m.step.safetensors"
  ms=$((($(date +%s%N) - start) / 1000000))
  if build/test/runtime/kiln_compare_tensors "$out/$m.step.safetensors" \
       "$out/$m.reference.safetensors" --rtol 1e-4 --atol 1e-5; then
    echo "== $m: kiln's loss and gradients match PyTorch's (kiln step, compile included: $ms ms; reference ${ref_s} s)"
  else
    echo "== $m: MISMATCH (kiln step: $ms ms)"
    status=1
  fi
done
exit $status
