//===- GraphOps.td - ops of the kiln graph dialect --------*- tablegen -*-===//
//
// One record per op; each keeps the semantics of the ONNX operator named in
// its description. Shape rules live in GraphOps.cpp (`inferResultType`).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_IR_GRAPH_GRAPHOPS_TD
#define KILN_IR_GRAPH_GRAPHOPS_TD

include "ir/graph/GraphBase.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

//===----------------------------------------------------------------------===//
// Type-inferring op base
//===----------------------------------------------------------------------===//

// An op whose result types follow from its operands and attributes. The op
// writes one function, `inferResultType` (or, with `multiResult`,
// `inferResultTypes`); the verifier, the InferTypeOpInterface hook and the
// refinement rule below are shared:
//  - verify() runs inference with errors reported on the op, so a bad shape
//    gets one precise message, then compares the written result types;
//  - a written result type is accepted when it is *compatible* with the
//    inferred one (same element type and rank, sizes equal or one of them `?`),
//    which is what lets kiln-shape-infer refine `?` sizes later.
class Kiln_InferOp<string mnemonic, list<Trait> traits = [], bit multiResult = 0,
                   bit pure = 1>
    : Kiln_Op<mnemonic, !listconcat(traits, [InferTypeOpAdaptorWithIsCompatible],
                                   !if(pure, [Pure], []))> {
  let hasVerifier = 1;
  code singleInferDecl = [{
    static constexpr bool kMultiResult = false;
    /// Infers the result type from the operands and attributes in `adaptor`.
    /// On failure reports why through `emitError` (which may be inactive).
    static ::mlir::FailureOr<::mlir::Type>
    inferResultType(Adaptor adaptor, ::kiln::graph::ErrorFn emitError);
  }];
  code multiInferDecl = [{
    static constexpr bool kMultiResult = true;
    /// Infers every result type from the operands and attributes in
    /// `adaptor`. On failure reports why through `emitError`.
    static ::llvm::LogicalResult
    inferResultTypes(Adaptor adaptor, ::kiln::graph::ErrorFn emitError,
                     ::llvm::SmallVectorImpl<::mlir::Type> &results);
  }];
  code inferDecl = !if(multiResult, multiInferDecl, singleInferDecl);
  let extraClassDeclaration = inferDecl;
  let extraClassDefinition = [{
    ::llvm::LogicalResult $cppClass::verify() {
      return ::kiln::graph::detail::verifyInferredTypes(*this);
    }
    ::llvm::LogicalResult $cppClass::inferReturnTypes(
        ::mlir::MLIRContext *, std::optional<::mlir::Location> location,
        Adaptor adaptor, ::llvm::SmallVectorImpl<::mlir::Type> &results) {
      return ::kiln::graph::detail::inferReturnTypes<$cppClass>(location, adaptor,
                                                               results);
    }
    bool $cppClass::isCompatibleReturnTypes(::mlir::TypeRange inferred,
                                            ::mlir::TypeRange written) {
      return ::kiln::graph::areCompatibleTypes(inferred, written);
    }
  }];
}

//===----------------------------------------------------------------------===//
// Constants and initializers
//===----------------------------------------------------------------------===//

def Kiln_ConstantOp : Kiln_InferOp<"constant", [ConstantLike]> {
  let summary = "A tensor constant (ONNX Constant, and folded shape computations)";
  let description = [{
    Holds a statically shaped tensor value that the compiler may fold. The
    result type is the value's type. Model weights are not constants: they are
    `kiln.initializer`s, which nothing folds.

    ```mlir
    %0 = kiln.constant dense<[1.0, 2.0]> : tensor<2xf32>
    ```
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat = "$value attr-dict";
  let hasFolder = 1;
}

def Kiln_InitializerOp : Kiln_InferOp<"initializer"> {
  let summary = "A named float initializer of the ONNX graph (a weight or statistic)";
  let description = [{
    An ONNX initializer with its initial value. Unlike `kiln.constant` it is
    never folded: training turns trainable initializers into parameters that
    change every step, so no pass may look through one. `name` is the ONNX
    name, which checkpoints, `kiln step` and `kiln export` use.

    ```mlir
    %w = kiln.initializer "fc1.weight" = dense_resource<fc1.weight> : tensor<1024x784xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, ElementsAttr:$value);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat = "$name `=` $value attr-dict";
}

//===----------------------------------------------------------------------===//
// Elementwise ops
//===----------------------------------------------------------------------===//

// ONNX binary arithmetic: both operands have the same element type and are
// broadcast against each other as numpy does (ONNX "multidirectional
// broadcasting"): shapes are aligned from the right, and a size 1 stretches.
class Kiln_BroadcastBinaryOp<string mnemonic, string onnxName, list<Trait> traits = []>
    : Kiln_InferOp<mnemonic, traits> {
  let summary = "Elementwise " # mnemonic # " with numpy broadcasting (ONNX " # onnxName # ")";
  let description = [{
    Both operands have the same element type. Their shapes broadcast as in
    numpy: aligned from the right, each pair of sizes equal or one of them 1.

    ```mlir
    %0 = kiln.}] # mnemonic # [{ %a, %b : (tensor<8x3xf32>, tensor<3xf32>) -> tensor<8x3xf32>
    ```
  }];
  let arguments = (ins Kiln_NumericTensor:$lhs, Kiln_NumericTensor:$rhs);
  let results = (outs Kiln_NumericTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

// The four arithmetic ops fold two float splat constants (a scale of the
// loss's gradient seed, a product of hyperparameters) into one, rounded as
// the element type's arithmetic rounds.
let hasFolder = 1 in {
def Kiln_AddOp : Kiln_BroadcastBinaryOp<"add", "Add", [Commutative]>;
def Kiln_SubOp : Kiln_BroadcastBinaryOp<"sub", "Sub">;
// A float sum times a scalar constant is the sum of the scaled values
// (the mean loss: one reduction kernel instead of a reduction and a scalar
// kernel; the scaling fuses into what the sum reads).
def Kiln_MulOp : Kiln_BroadcastBinaryOp<"mul", "Mul", [Commutative]> {
  let hasCanonicalizer = 1;
}
def Kiln_DivOp : Kiln_BroadcastBinaryOp<"div", "Div">;
}
def Kiln_PowOp : Kiln_BroadcastBinaryOp<"pow", "Pow">;
def Kiln_MaxOp : Kiln_BroadcastBinaryOp<"max", "Max", [Commutative]>;
def Kiln_MinOp : Kiln_BroadcastBinaryOp<"min", "Min", [Commutative]>;
// The remainder with the divisor's sign, as Python's % (ONNX Mod, fmod = 0).
def Kiln_ModOp : Kiln_BroadcastBinaryOp<"mod", "Mod with fmod = 0">;
// The remainder with the dividend's sign, as C's fmod (ONNX Mod, fmod = 1).
def Kiln_FmodOp : Kiln_BroadcastBinaryOp<"fmod", "Mod with fmod = 1">;

// Logical ops on i1, broadcasting like the arithmetic ones.
class Kiln_LogicalBinaryOp<string mnemonic, string onnxName>
    : Kiln_InferOp<mnemonic, [Commutative]> {
  let summary = "Elementwise logical " # mnemonic # " of i1 tensors with numpy broadcasting (ONNX " # onnxName # ")";
  let arguments = (ins TensorOf<[I1]>:$lhs, TensorOf<[I1]>:$rhs);
  let results = (outs TensorOf<[I1]>:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

def Kiln_AndOp : Kiln_LogicalBinaryOp<"and", "And">;
def Kiln_OrOp : Kiln_LogicalBinaryOp<"or", "Or">;
def Kiln_XorOp : Kiln_LogicalBinaryOp<"xor", "Xor">;

// Comparisons: broadcast like the arithmetic ops, result of i1.
class Kiln_CompareOp<string mnemonic, string onnxName, Type operandType, list<Trait> traits = []>
    : Kiln_InferOp<mnemonic, traits> {
  let summary = "Elementwise " # mnemonic # " with numpy broadcasting, giving i1 (ONNX " # onnxName # ")";
  let description = [{
    ```mlir
    %0 = kiln.}] # mnemonic # [{ %a, %b : (tensor<8x3xf32>, tensor<3xf32>) -> tensor<8x3xi1>
    ```
  }];
  let arguments = (ins operandType:$lhs, operandType:$rhs);
  let results = (outs TensorOf<[I1]>:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

def Kiln_EqualOp : Kiln_CompareOp<"equal", "Equal", Kiln_AnyTensor, [Commutative]>;
def Kiln_LessOp : Kiln_CompareOp<"less", "Less", Kiln_NumericTensor>;
def Kiln_LessEqualOp : Kiln_CompareOp<"less_equal", "LessOrEqual", Kiln_NumericTensor>;
def Kiln_GreaterOp : Kiln_CompareOp<"greater", "Greater", Kiln_NumericTensor>;
def Kiln_GreaterEqualOp : Kiln_CompareOp<"greater_equal", "GreaterOrEqual", Kiln_NumericTensor>;

def Kiln_WhereOp : Kiln_InferOp<"where"> {
  let summary = "condition ? lhs : rhs, elementwise, all three broadcast (ONNX Where)";
  let description = [{
    ```mlir
    %0 = kiln.where %mask, %a, %b : (tensor<256x256xi1>, tensor<f32>, tensor<16x8x256x256xf32>) -> tensor<16x8x256x256xf32>
    ```
  }];
  let arguments = (ins TensorOf<[I1]>:$condition, Kiln_AnyTensor:$lhs, Kiln_AnyTensor:$rhs);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat = "$condition `,` $lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

// A unary op whose result has its operand's type.
class Kiln_UnaryElementwiseOp<string mnemonic, Type operandType, list<Trait> traits = []>
    : Kiln_InferOp<mnemonic, traits> {
  let arguments = (ins operandType:$input);
  let results = (outs operandType:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

class Kiln_SimpleUnaryOp<string mnemonic, string onnxName, string formula, Type operandType>
    : Kiln_UnaryElementwiseOp<mnemonic, operandType> {
  let summary = formula # ", elementwise (ONNX " # onnxName # ")";
  let description = [{
    ```mlir
    %0 = kiln.}] # mnemonic # [{ %x : (tensor<8x1024xf32>) -> tensor<8x1024xf32>
    ```
  }];
}

def Kiln_NegOp : Kiln_SimpleUnaryOp<"neg", "Neg", "-x", Kiln_NumericTensor>;
def Kiln_AbsOp : Kiln_SimpleUnaryOp<"abs", "Abs", "|x|", Kiln_NumericTensor>;
def Kiln_ReluOp : Kiln_SimpleUnaryOp<"relu", "Relu", "max(x, 0)", Kiln_NumericTensor>;
def Kiln_SqrtOp : Kiln_SimpleUnaryOp<"sqrt", "Sqrt", "sqrt(x)", Kiln_FloatTensor>;
def Kiln_ReciprocalOp : Kiln_SimpleUnaryOp<"reciprocal", "Reciprocal", "1 / x", Kiln_FloatTensor>;
def Kiln_ExpOp : Kiln_SimpleUnaryOp<"exp", "Exp", "e^x", Kiln_FloatTensor>;
def Kiln_LogOp : Kiln_SimpleUnaryOp<"log", "Log", "ln(x)", Kiln_FloatTensor>;
def Kiln_ErfOp : Kiln_SimpleUnaryOp<"erf", "Erf", "erf(x)", Kiln_FloatTensor>;
def Kiln_TanhOp : Kiln_SimpleUnaryOp<"tanh", "Tanh", "tanh(x)", Kiln_FloatTensor>;
def Kiln_SinOp : Kiln_SimpleUnaryOp<"sin", "Sin", "sin(x)", Kiln_FloatTensor>;
def Kiln_CosOp : Kiln_SimpleUnaryOp<"cos", "Cos", "cos(x)", Kiln_FloatTensor>;
def Kiln_TanOp : Kiln_SimpleUnaryOp<"tan", "Tan", "tan(x)", Kiln_FloatTensor>;
def Kiln_AsinOp : Kiln_SimpleUnaryOp<"asin", "Asin", "asin(x)", Kiln_FloatTensor>;
def Kiln_AcosOp : Kiln_SimpleUnaryOp<"acos", "Acos", "acos(x)", Kiln_FloatTensor>;
def Kiln_AtanOp : Kiln_SimpleUnaryOp<"atan", "Atan", "atan(x)", Kiln_FloatTensor>;
def Kiln_SinhOp : Kiln_SimpleUnaryOp<"sinh", "Sinh", "sinh(x)", Kiln_FloatTensor>;
def Kiln_CoshOp : Kiln_SimpleUnaryOp<"cosh", "Cosh", "cosh(x)", Kiln_FloatTensor>;
def Kiln_AsinhOp : Kiln_SimpleUnaryOp<"asinh", "Asinh", "asinh(x)", Kiln_FloatTensor>;
def Kiln_AcoshOp : Kiln_SimpleUnaryOp<"acosh", "Acosh", "acosh(x)", Kiln_FloatTensor>;
def Kiln_AtanhOp : Kiln_SimpleUnaryOp<"atanh", "Atanh", "atanh(x)", Kiln_FloatTensor>;
def Kiln_CeilOp : Kiln_SimpleUnaryOp<"ceil", "Ceil", "ceil(x)", Kiln_FloatTensor>;
def Kiln_FloorOp : Kiln_SimpleUnaryOp<"floor", "Floor", "floor(x)", Kiln_FloatTensor>;
def Kiln_RoundOp : Kiln_SimpleUnaryOp<"round", "Round", "x rounded to the nearest integer, ties to even", Kiln_FloatTensor>;
def Kiln_SigmoidOp : Kiln_SimpleUnaryOp<"sigmoid", "Sigmoid", "1 / (1 + e^-x)", Kiln_FloatTensor>;
def Kiln_HardSwishOp : Kiln_SimpleUnaryOp<"hard_swish", "HardSwish", "x * max(0, min(1, x / 6 + 1 / 2))", Kiln_FloatTensor>;
def Kiln_NotOp : Kiln_SimpleUnaryOp<"not", "Not", "logical not", TensorOf<[I1]>>;

def Kiln_IsNanOp : Kiln_InferOp<"is_nan"> {
  let summary = "x != x, elementwise, giving i1 (ONNX IsNaN)";
  let arguments = (ins Kiln_FloatTensor:$input);
  let results = (outs TensorOf<[I1]>:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Kiln_LeakyReluOp : Kiln_UnaryElementwiseOp<"leaky_relu", Kiln_FloatTensor> {
  let summary = "x < 0 ? alpha * x : x, elementwise (ONNX LeakyRelu)";
  let arguments = (ins Kiln_FloatTensor:$input,
                       DefaultValuedAttr<F32Attr, "0.01">:$alpha);
}

def Kiln_HardSigmoidOp : Kiln_UnaryElementwiseOp<"hard_sigmoid", Kiln_FloatTensor> {
  let summary = "max(0, min(1, alpha * x + beta)), elementwise (ONNX HardSigmoid)";
  let arguments = (ins Kiln_FloatTensor:$input,
                       DefaultValuedAttr<F32Attr, "0.2">:$alpha,
                       DefaultValuedAttr<F32Attr, "0.5">:$beta);
}

def Kiln_GeluOp : Kiln_UnaryElementwiseOp<"gelu", Kiln_FloatTensor> {
  let summary = "x * Phi(x), elementwise (ONNX Gelu; the erf form of PyTorch's GELU)";
  let description = [{
    `approximate` is "none" (exact, with erf) or "tanh" (the tanh
    approximation), as in ONNX and `torch.nn.functional.gelu`.
  }];
  let arguments = (ins Kiln_FloatTensor:$input,
                       DefaultValuedAttr<StrAttr, "\"none\"">:$approximate);
}

def Kiln_ClipOp : Kiln_UnaryElementwiseOp<"clip", Kiln_NumericTensor> {
  let summary = "min(max(x, min), max), elementwise (ONNX Clip)";
  let description = [{
    A bound that is absent does not apply. The bounds are compile-time
    constants (ONNX allows tensors; the importer requires them constant).
  }];
  let arguments = (ins Kiln_NumericTensor:$input,
                       OptionalAttr<F64Attr>:$min, OptionalAttr<F64Attr>:$max);
}

def Kiln_CastOp : Kiln_InferOp<"cast"> {
  let summary = "Converts elements to another element type (ONNX Cast, CastLike)";
  let description = [{
    Float to integer truncates toward zero; to i1 is `x != 0`; between floats
    rounds to nearest even, as ONNX specifies.

    ```mlir
    %0 = kiln.cast %x {to = i64} : (tensor<3xf32>) -> tensor<3xi64>
    ```
  }];
  let arguments = (ins Kiln_AnyTensor:$input, TypeAttr:$to);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Kiln_RandomUniformOp : Kiln_InferOp<"random_uniform",
    [MemoryEffects<[MemRead<Kiln_RandomState>, MemWrite<Kiln_RandomState>]>],
    /*multiResult=*/0, /*pure=*/0> {
  let summary = "Uniform random values in [low, high) (ONNX RandomUniform, RandomUniformLike)";
  let description = [{
    A tensor of `shape`: element `i` (row-major) is `low + (high - low) *
    uniform(i, seed * 2^32 + stream)`, `uniform` being `kiln.uniform` (the
    same values on every backend). The seed is `step_seed` when given (a
    training step's `kiln.seed`, new each step: `kiln-build-train-step`
    gives it to the ops without a `seed`, each its own `stream` after the
    dropouts'), else the `seed` attribute (ONNX's `seed`: the same values
    every run, stream 0 unless `stream` says), else 0 with the op's position
    among such ops of its function as the stream (an inference entry draws
    the same values every run). Two of them never merge.

    ```mlir
    %0 = kiln.random_uniform {shape = array<i64: 16, 128>, dtype = f32, low = 0.0, high = 1.0} : () -> tensor<16x128xf32>
    %1 = kiln.random_uniform %seed {shape = array<i64: 16, 128>, dtype = f32, stream = 2 : i64} : (tensor<i64>) -> tensor<16x128xf32>
    ```
  }];
  let arguments = (ins Optional<TensorOf<[I64]>>:$step_seed,
                       DenseI64ArrayAttr:$shape, TypeAttr:$dtype,
                       DefaultValuedAttr<F64Attr, "0.0">:$low,
                       DefaultValuedAttr<F64Attr, "1.0">:$high,
                       OptionalAttr<I64Attr>:$seed,
                       OptionalAttr<I64Attr>:$stream);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = "($step_seed^)? attr-dict `:` functional-type(operands, results)";
}

def Kiln_DropoutOp : Kiln_UnaryElementwiseOp<"dropout", Kiln_FloatTensor> {
  let summary = "Random zeroing with probability `ratio`, scaled by 1/(1-ratio) (ONNX Dropout, training mode)";
  let description = [{
    Only training-mode dropout with a ratio above zero becomes this op; the
    importer turns inference-mode Dropout into its input.
  }];
  let arguments = (ins Kiln_FloatTensor:$input, F64Attr:$ratio);
}

def Kiln_DropoutTrainOp : Kiln_InferOp<"dropout_train"> {
  let summary = "Training-mode dropout with a reproducible mask";
  let description = [{
    Element `i` (row-major) is kept when `uniform(i, seed * 2^32 + stream)`
    is at least `ratio`, then scaled by 1 / (1 - ratio); otherwise zero.
    `uniform` is `kiln.uniform`: a pure function, so the same seed and
    stream give the same mask, which is how the gradient (this op applied
    to the result's gradient) drops the same elements. `kiln-build-train-step`
    turns `kiln.dropout` into this op, one stream per op, with the step's
    seed (`kiln.seed`, new each step) as `seed`.

    ```mlir
    %y = kiln.dropout_train %x, %seed {ratio = 1.000000e-01 : f64, stream = 0 : i64} : (tensor<16x512xf32>, tensor<i64>) -> tensor<16x512xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, TensorOf<[I64]>:$seed,
                       F64Attr:$ratio, I64Attr:$stream);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = "$input `,` $seed attr-dict `:` functional-type(operands, results)";
}

def Kiln_UniformOp : Kiln_Op<"uniform", [Pure]> {
  let summary = "A uniform random scalar in [0, 1) from a counter and a seed (in kernel bodies)";
  let description = [{
    A pure function of its two i64 operands: splitmix64 of the seed's
    stream at the counter, its top bits as a fraction (24 for f32, 53 for
    f64). Every backend computes the same value (runtime/src/kernel.h,
    `randomUniform`). It appears inside `linalg.generic` bodies, where
    lowering puts the random ops.

    ```mlir
    %u = kiln.uniform %index, %seed : f32
    ```
  }];
  let arguments = (ins I64:$counter, I64:$seed);
  let results = (outs AnyTypeOf<[F32, F64]>:$result);
  let assemblyFormat = "$counter `,` $seed attr-dict `:` type($result)";
}

//===----------------------------------------------------------------------===//
// Collectives
//===----------------------------------------------------------------------===//

def Kiln_AllReduceOp : Kiln_Op<"all_reduce", [
    MemoryEffects<[MemRead<Kiln_Collective>, MemWrite<Kiln_Collective>]>]> {
  let summary = "Averages (or sums) tensors across the ranks of a data-parallel run";
  let description = [{
    Every rank of a data-parallel run executes the same program on its share
    of the batch; this op gives every rank the element-wise `mean` (or `sum`)
    of its operands over all ranks. The operands are one *bucket*: the code
    generator lays them out contiguously so that the runtime reduces them
    with one collective call (MPI_Allreduce on the CPU, ncclAllReduce on
    GPUs), issued where the op stands and awaited before the first step
    that touches them. In a run of one process it computes nothing: results
    alias operands. `bucket` numbers the buckets of a function in issue
    order. `kiln-all-reduce-gradients` inserts these ops; the collective
    resource keeps passes from merging, dropping or reordering them (every
    rank must issue them in the same order).

    ```mlir
    %r:2 = kiln.all_reduce %dw, %db {bucket = 0 : i64, reduction = "mean"} : (tensor<4x3xf32>, tensor<3xf32>) -> (tensor<4x3xf32>, tensor<3xf32>)
    ```
  }];
  let arguments = (ins Variadic<Kiln_FloatTensor>:$inputs, I64Attr:$bucket,
                       DefaultValuedAttr<StrAttr, "\"mean\"">:$reduction);
  let results = (outs Variadic<Kiln_FloatTensor>:$results);
  let hasVerifier = 1;
  let assemblyFormat = "$inputs attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Kernel grouping (kernel-level IR, after kiln-fuse-elementwise)
//===----------------------------------------------------------------------===//

def Kiln_RowKernelOp : Kiln_Op<"row_kernel", [
    RecursiveMemoryEffects, SingleBlock]> {
  let summary = "Kernels that reduce each row, then use the results on the same row, run as one";
  let description = [{
    Groups `linalg.generic` kernels that the code generator emits as one
    staged kernel (runtime/src/kernel.h): the last kernel of the body is
    the *main* one; every other is a *stage*, a reduction whose parallel
    loops are the first `rows` loops of the main one and whose reduced
    loops have the sizes of the rest, read by later kernels of the group at
    the row (a LayerNorm's sum and sum of squares, a softmax's maximum and
    sum of exponentials). A GPU runs it with a block of threads per row: the
    row is read once per stage from cache instead of from memory by a
    kernel each, and the statistics are never written, unless the op yields
    them for other readers. The semantics are the body's: inlining it
    changes nothing. Built by `kiln-fuse-elementwise`.

    ```mlir
    %y, %sum = kiln.row_kernel rows 2 {
      %s = linalg.generic ... ["parallel", "parallel", "reduction"] ...
      %y = linalg.generic ... ["parallel", "parallel", "parallel"] ins(%x, %s ...) ...
      kiln.yield %y, %s : tensor<2x6x8xf32>, tensor<2x6xf32>
    } : tensor<2x6x8xf32>, tensor<2x6xf32>
    ```
  }];
  let arguments = (ins I64Attr:$rows);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let regions = (region SizedRegion<1>:$body);
  let hasVerifier = 1;
  let assemblyFormat = "`rows` $rows attr-dict-with-keyword $body `:` type($results)";
}

def Kiln_YieldOp : Kiln_Op<"yield", [Pure, Terminator,
                                     HasParent<"RowKernelOp">]> {
  let summary = "The results of a kiln.row_kernel";
  let arguments = (ins Variadic<AnyRankedTensor>:$values);
  let assemblyFormat = "($values^ `:` type($values))? attr-dict";
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

def Kiln_ReshapeOp : Kiln_InferOp<"reshape"> {
  let summary = "The same elements in a new static shape (ONNX Reshape, Flatten, Squeeze, Unsqueeze)";
  let description = [{
    `shape` is the result shape, every size known (the importer resolves
    ONNX's 0 and -1). The element count is unchanged.

    ```mlir
    %0 = kiln.reshape %x {shape = array<i64: 16, 256, 8, 64>} : (tensor<16x256x512xf32>) -> tensor<16x256x8x64xf32>
    ```
  }];
  let arguments = (ins Kiln_AnyTensor:$input, DenseI64ArrayAttr:$shape);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Kiln_TransposeOp : Kiln_InferOp<"transpose"> {
  let summary = "Permutes dimensions (ONNX Transpose)";
  let description = [{
    Result dimension `i` is input dimension `perm[i]`.

    ```mlir
    %0 = kiln.transpose %x {perm = array<i64: 0, 2, 1, 3>} : (tensor<16x256x8x64xf32>) -> tensor<16x8x256x64xf32>
    ```
  }];
  let arguments = (ins Kiln_AnyTensor:$input, DenseI64ArrayAttr:$perm);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  // The identity permutation, and a transpose undoing another (autodiff's
  // W^T^T), fold to the input.
  let hasFolder = 1;
}

def Kiln_BroadcastToOp : Kiln_InferOp<"broadcast_to"> {
  let summary = "Broadcasts to a static shape (ONNX Expand)";
  let description = [{
    `shape` is the result shape: the input broadcasts to it with numpy rules
    (ONNX Expand's `shape` input, broadcast with the input's shape, is
    resolved by the importer).
  }];
  let arguments = (ins Kiln_AnyTensor:$input, DenseI64ArrayAttr:$shape);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Kiln_SliceOp : Kiln_InferOp<"slice"> {
  let summary = "A strided box of the input (ONNX Slice, Split)";
  let description = [{
    For every dimension `d`: result index `i` reads input index
    `starts[d] + i * strides[d]`, for `i` in `[0, sizes[d])`. Strides are
    non-zero and may be negative; every index read is inside the input.
    ONNX's clamped, negative and open-ended bounds are resolved by the
    importer into this exact form.

    ```mlir
    %0 = kiln.slice %x {starts = array<i64: 0, 0, 512>, sizes = array<i64: 16, 256, 512>, strides = array<i64: 1, 1, 1>} : (tensor<16x256x1536xf32>) -> tensor<16x256x512xf32>
    ```
  }];
  let arguments = (ins Kiln_AnyTensor:$input, DenseI64ArrayAttr:$starts,
                       DenseI64ArrayAttr:$sizes, DenseI64ArrayAttr:$strides);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Kiln_ConcatOp : Kiln_InferOp<"concat"> {
  let summary = "Joins tensors along one axis (ONNX Concat)";
  let description = [{
    All inputs have the same element type and rank and equal sizes except
    along `axis` (non-negative).

    ```mlir
    %0 = kiln.concat %a, %b {axis = 1 : i64} : (tensor<2x1x4xf32>, tensor<2x2x4xf32>) -> tensor<2x3x4xf32>
    ```
  }];
  let arguments = (ins Variadic<Kiln_AnyTensor>:$inputs, I64Attr:$axis);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat = "$inputs attr-dict `:` functional-type(operands, results)";
}

def Kiln_GatherOp : Kiln_InferOp<"gather"> {
  let summary = "Takes slices of data along an axis at the given indices (ONNX Gather; embeddings)";
  let description = [{
    The result's shape is `data.shape[:axis] + indices.shape +
    data.shape[axis+1:]`. Negative indices count from the end, as in ONNX.
    Constant indices i0, i0 + 1, ..., i0 + n - 1 canonicalize to a
    `kiln.slice` (and a `kiln.reshape` for indices of another rank than 1).

    ```mlir
    %0 = kiln.gather %table, %ids {axis = 0 : i64} : (tensor<4096x512xf32>, tensor<16x256xi64>) -> tensor<16x256x512xf32>
    ```
  }];
  let arguments = (ins Kiln_AnyTensor:$data, TensorOf<[I32, I64]>:$indices,
                       DefaultValuedAttr<I64Attr, "0">:$axis);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat = "$data `,` $indices attr-dict `:` functional-type(operands, results)";
  // Constant consecutive indices (a position embedding read at arange(T))
  // become a kiln.slice: no index kernel, and a gradient that pads.
  let hasCanonicalizer = 1;
}

def Kiln_EmbeddingGradOp : Kiln_Op<"embedding_grad", [Pure]> {
  let summary = "Rows of updates summed into the rows their ids name (the gradient of a Gather along axis 0)";
  let description = [{
    `result` [rows, W] row r = the sum of the rows p of `updates` [N, W]
    whose id `ids`[p] is r (a negative id counts from `rows`; one outside
    [-rows, rows) adds nothing), added in order of p starting from zero:
    an embedding table's gradient. A runtime call, not a kernel: it reads
    `updates` once, where a one-hot [N, rows] matrix and a product would
    write and read N x rows values and multiply N x rows x W.

    ```mlir
    %dw = kiln.embedding_grad %ids, %g {rows = 4096 : i64} : (tensor<4096xi64>, tensor<4096x512xf32>) -> tensor<4096x512xf32>
    ```
  }];
  let arguments = (ins TensorOf<[I32, I64]>:$ids, Kiln_FloatTensor:$updates,
                       I64Attr:$rows);
  let results = (outs Kiln_FloatTensor:$result);
  let hasVerifier = 1;
  let assemblyFormat = [{
    $ids `,` $updates attr-dict `:` functional-type(operands, results)
  }];
}

def Kiln_GatherElementsOp : Kiln_InferOp<"gather_elements"> {
  let summary = "result[i][j] = data[indices[i][j]][j] for axis 0, and so on (ONNX GatherElements)";
  let description = [{
    `indices` has the rank of `data`; the result has the shape of `indices`.
  }];
  let arguments = (ins Kiln_AnyTensor:$data, TensorOf<[I32, I64]>:$indices,
                       DefaultValuedAttr<I64Attr, "0">:$axis);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat = "$data `,` $indices attr-dict `:` functional-type(operands, results)";
}

def Kiln_GatherNdOp : Kiln_InferOp<"gather_nd"> {
  let summary = "Slices of data addressed by index tuples (ONNX GatherND)";
  let description = [{
    The last dimension of `indices` holds index tuples of length `k` into the
    dimensions of `data` after the first `batch_dims` (which `data` and
    `indices` share). The result's shape is `indices.shape[:-1] +
    data.shape[batch_dims + k:]`.
  }];
  let arguments = (ins Kiln_AnyTensor:$data, TensorOf<[I64]>:$indices,
                       DefaultValuedAttr<I64Attr, "0">:$batch_dims);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat = "$data `,` $indices attr-dict `:` functional-type(operands, results)";
}

def Kiln_CumSumOp : Kiln_UnaryElementwiseOp<"cumsum", Kiln_NumericTensor> {
  let summary = "Running sums along one axis (ONNX CumSum)";
  let description = [{
    `axis` is non-negative. With `exclusive` each sum leaves out its own
    element; with `reverse` the sums run from the end.
  }];
  let arguments = (ins Kiln_NumericTensor:$input, I64Attr:$axis,
                       DefaultValuedAttr<BoolAttr, "false">:$exclusive,
                       DefaultValuedAttr<BoolAttr, "false">:$reverse);
}

def Kiln_TriluOp : Kiln_UnaryElementwiseOp<"trilu", Kiln_AnyTensor> {
  let summary = "Keeps the upper or lower triangle of the last two dimensions (ONNX Trilu)";
  let description = [{
    With `upper`, keeps elements with `col - row >= k`; otherwise keeps
    `col - row <= k`; the rest become zero.
  }];
  let arguments = (ins Kiln_AnyTensor:$input,
                       DefaultValuedAttr<BoolAttr, "true">:$upper,
                       DefaultValuedAttr<I64Attr, "0">:$k);
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

class Kiln_ReduceOp<string mnemonic, string onnxName, Type operandType>
    : Kiln_InferOp<mnemonic> {
  let summary = "Reduces over `axes` (ONNX " # onnxName # ")";
  let description = [{
    `axes` are distinct, non-negative and sorted; with `keepdims` the reduced
    dimensions stay with size 1.

    ```mlir
    %0 = kiln.}] # mnemonic # [{ %x {axes = array<i64: 1>, keepdims = true} : (tensor<4x10xf32>) -> tensor<4x1xf32>
    ```
  }];
  let arguments = (ins operandType:$input, DenseI64ArrayAttr:$axes,
                       DefaultValuedAttr<BoolAttr, "true">:$keepdims);
  let results = (outs operandType:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Kiln_ReduceSumOp : Kiln_ReduceOp<"reduce_sum", "ReduceSum", Kiln_NumericTensor>;
def Kiln_ReduceMeanOp : Kiln_ReduceOp<"reduce_mean", "ReduceMean, GlobalAveragePool", Kiln_FloatTensor>;
def Kiln_ReduceMaxOp : Kiln_ReduceOp<"reduce_max", "ReduceMax", Kiln_NumericTensor>;
def Kiln_ReduceMinOp : Kiln_ReduceOp<"reduce_min", "ReduceMin", Kiln_NumericTensor>;
def Kiln_ReduceProdOp : Kiln_ReduceOp<"reduce_prod", "ReduceProd", Kiln_NumericTensor>;

//===----------------------------------------------------------------------===//
// Contractions
//===----------------------------------------------------------------------===//

def Kiln_MatMulOp : Kiln_InferOp<"matmul"> {
  let summary = "Matrix product with numpy semantics (ONNX MatMul)";
  let description = [{
    As `numpy.matmul`: the last two dimensions are multiplied, the leading
    (batch) dimensions broadcast. A 1-D lhs is treated as a row vector and a
    1-D rhs as a column vector; the added dimension is removed from the
    result.

    `trans_a` / `trans_b` (not ONNX's: set by `kiln-fold-gemm-transposes`)
    read an operand of rank 2 or more with its last two dimensions swapped,
    as the library call can.

    ```mlir
    %0 = kiln.matmul %x, %w : (tensor<256x784xf32>, tensor<784x1024xf32>) -> tensor<256x1024xf32>
    %1 = kiln.matmul %q, %k : (tensor<16x8x256x64xbf16>, tensor<16x8x64x256xbf16>) -> tensor<16x8x256x256xbf16>
    %2 = kiln.matmul %q, %k {trans_b = true} : (tensor<16x8x256x64xf32>, tensor<16x8x256x64xf32>) -> tensor<16x8x256x256xf32>
    ```
  }];
  let arguments = (ins Kiln_NumericTensor:$lhs, Kiln_NumericTensor:$rhs,
                       DefaultValuedAttr<BoolAttr, "false">:$trans_a,
                       DefaultValuedAttr<BoolAttr, "false">:$trans_b);
  let results = (outs Kiln_NumericTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
  let hasCanonicalizer = 1;
}

def Kiln_GemmOp : Kiln_InferOp<"gemm"> {
  let summary = "alpha * op(A) * op(B) + beta * C, for 2-D A and B (ONNX Gemm)";
  let description = [{
    `op(X)` is `X` transposed when `trans_a` / `trans_b` is set. `A` is M×K
    after `op`, `B` is K×N, and the optional `C` broadcasts to M×N
    (unidirectionally: each of its sizes is 1 or equals the target's).
    `alpha` and `beta` default to 1.0, as in ONNX. `relu` (not ONNX's: set
    by `kiln-fuse-gemm-epilogue`) applies max(0, x) to the result, as the
    library call's epilogue.

    ```mlir
    %0 = kiln.gemm %x, %w, %b {trans_b = true} : (tensor<256x784xf32>, tensor<1024x784xf32>, tensor<1024xf32>) -> tensor<256x1024xf32>
    ```
  }];
  let arguments = (ins Kiln_NumericTensor:$a, Kiln_NumericTensor:$b,
                       Optional<Kiln_NumericTensor>:$c,
                       DefaultValuedAttr<F32Attr, "1.0">:$alpha,
                       DefaultValuedAttr<F32Attr, "1.0">:$beta,
                       DefaultValuedAttr<BoolAttr, "false">:$trans_a,
                       DefaultValuedAttr<BoolAttr, "false">:$trans_b,
                       DefaultValuedAttr<BoolAttr, "false">:$relu);
  let results = (outs Kiln_NumericTensor:$result);
  let assemblyFormat = [{
    $a `,` $b (`,` $c^)? attr-dict `:` functional-type(operands, results)
  }];
  let builders = [
    // alpha = beta = 1, as the importer builds most Gemms.
    OpBuilder<(ins "::mlir::Value":$a, "::mlir::Value":$b,
                   CArg<"::mlir::Value", "{}">:$c,
                   CArg<"bool", "false">:$transA,
                   CArg<"bool", "false">:$transB), [{
      build($_builder, $_state, a, b, c, ::llvm::APFloat(1.0f),
            ::llvm::APFloat(1.0f), transA, transB, false);
    }]>
  ];
}

def Kiln_GemmReluGradOp : Kiln_Op<"gemm_relu_grad", [Pure]> {
  let summary = "A GEMM through a ReLU's gradient, with the bias gradient (cuBLASLt's DRELU_BGRAD epilogue)";
  let description = [{
    `grad` = alpha op(A) op(B) where `mask` > 0, else 0 (the gradient
    through a ReLU whose result is `mask`); `bias_grad` = the sum of `grad`
    over its rows (the gradient of the bias added before that ReLU). Built
    by `kiln-fuse-gemm-epilogue` from the backward pass of a Linear + ReLU
    layer: one library call instead of a GEMM, a masking kernel and a
    reduction.

    ```mlir
    %dz, %db = kiln.gemm_relu_grad %dy, %w, %y : (tensor<256x10xf32>, tensor<10x1024xf32>, tensor<256x1024xf32>) -> (tensor<256x1024xf32>, tensor<1024xf32>)
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$a, Kiln_FloatTensor:$b,
                       Kiln_FloatTensor:$mask,
                       DefaultValuedAttr<F32Attr, "1.0">:$alpha,
                       DefaultValuedAttr<BoolAttr, "false">:$trans_a,
                       DefaultValuedAttr<BoolAttr, "false">:$trans_b);
  let results = (outs Kiln_FloatTensor:$grad, Kiln_FloatTensor:$bias_grad);
  let hasVerifier = 1;
  let assemblyFormat = [{
    $a `,` $b `,` $mask attr-dict `:` functional-type(operands, results)
  }];
}

def Kiln_GemmBiasGradOp : Kiln_Op<"gemm_bias_grad", [Pure]> {
  let summary = "A GEMM that also sums one operand over K (cuBLASLt's BGRADA / BGRADB epilogues)";
  let description = [{
    `result` = alpha op(A) op(B), as `kiln.gemm` without C; `bias_grad` =
    the sum over K of op(A) (`of = "a"`: M values) or of op(B) (`of = "b"`:
    N values), unscaled. Built by `kiln-fuse-gemm-epilogue` from the
    backward pass of a layer with a bias: the weight's gradient is a GEMM
    over the batch rows of the output gradient dy, and the bias's
    gradient the sum of dy over those rows, which the library call
    computes while it reads dy anyway (one launch and one read of dy
    fewer).

    ```mlir
    %dw, %db = kiln.gemm_bias_grad %dy, %x {of = "a", trans_a = true} : (tensor<4096x512xf32>, tensor<4096x2048xf32>) -> (tensor<512x2048xf32>, tensor<512xf32>)
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$a, Kiln_FloatTensor:$b,
                       StrAttr:$of,
                       DefaultValuedAttr<F32Attr, "1.0">:$alpha,
                       DefaultValuedAttr<BoolAttr, "false">:$trans_a,
                       DefaultValuedAttr<BoolAttr, "false">:$trans_b);
  let results = (outs Kiln_FloatTensor:$result, Kiln_FloatTensor:$bias_grad);
  let hasVerifier = 1;
  let assemblyFormat = [{
    $a `,` $b attr-dict `:` functional-type(operands, results)
  }];
}

def Kiln_ConvOp : Kiln_InferOp<"conv"> {
  let summary = "N-d convolution, NC[spatial] layout (ONNX Conv)";
  let description = [{
    `input` is N×C×D1×…, `weight` is M×(C/group)×K1×…, the optional `bias`
    has M elements. `pads` holds every spatial dimension's begin padding, then
    every end padding (ONNX's order); the importer turns `auto_pad` into
    explicit pads. Output size per spatial dimension:
    `floor((D + pad_begin + pad_end - dilation * (K - 1) - 1) / stride) + 1`.

    ```mlir
    %0 = kiln.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<128x3x32x32xf32>, tensor<64x3x3x3xf32>) -> tensor<128x64x32x32xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, Kiln_FloatTensor:$weight,
                       Optional<Kiln_FloatTensor>:$bias,
                       DenseI64ArrayAttr:$strides, DenseI64ArrayAttr:$pads,
                       DenseI64ArrayAttr:$dilations,
                       DefaultValuedAttr<I64Attr, "1">:$group);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
}

// The two other products of a convolution, which its gradient rule builds.
// They keep the forward convolution's attributes; the shape attribute says
// the size of what they compute (the forward input's or weight's).
def Kiln_ConvBackwardDataOp : Kiln_InferOp<"conv_backward_data"> {
  let summary = "The gradient of a convolution with respect to its input";
  let description = [{
    For the convolution `y = conv(x, weight)` with these attributes and
    `x` of shape `input_shape`: dL/dx from `grad` = dL/dy (a transposed
    convolution). The code generator turns it into a library call.

    ```mlir
    %dx = kiln.conv_backward_data %dy, %w {input_shape = array<i64: 4, 1, 28, 28>, strides = array<i64: 1, 1>, pads = array<i64: 2, 2, 2, 2>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<4x4x28x28xf32>, tensor<4x1x5x5xf32>) -> tensor<4x1x28x28xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$grad, Kiln_FloatTensor:$weight,
                       DenseI64ArrayAttr:$input_shape,
                       DenseI64ArrayAttr:$strides, DenseI64ArrayAttr:$pads,
                       DenseI64ArrayAttr:$dilations,
                       DefaultValuedAttr<I64Attr, "1">:$group);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $weight attr-dict `:` functional-type(operands, results)";
}

def Kiln_ConvBackwardFilterOp : Kiln_InferOp<"conv_backward_filter"> {
  let summary = "The gradient of a convolution with respect to its weight";
  let description = [{
    For the convolution `y = conv(input, w)` with these attributes and `w` of
    shape `weight_shape`: dL/dw from `grad` = dL/dy, summed over the batch.
    The code generator turns it into a library call.
  }];
  let arguments = (ins Kiln_FloatTensor:$grad, Kiln_FloatTensor:$input,
                       DenseI64ArrayAttr:$weight_shape,
                       DenseI64ArrayAttr:$strides, DenseI64ArrayAttr:$pads,
                       DenseI64ArrayAttr:$dilations,
                       DefaultValuedAttr<I64Attr, "1">:$group);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $input attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Pooling
//===----------------------------------------------------------------------===//

class Kiln_PoolOp<string mnemonic, string onnxName> : Kiln_InferOp<mnemonic> {
  let summary = "Sliding-window pooling over the spatial dimensions (ONNX " # onnxName # ")";
  let description = [{
    `input` is N×C×D1×…; `kernel`, `strides`, `dilations` have one entry per
    spatial dimension and `pads` begin paddings then end paddings. With
    `ceil_mode` the output size rounds up, except that a window starting past
    the input and its begin padding is dropped (PyTorch's and onnxruntime's
    rule).
  }];
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Kiln_MaxPoolOp : Kiln_PoolOp<"max_pool", "MaxPool"> {
  let arguments = (ins Kiln_FloatTensor:$input, DenseI64ArrayAttr:$kernel,
                       DenseI64ArrayAttr:$strides, DenseI64ArrayAttr:$pads,
                       DenseI64ArrayAttr:$dilations,
                       DefaultValuedAttr<BoolAttr, "false">:$ceil_mode);
}

def Kiln_AvgPoolOp : Kiln_PoolOp<"avg_pool", "AveragePool"> {
  let arguments = (ins Kiln_FloatTensor:$input, DenseI64ArrayAttr:$kernel,
                       DenseI64ArrayAttr:$strides, DenseI64ArrayAttr:$pads,
                       DenseI64ArrayAttr:$dilations,
                       DefaultValuedAttr<BoolAttr, "false">:$ceil_mode,
                       DefaultValuedAttr<BoolAttr, "false">:$count_include_pad);
}

// The gradient of pooling, which the pooling ops' rules build.
def Kiln_PoolGradOp : Kiln_InferOp<"pool_grad"> {
  let summary = "The gradient of max or sum pooling with respect to its input";
  let description = [{
    For the pooling `output = pool(input)` with these window attributes:
    every input element receives the `grad` of each window that reads it.
    With `max`, only where the element equals the window's maximum (all
    tied maxima receive it); without, from every window (sum pooling;
    average pooling's rule divides `grad` by the divisor first). `output` is
    read only with `max`; the result has `input`'s type.

    ```mlir
    %dx = kiln.pool_grad %dy, %x, %y {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, max = true} : (tensor<4x4x14x14xf32>, tensor<4x4x28x28xf32>, tensor<4x4x14x14xf32>) -> tensor<4x4x28x28xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$grad, Kiln_FloatTensor:$input,
                       Kiln_FloatTensor:$output, DenseI64ArrayAttr:$kernel,
                       DenseI64ArrayAttr:$strides, DenseI64ArrayAttr:$pads,
                       DenseI64ArrayAttr:$dilations, BoolAttr:$max);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $input `,` $output attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Normalizations
//===----------------------------------------------------------------------===//

class Kiln_SoftmaxLikeOp<string mnemonic, string onnxName, string formula>
    : Kiln_InferOp<mnemonic> {
  let summary = formula # " along one axis (ONNX " # onnxName # ", opset 13)";
  let description = [{
    Normalizes along `axis` (default -1, the last; negative counts from the
    end). The result has the input's type. (Opsets before 13 normalized over
    all dimensions from `axis` on; the importer reshapes those.)

    ```mlir
    %0 = kiln.}] # mnemonic # [{ %logits {axis = -1 : i64} : (tensor<256x10xf32>) -> tensor<256x10xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input,
                       DefaultValuedAttr<I64Attr, "-1">:$axis);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Kiln_SoftmaxOp : Kiln_SoftmaxLikeOp<"softmax", "Softmax", "exp(x) / sum(exp(x))">;
// The form cross-entropy is built on: log-probabilities, computed stably.
def Kiln_LogSoftmaxOp : Kiln_SoftmaxLikeOp<"log_softmax", "LogSoftmax", "x - log(sum(exp(x)))">;

def Kiln_BatchNormOp : Kiln_InferOp<"batch_norm"> {
  let summary = "Batch normalization with given statistics (ONNX BatchNormalization, inference mode)";
  let description = [{
    `(x - mean) / sqrt(var + epsilon) * scale + bias` per channel (dimension
    1); `scale`, `bias`, `mean`, `var` have C elements. `momentum` is ONNX's
    (the running statistics keep this share when training updates them:
    PyTorch's momentum 0.1 is 0.9 here); inference ignores it.
  }];
  let arguments = (ins Kiln_FloatTensor:$input, Kiln_FloatTensor:$scale,
                       Kiln_FloatTensor:$bias, Kiln_FloatTensor:$mean,
                       Kiln_FloatTensor:$var,
                       DefaultValuedAttr<F32Attr, "1.0e-5">:$epsilon,
                       DefaultValuedAttr<F32Attr, "0.9">:$momentum);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $scale `,` $bias `,` $mean `,` $var attr-dict `:` functional-type(operands, results)
  }];
}

def Kiln_BatchNormTrainOp : Kiln_InferOp<"batch_norm_train", [], /*multiResult=*/1> {
  let summary = "Batch normalization with the batch's own statistics (ONNX BatchNormalization, training mode)";
  let description = [{
    Normalizes with the mean and the biased (population) variance of the
    batch over every dimension but 1, and returns them beside the result, so
    that the running-statistics update and the backward pass can use them.

    ```mlir
    %y, %mean, %var = kiln.batch_norm_train %x, %scale, %bias {epsilon = 1.0e-5 : f32} : (tensor<128x64x32x32xf32>, tensor<64xf32>, tensor<64xf32>) -> (tensor<128x64x32x32xf32>, tensor<64xf32>, tensor<64xf32>)
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, Kiln_FloatTensor:$scale,
                       Kiln_FloatTensor:$bias,
                       DefaultValuedAttr<F32Attr, "1.0e-5">:$epsilon);
  let results = (outs Kiln_FloatTensor:$result, Kiln_FloatTensor:$batch_mean,
                      Kiln_FloatTensor:$batch_var);
  let assemblyFormat = [{
    $input `,` $scale `,` $bias attr-dict `:` functional-type(operands, results)
  }];
}

def Kiln_LayerNormOp : Kiln_InferOp<"layer_norm"> {
  let summary = "Layer normalization over the dimensions from `axis` on (ONNX LayerNormalization)";
  let description = [{
    Normalizes over dimensions `axis..rank-1` (`axis` non-negative), then
    scales and shifts; `scale` and the optional `bias` broadcast to those
    dimensions.

    ```mlir
    %0 = kiln.layer_norm %x, %g, %b {axis = 2 : i64, epsilon = 1.0e-5 : f32} : (tensor<16x256x512xf32>, tensor<512xf32>, tensor<512xf32>) -> tensor<16x256x512xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$input, Kiln_FloatTensor:$scale,
                       Optional<Kiln_FloatTensor>:$bias, I64Attr:$axis,
                       DefaultValuedAttr<F32Attr, "1.0e-5">:$epsilon);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $scale (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
}

#endif // KILN_IR_GRAPH_GRAPHOPS_TD
