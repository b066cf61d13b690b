//===- GraphBuilder.h - building kiln ops in the autodiff passes ----------===//
//
// What the gradient rules and the training-step builder both write: kiln ops
// at one place, with inferred result types, and the few compositions they
// share (scalars that broadcast, sums back to a shape).
//
//===----------------------------------------------------------------------===//
#ifndef KILN_PASSES_AUTODIFF_GRAPHBUILDER_H
#define KILN_PASSES_AUTODIFF_GRAPHBUILDER_H

#include "ir/graph/GraphOps.h"

#include "mlir/IR/Builders.h"

namespace kiln::autodiff {

struct GraphBuilder {
  mlir::OpBuilder &b;
  mlir::Location loc;

  template <typename OpT, typename... Args> mlir::Value make(Args &&...args) {
    return b.create<OpT>(loc, std::forward<Args>(args)...)->getResult(0);
  }
  static mlir::RankedTensorType type(mlir::Value v) {
    return mlir::cast<mlir::RankedTensorType>(v.getType());
  }
  static mlir::Type element(mlir::Value v) { return type(v).getElementType(); }

  /// A rank-0 constant of a float type; broadcasts anywhere.
  mlir::Value scalar(mlir::Type element, double v) {
    auto t = mlir::RankedTensorType::get({}, element);
    return make<graph::ConstantOp>(mlir::DenseElementsAttr::get(
        t, mlir::FloatAttr::get(element, v)));
  }
  mlir::Value scalar(mlir::Value like, double v) {
    return scalar(element(like), v);
  }
  mlir::Value add(mlir::Value x, mlir::Value y) {
    return make<graph::AddOp>(x, y);
  }
  mlir::Value sub(mlir::Value x, mlir::Value y) {
    return make<graph::SubOp>(x, y);
  }
  mlir::Value mul(mlir::Value x, mlir::Value y) {
    return make<graph::MulOp>(x, y);
  }
  mlir::Value div(mlir::Value x, mlir::Value y) {
    return make<graph::DivOp>(x, y);
  }
  mlir::Value neg(mlir::Value x) { return make<graph::NegOp>(x); }
  mlir::Value mul(mlir::Value x, double c) { return mul(x, scalar(x, c)); }
  mlir::Value reshape(mlir::Value x, llvm::ArrayRef<int64_t> shape) {
    if (type(x).getShape() == shape)
      return x;
    return make<graph::ReshapeOp>(x, b.getDenseI64ArrayAttr(shape));
  }
  mlir::Value sum(mlir::Value x, llvm::ArrayRef<int64_t> axes,
                  bool keepdims = true) {
    return make<graph::ReduceSumOp>(x, b.getDenseI64ArrayAttr(axes),
                                    b.getBoolAttr(keepdims));
  }
  /// The sum over all dimensions, as a rank-0 tensor.
  mlir::Value sumAll(mlir::Value x) {
    llvm::SmallVector<int64_t> axes;
    for (int64_t d = 0; d < type(x).getRank(); ++d)
      axes.push_back(d);
    return axes.empty() ? x : sum(x, axes, /*keepdims=*/false);
  }
};

} // namespace kiln::autodiff

#endif // KILN_PASSES_AUTODIFF_GRAPHBUILDER_H
