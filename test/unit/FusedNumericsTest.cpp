//===- FusedNumericsTest.cpp - fused programs compute what unfused ones do ===//
//
// Fusions that change how a value is computed, not only where, checked on
// the CPU backend against the same IR compiled one kernel per op:
//  - long reductions over few points split in two (a partial reduction over
//    more points, then one of the partial results): BatchNorm-like channel
//    statistics and a full sum, and column sums (a loop viewed in two parts),
//    sizes large enough to be split;
//  - gathers that compute an elementwise producer's element themselves (a
//    concat of transposed, scaled heads, read through a reshape).
// The training fixtures (TrainingFixture.h) are too small to be split, so
// these sizes are chosen to be.
//
//===----------------------------------------------------------------------===//
#include "test/unit/CompileIr.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace {

using namespace mlir;
namespace rt = kiln::runtime;

/// `ir` (a func.func @forward) compiled with or without fusion.
kiln::codegen::EmittedProgram compile(const std::string &ir, bool fuse) {
  return kiln::test::compileIr(ir, fuse);
}

/// Kernel launches of @forward, and whether one has `domain` with
/// `parallel` parallel dimensions.
int launches(const rt::Program &p, const std::vector<int64_t> &domain = {},
             int parallel = -1, bool *found = nullptr) {
  int n = 0;
  for (const rt::Step &s : p.entry("forward")->steps) {
    if (s.kind != rt::Step::Kind::Kernel)
      continue;
    ++n;
    const rt::Kernel &k = p.kernels[s.kernel];
    if (found && k.domain == domain && k.parallelDims == parallel)
      *found = true;
  }
  return n;
}

std::vector<float> randomValues(size_t n, float mean, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(mean, 1.0f);
  std::vector<float> v(n);
  for (float &x : v)
    x = normal(rng);
  return v;
}

/// Outputs agree to `rtol` of each output's largest magnitude (NaN fails).
void expectClose(const std::vector<std::vector<double>> &fused,
                 const std::vector<std::vector<double>> &unfused, double rtol) {
  ASSERT_EQ(fused.size(), unfused.size());
  for (size_t o = 0; o < fused.size(); ++o) {
    ASSERT_EQ(fused[o].size(), unfused[o].size()) << "output " << o;
    double scale = 0;
    for (double v : unfused[o])
      scale = std::max(scale, std::fabs(v));
    for (size_t i = 0; i < fused[o].size(); ++i)
      ASSERT_TRUE(std::fabs(fused[o][i] - unfused[o][i]) <= rtol * scale)
          << "output " << o << " element " << i << ": fused " << fused[o][i]
          << ", unfused " << unfused[o][i];
  }
}

/// A channel's sum, maximum and the full sum over [32, 4, 32, 32] (4 points
/// of 32768 steps; one point of 131072): each a partial reduction kept per
/// image (the first loop), then one over the images.
TEST(FusedNumerics, SplitReductionsEqualUnsplitOnes) {
  const std::string ir = R"mlir(
func.func @forward(%x: tensor<32x4x32x32xf32> {kiln.name = "x"})
    -> (tensor<4xf32>, tensor<4xf32>, tensor<f32>) {
  %0 = kiln.reduce_sum %x {axes = array<i64: 0, 2, 3>, keepdims = false} : (tensor<32x4x32x32xf32>) -> tensor<4xf32>
  %1 = kiln.reduce_max %x {axes = array<i64: 0, 2, 3>, keepdims = false} : (tensor<32x4x32x32xf32>) -> tensor<4xf32>
  %2 = kiln.mul %x, %x : (tensor<32x4x32x32xf32>, tensor<32x4x32x32xf32>) -> tensor<32x4x32x32xf32>
  %3 = kiln.reduce_sum %2 {axes = array<i64: 0, 1, 2, 3>, keepdims = false} : (tensor<32x4x32x32xf32>) -> tensor<f32>
  return %0, %1, %3 : tensor<4xf32>, tensor<4xf32>, tensor<f32>
}
)mlir";
  kiln::codegen::EmittedProgram fused = compile(ir, true);
  kiln::codegen::EmittedProgram unfused = compile(ir, false);
  // Split: the channel sum and maximum (one kernel, siblings) per image and
  // channel, then over the images; the full sum per image and channel,
  // then over both.
  bool partial = false;
  EXPECT_EQ(launches(fused.program, {32, 4, 32, 32}, 2, &partial), 4);
  EXPECT_TRUE(partial);
  EXPECT_EQ(launches(unfused.program), 4); // The square its own.
  std::vector<float> x = randomValues(32 * 4 * 32 * 32, 0.5f, 7);
  expectClose(kiln::test::runForward(fused, {x}),
              kiln::test::runForward(unfused, {x}), 1e-6);
}

/// BatchNorm's statistics (a mean, then the mean of squared deviations
/// from it) and the normalized values, at a size where both statistics
/// are split, the variance in Chan's parallel form (a mean far from 0, 3
/// in 1, so that a wrong combination of the parts' means shows).
TEST(FusedNumerics, SplitStatisticsEqualUnsplitOnes) {
  const std::string ir = R"mlir(
func.func @forward(%x: tensor<32x4x32x32xf32> {kiln.name = "x"}) -> (tensor<32x4x32x32xf32>, tensor<1x4x1x1xf32>, tensor<1x4x1x1xf32>) {
  %m = kiln.reduce_mean %x {axes = array<i64: 0, 2, 3>, keepdims = true} : (tensor<32x4x32x32xf32>) -> tensor<1x4x1x1xf32>
  %d = kiln.sub %x, %m : (tensor<32x4x32x32xf32>, tensor<1x4x1x1xf32>) -> tensor<32x4x32x32xf32>
  %q = kiln.mul %d, %d : (tensor<32x4x32x32xf32>, tensor<32x4x32x32xf32>) -> tensor<32x4x32x32xf32>
  %v = kiln.reduce_mean %q {axes = array<i64: 0, 2, 3>, keepdims = true} : (tensor<32x4x32x32xf32>) -> tensor<1x4x1x1xf32>
  %y = kiln.div %d, %v : (tensor<32x4x32x32xf32>, tensor<1x4x1x1xf32>) -> tensor<32x4x32x32xf32>
  return %y, %m, %v : tensor<32x4x32x32xf32>, tensor<1x4x1x1xf32>, tensor<1x4x1x1xf32>
}
)mlir";
  kiln::codegen::EmittedProgram fused = compile(ir, true);
  kiln::codegen::EmittedProgram unfused = compile(ir, false);
  bool partial = false;
  launches(fused.program, {32, 4, 32, 32}, 2, &partial);
  EXPECT_TRUE(partial);
  // In Chan's parallel form: each image's channel sums and squared
  // deviations from its own mean (one staged kernel, the input read once),
  // then both combined per channel (another).
  int staged = 0;
  for (const rt::Kernel &k : fused.program.kernels)
    staged += !k.stages.empty();
  EXPECT_EQ(staged, 2);
  std::vector<float> x = randomValues(32 * 4 * 32 * 32, 3.0f, 11);
  expectClose(kiln::test::runForward(fused, {x}),
              kiln::test::runForward(unfused, {x}), 1e-6);
}

/// Column sums over few columns (a LayerNorm's weight and bias gradients,
/// [16, 256, 96] summed over the first two axes, 96 points of 4096 steps):
/// the batch loop kept and the sequence loop in part (viewed as 4 x 64),
/// a partial sum per (image, quarter, column), then one over those.
TEST(FusedNumerics, SplitColumnSumsEqualUnsplitOnes) {
  const std::string ir = R"mlir(
func.func @forward(%dy: tensor<16x256x96xf32> {kiln.name = "dy"}, %x: tensor<16x256x96xf32> {kiln.name = "x"}, %m: tensor<16x256x1xf32> {kiln.name = "m"})
    -> (tensor<96xf32>, tensor<96xf32>) {
  %d = kiln.sub %x, %m : (tensor<16x256x96xf32>, tensor<16x256x1xf32>) -> tensor<16x256x96xf32>
  %p = kiln.mul %dy, %d : (tensor<16x256x96xf32>, tensor<16x256x96xf32>) -> tensor<16x256x96xf32>
  %w = kiln.reduce_sum %p {axes = array<i64: 0, 1>, keepdims = false} : (tensor<16x256x96xf32>) -> tensor<96xf32>
  %b = kiln.reduce_sum %dy {axes = array<i64: 0, 1>, keepdims = false} : (tensor<16x256x96xf32>) -> tensor<96xf32>
  return %w, %b : tensor<96xf32>, tensor<96xf32>
}
)mlir";
  kiln::codegen::EmittedProgram fused = compile(ir, true);
  kiln::codegen::EmittedProgram unfused = compile(ir, false);
  // The partial sums (both outputs, one kernel) over [16, 4, 96] points of
  // 64 steps, then the sums of those.
  bool partial = false;
  EXPECT_EQ(launches(fused.program, {16, 4, 96, 64}, 3, &partial), 2);
  EXPECT_TRUE(partial);
  std::vector<float> dy = randomValues(16 * 256 * 96, 0.5f, 13),
                     x = randomValues(16 * 256 * 96, 1.0f, 17),
                     m = randomValues(16 * 256, 0.0f, 19);
  expectClose(kiln::test::runForward(fused, {dy, x, m}),
              kiln::test::runForward(unfused, {dy, x, m}), 1e-5);
}

/// Squared deviations from another point's mean (the mean transposed) are
/// no variance: split, they stay a plain split (Chan's form would take
/// each point's own mean).
TEST(FusedNumerics, SplitDeviationsFromAnotherMeanEqualUnsplitOnes) {
  const std::string ir = R"mlir(
func.func @forward(%x: tensor<4x4x64x1024xf32> {kiln.name = "x"}) -> tensor<4x4x1x1xf32> {
  %m = kiln.reduce_mean %x {axes = array<i64: 2, 3>, keepdims = true} : (tensor<4x4x64x1024xf32>) -> tensor<4x4x1x1xf32>
  %t = kiln.transpose %m {perm = array<i64: 1, 0, 2, 3>} : (tensor<4x4x1x1xf32>) -> tensor<4x4x1x1xf32>
  %d = kiln.sub %x, %t : (tensor<4x4x64x1024xf32>, tensor<4x4x1x1xf32>) -> tensor<4x4x64x1024xf32>
  %q = kiln.mul %d, %d : (tensor<4x4x64x1024xf32>, tensor<4x4x64x1024xf32>) -> tensor<4x4x64x1024xf32>
  %v = kiln.reduce_mean %q {axes = array<i64: 2, 3>, keepdims = true} : (tensor<4x4x64x1024xf32>) -> tensor<4x4x1x1xf32>
  return %v : tensor<4x4x1x1xf32>
}
)mlir";
  kiln::codegen::EmittedProgram fused = compile(ir, true);
  kiln::codegen::EmittedProgram unfused = compile(ir, false);
  // Means that differ from point to point, so that the wrong one shows.
  std::vector<float> x = randomValues(4 * 4 * 64 * 1024, 0.0f, 5);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] += float(i / (64 * 1024));
  expectClose(kiln::test::runForward(fused, {x}),
              kiln::test::runForward(unfused, {x}), 1e-6);
}

/// A concat of heads transposed back and scaled (attention's dq and dk into
/// the projection's gradient): the concat computes them itself.
TEST(FusedNumerics, GatheredProducersEqualWrittenOnes) {
  const std::string ir = R"mlir(
func.func @forward(%q: tensor<2x3x5x4xf32> {kiln.name = "q"}, %k: tensor<2x3x5x4xf32> {kiln.name = "k"}, %s: tensor<f32> {kiln.name = "s"})
    -> tensor<2x5x24xf32> {
  %0 = kiln.transpose %q {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x3x5x4xf32>) -> tensor<2x5x3x4xf32>
  %1 = kiln.mul %0, %s : (tensor<2x5x3x4xf32>, tensor<f32>) -> tensor<2x5x3x4xf32>
  %2 = kiln.reshape %1 {shape = array<i64: 2, 5, 12>} : (tensor<2x5x3x4xf32>) -> tensor<2x5x12xf32>
  %3 = kiln.transpose %k {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x3x5x4xf32>) -> tensor<2x5x3x4xf32>
  %4 = kiln.exp %3 : (tensor<2x5x3x4xf32>) -> tensor<2x5x3x4xf32>
  %5 = kiln.reshape %4 {shape = array<i64: 2, 5, 12>} : (tensor<2x5x3x4xf32>) -> tensor<2x5x12xf32>
  %6 = kiln.concat %2, %5 {axis = 2 : i64} : (tensor<2x5x12xf32>, tensor<2x5x12xf32>) -> tensor<2x5x24xf32>
  return %6 : tensor<2x5x24xf32>
}
)mlir";
  kiln::codegen::EmittedProgram fused = compile(ir, true);
  kiln::codegen::EmittedProgram unfused = compile(ir, false);
  EXPECT_EQ(launches(fused.program), 1);
  EXPECT_GE(launches(unfused.program), 3);
  std::vector<float> q = randomValues(120, 0, 1), k = randomValues(120, 0, 2),
                     s = {0.5f};
  std::vector<std::vector<double>> a = kiln::test::runForward(fused, {q, k, s});
  std::vector<std::vector<double>> b =
      kiln::test::runForward(unfused, {q, k, s});
  expectClose(a, b, 0);
  // And what they both compute: element (n, t, j) is q[n, j/4, t, j%4] / 2
  // for j < 12, else exp(k[n, (j-12)/4, t, j%4]).
  ASSERT_EQ(a.size(), 1u);
  for (int n = 0; n < 2; ++n)
    for (int t = 0; t < 5; ++t)
      for (int j = 0; j < 24; ++j) {
        int h = (j % 12) / 4, l = j % 4;
        size_t at = size_t(((n * 3 + h) * 5 + t) * 4 + l);
        double want = j < 12 ? q[at] * 0.5 : std::exp(double(k[at]));
        EXPECT_NEAR(a[0][size_t((n * 5 + t) * 24 + j)], want,
                    1e-6 * std::max(1.0, std::fabs(want)))
            << n << " " << t << " " << j;
      }
}

/// RoPE's rotate-half, concat(-x2, x1) of the halves of one tensor: the
/// concat gathers from strided slices of the input (a fused kernel once
/// failed to compile, its gather reading a slice it had no buffer for).
TEST(FusedNumerics, ConcatOfSlicesOfOneTensor) {
  const std::string ir = R"mlir(
func.func @forward(%x: tensor<3x4x16xf32> {kiln.name = "x"}) -> tensor<3x4x16xf32> {
  %lo = kiln.slice %x {starts = array<i64: 0, 0, 0>, sizes = array<i64: 3, 4, 8>, strides = array<i64: 1, 1, 1>} : (tensor<3x4x16xf32>) -> tensor<3x4x8xf32>
  %hi = kiln.slice %x {starts = array<i64: 0, 0, 8>, sizes = array<i64: 3, 4, 8>, strides = array<i64: 1, 1, 1>} : (tensor<3x4x16xf32>) -> tensor<3x4x8xf32>
  %odd = kiln.slice %x {starts = array<i64: 0, 1, 1>, sizes = array<i64: 3, 2, 8>, strides = array<i64: 1, 2, 2>} : (tensor<3x4x16xf32>) -> tensor<3x2x8xf32>
  %n = kiln.neg %hi : (tensor<3x4x8xf32>) -> tensor<3x4x8xf32>
  %r = kiln.concat %n, %lo {axis = 2 : i64} : (tensor<3x4x8xf32>, tensor<3x4x8xf32>) -> tensor<3x4x16xf32>
  %o = kiln.concat %odd, %odd {axis = 1 : i64} : (tensor<3x2x8xf32>, tensor<3x2x8xf32>) -> tensor<3x4x8xf32>
  %c = kiln.concat %o, %lo {axis = 2 : i64} : (tensor<3x4x8xf32>, tensor<3x4x8xf32>) -> tensor<3x4x16xf32>
  %y = kiln.add %r, %c : (tensor<3x4x16xf32>, tensor<3x4x16xf32>) -> tensor<3x4x16xf32>
  return %y : tensor<3x4x16xf32>
}
)mlir";
  kiln::codegen::EmittedProgram fused = compile(ir, true);
  std::vector<float> x = randomValues(3 * 4 * 16, -1, 1);
  std::vector<std::vector<double>> a = kiln::test::runForward(fused, {x});
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(a[0].size(), x.size());
  auto at = [&](int n, int t, int j) { return double(x[(n * 4 + t) * 16 + j]); };
  for (int n = 0; n < 3; ++n)
    for (int t = 0; t < 4; ++t)
      for (int j = 0; j < 16; ++j) {
        double rotated = j < 8 ? -at(n, t, j + 8) : at(n, t, j - 8);
        double odd = j < 8 ? at(n, 1 + 2 * (t % 2), 1 + 2 * j) : at(n, t, j - 8);
        EXPECT_NEAR(a[0][(n * 4 + t) * 16 + j], rotated + odd, 1e-6)
            << n << " " << t << " " << j;
      }
}

/// kiln.random_uniform draws kiln.uniform's values (runtime/src/kernel.h's
/// randomUniform, the same on every backend) at element i of the stream
/// (seed * 2^32 + stream): ONNX's seed with stream 0, or seed 0 and the
/// draw's position among the unseeded ones; scaled into [low, high).
TEST(FusedNumerics, RandomUniformDrawsKilnsStream) {
  const std::string ir = R"mlir(
func.func @forward(%x: tensor<2x3xf32> {kiln.name = "x"})
    -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<5xf32>) {
  %a = kiln.random_uniform {shape = array<i64: 2, 3>, dtype = f32, low = -1.0, high = 1.0, seed = 5} : () -> tensor<2x3xf32>
  %b = kiln.random_uniform {shape = array<i64: 2, 3>, dtype = f32} : () -> tensor<2x3xf32>
  %c = kiln.random_uniform {shape = array<i64: 5>, dtype = f32, low = 2.0, high = 4.0} : () -> tensor<5xf32>
  %y = kiln.add %x, %a : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %y, %b, %c : tensor<2x3xf32>, tensor<2x3xf32>, tensor<5xf32>
}
)mlir";
  for (bool fuse : {true, false}) {
    std::vector<float> x = {0, 10, 20, 30, 40, 50};
    std::vector<std::vector<double>> out =
        kiln::test::runForward(compile(ir, fuse), {x});
    ASSERT_EQ(out.size(), 3u);
    auto u = [](uint64_t i, uint64_t seed, uint64_t stream) {
      return rt::randomUniform(i, seed * (uint64_t(1) << 32) + stream, false);
    };
    for (uint64_t i = 0; i < 6; ++i) {
      EXPECT_EQ(out[0][i], double(x[i] + float(-1.0 + 2.0 * u(i, 5, 0))))
          << i;
      EXPECT_EQ(out[1][i], double(float(u(i, 0, 0)))) << i;
    }
    for (uint64_t i = 0; i < 5; ++i) {
      EXPECT_EQ(out[2][i], double(float(2.0 + 2.0 * u(i, 0, 1)))) << i;
      EXPECT_GE(out[2][i], 2.0);
      EXPECT_LT(out[2][i], 4.0);
    }
    // Different streams, different values.
    EXPECT_NE(out[1][0], out[2][0] - 2.0);
  }
}

/// A Trilu (its mask from the coordinates) read through a view that splits
/// its columns: the fused kernel computes the column from the view's index
/// arithmetic (linalg's affine.apply, expanded) as the unfused one does.
TEST(FusedNumerics, IndexProducerThroughAView) {
  const std::string ir = R"mlir(
func.func @forward(%x: tensor<3x8xf32> {kiln.name = "x"}, %y: tensor<3x2x4xf32> {kiln.name = "y"}) -> tensor<3x2x4xf32> {
  %t = kiln.trilu %x {upper = true} : (tensor<3x8xf32>) -> tensor<3x8xf32>
  %r = kiln.reshape %t {shape = array<i64: 3, 2, 4>} : (tensor<3x8xf32>) -> tensor<3x2x4xf32>
  %s = kiln.add %r, %y : (tensor<3x2x4xf32>, tensor<3x2x4xf32>) -> tensor<3x2x4xf32>
  return %s : tensor<3x2x4xf32>
}
)mlir";
  std::vector<float> x = randomValues(24, 1, 3), y = randomValues(24, 0, 4);
  std::vector<std::vector<double>> fused =
      kiln::test::runForward(compile(ir, true), {x, y});
  ASSERT_EQ(fused.size(), 1u);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 8; ++j) {
      double want = (j >= i ? x[i * 8 + j] : 0.0f) + y[i * 8 + j];
      EXPECT_NEAR(fused[0][i * 8 + j], want, 1e-6) << i << " " << j;
    }
}

} // namespace
