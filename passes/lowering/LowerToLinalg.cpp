//===- LowerToLinalg.cpp - kiln graph ops to linalg.generic kernels -------===//
#include "passes/lowering/Passes.h"

#include "ir/graph/GraphOps.h"

#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

#define DEBUG_TYPE "kiln-lower-to-linalg"

namespace kiln::lowering {

#define GEN_PASS_DEF_LOWERTOLINALGPASS
#include "passes/lowering/Passes.h.inc"

namespace {

using namespace mlir;
namespace g = kiln::graph;

//===----------------------------------------------------------------------===//
// Scalar building blocks
//===----------------------------------------------------------------------===//

bool isFloat(Type t) { return isa<FloatType>(t); }

/// An I64Attr axis (read back as unsigned) made non-negative for `rank`.
int64_t normalizedAxis(uint64_t axis, int64_t rank) {
  int64_t a = static_cast<int64_t>(axis);
  return a < 0 ? a + rank : a;
}

Value constant(OpBuilder &b, Location loc, Type t, double v) {
  if (auto f = dyn_cast<FloatType>(t))
    return b.create<arith::ConstantOp>(loc, b.getFloatAttr(f, v));
  return b.create<arith::ConstantOp>(loc, b.getIntegerAttr(t, int64_t(v)));
}

/// Arithmetic on scalars of either kind (float ops for floats, signed
/// integer ops for integers).
struct Scalar {
  OpBuilder &b;
  Location loc;

  Value add(Value x, Value y) {
    return isFloat(x.getType())
               ? b.create<arith::AddFOp>(loc, x, y).getResult()
               : b.create<arith::AddIOp>(loc, x, y).getResult();
  }
  Value sub(Value x, Value y) {
    return isFloat(x.getType())
               ? b.create<arith::SubFOp>(loc, x, y).getResult()
               : b.create<arith::SubIOp>(loc, x, y).getResult();
  }
  Value mul(Value x, Value y) {
    return isFloat(x.getType())
               ? b.create<arith::MulFOp>(loc, x, y).getResult()
               : b.create<arith::MulIOp>(loc, x, y).getResult();
  }
  Value div(Value x, Value y) {
    return isFloat(x.getType())
               ? b.create<arith::DivFOp>(loc, x, y).getResult()
               : b.create<arith::DivSIOp>(loc, x, y).getResult();
  }
  Value rem(Value x, Value y) {
    return isFloat(x.getType())
               ? b.create<arith::RemFOp>(loc, x, y).getResult()
               : b.create<arith::RemSIOp>(loc, x, y).getResult();
  }
  Value max(Value x, Value y) {
    return isFloat(x.getType())
               ? b.create<arith::MaximumFOp>(loc, x, y).getResult()
               : b.create<arith::MaxSIOp>(loc, x, y).getResult();
  }
  Value min(Value x, Value y) {
    return isFloat(x.getType())
               ? b.create<arith::MinimumFOp>(loc, x, y).getResult()
               : b.create<arith::MinSIOp>(loc, x, y).getResult();
  }
  Value c(Type t, double v) { return constant(b, loc, t, v); }
  Value cmp(arith::CmpFPredicate f, arith::CmpIPredicate i, Value x, Value y) {
    return isFloat(x.getType())
               ? b.create<arith::CmpFOp>(loc, f, x, y).getResult()
               : b.create<arith::CmpIOp>(loc, i, x, y).getResult();
  }
  Value select(Value c, Value x, Value y) {
    return b.create<arith::SelectOp>(loc, c, x, y);
  }
  Value exp(Value x) { return b.create<math::ExpOp>(loc, x); }
  Value sqrt(Value x) { return b.create<math::SqrtOp>(loc, x); }

  /// ONNX Cast semantics between kiln element types.
  Value cast(Value x, Type to) {
    Type from = x.getType();
    if (from == to)
      return x;
    if (to.isInteger(1))
      return cmp(arith::CmpFPredicate::UNE, arith::CmpIPredicate::ne, x,
                 c(from, 0));
    if (isFloat(from) && isFloat(to))
      return from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth()
                 ? b.create<arith::ExtFOp>(loc, to, x).getResult()
                 : b.create<arith::TruncFOp>(loc, to, x).getResult();
    if (isFloat(to))
      return from.isInteger(1)
                 ? b.create<arith::UIToFPOp>(loc, to, x).getResult()
                 : b.create<arith::SIToFPOp>(loc, to, x).getResult();
    if (isFloat(from))
      return b.create<arith::FPToSIOp>(loc, to, x);
    if (from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth())
      return from.isInteger(1)
                 ? b.create<arith::ExtUIOp>(loc, to, x).getResult()
                 : b.create<arith::ExtSIOp>(loc, to, x).getResult();
    return b.create<arith::TruncIOp>(loc, to, x);
  }
};

//===----------------------------------------------------------------------===//
// Kernels
//===----------------------------------------------------------------------===//

enum class Reduce { None, Sum, Prod, Max, Min };

struct Operand {
  Value value;
  AffineMap map;
};

using BodyFn = function_ref<Value(Scalar &, ValueRange)>;

/// `operand`'s map when it broadcasts (numpy rules) into a domain of
/// `resultShape`.
AffineMap broadcastMap(MLIRContext *ctx, ArrayRef<int64_t> shape,
                       ArrayRef<int64_t> resultShape) {
  SmallVector<AffineExpr> exprs;
  size_t offset = resultShape.size() - shape.size();
  for (size_t j = 0; j < shape.size(); ++j) {
    bool stretched = shape[j] == 1 && resultShape[offset + j] != 1;
    exprs.push_back(stretched ? getAffineConstantExpr(0, ctx)
                              : getAffineDimExpr(offset + j, ctx));
  }
  return AffineMap::get(resultShape.size(), 0, exprs, ctx);
}

/// The domain's dims without `dropped`.
AffineMap projection(MLIRContext *ctx, size_t rank, ArrayRef<int64_t> dropped) {
  SmallVector<AffineExpr> exprs;
  for (size_t d = 0; d < rank; ++d)
    if (!llvm::is_contained(dropped, int64_t(d)))
      exprs.push_back(getAffineDimExpr(d, ctx));
  return AffineMap::get(rank, 0, exprs, ctx);
}

Operand broadcastOperand(Value v, ArrayRef<int64_t> resultShape) {
  auto shape = cast<RankedTensorType>(v.getType()).getShape();
  return {v, broadcastMap(v.getContext(), shape, resultShape)};
}

/// One kernel: a linalg.generic over `domain` whose result keeps the dims
/// not in `axes` (all of them when `reduce` is None). `body` computes each
/// point's value from the inputs' scalars; reductions combine values into
/// an accumulator that starts at the combine's identity.
Value kernel(OpBuilder &b, Location loc, ArrayRef<int64_t> domain,
             ArrayRef<int64_t> axes, ArrayRef<Operand> inputs, Type element,
             Reduce reduce, BodyFn body) {
  MLIRContext *ctx = b.getContext();
  SmallVector<int64_t> shape;
  SmallVector<utils::IteratorType> iterators;
  for (size_t d = 0; d < domain.size(); ++d) {
    bool reduced = llvm::is_contained(axes, int64_t(d));
    iterators.push_back(reduced ? utils::IteratorType::reduction
                                : utils::IteratorType::parallel);
    if (!reduced)
      shape.push_back(domain[d]);
  }
  Value init = b.create<tensor::EmptyOp>(loc, shape, element);
  if (reduce != Reduce::None) {
    double identity = reduce == Reduce::Sum    ? 0.0
                      : reduce == Reduce::Prod ? 1.0
                      : reduce == Reduce::Max  ? -INFINITY
                                               : INFINITY;
    Value start;
    if (isFloat(element)) {
      start = constant(b, loc, element, identity);
    } else {
      unsigned width = element.getIntOrFloatBitWidth();
      APInt i = reduce == Reduce::Max   ? APInt::getSignedMinValue(width)
                : reduce == Reduce::Min ? APInt::getSignedMaxValue(width)
                                        : APInt(width, uint64_t(identity));
      start = b.create<arith::ConstantOp>(loc, b.getIntegerAttr(element, i));
    }
    init = b.create<linalg::FillOp>(loc, start, init).getResult(0);
  }
  SmallVector<AffineMap> maps;
  SmallVector<Value> values;
  for (const Operand &in : inputs) {
    maps.push_back(in.map);
    values.push_back(in.value);
  }
  maps.push_back(projection(ctx, domain.size(), axes));
  auto generic = b.create<linalg::GenericOp>(
      loc, TypeRange{init.getType()}, values, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Scalar s{nb, nloc};
        Value v = body(s, args.drop_back());
        if (reduce == Reduce::Sum)
          v = s.add(args.back(), v);
        else if (reduce == Reduce::Prod)
          v = s.mul(args.back(), v);
        else if (reduce == Reduce::Max)
          v = s.max(args.back(), v);
        else if (reduce == Reduce::Min)
          v = s.min(args.back(), v);
        nb.create<linalg::YieldOp>(nloc, v);
      });
  return generic.getResult(0);
}

/// An elementwise kernel over `op`'s result shape, operands broadcast.
Value elementwise(OpBuilder &b, Operation *op, ValueRange operands,
                  BodyFn body) {
  auto type = cast<RankedTensorType>(op->getResult(0).getType());
  SmallVector<Operand> inputs;
  for (Value v : operands)
    inputs.push_back(broadcastOperand(v, type.getShape()));
  return kernel(b, op->getLoc(), type.getShape(), {}, inputs,
                type.getElementType(), Reduce::None, body);
}

/// A copy whose input coordinates are `map` of the result's.
Value gatherCopy(OpBuilder &b, Operation *op, Value input, AffineMap map) {
  auto type = cast<RankedTensorType>(op->getResult(0).getType());
  return kernel(b, op->getLoc(), type.getShape(), {}, {{input, map}},
                type.getElementType(), Reduce::None,
                [](Scalar &, ValueRange a) { return a[0]; });
}

Value reshape(OpBuilder &b, Location loc, Value v, ArrayRef<int64_t> shape) {
  if (cast<RankedTensorType>(v.getType()).getShape() == shape)
    return v;
  return b.create<g::ReshapeOp>(loc, v, b.getDenseI64ArrayAttr(shape));
}

//===----------------------------------------------------------------------===//
// Per-op lowerings
//===----------------------------------------------------------------------===//

template <typename F> Value unary(OpBuilder &b, Operation *op, F f) {
  return elementwise(b, op, op->getOperand(0),
                     [&](Scalar &s, ValueRange a) { return f(s, a[0]); });
}

/// An elementwise kernel applying the math dialect's `MathOp` (math.sin,
/// math.log, ...) to the one operand.
template <typename MathOp> Value mathUnary(OpBuilder &b, Operation *op) {
  return unary(b, op, [](Scalar &s, Value x) {
    return s.b.create<MathOp>(s.loc, x).getResult();
  });
}

template <typename F> Value binary(OpBuilder &b, Operation *op, F f) {
  return elementwise(b, op, op->getOperands(),
                     [&](Scalar &s, ValueRange a) { return f(s, a[0], a[1]); });
}

Value compare(OpBuilder &b, Operation *op, arith::CmpFPredicate f,
              arith::CmpIPredicate i) {
  return binary(b, op,
                [&](Scalar &s, Value x, Value y) { return s.cmp(f, i, x, y); });
}

/// Reduces `input` over `axes` (sorted); keeps the reduced dims as size 1
/// when `keepdims`. `mean` divides sums by the count.
Value reduction(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> axes,
                Reduce reduce, bool keepdims, bool mean) {
  auto type = cast<RankedTensorType>(input.getType());
  AffineMap id =
      AffineMap::getMultiDimIdentityMap(type.getRank(), b.getContext());
  Value r = kernel(b, loc, type.getShape(), axes, {{input, id}},
                   type.getElementType(), reduce,
                   [](Scalar &, ValueRange a) { return a[0]; });
  if (mean) {
    int64_t count = 1;
    for (int64_t a : axes)
      count *= type.getDimSize(a);
    auto rt = cast<RankedTensorType>(r.getType());
    AffineMap rid =
        AffineMap::getMultiDimIdentityMap(rt.getRank(), b.getContext());
    r = kernel(b, loc, rt.getShape(), {}, {{r, rid}}, rt.getElementType(),
               Reduce::None, [&](Scalar &s, ValueRange a) {
                 return s.div(a[0], s.c(a[0].getType(), double(count)));
               });
  }
  if (!keepdims)
    return r;
  SmallVector<int64_t> shape(type.getShape());
  for (int64_t a : axes)
    shape[a] = 1;
  return reshape(b, loc, r, shape);
}

/// Softmax (log = false) or log-softmax along `axis`, as three kernels:
/// max, sum of exp(x - max), and the normalization.
Value softmax(OpBuilder &b, Location loc, Value x, int64_t axis, bool log) {
  auto type = cast<RankedTensorType>(x.getType());
  MLIRContext *ctx = b.getContext();
  size_t rank = type.getRank();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap row = projection(ctx, rank, {axis});
  Type t = type.getElementType();
  Value max = kernel(b, loc, type.getShape(), {axis}, {{x, id}}, t, Reduce::Max,
                     [](Scalar &, ValueRange a) { return a[0]; });
  Value sum = kernel(
      b, loc, type.getShape(), {axis}, {{x, id}, {max, row}}, t, Reduce::Sum,
      [](Scalar &s, ValueRange a) { return s.exp(s.sub(a[0], a[1])); });
  return kernel(b, loc, type.getShape(), {}, {{x, id}, {max, row}, {sum, row}},
                t, Reduce::None, [&](Scalar &s, ValueRange a) {
                  Value shifted = s.sub(a[0], a[1]);
                  if (log)
                    return s.sub(
                        shifted,
                        s.b.create<math::LogOp>(s.loc, a[2]).getResult());
                  return s.div(s.exp(shifted), a[2]);
                });
}

/// LayerNorm over dims axis.. as three kernels: sum, sum of squared
/// deviations, and the normalization (the means divided in place).
Value layerNorm(OpBuilder &b, g::LayerNormOp op) {
  Location loc = op.getLoc();
  Value x = op.getInput();
  auto type = cast<RankedTensorType>(x.getType());
  MLIRContext *ctx = b.getContext();
  size_t rank = type.getRank();
  int64_t axis = op.getAxis();
  SmallVector<int64_t> axes;
  int64_t count = 1;
  for (size_t d = axis; d < rank; ++d) {
    axes.push_back(d);
    count *= type.getDimSize(d);
  }
  Type t = type.getElementType();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap outer = projection(ctx, rank, axes);
  auto mean = [&](Scalar &s, Value sum) {
    return s.div(sum, s.c(t, double(count)));
  };
  Value sum = kernel(b, loc, type.getShape(), axes, {{x, id}}, t, Reduce::Sum,
                     [](Scalar &, ValueRange a) { return a[0]; });
  Value sq = kernel(b, loc, type.getShape(), axes, {{x, id}, {sum, outer}}, t,
                    Reduce::Sum, [&](Scalar &s, ValueRange a) {
                      Value d = s.sub(a[0], mean(s, a[1]));
                      return s.mul(d, d);
                    });
  SmallVector<Operand> inputs = {{x, id}, {sum, outer}, {sq, outer}};
  inputs.push_back(broadcastOperand(op.getScale(), type.getShape()));
  if (op.getBias())
    inputs.push_back(broadcastOperand(op.getBias(), type.getShape()));
  double eps = op.getEpsilon().convertToDouble();
  return kernel(b, loc, type.getShape(), {}, inputs, t, Reduce::None,
                [&](Scalar &s, ValueRange a) {
                  Value var = s.add(mean(s, a[2]), s.c(t, eps));
                  Value y = s.div(s.sub(a[0], mean(s, a[1])), s.sqrt(var));
                  y = s.mul(y, a[3]);
                  return a.size() > 4 ? s.add(y, a[4]) : y;
                });
}

Value batchNorm(OpBuilder &b, g::BatchNormOp op) {
  auto type = cast<RankedTensorType>(op.getResult().getType());
  MLIRContext *ctx = b.getContext();
  size_t rank = type.getRank();
  AffineMap channel = AffineMap::get(rank, 0, getAffineDimExpr(1, ctx), ctx);
  SmallVector<Operand> inputs = {
      {op.getInput(), AffineMap::getMultiDimIdentityMap(rank, ctx)},
      {op.getScale(), channel},
      {op.getBias(), channel},
      {op.getMean(), channel},
      {op.getVar(), channel}};
  Type t = type.getElementType();
  double eps = op.getEpsilon().convertToDouble();
  return kernel(b, op.getLoc(), type.getShape(), {}, inputs, t, Reduce::None,
                [&](Scalar &s, ValueRange a) {
                  Value inv = s.sqrt(s.add(s.cast(a[4], t), s.c(t, eps)));
                  Value y = s.div(s.sub(a[0], s.cast(a[3], t)), inv);
                  return s.add(s.mul(y, s.cast(a[1], t)), s.cast(a[2], t));
                });
}

Value gather(OpBuilder &b, g::GatherOp op) {
  auto type = cast<RankedTensorType>(op.getResult().getType());
  auto dataType = cast<RankedTensorType>(op.getData().getType());
  auto idxType = cast<RankedTensorType>(op.getIndices().getType());
  MLIRContext *ctx = b.getContext();
  int64_t axis = int64_t(op.getAxis());
  if (axis < 0)
    axis += dataType.getRank();
  int64_t q = idxType.getRank();
  SmallVector<AffineExpr> idxExprs;
  for (int64_t d = 0; d < q; ++d)
    idxExprs.push_back(getAffineDimExpr(axis + d, ctx));
  AffineMap idxMap = AffineMap::get(type.getRank(), 0, idxExprs, ctx);
  Value data = op.getData();
  int64_t size = dataType.getDimSize(axis);
  return kernel(
      b, op.getLoc(), type.getShape(), {}, {{op.getIndices(), idxMap}},
      type.getElementType(), Reduce::None, [&](Scalar &s, ValueRange a) {
        // ONNX allows negative indices: they count from the end.
        Value i = s.cast(a[0], s.b.getI64Type());
        Value neg = s.cmp(arith::CmpFPredicate::OLT, arith::CmpIPredicate::slt,
                          i, s.c(i.getType(), 0));
        i = s.select(neg, s.add(i, s.c(i.getType(), double(size))), i);
        SmallVector<Value> coords;
        for (int64_t d = 0; d < dataType.getRank(); ++d) {
          if (d == axis) {
            coords.push_back(
                s.b.create<arith::IndexCastOp>(s.loc, s.b.getIndexType(), i));
            continue;
          }
          int64_t resultDim = d < axis ? d : d + q - 1;
          coords.push_back(s.b.create<linalg::IndexOp>(s.loc, resultDim));
        }
        return s.b.create<tensor::ExtractOp>(s.loc, data, coords).getResult();
      });
}

/// The domain coordinate `d` as an i64 scalar.
Value coordinate(Scalar &s, int64_t d) {
  return s.b.create<arith::IndexCastOp>(s.loc, s.b.getI64Type(),
                                        s.b.create<linalg::IndexOp>(s.loc, d));
}

/// Reads `tensor` at i64 `coords`, which may fall outside it: clamped into
/// range for the read, with `valid` set to whether all were inside.
Value clampedExtract(Scalar &s, Value tensor, ArrayRef<Value> coords,
                     Value &valid) {
  auto type = cast<RankedTensorType>(tensor.getType());
  Type i64 = s.b.getI64Type();
  valid = Value();
  SmallVector<Value> indices;
  for (auto [d, c] : llvm::enumerate(coords)) {
    Value size = s.c(i64, double(type.getDimSize(d)));
    Value inside = s.b.create<arith::AndIOp>(
        s.loc,
        s.cmp(arith::CmpFPredicate::OGE, arith::CmpIPredicate::sge, c,
              s.c(i64, 0)),
        s.cmp(arith::CmpFPredicate::OLT, arith::CmpIPredicate::slt, c, size));
    valid = valid ? s.b.create<arith::AndIOp>(s.loc, valid, inside).getResult()
                  : inside;
    Value clamped = s.min(s.max(c, s.c(i64, 0)), s.sub(size, s.c(i64, 1)));
    indices.push_back(
        s.b.create<arith::IndexCastOp>(s.loc, s.b.getIndexType(), clamped));
  }
  if (!valid)
    valid = s.c(s.b.getI1Type(), 1);
  return s.b.create<tensor::ExtractOp>(s.loc, tensor, indices);
}

/// Concat: each output element reads the input whose range along `axis`
/// holds it (every input read clamped, then selected).
Value concat(OpBuilder &b, g::ConcatOp op) {
  auto type = cast<RankedTensorType>(op.getResult().getType());
  int64_t axis = int64_t(op.getAxis()), rank = type.getRank();
  SmallVector<Value> inputs(op.getInputs());
  return kernel(
      b, op.getLoc(), type.getShape(), {}, {}, type.getElementType(),
      Reduce::None, [&](Scalar &s, ValueRange) {
        Type i64 = s.b.getI64Type();
        Value at = coordinate(s, axis);
        Value result;
        int64_t offset = 0;
        for (Value in : inputs) {
          int64_t size = cast<RankedTensorType>(in.getType()).getDimSize(axis);
          SmallVector<Value> coords;
          for (int64_t d = 0; d < rank; ++d)
            coords.push_back(d == axis ? s.sub(at, s.c(i64, double(offset)))
                                       : coordinate(s, d));
          Value valid;
          Value v = clampedExtract(s, in, coords, valid);
          result = result ? s.select(valid, v, result) : v;
          offset += size;
        }
        return result;
      });
}

/// GatherElements: the index tensor's value replaces the coordinate along
/// `axis` (negative counts from the end).
Value gatherElements(OpBuilder &b, g::GatherElementsOp op) {
  auto type = cast<RankedTensorType>(op.getResult().getType());
  auto dataType = cast<RankedTensorType>(op.getData().getType());
  int64_t rank = type.getRank();
  int64_t axis = normalizedAxis(op.getAxis(), rank);
  Value data = op.getData();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
  return kernel(
      b, op.getLoc(), type.getShape(), {}, {{op.getIndices(), id}},
      type.getElementType(), Reduce::None, [&](Scalar &s, ValueRange a) {
        Type i64 = s.b.getI64Type();
        Value i = s.cast(a[0], i64);
        Value size = s.c(i64, double(dataType.getDimSize(axis)));
        Value neg = s.cmp(arith::CmpFPredicate::OLT, arith::CmpIPredicate::slt,
                          i, s.c(i64, 0));
        i = s.select(neg, s.add(i, size), i);
        SmallVector<Value> coords;
        for (int64_t d = 0; d < rank; ++d)
          coords.push_back(s.b.create<arith::IndexCastOp>(
              s.loc, s.b.getIndexType(), d == axis ? i : coordinate(s, d)));
        return s.b.create<tensor::ExtractOp>(s.loc, data, coords).getResult();
      });
}

/// GatherND: each index tuple addresses data after the batch dims.
Value gatherNd(OpBuilder &b, g::GatherNdOp op) {
  auto type = cast<RankedTensorType>(op.getResult().getType());
  auto dataType = cast<RankedTensorType>(op.getData().getType());
  auto idxType = cast<RankedTensorType>(op.getIndices().getType());
  int64_t batch = op.getBatchDims(), q = idxType.getRank();
  int64_t tuple = idxType.getDimSize(q - 1);
  Value data = op.getData(), indices = op.getIndices();
  return kernel(
      b, op.getLoc(), type.getShape(), {}, {}, type.getElementType(),
      Reduce::None, [&](Scalar &s, ValueRange) {
        Type i64 = s.b.getI64Type();
        auto index = [&](Value v) {
          return s.b.create<arith::IndexCastOp>(s.loc, s.b.getIndexType(), v)
              .getResult();
        };
        // Result dims: indices' leading q-1, then data's rest.
        SmallVector<Value> coords;
        for (int64_t d = 0; d < batch; ++d)
          coords.push_back(index(coordinate(s, d)));
        for (int64_t t = 0; t < tuple; ++t) {
          SmallVector<Value> at;
          for (int64_t d = 0; d < q - 1; ++d)
            at.push_back(index(coordinate(s, d)));
          at.push_back(index(s.c(i64, double(t))));
          Value i = s.b.create<tensor::ExtractOp>(s.loc, indices, at);
          Value size = s.c(i64, double(dataType.getDimSize(batch + t)));
          Value neg = s.cmp(arith::CmpFPredicate::OLT,
                            arith::CmpIPredicate::slt, i, s.c(i64, 0));
          coords.push_back(index(s.select(neg, s.add(i, size), i)));
        }
        for (int64_t d = batch + tuple; d < dataType.getRank(); ++d)
          coords.push_back(index(coordinate(s, q - 1 + d - batch - tuple)));
        return s.b.create<tensor::ExtractOp>(s.loc, data, coords).getResult();
      });
}

/// CumSum as a reduction over a second copy of the axis: the sum of the
/// elements before (or after, with reverse) each position.
Value cumsum(OpBuilder &b, g::CumSumOp op) {
  auto type = cast<RankedTensorType>(op.getResult().getType());
  int64_t rank = type.getRank(), axis = int64_t(op.getAxis());
  MLIRContext *ctx = b.getContext();
  SmallVector<int64_t> domain(type.getShape());
  domain.push_back(type.getDimSize(axis)); // j, the summed position
  SmallVector<AffineExpr> exprs;
  for (int64_t d = 0; d < rank; ++d)
    exprs.push_back(getAffineDimExpr(d == axis ? rank : d, ctx));
  AffineMap read = AffineMap::get(rank + 1, 0, exprs, ctx);
  bool exclusive = op.getExclusive(), reverse = op.getReverse();
  return kernel(
      b, op.getLoc(), domain, {rank}, {{op.getInput(), read}},
      type.getElementType(), Reduce::Sum, [&](Scalar &s, ValueRange a) {
        Value i = coordinate(s, axis), j = coordinate(s, rank);
        using P = arith::CmpFPredicate;
        using I = arith::CmpIPredicate;
        Value keep = reverse ? s.cmp(P::OGT, exclusive ? I::sgt : I::sge, j, i)
                             : s.cmp(P::OLT, exclusive ? I::slt : I::sle, j, i);
        return s.select(keep, a[0], s.c(a[0].getType(), 0));
      });
}

/// A pooling-window loop nest: `shape`'s dims, then one reduction dim per
/// kernel dim. linalg infers loop sizes from operand shapes, so `witness` is
/// an unread tensor shaped like the window that gives the window dims theirs.
struct WindowNest {
  SmallVector<int64_t> domain, axes;
  Operand witness;
};
WindowNest windowNest(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                      ArrayRef<int64_t> kernelSize, Type element) {
  WindowNest w;
  w.domain.assign(shape.begin(), shape.end());
  SmallVector<AffineExpr> windowDims;
  for (int64_t k : kernelSize) {
    w.axes.push_back(w.domain.size());
    windowDims.push_back(getAffineDimExpr(w.domain.size(), b.getContext()));
    w.domain.push_back(k);
  }
  w.witness = {b.create<tensor::EmptyOp>(loc, kernelSize, element),
               AffineMap::get(w.domain.size(), 0, windowDims, b.getContext())};
  return w;
}

/// Max and average pooling as reductions over the window (kernel dims added
/// to the domain); padding reads are skipped: -inf for max, and for average
/// a second reduction counts the elements read (unless count_include_pad).
template <typename PoolOp>
Value pool(OpBuilder &b, PoolOp op, bool max, bool countIncludePad) {
  auto type = cast<RankedTensorType>(op.getResult().getType());
  int64_t rank = type.getRank(), spatial = rank - 2;
  ArrayRef<int64_t> kernelSize = op.getKernel(), strides = op.getStrides(),
                    pads = op.getPads(), dilations = op.getDilations();
  Value input = op.getInput();
  Type t = type.getElementType();
  Location loc = op.getLoc();
  auto [domain, axes, shapeWitness] =
      windowNest(b, loc, type.getShape(), kernelSize, t);
  auto window = [&](Scalar &s, Value &valid) {
    Type i64 = s.b.getI64Type();
    SmallVector<Value> coords = {coordinate(s, 0), coordinate(s, 1)};
    for (int64_t i = 0; i < spatial; ++i) {
      Value o = coordinate(s, 2 + i), k = coordinate(s, rank + i);
      coords.push_back(s.add(s.sub(s.mul(o, s.c(i64, double(strides[i]))),
                                   s.c(i64, double(pads[i]))),
                             s.mul(k, s.c(i64, double(dilations[i])))));
    }
    return clampedExtract(s, input, coords, valid);
  };
  if (max)
    return kernel(b, loc, domain, axes, {shapeWitness}, t, Reduce::Max,
                  [&](Scalar &s, ValueRange) {
                    Value valid;
                    Value v = window(s, valid);
                    return s.select(valid, v, s.c(t, -INFINITY));
                  });
  Value sum = kernel(b, loc, domain, axes, {shapeWitness}, t, Reduce::Sum,
                     [&](Scalar &s, ValueRange) {
                       Value valid;
                       Value v = window(s, valid);
                       return s.select(valid, v, s.c(t, 0));
                     });
  int64_t full = 1;
  for (int64_t k : kernelSize)
    full *= k;
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
  if (countIncludePad) {
    return kernel(b, loc, type.getShape(), {}, {{sum, id}}, t, Reduce::None,
                  [&](Scalar &s, ValueRange a) {
                    return s.div(a[0], s.c(t, double(full)));
                  });
  }
  Value count = kernel(b, loc, domain, axes, {shapeWitness}, t, Reduce::Sum,
                       [&](Scalar &s, ValueRange) {
                         Value valid;
                         window(s, valid);
                         return s.select(valid, s.c(t, 1), s.c(t, 0));
                       });
  return kernel(b, loc, type.getShape(), {}, {{sum, id}, {count, id}}, t,
                Reduce::None,
                [&](Scalar &s, ValueRange a) { return s.div(a[0], a[1]); });
}

/// kiln.uniform of type `t` at the point: its row-major index in `shape` is
/// the counter, in the stream `seed` * 2^32 + `stream` (`seed` an i64 of the
/// body). What training-mode dropout and RandomUniform draw.
Value uniformAtPoint(Scalar &s, ArrayRef<int64_t> shape, Value seed,
                     int64_t stream, Type t) {
  auto integer = [&](int64_t v) -> Value {
    return s.b.create<arith::ConstantOp>(s.loc, s.b.getI64IntegerAttr(v));
  };
  Value index = integer(0);
  for (int64_t d = 0; d < int64_t(shape.size()); ++d)
    index = s.add(s.mul(index, integer(shape[d])), coordinate(s, d));
  Value counterSeed =
      s.add(s.mul(seed, integer(int64_t(1) << 32)), integer(stream));
  return s.b.create<g::UniformOp>(s.loc, t, index, counterSeed);
}

/// Training-mode dropout: each element's row-major index is the counter of
/// kiln.uniform in the stream (seed, stream); kept elements are scaled.
Value dropoutTrain(OpBuilder &b, g::DropoutTrainOp op) {
  auto type = cast<RankedTensorType>(op.getResult().getType());
  int64_t rank = type.getRank();
  MLIRContext *ctx = b.getContext();
  Type t = type.getElementType();
  double ratio = op.getRatio().convertToDouble();
  int64_t stream = op.getStream();
  SmallVector<Operand> inputs = {
      {op.getInput(), AffineMap::getMultiDimIdentityMap(rank, ctx)},
      {op.getSeed(), AffineMap::get(rank, 0, {}, ctx)}};
  return kernel(
      b, op.getLoc(), type.getShape(), {}, inputs, t, Reduce::None,
      [&](Scalar &s, ValueRange a) {
        Value u = uniformAtPoint(s, type.getShape(), a[1], stream, t);
        Value keep = s.cmp(arith::CmpFPredicate::OGE, arith::CmpIPredicate::sge,
                           u, s.c(t, ratio));
        Value scaled = s.mul(a[0], s.c(t, 1.0 / (1.0 - ratio)));
        return s.select(keep, scaled, s.c(t, 0));
      });
}

/// Uniform random values: element i (row-major) is kiln.uniform(i, seed *
/// 2^32 + stream) scaled into [low, high), the seed the step's (an input),
/// the op's own, or 0 (GraphOps.td says which; `position` is the stream of
/// an op with neither).
Value randomUniform(OpBuilder &b, g::RandomUniformOp op, int64_t position) {
  auto type = cast<RankedTensorType>(op.getResult().getType());
  int64_t rank = type.getRank();
  MLIRContext *ctx = b.getContext();
  Type t = type.getElementType();
  // kiln.uniform draws F32 or F64; narrower types are rounded from F32.
  Type draw = t.isF64() ? t : b.getF32Type();
  SmallVector<Operand> inputs;
  if (Value seed = op.getStepSeed())
    inputs.push_back({seed, AffineMap::get(rank, 0, {}, ctx)});
  int64_t fixedSeed = op.getSeed().value_or(0);
  int64_t stream = op.getStream().value_or(
      op.getStepSeed() || op.getSeed() ? 0 : position);
  double low = op.getLow().convertToDouble();
  double high = op.getHigh().convertToDouble();
  return kernel(
      b, op.getLoc(), type.getShape(), {}, inputs, t, Reduce::None,
      [&](Scalar &s, ValueRange a) {
        Value seed = a.empty() ? Value(s.b.create<arith::ConstantOp>(
                                     s.loc, s.b.getI64IntegerAttr(fixedSeed)))
                               : a[0];
        Value u = uniformAtPoint(s, type.getShape(), seed, stream, draw);
        Value x = s.add(s.mul(u, s.c(draw, high - low)), s.c(draw, low));
        return draw == t ? x : s.cast(x, t);
      });
}

/// The gradient of pooling: a reduction over the kernel offsets at every
/// input position. Offset k of window o reads input position
/// o * stride - pad + k * dilation, so the window that reads position i
/// with offset k is o = (i + pad - k * dilation) / stride, when that
/// divides exactly and lands inside the output.
Value poolGrad(OpBuilder &b, g::PoolGradOp op) {
  auto type = cast<RankedTensorType>(op.getResult().getType());
  auto outType = cast<RankedTensorType>(op.getOutput().getType());
  int64_t rank = type.getRank(), spatial = rank - 2;
  ArrayRef<int64_t> strides = op.getStrides(), pads = op.getPads(),
                    dilations = op.getDilations();
  Location loc = op.getLoc();
  Type t = type.getElementType();
  MLIRContext *ctx = b.getContext();
  auto [domain, axes, witness] =
      windowNest(b, loc, type.getShape(), op.getKernel(), t);
  SmallVector<AffineExpr> inputDims;
  for (int64_t d = 0; d < rank; ++d)
    inputDims.push_back(getAffineDimExpr(d, ctx));
  SmallVector<Operand> inputs = {
      witness, {op.getInput(), AffineMap::get(domain.size(), 0, inputDims, ctx)}};
  bool max = op.getMax();
  Value grad = op.getGrad(), output = op.getOutput();
  return kernel(
      b, loc, domain, axes, inputs, t, Reduce::Sum,
      [&](Scalar &s, ValueRange a) {
        Type i64 = s.b.getI64Type();
        SmallVector<Value> coords = {coordinate(s, 0), coordinate(s, 1)};
        Value valid;
        auto both = [&](Value c) {
          valid = valid ? s.b.create<arith::AndIOp>(s.loc, valid, c).getResult()
                        : c;
        };
        for (int64_t i = 0; i < spatial; ++i) {
          Value at = coordinate(s, 2 + i), k = coordinate(s, rank + i);
          Value num = s.sub(s.add(at, s.c(i64, double(pads[i]))),
                            s.mul(k, s.c(i64, double(dilations[i]))));
          Value stride = s.c(i64, double(strides[i]));
          Value o = s.div(num, stride);
          both(s.cmp(arith::CmpFPredicate::OGE, arith::CmpIPredicate::sge, num,
                     s.c(i64, 0)));
          both(s.cmp(arith::CmpFPredicate::OEQ, arith::CmpIPredicate::eq,
                     s.rem(num, stride), s.c(i64, 0)));
          both(s.cmp(arith::CmpFPredicate::OLT, arith::CmpIPredicate::slt, o,
                     s.c(i64, double(outType.getDimSize(2 + i)))));
          coords.push_back(o);
        }
        Value inside;
        Value g = clampedExtract(s, grad, coords, inside);
        both(inside);
        if (max) {
          Value y = clampedExtract(s, output, coords, inside);
          both(s.cmp(arith::CmpFPredicate::OEQ, arith::CmpIPredicate::eq, a[1],
                     y));
        }
        return s.select(valid, g, s.c(t, 0));
      });
}

/// Training-mode batch norm: the batch's mean and (biased) variance over
/// every dim but the channel (1), then the normalization. Returns the
/// result, the mean and the variance.
SmallVector<Value> batchNormTrain(OpBuilder &b, g::BatchNormTrainOp op) {
  Location loc = op.getLoc();
  Value x = op.getInput();
  auto type = cast<RankedTensorType>(x.getType());
  MLIRContext *ctx = b.getContext();
  int64_t rank = type.getRank();
  SmallVector<int64_t> axes;
  int64_t count = 1;
  for (int64_t d = 0; d < rank; ++d)
    if (d != 1) {
      axes.push_back(d);
      count *= type.getDimSize(d);
    }
  Type t = type.getElementType();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap channel = AffineMap::get(rank, 0, getAffineDimExpr(1, ctx), ctx);
  AffineMap vec = AffineMap::getMultiDimIdentityMap(1, ctx);
  auto divide = [&](Scalar &s, Value v) {
    return s.div(v, s.c(t, double(count)));
  };
  Value sum = kernel(b, loc, type.getShape(), axes, {{x, id}}, t, Reduce::Sum,
                     [](Scalar &, ValueRange a) { return a[0]; });
  Value sq = kernel(b, loc, type.getShape(), axes, {{x, id}, {sum, channel}}, t,
                    Reduce::Sum, [&](Scalar &s, ValueRange a) {
                      Value d = s.sub(a[0], divide(s, a[1]));
                      return s.mul(d, d);
                    });
  double eps = op.getEpsilon().convertToDouble();
  Value y = kernel(b, loc, type.getShape(), {},
                   {{x, id},
                    {sum, channel},
                    {sq, channel},
                    {op.getScale(), channel},
                    {op.getBias(), channel}},
                   t, Reduce::None, [&](Scalar &s, ValueRange a) {
                     Value inv = s.sqrt(s.add(divide(s, a[2]), s.c(t, eps)));
                     Value n = s.div(s.sub(a[0], divide(s, a[1])), inv);
                     return s.add(s.mul(n, s.cast(a[3], t)), s.cast(a[4], t));
                   });
  int64_t c = type.getDimSize(1);
  auto perChannel = [&](Value v) {
    return kernel(b, loc, {c}, {}, {{v, vec}}, t, Reduce::None,
                  [&](Scalar &s, ValueRange a) { return divide(s, a[0]); });
  };
  return {y, perChannel(sum), perChannel(sq)};
}

Value trilu(OpBuilder &b, g::TriluOp op) {
  auto type = cast<RankedTensorType>(op.getResult().getType());
  int64_t rank = type.getRank();
  bool upper = op.getUpper();
  int64_t k = op.getK();
  return elementwise(b, op, op.getInput(), [&](Scalar &s, ValueRange a) {
    Type i64 = s.b.getI64Type();
    auto coord = [&](int64_t d) {
      return s.b.create<arith::IndexCastOp>(
          s.loc, i64, s.b.create<linalg::IndexOp>(s.loc, d));
    };
    Value diff = s.sub(coord(rank - 1), coord(rank - 2));
    Value keep =
        upper ? s.cmp(arith::CmpFPredicate::OGE, arith::CmpIPredicate::sge,
                      diff, s.c(i64, double(k)))
              : s.cmp(arith::CmpFPredicate::OLE, arith::CmpIPredicate::sle,
                      diff, s.c(i64, double(k)));
    return s.select(keep, a[0], s.c(a[0].getType(), 0));
  });
}

struct LowerToLinalgPass final
    : impl::LowerToLinalgPassBase<LowerToLinalgPass> {
  using LowerToLinalgPassBase::LowerToLinalgPassBase;

  /// The stream of each random draw that has neither a step seed nor a
  /// seed: its position among those of the function.
  llvm::DenseMap<Operation *, int64_t> randomPositions_;

  /// The replacement for `op`, or null (with an error) when it has none.
  /// Ops the code generator takes as they are return their own result.
  Value lower(OpBuilder &b, Operation *op) {
    using P = arith::CmpFPredicate;
    using I = arith::CmpIPredicate;
    MLIRContext *ctx = b.getContext();
    return TypeSwitch<Operation *, Value>(op)
        // Left for the code generator.
        .Case<g::MatMulOp, g::ReshapeOp, g::InitializerOp, g::ConstantOp,
              g::ConvOp, g::ConvBackwardDataOp, g::ConvBackwardFilterOp,
              g::AllReduceOp, g::GemmReluGradOp, g::GemmBiasGradOp,
              g::EmbeddingGradOp>(
            [](Operation *op) { return op->getResult(0); })
        .Case([&](g::GemmOp op) -> Value {
          // The library call adds a bias of 1, N or M x N elements; any other
          // broadcast (a column, [M, 1]) is materialized first.
          Value c = op.getC();
          if (c) {
            auto ct = cast<RankedTensorType>(c.getType());
            auto rt = cast<RankedTensorType>(op.getResult().getType());
            int64_t n = ct.getNumElements();
            bool row = ct.getRank() <= 1 || ct.getDimSize(0) == 1;
            if (!(n == 1 || (row && n == rt.getDimSize(1)) ||
                  n == rt.getNumElements())) {
              Value full = kernel(b, op.getLoc(), rt.getShape(), {},
                                  {broadcastOperand(c, rt.getShape())},
                                  rt.getElementType(), Reduce::None,
                                  [](Scalar &, ValueRange a) { return a[0]; });
              op.getCMutable().assign(full);
            }
          }
          return op.getResult();
        })
        // Elementwise.
        .Case([&](g::AddOp op) {
          return binary(
              b, op, [](Scalar &s, Value x, Value y) { return s.add(x, y); });
        })
        .Case([&](g::SubOp op) {
          return binary(
              b, op, [](Scalar &s, Value x, Value y) { return s.sub(x, y); });
        })
        .Case([&](g::MulOp op) {
          return binary(
              b, op, [](Scalar &s, Value x, Value y) { return s.mul(x, y); });
        })
        .Case([&](g::DivOp op) {
          return binary(
              b, op, [](Scalar &s, Value x, Value y) { return s.div(x, y); });
        })
        .Case([&](g::MaxOp op) {
          return binary(
              b, op, [](Scalar &s, Value x, Value y) { return s.max(x, y); });
        })
        .Case([&](g::MinOp op) {
          return binary(
              b, op, [](Scalar &s, Value x, Value y) { return s.min(x, y); });
        })
        .Case([&](g::FmodOp op) {
          return binary(
              b, op, [](Scalar &s, Value x, Value y) { return s.rem(x, y); });
        })
        .Case([&](g::ModOp op) {
          // C's remainder, moved by the divisor where the signs differ.
          return binary(b, op, [](Scalar &s, Value x, Value y) {
            using FP = arith::CmpFPredicate;
            using IP = arith::CmpIPredicate;
            Value r = s.rem(x, y), zero = s.c(x.getType(), 0);
            Value nonzero = s.cmp(FP::ONE, IP::ne, r, zero);
            Value rNegative = s.cmp(FP::OLT, IP::slt, r, zero);
            Value yNegative = s.cmp(FP::OLT, IP::slt, y, zero);
            Value differ =
                s.b.create<arith::XOrIOp>(s.loc, rNegative, yNegative);
            Value moved = s.b.create<arith::AndIOp>(s.loc, nonzero, differ);
            return s.select(moved, s.add(r, y), r);
          });
        })
        .Case([&](g::PowOp op) {
          return binary(b, op, [](Scalar &s, Value x, Value y) {
            return isFloat(x.getType())
                       ? s.b.create<math::PowFOp>(s.loc, x, y).getResult()
                       : s.b.create<math::IPowIOp>(s.loc, x, y).getResult();
          });
        })
        .Case([&](g::AndOp op) {
          return binary(b, op, [](Scalar &s, Value x, Value y) {
            return s.b.create<arith::AndIOp>(s.loc, x, y).getResult();
          });
        })
        .Case([&](g::OrOp op) {
          return binary(b, op, [](Scalar &s, Value x, Value y) {
            return s.b.create<arith::OrIOp>(s.loc, x, y).getResult();
          });
        })
        .Case([&](g::XorOp op) {
          return binary(b, op, [](Scalar &s, Value x, Value y) {
            return s.b.create<arith::XOrIOp>(s.loc, x, y).getResult();
          });
        })
        .Case([&](g::EqualOp op) { return compare(b, op, P::OEQ, I::eq); })
        .Case([&](g::LessOp op) { return compare(b, op, P::OLT, I::slt); })
        .Case([&](g::LessEqualOp op) { return compare(b, op, P::OLE, I::sle); })
        .Case([&](g::GreaterOp op) { return compare(b, op, P::OGT, I::sgt); })
        .Case([&](g::GreaterEqualOp op) {
          return compare(b, op, P::OGE, I::sge);
        })
        .Case([&](g::WhereOp op) {
          return elementwise(b, op, op->getOperands(),
                             [](Scalar &s, ValueRange a) {
                               return s.select(a[0], a[1], a[2]);
                             });
        })
        .Case([&](g::NegOp op) {
          return unary(b, op, [](Scalar &s, Value x) {
            return isFloat(x.getType())
                       ? s.b.create<arith::NegFOp>(s.loc, x).getResult()
                       : s.sub(s.c(x.getType(), 0), x);
          });
        })
        .Case([&](g::AbsOp op) {
          return unary(b, op, [](Scalar &s, Value x) {
            return isFloat(x.getType())
                       ? s.b.create<math::AbsFOp>(s.loc, x).getResult()
                       : s.b.create<math::AbsIOp>(s.loc, x).getResult();
          });
        })
        .Case([&](g::ReluOp op) {
          return unary(b, op, [](Scalar &s, Value x) {
            return s.max(x, s.c(x.getType(), 0));
          });
        })
        .Case([&](g::SqrtOp op) {
          return unary(b, op, [](Scalar &s, Value x) { return s.sqrt(x); });
        })
        .Case([&](g::ReciprocalOp op) {
          return unary(b, op, [](Scalar &s, Value x) {
            return s.div(s.c(x.getType(), 1), x);
          });
        })
        .Case([&](g::ExpOp op) {
          return unary(b, op, [](Scalar &s, Value x) { return s.exp(x); });
        })
        .Case([&](g::LogOp op) { return mathUnary<math::LogOp>(b, op); })
        .Case([&](g::ErfOp op) { return mathUnary<math::ErfOp>(b, op); })
        .Case([&](g::SinOp op) { return mathUnary<math::SinOp>(b, op); })
        .Case([&](g::CosOp op) { return mathUnary<math::CosOp>(b, op); })
        .Case([&](g::TanOp op) { return mathUnary<math::TanOp>(b, op); })
        .Case([&](g::AsinOp op) { return mathUnary<math::AsinOp>(b, op); })
        .Case([&](g::AcosOp op) { return mathUnary<math::AcosOp>(b, op); })
        .Case([&](g::AtanOp op) { return mathUnary<math::AtanOp>(b, op); })
        .Case([&](g::SinhOp op) { return mathUnary<math::SinhOp>(b, op); })
        .Case([&](g::CoshOp op) { return mathUnary<math::CoshOp>(b, op); })
        .Case([&](g::AsinhOp op) { return mathUnary<math::AsinhOp>(b, op); })
        .Case([&](g::AcoshOp op) { return mathUnary<math::AcoshOp>(b, op); })
        .Case([&](g::AtanhOp op) { return mathUnary<math::AtanhOp>(b, op); })
        .Case([&](g::CeilOp op) { return mathUnary<math::CeilOp>(b, op); })
        .Case([&](g::FloorOp op) { return mathUnary<math::FloorOp>(b, op); })
        .Case(
            [&](g::RoundOp op) { return mathUnary<math::RoundEvenOp>(b, op); })
        .Case([&](g::TanhOp op) { return mathUnary<math::TanhOp>(b, op); })
        .Case([&](g::SigmoidOp op) {
          return unary(b, op, [](Scalar &s, Value x) {
            Type t = x.getType();
            return s.div(s.c(t, 1),
                         s.add(s.c(t, 1), s.exp(s.sub(s.c(t, 0), x))));
          });
        })
        .Case([&](g::HardSigmoidOp op) {
          double alpha = op.getAlpha().convertToDouble(),
                 beta = op.getBeta().convertToDouble();
          return unary(b, op, [&](Scalar &s, Value x) {
            Type t = x.getType();
            return s.max(
                s.c(t, 0),
                s.min(s.c(t, 1), s.add(s.mul(x, s.c(t, alpha)), s.c(t, beta))));
          });
        })
        .Case([&](g::HardSwishOp op) {
          return unary(b, op, [](Scalar &s, Value x) {
            Type t = x.getType();
            Value gate = s.max(s.c(t, 0),
                               s.min(s.c(t, 1), s.add(s.mul(x, s.c(t, 1.0 / 6)),
                                                      s.c(t, 0.5))));
            return s.mul(x, gate);
          });
        })
        .Case([&](g::LeakyReluOp op) {
          double alpha = op.getAlpha().convertToDouble();
          return unary(b, op, [&](Scalar &s, Value x) {
            Type t = x.getType();
            Value neg = s.cmp(P::OLT, I::slt, x, s.c(t, 0));
            return s.select(neg, s.mul(x, s.c(t, alpha)), x);
          });
        })
        .Case([&](g::GeluOp op) {
          bool tanh = op.getApproximate() == "tanh";
          return unary(b, op, [&](Scalar &s, Value x) {
            Type t = x.getType();
            Value inner;
            if (tanh) {
              Value cube = s.mul(s.mul(x, x), x);
              Value arg = s.mul(s.c(t, std::sqrt(2.0 / M_PI)),
                                s.add(x, s.mul(s.c(t, 0.044715), cube)));
              inner = s.b.create<math::TanhOp>(s.loc, arg);
            } else {
              inner =
                  s.b.create<math::ErfOp>(s.loc, s.mul(x, s.c(t, M_SQRT1_2)));
            }
            return s.mul(s.mul(s.c(t, 0.5), x), s.add(s.c(t, 1), inner));
          });
        })
        .Case([&](g::ClipOp op) {
          auto lo = op.getMinAttr(), hi = op.getMaxAttr();
          return unary(b, op, [&](Scalar &s, Value x) {
            if (lo)
              x = s.max(x, s.c(x.getType(), lo.getValueAsDouble()));
            if (hi)
              x = s.min(x, s.c(x.getType(), hi.getValueAsDouble()));
            return x;
          });
        })
        .Case([&](g::IsNanOp op) {
          return unary(b, op, [](Scalar &s, Value x) {
            return s.cmp(P::UNO, I::ne, x, x);
          });
        })
        .Case([&](g::NotOp op) {
          return unary(b, op, [](Scalar &s, Value x) {
            return s.b.create<arith::XOrIOp>(s.loc, x, s.c(x.getType(), 1))
                .getResult();
          });
        })
        .Case([&](g::CastOp op) {
          Type to = op.getTo();
          return unary(b, op,
                       [&](Scalar &s, Value x) { return s.cast(x, to); });
        })
        .Case([&](g::DropoutOp op) -> Value {
          if (inference)
            return op.getInput();
          return op.emitOpError("training-mode dropout is not lowered yet"),
                 Value();
        })
        .Case([&](g::DropoutTrainOp op) { return dropoutTrain(b, op); })
        .Case([&](g::RandomUniformOp op) {
          return randomUniform(b, op, randomPositions_.lookup(op));
        })
        // Data movement.
        .Case([&](g::TransposeOp op) {
          ArrayRef<int64_t> perm = op.getPerm();
          SmallVector<AffineExpr> exprs(perm.size());
          for (size_t i = 0; i < perm.size(); ++i)
            exprs[perm[i]] = getAffineDimExpr(i, ctx);
          return gatherCopy(b, op, op.getInput(),
                            AffineMap::get(perm.size(), 0, exprs, ctx));
        })
        .Case([&](g::BroadcastToOp op) {
          return gatherCopy(b, op, op.getInput(),
                            broadcastMap(ctx,
                                         op.getInput().getType().getShape(),
                                         op.getShape()));
        })
        .Case([&](g::SliceOp op) {
          // A strided view, then a copy: the code generator folds the view's
          // offsets and strides into the copy's loads.
          auto type = cast<RankedTensorType>(op.getResult().getType());
          Value view = b.create<tensor::ExtractSliceOp>(
              op.getLoc(), type, op.getInput(), ValueRange{}, ValueRange{},
              ValueRange{}, op.getStarts(), op.getSizes(), op.getStrides());
          return gatherCopy(
              b, op, view,
              AffineMap::getMultiDimIdentityMap(type.getRank(), ctx));
        })
        .Case([&](g::GatherOp op) { return gather(b, op); })
        .Case([&](g::TriluOp op) { return trilu(b, op); })
        .Case([&](g::ConcatOp op) { return concat(b, op); })
        .Case([&](g::GatherElementsOp op) { return gatherElements(b, op); })
        .Case([&](g::GatherNdOp op) { return gatherNd(b, op); })
        .Case([&](g::CumSumOp op) { return cumsum(b, op); })
        .Case([&](g::MaxPoolOp op) { return pool(b, op, true, false); })
        .Case([&](g::PoolGradOp op) { return poolGrad(b, op); })
        .Case([&](g::AvgPoolOp op) {
          return pool(b, op, false, op.getCountIncludePad());
        })
        // Reductions and normalizations.
        .Case([&](g::ReduceSumOp op) {
          return reduction(b, op.getLoc(), op.getInput(), op.getAxes(),
                           Reduce::Sum, op.getKeepdims(), false);
        })
        .Case([&](g::ReduceMeanOp op) {
          return reduction(b, op.getLoc(), op.getInput(), op.getAxes(),
                           Reduce::Sum, op.getKeepdims(), true);
        })
        .Case([&](g::ReduceMaxOp op) {
          return reduction(b, op.getLoc(), op.getInput(), op.getAxes(),
                           Reduce::Max, op.getKeepdims(), false);
        })
        .Case([&](g::ReduceMinOp op) {
          return reduction(b, op.getLoc(), op.getInput(), op.getAxes(),
                           Reduce::Min, op.getKeepdims(), false);
        })
        .Case([&](g::ReduceProdOp op) {
          return reduction(b, op.getLoc(), op.getInput(), op.getAxes(),
                           Reduce::Prod, op.getKeepdims(), false);
        })
        .Case([&](g::SoftmaxOp op) {
          auto t = cast<RankedTensorType>(op.getInput().getType());
          return softmax(b, op.getLoc(), op.getInput(),
                         normalizedAxis(op.getAxis(), t.getRank()), false);
        })
        .Case([&](g::LogSoftmaxOp op) {
          auto t = cast<RankedTensorType>(op.getInput().getType());
          return softmax(b, op.getLoc(), op.getInput(),
                         normalizedAxis(op.getAxis(), t.getRank()), true);
        })
        .Case([&](g::LayerNormOp op) { return layerNorm(b, op); })
        .Case([&](g::BatchNormOp op) { return batchNorm(b, op); })
        .Default([&](Operation *op) {
          op->emitOpError("has no lowering to kernels yet");
          return Value();
        });
  }

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    // The streams of random draws with no seed of their own, in order.
    randomPositions_.clear();
    func.walk([&](g::RandomUniformOp op) {
      if (!op.getStepSeed() && !op.getSeed())
        randomPositions_[op] = int64_t(randomPositions_.size());
    });
    // 1. Lower each kiln op in order, replacing its result; ops the code
    //    generator takes directly stay.
    SmallVector<Operation *> ops;
    func.walk([&](Operation *op) {
      // (A kiln.row_kernel already groups kernels: what it holds lowers.)
      if (isa<graph::KilnDialect>(op->getDialect()) &&
          !isa<g::RowKernelOp, g::YieldOp>(op))
        ops.push_back(op);
    });
    bool failed = false;
    for (Operation *op : ops) {
      // Kernels have fixed sizes: every shape must be known by now.
      for (Type t : op->getResultTypes()) {
        auto shaped = dyn_cast<ShapedType>(t);
        if (shaped && !shaped.hasStaticShape()) {
          op->emitOpError() << "result type " << t
                            << " has a dynamic size; lowering to kernels needs "
                               "static shapes (run kiln-shape-infer)";
          failed = true;
        }
      }
      if (failed)
        continue;
      OpBuilder b(op);
      if (auto bn = dyn_cast<g::BatchNormTrainOp>(op)) {
        op->replaceAllUsesWith(batchNormTrain(b, bn));
        op->erase();
        continue;
      }
      Value replacement = lower(b, op);
      if (!replacement) {
        failed = true;
        continue;
      }
      if (replacement != op->getResult(0)) {
        op->getResult(0).replaceAllUsesWith(replacement);
        op->erase();
      }
    }
    if (failed)
      signalPassFailure();
  }
};

} // namespace
} // namespace kiln::lowering
