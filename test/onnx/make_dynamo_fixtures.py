#!/usr/bin/env python3
"""Make test/onnx/fixtures/dynamo/: the small benchmark models exported by
PyTorch 2.x's default (dynamo) ONNX exporter.

The TorchScript exporter (Debian's torch 1.13, make_torch_fixtures.py) and
the dynamo exporter write rather different graphs for the same model: opset
18+ (here 20) with Gelu, Range, SplitToSequence/SequenceAt, CastLike, Expand,
Shape-based arithmetic, and weights in an external `.onnx.data` file. These
fixtures keep that form in the test suite. The models are make_torch_fixtures'
small mlp, cnn and gpt (imported from it), exported with `optimize=False`, as
kiln's README asks for training; `gpt_small_optimized.onnx` is the default
`optimize=True` export, whose merged LayerNorm initializers the importer warns
about.

PyTorch 2.x and onnxscript come from PyPI (not Debian), so run it in a venv:

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch onnxscript onnx
    /tmp/torchenv/bin/python test/onnx/make_dynamo_fixtures.py

Made with torch 2.15 and onnxscript 0.7.2; the script prints the versions it
used and the op counts of each file.
"""

import collections
import os
import sys
import warnings

import onnx
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_torch_fixtures as small  # noqa: E402  (the small models)

OUTDIR = os.path.join(HERE, "fixtures", "dynamo")


def export(name, path, optimize):
    torch.manual_seed(0)
    model, x = small.workload(name)
    model.train()
    torch.onnx.export(model, (x,), path, dynamo=True, optimize=optimize,
                      input_names=["input"], output_names=["logits"],
                      external_data=True, verbose=False)
    m = onnx.load(path)  # loads the external data too, and checks it is there
    onnx.checker.check_model(m)
    # Drop the per-node metadata (stack traces, FX names: most of the file)
    # and save again, weights over 1 KiB in one external file as exported.
    for n in m.graph.node:
        del n.metadata_props[:]
        n.doc_string = ""
    os.remove(path + ".data")
    onnx.save(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location=os.path.basename(path) + ".data", size_threshold=1024)
    ops = collections.Counter(n.op_type for n in m.graph.node)
    opset = [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")]
    print(f"{os.path.relpath(path)}  opset {opset[0]}  "
          + ", ".join(f"{k}={v}" for k, v in sorted(ops.items())))


def main():
    print(f"torch {torch.__version__}, onnx {onnx.__version__}")
    warnings.filterwarnings("ignore")
    os.makedirs(OUTDIR, exist_ok=True)
    for stale in os.listdir(OUTDIR):
        os.remove(os.path.join(OUTDIR, stale))
    for name in ("mlp_small", "cnn_small", "gpt_small"):
        export(name, os.path.join(OUTDIR, f"{name}.onnx"), optimize=False)
    export("gpt_small", os.path.join(OUTDIR, "gpt_small_optimized.onnx"), optimize=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
