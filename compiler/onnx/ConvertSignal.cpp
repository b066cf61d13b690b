//===- ConvertSignal.cpp - ONNX DFT, STFT and MelWeightMatrix -------------===//
//
// The signal ops in graph ops:
//
//   DFT              a product with a constant matrix of cosines and sines:
//                    the transformed axis moved next to the real/imaginary
//                    axis and both flattened, [.., n * c] x [n * c, k * 2],
//                    so that training goes through a MatMul. dft_length
//                    truncates (a slice) or pads (the matrix has no rows
//                    for the zeros); onesided keeps the first n/2 + 1 bins.
//   STFT             the frames gathered with constant indices (along time
//                    moved first, where a gather has a gradient), times the
//                    window (a run-time tensor or none), then the DFT along
//                    the frame.
//   MelWeightMatrix  a constant, computed as onnxruntime computes it.
//
//===----------------------------------------------------------------------===//
#include "compiler/onnx/ConvertUtils.h"
#include "compiler/onnx/TensorData.h"

#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>

using namespace mlir;

namespace kiln::onnx {
namespace {

/// The DFT of `x` ([..., n, ..., c], c = 1 for real values, 2 for complex)
/// along `axis` (not the last) with `length` points: [..., bins, ..., 2].
Value dftAlong(NodeImporter &n, Value x, int64_t axis, int64_t length,
               bool inverse, bool onesided) {
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank(), c = type.getDimSize(rank - 1);
  int64_t size = type.getDimSize(axis);
  if (size > length) { // Truncated to `length` points.
    x = sliceAlong(n, x, axis, 0, length);
    size = length;
  }
  int64_t bins = onesided ? length / 2 + 1 : length;
  // The axis moved next to the last; both flattened.
  SmallVector<int64_t> perm;
  for (int64_t d = 0; d < rank - 1; ++d)
    if (d != axis)
      perm.push_back(d);
  perm.push_back(axis);
  perm.push_back(rank - 1);
  bool moved = axis != rank - 2;
  OpBuilder &b = n.builder();
  if (moved)
    x = n.create<graph::TransposeOp>(x, b.getDenseI64ArrayAttr(perm));
  if (!x)
    return {};
  SmallVector<int64_t> shape;
  for (int64_t d : ArrayRef<int64_t>(perm).drop_back(2))
    shape.push_back(type.getDimSize(d));
  SmallVector<int64_t> flat(shape);
  flat.push_back(size * c);
  x = reshape(n, x, flat);

  // Row (t, in) of the matrix, column (k, out): x_t's real (in 0) or
  // imaginary (in 1) part's share in bin k's real (out 0) or imaginary
  // (out 1) part. Forward: e^(-2 pi i k t / length); inverse: e^(+...) /
  // length.
  std::vector<double> w(size_t(size * c * bins * 2));
  double sign = inverse ? 1 : -1, scale = inverse ? 1.0 / double(length) : 1;
  for (int64_t t = 0; t < size; ++t)
    for (int64_t k = 0; k < bins; ++k) {
      // (k * t) mod length keeps the angle small; quarter turns are exact.
      int64_t m = (k * t) % length;
      double angle = 2 * M_PI * double(m) / double(length);
      double cs = std::cos(angle), sn = std::sin(angle);
      if ((4 * m) % length == 0) {
        int64_t quarter = 4 * m / length;
        cs = quarter == 0 ? 1 : quarter == 2 ? -1 : 0;
        sn = quarter == 1 ? 1 : quarter == 3 ? -1 : 0;
      }
      cs = cs * scale + 0.0; // (+ 0.0: no negative zeros.)
      sn = sn * sign * scale + 0.0;
      auto at = [&](int64_t in, int64_t out) -> double & {
        return w[size_t(((t * c + in) * bins + k) * 2 + out)];
      };
      at(0, 0) = cs; // re -> re
      at(0, 1) = sn; // re -> im
      if (c == 2) {
        at(1, 0) = -sn; // im -> re
        at(1, 1) = cs;  // im -> im
      }
    }
  auto matrixType =
      RankedTensorType::get({size * c, bins * 2}, type.getElementType());
  Value matrix = n.create<graph::ConstantOp>(
      HostTensor::ofDoubles(matrixType, std::move(w)).toAttr());
  Value y = n.create<graph::MatMulOp>(x, matrix);
  if (!y)
    return {};
  shape.push_back(bins);
  shape.push_back(2);
  y = reshape(n, y, shape);
  if (!moved)
    return y;
  SmallVector<int64_t> back(rank);
  for (int64_t d = 0; d < rank; ++d)
    back[perm[d]] = d;
  return n.create<graph::TransposeOp>(y, b.getDenseI64ArrayAttr(back));
}

/// Checks a signal's type: floats, at least [batch, n, c], c 1 or 2.
bool isSignal(NodeImporter &n, RankedTensorType type, int64_t minRank) {
  if (!isa<FloatType>(type.getElementType()) || type.getRank() < minRank ||
      (type.getDimSize(type.getRank() - 1) != 1 &&
       type.getDimSize(type.getRank() - 1) != 2)) {
    n.error() << "input 0 is " << type << "; a signal is a float tensor of "
              << "rank " << minRank
              << " or more whose last axis is 1 (real) or 2 (complex)";
    return false;
  }
  return true;
}

} // namespace

LogicalResult convertDFT(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  bool inverse = n.attrInt("inverse", 0) != 0;
  bool onesided = n.attrInt("onesided", 0) != 0;
  if (n.failed() || !isSignal(n, type, 3))
    return failure();
  int64_t rank = type.getRank();
  // The axis: an attribute until opset 20, input 2 since (default -2).
  int64_t axis = n.attrInt("axis", 1);
  if (n.opset() >= 20) {
    axis = -2;
    if (n.hasInput(2)) {
      auto given = constantInt(n, 2, "axis");
      if (!given)
        return failure();
      axis = *given;
    }
  }
  if (axis < -rank || axis > rank - 2 || axis == -1)
    return n.error() << "axis " << axis << " is out of range for rank " << rank
                     << " (expected " << -rank << " to -2, or 0 to " << rank - 2
                     << "; the last axis holds the real and "
                     << "imaginary parts)";
  if (axis < 0)
    axis += rank;
  int64_t length = type.getDimSize(axis);
  if (n.hasInput(1)) {
    auto given = constantInt(n, 1, "dft_length");
    if (!given)
      return failure();
    if (*given < 1)
      return n.error() << "dft_length is " << *given << "; it must be positive";
    length = *given;
  }
  if (onesided && type.getDimSize(rank - 1) == 2)
    return n.error() << "attribute 'onesided' is set, but the signal is "
                        "complex (its last axis is 2); onesided DFTs are of "
                        "real signals";
  Value x = n.input(0);
  if (!x)
    return failure();
  n.setOutput(0, dftAlong(n, x, axis, length, inverse, onesided));
  return success(!n.failed());
}

LogicalResult convertSTFT(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  bool onesided = n.attrInt("onesided", 1) != 0;
  if (n.failed())
    return failure();
  // [batch, length] is a real signal too (PyTorch exports torch.stft so,
  // and onnxruntime reads it).
  bool unit = type.getRank() == 2 && isa<FloatType>(type.getElementType());
  if (unit)
    type = RankedTensorType::get({type.getDimSize(0), type.getDimSize(1), 1},
                                 type.getElementType());
  if (!isSignal(n, type, 3))
    return failure();
  if (type.getRank() != 3)
    return n.error() << "input 0 is " << type
                     << "; an STFT's signal is [batch, length, 1 or 2] (or "
                        "[batch, length], real)";
  auto step = constantInt(n, 1, "frame_step");
  if (!step)
    return failure();
  if (*step < 1)
    return n.error() << "frame_step is " << *step << "; it must be positive";
  // The frame's length: the window's, or frame_length (which must agree).
  int64_t frame = -1;
  Value window;
  if (n.hasInput(2)) {
    RankedTensorType w = n.inputType(2);
    if (w.getRank() != 1 || w.getElementType() != type.getElementType())
      return n.error() << "the window (input 2) is " << w
                       << "; it must be a vector of the signal's "
                       << type.getElementType();
    frame = w.getDimSize(0);
    window = n.input(2);
  }
  if (n.hasInput(3)) {
    auto given = constantInt(n, 3, "frame_length");
    if (!given)
      return failure();
    if (frame >= 0 && *given != frame)
      return n.error() << "frame_length is " << *given << " but the window has "
                       << frame << " points";
    frame = *given;
  }
  if (frame < 0)
    return n.error() << "needs a window (input 2) or frame_length (input 3) "
                        "for the frames' length";
  int64_t length = type.getDimSize(1), c = type.getDimSize(2);
  if (frame < 1 || frame > length)
    return n.error() << "frames of " << frame << " points do not fit a signal "
                     << "of " << length;
  if (onesided && c == 2)
    return n.error() << "attribute 'onesided' is 1 (the default), but the "
                        "signal is complex (its last axis is 2); set it to 0";
  int64_t frames = (length - frame) / *step + 1;
  // Frame f is points [f * step, f * step + frame).
  std::vector<int64_t> positions;
  for (int64_t f = 0; f < frames; ++f)
    for (int64_t t = 0; t < frame; ++t)
      positions.push_back(f * *step + t);
  Value indices = intConstant(
      n, RankedTensorType::get({frames, frame}, n.builder().getI64Type()),
      std::move(positions));
  Value x = n.input(0);
  if (!x || !indices)
    return failure();
  if (unit)
    x = reshape(n, x, type.getShape());
  // Gathered along the first axis (the one a gather's gradient, a
  // scatter-add, takes): time first, then back to [batch, frames, frame, c].
  OpBuilder &b = n.builder();
  Value timeFirst =
      n.create<graph::TransposeOp>(x, b.getDenseI64ArrayAttr({1, 0, 2}));
  if (!timeFirst)
    return failure();
  Value framed =
      n.create<graph::GatherOp>(timeFirst, indices, b.getI64IntegerAttr(0));
  if (!framed)
    return failure();
  framed = n.create<graph::TransposeOp>(framed,
                                        b.getDenseI64ArrayAttr({2, 0, 1, 3}));
  if (window)
    framed = n.create<graph::MulOp>(framed, reshape(n, window, {frame, 1}));
  if (!framed)
    return failure();
  n.setOutput(0, dftAlong(n, framed, 2, frame, /*inverse=*/false, onesided));
  return success(!n.failed());
}

LogicalResult convertMelWeightMatrix(NodeImporter &n) {
  auto bins = constantInt(n, 0, "num_mel_bins");
  auto dftLength = constantInt(n, 1, "dft_length");
  auto sampleRate = constantInt(n, 2, "sample_rate");
  auto lower = constantScalar(n, 3, "lower_edge_hertz");
  auto upper = constantScalar(n, 4, "upper_edge_hertz");
  int64_t dtype = n.attrInt("output_datatype", 1);
  if (!bins || !dftLength || !sampleRate || !lower || !upper || n.failed())
    return failure();
  Type element = elementTypeFor(dtype, n.context());
  if (!element)
    return n.error() << "attribute 'output_datatype' is " << dtype
                     << ", which kiln does not support";
  if (*bins < 1 || *dftLength < 1 || *sampleRate < 1)
    return n.error() << "num_mel_bins, dft_length and sample_rate must be "
                        "positive, got "
                     << *bins << ", " << *dftLength << ", " << *sampleRate;
  double low = lower->doubleAt(0), high = upper->doubleAt(0);
  auto hz = [](double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", v);
    return std::string(text);
  };
  if (low < 0 || high <= low)
    return n.error() << "the edges are " << hz(low) << " and " << hz(high)
                     << " Hz; they need 0 <= lower_edge_hertz < "
                        "upper_edge_hertz";
  // As onnxruntime: num_mel_bins + 2 points evenly spaced on the mel scale
  // from the lower edge (by (high - low) / (num_mel_bins + 2)), each as the
  // DFT bin at or below its frequency; triangle i rises from point i to
  // point i + 1 and falls to point i + 2. In float, as onnxruntime.
  int64_t spectrum = *dftLength / 2 + 1;
  auto toMel = [](float hz) {
    return 2595.0f * std::log10(1.0f + hz / 700.0f);
  };
  auto toHz = [](float mel) {
    return 700.0f * (std::pow(10.0f, mel / 2595.0f) - 1.0f);
  };
  float lowMel = toMel(float(low)), highMel = toMel(float(high));
  float melStep = (highMel - lowMel) / float(*bins + 2);
  std::vector<int64_t> points(size_t(*bins + 2));
  for (size_t i = 0; i < points.size(); ++i) {
    float hz = toHz(lowMel + melStep * float(i));
    points[i] =
        int64_t(std::floor(float(*dftLength + 1) * hz / float(*sampleRate)));
  }
  if (points.back() > spectrum)
    return n.error() << "upper_edge_hertz " << hz(high) << " lies past the "
                     << spectrum << " bins of a " << *dftLength
                     << "-point DFT at sample_rate " << *sampleRate
                     << " (at most half the sample rate)";
  std::vector<double> weights(size_t(spectrum * *bins), 0.0);
  for (int64_t i = 0; i < *bins; ++i) {
    int64_t left = points[i], center = points[i + 1], right = points[i + 2];
    auto at = [&](int64_t j) -> double & {
      return weights[size_t(j * *bins + i)];
    };
    if (center == left) {
      if (center < spectrum)
        at(center) = 1;
    } else {
      for (int64_t j = left; j <= center && j < spectrum; ++j)
        at(j) = float(j - left) / float(center - left);
    }
    for (int64_t j = center; j < right; ++j)
      at(j) = float(right - j) / float(right - center);
  }
  auto type = RankedTensorType::get({spectrum, *bins}, element);
  if (isa<FloatType>(element)) {
    n.setFolded(0, HostTensor::ofDoubles(type, std::move(weights)));
  } else {
    std::vector<int64_t> ints(weights.begin(), weights.end());
    n.setFolded(0, HostTensor::ofInts(type, std::move(ints)));
  }
  return success();
}

} // namespace kiln::onnx
