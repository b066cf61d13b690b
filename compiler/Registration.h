//===- Registration.h - dialects and passes the compiler knows ------------===//
#ifndef KILN_COMPILER_REGISTRATION_H
#define KILN_COMPILER_REGISTRATION_H

#include "mlir/IR/DialectRegistry.h"

namespace kiln {

/// Adds every dialect kiln IR may contain: kiln's own and the upstream ones
/// its functions are written in (func).
void registerAllDialects(mlir::DialectRegistry &registry);

/// Registers kiln's passes and pipelines and the upstream passes kiln-opt
/// offers beside them: canonicalize, cse, symbol-dce, remove-dead-values.
void registerAllPassesAndPipelines();

} // namespace kiln

#endif // KILN_COMPILER_REGISTRATION_H
