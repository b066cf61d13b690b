//===- FuseElementwise.cpp - elementwise kernels into their consumers -----===//
#include "passes/fusion/Passes.h"
#include "passes/fusion/Loops.h"
#include "passes/BlockOrder.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Affine/Utils.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include "ir/graph/GraphOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/Dominance.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/CSE.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/RegionUtils.h"

#include <cmath>

#define DEBUG_TYPE "kiln-fuse-elementwise"

namespace kiln::fusion {

#define GEN_PASS_DEF_FUSEELEMENTWISEPASS
#include "passes/fusion/Passes.h.inc"

namespace {

using namespace mlir;

/// Outputs a fused kernel may write (each is a stream of stores).
constexpr unsigned kMaxOutputs = 4;

/// Inputs a fused kernel may read. Each is a kernel parameter (CUDA allows
/// 4 KB of them before 12.1), and each fusion into a kernel costs time in
/// its inputs: without a bound, a weight's gradient summed over a loop
/// unrolled 3000 times (one product per step) fused into one kernel of
/// 3000 inputs, one fusion at a time -- quadratic, and too many parameters.
constexpr unsigned kMaxInputs = 64;

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

/// Whether indexing `map` over loops of sizes `ranges` reads every element
/// it reaches once (no broadcast): each loop of more than one iteration
/// appears in exactly one result, each result is a sum of loops times
/// coefficients plus a constant, and within a result the coefficients form
/// a mixed radix (each at least the previous times its loop's size), as
/// permutations, slices and reshapes that split dimensions give.
bool readsEachElementOnce(AffineMap map, ArrayRef<int64_t> ranges) {
  SmallVector<int> uses(map.getNumDims(), 0);
  for (AffineExpr result : map.getResults()) {
    SmallVector<std::pair<int64_t, unsigned>> terms; // coefficient, loop
    bool linear = true;
    std::function<void(AffineExpr, int64_t)> walk = [&](AffineExpr e,
                                                        int64_t scale) {
      if (auto d = dyn_cast<AffineDimExpr>(e)) {
        terms.push_back({scale, d.getPosition()});
      } else if (isa<AffineConstantExpr>(e)) {
      } else if (auto b = dyn_cast<AffineBinaryOpExpr>(e)) {
        if (e.getKind() == AffineExprKind::Add) {
          walk(b.getLHS(), scale);
          walk(b.getRHS(), scale);
        } else if (e.getKind() == AffineExprKind::Mul &&
                   isa<AffineConstantExpr>(b.getRHS())) {
          walk(b.getLHS(),
               scale * cast<AffineConstantExpr>(b.getRHS()).getValue());
        } else {
          linear = false;
        }
      } else {
        linear = false;
      }
    };
    walk(result, 1);
    if (!linear)
      return false;
    llvm::sort(terms);
    int64_t next = 1;
    for (auto [coefficient, loop] : terms) {
      if (loop >= ranges.size() || ShapedType::isDynamic(ranges[loop]) ||
          coefficient < next)
        return false;
      ++uses[loop];
      next = coefficient * ranges[loop];
    }
  }
  for (unsigned d = 0; d < map.getNumDims(); ++d)
    if (uses[d] > 1 || (uses[d] == 0 && d < ranges.size() && ranges[d] != 1))
      return false;
  return true;
}

/// Whether kernel `op` reads `operand` element by element, once each.
bool readsOnce(linalg::GenericOp op, OpOperand *operand) {
  return readsEachElementOnce(op.getMatchingIndexingMap(operand),
                              op.getStaticLoopRanges());
}

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
    fullSize += readsOnce(op, in);
  if (fullSize > 2)
    return false;
  Value result = op->getResult(0);
  for (OpOperand &use : result.getUses()) {
    auto user = dyn_cast<linalg::GenericOp>(use.getOwner());
    if (!user || !user.isDpsInput(&use) ||
        !readsOnce(user, &use) ||
        llvm::count_if(result.getUses(), [&](OpOperand &other) {
          return other.getOwner() == use.getOwner();
        }) != 1)
      return false;
  }
  return true;
}

/// A consumer reads a broadcast value at least this many times per element.
constexpr int64_t kMinBroadcastRatio = 8;

/// The points of `op`'s loop nest, or -1 when a size is dynamic.
int64_t loopPoints(linalg::GenericOp op) {
  int64_t points = 1;
  for (int64_t size : op.getStaticLoopRanges()) {
    if (ShapedType::isDynamic(size))
      return -1;
    points *= size;
  }
  return points;
}

/// A small per-row kernel (a mean from a sum, a reciprocal standard
/// deviation: at most kMaxRecomputedScalarOps body ops) that users read
/// through a broadcast, at least kMinBroadcastRatio times per element (and
/// others, if any, point for point), once per user: recomputed where it is
/// read (a few instructions per element) instead of launched, written and
/// read back.
bool isRecomputableBroadcast(linalg::GenericOp op) {
  if (!op || op.getNumLoops() == 0 || op.getNumDpsInits() != 1 ||
      op.getNumParallelLoops() != op.getNumLoops() ||
      op.getBody()->getOperations().size() > kMaxRecomputedScalarOps + 1)
    return false;
  int64_t points = loopPoints(op);
  if (points <= 0)
    return false;
  Value result = op->getResult(0);
  bool broadcast = false;
  for (OpOperand &use : result.getUses()) {
    auto user = dyn_cast<linalg::GenericOp>(use.getOwner());
    if (!user || !user.isDpsInput(&use) ||
        llvm::count_if(result.getUses(), [&](OpOperand &other) {
          return other.getOwner() == use.getOwner();
        }) != 1)
      return false;
    if (readsOnce(user, &use))
      continue;
    if (loopPoints(user) < kMinBroadcastRatio * points)
      return false;
    broadcast = true;
  }
  return broadcast;
}

/// Elementwise kernels of at most this many body ops are recomputed by
/// each reader where that moves fewer bytes (isRecomputableByTraffic).
constexpr unsigned kMaxRecomputedTrafficOps = 16;

/// The bytes of a statically shaped tensor (booleans as bytes), or -1.
int64_t tensorBytes(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type || !type.hasStaticShape())
    return -1;
  int64_t bits = type.getElementTypeBitWidth();
  return type.getNumElements() * std::max<int64_t>(1, (bits + 7) / 8);
}

/// An elementwise kernel with several results or readers (at most
/// kMaxRecomputedTrafficOps body ops), each reader a kernel reading what
/// it reads point for point, where computing it again in every reader
/// moves fewer bytes than writing its results once and reading them back:
/// readers x inputs < inputs + results + results read. BatchNorm's backward
/// (the normalized input and the ReLU-masked gradient, written by one
/// kernel, read back by the sums and by the input gradient) reads the
/// input, the mask and the gradients twice instead.
bool isRecomputableByTraffic(linalg::GenericOp op) {
  if (!op || op.getNumLoops() == 0 ||
      op.getNumParallelLoops() != op.getNumLoops() ||
      op.getBody()->getOperations().size() > kMaxRecomputedTrafficOps + 1)
    return false;
  // A gather reads what its indices say, not its whole input: no count.
  if (gathers(op))
    return false;
  int64_t in = 0, out = 0, readBack = 0;
  for (OpOperand *operand : op.getDpsInputOperands()) {
    if (op.getMatchingBlockArgument(operand).use_empty())
      continue;
    int64_t bytes = tensorBytes(operand->get());
    if (bytes < 0)
      return false;
    in += bytes;
  }
  SmallPtrSet<Operation *, 4> readers;
  for (OpResult result : op->getResults()) {
    if (result.use_empty())
      continue;
    int64_t bytes = tensorBytes(result);
    if (bytes < 0)
      return false;
    out += bytes;
    for (OpOperand &use : result.getUses()) {
      auto user = dyn_cast<linalg::GenericOp>(use.getOwner());
      if (!user || !user.isDpsInput(&use) || !readsOnce(user, &use) ||
          user->getBlock() != op->getBlock())
        return false;
      readBack += bytes;
      readers.insert(user);
    }
  }
  if (readers.size() + op->getNumResults() < 3)
    return false; // One result, one reader: plain fusion.
  return int64_t(readers.size()) * in < in + out + readBack;
}

/// Whether `producer` is computed again in each consumer instead of once.
/// (The byte count is judged as fusion goes, on kernels that may still
/// grow: judging it only after a first round of fusion, on whole kernels,
/// was tried and moved more bytes, cnn 6.43 GB against 6.28, as that round
/// first makes values extra outputs of their first readers' kernels.)
bool isRecomputed(linalg::GenericOp producer) {
  return isRecomputableScalar(producer) ||
         isRecomputableElementwise(producer) ||
         isRecomputableBroadcast(producer) ||
         isRecomputableByTraffic(producer);
}

/// A kernel reading a view of a value reads the value itself, its indexing
/// map composed with the view's (linear) index arithmetic, so that views do
/// not keep kernels apart:
///  - a kiln.reshape that splits dimensions (a row of heads [.., 512] as
///    [.., 8, 64]) or adds or drops unit dimensions (a statistic kept as
///    [rows, 1], a channel vector as [1, C, 1, 1]);
///  - a tensor.extract_slice with static offsets and unit strides (the k
///    and v thirds of a projection).
/// Not where a plain loop index would read a source dimension of another
/// size than the loop's (linalg sizes loops from such reads): a slice at
/// offset 0 of a longer dimension stays a copy; nor where a loop would no
/// longer be read plainly by any operand.
struct ReadThroughView final : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;

  /// `map`'s results for a value read through reshape `from` -> `to`, or
  /// none when the reshape merges dimensions (that would need division).
  static std::optional<SmallVector<AffineExpr>>
  throughReshape(AffineMap map, RankedTensorType from, RankedTensorType to,
                 MLIRContext *context) {
    ArrayRef<int64_t> src = from.getShape(), dst = to.getShape();
    SmallVector<AffineExpr> results;
    size_t j = 0;
    for (int64_t size : src) {
      if (size == 1) {
        results.push_back(getAffineConstantExpr(0, context));
        continue;
      }
      // The next result dimensions whose sizes multiply to this one's, in
      // mixed radix (unit dimensions among them read at 0 by the map).
      AffineExpr index = getAffineConstantExpr(0, context);
      int64_t covered = 1;
      while (j < dst.size() && covered < size) {
        index = index * dst[j] + map.getResult(unsigned(j));
        covered *= dst[j++];
      }
      if (covered != size)
        return std::nullopt;
      results.push_back(index);
    }
    while (j < dst.size())
      if (dst[j++] != 1)
        return std::nullopt;
    return results;
  }

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    for (OpOperand *operand : op.getDpsInputOperands()) {
      Operation *view = operand->get().getDefiningOp();
      AffineMap map = op.getMatchingIndexingMap(operand);
      std::optional<SmallVector<AffineExpr>> results;
      Value source;
      if (auto reshape = dyn_cast_or_null<graph::ReshapeOp>(view)) {
        auto from = dyn_cast<RankedTensorType>(reshape.getInput().getType());
        auto to = dyn_cast<RankedTensorType>(reshape.getType());
        if (!from || !to || !from.hasStaticShape() || !to.hasStaticShape())
          continue;
        results = throughReshape(map, from, to, getContext());
        source = reshape.getInput();
      } else if (auto slice = dyn_cast_or_null<tensor::ExtractSliceOp>(view)) {
        auto from = cast<RankedTensorType>(slice.getSourceType());
        if (slice.getType().getRank() != from.getRank() ||
            !llvm::all_of(slice.getStaticStrides(),
                          [](int64_t s) { return s == 1; }) ||
            llvm::any_of(slice.getStaticOffsets(), ShapedType::isDynamic))
          continue;
        results.emplace();
        for (auto [r, offset] :
             llvm::zip(map.getResults(), slice.getStaticOffsets()))
          results->push_back(r + offset);
        source = slice.getSource();
      }
      if (!results)
        continue;
      SmallVector<int64_t> ranges = op.getStaticLoopRanges();
      ArrayRef<int64_t> sourceShape =
          cast<RankedTensorType>(source.getType()).getShape();
      bool sized = true;
      for (auto [i, expr] : llvm::enumerate(*results))
        if (auto d = dyn_cast<AffineDimExpr>(expr))
          sized &= sourceShape[i] == ranges[d.getPosition()];
      if (!sized)
        continue;
      SmallVector<AffineMap> maps = op.getIndexingMapsArray();
      maps[operand->getOperandNumber()] =
          AffineMap::get(map.getNumDims(), 0, *results, getContext());
      // Every loop must still be read plainly somewhere (linalg sizes the
      // loops from such reads): a row sum of a [2, 16, C] value viewed as
      // [32, C] would otherwise read d0 * 16 + d1 only.
      if (!inversePermutation(concatAffineMaps(maps)))
        continue;
      rewriter.modifyOpInPlace(op, [&] {
        operand->set(source);
        op.setIndexingMapsAttr(rewriter.getAffineMapArrayAttr(maps));
      });
      if (view->use_empty())
        rewriter.eraseOp(view);
      return success();
    }
    return failure();
  }
};

/// Elementwise kernels of at most this many body ops are computed again
/// where a gather reads their result (see FuseGatheredProducer).
constexpr unsigned kMaxGatheredOps = 8;

/// `v`, an index, as i64 (and back): a kernel's index arithmetic is i64.
Value toI64(OpBuilder &b, Location loc, Value v) {
  return b.create<arith::IndexCastOp>(loc, b.getI64Type(), v);
}
Value toIndex(OpBuilder &b, Location loc, Value v) {
  return b.create<arith::IndexCastOp>(loc, b.getIndexType(), v);
}

/// Whether affine expression `e` is sums and constant multiples of
/// dimensions and constants (what evaluateAffine takes).
bool isLinear(AffineExpr e) {
  if (isa<AffineDimExpr, AffineConstantExpr>(e))
    return true;
  auto bin = dyn_cast<AffineBinaryOpExpr>(e);
  return bin &&
         (e.getKind() == AffineExprKind::Add ||
          (e.getKind() == AffineExprKind::Mul &&
           isa<AffineConstantExpr>(bin.getRHS()))) &&
         isLinear(bin.getLHS()) && isLinear(bin.getRHS());
}

/// Affine expression `e` (isLinear) at i64 dimension values `dims`.
Value evaluateAffine(OpBuilder &b, Location loc, AffineExpr e,
                     ArrayRef<Value> dims) {
  Type i64 = b.getI64Type();
  if (auto d = dyn_cast<AffineDimExpr>(e))
    return dims[d.getPosition()];
  if (auto c = dyn_cast<AffineConstantExpr>(e))
    return b.create<arith::ConstantOp>(loc, b.getIntegerAttr(i64, c.getValue()));
  auto bin = cast<AffineBinaryOpExpr>(e);
  Value l = evaluateAffine(b, loc, bin.getLHS(), dims);
  Value r = evaluateAffine(b, loc, bin.getRHS(), dims);
  if (e.getKind() == AffineExprKind::Add)
    return b.create<arith::AddIOp>(loc, l, r);
  return b.create<arith::MulIOp>(loc, l, r);
}

/// The coordinates in `from` of the element at i64 coordinates `coords` of
/// its reshape to `to`: dimensions are matched in groups of equal size
/// products; a group's coordinates are linearized in `to` and split again
/// in `from` (a group of one dimension each side passes through).
SmallVector<Value> throughReshapeCoordinates(OpBuilder &b, Location loc,
                                             ArrayRef<int64_t> from,
                                             ArrayRef<int64_t> to,
                                             ArrayRef<Value> coords) {
  Type i64 = b.getI64Type();
  auto constant = [&](int64_t v) -> Value {
    return b.create<arith::ConstantOp>(loc, b.getIntegerAttr(i64, v));
  };
  SmallVector<Value> result;
  size_t i = 0, j = 0;
  while (i < from.size() || j < to.size()) {
    // The next group: dimensions of `from` [i, i2) and of `to` [j, j2)
    // with equal size products, unit dimensions after it included.
    size_t i2 = i, j2 = j;
    int64_t pf = 1, pt = 1;
    if (i2 < from.size())
      pf *= from[i2++];
    if (j2 < to.size())
      pt *= to[j2++];
    while (pf != pt) {
      if (pf < pt && i2 < from.size())
        pf *= from[i2++];
      else if (pt < pf && j2 < to.size())
        pt *= to[j2++];
      else
        llvm_unreachable("a reshape keeps the number of elements");
    }
    while (i2 < from.size() && from[i2] == 1)
      ++i2;
    while (j2 < to.size() && to[j2] == 1)
      ++j2;
    if (i2 - i == 1 && j2 - j == 1) {
      result.push_back(coords[j]);
    } else {
      Value linear = constant(0);
      for (size_t d = j; d < j2; ++d)
        linear = b.create<arith::AddIOp>(
            loc, b.create<arith::MulIOp>(loc, linear, constant(to[d])),
            coords[d]);
      SmallVector<Value> group(i2 - i);
      for (size_t d = i2; d > i; --d) {
        int64_t size = from[d - 1];
        // The group's first dimension takes what is left.
        group[d - 1 - i] =
            size == 1  ? constant(0)
            : d - 1 == i ? linear
                       : b.create<arith::RemSIOp>(loc, linear, constant(size));
        if (d - 1 > i && size != 1)
          linear = b.create<arith::DivSIOp>(loc, linear, constant(size));
      }
      result.append(group);
    }
    i = i2;
    j = j2;
  }
  return result;
}

/// The kernel a gathered value comes from, through reshape views: an
/// elementwise kernel (all loops parallel, one result written through a
/// permutation, its output not read, at most kMaxGatheredOps body ops) each
/// of whose readers, through those views, is a gather (tensor.extract) in
/// a kernel body, so that once they compute the element themselves it is
/// neither launched nor written. Views from the value to the kernel are
/// appended to `views` (outermost first).
linalg::GenericOp gatheredProducer(Value v,
                                   SmallVectorImpl<graph::ReshapeOp> &views) {
  std::function<bool(Value)> onlyGathered = [&](Value value) {
    for (Operation *user : value.getUsers()) {
      if (auto reshape = dyn_cast<graph::ReshapeOp>(user)) {
        if (!onlyGathered(reshape.getResult()))
          return false;
        continue;
      }
      if (!isa<tensor::ExtractOp>(user) ||
          !isa<linalg::GenericOp>(user->getParentOp()))
        return false;
    }
    return true;
  };
  while (auto reshape = v.getDefiningOp<graph::ReshapeOp>()) {
    auto from = dyn_cast<RankedTensorType>(reshape.getInput().getType());
    auto to = dyn_cast<RankedTensorType>(reshape.getType());
    if (!from || !to || !from.hasStaticShape() || !to.hasStaticShape() ||
        from.getNumElements() == 0)
      return nullptr;
    views.push_back(reshape);
    v = reshape.getInput();
  }
  auto producer = v.getDefiningOp<linalg::GenericOp>();
  if (!producer || producer->getNumResults() != 1 ||
      producer.getNumParallelLoops() != producer.getNumLoops() ||
      producer.getBody()->getOperations().size() > kMaxGatheredOps + 1 ||
      !producer.getMatchingIndexingMap(producer.getDpsInitOperand(0))
           .isPermutation() ||
      producer.payloadUsesValueFromOperand(producer.getDpsInitOperand(0)) ||
      llvm::any_of(producer.getIndexingMapsArray(),
                   [](AffineMap m) {
                     return !llvm::all_of(m.getResults(), isLinear);
                   }) ||
      !onlyGathered(producer->getResult(0)))
    return nullptr;
  return producer;
}

/// A kernel that gathers from an elementwise kernel's result (reads it with
/// tensor.extract at computed coordinates: a Pad, a Concat, a Slice's or
/// Split's gradient) computes that element itself from the producer's
/// inputs, read at the producer's indexing maps applied to the coordinates
/// (through reshapes: the coordinates split or merged again). The
/// producer's launch goes, and its result is neither written nor read
/// back: attention's backward transposes dq, dk and dv into heads, which
/// the Split's gradient reads into one [.., 3d] tensor.
struct FuseGatheredProducer final : OpRewritePattern<tensor::ExtractOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(tensor::ExtractOp extract,
                                PatternRewriter &rewriter) const override {
    auto consumer = dyn_cast<linalg::GenericOp>(extract->getParentOp());
    if (!consumer)
      return failure();
    SmallVector<graph::ReshapeOp> views;
    linalg::GenericOp producer = gatheredProducer(extract.getTensor(), views);
    if (!producer)
      return failure();
    Location loc = extract.getLoc();
    rewriter.setInsertionPoint(extract);
    SmallVector<Value> coords;
    for (Value index : extract.getIndices())
      coords.push_back(toI64(rewriter, loc, index));
    for (graph::ReshapeOp view : views)
      coords = throughReshapeCoordinates(
          rewriter, loc, cast<RankedTensorType>(view.getInput().getType()).getShape(),
          cast<RankedTensorType>(view.getType()).getShape(), coords);
    // The producer's loop coordinates: its output map is a permutation.
    AffineMap out =
        producer.getMatchingIndexingMap(producer.getDpsInitOperand(0));
    SmallVector<Value> loops(producer.getNumLoops());
    for (unsigned r = 0; r < out.getNumResults(); ++r)
      loops[out.getDimPosition(r)] = coords[r];
    IRMapping map;
    for (OpOperand *in : producer.getDpsInputOperands()) {
      AffineMap m = producer.getMatchingIndexingMap(in);
      SmallVector<Value> at;
      for (AffineExpr e : m.getResults()) {
        at.push_back(
            toIndex(rewriter, loc, evaluateAffine(rewriter, loc, e, loops)));
      }
      map.map(producer.getMatchingBlockArgument(in),
              rewriter.create<tensor::ExtractOp>(loc, in->get(), at));
    }
    Value result;
    for (Operation &op : producer.getBody()->getOperations()) {
      if (auto yield = dyn_cast<linalg::YieldOp>(op)) {
        result = map.lookupOrDefault(yield.getOperand(0));
        break;
      }
      if (auto index = dyn_cast<linalg::IndexOp>(op)) {
        map.map(index.getResult(),
                toIndex(rewriter, loc, loops[index.getDim()]));
        continue;
      }
      rewriter.clone(op, map);
    }
    rewriter.replaceOp(extract, result);
    rewriter.modifyOpInPlace(consumer, [&] {
      consumer->setLoc(
          rewriter.getFusedLoc({consumer.getLoc(), producer.getLoc()}));
    });
    // Views and the producer nobody reads any more.
    for (graph::ReshapeOp view : views)
      if (view->use_empty())
        rewriter.eraseOp(view);
    if (producer->use_empty())
      rewriter.eraseOp(producer);
    return success();
  }
};

/// Whether the fused kernel of `producer` into the consumer owning
/// `operand` reads every input of the producer as linalg needs: where a
/// read's index is a plain loop, the dimension has the loop's size. The
/// producer's index arithmetic composed with the consumer's can lose an
/// offset that told them apart: a transpose whose reads were composed with
/// a reshape (d1 * 6 + d3 of a dimension of 12), read by a consumer at
/// d1 = 0, reads that dimension at d3 alone, over 6 points.
bool keepsReadsSized(OpOperand &operand, linalg::GenericOp producer,
                     linalg::GenericOp consumer) {
  AffineMap resultMap = producer.getIndexingMapMatchingResult(
      cast<OpResult>(operand.get()));
  AffineMap inverse = inversePermutation(resultMap);
  if (!inverse)
    return true; // Not fusable anyway (areElementwiseOpsFusable says so).
  AffineMap toProducerLoops =
      inverse.compose(consumer.getMatchingIndexingMap(&operand));
  SmallVector<int64_t> ranges = consumer.getStaticLoopRanges();
  for (OpOperand *input : producer.getDpsInputOperands()) {
    auto type = dyn_cast<RankedTensorType>(input->get().getType());
    if (!type)
      continue;
    AffineMap read =
        producer.getMatchingIndexingMap(input).compose(toProducerLoops);
    for (auto [i, expr] : llvm::enumerate(read.getResults()))
      if (auto d = dyn_cast<AffineDimExpr>(simplifyAffineExpr(
              expr, read.getNumDims(), read.getNumSymbols())))
        if (type.getDimSize(i) != ranges[d.getPosition()])
          return false;
  }
  return true;
}

/// Whether the value `operand` of a consumer should be computed inside it.
bool shouldFuse(OpOperand &operand, BlockOrder &order) {
  auto producer = operand.get().getDefiningOp<linalg::GenericOp>();
  auto consumer = dyn_cast<linalg::GenericOp>(operand.getOwner());
  if (!producer || !consumer)
    return false;
  // The fused kernel reads the consumer's other inputs and the producer's.
  if (consumer.getNumDpsInputs() - 1 + producer.getNumDpsInputs() >
      kMaxInputs)
    return false;
  if (!keepsReadsSized(operand, producer, consumer))
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
  if (!readsOnce(consumer, &operand))
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
    // Not when the consumer's one reader is a reduction reading it point
    // for point: the consumer fuses into that reduction (which a kernel
    // with an extra output cannot), reading the producer's value written
    // once anyway, instead of writing its own result to be read back
    // (BatchNorm's backward: the masked gradient, read by several kernels,
    // times the normalized input, summed for the weight's gradient).
    if (consumer->getNumResults() == 1 && consumer->hasOneUse()) {
      OpOperand &use = *consumer->getUses().begin();
      auto reader = dyn_cast<linalg::GenericOp>(use.getOwner());
      if (reader && reader->getBlock() == consumer->getBlock() &&
          reader.getNumParallelLoops() != reader.getNumLoops() &&
          reader.isDpsInput(&use) && readsOnce(reader, &use))
        return false;
    }
    for (Operation *user : producer->getUsers())
      if (user != consumer &&
          (user->getBlock() != consumer->getBlock() ||
           !order.isBefore(consumer, user)))
        return false;
  }
  return linalg::areElementwiseOpsFusable(&operand);
}

struct FuseProducer final : OpRewritePattern<linalg::GenericOp> {
  FuseProducer(MLIRContext *context, BlockOrder &order)
      : OpRewritePattern(context), order(order) {}
  /// Where each kernel is (the driver keeps it told).
  BlockOrder &order;

  LogicalResult matchAndRewrite(linalg::GenericOp consumer,
                                PatternRewriter &rewriter) const override {
    for (OpOperand *operand : consumer.getDpsInputOperands()) {
      if (!shouldFuse(*operand, order))
        continue;
      Operation *producer = operand->get().getDefiningOp();
      Operation *original = nullptr; // Where a copy came from.
      // The consumer's operands that read `from` read `to` instead.
      auto redirect = [&](Operation *from, Operation *to) {
        rewriter.modifyOpInPlace(consumer, [&] {
          for (OpOperand &o : consumer->getOpOperands())
            if (o.get().getDefiningOp() == from)
              o.set(to->getResult(cast<OpResult>(o.get()).getResultNumber()));
        });
      };
      // A recomputed value read elsewhere too: this consumer gets its own
      // copy to fuse; the others keep the original.
      if (isRecomputed(cast<linalg::GenericOp>(producer)) &&
          llvm::any_of(producer->getUsers(), [&](Operation *user) {
            return user != consumer.getOperation();
          })) {
        rewriter.setInsertionPoint(producer);
        Operation *copy = rewriter.clone(*producer);
        // Every result this consumer reads comes from its copy.
        redirect(producer, copy);
        original = producer;
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
      if (failed(fused)) {
        // Not fused after all: the consumer reads the original again (a
        // pattern that fails leaves the IR as it found it).
        if (original) {
          redirect(producer, original);
          rewriter.eraseOp(producer);
        }
        continue;
      }
      fused->fusedOp->setLoc(loc);
      // A kernel that kiln-rematerialize copied into the backward stays
      // apart from the forward's (the common subexpressions below would
      // merge them back): so does what it fuses into.
      if (producer->hasAttr(kRecomputedAttr) ||
          consumer->hasAttr(kRecomputedAttr))
        fused->fusedOp->setAttr(kRecomputedAttr, rewriter.getUnitAttr());
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

/// Whether `v` is available at `a`, or can be made so by moving its
/// definition up: an empty tensor, or a fill of one with a value available
/// there (a reduction's initial accumulator). `moves` collects what to move,
/// definitions before uses.
bool availableAt(Value v, Operation *a, SmallVectorImpl<Operation *> &moves) {
  Operation *def = v.getDefiningOp();
  if (!def || def->getBlock() != a->getBlock() || def->isBeforeInBlock(a) ||
      llvm::is_contained(moves, def))
    return true;
  if (def == a)
    return false;
  if (isa<tensor::EmptyOp>(def) && def->getNumOperands() == 0) {
    moves.push_back(def);
    return true;
  }
  if (isa<linalg::FillOp, arith::ConstantOp>(def)) {
    for (Value operand : def->getOperands())
      if (!availableAt(operand, a, moves))
        return false;
    moves.push_back(def);
    return true;
  }
  return false;
}

/// What `op` reads: its operands and the values its body takes from above
/// (a gather's tensor.extract of another kernel's result).
SmallVector<Value> readValues(linalg::GenericOp op) {
  SmallVector<Value> values(op->getOperands());
  llvm::SetVector<Value> above;
  getUsedValuesDefinedAbove(op->getRegion(0), above);
  values.append(above.begin(), above.end());
  return values;
}

/// Where merged siblings `a` (first) and `b` go: at `a` when what `b` reads
/// (operands, and values its body gathers from) is available there (moving
/// initial accumulators up), else at `b` when nothing reads `a`'s results
/// before `b` (nor `b` itself, gathering) or, for a recomputed `a`, when
/// what does can move after `b`; null when neither.
Operation *siblingPlace(linalg::GenericOp a, linalg::GenericOp b) {
  SmallVector<Operation *> moves;
  if (llvm::all_of(readValues(b),
                   [&](Value v) { return availableAt(v, a, moves); }))
    return a;
  bool readBefore = false;
  for (Operation *user : a->getUsers()) {
    if (user->getBlock() != b->getBlock() || user == b.getOperation())
      return nullptr;
    readBefore |= user->isBeforeInBlock(b);
  }
  if (!readBefore)
    return b;
  // What reads `a` before `b` moves after both; only for a kernel
  // recomputed in the backward and a sibling of the backward's own, which
  // the copy thus joins (a GELU's output again, read by its weight's
  // gradient, beside the GELU's gradient, both from the same input), and
  // when `b` needs none of it. Not two copies (each block's attention
  // probabilities, all reading the one causal mask): the first block's
  // backward would wait for the last's.
  if (!a->hasAttr(kRecomputedAttr) || b->hasAttr(kRecomputedAttr))
    return nullptr;
  llvm::DenseSet<Value> moved;
  for (Operation *op : readersBefore(SmallVector<Value>(a->getResults()), b))
    moved.insert(op->result_begin(), op->result_end());
  if (llvm::any_of(readValues(b), [&](Value v) { return moved.contains(v); }))
    return nullptr;
  return b;
}

/// Whether `a` and `b` read one value (elementwise siblings worth a kernel
/// together: a projection's thirds split into heads).
bool shareInput(linalg::GenericOp a, linalg::GenericOp b) {
  for (OpOperand *x : a.getDpsInputOperands())
    for (OpOperand *y : b.getDpsInputOperands())
      if (x->get() == y->get() && isa<RankedTensorType>(x->get().getType()) &&
          cast<RankedTensorType>(x->get().getType()).getRank() > 0)
        return true;
  return false;
}

/// Whether `b` can join `a`: reductions over the same loop nest (sizes,
/// iterator types), or elementwise kernels over one that read one value,
/// with the same output maps, at most kMaxOutputs outputs together, and a
/// place for both (siblingPlace).
bool canMergeSiblings(linalg::GenericOp a, linalg::GenericOp b) {
  // Reductions over one loop nest, or elementwise kernels over one that
  // read one value.
  bool reductions =
      a.getNumReductionLoops() != 0 && b.getNumReductionLoops() != 0;
  bool elementwise = a.getNumReductionLoops() == 0 &&
                     b.getNumReductionLoops() == 0 && a.getNumLoops() != 0 &&
                     shareInput(a, b);
  if (a->getBlock() != b->getBlock() || !a->isBeforeInBlock(b) ||
      !(reductions || elementwise) ||
      a.getIteratorTypesArray() != b.getIteratorTypesArray() ||
      a.getStaticLoopRanges() != b.getStaticLoopRanges() ||
      a.getNumDpsInits() + b.getNumDpsInits() > kMaxOutputs)
    return false;
  // A kernel recomputed in the backward (kiln-rematerialize) does not
  // join an earlier one that is not: the two would be computed at once,
  // and the value kept from there again.
  if (b->hasAttr(kRecomputedAttr) && !a->hasAttr(kRecomputedAttr))
    return false;
  AffineMap out = a.getMatchingIndexingMap(a.getDpsInitOperand(0));
  for (linalg::GenericOp op : {a, b})
    for (OpOperand &init : op.getDpsInitsMutable())
      if (op.getMatchingIndexingMap(&init) != out)
        return false;
  return siblingPlace(a, b) != nullptr;
}

/// `a` and `b` as one kernel at siblingPlace(a, b): the inputs and
/// outputs of both, `a`'s body and then `b`'s.
void mergeSiblings(linalg::GenericOp a, linalg::GenericOp b) {
  Operation *place = siblingPlace(a, b);
  if (place == a.getOperation()) {
    SmallVector<Operation *> moves;
    for (Value v : readValues(b))
      availableAt(v, a, moves);
    for (Operation *op : moves)
      op->moveBefore(a);
  } else {
    moveReadersAfter(SmallVector<Value>(a->getResults()), b);
  }
  SmallVector<Value> inputs, inits;
  SmallVector<AffineMap> maps;
  for (linalg::GenericOp op : {a, b})
    for (OpOperand *in : op.getDpsInputOperands()) {
      inputs.push_back(in->get());
      maps.push_back(op.getMatchingIndexingMap(in));
    }
  for (linalg::GenericOp op : {a, b})
    for (OpOperand &init : op.getDpsInitsMutable()) {
      inits.push_back(init.get());
      maps.push_back(op.getMatchingIndexingMap(&init));
    }
  SmallVector<Type> types(a->getResultTypes());
  types.append(b->getResultTypes().begin(), b->getResultTypes().end());
  SmallVector<utils::IteratorType> iterators = a.getIteratorTypesArray();
  OpBuilder builder(place);
  auto merged = builder.create<linalg::GenericOp>(
      builder.getFusedLoc({a.getLoc(), b.getLoc()}), types, inputs, inits,
      maps, iterators);
  // The body: block arguments in operand order (a's inputs, b's inputs,
  // a's outputs, b's outputs), then a's computation and b's.
  Block *body = builder.createBlock(&merged.getRegion());
  for (Value v : inputs)
    body->addArgument(getElementTypeOrSelf(v.getType()), merged.getLoc());
  for (Value v : inits)
    body->addArgument(getElementTypeOrSelf(v.getType()), merged.getLoc());
  unsigned aIns = a.getNumDpsInputs(), bIns = b.getNumDpsInputs(),
           aOuts = a.getNumDpsInits();
  SmallVector<Value> yields;
  for (int which = 0; which < 2; ++which) {
    linalg::GenericOp op = which ? b : a;
    unsigned inBase = which ? aIns : 0;
    unsigned outBase = aIns + bIns + (which ? aOuts : 0);
    IRMapping map;
    Block *old = op.getBody();
    unsigned nIn = op.getNumDpsInputs();
    for (unsigned i = 0; i < old->getNumArguments(); ++i)
      map.map(old->getArgument(i),
              body->getArgument(i < nIn ? inBase + i : outBase + i - nIn));
    for (Operation &inner : old->without_terminator())
      builder.clone(inner, map);
    for (Value y : old->getTerminator()->getOperands())
      yields.push_back(map.lookupOrDefault(y));
  }
  builder.create<linalg::YieldOp>(merged.getLoc(), yields);
  // Still a recomputation if either was one (canMergeSiblings keeps it
  // from joining an earlier kernel of the forward later on).
  if (a->hasAttr(kRecomputedAttr) || b->hasAttr(kRecomputedAttr))
    merged->setAttr(kRecomputedAttr, builder.getUnitAttr());
  unsigned n = a->getNumResults();
  a->replaceAllUsesWith(merged->getResults().take_front(n));
  b->replaceAllUsesWith(merged->getResults().drop_front(n));
  b.erase();
  a.erase();
}

/// The float constant `v` is, if it is one.
std::optional<double> floatConstant(Value v) {
  FloatAttr attr;
  if (v && matchPattern(v, m_Constant(&attr)))
    return attr.getValueAsDouble();
  return std::nullopt;
}

/// A reduction that splitLongReduction made into two: the partial
/// reduction and the reduction of its results.
struct SplitReduction {
  linalg::GenericOp partial, outer;
};

/// Reductions over few points with long reductions each (a loss summed
/// over all positions and classes: one point; a BatchNorm channel's sum over
/// N x H x W: 64 points) are split in two: first a partial reduction that
/// keeps the outer reduced loops as points too (each position's row, each
/// image's channel), then a reduction of those partial results with the
/// same combines. A GPU then reduces with all its multiprocessors instead of
/// one block per point, at the cost of a small second launch, and a loss's
/// row reduction can join the row kernel of the statistics it reads (the
/// cross-entropy's maximum and sum of exponentials). Split: fewer points
/// than kSplitMaxPoints (a GPU has ~100 multiprocessors or more: an A100
/// 108, an H100 132), at least kSplitMinSteps steps each and
/// kSplitMinTotal in all; outer reduced loops are kept while the partial
/// reduction has fewer than kSplitPoints points and each keeps at least
/// kSplitMinRemaining steps; at least kSplitMinRows partial results a point.
constexpr int64_t kSplitMaxPoints = 96;
constexpr int64_t kSplitMinSteps = 1 << 14;
constexpr int64_t kSplitMinTotal = 1 << 16;
constexpr int64_t kSplitPoints = 1024;
constexpr int64_t kSplitMinRemaining = 256;
constexpr int64_t kSplitMinRows = 8;
/// Column reductions (reading along their points: a LayerNorm's weight and
/// bias gradients, [batch, sequence, features] summed over the first two)
/// over fewer points than kFewPointsMaxPoints would run as tiles of 32
/// columns: 512 features, 16 blocks on a GPU of 132 multiprocessors. They
/// are split too: outer reduced loops are kept as partial points (whole
/// loops, then a part of the next, its inputs viewed with that axis in two)
/// up to kSplitColumnPoints points of at least kSplitColumnSteps steps
/// each, a thread per partial point, consecutive threads reading
/// consecutive columns.
constexpr int64_t kSplitColumnPoints = 32768;
constexpr int64_t kSplitColumnSteps = 64;

/// `op` with reduced loop `d` (of range f x inner) as two loops, an outer
/// one of f and an inner one of `inner`: each input that reads d as one of
/// its axes reads a view of itself with that axis as two (kiln.reshape);
/// null (and `op` unchanged) when an input reads d otherwise (within an
/// expression, or through a slice) or the body reads its loop indices.
linalg::GenericOp splitLoop(linalg::GenericOp op, unsigned d, int64_t f) {
  unsigned n = op.getNumLoops();
  int64_t range = op.getStaticLoopRanges()[d], inner = range / f;
  MLIRContext *ctx = op.getContext();
  if (f < 2 || range % f != 0 ||
      op.getBody()
          ->walk([](linalg::IndexOp) { return WalkResult::interrupt(); })
          .wasInterrupted())
    return nullptr;
  // Each old loop's dimension among the new ones.
  SmallVector<AffineExpr> renumbered;
  for (unsigned j = 0; j < n; ++j)
    renumbered.push_back(getAffineDimExpr(j > d ? j + 1 : j, ctx));
  struct Read {
    int axis = -1; ///< The input's axis that is loop d, if any.
    AffineMap map;
  };
  SmallVector<Read> reads;
  for (OpOperand &operand : op->getOpOperands()) {
    AffineMap map = op.getMatchingIndexingMap(&operand);
    Read read;
    SmallVector<AffineExpr> results;
    for (auto [j, e] : llvm::enumerate(map.getResults())) {
      if (auto dim = dyn_cast<AffineDimExpr>(e)) {
        if (dim.getPosition() == d) {
          if (read.axis >= 0)
            return nullptr;
          read.axis = int(j);
          results.push_back(getAffineDimExpr(d, ctx));
          results.push_back(getAffineDimExpr(d + 1, ctx));
          continue;
        }
        results.push_back(renumbered[dim.getPosition()]);
        continue;
      }
      if (e.isFunctionOfDim(d))
        return nullptr;
      results.push_back(e.replaceDims(renumbered));
    }
    if (read.axis >= 0 &&
        (op.isDpsInit(&operand) ||
         operand.get().getDefiningOp<tensor::ExtractSliceOp>()))
      return nullptr;
    read.map = AffineMap::get(n + 1, 0, results, ctx);
    reads.push_back(read);
  }
  OpBuilder b(op);
  Location loc = op.getLoc();
  SmallVector<Value> inputs;
  llvm::DenseMap<std::pair<Value, int>, Value> views; // One view of each.
  for (auto [i, in] : llvm::enumerate(op.getDpsInputs())) {
    const Read &read = reads[i];
    if (read.axis < 0) {
      inputs.push_back(in);
      continue;
    }
    if (Value view = views.lookup({in, read.axis})) {
      inputs.push_back(view);
      continue;
    }
    auto type = cast<RankedTensorType>(in.getType());
    SmallVector<int64_t> shape(type.getShape());
    shape[read.axis] = inner;
    shape.insert(shape.begin() + read.axis, f);
    inputs.push_back(b.create<graph::ReshapeOp>(
        loc, RankedTensorType::get(shape, type.getElementType()), in,
        b.getDenseI64ArrayAttr(shape)));
    views[{in, read.axis}] = inputs.back();
  }
  SmallVector<AffineMap> maps;
  for (const Read &read : reads)
    maps.push_back(read.map);
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  iterators.insert(iterators.begin() + d + 1, utils::IteratorType::reduction);
  auto split = b.create<linalg::GenericOp>(loc, op->getResultTypes(), inputs,
                                           op.getDpsInits(), maps, iterators);
  IRMapping mapping;
  split.getRegion().getBlocks().clear();
  op.getRegion().cloneInto(&split.getRegion(), mapping);
  for (NamedAttribute attr : op->getDiscardableAttrs())
    split->setAttr(attr.getName(), attr.getValue());
  op->replaceAllUsesWith(split->getResults());
  op.erase();
  return split;
}

/// `op` (each output's yield a combine with its accumulator, each output
/// map a projection onto parallel loops) as a partial reduction into a new
/// tensor over its parallel loops and its first reduced loops, then a
/// reduction of that tensor's kept loops with the same combines. False when
/// it does not qualify.
bool splitLongReduction(linalg::GenericOp op,
                        SmallVectorImpl<SplitReduction> &made) {
  unsigned n = op.getNumLoops();
  if (n < 2 || op.getNumParallelLoops() == n)
    return false;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  int64_t points = 1, steps = 1;
  for (auto [r, it] : llvm::zip(ranges, iterators)) {
    if (ShapedType::isDynamic(r))
      return false;
    (it == utils::IteratorType::parallel ? points : steps) *= r;
  }
  const bool columns = !(points < kSplitMaxPoints && steps >= kSplitMinSteps &&
                         points * steps >= kSplitMinTotal);
  if (columns && !(points < kFewPointsMaxPoints &&
                   steps >= kFewPointsMinSteps && readsAlongPoints(op)))
    return false;
  // The reduced loops kept as partial points, outermost first; for a column
  // reduction, before every parallel loop (so that its points stay the
  // partial reduction's last, consecutive threads' points), and perhaps a
  // part of one more: loop `part` split, its outer `factor` kept.
  SmallVector<bool> kept(n, false);
  int64_t rows = 1, remaining = steps, factor = 1;
  unsigned part = n;
  for (unsigned d = 0; d < n; ++d) {
    if (iterators[d] != utils::IteratorType::reduction) {
      if (columns)
        break;
      continue;
    }
    if (!columns) {
      if (points * rows >= kSplitPoints ||
          remaining / ranges[d] < kSplitMinRemaining)
        break;
    } else if (points * rows * ranges[d] > kSplitColumnPoints ||
               remaining / ranges[d] < kSplitColumnSteps) {
      // The largest part of this loop that fits.
      for (int64_t f = 2; f < ranges[d]; ++f)
        if (ranges[d] % f == 0 && points * rows * f <= kSplitColumnPoints &&
            remaining / f >= kSplitColumnSteps)
          factor = f;
      if (factor > 1)
        part = d;
      break;
    }
    kept[d] = true;
    rows *= ranges[d];
    remaining /= ranges[d];
  }
  if (rows * factor < kSplitMinRows)
    return false;
  // Each output: written through a projection onto parallel loops, its
  // yield a binary combine with the accumulator, starting from a fill (the
  // combine's identity where it is not idempotent: each partial starts from
  // it), and what it combines reads no accumulator.
  Block *body = op.getBody();
  auto yield = cast<linalg::YieldOp>(body->getTerminator());
  SmallVector<Operation *> combines;
  SmallVector<Value> accumulators;
  for (OpOperand &init : op.getDpsInitsMutable())
    accumulators.push_back(op.getMatchingBlockArgument(&init));
  std::function<bool(Value)> readsAccumulator = [&](Value v) {
    if (llvm::is_contained(accumulators, v))
      return true;
    Operation *def = v.getDefiningOp();
    return def && def->getBlock() == body &&
           llvm::any_of(def->getOperands(), readsAccumulator);
  };
  for (auto [o, init] : llvm::enumerate(op.getDpsInitsMutable())) {
    AffineMap map = op.getMatchingIndexingMap(&init);
    auto fill = init.get().getDefiningOp<linalg::FillOp>();
    if (!map.isProjectedPermutation() || !fill)
      return false;
    Value acc = op.getMatchingBlockArgument(&init);
    Operation *c = yield.getOperand(o).getDefiningOp();
    if (!c || c->getBlock() != body || c->getNumOperands() != 2 ||
        (c->getOperand(0) != acc && c->getOperand(1) != acc) ||
        !isa<arith::AddFOp, arith::MaximumFOp, arith::MinimumFOp,
             arith::MulFOp>(c) ||
        readsAccumulator(c->getOperand(0) == acc ? c->getOperand(1)
                                                 : c->getOperand(0)))
      return false;
    std::optional<double> start = floatConstant(fill.getInputs()[0]);
    if (isa<arith::AddFOp>(c) && start != std::optional<double>(0.0))
      return false;
    if (isa<arith::MulFOp>(c) && start != std::optional<double>(1.0))
      return false;
    combines.push_back(c);
  }
  if (part < n) {
    // The loop in two, its outer part kept: the combines are the new op's
    // (at the same places in its body).
    SmallVector<size_t> places;
    for (Operation *c : combines)
      places.push_back(
          size_t(std::distance(body->begin(), Block::iterator(c))));
    linalg::GenericOp split = splitLoop(op, part, factor);
    if (!split) {
      if (rows < kSplitMinRows)
        return false;
    } else {
      for (auto [c, place] : llvm::zip(combines, places))
        c = &*std::next(split.getBody()->begin(), place);
      op = split;
      n = op.getNumLoops();
      ranges = op.getStaticLoopRanges();
      iterators = op.getIteratorTypesArray();
      kept.insert(kept.begin() + part, true);
      rows *= factor;
    }
  }
  OpBuilder b(op);
  Location loc = op.getLoc();
  MLIRContext *ctx = op.getContext();
  // The partial reduction's points: the parallel and kept loops, in loop
  // order; `position[d]` is loop d's place among them.
  SmallVector<int64_t> partialShape;
  SmallVector<AffineExpr> partialResults;
  SmallVector<unsigned> position(n, 0);
  SmallVector<utils::IteratorType> outerIterators;
  for (unsigned d = 0; d < n; ++d) {
    bool point = iterators[d] == utils::IteratorType::parallel || kept[d];
    if (!point)
      continue;
    position[d] = partialShape.size();
    partialShape.push_back(ranges[d]);
    partialResults.push_back(getAffineDimExpr(d, ctx));
    outerIterators.push_back(kept[d] ? utils::IteratorType::reduction
                                     : utils::IteratorType::parallel);
  }
  unsigned m = partialShape.size();
  // 1. The partial reduction: kept loops parallel, outputs [points...].
  SmallVector<Value> partialInits;
  SmallVector<Type> partialTypes;
  for (Value init : op.getDpsInits()) {
    auto fill = init.getDefiningOp<linalg::FillOp>();
    Type element = getElementTypeOrSelf(init.getType());
    Value empty = b.create<tensor::EmptyOp>(loc, partialShape, element);
    partialInits.push_back(
        b.create<linalg::FillOp>(loc, fill.getInputs()[0], empty)
            .getResult(0));
    partialTypes.push_back(RankedTensorType::get(partialShape, element));
  }
  SmallVector<AffineMap> maps;
  for (OpOperand *in : op.getDpsInputOperands())
    maps.push_back(op.getMatchingIndexingMap(in));
  AffineMap partialMap = AffineMap::get(n, 0, partialResults, ctx);
  for (size_t o = 0; o < partialInits.size(); ++o)
    maps.push_back(partialMap);
  SmallVector<utils::IteratorType> partialIterators(iterators);
  for (unsigned d = 0; d < n; ++d)
    if (kept[d])
      partialIterators[d] = utils::IteratorType::parallel;
  SmallVector<Value> inputs(op.getDpsInputs());
  auto partial = b.create<linalg::GenericOp>(loc, partialTypes, inputs,
                                             partialInits, maps,
                                             partialIterators);
  IRMapping map;
  partial.getRegion().getBlocks().clear();
  op.getRegion().cloneInto(&partial.getRegion(), map);
  // 2. The partial results reduced over the kept loops, the same combines,
  //    into the original outputs (their maps renumbered).
  SmallVector<AffineMap> outerMaps;
  for (size_t o = 0; o < partialInits.size(); ++o)
    outerMaps.push_back(AffineMap::getMultiDimIdentityMap(m, ctx));
  for (OpOperand &init : op.getDpsInitsMutable()) {
    SmallVector<AffineExpr> results;
    for (AffineExpr r : op.getMatchingIndexingMap(&init).getResults())
      results.push_back(getAffineDimExpr(
          position[cast<AffineDimExpr>(r).getPosition()], ctx));
    outerMaps.push_back(AffineMap::get(m, 0, results, ctx));
  }
  auto outer = b.create<linalg::GenericOp>(
      loc, op->getResultTypes(), partial->getResults(), op.getDpsInits(),
      outerMaps, outerIterators,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        SmallVector<Value> yields;
        size_t k = combines.size();
        for (size_t o = 0; o < k; ++o) {
          Operation *c = combines[o];
          IRMapping m;
          Value acc = op.getMatchingBlockArgument(op.getDpsInitOperand(o));
          Value other = c->getOperand(0) == acc ? c->getOperand(1)
                                                : c->getOperand(0);
          m.map(acc, args[k + o]);
          m.map(other, args[o]);
          yields.push_back(nb.clone(*c, m)->getResult(0));
        }
        nb.create<linalg::YieldOp>(l, yields);
      });
  op->replaceAllUsesWith(outer->getResults());
  op.erase();
  made.push_back({partial, outer});
  return true;
}

/// A split variance (a partial sum of squared deviations from the mean of
/// all points, the mean a split sum's result over its point count: the
/// two-pass variance of BatchNorm) as Chan et al.'s parallel form: each
/// partial sums the squared deviations from its own part's mean (its
/// partial sum over its step count), and the outer reduction adds each
/// part's steps times the square of its mean's deviation from the whole's.
/// The partial variance then reads the partial sums at its points, where
/// it joins them as a row kernel (reading the input once instead of twice,
/// and no longer waiting for the mean of everything), and the outer sums
/// join the mean's reduction likewise. `var` and `sum` are the pairs that
/// splitLongReduction made; false when they are not such.
bool chanVariance(SplitReduction var, SplitReduction sum) {
  linalg::GenericOp p2 = var.partial, p1 = sum.partial, m = sum.outer;
  if (p2->getNumResults() != 1 || p1->getNumResults() != 1 ||
      m->getNumResults() != 1 || var.outer->getNumResults() != 1 ||
      p1.getStaticLoopRanges() != p2.getStaticLoopRanges() ||
      p1.getIteratorTypesArray() != p2.getIteratorTypesArray() ||
      p1.getIndexingMapsArray().back() != p2.getIndexingMapsArray().back() ||
      !p1->getResult(0).hasOneUse() || m.getNumDpsInputs() != 1)
    return false;
  // p1: acc + x (x an input read as p2 reads it).
  auto y1 = cast<linalg::YieldOp>(p1.getBody()->getTerminator());
  auto add1 = y1.getOperand(0).getDefiningOp<arith::AddFOp>();
  Value acc1 = p1.getMatchingBlockArgument(p1.getDpsInitOperand(0));
  if (!add1 || (add1.getLhs() != acc1 && add1.getRhs() != acc1))
    return false;
  auto x1 = dyn_cast<BlockArgument>(add1.getLhs() == acc1 ? add1.getRhs()
                                                          : add1.getLhs());
  // p2: acc + (x - mean)^2, the mean being M / K (M the outer sum of p1,
  // K the point count: divided in p2's body, or multiplied by 1 / K), or
  // read from a kernel computing M / K (one that other kernels read too).
  auto y2 = cast<linalg::YieldOp>(p2.getBody()->getTerminator());
  auto add2 = y2.getOperand(0).getDefiningOp<arith::AddFOp>();
  Value acc2 = p2.getMatchingBlockArgument(p2.getDpsInitOperand(0));
  if (!x1 || !add2 || (add2.getLhs() != acc2 && add2.getRhs() != acc2))
    return false;
  auto square = (add2.getLhs() == acc2 ? add2.getRhs() : add2.getLhs())
                    .getDefiningOp<arith::MulFOp>();
  if (!square || square.getLhs() != square.getRhs())
    return false;
  auto dev = square.getLhs().getDefiningOp<arith::SubFOp>();
  if (!dev)
    return false;
  auto x2 = dyn_cast<BlockArgument>(dev.getLhs());
  // M / K as `divf(M, K)` or `mulf(M, 1 / K)`: M and K, or none.
  auto quotient = [](Value v) -> std::pair<Value, std::optional<double>> {
    if (auto d = v.getDefiningOp<arith::DivFOp>())
      return {d.getLhs(), floatConstant(d.getRhs())};
    if (auto m = v.getDefiningOp<arith::MulFOp>())
      if (std::optional<double> r = floatConstant(m.getRhs()); r && *r != 0)
        return {m.getLhs(), std::round(1.0 / *r)}; // 1 / K rounded to f32
    return {Value(), std::nullopt};
  };
  Operation *inBody = nullptr; // The body's M / K (form A), else none.
  BlockArgument meanArg;       // What p2 reads: M (form A) or the mean.
  std::optional<double> count;
  if (auto [q, k] = quotient(dev.getRhs()); q && k) {
    inBody = dev.getRhs().getDefiningOp();
    meanArg = dyn_cast<BlockArgument>(q);
    count = k;
  } else {
    meanArg = dyn_cast<BlockArgument>(dev.getRhs());
  }
  if (!x2 || !meanArg || x2.getOwner() != p2.getBody() ||
      meanArg.getOwner() != p2.getBody() ||
      x1.getArgNumber() >= p1.getNumDpsInputs() ||
      x2.getArgNumber() >= p2.getNumDpsInputs() ||
      meanArg.getArgNumber() >= p2.getNumDpsInputs())
    return false;
  OpOperand *xIn1 = p1.getDpsInputOperand(x1.getArgNumber());
  OpOperand *xIn2 = p2.getDpsInputOperand(x2.getArgNumber());
  OpOperand *mIn = p2.getDpsInputOperand(meanArg.getArgNumber());
  if (xIn1->get() != xIn2->get() ||
      p1.getMatchingIndexingMap(xIn1) != p2.getMatchingIndexingMap(xIn2))
    return false;
  // The mean is read at the variance's own point (what its outer reduction
  // writes, seen from p2's loops), not elsewhere (a transposed read).
  AffineMap atPoint = var.outer.getIndexingMapsArray().back().compose(
      p2.getIndexingMapsArray().back());
  if (p2.getMatchingIndexingMap(mIn) != atPoint)
    return false;
  if (!inBody) {
    // Form B: the mean from an elementwise kernel M / K, read as M is.
    auto g = mIn->get().getDefiningOp<linalg::GenericOp>();
    if (!g || g.getNumDpsInputs() != 1 || g->getNumResults() != 1 ||
        g.getNumParallelLoops() != g.getNumLoops() ||
        g.getDpsInputOperand(0)->get() != m->getResult(0) ||
        !llvm::all_of(g.getIndexingMapsArray(),
                      [](AffineMap a) { return a.isIdentity(); }))
      return false;
    auto gy = cast<linalg::YieldOp>(g.getBody()->getTerminator());
    auto [q, k] = quotient(gy.getOperand(0));
    if (!q || !k || q != g.getMatchingBlockArgument(g.getDpsInputOperand(0)))
      return false;
    count = k;
  } else if (mIn->get() != m->getResult(0)) {
    return false;
  }
  // The steps of a part (p1's reduced loops) and of the whole.
  int64_t part = 1, whole = 1;
  for (auto [r, it] : llvm::zip(p1.getStaticLoopRanges(),
                                p1.getIteratorTypesArray()))
    if (it == utils::IteratorType::reduction)
      part *= r;
  for (auto [r, it] :
       llvm::zip(m.getStaticLoopRanges(), m.getIteratorTypesArray()))
    if (it == utils::IteratorType::reduction)
      whole *= r;
  whole *= part;
  if (std::fabs(*count - double(whole)) > 1e-6 * double(whole) ||
      var.outer.getMatchingIndexingMap(
                                     var.outer.getDpsInputOperand(0)) !=
                                     m.getMatchingIndexingMap(
                                         m.getDpsInputOperand(0)) ||
      var.outer.getIndexingMapsArray().back() !=
          m.getIndexingMapsArray().back())
    return false;
  // The partial variance: deviations from the part's own mean, its partial
  // sum (read at p2's points) over its step count.
  MLIRContext *ctx = p2.getContext();
  Type f32 = dev.getType();
  OpBuilder b(dev);
  Value partCount = b.create<arith::ConstantOp>(
      dev.getLoc(), FloatAttr::get(f32, double(part)));
  Value partMean = b.create<arith::DivFOp>(dev.getLoc(), meanArg, partCount);
  dev.getRhsMutable().assign(partMean);
  if (inBody && inBody->use_empty())
    inBody->erase();
  SmallVector<AffineMap> maps = p2.getIndexingMapsArray();
  maps[mIn->getOperandNumber()] = maps.back();
  mIn->set(p1->getResult(0));
  p2.setIndexingMapsAttr(Builder(ctx).getAffineMapArrayAttr(maps));
  // The outer sum: q + part * (p1 / part - M / whole)^2 over the parts.
  linalg::GenericOp v = var.outer;
  OpBuilder vb(v);
  AffineMap in = v.getMatchingIndexingMap(v.getDpsInputOperand(0));
  AffineMap out = v.getIndexingMapsArray().back();
  auto outer = vb.create<linalg::GenericOp>(
      v.getLoc(), v->getResultTypes(),
      ValueRange{v.getDpsInputOperand(0)->get(), p1->getResult(0),
                 m->getResult(0)},
      v.getDpsInits(), ArrayRef<AffineMap>{in, in, out, out},
      v.getIteratorTypesArray(),
      [&](OpBuilder &nb, Location l, ValueRange args) {
        auto c = [&](double x) -> Value {
          return nb.create<arith::ConstantOp>(l, FloatAttr::get(f32, x));
        };
        Value partMean = nb.create<arith::DivFOp>(l, args[1], c(double(part)));
        Value allMean = nb.create<arith::DivFOp>(l, args[2], c(double(whole)));
        Value d = nb.create<arith::SubFOp>(l, partMean, allMean);
        Value between = nb.create<arith::MulFOp>(
            l, nb.create<arith::MulFOp>(l, d, d), c(double(part)));
        Value term = nb.create<arith::AddFOp>(l, args[0], between);
        nb.create<linalg::YieldOp>(
            l, ValueRange{nb.create<arith::AddFOp>(l, args[3], term)});
      });
  v->replaceAllUsesWith(outer->getResults());
  v.erase();
  // The mean's outer sum no longer comes first: it moves to just before
  // the variance's (what reads it to just after), so that the partial
  // sums' readers follow the partial variance (which they join) and the
  // outer sums can group too.
  m->moveBefore(outer);
  moveReadersAfter(SmallVector<Value>(m->getResults()), outer);
  return true;
}

/// Whether `map` (over `op`'s loops) gives the first `rows` loops of
/// kernelOrder(op), in that order, and nothing else.
bool isRowMap(linalg::GenericOp op, AffineMap map, unsigned rows) {
  SmallVector<unsigned> order = kernelOrder(op);
  if (map.getNumResults() != rows || rows > order.size())
    return false;
  for (auto [j, e] : llvm::enumerate(map.getResults())) {
    auto d = dyn_cast<AffineDimExpr>(e);
    if (!d || d.getPosition() != order[j])
      return false;
  }
  return true;
}

/// Whether `op` reduces each row over the rest of its loops: `rows`
/// parallel loops (BatchNorm's channel need not come first), at least one
/// reduced, every output written at the row.
bool reducesRows(linalg::GenericOp op, unsigned rows) {
  if (!op || rows == 0 || op.getNumLoops() <= rows ||
      op.getNumParallelLoops() != rows)
    return false;
  for (OpOperand &init : op.getDpsInitsMutable())
    if (!isRowMap(op, op.getMatchingIndexingMap(&init), rows))
      return false;
  return true;
}

/// Whether `reader` reads `operand` at the row.
bool readsAtRow(linalg::GenericOp reader, OpOperand *operand, unsigned rows) {
  return isRowMap(reader, reader.getMatchingIndexingMap(operand), rows);
}

/// Whether `user` (outside a group that runs where `main` is) may read a
/// result of the group: it comes after `main` (a reader inside a later
/// group counts where that group is), or it is a view (a kiln.reshape)
/// whose own readers all do, which moves after the group.
bool readAfter(linalg::GenericOp main, Operation *user) {
  Operation *outside = main->getBlock()->findAncestorOpInBlock(*user);
  if (!outside)
    return false;
  if (main->isBeforeInBlock(outside))
    return true;
  return isa<graph::ReshapeOp>(outside) &&
         llvm::all_of(outside->getUsers(), [&](Operation *reader) {
           return readAfter(main, reader);
         });
}

/// Whether `op` (before `main` in its block) can move after the group that
/// runs where `main` is: a kernel or a view whose readers all come after
/// `main` or can move too (a loss's sum over the rows of per-row losses that
/// a later row kernel computes as a stage).
/// Not a member of the group (`main`, `group`), nor read by one: those
/// stay before what moves.
bool movableAfter(linalg::GenericOp main, ArrayRef<linalg::GenericOp> group,
                  Operation *op) {
  if (op->getBlock() != main->getBlock() || !op->isBeforeInBlock(main) ||
      !isa<linalg::GenericOp, graph::ReshapeOp>(op))
    return false;
  for (Operation *user : op->getUsers())
    if (user == main.getOperation() ||
        llvm::is_contained(group, dyn_cast<linalg::GenericOp>(user)))
      return false;
  return llvm::all_of(op->getUsers(), [&](Operation *user) {
    return readAfter(main, user) || movableAfter(main, group, user);
  });
}

/// Whether every result of `group` (stages of `main`) read outside the
/// group is read after `main`, or by what can move after it.
bool outsideReadersFollow(linalg::GenericOp main,
                          ArrayRef<linalg::GenericOp> group) {
  for (linalg::GenericOp p : group)
    for (Operation *user : p->getUsers()) {
      auto u = dyn_cast<linalg::GenericOp>(user);
      if (u == main || llvm::is_contained(group, u))
        continue;
      if (!readAfter(main, user) && !movableAfter(main, group, user))
        return false;
    }
  return true;
}

/// Whether `a` and `b` read one tensor of `a`'s full loop size.
bool shareFullInput(linalg::GenericOp a, linalg::GenericOp b) {
  for (OpOperand *x : a.getDpsInputOperands())
    for (OpOperand *y : b.getDpsInputOperands())
      if (x->get() == y->get() && readsOnce(a, x))
        return true;
  return false;
}

/// The stages of a row kernel whose main kernel is `main` with `rows` row
/// loops: the row reductions over `main`'s loop nest that `main` (or another
/// stage) reads at the row, in block order, whose results no kernel outside
/// the group reads before `main` (the group runs where `main` is).
SmallVector<linalg::GenericOp> rowStages(linalg::GenericOp main,
                                         unsigned rows, bool coStages = true) {
  SmallVector<linalg::GenericOp> stages, work{main};
  SmallVector<int64_t> ranges = kernelRanges(main);
  while (!work.empty()) {
    linalg::GenericOp reader = work.pop_back_val();
    for (OpOperand *in : reader.getDpsInputOperands()) {
      auto p = in->get().getDefiningOp<linalg::GenericOp>();
      if (!p || llvm::is_contained(stages, p) ||
          p->getBlock() != main->getBlock() || !reducesRows(p, rows) ||
          kernelRanges(p) != ranges || !readsAtRow(reader, in, rows))
        continue;
      stages.push_back(p);
      work.push_back(p);
    }
  }
  // Co-stages: other row reductions over the loop nest that read the
  // stages at the row and a full-size input of main's (the cross-entropy's
  // per-row loss beside its gradient, both from the logits' maximum and sum
  // of exponentials): they join as stages, so the input is read once.
  for (size_t i = 0; coStages && i < stages.size(); ++i)
    for (Operation *user : stages[i]->getUsers()) {
      auto u = dyn_cast<linalg::GenericOp>(user);
      if (!u || u == main || llvm::is_contained(stages, u) ||
          u->getBlock() != main->getBlock() || !u->isBeforeInBlock(main) ||
          !reducesRows(u, rows) || kernelRanges(u) != ranges ||
          !shareFullInput(main, u) ||
          !llvm::all_of(u.getDpsInputOperands(), [&](OpOperand *in) {
            Operation *def = in->get().getDefiningOp();
            return !llvm::is_contained(stages, def) ||
                   readsAtRow(u, in, rows);
          }))
        continue;
      stages.push_back(u);
    }
  // Outside readers only after main (or able to move after it); readers
  // inside the group read at the row (dropping a stage drops those that
  // only it made reachable: simply start again without it).
  for (bool changed = true; changed;) {
    changed = false;
    for (linalg::GenericOp p : stages) {
      bool ok = true;
      for (OpOperand &use : p->getUses()) {
        auto user = dyn_cast<linalg::GenericOp>(use.getOwner());
        bool inGroup = user && (user == main || llvm::is_contained(stages, user));
        if (inGroup ? !readsAtRow(user, &use, rows)
                    : !readAfter(main, use.getOwner()) &&
                          (!coStages ||
                           !movableAfter(main, stages, use.getOwner())))
          ok = false;
      }
      if (!ok) {
        stages.erase(llvm::find(stages, p));
        changed = true;
        break;
      }
    }
  }
  // Keep only stages still reachable from main through stages, and
  // co-stages whose stages are kept.
  SmallVector<linalg::GenericOp> reachable, queue{main};
  while (!queue.empty()) {
    linalg::GenericOp reader = queue.pop_back_val();
    for (OpOperand *in : reader.getDpsInputOperands()) {
      auto p = in->get().getDefiningOp<linalg::GenericOp>();
      if (p && llvm::is_contained(stages, p) &&
          !llvm::is_contained(reachable, p)) {
        reachable.push_back(p);
        queue.push_back(p);
      }
    }
  }
  if (!reachable.empty())
    for (linalg::GenericOp u : stages)
      if (!llvm::is_contained(reachable, u) &&
          llvm::all_of(u.getDpsInputOperands(), [&](OpOperand *in) {
            auto def = in->get().getDefiningOp<linalg::GenericOp>();
            return !def || !llvm::is_contained(stages, def) ||
                   llvm::is_contained(reachable, def);
          }))
        reachable.push_back(u);
  llvm::sort(reachable, [](linalg::GenericOp a, linalg::GenericOp b) {
    return a->isBeforeInBlock(b);
  });
  // What moves after the group must not be read inside it (with co-stages
  // dropped, judged on the final group): else the group without them.
  if (coStages && !outsideReadersFollow(main, reachable))
    return rowStages(main, rows, false);
  return reachable;
}

/// A row kernel runs a block of threads per row: with few rows, long ones
/// would leave most of a GPU idle where the unfused elementwise kernel
/// spreads over all of it.
constexpr int64_t kMinRowsForLongRows = 32;
constexpr int64_t kLongRow = 1024;

bool worthRowKernel(linalg::GenericOp main, unsigned rows) {
  int64_t rowCount = 1, inner = 1;
  for (auto [d, size] : llvm::enumerate(kernelRanges(main))) {
    if (ShapedType::isDynamic(size))
      return false;
    (d < rows ? rowCount : inner) *= size;
  }
  return rowCount >= kMinRowsForLongRows || inner <= kLongRow;
}

/// `main` and its row stages as one kiln.row_kernel at `main`'s place,
/// yielding `main`'s results and the stages' that kernels after it read.
void formRowKernel(linalg::GenericOp main, ArrayRef<linalg::GenericOp> stages,
                   unsigned rows) {
  SmallVector<Value> yielded(main->getResults());
  for (linalg::GenericOp p : stages)
    for (Value r : p->getResults())
      if (llvm::any_of(r.getUsers(), [&](Operation *user) {
            return user != main.getOperation() &&
                   !llvm::is_contained(stages, user);
          }))
        yielded.push_back(r);
  OpBuilder builder(main);
  SmallVector<Location> locs;
  for (linalg::GenericOp p : stages)
    locs.push_back(p.getLoc());
  locs.push_back(main.getLoc());
  SmallVector<Type> types;
  for (Value v : yielded)
    types.push_back(v.getType());
  auto group = builder.create<graph::RowKernelOp>(
      builder.getFusedLoc(locs), types, builder.getI64IntegerAttr(rows));
  Block *body = builder.createBlock(&group.getBody());
  builder.setInsertionPointToEnd(body);
  auto yield = builder.create<graph::YieldOp>(group.getLoc(), yielded);
  for (linalg::GenericOp p : stages)
    p->moveBefore(yield);
  main->moveBefore(yield);
  // Views and kernels reading the results before the group (and what
  // reads those) move after it, in their order (readAfter(),
  // movableAfter()).
  moveReadersAfter(yielded, group);
  for (auto [value, result] : llvm::zip(yielded, group.getResults()))
    value.replaceUsesWithIf(result, [&](OpOperand &use) {
      return !group->isAncestor(use.getOwner());
    });
}

struct FuseElementwisePass final
    : impl::FuseElementwisePassBase<FuseElementwisePass> {
  void runOnOperation() override {
    // 1. Fuse producer into consumer, one operand at a time, until no
    //    candidate is left (the greedy driver revisits changed ops).
    if (getOperation().isExternal())
      return;
    BlockOrder order(getOperation().getBody().front());
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseProducer>(&getContext(), order);
    patterns.add<ReadThroughView, FuseGatheredProducer>(&getContext());
    // Results no one reads any more (a value kept as a second output whose
    // other readers fused too) are not written.
    linalg::populateEraseUnusedOperandsAndResultsPatterns(patterns);
    GreedyRewriteConfig config;
    config.useTopDownTraversal = true;
    config.listener = &order;
    if (failed(applyPatternsAndFoldGreedily(getOperation(), std::move(patterns),
                                            config)))
      return signalPassFailure();
    // Fusion copies small kernels into their consumers, so two consumers
    // may now compute the same thing from the same operands (the forward
    // pass's variance and the one its gradient recomputes): one is enough.
    {
      IRRewriter rewriter(&getContext());
      DominanceInfo dominance(getOperation());
      eliminateCommonSubExpressions(rewriter, dominance, getOperation());
    }
    // 2. Sibling reductions over one loop nest (LayerNorm's and BatchNorm's
    //    weight and bias gradients) as one kernel with several outputs: one
    //    launch, and an input both read is read once.
    //    Pairs are tried in program order, the first that merges first;
    //    only kernels of one block and loop nest (iterators and sizes) can,
    //    so each is compared with those alone (a hash of the nest, computed
    //    once per kernel), and after a merge the search goes on from where
    //    it was: trying every pair again from the start after each merge
    //    took minutes on an LSTM unrolled over 64 steps. A last pass from
    //    the start confirms that no pair is left.
    {
      llvm::DenseMap<Operation *, llvm::hash_code> nests;
      auto nestOf = [&](linalg::GenericOp op) {
        auto [it, inserted] = nests.try_emplace(op.getOperation());
        if (inserted) {
          SmallVector<int64_t> ranges = op.getStaticLoopRanges();
          SmallVector<unsigned> iterators;
          for (utils::IteratorType t : op.getIteratorTypesArray())
            iterators.push_back(unsigned(t));
          it->second = llvm::hash_combine(
              op->getBlock(), llvm::hash_combine_range(ranges.begin(),
                                                       ranges.end()),
              llvm::hash_combine_range(iterators.begin(), iterators.end()));
        }
        return it->second;
      };
      size_t start = 0;
      for (bool changed = true; changed;) {
        changed = false;
        SmallVector<linalg::GenericOp> ops;
        getOperation().walk([&](linalg::GenericOp op) { ops.push_back(op); });
        llvm::DenseMap<llvm::hash_code, SmallVector<size_t>> byNest;
        for (size_t i = 0; i < ops.size(); ++i)
          byNest[nestOf(ops[i])].push_back(i);
        for (size_t i = start; i < ops.size() && !changed; ++i) {
          for (size_t j : byNest[nestOf(ops[i])]) {
            if (j <= i || !canMergeSiblings(ops[i], ops[j]))
              continue;
            nests.erase(ops[i].getOperation());
            nests.erase(ops[j].getOperation());
            mergeSiblings(ops[i], ops[j]);
            changed = true;
            start = i;
            break;
          }
        }
        if (!changed && start != 0) { // The last pass, from the start.
          start = 0;
          changed = true;
        }
      }
    }
    // Long reductions over few points: a partial reduction over more
    // points, then one of the partial results.
    {
      SmallVector<linalg::GenericOp> candidates;
      getOperation().walk([&](linalg::GenericOp op) {
        if (op->getParentOp() == getOperation().getOperation())
          candidates.push_back(op);
      });
      SmallVector<SplitReduction> made;
      for (linalg::GenericOp op : candidates)
        splitLongReduction(op, made);
      // Split variances in Chan's parallel form, where their mean's sum
      // was split alike.
      // (A pair rewritten, as either, takes no further part: its outer
      // reduction is another op now.)
      SmallVector<bool> used(made.size(), false);
      for (size_t v = 0; v < made.size(); ++v)
        for (size_t m = 0; m < made.size() && !used[v]; ++m)
          if (v != m && !used[m] && chanVariance(made[v], made[m]))
            used[v] = used[m] = true;
    }
    // 3. Row kernels: a kernel that reads row statistics (sums, maxima of
    //    each row over its other loops: a LayerNorm's, a softmax's) runs
    //    together with the reductions computing them, a block per row.
    //    From the last kernel up, so that the main kernel of a group is
    //    the last reader that its stages' other readers all follow.
    SmallVector<linalg::GenericOp> mains;
    for (Operation &op : getOperation().getBody().front())
      if (auto generic = dyn_cast<linalg::GenericOp>(op))
        mains.push_back(generic);
    for (linalg::GenericOp main : llvm::reverse(mains)) {
      if (main->getParentOp() != getOperation().getOperation())
        continue; // Already a stage of a later kernel's group.
      // An all-parallel main kernel's rows are its first loops (it writes
      // each point of a row); a reducing one reduces each of its rows.
      bool reducing = main.getNumParallelLoops() != main.getNumLoops();
      for (unsigned rows = main.getNumParallelLoops(); rows > 0; --rows) {
        if (reducing && !reducesRows(main, rows))
          break;
        if (!worthRowKernel(main, rows))
          break;
        SmallVector<linalg::GenericOp> stages = rowStages(main, rows);
        if (stages.empty())
          continue;
        formRowKernel(main, stages, rows);
        break;
      }
    }
    // 4. Fusing a producer that reads its coordinates (linalg.index: a
    //    Trilu's mask, a random draw's counter) through a view leaves
    //    affine.apply ops in the body; they become arith ops, which the
    //    kernel format has.
    SmallVector<affine::AffineApplyOp> applies;
    getOperation().walk([&](affine::AffineApplyOp op) { applies.push_back(op); });
    for (affine::AffineApplyOp apply : applies) {
      OpBuilder b(apply);
      std::optional<SmallVector<Value, 8>> expanded = affine::expandAffineMap(
          b, apply.getLoc(), apply.getAffineMap(), apply.getOperands());
      if (!expanded) {
        apply.emitOpError("cannot be expanded into arith ops");
        return signalPassFailure();
      }
      apply.getResult().replaceAllUsesWith((*expanded)[0]);
      apply.erase();
    }
  }
};

} // namespace
} // namespace kiln::fusion
