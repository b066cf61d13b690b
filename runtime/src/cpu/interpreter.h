//===- interpreter.h - runs kernels on the CPU ----------------------------===//
//
// Evaluates a Kernel over its domain in chunks of lanes (consecutive points
// of the parallel domain), each body instruction on a whole chunk at a time,
// so the loops are tight and vectorize. Floats of 32 bits or fewer compute
// in float, f64 in double, integers and bools in int64.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_SRC_CPU_INTERPRETER_H
#define KILN_RUNTIME_SRC_CPU_INTERPRETER_H

#include "runtime/src/kernel.h"

#include <vector>

namespace kiln::runtime::cpu {

/// Runs `kernel` (which must have passed verify()) on `args`, one pointer
/// per kernel argument, each holding its argument's shape row-major. Errors
/// are data-dependent faults, such as a gather index out of range.
Status runKernel(const Kernel &kernel, const std::vector<void *> &args);

} // namespace kiln::runtime::cpu

#endif // KILN_RUNTIME_SRC_CPU_INTERPRETER_H
