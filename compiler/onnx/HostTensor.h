//===- HostTensor.h - tensors the importer knows at compile time ----------===//
//
// Shape arithmetic in exported models (Shape -> Gather -> Unsqueeze ->
// Concat -> Reshape, ConstantOfShape, Range, masks built with Trilu...) runs
// on values the importer knows. HostTensor holds such a value as plain host
// numbers so the importer can evaluate it and give kiln ops static
// attributes instead of runtime shape computations.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_COMPILER_ONNX_HOSTTENSOR_H
#define KILN_COMPILER_ONNX_HOSTTENSOR_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <optional>
#include <vector>

namespace kiln::onnx {

class HostTensor {
public:
  /// Reads a dense attribute (not a resource blob).
  static HostTensor fromAttr(mlir::DenseElementsAttr attr);
  /// Values as elements of `type` hold them: floats rounded to the element
  /// type, integers wrapped to its width, float-to-integer truncated.
  static HostTensor ofInts(mlir::RankedTensorType type,
                           std::vector<int64_t> values);
  static HostTensor ofDoubles(mlir::RankedTensorType type,
                              std::vector<double> values);

  mlir::DenseElementsAttr toAttr() const;
  mlir::RankedTensorType type() const { return type_; }
  llvm::ArrayRef<int64_t> shape() const { return type_.getShape(); }
  int64_t size() const { return type_.getNumElements(); }
  bool isFloat() const {
    return mlir::isa<mlir::FloatType>(type_.getElementType());
  }

  int64_t intAt(int64_t i) const;
  double doubleAt(int64_t i) const;
  std::vector<int64_t> ints() const;

  /// A tensor of `type` (same element type) whose element `i` is this
  /// tensor's element `source(i)`, or zero where `source(i)` is negative.
  HostTensor remap(mlir::RankedTensorType type,
                   llvm::function_ref<int64_t(int64_t)> source) const;
  /// The same elements with another shape.
  HostTensor reshape(llvm::ArrayRef<int64_t> shape) const;
  /// Converts each element as ONNX Cast does (float to integer truncates,
  /// anything to bool is `!= 0`).
  HostTensor cast(mlir::Type elementType) const;
  /// `condition ? x : y` elementwise, all three broadcast to `resultType`
  /// (x and y share an element type).
  static HostTensor select(const HostTensor &condition, const HostTensor &x,
                           const HostTensor &y,
                           mlir::RankedTensorType resultType);
  /// Applies `f` (for float results) or `g` (integer and bool results) to
  /// the broadcast pair of elements. `resultElement` may differ from the
  /// operands' (comparisons give i1).
  static HostTensor
  broadcastBinary(const HostTensor &a, const HostTensor &b,
                  mlir::Type resultElement,
                  llvm::function_ref<double(double, double)> f,
                  llvm::function_ref<int64_t(int64_t, int64_t)> g);

private:
  mlir::RankedTensorType type_;
  std::vector<int64_t> ints_;   // integer and bool elements
  std::vector<double> doubles_; // float elements
};

/// The element count of `shape`, or std::nullopt when it overflows int64 or
/// a size is negative.
std::optional<int64_t> checkedElementCount(llvm::ArrayRef<int64_t> shape);

/// The most elements the importer computes at compile time; larger results
/// are left to run time (or refused where they cannot be).
constexpr int64_t kMaxFoldedElements = int64_t(1) << 22;

/// Row-major strides of `shape`.
llvm::SmallVector<int64_t> stridesOf(llvm::ArrayRef<int64_t> shape);

/// For each flat index of `resultShape`, the flat index into `shape` that
/// numpy broadcasting reads.
int64_t broadcastSource(int64_t index, llvm::ArrayRef<int64_t> resultShape,
                        llvm::ArrayRef<int64_t> shape);

} // namespace kiln::onnx

#endif // KILN_COMPILER_ONNX_HOSTTENSOR_H
