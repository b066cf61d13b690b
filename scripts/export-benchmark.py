"""Exports one benchmark model of ../shared/bench/torch_baseline.py for training.

    python scripts/export-benchmark.py BENCH NAME OUTDIR

Writes OUTDIR/NAME.onnx (+ NAME.onnx.data): the workload's model in train
mode through the TorchScript exporter (opset 17, training mode, no constant
folding), the form kiln trains from, at the benchmark's batch size. Needs
torch and onnx (PyPI). The check-benchmark-*.sh scripts call it.
"""
import importlib.util
import io
import os
import sys
import warnings

import onnx
import torch


def load_bench(path):
    spec = importlib.util.spec_from_file_location("torch_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def export(tb, name, out):
    """The workload's (model, input, target), after writing the export."""
    torch.manual_seed(0)
    model, x, y, _ = tb.workload(name, "cpu")
    model.train()
    f = io.BytesIO()
    torch.onnx.export(model, (x,), f, dynamo=False, opset_version=17, input_names=["input"],
                      output_names=["logits"], training=torch.onnx.TrainingMode.TRAINING,
                      do_constant_folding=False)
    # Saving with external data rewrites the proto it is given: save a copy.
    onnx.save(onnx.load_from_string(f.getvalue()), os.path.join(out, name + ".onnx"),
              save_as_external_data=True, location=name + ".onnx.data")
    return model, x, y, onnx.load_from_string(f.getvalue())


if __name__ == "__main__":
    warnings.filterwarnings("ignore")
    bench, name, out = sys.argv[1:]
    export(load_bench(bench), name, out)
