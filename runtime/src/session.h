//===- session.h - a loaded artifact, ready to run ------------------------===//
#ifndef KILN_RUNTIME_SRC_SESSION_H
#define KILN_RUNTIME_SRC_SESSION_H

#include "collectives.h"
#include "program.h"
#include "safetensors.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace kiln::runtime {

/// A tensor handed to or returned by a session: its bytes are row-major.
struct HostTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void *data = nullptr; ///< Inputs: the caller's; outputs: the session's.
  size_t bytes = 0;
};

/// One loaded program and its arena (one allocation), on the CPU for now.
/// Thread-safety: a session runs one entry at a time; use one per thread.
class Session {
public:
  /// Reads and checks the artifact at `path` and prepares the arena.
  static Status open(const std::string &path, std::unique_ptr<Session> &out);
  /// As open, from a program and the bytes of its init region.
  static Status create(Program program, std::vector<uint8_t> init,
                       std::unique_ptr<Session> &out);
  ~Session();

  const Program &program() const { return program_; }

  /// Runs `entry` with `inputs` (one per entry input, by name; dtype and
  /// shape must match). `outputs` receives the entry's outputs, pointing
  /// into the arena: valid until the next run. Errors name the input and
  /// what does not match.
  Status run(std::string_view entry, const std::vector<HostTensor> &inputs,
             std::vector<HostTensor> &outputs);

  /// run() with the inputs read from a safetensors file (tensors that are
  /// not inputs are ignored: a batch file may also hold labels) and the
  /// outputs written to another, atomically. Errors name the files.
  Status runFiles(std::string_view entry, const std::string &inputsPath,
                  const std::string &outputsPath);

  /// The arena bytes of the persistent buffer (parameter, optimizer state,
  /// statistic) named `name`, or null; `info` receives its description.
  uint8_t *persistent(std::string_view name, const Buffer **info = nullptr);
  /// Copies every tensor of `file` (read from `origin`) whose name is a
  /// persistent buffer into it (a checkpoint's weights), checking dtype and
  /// shape; each name of `required` must be there. Fails, changing nothing,
  /// on a missing or mismatched tensor, or when none is a persistent buffer.
  Status restore(const SafeTensors &file, const std::string &origin,
                 const std::vector<std::string> &required = {});
  /// restore() from the safetensors file at `path`.
  Status restore(const std::string &path);

  /// Runs kernel steps with `hook` (kernel index, argument pointers in the
  /// kernel's order, and the launch's size: the parallel points, or for a
  /// segmented kernel the segment's size, its `kiln_n`) instead of the CPU
  /// interpreter; null restores it. For tests that execute generated kernel
  /// code on the CPU.
  using KernelHook = std::function<Status(
      int32_t kernel, const std::vector<void *> &args, int64_t points)>;
  void setKernelHook(KernelHook hook) { hook_ = std::move(hook); }

  /// The communicator of a data-parallel run (null: a single process);
  /// the entry's all-reduce steps use it. It must outlive its use.
  void setCommunicator(Communicator *comm) { comm_ = comm; }
  Communicator *communicator() const { return comm_; }

private:
  Session() = default;
  Communicator *comm_ = nullptr;
  KernelHook hook_;
  Program program_;
  uint8_t *arena_ = nullptr;
};

} // namespace kiln::runtime

#endif // KILN_RUNTIME_SRC_SESSION_H
