//===- kiln_bench.cpp - time an artifact's entry ---------------------------===//
//
//   kiln_bench MODEL.kiln [--entry forward|train_step] [--device auto|cpu|cuda]
//              [--precision fp32|tf32] [--warmup 10] [--windows 5]
//              [--steps 20] [--workload NAME] [--synthetic-weights]
//
// Fills every input with deterministic values (floats sin(0.37 i); token
// ids that an embedding's gradient reads uniform over its table's rows, as
// the baselines' torch.randint (all alike, every position would add into
// one row: a different, worst-case step); other integers 0, valid class
// ids), runs the entry once (first_step_s: from
// opening the artifact, so it includes loading and any NVRTC compile), then
// `warmup` times, then `windows` windows of `steps` runs, as
// ../shared/bench/torch_baseline.py measures PyTorch, and prints one JSON
// line in its fields: workload, mode, device, ms_per_step (median window),
// ms_windows, first_step_s, open_s (the part of it that opening the
// artifact took), peak_mib (the session's one allocation), and for
// train_step first_loss and last_loss. As the baselines' synthetic data, the
// batch is uploaded once and stays on the device; each step fetches only its
// first output (the loss). train_step runs through the Trainer
// (the learning rate and Adam's bias corrections as in training).
//
// The full-size workloads' artifacts are too big to carry to the GPU machine
// (gpt's weights alone are 60 MB), and timing needs no particular weights:
//   kiln_bench MODEL.kiln --strip-weights OUT.kiln
// writes the artifact with every weight's bytes zeroed (it compresses to
// almost nothing), and --synthetic-weights fills each weight, before the
// first step, with deterministic values uniform in +-1/sqrt(fan-in) (the
// scale of PyTorch's default initialization).
//
//===----------------------------------------------------------------------===//
#include "runtime/src/artifact.h"
#include "runtime/src/cpu/gemm.h"
#include "runtime/src/cpu/threads.h"
#include "runtime/src/session.h"
#include "runtime/src/training.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

using namespace kiln::runtime;
using Clock = std::chrono::steady_clock;

/// Whether `b` is a weight: a trainable parameter of a training program
/// (not optimizer state or BatchNorm statistics, which are persistent
/// too), any parameter of another.
static bool isWeight(const Program &program, const Buffer &b) {
  if (b.kind != BufferKind::Parameter)
    return false;
  if (!program.training)
    return true;
  const auto &names = program.training->parameters;
  return std::find(names.begin(), names.end(), b.name) != names.end();
}

/// Writes `in` to `out` with every weight's init bytes zeroed.
static int stripWeights(const std::string &in, const std::string &out) {
  Artifact artifact;
  Program program;
  Status s = Artifact::read(in, artifact);
  const std::vector<uint8_t> *json = artifact.section("program");
  if (s.ok() && !json)
    s = Status(KILN_STATUS_DATA_LOSS, in + " has no program");
  if (s.ok())
    s = programFromJson(std::string_view(reinterpret_cast<const char *>(
                                             json->data()),
                                         json->size()),
                        in, program);
  ArtifactWriter writer;
  for (const std::string &name : artifact.sectionNames()) {
    if (!s.ok())
      break;
    std::vector<uint8_t> bytes = *artifact.section(name);
    if (name == "init")
      for (const Buffer &b : program.buffers)
        if (isWeight(program, b) &&
            b.offset + b.bytes() <= int64_t(bytes.size()))
          std::fill(bytes.begin() + b.offset,
                    bytes.begin() + b.offset + b.bytes(), 0);
    s = writer.addSection(name, std::move(bytes));
  }
  if (s.ok())
    s = writer.write(out);
  if (!s.ok()) {
    std::fprintf(stderr, "kiln_bench: %s\n", s.toString().c_str());
    return 1;
  }
  return 0;
}

/// Fills every F32 weight with values uniform in +-1/sqrt(fan-in).
static Status syntheticWeights(Session &session) {
  uint64_t state = 0x9e3779b97f4a7c15ull;
  for (const Buffer &b : session.program().buffers) {
    if (!isWeight(session.program(), b) || b.dtype != DType::F32)
      continue;
    int64_t fanIn = 1;
    for (size_t d = b.shape.size() > 1 ? 1 : 0; d < b.shape.size(); ++d)
      fanIn *= b.shape[d];
    float bound = float(1 / std::sqrt(double(std::max<int64_t>(fanIn, 1))));
    std::vector<float> values(size_t(b.bytes() / 4));
    for (float &v : values) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      v = bound * (float(state >> 40) / float(1 << 24) * 2 - 1);
    }
    if (Status s = session.write(b, values.data()); !s.ok())
      return s;
  }
  return Status();
}

int main(int argc, char **argv) {
  if (argc < 2 || argv[1][0] == '-') {
    std::fprintf(stderr,
                 "usage: kiln_bench MODEL.kiln [--entry E] [--device D] "
                 "[--precision fp32|tf32] [--warmup N] [--windows N] "
                 "[--steps N] [--workload NAME]\n");
    return 2;
  }
  std::string entry = "forward", workload = argv[1], device = "auto",
              precision = "fp32";
  int warmup = 10, windows = 5, steps = 20;
  bool synthetic = false;
  for (int i = 2; i < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--synthetic-weights") {
      synthetic = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "kiln_bench: %s needs a value\n", flag.c_str());
      return 2;
    }
    if (flag == "--entry")
      entry = argv[i + 1];
    else if (flag == "--device")
      device = argv[i + 1];
    else if (flag == "--precision")
      precision = argv[i + 1];
    else if (flag == "--warmup")
      warmup = std::atoi(argv[i + 1]);
    else if (flag == "--windows")
      windows = std::max(1, std::atoi(argv[i + 1]));
    else if (flag == "--steps")
      steps = std::max(1, std::atoi(argv[i + 1]));
    else if (flag == "--workload")
      workload = argv[i + 1];
    else if (flag == "--strip-weights")
      return stripWeights(argv[1], argv[i + 1]);
    else {
      std::fprintf(stderr, "kiln_bench: unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  SessionOptions options;
  if (!parseDevice(device, options.device) ||
      (precision != "fp32" && precision != "tf32")) {
    std::fprintf(stderr, "kiln_bench: --device auto|cpu|cuda, --precision "
                         "fp32|tf32\n");
    return 2;
  }
  options.tf32 = precision == "tf32";
  auto start = Clock::now();
  std::unique_ptr<Session> session;
  if (Status s = Session::open(argv[1], session, options); !s.ok()) {
    std::fprintf(stderr, "kiln_bench: %s\n", s.toString().c_str());
    return 1;
  }
  const double opened =
      std::chrono::duration<double>(Clock::now() - start).count();
  if (!session->fallback().empty())
    std::fprintf(stderr, "kiln_bench: no usable GPU (%s); on the CPU\n",
                 session->fallback().c_str());
  // (Not counted in first_step_s: PyTorch's weights exist beforehand.)
  auto fill = Clock::now();
  if (synthetic)
    if (Status s = syntheticWeights(*session); !s.ok()) {
      std::fprintf(stderr, "kiln_bench: %s\n", s.toString().c_str());
      return 1;
    }
  start += Clock::now() - fill;
  const Entry *e = session->program().entry(entry);
  if (!e) {
    std::fprintf(stderr, "kiln_bench: no entry '%s'\n", entry.c_str());
    return 1;
  }
  std::unique_ptr<Trainer> trainer;
  if (entry == "train_step") {
    LearningRate lr;
    if (session->program().training)
      lr.base = session->program().training->lr;
    if (Status s = Trainer::create(*session, lr, trainer); !s.ok()) {
      std::fprintf(stderr, "kiln_bench: %s\n", s.toString().c_str());
      return 1;
    }
  }
  std::vector<std::vector<uint8_t>> data;
  std::vector<HostTensor> inputs;
  const Program &program = session->program();
  for (int32_t id : e->inputs) {
    const Buffer &b = program.buffers[id];
    std::vector<uint8_t> bytes(size_t(b.bytes()), 0);
    if (b.dtype == DType::F32)
      for (size_t i = 0; i < bytes.size() / 4; ++i) {
        float v = float(std::sin(double(i) * 0.37));
        std::memcpy(bytes.data() + 4 * i, &v, 4);
      }
    // The rows of the embedding whose gradient reads this input (or a
    // view of it: the same bytes) as its ids.
    int64_t rows = 0;
    for (const Entry &other : program.entries)
      for (const Step &st : other.steps) {
        if (st.kind != Step::Kind::EmbeddingGrad)
          continue;
        const Buffer &ids = program.buffers[st.embedding.ids];
        if (st.embedding.ids == id ||
            (ids.offset == b.offset && ids.bytes() == b.bytes() &&
             ids.dtype == b.dtype))
          rows = rows ? std::min(rows, st.embedding.rows) : st.embedding.rows;
      }
    if (rows > 0 && (b.dtype == DType::I64 || b.dtype == DType::I32)) {
      uint64_t state = 0x2545f4914f6cdd1dull + uint64_t(id);
      size_t size = b.dtype == DType::I64 ? 8 : 4;
      for (size_t i = 0; i < bytes.size() / size; ++i) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        int64_t v = int64_t((state >> 33) % uint64_t(rows));
        if (size == 8) {
          std::memcpy(bytes.data() + 8 * i, &v, 8);
        } else {
          int32_t w = int32_t(v);
          std::memcpy(bytes.data() + 4 * i, &w, 4);
        }
      }
      std::fprintf(stderr, "kiln_bench: input '%s': ids uniform in [0, %lld)\n",
                   b.name.c_str(), (long long)rows);
    }
    data.push_back(std::move(bytes));
    inputs.push_back(
        {b.name, b.dtype, b.shape, data.back().data(), data.back().size()});
  }
  // (The trainer supplies the step's scalar inputs, kiln.*, itself and
  // takes the rest by name.)
  // As the baselines' synthetic data, the batch stays on the device: only
  // the first step uploads it. As the baselines time their steps, the host
  // does not wait for each: steps are queued, and each window ends by
  // waiting for the last (the first step waits, and fetches its loss).
  std::vector<HostTensor> outputs;
  Transfer transfer;
  transfer.fetch = {session->program().buffers[e->outputs.at(0)].name};
  double loss = 0;
  auto fail = [](const Status &s) {
    std::fprintf(stderr, "kiln_bench: %s\n", s.toString().c_str());
    std::exit(1);
  };
  auto step = [&] {
    Status s = trainer ? trainer->step(inputs, outputs, loss, transfer)
                       : session->run(entry, inputs, outputs, transfer);
    transfer.keepInputs = true;
    transfer.wait = false;
    inputs.clear();
    if (!s.ok())
      fail(s);
  };
  step();
  double first = std::chrono::duration<double>(Clock::now() - start).count();
  double firstLoss = loss;
  for (int i = 0; i < warmup; ++i)
    step();
  if (Status s = session->synchronize(); !s.ok())
    fail(s);
  std::vector<double> ms;
  for (int w = 0; w < windows; ++w) {
    auto t0 = Clock::now();
    for (int i = 0; i < steps; ++i)
      step();
    if (Status s = session->synchronize(); !s.ok())
      fail(s);
    ms.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - t0).count() /
        steps);
  }
  // The last step's loss, from its output buffer.
  const Buffer &lossBuffer = session->program().buffers[e->outputs.at(0)];
  if (lossBuffer.dtype == DType::F32 && lossBuffer.bytes() == 4) {
    float value = 0;
    if (Status s = session->read(lossBuffer, &value); !s.ok())
      fail(s);
    loss = value;
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  std::string where = session->device();
  bool onCpu = where.rfind("cpu", 0) == 0;
  std::printf("{\"workload\": \"%s\", \"mode\": \"kiln-%s\", \"entry\": "
              "\"%s\", \"device\": \"%s\", \"precision\": \"%s\", ",
              workload.c_str(), onCpu ? "cpu" : "cuda", entry.c_str(),
              where.c_str(), precision.c_str());
  if (onCpu)
    std::printf("\"threads\": %d, \"gemm\": \"%s\", ", cpu::threadCount(),
                cpu::gemmBackendName());
  std::printf("\"ms_per_step\": %.4f, \"ms_windows\": [",
              sorted[sorted.size() / 2]);
  for (size_t i = 0; i < ms.size(); ++i)
    std::printf("%s%.4f", i ? ", " : "", ms[i]);
  std::printf("], \"first_step_s\": %.3f, \"open_s\": %.3f, "
              "\"peak_mib\": %.1f",
              first, opened, double(session->deviceBytes()) / double(1 << 20));
  if (trainer)
    std::printf(", \"first_loss\": %.4f, \"last_loss\": %.4f", firstLoss,
                loss);
  std::printf("}\n");
  return 0;
}
