//===- KernelTest.cpp - the kernel description and the CPU interpreter ----===//
#include "runtime/src/cpu/interpreter.h"
#include "test/unit/RowReduction.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

namespace {

using namespace kiln::runtime;

/// Builds kernels instruction by instruction.
struct Builder {
  Kernel k;
  explicit Builder(std::vector<int64_t> domain, int32_t parallel) {
    k.name = "test";
    k.domain = std::move(domain);
    k.parallelDims = parallel;
  }
  int32_t arg(DType t, std::vector<int64_t> shape, bool output = false) {
    k.args.push_back({t, std::move(shape), output});
    return int32_t(k.args.size() - 1);
  }
  int32_t add(KInstr in) {
    k.body.push_back(std::move(in));
    return int32_t(k.body.size() - 1);
  }
  static KInstr make(KOp op, DType t) {
    KInstr in;
    in.op = op;
    in.type = t;
    return in;
  }
  int32_t load(int32_t a, std::vector<int64_t> map) {
    KInstr in = make(KOp::Load, k.args[a].dtype);
    in.arg = a;
    in.map = std::move(map);
    return add(in);
  }
  int32_t op(KOp op, DType t, int32_t a, int32_t b = -1, int32_t c = -1) {
    KInstr in = make(op, t);
    in.a = a;
    in.b = b;
    in.c = c;
    return add(in);
  }
  int32_t constant(DType t, double f, int64_t i = 0) {
    KInstr in = make(KOp::Const, t);
    in.fvalue = f;
    in.ivalue = i;
    return add(in);
  }
  int32_t index(int64_t dim) {
    KInstr in = make(KOp::Index, DType::I64);
    in.ivalue = dim;
    return add(in);
  }
  void output(int32_t a, int32_t value, Combine c = Combine::None) {
    k.outputs.push_back({a, value, c});
  }
  Status run(std::vector<void *> args) {
    if (Status s = k.verify(); !s.ok())
      return s;
    return cpu::runKernel(k, args);
  }
};

TEST(Kernel, BroadcastAdd) {
  Builder b({2, 3}, 2);
  int32_t x = b.arg(DType::F32, {2, 3}), y = b.arg(DType::F32, {3}),
          out = b.arg(DType::F32, {2, 3}, true);
  int32_t lx = b.load(x, {1, 0, 0, /**/ 0, 1, 0});
  int32_t ly = b.load(y, {0, 1, 0});
  b.output(out, b.op(KOp::Add, DType::F32, lx, ly));
  std::vector<float> xs = {1, 2, 3, 4, 5, 6}, ys = {10, 20, 30}, r(6);
  ASSERT_TRUE(b.run({xs.data(), ys.data(), r.data()}).ok());
  EXPECT_EQ(r, (std::vector<float>{11, 22, 33, 14, 25, 36}));
}

TEST(Kernel, MatMulAsAReduction) {
  const int64_t M = 3, N = 5, K = 300; // K spans more than one chunk of lanes.
  Builder b({M, N, K}, 2);
  int32_t a = b.arg(DType::F64, {M, K}), w = b.arg(DType::F64, {K, N}),
          out = b.arg(DType::F64, {M, N}, true);
  int32_t la = b.load(a, {1, 0, 0, 0, /**/ 0, 0, 1, 0});
  int32_t lw = b.load(w, {0, 0, 1, 0, /**/ 0, 1, 0, 0});
  b.output(out, b.op(KOp::Mul, DType::F64, la, lw), Combine::Sum);
  std::vector<double> as(M * K), ws(K * N), r(M * N);
  for (size_t i = 0; i < as.size(); ++i)
    as[i] = std::sin(double(i));
  for (size_t i = 0; i < ws.size(); ++i)
    ws[i] = std::cos(double(i));
  ASSERT_TRUE(b.run({as.data(), ws.data(), r.data()}).ok());
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double expected = 0;
      for (int64_t k = 0; k < K; ++k)
        expected += as[i * K + k] * ws[k * N + j];
      EXPECT_NEAR(r[i * N + j], expected, 1e-9);
    }
}

// Few parallel points over long reductions (a batch norm's statistics, a
// loss's mean) take the split-reduction schedule: several segments per
// point, combined in order, with the identity in lanes a segment leaves.
TEST(Kernel, SplitReductionsOverFewParallelPoints) {
  const int64_t C = 3, N = 5, HW = 7001; // 35005 points: 3 segments each.
  Builder b({C, N, HW}, 1);
  int32_t x = b.arg(DType::F32, {N, C, HW}), sum = b.arg(DType::F64, {C}, true),
          mx = b.arg(DType::F32, {C}, true), mn = b.arg(DType::I64, {C}, true);
  int32_t lx = b.load(x, {0, 1, 0, 0, /**/ 1, 0, 0, 0, /**/ 0, 0, 1, 0});
  b.output(sum, b.op(KOp::Cast, DType::F64, lx), Combine::Sum);
  b.output(mx, lx, Combine::Max);
  // The smallest of c - n - i is c - (N - 1) - (HW - 1), at the last point.
  b.output(mn,
           b.op(KOp::Sub, DType::I64,
                b.op(KOp::Sub, DType::I64, b.index(0), b.index(1)), b.index(2)),
           Combine::Min);
  std::vector<float> xs(N * C * HW);
  for (size_t i = 0; i < xs.size(); ++i)
    xs[i] = float(std::sin(double(i))) - 0.25f;
  xs[(3 * C + 2) * HW + 6999] = NAN;  // Channel 2's max is NaN.
  xs[(4 * C + 1) * HW + 7000] = 5.0f; // Channel 1's max is in the last lane.
  std::vector<double> sums(C);
  std::vector<float> maxes(C);
  std::vector<int64_t> mins(C, -1);
  ASSERT_TRUE(b.run({xs.data(), sums.data(), maxes.data(), mins.data()}).ok());
  for (int64_t c = 0; c < C; ++c) {
    double expected = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i)
        expected += xs[(n * C + c) * HW + i];
    if (c == 2) {
      EXPECT_TRUE(std::isnan(sums[c]));
      EXPECT_TRUE(std::isnan(maxes[c]));
    } else {
      EXPECT_NEAR(sums[c], expected, 1e-9) << "channel " << c;
    }
    EXPECT_EQ(mins[c], c - (N - 1) - (HW - 1)) << "channel " << c;
  }
  EXPECT_EQ(maxes[1], 5.0f);
  EXPECT_NEAR(maxes[0], 0.75f, 1e-4);
}

TEST(Kernel, SoftmaxInThreeKernels) {
  const int64_t R = 4, C = 7;
  std::vector<float> x(R * C), rowMax(R), rowSum(R), y(R * C);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = float(i % 5) - 2.5f + float(i) * 0.1f;
  // max over each row
  Builder m({R, C}, 1);
  int32_t mx = m.arg(DType::F32, {R, C}), mo = m.arg(DType::F32, {R}, true);
  m.output(mo, m.load(mx, {1, 0, 0, 0, 1, 0}), Combine::Max);
  ASSERT_TRUE(m.run({x.data(), rowMax.data()}).ok());
  // sum of exp(x - max)
  Builder s({R, C}, 1);
  int32_t sx = s.arg(DType::F32, {R, C}), sm = s.arg(DType::F32, {R}),
          so = s.arg(DType::F32, {R}, true);
  int32_t e = s.op(KOp::Exp, DType::F32,
                   s.op(KOp::Sub, DType::F32, s.load(sx, {1, 0, 0, 0, 1, 0}),
                        s.load(sm, {1, 0, 0})));
  s.output(so, e, Combine::Sum);
  ASSERT_TRUE(s.run({x.data(), rowMax.data(), rowSum.data()}).ok());
  // exp(x - max) / sum
  Builder d({R, C}, 2);
  int32_t dx = d.arg(DType::F32, {R, C}), dm = d.arg(DType::F32, {R}),
          ds = d.arg(DType::F32, {R}), dout = d.arg(DType::F32, {R, C}, true);
  int32_t num = d.op(KOp::Exp, DType::F32,
                     d.op(KOp::Sub, DType::F32, d.load(dx, {1, 0, 0, 0, 1, 0}),
                          d.load(dm, {1, 0, 0})));
  d.output(dout, d.op(KOp::Div, DType::F32, num, d.load(ds, {1, 0, 0})));
  ASSERT_TRUE(d.run({x.data(), rowMax.data(), rowSum.data(), y.data()}).ok());
  for (int64_t r = 0; r < R; ++r) {
    double mxv = -1e30, sum = 0;
    for (int64_t c = 0; c < C; ++c)
      mxv = std::max(mxv, double(x[r * C + c]));
    for (int64_t c = 0; c < C; ++c)
      sum += std::exp(double(x[r * C + c]) - mxv);
    for (int64_t c = 0; c < C; ++c)
      EXPECT_NEAR(y[r * C + c], std::exp(double(x[r * C + c]) - mxv) / sum,
                  1e-6);
  }
}

/// The softmax as one staged kernel gives the three kernels' results bit
/// for bit on the CPU (the same arithmetic in the same order), and writes
/// its local output (the sums).
TEST(Kernel, SoftmaxAsOneStagedKernel) {
  const int64_t R = 5, C = 300;
  std::vector<float> x(R * C), y(R * C, -1), sums(R, -1);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = float(std::sin(0.7 * double(i))) * 4.0f;
  Kernel k = kiln::test::stagedSoftmax(R, C);
  ASSERT_TRUE(k.verify().ok()) << k.verify().message();
  ASSERT_TRUE(cpu::runKernel(k, {x.data(), y.data(), sums.data()}).ok());
  for (int64_t r = 0; r < R; ++r) {
    float mx = -INFINITY;
    for (int64_t c = 0; c < C; ++c)
      mx = std::max(mx, x[r * C + c]);
    double sum = 0;
    for (int64_t c = 0; c < C; ++c)
      sum += std::exp(x[r * C + c] - mx);
    EXPECT_EQ(sums[r], float(sum)) << r;
    for (int64_t c = 0; c < C; ++c)
      EXPECT_EQ(y[r * C + c], std::exp(x[r * C + c] - mx) / float(sum)) << r;
  }
}

TEST(Kernel, AffineMapsTransposeAndStride) {
  // out[i, j] = in[j, 4 - 2 i]: a transpose of a reversed, strided slice.
  Builder b({3, 2}, 2);
  int32_t in = b.arg(DType::I32, {2, 5}), out = b.arg(DType::I32, {3, 2}, true);
  b.output(out, b.load(in, {0, 1, 0, /**/ -2, 0, 4}));
  std::vector<int32_t> xs = {0, 1, 2, 3, 4, 10, 11, 12, 13, 14}, r(6);
  ASSERT_TRUE(b.run({xs.data(), r.data()}).ok());
  EXPECT_EQ(r, (std::vector<int32_t>{4, 14, 2, 12, 0, 10}));
}

TEST(Kernel, GatherEmbedding) {
  // out[t, d] = table[ids[t], d]
  Builder b({3, 2}, 2);
  int32_t table = b.arg(DType::F32, {4, 2}), ids = b.arg(DType::I64, {3}),
          out = b.arg(DType::F32, {3, 2}, true);
  int32_t id = b.load(ids, {1, 0, 0});
  KInstr g = Builder::make(KOp::Gather, DType::F32);
  g.arg = table;
  g.indices = {id, b.index(1)};
  b.output(out, b.add(g));
  std::vector<float> t = {0, 1, 10, 11, 20, 21, 30, 31}, r(6);
  std::vector<int64_t> idv = {3, 0, 2};
  ASSERT_TRUE(b.run({t.data(), idv.data(), r.data()}).ok());
  EXPECT_EQ(r, (std::vector<float>{30, 31, 0, 1, 20, 21}));
  idv[1] = 4; // Out of the table.
  Status status = b.run({t.data(), idv.data(), r.data()});
  EXPECT_EQ(status.toString(),
            "INVALID_ARGUMENT: kernel 'test': index 4 is out of range [0, 4) "
            "for dimension 0 of argument 0");
}

TEST(Kernel, TriluFromCoordinates) {
  // out = (j - i >= 1) ? x : 0
  Builder b({3, 3}, 2);
  int32_t x = b.arg(DType::F32, {3, 3}), out = b.arg(DType::F32, {3, 3}, true);
  int32_t diff = b.op(KOp::Sub, DType::I64, b.index(1), b.index(0));
  int32_t keep = b.op(KOp::Ge, DType::Bool, diff, b.constant(DType::I64, 0, 1));
  b.output(out, b.op(KOp::Select, DType::F32, keep,
                     b.load(x, {1, 0, 0, 0, 1, 0}), b.constant(DType::F32, 0)));
  std::vector<float> xs = {1, 2, 3, 4, 5, 6, 7, 8, 9}, r(9);
  ASSERT_TRUE(b.run({xs.data(), r.data()}).ok());
  EXPECT_EQ(r, (std::vector<float>{0, 2, 3, 0, 0, 6, 0, 0, 0}));
}

TEST(Kernel, CastsAndSixteenBitFloats) {
  Builder b({4}, 1);
  int32_t x = b.arg(DType::F32, {4}), h = b.arg(DType::F16, {4}),
          i = b.arg(DType::I32, {4}, true), hb = b.arg(DType::BF16, {4}, true),
          hf = b.arg(DType::F32, {4}, true);
  int32_t lx = b.load(x, {1, 0});
  b.output(i, b.op(KOp::Cast, DType::I32, lx));
  b.output(hb, b.op(KOp::Cast, DType::BF16, lx));
  b.output(hf, b.op(KOp::Cast, DType::F32, b.load(h, {1, 0})));
  std::vector<float> xs = {-2.7f, 3.9f, 1.0f, 1e10f};
  std::vector<uint16_t> hs = {0x3C00, 0xC000, 0x3555,
                              0x7C00}; // 1, -2, ~1/3, inf
  std::vector<int32_t> is(4);
  std::vector<uint16_t> bs(4);
  std::vector<float> fs(4);
  ASSERT_TRUE(
      b.run({xs.data(), hs.data(), is.data(), bs.data(), fs.data()}).ok());
  EXPECT_EQ(is[0], -2);
  EXPECT_EQ(is[1], 3);
  EXPECT_EQ(is[3], int32_t(int64_t(1e10))); // Wraps, as a narrowing cast.
  EXPECT_EQ(bs[2], 0x3F80);                 // bf16 1.0
  EXPECT_EQ(fs[0], 1.0f);
  EXPECT_EQ(fs[1], -2.0f);
  EXPECT_NEAR(fs[2], 1.0 / 3, 1e-3);
  EXPECT_TRUE(std::isinf(fs[3]));
}

TEST(Kernel, MaxReductionPropagatesNaN) {
  Builder b({2, 3}, 1);
  int32_t x = b.arg(DType::F32, {2, 3}), out = b.arg(DType::F32, {2}, true);
  b.output(out, b.load(x, {1, 0, 0, 0, 1, 0}), Combine::Max);
  std::vector<float> xs = {1, 5, 2, 1, NAN, 9}, r(2);
  ASSERT_TRUE(b.run({xs.data(), r.data()}).ok());
  EXPECT_EQ(r[0], 5);
  EXPECT_TRUE(std::isnan(r[1]));
}

TEST(Kernel, IntegerArithmeticWrapsAndNeverTraps) {
  Builder b({3}, 1);
  int32_t x = b.arg(DType::I64, {3}), y = b.arg(DType::I64, {3}),
          q = b.arg(DType::I64, {3}, true);
  b.output(q, b.op(KOp::Div, DType::I64, b.load(x, {1, 0}), b.load(y, {1, 0})));
  std::vector<int64_t> xs = {7, INT64_MIN, 5}, ys = {-2, -1, 0}, r(3);
  ASSERT_TRUE(b.run({xs.data(), ys.data(), r.data()}).ok());
  EXPECT_EQ(r, (std::vector<int64_t>{-3, INT64_MIN, 0}));
}

TEST(KernelVerify, ReportsMalformedKernels) {
  {
    Builder b({2}, 1);
    int32_t x = b.arg(DType::F32, {2}), out = b.arg(DType::F32, {2}, true);
    b.output(out, b.op(KOp::Add, DType::F32, 0, 1)); // Uses itself and later.
    (void)x;
    EXPECT_EQ(b.k.verify().toString(),
              "INTERNAL: kernel 'test': instruction 0 (add) uses operand 0, "
              "which is not an earlier instruction");
  }
  {
    Builder b({3}, 1);
    int32_t x = b.arg(DType::F32, {2}), out = b.arg(DType::F32, {3}, true);
    b.output(out, b.load(x, {1, 0}));
    EXPECT_EQ(b.k.verify().toString(),
              "INTERNAL: kernel 'test': instruction 0 (load) reads argument 0 "
              "dimension 0 at 0..2, outside its size 2");
  }
  {
    Builder b({2, 3}, 1);
    int32_t x = b.arg(DType::F32, {2, 3}), out = b.arg(DType::F32, {2}, true);
    b.output(out, b.load(x, {1, 0, 0, 0, 1, 0}));
    EXPECT_EQ(
        b.k.verify().toString(),
        "INTERNAL: kernel 'test': output 0 needs a combine: the kernel has "
        "reduction dimensions");
  }
  {
    Builder b({2}, 1);
    int32_t x = b.arg(DType::F32, {2}), out = b.arg(DType::F32, {3}, true);
    b.output(out, b.load(x, {1, 0}));
    EXPECT_EQ(b.k.verify().toString(),
              "INTERNAL: kernel 'test': output 0's argument is not shaped like "
              "the parallel domain");
  }
  {
    Builder b({2}, 1);
    int32_t x = b.arg(DType::F32, {2}), out = b.arg(DType::F32, {2}, true);
    int32_t l = b.load(x, {1, 0});
    b.output(out, b.op(KOp::Add, DType::F32, l, b.constant(DType::F64, 1)));
    EXPECT_EQ(b.k.verify().toString(),
              "INTERNAL: kernel 'test': instruction 2 (add) has operands of "
              "another type than its result");
  }
  // Staged kernels.
  {
    Kernel k = kiln::test::stagedSoftmax(2, 3);
    k.stages[0].body.push_back(k.stages[1].body[1]); // Reads local 0 itself.
    EXPECT_EQ(k.verify().toString(),
              "INTERNAL: kernel 'staged_softmax': stage 0 instruction 1 "
              "(local) reads local 0 (no stage computes one before it)");
  }
  {
    Kernel k = kiln::test::stagedSoftmax(2, 3);
    k.body[4].ivalue = 2;
    EXPECT_EQ(k.verify().toString(),
              "INTERNAL: kernel 'staged_softmax': instruction 4 (local) reads "
              "local 2 (2 are computed before it)");
  }
  {
    Kernel k = kiln::test::stagedSoftmax(2, 3);
    k.reduce = Kernel::Reduce::Thread;
    EXPECT_EQ(k.verify().toString(),
              "INTERNAL: kernel 'staged_softmax': a staged kernel runs a "
              "block or a warp per row (reduce = block or warp)");
  }
  {
    Kernel k = kiln::test::stagedSoftmax(2, 3);
    k.args[2].shape = {2, 3};
    EXPECT_EQ(k.verify().toString(),
              "INTERNAL: kernel 'staged_softmax': output 1's argument is not "
              "shaped like the rows");
  }
  {
    Kernel k = kiln::test::stagedSoftmax(2, 3);
    k.stages[1].values[0].combine = Combine::None;
    EXPECT_EQ(k.verify().toString(),
              "INTERNAL: kernel 'staged_softmax': stage 1 reduces a value "
              "without a combine");
  }
  {
    Kernel k = kiln::test::stagedSoftmax(2, 3);
    k.rowDims = 2;
    EXPECT_EQ(k.verify().toString(),
              "INTERNAL: kernel 'staged_softmax': a staged kernel's rows (2 "
              "dimensions) come before its parallel ones and leave "
              "dimensions to reduce");
  }
}

} // namespace

#include "runtime/src/cpu/threads.h"

#include <atomic>

namespace {

TEST(Threads, ParallelForCallsEveryIndexOnce) {
  std::vector<std::atomic<int>> hits(1000);
  kiln::runtime::cpu::parallelFor(1000, [&](int64_t i) {
    hits[i]++;
    // A nested call runs serially on the calling thread.
    kiln::runtime::cpu::parallelFor(3, [&](int64_t) {});
  });
  for (auto &h : hits)
    EXPECT_EQ(h.load(), 1);
}

TEST(Kernel, LargeKernelsGiveTheSameResultOnAllThreads) {
  // Big enough to be split across threads; checked against a serial loop.
  const int64_t R = 300, C = 700;
  Builder b({R, C}, 1);
  int32_t x = b.arg(DType::F32, {R, C}), out = b.arg(DType::F32, {R}, true);
  b.output(out, b.op(KOp::Exp, DType::F32, b.load(x, {1, 0, 0, 0, 1, 0})),
           Combine::Sum);
  std::vector<float> xs(R * C), r(R);
  for (size_t i = 0; i < xs.size(); ++i)
    xs[i] = float(std::sin(double(i)) * 0.01);
  ASSERT_TRUE(b.run({xs.data(), r.data()}).ok());
  for (int64_t i = 0; i < R; ++i) {
    double sum = 0; // Float sums accumulate in double, then round once.
    for (int64_t j = 0; j < C; ++j)
      sum += std::exp(xs[i * C + j]);
    EXPECT_EQ(r[i], float(sum)) << i; // Same order of additions: exact.
  }
}

} // namespace
