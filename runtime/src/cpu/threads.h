//===- threads.h - the CPU backend's worker threads -----------------------===//
#ifndef KILN_RUNTIME_SRC_CPU_THREADS_H
#define KILN_RUNTIME_SRC_CPU_THREADS_H

#include <cstdint>
#include <functional>

namespace kiln::runtime::cpu {

/// How many threads run work: KILN_NUM_THREADS if set, else the cores
/// divided among the processes that share them (shareCores()).
int threadCount();

/// Declares that `processes` processes of one job run on this machine (the
/// ranks of a data-parallel run): each then uses its share of the cores,
/// for kiln's threads and the BLAS's. Call before any work runs.
void shareCores(int processes);

/// Calls `fn(i)` for every i in [0, n), spread over threadCount() threads
/// (the caller's included); returns when all calls have returned. Calls
/// from inside `fn` run serially.
void parallelFor(int64_t n, const std::function<void(int64_t)> &fn);

} // namespace kiln::runtime::cpu

#endif // KILN_RUNTIME_SRC_CPU_THREADS_H
