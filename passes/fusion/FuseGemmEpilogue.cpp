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

    // where(y > 0, gemm(a, b), 0) [and its sum over rows].
    SmallVector<g::WhereOp> wheres;
    getOperation().walk([&](g::WhereOp w) { wheres.push_back(w); });
    for (g::WhereOp w : wheres) {
      auto positive = w.getCondition().getDefiningOp<g::GreaterOp>();
      auto gemm = w.getLhs().getDefiningOp<g::GemmOp>();
      if (!positive || !gemm || !isZero(w.getRhs()) ||
          !isZero(positive.getRhs()) || gemm.getC() || gemm.getRelu() ||
          !gemm.getResult().hasOneUse())
        continue;
      Value mask = positive.getLhs();
      auto type = cast<RankedTensorType>(gemm.getResult().getType());
      // (The library call takes F32 and F64, as kiln's GEMMs.)
      if (mask.getType() != type || w.getResult().getType() != type ||
          !(type.getElementType().isF32() || type.getElementType().isF64()))
        continue;
      OpBuilder b(w);
      auto biasType = RankedTensorType::get({type.getDimSize(1)},
                                            type.getElementType());
      auto fused = b.create<g::GemmReluGradOp>(
          FusedLoc::get(&getContext(), {gemm->getLoc(), w->getLoc()}),
          TypeRange{type, biasType}, gemm.getA(), gemm.getB(), mask,
          gemm.getAlphaAttr(), gemm.getTransAAttr(), gemm.getTransBAttr());
      // Sums of the gradient over its rows: the second result.
      for (Operation *user : llvm::make_early_inc_range(w->getUsers())) {
        auto sum = dyn_cast<g::ReduceSumOp>(user);
        if (!sum || sum.getAxes() != ArrayRef<int64_t>{0})
          continue;
        OpBuilder at(sum);
        auto shape = cast<RankedTensorType>(sum.getType()).getShape();
        Value db = fused.getBiasGrad();
        if (shape != biasType.getShape())
          db = at.create<g::ReshapeOp>(sum.getLoc(), sum.getType(), db,
                                       at.getDenseI64ArrayAttr(shape));
        sum.getResult().replaceAllUsesWith(db);
        sum.erase();
      }
      w.getResult().replaceAllUsesWith(fused.getGrad());
      w.erase();
      gemm.erase();
      if (positive->use_empty())
        positive.erase();
    }
  }

  /// A splat zero constant.
  static bool isZero(Value v) {
    auto c = v.getDefiningOp<g::ConstantOp>();
    auto splat = c ? dyn_cast<SplatElementsAttr>(c.getValue()) : nullptr;
    return splat && isa<FloatType>(splat.getElementType()) &&
           splat.getSplatValue<APFloat>().isZero();
  }
};

} // namespace
} // namespace kiln::fusion
