//===- GraphOps.cpp - shape rules and folders of kiln graph ops -----------===//
//
// Each op's `inferResultType` is the ONNX spec's shape rule for it. The
// verifier, InferTypeOpInterface and kiln-shape-infer all call these.
//
//===----------------------------------------------------------------------===//
#include "ir/graph/GraphOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"

#include <cstdio>

using namespace mlir;

namespace kiln::graph {
namespace {

/// The type of `value` as a ranked tensor; fails with a message naming the
/// operand otherwise (builders may hand inference any type).
FailureOr<RankedTensorType> rankedOperand(Value value, StringRef name,
                                          ErrorFn emitError) {
  if (auto type = dyn_cast<RankedTensorType>(value.getType()))
    return type;
  emitError() << name << " must be a ranked tensor, got " << value.getType();
  return failure();
}

LogicalResult checkSameElementType(RankedTensorType a, StringRef aName,
                                   RankedTensorType b, StringRef bName,
                                   ErrorFn emitError) {
  if (a.getElementType() == b.getElementType())
    return success();
  emitError() << "operands must have the same element type, but " << aName
              << " is " << a.getElementType() << " and " << bName << " is "
              << b.getElementType();
  return failure();
}

/// Shared rule of the numpy-broadcasting binary ops.
template <typename Adaptor>
FailureOr<Type> inferBroadcastBinary(Adaptor adaptor, ErrorFn emitError) {
  auto lhs = rankedOperand(adaptor.getLhs(), "lhs", emitError);
  auto rhs = rankedOperand(adaptor.getRhs(), "rhs", emitError);
  if (failed(lhs) || failed(rhs) ||
      failed(checkSameElementType(*lhs, "lhs", *rhs, "rhs", emitError)))
    return failure();
  auto shape = broadcastShapes(lhs->getShape(), rhs->getShape(), emitError);
  if (failed(shape))
    return failure();
  return Type(RankedTensorType::get(*shape, lhs->getElementType()));
}

/// Shared rule of the comparisons: broadcast, then i1 elements.
template <typename Adaptor>
FailureOr<Type> inferCompare(Adaptor adaptor, ErrorFn emitError) {
  FailureOr<Type> type = inferBroadcastBinary(adaptor, emitError);
  if (failed(type))
    return failure();
  return Type(cast<RankedTensorType>(*type).clone(
      IntegerType::get(type->getContext(), 1)));
}

/// Shared rule of ops whose result has their input's type.
template <typename Adaptor>
FailureOr<Type> inferSameAsInput(Adaptor adaptor, ErrorFn emitError) {
  auto input = rankedOperand(adaptor.getInput(), "input", emitError);
  if (failed(input))
    return failure();
  return Type(*input);
}

/// Shared rule of ops that take one axis of their input.
template <typename Adaptor>
FailureOr<Type> inferAlongAxis(Adaptor adaptor, ErrorFn emitError) {
  auto input = rankedOperand(adaptor.getInput(), "input", emitError);
  if (failed(input))
    return failure();
  int64_t rank = input->getRank();
  int64_t axis = adaptor.getAxis();
  if (!normalizeAxis(axis, rank)) {
    auto diag = emitError();
    diag << "axis " << axis << " is out of range for an input of rank " << rank;
    if (rank > 0)
      diag << " (expected " << -rank << " to " << rank - 1 << ")";
    return failure();
  }
  return Type(*input);
}

/// A number as a person writes it: 6, 0.25, 1e-05.
std::string formatNumber(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", value);
  return buffer;
}

/// Whether two contracted sizes can be equal (equal, or either unknown).
bool sizesMayMatch(int64_t a, int64_t b) {
  return a == b || ShapedType::isDynamic(a) || ShapedType::isDynamic(b);
}

} // namespace

namespace {

/// The type of a constant-like op's value, which must be a static tensor.
FailureOr<Type> staticValueType(ElementsAttr value, ErrorFn emitError) {
  if (!value) {
    emitError() << "requires a 'value' attribute";
    return failure();
  }
  auto type = dyn_cast<RankedTensorType>(value.getType());
  if (!type || !type.hasStaticShape()) {
    emitError() << "value must be a statically shaped tensor, got "
                << value.getType();
    return failure();
  }
  return Type(type);
}

/// Checks that `values` has one entry per dimension it describes.
LogicalResult checkLength(ArrayRef<int64_t> values, size_t expected,
                          StringRef name, StringRef what, ErrorFn emitError) {
  if (values.size() == expected)
    return success();
  emitError() << name << " has " << values.size() << " entries but " << what
              << " needs " << expected;
  return failure();
}

/// Checks that every entry of `values` is at least `min`.
LogicalResult checkAtLeast(ArrayRef<int64_t> values, int64_t min,
                           StringRef name, ErrorFn emitError) {
  for (auto [i, v] : llvm::enumerate(values)) {
    if (v < min) {
      emitError() << name << "[" << i << "] is " << v
                  << " but must be at least " << min;
      return failure();
    }
  }
  return success();
}

/// Checks that `shape` broadcasts to `target` unidirectionally (numpy rules,
/// only `shape` stretching).
LogicalResult checkBroadcastsTo(ArrayRef<int64_t> shape,
                                ArrayRef<int64_t> target, StringRef name,
                                ErrorFn emitError) {
  bool ok = shape.size() <= target.size();
  for (size_t i = 0; ok && i < shape.size(); ++i) {
    int64_t size = shape[shape.size() - 1 - i];
    ok = size == 1 || sizesMayMatch(size, target[target.size() - 1 - i]);
  }
  if (ok)
    return success();
  emitError() << name << " of shape " << formatShape(shape)
              << " does not broadcast to " << formatShape(target);
  return failure();
}

/// The element count of a static shape; std::nullopt if any size is `?`.
std::optional<int64_t> elementCount(ArrayRef<int64_t> shape) {
  int64_t count = 1;
  for (int64_t size : shape) {
    if (ShapedType::isDynamic(size))
      return std::nullopt;
    count *= size;
  }
  return count;
}

/// Output size of a sliding window (convolution or pooling) along one axis.
/// Fails, with a message, when no window fits.
FailureOr<int64_t> windowOutputSize(int64_t size, int64_t kernel,
                                    int64_t stride, int64_t padBegin,
                                    int64_t padEnd, int64_t dilation,
                                    bool ceilMode, int64_t axis,
                                    ErrorFn emitError) {
  if (ShapedType::isDynamic(size) || ShapedType::isDynamic(kernel))
    return ShapedType::kDynamic;
  int64_t span = size + padBegin + padEnd - dilation * (kernel - 1) - 1;
  if (span < 0) {
    emitError() << "spatial dimension " << axis << " of size " << size
                << " (padded " << size + padBegin + padEnd
                << ") is smaller than the window (" << kernel
                << " with dilation " << dilation << ")";
    return failure();
  }
  int64_t out = (ceilMode ? llvm::divideCeil(span, stride) : span / stride) + 1;
  // A last window that would start in the end padding is dropped.
  if (ceilMode && (out - 1) * stride >= size + padBegin)
    --out;
  return out;
}

} // namespace

//===----------------------------------------------------------------------===//
// Constants and initializers
//===----------------------------------------------------------------------===//

FailureOr<Type> ConstantOp::inferResultType(Adaptor adaptor,
                                            ErrorFn emitError) {
  return staticValueType(adaptor.getValueAttr(), emitError);
}

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValueAttr(); }

FailureOr<Type> InitializerOp::inferResultType(Adaptor adaptor,
                                               ErrorFn emitError) {
  if (adaptor.getName().empty()) {
    emitError() << "requires a non-empty name";
    return failure();
  }
  return staticValueType(adaptor.getValueAttr(), emitError);
}

//===----------------------------------------------------------------------===//
// Elementwise ops
//===----------------------------------------------------------------------===//

#define KILN_INFER_WITH(Op, rule)                                              \
  FailureOr<Type> Op::inferResultType(Adaptor a, ErrorFn e) {                  \
    return rule(a, e);                                                         \
  }
KILN_INFER_WITH(AddOp, inferBroadcastBinary)
KILN_INFER_WITH(SubOp, inferBroadcastBinary)
KILN_INFER_WITH(MulOp, inferBroadcastBinary)
KILN_INFER_WITH(DivOp, inferBroadcastBinary)
KILN_INFER_WITH(PowOp, inferBroadcastBinary)
KILN_INFER_WITH(ModOp, inferBroadcastBinary)
KILN_INFER_WITH(FmodOp, inferBroadcastBinary)
KILN_INFER_WITH(MaxOp, inferBroadcastBinary)
KILN_INFER_WITH(MinOp, inferBroadcastBinary)
KILN_INFER_WITH(AndOp, inferBroadcastBinary)
KILN_INFER_WITH(OrOp, inferBroadcastBinary)
KILN_INFER_WITH(XorOp, inferBroadcastBinary)
KILN_INFER_WITH(EqualOp, inferCompare)
KILN_INFER_WITH(LessOp, inferCompare)
KILN_INFER_WITH(LessEqualOp, inferCompare)
KILN_INFER_WITH(GreaterOp, inferCompare)
KILN_INFER_WITH(GreaterEqualOp, inferCompare)
KILN_INFER_WITH(NegOp, inferSameAsInput)
KILN_INFER_WITH(AbsOp, inferSameAsInput)
KILN_INFER_WITH(ReluOp, inferSameAsInput)
KILN_INFER_WITH(SqrtOp, inferSameAsInput)
KILN_INFER_WITH(ReciprocalOp, inferSameAsInput)
KILN_INFER_WITH(ExpOp, inferSameAsInput)
KILN_INFER_WITH(LogOp, inferSameAsInput)
KILN_INFER_WITH(ErfOp, inferSameAsInput)
KILN_INFER_WITH(TanhOp, inferSameAsInput)
KILN_INFER_WITH(SinOp, inferSameAsInput)
KILN_INFER_WITH(CosOp, inferSameAsInput)
KILN_INFER_WITH(TanOp, inferSameAsInput)
KILN_INFER_WITH(AsinOp, inferSameAsInput)
KILN_INFER_WITH(AcosOp, inferSameAsInput)
KILN_INFER_WITH(AtanOp, inferSameAsInput)
KILN_INFER_WITH(SinhOp, inferSameAsInput)
KILN_INFER_WITH(CoshOp, inferSameAsInput)
KILN_INFER_WITH(AsinhOp, inferSameAsInput)
KILN_INFER_WITH(AcoshOp, inferSameAsInput)
KILN_INFER_WITH(AtanhOp, inferSameAsInput)
KILN_INFER_WITH(CeilOp, inferSameAsInput)
KILN_INFER_WITH(FloorOp, inferSameAsInput)
KILN_INFER_WITH(RoundOp, inferSameAsInput)
KILN_INFER_WITH(SigmoidOp, inferSameAsInput)
KILN_INFER_WITH(HardSwishOp, inferSameAsInput)
KILN_INFER_WITH(NotOp, inferSameAsInput)
KILN_INFER_WITH(LeakyReluOp, inferSameAsInput)
KILN_INFER_WITH(HardSigmoidOp, inferSameAsInput)
KILN_INFER_WITH(SoftmaxOp, inferAlongAxis)
KILN_INFER_WITH(LogSoftmaxOp, inferAlongAxis)
#undef KILN_INFER_WITH

FailureOr<Type> WhereOp::inferResultType(Adaptor adaptor, ErrorFn emitError) {
  auto cond = rankedOperand(adaptor.getCondition(), "condition", emitError);
  auto lhs = rankedOperand(adaptor.getLhs(), "lhs", emitError);
  auto rhs = rankedOperand(adaptor.getRhs(), "rhs", emitError);
  if (failed(cond) || failed(lhs) || failed(rhs) ||
      failed(checkSameElementType(*lhs, "lhs", *rhs, "rhs", emitError)))
    return failure();
  auto values = broadcastShapes(lhs->getShape(), rhs->getShape(), emitError);
  if (failed(values))
    return failure();
  auto shape = broadcastShapes(cond->getShape(), *values, emitError,
                               "condition", "values");
  if (failed(shape))
    return failure();
  return Type(RankedTensorType::get(*shape, lhs->getElementType()));
}

FailureOr<Type> IsNanOp::inferResultType(Adaptor adaptor, ErrorFn emitError) {
  auto input = rankedOperand(adaptor.getInput(), "input", emitError);
  if (failed(input))
    return failure();
  return Type(input->clone(IntegerType::get(input->getContext(), 1)));
}

FailureOr<Type> GeluOp::inferResultType(Adaptor adaptor, ErrorFn emitError) {
  StringRef approximate = adaptor.getApproximate();
  if (approximate != "none" && approximate != "tanh") {
    emitError() << "approximate must be \"none\" or \"tanh\", got \""
                << approximate << "\"";
    return failure();
  }
  return inferSameAsInput(adaptor, emitError);
}

FailureOr<Type> ClipOp::inferResultType(Adaptor adaptor, ErrorFn emitError) {
  FloatAttr min = adaptor.getMinAttr(), max = adaptor.getMaxAttr();
  if (min && max && min.getValueAsDouble() > max.getValueAsDouble()) {
    emitError() << "min (" << formatNumber(min.getValueAsDouble())
                << ") is greater than max ("
                << formatNumber(max.getValueAsDouble()) << ")";
    return failure();
  }
  return inferSameAsInput(adaptor, emitError);
}

FailureOr<Type> CastOp::inferResultType(Adaptor adaptor, ErrorFn emitError) {
  auto input = rankedOperand(adaptor.getInput(), "input", emitError);
  if (failed(input))
    return failure();
  Type to = adaptor.getTo();
  if (!to.isF16() && !to.isBF16() && !to.isF32() && !to.isF64() &&
      !to.isSignlessInteger(1) && !to.isSignlessInteger(8) &&
      !to.isSignlessInteger(32) && !to.isSignlessInteger(64)) {
    emitError() << "cannot cast to " << to
                << ": not an element type kiln supports";
    return failure();
  }
  return Type(input->clone(to));
}

FailureOr<Type> RandomUniformOp::inferResultType(Adaptor adaptor,
                                                 ErrorFn emitError) {
  ArrayRef<int64_t> shape = adaptor.getShape();
  if (failed(checkAtLeast(shape, 0, "shape", emitError)))
    return failure();
  Type dtype = adaptor.getDtype();
  if (!dtype.isF16() && !dtype.isBF16() && !dtype.isF32() && !dtype.isF64()) {
    emitError() << "dtype must be a float type, got " << dtype;
    return failure();
  }
  if (Value seed = adaptor.getStepSeed();
      seed && cast<ShapedType>(seed.getType()).getRank() != 0) {
    emitError() << "step_seed must be a scalar, got " << seed.getType();
    return failure();
  }
  if (!(adaptor.getLow().convertToDouble() < adaptor.getHigh().convertToDouble())) {
    emitError() << "low (" << formatNumber(adaptor.getLow().convertToDouble())
                << ") must be below high ("
                << formatNumber(adaptor.getHigh().convertToDouble()) << ")";
    return failure();
  }
  return Type(RankedTensorType::get(shape, dtype));
}

FailureOr<Type> DropoutTrainOp::inferResultType(Adaptor adaptor,
                                                ErrorFn emitError) {
  double ratio = adaptor.getRatio().convertToDouble();
  if (!(ratio >= 0.0 && ratio < 1.0)) {
    emitError() << "ratio must be in [0, 1), got " << formatNumber(ratio);
    return failure();
  }
  auto seed = dyn_cast<RankedTensorType>(adaptor.getSeed().getType());
  if (!seed || seed.getRank() != 0) {
    emitError() << "seed must be a rank-0 i64 tensor, got "
                << adaptor.getSeed().getType();
    return failure();
  }
  auto input = rankedOperand(adaptor.getInput(), "input", emitError);
  if (failed(input))
    return failure();
  return Type(*input);
}

FailureOr<Type> DropoutOp::inferResultType(Adaptor adaptor, ErrorFn emitError) {
  double ratio = adaptor.getRatio().convertToDouble();
  if (!(ratio >= 0.0 && ratio < 1.0)) {
    emitError() << "ratio must be in [0, 1), got " << formatNumber(ratio);
    return failure();
  }
  return inferSameAsInput(adaptor, emitError);
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

FailureOr<Type> ReshapeOp::inferResultType(Adaptor adaptor, ErrorFn emitError) {
  auto input = rankedOperand(adaptor.getInput(), "input", emitError);
  if (failed(input))
    return failure();
  ArrayRef<int64_t> shape = adaptor.getShape();
  if (failed(checkAtLeast(shape, 0, "shape", emitError)))
    return failure();
  std::optional<int64_t> in = elementCount(input->getShape());
  int64_t out = *elementCount(shape);
  if (in && *in != out) {
    emitError() << "shape " << formatShape(shape) << " has " << out
                << " elements but the input " << formatShape(input->getShape())
                << " has " << *in;
    return failure();
  }
  return Type(input->clone(shape));
}

FailureOr<Type> TransposeOp::inferResultType(Adaptor adaptor,
                                             ErrorFn emitError) {
  auto input = rankedOperand(adaptor.getInput(), "input", emitError);
  if (failed(input))
    return failure();
  ArrayRef<int64_t> perm = adaptor.getPerm();
  int64_t rank = input->getRank();
  SmallVector<bool> seen(rank, false);
  bool ok = static_cast<int64_t>(perm.size()) == rank;
  for (int64_t p : perm) {
    ok = ok && p >= 0 && p < rank && !seen[p];
    if (ok)
      seen[p] = true;
  }
  if (!ok) {
    emitError() << "perm [" << perm << "] is not a permutation of the " << rank
                << " dimensions of the input";
    return failure();
  }
  SmallVector<int64_t> shape;
  for (int64_t p : perm)
    shape.push_back(input->getDimSize(p));
  return Type(input->clone(shape));
}

FailureOr<Type> BroadcastToOp::inferResultType(Adaptor adaptor,
                                               ErrorFn emitError) {
  auto input = rankedOperand(adaptor.getInput(), "input", emitError);
  if (failed(input))
    return failure();
  ArrayRef<int64_t> shape = adaptor.getShape();
  if (failed(checkAtLeast(shape, 0, "shape", emitError)) ||
      failed(
          checkBroadcastsTo(input->getShape(), shape, "the input", emitError)))
    return failure();
  return Type(input->clone(shape));
}

FailureOr<Type> SliceOp::inferResultType(Adaptor adaptor, ErrorFn emitError) {
  auto input = rankedOperand(adaptor.getInput(), "input", emitError);
  if (failed(input))
    return failure();
  ArrayRef<int64_t> starts = adaptor.getStarts(), sizes = adaptor.getSizes(),
                    strides = adaptor.getStrides();
  size_t rank = input->getRank();
  if (failed(
          checkLength(starts, rank, "starts", "the input's rank", emitError)) ||
      failed(
          checkLength(sizes, rank, "sizes", "the input's rank", emitError)) ||
      failed(checkLength(strides, rank, "strides", "the input's rank",
                         emitError)) ||
      failed(checkAtLeast(sizes, 0, "sizes", emitError)))
    return failure();
  for (size_t d = 0; d < rank; ++d) {
    if (strides[d] == 0) {
      emitError() << "strides[" << d << "] is 0";
      return failure();
    }
    int64_t dim = input->getDimSize(d);
    if (sizes[d] == 0 || ShapedType::isDynamic(dim))
      continue;
    int64_t last = starts[d] + (sizes[d] - 1) * strides[d];
    if (starts[d] < 0 || starts[d] >= dim || last < 0 || last >= dim) {
      emitError() << "dimension " << d << " reads indices " << starts[d]
                  << " to " << last << " (stride " << strides[d]
                  << ") outside the input's size " << dim;
      return failure();
    }
  }
  return Type(input->clone(sizes));
}

FailureOr<Type> ConcatOp::inferResultType(Adaptor adaptor, ErrorFn emitError) {
  ValueRange inputs = adaptor.getInputs();
  if (inputs.empty()) {
    emitError() << "needs at least one input";
    return failure();
  }
  auto first = rankedOperand(inputs[0], "input 0", emitError);
  if (failed(first))
    return failure();
  int64_t rank = first->getRank(), axis = adaptor.getAxis();
  if (axis < 0 || axis >= rank) {
    emitError() << "axis " << axis << " is out of range for inputs of rank "
                << rank;
    return failure();
  }
  SmallVector<int64_t> shape(first->getShape());
  for (auto [i, value] : llvm::enumerate(inputs.drop_front())) {
    std::string name = "input " + std::to_string(i + 1);
    auto type = rankedOperand(value, name, emitError);
    if (failed(type) ||
        failed(checkSameElementType(*first, "input 0", *type, name, emitError)))
      return failure();
    if (type->getRank() != rank) {
      emitError() << name << " has rank " << type->getRank()
                  << " but input 0 has rank " << rank;
      return failure();
    }
    for (int64_t d = 0; d < rank; ++d) {
      int64_t size = type->getDimSize(d);
      if (d == axis) {
        shape[d] =
            ShapedType::isDynamic(shape[d]) || ShapedType::isDynamic(size)
                ? ShapedType::kDynamic
                : shape[d] + size;
      } else if (!sizesMayMatch(shape[d], size)) {
        emitError() << name << " dimension " << d << " is " << size
                    << " but input 0's is " << shape[d]
                    << " (only the axis dimension may differ)";
        return failure();
      } else if (ShapedType::isDynamic(shape[d])) {
        shape[d] = size;
      }
    }
  }
  return Type(first->clone(shape));
}

FailureOr<Type> GatherOp::inferResultType(Adaptor adaptor, ErrorFn emitError) {
  auto data = rankedOperand(adaptor.getData(), "data", emitError);
  auto indices = rankedOperand(adaptor.getIndices(), "indices", emitError);
  if (failed(data) || failed(indices))
    return failure();
  std::optional<int64_t> axis =
      normalizeAxis(adaptor.getAxis(), data->getRank());
  if (!axis) {
    emitError() << "axis " << adaptor.getAxis()
                << " is out of range for data of rank " << data->getRank();
    return failure();
  }
  SmallVector<int64_t> shape(data->getShape().take_front(*axis));
  llvm::append_range(shape, indices->getShape());
  llvm::append_range(shape, data->getShape().drop_front(*axis + 1));
  return Type(data->clone(shape));
}

FailureOr<Type> GatherElementsOp::inferResultType(Adaptor adaptor,
                                                  ErrorFn emitError) {
  auto data = rankedOperand(adaptor.getData(), "data", emitError);
  auto indices = rankedOperand(adaptor.getIndices(), "indices", emitError);
  if (failed(data) || failed(indices))
    return failure();
  if (data->getRank() != indices->getRank()) {
    emitError() << "indices have rank " << indices->getRank()
                << " but data has rank " << data->getRank();
    return failure();
  }
  if (!normalizeAxis(adaptor.getAxis(), data->getRank())) {
    emitError() << "axis " << adaptor.getAxis()
                << " is out of range for data of rank " << data->getRank();
    return failure();
  }
  return Type(data->clone(indices->getShape()));
}

FailureOr<Type> GatherNdOp::inferResultType(Adaptor adaptor,
                                            ErrorFn emitError) {
  auto data = rankedOperand(adaptor.getData(), "data", emitError);
  auto indices = rankedOperand(adaptor.getIndices(), "indices", emitError);
  if (failed(data) || failed(indices))
    return failure();
  int64_t batch = adaptor.getBatchDims();
  int64_t r = data->getRank(), q = indices->getRank();
  if (q < 1 || batch < 0 || batch >= std::min(r, q)) {
    emitError() << "batch_dims " << batch
                << " must be below the ranks of data (" << r
                << ") and indices (" << q << ")";
    return failure();
  }
  int64_t k = indices->getDimSize(q - 1);
  if (ShapedType::isDynamic(k)) {
    emitError() << "the last dimension of indices (the tuple length) must be "
                   "known";
    return failure();
  }
  if (k < 1 || batch + k > r) {
    emitError() << "index tuples of length " << k << " do not fit data of rank "
                << r << " after " << batch << " batch dimensions";
    return failure();
  }
  for (int64_t d = 0; d < batch; ++d) {
    if (!sizesMayMatch(data->getDimSize(d), indices->getDimSize(d))) {
      emitError() << "batch dimension " << d << " is " << data->getDimSize(d)
                  << " in data but " << indices->getDimSize(d) << " in indices";
      return failure();
    }
  }
  SmallVector<int64_t> shape(indices->getShape().drop_back());
  llvm::append_range(shape, data->getShape().drop_front(batch + k));
  return Type(data->clone(shape));
}

FailureOr<Type> CumSumOp::inferResultType(Adaptor adaptor, ErrorFn emitError) {
  auto input = rankedOperand(adaptor.getInput(), "input", emitError);
  if (failed(input))
    return failure();
  int64_t axis = adaptor.getAxis();
  if (axis < 0 || axis >= input->getRank()) {
    emitError() << "axis " << axis << " is out of range for an input of rank "
                << input->getRank();
    return failure();
  }
  return Type(*input);
}

FailureOr<Type> TriluOp::inferResultType(Adaptor adaptor, ErrorFn emitError) {
  auto input = rankedOperand(adaptor.getInput(), "input", emitError);
  if (failed(input))
    return failure();
  if (input->getRank() < 2) {
    emitError() << "input must have rank 2 or more, got rank "
                << input->getRank();
    return failure();
  }
  return Type(*input);
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

namespace {
template <typename Adaptor>
FailureOr<Type> inferReduce(Adaptor adaptor, ErrorFn emitError) {
  auto input = rankedOperand(adaptor.getInput(), "input", emitError);
  if (failed(input))
    return failure();
  ArrayRef<int64_t> axes = adaptor.getAxes();
  int64_t rank = input->getRank();
  for (auto [i, axis] : llvm::enumerate(axes)) {
    if (axis < 0 || axis >= rank || (i > 0 && axis <= axes[i - 1])) {
      emitError() << "axes [" << axes
                  << "] must be distinct, sorted and in [0, " << rank << ")";
      return failure();
    }
  }
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < rank; ++d) {
    if (!llvm::is_contained(axes, d))
      shape.push_back(input->getDimSize(d));
    else if (adaptor.getKeepdims())
      shape.push_back(1);
  }
  return Type(input->clone(shape));
}
} // namespace

FailureOr<Type> ReduceSumOp::inferResultType(Adaptor a, ErrorFn e) {
  return inferReduce(a, e);
}
FailureOr<Type> ReduceMeanOp::inferResultType(Adaptor a, ErrorFn e) {
  return inferReduce(a, e);
}
FailureOr<Type> ReduceMaxOp::inferResultType(Adaptor a, ErrorFn e) {
  return inferReduce(a, e);
}
FailureOr<Type> ReduceMinOp::inferResultType(Adaptor a, ErrorFn e) {
  return inferReduce(a, e);
}
FailureOr<Type> ReduceProdOp::inferResultType(Adaptor a, ErrorFn e) {
  return inferReduce(a, e);
}

//===----------------------------------------------------------------------===//
// MatMulOp
//===----------------------------------------------------------------------===//

FailureOr<Type> MatMulOp::inferResultType(Adaptor adaptor, ErrorFn emitError) {
  auto lhs = rankedOperand(adaptor.getLhs(), "lhs", emitError);
  auto rhs = rankedOperand(adaptor.getRhs(), "rhs", emitError);
  if (failed(lhs) || failed(rhs) ||
      failed(checkSameElementType(*lhs, "lhs", *rhs, "rhs", emitError)))
    return failure();
  if (lhs->getRank() == 0 || rhs->getRank() == 0) {
    emitError() << "operands must have rank 1 or more, got "
                << (lhs->getRank() == 0 ? "a scalar lhs" : "a scalar rhs");
    return failure();
  }
  // numpy.matmul: a 1-D lhs is [1, K], a 1-D rhs is [K, 1]; the added
  // dimension is dropped from the result. A transposed operand (trans_a,
  // trans_b) has its last two dimensions swapped first.
  SmallVector<int64_t> l(lhs->getShape()), r(rhs->getShape());
  for (auto [flag, shape, name] :
       {std::tuple(adaptor.getTransA(), &l, "trans_a"),
        std::tuple(adaptor.getTransB(), &r, "trans_b")}) {
    if (!flag)
      continue;
    if (shape->size() < 2) {
      emitError() << name << " needs an operand of rank 2 or more";
      return failure();
    }
    std::swap((*shape)[shape->size() - 1], (*shape)[shape->size() - 2]);
  }
  bool lhsVector = l.size() == 1, rhsVector = r.size() == 1;
  if (lhsVector)
    l.insert(l.begin(), 1);
  if (rhsVector)
    r.push_back(1);
  int64_t lk = l.back(), rk = r[r.size() - 2];
  if (!sizesMayMatch(lk, rk)) {
    emitError() << "contracting dimensions differ: lhs dimension "
                << lhs->getRank() - 1 << " is " << lk << " but rhs dimension "
                << (rhsVector ? 0 : rhs->getRank() - 2) << " is " << rk
                << " (shapes " << formatShape(lhs->getShape()) << " and "
                << formatShape(rhs->getShape()) << ")";
    return failure();
  }
  auto batch =
      broadcastShapes(ArrayRef(l).drop_back(2), ArrayRef(r).drop_back(2),
                      emitError, "lhs batch", "rhs batch");
  if (failed(batch))
    return failure();
  SmallVector<int64_t> shape = std::move(*batch);
  if (!lhsVector)
    shape.push_back(l[l.size() - 2]);
  if (!rhsVector)
    shape.push_back(r.back());
  return Type(RankedTensorType::get(shape, lhs->getElementType()));
}

//===----------------------------------------------------------------------===//
// GemmOp
//===----------------------------------------------------------------------===//

FailureOr<Type> GemmOp::inferResultType(Adaptor adaptor, ErrorFn emitError) {
  auto a = rankedOperand(adaptor.getA(), "a", emitError);
  auto b = rankedOperand(adaptor.getB(), "b", emitError);
  if (failed(a) || failed(b) ||
      failed(checkSameElementType(*a, "a", *b, "b", emitError)))
    return failure();
  for (auto [type, name] : {std::pair(*a, "a"), std::pair(*b, "b")}) {
    if (type.getRank() != 2) {
      emitError() << "operand " << name << " must have rank 2, got rank "
                  << type.getRank();
      return failure();
    }
  }
  bool transA = adaptor.getTransA(), transB = adaptor.getTransB();
  int64_t m = a->getDimSize(transA ? 1 : 0), ka = a->getDimSize(transA ? 0 : 1);
  int64_t kb = b->getDimSize(transB ? 1 : 0), n = b->getDimSize(transB ? 0 : 1);
  if (!sizesMayMatch(ka, kb)) {
    emitError() << "contracting dimensions differ: a dimension "
                << (transA ? 0 : 1) << " is " << ka << " but b dimension "
                << (transB ? 1 : 0) << " is " << kb << " (trans_a = " << transA
                << ", trans_b = " << transB << ")";
    return failure();
  }
  int64_t target[2] = {m, n};
  if (Value cValue = adaptor.getC()) {
    auto c = rankedOperand(cValue, "c", emitError);
    if (failed(c) || failed(checkSameElementType(*a, "a", *c, "c", emitError)))
      return failure();
    // Unidirectional broadcast of C to [M, N].
    if (failed(
            checkBroadcastsTo(c->getShape(), target, "operand c", emitError)))
      return failure();
  }
  return Type(RankedTensorType::get(target, a->getElementType()));
}

//===----------------------------------------------------------------------===//
// ConvOp and pooling
//===----------------------------------------------------------------------===//

namespace {
/// Checks the window attributes shared by convolution and pooling for
/// `spatial` spatial dimensions.
LogicalResult checkWindowAttrs(ArrayRef<int64_t> strides,
                               ArrayRef<int64_t> pads,
                               ArrayRef<int64_t> dilations, size_t spatial,
                               ErrorFn emitError) {
  std::string what = std::to_string(spatial) + " spatial dimensions";
  if (failed(checkLength(strides, spatial, "strides", what, emitError)) ||
      failed(checkLength(dilations, spatial, "dilations", what, emitError)) ||
      failed(checkLength(pads, 2 * spatial, "pads",
                         what + " (begins, then ends)", emitError)) ||
      failed(checkAtLeast(strides, 1, "strides", emitError)) ||
      failed(checkAtLeast(dilations, 1, "dilations", emitError)) ||
      failed(checkAtLeast(pads, 0, "pads", emitError)))
    return failure();
  return success();
}
} // namespace

/// The forward output shape of a convolution of `x` by `w` (static
/// shapes), or failure with the reason.
static FailureOr<SmallVector<int64_t>>
convOutputShape(ArrayRef<int64_t> x, ArrayRef<int64_t> w,
                ArrayRef<int64_t> strides, ArrayRef<int64_t> pads,
                ArrayRef<int64_t> dilations, int64_t group, ErrorFn emitError) {
  if (x.size() < 3 || w.size() != x.size()) {
    emitError() << "needs input and weight shapes of one rank, 3 or more";
    return failure();
  }
  size_t spatial = x.size() - 2;
  if (failed(checkWindowAttrs(strides, pads, dilations, spatial, emitError)))
    return failure();
  if (group < 1 || x[1] % group || w[0] % group || w[1] * group != x[1]) {
    emitError() << "channels do not fit: input " << x[1] << ", weight "
                << w[0] << "x" << w[1] << ", group " << group;
    return failure();
  }
  SmallVector<int64_t> y = {x[0], w[0]};
  for (size_t d = 0; d < spatial; ++d)
    y.push_back((x[d + 2] + pads[d] + pads[d + spatial] -
                 dilations[d] * (w[d + 2] - 1) - 1) /
                    strides[d] +
                1);
  return y;
}

/// A backward product of the convolution of x by w whose output is `grad`:
/// `known` is its operand besides grad (w for data, x for filter), `shape`
/// the size of what it computes; checks that the forward output is grad's.
static FailureOr<Type> inferConvBackward(Value gradValue, Value knownValue,
                                         StringRef knownName,
                                         ArrayRef<int64_t> shape, bool data,
                                         ArrayRef<int64_t> strides,
                                         ArrayRef<int64_t> pads,
                                         ArrayRef<int64_t> dilations,
                                         int64_t group, ErrorFn emitError) {
  auto grad = rankedOperand(gradValue, "grad", emitError);
  auto known = rankedOperand(knownValue, knownName, emitError);
  if (failed(grad) || failed(known) ||
      failed(checkSameElementType(*grad, "grad", *known, knownName, emitError)))
    return failure();
  if (grad->hasStaticShape() && known->hasStaticShape()) {
    ArrayRef<int64_t> x = data ? shape : known->getShape();
    ArrayRef<int64_t> w = data ? known->getShape() : shape;
    auto y = convOutputShape(x, w, strides, pads, dilations, group, emitError);
    if (failed(y))
      return failure();
    if (ArrayRef<int64_t>(*y) != grad->getShape()) {
      emitError() << "grad has shape " << *grad
                  << " but the forward convolution's output would be "
                  << RankedTensorType::get(*y, grad->getElementType());
      return failure();
    }
  }
  return Type(RankedTensorType::get(shape, grad->getElementType()));
}

FailureOr<Type> ConvBackwardDataOp::inferResultType(Adaptor a, ErrorFn e) {
  return inferConvBackward(a.getGrad(), a.getWeight(), "weight",
                           a.getInputShape(), /*data=*/true, a.getStrides(),
                           a.getPads(), a.getDilations(), a.getGroup(), e);
}

FailureOr<Type> ConvBackwardFilterOp::inferResultType(Adaptor a, ErrorFn e) {
  return inferConvBackward(a.getGrad(), a.getInput(), "input",
                           a.getWeightShape(), /*data=*/false, a.getStrides(),
                           a.getPads(), a.getDilations(), a.getGroup(), e);
}

FailureOr<Type> ConvOp::inferResultType(Adaptor adaptor, ErrorFn emitError) {
  auto input = rankedOperand(adaptor.getInput(), "input", emitError);
  auto weight = rankedOperand(adaptor.getWeight(), "weight", emitError);
  if (failed(input) || failed(weight) ||
      failed(
          checkSameElementType(*input, "input", *weight, "weight", emitError)))
    return failure();
  int64_t rank = input->getRank();
  if (rank < 3) {
    emitError() << "input must be N x C x spatial dims (rank 3 or more), got "
                   "rank "
                << rank;
    return failure();
  }
  if (weight->getRank() != rank) {
    emitError() << "weight has rank " << weight->getRank()
                << " but the input has rank " << rank;
    return failure();
  }
  size_t spatial = rank - 2;
  ArrayRef<int64_t> strides = adaptor.getStrides(), pads = adaptor.getPads(),
                    dilations = adaptor.getDilations();
  if (failed(checkWindowAttrs(strides, pads, dilations, spatial, emitError)))
    return failure();
  int64_t group = adaptor.getGroup();
  int64_t channels = input->getDimSize(1), filters = weight->getDimSize(0);
  if (group < 1) {
    emitError() << "group must be at least 1, got " << group;
    return failure();
  }
  if (!ShapedType::isDynamic(channels) && channels % group != 0) {
    emitError() << "input channels (" << channels
                << ") are not divisible by group (" << group << ")";
    return failure();
  }
  if (!ShapedType::isDynamic(filters) && filters % group != 0) {
    emitError() << "output channels (" << filters
                << ") are not divisible by group (" << group << ")";
    return failure();
  }
  int64_t perGroup =
      ShapedType::isDynamic(channels) ? channels : channels / group;
  if (!sizesMayMatch(weight->getDimSize(1), perGroup)) {
    emitError() << "weight dimension 1 is " << weight->getDimSize(1)
                << " but input channels / group is " << perGroup;
    return failure();
  }
  if (Value biasValue = adaptor.getBias()) {
    auto bias = rankedOperand(biasValue, "bias", emitError);
    if (failed(bias))
      return failure();
    if (bias->getRank() != 1 || !sizesMayMatch(bias->getDimSize(0), filters)) {
      emitError() << "bias of shape " << formatShape(bias->getShape())
                  << " must have one element per output channel (" << filters
                  << ")";
      return failure();
    }
  }
  SmallVector<int64_t> shape = {input->getDimSize(0), filters};
  for (size_t i = 0; i < spatial; ++i) {
    auto size =
        windowOutputSize(input->getDimSize(2 + i), weight->getDimSize(2 + i),
                         strides[i], pads[i], pads[spatial + i], dilations[i],
                         /*ceilMode=*/false, i, emitError);
    if (failed(size))
      return failure();
    shape.push_back(*size);
  }
  return Type(input->clone(shape));
}

namespace {
template <typename Adaptor>
FailureOr<Type> inferPool(Adaptor adaptor, ErrorFn emitError) {
  auto input = rankedOperand(adaptor.getInput(), "input", emitError);
  if (failed(input))
    return failure();
  int64_t rank = input->getRank();
  if (rank < 3) {
    emitError() << "input must be N x C x spatial dims (rank 3 or more), got "
                   "rank "
                << rank;
    return failure();
  }
  size_t spatial = rank - 2;
  ArrayRef<int64_t> kernel = adaptor.getKernel(),
                    strides = adaptor.getStrides(), pads = adaptor.getPads(),
                    dilations = adaptor.getDilations();
  if (failed(checkLength(kernel, spatial, "kernel",
                         std::to_string(spatial) + " spatial dimensions",
                         emitError)) ||
      failed(checkAtLeast(kernel, 1, "kernel", emitError)) ||
      failed(checkWindowAttrs(strides, pads, dilations, spatial, emitError)))
    return failure();
  for (size_t i = 0; i < spatial; ++i) {
    if (pads[i] >= kernel[i] || pads[spatial + i] >= kernel[i]) {
      emitError() << "padding of spatial dimension " << i << " (" << pads[i]
                  << ", " << pads[spatial + i]
                  << ") must be smaller than the kernel (" << kernel[i] << ")";
      return failure();
    }
  }
  SmallVector<int64_t> shape(input->getShape().take_front(2));
  for (size_t i = 0; i < spatial; ++i) {
    auto size = windowOutputSize(
        input->getDimSize(2 + i), kernel[i], strides[i], pads[i],
        pads[spatial + i], dilations[i], adaptor.getCeilMode(), i, emitError);
    if (failed(size))
      return failure();
    shape.push_back(*size);
  }
  return Type(input->clone(shape));
}
} // namespace

FailureOr<Type> PoolGradOp::inferResultType(Adaptor adaptor,
                                            ErrorFn emitError) {
  auto grad = rankedOperand(adaptor.getGrad(), "grad", emitError);
  auto input = rankedOperand(adaptor.getInput(), "input", emitError);
  auto output = rankedOperand(adaptor.getOutput(), "output", emitError);
  if (failed(grad) || failed(input) || failed(output) ||
      failed(checkSameElementType(*grad, "grad", *input, "input", emitError)))
    return failure();
  if (!areCompatibleTypes(TypeRange{Type(*grad)}, TypeRange{Type(*output)})) {
    emitError() << "grad " << *grad << " and the pooling's output "
                << *output << " differ";
    return failure();
  }
  size_t spatial = input->getRank() - 2;
  if (input->getRank() < 3 || output->getRank() != input->getRank() ||
      adaptor.getKernel().size() != spatial) {
    emitError() << "needs input and output of one rank (3 or more) and one "
                   "kernel size per spatial dimension";
    return failure();
  }
  if (failed(checkWindowAttrs(adaptor.getStrides(), adaptor.getPads(),
                              adaptor.getDilations(), spatial, emitError)))
    return failure();
  return Type(*input);
}

FailureOr<Type> MaxPoolOp::inferResultType(Adaptor a, ErrorFn e) {
  return inferPool(a, e);
}
FailureOr<Type> AvgPoolOp::inferResultType(Adaptor a, ErrorFn e) {
  return inferPool(a, e);
}

//===----------------------------------------------------------------------===//
// Normalizations
//===----------------------------------------------------------------------===//

namespace {
/// Checks that each of `params` is a vector with one element per channel of
/// `input` (dimension 1).
LogicalResult checkPerChannel(RankedTensorType input,
                              ArrayRef<std::pair<Value, StringRef>> params,
                              ErrorFn emitError) {
  if (input.getRank() < 2) {
    emitError() << "input must have rank 2 or more (N x C x ...), got rank "
                << input.getRank();
    return failure();
  }
  int64_t channels = input.getDimSize(1);
  for (auto [value, name] : params) {
    auto type = rankedOperand(value, name, emitError);
    if (failed(type))
      return failure();
    if (type->getRank() != 1 || !sizesMayMatch(type->getDimSize(0), channels)) {
      emitError() << name << " of shape " << formatShape(type->getShape())
                  << " must have one element per channel (" << channels << ")";
      return failure();
    }
  }
  return success();
}
} // namespace

FailureOr<Type> BatchNormOp::inferResultType(Adaptor adaptor,
                                             ErrorFn emitError) {
  auto input = rankedOperand(adaptor.getInput(), "input", emitError);
  if (failed(input) || failed(checkPerChannel(*input,
                                              {{adaptor.getScale(), "scale"},
                                               {adaptor.getBias(), "bias"},
                                               {adaptor.getMean(), "mean"},
                                               {adaptor.getVar(), "var"}},
                                              emitError)))
    return failure();
  return Type(*input);
}

LogicalResult
BatchNormTrainOp::inferResultTypes(Adaptor adaptor, ErrorFn emitError,
                                   SmallVectorImpl<Type> &results) {
  auto input = rankedOperand(adaptor.getInput(), "input", emitError);
  if (failed(input) ||
      failed(checkPerChannel(
          *input, {{adaptor.getScale(), "scale"}, {adaptor.getBias(), "bias"}},
          emitError)))
    return failure();
  Type stats =
      RankedTensorType::get({input->getDimSize(1)}, input->getElementType());
  results.append({*input, stats, stats});
  return success();
}

FailureOr<Type> LayerNormOp::inferResultType(Adaptor adaptor,
                                             ErrorFn emitError) {
  auto input = rankedOperand(adaptor.getInput(), "input", emitError);
  if (failed(input))
    return failure();
  int64_t axis = adaptor.getAxis(), rank = input->getRank();
  if (axis < 0 || axis >= rank) {
    emitError() << "axis " << axis << " is out of range for an input of rank "
                << rank << " (expected 0 to " << rank - 1 << ")";
    return failure();
  }
  ArrayRef<int64_t> normalized = input->getShape().drop_front(axis);
  for (auto [value, name] : {std::pair(adaptor.getScale(), "scale"),
                             std::pair(adaptor.getBias(), "bias")}) {
    if (!value)
      continue;
    auto type = rankedOperand(value, name, emitError);
    if (failed(type) || failed(checkBroadcastsTo(type->getShape(), normalized,
                                                 name, emitError)))
      return failure();
  }
  return Type(*input);
}


/// M and N of a library GEMM op's 2-D op(A) op(B), or an error on `op`.
static LogicalResult gemmSizes(Operation *op, Value av, Value bv, bool transA,
                               bool transB, int64_t &m, int64_t &n) {
  auto a = cast<RankedTensorType>(av.getType());
  auto b = cast<RankedTensorType>(bv.getType());
  if (a.getRank() != 2 || b.getRank() != 2)
    return op->emitOpError() << "needs 2-D A and B";
  m = a.getDimSize(transA ? 1 : 0), n = b.getDimSize(transB ? 0 : 1);
  int64_t k = a.getDimSize(transA ? 0 : 1), kb = b.getDimSize(transB ? 1 : 0);
  if (k != kb)
    return op->emitOpError() << "multiplies " << m << "x" << k << " by "
                             << kb << "x" << n;
  return success();
}

LogicalResult GemmReluGradOp::verify() {
  auto a = cast<RankedTensorType>(getA().getType());
  auto b = cast<RankedTensorType>(getB().getType());
  auto mask = cast<RankedTensorType>(getMask().getType());
  auto grad = cast<RankedTensorType>(getGrad().getType());
  auto bias = cast<RankedTensorType>(getBiasGrad().getType());
  int64_t m, n;
  if (failed(gemmSizes(*this, getA(), getB(), getTransA(), getTransB(), m, n)))
    return failure();
  auto expected = RankedTensorType::get({m, n}, a.getElementType());
  if (grad != expected || mask != expected)
    return emitOpError() << "needs the mask and the gradient to be "
                         << expected;
  if (bias != RankedTensorType::get({n}, a.getElementType()) ||
      b.getElementType() != a.getElementType())
    return emitOpError() << "needs a bias gradient of " << n << " "
                         << a.getElementType();
  return success();
}

LogicalResult GemmBiasGradOp::verify() {
  auto a = cast<RankedTensorType>(getA().getType());
  auto b = cast<RankedTensorType>(getB().getType());
  auto result = cast<RankedTensorType>(getResult().getType());
  auto bias = cast<RankedTensorType>(getBiasGrad().getType());
  int64_t m, n;
  if (failed(gemmSizes(*this, getA(), getB(), getTransA(), getTransB(), m, n)))
    return failure();
  if (getOf() != "a" && getOf() != "b")
    return emitOpError() << "sums operand 'a' or 'b', not '" << getOf()
                         << "'";
  Type element = a.getElementType();
  if (b.getElementType() != element ||
      result != RankedTensorType::get({m, n}, element))
    return emitOpError() << "needs a result of "
                         << RankedTensorType::get({m, n}, element);
  int64_t sums = getOf() == "a" ? m : n;
  if (bias != RankedTensorType::get({sums}, element))
    return emitOpError() << "needs a bias gradient of " << sums << " "
                         << element;
  return success();
}

LogicalResult EmbeddingGradOp::verify() {
  auto ids = cast<RankedTensorType>(getIds().getType());
  auto updates = cast<RankedTensorType>(getUpdates().getType());
  auto result = cast<RankedTensorType>(getResult().getType());
  if (ids.getRank() != 1 || updates.getRank() != 2 ||
      updates.getDimSize(0) != ids.getDimSize(0))
    return emitOpError() << "needs ids [N] and updates [N, W], not " << ids
                         << " and " << updates;
  auto expected = RankedTensorType::get(
      {getRows(), updates.getDimSize(1)}, updates.getElementType());
  if (getRows() < 0 || result != expected)
    return emitOpError() << "needs a result of " << expected;
  return success();
}

LogicalResult RowKernelOp::verify() {
  Block &body = getBody().front();
  auto yield = dyn_cast_or_null<YieldOp>(
      body.empty() ? nullptr : &body.back());
  if (!yield)
    return emitOpError("body must end with kiln.yield");
  if (yield.getValues().getTypes() != getResultTypes())
    return emitOpError("yields ")
           << yield.getValues().size()
           << " values whose types differ from its results'";
  if (getRows() < 0)
    return emitOpError("needs a row count of at least 0");
  return success();
}

LogicalResult AllReduceOp::verify() {
  if (getInputs().empty())
    return emitOpError() << "needs at least one operand";
  if (getResults().size() != getInputs().size())
    return emitOpError() << "has " << getResults().size()
                         << " results for " << getInputs().size()
                         << " operands (expected one per operand)";
  Type element = cast<RankedTensorType>(getInputs()[0].getType())
                     .getElementType();
  for (auto [i, pair] :
       llvm::enumerate(llvm::zip(getInputs(), getResults()))) {
    auto [in, out] = pair;
    if (in.getType() != out.getType())
      return emitOpError() << "result " << i << " has type " << out.getType()
                           << "; operand " << i << " has " << in.getType();
    if (cast<RankedTensorType>(in.getType()).getElementType() != element)
      return emitOpError() << "mixes element types (" << element << " and "
                           << cast<RankedTensorType>(in.getType())
                                  .getElementType()
                           << "): one bucket is one collective of one type";
  }
  if (getReduction() != "mean" && getReduction() != "sum")
    return emitOpError() << "has reduction '" << getReduction()
                         << "' (expected mean or sum)";
  return success();
}


//===----------------------------------------------------------------------===//
// Folding
//===----------------------------------------------------------------------===//

/// `lhs op rhs` for two float splat constants and a static result type: the
/// splat of the element type's (correctly rounded) result; else nothing.
template <typename Fn>
static OpFoldResult foldFloatSplats(Attribute lhs, Attribute rhs,
                                    Type resultType, Fn apply) {
  auto l = dyn_cast_or_null<SplatElementsAttr>(lhs);
  auto r = dyn_cast_or_null<SplatElementsAttr>(rhs);
  auto type = dyn_cast<RankedTensorType>(resultType);
  if (!l || !r || !type || !type.hasStaticShape() ||
      !isa<FloatType>(type.getElementType()) ||
      l.getElementType() != type.getElementType() ||
      r.getElementType() != type.getElementType())
    return {};
  APFloat a = l.getSplatValue<APFloat>();
  apply(a, r.getSplatValue<APFloat>());
  return DenseElementsAttr::get(type, a);
}

OpFoldResult TransposeOp::fold(FoldAdaptor) {
  ArrayRef<int64_t> perm = getPerm();
  auto identity = [](ArrayRef<int64_t> p) {
    for (size_t i = 0; i < p.size(); ++i)
      if (p[i] != int64_t(i))
        return false;
    return true;
  };
  if (identity(perm) && getInput().getType() == getType())
    return getInput();
  // Result dimension i is the inner input's dimension inner[perm[i]].
  if (auto inner = getInput().getDefiningOp<TransposeOp>()) {
    ArrayRef<int64_t> first = inner.getPerm();
    SmallVector<int64_t> composed;
    for (int64_t p : perm)
      composed.push_back(first[p]);
    if (identity(composed) && inner.getInput().getType() == getType())
      return inner.getInput();
  }
  return {};
}

OpFoldResult AddOp::fold(FoldAdaptor adaptor) {
  return foldFloatSplats(adaptor.getLhs(), adaptor.getRhs(), getType(),
                         [](APFloat &a, const APFloat &b) {
                           a.add(b, APFloat::rmNearestTiesToEven);
                         });
}
OpFoldResult SubOp::fold(FoldAdaptor adaptor) {
  return foldFloatSplats(adaptor.getLhs(), adaptor.getRhs(), getType(),
                         [](APFloat &a, const APFloat &b) {
                           a.subtract(b, APFloat::rmNearestTiesToEven);
                         });
}
OpFoldResult MulOp::fold(FoldAdaptor adaptor) {
  return foldFloatSplats(adaptor.getLhs(), adaptor.getRhs(), getType(),
                         [](APFloat &a, const APFloat &b) {
                           a.multiply(b, APFloat::rmNearestTiesToEven);
                         });
}
namespace {
/// mul(reduce_sum(x), c) -> reduce_sum(mul(x, c)) for a float scalar splat
/// constant c and a sum nothing else reads.
struct ScaleInsideSum final : OpRewritePattern<MulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MulOp op,
                                PatternRewriter &rewriter) const override {
    for (auto [sumSide, constSide] : {std::pair(op.getLhs(), op.getRhs()),
                                      std::pair(op.getRhs(), op.getLhs())}) {
      auto sum = sumSide.getDefiningOp<ReduceSumOp>();
      auto c = constSide.getDefiningOp<ConstantOp>();
      if (!sum || !c || !sum.getResult().hasOneUse())
        continue;
      auto ct = cast<RankedTensorType>(c.getType());
      auto xt = cast<RankedTensorType>(sum.getInput().getType());
      if (ct.getRank() != 0 || !isa<FloatType>(xt.getElementType()) ||
          !isa<SplatElementsAttr>(c.getValue()) ||
          op.getType() != sum.getType())
        continue;
      Value scaled = rewriter.create<MulOp>(op.getLoc(), xt, sum.getInput(),
                                            c.getResult());
      rewriter.replaceOpWithNewOp<ReduceSumOp>(op, op.getType(), scaled,
                                               sum.getAxesAttr(),
                                               sum.getKeepdimsAttr());
      rewriter.eraseOp(sum);
      return success();
    }
    return failure();
  }
};
} // namespace

void MulOp::getCanonicalizationPatterns(RewritePatternSet &patterns,
                                        MLIRContext *context) {
  patterns.add<ScaleInsideSum>(context);
}

namespace {
/// gather(data, [i0, i0 + 1, ..., i0 + n - 1]) along an axis is those n
/// slices in order: a kiln.slice (the whole axis: data itself), reshaped
/// to the gather's type where the indices have another rank than 1. A
/// learned position embedding read at arange(T) then needs no index kernel,
/// and its gradient pads instead of multiplying by a one-hot matrix.
struct GatherOfConsecutive : OpRewritePattern<GatherOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(GatherOp op,
                                PatternRewriter &rewriter) const override {
    DenseIntElementsAttr ids;
    auto data = dyn_cast<RankedTensorType>(op.getData().getType());
    auto type = dyn_cast<RankedTensorType>(op.getType());
    if (!data || !type || !data.hasStaticShape() || !type.hasStaticShape() ||
        !matchPattern(op.getIndices(), m_Constant(&ids)) ||
        ids.getNumElements() == 0)
      return failure();
    int64_t rank = data.getRank(), axis = op.getAxis();
    if (axis < 0)
      axis += rank;
    if (axis < 0 || axis >= rank)
      return failure();
    int64_t size = data.getDimSize(axis), first = 0, i = 0;
    for (const APInt &v : ids.getValues<APInt>()) {
      int64_t x = v.getSExtValue();
      if (x < 0)
        x += size;
      if (x < 0 || x >= size || (i > 0 && x != first + i))
        return failure();
      if (i++ == 0)
        first = x;
    }
    Value result = op.getData();
    if (first != 0 || i != size) {
      SmallVector<int64_t> starts(rank, 0), sizes(data.getShape()),
          strides(rank, 1);
      starts[axis] = first;
      sizes[axis] = i;
      result = rewriter.create<SliceOp>(
          op.getLoc(), RankedTensorType::get(sizes, data.getElementType()),
          result, rewriter.getDenseI64ArrayAttr(starts),
          rewriter.getDenseI64ArrayAttr(sizes),
          rewriter.getDenseI64ArrayAttr(strides));
    }
    if (result.getType() != type)
      result = rewriter.create<ReshapeOp>(
          op.getLoc(), type, result,
          rewriter.getDenseI64ArrayAttr(type.getShape()));
    rewriter.replaceOp(op, result);
    return success();
  }
};
} // namespace

void GatherOp::getCanonicalizationPatterns(RewritePatternSet &patterns,
                                           MLIRContext *context) {
  patterns.add<GatherOfConsecutive>(context);
}

namespace {
/// A matmul whose operands' batch dimensions differ other than by a single
/// matrix on the right (multi-query attention's one key head against eight
/// query heads: [B, 8, T, D] x [B, 1, D, T]) reads the broadcast operand
/// broadcast to the result's batch dimensions first: the library call
/// multiplies equal batches with one stride each. (Its gradient sums the
/// broadcast back.)
struct BroadcastMatMulBatch : OpRewritePattern<MatMulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MatMulOp op,
                                PatternRewriter &rewriter) const override {
    auto lhs = dyn_cast<RankedTensorType>(op.getLhs().getType());
    auto rhs = dyn_cast<RankedTensorType>(op.getRhs().getType());
    auto type = dyn_cast<RankedTensorType>(op.getType());
    if (!lhs || !rhs || !type || !lhs.hasStaticShape() ||
        !rhs.hasStaticShape() || !type.hasStaticShape() ||
        lhs.getRank() < 2 || rhs.getRank() < 2)
      return failure();
    ArrayRef<int64_t> lb = lhs.getShape().drop_back(2),
                      rb = rhs.getShape().drop_back(2),
                      batch = type.getShape().drop_back(2);
    auto count = [](ArrayRef<int64_t> dims) {
      int64_t n = 1;
      for (int64_t d : dims)
        n *= d;
      return n;
    };
    if (lb == rb || count(rb) == 1)
      return failure(); // Equal batches, or one matrix on the right.
    auto broadcast = [&](Value v, RankedTensorType t) -> Value {
      if (t.getShape().drop_back(2) == batch)
        return v;
      SmallVector<int64_t> shape(batch);
      shape.append(t.getShape().take_back(2).begin(),
                   t.getShape().take_back(2).end());
      return rewriter.create<BroadcastToOp>(
          op.getLoc(), t.clone(shape), v, rewriter.getDenseI64ArrayAttr(shape));
    };
    Value a = broadcast(op.getLhs(), lhs), b = broadcast(op.getRhs(), rhs);
    rewriter.modifyOpInPlace(op, [&] {
      op.getLhsMutable().assign(a);
      op.getRhsMutable().assign(b);
    });
    return success();
  }
};
} // namespace

void MatMulOp::getCanonicalizationPatterns(RewritePatternSet &patterns,
                                           MLIRContext *context) {
  patterns.add<BroadcastMatMulBatch>(context);
}

OpFoldResult DivOp::fold(FoldAdaptor adaptor) {
  return foldFloatSplats(adaptor.getLhs(), adaptor.getRhs(), getType(),
                         [](APFloat &a, const APFloat &b) {
                           a.divide(b, APFloat::rmNearestTiesToEven);
                         });
}

} // namespace kiln::graph

#define GET_OP_CLASSES
#include "ir/graph/GraphOps.cpp.inc"
