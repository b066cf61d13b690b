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

// A single-result op whose result type follows from its operands and
// attributes. The op writes one function, `inferResultType`; the verifier, the
// InferTypeOpInterface hook and the refinement rule below are shared:
//  - verify() runs inference with errors reported on the op, so a bad shape
//    gets one precise message;
//  - a written result type is accepted when it is *compatible* with the
//    inferred one (same element type and rank, sizes equal or one of them `?`),
//    which is what lets kiln-shape-infer refine `?` sizes later.
class Kiln_InferOp<string mnemonic, list<Trait> traits = []>
    : Kiln_Op<mnemonic, !listconcat(traits, [InferTypeOpAdaptorWithIsCompatible])> {
  let hasVerifier = 1;
  code inferDecl = [{
    /// Infers the result type from the operands and attributes in `adaptor`.
    /// On failure reports why through `emitError` (which may be inactive).
    static ::mlir::FailureOr<::mlir::Type>
    inferResultType(Adaptor adaptor, ::kiln::graph::ErrorFn emitError);
  }];
  let extraClassDeclaration = inferDecl;
  let extraClassDefinition = [{
    ::llvm::LogicalResult $cppClass::verify() {
      return ::kiln::graph::detail::verifyInferredType(*this);
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
// Constants
//===----------------------------------------------------------------------===//

def Kiln_ConstantOp : Kiln_InferOp<"constant", [ConstantLike]> {
  let summary = "A tensor constant (ONNX Constant, and initializers that are not parameters)";
  let description = [{
    Holds a statically shaped tensor value. The result type is the value's
    type.

    ```mlir
    %0 = kiln.constant dense<[1.0, 2.0]> : tensor<2xf32>
    ```
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs Kiln_AnyTensor:$result);
  let assemblyFormat = "$value attr-dict";
  let hasFolder = 1;
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

def Kiln_AddOp : Kiln_BroadcastBinaryOp<"add", "Add", [Commutative]>;
def Kiln_SubOp : Kiln_BroadcastBinaryOp<"sub", "Sub">;
def Kiln_MulOp : Kiln_BroadcastBinaryOp<"mul", "Mul", [Commutative]>;
def Kiln_DivOp : Kiln_BroadcastBinaryOp<"div", "Div">;

// A unary op whose result has its operand's type.
class Kiln_UnaryElementwiseOp<string mnemonic, Type operandType, list<Trait> traits = []>
    : Kiln_InferOp<mnemonic, traits> {
  let arguments = (ins operandType:$input);
  let results = (outs operandType:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Kiln_ReluOp : Kiln_UnaryElementwiseOp<"relu", Kiln_NumericTensor> {
  let summary = "max(x, 0), elementwise (ONNX Relu)";
  let description = [{
    ```mlir
    %0 = kiln.relu %x : (tensor<8x1024xf32>) -> tensor<8x1024xf32>
    ```
  }];
}

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

    ```mlir
    %0 = kiln.matmul %x, %w : (tensor<256x784xf32>, tensor<784x1024xf32>) -> tensor<256x1024xf32>
    %1 = kiln.matmul %q, %k : (tensor<16x8x256x64xbf16>, tensor<16x8x64x256xbf16>) -> tensor<16x8x256x256xbf16>
    ```
  }];
  let arguments = (ins Kiln_NumericTensor:$lhs, Kiln_NumericTensor:$rhs);
  let results = (outs Kiln_NumericTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

def Kiln_GemmOp : Kiln_InferOp<"gemm"> {
  let summary = "alpha * op(A) * op(B) + beta * C, for 2-D A and B (ONNX Gemm)";
  let description = [{
    `op(X)` is `X` transposed when `trans_a` / `trans_b` is set. `A` is M×K
    after `op`, `B` is K×N, and the optional `C` broadcasts to M×N
    (unidirectionally: each of its sizes is 1 or equals the target's).
    `alpha` and `beta` default to 1.0, as in ONNX.

    ```mlir
    %0 = kiln.gemm %x, %w, %b {trans_b = true} : (tensor<256x784xf32>, tensor<1024x784xf32>, tensor<1024xf32>) -> tensor<256x1024xf32>
    ```
  }];
  let arguments = (ins Kiln_NumericTensor:$a, Kiln_NumericTensor:$b,
                       Optional<Kiln_NumericTensor>:$c,
                       DefaultValuedAttr<F32Attr, "1.0">:$alpha,
                       DefaultValuedAttr<F32Attr, "1.0">:$beta,
                       DefaultValuedAttr<BoolAttr, "false">:$trans_a,
                       DefaultValuedAttr<BoolAttr, "false">:$trans_b);
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
            ::llvm::APFloat(1.0f), transA, transB);
    }]>
  ];
}

//===----------------------------------------------------------------------===//
// Normalizations
//===----------------------------------------------------------------------===//

class Kiln_SoftmaxLikeOp<string mnemonic, string onnxName, string formula>
    : Kiln_InferOp<mnemonic> {
  let summary = formula # " along one axis (ONNX " # onnxName # ", opset 13)";
  let description = [{
    Normalizes along `axis` (default -1, the last; negative counts from the
    end). The result has the input's type.

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

#endif // KILN_IR_GRAPH_GRAPHOPS_TD
