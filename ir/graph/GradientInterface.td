//===- GradientInterface.td - the op interface autodiff uses -*- tablegen -*-===//
#ifndef KILN_IR_GRAPH_GRADIENTINTERFACE_TD
#define KILN_IR_GRAPH_GRADIENTINTERFACE_TD

include "mlir/IR/OpBase.td"

def Kiln_DifferentiableOpInterface : OpInterface<"DifferentiableOpInterface"> {
  let cppNamespace = "::kiln::graph";
  let description = [{
    An op with a gradient rule: its vector-Jacobian product. Given the
    gradients of the loss with respect to the op's results, the rule builds
    (with `builder`, after the op) the gradients with respect to its operands.

    `resultGrads` has one entry per result; a null entry means the loss does
    not depend on that result (zero). The rule fills `operandGrads` (sized to
    the number of operands, all null on entry) for every operand it
    differentiates: each gradient has its operand's type. Integer, boolean,
    shape and index operands keep a null gradient.

    The rules live beside the autodiff pass (passes/autodiff/GradientRules.cpp)
    and are attached to the ops as external models, so the dialect does not
    depend on them. An op without this interface that lies on a path from a
    parameter to the loss is refused by `kiln-build-train-step`.
  }];
  let methods = [
    InterfaceMethod<
      "Builds the gradients of the operands from those of the results.",
      "::llvm::LogicalResult", "buildGradient",
      (ins "::mlir::OpBuilder &":$builder,
           "::llvm::ArrayRef<::mlir::Value>":$resultGrads,
           "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGrads)>,
  ];
}

#endif // KILN_IR_GRAPH_GRADIENTINTERFACE_TD
