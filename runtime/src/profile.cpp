//===- profile.cpp - KILN_PROFILE's report of a run ---------------------===//
#include "runtime/src/backend.h"

#include "runtime/src/dtype.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace kiln::runtime {

bool profileRequested() {
  const char *v = std::getenv("KILN_PROFILE");
  return v && *v && std::string(v) != "0";
}

int64_t stepBytes(const Program &program, const Step &step) {
  int64_t bytes = 0;
  if (step.kind != Step::Kind::Kernel)
    return 0;
  std::vector<int32_t> seen;
  auto add = [&](const std::vector<int32_t> &ids) {
    for (int32_t id : ids)
      if (std::find(seen.begin(), seen.end(), id) == seen.end()) {
        seen.push_back(id);
        bytes += program.buffers[id].bytes();
      }
  };
  add(step.args);
  for (const std::vector<int32_t> &g : step.segments)
    add(g);
  return bytes;
}

void printProfile(const Program &program, const Entry &entry,
                  std::vector<std::pair<double, size_t>> &times) {
  double total = 0, byKind[5] = {0, 0, 0, 0, 0};
  for (auto &t : times) {
    total += t.first;
    byKind[int(entry.steps[t.second].kind)] += t.first;
  }
  std::sort(times.begin(), times.end(), std::greater<>());
  std::fprintf(stderr, "kiln profile: %s: %zu steps, %.3f ms\n",
               entry.name.c_str(), times.size(), total);
  std::fprintf(stderr,
               "  kernels %.3f ms, gemms %.3f ms, convolutions %.3f ms, "
               "embedding gradients %.3f ms, all-reduce starts %.3f ms\n",
               byKind[int(Step::Kind::Kernel)], byKind[int(Step::Kind::Gemm)],
               byKind[int(Step::Kind::Conv)],
               byKind[int(Step::Kind::EmbeddingGrad)],
               byKind[int(Step::Kind::AllReduce)]);
  // The slowest steps; a kernel's rate is the bytes of its arguments (each
  // read or written once) over its time.
  const char *rows = std::getenv("KILN_PROFILE_STEPS");
  size_t shown = rows && std::atoi(rows) > 0 ? size_t(std::atoi(rows)) : 10;
  for (size_t r = 0; r < std::min(times.size(), shown); ++r) {
    const Step &step = entry.steps[times[r].second];
    std::string what =
        step.kind == Step::Kind::Gemm ? "gemm"
        : step.kind == Step::Kind::Conv ? "convolution"
        : step.kind == Step::Kind::EmbeddingGrad ? "embedding gradient"
        : step.kind == Step::Kind::AllReduce
            ? "all-reduce of bucket " + std::to_string(step.bucket)
            : "kernel " + program.kernels[step.kernel].name + " " +
                  formatShape(program.kernels[step.kernel].domain);
    int64_t bytes = stepBytes(program, step);
    std::string rate;
    if (bytes > 0 && times[r].first > 0) {
      char buffer[32];
      std::snprintf(buffer, sizeof buffer, " %7.1f GB/s",
                    double(bytes) / (times[r].first * 1e6));
      rate = buffer;
    }
    std::fprintf(stderr, "  step %4zu %10.3f ms %5.1f%%%s  %s\n",
                 times[r].second, times[r].first,
                 total > 0 ? 100 * times[r].first / total : 0.0, rate.c_str(),
                 what.c_str());
  }
}

} // namespace kiln::runtime
