//===- ShapeInfer.cpp - refine kiln result types from operands ------------===//
#include "passes/shape/Passes.h"

#include "ir/graph/GraphOps.h"

#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "kiln-shape-infer"

namespace kiln::shape {

#define GEN_PASS_DEF_SHAPEINFERPASS
#include "passes/shape/Passes.h.inc"

namespace {

using namespace mlir;

struct ShapeInferPass final : impl::ShapeInferPassBase<ShapeInferPass> {
  using ShapeInferPassBase::ShapeInferPassBase;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    // 1. Visit ops in order (a graph function is one block, so every operand
    //    is refined before its users), re-inferring each kiln op's results
    //    from its current operands and keeping the most refined type.
    WalkResult walk = func.walk([&](Operation *op) {
      if (!isa<graph::KilnDialect>(op->getDialect()))
        return WalkResult::advance();
      auto infer = dyn_cast<InferTypeOpInterface>(op);
      if (!infer)
        return WalkResult::advance();
      SmallVector<Type> inferred;
      if (failed(infer.inferReturnTypes(
              op->getContext(), op->getLoc(), op->getOperands(),
              op->getRawDictionaryAttrs(), op->getPropertiesStorage(),
              op->getRegions(), inferred)))
        return WalkResult::interrupt();
      for (auto [result, type] : llvm::zip_equal(op->getResults(), inferred)) {
        if (!graph::isCompatibleType(type, result.getType())) {
          op->emitOpError()
              << "inferred result type " << type
              << " contradicts the written type " << result.getType();
          return WalkResult::interrupt();
        }
        Type refined = graph::meetTypes(type, result.getType());
        LLVM_DEBUG(if (refined != result.getType()) llvm::dbgs()
                   << "refine " << result.getType() << " -> " << refined
                   << " at " << op->getLoc() << "\n");
        result.setType(refined);
        if (requireStatic && !cast<ShapedType>(refined).hasStaticShape()) {
          op->emitOpError() << "result type " << refined
                            << " still has a dynamic size after shape "
                               "inference; give every input a static shape";
          return WalkResult::interrupt();
        }
      }
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return signalPassFailure();

    // 2. The function returns what its return op returns: rewrite its type.
    SmallVector<Type> results;
    func.walk([&](func::ReturnOp ret) {
      results.assign(ret.getOperandTypes().begin(),
                     ret.getOperandTypes().end());
    });
    if (!func.isExternal())
      func.setFunctionType(FunctionType::get(func.getContext(),
                                             func.getArgumentTypes(), results));
  }
};

} // namespace
} // namespace kiln::shape
