//===- collectives.h - data-parallel communication ------------------------===//
//
// What a data-parallel run needs from its launcher: which rank this process
// is, how many there are, and the collectives of a training step (the
// gradient buckets' all-reduce, started and awaited separately so that a
// bucket's communication overlaps the rest of the backward pass) and of the
// host loop (metrics, barriers).
//
// Processes are launched by `mpirun` (Open MPI, MPICH, Slurm with PMI); on the
// CPU the collectives are MPI's. Every wait is bounded: a rank that died or
// hangs turns into an error naming the collective, after the timeout, on
// every rank that waits for it (the driver then aborts the whole job).
//
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_SRC_COLLECTIVES_H
#define KILN_RUNTIME_SRC_COLLECTIVES_H

#include "dtype.h"
#include "kiln/runtime.hpp"

#include <memory>
#include <string>

namespace kiln::runtime {

class Communicator {
public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// The rank among the processes of this machine (the GPU to bind to),
  /// and how many there are (who share its cores).
  virtual int localRank() const = 0;
  virtual int localSize() const = 0;
  /// What carries the collectives ("MPI (Open MPI v4.1.4)").
  virtual std::string describe() const = 0;
  /// How long a collective may take before it is an error (seconds); a
  /// backend with collectives of its own (NCCL on GPUs) bounds them too.
  virtual double timeout() const { return 600; }

  /// Starts reducing `count` elements of `dtype` (F32 or F64) at `data`, in
  /// place, across all ranks: their mean when `mean`, else their sum.
  /// `what` names the collective in errors. `handle` receives what wait()
  /// takes.
  virtual Status start(void *data, int64_t count, DType dtype, bool mean,
                       const std::string &what, int &handle) = 0;
  /// Lets started collectives progress without waiting.
  virtual void poll() = 0;
  /// Waits for a started collective, at most the timeout after it started.
  virtual Status wait(int handle) = 0;

  /// All-reduces (sums) host doubles, blocking (bounded by the timeout).
  Status sum(double *data, int64_t count, const std::string &what);
  /// Waits until every rank gets here (bounded by the timeout).
  virtual Status barrier(const std::string &what) = 0;
  /// Copies `bytes` at `data` from rank `root` to every rank (bounded by
  /// the timeout).
  virtual Status broadcast(void *data, int64_t bytes, int root,
                           const std::string &what) = 0;
  /// Ends the job on every rank after an error on this one; never returns.
  [[noreturn]] virtual void abort(int code) = 0;
};

/// Whether a launcher (mpirun, srun) started this process as one of several.
bool launchedAsRanks();

/// The communicator of the launcher that started this process, or null (and
/// success) when none did. `timeoutSeconds` bounds every wait. Fails when
/// the launcher asks for ranks and this runtime was built without MPI.
Status openCommunicator(double timeoutSeconds,
                        std::unique_ptr<Communicator> &out);

/// A job of one rank whose collectives still run: every reduction and
/// broadcast is the identity on the host, and a backend with collectives of
/// its own (NCCL on a GPU) runs them over a communicator of one. This is how
/// the collective path is checked on a machine with one GPU
/// (kiln_run_step --one-rank); a plain single process has no communicator.
std::unique_ptr<Communicator> makeOneRankCommunicator(double timeoutSeconds);

} // namespace kiln::runtime

#endif // KILN_RUNTIME_SRC_COLLECTIVES_H
