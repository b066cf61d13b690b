//===- Rematerialize.cpp - recompute cheap activations in the backward ----===//
#include "passes/fusion/Passes.h"

#include "ir/graph/GraphOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"

namespace kiln::fusion {

#define GEN_PASS_DEF_REMATERIALIZEPASS
#include "passes/fusion/Passes.h.inc"

namespace {

using namespace mlir;
namespace g = kiln::graph;

/// Ops one recomputation may copy (the value's own included): beyond that
/// the copy costs more than keeping the value.
constexpr unsigned kMaxChainOps = 16;
/// How many cheap kernels deep a value counts as live where the backward
/// reads a kernel of it (see `live` below).
constexpr int kMaxLiveDepth = 2;
/// A value at most 1/kSmallRatio of the recomputed one's size may be kept
/// from the forward to the copy.
constexpr int64_t kSmallRatio = 64;
/// The longest reduction of a product that is recomputed (isShortProduct).
constexpr int64_t kMaxRecomputedK = 128;
/// Body ops an elementwise kernel may have to be recomputed.
constexpr unsigned kMaxBodyOps = 16;

/// Whether `loc` is (or fuses) a location that kiln-build-train-step gives
/// the loss: "loss (cross_entropy)".
bool isLossLoc(Location loc) {
  if (auto name = dyn_cast<NameLoc>(loc))
    return name.getName().strref().starts_with("loss (");
  if (auto fused = dyn_cast<FusedLoc>(loc))
    return llvm::any_of(fused.getLocations(), isLossLoc);
  return false;
}

/// A view: no kernel of its own, the code generator's second name for
/// (part of) a value.
bool isView(Operation *op) {
  return isa<g::ReshapeOp, tensor::ExtractSliceOp>(op);
}

/// A library call: reads its operands from memory, so they must be
/// written there (nothing fuses into it).
bool isLibraryCall(Operation *op) {
  return isa<g::MatMulOp, g::GemmOp, g::GemmReluGradOp, g::GemmBiasGradOp,
             g::ConvOp, g::ConvBackwardDataOp, g::ConvBackwardFilterOp,
             g::EmbeddingGradOp>(op);
}

/// Whether recomputing `op` is cheap: a view, or an all-parallel kernel of
/// one result and a short body that gathers nothing (reads each input at
/// its indexing map only).
bool isCheap(Operation *op) {
  if (isView(op))
    return true;
  auto generic = dyn_cast<linalg::GenericOp>(op);
  if (!generic || generic.getNumResults() != 1 ||
      generic.getNumReductionLoops() != 0)
    return false;
  Block &body = generic.getRegion().front();
  if (body.getOperations().size() > kMaxBodyOps + 1)
    return false;
  return !body.walk([](tensor::ExtractOp) { return WalkResult::interrupt(); })
              .wasInterrupted();
}

/// Whether `op` is a batched product with a short reduction (at most
/// kMaxRecomputedK terms: attention's scores q k^T, K the head size),
/// which costs few operations per element of its result: recomputed like
/// a cheap kernel, as flash attention recomputes the scores.
bool isShortProduct(Operation *op) {
  auto product = dyn_cast<g::MatMulOp>(op);
  if (!product)
    return false;
  auto lhs = cast<RankedTensorType>(product.getLhs().getType());
  if (lhs.getRank() < 3 || !lhs.hasStaticShape())
    return false;
  int64_t k = lhs.getShape()[lhs.getRank() - (product.getTransA() ? 2 : 1)];
  return k <= kMaxRecomputedK;
}

/// Whether a library call reads `v`, itself or through views.
bool feedsLibraryCall(Value v) {
  for (Operation *user : v.getUsers())
    if (isLibraryCall(user) ||
        (isView(user) && feedsLibraryCall(user->getResult(0))))
      return true;
  return false;
}

struct RematerializePass final
    : impl::RematerializePassBase<RematerializePass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.getBody().empty())
      return;
    Block &block = func.getBody().front();
    // The forward ends at the first op of the loss that reads data (the
    // loss's constants may stand anywhere, such as the gradient's scale
    // hoisted to the top).
    Operation *loss = nullptr;
    llvm::DenseSet<Operation *> data;
    auto isData = [&](Value v) {
      Operation *def = v.getDefiningOp();
      return !def || isa<g::InitializerOp>(def) || data.contains(def);
    };
    for (Operation &op : block) {
      llvm::SetVector<Value> reads(op.getOperands().begin(),
                                   op.getOperands().end());
      getUsedValuesDefinedAbove(op.getRegions(), reads);
      if (!llvm::any_of(reads, isData))
        continue;
      data.insert(&op);
      if (isLossLoc(op.getLoc())) {
        loss = &op;
        break;
      }
    }
    if (!loss)
      return; // not a training step
    // From the last value of the forward up: a value recomputed may then
    // read earlier ones, which are recomputed in their turn where the
    // backward reads them first.
    SmallVector<Operation *> forward;
    for (Operation &op : block) {
      if (&op == loss)
        break;
      forward.push_back(&op);
    }
    for (Operation *op : llvm::reverse(forward))
      if (isCheap(op))
        rematerialize(block, loss, op);
    // What the forward no longer reads goes (readers first).
    for (Operation *op : llvm::reverse(forward))
      if (copied_.contains(op) && op->use_empty())
        op->erase();
  }

  /// The forward's ops copied into the backward.
  llvm::DenseSet<Operation *> copied_;

  /// The op of `block` that holds `user` (itself, or the op whose region
  /// it is nested in).
  static Operation *inBlock(Block &block, Operation *user) {
    return block.findAncestorOpInBlock(*user);
  }

  /// Recomputes `op`'s result where the backward first reads it, when a
  /// library call of the backward reads it (so that it would be kept in
  /// memory from the forward to there) and it can be computed again from
  /// values the backward keeps anyway.
  void rematerialize(Block &block, Operation *loss, Operation *op) {
    Value value = op->getResult(0);
    Operation *first = nullptr;
    bool library = false;
    for (OpOperand &use : value.getUses()) {
      Operation *user = inBlock(block, use.getOwner());
      if (!user || !loss->isBeforeInBlock(user))
        continue;
      if (!first || user->isBeforeInBlock(first))
        first = user;
      library |= isLibraryCall(use.getOwner()) ||
                 (isView(use.getOwner()) &&
                  feedsLibraryCall(use.getOwner()->getResult(0)));
    }
    if (!first || !library)
      return;

    // The ops to copy: `op` and the cheap ops behind it, up to values
    // that are live at `first` anyway (read there or later), arguments
    // and constants.
    // (A value is live there too when a cheap kernel of it is, which no
    // library call reads: kiln-fuse-elementwise computes such a kernel
    // inside its readers, from the value: BatchNorm's normalized input, read
    // by its gradient's kernels, from the convolution's output. Not when a
    // library call reads the kernel's result, which is then kept instead:
    // the softmax's probabilities, not its input.)
    llvm::DenseMap<std::pair<Value, int>, bool> known;
    std::function<bool(Value, int)> live = [&](Value v, int depth) {
      if (isa<BlockArgument>(v))
        return true;
      Operation *def = v.getDefiningOp();
      if (isa<g::ConstantOp, g::InitializerOp, arith::ConstantOp,
              tensor::EmptyOp>(def))
        return true;
      auto [it, inserted] = known.try_emplace({v, depth}, false);
      if (!inserted)
        return it->second;
      bool result = false;
      for (Operation *user : v.getUsers()) {
        Operation *at = inBlock(block, user);
        if (!at)
          continue;
        if (at == first || first->isBeforeInBlock(at) ||
            (depth > 0 && at == user && isa<linalg::GenericOp>(user) &&
             isCheap(user) && !feedsLibraryCall(user->getResult(0)) &&
             live(user->getResult(0), depth - 1))) {
          result = true;
          break;
        }
      }
      known[{v, depth}] = result;
      return result;
    };
    // A value much smaller than the one recomputed may be kept for it
    // (a BatchNorm's batch mean and variance, per channel).
    auto elements = [](Value v) {
      auto t = dyn_cast<RankedTensorType>(v.getType());
      return t && t.hasStaticShape() ? t.getNumElements() : int64_t(-1);
    };
    auto small = [&](Value v) {
      int64_t n = elements(v), whole = elements(value);
      return n >= 0 && whole >= 0 && n * kSmallRatio <= whole;
    };
    llvm::SetVector<Operation *> chain;
    SmallVector<Operation *> work = {op};
    chain.insert(op);
    while (!work.empty()) {
      Operation *at = work.pop_back_val();
      llvm::SetVector<Value> reads(at->getOperands().begin(),
                                   at->getOperands().end());
      getUsedValuesDefinedAbove(at->getRegions(), reads);
      for (Value v : reads) {
        if (live(v, kMaxLiveDepth) || small(v))
          continue;
        Operation *def = v.getDefiningOp();
        if (!def || def->getBlock() != &block)
          return;
        if (chain.contains(def))
          continue;
        if (!(isCheap(def) || isShortProduct(def)) ||
            chain.size() == kMaxChainOps)
          return;
        chain.insert(def);
        work.push_back(def);
      }
    }

    // Copy the chain in block order just before `first`; the backward's
    // reads of the value read the copy.
    SmallVector<Operation *> ordered(chain.begin(), chain.end());
    llvm::sort(ordered, [](Operation *a, Operation *b) {
      return a->isBeforeInBlock(b);
    });
    OpBuilder builder(first);
    IRMapping mapping;
    for (Operation *original : ordered) {
      Operation *copy = builder.clone(*original, mapping);
      if (!isView(copy))
        copy->setAttr(kRecomputedAttr, builder.getUnitAttr());
    }
    Value copy = mapping.lookup(value);
    value.replaceUsesWithIf(copy, [&](OpOperand &use) {
      Operation *user = inBlock(block, use.getOwner());
      return user && (user == first || first->isBeforeInBlock(user));
    });
    copied_.insert(ordered.begin(), ordered.end());
  }
};

} // namespace
} // namespace kiln::fusion
