//===- kiln_bench.cpp - time an artifact's entry on the CPU ---------------===//
//
//   kiln_bench MODEL.kiln [--entry forward] [--warmup 5] [--windows 5]
//              [--steps 20] [--workload NAME]
//
// Fills every input with deterministic values, runs the entry `warmup`
// times, then `windows` windows of `steps` runs, and prints one JSON line
// in the fields of ../shared/bench/torch_baseline.py: workload, mode,
// ms_per_step (median window), ms_windows, first_step_s, device.
//
//===----------------------------------------------------------------------===//
#include "runtime/src/cpu/gemm.h"
#include "runtime/src/cpu/threads.h"
#include "runtime/src/session.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

using namespace kiln::runtime;
using Clock = std::chrono::steady_clock;

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: kiln_bench MODEL.kiln [--entry E] [--warmup N] "
                 "[--windows N] [--steps N] [--workload NAME]\n");
    return 2;
  }
  std::string entry = "forward", workload = argv[1];
  int warmup = 5, windows = 5, steps = 20;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--entry")
      entry = argv[i + 1];
    else if (flag == "--warmup")
      warmup = std::atoi(argv[i + 1]);
    else if (flag == "--windows")
      windows = std::atoi(argv[i + 1]);
    else if (flag == "--steps")
      steps = std::atoi(argv[i + 1]);
    else if (flag == "--workload")
      workload = argv[i + 1];
  }
  auto start = Clock::now();
  std::unique_ptr<Session> session;
  if (Status s = Session::open(argv[1], session); !s.ok()) {
    std::fprintf(stderr, "kiln_bench: %s\n", s.toString().c_str());
    return 1;
  }
  const Entry *e = session->program().entry(entry);
  if (!e) {
    std::fprintf(stderr, "kiln_bench: no entry '%s'\n", entry.c_str());
    return 1;
  }
  // Inputs: floats in [-1, 1), integers 0 (valid indices for any table).
  std::vector<std::vector<uint8_t>> data;
  std::vector<HostTensor> inputs;
  for (int32_t id : e->inputs) {
    const Buffer &b = session->program().buffers[id];
    std::vector<uint8_t> bytes(b.bytes(), 0);
    if (b.dtype == DType::F32)
      for (size_t i = 0; i < bytes.size() / 4; ++i) {
        float v = float(std::sin(double(i) * 0.37));
        std::memcpy(bytes.data() + 4 * i, &v, 4);
      }
    data.push_back(std::move(bytes));
    inputs.push_back(
        {b.name, b.dtype, b.shape, data.back().data(), data.back().size()});
  }
  std::vector<HostTensor> outputs;
  auto step = [&] {
    if (Status s = session->run(entry, inputs, outputs); !s.ok()) {
      std::fprintf(stderr, "kiln_bench: %s\n", s.toString().c_str());
      std::exit(1);
    }
  };
  step();
  double first = std::chrono::duration<double>(Clock::now() - start).count();
  for (int i = 0; i < warmup; ++i)
    step();
  std::vector<double> ms;
  for (int w = 0; w < windows; ++w) {
    auto t0 = Clock::now();
    for (int i = 0; i < steps; ++i)
      step();
    ms.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - t0).count() /
        steps);
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  std::printf(
      "{\"workload\": \"%s\", \"mode\": \"kiln-cpu-%s\", \"device\": \"cpu\", "
      "\"threads\": %d, \"gemm\": \"%s\", \"ms_per_step\": %.4f, "
      "\"ms_windows\": [",
      workload.c_str(), entry.c_str(), cpu::threadCount(),
      cpu::gemmBackendName(), sorted[sorted.size() / 2]);
  for (size_t i = 0; i < ms.size(); ++i)
    std::printf("%s%.4f", i ? ", " : "", ms[i]);
  std::printf("], \"first_step_s\": %.3f}\n", first);
  return 0;
}
