//===- Autodiff.cpp - reverse-mode differentiation of kiln graphs ---------===//
//
// 1. Mark the active ops: those with a float result that depends on a value
//    of `wrt` and that the loss depends on.
// 2. Seed the loss's gradient with one.
// 3. Visit the active ops in reverse order; each op's rule turns its results'
//    gradients into its operands' gradients, which are summed where a value
//    has several users.
//
//===----------------------------------------------------------------------===//
#include "passes/autodiff/Autodiff.h"

#include "ir/graph/GradientInterface.h"
#include "ir/graph/GraphOps.h"

#include "llvm/ADT/SetVector.h"

using namespace mlir;

namespace kiln::autodiff {

static bool isFloatTensor(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && isa<FloatType>(t.getElementType());
}

FailureOr<SmallVector<Value>> gradients(OpBuilder &builder, Value loss,
                                        ArrayRef<Value> wrt) {
  Block *block = loss.getParentBlock();
  // 1. Values that depend on `wrt` (forward), then those the loss depends
  //    on (backward); active ops have a result in both.
  llvm::DenseSet<Value> varying(wrt.begin(), wrt.end());
  for (Operation &op : *block)
    if (llvm::any_of(op.getOperands(),
                     [&](Value v) { return varying.contains(v); }))
      for (Value r : op.getResults())
        if (isFloatTensor(r))
          varying.insert(r);
  llvm::DenseSet<Value> useful = {loss};
  SmallVector<Operation *> active;
  for (Operation &op : llvm::reverse(*block)) {
    bool feedsLoss = llvm::any_of(op.getResults(), [&](Value r) {
      return useful.contains(r) && varying.contains(r);
    });
    bool dependsOnWrt = llvm::any_of(
        op.getOperands(), [&](Value v) { return varying.contains(v); });
    if (!feedsLoss || !dependsOnWrt)
      continue;
    active.push_back(&op);
    for (Value v : op.getOperands())
      useful.insert(v);
  }

  // 2. d loss / d loss = 1.
  llvm::DenseMap<Value, Value> grads;
  auto lossType = cast<RankedTensorType>(loss.getType());
  grads[loss] = builder.create<graph::ConstantOp>(
      loss.getLoc(),
      DenseElementsAttr::get(lossType,
                             FloatAttr::get(lossType.getElementType(), 1.0)));

  // 3. The reverse sweep.
  for (Operation *op : active) {
    SmallVector<Value> resultGrads;
    for (Value r : op->getResults())
      resultGrads.push_back(grads.lookup(r));
    if (llvm::all_of(resultGrads, [](Value v) { return !v; }))
      continue;
    auto rule = dyn_cast<graph::DifferentiableOpInterface>(op);
    if (!rule)
      return op->emitOpError()
             << "has no gradient rule, and the loss depends on a trainable "
                "parameter through it (freeze the parameters before it with "
                "--freeze, or file an issue for the rule)";
    SmallVector<Value> operandGrads(op->getNumOperands());
    if (failed(rule.buildGradient(builder, resultGrads, operandGrads)))
      return failure();
    for (auto [operand, grad] : llvm::zip(op->getOperands(), operandGrads)) {
      if (!grad || !varying.contains(operand))
        continue;
      if (grad.getType() != operand.getType())
        return op->emitOpError()
               << "gradient rule built " << grad.getType() << " for operand "
               << operand.getType() << " (a bug in the rule)";
      Value &sum = grads[operand];
      sum = sum ? builder.create<graph::AddOp>(op->getLoc(), sum, grad)
                      .getResult()
                : grad;
    }
  }
  SmallVector<Value> result;
  for (Value v : wrt)
    result.push_back(grads.lookup(v));
  return result;
}

} // namespace kiln::autodiff
