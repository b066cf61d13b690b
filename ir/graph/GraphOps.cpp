//===- GraphOps.cpp - shape rules and folders of kiln graph ops -----------===//
//
// Each op's `inferResultType` is the ONNX spec's shape rule for it. The
// verifier, InferTypeOpInterface and kiln-shape-infer all call these.
//
//===----------------------------------------------------------------------===//
#include "ir/graph/GraphOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

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

/// Whether two contracted sizes can be equal (equal, or either unknown).
bool sizesMayMatch(int64_t a, int64_t b) {
  return a == b || ShapedType::isDynamic(a) || ShapedType::isDynamic(b);
}

} // namespace

//===----------------------------------------------------------------------===//
// ConstantOp
//===----------------------------------------------------------------------===//

FailureOr<Type> ConstantOp::inferResultType(Adaptor adaptor,
                                            ErrorFn emitError) {
  ElementsAttr value = adaptor.getValueAttr();
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

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValueAttr(); }

//===----------------------------------------------------------------------===//
// Elementwise ops
//===----------------------------------------------------------------------===//

FailureOr<Type> AddOp::inferResultType(Adaptor a, ErrorFn e) {
  return inferBroadcastBinary(a, e);
}
FailureOr<Type> SubOp::inferResultType(Adaptor a, ErrorFn e) {
  return inferBroadcastBinary(a, e);
}
FailureOr<Type> MulOp::inferResultType(Adaptor a, ErrorFn e) {
  return inferBroadcastBinary(a, e);
}
FailureOr<Type> DivOp::inferResultType(Adaptor a, ErrorFn e) {
  return inferBroadcastBinary(a, e);
}
FailureOr<Type> ReluOp::inferResultType(Adaptor a, ErrorFn e) {
  return inferSameAsInput(a, e);
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
  // dimension is dropped from the result.
  SmallVector<int64_t> l(lhs->getShape()), r(rhs->getShape());
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
  if (Value cValue = adaptor.getC()) {
    auto c = rankedOperand(cValue, "c", emitError);
    if (failed(c) || failed(checkSameElementType(*a, "a", *c, "c", emitError)))
      return failure();
    // Unidirectional broadcast of C to [M, N].
    int64_t target[2] = {m, n};
    ArrayRef<int64_t> cShape = c->getShape();
    bool ok = cShape.size() <= 2;
    for (size_t i = 0; ok && i < cShape.size(); ++i) {
      int64_t size = cShape[cShape.size() - 1 - i];
      ok = size == 1 || sizesMayMatch(size, target[1 - i]);
    }
    if (!ok) {
      emitError() << "operand c of shape " << formatShape(cShape)
                  << " does not broadcast to the result shape "
                  << formatShape(target);
      return failure();
    }
  }
  return Type(RankedTensorType::get({m, n}, a->getElementType()));
}

//===----------------------------------------------------------------------===//
// Normalizations
//===----------------------------------------------------------------------===//

FailureOr<Type> SoftmaxOp::inferResultType(Adaptor a, ErrorFn e) {
  return inferAlongAxis(a, e);
}
FailureOr<Type> LogSoftmaxOp::inferResultType(Adaptor a, ErrorFn e) {
  return inferAlongAxis(a, e);
}

} // namespace kiln::graph

#define GET_OP_CLASSES
#include "ir/graph/GraphOps.cpp.inc"
