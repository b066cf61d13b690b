//===- session.cpp - a loaded artifact, ready to run ----------------------===//
#include "session.h"

#include "artifact.h"
#include "cpu/gemm.h"
#include "cpu/interpreter.h"
#include "safetensors.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace kiln::runtime {
namespace {

/// The ten slowest steps of a run, for KILN_PROFILE.
void printProfile(const Program &program, const Entry &entry,
                  std::vector<std::pair<double, size_t>> &times) {
  double total = 0, byKind[4] = {0, 0, 0, 0};
  for (auto &t : times) {
    total += t.first;
    byKind[int(entry.steps[t.second].kind)] += t.first;
  }
  std::sort(times.begin(), times.end(), std::greater<>());
  std::fprintf(stderr, "kiln profile: %s: %zu steps, %.3f ms\n",
               entry.name.c_str(), times.size(), total);
  std::fprintf(stderr,
               "  kernels %.3f ms, gemms %.3f ms, convolutions %.3f ms, "
               "all-reduce starts %.3f ms\n",
               byKind[int(Step::Kind::Kernel)], byKind[int(Step::Kind::Gemm)],
               byKind[int(Step::Kind::Conv)],
               byKind[int(Step::Kind::AllReduce)]);
  for (size_t r = 0; r < std::min<size_t>(times.size(), 10); ++r) {
    const Step &step = entry.steps[times[r].second];
    std::string what =
        step.kind == Step::Kind::Gemm ? "gemm"
        : step.kind == Step::Kind::Conv ? "convolution"
        : step.kind == Step::Kind::AllReduce
            ? "all-reduce of bucket " + std::to_string(step.bucket)
            : "kernel " + program.kernels[step.kernel].name + " " +
                  formatShape(program.kernels[step.kernel].domain);
    std::fprintf(stderr, "  step %4zu %10.3f ms %5.1f%%  %s\n", times[r].second,
                 times[r].first, total > 0 ? 100 * times[r].first / total : 0.0,
                 what.c_str());
  }
}

} // namespace

Status Session::open(const std::string &path, std::unique_ptr<Session> &out) {
  Artifact artifact;
  if (Status s = Artifact::read(path, artifact); !s.ok())
    return s;
  const std::vector<uint8_t> *json = artifact.section("program");
  const std::vector<uint8_t> *init = artifact.section("init");
  if (!json || !init)
    return Status(KILN_STATUS_DATA_LOSS,
                  path + " has no '" + (json ? "init" : "program") +
                      "' section; it was not written by kiln compile");
  Program program;
  if (Status s = programFromJson(
          std::string_view(reinterpret_cast<const char *>(json->data()),
                           json->size()),
          path, program);
      !s.ok())
    return s;
  if (int64_t(init->size()) != program.initBytes)
    return Status(KILN_STATUS_DATA_LOSS, path + ": the init section has " +
                                             std::to_string(init->size()) +
                                             " bytes; the program expects " +
                                             std::to_string(program.initBytes));
  return create(std::move(program), *init, out);
}

Status Session::create(Program program, std::vector<uint8_t> init,
                       std::unique_ptr<Session> &out) {
  if (Status s = program.verify(); !s.ok())
    return s;
  if (int64_t(init.size()) != program.initBytes)
    return Status(KILN_STATUS_INVALID_ARGUMENT,
                  "the init bytes do not match the program's init region");
  std::unique_ptr<Session> session(new Session());
  size_t bytes =
      size_t(std::max<int64_t>(program.arenaBytes, 64) + 63) / 64 * 64;
  session->arena_ = static_cast<uint8_t *>(std::aligned_alloc(64, bytes));
  if (!session->arena_)
    return Status(KILN_STATUS_RESOURCE_EXHAUSTED,
                  "cannot allocate the " + std::to_string(program.arenaBytes) +
                      "-byte arena");
  std::memset(session->arena_, 0, bytes);
  if (!init.empty())
    std::memcpy(session->arena_, init.data(), init.size());
  session->program_ = std::move(program);
  out = std::move(session);
  return Status();
}

Session::~Session() { std::free(arena_); }

uint8_t *Session::persistent(std::string_view name, const Buffer **info) {
  int32_t id = program_.persistent(name);
  if (id < 0)
    return nullptr;
  if (info)
    *info = &program_.buffers[id];
  return arena_ + program_.buffers[id].offset;
}

Status Session::restore(const std::string &path) {
  SafeTensors file;
  if (Status s = SafeTensors::read(path, file); !s.ok())
    return s;
  return restore(file, path);
}

Status Session::restore(const SafeTensors &file, const std::string &origin,
                        const std::vector<std::string> &required) {
  for (const std::string &name : required)
    if (!file.find(name))
      return Status(KILN_STATUS_INVALID_ARGUMENT,
                    origin + " has no tensor '" + name +
                        "'; it is not a checkpoint of this model and "
                        "optimizer");
  // Check everything first, so that a bad checkpoint changes nothing.
  std::vector<std::pair<uint8_t *, const TensorView *>> copies;
  for (const TensorView &t : file.tensors()) {
    const Buffer *b = nullptr;
    uint8_t *data = persistent(t.name, &b);
    if (!data)
      continue;
    if (t.dtype != b->dtype || t.shape != b->shape)
      return Status(KILN_STATUS_INVALID_ARGUMENT,
                    origin + ": '" + t.name + "' is " +
                        std::string(dtypeName(t.dtype)) + " " +
                        formatShape(t.shape) + "; the model's is " +
                        std::string(dtypeName(b->dtype)) + " " +
                        formatShape(b->shape));
    copies.push_back({data, &t});
  }
  if (copies.empty())
    return Status(KILN_STATUS_INVALID_ARGUMENT,
                  origin + " holds none of the model's parameters; is it a "
                           "checkpoint of this model?");
  for (auto &[data, t] : copies)
    std::memcpy(data, t->data, t->bytes);
  return Status();
}

Status Session::run(std::string_view name,
                    const std::vector<HostTensor> &inputs,
                    std::vector<HostTensor> &outputs) {
  const Entry *entry = program_.entry(name);
  if (!entry)
    return Status(KILN_STATUS_NOT_FOUND,
                  "the program has no entry '" + std::string(name) + "'");
  // 1. Bind every input: present, of the right dtype and shape.
  std::string expected;
  for (int32_t id : entry->inputs)
    expected +=
        (expected.empty() ? "'" : ", '") + program_.buffers[id].name + "'";
  for (const HostTensor &given : inputs) {
    bool known = false;
    for (int32_t id : entry->inputs)
      known |= program_.buffers[id].name == given.name;
    if (!known)
      return Status(KILN_STATUS_INVALID_ARGUMENT,
                    "'" + given.name +
                        "' is not an input of the model (inputs: " + expected +
                        ")");
  }
  for (int32_t id : entry->inputs) {
    const Buffer &b = program_.buffers[id];
    const HostTensor *given = nullptr;
    for (const HostTensor &t : inputs)
      if (t.name == b.name)
        given = &t;
    if (!given)
      return Status(KILN_STATUS_INVALID_ARGUMENT,
                    "input '" + b.name + "' is missing (" +
                        std::string(dtypeName(b.dtype)) + " " +
                        formatShape(b.shape) + ")");
    if (given->dtype != b.dtype)
      return Status(KILN_STATUS_INVALID_ARGUMENT,
                    "input '" + b.name + "' has dtype " +
                        std::string(dtypeName(given->dtype)) +
                        "; the model expects " +
                        std::string(dtypeName(b.dtype)));
    if (given->shape != b.shape)
      return Status(KILN_STATUS_INVALID_ARGUMENT,
                    "input '" + b.name + "' has shape " +
                        formatShape(given->shape) + "; the model expects " +
                        formatShape(b.shape));
    if (int64_t(given->bytes) != b.bytes())
      return Status(KILN_STATUS_INVALID_ARGUMENT,
                    "input '" + b.name + "' has " +
                        std::to_string(given->bytes) +
                        " bytes; its shape needs " + std::to_string(b.bytes()));
    std::memcpy(arena_ + b.offset, given->data, given->bytes);
  }
  // 2. The steps, in order. KILN_PROFILE=1 times each and prints the
  // slowest to stderr.
  static const bool profile = [] {
    const char *v = std::getenv("KILN_PROFILE");
    return v && *v && std::string(v) != "0";
  }();
  std::vector<std::pair<double, size_t>> times;
  // Gradient buckets being all-reduced: a step that touches one waits.
  struct InFlight {
    Span span;
    int handle;
  };
  std::vector<InFlight> inFlight;
  const bool distributed = comm_ && comm_->size() > 1;
  auto awaitOverlapping = [&](const Step &step) -> Status {
    if (inFlight.empty())
      return Status();
    std::vector<int32_t> touched = stepBuffers(step);
    for (size_t f = 0; f < inFlight.size();) {
      bool overlaps = false;
      for (int32_t id : touched) {
        const Buffer &b = program_.buffers[id];
        overlaps |= b.offset < inFlight[f].span.offset + inFlight[f].span.bytes &&
                    inFlight[f].span.offset < b.offset + b.bytes();
      }
      if (!overlaps) {
        ++f;
        continue;
      }
      if (Status s = comm_->wait(inFlight[f].handle); !s.ok())
        return s;
      inFlight.erase(inFlight.begin() + f);
    }
    return Status();
  };
  for (size_t i = 0; i < entry->steps.size(); ++i) {
    const Step &step = entry->steps[i];
    auto start = std::chrono::steady_clock::now();
    if (Status s = awaitOverlapping(step); !s.ok())
      return s;
    if (step.kind == Step::Kind::AllReduce) {
      if (distributed) {
        Span span = bucketSpan(program_, step);
        DType t = program_.buffers[step.args[0]].dtype;
        int handle = 0;
        if (Status s = comm_->start(
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
        inFlight.push_back({span, handle});
      }
    } else if (step.kind == Step::Kind::Gemm) {
      cpu::gemm(program_, step.gemm, arena_);
    } else if (step.kind == Step::Kind::Conv) {
      cpu::convolution(program_, step.conv, arena_);
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
        if (Status s = hook_ ? hook_(step.kernel, args,
                                     kernel.segmented ? size : points)
                             : cpu::runKernel(g ? resized : kernel, args);
            !s.ok())
          return s;
      }
    }
    if (!inFlight.empty())
      comm_->poll();
    if (profile)
      times.push_back({std::chrono::duration<double, std::milli>(
                           std::chrono::steady_clock::now() - start)
                           .count(),
                       i});
  }
  for (const InFlight &f : inFlight)
    if (Status s = comm_->wait(f.handle); !s.ok())
      return s;
  if (profile)
    printProfile(program_, *entry, times);
  // 3. The outputs, where they are in the arena.
  outputs.clear();
  for (int32_t id : entry->outputs) {
    const Buffer &b = program_.buffers[id];
    outputs.push_back(
        {b.name, b.dtype, b.shape, arena_ + b.offset, size_t(b.bytes())});
  }
  return Status();
}

Status Session::runFiles(std::string_view name, const std::string &inputsPath,
                         const std::string &outputsPath) {
  SafeTensors file;
  if (Status s = SafeTensors::read(inputsPath, file); !s.ok())
    return s;
  std::vector<HostTensor> inputs;
  if (const Entry *e = program_.entry(name)) {
    for (int32_t id : e->inputs)
      if (const TensorView *t = file.find(program_.buffers[id].name))
        inputs.push_back({t->name, t->dtype, t->shape, t->data, t->bytes});
  }
  std::vector<HostTensor> outputs;
  if (Status s = run(name, inputs, outputs); !s.ok())
    return std::move(s.annotate(inputsPath));
  SafeTensorsWriter writer;
  for (const HostTensor &t : outputs)
    if (Status s = writer.add(t.name, t.dtype, t.shape, t.data, t.bytes);
        !s.ok())
      return s;
  writer.setMetadata("producer", "kiln");
  return writer.write(outputsPath);
}

} // namespace kiln::runtime
