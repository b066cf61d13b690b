//===- Passes.h - training-step construction ------------------------------===//
#ifndef KILN_PASSES_AUTODIFF_PASSES_H
#define KILN_PASSES_AUTODIFF_PASSES_H

#include "passes/autodiff/Autodiff.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace kiln::autodiff {

#define GEN_PASS_DECL
#include "passes/autodiff/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/autodiff/Passes.h.inc"

} // namespace kiln::autodiff

#endif // KILN_PASSES_AUTODIFF_PASSES_H
