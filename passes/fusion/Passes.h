//===- Passes.h - fusing kernels ------------------------------------------===//
#ifndef KILN_PASSES_FUSION_PASSES_H
#define KILN_PASSES_FUSION_PASSES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Pass/Pass.h"

namespace kiln::fusion {

/// The unit attribute kiln-rematerialize puts on the kernels it copies
/// into the backward: kiln-fuse-elementwise keeps them (and what they fuse
/// into) apart from the forward's identical kernels.
constexpr llvm::StringLiteral kRecomputedAttr = "kiln.recomputed";

#define GEN_PASS_DECL
#include "passes/fusion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/fusion/Passes.h.inc"

} // namespace kiln::fusion

#endif // KILN_PASSES_FUSION_PASSES_H
