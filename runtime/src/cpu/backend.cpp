//===- backend.cpp - the CPU backend: the interpreter and BLAS ------------===//
#include "runtime/src/backend.h"

#include "runtime/src/cpu/gemm.h"
#include "runtime/src/cpu/interpreter.h"
#include "runtime/src/cpu/threads.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace kiln::runtime {
namespace {

class CpuBackend final : public Backend {
public:
  CpuBackend(const Program &program, uint8_t *arena)
      : program_(program), arena_(arena) {}
  ~CpuBackend() override { std::free(arena_); }

  std::string describe() const override {
    return "cpu (" + std::to_string(cpu::threadCount()) + " threads, " +
           cpu::gemmBackendName() + " GEMMs)";
  }
  uint8_t *hostArena() override { return arena_; }
  int64_t bytes() const override {
    return (std::max<int64_t>(program_.arenaBytes, 64) + 63) / 64 * 64;
  }
  Status write(int64_t offset, const void *data, int64_t bytes) override {
    std::memcpy(arena_ + offset, data, size_t(bytes));
    return Status();
  }
  Status read(int64_t offset, void *data, int64_t bytes) override {
    std::memcpy(data, arena_ + offset, size_t(bytes));
    return Status();
  }
  Status run(const Entry &entry, const RunOptions &options) override;

private:
  const Program &program_;
  uint8_t *arena_;
};

Status CpuBackend::run(const Entry &entry, const RunOptions &options) {
  Communicator *comm = options.comm;
  const KernelHook *hook = options.hook && *options.hook ? options.hook : nullptr;
  // The steps, in order. KILN_PROFILE=1 times each and prints the
  // slowest to stderr.
  static const bool profile = profileRequested();
  std::vector<std::pair<double, size_t>> times;
  // Gradient buckets being all-reduced: a step that touches one waits
  // (collectiveAwaits), and the entry's end for the rest. handles[i]: the
  // collective AllReduce step i started.
  const bool distributed = comm && comm->size() > 1;
  std::vector<std::vector<size_t>> awaits;
  std::vector<int> handles;
  if (distributed) {
    awaits = collectiveAwaits(program_, entry);
    handles.assign(entry.steps.size(), -1);
  }
  size_t inFlight = 0;
  auto await = [&](size_t i) -> Status {
    if (!distributed)
      return Status();
    for (size_t a : awaits[i])
      if (handles[a] >= 0) {
        if (Status s = comm->wait(handles[a]); !s.ok())
          return s;
        handles[a] = -1;
        --inFlight;
      }
    return Status();
  };
  for (size_t i = 0; i < entry.steps.size(); ++i) {
    const Step &step = entry.steps[i];
    auto start = std::chrono::steady_clock::now();
    if (Status s = await(i); !s.ok())
      return s;
    if (step.kind == Step::Kind::AllReduce) {
      if (distributed) {
        Span span = bucketSpan(program_, step);
        DType t = program_.buffers[step.args[0]].dtype;
        int handle = 0;
        if (Status s = comm->start(
                arena_ + span.offset, span.bytes / int64_t(dtypeSize(t)), t,
                step.mean,
                step.bucket >= 0
                    ? "the all-reduce of gradient bucket " +
                          std::to_string(step.bucket)
                    : "the all-reduce of step " + std::to_string(i) +
                          " (statistics across ranks)",
                handle);
            !s.ok())
          return s;
        handles[i] = handle;
        ++inFlight;
      }
    } else if (step.kind == Step::Kind::Gemm) {
      cpu::gemm(program_, step.gemm, arena_);
    } else if (step.kind == Step::Kind::Conv) {
      cpu::convolution(program_, step.conv, arena_);
    } else if (step.kind == Step::Kind::EmbeddingGrad) {
      cpu::embeddingGrad(program_, step.embedding, arena_);
    } else {
      // The step's own buffers, then each segment's: a segmented kernel
      // runs over each segment's size (its one dimension, parallel or
      // reduced).
      const Kernel &kernel = program_.kernels[step.kernel];
      int64_t points = 1;
      for (int32_t d = 0; d < kernel.parallelDims; ++d)
        points *= kernel.domain[d];
      for (size_t g = 0; g <= step.segments.size(); ++g) {
        const std::vector<int32_t> &ids = g ? step.segments[g - 1] : step.args;
        std::vector<void *> args;
        int64_t size = kernel.segmented ? kernel.domain[0] : points;
        for (int32_t id : ids) {
          const Buffer &b = program_.buffers[id];
          args.push_back(arena_ + b.offset);
          if (g && !b.shape.empty())
            size = b.shape[0];
        }
        Kernel resized;
        if (g) {
          resized = kernel;
          resized.domain = {size};
          for (KArg &a : resized.args)
            if (!a.shape.empty())
              a.shape = {size};
        }
        if (Status s = hook ? (*hook)(step.kernel, args,
                                     kernel.segmented ? size : points)
                             : cpu::runKernel(g ? resized : kernel, args);
            !s.ok())
          return s;
      }
    }
    if (inFlight)
      comm->poll();
    if (profile)
      times.push_back({std::chrono::duration<double, std::milli>(
                           std::chrono::steady_clock::now() - start)
                           .count(),
                       i});
  }
  if (Status s = await(entry.steps.size()); !s.ok())
    return s;
  if (profile)
    printProfile(program_, entry, times);
  return Status();
}

} // namespace

Status createCpuBackend(const Program &program_,
                        const std::vector<uint8_t> &init,
                        std::unique_ptr<Backend> &out) {
  size_t bytes =
      size_t(std::max<int64_t>(program_.arenaBytes, 64) + 63) / 64 * 64;
  auto *arena = static_cast<uint8_t *>(std::aligned_alloc(64, bytes));
  if (!arena)
    return Status(KILN_STATUS_RESOURCE_EXHAUSTED,
                  "cannot allocate the " + std::to_string(program_.arenaBytes) +
                      "-byte arena");
  std::memset(arena, 0, bytes);
  if (!init.empty())
    std::memcpy(arena, init.data(), init.size());
  out = std::make_unique<CpuBackend>(program_, arena);
  return Status();
}

} // namespace kiln::runtime
