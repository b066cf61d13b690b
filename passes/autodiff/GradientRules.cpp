//===- GradientRules.cpp - the vector-Jacobian product of every kiln op ---===//
//
// One rule per op, attached to the op as its DifferentiableOpInterface. A
// rule reads the op (operands, results, attributes) and `g`, the gradient of
// the loss with respect to its result, and returns the gradients of its
// operands, built from ordinary kiln ops (which are differentiable in turn,
// and which fusion later merges into few kernels).
//
// Broadcasting ops reduce each operand's gradient back to the operand's shape
// (`sumTo`). Ops on integers, booleans, shapes and indices have no rule:
// nothing flows through them.
//
//===----------------------------------------------------------------------===//
#include "passes/autodiff/Autodiff.h"
#include "passes/autodiff/GraphBuilder.h"

#include "ir/graph/GradientInterface.h"
#include "ir/graph/GraphOps.h"

#include <cmath>
#include <numeric>

using namespace mlir;

namespace kiln::autodiff {
namespace {
using namespace kiln::graph;

/// What a rule works with: the builder and the op's location (the shared
/// GraphBuilder), `g` (the result's gradient) and helpers the rules share.
struct Rule : GraphBuilder {
  Value g;

  /// `then` where `cond`, else zero.
  Value where(Value cond, Value then) {
    return make<WhereOp>(cond, then, scalar(then, 0));
  }
  Value gt(Value x, double c) { return make<GreaterOp>(x, scalar(x, c)); }
  Value lt(Value x, double c) { return make<LessOp>(x, scalar(x, c)); }
  Value transpose(Value x, ArrayRef<int64_t> perm) {
    return make<TransposeOp>(x, b.getDenseI64ArrayAttr(perm));
  }
  Value mean(Value x, ArrayRef<int64_t> axes) {
    return make<ReduceMeanOp>(x, b.getDenseI64ArrayAttr(axes),
                              b.getBoolAttr(true));
  }
  Value broadcastTo(Value x, ArrayRef<int64_t> shape) {
    if (type(x).getShape() == shape)
      return x;
    return make<BroadcastToOp>(x, b.getDenseI64ArrayAttr(shape));
  }
  /// The gradient `x` of a broadcast result, summed back to `target`'s
  /// shape: over leading dimensions `target` lacks and over dimensions where
  /// `target` has size 1.
  Value sumTo(Value x, Value target) {
    ArrayRef<int64_t> from = type(x).getShape(), to = type(target).getShape();
    if (from == to)
      return x;
    int64_t lead = int64_t(from.size()) - int64_t(to.size());
    SmallVector<int64_t> axes;
    for (int64_t d = 0; d < int64_t(from.size()); ++d)
      if (d < lead || (to[d - lead] == 1 && from[d] != 1))
        axes.push_back(d);
    return reshape(axes.empty() ? x : sum(x, axes), to);
  }
  /// An i64 constant of `shape` holding `values` (one for a splat).
  Value ints(ArrayRef<int64_t> shape, ArrayRef<int64_t> values) {
    auto t = RankedTensorType::get(shape, b.getI64Type());
    return values.size() == 1
               ? make<ConstantOp>(DenseElementsAttr::get(t, values[0]))
               : make<ConstantOp>(DenseElementsAttr::get(t, values));
  }
  /// i64 indices `ix` with negative ones counted from `sizes` (broadcast to
  /// them): the indices of gathers, as ONNX allows them.
  Value fromEnd(Value ix, Value sizes) {
    return make<WhereOp>(make<LessOp>(ix, ints({}, {0})),
                         make<AddOp>(ix, sizes), ix);
  }
  /// The normalized axes of a softmax-like op.
  static int64_t axis(int64_t a, Value x) {
    return a < 0 ? a + type(x).getRank() : a;
  }
  /// The permutation swapping the last two of `rank` dimensions.
  static SmallVector<int64_t> swapLast(int64_t rank) {
    SmallVector<int64_t> perm(rank);
    std::iota(perm.begin(), perm.end(), 0);
    std::swap(perm[rank - 1], perm[rank - 2]);
    return perm;
  }
};

/// The rule of one op type: `gradient(op, rule, grads)` fills the operands'
/// gradients; `rule.g` is the gradient of result 0.
template <typename OpT>
struct Model
    : DifferentiableOpInterface::ExternalModel<Model<OpT>, OpT> {
  LogicalResult buildGradient(Operation *op, OpBuilder &builder,
                              ArrayRef<Value> resultGrads,
                              SmallVectorImpl<Value> &operandGrads) const {
    Rule rule{{builder, op->getLoc()}, resultGrads[0]};
    return gradient(cast<OpT>(op), rule, resultGrads, operandGrads);
  }
};

using Grads = SmallVectorImpl<Value>;
using ResultGrads = ArrayRef<Value>;

//===----------------------------------------------------------------------===//
// The rules
//===----------------------------------------------------------------------===//

#define RULE(OpT)                                                              \
  LogicalResult gradient(OpT op, Rule &r, [[maybe_unused]] ResultGrads rg,     \
                         Grads &d)

// Broadcasting arithmetic.
RULE(AddOp) {
  d[0] = r.sumTo(r.g, op.getLhs());
  d[1] = r.sumTo(r.g, op.getRhs());
  return success();
}
RULE(SubOp) {
  d[0] = r.sumTo(r.g, op.getLhs());
  d[1] = r.sumTo(r.neg(r.g), op.getRhs());
  return success();
}
RULE(MulOp) {
  d[0] = r.sumTo(r.mul(r.g, op.getRhs()), op.getLhs());
  d[1] = r.sumTo(r.mul(r.g, op.getLhs()), op.getRhs());
  return success();
}
RULE(DivOp) { // d/dy (x / y) = -(x / y) / y
  d[0] = r.sumTo(r.div(r.g, op.getRhs()), op.getLhs());
  d[1] = r.sumTo(r.neg(r.div(r.mul(r.g, op.getResult()), op.getRhs())),
                 op.getRhs());
  return success();
}
RULE(PowOp) { // x^y: y x^(y-1) and ln(x) x^y
  Value x = op.getLhs(), y = op.getRhs();
  if (!isa<FloatType>(r.type(x).getElementType()) ||
      r.type(x).getElementType() != r.type(y).getElementType())
    return op.emitOpError("has a gradient only for float base and exponent "
                          "of one type");
  Value xm1 = r.make<PowOp>(x, r.sub(y, r.scalar(y, 1)));
  d[0] = r.sumTo(r.mul(r.g, r.mul(y, xm1)), x);
  d[1] = r.sumTo(r.mul(r.g, r.mul(r.make<LogOp>(x), op.getResult())), y);
  return success();
}
/// max/min: the gradient goes to the operand chosen, half to each on a tie
/// (as torch.maximum / torch.minimum).
template <typename Cmp> LogicalResult extremum(Operation *op, Rule &r, Grads &d) {
  Value x = op->getOperand(0), y = op->getOperand(1);
  Value half = r.mul(r.g, 0.5);
  Value tie = r.make<EqualOp>(x, y);
  Value toX = r.make<WhereOp>(r.make<Cmp>(x, y), r.g, r.where(tie, half));
  Value toY = r.make<WhereOp>(r.make<Cmp>(y, x), r.g, r.where(tie, half));
  d[0] = r.sumTo(toX, x);
  d[1] = r.sumTo(toY, y);
  return success();
}
RULE(MaxOp) { return extremum<GreaterOp>(op, r, d); }
RULE(MinOp) { return extremum<LessOp>(op, r, d); }
RULE(WhereOp) {
  Value c = op.getCondition();
  d[1] = r.sumTo(r.where(c, r.g), op.getLhs());
  d[2] = r.sumTo(r.make<WhereOp>(c, r.scalar(r.g, 0), r.g), op.getRhs());
  return success();
}

// Unary elementwise: d = g * f'(x), written with the result y where shorter.
RULE(NegOp) {
  d[0] = r.neg(r.g);
  return success();
}
RULE(AbsOp) { // sign(x); 0 at 0
  Value x = op.getInput();
  d[0] = r.make<WhereOp>(r.gt(x, 0), r.g, r.where(r.lt(x, 0), r.neg(r.g)));
  return success();
}
RULE(ReluOp) {
  // From the result (y > 0 exactly where x > 0, NaN included), so that the
  // input has no other reader and the forward GEMM can apply the ReLU as
  // its epilogue (kiln-fuse-gemm-epilogue).
  d[0] = r.where(r.gt(op.getResult(), 0), r.g);
  return success();
}
RULE(LeakyReluOp) {
  d[0] = r.make<WhereOp>(r.gt(op.getInput(), 0), r.g,
                         r.mul(r.g, op.getAlpha().convertToDouble()));
  return success();
}
RULE(SqrtOp) { // 1 / (2 y)
  d[0] = r.div(r.mul(r.g, 0.5), op.getResult());
  return success();
}
RULE(ReciprocalOp) { // -y^2
  Value y = op.getResult();
  d[0] = r.neg(r.mul(r.g, r.mul(y, y)));
  return success();
}
RULE(ExpOp) {
  d[0] = r.mul(r.g, op.getResult());
  return success();
}
RULE(LogOp) {
  d[0] = r.div(r.g, op.getInput());
  return success();
}
RULE(ErfOp) { // 2/sqrt(pi) e^(-x^2)
  Value x = op.getInput();
  Value e = r.make<ExpOp>(r.neg(r.mul(x, x)));
  d[0] = r.mul(r.mul(r.g, e), 2 / std::sqrt(M_PI));
  return success();
}
RULE(TanhOp) { // 1 - y^2
  Value y = op.getResult();
  d[0] = r.mul(r.g, r.sub(r.scalar(y, 1), r.mul(y, y)));
  return success();
}
RULE(SigmoidOp) { // y (1 - y)
  Value y = op.getResult();
  d[0] = r.mul(r.g, r.mul(y, r.sub(r.scalar(y, 1), y)));
  return success();
}
RULE(SinOp) {
  d[0] = r.mul(r.g, r.make<CosOp>(op.getInput()));
  return success();
}
RULE(CosOp) {
  d[0] = r.neg(r.mul(r.g, r.make<SinOp>(op.getInput())));
  return success();
}
RULE(TanOp) { // 1 + y^2
  Value y = op.getResult();
  d[0] = r.mul(r.g, r.add(r.scalar(y, 1), r.mul(y, y)));
  return success();
}
RULE(SinhOp) {
  d[0] = r.mul(r.g, r.make<CoshOp>(op.getInput()));
  return success();
}
RULE(CoshOp) {
  d[0] = r.mul(r.g, r.make<SinhOp>(op.getInput()));
  return success();
}
RULE(AtanOp) { // 1 / (1 + x^2)
  Value x = op.getInput();
  d[0] = r.div(r.g, r.add(r.scalar(x, 1), r.mul(x, x)));
  return success();
}
RULE(AsinOp) { // 1 / sqrt(1 - x^2)
  Value x = op.getInput();
  d[0] = r.div(r.g, r.make<SqrtOp>(r.sub(r.scalar(x, 1), r.mul(x, x))));
  return success();
}
RULE(AcosOp) { // -1 / sqrt(1 - x^2)
  Value x = op.getInput();
  d[0] = r.neg(r.div(r.g, r.make<SqrtOp>(r.sub(r.scalar(x, 1), r.mul(x, x)))));
  return success();
}
RULE(AsinhOp) { // 1 / sqrt(x^2 + 1)
  Value x = op.getInput();
  d[0] = r.div(r.g, r.make<SqrtOp>(r.add(r.mul(x, x), r.scalar(x, 1))));
  return success();
}
RULE(AcoshOp) { // 1 / sqrt(x^2 - 1)
  Value x = op.getInput();
  d[0] = r.div(r.g, r.make<SqrtOp>(r.sub(r.mul(x, x), r.scalar(x, 1))));
  return success();
}
RULE(AtanhOp) { // 1 / (1 - x^2)
  Value x = op.getInput();
  d[0] = r.div(r.g, r.sub(r.scalar(x, 1), r.mul(x, x)));
  return success();
}
/// Piecewise-constant ops: a zero gradient, as PyTorch gives.
template <typename OpT> LogicalResult zeroGradient(OpT op, Rule &r, Grads &d) {
  d[0] = r.mul(r.g, 0.0);
  return success();
}
RULE(FloorOp) { return zeroGradient(op, r, d); }
RULE(CeilOp) { return zeroGradient(op, r, d); }
RULE(RoundOp) { return zeroGradient(op, r, d); }
RULE(CumSumOp) { // the running sum the other way
  d[0] = r.make<CumSumOp>(r.g, op.getAxisAttr(), op.getExclusiveAttr(),
                          r.b.getBoolAttr(!op.getReverse()));
  return success();
}
RULE(HardSigmoidOp) { // alpha inside (0, 1), else 0
  double alpha = op.getAlpha().convertToDouble();
  double beta = op.getBeta().convertToDouble();
  Value z = r.add(r.mul(op.getInput(), alpha), r.scalar(op.getInput(), beta));
  Value inside = r.make<AndOp>(r.gt(z, 0), r.lt(z, 1));
  d[0] = r.where(inside, r.mul(r.g, alpha));
  return success();
}
RULE(HardSwishOp) { // 0 below -3, 1 above 3, (2x + 3) / 6 between
  Value x = op.getInput();
  Value mid = r.mul(r.g, r.add(r.mul(x, 1.0 / 3), r.scalar(x, 0.5)));
  d[0] = r.where(r.make<GreaterEqualOp>(x, r.scalar(x, -3)),
                 r.make<WhereOp>(r.gt(x, 3), r.g, mid));
  return success();
}
RULE(GeluOp) {
  Value x = op.getInput();
  if (op.getApproximate() == "tanh") {
    // y = x/2 (1 + t), t = tanh(k (x + c x^3)):
    // y' = (1 + t)/2 + x/2 (1 - t^2) k (1 + 3 c x^2).
    double k = std::sqrt(2 / M_PI), c = 0.044715;
    Value x2 = r.mul(x, x);
    Value inner = r.mul(r.add(x, r.mul(r.mul(x2, x), c)), k);
    Value t = r.make<TanhOp>(inner);
    Value one = r.scalar(x, 1);
    Value left = r.mul(r.add(one, t), 0.5);
    Value dInner = r.mul(r.add(one, r.mul(x2, 3 * c)), k);
    Value right =
        r.mul(r.mul(r.mul(x, 0.5), r.sub(one, r.mul(t, t))), dInner);
    d[0] = r.mul(r.g, r.add(left, right));
    return success();
  }
  // y = x Phi(x): y' = Phi(x) + x phi(x).
  Value cdf = r.mul(
      r.add(r.scalar(x, 1), r.make<ErfOp>(r.mul(x, 1 / std::sqrt(2.0)))), 0.5);
  Value pdf = r.mul(r.make<ExpOp>(r.mul(r.mul(x, x), -0.5)),
                    1 / std::sqrt(2 * M_PI));
  d[0] = r.mul(r.g, r.add(cdf, r.mul(x, pdf)));
  return success();
}
RULE(ClipOp) { // passes where min <= x <= max (torch.clamp)
  Value x = op.getInput();
  Value keep;
  auto both = [&](Value c) { return keep ? r.make<AndOp>(keep, c) : c; };
  if (auto lo = op.getMin())
    keep = both(r.make<GreaterEqualOp>(x, r.scalar(x, lo->convertToDouble())));
  if (auto hi = op.getMax())
    keep = both(r.make<LessEqualOp>(x, r.scalar(x, hi->convertToDouble())));
  d[0] = keep ? r.where(keep, r.g) : r.g;
  return success();
}
RULE(CastOp) { // float to float only: the gradient cast back
  if (!isa<FloatType>(r.type(op.getInput()).getElementType()))
    return success();
  d[0] = r.make<CastOp>(r.g, TypeAttr::get(r.type(op.getInput()).getElementType()));
  return success();
}
RULE(DropoutTrainOp) { // the same mask: dropout of the gradient
  d[0] = r.make<DropoutTrainOp>(r.g, op.getSeed(), op.getRatioAttr(),
                                op.getStreamAttr());
  return success();
}
RULE(TriluOp) {
  d[0] = r.make<TriluOp>(r.g, op.getUpperAttr(), op.getKAttr());
  return success();
}

// Data movement.
RULE(ReshapeOp) {
  d[0] = r.reshape(r.g, r.type(op.getInput()).getShape());
  return success();
}
RULE(TransposeOp) {
  ArrayRef<int64_t> perm = op.getPerm();
  SmallVector<int64_t> inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i)
    inverse[perm[i]] = int64_t(i);
  d[0] = r.transpose(r.g, inverse);
  return success();
}
RULE(BroadcastToOp) {
  d[0] = r.sumTo(r.g, op.getInput());
  return success();
}
RULE(ConcatOp) {
  int64_t axis = op.getAxis(), at = 0;
  ArrayRef<int64_t> shape = r.type(r.g).getShape();
  for (auto [i, input] : llvm::enumerate(op.getInputs())) {
    int64_t size = r.type(input).getDimSize(axis);
    SmallVector<int64_t> starts(shape.size(), 0), sizes(shape),
        strides(shape.size(), 1);
    starts[axis] = at;
    sizes[axis] = size;
    d[i] = r.make<SliceOp>(r.g, r.b.getDenseI64ArrayAttr(starts),
                           r.b.getDenseI64ArrayAttr(sizes),
                           r.b.getDenseI64ArrayAttr(strides));
    at += size;
  }
  return success();
}
RULE(SliceOp) { // zeros around the slice, one concat per sliced dimension
  Value grad = r.g;
  auto inShape = r.type(op.getInput()).getShape();
  auto zerosOf = [&](ArrayRef<int64_t> shape) {
    auto t = RankedTensorType::get(shape, r.type(grad).getElementType());
    return r.make<ConstantOp>(
        DenseElementsAttr::get(t, FloatAttr::get(t.getElementType(), 0.0)));
  };
  for (size_t dim = 0; dim < inShape.size(); ++dim) {
    int64_t start = op.getStarts()[dim], size = op.getSizes()[dim];
    int64_t stride = op.getStrides()[dim];
    if (stride == 0)
      return op.emitOpError("with a stride of 0 has no gradient");
    if (stride < 0) {
      // Read backwards from `start`: the gradient reversed lies forwards
      // from the last element read, every -stride-th.
      SmallVector<int64_t> shape(r.type(grad).getShape()),
          starts(shape.size(), 0), steps(shape.size(), 1);
      starts[dim] = size - 1;
      steps[dim] = -1;
      grad = r.make<SliceOp>(grad, r.b.getDenseI64ArrayAttr(starts),
                             r.b.getDenseI64ArrayAttr(shape),
                             r.b.getDenseI64ArrayAttr(steps));
      start += (size - 1) * stride;
      stride = -stride;
    }
    if (stride > 1) {
      // Every stride-th element from `start`: the gradient's elements with
      // stride - 1 zeros after each ([.., n, ..] beside zeros as
      // [.., n, stride, ..], viewed as [.., n * stride, ..]), cut to what
      // the input has from `start` on.
      SmallVector<int64_t> shape(r.type(grad).getShape()), unit(shape);
      unit.insert(unit.begin() + dim + 1, 1);
      SmallVector<int64_t> gap(unit);
      gap[dim + 1] = stride - 1;
      Value spread = r.make<ConcatOp>(
          ValueRange{r.reshape(grad, unit), zerosOf(gap)},
          r.b.getI64IntegerAttr(dim + 1));
      shape[dim] = size * stride;
      grad = r.reshape(spread, shape);
      int64_t span = std::min(size * stride, inShape[dim] - start);
      if (span < size * stride) {
        SmallVector<int64_t> starts(shape.size(), 0), ones(shape.size(), 1);
        shape[dim] = span;
        grad = r.make<SliceOp>(grad, r.b.getDenseI64ArrayAttr(starts),
                               r.b.getDenseI64ArrayAttr(shape),
                               r.b.getDenseI64ArrayAttr(ones));
      }
      size = span;
    }
    if (size == inShape[dim])
      continue;
    SmallVector<Value> parts;
    auto zeros = [&](int64_t n) {
      SmallVector<int64_t> shape(r.type(grad).getShape());
      shape[dim] = n;
      parts.push_back(zerosOf(shape));
    };
    if (start > 0)
      zeros(start);
    parts.push_back(grad);
    if (start + size < inShape[dim])
      zeros(inShape[dim] - start - size);
    grad = r.make<ConcatOp>(parts, r.b.getI64IntegerAttr(dim));
  }
  d[0] = grad;
  return success();
}

// Indexing: the gradient scatters back, as kiln.embedding_grad (a runtime
// call adding each index's row of the gradient into the row it names, in
// order; no one-hot matrix, any number of rows).
RULE(GatherOp) { // rows of the table: each id's row of g added into its row
  if (op.getAxis() != 0)
    return op.emitOpError("has a gradient only along axis 0 (embeddings)");
  auto data = r.type(op.getData());
  int64_t rows = data.getDimSize(0), n = r.type(op.getIndices()).getNumElements();
  int64_t width = 1;
  for (int64_t size : data.getShape().drop_front())
    width *= size;
  Value ids = r.reshape(op.getIndices(), {n});
  Value g2 = r.reshape(r.g, {n, width});
  auto table = RankedTensorType::get({rows, width}, data.getElementType());
  Value dw = r.b.create<EmbeddingGradOp>(r.loc, table, ids, g2,
                                         r.b.getI64IntegerAttr(rows));
  d[0] = r.reshape(dw, data.getShape());
  return success();
}
RULE(GatherNdOp) { // each tuple's slice of g added into the slice it read
  auto data = r.type(op.getData()), idx = r.type(op.getIndices());
  int64_t batchDims = op.getBatchDims(), rank = data.getRank();
  int64_t k = idx.getDimSize(idx.getRank() - 1);
  if (k == 0)
    return op.emitOpError("has no gradient for index tuples of length 0");
  // The slices as rows of a [batch * cells, width] table: a tuple's row is
  // its batch's first row plus its cell, the tuple's coordinates (negative
  // ones counted from the end) in row-major order over the indexed dims.
  int64_t batch = 1, cells = 1, width = 1;
  SmallVector<int64_t> sizes, strides(k);
  for (int64_t d = 0; d < rank; ++d) {
    if (d < batchDims)
      batch *= data.getDimSize(d);
    else if (d < batchDims + k)
      sizes.push_back(data.getDimSize(d));
    else
      width *= data.getDimSize(d);
  }
  for (int64_t j = k - 1; j >= 0; --j) {
    strides[j] = cells;
    cells *= sizes[j];
  }
  int64_t n = idx.getNumElements() / k;
  Value ix = r.fromEnd(op.getIndices(), r.ints({k}, sizes));
  Value cell = r.sum(r.make<MulOp>(ix, r.ints({k}, strides)),
                     {idx.getRank() - 1}, /*keepdims=*/false);
  if (batchDims > 0) {
    // Each tuple's batch (its leading coordinates), times the cells.
    ArrayRef<int64_t> lead = idx.getShape().drop_back();
    int64_t perBatch = n / batch;
    SmallVector<int64_t> first(n);
    for (int64_t t = 0; t < n; ++t)
      first[t] = t / perBatch * cells;
    cell = r.make<AddOp>(cell, r.ints(lead, first));
  }
  auto table = RankedTensorType::get({batch * cells, width},
                                     data.getElementType());
  Value rows = r.b.create<EmbeddingGradOp>(
      r.loc, table, r.reshape(cell, {n}), r.reshape(r.g, {n, width}),
      r.b.getI64IntegerAttr(batch * cells));
  d[0] = r.reshape(rows, data.getShape());
  return success();
}
RULE(EmbeddingGradOp) { // each update row reads its id's row of g
  int64_t rows = op.getRows();
  Value ids = op.getIds();
  int64_t n = r.type(ids).getNumElements();
  auto i64 = r.b.getI64Type();
  if (r.type(ids).getElementType() != i64)
    ids = r.make<CastOp>(ids, TypeAttr::get(i64));
  // An id outside [-rows, rows) added nothing: its row's gradient is zero.
  Value valid = r.make<AndOp>(r.make<GreaterEqualOp>(ids, r.ints({}, {-rows})),
                              r.make<LessOp>(ids, r.ints({}, {rows})));
  Value read = r.make<GatherOp>(
      r.g, r.make<WhereOp>(valid, ids, r.ints({}, {0})),
      r.b.getI64IntegerAttr(0));
  d[1] = r.where(r.reshape(valid, {n, 1}), read);
  return success();
}
RULE(GatherElementsOp) { // each index's gradient added into its element
  auto data = r.type(op.getData()), idx = r.type(op.getIndices());
  int64_t axis = op.getAxis(), rank = data.getRank();
  for (int64_t a = 0; a < rank; ++a)
    if (a != axis && data.getDimSize(a) != idx.getDimSize(a))
      return op.emitOpError("has a gradient only when indices and data have "
                            "the same sizes off the gathered axis");
  // data with the gathered axis first, as rows of one element: element
  // (i_axis, c) is row i_axis * others + c, c the index of the other
  // coordinates (which an index shares with the element it reads).
  int64_t size = data.getDimSize(axis), n = idx.getNumElements(), others = 1;
  SmallVector<int64_t> moved = {size};
  for (int64_t a = 0; a < rank; ++a)
    if (a != axis) {
      others *= data.getDimSize(a);
      moved.push_back(data.getDimSize(a));
    }
  SmallVector<int64_t> c(n);
  for (int64_t j = 0; j < n; ++j) {
    int64_t rest = j, stride = 1, at = 0;
    for (int64_t a = rank - 1; a >= 0; --a) {
      int64_t coordinate = rest % idx.getDimSize(a);
      rest /= idx.getDimSize(a);
      if (a == axis)
        continue;
      at += coordinate * stride;
      stride *= data.getDimSize(a);
    }
    c[j] = at;
  }
  auto i64 = r.b.getI64Type();
  Value ix = op.getIndices();
  if (idx.getElementType() != i64)
    ix = r.make<CastOp>(ix, TypeAttr::get(i64));
  ix = r.fromEnd(ix, r.ints({}, {size}));
  Value column = r.ints(idx.getShape(), c);
  Value ids = r.reshape(
      r.make<AddOp>(r.make<MulOp>(ix, r.ints({}, {others})), column), {n});
  auto flat = RankedTensorType::get({size * others, 1}, data.getElementType());
  Value rows = r.b.create<EmbeddingGradOp>(
      r.loc, flat, ids, r.reshape(r.g, {n, 1}),
      r.b.getI64IntegerAttr(size * others));
  Value grad = r.reshape(rows, moved);
  if (axis != 0) {
    SmallVector<int64_t> perm;
    for (int64_t a = 0; a < rank; ++a)
      perm.push_back(a < axis ? a + 1 : a == axis ? 0 : a);
    grad = r.transpose(grad, perm);
  }
  d[0] = grad;
  return success();
}

// Reductions.
/// The reduced gradient, broadcast back over the reduced axes.
Value spread(Rule &r, Value grad, Value input, ArrayRef<int64_t> axes,
             bool keepdims) {
  SmallVector<int64_t> kept(r.type(input).getShape());
  for (int64_t a : axes)
    kept[a] = 1;
  if (!keepdims)
    grad = r.reshape(grad, kept);
  return r.broadcastTo(grad, r.type(input).getShape());
}
RULE(ReduceSumOp) {
  d[0] = spread(r, r.g, op.getInput(), op.getAxes(), op.getKeepdims());
  return success();
}
RULE(ReduceMeanOp) {
  int64_t count = 1;
  for (int64_t a : op.getAxes())
    count *= r.type(op.getInput()).getDimSize(a);
  d[0] = r.mul(spread(r, r.g, op.getInput(), op.getAxes(), op.getKeepdims()),
               1.0 / double(count));
  return success();
}
/// max/min over axes: shared evenly among the elements equal to the extremum
/// (as torch.amax / torch.amin).
LogicalResult reducedExtremum(Operation *op, ArrayRef<int64_t> axes,
                              bool keepdims, Rule &r, Grads &d) {
  Value x = op->getOperand(0);
  Value y = spread(r, op->getResult(0), x, axes, keepdims);
  Value hit = r.make<CastOp>(r.make<EqualOp>(x, y),
                             TypeAttr::get(r.type(x).getElementType()));
  Value count = r.broadcastTo(r.sum(hit, axes), r.type(x).getShape());
  d[0] = r.div(r.mul(spread(r, r.g, x, axes, keepdims), hit), count);
  return success();
}
RULE(ReduceMaxOp) {
  return reducedExtremum(op, op.getAxes(), op.getKeepdims(), r, d);
}
RULE(ReduceMinOp) {
  return reducedExtremum(op, op.getAxes(), op.getKeepdims(), r, d);
}

// Contractions.
RULE(MatMulOp) {
  Value a = op.getLhs(), b = op.getRhs();
  // Operands read transposed (trans_a, trans_b) are transposed first; their
  // gradients are transposed back at the end.
  bool transA = op.getTransA(), transB = op.getTransB();
  if (transA)
    a = r.transpose(a, Rule::swapLast(r.type(a).getRank()));
  if (transB)
    b = r.transpose(b, Rule::swapLast(r.type(b).getRank()));
  // Vectors become matrices ([K] -> [1, K] on the left, [K, 1] on the
  // right); the result's gradient gets the removed dimension back.
  auto as = r.type(a).getShape(), bs = r.type(b).getShape();
  Value a2 = as.size() == 1 ? r.reshape(a, {1, as[0]}) : a;
  Value b2 = bs.size() == 1 ? r.reshape(b, {bs[0], 1}) : b;
  SmallVector<int64_t> gShape(r.type(r.g).getShape());
  if (as.size() == 1)
    gShape.insert(gShape.end() - (bs.size() == 1 ? 0 : 1), 1);
  if (bs.size() == 1)
    gShape.push_back(1);
  Value g2 = r.reshape(r.g, gShape);
  int64_t ra = r.type(a2).getRank(), rb = r.type(b2).getRank();
  // dA = g B^T, reduced over batch dimensions A was broadcast along.
  Value bt = r.transpose(b2, Rule::swapLast(rb));
  d[0] = r.reshape(r.sumTo(r.make<MatMulOp>(g2, bt), a2), as);
  if (rb == 2 && ra > 2) {
    // A 2-D right operand against a batched left one: one GEMM over all rows.
    int64_t k = r.type(a2).getShape().back(), n = gShape.back();
    Value rows = r.reshape(a2, {r.type(a2).getNumElements() / k, k});
    Value grows = r.reshape(g2, {r.type(g2).getNumElements() / n, n});
    d[1] = r.reshape(
        r.make<GemmOp>(rows, grows, Value(), /*transA=*/true, false), bs);
  } else {
    Value at = r.transpose(a2, Rule::swapLast(ra));
    d[1] = r.reshape(r.sumTo(r.make<MatMulOp>(at, g2), b2), bs);
  }
  if (transA)
    d[0] = r.transpose(d[0], Rule::swapLast(r.type(d[0]).getRank()));
  if (transB)
    d[1] = r.transpose(d[1], Rule::swapLast(r.type(d[1]).getRank()));
  return success();
}
RULE(GemmOp) {
  if (op.getRelu())
    return op.emitOpError("with a ReLU epilogue has no gradient rule: "
                          "kiln-fuse-gemm-epilogue runs after autodiff");
  // Y = alpha op(A) op(B) + beta C.
  APFloat alpha = op.getAlphaAttr().getValue(), one(1.0f);
  bool ta = op.getTransA(), tb = op.getTransB();
  Value a = op.getA(), b = op.getB(), none;
  auto gemm = [&](Value x, Value y, bool tx, bool ty) -> Value {
    return r.make<GemmOp>(x, y, none, alpha, one, tx, ty);
  };
  // d op(A) = alpha g op(B)^T; d op(B) = alpha op(A)^T g.
  d[0] = ta ? gemm(b, r.g, tb, true) : gemm(r.g, b, false, !tb);
  d[1] = tb ? gemm(r.g, a, true, ta) : gemm(a, r.g, !ta, false);
  if (Value c = op.getC()) {
    Value dc = r.sumTo(r.g, c);
    double beta = op.getBeta().convertToDouble();
    d[2] = beta == 1 ? dc : r.mul(dc, beta);
  }
  return success();
}

RULE(ConvOp) { // the two backward products; the bias sums over all but M
  auto strides = op.getStridesAttr(), pads = op.getPadsAttr(),
       dilations = op.getDilationsAttr();
  auto group = op.getGroupAttr();
  d[0] = r.make<ConvBackwardDataOp>(
      r.g, op.getWeight(),
      r.b.getDenseI64ArrayAttr(r.type(op.getInput()).getShape()), strides,
      pads, dilations, group);
  d[1] = r.make<ConvBackwardFilterOp>(
      r.g, op.getInput(),
      r.b.getDenseI64ArrayAttr(r.type(op.getWeight()).getShape()), strides,
      pads, dilations, group);
  if (Value bias = op.getBias()) {
    SmallVector<int64_t> axes = {0};
    for (int64_t a = 2; a < r.type(r.g).getRank(); ++a)
      axes.push_back(a);
    d[2] = r.sum(r.g, axes, /*keepdims=*/false);
  }
  return success();
}

// A transposed convolution (ONNX ConvTranspose): its gradients are the
// forward convolution of g, and the filter gradient with g as the input.
RULE(ConvBackwardDataOp) {
  auto strides = op.getStridesAttr(), pads = op.getPadsAttr(),
       dilations = op.getDilationsAttr();
  auto group = op.getGroupAttr();
  d[0] = r.make<ConvOp>(r.g, op.getWeight(), Value(), strides, pads,
                        dilations, group);
  d[1] = r.make<ConvBackwardFilterOp>(
      op.getGrad(), r.g,
      r.b.getDenseI64ArrayAttr(r.type(op.getWeight()).getShape()), strides,
      pads, dilations, group);
  return success();
}

RULE(MaxPoolOp) { // to the window's maximum (every tied one)
  d[0] = r.make<PoolGradOp>(r.g, op.getInput(), op.getResult(),
                            op.getKernelAttr(), op.getStridesAttr(),
                            op.getPadsAttr(), op.getDilationsAttr(),
                            r.b.getBoolAttr(true));
  return success();
}
RULE(AvgPoolOp) { // g / divisor, spread over each window
  auto x = r.type(op.getInput());
  int64_t full = 1;
  for (int64_t k : op.getKernel())
    full *= k;
  Value scaled;
  if (op.getCountIncludePad()) {
    scaled = r.mul(r.g, 1.0 / double(full));
  } else {
    // The divisor is the number of input elements each window reads: the
    // padded average of ones, times the window size.
    Value ones = r.make<ConstantOp>(
        DenseElementsAttr::get(x, FloatAttr::get(x.getElementType(), 1.0)));
    Value counted = r.make<AvgPoolOp>(
        ones, op.getKernelAttr(), op.getStridesAttr(), op.getPadsAttr(),
        op.getDilationsAttr(), op.getCeilModeAttr(), r.b.getBoolAttr(true));
    scaled = r.div(r.g, r.mul(counted, double(full)));
  }
  d[0] = r.make<PoolGradOp>(scaled, op.getInput(), op.getResult(),
                            op.getKernelAttr(), op.getStridesAttr(),
                            op.getPadsAttr(), op.getDilationsAttr(),
                            r.b.getBoolAttr(false));
  return success();
}

// Normalizations.
RULE(SoftmaxOp) { // y (g - sum(g y))
  Value y = op.getResult();
  int64_t axis = Rule::axis(op.getAxis(), y);
  Value gy = r.sum(r.mul(r.g, y), {axis});
  d[0] = r.mul(y, r.sub(r.g, gy));
  return success();
}
RULE(LogSoftmaxOp) { // g - softmax(x) sum(g)
  Value y = op.getResult();
  int64_t axis = Rule::axis(op.getAxis(), y);
  d[0] = r.sub(r.g, r.mul(r.make<ExpOp>(y), r.sum(r.g, {axis})));
  return success();
}
/// Normalization over `axes` of x with the given statistics: with
/// xh = (x - mean) / sigma and gs = g * scale,
///   dx = (gs - mean(gs) - xh * mean(gs * xh)) / sigma,
///   dscale = sum(g * xh), dbias = sum(g), each summed to its shape.
void normalizationGrads(Rule &r, Value x, Value scale, Value bias,
                        ArrayRef<int64_t> axes, double epsilon, Grads &d) {
  Value mean = r.mean(x, axes);
  Value centered = r.sub(x, mean);
  Value var = r.mean(r.mul(centered, centered), axes);
  Value rsigma = r.make<ReciprocalOp>(
      r.make<SqrtOp>(r.add(var, r.scalar(var, epsilon))));
  Value xh = r.mul(centered, rsigma);
  Value gs = r.mul(r.g, scale);
  d[0] = r.mul(r.sub(r.sub(gs, r.mean(gs, axes)),
                     r.mul(xh, r.mean(r.mul(gs, xh), axes))),
               rsigma);
  d[1] = r.sumTo(r.mul(r.g, xh), scale);
  if (bias)
    d[2] = r.sumTo(r.g, bias);
}
RULE(LayerNormOp) {
  SmallVector<int64_t> axes;
  for (int64_t a = op.getAxis(); a < r.type(op.getInput()).getRank(); ++a)
    axes.push_back(a);
  normalizationGrads(r, op.getInput(), op.getScale(), op.getBias(), axes,
                     op.getEpsilon().convertToDouble(), d);
  return success();
}
/// BatchNorm's per-channel parameters ([C]) as [1, C, 1, ...] for x's rank.
Value perChannel(Rule &r, Value v, Value x) {
  SmallVector<int64_t> shape(r.type(x).getRank(), 1);
  shape[1] = r.type(v).getDimSize(0);
  return r.reshape(v, shape);
}
SmallVector<int64_t> allButChannels(Value x) {
  SmallVector<int64_t> axes;
  for (int64_t a = 0; a < Rule::type(x).getRank(); ++a)
    if (a != 1)
      axes.push_back(a);
  return axes;
}
RULE(BatchNormTrainOp) {
  if (rg[1] || rg[2])
    return op.emitOpError("batch statistics feed the loss; only the "
                          "normalized result has a gradient");
  Value x = op.getInput();
  SmallVector<Value, 3> grads(3);
  normalizationGrads(r, x, perChannel(r, op.getScale(), x),
                     perChannel(r, op.getBias(), x), allButChannels(x),
                     op.getEpsilon().convertToDouble(), grads);
  d[0] = grads[0];
  d[1] = r.reshape(grads[1], r.type(op.getScale()).getShape());
  d[2] = r.reshape(grads[2], r.type(op.getBias()).getShape());
  return success();
}
RULE(BatchNormOp) { // fixed statistics: an affine map per channel
  Value x = op.getInput();
  Value rsigma = r.make<ReciprocalOp>(r.make<SqrtOp>(r.add(
      op.getVar(), r.scalar(x, op.getEpsilon().convertToDouble()))));
  Value k = perChannel(r, r.mul(op.getScale(), rsigma), x);
  Value xh = r.mul(r.sub(x, perChannel(r, op.getMean(), x)),
                   perChannel(r, rsigma, x));
  SmallVector<int64_t> axes = allButChannels(x);
  d[0] = r.mul(r.g, k);
  d[1] = r.reshape(r.sum(r.mul(r.g, xh), axes),
                   r.type(op.getScale()).getShape());
  d[2] = r.reshape(r.sum(r.g, axes), r.type(op.getBias()).getShape());
  return success();
}

// Collectives. y = mean over ranks of x (every rank gets y); the step
// averages the parameters' gradients over ranks at its end, so the
// cotangent each rank must pass to its own x is the mean of all ranks'
// cotangents of y (for a sum, their sum): the same collective, backwards.
RULE(AllReduceOp) {
  SmallVector<Value> given;
  SmallVector<unsigned> which;
  for (unsigned i = 0; i < rg.size(); ++i)
    if (rg[i]) {
      given.push_back(rg[i]);
      which.push_back(i);
    }
  if (given.empty())
    return success();
  auto back = r.b.create<AllReduceOp>(r.loc, ValueRange(given).getTypes(),
                                      given, op.getBucketAttr(),
                                      op.getReductionAttr());
  for (auto [i, v] : llvm::zip(which, back.getResults()))
    d[i] = v;
  return success();
}

#undef RULE

template <typename... OpTs> void attach(MLIRContext *context) {
  (OpTs::template attachInterface<Model<OpTs>>(*context), ...);
}

} // namespace

void registerGradientRules(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *context, KilnDialect *) {
    attach<AddOp, SubOp, MulOp, DivOp, PowOp, MaxOp, MinOp, WhereOp, NegOp,
           AbsOp, ReluOp, LeakyReluOp, SqrtOp, ReciprocalOp, ExpOp, LogOp,
           ErfOp, TanhOp, SigmoidOp, SinOp, CosOp, TanOp, SinhOp, CoshOp,
           AtanOp, AsinOp, AcosOp, AsinhOp, AcoshOp, AtanhOp, FloorOp, CeilOp,
           RoundOp, CumSumOp, HardSigmoidOp, HardSwishOp, GeluOp, ClipOp, CastOp,
           TriluOp, DropoutTrainOp, ReshapeOp, TransposeOp, BroadcastToOp, ConcatOp, SliceOp,
           ReduceSumOp, ReduceMeanOp, ReduceMaxOp, ReduceMinOp, MatMulOp,
           GemmOp, ConvOp, ConvBackwardDataOp, MaxPoolOp, AvgPoolOp, GatherOp, GatherElementsOp, GatherNdOp, EmbeddingGradOp, SoftmaxOp, LogSoftmaxOp, LayerNormOp, BatchNormTrainOp,
           BatchNormOp, AllReduceOp>(context);
  });
}

} // namespace kiln::autodiff
