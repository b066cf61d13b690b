//===- ConvertMtoZ.cpp - ONNX ops MatMul..Where into kiln ops -------------===//
//
// One function per ONNX op, named after it; each follows the ONNX operator
// spec for every opset the table below admits (`minOpset` and later).
//
//===----------------------------------------------------------------------===//
#include "compiler/onnx/ConvertUtils.h"
#include "compiler/onnx/TensorData.h"

#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

using namespace mlir;

namespace kiln::onnx {
namespace {

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

/// All of a variadic node's inputs combined by a chain of broadcasting
/// binary `OpTy`s (null after an error).
template <typename OpTy> Value chainOfInputs(NodeImporter &n) {
  Value acc = n.input(0);
  for (int64_t i = 1; i < n.node().input_size() && !n.failed(); ++i)
    acc = n.create<OpTy>(acc, n.input(i));
  return n.failed() ? Value() : acc;
}

/// Max, Min and Sum: variadic, broadcasting; folded with `f` and `g` when
/// every input is known, a chain of binary ops otherwise.
template <typename OpTy>
LogicalResult convertVariadic(NodeImporter &n, double (*f)(double, double),
                              int64_t (*g)(int64_t, int64_t)) {
  int64_t count = n.node().input_size();
  if (count == 0)
    return n.error() << "needs at least one input";
  std::vector<const HostTensor *> known;
  for (int64_t i = 0; i < count; ++i)
    known.push_back(n.folded(i));
  if (llvm::all_of(known, [](const HostTensor *t) { return t != nullptr; })) {
    HostTensor acc = *known[0];
    for (int64_t i = 1; i < count; ++i) {
      if (known[i]->type().getElementType() != acc.type().getElementType())
        return n.error() << "inputs must have the same element type";
      if (failed(graph::broadcastShapes(acc.shape(), known[i]->shape(),
                                        errorAt(n), "input 0",
                                        "input " + std::to_string(i))))
        return failure();
      acc = HostTensor::broadcastBinary(acc, *known[i],
                                        acc.type().getElementType(), f, g);
    }
    n.setFolded(0, std::move(acc));
    return success();
  }
  Value acc = chainOfInputs<OpTy>(n);
  if (!acc)
    return failure();
  n.setOutput(0, acc);
  return success();
}

LogicalResult convertMax(NodeImporter &n) {
  return convertVariadic<graph::MaxOp>(
      n, [](double a, double b) { return std::max(a, b); },
      [](int64_t a, int64_t b) { return std::max(a, b); });
}
LogicalResult convertMin(NodeImporter &n) {
  return convertVariadic<graph::MinOp>(
      n, [](double a, double b) { return std::min(a, b); },
      [](int64_t a, int64_t b) { return std::min(a, b); });
}
LogicalResult convertSum(NodeImporter &n) {
  return convertVariadic<graph::AddOp>(
      n, [](double a, double b) { return a + b; },
      [](int64_t a, int64_t b) { return int64_t(uint64_t(a) + uint64_t(b)); });
}

/// Mean: the inputs' broadcast sum over their count.
LogicalResult convertMean(NodeImporter &n) {
  int64_t count = n.node().input_size();
  if (count == 0)
    return n.error() << "needs at least one input";
  RankedTensorType type = n.inputType(0);
  Value acc = chainOfInputs<graph::AddOp>(n);
  if (!acc)
    return failure();
  if (count > 1)
    acc = n.create<graph::DivOp>(
        acc, scalarConstant(n, type.getElementType(), double(count)));
  n.setOutput(0, acc);
  return success(!n.failed());
}

LogicalResult convertXor(NodeImporter &n) {
  return convertBinary<graph::XorOp>(n, nullptr, [](int64_t a, int64_t b) {
    return int64_t((a != 0) != (b != 0));
  });
}

/// Mod: fmod = 1 is C's fmod (kiln.fmod), fmod = 0 Python's % (kiln.mod),
/// which ONNX allows only for integers.
LogicalResult convertMod(NodeImporter &n) {
  bool fmod = n.attrInt("fmod", 0) != 0;
  RankedTensorType type = n.inputType(0);
  if (n.failed())
    return failure();
  if (!fmod && isa<FloatType>(type.getElementType())) {
    n.error() << "Mod of floating-point inputs needs fmod = 1 (the ONNX "
                 "spec leaves fmod = 0 to integers)";
    return failure();
  }
  if (fmod)
    return convertBinary<graph::FmodOp>(
        n, [](double a, double b) { return std::fmod(a, b); },
        [](int64_t a, int64_t b) { return b == 0 || b == -1 ? 0 : a % b; });
  return convertBinary<graph::ModOp>(n, nullptr, [](int64_t a, int64_t b) {
    if (b == 0 || b == -1)
      return int64_t(0);
    int64_t r = a % b;
    return r != 0 && ((r < 0) != (b < 0)) ? r + b : r;
  });
}

LogicalResult convertOr(NodeImporter &n) {
  return convertBinary<graph::OrOp>(
      n, nullptr, [](int64_t a, int64_t b) { return int64_t(a || b); });
}

/// `x` with each dimension d made `factors[d]` times as long by a broadcast
/// between two views: whole copies one after another (`copies`, Tile: [d]
/// viewed as [1, d], broadcast to [r, d]) or each element repeated in place
/// (Resize's nearest: [d, 1] to [d, r]), then viewed as [r * d]. Its
/// gradient sums the repeats back.
Value repeated(NodeImporter &n, Value x, ArrayRef<int64_t> factors,
               bool copies) {
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> split, grown, out;
  for (auto [size, r] : llvm::zip(type.getShape(), factors)) {
    out.push_back(size * r);
    if (r != 1 && copies) {
      split.push_back(1);
      grown.push_back(r);
    }
    split.push_back(size);
    grown.push_back(size);
    if (r != 1 && !copies) {
      split.push_back(1);
      grown.push_back(r);
    }
  }
  if (ArrayRef<int64_t>(out) == type.getShape())
    return x;
  Value broadcast = n.create<graph::BroadcastToOp>(
      reshape(n, x, split), n.builder().getDenseI64ArrayAttr(grown));
  return reshape(n, broadcast, out);
}

/// TopK: k passes of an ArgMax (ArgMin with largest = 0) along the axis, each
/// taking the element it finds out of the running (replaced by the lowest
/// value, -inf for floats, so the next pass finds the next one): the indices,
/// in order, ties to the lower index (as ONNX sorts them); the values gathered
/// from the input at those indices (GatherElements), so TopK trains through
/// the gather's gradient. Cost: k reductions over the input (meant for small
/// k: mixture-of-experts routing). Once only values equal to the replacement
/// remain (an input holding -inf), an index may repeat.
LogicalResult convertTopK(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  std::optional<std::vector<int64_t>> ks =
      n.opset() >= 10 ? n.constantInts(1, "K")
                      : std::optional<std::vector<int64_t>>(
                            std::vector<int64_t>{n.attrInt("k", -1)});
  if (!ks || n.failed())
    return failure();
  if (ks->size() != 1)
    return n.error() << "K must be one value, not " << ks->size();
  bool largest = n.attrInt("largest", 1) != 0;
  auto axis = normalizeAxisAt(n, n.attrInt("axis", -1), type.getRank(), "axis");
  Value x = n.input(0);
  if (!axis || n.failed())
    return failure();
  if (!type.hasStaticShape())
    return n.error() << "input 0 has a dynamic shape " << type
                     << "; TopK needs a static one";
  int64_t k = (*ks)[0], size = type.getDimSize(*axis);
  if (k < 1 || k > size)
    return n.error() << "K " << k << " is outside [1, " << size
                     << "], the size of axis " << *axis;
  OpBuilder &b = n.builder();
  Type element = type.getElementType();
  // What replaces a taken element: below (above) every other value.
  Value fillValue;
  if (isa<FloatType>(element)) {
    double inf = std::numeric_limits<double>::infinity();
    fillValue = scalarConstant(n, element, largest ? -inf : inf);
  } else {
    unsigned width = element.getIntOrFloatBitWidth();
    int64_t low = width >= 64 ? std::numeric_limits<int64_t>::min()
                              : -(int64_t(1) << (width - 1));
    int64_t high = width >= 64 ? std::numeric_limits<int64_t>::max()
                               : (int64_t(1) << (width - 1)) - 1;
    fillValue = n.create<graph::ConstantOp>(
        HostTensor::ofInts(RankedTensorType::get({}, element),
                           {largest ? low : high})
            .toAttr());
  }
  SmallVector<Value> indices;
  Value left = x;
  for (int64_t t = 0; t < k; ++t) {
    Value iota;
    Value index = argExtreme(n, left, *axis, largest, /*last=*/false,
                             /*keepdims=*/true, &iota);
    if (n.failed())
      return failure();
    indices.push_back(index);
    if (t + 1 < k)
      left = n.create<graph::WhereOp>(n.create<graph::EqualOp>(iota, index),
                                      fillValue, left);
  }
  Value all = concatAlong(n, indices, *axis);
  if (n.failed())
    return failure();
  n.setOutput(0, n.create<graph::GatherElementsOp>(
                     x, all, b.getI64IntegerAttr(*axis)));
  n.setOutput(1, all);
  return success(!n.failed());
}

/// OneHot: `values[1]` where an index (negative ones counted from `depth`)
/// equals its position along the new axis, `values[0]` elsewhere: an equal
/// against a constant range, then a where.
LogicalResult convertOneHot(NodeImporter &n) {
  RankedTensorType idx = n.inputType(0), valuesType = n.inputType(2);
  // depth may be of any numeric type (a float one is truncated).
  std::optional<HostTensor> depthValue = n.constantInput(1, "depth");
  int64_t axis = n.attrInt("axis", -1);
  if (!depthValue || n.failed())
    return failure();
  if (depthValue->type().getNumElements() != 1 ||
      depthValue->doubleAt(0) < 1)
    return n.error() << "depth must be one value of at least 1";
  if (valuesType.getNumElements() != 2)
    return n.error() << "values must hold 2 values [off, on], not "
                     << valuesType.getNumElements();
  if (!idx.hasStaticShape())
    return n.error() << "input 0 has a dynamic shape " << idx
                     << "; OneHot needs a static one";
  int64_t depth = int64_t(depthValue->doubleAt(0)), rank = idx.getRank() + 1;
  if (axis < -rank || axis >= rank)
    return n.error() << "axis " << axis << " is out of range for the result's "
                     << "rank " << rank;
  if (axis < 0)
    axis += rank;
  OpBuilder &b = n.builder();
  auto i64 = b.getI64Type();
  Value ix = n.input(0), values = n.input(2);
  if (n.failed())
    return failure();
  if (idx.getElementType() != i64)
    ix = n.create<graph::CastOp>(ix, TypeAttr::get(i64));
  auto scalarI64 = [&](int64_t v) {
    return n.create<graph::ConstantOp>(
        HostTensor::ofInts(RankedTensorType::get({}, i64), {v}).toAttr());
  };
  ix = n.create<graph::WhereOp>(n.create<graph::LessOp>(ix, scalarI64(0)),
                                n.create<graph::AddOp>(ix, scalarI64(depth)),
                                ix);
  SmallVector<int64_t> withUnit(idx.getShape()), positions(rank, 1);
  withUnit.insert(withUnit.begin() + axis, 1);
  positions[axis] = depth;
  std::vector<int64_t> range(depth);
  for (int64_t i = 0; i < depth; ++i)
    range[i] = i;
  Value positionsValue = n.create<graph::ConstantOp>(
      HostTensor::ofInts(RankedTensorType::get(positions, i64), range)
          .toAttr());
  Value hit =
      n.create<graph::EqualOp>(reshape(n, ix, withUnit), positionsValue);
  Value flat = reshape(n, values, {2});
  auto pick = [&](int64_t i) {
    return reshape(n,
                   n.create<graph::SliceOp>(flat, b.getDenseI64ArrayAttr({i}),
                                            b.getDenseI64ArrayAttr({1}),
                                            b.getDenseI64ArrayAttr({1})),
                   {});
  };
  n.setOutput(0, n.create<graph::WhereOp>(hit, pick(1), pick(0)));
  return success(!n.failed());
}

/// Pad: along each padded dimension, the input between two blocks, joined
/// by a concat: a constant (mode constant), the border element repeated
/// (edge), or the elements next to the border read backwards (reflect);
/// negative pads cut (a slice). Every block is a graph op with a gradient,
/// so Pad trains through them.
LogicalResult convertPad(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  if (n.failed())
    return failure();
  std::string mode = n.attrString("mode", "constant");
  int64_t rank = type.getRank();
  std::vector<int64_t> pads, axes;
  double value = 0;
  if (n.opset() < 11) {
    pads = n.attrInts("pads");
    value = n.attrFloat("value", 0.0f);
  } else {
    auto given = n.constantInts(1, "pads");
    if (!given)
      return failure();
    pads = *given;
    if (n.hasInput(2)) {
      const HostTensor *c = n.folded(2);
      if (!c)
        return n.error() << "constant_value (input 2) must be a constant";
      if (c->type().getNumElements() != 1)
        return n.error() << "constant_value (input 2) must be one value";
      value = c->doubleAt(0);
    }
    if (n.hasInput(3)) {
      auto given = n.constantInts(3, "axes");
      if (!given)
        return failure();
      axes = *given;
    }
  }
  if (n.failed())
    return failure();
  if (mode != "constant" && mode != "reflect" && mode != "edge")
    return n.error() << "mode '" << mode
                     << "' is not supported yet (constant, reflect and edge "
                        "are)";
  if (axes.empty())
    for (int64_t d = 0; d < rank; ++d)
      axes.push_back(d);
  for (int64_t &a : axes) {
    if (a < -rank || a >= rank)
      return n.error() << "axis " << a << " is out of range for rank " << rank;
    if (a < 0)
      a += rank;
  }
  if (pads.size() != 2 * axes.size())
    return n.error() << "pads has " << pads.size() << " values for "
                     << axes.size() << " axes (expected " << 2 * axes.size()
                     << ")";
  if (!type.hasStaticShape())
    return n.error() << "input 0 has a dynamic shape " << type
                     << "; Pad needs a static one";
  OpBuilder &b = n.builder();
  Value x = n.input(0);
  if (n.failed())
    return failure();
  Type element = type.getElementType();
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t d = axes[i], before = pads[i], after = pads[i + axes.size()];
    int64_t size = cast<RankedTensorType>(x.getType()).getDimSize(d);
    if (before < 0 || after < 0) {
      int64_t cutBefore = std::max<int64_t>(0, -before),
              cutAfter = std::max<int64_t>(0, -after);
      if (cutBefore + cutAfter >= size)
        return n.error() << "pads [" << before << ", " << after
                         << "] on axis " << d << " of size " << size
                         << " leave nothing";
      size -= cutBefore + cutAfter;
      x = sliceAlong(n, x, d, cutBefore, size);
      before = std::max<int64_t>(0, before);
      after = std::max<int64_t>(0, after);
    }
    if (before == 0 && after == 0)
      continue;
    if (mode == "reflect" && std::max(before, after) >= size)
      return n.error() << "pads [" << before << ", " << after << "] on axis "
                       << d << " of size " << size
                       << " reach past what reflect mode can copy (at most "
                       << size - 1 << ")";
    auto block = [&](bool atStart, int64_t count) -> Value {
      SmallVector<int64_t> shape(
          cast<RankedTensorType>(x.getType()).getShape());
      shape[d] = count;
      if (mode == "constant")
        return filledConstant(n, RankedTensorType::get(shape, element), value);
      if (mode == "edge") {
        Value border = sliceAlong(n, x, d, atStart ? 0 : size - 1, 1);
        return count == 1 ? border
                          : n.create<graph::BroadcastToOp>(
                                border, b.getDenseI64ArrayAttr(shape));
      }
      return atStart ? sliceAlong(n, x, d, count, count, -1) // reflect
                     : sliceAlong(n, x, d, size - 2, count, -1);
    };
    SmallVector<Value> parts;
    if (before > 0)
      parts.push_back(block(true, before));
    parts.push_back(x);
    if (after > 0)
      parts.push_back(block(false, after));
    x = n.create<graph::ConcatOp>(parts, b.getI64IntegerAttr(d));
  }
  n.setOutput(0, x);
  return success(!n.failed());
}

/// The source coordinate (in input pixels) of output position `x` along an
/// axis resized from `in` to `out` positions by `scale`, as the
/// coordinate_transformation_mode says. `length` is the resized length the
/// formulas use: in * scale, unrounded, when scales are given (out when
/// sizes are); `roi`: tf_crop_and_resize's normalized start and end.
double resizeSource(StringRef mode, double x, int64_t in, int64_t out,
                    double length, double scale, double roiStart,
                    double roiEnd) {
  if (mode == "pytorch_half_pixel")
    return length > 1 ? (x + 0.5) / scale - 0.5 : 0;
  if (mode == "align_corners")
    return length == 1 ? 0 : x * double(in - 1) / (length - 1);
  if (mode == "asymmetric")
    return x / scale;
  if (mode == "tf_half_pixel_for_nn")
    return (x + 0.5) / scale;
  if (mode == "tf_crop_and_resize")
    return length > 1 ? roiStart * double(in - 1) +
                            x * (roiEnd - roiStart) * double(in - 1) /
                                (length - 1)
                      : 0.5 * (roiStart + roiEnd) * double(in - 1);
  if (mode == "half_pixel_symmetric") {
    double adjustment = double(out) / length;
    double center = double(in) / 2;
    return center * (1 - adjustment) + (x + 0.5) / scale - 0.5;
  }
  return (x + 0.5) / scale - 0.5; // half_pixel
}

/// How Resize reads one axis: out x in weights (each output a combination
/// of input positions, edges repeated past the ends) and, for
/// tf_crop_and_resize, the outputs whose source falls outside (they take
/// extrapolation_value).
struct ResizeAxis {
  std::vector<double> weights; // [out][in]
  std::vector<bool> outside;   // [out]
};

ResizeAxis resizeAxis(StringRef mode, StringRef coordinates,
                      StringRef nearestMode, double cubicA,
                      bool excludeOutside, int64_t in, int64_t out,
                      double length, double scale, double roiStart,
                      double roiEnd) {
  ResizeAxis axis{std::vector<double>(size_t(out * in), 0.0),
                  std::vector<bool>(size_t(out), false)};
  auto clampIndex = [&](int64_t i) { return std::clamp<int64_t>(i, 0, in - 1); };
  for (int64_t o = 0; o < out; ++o) {
    double x = resizeSource(coordinates, double(o), in, out, length, scale,
                            roiStart, roiEnd);
    double *row = &axis.weights[size_t(o * in)];
    if (coordinates == "tf_crop_and_resize" &&
        (x < 0 || x > double(in - 1))) {
      axis.outside[size_t(o)] = true;
      continue;
    }
    double base = std::floor(x), r = x - base;
    int64_t f = int64_t(base);
    if (mode == "nearest") {
      bool up = nearestMode == "round_prefer_ceil" ? r >= 0.5
                : nearestMode == "floor"           ? false
                : nearestMode == "ceil"            ? r > 0
                                                   : r > 0.5; // prefer floor
      row[clampIndex(up ? f + 1 : f)] = 1;
      continue;
    }
    // Taps from the floor: (f, f + 1) linear, (f - 1 .. f + 2) cubic.
    SmallVector<std::pair<int64_t, double>, 4> taps;
    if (mode == "linear") {
      taps = {{f, 1 - r}, {f + 1, r}};
    } else {
      double A = cubicA;
      auto far = [&](double d) { // 1 < d < 2
        return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A;
      };
      auto near = [&](double d) { // d <= 1
        return ((A + 2) * d - (A + 3)) * d * d + 1;
      };
      taps = {{f - 1, far(r + 1)}, {f, near(r)}, {f + 1, near(1 - r)},
              {f + 2, far(2 - r)}};
    }
    double total = 0;
    for (auto &[i, w] : taps) {
      if (excludeOutside && (i < 0 || i >= in))
        w = 0;
      total += w;
    }
    for (auto [i, w] : taps)
      row[clampIndex(i)] += excludeOutside && total != 0 ? w / total : w;
  }
  return axis;
}

/// Resize and Upsample (static shapes; scales or sizes known at compile
/// time). Nearest by whole scales (the common upsampling) is a broadcast;
/// everything else -- nearest of any ratio and rounding, linear and cubic
/// (with cubic_coeff_a and exclude_outside), every
/// coordinate_transformation_mode -- resizes one axis at a time as a
/// product with a constant weight matrix (out x in; at most four nonzeros a
/// row), which trains through the product's gradient.
LogicalResult convertResize(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  if (n.failed())
    return failure();
  int64_t rank = type.getRank();
  bool upsample = n.node().op_type() == "Upsample";
  std::string mode = n.attrString("mode", "nearest");
  std::string coordinates =
      upsample ? "asymmetric"
               : n.attrString("coordinate_transformation_mode", "half_pixel");
  std::string nearest =
      upsample ? "floor" : n.attrString("nearest_mode", "round_prefer_floor");
  double cubicA = n.attrFloat("cubic_coeff_a", -0.75f);
  bool excludeOutside = n.attrInt("exclude_outside", 0) != 0;
  double extrapolation = n.attrFloat("extrapolation_value", 0.0f);
  if (n.failed())
    return failure();
  if (mode == "bilinear" || mode == "trilinear")
    mode = "linear"; // Upsample's older names
  if (mode != "nearest" && mode != "linear" && mode != "cubic")
    return n.error() << "mode '" << mode << "' is not nearest, linear or cubic";
  static constexpr StringRef kCoordinates[] = {
      "half_pixel", "half_pixel_symmetric", "pytorch_half_pixel",
      "align_corners", "asymmetric", "tf_half_pixel_for_nn",
      "tf_crop_and_resize"};
  if (!llvm::is_contained(kCoordinates, coordinates))
    return n.error() << "coordinate_transformation_mode '" << coordinates
                     << "' is not one the spec lists";
  if (mode == "nearest" &&
      !llvm::is_contained({"round_prefer_floor", "round_prefer_ceil", "floor",
                           "ceil"},
                          nearest))
    return n.error() << "nearest_mode '" << nearest
                     << "' is not round_prefer_floor, round_prefer_ceil, "
                        "floor or ceil";
  if (n.attrInt("antialias", 0) != 0)
    return n.error() << "antialias is not supported yet";
  if (n.attrString("keep_aspect_ratio_policy", "stretch") != "stretch")
    return n.error() << "keep_aspect_ratio_policy '"
                     << n.attrString("keep_aspect_ratio_policy", "stretch")
                     << "' is not supported yet (stretch is)";
  if (n.failed())
    return failure();
  if (!type.hasStaticShape())
    return n.error() << "input 0 has a dynamic shape " << type
                     << "; Resize needs a static one";
  if (!upsample && n.hasAttr("axes"))
    return n.error() << "the axes attribute is not supported yet";
  // Each dimension's output size and the scale its coordinates use: from
  // sizes (scale = out / in), or from scales (out = floor(in * scale)).
  SmallVector<int64_t> sizesOut;
  SmallVector<double> scales;
  size_t scalesInput = upsample || n.opset() < 11 ? 1 : 2;
  bool fromSizes = n.opset() >= 11 && !upsample && n.hasInput(3);
  if (fromSizes) {
    auto sizes = n.constantInts(3, "sizes");
    if (!sizes)
      return failure();
    if (int64_t(sizes->size()) != rank)
      return n.error() << "sizes has " << sizes->size()
                       << " values for input 0 of rank " << rank;
    for (int64_t d = 0; d < rank; ++d) {
      if ((*sizes)[d] < 1)
        return n.error() << "sizes["  << d << "] is " << (*sizes)[d]
                         << "; every size must be at least 1";
      sizesOut.push_back((*sizes)[d]);
      scales.push_back(double((*sizes)[d]) / double(type.getDimSize(d)));
    }
  } else {
    std::vector<float> given;
    if (upsample && n.opset() < 9) {
      given = n.attrFloats("scales");
    } else {
      std::optional<HostTensor> known = n.constantInput(scalesInput, "scales");
      if (!known)
        return failure();
      for (int64_t i = 0; i < known->type().getNumElements(); ++i)
        given.push_back(float(known->doubleAt(i)));
    }
    if (int64_t(given.size()) != rank)
      return n.error() << "scales has " << given.size()
                       << " values for input 0 of rank " << rank;
    for (int64_t d = 0; d < rank; ++d) {
      int64_t out = int64_t(std::floor(double(type.getDimSize(d)) * given[d]));
      if (!(given[d] > 0) || out < 1) {
        char written[32];
        std::snprintf(written, sizeof(written), "%g", double(given[d]));
        return n.error() << "a scale of " << written << " on axis " << d
                         << " leaves no output (scales must be positive)";
      }
      sizesOut.push_back(out);
      scales.push_back(given[d]);
    }
  }
  std::vector<double> roi;
  if (coordinates == "tf_crop_and_resize") {
    std::optional<HostTensor> known =
        n.hasInput(1) ? n.constantInput(1, "roi") : std::nullopt;
    if (!known)
      return n.hasInput(1) ? failure()
                           : (n.error() << "tf_crop_and_resize needs roi "
                                           "(input 1)",
                              failure());
    if (known->size() != 2 * rank)
      return n.error() << "roi has " << known->size() << " values; input 0 of "
                       << "rank " << rank << " needs " << 2 * rank;
    for (int64_t i = 0; i < known->size(); ++i)
      roi.push_back(known->doubleAt(i));
  }
  Value x = n.input(0);
  if (n.failed())
    return failure();
  // Nearest by whole scales, the same positions as a repeat: a broadcast.
  bool repeat = mode == "nearest" &&
                ((coordinates == "asymmetric" && nearest == "floor") ||
                 ((coordinates == "half_pixel" ||
                   coordinates == "pytorch_half_pixel") &&
                  (nearest == "round_prefer_floor" ||
                   nearest == "round_prefer_ceil")));
  SmallVector<int64_t> factors;
  for (int64_t d = 0; d < rank && repeat; ++d) {
    int64_t in = type.getDimSize(d), out = sizesOut[d];
    repeat &= out % in == 0 && scales[d] == double(out / in);
    factors.push_back(out / in);
  }
  if (repeat) {
    n.setOutput(0, repeated(n, x, factors, /*copies=*/false));
    return success(!n.failed());
  }
  OpBuilder &b = n.builder();
  Type t = type.getElementType();
  for (int64_t d = 0; d < rank; ++d) {
    int64_t in = type.getDimSize(d), out = sizesOut[d];
    if (out == in && scales[d] == 1 && coordinates != "tf_crop_and_resize")
      continue;
    ResizeAxis axis = resizeAxis(
        mode, coordinates, nearest, cubicA, excludeOutside, in, out,
        fromSizes ? double(out) : double(in) * scales[d], scales[d],
        roi.empty() ? 0 : roi[size_t(d)],
        roi.empty() ? 1 : roi[size_t(d + rank)]);
    // The axis last, as rows of `in` values, times the weights [in, out].
    SmallVector<int64_t> perm;
    for (int64_t a = 0; a < rank; ++a)
      if (a != d)
        perm.push_back(a);
    perm.push_back(d);
    SmallVector<int64_t> shape(cast<RankedTensorType>(x.getType()).getShape());
    Value moved = d == rank - 1 ? x
                                : n.create<graph::TransposeOp>(
                                      x, b.getDenseI64ArrayAttr(perm));
    int64_t rows = 1;
    SmallVector<int64_t> movedShape;
    for (int64_t a : perm) {
      movedShape.push_back(a == d ? out : shape[a]);
      rows *= a == d ? 1 : shape[a];
    }
    std::vector<double> weightsT(size_t(in * out));
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < in; ++i)
        weightsT[size_t(i * out + o)] = axis.weights[size_t(o * in + i)];
    Value w = n.create<graph::ConstantOp>(
        HostTensor::ofDoubles(RankedTensorType::get({in, out}, t), weightsT)
            .toAttr());
    Value y = n.create<graph::MatMulOp>(reshape(n, moved, {rows, in}), w);
    if (llvm::is_contained(axis.outside, true)) {
      std::vector<double> fill(static_cast<size_t>(out)),
          keep(static_cast<size_t>(out));
      for (int64_t o = 0; o < out; ++o) {
        fill[size_t(o)] = axis.outside[size_t(o)] ? extrapolation : 0;
        keep[size_t(o)] = axis.outside[size_t(o)] ? 0 : 1;
      }
      auto row = RankedTensorType::get({out}, t);
      y = n.create<graph::AddOp>(
          n.create<graph::MulOp>(
              y, n.create<graph::ConstantOp>(
                     HostTensor::ofDoubles(row, keep).toAttr())),
          n.create<graph::ConstantOp>(HostTensor::ofDoubles(row, fill).toAttr()));
    }
    y = reshape(n, y, movedShape);
    if (d != rank - 1) {
      SmallVector<int64_t> inverse(rank);
      for (int64_t a = 0; a < rank; ++a)
        inverse[perm[a]] = a;
      y = n.create<graph::TransposeOp>(y, b.getDenseI64ArrayAttr(inverse));
    }
    x = y;
  }
  n.setOutput(0, x);
  return success(!n.failed());
}

/// RandomUniform (shape from an attribute) and RandomUniformLike (from an
/// input): draws happen at run time (kiln.random_uniform says from which
/// seed).
LogicalResult convertRandomUniformImpl(NodeImporter &n, bool like) {
  std::vector<int64_t> shape;
  Type dtype = n.builder().getF32Type();
  if (like) {
    RankedTensorType type = n.inputType(0);
    if (n.failed())
      return failure();
    shape.assign(type.getShape().begin(), type.getShape().end());
    dtype = type.getElementType();
  } else {
    if (!n.hasAttr("shape"))
      return n.missingAttr("shape"), failure();
    shape = n.attrInts("shape");
  }
  if (n.hasAttr("dtype")) {
    int64_t code = n.attrInt("dtype", 0);
    dtype = elementTypeFor(static_cast<int32_t>(code), n.context());
    if (!dtype)
      return n.error() << "dtype " << dataTypeName(code) << " is not supported";
  }
  float low = n.attrFloat("low", 0.0f), high = n.attrFloat("high", 1.0f);
  if (n.failed())
    return failure();
  OpBuilder &b = n.builder();
  IntegerAttr seed;
  if (n.hasAttr("seed"))
    seed = b.getI64IntegerAttr(static_cast<int64_t>(n.attrFloat("seed", 0)));
  n.setOutput(0, n.create<graph::RandomUniformOp>(
                     Value(), b.getDenseI64ArrayAttr(shape),
                     TypeAttr::get(dtype), b.getF64FloatAttr(low),
                     b.getF64FloatAttr(high), seed, IntegerAttr()));
  return success(!n.failed());
}

LogicalResult convertRandomUniform(NodeImporter &n) {
  return convertRandomUniformImpl(n, false);
}
LogicalResult convertRandomUniformLike(NodeImporter &n) {
  return convertRandomUniformImpl(n, true);
}

LogicalResult convertMul(NodeImporter &n) {
  return convertBinary<graph::MulOp>(
      n, [](double a, double b) { return a * b; },
      [](int64_t a, int64_t b) { return a * b; });
}

LogicalResult convertSub(NodeImporter &n) {
  return convertBinary<graph::SubOp>(
      n, [](double a, double b) { return a - b; },
      [](int64_t a, int64_t b) { return a - b; });
}

LogicalResult convertPow(NodeImporter &n) {
  // ONNX lets the exponent have another type than the base, and the result
  // has the base's type. kiln.pow wants one type: an integer base with a
  // float exponent computes in the exponent's type and casts back (so 4^0.5
  // is 2, not 4^0); otherwise the exponent is cast to the base's type.
  RankedTensorType base = n.inputType(0), exponent = n.inputType(1);
  if (n.failed())
    return failure();
  Type baseElement = base.getElementType(),
       expElement = exponent.getElementType();
  const HostTensor *a = n.folded(0), *b = n.folded(1);
  if (a && b) {
    if (failed(graph::broadcastShapes(a->shape(), b->shape(), errorAt(n),
                                      "input 0", "input 1")))
      return failure();
    n.setFolded(0,
                HostTensor::broadcastBinary(
                    a->cast(n.builder().getF64Type()),
                    b->cast(n.builder().getF64Type()), n.builder().getF64Type(),
                    [](double x, double y) { return std::pow(x, y); }, nullptr)
                    .cast(baseElement));
    return success();
  }
  Value x = n.input(0);
  if (n.failed())
    return failure();
  auto castTo = [&](Value v, Type element) {
    return cast<RankedTensorType>(v.getType()).getElementType() == element
               ? v
               : n.create<graph::CastOp>(v, TypeAttr::get(element));
  };
  if (!isa<FloatType>(baseElement) && isa<FloatType>(expElement)) {
    Value result = n.create<graph::PowOp>(castTo(x, expElement), n.input(1));
    n.setOutput(0, result ? castTo(result, baseElement) : Value());
  } else if (b) {
    // A known exponent (x^2 as exported) is converted here, not at run time.
    n.setOutput(
        0, n.create<graph::PowOp>(
               x, n.create<graph::ConstantOp>(b->cast(baseElement).toAttr())));
  } else {
    n.setOutput(0, n.create<graph::PowOp>(x, castTo(n.input(1), baseElement)));
  }
  return success(!n.failed());
}

LogicalResult convertNeg(NodeImporter &n) {
  return convertUnary<graph::NegOp>(
      n, [](double x) { return -x; },
      [](int64_t x) { return int64_t(0 - uint64_t(x)); });
}

//===----------------------------------------------------------------------===//
// Losses
//===----------------------------------------------------------------------===//

/// The negative log-likelihood of `target` under `logProb` ([N, C, d...]
/// and [N, d...]), composed of graph ops so that its gradient comes from
/// theirs: loss = -logProb[n, target, d...] * weight[target], zero (and out
/// of the mean's denominator) where target == ignore_index. `weight` may be
/// null. Reports bad attributes on `n`.
FailureOr<Value> negativeLogLikelihood(NodeImporter &n, Value logProb,
                                       Value target, Value weight) {
  std::string reduction = n.attrString("reduction", "mean");
  std::optional<int64_t> ignore;
  if (n.hasAttr("ignore_index"))
    ignore = n.attrInt("ignore_index", 0);
  if (n.failed())
    return failure();
  if (reduction != "none" && reduction != "sum" && reduction != "mean") {
    n.error() << "reduction must be 'none', 'sum' or 'mean', not '" << reduction
              << "'";
    return failure();
  }
  auto scores = cast<RankedTensorType>(logProb.getType());
  auto targets = cast<RankedTensorType>(target.getType());
  if (scores.getRank() < 2 || targets.getRank() != scores.getRank() - 1 ||
      targets.getDimSize(0) != scores.getDimSize(0) ||
      targets.getShape().drop_front() != scores.getShape().drop_front(2)) {
    n.error() << "target of shape " << graph::formatShape(targets.getShape())
              << " does not match scores of shape "
              << graph::formatShape(scores.getShape())
              << " (scores are N x C x d1 x ..., targets N x d1 x ...)";
    return failure();
  }
  OpBuilder &b = n.builder();
  Type element = scores.getElementType(), i64 = b.getI64Type();
  if (targets.getElementType() != i64)
    target = n.create<graph::CastOp>(target, TypeAttr::get(i64));
  // Ignored positions gather class 0 and weigh nothing.
  Value valid;
  if (ignore) {
    auto scalar = RankedTensorType::get({}, i64);
    valid = n.create<graph::NotOp>(n.create<graph::EqualOp>(
        target, n.create<graph::ConstantOp>(
                    HostTensor::ofInts(scalar, {*ignore}).toAttr())));
    target = n.create<graph::WhereOp>(
        valid, target,
        n.create<graph::ConstantOp>(HostTensor::ofInts(scalar, {0}).toAttr()));
  }
  SmallVector<int64_t> indexShape(targets.getShape());
  indexShape.insert(indexShape.begin() + 1, 1);
  Value picked = n.create<graph::GatherElementsOp>(
      logProb, reshape(n, target, indexShape), b.getI64IntegerAttr(1));
  picked = reshape(n, picked, targets.getShape());
  Value weights =
      weight ? n.create<graph::GatherOp>(weight, target, b.getI64IntegerAttr(0))
             : Value();
  if (valid)
    weights = n.create<graph::WhereOp>(
        valid, weights ? weights : scalarConstant(n, element, 1),
        scalarConstant(n, element, 0));
  Value loss = n.create<graph::NegOp>(
      weights ? n.create<graph::MulOp>(picked, weights) : picked);
  if (reduction == "none")
    return loss;
  SmallVector<int64_t> all;
  for (int64_t d = 0; d < targets.getRank(); ++d)
    all.push_back(d);
  auto sumAll = [&](Value v) -> Value {
    return n.create<graph::ReduceSumOp>(v, b.getDenseI64ArrayAttr(all),
                                        b.getBoolAttr(false));
  };
  Value total = sumAll(loss);
  if (reduction == "sum")
    return total;
  Value count =
      weights ? sumAll(weights)
              : scalarConstant(n, element, double(targets.getNumElements()));
  return Value(n.create<graph::DivOp>(total, count));
}

LogicalResult convertNegativeLogLikelihoodLoss(NodeImporter &n) {
  Value input = n.input(0), target = n.input(1);
  Value weight = n.hasInput(2) ? n.input(2) : Value();
  if (n.failed())
    return failure();
  auto loss = negativeLogLikelihood(n, input, target, weight);
  if (failed(loss))
    return failure();
  n.setOutput(0, *loss);
  return success(!n.failed());
}

/// SoftmaxCrossEntropyLoss: the negative log-likelihood of log_softmax over
/// the classes (axis 1); the second output, when asked for, is that
/// log_softmax.
LogicalResult convertSoftmaxCrossEntropyLoss(NodeImporter &n) {
  Value scores = n.input(0), target = n.input(1);
  Value weight = n.hasInput(2) ? n.input(2) : Value();
  if (n.failed())
    return failure();
  Value logProb =
      n.create<graph::LogSoftmaxOp>(scores, n.builder().getI64IntegerAttr(1));
  auto loss = negativeLogLikelihood(n, logProb, target, weight);
  if (failed(loss))
    return failure();
  n.setOutput(0, *loss);
  if (n.numOutputs() > 1)
    n.setOutput(1, logProb);
  return success(!n.failed());
}

//===----------------------------------------------------------------------===//
// Scatters
//===----------------------------------------------------------------------===//

/// i64 indices `ix` (any integer type) with negative ones counted from
/// `sizes` (a constant broadcast against them).
Value indicesFromEnd(NodeImporter &n, Value ix, ArrayRef<int64_t> sizesShape,
                     ArrayRef<int64_t> sizes) {
  Type i64 = n.builder().getI64Type();
  if (cast<RankedTensorType>(ix.getType()).getElementType() != i64)
    ix = n.create<graph::CastOp>(ix, TypeAttr::get(i64));
  Value bounds = n.create<graph::ConstantOp>(
      HostTensor::ofInts(RankedTensorType::get(sizesShape, i64),
                         std::vector<int64_t>(sizes.begin(), sizes.end()))
          .toAttr());
  return n.create<graph::WhereOp>(
      n.create<graph::LessOp>(ix, scalarConstant(n, i64, 0)),
      n.create<graph::AddOp>(ix, bounds), ix);
}

/// Output 0: `data` viewed as a [cells, width] table with the rows of
/// `updates` ([ids, width]) put at rows `ids` (i64 [count]): added with
/// reduction 'add', in place of the data's with 'none' (where indices
/// repeat, ONNX leaves 'none' undefined; here they add up), multiplied,
/// or the larger or smaller kept with 'mul', 'max', 'min'. One runtime
/// call adds the rows (kiln.embedding_grad), whose gradient gathers them
/// back, so training reaches the updates and the data they leave.
LogicalResult setScattered(NodeImporter &n, Value data, Value ids,
                           Value updates, int64_t cells, int64_t width,
                           StringRef reduction,
                           const std::vector<int64_t> *knownIds) {
  auto type = cast<RankedTensorType>(data.getType());
  Type element = type.getElementType();
  int64_t count = cast<RankedTensorType>(ids.getType()).getNumElements();
  OpBuilder &b = n.builder();
  auto table = [&](int64_t w) {
    return RankedTensorType::get({cells, w}, element);
  };
  if (reduction == "mul" || reduction == "max" || reduction == "min") {
    // In rounds: round r takes each row's r-th update (in the order of the
    // updates), put at its row by the scatter and combined with what the
    // row holds there; the rows it does not reach keep theirs. The rounds
    // come from the indices, which must be known.
    if (!knownIds)
      return n.error() << "the indices (input 1, '" << n.node().input(1)
                       << "') must be known at compile time for reduction '"
                       << reduction
                       << "': kiln combines the updates of a position in "
                          "rounds planned from them";
    std::vector<std::vector<int64_t>> rounds, roundIds;
    std::vector<int64_t> seen(size_t(cells), 0);
    for (auto [p, id] : llvm::enumerate(*knownIds)) {
      size_t r = size_t(seen[size_t(id)]++);
      if (r == rounds.size()) {
        rounds.emplace_back();
        roundIds.emplace_back();
      }
      rounds[r].push_back(int64_t(p));
      roundIds[r].push_back(id);
    }
    Type i64 = b.getI64Type();
    Value rows = reshape(n, updates, {count, width});
    Value current = reshape(n, data, {cells, width});
    for (size_t r = 0; r < rounds.size(); ++r) {
      int64_t c = int64_t(rounds[r].size());
      std::vector<int64_t> reached(size_t(cells), 0);
      for (int64_t id : roundIds[r])
        reached[size_t(id)] = 1;
      // (With no index repeated, one round takes every update in order.)
      Value picked =
          c == count
              ? rows
              : n.create<graph::GatherOp>(
                    rows,
                    intConstant(n, RankedTensorType::get({c}, i64), rounds[r]),
                    b.getI64IntegerAttr(0));
      Value put = b.create<graph::EmbeddingGradOp>(
          n.loc(), table(width),
          intConstant(n, RankedTensorType::get({c}, i64), roundIds[r]),
          picked,
          b.getI64IntegerAttr(cells));
      Value combined =
          reduction == "mul"   ? n.create<graph::MulOp>(current, put)
          : reduction == "max" ? n.create<graph::MaxOp>(current, put)
                               : n.create<graph::MinOp>(current, put);
      current = n.create<graph::WhereOp>(
          intConstant(n, RankedTensorType::get({cells, 1}, b.getI1Type()),
                      std::move(reached)),
          combined, current);
      if (!current)
        return failure();
    }
    n.setOutput(0, reshape(n, current, type.getShape()));
    return success(!n.failed());
  }
  Value added = b.create<graph::EmbeddingGradOp>(
      n.loc(), table(width), ids, reshape(n, updates, {count, width}),
      b.getI64IntegerAttr(cells));
  if (reduction == "add") {
    n.setOutput(0, n.create<graph::AddOp>(
                       data, reshape(n, added, type.getShape())));
    return success(!n.failed());
  }

  // Which rows an update reaches: known at compile time with the indices,
  // else ones added up at run time, compared with zero.
  Value hit;
  if (knownIds) {
    std::vector<int64_t> reached(size_t(cells), 0);
    for (int64_t id : *knownIds)
      reached[size_t(id)] = 1;
    hit = intConstant(n, RankedTensorType::get({cells, 1}, b.getI1Type()),
                      std::move(reached));
  } else {
    Value ones =
        filledConstant(n, RankedTensorType::get({count, 1}, element), 1);
    Value hits = b.create<graph::EmbeddingGradOp>(
        n.loc(), table(1), ids, ones, b.getI64IntegerAttr(cells));
    hit = n.create<graph::GreaterOp>(hits, scalarConstant(n, element, 0));
  }
  Value out = n.create<graph::WhereOp>(hit, added,
                                       reshape(n, data, {cells, width}));
  n.setOutput(0, reshape(n, out, type.getShape()));
  return success(!n.failed());
}

/// The data, indices and updates of a scatter, checked (float data, what
/// the scatter's runtime call adds; integer indices; updates of data's
/// element type), and its reduction (none, add, mul, max or min). None on
/// error.
std::optional<std::string> scatterInputs(NodeImporter &n,
                                         RankedTensorType &data,
                                         RankedTensorType &indices,
                                         RankedTensorType &updates) {
  data = n.inputType(0);
  indices = n.inputType(1);
  updates = n.inputType(2);
  std::string reduction = n.attrString("reduction", "none");
  if (n.failed())
    return std::nullopt;
  if (reduction != "none" && reduction != "add" && reduction != "mul" &&
      reduction != "max" && reduction != "min") {
    n.error() << "reduction '" << reduction
              << "' is not one of none, add, mul, max, min";
    return std::nullopt;
  }
  if (!isa<FloatType>(data.getElementType())) {
    n.error() << "data holds " << data.getElementType()
              << "; kiln scatters floats only";
    return std::nullopt;
  }
  if (!indices.getElementType().isInteger(32) &&
      !indices.getElementType().isInteger(64)) {
    n.error() << "indices hold " << indices.getElementType()
              << "; they must be int32 or int64";
    return std::nullopt;
  }
  if (updates.getElementType() != data.getElementType()) {
    n.error() << "updates hold " << updates.getElementType()
              << ", but data holds " << data.getElementType();
    return std::nullopt;
  }
  return reduction;
}

/// ScatterElements (and its opset 9-10 name, Scatter): each element of
/// `updates` written (or added) at its own position in `data` with the
/// axis coordinate replaced by its index. The flat element ids are the
/// index times the axis's stride plus the other coordinates' part, which is
/// known at compile time.
LogicalResult convertScatterElements(NodeImporter &n) {
  RankedTensorType data, indices, updates;
  auto reduction = scatterInputs(n, data, indices, updates);
  if (!reduction)
    return failure();
  int64_t rank = data.getRank();
  auto axis = normalizeAxisAt(n, n.attrInt("axis", 0), rank, "axis");
  if (!axis)
    return failure();
  if (indices.getRank() != rank || updates.getShape() != indices.getShape())
    return n.error() << "indices of shape "
                     << graph::formatShape(indices.getShape())
                     << " and updates of shape "
                     << graph::formatShape(updates.getShape())
                     << " must have one shape, of data's rank " << rank;
  for (int64_t a = 0; a < rank; ++a)
    if (a != *axis && indices.getDimSize(a) > data.getDimSize(a))
      return n.error() << "indices of shape "
                       << graph::formatShape(indices.getShape())
                       << " reach past data of shape "
                       << graph::formatShape(data.getShape()) << " on axis "
                       << a;
  int64_t size = data.getDimSize(*axis);
  const HostTensor *known = n.folded(1);
  if (known)
    for (int64_t i = 0; i < known->size(); ++i)
      if (known->intAt(i) < -size || known->intAt(i) >= size)
        return n.error() << "index " << known->intAt(i) << " is outside ["
                         << -size << ", " << size << "), axis " << *axis
                         << "'s size";
  Value x = n.input(0), u = n.input(2);
  if (n.failed())
    return failure();
  SmallVector<int64_t> strides(rank, 1);
  for (int64_t a = rank - 2; a >= 0; --a)
    strides[a] = strides[a + 1] * data.getDimSize(a + 1);
  int64_t count = indices.getNumElements();
  std::vector<int64_t> rest(size_t(count), 0);
  for (int64_t p = 0; p < count; ++p) {
    int64_t left = p;
    for (int64_t a = rank - 1; a >= 0; --a) {
      int64_t coordinate = left % indices.getDimSize(a);
      left /= indices.getDimSize(a);
      if (a != *axis)
        rest[size_t(p)] += coordinate * strides[a];
    }
  }
  Type i64 = n.builder().getI64Type();
  auto idsType = RankedTensorType::get({count}, i64);
  if (known) { // The ids at compile time.
    std::vector<int64_t> ids(rest);
    for (int64_t p = 0; p < count; ++p) {
      int64_t at = known->intAt(p);
      ids[size_t(p)] += (at < 0 ? at + size : at) * strides[*axis];
    }
    Value idsValue = n.create<graph::ConstantOp>(
        HostTensor::ofInts(idsType, ids).toAttr());
    return setScattered(n, x, idsValue, u, data.getNumElements(), 1,
                        *reduction, &ids);
  }
  Value at = indicesFromEnd(n, n.input(1), {}, {size});
  Value ids = n.create<graph::AddOp>(
      n.create<graph::MulOp>(at, scalarConstant(n, i64, double(strides[*axis]))),
      n.create<graph::ConstantOp>(
          HostTensor::ofInts(RankedTensorType::get(indices.getShape(), i64),
                             std::move(rest))
              .toAttr()));
  return setScattered(n, x, reshape(n, ids, {count}), u,
                      data.getNumElements(), 1, *reduction, nullptr);
}

/// ScatterND: each index tuple (the last axis of `indices`, k long) names a
/// slice of `data` (its first k coordinates), which the matching slice of
/// `updates` replaces (or is added to).
LogicalResult convertScatterND(NodeImporter &n) {
  RankedTensorType data, indices, updates;
  auto reduction = scatterInputs(n, data, indices, updates);
  if (!reduction)
    return failure();
  int64_t rank = data.getRank(), q = indices.getRank();
  int64_t k = q ? indices.getDimSize(q - 1) : 0;
  if (q < 1 || k < 1 || k > rank)
    return n.error() << "indices of shape "
                     << graph::formatShape(indices.getShape())
                     << " must end in tuples of 1 to " << rank
                     << " coordinates (data's rank)";
  SmallVector<int64_t> expected(indices.getShape().drop_back());
  expected.append(data.getShape().begin() + k, data.getShape().end());
  if (updates.getShape() != ArrayRef<int64_t>(expected))
    return n.error() << "updates have shape "
                     << graph::formatShape(updates.getShape())
                     << "; indices of shape "
                     << graph::formatShape(indices.getShape())
                     << " into data of shape "
                     << graph::formatShape(data.getShape()) << " need "
                     << graph::formatShape(expected);
  SmallVector<int64_t> sizes(data.getShape().take_front(k));
  const HostTensor *known = n.folded(1);
  if (known)
    for (int64_t i = 0; i < known->size(); ++i) {
      int64_t size = sizes[size_t(i % k)], v = known->intAt(i);
      if (v < -size || v >= size)
        return n.error() << "index " << v << " is outside [" << -size << ", "
                         << size << "), axis " << i % k << "'s size";
    }
  Value x = n.input(0), u = n.input(2);
  if (n.failed())
    return failure();
  int64_t cells = 1, width = 1;
  for (int64_t a = 0; a < rank; ++a)
    (a < k ? cells : width) *= data.getDimSize(a);
  std::vector<int64_t> strides(size_t(k), 1);
  for (int64_t j = k - 2; j >= 0; --j)
    strides[size_t(j)] = strides[size_t(j + 1)] * sizes[size_t(j + 1)];
  Type i64 = n.builder().getI64Type();
  int64_t count = indices.getNumElements() / k;
  if (known) { // The rows at compile time.
    std::vector<int64_t> ids(size_t(count), 0);
    for (int64_t i = 0; i < known->size(); ++i) {
      int64_t size = sizes[size_t(i % k)], v = known->intAt(i);
      ids[size_t(i / k)] += (v < 0 ? v + size : v) * strides[size_t(i % k)];
    }
    Value idsValue = n.create<graph::ConstantOp>(
        HostTensor::ofInts(RankedTensorType::get({count}, i64), ids).toAttr());
    return setScattered(n, x, idsValue, u, cells, width, *reduction, &ids);
  }
  Value at = indicesFromEnd(n, n.input(1), {k}, sizes);
  Value cell = n.create<graph::ReduceSumOp>(
      n.create<graph::MulOp>(
          at, n.create<graph::ConstantOp>(
                  HostTensor::ofInts(RankedTensorType::get({k}, i64), strides)
                      .toAttr())),
      n.builder().getDenseI64ArrayAttr({q - 1}), n.builder().getBoolAttr(false));
  return setScattered(n, x, reshape(n, cell, {count}), u, cells, width,
                      *reduction, nullptr);
}

/// Selu: gamma * (x where x > 0, alpha * (exp(x) - 1) elsewhere).
LogicalResult convertSelu(NodeImporter &n) {
  float alpha = n.attrFloat("alpha", 1.67326319217681884765625f);
  float gamma = n.attrFloat("gamma", 1.05070102214813232421875f);
  Value x = n.input(0);
  if (n.failed())
    return failure();
  Type t = cast<RankedTensorType>(x.getType()).getElementType();
  n.setOutput(0, n.create<graph::MulOp>(scalarConstant(n, t, gamma),
                                        eluOf(n, x, alpha)));
  return success(!n.failed());
}

/// Softplus: log(1 + exp(x)) (softplusOf).
LogicalResult convertSoftplus(NodeImporter &n) {
  Value x = n.input(0);
  if (n.failed())
    return failure();
  n.setOutput(0, softplusOf(n, x));
  return success(!n.failed());
}

/// PRelu: x where x >= 0, slope * x elsewhere; the slope broadcasts to x
/// (one per channel as [C, 1, 1], or one for all).
LogicalResult convertPRelu(NodeImporter &n) {
  RankedTensorType type = n.inputType(0), slopeType = n.inputType(1);
  Value x = n.input(0), slope = n.input(1);
  if (n.failed())
    return failure();
  Value scaled = n.create<graph::MulOp>(slope, x);
  if (!scaled)
    return failure();
  if (cast<RankedTensorType>(scaled.getType()).getShape() != type.getShape())
    return n.error() << "slope of shape "
                     << graph::formatShape(slopeType.getShape())
                     << " does not broadcast to the input's shape "
                     << graph::formatShape(type.getShape());
  Value zero = scalarConstant(n, type.getElementType(), 0);
  n.setOutput(0, n.create<graph::WhereOp>(n.create<graph::LessOp>(x, zero),
                                          scaled, x));
  return success(!n.failed());
}

/// ReverseSequence: along the time axis, each batch entry's first
/// sequence_lens elements reversed, the rest kept: a gather at position
/// len - 1 - t within the length, t after it.
LogicalResult convertReverseSequence(NodeImporter &n) {
  RankedTensorType type = n.inputType(0), lensType = n.inputType(1);
  int64_t batchAxis = n.attrInt("batch_axis", 1);
  int64_t timeAxis = n.attrInt("time_axis", 0);
  if (n.failed())
    return failure();
  if (type.getRank() < 2 ||
      !((batchAxis == 0 && timeAxis == 1) || (batchAxis == 1 && timeAxis == 0)))
    return n.error() << "batch_axis " << batchAxis << " and time_axis "
                     << timeAxis << " must be 0 and 1 (either way round) of "
                     << "an input of rank 2 or more, got shape "
                     << graph::formatShape(type.getShape());
  int64_t B = type.getDimSize(batchAxis), T = type.getDimSize(timeAxis);
  if (lensType.getShape() != ArrayRef<int64_t>{B})
    return n.error() << "sequence_lens has shape "
                     << graph::formatShape(lensType.getShape())
                     << "; it needs one length per batch entry, [" << B
                     << "]";
  if (const HostTensor *known = n.folded(1))
    for (int64_t b = 0; b < known->size(); ++b)
      if (known->intAt(b) < 0 || known->intAt(b) > T)
        return n.error() << "sequence_lens[" << b << "] is "
                         << known->intAt(b) << ", outside [0, " << T
                         << "], the time axis's size";
  Value x = n.input(0), lens = n.input(1);
  if (n.failed())
    return failure();
  OpBuilder &b = n.builder();
  // [T, B] (time first): where each output element reads from.
  Value from = reversedPositions(n, lens, T);
  if (timeAxis == 1)
    from = n.create<graph::TransposeOp>(from, b.getDenseI64ArrayAttr({1, 0}));
  SmallVector<int64_t> lead(type.getShape().take_front(2));
  lead.append(size_t(type.getRank() - 2), 1);
  Value index = n.create<graph::BroadcastToOp>(
      reshape(n, from, lead), b.getDenseI64ArrayAttr(type.getShape()));
  n.setOutput(0, n.create<graph::GatherElementsOp>(
                     x, index, b.getI64IntegerAttr(timeAxis)));
  return success(!n.failed());
}

/// Shrink: x + bias below -lambd, x - bias above lambd, 0 between.
LogicalResult convertShrink(NodeImporter &n) {
  float lambd = n.attrFloat("lambd", 0.5f), bias = n.attrFloat("bias", 0.0f);
  Value x = n.input(0);
  if (n.failed())
    return failure();
  Type t = cast<RankedTensorType>(x.getType()).getElementType();
  Value above = n.create<graph::WhereOp>(
      n.create<graph::GreaterOp>(x, scalarConstant(n, t, lambd)),
      n.create<graph::SubOp>(x, scalarConstant(n, t, bias)),
      scalarConstant(n, t, 0));
  n.setOutput(0, n.create<graph::WhereOp>(
                     n.create<graph::LessOp>(x, scalarConstant(n, t, -lambd)),
                     n.create<graph::AddOp>(x, scalarConstant(n, t, bias)),
                     above));
  return success(!n.failed());
}

/// MeanVarianceNormalization: (x - mean) / (std + 1e-9) over `axes`, as the
/// spec's function computes it (the variance as the mean squared deviation,
/// which rounding cannot make negative).
LogicalResult convertMeanVarianceNormalization(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  std::vector<int64_t> given = n.attrInts("axes", {0, 2, 3});
  if (n.failed())
    return failure();
  auto axes = normalizeAxesAt(n, given, type.getRank(), "axes");
  if (!axes)
    return failure();
  Value x = n.input(0);
  if (n.failed())
    return failure();
  OpBuilder &b = n.builder();
  auto mean = [&](Value v) {
    return n.create<graph::ReduceMeanOp>(v, b.getDenseI64ArrayAttr(*axes),
                                         b.getBoolAttr(true));
  };
  Type t = type.getElementType();
  Value centered = n.create<graph::SubOp>(x, mean(x));
  Value std = n.create<graph::SqrtOp>(
      mean(n.create<graph::MulOp>(centered, centered)));
  n.setOutput(0, n.create<graph::DivOp>(
                     centered, n.create<graph::AddOp>(
                                   std, scalarConstant(n, t, 1e-9))));
  return success(!n.failed());
}

/// Sign: 1, -1 or 0, composed of comparisons and wheres (any numeric
/// type).
LogicalResult convertSign(NodeImporter &n) {
  Value x = n.input(0);
  if (n.failed())
    return failure();
  Type t = cast<RankedTensorType>(x.getType()).getElementType();
  Value zero = scalarConstant(n, t, 0);
  Value negative = n.create<graph::WhereOp>(n.create<graph::LessOp>(x, zero),
                                            scalarConstant(n, t, -1), zero);
  n.setOutput(0, n.create<graph::WhereOp>(n.create<graph::GreaterOp>(x, zero),
                                          scalarConstant(n, t, 1), negative));
  return success(!n.failed());
}

/// Softsign: x / (1 + |x|).
LogicalResult convertSoftsign(NodeImporter &n) {
  Value x = n.input(0);
  if (n.failed())
    return failure();
  n.setOutput(0, softsignOf(n, x));
  return success(!n.failed());
}

/// ThresholdedRelu: x where x > alpha, 0 elsewhere.
LogicalResult convertThresholdedRelu(NodeImporter &n) {
  float alpha = n.attrFloat("alpha", 1.0f);
  Value x = n.input(0);
  if (n.failed())
    return failure();
  n.setOutput(0, thresholdedReluOf(n, x, alpha));
  return success(!n.failed());
}

LogicalResult convertNot(NodeImporter &n) {
  return convertUnary<graph::NotOp>(n, nullptr,
                                    [](int64_t x) { return int64_t(x == 0); });
}

LogicalResult convertReciprocal(NodeImporter &n) {
  return convertUnary<graph::ReciprocalOp>(n, [](double x) { return 1 / x; });
}

LogicalResult convertRelu(NodeImporter &n) {
  return convertUnary<graph::ReluOp>(
      n, [](double x) { return std::max(x, 0.0); },
      [](int64_t x) { return std::max<int64_t>(x, 0); });
}

LogicalResult convertSigmoid(NodeImporter &n) {
  return convertUnary<graph::SigmoidOp>(
      n, [](double x) { return 1 / (1 + std::exp(-x)); });
}

LogicalResult convertSqrt(NodeImporter &n) {
  return convertUnary<graph::SqrtOp>(n, [](double x) { return std::sqrt(x); });
}

LogicalResult convertTanh(NodeImporter &n) {
  return convertUnary<graph::TanhOp>(n, [](double x) { return std::tanh(x); });
}

LogicalResult convertWhere(NodeImporter &n) {
  const HostTensor *c = n.folded(0), *x = n.folded(1), *y = n.folded(2);
  if (c && x && y) {
    if (x->type().getElementType() != y->type().getElementType())
      return n.error() << "inputs 1 and 2 must have the same element type, got "
                       << x->type().getElementType() << " and "
                       << y->type().getElementType();
    auto values = graph::broadcastShapes(x->shape(), y->shape(), errorAt(n),
                                         "input 1", "input 2");
    if (failed(values))
      return failure();
    auto shape = graph::broadcastShapes(c->shape(), *values, errorAt(n),
                                        "condition", "values");
    if (failed(shape))
      return failure();
    n.setFolded(0, HostTensor::select(*c, *x, *y, x->type().clone(*shape)));
    return success();
  }
  Value cond = n.input(0), lhs = n.input(1), rhs = n.input(2);
  if (n.failed())
    return failure();
  n.setOutput(0, n.create<graph::WhereOp>(cond, lhs, rhs));
  return success(!n.failed());
}

//===----------------------------------------------------------------------===//
// Contractions and pooling
//===----------------------------------------------------------------------===//

LogicalResult convertMatMul(NodeImporter &n) {
  Value a = n.input(0), b = n.input(1);
  if (n.failed())
    return failure();
  n.setOutput(0, n.create<graph::MatMulOp>(a, b));
  return success(!n.failed());
}

LogicalResult convertMaxPool(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  if (n.failed())
    return failure();
  auto spatialOrNone = spatialAxes(n, type);
  if (!spatialOrNone)
    return failure();
  int64_t spatial = *spatialOrNone;
  bool columnMajor = n.attrInt("storage_order", 0) != 0;
  if (!n.hasAttr("kernel_shape"))
    return n.missingAttr("kernel_shape"), failure();
  std::vector<int64_t> ones(spatial, 1);
  std::vector<int64_t> kernel = n.attrInts("kernel_shape");
  std::vector<int64_t> strides = n.attrInts("strides", ones);
  std::vector<int64_t> dilations = n.attrInts("dilations", ones);
  bool ceilMode = n.attrInt("ceil_mode", 0);
  if (n.failed())
    return failure();
  if ((int64_t)kernel.size() != spatial || (int64_t)strides.size() != spatial ||
      (int64_t)dilations.size() != spatial)
    return n.error() << "attributes 'kernel_shape', 'strides' and "
                        "'dilations' need "
                     << spatial << " entries each";
  auto pads =
      windowPads(n, type.getShape().drop_front(2), kernel, strides, dilations);
  Value x = n.input(0);
  if (!pads || n.failed())
    return failure();
  OpBuilder &b = n.builder();
  Value values = n.create<graph::MaxPoolOp>(
      x, b.getDenseI64ArrayAttr(kernel), b.getDenseI64ArrayAttr(strides),
      b.getDenseI64ArrayAttr(*pads), b.getDenseI64ArrayAttr(dilations),
      b.getBoolAttr(ceilMode));
  if (!values)
    return failure();
  n.setOutput(0, values);
  if (!n.outputUsed(1))
    return success(!n.failed());

  // Indices: where in x (flattened, row-major, or with storage_order 1
  // column-major within each plane) each maximum is. Each window's points
  // are gathered from the flattened plane -- a padding point from an extra
  // -inf at its end -- and the first maximum's position in the window,
  // found by argmax, is turned into one in x by constant tables: the
  // window's first point plus the point's offset within the window.
  ArrayRef<int64_t> in = type.getShape().drop_front(2);
  ArrayRef<int64_t> out =
      cast<RankedTensorType>(values.getType()).getShape().drop_front(2);
  int64_t batch = type.getDimSize(0), channels = type.getDimSize(1);
  int64_t plane = 1, windows = 1, points = 1;
  for (int64_t d = 0; d < spatial; ++d) {
    plane *= in[d];
    windows *= out[d];
    points *= kernel[d];
  }
  // Strides of the plane in x's storage order, and of the gathered (always
  // row-major) flattening.
  std::vector<int64_t> storage(spatial), rowMajor(spatial);
  for (int64_t d = spatial - 1, at = 1; d >= 0; at *= in[d--])
    rowMajor[d] = at;
  for (int64_t d = 0, at = 1; d < spatial; at *= in[d++])
    storage[d] = columnMajor ? at : rowMajor[d];
  std::vector<int64_t> gather(static_cast<size_t>(windows * points)),
      first(static_cast<size_t>(windows)), offset(static_cast<size_t>(points));
  std::vector<int64_t> o(spatial, 0), k(spatial, 0);
  for (int64_t w = 0; w < windows; ++w) {
    for (int64_t d = spatial - 1, rest = w; d >= 0; rest /= out[d--])
      o[d] = rest % out[d];
    first[w] = 0;
    for (int64_t d = 0; d < spatial; ++d)
      first[w] += (o[d] * strides[d] - (*pads)[d]) * storage[d];
    for (int64_t p = 0; p < points; ++p) {
      for (int64_t d = spatial - 1, rest = p; d >= 0; rest /= kernel[d--])
        k[d] = rest % kernel[d];
      int64_t flat = 0, local = 0;
      bool inside = true;
      for (int64_t d = 0; d < spatial; ++d) {
        int64_t at = o[d] * strides[d] - (*pads)[d] + k[d] * dilations[d];
        inside &= at >= 0 && at < in[d];
        flat += at * rowMajor[d];
        local += k[d] * dilations[d] * storage[d];
      }
      gather[size_t(w * points + p)] = inside ? flat : plane;
      offset[p] = local;
    }
  }
  auto i64 = b.getI64Type();
  auto constant = [&](ArrayRef<int64_t> shape, std::vector<int64_t> data) {
    return intConstant(n, RankedTensorType::get(shape, i64), std::move(data));
  };
  auto element = type.getElementType();
  Value flat = reshape(n, x, {batch, channels, plane});
  Value padded = n.create<graph::ConcatOp>(
      ValueRange{flat, filledConstant(
                           n, RankedTensorType::get({batch, channels, 1},
                                                    element),
                           -std::numeric_limits<double>::infinity())},
      b.getI64IntegerAttr(2));
  Value gathered = n.create<graph::GatherOp>(
      padded, constant({windows, points}, std::move(gather)),
      b.getI64IntegerAttr(2));
  if (!gathered)
    return failure();
  // [N, C, windows]: the first maximum's point in its window.
  Value at = argExtreme(n, gathered, 3, /*isMax=*/true, /*last=*/false,
                        /*keepdims=*/false);
  Value local = n.create<graph::GatherOp>(
      constant({points}, std::move(offset)), at, b.getI64IntegerAttr(0));
  std::vector<int64_t> planes(static_cast<size_t>(batch * channels));
  for (int64_t i = 0; i < batch * channels; ++i)
    planes[i] = i * plane;
  Value index = n.create<graph::AddOp>(
      n.create<graph::AddOp>(local, constant({windows}, std::move(first))),
      constant({batch, channels, 1}, std::move(planes)));
  SmallVector<int64_t> shape{batch, channels};
  shape.append(out.begin(), out.end());
  n.setOutput(1, reshape(n, index, shape));
  return success(!n.failed());
}

LogicalResult convertMaxUnpool(NodeImporter &n) {
  RankedTensorType type = n.inputType(0), indicesType = n.inputType(1);
  if (n.failed())
    return failure();
  auto spatialOrNone = spatialAxes(n, type);
  if (!spatialOrNone)
    return failure();
  int64_t spatial = *spatialOrNone;
  if (indicesType.getShape() != type.getShape() ||
      !indicesType.getElementType().isInteger(64))
    return n.error() << "the indices (input 1) are " << indicesType
                     << "; they must be int64 of input 0's shape "
                     << graph::formatShape(type.getShape());
  if (!n.hasAttr("kernel_shape"))
    return n.missingAttr("kernel_shape"), failure();
  std::vector<int64_t> kernel = n.attrInts("kernel_shape");
  std::vector<int64_t> strides =
      n.attrInts("strides", std::vector<int64_t>(spatial, 1));
  std::vector<int64_t> pads =
      n.attrInts("pads", std::vector<int64_t>(2 * spatial, 0));
  if (n.failed())
    return failure();
  if ((int64_t)kernel.size() != spatial || (int64_t)strides.size() != spatial ||
      (int64_t)pads.size() != 2 * spatial)
    return n.error() << "attributes 'kernel_shape' and 'strides' need "
                     << spatial << " entries each, 'pads' " << 2 * spatial;
  // The pooling's inverse shape, which the indices index; a larger
  // output_shape (input 2) adds zeros at the end of each spatial axis (as
  // onnxruntime and ONNX's reference do).
  SmallVector<int64_t> shape{type.getDimSize(0), type.getDimSize(1)};
  for (int64_t d = 0; d < spatial; ++d)
    shape.push_back((type.getDimSize(2 + d) - 1) * strides[d] + kernel[d] -
                    pads[d] - pads[spatial + d]);
  SmallVector<int64_t> padded(shape);
  if (n.hasInput(2)) {
    auto given = n.constantInts(2, "output_shape");
    if (!given)
      return failure();
    bool fits = (int64_t)given->size() == type.getRank() &&
                (*given)[0] == shape[0] && (*given)[1] == shape[1];
    for (int64_t d = 2; fits && d < type.getRank(); ++d)
      fits = (*given)[d] >= shape[d];
    if (!fits)
      return n.error() << "output_shape " << graph::formatShape(*given)
                       << " must be N x C x spatial with input 0's N and C, "
                          "each spatial size at least the unpooled "
                       << graph::formatShape(shape);
    padded.assign(given->begin(), given->end());
  }
  int64_t cells = 1, count = type.getNumElements();
  for (int64_t size : shape)
    cells *= size;
  Value x = n.input(0), indices = n.input(1);
  if (n.failed())
    return failure();
  // Each value added at its index of the flattened output, zeros elsewhere
  // (the embedding gradient's scatter-add; ONNX leaves repeated indices
  // undefined).
  OpBuilder &b = n.builder();
  Value scattered = b.create<graph::EmbeddingGradOp>(
      n.loc(), RankedTensorType::get({cells, 1}, type.getElementType()),
      reshape(n, indices, {count}), reshape(n, x, {count, 1}),
      b.getI64IntegerAttr(cells));
  Value y = reshape(n, scattered, shape);
  for (int64_t d = 2; d < type.getRank(); ++d)
    y = padAlong(n, y, d, 0, padded[d] - shape[d]);
  n.setOutput(0, y);
  return success(!n.failed());
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

/// A Reduce node's axes (normalized; all of them when none are given) and
/// keepdims. `noop` is set where opset >= `axesInputSince`, no axes are given
/// and noop_with_empty_axes is 1: nothing is reduced. `axes` moved from an
/// attribute to an input in opset `axesInputSince` (13 for ReduceSum, 18
/// for the others).
struct ReduceAxes {
  std::vector<int64_t> axes;
  bool keepdims = true, noop = false;
};

FailureOr<ReduceAxes> reduceAxes(NodeImporter &n, int64_t axesInputSince) {
  RankedTensorType type = n.inputType(0);
  ReduceAxes r;
  r.keepdims = n.attrInt("keepdims", 1) != 0;
  bool noopWithEmptyAxes = n.attrInt("noop_with_empty_axes", 0) != 0;
  if (n.failed())
    return failure();
  auto given = intsFromAttrOrInput(n, "axes", 1, axesInputSince);
  if (!given)
    return failure();
  std::vector<int64_t> axes = *given;
  if (axes.empty()) {
    if (noopWithEmptyAxes && n.opset() >= axesInputSince) {
      r.noop = true;
      return r;
    }
    for (int64_t d = 0; d < type.getRank(); ++d)
      axes.push_back(d);
  }
  auto normalized = normalizeAxesAt(n, axes, type.getRank(), "axes");
  if (!normalized || n.failed())
    return failure();
  r.axes = *normalized;
  return r;
}

/// ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd.
template <typename OpTy>
LogicalResult convertReduce(NodeImporter &n, int64_t axesInputSince) {
  auto r = reduceAxes(n, axesInputSince);
  Value x = n.input(0);
  if (failed(r) || n.failed())
    return failure();
  if (r->noop) {
    n.setOutput(0, x);
    return success(!n.failed());
  }
  n.setOutput(0, n.create<OpTy>(x, n.builder().getDenseI64ArrayAttr(r->axes),
                                n.builder().getBoolAttr(r->keepdims)));
  return success(!n.failed());
}

/// ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSum: post(sum(pre(x))),
/// composed of graph ops so that their gradients come from those ops'. With
/// noop_with_empty_axes, nothing is summed but pre and post still apply, as
/// in ONNX's reference implementation.
LogicalResult convertSumOf(NodeImporter &n, function_ref<Value(Value)> pre,
                           function_ref<Value(Value)> post) {
  auto r = reduceAxes(n, 18);
  Value x = n.input(0);
  if (failed(r) || n.failed())
    return failure();
  Value v = pre(x);
  if (!r->noop)
    v = n.create<graph::ReduceSumOp>(v,
                                     n.builder().getDenseI64ArrayAttr(r->axes),
                                     n.builder().getBoolAttr(r->keepdims));
  n.setOutput(0, post(v));
  return success(!n.failed());
}

LogicalResult convertReduceL1(NodeImporter &n) {
  return convertSumOf(
      n, [&](Value x) { return n.create<graph::AbsOp>(x); },
      [](Value v) { return v; });
}
LogicalResult convertReduceL2(NodeImporter &n) {
  return convertSumOf(
      n, [&](Value x) { return n.create<graph::MulOp>(x, x); },
      [&](Value v) { return n.create<graph::SqrtOp>(v); });
}
LogicalResult convertReduceSumSquare(NodeImporter &n) {
  return convertSumOf(
      n, [&](Value x) { return n.create<graph::MulOp>(x, x); },
      [](Value v) { return v; });
}
LogicalResult convertReduceLogSum(NodeImporter &n) {
  return convertSumOf(
      n, [](Value x) { return x; },
      [&](Value v) { return n.create<graph::LogOp>(v); });
}

/// ReduceLogSumExp as max + log(sum(exp(x - max))), which does not
/// overflow where exp(x) would.
LogicalResult convertReduceLogSumExp(NodeImporter &n) {
  auto r = reduceAxes(n, 18);
  Value x = n.input(0);
  if (failed(r) || n.failed())
    return failure();
  if (r->noop) {
    n.setOutput(0, x);
    return success(!n.failed());
  }
  auto axes = n.builder().getDenseI64ArrayAttr(r->axes);
  auto keep = n.builder().getBoolAttr(true);
  Value max = n.create<graph::ReduceMaxOp>(x, axes, keep);
  Value sum = n.create<graph::ReduceSumOp>(
      n.create<graph::ExpOp>(n.create<graph::SubOp>(x, max)), axes, keep);
  Value result = n.create<graph::AddOp>(n.create<graph::LogOp>(sum), max);
  if (!r->keepdims) {
    SmallVector<int64_t> shape;
    auto type = cast<RankedTensorType>(x.getType());
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (!llvm::is_contained(r->axes, d))
        shape.push_back(type.getDimSize(d));
    result = reshape(n, result, shape);
  }
  n.setOutput(0, result);
  return success(!n.failed());
}

LogicalResult convertReduceMax(NodeImporter &n) {
  return convertReduce<graph::ReduceMaxOp>(n, 18);
}
LogicalResult convertReduceMin(NodeImporter &n) {
  return convertReduce<graph::ReduceMinOp>(n, 18);
}
LogicalResult convertReduceProd(NodeImporter &n) {
  return convertReduce<graph::ReduceProdOp>(n, 18);
}
LogicalResult convertReduceMean(NodeImporter &n) {
  return convertReduce<graph::ReduceMeanOp>(n, 18);
}
LogicalResult convertReduceSum(NodeImporter &n) {
  return convertReduce<graph::ReduceSumOp>(n, 13);
}

//===----------------------------------------------------------------------===//
// Shapes and data movement
//===----------------------------------------------------------------------===//

LogicalResult convertRange(NodeImporter &n) {
  auto start = constantScalar(n, 0, "start"),
       limit = constantScalar(n, 1, "limit"),
       delta = constantScalar(n, 2, "delta");
  if (!start || !limit || !delta)
    return failure();
  auto type = [&](int64_t count) {
    return RankedTensorType::get({count}, start->type().getElementType());
  };
  if (!start->isFloat()) {
    // Integers stay integers: exact beyond 2^53.
    __int128 s = start->intAt(0), l = limit->intAt(0), d = delta->intAt(0);
    if (d == 0)
      return n.error() << "delta is 0";
    __int128 count = (l - s + (d > 0 ? d - 1 : d + 1)) / d;
    if (count < 0)
      count = 0;
    if (count > kMaxFoldedElements)
      return n.error() << "Range would make " << (int64_t)count
                       << " elements; kiln computes at most "
                       << kMaxFoldedElements << " at compile time";
    std::vector<int64_t> values(count);
    for (int64_t i = 0; i < (int64_t)count; ++i)
      values[i] = (int64_t)(s + i * d);
    n.setFolded(0, HostTensor::ofInts(type(count), std::move(values)));
    return success();
  }
  double s = start->doubleAt(0), l = limit->doubleAt(0), d = delta->doubleAt(0);
  if (d == 0)
    return n.error() << "delta is 0";
  double steps = std::ceil((l - s) / d);
  if (!(steps <= kMaxFoldedElements))
    return n.error() << "Range would make " << steps
                     << " elements; kiln computes at most "
                     << kMaxFoldedElements << " at compile time";
  int64_t count = std::max<int64_t>(0, (int64_t)steps);
  std::vector<double> values(count);
  for (int64_t i = 0; i < count; ++i)
    values[i] = s + i * d;
  n.setFolded(0, HostTensor::ofDoubles(type(count), std::move(values)));
  return success();
}

LogicalResult convertReshape(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  auto target = n.constantInts(1, "shape");
  bool allowZero = n.attrInt("allowzero", 0) != 0;
  if (!target || n.failed())
    return failure();
  // 0 copies the input's size (unless allowzero); one -1 takes the rest.
  SmallVector<int64_t> shape;
  int64_t inferred = -1, known = 1;
  for (auto [i, size] : llvm::enumerate(*target)) {
    if (size == 0 && !allowZero) {
      if ((int64_t)i >= type.getRank())
        return n.error() << "shape[" << i << "] is 0 (copy the input's size), "
                         << "but the input has rank " << type.getRank();
      size = type.getDimSize(i);
    } else if (size == -1) {
      if (inferred >= 0)
        return n.error() << "shape has more than one -1";
      inferred = i;
      shape.push_back(1);
      continue;
    } else if (size < 0) {
      return n.error() << "shape[" << i << "] is " << size;
    }
    if (llvm::MulOverflow(known, size, known))
      return n.error() << "shape ["
                       << llvm::make_range(target->begin(), target->end())
                       << "] has too many elements";
    shape.push_back(size);
  }
  if (inferred >= 0) {
    if (known == 0 || type.getNumElements() % known != 0)
      return n.error() << "cannot infer the -1 in shape ["
                       << llvm::make_range(target->begin(), target->end())
                       << "]: the input has " << type.getNumElements()
                       << " elements";
    shape[inferred] = type.getNumElements() / known;
  }
  return setReshaped(n, shape);
}

LogicalResult convertShape(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  if (n.failed())
    return failure();
  int64_t rank = type.getRank();
  int64_t start = n.attrInt("start", 0), end = n.attrInt("end", rank);
  auto clamp = [&](int64_t v) {
    if (v < 0)
      v += rank;
    return std::clamp<int64_t>(v, 0, rank);
  };
  start = clamp(start);
  end = clamp(end);
  std::vector<int64_t> dims(type.getShape().begin() + start,
                            type.getShape().begin() + std::max(start, end));
  n.setFolded(
      0, HostTensor::ofInts(RankedTensorType::get({(int64_t)dims.size()},
                                                  n.builder().getI64Type()),
                            dims));
  return success();
}

/// Size: the element count, known at import as every shape is static.
LogicalResult convertSize(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  if (n.failed())
    return failure();
  n.setFolded(
      0, HostTensor::ofInts(RankedTensorType::get({}, n.builder().getI64Type()),
                            {type.getNumElements()}));
  return success();
}

LogicalResult convertSlice(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  if (n.failed())
    return failure();
  int64_t rank = type.getRank();
  std::vector<int64_t> starts, ends, axes, steps;
  if (n.opset() < 10) {
    starts = n.attrInts("starts");
    ends = n.attrInts("ends");
    axes = n.attrInts("axes");
  } else {
    auto s = n.constantInts(1, "starts"), e = n.constantInts(2, "ends");
    if (!s || !e)
      return failure();
    starts = *s;
    ends = *e;
    if (n.hasInput(3)) {
      auto a = n.constantInts(3, "axes");
      if (!a)
        return failure();
      axes = *a;
    }
    if (n.hasInput(4)) {
      auto st = n.constantInts(4, "steps");
      if (!st)
        return failure();
      steps = *st;
    }
  }
  if (n.failed())
    return failure();
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i)
      axes.push_back(i);
  if (steps.empty())
    steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() ||
      steps.size() != starts.size())
    return n.error()
           << "starts, ends, axes and steps must have the same length";

  // The ONNX rule: negative bounds count from the end, then clamp to the
  // dimension ([0, size] going forward, [-1, size - 1] going backward).
  SmallVector<int64_t> outStarts(rank, 0), sizes(type.getShape()),
      strides(rank, 1);
  SmallVector<bool> seen(rank, false);
  for (size_t i = 0; i < starts.size(); ++i) {
    auto axis = normalizeAxisAt(n, axes[i], rank, "axis");
    if (!axis)
      return failure();
    if (seen[*axis])
      return n.error() << "axis " << *axis << " is sliced twice";
    seen[*axis] = true;
    int64_t size = type.getDimSize(*axis), step = steps[i];
    if (step == 0)
      return n.error() << "step of axis " << *axis << " is 0";
    int64_t start = starts[i], end = ends[i];
    if (start < 0)
      start += size;
    if (end < 0 && end > std::numeric_limits<int64_t>::min() + size)
      end += size;
    else if (end < 0)
      end = -1;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, size);
      end = std::clamp<int64_t>(end, 0, size);
    } else {
      start = size == 0 ? 0 : std::clamp<int64_t>(start, 0, size - 1);
      end = std::clamp<int64_t>(end, -1, size - 1);
    }
    // In 128 bits: a step near the int64 limits must not overflow.
    __int128 distance =
        step > 0 ? (__int128)end - start : (__int128)start - end;
    __int128 magnitude = step > 0 ? (__int128)step : -(__int128)step;
    int64_t count =
        distance <= 0 ? 0 : (int64_t)((distance + magnitude - 1) / magnitude);
    outStarts[*axis] = count > 0 ? start : 0;
    sizes[*axis] = count;
    strides[*axis] = step;
  }
  return setSlice(n, 0, outStarts, sizes, strides);
}

/// Output sizes of Split / SplitToSequence along `axis` of size `size`.
std::optional<std::vector<int64_t>>
splitSizes(NodeImporter &n, int64_t size, size_t outputs, bool unevenLast) {
  std::vector<int64_t> sizes;
  if (outputs == 0) {
    n.error() << "has no outputs";
    return std::nullopt;
  }
  int64_t chunk = (size + outputs - 1) / outputs;
  if (!unevenLast && size % outputs != 0) {
    n.error() << "cannot split a dimension of size " << size << " into "
              << outputs << " equal parts";
    return std::nullopt;
  }
  if (unevenLast && size - chunk * (int64_t)(outputs - 1) <= 0) {
    n.error() << "cannot split a dimension of size " << size << " into "
              << outputs << " chunks of " << chunk
              << " with a smaller, non-empty last one";
    return std::nullopt;
  }
  for (size_t i = 0; i < outputs; ++i)
    sizes.push_back(std::min(chunk, size - chunk * (int64_t)i));
  return sizes;
}

/// Sets outputs to consecutive slices of input 0 along `axis`.
LogicalResult setSplit(NodeImporter &n, int64_t axis, ArrayRef<int64_t> sizes) {
  RankedTensorType type = n.inputType(0);
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0)
      return n.error() << "split size " << s << " is negative";
    total += s;
  }
  if (total != type.getDimSize(axis))
    return n.error() << "split sizes add up to " << total << " but dimension "
                     << axis << " has size " << type.getDimSize(axis);
  int64_t offset = 0;
  for (auto [i, size] : llvm::enumerate(sizes)) {
    SmallVector<int64_t> starts(type.getRank(), 0), shape(type.getShape()),
        strides(type.getRank(), 1);
    starts[axis] = offset;
    shape[axis] = size;
    offset += size;
    if (n.outputUsed(i) && failed(setSlice(n, i, starts, shape, strides)))
      return failure();
  }
  return success();
}

LogicalResult convertSplit(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  if (n.failed())
    return failure();
  auto axis = normalizeAxisAt(n, n.attrInt("axis", 0), type.getRank(), "axis");
  if (!axis)
    return failure();
  auto given = intsFromAttrOrInput(n, "split", 1, 13);
  if (!given)
    return failure();
  std::vector<int64_t> sizes = *given;
  if (sizes.empty()) {
    // Opset 18: num_outputs, with a smaller last chunk when uneven.
    bool opset18 = n.opset() >= 18;
    size_t outputs = n.numOutputs();
    if (opset18 && n.hasAttr("num_outputs")) {
      int64_t given = n.attrInt("num_outputs", outputs);
      if (given != (int64_t)outputs)
        return n.error() << "num_outputs is " << given << " but the node has "
                         << outputs << " outputs";
    }
    auto equal = splitSizes(n, type.getDimSize(*axis), outputs, opset18);
    if (!equal)
      return failure();
    sizes = *equal;
  }
  if (sizes.size() != n.numOutputs())
    return n.error() << "split gives " << sizes.size() << " sizes for "
                     << n.numOutputs() << " outputs";
  return setSplit(n, *axis, sizes);
}

LogicalResult convertSplitToSequence(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  bool keepdims = n.attrInt("keepdims", 1) != 0;
  if (n.failed())
    return failure();
  auto axis = normalizeAxisAt(n, n.attrInt("axis", 0), type.getRank(), "axis");
  if (!axis)
    return failure();
  int64_t size = type.getDimSize(*axis);
  std::vector<int64_t> sizes;
  bool squeeze = false;
  if (!n.hasInput(1)) {
    sizes.assign(size, 1); // Chunks of 1, squeezed unless keepdims.
    squeeze = !keepdims;
  } else {
    auto split = n.constantInts(1, "split");
    if (!split)
      return failure();
    if (n.constantInput(1, "split")->type().getRank() == 0) {
      int64_t chunk = (*split)[0];
      if (chunk <= 0)
        return n.error() << "split " << chunk << " must be positive";
      for (int64_t at = 0; at < size; at += chunk)
        sizes.push_back(std::min(chunk, size - at));
    } else {
      sizes = *split;
    }
  }
  Value input = n.input(0);
  if (n.failed())
    return failure();
  SmallVector<Value> elements;
  int64_t offset = 0;
  for (int64_t chunk : sizes) {
    SmallVector<int64_t> starts(type.getRank(), 0), shape(type.getShape()),
        strides(type.getRank(), 1);
    starts[*axis] = offset;
    shape[*axis] = chunk;
    offset += chunk;
    OpBuilder &b = n.builder();
    Value piece = n.create<graph::SliceOp>(
        input, b.getDenseI64ArrayAttr(starts), b.getDenseI64ArrayAttr(shape),
        b.getDenseI64ArrayAttr(strides));
    if (squeeze) {
      shape.erase(shape.begin() + *axis);
      piece = reshape(n, piece, shape);
    }
    elements.push_back(piece);
  }
  if (offset != size)
    return n.error() << "split sizes add up to " << offset << " but dimension "
                     << *axis << " has size " << size;
  n.setSequence(0, std::move(elements));
  return success(!n.failed());
}

LogicalResult convertSequenceAt(NodeImporter &n) {
  auto elements = n.sequenceInput(0);
  auto position = constantScalar(n, 1, "position");
  if (!elements || !position)
    return failure();
  int64_t count = elements->size(), at = position->intAt(0);
  if (at < -count || at >= count)
    return n.error() << "position " << at
                     << " is out of range for a sequence of " << count;
  n.setOutput(0, (*elements)[at < 0 ? at + count : at]);
  return success();
}

/// A position in a sequence of `count` elements: `position` (input 1 when
/// given, a compile-time scalar; negative counts from the back) in
/// [-count, count + extra), or `fallback` when absent.
static std::optional<int64_t> sequencePosition(NodeImporter &n, size_t input,
                                               int64_t count, int64_t extra,
                                               int64_t fallback) {
  if (!n.hasInput(input))
    return fallback;
  auto position = constantInt(n, input, "position");
  if (!position)
    return std::nullopt;
  int64_t at = *position;
  if (at < -count || at >= count + extra) {
    n.error() << "position " << at << " is out of range for a sequence of "
              << count << " (expected " << -count << " to "
              << count + extra - 1 << ")";
    return std::nullopt;
  }
  return at < 0 ? at + count : at;
}

LogicalResult convertSequenceConstruct(NodeImporter &n) {
  SmallVector<Value> elements;
  for (int i = 0; i < n.node().input_size(); ++i) {
    Value x = n.input(i);
    if (!x)
      return failure();
    auto element = cast<RankedTensorType>(x.getType()).getElementType();
    if (!elements.empty() &&
        element != cast<RankedTensorType>(elements[0].getType())
                       .getElementType())
      return n.error() << "input " << i << " is " << x.getType()
                       << ", input 0 " << elements[0].getType()
                       << "; a sequence's tensors have one element type";
    elements.push_back(x);
  }
  if (elements.empty())
    return n.error() << "needs at least one input (SequenceEmpty makes an "
                        "empty sequence)";
  n.setSequence(0, std::move(elements));
  return success();
}

LogicalResult convertSequenceEmpty(NodeImporter &n) {
  // (Its `dtype` would type the elements; an empty sequence has none.)
  n.setSequence(0, {});
  return success();
}

LogicalResult convertSequenceErase(NodeImporter &n) {
  auto elements = n.sequenceInput(0);
  if (!elements)
    return failure();
  if (elements->empty())
    return n.error() << "erases from an empty sequence";
  auto at = sequencePosition(n, 1, elements->size(), 0, elements->size() - 1);
  if (!at)
    return failure();
  elements->erase(elements->begin() + *at);
  n.setSequence(0, std::move(*elements));
  return success();
}

LogicalResult convertSequenceInsert(NodeImporter &n) {
  auto elements = n.sequenceInput(0);
  Value x = n.input(1);
  if (!elements || !x)
    return failure();
  if (!elements->empty() &&
      cast<RankedTensorType>(x.getType()).getElementType() !=
          cast<RankedTensorType>(elements->front().getType())
              .getElementType())
    return n.error() << "inserts " << x.getType()
                     << " into a sequence of "
                     << cast<RankedTensorType>(elements->front().getType())
                            .getElementType()
                     << " tensors; a sequence's tensors have one element type";
  auto at = sequencePosition(n, 2, elements->size(), 1, elements->size());
  if (!at)
    return failure();
  elements->insert(elements->begin() + *at, x);
  n.setSequence(0, std::move(*elements));
  return success();
}

LogicalResult convertSequenceLength(NodeImporter &n) {
  auto elements = n.sequenceInput(0);
  if (!elements)
    return failure();
  n.setFolded(0, HostTensor::ofInts(RankedTensorType::get(
                                        {}, n.builder().getI64Type()),
                                    {static_cast<int64_t>(elements->size())}));
  return success();
}

LogicalResult convertSqueeze(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  if (n.failed())
    return failure();
  auto given = intsFromAttrOrInput(n, "axes", 1, 13);
  if (!given)
    return failure();
  std::vector<int64_t> axes = *given;
  if (axes.empty()) {
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (type.getDimSize(d) == 1)
        axes.push_back(d);
  }
  auto normalized = normalizeAxesAt(n, axes, type.getRank(), "axes");
  if (!normalized)
    return failure();
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < type.getRank(); ++d) {
    bool squeezed = llvm::is_contained(*normalized, d);
    if (squeezed && type.getDimSize(d) != 1)
      return n.error() << "cannot squeeze dimension " << d << " of size "
                       << type.getDimSize(d);
    if (!squeezed)
      shape.push_back(type.getDimSize(d));
  }
  return setReshaped(n, shape);
}

LogicalResult convertUnsqueeze(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  if (n.failed())
    return failure();
  if (n.opset() < 13 ? !n.hasAttr("axes") : !n.hasInput(1))
    return n.error() << "needs axes, which are missing";
  auto given = intsFromAttrOrInput(n, "axes", 1, 13);
  if (!given)
    return failure();
  std::vector<int64_t> axes = *given;
  int64_t rank = type.getRank() + axes.size();
  auto normalized = normalizeAxesAt(n, axes, rank, "axes");
  if (!normalized)
    return failure();
  SmallVector<int64_t> shape;
  auto dims = type.getShape().begin();
  for (int64_t d = 0; d < rank; ++d)
    shape.push_back(llvm::is_contained(*normalized, d) ? 1 : *dims++);
  return setReshaped(n, shape);
}

/// SpaceToDepth: DepthToSpace's inverse in DCR order, [N, C, H/b, b, W/b, b]
/// moved to [N, b, b, C, H/b, W/b].
LogicalResult convertSpaceToDepth(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  if (n.failed())
    return failure();
  std::optional<int64_t> block = blockSize(n, type);
  if (!block)
    return failure();
  int64_t b = *block;
  auto shape = type.getShape();
  int64_t N = shape[0], C = shape[1], H = shape[2], W = shape[3];
  if (H % b != 0 || W % b != 0)
    return n.error() << "height " << H << " and width " << W
                     << " are not multiples of blocksize " << b;
  Value x = n.input(0);
  if (n.failed())
    return failure();
  Value split = reshape(n, x, {N, C, H / b, b, W / b, b});
  Value moved = n.create<graph::TransposeOp>(
      split, n.builder().getDenseI64ArrayAttr({0, 3, 5, 1, 2, 4}));
  n.setOutput(0, reshape(n, moved, {N, C * b * b, H / b, W / b}));
  return success(!n.failed());
}

/// Tile: the input repeated `repeats[d]` times along each dimension d
/// (element o of dimension d reads o mod d), as `repeated` copies.
LogicalResult convertTile(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  auto repeats = n.constantInts(1, "repeats");
  if (!repeats || n.failed())
    return failure();
  int64_t rank = type.getRank();
  if (int64_t(repeats->size()) != rank)
    return n.error() << "repeats has " << repeats->size()
                     << " values for input 0 of rank " << rank;
  if (llvm::any_of(*repeats, [](int64_t r) { return r < 1; }))
    return n.error() << "repeats ["
                     << llvm::make_range(repeats->begin(), repeats->end())
                     << "] has a value below 1 (an empty result), which kiln "
                        "does not support";
  if (!type.hasStaticShape())
    return n.error() << "input 0 has a dynamic shape " << type
                     << "; Tile needs a static one";
  SmallVector<int64_t> out;
  for (auto [size, r] : llvm::zip(type.getShape(), *repeats))
    out.push_back(size * r);
  if (!checkedElementCount(out))
    return n.error() << "the result has too many elements";
  if (ArrayRef<int64_t>(out) == type.getShape())
    return n.setOutput(0, n.input(0)), success(!n.failed());
  if (const HostTensor *known = n.folded(0);
      known && *checkedElementCount(out) <= kMaxFoldedElements) {
    ArrayRef<int64_t> in = type.getShape();
    n.setFolded(0, known->remap(type.clone(out), [&](int64_t i) {
      int64_t source = 0, stride = 1;
      for (int64_t d = rank - 1; d >= 0; --d) {
        source += (i % out[d]) % in[d] * stride;
        i /= out[d];
        stride *= in[d];
      }
      return source;
    }));
    return success();
  }
  Value x = n.input(0);
  if (n.failed())
    return failure();
  n.setOutput(0, repeated(n, x, *repeats, /*copies=*/true));
  return success(!n.failed());
}

LogicalResult convertTranspose(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  if (n.failed())
    return failure();
  int64_t rank = type.getRank();
  std::vector<int64_t> reversed;
  for (int64_t d = rank - 1; d >= 0; --d)
    reversed.push_back(d);
  std::vector<int64_t> perm = n.attrInts("perm", reversed);
  if (n.failed())
    return failure();
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  bool valid = (int64_t)perm.size() == rank;
  for (int64_t d = 0; valid && d < rank; ++d)
    valid = sorted[d] == d;
  if (!valid)
    return n.error() << "perm [" << llvm::make_range(perm.begin(), perm.end())
                     << "] is not a permutation of " << rank << " dimensions";
  SmallVector<int64_t> shape;
  for (int64_t p : perm)
    shape.push_back(type.getDimSize(p));
  if (const HostTensor *known = n.folded(0)) {
    SmallVector<int64_t> inStrides = stridesOf(type.getShape());
    SmallVector<int64_t> outStrides = stridesOf(shape);
    n.setFolded(0, known->remap(type.clone(shape), [&](int64_t i) {
      int64_t source = 0;
      for (int64_t d = 0; d < rank; ++d)
        source += ((i / outStrides[d]) % shape[d]) * inStrides[perm[d]];
      return source;
    }));
    return success();
  }
  Value x = n.input(0);
  if (n.failed())
    return failure();
  bool identity = llvm::equal(perm, llvm::seq<int64_t>(0, rank));
  n.setOutput(0, identity ? x
                          : n.create<graph::TransposeOp>(
                                x, n.builder().getDenseI64ArrayAttr(perm)));
  return success(!n.failed());
}

LogicalResult convertTrilu(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  bool upper = n.attrInt("upper", 1) != 0;
  int64_t k = 0;
  if (n.hasInput(1)) {
    auto given = constantScalar(n, 1, "k");
    if (!given)
      return failure();
    k = given->intAt(0);
  }
  if (n.failed())
    return failure();
  if (type.getRank() < 2)
    return n.error() << "input must have rank 2 or more, got rank "
                     << type.getRank();
  if (const HostTensor *known = n.folded(0)) {
    // Masks built from constants (causal attention) fold here.
    int64_t rows = type.getDimSize(type.getRank() - 2),
            cols = type.getDimSize(type.getRank() - 1);
    n.setFolded(0, known->remap(type, [&](int64_t i) -> int64_t {
      int64_t col = i % cols, row = (i / cols) % rows;
      bool keep = upper ? col - row >= k : col - row <= k;
      return keep ? i : -1;
    }));
    return success();
  }
  Value x = n.input(0);
  if (n.failed())
    return failure();
  n.setOutput(0, n.create<graph::TriluOp>(x, n.builder().getBoolAttr(upper),
                                          n.builder().getI64IntegerAttr(k)));
  return success(!n.failed());
}

LogicalResult convertSin(NodeImporter &n) {
  return convertUnary<graph::SinOp>(n, [](double x) { return std::sin(x); });
}
LogicalResult convertTan(NodeImporter &n) {
  return convertUnary<graph::TanOp>(n, [](double x) { return std::tan(x); });
}
LogicalResult convertSinh(NodeImporter &n) {
  return convertUnary<graph::SinhOp>(n, [](double x) { return std::sinh(x); });
}
LogicalResult convertRound(NodeImporter &n) {
  return convertUnary<graph::RoundOp>(
      n, [](double x) { return std::nearbyint(x); });
}

const OpConverter table[] = {
    {"MatMul", 7, convertMatMul},
    {"Max", 8, convertMax},
    {"MaxPool", 7, convertMaxPool},
    {"MaxUnpool", 9, convertMaxUnpool},
    {"Mean", 8, convertMean},
    {"MeanVarianceNormalization", 9, convertMeanVarianceNormalization},
    {"MelWeightMatrix", 17, convertMelWeightMatrix},
    {"Min", 8, convertMin},
    {"Mod", 10, convertMod},
    {"Mul", 7, convertMul},
    {"Neg", 6, convertNeg},
    {"NegativeLogLikelihoodLoss", 12, convertNegativeLogLikelihoodLoss},
    {"Not", 1, convertNot},
    {"OneHot", 9, convertOneHot},
    {"Or", 7, convertOr},
    {"Pad", 7, convertPad},
    {"PRelu", 7, convertPRelu},
    {"Pow", 7, convertPow},
    {"RandomUniform", 7, convertRandomUniform},
    {"RandomUniformLike", 7, convertRandomUniformLike},
    {"Range", 11, convertRange},
    {"Reciprocal", 6, convertReciprocal},
    {"ReduceL1", 1, convertReduceL1},
    {"ReduceL2", 1, convertReduceL2},
    {"ReduceLogSum", 1, convertReduceLogSum},
    {"ReduceLogSumExp", 1, convertReduceLogSumExp},
    {"ReduceMax", 1, convertReduceMax},
    {"ReduceMean", 1, convertReduceMean},
    {"ReduceMin", 1, convertReduceMin},
    {"ReduceProd", 1, convertReduceProd},
    {"ReduceSum", 1, convertReduceSum},
    {"ReduceSumSquare", 1, convertReduceSumSquare},
    {"RNN", 7, convertRNN},
    {"Relu", 6, convertRelu},
    {"ReverseSequence", 10, convertReverseSequence},
    {"Reshape", 7, convertReshape},
    {"Resize", 10, convertResize},
    {"Round", 11, convertRound},
    {"Scan", 9, convertScan},
    {"Scatter", 9, convertScatterElements},
    {"ScatterElements", 11, convertScatterElements},
    {"ScatterND", 11, convertScatterND},
    {"Selu", 6, convertSelu},
    {"Shrink", 9, convertShrink},
    {"SequenceAt", 11, convertSequenceAt},
    {"SequenceConstruct", 11, convertSequenceConstruct},
    {"SequenceEmpty", 11, convertSequenceEmpty},
    {"SequenceErase", 11, convertSequenceErase},
    {"SequenceInsert", 11, convertSequenceInsert},
    {"SequenceLength", 11, convertSequenceLength},
    {"Shape", 7, convertShape},
    {"Sigmoid", 6, convertSigmoid},
    {"Sign", 9, convertSign},
    {"Sin", 7, convertSin},
    {"Sinh", 9, convertSinh},
    {"Size", 7, convertSize},
    {"Slice", 7, convertSlice},
    {"Softmax", 7, convertSoftmax},
    {"SoftmaxCrossEntropyLoss", 12, convertSoftmaxCrossEntropyLoss},
    {"Softplus", 1, convertSoftplus},
    {"SpaceToDepth", 7, convertSpaceToDepth},
    {"Softsign", 1, convertSoftsign},
    {"Split", 7, convertSplit},
    {"SplitToSequence", 11, convertSplitToSequence},
    {"Sqrt", 6, convertSqrt},
    {"Squeeze", 7, convertSqueeze},
    {"STFT", 17, convertSTFT},
    {"Sub", 7, convertSub},
    {"Sum", 8, convertSum},
    {"Tan", 7, convertTan},
    {"Tanh", 6, convertTanh},
    {"ThresholdedRelu", 10, convertThresholdedRelu},
    {"Tile", 7, convertTile},
    {"TopK", 1, convertTopK},
    {"Transpose", 7, convertTranspose},
    {"Trilu", 14, convertTrilu},
    {"Upsample", 7, convertResize},
    {"Unsqueeze", 7, convertUnsqueeze},
    {"Where", 9, convertWhere},
    {"Xor", 7, convertXor},
};

} // namespace

ArrayRef<OpConverter> convertersMtoZ() { return table; }

} // namespace kiln::onnx
