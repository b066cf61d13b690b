//===- Autodiff.h - reverse-mode differentiation of kiln graphs -----------===//
#ifndef KILN_PASSES_AUTODIFF_AUTODIFF_H
#define KILN_PASSES_AUTODIFF_AUTODIFF_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectRegistry.h"

namespace kiln::autodiff {

/// Attaches every op's gradient rule (DifferentiableOpInterface) to the kiln
/// dialect. Every tool that builds training steps registers this.
void registerGradientRules(mlir::DialectRegistry &registry);

/// Builds, at `builder`'s insertion point (which every op of `loss`'s block
/// that the loss depends on must dominate), the gradients of the scalar
/// `loss` with respect to each value of `wrt`. An entry is null where the
/// loss does not depend on that value through float ops. Fails, reporting
/// the op and its ONNX node, when an op on a path from `wrt` to the loss has
/// no gradient rule.
mlir::FailureOr<llvm::SmallVector<mlir::Value>>
gradients(mlir::OpBuilder &builder, mlir::Value loss,
          llvm::ArrayRef<mlir::Value> wrt);

} // namespace kiln::autodiff

#endif // KILN_PASSES_AUTODIFF_AUTODIFF_H
