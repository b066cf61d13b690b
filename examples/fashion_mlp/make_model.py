#!/usr/bin/python3
"""Writes examples/fashion_mlp/fashion_mlp.onnx: the README's example model.

An MLP for Fashion-MNIST: input "input" f32[N, 784] (N symbolic, so
`kiln train --batch B` picks it), Gemm(784->256)-Relu-Gemm(256->10), output
"logits" f32[N, 10]. Weights are initialized as torch.nn.Linear does
(uniform in +-1/sqrt(fan_in) for weight and bias) from numpy's generator with
seed 0, so the file is reproducible byte for byte.

Needs only numpy and onnx: Debian's python3-numpy and python3-onnx, or any
venv with them. Run from the repository root:
    python3 examples/fashion_mlp/make_model.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZES = [784, 256, 10]


def main():
    rng = np.random.default_rng(0)
    inits, nodes = [], []
    x = "input"
    for i, (fan_in, fan_out) in enumerate(zip(SIZES, SIZES[1:])):
        bound = 1 / np.sqrt(fan_in)
        w = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)
        b = rng.uniform(-bound, bound, (fan_out,)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"fc{i + 1}.weight"),
                  numpy_helper.from_array(b, f"fc{i + 1}.bias")]
        last = i == len(SIZES) - 2
        y = "logits" if last else f"fc{i + 1}"
        nodes.append(helper.make_node("Gemm", [x, f"fc{i + 1}.weight", f"fc{i + 1}.bias"],
                                      [y], name=f"fc{i + 1}", transB=1))
        if not last:
            nodes.append(helper.make_node("Relu", [y], [f"relu{i + 1}"], name=f"relu{i + 1}"))
            y = f"relu{i + 1}"
        x = y
    graph = helper.make_graph(
        nodes, "fashion_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", SIZES[0]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", SIZES[-1]])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="kiln examples/fashion_mlp/make_model.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fashion_mlp.onnx")
    onnx.save(model, path)
    print(f"wrote {path}: {sum(int(np.prod(t.dims)) for t in inits)} parameters")


if __name__ == "__main__":
    main()
