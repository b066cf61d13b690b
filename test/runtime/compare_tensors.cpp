//===- compare_tensors.cpp - compare kiln's outputs with references -------===//
//
//   kiln_compare_tensors ACTUAL.safetensors REFERENCE.safetensors
//                        [--rtol R] [--atol A] [--all]
//
// Every tensor of REFERENCE named "expected:NAME" (with --all: every tensor
// of REFERENCE, by its own name, to compare two runs) must be in ACTUAL as NAME
// with the same dtype and shape, and values within atol + rtol * |expected|
// (NaN equals NaN; integers and bools must be equal). Prints the worst
// mismatch of each tensor that fails and exits 1 if any does.
//
//===----------------------------------------------------------------------===//
#include "runtime/src/safetensors.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

using namespace kiln::runtime;

namespace {

float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1F,
           mant = h & 0x3FF;
  float f;
  if (exp == 0)
    f = std::ldexp(float(mant), -24);
  else if (exp == 31)
    f = mant ? NAN : INFINITY;
  else
    f = std::ldexp(float(mant | 0x400), int(exp) - 25);
  return sign ? -f : f;
}

double valueAt(const TensorView &t, int64_t i) {
  const uint8_t *p = t.data;
  switch (t.dtype) {
  case DType::F32: {
    float v;
    std::memcpy(&v, p + 4 * i, 4);
    return v;
  }
  case DType::F64: {
    double v;
    std::memcpy(&v, p + 8 * i, 8);
    return v;
  }
  case DType::F16: {
    uint16_t v;
    std::memcpy(&v, p + 2 * i, 2);
    return halfToFloat(v);
  }
  case DType::BF16: {
    uint16_t v;
    std::memcpy(&v, p + 2 * i, 2);
    uint32_t b = uint32_t(v) << 16;
    float f;
    std::memcpy(&f, &b, 4);
    return f;
  }
  case DType::I64: {
    int64_t v;
    std::memcpy(&v, p + 8 * i, 8);
    return double(v);
  }
  case DType::I32: {
    int32_t v;
    std::memcpy(&v, p + 4 * i, 4);
    return v;
  }
  case DType::I8:
    return int8_t(p[i]);
  case DType::U8:
    return p[i];
  case DType::Bool:
    return p[i] != 0;
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 3) {
    std::fprintf(
        stderr,
        "usage: kiln_compare_tensors ACTUAL REFERENCE [--rtol R] [--atol A] "
        "[--all]\n");
    return 2;
  }
  double rtol = 1e-4, atol = 1e-5;
  bool all = false;
  for (int i = 3; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--all")) {
      all = true;
    } else if (i + 1 < argc && !std::strcmp(argv[i], "--rtol")) {
      rtol = std::atof(argv[++i]);
    } else if (i + 1 < argc && !std::strcmp(argv[i], "--atol")) {
      atol = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "kiln_compare_tensors: unknown argument '%s'\n",
                   argv[i]);
      return 2;
    }
  }
  SafeTensors actual, reference;
  for (auto [path, file] :
       {std::pair(argv[1], &actual), std::pair(argv[2], &reference)}) {
    if (Status s = SafeTensors::read(path, *file); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.toString().c_str());
      return 1;
    }
  }
  int failures = 0, compared = 0;
  for (const TensorView &expected : reference.tensors()) {
    if (!all && expected.name.rfind("expected:", 0) != 0)
      continue;
    std::string name = all ? expected.name : expected.name.substr(9);
    ++compared;
    const TensorView *got = actual.find(name);
    if (!got) {
      std::printf("  %s: missing from the output\n", name.c_str());
      ++failures;
      continue;
    }
    if (got->dtype != expected.dtype || got->shape != expected.shape) {
      std::printf("  %s: dtype or shape differs from the reference\n",
                  name.c_str());
      ++failures;
      continue;
    }
    bool isFloat =
        expected.dtype == DType::F32 || expected.dtype == DType::F64 ||
        expected.dtype == DType::F16 || expected.dtype == DType::BF16;
    double worst = 0;
    int64_t worstAt = -1;
    for (int64_t i = 0; i < expected.elements(); ++i) {
      double e = valueAt(expected, i), a = valueAt(*got, i);
      bool ok =
          isFloat
              ? (std::isnan(e)
                     ? std::isnan(a)
                     : (e == a || std::abs(a - e) <= atol + rtol * std::abs(e)))
              : a == e;
      double excess =
          std::isnan(e) || std::isnan(a) ? INFINITY : std::abs(a - e);
      if (!ok && (worstAt < 0 || excess > worst)) {
        worst = excess;
        worstAt = i;
      }
    }
    if (worstAt >= 0) {
      std::printf("  %s: element %lld is %.9g, expected %.9g\n", name.c_str(),
                  (long long)worstAt, valueAt(*got, worstAt),
                  valueAt(expected, worstAt));
      ++failures;
    }
  }
  if (compared == 0) {
    std::printf("  the reference has no %s tensors\n", all ? "" : "expected:*");
    return 1;
  }
  return failures ? 1 : 0;
}
