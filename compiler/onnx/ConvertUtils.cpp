//===- ConvertUtils.cpp - helpers shared by the per-op conversions --------===//
#include "compiler/onnx/ConvertUtils.h"

#include <algorithm>

using namespace mlir;

namespace kiln::onnx {

std::optional<int64_t> normalizeAxisAt(NodeImporter &n, int64_t axis,
                                       int64_t rank, StringRef what) {
  if (axis < -rank || axis >= rank) {
    auto diag = n.error() << what << " " << axis << " is out of range for rank "
                          << rank;
    if (rank > 0)
      diag << " (expected " << -rank << " to " << rank - 1 << ")";
    return std::nullopt;
  }
  return axis < 0 ? axis + rank : axis;
}

std::optional<std::vector<int64_t>> normalizeAxesAt(NodeImporter &n,
                                                    std::vector<int64_t> axes,
                                                    int64_t rank,
                                                    StringRef what) {
  for (int64_t &axis : axes) {
    auto normalized = normalizeAxisAt(n, axis, rank, what);
    if (!normalized)
      return std::nullopt;
    axis = *normalized;
  }
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) {
    n.error() << what << " name the same dimension twice";
    return std::nullopt;
  }
  return axes;
}

std::optional<std::vector<int64_t>> intsFromAttrOrInput(NodeImporter &n,
                                                        StringRef name,
                                                        size_t input,
                                                        int64_t inputSince) {
  if (n.opset() < inputSince) {
    std::vector<int64_t> values = n.attrInts(name);
    if (n.failed())
      return std::nullopt;
    return values;
  }
  if (!n.hasInput(input))
    return std::vector<int64_t>();
  return n.constantInts(input, name);
}

std::optional<int64_t> spatialAxes(NodeImporter &n, RankedTensorType type) {
  if (type.getRank() < 3) {
    n.error() << "input of shape " << graph::formatShape(type.getShape())
              << " is not N x C x spatial";
    return std::nullopt;
  }
  return type.getRank() - 2;
}

std::optional<HostTensor> constantScalar(NodeImporter &n, size_t i,
                                         StringRef what) {
  auto value = n.constantInput(i, what);
  if (value && value->size() != 1) {
    n.error() << what << " (input " << i << ") must hold one value, got shape "
              << graph::formatShape(value->shape());
    return std::nullopt;
  }
  return value;
}

std::optional<int64_t> constantInt(NodeImporter &n, size_t i, StringRef what) {
  auto value = constantScalar(n, i, what);
  if (!value)
    return std::nullopt;
  if (value->isFloat()) {
    n.error() << what << " (input " << i << ") must be an integer, got "
              << value->type().getElementType();
    return std::nullopt;
  }
  return value->intAt(0);
}

Value intConstant(NodeImporter &n, RankedTensorType type,
                  std::vector<int64_t> values) {
  return n.create<graph::ConstantOp>(
      HostTensor::ofInts(type, std::move(values)).toAttr());
}

Value concatAlong(NodeImporter &n, ArrayRef<Value> parts, int64_t axis,
                  bool newAxis) {
  SmallVector<Value> pieces;
  for (Value part : parts) {
    if (!part)
      return {};
    if (newAxis) {
      SmallVector<int64_t> shape(
          cast<RankedTensorType>(part.getType()).getShape());
      shape.insert(shape.begin() + axis, 1);
      part = reshape(n, part, shape);
    }
    pieces.push_back(part);
  }
  if (pieces.size() == 1)
    return pieces.front();
  return n.create<graph::ConcatOp>(ValueRange(pieces),
                                   n.builder().getI64IntegerAttr(axis));
}

Value reshape(NodeImporter &n, Value value, ArrayRef<int64_t> shape) {
  if (!value || cast<RankedTensorType>(value.getType()).getShape() == shape)
    return value;
  return n.create<graph::ReshapeOp>(value,
                                    n.builder().getDenseI64ArrayAttr(shape));
}

Value sliceAlong(NodeImporter &n, Value value, int64_t axis, int64_t start,
                 int64_t size, int64_t stride) {
  auto shape = cast<RankedTensorType>(value.getType()).getShape();
  SmallVector<int64_t> starts(shape.size(), 0), sizes(shape),
      steps(shape.size(), 1);
  starts[axis] = start;
  sizes[axis] = size;
  steps[axis] = stride;
  OpBuilder &b = n.builder();
  return n.create<graph::SliceOp>(value, b.getDenseI64ArrayAttr(starts),
                                  b.getDenseI64ArrayAttr(sizes),
                                  b.getDenseI64ArrayAttr(steps));
}

LogicalResult setReshaped(NodeImporter &n, ArrayRef<int64_t> shape) {
  RankedTensorType type = n.inputType(0);
  if (n.failed())
    return failure();
  std::optional<int64_t> count = checkedElementCount(shape);
  if (!count || *count != type.getNumElements()) {
    auto diag = n.error() << "the new shape " << graph::formatShape(shape);
    if (count)
      diag << " has " << *count << " elements";
    else
      diag << " has no valid element count";
    diag << " but the input " << graph::formatShape(type.getShape()) << " has "
         << type.getNumElements();
    return failure();
  }
  if (const HostTensor *known = n.folded(0)) {
    n.setFolded(0, known->reshape(shape));
    return success();
  }
  n.setOutput(0, reshape(n, n.input(0), shape));
  return success(!n.failed());
}

LogicalResult setSlice(NodeImporter &n, size_t output, ArrayRef<int64_t> starts,
                       ArrayRef<int64_t> sizes, ArrayRef<int64_t> strides) {
  RankedTensorType type = n.inputType(0);
  if (n.failed())
    return failure();
  if (const HostTensor *known = n.folded(0)) {
    auto resultType = type.clone(sizes);
    SmallVector<int64_t> inStrides = stridesOf(type.getShape());
    SmallVector<int64_t> outStrides = stridesOf(sizes);
    n.setFolded(output, known->remap(resultType, [&](int64_t i) {
      int64_t source = 0;
      for (size_t d = 0; d < sizes.size(); ++d) {
        int64_t coord = (i / outStrides[d]) % sizes[d];
        source += (starts[d] + coord * strides[d]) * inStrides[d];
      }
      return source;
    }));
    return success();
  }
  Value input = n.input(0);
  bool whole = sizes == type.getShape() &&
               llvm::all_of(starts, [](int64_t s) { return s == 0; }) &&
               llvm::all_of(strides, [](int64_t s) { return s == 1; });
  if (whole) {
    n.setOutput(output, input);
    return success(!n.failed());
  }
  OpBuilder &b = n.builder();
  n.setOutput(output,
              n.create<graph::SliceOp>(input, b.getDenseI64ArrayAttr(starts),
                                       b.getDenseI64ArrayAttr(sizes),
                                       b.getDenseI64ArrayAttr(strides)));
  return success(!n.failed());
}

std::optional<int64_t> blockSize(NodeImporter &n, RankedTensorType type) {
  int64_t b = n.attrInt("blocksize", 0);
  if (n.failed())
    return std::nullopt;
  if (type.getRank() != 4 || !type.hasStaticShape()) {
    n.error() << "input 0 of type " << type
              << " is not a static N x C x H x W tensor";
    return std::nullopt;
  }
  if (b < 1) {
    n.error() << "blocksize " << b << " must be at least 1";
    return std::nullopt;
  }
  return b;
}

Value filledConstant(NodeImporter &n, RankedTensorType type, double value) {
  return n.create<graph::ConstantOp>(
      HostTensor::ofDoubles(
          type, std::vector<double>(size_t(type.getNumElements()), value))
          .toAttr());
}

Value scalarConstant(NodeImporter &n, Type element, double value) {
  return filledConstant(n, RankedTensorType::get({}, element), value);
}

Value padAlong(NodeImporter &n, Value value, int64_t axis, int64_t before,
               int64_t after, double fill) {
  auto type = cast<RankedTensorType>(value.getType());
  auto block = [&](int64_t count) {
    SmallVector<int64_t> shape(type.getShape());
    shape[axis] = count;
    return filledConstant(
        n, RankedTensorType::get(shape, type.getElementType()), fill);
  };
  SmallVector<Value> parts;
  if (before > 0)
    parts.push_back(block(before));
  parts.push_back(value);
  if (after > 0)
    parts.push_back(block(after));
  return concatAlong(n, parts, axis);
}

Value eluOf(NodeImporter &n, Value x, double alpha) {
  Type t = cast<RankedTensorType>(x.getType()).getElementType();
  Value negative =
      n.create<graph::MulOp>(scalarConstant(n, t, alpha),
                             n.create<graph::SubOp>(n.create<graph::ExpOp>(x),
                                                    scalarConstant(n, t, 1)));
  return n.create<graph::WhereOp>(
      n.create<graph::GreaterOp>(x, scalarConstant(n, t, 0)), x, negative);
}

Value softplusOf(NodeImporter &n, Value x) {
  Type t = cast<RankedTensorType>(x.getType()).getElementType();
  Value tail = n.create<graph::LogOp>(n.create<graph::AddOp>(
      scalarConstant(n, t, 1),
      n.create<graph::ExpOp>(
          n.create<graph::NegOp>(n.create<graph::AbsOp>(x)))));
  return n.create<graph::AddOp>(
      n.create<graph::MaxOp>(x, scalarConstant(n, t, 0)), tail);
}

Value softsignOf(NodeImporter &n, Value x) {
  Type t = cast<RankedTensorType>(x.getType()).getElementType();
  return n.create<graph::DivOp>(
      x, n.create<graph::AddOp>(scalarConstant(n, t, 1),
                                n.create<graph::AbsOp>(x)));
}

Value thresholdedReluOf(NodeImporter &n, Value x, double alpha) {
  Type t = cast<RankedTensorType>(x.getType()).getElementType();
  return n.create<graph::WhereOp>(
      n.create<graph::GreaterOp>(x, scalarConstant(n, t, alpha)), x,
      scalarConstant(n, t, 0));
}

std::optional<std::vector<int64_t>>
windowPads(NodeImporter &n, ArrayRef<int64_t> spatial, ArrayRef<int64_t> kernel,
           ArrayRef<int64_t> strides, ArrayRef<int64_t> dilations) {
  size_t count = spatial.size();
  for (auto [name, values] :
       {std::pair("strides", strides), std::pair("dilations", dilations)}) {
    for (int64_t v : values) {
      if (v < 1) {
        n.error() << "attribute '" << name << "' holds " << v
                  << "; every entry must be at least 1";
        return std::nullopt;
      }
    }
  }
  std::string autoPad = n.attrString("auto_pad", "NOTSET");
  std::vector<int64_t> pads(2 * count, 0);
  if (autoPad == "NOTSET") {
    pads = n.attrInts("pads", pads);
    if (pads.size() != 2 * count) {
      n.error() << "attribute 'pads' has " << pads.size() << " entries; "
                << count << " spatial dimensions need " << 2 * count;
      return std::nullopt;
    }
  } else if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
    // Output size ceil(in / stride); the padding that gives it is split
    // evenly, the odd one at the end (UPPER) or the beginning (LOWER).
    for (size_t i = 0; i < count; ++i) {
      int64_t out = (spatial[i] + strides[i] - 1) / strides[i];
      int64_t total = std::max<int64_t>(0, (out - 1) * strides[i] +
                                               (kernel[i] - 1) * dilations[i] +
                                               1 - spatial[i]);
      int64_t begin = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pads[i] = begin;
      pads[count + i] = total - begin;
    }
  } else if (autoPad != "VALID") {
    n.error() << "attribute 'auto_pad' is '" << autoPad
              << "'; expected NOTSET, SAME_UPPER, SAME_LOWER or VALID";
    return std::nullopt;
  }
  if (n.failed())
    return std::nullopt;
  return pads;
}

Value reversedPositions(NodeImporter &n, Value lens, int64_t steps,
                        Value *valid) {
  Type i64 = n.builder().getI64Type();
  if (cast<RankedTensorType>(lens.getType()).getElementType() != i64)
    lens = n.create<graph::CastOp>(lens, TypeAttr::get(i64));
  int64_t batch = cast<RankedTensorType>(lens.getType()).getNumElements();
  Value len = reshape(n, lens, {1, batch});
  std::vector<int64_t> positions(static_cast<size_t>(steps));
  for (int64_t t = 0; t < steps; ++t)
    positions[size_t(t)] = t;
  Value t = n.create<graph::ConstantOp>(
      HostTensor::ofInts(RankedTensorType::get({steps, 1}, i64), positions)
          .toAttr());
  Value inside = n.create<graph::LessOp>(t, len);
  if (valid)
    *valid = inside;
  return n.create<graph::WhereOp>(
      inside,
      n.create<graph::SubOp>(n.create<graph::SubOp>(len, t),
                             scalarConstant(n, i64, 1)),
      t);
}

/// The index of x's max (min) along normalized `axis`: the first, or with
/// `last` the last, position that equals it or is NaN. `iota`, when given,
/// receives the constant [0, size) laid along `axis`.
Value argExtreme(NodeImporter &n, Value x, int64_t axis, bool isMax, bool last,
                 bool keepdims, Value *iota) {
  auto type = cast<RankedTensorType>(x.getType());
  OpBuilder &b = n.builder();
  auto axes = b.getDenseI64ArrayAttr({axis});
  Value extreme =
      isMax ? n.create<graph::ReduceMaxOp>(x, axes, b.getBoolAttr(true))
            : n.create<graph::ReduceMinOp>(x, axes, b.getBoolAttr(true));
  Value hit = n.create<graph::EqualOp>(x, extreme);
  if (isa<FloatType>(type.getElementType()))
    hit = n.create<graph::OrOp>(hit, n.create<graph::IsNanOp>(x));
  int64_t size = type.getDimSize(axis);
  SmallVector<int64_t> shape(type.getRank(), 1);
  shape[axis] = size;
  std::vector<int64_t> positions(size);
  for (int64_t i = 0; i < size; ++i)
    positions[i] = i;
  Type i64 = b.getI64Type();
  Value index = n.create<graph::ConstantOp>(
      HostTensor::ofInts(RankedTensorType::get(shape, i64), positions)
          .toAttr());
  if (iota)
    *iota = index;
  Value none = n.create<graph::ConstantOp>(
      HostTensor::ofInts(RankedTensorType::get({}, i64), {last ? -1 : size})
          .toAttr());
  Value candidates = n.create<graph::WhereOp>(hit, index, none);
  auto keep = b.getBoolAttr(keepdims);
  return last ? n.create<graph::ReduceMaxOp>(candidates, axes, keep)
              : n.create<graph::ReduceMinOp>(candidates, axes, keep);
}

} // namespace kiln::onnx
