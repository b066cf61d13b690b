#!/usr/bin/env python3
"""Make test/onnx/fixtures/reference/: for every fixture model, random inputs
and onnxruntime's outputs, one safetensors file per model, which
check-references.sh compares kiln's outputs against.

Each file holds the model's inputs by their ONNX names and its outputs as
"expected:NAME". Inputs are seeded by the model's name (float: standard
normal; integer: 0..2, valid indices for every fixture; bool: coin flips);
symbolic dimensions are 3 (check-references.sh passes the same sizes to kiln
with --input-shape).

onnxruntime, numpy and safetensors come from PyPI:

    python3 -m venv /tmp/venv
    /tmp/venv/bin/pip install onnxruntime numpy safetensors onnx
    /tmp/venv/bin/python test/onnx/make_references.py [NAME...]

(NAME: a fixture's reference name, as hf__gpt2_tiny; only those are
rewritten.)
"""

import glob
import os
import sys
import zlib

import numpy as np
import onnx
import onnxruntime as ort
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
OUT = os.path.join(FIXTURES, "reference")
SYMBOLIC_SIZE = 3

NUMPY = {onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.DOUBLE: np.float64,
         onnx.TensorProto.FLOAT16: np.float16, onnx.TensorProto.INT64: np.int64,
         onnx.TensorProto.INT32: np.int32, onnx.TensorProto.INT8: np.int8,
         onnx.TensorProto.BOOL: np.bool_}


def reference_name(path):
    return os.path.relpath(path, FIXTURES).replace(os.sep, "__")[: -len(".onnx")]


def main(names):
    """Every fixture's reference (stale ones deleted), or only those named."""
    os.makedirs(OUT, exist_ok=True)
    if not names:
        for stale in glob.glob(os.path.join(OUT, "*.safetensors")):
            os.remove(stale)
    models = sorted(glob.glob(os.path.join(FIXTURES, "*.onnx")) +
                    glob.glob(os.path.join(FIXTURES, "*", "*.onnx")))
    if names:
        models = [m for m in models if reference_name(m) in names]
    written, skipped = 0, []
    for path in models:
        if os.sep + "bad" + os.sep in path:
            continue
        name = reference_name(path)
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        model = onnx.load(path, load_external_data=False)
        initializers = {i.name for i in model.graph.initializer}
        feeds = {}
        for vi in model.graph.input:
            if vi.name in initializers:
                continue
            t = vi.type.tensor_type
            shape = [d.dim_value if d.HasField("dim_value") else SYMBOLIC_SIZE for d in t.shape.dim]
            dtype = NUMPY[t.elem_type]
            if dtype == np.bool_:
                feeds[vi.name] = np.asarray(rng.random(shape) < 0.5)
            elif np.issubdtype(dtype, np.integer):
                feeds[vi.name] = rng.integers(0, 3, shape).astype(dtype)
            else:
                feeds[vi.name] = rng.standard_normal(shape).astype(dtype)
        try:
            session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            outputs = session.run(None, feeds)
        except Exception as e:  # onnxruntime lacks a few opset-18+ kernels
            skipped.append(f"{name}: {str(e).splitlines()[0][:120]}")
            continue
        tensors = dict(feeds)
        for vi, value in zip(session.get_outputs(), outputs):
            # (np.ascontiguousarray would make a 0-d value 1-d.)
            tensors["expected:" + vi.name] = np.array(value, order="C", copy=True)
        save_file(tensors, os.path.join(OUT, name + ".safetensors"))
        written += 1
    print(f"wrote {written} references (onnxruntime {ort.__version__})")
    for s in skipped:
        print("skipped", s)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
