//===- Passes.td - shape phase passes ---------------------*- tablegen -*-===//
#ifndef KILN_PASSES_SHAPE_PASSES_TD
#define KILN_PASSES_SHAPE_PASSES_TD

include "mlir/Pass/PassBase.td"

def ShapeInferPass : Pass<"kiln-shape-infer", "mlir::func::FuncOp"> {
  let summary = "Refines result types of kiln ops from their operands";
  let description = [{
    Walks each function in order and replaces every kiln op's result type by
    the most refined type that both the written type and the op's inferred
    type describe; then rewrites the function's result types from what it
    returns. It is how static shapes reach the whole graph once the inputs'
    shapes are known (the importer's `--input-shape` fixes the arguments).

    Before:
    ```mlir
    func.func @f(%x: tensor<8x784xf32>, %w: tensor<784x10xf32>) -> tensor<?x10xf32> {
      %0 = kiln.matmul %x, %w : (tensor<8x784xf32>, tensor<784x10xf32>) -> tensor<?x10xf32>
      %1 = kiln.relu %0 : (tensor<?x10xf32>) -> tensor<?x10xf32>
      return %1 : tensor<?x10xf32>
    }
    ```
    After:
    ```mlir
    func.func @f(%x: tensor<8x784xf32>, %w: tensor<784x10xf32>) -> tensor<8x10xf32> {
      %0 = kiln.matmul %x, %w : (tensor<8x784xf32>, tensor<784x10xf32>) -> tensor<8x10xf32>
      %1 = kiln.relu %0 : (tensor<8x10xf32>) -> tensor<8x10xf32>
      return %1 : tensor<8x10xf32>
    }
    ```
    An op whose refined operands no longer fit its shape rule (a `?` that
    turned out to be 5 where 4 was needed) is reported with the rule's own
    message, and the pass fails. With `require-static`, any size still `?`
    afterwards is an error naming the op.
  }];
  let dependentDialects = ["::kiln::graph::KilnDialect"];
  let options = [
    Option<"requireStatic", "require-static", "bool", /*default=*/"false",
           "Fail on any kiln op result that still has a dynamic size">,
  ];
}

#endif // KILN_PASSES_SHAPE_PASSES_TD
