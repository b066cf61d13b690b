//===- backend.h - where a session's arena lives and its steps run --------===//
//
// A Session checks its inputs and hands out its outputs; a Backend holds the
// arena (the program's one allocation) and executes an entry's steps: the
// CPU (cpu/backend.cpp, the interpreter and BLAS) or an NVIDIA GPU
// (cuda/backend.cpp, NVRTC-compiled kernels and cuBLASLt). Both run the same
// program: the same kernels on the same memory plan.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_SRC_BACKEND_H
#define KILN_RUNTIME_SRC_BACKEND_H

#include "collectives.h"
#include "program.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace kiln::runtime {

/// Runs a kernel step on the CPU instead of the interpreter (tests that
/// execute generated kernel code): kernel index, argument pointers in the
/// kernel's order, and the launch's size (the parallel points, or for a
/// segmented kernel the segment's size, its `kiln_n`).
using KernelHook = std::function<Status(
    int32_t kernel, const std::vector<void *> &args, int64_t points)>;

class Backend {
public:
  virtual ~Backend() = default;
  /// What it runs on, for logs: "cpu (2 threads, openblas)".
  virtual std::string describe() const = 0;
  /// The bytes the backend allocated for the session: the arena, and on a
  /// GPU the tables and workspaces beside it.
  virtual int64_t bytes() const = 0;
  /// The arena, when it is in host memory (outputs then point into it);
  /// null when it is on a device.
  virtual uint8_t *hostArena() { return nullptr; }
  /// Copies `bytes` host bytes to the arena at `offset`, or back.
  virtual Status write(int64_t offset, const void *data, int64_t bytes) = 0;
  virtual Status read(int64_t offset, void *data, int64_t bytes) = 0;
  /// write() ordered before the next run() but perhaps not done yet: the
  /// bytes must stay valid until that run returns (a run's inputs).
  virtual Status writeBeforeRun(int64_t offset, const void *data,
                                int64_t bytes) {
    return write(offset, data, bytes);
  }

  struct RunOptions {
    Communicator *comm = nullptr; ///< A job's (null: a single process).
    const KernelHook *hook = nullptr; ///< CPU only.
    /// Whether run() returns only once the entry is done. Without, a GPU
    /// queues it and returns: later runs queue behind it, and read(),
    /// write() and synchronize() wait for it (an error of the run shows
    /// there). The CPU always finishes.
    bool wait = true;
  };
  /// Executes `entry`'s steps; its inputs are in the arena already, and its
  /// outputs are there when it returns.
  virtual Status run(const Entry &entry, const RunOptions &options) = 0;
  /// Waits for a run queued without `wait`.
  virtual Status synchronize() { return Status(); }
};

/// The CPU backend over `program` (verified), its arena zeroed and then the
/// init region copied in.
Status createCpuBackend(const Program &program,
                        const std::vector<uint8_t> &init,
                        std::unique_ptr<Backend> &out);

/// KILN_PROFILE (set and not "0"): time each step of a run and print the
/// slowest to stderr.
bool profileRequested();
/// The bytes of a kernel step's buffers (each counted once); 0 otherwise.
int64_t stepBytes(const Program &program, const Step &step);
/// KILN_PROFILE's report: the totals by kind of step, then the slowest
/// steps (KILN_PROFILE_STEPS of them, 10 by default), a kernel's with its
/// rate (stepBytes() over its time). `times`: (milliseconds, step index).
void printProfile(const Program &program, const Entry &entry,
                  std::vector<std::pair<double, size_t>> &times);

} // namespace kiln::runtime

#endif // KILN_RUNTIME_SRC_BACKEND_H
