//===- session.h - a loaded artifact, ready to run ------------------------===//
#ifndef KILN_RUNTIME_SRC_SESSION_H
#define KILN_RUNTIME_SRC_SESSION_H

#include "backend.h"
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

/// Where a session runs: the CPU, an NVIDIA GPU, or (Auto) the GPU when
/// one is usable, else the CPU (Session::fallback() then says why).
enum class Device : uint8_t { Cpu, Cuda, Auto };

/// Parses "cpu", "cuda" or "auto"; false for anything else.
bool parseDevice(std::string_view text, Device &out);

struct SessionOptions {
  Device device = Device::Cpu;
  int ordinal = 0;   ///< Which GPU (a data-parallel rank: its local rank).
  bool tf32 = false; ///< fp32 GEMMs may use TF32 tensor cores (CUDA).
};

/// What the CUDA backend runs: the program's kernels as CUDA C++ (the
/// artifact's "cuda.source") and the cubins `kiln compile --precompile`
/// made of it, by architecture ("sm_90").
struct DeviceCode {
  std::string source;
  std::vector<std::pair<std::string, std::vector<uint8_t>>> cubins;
};

/// What a run moves between the host and a device arena (on the CPU the
/// arena is host memory, and only inputs are copied).
struct Transfer {
  /// Inputs not given keep the values the last run that gave them left in
  /// their slots (data that stays on the device between steps, as a
  /// benchmark's); without it a missing input is an error.
  bool keepInputs = false;
  /// The outputs copied back: every one (empty), or those named; the
  /// others' data may be null.
  std::vector<std::string> fetch;
  /// Whether run() waits for the entry. Without, a GPU session queues it
  /// and returns at once (the host prepares the next step meanwhile); no
  /// output is fetched (their data is null), and synchronize(), read() or
  /// write() wait for it. Inputs of more than 256 KiB are read from the
  /// caller's memory when the copy runs: pinned memory must stay unchanged
  /// until then. On the CPU runs always finish.
  bool wait = true;
};

/// One loaded program and its arena (one allocation) on its backend.
/// Thread-safety: a session runs one entry at a time; use one per thread.
class Session {
public:
  /// Reads and checks the artifact at `path` and prepares the arena.
  static Status open(const std::string &path, std::unique_ptr<Session> &out,
                     const SessionOptions &options = {});
  /// As open, from a program, the bytes of its init region and (for the
  /// CUDA backend) its kernels' code.
  static Status create(Program program, std::vector<uint8_t> init,
                       std::unique_ptr<Session> &out,
                       const SessionOptions &options = {},
                       DeviceCode code = {});
  ~Session();

  const Program &program() const { return program_; }
  /// What the session runs on ("cpu (2 threads, openblas GEMMs)").
  std::string device() const { return backend_->describe(); }
  /// The bytes the session allocated where it runs (its peak: nothing is
  /// allocated while it runs).
  int64_t deviceBytes() const { return backend_->bytes(); }
  /// With Device::Auto on the CPU: why the GPU could not be used.
  const std::string &fallback() const { return fallback_; }

  /// Runs `entry` with `inputs` (one per entry input, by name; dtype and
  /// shape must match). `outputs` receives the entry's outputs, pointing
  /// into the arena: valid until the next run. Errors name the input and
  /// what does not match.
  Status run(std::string_view entry, const std::vector<HostTensor> &inputs,
             std::vector<HostTensor> &outputs,
             const Transfer &transfer = Transfer());

  /// run() with the inputs read from a safetensors file (tensors that are
  /// not inputs are ignored: a batch file may also hold labels) and the
  /// outputs written to another, atomically. Errors name the files.
  Status runFiles(std::string_view entry, const std::string &inputsPath,
                  const std::string &outputsPath);

  /// Waits for a run queued with Transfer::wait false; its error, if any.
  Status synchronize() { return backend_->synchronize(); }

  /// The persistent buffer (parameter, optimizer state, statistic) named
  /// `name`, or null.
  const Buffer *persistent(std::string_view name) const;
  /// Copies buffer `b`'s bytes (b.bytes()) out of the arena, or into it.
  Status read(const Buffer &b, void *data);
  Status write(const Buffer &b, const void *data);
  /// Copies every tensor of `file` (read from `origin`) whose name is a
  /// persistent buffer into it (a checkpoint's weights), checking dtype and
  /// shape; each name of `required` must be there. Fails, changing nothing,
  /// on a missing or mismatched tensor, or when none is a persistent buffer.
  Status restore(const SafeTensors &file, const std::string &origin,
                 const std::vector<std::string> &required = {});
  /// restore() from the safetensors file at `path`.
  Status restore(const std::string &path);

  /// On the CPU backend, runs kernel steps with `hook` (backend.h) instead
  /// of the interpreter; null restores it.
  using KernelHook = runtime::KernelHook;
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
  std::unique_ptr<Backend> backend_;
  std::string fallback_;
  /// Outputs copied from a device arena; HostTensors point into them.
  std::vector<std::vector<uint8_t>> outputCopies_;
  /// Buffers a run has written as inputs (Transfer::keepInputs).
  std::vector<bool> written_;
};

} // namespace kiln::runtime

#endif // KILN_RUNTIME_SRC_SESSION_H
