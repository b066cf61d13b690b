//===- ShapeInference.cpp - shape rules shared by kiln graph ops ----------===//
#include "ir/graph/ShapeInference.h"

#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace kiln::graph {

std::string formatShape(ArrayRef<int64_t> shape) {
  if (shape.empty())
    return "scalar";
  std::string out;
  llvm::raw_string_ostream os(out);
  llvm::interleave(
      shape, os,
      [&](int64_t size) {
        if (ShapedType::isDynamic(size))
          os << '?';
        else
          os << size;
      },
      "x");
  return out;
}

FailureOr<SmallVector<int64_t>>
broadcastShapes(ArrayRef<int64_t> lhs, ArrayRef<int64_t> rhs, ErrorFn emitError,
                StringRef lhsName, StringRef rhsName) {
  size_t rank = std::max(lhs.size(), rhs.size());
  SmallVector<int64_t> result(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Position i counted from the right; a missing dimension acts as size 1.
    int64_t l = i < lhs.size() ? lhs[lhs.size() - 1 - i] : 1;
    int64_t r = i < rhs.size() ? rhs[rhs.size() - 1 - i] : 1;
    int64_t &out = result[rank - 1 - i];
    if (l == r || r == 1) {
      out = l;
    } else if (l == 1) {
      out = r;
    } else if (ShapedType::isDynamic(l)) {
      out = r; // r is static and not 1: a valid l must equal it.
    } else if (ShapedType::isDynamic(r)) {
      out = l;
    } else {
      emitError() << "operands are not broadcast-compatible: " << lhsName
                  << " dimension " << (lhs.size() - 1 - i) << " is " << l
                  << " but " << rhsName << " dimension " << (rhs.size() - 1 - i)
                  << " is " << r << " (shapes " << formatShape(lhs) << " and "
                  << formatShape(rhs) << ")";
      return failure();
    }
  }
  return result;
}

bool isCompatibleType(Type inferred, Type written) {
  auto a = dyn_cast<RankedTensorType>(inferred);
  auto b = dyn_cast<RankedTensorType>(written);
  if (!a || !b)
    return inferred == written;
  if (a.getElementType() != b.getElementType() || a.getRank() != b.getRank() ||
      a.getEncoding() != b.getEncoding())
    return false;
  for (auto [x, y] : llvm::zip_equal(a.getShape(), b.getShape()))
    if (x != y && !ShapedType::isDynamic(x) && !ShapedType::isDynamic(y))
      return false;
  return true;
}

bool areCompatibleTypes(TypeRange inferred, TypeRange written) {
  if (inferred.size() != written.size())
    return false;
  for (auto [a, b] : llvm::zip_equal(inferred, written))
    if (!isCompatibleType(a, b))
      return false;
  return true;
}

Type meetTypes(Type a, Type b) {
  auto ta = dyn_cast<RankedTensorType>(a);
  auto tb = dyn_cast<RankedTensorType>(b);
  if (!ta || !tb)
    return a;
  SmallVector<int64_t> shape(ta.getShape());
  for (auto [out, other] : llvm::zip_equal(shape, tb.getShape()))
    if (ShapedType::isDynamic(out))
      out = other;
  return ta.clone(shape);
}

std::optional<int64_t> normalizeAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return std::nullopt;
  return axis < 0 ? axis + rank : axis;
}

} // namespace kiln::graph
