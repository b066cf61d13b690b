//===- HostTensor.cpp - tensors the importer knows at compile time --------===//
#include "compiler/onnx/HostTensor.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>
#include <limits>

using namespace mlir;

namespace kiln::onnx {

std::optional<int64_t> checkedElementCount(ArrayRef<int64_t> shape) {
  int64_t count = 1;
  for (int64_t size : shape) {
    if (size < 0 || llvm::MulOverflow(count, size, count))
      return std::nullopt;
  }
  return count;
}

llvm::SmallVector<int64_t> stridesOf(ArrayRef<int64_t> shape) {
  llvm::SmallVector<int64_t> strides(shape.size(), 1);
  for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

int64_t broadcastSource(int64_t index, ArrayRef<int64_t> resultShape,
                        ArrayRef<int64_t> shape) {
  int64_t source = 0, stride = 1;
  size_t offset = resultShape.size() - shape.size();
  for (int64_t d = static_cast<int64_t>(resultShape.size()) - 1; d >= 0; --d) {
    int64_t coord = index % resultShape[d];
    index /= resultShape[d];
    if (d < static_cast<int64_t>(offset))
      continue;
    int64_t size = shape[d - offset];
    if (size != 1)
      source += coord * stride;
    stride *= size;
  }
  return source;
}

HostTensor HostTensor::fromAttr(DenseElementsAttr attr) {
  HostTensor t;
  t.type_ = mlir::cast<RankedTensorType>(attr.getType());
  Type element = t.type_.getElementType();
  if (isa<FloatType>(element)) {
    for (const APFloat &v : attr.getValues<APFloat>())
      t.doubles_.push_back(v.convertToDouble());
  } else if (element.isInteger(1)) {
    for (bool v : attr.getValues<bool>())
      t.ints_.push_back(v);
  } else {
    for (const APInt &v : attr.getValues<APInt>())
      t.ints_.push_back(v.getSExtValue());
  }
  return t;
}

namespace {

/// An integer as an element of `type` holds it: wrapped to the width
/// (two's complement, as a narrowing cast does), bools as 0 or 1.
int64_t wrapInt(int64_t value, Type type) {
  switch (type.getIntOrFloatBitWidth()) {
  case 1:
    return value != 0;
  case 8:
    return static_cast<int8_t>(value);
  case 16:
    return static_cast<int16_t>(value);
  case 32:
    return static_cast<int32_t>(value);
  default:
    return value;
  }
}

/// A double rounded to the nearest value of a float type (f16, bf16, f32).
double roundToFloat(double value, FloatType type) {
  if (type.isF64())
    return value;
  APFloat f(value);
  bool lost;
  f.convert(type.getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
  return f.convertToDouble();
}

/// A double converted to an integer as a float-to-int cast does: truncated
/// toward zero (values out of int64's range saturate rather than being UB).
int64_t truncToInt(double value) {
  if (std::isnan(value))
    return 0;
  if (value >= 9.2233720368547758e18)
    return std::numeric_limits<int64_t>::max();
  if (value <= -9.2233720368547758e18)
    return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(std::trunc(value));
}

} // namespace

HostTensor HostTensor::ofInts(RankedTensorType type,
                              std::vector<int64_t> values) {
  HostTensor t;
  t.type_ = type;
  Type element = type.getElementType();
  if (auto floatType = dyn_cast<FloatType>(element)) {
    for (int64_t v : values)
      t.doubles_.push_back(roundToFloat(static_cast<double>(v), floatType));
  } else {
    for (int64_t &v : values)
      v = wrapInt(v, element);
    t.ints_ = std::move(values);
  }
  return t;
}

HostTensor HostTensor::ofDoubles(RankedTensorType type,
                                 std::vector<double> values) {
  HostTensor t;
  t.type_ = type;
  Type element = type.getElementType();
  if (auto floatType = dyn_cast<FloatType>(element)) {
    for (double &v : values)
      v = roundToFloat(v, floatType);
    t.doubles_ = std::move(values);
  } else if (element.isInteger(1)) {
    for (double v : values)
      t.ints_.push_back(v != 0.0);
  } else {
    for (double v : values)
      t.ints_.push_back(wrapInt(truncToInt(v), element));
  }
  return t;
}

DenseElementsAttr HostTensor::toAttr() const {
  Type element = type_.getElementType();
  // A splat (a ConstantOfShape, a mask of ones) is stored once.
  bool splat = size() > 1 &&
               (isFloat() ? llvm::all_equal(doubles_) : llvm::all_equal(ints_));
  if (splat) {
    HostTensor one = reshape({});
    one.type_ = RankedTensorType::get({}, element);
    if (isFloat())
      one.doubles_.resize(1);
    else
      one.ints_.resize(1);
    return DenseElementsAttr::get(type_,
                                  one.toAttr().getSplatValue<Attribute>());
  }
  if (auto floatType = dyn_cast<FloatType>(element)) {
    llvm::SmallVector<APFloat> values;
    for (double v : doubles_) {
      APFloat f(v);
      bool lost;
      f.convert(floatType.getFloatSemantics(), APFloat::rmNearestTiesToEven,
                &lost);
      values.push_back(f);
    }
    return DenseElementsAttr::get(type_, values);
  }
  if (element.isInteger(1)) {
    llvm::SmallVector<bool> values(ints_.begin(), ints_.end());
    return DenseElementsAttr::get(type_, values);
  }
  unsigned width = element.getIntOrFloatBitWidth();
  llvm::SmallVector<APInt> values;
  for (int64_t v : ints_)
    values.push_back(APInt(width, static_cast<uint64_t>(v), /*isSigned=*/true));
  return DenseElementsAttr::get(type_, values);
}

int64_t HostTensor::intAt(int64_t i) const {
  return isFloat() ? static_cast<int64_t>(doubles_[i]) : ints_[i];
}

double HostTensor::doubleAt(int64_t i) const {
  return isFloat() ? doubles_[i] : static_cast<double>(ints_[i]);
}

std::vector<int64_t> HostTensor::ints() const {
  std::vector<int64_t> out(size());
  for (int64_t i = 0; i < size(); ++i)
    out[i] = intAt(i);
  return out;
}

HostTensor
HostTensor::remap(RankedTensorType type,
                  llvm::function_ref<int64_t(int64_t)> source) const {
  HostTensor t;
  t.type_ = type;
  int64_t n = type.getNumElements();
  if (isFloat()) {
    t.doubles_.resize(n);
    for (int64_t i = 0; i < n; ++i) {
      int64_t s = source(i);
      t.doubles_[i] = s < 0 ? 0.0 : doubles_[s];
    }
  } else {
    t.ints_.resize(n);
    for (int64_t i = 0; i < n; ++i) {
      int64_t s = source(i);
      t.ints_[i] = s < 0 ? 0 : ints_[s];
    }
  }
  return t;
}

HostTensor HostTensor::reshape(ArrayRef<int64_t> shape) const {
  HostTensor t = *this;
  t.type_ = RankedTensorType::get(shape, type_.getElementType());
  return t;
}

HostTensor HostTensor::cast(Type element) const {
  // As ONNX Cast: float to integer truncates, narrowing wraps, floats round
  // to nearest even, anything to bool is `!= 0`. Integer sources keep their
  // exact values (no trip through double).
  RankedTensorType type = RankedTensorType::get(shape(), element);
  if (isFloat())
    return ofDoubles(type, doubles_);
  if (element.isInteger(1)) {
    std::vector<int64_t> values(ints_);
    for (int64_t &v : values)
      v = v != 0;
    return ofInts(type, std::move(values));
  }
  return ofInts(type, ints_);
}

HostTensor HostTensor::select(const HostTensor &condition, const HostTensor &x,
                              const HostTensor &y,
                              RankedTensorType resultType) {
  ArrayRef<int64_t> shape = resultType.getShape();
  HostTensor t;
  t.type_ = resultType;
  for (int64_t i = 0, n = resultType.getNumElements(); i < n; ++i) {
    bool takeX = condition.intAt(broadcastSource(i, shape, condition.shape()));
    const HostTensor &from = takeX ? x : y;
    int64_t source = broadcastSource(i, shape, from.shape());
    if (from.isFloat())
      t.doubles_.push_back(from.doubles_[source]);
    else
      t.ints_.push_back(from.ints_[source]);
  }
  return t;
}

HostTensor
HostTensor::broadcastBinary(const HostTensor &a, const HostTensor &b,
                            Type resultElement,
                            llvm::function_ref<double(double, double)> f,
                            llvm::function_ref<int64_t(int64_t, int64_t)> g) {
  // Result shape: numpy broadcasting (the caller has checked compatibility).
  ArrayRef<int64_t> sa = a.shape(), sb = b.shape();
  size_t rank = std::max(sa.size(), sb.size());
  llvm::SmallVector<int64_t> shape(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t x = i < sa.size() ? sa[sa.size() - 1 - i] : 1;
    int64_t y = i < sb.size() ? sb[sb.size() - 1 - i] : 1;
    shape[rank - 1 - i] = x == 1 ? y : x;
  }
  auto type = RankedTensorType::get(shape, resultElement);
  int64_t n = type.getNumElements();
  bool useFloat = a.isFloat() || b.isFloat();
  std::vector<double> doubles;
  std::vector<int64_t> ints;
  for (int64_t i = 0; i < n; ++i) {
    int64_t ia = broadcastSource(i, shape, sa),
            ib = broadcastSource(i, shape, sb);
    if (useFloat)
      doubles.push_back(f(a.doubleAt(ia), b.doubleAt(ib)));
    else
      ints.push_back(g(a.intAt(ia), b.intAt(ib)));
  }
  return useFloat ? ofDoubles(type, std::move(doubles))
                  : ofInts(type, std::move(ints));
}

} // namespace kiln::onnx
