//===- Passes.td - lowering the graph to kernels ----------*- tablegen -*-===//
#ifndef KILN_PASSES_LOWERING_PASSES_TD
#define KILN_PASSES_LOWERING_PASSES_TD

include "mlir/Pass/PassBase.td"

def LowerToLinalgPass : Pass<"kiln-lower-to-linalg", "mlir::func::FuncOp"> {
  let summary = "Lowers kiln graph ops to loop-nest kernels (linalg.generic)";
  let description = [{
    Every elementwise, broadcasting, reduction, normalization and
    data-movement op becomes one or a few `linalg.generic` ops on tensors:
    the kernels the code generator turns into the runtime's kernel
    descriptions, and the form fusion will work on. Broadcasting and
    transposes are indexing maps; a reduction's output starts from a
    `linalg.fill` of its identity (0 for sums, -inf for max).

    Left alone, for the code generator: `kiln.matmul`, `kiln.gemm` and
    `kiln.conv` (library calls), `kiln.reshape` (a view of the same buffer),
    `kiln.initializer` and `kiln.constant` (the arena's init region).

    Softmax along axis a, for example, becomes three kernels:
    ```mlir
    %m = max over a of x                        // reduction
    %s = sum over a of exp(x - m)                // reduction
    %y = exp(x - m) / s                          // elementwise
    ```
    With `inference`, dropout is the identity. Ops with no lowering yet are
    reported by name and the pass fails.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
  let options = [
    Option<"inference", "inference", "bool", /*default=*/"true",
           "Lower with inference semantics (dropout is the identity)">,
  ];
}

#endif // KILN_PASSES_LOWERING_PASSES_TD
