//===- BlockOrder.h - op order queries while a pass moves ops -------------===//
//
// MLIR orders a block's ops by numbers it assigns lazily, 5 apart, and
// renumbers the whole block when an op is inserted or moved where its
// neighbours' numbers leave no gap. A pass that inserts or moves ops at one
// place while asking isBeforeInBlock (kiln-fuse-elementwise placing fused
// kernels, kiln-all-reduce-gradients hoisting gradients) renumbers every few
// changes: quadratic in the block, and an unrolled loop's block holds tens
// of thousands of ops (a 3000-step Loop compiled in 108 s).
//
// BlockOrder numbers one block the same way, 2^20 apart, so that it
// renumbers only after about twenty changes at one place. The pass tells it
// of every op it places or erases: as the listener of its rewriter (or
// greedy driver), or by calling `placed` after a move.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_PASSES_BLOCKORDER_H
#define KILN_PASSES_BLOCKORDER_H

#include "mlir/IR/Block.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/DenseMap.h"

#include <cstdint>

namespace kiln {

class BlockOrder final : public mlir::RewriterBase::Listener {
public:
  explicit BlockOrder(mlir::Block &block) : block_(block) { renumber(); }

  /// Whether `a` comes before `b`, both in one block (another block than
  /// this one's: MLIR answers).
  bool isBefore(mlir::Operation *a, mlir::Operation *b) {
    if (a->getBlock() != &block_)
      return a->isBeforeInBlock(b);
    return position(a) < position(b);
  }

  /// After `op` was inserted into the block or moved within it (or out of
  /// it: then it is forgotten).
  void placed(mlir::Operation *op) {
    positions_.erase(op);
    if (op->getBlock() != &block_)
      return;
    mlir::Operation *prev = op->getPrevNode(), *next = op->getNextNode();
    auto known = [&](mlir::Operation *o) {
      return !o || positions_.count(o) != 0;
    };
    if (!known(prev) || !known(next)) {
      renumber(); // Something was placed unannounced.
      return;
    }
    int64_t lo = prev ? positions_[prev] : positions_[next] - 2 * kStride;
    int64_t hi = next ? positions_[next] : lo + 2 * kStride;
    if (hi - lo < 2) {
      renumber();
      return;
    }
    positions_[op] = lo + (hi - lo) / 2;
  }

  void notifyOperationInserted(mlir::Operation *op,
                               mlir::OpBuilder::InsertPoint) override {
    placed(op);
  }
  void notifyOperationErased(mlir::Operation *op) override {
    positions_.erase(op);
  }

private:
  static constexpr int64_t kStride = int64_t(1) << 20;

  int64_t position(mlir::Operation *op) {
    auto it = positions_.find(op);
    if (it != positions_.end())
      return it->second;
    renumber(); // Placed unannounced.
    return positions_.lookup(op);
  }

  void renumber() {
    positions_.clear();
    int64_t at = 0;
    for (mlir::Operation &op : block_)
      positions_[&op] = at += kStride;
  }

  mlir::Block &block_;
  llvm::DenseMap<mlir::Operation *, int64_t> positions_;
};

} // namespace kiln

#endif // KILN_PASSES_BLOCKORDER_H
