//===- FuseElementwise.cpp - elementwise kernels into their consumers -----===//
#include "passes/fusion/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#define DEBUG_TYPE "kiln-fuse-elementwise"

namespace kiln::fusion {

#define GEN_PASS_DEF_FUSEELEMENTWISEPASS
#include "passes/fusion/Passes.h.inc"

namespace {

using namespace mlir;

/// Outputs a fused kernel may write (each is a stream of stores).
constexpr unsigned kMaxOutputs = 4;

/// Scalar kernels of at most this many body ops are recomputed wherever
/// they are read (a learning rate times a decay, a bias correction): a few
/// arithmetic instructions per element cost less than a launch.
constexpr unsigned kMaxRecomputedScalarOps = 8;

/// Elementwise kernels of at most this many body ops, reading at most two
/// full-size inputs (others broadcast: a row of labels, a column of class
/// ids), are recomputed in each of their consumers rather than written once
/// and read by each (a one-hot mask times a scale, read by a sum and by the
/// gradient): the inputs are read instead of the result, and a launch goes.
constexpr unsigned kMaxRecomputedOps = 4;

/// A kernel over no loops (a scalar from scalars) small enough to compute
/// again in every consumer, even through a broadcast.
bool isRecomputableScalar(linalg::GenericOp op) {
  return op && op.getNumLoops() == 0 && op.getNumDpsInits() == 1 &&
         op.getBody()->getOperations().size() <= kMaxRecomputedScalarOps + 1;
}

/// A cheap elementwise kernel that every user reads point for point (no
/// broadcast, once per user), so that each can compute it again.
bool isRecomputableElementwise(linalg::GenericOp op) {
  if (!op || op.getNumLoops() == 0 || op.getNumDpsInits() != 1 ||
      op.getNumParallelLoops() != op.getNumLoops() ||
      op.getBody()->getOperations().size() > kMaxRecomputedOps + 1)
    return false;
  unsigned fullSize = 0;
  for (OpOperand *in : op.getDpsInputOperands())
    fullSize += op.getMatchingIndexingMap(in).isPermutation();
  if (fullSize > 2)
    return false;
  Value result = op->getResult(0);
  for (OpOperand &use : result.getUses()) {
    auto user = dyn_cast<linalg::GenericOp>(use.getOwner());
    if (!user || !user.isDpsInput(&use) ||
        !user.getMatchingIndexingMap(&use).isPermutation() ||
        llvm::count_if(result.getUses(), [&](OpOperand &other) {
          return other.getOwner() == use.getOwner();
        }) != 1)
      return false;
  }
  return true;
}

/// Whether `producer` is computed again in each consumer instead of once.
bool isRecomputed(linalg::GenericOp producer) {
  return isRecomputableScalar(producer) || isRecomputableElementwise(producer);
}

/// Whether the value `operand` of a consumer should be computed inside it.
bool shouldFuse(OpOperand &operand) {
  auto producer = operand.get().getDefiningOp<linalg::GenericOp>();
  auto consumer = dyn_cast<linalg::GenericOp>(operand.getOwner());
  if (!producer || !consumer)
    return false;
  // Read by two operands of the consumer, it would be computed twice.
  if (llvm::count_if(operand.get().getUses(), [&](OpOperand &use) {
        return use.getOwner() == consumer.getOperation();
      }) != 1)
    return false;
  // A small scalar or cheap elementwise value: into every consumer (copied
  // first when it has other users, see FuseProducer).
  if (isRecomputed(producer))
    return linalg::areElementwiseOpsFusable(&operand);
  if (producer.getNumParallelLoops() != producer.getNumLoops())
    return false;
  if (!consumer.getMatchingIndexingMap(&operand).isPermutation())
    return false; // Read through a broadcast: it would be recomputed.
  // A producer whose value other ops also read (or whose loop sizes come
  // only from its output) stays a result of the fused kernel, written where
  // it is computed: only into an all-parallel consumer that reads it point
  // for point, so both outputs share the loop nest, and only when those
  // other readers come after the consumer.
  if (!linalg::ElementwiseOpFusionResult::getPreservedProducerResults(
           producer, consumer)
           .empty()) {
    if (consumer.getNumParallelLoops() != consumer.getNumLoops() ||
        !consumer.getMatchingIndexingMap(&operand).isIdentity() ||
        producer.getNumDpsInits() + consumer.getNumDpsInits() > kMaxOutputs)
      return false;
    for (Operation *user : producer->getUsers())
      if (user != consumer &&
          (user->getBlock() != consumer->getBlock() ||
           !consumer->isBeforeInBlock(user)))
        return false;
  }
  return linalg::areElementwiseOpsFusable(&operand);
}

struct FuseProducer final : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::GenericOp consumer,
                                PatternRewriter &rewriter) const override {
    for (OpOperand *operand : consumer.getDpsInputOperands()) {
      if (!shouldFuse(*operand))
        continue;
      Operation *producer = operand->get().getDefiningOp();
      // A recomputed value read elsewhere too: this consumer gets its own
      // copy to fuse; the others keep the original.
      if (isRecomputed(cast<linalg::GenericOp>(producer)) &&
          !operand->get().hasOneUse()) {
        rewriter.setInsertionPoint(producer);
        Operation *copy = rewriter.clone(*producer);
        rewriter.modifyOpInPlace(consumer, [&] {
          operand->set(copy->getResult(
              cast<OpResult>(operand->get()).getResultNumber()));
        });
        producer = copy;
        rewriter.setInsertionPoint(consumer); // Where the fused op goes.
      }
      // The kernel is named after what it computes: a recomputed scalar
      // (shared by many kernels) adds nothing to the name.
      Location loc =
          isRecomputableScalar(cast<linalg::GenericOp>(producer))
              ? consumer.getLoc()
              : rewriter.getFusedLoc({producer->getLoc(), consumer.getLoc()});
      FailureOr<linalg::ElementwiseOpFusionResult> fused =
          linalg::fuseElementwiseOps(rewriter, operand);
      if (failed(fused))
        continue;
      fused->fusedOp->setLoc(loc);
      for (auto [original, replacement] : fused->replacements)
        rewriter.replaceAllUsesExcept(original, replacement, fused->fusedOp);
      rewriter.eraseOp(consumer);
      if (producer->use_empty())
        rewriter.eraseOp(producer);
      return success();
    }
    return failure();
  }
};

struct FuseElementwisePass final
    : impl::FuseElementwisePassBase<FuseElementwisePass> {
  void runOnOperation() override {
    // 1. Fuse producer into consumer, one operand at a time, until no
    //    candidate is left (the greedy driver revisits changed ops).
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseProducer>(&getContext());
    // Results no one reads any more (a value kept as a second output whose
    // other readers fused too) are not written.
    linalg::populateEraseUnusedOperandsAndResultsPatterns(patterns);
    GreedyRewriteConfig config;
    config.useTopDownTraversal = true;
    if (failed(applyPatternsAndFoldGreedily(getOperation(), std::move(patterns),
                                            config)))
      return signalPassFailure();
  }
};

} // namespace
} // namespace kiln::fusion
