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

/// Runs an op's shape rule, single- or multi-result, into `results`.
template <typename OpTy>
llvm::LogicalResult inferAll(typename OpTy::Adaptor adaptor, ErrorFn emitError,
                             llvm::SmallVectorImpl<mlir::Type> &results) {
  if constexpr (OpTy::kMultiResult) {
    return OpTy::inferResultTypes(adaptor, emitError, results);
  } else {
    mlir::FailureOr<mlir::Type> type =
        OpTy::inferResultType(adaptor, emitError);
    if (mlir::failed(type))
      return mlir::failure();
    results.push_back(*type);
    return mlir::success();
  }
}

/// Op::verify() for type-inferring ops: runs inference with errors on the op,
/// then checks the written result types against the inferred ones (so that
/// InferTypeOpInterface's own, vaguer, check never fires).
template <typename OpTy> llvm::LogicalResult verifyInferredTypes(OpTy op) {
  typename OpTy::Adaptor adaptor(op);
  llvm::SmallVector<mlir::Type> inferred;
  if (mlir::failed(inferAll<OpTy>(
          adaptor, [&] { return op.emitOpError(); }, inferred)))
    return mlir::failure();
  if (inferred.size() != op->getNumResults())
    return op.emitOpError()
           << "has " << op->getNumResults()
           << " results but its shape rule gives " << inferred.size();
  for (auto [index, pair] :
       llvm::enumerate(llvm::zip_equal(inferred, op->getResultTypes()))) {
    auto [type, written] = pair;
    if (isCompatibleType(type, written))
      continue;
    auto diag = op.emitOpError() << "result type ";
    if (op->getNumResults() > 1)
      diag << "#" << index << " ";
    return diag << written << " is incompatible with the inferred type "
                << type;
  }
  return mlir::success();
}

/// InferTypeOpInterface::inferReturnTypes for kiln ops. Errors are reported
/// at `location`, phrased as the verifier phrases them.
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
  return inferAll<OpTy>(adaptor, emitError, results);
}

} // namespace detail
} // namespace kiln::graph

#endif // KILN_IR_GRAPH_SHAPEINFERENCE_H
