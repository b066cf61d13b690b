//===- ConvertUtils.h - helpers shared by the per-op conversions ----------===//
#ifndef KILN_COMPILER_ONNX_CONVERTUTILS_H
#define KILN_COMPILER_ONNX_CONVERTUTILS_H

#include "compiler/onnx/NodeImporter.h"
#include "ir/graph/GraphOps.h"

#include <optional>
#include <vector>

namespace kiln::onnx {

/// The error function kiln's shape helpers take, reporting at node `n`.
inline auto errorAt(NodeImporter &n) {
  return [&n]() { return n.error(); };
}

/// Normalizes an ONNX axis for `rank`; reports `what` out of range.
std::optional<int64_t> normalizeAxisAt(NodeImporter &n, int64_t axis,
                                       int64_t rank, llvm::StringRef what);

/// Normalizes a list of axes (each distinct) and sorts them.
std::optional<std::vector<int64_t>> normalizeAxesAt(NodeImporter &n,
                                                    std::vector<int64_t> axes,
                                                    int64_t rank,
                                                    llvm::StringRef what);

/// A list of integers that moved from attribute `name` to input `input` in
/// opset `inputSince` (Squeeze's axes, Split's split, ...): read from where
/// this model's opset keeps it; empty when absent, nullopt on error.
std::optional<std::vector<int64_t>> intsFromAttrOrInput(NodeImporter &n,
                                                        llvm::StringRef name,
                                                        size_t input,
                                                        int64_t inputSince);

/// The spatial axes of an N x C x spatial input (at least one); none, with
/// an error, for a tensor of rank below 3.
std::optional<int64_t> spatialAxes(NodeImporter &n, mlir::RankedTensorType type);
/// Input `i` as a compile-time scalar (one element, any rank); reports
/// `what` otherwise.
std::optional<HostTensor> constantScalar(NodeImporter &n, size_t i,
                                         llvm::StringRef what);
/// constantScalar as an integer; reports `what` as well when it is a float.
std::optional<int64_t> constantInt(NodeImporter &n, size_t i,
                                   llvm::StringRef what);

/// Sets output 0 to input 0 with a new shape: folded when the input is
/// known, a kiln.reshape otherwise, nothing when the shape is unchanged.
llvm::LogicalResult setReshaped(NodeImporter &n, llvm::ArrayRef<int64_t> shape);

/// A kiln.reshape of `value` to `shape` (the value itself when equal).
mlir::Value reshape(NodeImporter &n, mlir::Value value,
                    llvm::ArrayRef<int64_t> shape);

/// Elements [start, start + size * stride) of `value` along `axis`, the
/// other axes whole (a kiln.slice).
mlir::Value sliceAlong(NodeImporter &n, mlir::Value value, int64_t axis,
                       int64_t start, int64_t size, int64_t stride = 1);

/// A slice of input 0 (folded if known), as kiln.slice's attributes say.
llvm::LogicalResult setSlice(NodeImporter &n, size_t output,
                             llvm::ArrayRef<int64_t> starts,
                             llvm::ArrayRef<int64_t> sizes,
                             llvm::ArrayRef<int64_t> strides);

/// DepthToSpace's and SpaceToDepth's blocksize, checked with input 0 (a
/// static N x C x H x W tensor); none, with an error, otherwise.
std::optional<int64_t> blockSize(NodeImporter &n, mlir::RankedTensorType type);

/// A constant of `type` holding `value` everywhere.
mlir::Value filledConstant(NodeImporter &n, mlir::RankedTensorType type,
                           double value);

/// An integer or bool constant of `type` holding `values` (row-major).
mlir::Value intConstant(NodeImporter &n, mlir::RankedTensorType type,
                        std::vector<int64_t> values);
/// A scalar constant of `element` type.
mlir::Value scalarConstant(NodeImporter &n, mlir::Type element, double value);

/// `parts` concatenated along `axis` (the one part itself when alone); with
/// `newAxis`, each part first gets a unit axis there: stacked (parts of one
/// type, which the caller checks).
mlir::Value concatAlong(NodeImporter &n, llvm::ArrayRef<mlir::Value> parts,
                        int64_t axis, bool newAxis = false);
/// `value` with `before` and `after` elements of `fill` added along `axis`
/// (a concat with constants; the value itself when both are 0).
mlir::Value padAlong(NodeImporter &n, mlir::Value value, int64_t axis,
                     int64_t before, int64_t after, double fill = 0);

/// x where x > 0, alpha * (exp(x) - 1) elsewhere, in graph ops (Elu, Selu).
mlir::Value eluOf(NodeImporter &n, mlir::Value x, double alpha);

/// log(1 + exp(x)), as max(x, 0) + log(1 + exp(-|x|)) so that large x does
/// not overflow (Softplus).
mlir::Value softplusOf(NodeImporter &n, mlir::Value x);

/// x / (1 + |x|) (Softsign).
mlir::Value softsignOf(NodeImporter &n, mlir::Value x);

/// x where x > alpha, 0 elsewhere (ThresholdedRelu).
mlir::Value thresholdedReluOf(NodeImporter &n, mlir::Value x, double alpha);

/// Explicit pads for a convolution or pooling window from `auto_pad` and
/// `pads` (begins then ends), given the input's spatial sizes.
std::optional<std::vector<int64_t>>
windowPads(NodeImporter &n, llvm::ArrayRef<int64_t> spatial,
           llvm::ArrayRef<int64_t> kernel, llvm::ArrayRef<int64_t> strides,
           llvm::ArrayRef<int64_t> dilations);

/// Softmax, which shares its opset handling with LogSoftmax (ConvertAtoL).
llvm::LogicalResult convertSoftmax(NodeImporter &n);

/// The recurrent layers GRU, LSTM and RNN (ConvertRecurrent.cpp).
llvm::LogicalResult convertGRU(NodeImporter &n);
llvm::LogicalResult convertLSTM(NodeImporter &n);
llvm::LogicalResult convertRNN(NodeImporter &n);

/// The signal ops DFT, STFT and MelWeightMatrix (ConvertSignal.cpp).
llvm::LogicalResult convertDFT(NodeImporter &n);
llvm::LogicalResult convertSTFT(NodeImporter &n);
llvm::LogicalResult convertMelWeightMatrix(NodeImporter &n);
/// The control-flow ops If, Loop and Scan (ConvertControlFlow.cpp).
llvm::LogicalResult convertIf(NodeImporter &n);
llvm::LogicalResult convertLoop(NodeImporter &n);
llvm::LogicalResult convertScan(NodeImporter &n);
/// Converts a unary elementwise op; a known input folds with `fold` (float
/// elements) or `foldInt` (integer and bool elements) where given.
template <typename OpTy>
llvm::LogicalResult convertUnary(NodeImporter &n,
                                 double (*fold)(double) = nullptr,
                                 int64_t (*foldInt)(int64_t) = nullptr) {
  if (const HostTensor *x = n.folded(0)) {
    if (x->isFloat() && fold) {
      std::vector<double> values(x->size());
      for (int64_t i = 0; i < x->size(); ++i)
        values[i] = fold(x->doubleAt(i));
      n.setFolded(0, HostTensor::ofDoubles(x->type(), std::move(values)));
      return mlir::success();
    }
    if (!x->isFloat() && foldInt) {
      std::vector<int64_t> values(x->size());
      for (int64_t i = 0; i < x->size(); ++i)
        values[i] = foldInt(x->intAt(i));
      n.setFolded(0, HostTensor::ofInts(x->type(), std::move(values)));
      return mlir::success();
    }
  }
  mlir::Value x = n.input(0);
  if (n.failed())
    return mlir::failure();
  n.setOutput(0, n.create<OpTy>(x));
  return mlir::success(!n.failed());
}

/// Converts a broadcasting binary op; folds known operands with `f` (float
/// operands) or `g` (integer and bool operands).
template <typename OpTy>
llvm::LogicalResult convertBinary(NodeImporter &n, double (*f)(double, double),
                                  int64_t (*g)(int64_t, int64_t),
                                  bool comparison = false) {
  const HostTensor *a = n.folded(0), *b = n.folded(1);
  if (a && b) {
    if (a->type().getElementType() != b->type().getElementType()) {
      n.error() << "operands must have the same element type, but input 0 is "
                << a->type().getElementType() << " and input 1 is "
                << b->type().getElementType();
      return mlir::failure();
    }
    if (mlir::failed(graph::broadcastShapes(a->shape(), b->shape(), errorAt(n),
                                            "input 0", "input 1")))
      return mlir::failure();
    mlir::Type element = comparison ? mlir::Type(n.builder().getI1Type())
                                    : a->type().getElementType();
    n.setFolded(0, HostTensor::broadcastBinary(*a, *b, element, f, g));
    return mlir::success(!n.failed());
  }
  mlir::Value lhs = n.input(0), rhs = n.input(1);
  if (n.failed())
    return mlir::failure();
  n.setOutput(0, n.create<OpTy>(lhs, rhs));
  return mlir::success(!n.failed());
}

/// For `steps` positions of sequences of lengths `lens` (integers [B]):
/// [steps, B], the position each reads with every sequence reversed within
/// its length (len - 1 - t), itself past it (ReverseSequence, the reverse
/// direction of a recurrent layer). `valid`, when given, receives
/// [steps, B] t < len.
mlir::Value reversedPositions(NodeImporter &n, mlir::Value lens, int64_t steps,
                              mlir::Value *valid = nullptr);

/// The index of x's max (min) along normalized `axis`: the first, or with
/// `last` the last, position that equals it or is NaN (I64, the axis kept
/// as 1 with `keepdims`). `iota`, when given, receives the constant
/// [0, size) laid along `axis`.
mlir::Value argExtreme(NodeImporter &n, mlir::Value x, int64_t axis,
                       bool isMax, bool last, bool keepdims,
                       mlir::Value *iota = nullptr);

} // namespace kiln::onnx

#endif // KILN_COMPILER_ONNX_CONVERTUTILS_H
