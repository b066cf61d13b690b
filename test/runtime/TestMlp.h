//===- TestMlp.h - a small MLP written by hand as a kiln program ----------===//
//
// Shared by the runtime's tests and the tool that writes an artifact for the
// C example: two GEMMs with bias and a ReLU kernel, with a double-precision
// reference.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_TEST_RUNTIME_TESTMLP_H
#define KILN_TEST_RUNTIME_TESTMLP_H

#include "runtime/src/program.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace kiln::runtime::testing_mlp {

constexpr int64_t B = 4, I = 8, H = 16, O = 3;

struct Mlp {
  Program program;
  std::vector<uint8_t> init;
  std::vector<float> w1, b1, w2, b2;
};

/// Adds a buffer at the next 64-byte aligned offset.
inline int32_t addBuffer(Program &p, std::string name, BufferKind kind,
                         std::vector<int64_t> shape, int64_t &at,
                         DType dtype = DType::F32) {
  Buffer b{std::move(name), kind, dtype, std::move(shape), at};
  at = (at + b.bytes() + 63) / 64 * 64;
  p.buffers.push_back(b);
  return int32_t(p.buffers.size() - 1);
}

inline Mlp makeMlp() {
  Mlp m;
  Program &p = m.program;
  int64_t at = 0;
  int32_t w1 = addBuffer(p, "fc1.weight", BufferKind::Parameter, {H, I}, at);
  int32_t b1 = addBuffer(p, "fc1.bias", BufferKind::Parameter, {H}, at);
  int32_t w2 = addBuffer(p, "fc2.weight", BufferKind::Parameter, {O, H}, at);
  int32_t b2 = addBuffer(p, "fc2.bias", BufferKind::Parameter, {O}, at);
  p.initBytes = at;
  int32_t x = addBuffer(p, "x", BufferKind::Input, {B, I}, at);
  int32_t h = addBuffer(p, "h", BufferKind::Temp, {B, H}, at);
  int32_t a = addBuffer(p, "a", BufferKind::Temp, {B, H}, at);
  int32_t y = addBuffer(p, "y", BufferKind::Output, {B, O}, at);
  p.arenaBytes = at;

  Kernel relu;
  relu.name = "relu";
  relu.domain = {B, H};
  relu.parallelDims = 2;
  relu.args = {{DType::F32, {B, H}, false}, {DType::F32, {B, H}, true}};
  KInstr load;
  load.op = KOp::Load;
  load.type = DType::F32;
  load.arg = 0;
  load.map = {1, 0, 0, 0, 1, 0};
  KInstr zero;
  zero.op = KOp::Const;
  zero.type = DType::F32;
  KInstr max;
  max.op = KOp::Max;
  max.type = DType::F32;
  max.a = 0;
  max.b = 1;
  relu.body = {load, zero, max};
  relu.outputs = {{1, 2, Combine::None}};
  p.kernels.push_back(relu);

  Entry forward;
  forward.name = "forward";
  forward.inputs = {x};
  forward.outputs = {y};
  forward.steps = {Step::call({x, w1, b1, h, false, true, B, H, I}),
                   Step::launch(0, {h, a}),
                   Step::call({a, w2, b2, y, false, true, B, O, H})};
  p.entries.push_back(forward);

  auto fill = [](std::vector<float> &v, size_t n, double scale, double phase) {
    v.resize(n);
    for (size_t i = 0; i < n; ++i)
      v[i] = float(std::sin(double(i) * 0.7 + phase) * scale);
  };
  fill(m.w1, H * I, 0.5, 0.1);
  fill(m.b1, H, 0.1, 0.2);
  fill(m.w2, O * H, 0.3, 0.3);
  fill(m.b2, O, 0.1, 0.4);
  m.init.resize(p.initBytes);
  for (auto [id, v] : {std::pair(w1, &m.w1), std::pair(b1, &m.b1),
                       std::pair(w2, &m.w2), std::pair(b2, &m.b2)})
    std::memcpy(m.init.data() + p.buffers[id].offset, v->data(), v->size() * 4);
  return m;
}

inline std::vector<double> reference(const Mlp &m,
                                     const std::vector<float> &x) {
  std::vector<double> y(B * O);
  for (int64_t n = 0; n < B; ++n) {
    std::vector<double> a(H);
    for (int64_t j = 0; j < H; ++j) {
      double s = m.b1[j];
      for (int64_t i = 0; i < I; ++i)
        s += double(x[n * I + i]) * m.w1[j * I + i];
      a[j] = std::max(s, 0.0);
    }
    for (int64_t o = 0; o < O; ++o) {
      double s = m.b2[o];
      for (int64_t j = 0; j < H; ++j)
        s += a[j] * m.w2[o * H + j];
      y[n * O + o] = s;
    }
  }
  return y;
}

inline std::vector<float> input() {
  std::vector<float> x(B * I);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = float(std::cos(double(i)));
  return x;
}

} // namespace kiln::runtime::testing_mlp

#endif // KILN_TEST_RUNTIME_TESTMLP_H
