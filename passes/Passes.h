//===- Passes.h - registers every kiln pass -------------------------------===//
#ifndef KILN_PASSES_PASSES_H
#define KILN_PASSES_PASSES_H

#include "passes/autodiff/Passes.h"
#include "passes/fusion/Passes.h"
#include "passes/lowering/Passes.h"
#include "passes/shape/Passes.h"

namespace kiln {

/// Registers all kiln passes with the global pass registry (for kiln-opt and
/// for textual pipelines).
inline void registerAllPasses() {
  shape::registerShapePasses();
  lowering::registerLoweringPasses();
  autodiff::registerAutodiffPasses();
  fusion::registerFusionPasses();
}

} // namespace kiln

#endif // KILN_PASSES_PASSES_H
