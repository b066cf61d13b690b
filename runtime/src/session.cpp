//===- session.cpp - a loaded artifact, ready to run ----------------------===//
#include "session.h"

#include "artifact.h"
#include "cuda/backend.h"
#include "safetensors.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <thread>

namespace kiln::runtime {

bool parseDevice(std::string_view text, Device &out) {
  if (text == "cpu")
    out = Device::Cpu;
  else if (text == "cuda")
    out = Device::Cuda;
  else if (text == "auto")
    out = Device::Auto;
  else
    return false;
  return true;
}

Status Session::open(const std::string &path, std::unique_ptr<Session> &out,
                     const SessionOptions &options) {
  // KILN_PROFILE: how long reading the artifact takes, on stderr (the
  // backend then says how long it took to open).
  using Clock = std::chrono::steady_clock;
  Clock::time_point start = Clock::now();
  auto since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  // The driver and cuBLASLt load, the GPU's context is made and cuBLASLt's
  // heuristics are asked once (cuda::preload), meanwhile
  // (joined before the session is made, or on any return; the context's
  // reference dropped once the session holds its own, or on failure: by
  // ~Preloaded, after the join).
  struct Preload {
    cuda::Preloaded ready;
    std::thread thread;
    ~Preload() {
      if (thread.joinable())
        thread.join();
    }
  } preload;
  preload.ready.ordinal = options.ordinal;
  if (options.device != Device::Cpu)
    preload.thread = std::thread(cuda::preload, std::ref(preload.ready));
  Artifact artifact;
  if (Status s = Artifact::read(path, artifact); !s.ok())
    return s;
  const double read = since(start);
  start = Clock::now();
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
  DeviceCode code;
  if (options.device != Device::Cpu) {
    if (const std::vector<uint8_t> *source = artifact.section("cuda.source"))
      code.source.assign(source->begin(), source->end());
    for (const std::string &name : artifact.sectionNames())
      if (name.rfind("cuda.cubin.", 0) == 0)
        code.cubins.push_back({name.substr(11), *artifact.section(name)});
  }
  const double parsed = since(start);
  start = Clock::now();
  // cuDNN's libraries load while the GPU's context is made (they need none),
  // once the driver has been found to see the GPU.
  double cudnnSeconds = -1;
  if (program.has(Step::Kind::Conv) && preload.thread.joinable() &&
      preload.ready.gpuFound.get_future().get()) {
    Clock::time_point loading = Clock::now();
    if (cuda::preloadCudnn())
      cudnnSeconds = since(loading);
  }
  if (preload.thread.joinable())
    preload.thread.join();
  if (profileRequested()) {
    std::fprintf(stderr,
                 "kiln profile: read: artifact %.3f s (%.1f MB), program "
                 "%.3f s; ",
                 read, double(init->size()) / 1e6, parsed);
    if (cudnnSeconds >= 0)
      std::fprintf(stderr, "cuDNN's libraries %.3f s; ", cudnnSeconds);
    std::fprintf(stderr, "then waited %.3f s for the driver to load",
                 since(start) - std::max(cudnnSeconds, 0.0));
    if (options.device != Device::Cpu)
      std::fprintf(stderr,
                   " (its thread: driver %.3f s, context %.3f s, then "
                   "cuBLASLt %.3f s, its heuristics %.3f s)",
                   preload.ready.driverSeconds, preload.ready.contextSeconds,
                   preload.ready.blasSeconds, preload.ready.heuristicsSeconds);
    std::fputc('\n', stderr);
  }
  return create(std::move(program), artifact.take("init"), out, options,
                std::move(code));
}

Status Session::create(Program program, std::vector<uint8_t> init,
                       std::unique_ptr<Session> &out,
                       const SessionOptions &options, DeviceCode code) {
  if (Status s = program.verify(); !s.ok())
    return s;
  if (int64_t(init.size()) != program.initBytes)
    return Status(KILN_STATUS_INVALID_ARGUMENT,
                  "the init bytes do not match the program's init region");
  std::unique_ptr<Session> session(new Session());
  session->program_ = std::move(program);
  const Program &p = session->program_;
  if (options.device != Device::Cpu) {
    // Whether a GPU is usable first: that is what a user asks.
    Status s = cuda::available();
    if (s.ok())
      s = code.source.empty()
              ? Status(KILN_STATUS_FAILED_PRECONDITION,
                       "the program has no CUDA kernels (an artifact without "
                       "a 'cuda.source' section: compile it again with this "
                       "kiln)")
              : cuda::createBackend(p, init, code, options,
                                    session->backend_);
    if (!s.ok() && options.device == Device::Cuda)
      return s;
    if (!s.ok())
      session->fallback_ = std::string(s.message());
  }
  if (!session->backend_)
    if (Status s = createCpuBackend(p, init, session->backend_); !s.ok())
      return s;
  out = std::move(session);
  return Status();
}

Session::~Session() = default;

const Buffer *Session::persistent(std::string_view name) const {
  int32_t id = program_.persistent(name);
  return id < 0 ? nullptr : &program_.buffers[id];
}

Status Session::read(const Buffer &b, void *data) {
  return backend_->read(b.offset, data, b.bytes());
}

Status Session::write(const Buffer &b, const void *data) {
  return backend_->write(b.offset, data, b.bytes());
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
  std::vector<std::pair<const Buffer *, const TensorView *>> copies;
  for (const TensorView &t : file.tensors()) {
    const Buffer *b = persistent(t.name);
    if (!b)
      continue;
    if (t.dtype != b->dtype || t.shape != b->shape)
      return Status(KILN_STATUS_INVALID_ARGUMENT,
                    origin + ": '" + t.name + "' is " +
                        std::string(dtypeName(t.dtype)) + " " +
                        formatShape(t.shape) + "; the model's is " +
                        std::string(dtypeName(b->dtype)) + " " +
                        formatShape(b->shape));
    copies.push_back({b, &t});
  }
  if (copies.empty())
    return Status(KILN_STATUS_INVALID_ARGUMENT,
                  origin + " holds none of the model's parameters; is it a "
                           "checkpoint of this model?");
  for (auto &[b, t] : copies)
    if (Status s = write(*b, t->data); !s.ok())
      return s;
  return Status();
}

Status Session::run(std::string_view name,
                    const std::vector<HostTensor> &inputs,
                    std::vector<HostTensor> &outputs,
                    const Transfer &transfer) {
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
  // All checked before any is written.
  written_.resize(program_.buffers.size());
  std::vector<std::pair<int32_t, const HostTensor *>> writes;
  for (int32_t id : entry->inputs) {
    const Buffer &b = program_.buffers[id];
    const HostTensor *given = nullptr;
    for (const HostTensor &t : inputs)
      if (t.name == b.name)
        given = &t;
    if (!given && transfer.keepInputs && written_[size_t(id)])
      continue;
    if (!given)
      return Status(KILN_STATUS_INVALID_ARGUMENT,
                    "input '" + b.name + "' is missing (" +
                        std::string(dtypeName(b.dtype)) + " " +
                        formatShape(b.shape) + ")" +
                        (transfer.keepInputs ? " and no earlier run gave it"
                                             : ""));
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
    writes.push_back({id, given});
  }
  for (auto [id, given] : writes) {
    const Buffer &b = program_.buffers[id];
    if (Status s = backend_->writeBeforeRun(b.offset, given->data, b.bytes());
        !s.ok())
      return s;
    written_[size_t(id)] = true;
  }
  // 2. The steps.
  Backend::RunOptions run;
  run.comm = comm_;
  run.hook = &hook_;
  run.wait = transfer.wait;
  if (Status s = backend_->run(*entry, run); !s.ok())
    return s;
  // 3. The outputs: where they are in a host arena, else copied out.
  outputs.clear();
  uint8_t *arena = backend_->hostArena();
  outputCopies_.resize(entry->outputs.size());
  for (size_t o = 0; o < entry->outputs.size(); ++o) {
    const Buffer &b = program_.buffers[entry->outputs[o]];
    const uint8_t *data = arena ? arena + b.offset : nullptr;
    bool fetch = transfer.wait &&
                 (transfer.fetch.empty() ||
                  std::find(transfer.fetch.begin(), transfer.fetch.end(),
                            b.name) != transfer.fetch.end());
    if (!arena && fetch) {
      outputCopies_[o].resize(size_t(b.bytes()));
      if (Status s = read(b, outputCopies_[o].data()); !s.ok())
        return s;
      data = outputCopies_[o].data();
    }
    outputs.push_back({b.name, b.dtype, b.shape, data, size_t(b.bytes())});
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
