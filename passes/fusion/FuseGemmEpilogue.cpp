//===- FuseGemmEpilogue.cpp - ReLUs and bias gradients into GEMMs --------===//
#include "passes/fusion/Passes.h"

#include "ir/graph/GraphOps.h"
#include "passes/fusion/Loops.h"

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

    // A bias's gradient, the sum of dy over all its axes but the last,
    // beside a GEMM summing over the same rows (the weight's gradient
    // reads dy, or its [rows, C] reshape, as op(A) = dy^T or op(B) = dy).
    SmallVector<g::ReduceSumOp> sums;
    getOperation().walk([&](g::ReduceSumOp s) { sums.push_back(s); });
    for (g::ReduceSumOp sum : sums)
      foldBiasGradient(sum);
  }

  /// `sum` into the GEMM that reads its input with K along the summed
  /// rows, as that GEMM's second result (kiln.gemm_bias_grad).
  static void foldBiasGradient(g::ReduceSumOp sum) {
    Value x = sum.getInput();
    auto type = cast<RankedTensorType>(x.getType());
    int64_t rank = type.getRank();
    if (rank < 2 || !type.hasStaticShape() ||
        !(type.getElementType().isF32() || type.getElementType().isF64()))
      return;
    ArrayRef<int64_t> axes = sum.getAxes();
    if (int64_t(axes.size()) != rank - 1)
      return;
    for (int64_t i = 0; i < rank - 1; ++i)
      if (axes[i] != i)
        return;
    int64_t columns = type.getDimSize(rank - 1);
    // dy as a [rows, C] matrix: itself, or a reshape of it.
    SmallVector<Value> matrices;
    if (rank == 2)
      matrices.push_back(x);
    for (Operation *user : x.getUsers())
      if (auto r = dyn_cast<g::ReshapeOp>(user)) {
        auto rt = cast<RankedTensorType>(r.getResult().getType());
        if (rt.getRank() == 2 && rt.getDimSize(1) == columns)
          matrices.push_back(r.getResult());
      }
    for (Value matrix : matrices)
      for (Operation *user : matrix.getUsers()) {
        auto gemm = dyn_cast<g::GemmOp>(user);
        auto elementOf = [](Value v) {
          return cast<RankedTensorType>(v.getType()).getElementType();
        };
        // (alpha 1: whether cuBLASLt scales the sum is not documented.)
        if (!gemm || gemm.getC() || gemm.getRelu() ||
            !gemm.getAlpha().isExactlyValue(1.0) ||
            elementOf(gemm.getA()) != elementOf(gemm.getB()) ||
            elementOf(gemm.getResult()) != type.getElementType())
          continue;
        // K runs along the rows: A read transposed, or B as it is.
        bool ofA = gemm.getA() == matrix && gemm.getTransA();
        bool ofB = gemm.getB() == matrix && !gemm.getTransB();
        if (!ofA && !ofB)
          continue;
        // The sum's result appears at the GEMM: its readers before it move
        // after it, which the GEMM must not need.
        if (sum->getBlock() != gemm->getBlock() ||
            llvm::any_of(sum->getUsers(),
                         [&](Operation *reader) {
                           return reader->getBlock() != gemm->getBlock();
                         }) ||
            llvm::any_of(gemm->getOperands(),
                         [&](Value v) { return dependsOn(v, sum); }))
          continue;
        OpBuilder b(gemm);
        auto biasType =
            RankedTensorType::get({columns}, type.getElementType());
        auto fused = b.create<g::GemmBiasGradOp>(
            FusedLoc::get(gemm.getContext(), {gemm->getLoc(), sum->getLoc()}),
            TypeRange{gemm.getResult().getType(), biasType}, gemm.getA(),
            gemm.getB(), b.getStringAttr(ofA ? "a" : "b"),
            gemm.getAlphaAttr(), gemm.getTransAAttr(), gemm.getTransBAttr());
        Value db = fused.getBiasGrad();
        if (sum.getType() != biasType) {
          OpBuilder at(sum);
          at.setInsertionPointAfter(fused);
          db = at.create<g::ReshapeOp>(
              sum.getLoc(), sum.getType(), db,
              at.getDenseI64ArrayAttr(
                  cast<RankedTensorType>(sum.getType()).getShape()));
        }
        sum.getResult().replaceAllUsesWith(db);
        sum.erase();
        gemm.getResult().replaceAllUsesWith(fused.getResult());
        gemm.erase();
        moveReadersAfter(db, db.getDefiningOp());
        return;
      }
  }

  /// Whether `v` is computed from `op`'s results (in `op`'s block).
  static bool dependsOn(Value v, Operation *op) {
    SmallVector<Value> work = {v};
    DenseSet<Operation *> seen;
    while (!work.empty()) {
      Operation *def = work.pop_back_val().getDefiningOp();
      if (!def || def->getBlock() != op->getBlock() ||
          def->isBeforeInBlock(op) || !seen.insert(def).second)
        continue;
      if (def == op)
        return true;
      def->walk([&](Operation *inner) {
        for (Value operand : inner->getOperands())
          work.push_back(operand);
      });
    }
    return false;
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
