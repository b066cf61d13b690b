//===- ProgramEmitterTest.cpp - the code generator's memory planner -------===//
#include "codegen/ProgramEmitter.h"
#include "test/unit/CompileIr.h"
#include "test/unit/TrainingFixture.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace {

using kiln::codegen::planMemory;
namespace rt = kiln::runtime;

bool overlap(const rt::Buffer &a, const rt::Buffer &b) {
  return a.offset < b.offset + b.bytes() && b.offset < a.offset + a.bytes();
}

TEST(PlanMemory, ReusesSpaceAcrossDisjointLifetimes) {
  // a: steps 0-1, b: 1-2, c: 2-3. a and c never live together.
  int64_t total = 0;
  auto offsets =
      planMemory({1000, 1000, 1000}, {{0, 1}, {1, 2}, {2, 3}}, total);
  EXPECT_EQ(total, 2048); // Two 1024-byte (aligned) slots, not three.
  EXPECT_NE(offsets[0], offsets[1]);
  EXPECT_NE(offsets[1], offsets[2]);
  EXPECT_EQ(offsets[0], offsets[2]);
}

TEST(PlanMemory, OverlappingLifetimesNeverShare) {
  int64_t total = 0;
  std::vector<int64_t> sizes = {64, 200, 70, 500, 1};
  std::vector<std::pair<int, int>> lives = {
      {0, 4}, {1, 2}, {2, 3}, {0, 1}, {3, 4}};
  auto offsets = planMemory(sizes, lives, total);
  for (size_t i = 0; i < sizes.size(); ++i) {
    EXPECT_EQ(offsets[i] % 64, 0);
    EXPECT_LE(offsets[i] + sizes[i], total);
    for (size_t j = i + 1; j < sizes.size(); ++j) {
      bool time = lives[i].first <= lives[j].second &&
                  lives[j].first <= lives[i].second;
      bool space = offsets[i] < offsets[j] + sizes[j] &&
                   offsets[j] < offsets[i] + sizes[i];
      EXPECT_FALSE(time && space) << i << " and " << j;
    }
  }
}

/// The planner places each buffer (largest first) at the lowest offset
/// where nothing live with it is in the way; it finds that offset by a
/// sweep over the live buffers. Here, on random plans, the result equals
/// trying every offset just after any placed buffer against every placed
/// one (how it was first written, cubic in the buffers).
TEST(PlanMemory, EqualsFirstFitOverEveryCandidate) {
  auto align = [](int64_t v) { return (v + 63) / 64 * 64; };
  std::mt19937 rng(11);
  for (int round = 0; round < 20; ++round) {
    size_t n = 1 + rng() % 80;
    std::vector<int64_t> sizes(n);
    std::vector<std::pair<int, int>> lives(n);
    for (size_t i = 0; i < n; ++i) {
      sizes[i] = (rng() % 4 == 0) ? 64 * (1 + rng() % 8) : 1 + rng() % 5000;
      int a = int(rng() % 40), b = int(rng() % 40);
      lives[i] = {std::min(a, b), std::max(a, b)};
    }
    int64_t total = 0;
    auto offsets = planMemory(sizes, lives, total);
    // The reference: largest first (stable), the lowest candidate that
    // clashes with no placed buffer live at the same time.
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i)
      order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return sizes[a] > sizes[b]; });
    std::vector<int64_t> expected(n, 0);
    std::vector<size_t> placed;
    int64_t expectedTotal = 0;
    for (size_t i : order) {
      std::vector<int64_t> candidates = {0};
      for (size_t p : placed)
        candidates.push_back(align(expected[p] + sizes[p]));
      std::sort(candidates.begin(), candidates.end());
      for (int64_t at : candidates) {
        bool clash = false;
        for (size_t p : placed)
          clash |= lives[i].first <= lives[p].second &&
                   lives[p].first <= lives[i].second &&
                   at < expected[p] + sizes[p] && expected[p] < at + sizes[i];
        if (!clash) {
          expected[i] = at;
          break;
        }
      }
      placed.push_back(i);
      expectedTotal = std::max(expectedTotal, align(expected[i] + sizes[i]));
    }
    EXPECT_EQ(offsets, expected) << "round " << round;
    EXPECT_EQ(total, expectedTotal) << "round " << round;
  }
}

TEST(PlanMemory, Empty) {
  int64_t total = 7;
  EXPECT_TRUE(planMemory({}, {}, total).empty());
  EXPECT_EQ(total, 0);
}

TEST(PlanMemory, RecordsThePeak) {
  // Live bytes by step: 10, 30, 15, 5.
  rt::Entry entry;
  entry.steps.resize(4);
  kiln::codegen::recordPeak(entry, {10, 20, 5}, {{0, 2}, {1, 1}, {2, 3}});
  EXPECT_EQ(entry.peakStep, 1);
  EXPECT_EQ(entry.peakBytes(), 30);
  ASSERT_EQ(entry.peakValues.size(), 2u);
  EXPECT_EQ(entry.peakValues[0].bytes, 20); // Largest first.
  EXPECT_EQ(entry.peakValues[0].first, 1);
  EXPECT_EQ(entry.peakValues[1].bytes, 10);
  EXPECT_EQ(entry.peakValues[1].last, 2);
}

/// The peak travels in the artifact's program, and a value the program
/// says is live at its peak must be.
TEST(PlanMemory, ThePeakRoundTripsAndIsChecked) {
  const char *ir = R"mlir(
func.func @forward(%x: tensor<8x8xf32> {kiln.name = "x"}, %w: tensor<8x8xf32> {kiln.name = "w"})
    -> (tensor<8x8xf32> {kiln.name = "y"}) {
  %a = kiln.matmul %x, %w : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
  %b = kiln.matmul %a, %w : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
  return %b : tensor<8x8xf32>
}
)mlir";
  rt::Program p = kiln::test::compileIr(ir, true).program;
  ASSERT_EQ(p.entries.size(), 1u);
  const rt::Entry &e = p.entries[0];
  EXPECT_EQ(e.peakStep, 1); // a and b
  EXPECT_EQ(e.peakBytes(), 2 * 8 * 8 * 4);
  ASSERT_EQ(e.peakValues.size(), 2u);
  rt::Program q;
  rt::Status s = rt::programFromJson(rt::programToJson(p), "test", q);
  ASSERT_TRUE(s.ok()) << s.toString();
  ASSERT_EQ(q.entries.size(), 1u);
  EXPECT_EQ(q.entries[0].peakStep, e.peakStep);
  EXPECT_EQ(q.entries[0].peakBytes(), e.peakBytes());
  ASSERT_EQ(q.entries[0].peakValues.size(), 2u);
  for (size_t v = 0; v < 2; ++v) {
    EXPECT_EQ(q.entries[0].peakValues[v].bytes, e.peakValues[v].bytes);
    EXPECT_EQ(q.entries[0].peakValues[v].first, e.peakValues[v].first);
    EXPECT_EQ(q.entries[0].peakValues[v].last, e.peakValues[v].last);
  }
  ASSERT_TRUE(p.verify().ok());
  p.entries[0].peakValues[0].first = 2; // born after the peak
  EXPECT_FALSE(p.verify().ok());
}

/// An activation the backward's weight gradient reads (tanh(h)) is
/// recomputed there from h, which the backward reads anyway: the step's
/// peak is lower by the activation, and every output the same.
TEST(PlanMemory, RecomputedActivationsLowerThePeak) {
  const char *ir = R"mlir(
func.func @forward(%x: tensor<64x32xf32> {kiln.name = "x"}, %w: tensor<32x32xf32> {kiln.name = "w"}, %dy: tensor<64x32xf32> {kiln.name = "dy"})
    -> (tensor<64xf32> {kiln.name = "loss"}, tensor<32x32xf32> {kiln.name = "dw"}, tensor<64x32xf32> {kiln.name = "dh"}) {
  %h = kiln.matmul %x, %w : (tensor<64x32xf32>, tensor<32x32xf32>) -> tensor<64x32xf32>
  %g = kiln.tanh %h : (tensor<64x32xf32>) -> tensor<64x32xf32>
  %y = kiln.matmul %g, %w : (tensor<64x32xf32>, tensor<32x32xf32>) -> tensor<64x32xf32>
  %z = kiln.matmul %y, %w : (tensor<64x32xf32>, tensor<32x32xf32>) -> tensor<64x32xf32>
  %l = kiln.reduce_sum %z {axes = array<i64: 1>, keepdims = false} : (tensor<64x32xf32>) -> tensor<64xf32> loc("loss (cross_entropy)")
  %dw = kiln.gemm %g, %dy {trans_a = true} : (tensor<64x32xf32>, tensor<64x32xf32>) -> tensor<32x32xf32>
  %dg = kiln.gemm %dy, %w {trans_b = true} : (tensor<64x32xf32>, tensor<32x32xf32>) -> tensor<64x32xf32>
  %dh = kiln.mul %h, %dg : (tensor<64x32xf32>, tensor<64x32xf32>) -> tensor<64x32xf32>
  return %l, %dw, %dh : tensor<64xf32>, tensor<32x32xf32>, tensor<64x32xf32>
}
)mlir";
  kiln::codegen::EmittedProgram kept =
      kiln::test::compileIr(ir, true, {}, /*recompute=*/false);
  kiln::codegen::EmittedProgram recomputed =
      kiln::test::compileIr(ir, true, {}, /*recompute=*/true);
  const rt::Entry *a = kept.program.entry("forward");
  const rt::Entry *b = recomputed.program.entry("forward");
  ASSERT_TRUE(a && b);
  // tanh again, in the kernel of the backward that reads h too (h * dg).
  EXPECT_EQ(b->steps.size(), a->steps.size());
  // Kept: h, tanh(h), y and z at z's product. Recomputed: tanh(h) dies
  // with y's product, and the peak (now in the backward) is lower.
  EXPECT_EQ(a->peakBytes(), 4 * 64 * 32 * 4);
  EXPECT_LT(b->peakBytes(), a->peakBytes());
  std::vector<float> x(64 * 32), w(32 * 32), dy(64 * 32);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = float(i % 7) * 0.05f - 0.1f;
    dy[i] = float(i % 3) * 0.5f - 0.5f;
  }
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = float(i % 5) * 0.02f - 0.03f;
  auto outA = kiln::test::runForward(kept, {x, w, dy});
  auto outB = kiln::test::runForward(recomputed, {x, w, dy});
  ASSERT_EQ(outA.size(), 3u);
  EXPECT_EQ(outA, outB);
}

/// Checks that nothing a step of an output's entry after its writer reads
/// or writes overlaps the output, other than its own bytes (views); the
/// number of outputs checked.
int expectOutputsKept(const rt::Program &p) {
  auto sameBytes = [](const rt::Buffer &a, const rt::Buffer &b) {
    return a.offset == b.offset && a.bytes() == b.bytes();
  };
  int checked = 0;
  for (const rt::Entry &e : p.entries)
    for (int32_t out : e.outputs) {
      const rt::Buffer &o = p.buffers[out];
      size_t writer = e.steps.size();
      for (size_t s = 0; s < e.steps.size() && writer == e.steps.size(); ++s)
        for (int32_t b : rt::stepBuffers(e.steps[s]))
          if (sameBytes(p.buffers[b], o))
            writer = s;
      EXPECT_LT(writer, e.steps.size()) << e.name << ": " << o.name;
      for (size_t s = writer + 1; s < e.steps.size(); ++s)
        for (int32_t b : rt::stepBuffers(e.steps[s]))
          EXPECT_FALSE(overlap(p.buffers[b], o) && !sameBytes(p.buffers[b], o))
              << e.name << ": step " << s << " uses " << p.buffers[b].name
              << ", which overlaps output " << o.name;
      ++checked;
    }
  return checked;
}

/// An output written first, then temporaries that would fit in its place.
TEST(PlanMemory, AnOutputOutlivesTheStepsAfterIt) {
  const char *ir = R"mlir(
func.func @forward(%x: tensor<32x32xf32> {kiln.name = "x"}, %w: tensor<32x32xf32> {kiln.name = "w"})
    -> (tensor<32x32xf32> {kiln.name = "first"}, tensor<32x32xf32> {kiln.name = "last"}) {
  %a = kiln.matmul %x, %w : (tensor<32x32xf32>, tensor<32x32xf32>) -> tensor<32x32xf32>
  %b = kiln.matmul %w, %x : (tensor<32x32xf32>, tensor<32x32xf32>) -> tensor<32x32xf32>
  %c = kiln.exp %b : (tensor<32x32xf32>) -> tensor<32x32xf32>
  %d = kiln.matmul %c, %x : (tensor<32x32xf32>, tensor<32x32xf32>) -> tensor<32x32xf32>
  %e = kiln.matmul %d, %w : (tensor<32x32xf32>, tensor<32x32xf32>) -> tensor<32x32xf32>
  return %a, %e : tensor<32x32xf32>, tensor<32x32xf32>
}
)mlir";
  kiln::codegen::EmittedProgram program = kiln::test::compileIr(ir, true);
  EXPECT_EQ(expectOutputsKept(program.program), 2);
  std::vector<float> x(32 * 32), w(32 * 32);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = float(i % 7) * 0.01f;
    w[i] = float(i % 5) * 0.02f - 0.03f;
  }
  std::vector<std::vector<double>> out =
      kiln::test::runForward(program, {x, w});
  ASSERT_EQ(out.size(), 2u);
  for (int i = 0; i < 32; ++i)
    for (int j = 0; j < 32; ++j) {
      double sum = 0;
      for (int k = 0; k < 32; ++k)
        sum += double(x[i * 32 + k]) * w[k * 32 + j];
      ASSERT_NEAR(out[0][i * 32 + j], sum, 1e-5) << i << ", " << j;
    }
}

/// The kernel steps of `program`'s forward, in order.
std::vector<const rt::Step *> kernelSteps(const rt::Program &p) {
  std::vector<const rt::Step *> steps;
  for (const rt::Step &s : p.entry("forward")->steps)
    if (s.kind == rt::Step::Kind::Kernel)
      steps.push_back(&s);
  return steps;
}

/// A softmax (a staged kernel: each row read in full, then written) writes
/// its result over its input, which dies there; a roll (reading elsewhere
/// than the point), a transposing kernel (tiles) and an exp whose input
/// lives on do not.
TEST(PlanMemory, KernelsWriteOverInputsThatDieThereWhenTheyReadAtThePoint) {
  const char *ir = R"mlir(
func.func @forward(%x: tensor<64x48xf32> {kiln.name = "x"}, %w: tensor<48x48xf32> {kiln.name = "w"})
    -> (tensor<48x48xf32> {kiln.name = "y"}) {
  %a = kiln.matmul %x, %w : (tensor<64x48xf32>, tensor<48x48xf32>) -> tensor<64x48xf32>
  %p = kiln.softmax %a : (tensor<64x48xf32>) -> tensor<64x48xf32>
  %b0 = kiln.matmul %p, %w : (tensor<64x48xf32>, tensor<48x48xf32>) -> tensor<64x48xf32>
  %h1 = kiln.slice %b0 {starts = array<i64: 0, 24>, sizes = array<i64: 64, 24>, strides = array<i64: 1, 1>} : (tensor<64x48xf32>) -> tensor<64x24xf32>
  %h0 = kiln.slice %b0 {starts = array<i64: 0, 0>, sizes = array<i64: 64, 24>, strides = array<i64: 1, 1>} : (tensor<64x48xf32>) -> tensor<64x24xf32>
  %r = kiln.concat %h1, %h0 {axis = 1 : i64} : (tensor<64x24xf32>, tensor<64x24xf32>) -> tensor<64x48xf32>
  %b = kiln.matmul %r, %w : (tensor<64x48xf32>, tensor<48x48xf32>) -> tensor<64x48xf32>
  %t = kiln.transpose %b {perm = array<i64: 1, 0>} : (tensor<64x48xf32>) -> tensor<48x64xf32>
  %u = kiln.add %t, %t : (tensor<48x64xf32>, tensor<48x64xf32>) -> tensor<48x64xf32>
  %c = kiln.matmul %u, %x : (tensor<48x64xf32>, tensor<64x48xf32>) -> tensor<48x48xf32>
  %e = kiln.exp %c : (tensor<48x48xf32>) -> tensor<48x48xf32>
  %y = kiln.matmul %e, %c : (tensor<48x48xf32>, tensor<48x48xf32>) -> tensor<48x48xf32>
  return %y : tensor<48x48xf32>
}
)mlir";
  kiln::codegen::EmittedProgram program = kiln::test::compileIr(ir, true);
  const rt::Program &p = program.program;
  std::vector<const rt::Step *> kernels = kernelSteps(p);
  ASSERT_EQ(kernels.size(), 4u); // softmax, roll, transpose + add, exp
  auto offsetsOf = [&](const rt::Step &s) {
    std::vector<int64_t> in, out;
    for (size_t a = 0; a < s.args.size(); ++a)
      (p.kernels[s.kernel].args[a].output ? out : in)
          .push_back(p.buffers[s.args[a]].offset);
    return std::make_pair(in, out);
  };
  auto [softmaxIn, softmaxOut] = offsetsOf(*kernels[0]);
  ASSERT_EQ(softmaxIn.size(), 1u);
  ASSERT_EQ(softmaxOut.size(), 1u);
  EXPECT_EQ(softmaxIn[0], softmaxOut[0]);
  auto [rollIn, rollOut] = offsetsOf(*kernels[1]);
  EXPECT_NE(rollIn.at(0), rollOut.at(0));
  EXPECT_GE(p.kernels[kernels[2]->kernel].tileDim, 0);
  auto [transposeIn, transposeOut] = offsetsOf(*kernels[2]);
  EXPECT_NE(transposeIn.at(0), transposeOut.at(0));
  auto [expIn, expOut] = offsetsOf(*kernels[3]);
  EXPECT_NE(expIn.at(0), expOut.at(0));

  // And the numbers are those of the unfused program, which writes nothing
  // in place.
  std::vector<float> x(64 * 48), w(48 * 48);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = float(i % 11) * 0.01f - 0.05f;
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = float(i % 13) * 0.02f - 0.1f;
  std::vector<std::vector<double>> fused =
      kiln::test::runForward(program, {x, w});
  std::vector<std::vector<double>> unfused =
      kiln::test::runForward(kiln::test::compileIr(ir, false), {x, w});
  ASSERT_EQ(fused.size(), 1u);
  ASSERT_EQ(unfused.size(), 1u);
  ASSERT_EQ(fused[0].size(), unfused[0].size());
  for (size_t i = 0; i < fused[0].size(); ++i)
    ASSERT_NEAR(fused[0][i], unfused[0][i], 1e-4 * std::abs(unfused[0][i]))
        << i;
}

/// An entry's outputs share the arena with the temporaries of the other
/// entries (the runtime reads them before the next run), but nothing that
/// a later step of their own entry reads or writes overlaps them.
TEST(PlanMemory, OutputsShareSpaceWithOtherEntries) {
  kiln::test::TrainingFixture f("gpt_block", "cross_entropy");
  ASSERT_TRUE(f.ok) << f.error;
  const rt::Program &p = f.program.program;
  EXPECT_GT(expectOutputsKept(p), 2);
  const rt::Entry *forward = nullptr, *train = nullptr;
  for (const rt::Entry &e : p.entries)
    (e.name == "forward" ? forward : train) = &e;
  ASSERT_TRUE(forward && train);
  bool shared = false;
  for (int32_t out : forward->outputs)
    for (const rt::Step &step : train->steps)
      for (int32_t b : rt::stepBuffers(step))
        shared |= p.buffers[b].kind == rt::BufferKind::Temp &&
                  overlap(p.buffers[b], p.buffers[out]);
  EXPECT_TRUE(shared) << "the forward's outputs have space of their own";
}

/// A kernel that copies a slice of a splat constant (a recurrent layer's
/// zero initial state, as PyTorch exports it) reads it as a value: folding
/// leaves the kernel an input with no buffer, which the emitter computes
/// instead of refusing ("reads a value the code generator has no buffer
/// for"), fused or not.
TEST(Emitter, ReadsASplatConstantAsItsValue) {
  const char *ir = R"mlir(
func.func @forward(%w: tensor<6x6xf32> {kiln.name = "w"}) -> (tensor<4x6xf32> {kiln.name = "y"}) {
  %z = kiln.constant dense<0.5> : tensor<1x4x6xf32>
  %s = kiln.slice %z {sizes = array<i64: 1, 4, 6>, starts = array<i64: 0, 0, 0>, strides = array<i64: 1, 1, 1>} : (tensor<1x4x6xf32>) -> tensor<1x4x6xf32>
  %r = kiln.reshape %s {shape = array<i64: 4, 6>} : (tensor<1x4x6xf32>) -> tensor<4x6xf32>
  %y = kiln.gemm %r, %w {trans_b = true} : (tensor<4x6xf32>, tensor<6x6xf32>) -> tensor<4x6xf32>
  return %y : tensor<4x6xf32>
}
)mlir";
  std::vector<float> w(36);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = float(i);
  for (bool fuse : {true, false}) {
    kiln::codegen::EmittedProgram program = kiln::test::compileIr(ir, fuse);
    auto out = kiln::test::runForward(program, {w});
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[0].size(), 24u);
    // Row j of the product: 0.5 times the sum of w's row j.
    for (size_t i = 0; i < 24; ++i) {
      size_t j = i % 6;
      float sum = 0;
      for (size_t k = 0; k < 6; ++k)
        sum += w[j * 6 + k];
      EXPECT_FLOAT_EQ(out[0][i], 0.5f * sum) << "fuse " << fuse << " at " << i;
    }
  }
}

} // namespace
