#!/usr/bin/python3
"""Make the small ONNX fixture models in test/onnx/fixtures/.

One model per ONNX operator kiln's importer handles, plus variants (opsets,
optional inputs, attributes) and a few whole-graph traps (shape arithmetic
as PyTorch's exporter writes it, a shared initializer, a symbolic batch dim,
a tiny MLP). Every model has ir_version 8, one default-domain opset import
(17 unless the fixture says otherwise), graph name = fixture name, named
nodes, and static, typed graph inputs and outputs (except `symbolic_batch`).
Weights are float32 initializers; inputs ONNX needs constant for a static
shape (Reshape shape, Slice starts/ends, axes, ...) are int64 initializers or
Constant nodes.

Rerun from the repository root with Debian's Python and python3-onnx:

    /usr/bin/python3 test/onnx/make_fixtures.py

It deletes every *.onnx in test/onnx/fixtures/ and rewrites them; the output
is deterministic (each fixture's random values come from
numpy.random.default_rng seeded with the CRC32 of its name), so a rerun with
the same onnx and numpy gives byte-identical files. Do not edit the .onnx
files by hand.

Checks: onnx.checker.check_model and strict shape inference (which must agree
with the declared shapes) run on every model whose opset onnx knows. onnx
1.12 knows opsets up to 17: opset-18 fixtures are written unchecked (1.12's
checker would validate them against the opset-13 schemas), and the opset-20
Gelu fixture is written only if the installed onnx's checker accepts it.
"""

import glob
import os
import sys
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "fixtures")
KNOWN_OPSET = onnx.defs.onnx_opset_version()

F32 = TensorProto.FLOAT
I64 = TensorProto.INT64
I32 = TensorProto.INT32
BOOL = TensorProto.BOOL

written = []
notes = []


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def rng_for(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def init_f32(name, array):
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def init_i64(name, values):
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


def const_node(out, array, name):
    """A Constant node whose `value` is `array` (dtype kept)."""
    return helper.make_node("Constant", [], [out], name=name,
                            value=numpy_helper.from_array(np.asarray(array), out + "_value"))


def const_i64_node(out, values, name):
    return const_node(out, np.asarray(values, dtype=np.int64), name)


def node(op, inputs, outputs, name, **attrs):
    return helper.make_node(op, inputs, outputs, name=name, **attrs)


def save(name, nodes, inputs, outputs, inits=(), opset=17, require_check=False,
         infer_shapes=True):
    """Build, check and write fixture `name`.

    Models whose opset the installed onnx knows are checked with the checker
    and with strict shape inference. Newer opsets are written unchecked,
    unless require_check is set, in which case they are written only if the
    checker accepts them.
    """
    graph = helper.make_graph(list(nodes), name, list(inputs), list(outputs),
                              initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              ir_version=8, producer_name="kiln make_fixtures.py")
    if opset <= KNOWN_OPSET or require_check:
        try:
            onnx.checker.check_model(model, full_check=False)
        except onnx.checker.ValidationError as e:
            if not require_check:
                raise
            first = str(e).strip().splitlines()[0]
            notes.append(f"skipped {name}: checker rejects it ({first})")
            return
        if opset <= KNOWN_OPSET and not infer_shapes:
            notes.append(f"{name}: shapes not inferred (onnx's inference is wrong there)")
        elif opset <= KNOWN_OPSET:
            # Inference must agree with every declared shape; the inferred
            # model is only checked, never saved.
            onnx.shape_inference.infer_shapes(model, check_type=True,
                                              strict_mode=True, data_prop=True)
    else:
        notes.append(f"{name}: opset {opset} > {KNOWN_OPSET}, written without checker")
    path = os.path.join(OUT_DIR, name + ".onnx")
    onnx.save(model, path)
    written.append(name)


# --------------------------------------------------------------------------
# Element-wise
# --------------------------------------------------------------------------

def unary():
    for op in ["Neg", "Abs", "Sqrt", "Reciprocal", "Exp", "Log", "Erf", "Tanh",
               "Sigmoid", "Relu", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan",
               "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Ceil", "Floor",
               "Round", "Sign"]:
        lower = op.lower()
        save(lower, [node(op, ["x"], ["y"], lower + "0")],
             [vi("x", F32, [2, 3, 4])], [vi("y", F32, [2, 3, 4])])
    for name, op, attrs in [("leakyrelu", "LeakyRelu", {"alpha": 0.1}),
                            ("hardsigmoid", "HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
                            ("hardswish", "HardSwish", {}),
                            # Composed of graph ops at import.
                            ("elu", "Elu", {"alpha": 0.5}),
                            ("celu", "Celu", {"alpha": 2.0}),
                            ("selu", "Selu", {}),
                            ("softplus", "Softplus", {}),
                            ("softsign", "Softsign", {}),
                            ("thresholdedrelu", "ThresholdedRelu", {"alpha": 0.3})]:
        save(name, [node(op, ["x"], ["y"], name + "0", **attrs)],
             [vi("x", F32, [2, 3, 4])], [vi("y", F32, [2, 3, 4])])
    # Gelu exists from opset 20 only.
    save("gelu_opset20", [node("Gelu", ["x"], ["y"], "gelu0")],
         [vi("x", F32, [2, 3, 4])], [vi("y", F32, [2, 3, 4])],
         opset=20, require_check=True)


def clip():
    # min/max as Constant nodes (scalars).
    save("clip",
         [const_node("min", np.float32(-0.5), "min_const"),
          const_node("max", np.float32(0.5), "max_const"),
          node("Clip", ["x", "min", "max"], ["y"], "clip0")],
         [vi("x", F32, [2, 3, 4])], [vi("y", F32, [2, 3, 4])])
    # min as an initializer, max omitted with an empty input name.
    save("clip_min_only",
         [node("Clip", ["x", "min", ""], ["y"], "clip0")],
         [vi("x", F32, [2, 3, 4])], [vi("y", F32, [2, 3, 4])],
         [init_f32("min", np.float32(0.0))])


def binary():
    for op in ["Add", "Sub", "Mul", "Div", "Pow"]:
        lower = op.lower()
        save(lower, [node(op, ["a", "b"], ["c"], lower + "0")],
             [vi("a", F32, [2, 3, 4]), vi("b", F32, [3, 1])],
             [vi("c", F32, [2, 3, 4])])
    save("pow_int_exponent", [node("Pow", ["a", "b"], ["c"], "pow0")],
         [vi("a", F32, [2, 3, 4])], [vi("c", F32, [2, 3, 4])],
         [init_i64("b", np.int64(2))])


def comparisons():
    for op in ["Equal", "Less", "Greater", "GreaterOrEqual", "LessOrEqual"]:
        lower = op.lower()
        save(lower, [node(op, ["a", "b"], ["c"], lower + "0")],
             [vi("a", F32, [2, 3]), vi("b", F32, [3])], [vi("c", BOOL, [2, 3])])
    save("not", [node("Not", ["x"], ["y"], "not0")],
         [vi("x", BOOL, [2, 3])], [vi("y", BOOL, [2, 3])])
    save("isnan", [node("IsNaN", ["x"], ["y"], "isnan0")],
         [vi("x", F32, [2, 3])], [vi("y", BOOL, [2, 3])])
    # Infinities of both signs from a division by zero; all of them, and the
    # negative ones only.
    save("isinf",
         [const_node("z", np.array([[0, 1, 0], [1, 0, 1]], dtype=np.float32), "z_const"),
          node("Div", ["x", "z"], ["q"], "div0"),
          node("IsInf", ["q"], ["y"], "isinf0"),
          node("IsInf", ["q"], ["n"], "isinf1", detect_positive=0)],
         [vi("x", F32, [2, 3])], [vi("y", BOOL, [2, 3]), vi("n", BOOL, [2, 3])], opset=10)
    save("where", [node("Where", ["cond", "x", "y"], ["z"], "where0")],
         [vi("cond", BOOL, [2, 3]), vi("x", F32, [2, 3]), vi("y", F32, [1, 3])],
         [vi("z", F32, [2, 3])])


# --------------------------------------------------------------------------
# MatMul, Gemm, Conv
# --------------------------------------------------------------------------

def matmul():
    for name, a, b, c in [("matmul_2d", [4, 5], [5, 6], [4, 6]),
                          ("matmul_batched", [2, 4, 5], [5, 6], [2, 4, 6]),
                          ("matmul_vector", [5], [5, 6], [6])]:
        r = rng_for(name)
        save(name, [node("MatMul", ["a", "b"], ["c"], "matmul0")],
             [vi("a", F32, a)], [vi("c", F32, c)],
             [init_f32("b", r.standard_normal(b))])


def gemm():
    r = rng_for("gemm")
    save("gemm", [node("Gemm", ["a", "b", "c"], ["y"], "gemm0")],
         [vi("a", F32, [4, 5])], [vi("y", F32, [4, 6])],
         [init_f32("b", r.standard_normal([5, 6])), init_f32("c", r.standard_normal([6]))])
    r = rng_for("gemm_trans")
    save("gemm_trans",
         [node("Gemm", ["a", "b", "c"], ["y"], "gemm0",
               transA=1, transB=1, alpha=0.5, beta=2.0)],
         [vi("a", F32, [5, 4])], [vi("y", F32, [4, 6])],
         [init_f32("b", r.standard_normal([6, 5])), init_f32("c", r.standard_normal([4, 1]))])
    r = rng_for("gemm_no_c")
    save("gemm_no_c", [node("Gemm", ["a", "b"], ["y"], "gemm0")],
         [vi("a", F32, [4, 5])], [vi("y", F32, [4, 6])],
         [init_f32("b", r.standard_normal([5, 6]))])


def conv():
    r = rng_for("conv")
    save("conv",
         [node("Conv", ["x", "w", "b"], ["y"], "conv0",
               kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1])],
         [vi("x", F32, [1, 3, 8, 8])], [vi("y", F32, [1, 4, 8, 8])],
         [init_f32("w", r.standard_normal([4, 3, 3, 3])), init_f32("b", r.standard_normal([4]))])
    r = rng_for("conv_strided_grouped")
    save("conv_strided_grouped",
         [node("Conv", ["x", "w"], ["y"], "conv0", group=2, strides=[2, 2],
               pads=[1, 1, 1, 1], dilations=[1, 1])],
         [vi("x", F32, [1, 4, 8, 8])], [vi("y", F32, [1, 4, 4, 4])],
         [init_f32("w", r.standard_normal([4, 2, 3, 3]))])
    r = rng_for("conv_auto_pad")
    save("conv_auto_pad",
         [node("Conv", ["x", "w", "b"], ["y"], "conv0", auto_pad="SAME_UPPER",
               strides=[2, 2])],
         [vi("x", F32, [1, 3, 8, 8])], [vi("y", F32, [1, 4, 4, 4])],
         [init_f32("w", r.standard_normal([4, 3, 3, 3])), init_f32("b", r.standard_normal([4]))])


# --------------------------------------------------------------------------
# Normalization, pooling, softmax
# --------------------------------------------------------------------------

def convtranspose():
    r = rng_for("convtranspose")
    save("convtranspose",
         [node("ConvTranspose", ["x", "w", "b"], ["y"], "convtranspose0",
               strides=[2, 2], pads=[1, 0, 1, 1], output_padding=[1, 0])],
         [vi("x", F32, [2, 3, 4, 5])], [vi("y", F32, [2, 4, 8, 10])],
         [init_f32("w", r.standard_normal([3, 4, 3, 3])), init_f32("b", r.standard_normal([4]))])
    r = rng_for("convtranspose_group")
    save("convtranspose_group",
         [node("ConvTranspose", ["x", "w"], ["y"], "convtranspose0",
               group=2, dilations=[2, 1], strides=[1, 2])],
         [vi("x", F32, [1, 4, 3, 3])], [vi("y", F32, [1, 6, 7, 6])],
         [init_f32("w", r.standard_normal([4, 3, 3, 2]))])
    r = rng_for("convtranspose_1d")
    save("convtranspose_1d",
         [node("ConvTranspose", ["x", "w"], ["y"], "convtranspose0", strides=[3])],
         [vi("x", F32, [2, 2, 5])], [vi("y", F32, [2, 3, 16])],
         [init_f32("w", r.standard_normal([2, 3, 4]))])
    # output_shape: 9 x 7 from a full 9 x 9 (pads 1 and 1 on W), and 10 x 7
    # from a full 9 x 7 (one row past the full output, at the end: zeros,
    # plus the bias; a larger excess is split as the spec's formula says,
    # with ONNX's reference, where onnxruntime puts it all at the end, so it
    # is left to the conformance tests); SAME_LOWER (the odd pad at the
    # start).
    r = rng_for("convtranspose_output_shape")
    save("convtranspose_output_shape",
         [node("ConvTranspose", ["x", "w", "b"], ["y"], "convtranspose0", strides=[3, 3],
               output_shape=[9, 7]),
          node("ConvTranspose", ["x", "w", "b"], ["z"], "convtranspose1", strides=[3, 2],
               output_shape=[10, 7]),
          node("ConvTranspose", ["x", "w", "b"], ["s"], "convtranspose2", strides=[2, 2],
               auto_pad="SAME_LOWER")],
         [vi("x", F32, [1, 2, 3, 3])],
         [vi("y", F32, [1, 3, 9, 7]), vi("z", F32, [1, 3, 10, 7]), vi("s", F32, [1, 3, 6, 6])],
         [init_f32("w", r.standard_normal([2, 3, 3, 3])), init_f32("b", r.standard_normal([3]))])


def bn_inits(name, c):
    r = rng_for(name)
    return [init_f32("scale", r.standard_normal([c])),
            init_f32("bias", r.standard_normal([c])),
            init_f32("mean", r.standard_normal([c])),
            init_f32("var", np.abs(r.standard_normal([c])) + 0.5)]


def batchnorm():
    ins = ["x", "scale", "bias", "mean", "var"]
    x = vi("x", F32, [2, 3, 4, 4])
    save("batchnorm_inference",
         [node("BatchNormalization", ins, ["y"], "batchnorm0",
               epsilon=1e-5, momentum=0.9, training_mode=0)],
         [x], [vi("y", F32, [2, 3, 4, 4])], bn_inits("batchnorm_inference", 3), opset=15)
    save("batchnorm_training",
         [node("BatchNormalization", ins, ["y", "running_mean", "running_var"],
               "batchnorm0", epsilon=1e-5, momentum=0.9, training_mode=1)],
         [x], [vi("y", F32, [2, 3, 4, 4]), vi("running_mean", F32, [3]),
               vi("running_var", F32, [3])],
         bn_inits("batchnorm_training", 3), opset=15)
    # The node still has all three outputs (onnx 1.12's BatchNormalization-15
    # inference requires three when training_mode=1); only y is a graph output.
    save("batchnorm_training_y_only",
         [node("BatchNormalization", ins, ["y", "running_mean", "running_var"], "batchnorm0",
               epsilon=1e-5, momentum=0.9, training_mode=1)],
         [x], [vi("y", F32, [2, 3, 4, 4])], bn_inits("batchnorm_training_y_only", 3), opset=15)


def layernorm():
    r = rng_for("layernorm")
    save("layernorm",
         [node("LayerNormalization", ["x", "scale", "bias"], ["y"], "layernorm0",
               axis=-1, epsilon=1e-5)],
         [vi("x", F32, [2, 3, 8])], [vi("y", F32, [2, 3, 8])],
         [init_f32("scale", r.standard_normal([8])), init_f32("bias", r.standard_normal([8]))])
    r = rng_for("layernorm_axis1")
    save("layernorm_axis1",
         [node("LayerNormalization", ["x", "scale", "bias"], ["y"], "layernorm0",
               axis=1, epsilon=1e-5)],
         [vi("x", F32, [2, 3, 4])], [vi("y", F32, [2, 3, 4])],
         [init_f32("scale", r.standard_normal([3, 4])),
          init_f32("bias", r.standard_normal([3, 4]))])


def instancenorm():
    r = rng_for("instancenorm")
    save("instancenorm",
         [node("InstanceNormalization", ["x", "scale", "bias"], ["y"], "instancenorm0",
               epsilon=1e-3)],
         [vi("x", F32, [2, 3, 4, 5])], [vi("y", F32, [2, 3, 4, 5])],
         [init_f32("scale", r.standard_normal([3])), init_f32("bias", r.standard_normal([3]))])


def pooling():
    save("maxpool",
         [node("MaxPool", ["x"], ["y"], "maxpool0", kernel_shape=[2, 2], strides=[2, 2])],
         [vi("x", F32, [1, 2, 6, 6])], [vi("y", F32, [1, 2, 3, 3])])
    # ceil_mode: floor((6 + 2 - 3) / 2) + 1 = 3, ceil gives 4.
    save("maxpool_padded",
         [node("MaxPool", ["x"], ["y"], "maxpool0", kernel_shape=[3, 3], strides=[2, 2],
               pads=[1, 1, 1, 1], ceil_mode=1)],
         [vi("x", F32, [1, 2, 6, 6])], [vi("y", F32, [1, 2, 4, 4])])
    save("averagepool",
         [node("AveragePool", ["x"], ["y"], "averagepool0", kernel_shape=[3, 3],
               strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0)],
         [vi("x", F32, [1, 2, 6, 6])], [vi("y", F32, [1, 2, 6, 6])])
    save("globalaveragepool",
         [node("GlobalAveragePool", ["x"], ["y"], "globalaveragepool0")],
         [vi("x", F32, [1, 3, 4, 4])], [vi("y", F32, [1, 3, 1, 1])])
    save("globalmaxpool",
         [node("GlobalMaxPool", ["x"], ["y"], "globalmaxpool0")],
         [vi("x", F32, [2, 3, 4, 5])], [vi("y", F32, [2, 3, 1, 1])])


def softmax():
    for op in ["Softmax", "LogSoftmax"]:
        lower = op.lower()
        save(lower, [node(op, ["x"], ["y"], lower + "0", axis=-1)],
             [vi("x", F32, [2, 3, 4])], [vi("y", F32, [2, 3, 4])])
    # Opset < 13: coerce to 2-D [2, 12] around axis 1, softmax over the 12.
    save("softmax_opset11", [node("Softmax", ["x"], ["y"], "softmax0", axis=1)],
         [vi("x", F32, [2, 3, 4])], [vi("y", F32, [2, 3, 4])], opset=11)


# --------------------------------------------------------------------------
# Shape ops
# --------------------------------------------------------------------------

def flatten():
    save("flatten", [node("Flatten", ["x"], ["y"], "flatten0", axis=1)],
         [vi("x", F32, [2, 3, 4, 5])], [vi("y", F32, [2, 60])])
    save("flatten_axis0", [node("Flatten", ["x"], ["y"], "flatten0", axis=0)],
         [vi("x", F32, [2, 3, 4, 5])], [vi("y", F32, [1, 120])])


def reshape():
    save("reshape", [node("Reshape", ["x", "shape"], ["y"], "reshape0", allowzero=0)],
         [vi("x", F32, [2, 3, 4])], [vi("y", F32, [2, 12])],
         [init_i64("shape", [0, -1])])
    save("reshape_static",
         [const_i64_node("shape", [4, 6], "shape_const"),
          node("Reshape", ["x", "shape"], ["y"], "reshape0")],
         [vi("x", F32, [2, 3, 4])], [vi("y", F32, [4, 6])])


def transpose():
    save("transpose", [node("Transpose", ["x"], ["y"], "transpose0", perm=[2, 0, 1])],
         [vi("x", F32, [2, 3, 4])], [vi("y", F32, [4, 2, 3])])
    save("transpose_default", [node("Transpose", ["x"], ["y"], "transpose0")],
         [vi("x", F32, [2, 3, 4])], [vi("y", F32, [4, 3, 2])])


def squeeze():
    save("squeeze", [node("Squeeze", ["x", "axes"], ["y"], "squeeze0")],
         [vi("x", F32, [2, 1, 3])], [vi("y", F32, [2, 3])], [init_i64("axes", [1])])
    save("unsqueeze",
         [const_i64_node("axes", [0, 3], "axes_const"),
          node("Unsqueeze", ["x", "axes"], ["y"], "unsqueeze0")],
         [vi("x", F32, [2, 3])], [vi("y", F32, [1, 2, 3, 1])])
    save("squeeze_opset11", [node("Squeeze", ["x"], ["y"], "squeeze0", axes=[1])],
         [vi("x", F32, [2, 1, 3])], [vi("y", F32, [2, 3])], opset=11)
    save("unsqueeze_opset11", [node("Unsqueeze", ["x"], ["y"], "unsqueeze0", axes=[0, 3])],
         [vi("x", F32, [2, 3])], [vi("y", F32, [1, 2, 3, 1])], opset=11)


def concat():
    save("concat", [node("Concat", ["a", "b", "c"], ["y"], "concat0", axis=1)],
         [vi("a", F32, [2, 1, 4]), vi("b", F32, [2, 2, 4]), vi("c", F32, [2, 3, 4])],
         [vi("y", F32, [2, 6, 4])])
    save("concat_negative_axis", [node("Concat", ["a", "b", "c"], ["y"], "concat0", axis=-1)],
         [vi("a", F32, [2, 3, 1]), vi("b", F32, [2, 3, 2]), vi("c", F32, [2, 3, 3])],
         [vi("y", F32, [2, 3, 6])])


def split():
    save("split_sizes", [node("Split", ["x", "split"], ["y0", "y1"], "split0", axis=0)],
         [vi("x", F32, [6, 3])], [vi("y0", F32, [2, 3]), vi("y1", F32, [4, 3])],
         [init_i64("split", [2, 4])])
    save("split_equal", [node("Split", ["x"], ["y0", "y1", "y2"], "split0", axis=1)],
         [vi("x", F32, [2, 6])],
         [vi("y0", F32, [2, 2]), vi("y1", F32, [2, 2]), vi("y2", F32, [2, 2])])
    # Opset 18: chunks of ceil(7 / 3) = 3, the last one smaller (1).
    save("split_opset18_num_outputs",
         [node("Split", ["x"], ["y0", "y1", "y2"], "split0", axis=0, num_outputs=3)],
         [vi("x", F32, [7, 2])],
         [vi("y0", F32, [3, 2]), vi("y1", F32, [3, 2]), vi("y2", F32, [1, 2])], opset=18)


def slice_():
    # x[1:3, :, 0:100:2] -> [2, 3, 3]; starts/ends initializers, axes/steps Constants.
    save("slice",
         [const_i64_node("axes", [0, 2], "axes_const"),
          const_i64_node("steps", [1, 2], "steps_const"),
          node("Slice", ["x", "starts", "ends", "axes", "steps"], ["y"], "slice0")],
         [vi("x", F32, [4, 3, 5])], [vi("y", F32, [2, 3, 3])],
         [init_i64("starts", [1, 0]), init_i64("ends", [3, 100])])
    # x[-1:-4:-1, :, -2:INT64_MIN:-1] = x[3:0:-1, :, 3::-1] -> [3, 3, 4].
    save("slice_negative",
         [node("Slice", ["x", "starts", "ends", "axes", "steps"], ["y"], "slice0")],
         [vi("x", F32, [4, 3, 5])], [vi("y", F32, [3, 3, 4])],
         [init_i64("starts", [-1, -2]), init_i64("ends", [-4, np.iinfo(np.int64).min]),
          init_i64("axes", [0, 2]), init_i64("steps", [-1, -1])])


def gather():
    r = rng_for("gather_embedding")
    save("gather_embedding", [node("Gather", ["table", "ids"], ["y"], "gather0", axis=0)],
         [vi("ids", I64, [2, 3])], [vi("y", F32, [2, 3, 4])],
         [init_f32("table", r.standard_normal([10, 4]))])
    save("gather_axis1",
         [const_i64_node("indices", [4, 1], "indices_const"),
          node("Gather", ["x", "indices"], ["y"], "gather0", axis=1)],
         [vi("x", F32, [3, 5])], [vi("y", F32, [3, 2])])
    save("gather_scalar_index",
         [node("Gather", ["x", "index"], ["y"], "gather0", axis=0)],
         [vi("x", F32, [3, 5])], [vi("y", F32, [5])], [init_i64("index", np.int64(1))])
    save("gatherelements",
         [node("GatherElements", ["x", "indices"], ["y"], "gatherelements0", axis=1)],
         [vi("x", F32, [3, 4]), vi("indices", I64, [3, 2])], [vi("y", F32, [3, 2])])


def expand_trilu():
    save("expand",
         [const_i64_node("shape", [2, 3, 4], "shape_const"),
          node("Expand", ["x", "shape"], ["y"], "expand0")],
         [vi("x", F32, [3, 1])], [vi("y", F32, [2, 3, 4])])
    save("trilu", [node("Trilu", ["x", "k"], ["y"], "trilu0", upper=1)],
         [vi("x", F32, [4, 4])], [vi("y", F32, [4, 4])], [init_i64("k", np.int64(1))])
    save("trilu_lower", [node("Trilu", ["x"], ["y"], "trilu0", upper=0)],
         [vi("x", F32, [4, 4])], [vi("y", F32, [4, 4])])


def pad():
    x = vi("x", F32, [2, 3, 4])
    save("pad",
         [const_i64_node("pads", [0, 1, 2, 0, 2, 1], "pads_const"),
          const_node("value", np.array(1.5, dtype=np.float32), "value_const"),
          node("Pad", ["x", "pads", "value"], ["y"], "pad0")],
         [x], [vi("y", F32, [2, 6, 7])])
    save("pad_reflect",
         [const_i64_node("pads", [0, 2, 1, 0, 1, 3], "pads_const"),
          node("Pad", ["x", "pads"], ["y"], "pad0", mode="reflect")],
         [x], [vi("y", F32, [2, 6, 8])])
    # Edge padding, and a negative pad (a cut) on the last axis.
    save("pad_edge",
         [const_i64_node("pads", [1, 0, -1, 0, 2, 2], "pads_const"),
          node("Pad", ["x", "pads"], ["y"], "pad0", mode="edge")],
         [x], [vi("y", F32, [3, 5, 5])])
    # Opset 18's axes input: only the last axis.
    save("pad_axes",
         [const_i64_node("pads", [1, 2], "pads_const"),
          const_i64_node("axes", [-1], "axes_const"),
          node("Pad", ["x", "pads", "", "axes"], ["y"], "pad0")],
         [x], [vi("y", F32, [2, 3, 7])], opset=18)


def resize():
    x = vi("x", F32, [1, 2, 3, 4])
    # nn.Upsample(scale_factor=(2, 3), mode="nearest") as TorchScript writes it.
    save("resize",
         [node("Resize", ["x", "", "scales"], ["y"], "resize0", mode="nearest",
               coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
         [x], [vi("y", F32, [1, 2, 6, 12])],
         [numpy_helper.from_array(np.array([1, 1, 2, 3], dtype=np.float32), "scales")])
    # By sizes, with the default half_pixel coordinates.
    save("resize_sizes",
         [const_i64_node("sizes", [1, 4, 3, 8], "sizes_const"),
          node("Resize", ["x", "", "", "sizes"], ["y"], "resize0", mode="nearest")],
         [x], [vi("y", F32, [1, 4, 3, 8])])
    save("upsample",
         [node("Upsample", ["x", "scales"], ["y"], "upsample0", mode="nearest")],
         [x], [vi("y", F32, [1, 2, 6, 8])],
         [numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales")],
         opset=9)
    # Linear (bilinear) up by 2 in half_pixel (nn.Upsample(mode="bilinear")),
    # and down by sizes with align_corners.
    save("resize_linear",
         [const_i64_node("sizes", [1, 2, 2, 3], "sizes_const"),
          node("Resize", ["x", "", "scales"], ["y"], "resize0", mode="linear"),
          node("Resize", ["x", "", "", "sizes"], ["z"], "resize1", mode="linear",
               coordinate_transformation_mode="align_corners")],
         [x], [vi("y", F32, [1, 2, 6, 8]), vi("z", F32, [1, 2, 2, 3])],
         [numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales")])
    # Cubic by 1.5 (exclude_outside, A = -0.5), and pytorch_half_pixel.
    save("resize_cubic",
         [node("Resize", ["x", "", "scales"], ["y"], "resize0", mode="cubic",
               cubic_coeff_a=-0.5, exclude_outside=1),
          node("Resize", ["x", "", "scales"], ["z"], "resize1", mode="cubic",
               coordinate_transformation_mode="pytorch_half_pixel")],
         [x], [vi("y", F32, [1, 2, 4, 6]), vi("z", F32, [1, 2, 4, 6])],
         [numpy_helper.from_array(np.array([1, 1, 1.5, 1.5], dtype=np.float32), "scales")])
    # Nearest by 1.5 and 0.5, asymmetric with ceil; tf_half_pixel_for_nn.
    save("resize_nearest_ratio",
         [node("Resize", ["x", "", "scales"], ["y"], "resize0", mode="nearest",
               coordinate_transformation_mode="asymmetric", nearest_mode="ceil"),
          node("Resize", ["x", "", "scales"], ["z"], "resize1", mode="nearest",
               coordinate_transformation_mode="tf_half_pixel_for_nn")],
         [x], [vi("y", F32, [1, 2, 4, 2]), vi("z", F32, [1, 2, 4, 2])],
         [numpy_helper.from_array(np.array([1, 1, 1.5, 0.5], dtype=np.float32), "scales")])


def depth_space():
    x = vi("x", F32, [2, 8, 2, 3])
    save("depthtospace", [node("DepthToSpace", ["x"], ["y"], "d2s0", blocksize=2)],
         [x], [vi("y", F32, [2, 2, 4, 6])])
    save("depthtospace_crd", [node("DepthToSpace", ["x"], ["y"], "d2s0", blocksize=2, mode="CRD")],
         [x], [vi("y", F32, [2, 2, 4, 6])])
    save("spacetodepth", [node("SpaceToDepth", ["x"], ["y"], "s2d0", blocksize=2)],
         [vi("x", F32, [2, 3, 4, 6])], [vi("y", F32, [2, 12, 2, 3])])


def onehot():
    # Known indices, one negative (counted from depth), plus an input.
    save("onehot",
         [const_i64_node("idx", [[0, 4, -1], [2, 2, 1]], "idx_const"),
          const_i64_node("depth", [5], "depth_const"),
          const_node("values", np.array([0.5, 2.0], dtype=np.float32), "values_const"),
          node("OneHot", ["idx", "depth", "values"], ["h"], "onehot0"),
          node("Add", ["h", "x"], ["y"], "add0")],
         [vi("x", F32, [2, 3, 5])], [vi("y", F32, [2, 3, 5])])
    # Indices from the graph input, the new axis in the middle.
    save("onehot_axis",
         [const_i64_node("depth", [3], "depth_const"),
          const_node("values", np.array([-1.0, 1.0], dtype=np.float32), "values_const"),
          node("OneHot", ["i", "depth", "values"], ["y"], "onehot0", axis=1)],
         [vi("i", I64, [2, 4])], [vi("y", F32, [2, 3, 4])])


def einsum():
    # Attention's scores (batch b, h; contracted d), a trained operand.
    r = rng_for("einsum_attention")
    save("einsum_attention",
         [node("Einsum", ["q", "k"], ["s"], "einsum0", equation="bhqd,bhkd->bhqk")],
         [vi("q", F32, [2, 3, 4, 5])], [vi("s", F32, [2, 3, 4, 6])],
         [init_f32("k", r.standard_normal([2, 3, 6, 5]))])
    # An ellipsis and an implicit result ("...ik"), spaces in the equation.
    r = rng_for("einsum_ellipsis")
    save("einsum_ellipsis",
         [node("Einsum", ["a", "b"], ["c"], "einsum0", equation="...ij, ...jk")],
         [vi("a", F32, [2, 3, 4])], [vi("c", F32, [2, 3, 5])],
         [init_f32("b", r.standard_normal([2, 4, 5]))])
    # A label only one operand has, summed first (i); one operand alone:
    # a transpose, and a sum of everything.
    r = rng_for("einsum_reduce")
    save("einsum_reduce",
         [node("Einsum", ["x", "w"], ["y"], "einsum0", equation="bij,jk->kb"),
          node("Einsum", ["x"], ["t"], "einsum1", equation="bij->jib"),
          node("Einsum", ["x"], ["s"], "einsum2", equation="bij->")],
         [vi("x", F32, [2, 3, 4])],
         [vi("y", F32, [5, 2]), vi("t", F32, [4, 3, 2]), vi("s", F32, [])],
         [init_f32("w", r.standard_normal([4, 5]))])
    # Three operands, multiplied left to right (b kept for the result, j
    # reduced in the first product, k in the second).
    r = rng_for("einsum_three")
    save("einsum_three",
         [node("Einsum", ["x", "u", "w"], ["y"], "einsum0", equation="bij,jk,bkl->bil")],
         [vi("x", F32, [2, 3, 4])], [vi("y", F32, [2, 3, 6])],
         [init_f32("u", r.standard_normal([4, 5])), init_f32("w", r.standard_normal([2, 5, 6]))])


def einsum_diagonal():
    # A label twice in one operand: a diagonal, a trace (implicit output),
    # a batched diagonal, one multiplied on.
    save("einsum_diagonal",
         [node("Einsum", ["a"], ["diag"], "diag", equation="ii->i"),
          node("Einsum", ["a"], ["trace"], "trace", equation="ii"),
          node("Einsum", ["b"], ["bdiag"], "bdiag", equation="...ii->...i"),
          node("Einsum", ["c", "d"], ["mixed"], "mixed", equation="iij,jk->ik")],
         [vi("a", F32, [4, 4]), vi("b", F32, [2, 3, 3]), vi("c", F32, [3, 3, 2]),
          vi("d", F32, [2, 5])],
         [vi("diag", F32, [4]), vi("trace", F32, []), vi("bdiag", F32, [2, 3]),
          vi("mixed", F32, [3, 5])])


def topk():
    # The two largest of each row (values and indices).
    save("topk",
         [const_i64_node("k", [2], "k_const"),
          node("TopK", ["x", "k"], ["v", "i"], "topk0")],
         [vi("x", F32, [3, 5])], [vi("v", F32, [3, 2]), vi("i", I64, [3, 2])])
    # The three smallest down the first axis.
    save("topk_smallest",
         [const_i64_node("k", [3], "k_const"),
          node("TopK", ["x", "k"], ["v", "i"], "topk0", axis=0, largest=0)],
         [vi("x", F32, [4, 3])], [vi("v", F32, [3, 3]), vi("i", I64, [3, 3])])
    # Integers 0..2 (make_references' draws): ties, the lower index first.
    save("topk_int",
         [const_i64_node("k", [3], "k_const"),
          node("TopK", ["x", "k"], ["v", "i"], "topk0")],
         [vi("x", I64, [2, 6])], [vi("v", I64, [2, 3]), vi("i", I64, [2, 3])])


def recurrent():
    # Sequence lengths from an int64 input (draws 0..2, plus one: 1..3, so
    # the padded steps differ per sequence and are known only at run time).
    def lengths(prefix):
        return [const_i64_node(prefix + "one", [1], prefix + "one_const"),
                node("Add", ["len_draw", prefix + "one"], [prefix + "len64"], prefix + "add"),
                node("Cast", [prefix + "len64"], ["lens"], prefix + "cast", to=I32)]
    # Bidirectional LSTM, every optional input: biases, peepholes, initial
    # states, sequence_lens (the reverse direction runs each sequence from
    # its own end); all three outputs.
    r = rng_for("lstm")
    S, B, I, H = 4, 3, 3, 4
    save("lstm",
         lengths("l_") +
         [node("LSTM", ["x", "w", "r", "b", "lens", "h0", "c0", "p"], ["y", "y_h", "y_c"],
               "lstm0", direction="bidirectional", hidden_size=H)],
         [vi("x", F32, [S, B, I]), vi("len_draw", I64, [B]), vi("h0", F32, [2, B, H]),
          vi("c0", F32, [2, B, H])],
         [vi("y", F32, [S, 2, B, H]), vi("y_h", F32, [2, B, H]), vi("y_c", F32, [2, B, H])],
         [init_f32("w", r.standard_normal([2, 4 * H, I]) * 0.5),
          init_f32("r", r.standard_normal([2, 4 * H, H]) * 0.5),
          init_f32("b", r.standard_normal([2, 8 * H]) * 0.5),
          init_f32("p", r.standard_normal([2, 3 * H]) * 0.5)])
    # Cell clip, coupled input and forget gates; no initial state. (Batch
    # first, layout 1, is the conformance tests' *_batchwise: onnxruntime
    # does not run it.)
    r = rng_for("lstm_clip")
    save("lstm_clip",
         [node("LSTM", ["x", "w", "r", "b"], ["y", "y_h", "y_c"], "lstm0",
               hidden_size=H, clip=0.8, input_forget=1)],
         [vi("x", F32, [S, B, I])],
         [vi("y", F32, [S, 1, B, H]), vi("y_h", F32, [1, B, H]), vi("y_c", F32, [1, B, H])],
         [init_f32("w", r.standard_normal([1, 4 * H, I])),
          init_f32("r", r.standard_normal([1, 4 * H, H])),
          init_f32("b", r.standard_normal([1, 8 * H]))])
    # Reverse GRU, the reset gate applied after the recurrence's product
    # (linear_before_reset, as PyTorch's GRU), sequence_lens, initial state.
    r = rng_for("gru")
    save("gru",
         lengths("g_") +
         [node("GRU", ["x", "w", "r", "b", "lens", "h0"], ["y", "y_h"], "gru0",
               direction="reverse", hidden_size=H, linear_before_reset=1)],
         [vi("x", F32, [S, B, I]), vi("len_draw", I64, [B]), vi("h0", F32, [1, B, H])],
         [vi("y", F32, [S, 1, B, H]), vi("y_h", F32, [1, B, H])],
         [init_f32("w", r.standard_normal([1, 3 * H, I]) * 0.5),
          init_f32("r", r.standard_normal([1, 3 * H, H]) * 0.5),
          init_f32("b", r.standard_normal([1, 6 * H]) * 0.5)])
    # Bidirectional GRU (reset before the product), other activations with
    # their alphas and betas, no biases.
    r = rng_for("gru_activations")
    save("gru_activations",
         [node("GRU", ["x", "w", "r"], ["y", "y_h"], "gru0", direction="bidirectional",
               hidden_size=H, activations=["HardSigmoid", "Softsign", "Sigmoid", "LeakyRelu"],
               activation_alpha=[0.3, 0.2], activation_beta=[0.4])],
         [vi("x", F32, [S, B, I])],
         [vi("y", F32, [S, 2, B, H]), vi("y_h", F32, [2, B, H])],
         [init_f32("w", r.standard_normal([2, 3 * H, I])),
          init_f32("r", r.standard_normal([2, 3 * H, H]))])
    # Bidirectional Elman RNN: ReLU forward, tanh backward; initial state.
    r = rng_for("rnn")
    save("rnn",
         [node("RNN", ["x", "w", "r", "b", "", "h0"], ["y", "y_h"], "rnn0",
               direction="bidirectional", hidden_size=H, activations=["Relu", "Tanh"])],
         [vi("x", F32, [S, B, I]), vi("h0", F32, [2, B, H])],
         [vi("y", F32, [S, 2, B, H]), vi("y_h", F32, [2, B, H])],
         [init_f32("w", r.standard_normal([2, H, I]) * 0.5),
          init_f32("r", r.standard_normal([2, H, H]) * 0.5),
          init_f32("b", r.standard_normal([2, 2 * H]) * 0.5)])


def scatter():
    # Rows of updates into x along axis 1 at known indices (one negative),
    # replacing; and added, at indices that repeat (both add up).
    save("scatter_elements",
         [const_i64_node("i", [[1, -1], [0, 2], [3, 1]], "i_const"),
          const_i64_node("j", [[1, -1], [0, 2], [3, 3]], "j_const"),
          node("ScatterElements", ["x", "i", "u"], ["y"], "scatter0", axis=1),
          node("ScatterElements", ["x", "j", "u"], ["z"], "scatter1", axis=1, reduction="add")],
         [vi("x", F32, [3, 4]), vi("u", F32, [3, 2])],
         [vi("y", F32, [3, 4]), vi("z", F32, [3, 4])], opset=16)
    # Indices from the model's input (make_references' draws 0..2: no
    # column repeats one, which 'none' leaves undefined) down axis 0, into
    # data wider than the indices (the extra column left alone).
    save("scatter_elements_runtime",
         [node("ScatterElements", ["x", "i", "u"], ["y"], "scatter0")],
         [vi("x", F32, [3, 4]), vi("i", I64, [2, 3]), vi("u", F32, [2, 3])],
         [vi("y", F32, [3, 4])], opset=16)
    # ScatterND: whole rows (tuples of one coordinate) replaced, and single
    # elements (tuples of two) added, one of them twice.
    save("scatternd",
         [const_i64_node("rows", [[2], [0]], "rows_const"),
          const_i64_node("cells", [[[0, 1], [3, -1]], [[0, 1], [1, 2]]], "cells_const"),
          node("ScatterND", ["x", "rows", "r"], ["y"], "scatter0"),
          node("ScatterND", ["x", "cells", "c"], ["z"], "scatter1", reduction="add")],
         [vi("x", F32, [4, 3]), vi("r", F32, [2, 3]), vi("c", F32, [2, 2])],
         [vi("y", F32, [4, 3]), vi("z", F32, [4, 3])], opset=16)
    # The reductions mul, max and min (opset 18 for max and min), at
    # indices that repeat: an element reached three times, one twice.
    save("scatter_reductions",
         [const_i64_node("j", [[1, 1], [0, 2], [3, 3], [1, 0]], "j_const"),
          node("ScatterElements", ["x", "j", "u"], ["emul"], "scatter0", axis=1,
               reduction="mul"),
          node("ScatterElements", ["x", "j", "u"], ["emax"], "scatter1", axis=1,
               reduction="max"),
          node("ScatterElements", ["x", "j", "u"], ["emin"], "scatter2", axis=1,
               reduction="min"),
          const_i64_node("cells", [[0, 1], [3, 2], [0, 1], [0, 1]], "cells_const"),
          node("ScatterND", ["x", "cells", "c"], ["nmul"], "scatter3", reduction="mul"),
          node("ScatterND", ["x", "cells", "c"], ["nmax"], "scatter4", reduction="max"),
          node("ScatterND", ["x", "cells", "c"], ["nmin"], "scatter5", reduction="min")],
         [vi("x", F32, [4, 4]), vi("u", F32, [4, 2]), vi("c", F32, [4])],
         [vi(o, F32, [4, 4]) for o in ["emul", "emax", "emin", "nmul", "nmax", "nmin"]],
         opset=18)


def activations_norms():
    # PRelu with a slope per channel ([C, 1, 1], as PyTorch exports
    # nn.PReLU(C)) and with one slope; Shrink.
    r = rng_for("prelu")
    save("prelu",
         [node("PRelu", ["x", "slope"], ["y"], "prelu0"),
          node("PRelu", ["x", "one"], ["z"], "prelu1")],
         [vi("x", F32, [2, 3, 2, 2])], [vi("y", F32, [2, 3, 2, 2]), vi("z", F32, [2, 3, 2, 2])],
         [init_f32("slope", r.standard_normal([3, 1, 1])), init_f32("one", [0.25])])
    save("shrink",
         [node("Shrink", ["x"], ["y"], "shrink0", lambd=0.7, bias=0.2)],
         [vi("x", F32, [3, 4])], [vi("y", F32, [3, 4])])
    # LRN over 3 and over 5 channels of 5 (onnxruntime takes odd sizes
    # only); MeanVarianceNormalization per channel.
    save("lrn",
         [node("LRN", ["x"], ["y"], "lrn0", size=3, alpha=0.01, beta=0.6, bias=2.0),
          node("LRN", ["x"], ["z"], "lrn1", size=5)],
         [vi("x", F32, [2, 5, 3, 3])], [vi("y", F32, [2, 5, 3, 3]), vi("z", F32, [2, 5, 3, 3])])
    save("mvn",
         [node("MeanVarianceNormalization", ["x"], ["y"], "mvn0")],
         [vi("x", F32, [2, 3, 2, 4])], [vi("y", F32, [2, 3, 2, 4])])
    # ReverseSequence, batch first, lengths known at run time only: the
    # model's input (make_references draws 2, 2, 2) plus -1, 0, 2.
    save("reversesequence",
         [const_i64_node("offset", [-1, 0, 2], "offset_const"),
          node("Add", ["draw", "offset"], ["lens"], "add0"),
          node("ReverseSequence", ["x", "lens"], ["y"], "reverse0", batch_axis=0, time_axis=1)],
         [vi("x", F32, [3, 4, 2]), vi("draw", I64, [3])], [vi("y", F32, [3, 4, 2])])
    # The windows of 8 (periodic) and 7 (symmetric), as constants.
    save("windows",
         [const_i64_node("n8", 8, "n8_const"), const_i64_node("n7", 7, "n7_const"),
          node("HannWindow", ["n8"], ["hann"], "hann0"),
          node("HammingWindow", ["n7"], ["hamming"], "hamming0", periodic=0),
          node("BlackmanWindow", ["n8"], ["blackman"], "blackman0"),
          node("Add", ["x", "hann"], ["y"], "add0")],
         [vi("x", F32, [8])],
         [vi("y", F32, [8]), vi("hamming", F32, [7]), vi("blackman", F32, [8])], opset=17)


def gridsample():
    # Grid points drawn from a standard normal (many outside [-1, 1]): each
    # padding mode, both corner alignments, bilinear, nearest and bicubic.
    save("gridsample",
         [node("GridSample", ["x", "grid"], ["zeros"], "gs0"),
          node("GridSample", ["x", "grid"], ["border"], "gs1", padding_mode="border",
               align_corners=1),
          node("GridSample", ["x", "grid"], ["reflection"], "gs2", padding_mode="reflection"),
          node("GridSample", ["x", "grid"], ["nearest"], "gs3", mode="nearest",
               padding_mode="reflection", align_corners=1),
          node("GridSample", ["x", "grid"], ["bicubic"], "gs4", mode="bicubic"),
          node("GridSample", ["x", "grid"], ["bicubic_border"], "gs5", mode="bicubic",
               padding_mode="border", align_corners=1),
          node("GridSample", ["x", "grid"], ["bicubic_reflection"], "gs6", mode="bicubic",
               padding_mode="reflection")],
         [vi("x", F32, [2, 3, 4, 5]), vi("grid", F32, [2, 3, 4, 2])],
         [vi(o, F32, [2, 3, 3, 4]) for o in ["zeros", "border", "reflection", "nearest", "bicubic",
                                             "bicubic_border", "bicubic_reflection"]],
         opset=16)


def control_flow():
    # If with a constant condition (one branch imported) and with one known
    # only at run time (both, selected); branches read the outer graph.
    def branch(name, nodes, out):
        return helper.make_graph(nodes, name, [], [vi(out, F32, [2, 3])])
    save("if_branches",
         [const_node("known", np.array(False), "known_const"),
          node("If", ["known"], ["picked"], "if0",
               then_branch=branch("then0", [node("Relu", ["x"], ["r"], "relu0")], "r"),
               else_branch=branch("else0", [node("Mul", ["x", "w"], ["m"], "mul0")], "m")),
          node("If", ["c"], ["chosen"], "if1",
               then_branch=branch("then1", [node("Tanh", ["x"], ["t"], "tanh1")], "t"),
               else_branch=branch("else1", [node("Sub", ["x", "w"], ["d"], "sub1")], "d"))],
         [vi("x", F32, [2, 3]), vi("c", BOOL, [])],
         [vi("picked", F32, [2, 3]), vi("chosen", F32, [2, 3])],
         [init_f32("w", rng_for("if_branches").standard_normal([2, 3]))])
    # A Loop with a known trip count: a weight read from the outer graph,
    # the iteration number in the arithmetic, a scan output.
    body = helper.make_graph(
        [node("Identity", ["cond_in"], ["cond_out"], "cond_id"),
         node("Cast", ["i"], ["fi"], "cast_i", to=F32),
         node("MatMul", ["y_in", "w"], ["p"], "matmul_w"),
         node("Tanh", ["p"], ["t"], "tanh_p"),
         node("Add", ["t", "fi"], ["y_out"], "add_i"),
         node("ReduceSum", ["y_out"], ["scan_out"], "sum_y", keepdims=0)],
        "loop_body",
        [vi("i", I64, []), vi("cond_in", BOOL, []), vi("y_in", F32, [2, 3])],
        [vi("cond_out", BOOL, []), vi("y_out", F32, [2, 3]), vi("scan_out", F32, [])])
    save("loop",
         [const_i64_node("m", np.array(4, dtype=np.int64), "m_const"),
          node("Loop", ["m", "", "x"], ["y", "sums"], "loop0", body=body)],
         [vi("x", F32, [2, 3])], [vi("y", F32, [2, 3]), vi("sums", F32, [4])],
         [init_f32("w", rng_for("loop").standard_normal([3, 3]) * 0.5)])
    # A while loop: the condition is computed from the values, so it is
    # known only at run time; the trip count bounds it.
    body = helper.make_graph(
        [node("Mul", ["z_in", "two"], ["z_out"], "double"),
         node("ReduceL2", ["z_out"], ["norm"], "norm", keepdims=0),
         node("Less", ["norm", "limit"], ["go_out"], "less")],
        "while_body",
        [vi("j", I64, []), vi("go", BOOL, []), vi("z_in", F32, [2, 3])],
        [vi("go_out", BOOL, []), vi("z_out", F32, [2, 3])])
    save("loop_while",
         [const_i64_node("m", np.array(6, dtype=np.int64), "m_const"),
          const_node("two", np.array(2, dtype=np.float32), "two_const"),
          const_node("limit", np.array(20, dtype=np.float32), "limit_const"),
          const_node("go0", np.array(True), "go_const"),
          node("Loop", ["m", "go0", "x"], ["z"], "loop1", body=body)],
         [vi("x", F32, [2, 3])], [vi("z", F32, [2, 3])])
    # Sequences: built, inserted into, erased from, measured and read
    # (SequenceConstruct, SequenceInsert, SequenceErase, SequenceLength,
    # SequenceAt), concatenated and stacked (ConcatFromSequence).
    save("sequence_ops",
         [node("SequenceConstruct", ["a", "b"], ["s"], "construct"),
          const_i64_node("one", np.array(1, dtype=np.int64), "one_const"),
          node("SequenceInsert", ["s", "c", "one"], ["s2"], "insert"),
          node("ConcatFromSequence", ["s2"], ["cat"], "concat", axis=0),
          const_i64_node("minus3", np.array(-3, dtype=np.int64), "minus3_const"),
          node("SequenceErase", ["s2", "minus3"], ["s3"], "erase"),
          node("ConcatFromSequence", ["s3"], ["stacked"], "stack", axis=-1, new_axis=1),
          node("SequenceLength", ["s2"], ["len"], "length"),
          node("SequenceAt", ["s3", "one"], ["at"], "at")],
         [vi("a", F32, [2, 3]), vi("b", F32, [2, 3]), vi("c", F32, [2, 3])],
         [vi("cat", F32, [6, 3]), vi("stacked", F32, [2, 3, 2]), vi("len", I64, []),
          vi("at", F32, [2, 3])])
    # A Loop that appends to a sequence (as TorchScript exports a Python
    # list built in a loop), stacked afterwards.
    body = helper.make_graph(
        [node("Identity", ["cond_in"], ["cond_out"], "cond_id"),
         node("MatMul", ["h_in", "w"], ["p"], "matmul_w"),
         node("Tanh", ["p"], ["h_out"], "tanh_p"),
         node("SequenceInsert", ["hs_in", "h_out"], ["hs_out"], "append")],
        "loop_body",
        [vi("i", I64, []), vi("cond_in", BOOL, []), vi("h_in", F32, [2, 3]),
         helper.make_tensor_sequence_value_info("hs_in", F32, [2, 3])],
        [vi("cond_out", BOOL, []), vi("h_out", F32, [2, 3]),
         helper.make_tensor_sequence_value_info("hs_out", F32, [2, 3])])
    save("loop_sequence",
         [const_i64_node("m", np.array(4, dtype=np.int64), "m_const"),
          node("SequenceEmpty", [], ["empty"], "empty", dtype=F32),
          node("Loop", ["m", "", "x", "empty"], ["h", "hs"], "loop0", body=body),
          node("ConcatFromSequence", ["hs"], ["y"], "stack", axis=1, new_axis=1)],
         [vi("x", F32, [2, 3])], [vi("y", F32, [2, 4, 3])],
         [init_f32("w", rng_for("loop_sequence").standard_normal([3, 3]) * 0.5)])
    # Scan: a running sum over axis 1 of one input and, reversed, axis 0 of
    # another; the outputs stacked on axes 0 (reversed) and 2.
    body = helper.make_graph(
        [node("Add", ["acc", "a"], ["acc_out"], "acc_add"),
         node("Mul", ["acc_out", "b"], ["prod"], "prod"),
         node("Sigmoid", ["prod"], ["out0"], "sig"),
         node("Identity", ["acc_out"], ["out1"], "out1")],
        "scan_body",
        [vi("acc", F32, [2, 4]), vi("a", F32, [2, 4]), vi("b", F32, [2, 4])],
        [vi("acc_out", F32, [2, 4]), vi("out0", F32, [2, 4]), vi("out1", F32, [2, 4])])
    save("scan",
         [node("Scan", ["s0", "xa", "xb"], ["s", "o0", "o1"], "scan0", body=body,
               num_scan_inputs=2, scan_input_axes=[1, 0], scan_input_directions=[0, 1],
               scan_output_axes=[0, 2], scan_output_directions=[1, 0])],
         [vi("s0", F32, [2, 4]), vi("xa", F32, [2, 5, 4]), vi("xb", F32, [5, 2, 4])],
         [vi("s", F32, [2, 4]), vi("o0", F32, [5, 2, 4]), vi("o1", F32, [2, 4, 5])])


def signal():
    # DFT along different axes, real and complex, forward and inverse, with
    # dft_length padding and truncating, onesided.
    save("dft",
         [node("DFT", ["x"], ["y_real"], "dft_real", axis=1),
          node("DFT", ["z"], ["y_inverse"], "dft_inverse", axis=-2, inverse=1),
          const_i64_node("eight", np.array(8, dtype=np.int64), "eight_const"),
          node("DFT", ["x", "eight"], ["y_padded"], "dft_padded", axis=1, onesided=1),
          const_i64_node("four", np.array(4, dtype=np.int64), "four_const"),
          node("DFT", ["z", "four"], ["y_truncated"], "dft_truncated", axis=1)],
         [vi("x", F32, [2, 6, 3, 1]), vi("z", F32, [2, 6, 3, 2])],
         [vi("y_real", F32, [2, 6, 3, 2]), vi("y_inverse", F32, [2, 6, 3, 2]),
          vi("y_padded", F32, [2, 5, 3, 2]), vi("y_truncated", F32, [2, 4, 3, 2])])
    # A log-mel spectrogram front end: STFT with a window (an input),
    # power, a mel filter bank (MelWeightMatrix, a constant), log; and a
    # complex STFT by frame_length, two-sided.
    save("stft",
         [const_i64_node("step", np.array(6, dtype=np.int64), "step_const"),
          node("STFT", ["signal", "step", "window"], ["spec"], "stft0"),
          node("Mul", ["spec", "spec"], ["sq"], "square"),
          const_i64_node("last", [-1], "last_const"),
          node("ReduceSum", ["sq", "last"], ["power"], "power", keepdims=0),
          const_i64_node("bins", np.array(5, dtype=np.int64), "bins_const"),
          const_i64_node("dftlen", np.array(16, dtype=np.int64), "dftlen_const"),
          const_i64_node("rate", np.array(16000, dtype=np.int64), "rate_const"),
          const_node("lo", np.array(0, dtype=np.float32), "lo_const"),
          const_node("hi", np.array(8000, dtype=np.float32), "hi_const"),
          node("MelWeightMatrix", ["bins", "dftlen", "rate", "lo", "hi"], ["mel"], "mel0"),
          node("MatMul", ["power", "mel"], ["melspec"], "apply_mel"),
          const_node("eps", np.array(1e-3, dtype=np.float32), "eps_const"),
          node("Add", ["melspec", "eps"], ["shifted"], "add_eps"),
          node("Log", ["shifted"], ["logmel"], "log0"),
          const_i64_node("framelen", np.array(8, dtype=np.int64), "framelen_const"),
          node("STFT", ["csignal", "step", "", "framelen"], ["cspec"], "stft1", onesided=0)],
         [vi("signal", F32, [2, 40, 1]), vi("window", F32, [16]),
          vi("csignal", F32, [2, 40, 2])],
         [vi("logmel", F32, [2, 5, 5]), vi("mel", F32, [9, 5]), vi("cspec", F32, [2, 6, 8, 2])],
         # onnx 1.12 infers an STFT's bins as if it were never onesided.
         infer_shapes=False)


def maxpool_indices():
    # MaxPool's Indices output (padding, strides, dilations, ceil_mode; a
    # column-major one), and MaxUnpool putting the maxima back. (Not with
    # a larger output_shape: onnxruntime reads the indices as positions in
    # that shape, ONNX's reference and test data in the unpooled shape,
    # zeros added after; kiln does as ONNX, checked by the conformance
    # test.)
    save("maxpool_indices",
         [node("MaxPool", ["x"], ["v0", "i0"], "pool0", kernel_shape=[3, 3], strides=[2, 2],
               pads=[1, 1, 1, 1]),
          node("MaxPool", ["x"], ["v1", "i1"], "pool1", kernel_shape=[2, 2], strides=[2, 1],
               dilations=[1, 2], ceil_mode=1),
          node("MaxPool", ["x"], ["v2", "i2"], "pool2", kernel_shape=[2, 2], strides=[2, 2],
               storage_order=1),
          node("MaxPool", ["x"], ["v3", "i3"], "pool3", kernel_shape=[2, 2], strides=[2, 2]),
          node("MaxUnpool", ["v3", "i3"], ["u4"], "unpool4", kernel_shape=[2, 2], strides=[2, 2]),
          ],
         [vi("x", F32, [2, 3, 6, 8])],
         [vi("v0", F32, [2, 3, 3, 4]), vi("i0", I64, [2, 3, 3, 4]),
          vi("v1", F32, [2, 3, 3, 6]), vi("i1", I64, [2, 3, 3, 6]),
          vi("i2", I64, [2, 3, 3, 4]), vi("u4", F32, [2, 3, 6, 8])])


def eyelike():
    # x plus the identity (x's type), and the int64 ones above the diagonal.
    save("eyelike",
         [node("EyeLike", ["x"], ["i"], "eyelike0"),
          node("Add", ["x", "i"], ["y"], "add0"),
          node("EyeLike", ["x"], ["u"], "eyelike1", k=1, dtype=I64)],
         [vi("x", F32, [3, 4])], [vi("y", F32, [3, 4]), vi("u", I64, [3, 4])])


def tile():
    save("tile",
         [const_i64_node("repeats", [2, 1, 3], "repeats_const"),
          node("Tile", ["x", "repeats"], ["y"], "tile0")],
         [vi("x", F32, [2, 3, 4])], [vi("y", F32, [4, 3, 12])])
    # A known input folds: [[0, 1], [2, 3]] tiled [1, 2] plus x.
    save("tile_folded",
         [const_i64_node("c", [[0, 1], [2, 3]], "c_const"),
          const_i64_node("repeats", [1, 2], "repeats_const"),
          node("Tile", ["c", "repeats"], ["t"], "tile0"),
          node("Add", ["x", "t"], ["y"], "add0")],
         [vi("x", I64, [2, 4])], [vi("y", I64, [2, 4])])


def cast():
    save("cast", [node("Cast", ["x"], ["y"], "cast0", to=I64)],
         [vi("x", F32, [2, 3])], [vi("y", I64, [2, 3])])
    save("cast_int_to_float", [node("Cast", ["x"], ["y"], "cast0", to=F32)],
         [vi("x", I64, [2, 3])], [vi("y", F32, [2, 3])])
    save("castlike", [node("CastLike", ["x", "like"], ["y"], "castlike0")],
         [vi("x", F32, [2, 3])], [vi("y", I32, [2, 3])],
         [numpy_helper.from_array(np.zeros([1], dtype=np.int32), "like")])


def constants():
    r = rng_for("constant")
    save("constant",
         [const_node("y", r.standard_normal([2, 3]).astype(np.float32), "constant0")],
         [], [vi("y", F32, [2, 3])])
    save("constant_value_float",
         [node("Constant", [], ["y"], "constant0", value_float=2.5)],
         [], [vi("y", F32, [])])
    save("constantofshape",
         [const_i64_node("shape", [2, 3], "shape_const"),
          node("ConstantOfShape", ["shape"], ["y"], "constantofshape0",
               value=numpy_helper.from_array(np.array([1.5], dtype=np.float32), "value"))],
         [], [vi("y", F32, [2, 3])])
    save("shape", [node("Shape", ["x"], ["y"], "shape0")],
         [vi("x", F32, [2, 3, 4])], [vi("y", I64, [3])])
    save("shape_slice", [node("Shape", ["x"], ["y"], "shape0", start=1, end=3)],
         [vi("x", F32, [2, 3, 4])], [vi("y", I64, [2])], opset=15)
    # Mod: Python's % for integers (divisors of both signs), C's fmod with
    # fmod=1.
    save("mod",
         [node("Mod", ["x", "d"], ["y"], "mod0")],
         [vi("x", I64, [2, 3, 4])], [vi("y", I64, [2, 3, 4])],
         [numpy_helper.from_array(np.array([3, -3, 2, -2], dtype=np.int64), "d")])
    save("mod_fmod",
         [node("Mod", ["x", "d"], ["y"], "mod0", fmod=1)],
         [vi("x", F32, [2, 3, 4])], [vi("y", F32, [2, 3, 4])],
         [numpy_helper.from_array(np.array([1.5, -1.5, 0.7, -2.0], dtype=np.float32), "d")])
    # Losses, composed of graph ops at import.
    save("nllloss_weight_ii",
         [node("NegativeLogLikelihoodLoss", ["x", "t", "w"], ["y"], "nll0", ignore_index=1)],
         [vi("x", F32, [3, 5]), vi("t", I64, [3])], [vi("y", F32, [])],
         [numpy_helper.from_array(np.array([0.5, 1.0, 2.0, 1.5, 0.25], dtype=np.float32), "w")],
         opset=13)
    save("sce_none_log_prob",
         [node("SoftmaxCrossEntropyLoss", ["x", "t"], ["y", "logp"], "sce0", reduction="none")],
         [vi("x", F32, [2, 4, 3]), vi("t", I64, [2, 3])],
         [vi("y", F32, [2, 3]), vi("logp", F32, [2, 4, 3])], opset=13)
    save("sce_sum",
         [node("SoftmaxCrossEntropyLoss", ["x", "t"], ["y"], "sce0", reduction="sum")],
         [vi("x", F32, [4, 3]), vi("t", I64, [4])], [vi("y", F32, [])], opset=13)
    # Size feeding arithmetic: x / size(x), the size folded at import.
    save("size",
         [node("Size", ["x"], ["n"], "size0"),
          node("Cast", ["n"], ["nf"], "cast0", to=TensorProto.FLOAT),
          node("Div", ["x", "nf"], ["y"], "div0")],
         [vi("x", F32, [2, 3, 4])], [vi("y", F32, [2, 3, 4])])
    save("range",
         [const_i64_node("start", np.int64(0), "start_const"),
          const_i64_node("limit", np.int64(10), "limit_const"),
          node("Range", ["start", "limit", "delta"], ["y"], "range0")],
         [], [vi("y", I64, [5])], [init_i64("delta", np.int64(2))])


def identity_dropout():
    save("identity", [node("Identity", ["x"], ["y"], "identity0")],
         [vi("x", F32, [2, 3])], [vi("y", F32, [2, 3])])
    save("dropout",
         [const_node("ratio", np.float32(0.1), "ratio_const"),
          node("Dropout", ["x", "ratio", "training_mode"], ["y", "mask"], "dropout0", seed=0)],
         [vi("x", F32, [2, 3, 4])], [vi("y", F32, [2, 3, 4]), vi("mask", BOOL, [2, 3, 4])],
         [numpy_helper.from_array(np.array(True), "training_mode")], opset=13)
    save("dropout_inference",
         [node("Dropout", ["x", "ratio"], ["y"], "dropout0")],
         [vi("x", F32, [2, 3, 4])], [vi("y", F32, [2, 3, 4])],
         [init_f32("ratio", np.float32(0.1))], opset=13)


def reduce():
    x = vi("x", F32, [2, 3, 4])
    save("reducesum",
         [node("ReduceSum", ["x", "axes"], ["y"], "reducesum0", keepdims=1)],
         [x], [vi("y", F32, [2, 1, 4])], [init_i64("axes", [1])], opset=13)
    save("reducemean",
         [node("ReduceMean", ["x"], ["y"], "reducemean0", axes=[1, 2], keepdims=0)],
         [x], [vi("y", F32, [2])], opset=13)
    save("reducemax",
         [node("ReduceMax", ["x"], ["y"], "reducemax0", axes=[-1], keepdims=0)],
         [x], [vi("y", F32, [2, 3])], opset=13)
    save("reducemin",
         [node("ReduceMin", ["x"], ["y"], "reducemin0", axes=[0, 2], keepdims=1)],
         [x], [vi("y", F32, [1, 3, 1])], opset=13)
    save("reduceprod",
         [node("ReduceProd", ["x"], ["y"], "reduceprod0", axes=[1], keepdims=0)],
         [x], [vi("y", F32, [2, 4])], opset=13)
    # Opset 18: axes is an input for every Reduce op.
    save("reducesum_opset18",
         [node("ReduceSum", ["x", "axes"], ["y"], "reducesum0", keepdims=1)],
         [x], [vi("y", F32, [2, 1, 4])], [init_i64("axes", [1])], opset=18)
    save("reducemean_opset18",
         [const_i64_node("axes", [1, 2], "axes_const"),
          node("ReduceMean", ["x", "axes"], ["y"], "reducemean0", keepdims=0)],
         [x], [vi("y", F32, [2])], opset=18)
    save("reducemax_opset18",
         [node("ReduceMax", ["x", "axes"], ["y"], "reducemax0", keepdims=0)],
         [x], [vi("y", F32, [2, 3])], [init_i64("axes", [-1])], opset=18)
    save("reducemin_opset18",
         [node("ReduceMin", ["x", "axes"], ["y"], "reducemin0", keepdims=0)],
         [x], [vi("y", F32, [2, 3])], [init_i64("axes", [-1])], opset=18)
    save("reduceprod_opset18",
         [node("ReduceProd", ["x", "axes"], ["y"], "reduceprod0", keepdims=1)],
         [x], [vi("y", F32, [1, 1, 4])], [init_i64("axes", [0, 1])], opset=18)
    save("argmax",
         [node("ArgMax", ["x"], ["y"], "argmax0", axis=1)],
         [x], [vi("y", I64, [2, 1, 4])], opset=13)
    save("argmin_last",
         [node("ArgMin", ["x"], ["y"], "argmin0", axis=-1, keepdims=0, select_last_index=1)],
         [x], [vi("y", I64, [2, 3])], opset=13)
    save("hardmax",
         [node("Hardmax", ["x"], ["y"], "hardmax0", axis=1)],
         [x], [vi("y", F32, [2, 3, 4])], opset=13)
    # Before opset 13: the input seen as 2-D, [:axis] x [axis:].
    save("hardmax_opset11",
         [node("Hardmax", ["x"], ["y"], "hardmax0", axis=1)],
         [x], [vi("y", F32, [2, 3, 4])], opset=11)
    # Composed of graph ops at import.
    save("reducel1",
         [node("ReduceL1", ["x"], ["y"], "reducel10", axes=[1], keepdims=1)],
         [x], [vi("y", F32, [2, 1, 4])], opset=13)
    save("reducel2",
         [node("ReduceL2", ["x"], ["y"], "reducel20", axes=[0, 2], keepdims=0)],
         [x], [vi("y", F32, [3])], opset=13)
    save("reducesumsquare_opset18",
         [node("ReduceSumSquare", ["x", "axes"], ["y"], "reducesumsquare0", keepdims=0)],
         [x], [vi("y", F32, [2, 4])], [init_i64("axes", [1])], opset=18)
    # noop_with_empty_axes sums nothing but still squares.
    save("reducesumsquare_noop_opset18",
         [node("ReduceSumSquare", ["x"], ["y"], "reducesumsquare0", noop_with_empty_axes=1)],
         [x], [vi("y", F32, [2, 3, 4])], opset=18)
    # log of a sum of absolute values: defined for normal inputs.
    save("reducelogsum",
         [node("Abs", ["x"], ["a"], "abs0"),
          node("ReduceLogSum", ["a"], ["y"], "reducelogsum0", axes=[0, 1], keepdims=1)],
         [x], [vi("y", F32, [1, 1, 4])], opset=13)
    save("reducelogsumexp",
         [node("ReduceLogSumExp", ["x"], ["y"], "reducelogsumexp0", axes=[-1], keepdims=0)],
         [x], [vi("y", F32, [2, 3])], opset=13)
    # No axes and noop_with_empty_axes=0: reduce over all axes, to a scalar.
    save("reducesum_noop_with_empty_axes",
         [node("ReduceSum", ["x"], ["y"], "reducesum0", keepdims=0, noop_with_empty_axes=0)],
         [x], [vi("y", F32, [])], opset=13)


# --------------------------------------------------------------------------
# Whole-graph patterns
# --------------------------------------------------------------------------

def reshape_from_shape():
    # As torch.onnx (TorchScript) writes x.view(x.size(0), -1).
    save("reshape_from_shape",
         [node("Shape", ["x"], ["shape"], "shape0"),
          const_i64_node("zero", np.int64(0), "zero_const"),
          node("Gather", ["shape", "zero"], ["dim0"], "gather0", axis=0),
          node("Unsqueeze", ["dim0", "unsqueeze_axes"], ["dim0_1d"], "unsqueeze0"),
          const_i64_node("minus_one", [-1], "minus_one_const"),
          node("Concat", ["dim0_1d", "minus_one"], ["new_shape"], "concat0", axis=0),
          node("Reshape", ["x", "new_shape"], ["y"], "reshape0")],
         [vi("x", F32, [2, 3, 4])], [vi("y", F32, [2, 12])],
         [init_i64("unsqueeze_axes", [0])])


def sequences():
    save("splittosequence",
         [node("SplitToSequence", ["x", "split"], ["seq"], "splittosequence0", axis=0),
          const_i64_node("pos0", np.int64(0), "pos0_const"),
          node("SequenceAt", ["seq", "pos0"], ["y0"], "sequenceat0"),
          node("SequenceAt", ["seq", "pos2"], ["y2"], "sequenceat1")],
         [vi("x", F32, [6, 4])], [vi("y0", F32, [2, 4]), vi("y2", F32, [2, 4])],
         [init_i64("split", [2, 2, 2]), init_i64("pos2", np.int64(2))])


def mlp_tiny():
    r = rng_for("mlp_tiny")
    save("mlp_tiny",
         [node("Gemm", ["x", "w1", "b1"], ["h"], "gemm0", transB=1),
          node("Relu", ["h"], ["a"], "relu0"),
          node("Gemm", ["a", "w2", "b2"], ["y"], "gemm1", transB=1)],
         [vi("x", F32, [4, 8])], [vi("y", F32, [4, 3])],
         [init_f32("w1", r.standard_normal([16, 8]) * 0.3),
          init_f32("b1", r.standard_normal([16]) * 0.1),
          init_f32("w2", r.standard_normal([3, 16]) * 0.3),
          init_f32("b2", r.standard_normal([3]) * 0.1)])


def dtypes():
    """Initializers of every element type kiln reads, stored both ways ONNX
    allows (raw_data, and the typed fields), each passed to an output."""
    tensors = [
        numpy_helper.from_array(np.array([1.5, -2.0], dtype=np.float16), "f16_raw"),
        numpy_helper.from_array(np.array([0.25, 8.0], dtype=np.float64), "f64_raw"),
        helper.make_tensor("f64_typed", TensorProto.DOUBLE, [2], [0.5, -3.0]),
        helper.make_tensor("f32_typed", F32, [2], [1.25, -0.5]),
        # make_tensor stores 16-bit floats as bit patterns in int32_data.
        helper.make_tensor("f16_typed", TensorProto.FLOAT16, [2], [2.5, -0.75]),
        helper.make_tensor("bf16_typed", TensorProto.BFLOAT16, [2], [1.0, -2.5]),
        numpy_helper.from_array(np.array([7, -9], dtype=np.int32), "i32_raw"),
        helper.make_tensor("i32_typed", I32, [2], [70, -90]),
        helper.make_tensor("i8_typed", TensorProto.INT8, [2], [-128, 127]),
        helper.make_tensor("i64_typed", I64, [2], [1 << 40, -3]),
        numpy_helper.from_array(np.array([True, False]), "bool_raw"),
        helper.make_tensor("bool_typed", BOOL, [2], [0, 1]),
    ]
    nodes, outputs = [], []
    for t in tensors:
        nodes.append(node("Identity", [t.name], ["out_" + t.name], "id_" + t.name))
        outputs.append(vi("out_" + t.name, t.data_type, [2]))
    save("dtypes", nodes, [], outputs, tensors)


def transformer_extras():
    # Ops the dynamo exporter writes for Hugging Face BERT / GPT-2 masks and
    # positions, and for dropout in train mode.
    save("and", [node("And", ["a", "b"], ["c"], "and0")],
         [vi("a", BOOL, [2, 3]), vi("b", BOOL, [3])], [vi("c", BOOL, [2, 3])])
    save("or", [node("Or", ["a", "b"], ["c"], "or0")],
         [vi("a", BOOL, [2, 3]), vi("b", BOOL, [3])], [vi("c", BOOL, [2, 3])])
    save("max", [node("Max", ["a", "b", "c"], ["y"], "max0")],
         [vi("a", F32, [2, 3]), vi("b", F32, [3]), vi("c", F32, [2, 1])],
         [vi("y", F32, [2, 3])])
    save("xor", [node("Xor", ["a", "b"], ["c"], "xor0")],
         [vi("a", BOOL, [2, 3]), vi("b", BOOL, [3])], [vi("c", BOOL, [2, 3])])
    save("sum", [node("Sum", ["a", "b", "c"], ["y"], "sum0")],
         [vi("a", F32, [2, 3]), vi("b", F32, [3]), vi("c", F32, [2, 1])],
         [vi("y", F32, [2, 3])])
    save("mean", [node("Mean", ["a", "b", "c"], ["y"], "mean0")],
         [vi("a", F32, [2, 3]), vi("b", F32, [3]), vi("c", F32, [2, 1])],
         [vi("y", F32, [2, 3])])
    save("min", [node("Min", ["a", "b"], ["y"], "min0")],
         [vi("a", F32, [2, 3]), vi("b", F32, [3])], [vi("y", F32, [2, 3])])
    save("cumsum", [const_i64_node("axis", np.array(1), "axis0"),
                    node("CumSum", ["x", "axis"], ["y"], "cumsum0", exclusive=1, reverse=1)],
         [vi("x", F32, [2, 4])], [vi("y", F32, [2, 4])])
    save("gathernd", [node("GatherND", ["data", "idx"], ["y"], "gathernd0")],
         [vi("data", F32, [3, 4, 5]), vi("idx", I64, [2, 2])], [vi("y", F32, [2, 5])])
    save("gathernd_batch", [node("GatherND", ["data", "idx"], ["y"], "gathernd0", batch_dims=1)],
         [vi("data", F32, [3, 4, 5]), vi("idx", I64, [3, 2, 1])], [vi("y", F32, [3, 2, 5])])
    save("randomuniformlike",
         [node("RandomUniformLike", ["x"], ["r"], "rand0", low=0.0, high=1.0),
          const_node("p", np.array(0.1, dtype=np.float32), "p0"),
          node("Less", ["r", "p"], ["drop"], "less0")],
         [vi("x", F32, [2, 3])], [vi("drop", BOOL, [2, 3])])
    save("randomuniform",
         [node("RandomUniform", [], ["r"], "rand0", shape=[2, 3], low=-1.0, high=1.0, seed=5.0)],
         [], [vi("r", F32, [2, 3])])


def shared_initializer():
    # One initializer read by two Add nodes: must stay one tensor (and, when
    # trained, get both gradient contributions).
    save("shared_initializer",
         [node("Add", ["x", "bias"], ["h"], "add0"),
          node("Relu", ["h"], ["a"], "relu0"),
          node("Add", ["a", "bias"], ["y"], "add1")],
         [vi("x", F32, [2, 4])], [vi("y", F32, [2, 4])],
         [init_f32("bias", np.zeros([4]))])


def shared_not_parameters():
    # No warning here: a shared one-element initializer (an exporter's lifted
    # constant), a weight whose second reader only takes its shape, and one
    # cut in pieces by Slices (as PyTorch's exporter reorders an LSTM's
    # gates): one parameter, read piece by piece.
    save("shared_not_parameters",
         [node("Mul", ["x", "scale"], ["h"], "mul0"),
          node("Mul", ["h", "scale"], ["g"], "mul1"),
          node("Shape", ["w"], ["s"], "shape0"),
          node("Reshape", ["g", "s"], ["r"], "reshape0"),
          node("Add", ["r", "w"], ["a"], "add0"),
          node("Slice", ["v", "zero", "one", "zero"], ["v0"], "slice0"),
          node("Slice", ["v", "one", "two", "zero"], ["v1"], "slice1"),
          node("Concat", ["v1", "v0"], ["u"], "concat0", axis=0),
          node("Add", ["a", "u"], ["y"], "add1")],
         [vi("x", F32, [2, 3])], [vi("y", F32, [2, 3])],
         [init_f32("scale", np.array(0.5)), init_f32("w", rng_for("w").standard_normal([2, 3])),
          init_f32("v", rng_for("v").standard_normal([2, 3])),
          init_i64("zero", [0]), init_i64("one", [1]), init_i64("two", [2])])


def symbolic_batch():
    save("symbolic_batch", [node("Relu", ["x"], ["y"], "relu0")],
         [vi("x", F32, ["batch", 8])], [vi("y", F32, ["batch", 8])])


# --------------------------------------------------------------------------
# Bad models, for the importer's error tests (fixtures/bad/)
# --------------------------------------------------------------------------

BAD_DIR = os.path.join(OUT_DIR, "bad")


def weights_model(name, tensor):
    """Relu(x + w) with the initializer `tensor` as w: f32[4]."""
    graph = helper.make_graph(
        [node("Add", ["x", "w"], ["h"], "add0"), node("Relu", ["h"], ["y"], "relu0")],
        name, [vi("x", F32, [4])], [vi("y", F32, [4])], initializer=[tensor])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                             ir_version=8, producer_name="kiln make_fixtures.py")


def external(name, location, offset=None, length=None):
    t = TensorProto(name="w", data_type=F32, dims=[4])
    t.data_location = TensorProto.EXTERNAL
    entries = [("location", location)]
    if offset is not None:
        entries.append(("offset", str(offset)))
    if length is not None:
        entries.append(("length", str(length)))
    for k, v in entries:
        e = t.external_data.add()
        e.key, e.value = k, v
    return weights_model(name, t)


def bad_models():
    """Models every one of which the importer must refuse with a message
    naming the file and what is wrong (ext_ok is the one good one: weights
    in an external file inside the model's folder)."""
    os.makedirs(BAD_DIR, exist_ok=True)
    for stale in glob.glob(os.path.join(BAD_DIR, "*")):
        os.remove(stale)
    weights = np.arange(1, 9, dtype=np.float32)  # 32 bytes: two tensors' worth
    with open(os.path.join(BAD_DIR, "weights.bin"), "wb") as f:
        f.write(weights.tobytes())
    models = {
        "ext_ok": external("ext_ok", "weights.bin", offset=16, length=16),
        "ext_absolute": external("ext_absolute", "/etc/hostname"),
        "ext_parent": external("ext_parent", "../bad/weights.bin"),
        "ext_symlink": external("ext_symlink", "escape.bin"),
        "ext_missing": external("ext_missing", "missing.bin"),
        "ext_offset": external("ext_offset", "weights.bin", offset=64),
        "ext_length": external("ext_length", "weights.bin", offset=16, length=32),
    }
    short = numpy_helper.from_array(np.zeros([4], dtype=np.float32), "w")
    short.raw_data = short.raw_data[:12]  # 3 floats for a 4-element tensor
    models["data_size"] = weights_model("data_size", short)
    u16 = TensorProto(name="w", data_type=TensorProto.UINT16, dims=[4],
                      int32_data=[1, 2, 3, 4])
    models["uint16_initializer"] = weights_model("uint16_initializer", u16)
    # Sequences where tensors are declared, and the other way round: a
    # graph output, a Loop body's input and output.
    seq = helper.make_tensor_sequence_value_info
    def model_of(name, nodes, inputs, outputs):
        graph = helper.make_graph(nodes, name, inputs, outputs)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                 ir_version=8, producer_name="kiln make_fixtures.py")
    models["sequence_output"] = model_of(
        "sequence_output", [node("SequenceConstruct", ["x"], ["s"], "construct")],
        [vi("x", F32, [2])], [seq("s", F32, [2])])
    def loop_model(name, carried_in, carried_out):
        # (The body returns its input h as is, or through an Identity.)
        keep = [node("Identity", ["h"], ["h_out"], "keep")] if carried_out.name == "h_out" else []
        body = helper.make_graph(
            [node("Identity", ["c"], ["c_out"], "cond")] + keep,
            "body", [vi("i", I64, []), vi("c", BOOL, []), carried_in],
            [vi("c_out", BOOL, []), carried_out])
        return model_of(
            name, [const_i64_node("m", np.array(2, dtype=np.int64), "m_const"),
                   node("SequenceConstruct", ["x"], ["s"], "construct"),
                   node("Loop", ["m", "", "s"], ["r"], "loop", body=body),
                   node("SequenceAt", ["r", "m"], ["y"], "at")],
            [vi("x", F32, [2])], [vi("y", F32, [2])])
    models["loop_sequence_as_tensor"] = loop_model(
        "loop_sequence_as_tensor", vi("h", F32, [2]), seq("h_out", F32, [2]))
    models["loop_sequence_out_as_tensor"] = loop_model(
        "loop_sequence_out_as_tensor", seq("h", F32, [2]), vi("h", F32, [2]))
    for name, model in models.items():
        onnx.save(model, os.path.join(BAD_DIR, name + ".onnx"))
        written.append("bad/" + name)
    # A symlink inside the folder whose target is outside it.
    os.symlink("../../make_fixtures.py", os.path.join(BAD_DIR, "escape.bin"))
    # Not ONNX at all, and a model cut short.
    with open(os.path.join(BAD_DIR, "not_onnx.onnx"), "wb") as f:
        f.write(b"this is a text file, not a protobuf\n")
    with open(os.path.join(OUT_DIR, "mlp_tiny.onnx"), "rb") as f:
        data = f.read()
    with open(os.path.join(BAD_DIR, "truncated.onnx"), "wb") as f:
        f.write(data[: len(data) // 2])
    written.extend(["bad/not_onnx", "bad/truncated"])


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    # *_small.onnx belong to make_torch_fixtures.py.
    for stale in glob.glob(os.path.join(OUT_DIR, "*.onnx")):
        if not stale.endswith("_small.onnx"):
            os.remove(stale)
    for make in [unary, clip, binary, comparisons, matmul, gemm, conv, convtranspose, batchnorm,
                 layernorm, instancenorm, pooling, softmax, flatten, reshape, transpose, squeeze,
                 concat, split, slice_, gather, expand_trilu, pad, resize, depth_space, onehot, einsum, einsum_diagonal, topk, recurrent, control_flow, signal, maxpool_indices, eyelike, scatter, activations_norms, gridsample, tile, cast,
                 constants,
                 identity_dropout, reduce, reshape_from_shape, sequences, mlp_tiny,
                 transformer_extras, shared_initializer, shared_not_parameters,
                 symbolic_batch, dtypes,
                 bad_models]:
        make()
    print(f"wrote {len(written)} fixtures to {os.path.relpath(OUT_DIR)} "
          f"(onnx {onnx.__version__}, opsets up to {KNOWN_OPSET})")
    for n in notes:
        print("note:", n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
