//===- FuseGemmEpilogue.cpp - ReLU into the GEMM that produces its input --===//
#include "passes/fusion/Passes.h"

#include "ir/graph/GraphOps.h"

namespace kiln::fusion {

#define GEN_PASS_DEF_FUSEGEMMEPILOGUEPASS
#include "passes/fusion/Passes.h.inc"

namespace {

using namespace mlir;
namespace g = kiln::graph;

struct FuseGemmEpiloguePass final
    : impl::FuseGemmEpiloguePassBase<FuseGemmEpiloguePass> {
  void runOnOperation() override {
    SmallVector<g::ReluOp> relus;
    getOperation().walk([&](g::ReluOp relu) { relus.push_back(relu); });
    for (g::ReluOp relu : relus) {
      auto gemm = relu.getInput().getDefiningOp<g::GemmOp>();
      if (!gemm || gemm.getRelu() || !gemm.getResult().hasOneUse() ||
          gemm.getResult().getType() != relu.getResult().getType())
        continue;
      gemm.setRelu(true);
      gemm->setLoc(FusedLoc::get(&getContext(),
                                 {gemm->getLoc(), relu->getLoc()}));
      relu.getResult().replaceAllUsesWith(gemm.getResult());
      relu.erase();
    }
  }
};

} // namespace
} // namespace kiln::fusion
