//===- ScheduleKernels.cpp - how a GPU runs each kernel -------------------===//
#include "passes/fusion/Passes.h"
#include "passes/fusion/Loops.h"

#include "ir/graph/GraphOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace kiln::fusion {

#define GEN_PASS_DEF_SCHEDULEKERNELSPASS
#include "passes/fusion/Passes.h.inc"

namespace {

using namespace mlir;
using graph::kScheduleAttr;

/// Other reductions of at least a warp's width reduce each point with a
/// warp: its lanes read consecutive elements (a thread per point would read
/// a row each, every load of a warp in another row).
constexpr int64_t kWarpMinSteps = 32;
/// Block reductions (and rows) this long or longer take blocks of 1024
/// threads: there are few blocks (a BatchNorm's channels), and each should
/// keep as many loads in flight as it can.
constexpr int64_t kLongBlockMinSteps = 16384;
/// Whether a block of 1024 threads has the shared memory for `arrays`
/// partial results (8 bytes a thread each) within the 48 KiB a kernel may
/// declare.
bool longBlockFits(unsigned arrays) { return arrays * 1024 * 8 <= 48 * 1024; }

/// Row kernels with rows up to this long run a warp per row (at most 32
/// points per lane, no shared memory, no barriers), longer ones a block.
constexpr int64_t kWarpRowMaxPoints = 1024;

/// The element stride of each dimension of what `operand` reads: its
/// tensor's row-major strides, or those of the tensor it slices (times the
/// slice's strides), as the code generator reads it.
std::optional<SmallVector<int64_t>> elementStrides(Value operand) {
  Value source = operand;
  SmallVector<int64_t> step;
  if (auto slice = operand.getDefiningOp<tensor::ExtractSliceOp>()) {
    if (slice.getSourceType().getRank() != slice.getResultType().getRank())
      return std::nullopt;
    source = slice.getSource();
    step.assign(slice.getStaticStrides().begin(),
                slice.getStaticStrides().end());
  }
  auto type = dyn_cast<RankedTensorType>(source.getType());
  if (!type || !type.hasStaticShape())
    return std::nullopt;
  SmallVector<int64_t> strides(type.getRank(), 1);
  for (int64_t j = type.getRank() - 2; j >= 0; --j)
    strides[j] = strides[j + 1] * type.getDimSize(j + 1);
  for (auto [j, s] : llvm::enumerate(step)) {
    if (ShapedType::isDynamic(s))
      return std::nullopt;
    strides[j] *= s;
  }
  return strides;
}

/// The elements an affine expression moves by per unit of loop `dim`, or
/// none when it is not linear.
std::optional<int64_t> coefficient(AffineExpr e, unsigned dim) {
  if (auto d = dyn_cast<AffineDimExpr>(e))
    return d.getPosition() == dim ? 1 : 0;
  if (isa<AffineConstantExpr>(e))
    return 0;
  auto bin = dyn_cast<AffineBinaryOpExpr>(e);
  if (!bin)
    return std::nullopt;
  if (e.getKind() == AffineExprKind::Add) {
    auto l = coefficient(bin.getLHS(), dim), r = coefficient(bin.getRHS(), dim);
    if (!l || !r)
      return std::nullopt;
    return *l + *r;
  }
  if (e.getKind() == AffineExprKind::Mul) {
    if (auto c = dyn_cast<AffineConstantExpr>(bin.getRHS()))
      if (auto l = coefficient(bin.getLHS(), dim))
        return *l * c.getValue();
    if (auto c = dyn_cast<AffineConstantExpr>(bin.getLHS()))
      if (auto r = coefficient(bin.getRHS(), dim))
        return *r * c.getValue();
  }
  return std::nullopt;
}

/// The elements `op` moves by in what input `in` reads per step of loop
/// `dim`, or none when not known (a non-linear index, a dynamic shape).
std::optional<int64_t> elementsPerStep(linalg::GenericOp op, OpOperand *in,
                                       unsigned dim) {
  std::optional<SmallVector<int64_t>> strides = elementStrides(in->get());
  AffineMap map = op.getMatchingIndexingMap(in);
  if (!strides || strides->size() != map.getNumResults())
    return std::nullopt;
  int64_t total = 0;
  for (auto [j, e] : llvm::enumerate(map.getResults())) {
    std::optional<int64_t> c = coefficient(e, dim);
    if (!c)
      return std::nullopt;
    total += *c * (*strides)[j];
  }
  return total;
}

/// Whether every value `op` reduces can cross lanes by shuffles (not i1).
bool shuffles(linalg::GenericOp op) {
  for (Value init : op.getDpsInits())
    if (getElementTypeOrSelf(init.getType()).isInteger(1))
      return false;
  return true;
}

/// The points (the first `pointLoops` loops in the code generator's order)
/// and the steps of each (the rest) of `op`'s loop nest; false when a size
/// is dynamic.
bool extents(linalg::GenericOp op, unsigned pointLoops, int64_t &points,
             int64_t &steps) {
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  points = steps = 1;
  for (auto [i, d] : llvm::enumerate(kernelOrder(op))) {
    if (ShapedType::isDynamic(ranges[d]))
      return false;
    (i < pointLoops ? points : steps) *= ranges[d];
  }
  return true;
}

/// The schedule of a reduction kernel (one not in a row kernel).
StringRef reductionSchedule(linalg::GenericOp op) {
  int64_t points, steps;
  if (!extents(op, op.getNumParallelLoops(), points, steps))
    return "thread";
  bool few = steps >= kFewPointsMinSteps && points < kFewPointsMaxPoints;
  if (readsAlongPoints(op))
    // Consecutive threads take consecutive points: a thread per point
    // reads coalesced already; few points take tiles of columns.
    return few ? "columns" : "thread";
  if (few)
    return steps >= kLongBlockMinSteps && longBlockFits(op.getNumDpsInits())
               ? "block1024"
               : "block";
  if (steps >= kWarpMinSteps && shuffles(op))
    return "warp";
  return "thread";
}

/// The schedule of a row kernel: a warp per row for rows of moderate
/// length, a block for longer ones (or values that cannot be shuffled).
StringRef rowSchedule(graph::RowKernelOp group) {
  SmallVector<linalg::GenericOp> kernels;
  group.getBody().front().walk(
      [&](linalg::GenericOp op) { kernels.push_back(op); });
  if (kernels.empty())
    return "block";
  int64_t rows, inner;
  if (!extents(kernels.back(), unsigned(group.getRows()), rows, inner))
    return "block";
  bool warp = inner <= kWarpRowMaxPoints;
  for (linalg::GenericOp op : kernels)
    warp &= shuffles(op);
  // (Shared arrays: one per stage value, and per output if the main
  // kernel reduces too.)
  unsigned arrays = 0;
  for (linalg::GenericOp op : kernels)
    if (op.getNumParallelLoops() != op.getNumLoops())
      arrays += op.getNumDpsInits();
  return warp ? "warp"
         : inner >= kLongBlockMinSteps && longBlockFits(arrays) ? "block1024"
                                                                : "block";
}

/// Whether elementwise `op` reads an input transposed: moving by more than
/// one element along its last loop and by one along another (a strided
/// copy, which tiles in shared memory make coalesced).
bool readsTransposed(linalg::GenericOp op) {
  unsigned n = op.getNumLoops();
  if (n < 2)
    return false;
  for (OpOperand *in : op.getDpsInputOperands()) {
    if (op.getMatchingBlockArgument(in).use_empty())
      continue;
    auto flat = [&](unsigned dim) { return elementsPerStep(op, in, dim); };
    std::optional<int64_t> last = flat(n - 1);
    if (!last || *last == 0 || *last == 1)
      continue;
    for (unsigned d = 0; d + 1 < n; ++d)
      if (flat(d) == std::optional<int64_t>(1))
        return true;
  }
  return false;
}

/// Elementwise kernels take this many points a thread where they can.
constexpr int64_t kVectorWidth = 4;

/// The points an elementwise kernel's threads take each: kVectorWidth when
/// its last loop is a multiple of it and its outputs are f32 (one 16-byte
/// store), else 1.
int64_t vectorWidth(linalg::GenericOp op) {
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (llvm::any_of(ranges, ShapedType::isDynamic))
    return 1;
  if (ranges.empty() || ranges.back() % kVectorWidth != 0)
    return 1;
  for (Value init : op.getDpsInits())
    if (!getElementTypeOrSelf(init.getType()).isF32())
      return 1;
  return kVectorWidth;
}

struct ScheduleKernelsPass final
    : impl::ScheduleKernelsPassBase<ScheduleKernelsPass> {
  void runOnOperation() override {
    Builder b(&getContext());
    for (Operation &op : getOperation().getBody().front()) {
      if (op.hasAttr(kScheduleAttr))
        continue; // Chosen already (by hand, in kernel-level IR).
      if (auto group = dyn_cast<graph::RowKernelOp>(op))
        op.setAttr(kScheduleAttr, b.getStringAttr(rowSchedule(group)));
      else if (auto generic = dyn_cast<linalg::GenericOp>(op)) {
        if (generic.getNumParallelLoops() != generic.getNumLoops())
          op.setAttr(kScheduleAttr,
                     b.getStringAttr(reductionSchedule(generic)));
        else if (readsTransposed(generic))
          op.setAttr(kScheduleAttr, b.getStringAttr("transpose"));
        else if (int64_t width = vectorWidth(generic); width > 1)
          op.setAttr(kScheduleAttr,
                     b.getStringAttr("vector" + std::to_string(width)));
      }
    }
  }
};

} // namespace

// (Declared in Loops.h, for kiln-fuse-elementwise's splits too.)
bool readsAlongPoints(linalg::GenericOp op) {
  SmallVector<unsigned> order = kernelOrder(op);
  unsigned parallel = op.getNumParallelLoops();
  if (parallel == 0 || parallel == order.size())
    return false;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  bool any = false;
  for (OpOperand *in : op.getDpsInputOperands()) {
    if (op.getMatchingBlockArgument(in).use_empty())
      continue;
    if (!elementStrides(in->get()))
      return false;
    auto flat = [&](unsigned dim) { return elementsPerStep(op, in, dim); };
    bool moves = false;
    for (unsigned d : ArrayRef(order).drop_front(parallel)) {
      std::optional<int64_t> c = flat(d);
      if (!c)
        return false;
      moves |= *c != 0 && ranges[d] > 1;
    }
    if (!moves)
      continue;
    // Along the points: consecutive elements, or the same one (a row's
    // statistic, which all the points of a row read: one load per warp).
    std::optional<int64_t> along = flat(order[parallel - 1]);
    if (along == std::optional<int64_t>(0))
      continue;
    any = true;
    if (along != std::optional<int64_t>(1))
      return false;
  }
  // A body that gathers reads where its values say: no telling.
  return any && !gathers(op);
}

} // namespace kiln::fusion
