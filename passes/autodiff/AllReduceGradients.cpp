//===- AllReduceGradients.cpp - data-parallel gradient buckets ------------===//
#include "passes/autodiff/Passes.h"

#include "ir/graph/GraphOps.h"
#include "passes/BlockOrder.h"

#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallPtrSet.h"

#include <functional>

namespace kiln::autodiff {

#define GEN_PASS_DEF_ALLREDUCEGRADIENTSPASS
#include "passes/autodiff/Passes.h.inc"

namespace {

using namespace mlir;
using namespace kiln::graph;

/// The op after which `v` is final: its defining op, or the block's start
/// for an argument (null).
Operation *definer(Value v) { return v.getDefiningOp(); }

/// Whether `a` becomes final before `b` in their block.
bool before(BlockOrder &order, Value a, Value b) {
  Operation *da = definer(a), *db = definer(b);
  if (!da || !db)
    return !da && db; // Arguments first.
  return da != db && order.isBefore(da, db);
}

struct AllReduceGradientsPass final
    : impl::AllReduceGradientsPassBase<AllReduceGradientsPass> {
  using AllReduceGradientsPassBase::AllReduceGradientsPassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto step = module.lookupSymbol<func::FuncOp>("train_step");
    if (!step) {
      module.emitError() << "kiln-all-reduce-gradients: has no @train_step "
                            "(run kiln-build-train-step first)";
      return signalPassFailure();
    }
    if (bucketMb < 0) {
      module.emitError() << "kiln-all-reduce-gradients: bucket-mb must not "
                            "be negative";
      return signalPassFailure();
    }
    if (!step.getBody().hasOneBlock())
      return; // Not a step this pass knows; nothing to average.
    Block &body = step.getBody().front();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    // (Collectives of the step itself, SyncBatchNorm's, are bucket -1.)
    bool again = false;
    step.walk([&](AllReduceOp op) {
      if (op.getBucketAttr().getInt() < 0)
        return;
      op.emitError() << "is already in @train_step; "
                        "kiln-all-reduce-gradients runs once";
      again = true;
    });
    if (again)
      return signalPassFailure();

    // The values to average: the loss and every gradient result.
    llvm::SetVector<Value> values;
    for (unsigned i = 0; i < ret.getNumOperands(); ++i) {
      auto name = step.getResultAttrOfType<StringAttr>(i, "kiln.name");
      if (name && (name.getValue() == "loss" ||
                   name.getValue().starts_with("grad.")))
        values.insert(ret.getOperand(i));
    }
    if (values.empty())
      return;
    // Each value is computed as early as its operands allow: autodiff leaves
    // the last op of some gradients (the transpose back from W^T's
    // gradient, for a weight the model uses transposed) where the reverse
    // sweep reached it, at the very end; moved up, its bucket can start
    // while the backward pass goes on.
    // (Ops move one at a time, each followed by order queries: BlockOrder
    // answers them without renumbering the block after each move.)
    BlockOrder positions(body);
    auto isBefore = [&](Value a, Value b) { return before(positions, a, b); };
    llvm::SmallPtrSet<Operation *, 32> placed;
    std::function<void(Operation *)> hoist = [&](Operation *op) {
      if (!op || op->getBlock() != &body || !placed.insert(op).second ||
          !isPure(op) || op->getNumRegions() != 0)
        return;
      Operation *after = nullptr;
      for (Value operand : op->getOperands()) {
        Operation *d = operand.getDefiningOp();
        if (!d || d->getBlock() != &body)
          continue;
        hoist(d);
        if (!after || positions.isBefore(after, d))
          after = d;
      }
      if (after && after->getNextNode() != op &&
          positions.isBefore(after, op)) {
        op->moveAfter(after);
        positions.placed(op);
      }
    };
    // (An op moved up goes right after its last operand, ahead of what was
    // moved there before it: the values are moved latest first, so that
    // those that were ahead stay ahead.)
    SmallVector<Value> byPosition(values.begin(), values.end());
    std::stable_sort(byPosition.begin(), byPosition.end(), isBefore);
    for (Value v : llvm::reverse(byPosition))
      hoist(definer(v));

    SmallVector<Value> order = values.takeVector();
    std::stable_sort(order.begin(), order.end(), isBefore);

    // Buckets in that order: one element type each, at most bucket-mb.
    const double cap = bucketMb * double(1 << 20);
    SmallVector<SmallVector<Value>> buckets;
    double bytes = 0;
    for (Value v : order) {
      auto t = cast<RankedTensorType>(v.getType());
      double size = double(t.getNumElements()) *
                    double(t.getElementTypeBitWidth() / 8);
      bool fits = !buckets.empty() &&
                  cast<RankedTensorType>(buckets.back().front().getType())
                          .getElementType() == t.getElementType() &&
                  bytes + size <= cap;
      if (!fits) {
        buckets.emplace_back();
        bytes = 0;
      }
      buckets.back().push_back(v);
      bytes += size;
    }

    // The backward pass keeps the local values: an op from which a value
    // being averaged is computed (a cotangent that CSE made a gradient too)
    // must read this rank's value, not the mean. Only the others (the
    // optimizer, clipping, the results) read the averages.
    llvm::SmallPtrSet<Operation *, 32> backward;
    SmallVector<Operation *> work;
    for (Value v : order)
      if (Operation *d = definer(v))
        work.push_back(d);
    while (!work.empty()) {
      Operation *op = work.pop_back_val();
      if (!backward.insert(op).second)
        continue;
      for (Value operand : op->getOperands())
        if (Operation *d = operand.getDefiningOp())
          work.push_back(d);
    }

    OpBuilder b(&getContext());
    Operation *previous = nullptr;
    for (auto [index, bucket] : llvm::enumerate(buckets)) {
      // After the bucket's last value, and after the previous bucket (two
      // buckets may end at results of one op): buckets issue in order.
      Operation *last = definer(bucket.back());
      if (previous && (!last || !previous->isBeforeInBlock(last)))
        last = previous;
      if (last)
        b.setInsertionPointAfter(last);
      else
        b.setInsertionPointToStart(&body);
      auto reduce = b.create<AllReduceOp>(
          NameLoc::get(b.getStringAttr("gradient bucket " +
                                       std::to_string(index)),
                       step.getLoc()),
          ValueRange(bucket).getTypes(), bucket, b.getI64IntegerAttr(index),
          b.getStringAttr("mean"));
      previous = reduce;
      for (auto [v, r] : llvm::zip(bucket, reduce.getResults())) {
        for (OpOperand &use : llvm::make_early_inc_range(v.getUses())) {
          Operation *user = use.getOwner();
          if (user == reduce || backward.contains(user))
            continue;
          if (user->isBeforeInBlock(reduce)) {
            user->emitOpError()
                << "reads a gradient before all its bucket's gradients are "
                   "computed, outside the backward pass; it cannot read the "
                   "average across ranks";
            return signalPassFailure();
          }
          use.set(r);
        }
      }
    }
  }
};

} // namespace
} // namespace kiln::autodiff
