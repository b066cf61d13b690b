//===- GraphBase.td - the kiln graph dialect and its types -*- tablegen -*-===//
//
// The `kiln` dialect: whole-graph tensor ops with ONNX semantics and ranked
// tensor types. The importer produces it; shape inference, autodiff and fusion
// consume it.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_IR_GRAPH_GRAPHBASE_TD
#define KILN_IR_GRAPH_GRAPHBASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Kiln_Dialect : Dialect {
  let name = "kiln";
  let cppNamespace = "::kiln::graph";
  let summary = "Tensor graph ops with ONNX semantics, for training";
  let description = [{
    The graph dialect holds a model as one function of ranked-tensor ops.
    Each op keeps the semantics of the ONNX operator it comes from (numpy
    broadcasting for elementwise ops, ONNX's MatMul and Gemm rules, ONNX's
    axis conventions), so the importer is a direct translation and the
    operator spec is the contract for shape inference and numerics.

    Every op infers its result type from its operands and attributes
    (`InferTypeOpInterface`). A written result type may be *less* refined than
    the inferred one (`?` where inference knows the size); the
    `kiln-shape-infer` pass replaces such types with the inferred ones.

    ```mlir
    func.func @mlp(%x: tensor<256x784xf32>, %w: tensor<784x1024xf32>,
                   %b: tensor<1024xf32>) -> tensor<256x1024xf32> {
      %0 = kiln.matmul %x, %w : (tensor<256x784xf32>, tensor<784x1024xf32>) -> tensor<256x1024xf32>
      %1 = kiln.add %0, %b : (tensor<256x1024xf32>, tensor<1024xf32>) -> tensor<256x1024xf32>
      %2 = kiln.relu %1 : (tensor<256x1024xf32>) -> tensor<256x1024xf32>
      return %2 : tensor<256x1024xf32>
    }
    ```
  }];
  let hasConstantMaterializer = 1;
}

//===----------------------------------------------------------------------===//
// Element types and tensor types
//===----------------------------------------------------------------------===//

// The element types kiln computes in. Integers are signless, as ONNX's are
// (ONNX's unsigned types are not supported yet).
def Kiln_FloatType : AnyTypeOf<[F16, BF16, F32, F64], "floating-point">;
def Kiln_IntType : AnyTypeOf<[I32, I64], "32- or 64-bit integer">;

def Kiln_FloatTensor : RankedTensorOf<[F16, BF16, F32, F64]>;
def Kiln_NumericTensor : RankedTensorOf<[F16, BF16, F32, F64, I8, I32, I64]>;
def Kiln_AnyTensor : RankedTensorOf<[F16, BF16, F32, F64, I1, I8, I32, I64]>;

//===----------------------------------------------------------------------===//
// Base op class
//===----------------------------------------------------------------------===//

// A graph op. Most are pure (Kiln_InferOp adds Pure, so CSE and DCE apply);
// the few with effects say which resource they touch.
class Kiln_Op<string mnemonic, list<Trait> traits = []>
    : Op<Kiln_Dialect, mnemonic, traits>;

// The state of the random number generator: random ops read and advance it,
// so no pass may merge, reorder or drop them as if they were pure.
def Kiln_RandomState : Resource<"::kiln::graph::RandomStateResource">;

// The ranks' shared sequence of collective operations: every rank must issue
// the same collectives in the same order, so no pass may merge, reorder or
// drop an op that uses it.
def Kiln_Collective : Resource<"::kiln::graph::CollectiveResource">;

#endif // KILN_IR_GRAPH_GRAPHBASE_TD
