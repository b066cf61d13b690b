//===- ShapeInference.h - shape rules shared by kiln graph ops ------------===//
//
// Plain functions over shapes and types, used by the ops' inferResultType
// and by the shape passes. Sizes use MLIR's convention: ShapedType::kDynamic
// for a size not known at compile time.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_IR_GRAPH_SHAPEINFERENCE_H
#define KILN_IR_GRAPH_SHAPEINFERENCE_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/TypeRange.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <optional>
#include <string>

namespace kiln::graph {

/// Starts an error diagnostic. The returned diagnostic may be inactive (when
/// inference runs without a location), in which case `<<` does nothing.
using ErrorFn = llvm::function_ref<mlir::InFlightDiagnostic()>;

/// Formats a shape as MLIR writes it in a tensor type: "8x?x3", "" for rank 0
/// is written as "scalar".
std::string formatShape(llvm::ArrayRef<int64_t> shape);

/// Broadcasts two shapes as numpy (and ONNX "multidirectional broadcasting")
/// does: aligned from the right, sizes equal or one of them 1. A `?` size
/// against 1 or `?` stays `?`; against a static size other than 1 it becomes
/// that size. `lhsName` and `rhsName` name the operands in the error.
mlir::FailureOr<llvm::SmallVector<int64_t>>
broadcastShapes(llvm::ArrayRef<int64_t> lhs, llvm::ArrayRef<int64_t> rhs,
                ErrorFn emitError, llvm::StringRef lhsName = "lhs",
                llvm::StringRef rhsName = "rhs");

/// True when `written` may stand for a value whose inferred type is
/// `inferred`: both ranked tensors of the same element type and rank, each
/// pair of sizes equal or one of them `?`.
bool isCompatibleType(mlir::Type inferred, mlir::Type written);
bool areCompatibleTypes(mlir::TypeRange inferred, mlir::TypeRange written);

/// The most refined type that both compatible types describe: each size is
/// the static one where either is static. Requires isCompatibleType(a, b).
mlir::Type meetTypes(mlir::Type a, mlir::Type b);

/// Normalizes an ONNX-style axis (negative counts from the end) for a tensor
/// of `rank`; std::nullopt when out of range.
std::optional<int64_t> normalizeAxis(int64_t axis, int64_t rank);

namespace detail {

/// Op::verify() for type-inferring ops: runs inference with errors on the op,
/// then checks the written result type against the inferred one (so that
/// InferTypeOpInterface's own, vaguer, check never fires).
template <typename OpTy> llvm::LogicalResult verifyInferredType(OpTy op) {
  typename OpTy::Adaptor adaptor(op);
  mlir::FailureOr<mlir::Type> inferred =
      OpTy::inferResultType(adaptor, [&] { return op.emitOpError(); });
  if (mlir::failed(inferred))
    return mlir::failure();
  mlir::Type written = op->getResult(0).getType();
  if (!isCompatibleType(*inferred, written))
    return op.emitOpError()
           << "result type " << written
           << " is incompatible with the inferred type " << *inferred;
  return mlir::success();
}

/// InferTypeOpInterface::inferReturnTypes for single-result kiln ops.
/// Errors are reported at `location`, phrased as the verifier phrases them.
template <typename OpTy>
llvm::LogicalResult
inferReturnTypes(std::optional<mlir::Location> location,
                 typename OpTy::Adaptor adaptor,
                 llvm::SmallVectorImpl<mlir::Type> &results) {
  auto emitError = [&]() -> mlir::InFlightDiagnostic {
    if (!location)
      return mlir::InFlightDiagnostic();
    return std::move(mlir::emitError(*location)
                     << "'" << OpTy::getOperationName() << "' op ");
  };
  mlir::FailureOr<mlir::Type> type = OpTy::inferResultType(adaptor, emitError);
  if (mlir::failed(type))
    return mlir::failure();
  results.push_back(*type);
  return mlir::success();
}

} // namespace detail
} // namespace kiln::graph

#endif // KILN_IR_GRAPH_SHAPEINFERENCE_H
