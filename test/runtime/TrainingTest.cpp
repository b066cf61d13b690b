//===- TrainingTest.cpp - schedules, data order, data sets, conv backward -===//
#include "runtime/src/cpu/gemm.h"
#include "runtime/src/data.h"
#include "runtime/src/io.h"
#include "runtime/src/training.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

namespace {

using namespace kiln::runtime;

TEST(LearningRate, Schedules) {
  LearningRate lr;
  lr.base = 0.1;
  EXPECT_DOUBLE_EQ(lr.at(0), 0.1);
  EXPECT_DOUBLE_EQ(lr.at(1000), 0.1);
  // Warm-up as Hugging Face's linear warm-up: s / warmup, then constant.
  lr.kind = LearningRate::Kind::Warmup;
  lr.warmupSteps = 10;
  EXPECT_DOUBLE_EQ(lr.at(0), 0.0);
  EXPECT_DOUBLE_EQ(lr.at(5), 0.05);
  EXPECT_DOUBLE_EQ(lr.at(10), 0.1);
  EXPECT_DOUBLE_EQ(lr.at(500), 0.1);
  // Cosine: warm-up, then half a cosine down to zero at totalSteps.
  lr.kind = LearningRate::Kind::Cosine;
  lr.totalSteps = 110;
  EXPECT_DOUBLE_EQ(lr.at(5), 0.05);
  EXPECT_DOUBLE_EQ(lr.at(10), 0.1);
  EXPECT_NEAR(lr.at(60), 0.05, 1e-12);
  EXPECT_NEAR(lr.at(110), 0.0, 1e-12);
  EXPECT_EQ(lr.at(200), 0.0);
  LearningRate::Kind kind;
  EXPECT_TRUE(LearningRate::parseKind("cosine", kind));
  EXPECT_EQ(kind, LearningRate::Kind::Cosine);
  EXPECT_FALSE(LearningRate::parseKind("linear", kind));
}

TEST(Data, ShuffledOrderIsAPermutationFixedBySeedAndEpoch) {
  std::vector<int64_t> a = shuffledOrder(1000, 7, 3);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i)
    ASSERT_EQ(sorted[i], i);
  EXPECT_EQ(a, shuffledOrder(1000, 7, 3));
  EXPECT_NE(a, shuffledOrder(1000, 7, 4));
  EXPECT_NE(a, shuffledOrder(1000, 8, 3));
  // Fixed values: the order must not change between versions or machines
  // (resuming a run depends on it).
  std::vector<int64_t> small = shuffledOrder(6, 0, 0);
  EXPECT_EQ(small, (std::vector<int64_t>{0, 1, 3, 2, 4, 5}));
}

/// An IDX file of unsigned bytes.
std::vector<uint8_t> idx(std::vector<uint32_t> dims, std::vector<uint8_t> data) {
  std::vector<uint8_t> out = {0, 0, 0x08, uint8_t(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8)
      out.push_back(uint8_t(d >> shift));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

TEST(Data, ReadsIdxImagesAndLabels) {
  std::string dir = testing::TempDir() + "/kiln-idx";
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  std::vector<uint8_t> images = idx({2, 2, 2}, {0, 255, 51, 102, 1, 2, 3, 4});
  std::vector<uint8_t> labels = idx({2}, {7, 3});
  ASSERT_TRUE(writeFileAtomically(dir + "/t10k-images-idx3-ubyte",
                                  {{images.data(), images.size()}})
                  .ok());
  ASSERT_TRUE(writeFileAtomically(dir + "/t10k-labels-idx1-ubyte",
                                  {{labels.data(), labels.size()}})
                  .ok());
  Dataset d;
  Status s = loadIdxDataset(dir, /*train=*/false, d);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(d.size(), 2);
  const Dataset::Column *x = d.find("images");
  ASSERT_TRUE(x);
  EXPECT_EQ(x->shape, (std::vector<int64_t>{2, 4}));
  auto *xf = reinterpret_cast<const float *>(x->bytes.data());
  EXPECT_FLOAT_EQ(xf[1], 1.0f);
  EXPECT_FLOAT_EQ(xf[2], 0.2f);
  auto *y = reinterpret_cast<const int64_t *>(d.find("labels")->bytes.data());
  EXPECT_EQ(y[0], 7);
  EXPECT_EQ(y[1], 3);
  // A truncated file and a missing one are refused with the reason.
  images.pop_back();
  ASSERT_TRUE(writeFileAtomically(dir + "/t10k-images-idx3-ubyte",
                                  {{images.data(), images.size()}})
                  .ok());
  s = loadIdxDataset(dir, false, d);
  EXPECT_NE(std::string(s.message()).find("is truncated"), std::string::npos)
      << s.message();
  s = loadIdxDataset(dir, /*train=*/true, d);
  EXPECT_NE(std::string(s.message()).find("train-images-idx3-ubyte"),
            std::string::npos)
      << s.message();
}

/// The convolution's three products against direct loops: the backward
/// products must be the adjoints of the forward one, so
/// <conv(x, w), dy> = <x, backward_data(dy, w)> = <w, backward_filter(x, dy)>.
TEST(Convolution, BackwardProductsAreAdjoints) {
  ConvCall c;
  c.n = 3, c.c = 4, c.h = 7, c.w = 6, c.m = 6, c.kh = 3, c.kw = 2;
  c.strideH = 2, c.strideW = 1, c.dilationH = 1, c.dilationW = 2;
  c.padTop = 1, c.padLeft = 1, c.group = 2;
  c.oh = (c.h + 2 * c.padTop - c.dilationH * (c.kh - 1) - 1) / c.strideH + 1;
  c.ow = (c.w + 2 * c.padLeft - c.dilationW * (c.kw - 1) - 1) / c.strideW + 1;
  int64_t xs = c.n * c.c * c.h * c.w, ws = c.m * (c.c / c.group) * c.kh * c.kw,
          ys = c.n * c.m * c.oh * c.ow;
  Program p;
  auto add = [&](int64_t n) {
    Buffer b{"b" + std::to_string(p.buffers.size()), BufferKind::Temp,
             DType::F64, {n}, p.arenaBytes};
    p.arenaBytes += n * 8;
    p.buffers.push_back(b);
    return int32_t(p.buffers.size() - 1);
  };
  int32_t x = add(xs), w = add(ws), dy = add(ys), y = add(ys), dx = add(xs),
          dw = add(ws);
  std::vector<double> arena(size_t(p.arenaBytes / 8));
  auto *bytes = reinterpret_cast<uint8_t *>(arena.data());
  auto at = [&](int32_t id) { return arena.data() + p.buffers[id].offset / 8; };
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int32_t id : {x, w, dy})
    for (int64_t i = 0; i < p.buffers[id].shape[0]; ++i)
      at(id)[i] = u(rng);
  ConvCall f = c;
  f.input = x, f.weight = w, f.out = y;
  cpu::convolution(p, f, bytes);
  ConvCall bd = c;
  bd.mode = ConvCall::Mode::BackwardData;
  bd.input = dy, bd.weight = w, bd.out = dx;
  cpu::convolution(p, bd, bytes);
  ConvCall bf = c;
  bf.mode = ConvCall::Mode::BackwardFilter;
  bf.input = x, bf.weight = dy, bf.out = dw;
  cpu::convolution(p, bf, bytes);
  auto dot = [&](int32_t a, int32_t b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i)
      s += at(a)[i] * at(b)[i];
    return s;
  };
  double forward = dot(y, dy, ys);
  EXPECT_NEAR(dot(x, dx, xs), forward, 1e-9 * std::fabs(forward) + 1e-12);
  EXPECT_NEAR(dot(w, dw, ws), forward, 1e-9 * std::fabs(forward) + 1e-12);
}

} // namespace
