//===- Passes.h - shape phase passes --------------------------------------===//
#ifndef KILN_PASSES_SHAPE_PASSES_H
#define KILN_PASSES_SHAPE_PASSES_H

#include "ir/graph/GraphDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace kiln::shape {

#define GEN_PASS_DECL
#include "passes/shape/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/shape/Passes.h.inc"

} // namespace kiln::shape

#endif // KILN_PASSES_SHAPE_PASSES_H
