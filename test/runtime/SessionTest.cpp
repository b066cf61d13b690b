//===- SessionTest.cpp - programs, artifacts and sessions end to end ------===//
//
// A small MLP written by hand as a program (two GEMMs with bias, a ReLU
// kernel between them), stored in an artifact, loaded and run, and checked
// against the same computation in double.
//
//===----------------------------------------------------------------------===//
#include "runtime/src/session.h"
#include "test/unit/RowReduction.h"
#include "runtime/src/safetensors.h"

#include "TestMlp.h"
#include "kiln/runtime.hpp"
#include "runtime/src/artifact.h"
#include "runtime/src/cpu/gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>

namespace {

using namespace kiln::runtime;
using namespace kiln::runtime::testing_mlp;

std::string writeArtifact(const Mlp &m, const std::string &name) {
  ArtifactWriter writer;
  std::string json = programToJson(m.program);
  EXPECT_TRUE(writer.addSection("program", {json.begin(), json.end()}).ok());
  EXPECT_TRUE(writer.addSection("init", m.init).ok());
  std::string path = testing::TempDir() + "/" + name;
  EXPECT_TRUE(writer.write(path).ok());
  return path;
}

TEST(Session, RunsAHandWrittenMlpFromAnArtifact) {
  Mlp m = makeMlp();
  std::string path = writeArtifact(m, "mlp.kiln");
  std::unique_ptr<Session> session;
  Status status = Session::open(path, session);
  ASSERT_TRUE(status.ok()) << status.toString();
  std::vector<float> x = input();
  std::vector<HostTensor> outputs;
  status = session->run(
      "forward", {{"x", DType::F32, {B, I}, x.data(), x.size() * 4}}, outputs);
  ASSERT_TRUE(status.ok()) << status.toString();
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].name, "y");
  EXPECT_EQ(outputs[0].shape, (std::vector<int64_t>{B, O}));
  const float *y = static_cast<const float *>(outputs[0].data);
  std::vector<double> expected = reference(m, x);
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_NEAR(y[i], expected[i], 1e-5 * (1 + std::abs(expected[i]))) << i;
  std::remove(path.c_str());
}

TEST(SessionHandle, RunsAnArtifactThroughTheCApi) {
  Mlp m = makeMlp();
  std::string path = writeArtifact(m, "handle.kiln");
  std::vector<float> x = input();
  SafeTensorsWriter in;
  ASSERT_TRUE(in.add("x", DType::F32, {B, I}, x.data(), x.size() * 4).ok());
  std::string inputs = ::testing::TempDir() + "/handle-in.safetensors";
  std::string outputs = ::testing::TempDir() + "/handle-out.safetensors";
  ASSERT_TRUE(in.write(inputs).ok());
  SessionHandle session;
  ASSERT_TRUE(SessionHandle::open(path, session).ok());
  Status status = session.runFiles("forward", inputs, outputs);
  ASSERT_TRUE(status.ok()) << status.toString();
  SafeTensors out;
  ASSERT_TRUE(SafeTensors::read(outputs, out).ok());
  const float *y = reinterpret_cast<const float *>(out.find("y")->data);
  std::vector<double> expected = reference(m, x);
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_NEAR(y[i], expected[i], 1e-5 * (1 + std::abs(expected[i])));
  for (const std::string &p : {path, inputs, outputs})
    std::remove(p.c_str());
}

TEST(Session, RefusesInputsThatDoNotFit) {
  Mlp m = makeMlp();
  std::unique_ptr<Session> session;
  ASSERT_TRUE(Session::create(m.program, m.init, session).ok());
  std::vector<float> x = input();
  std::vector<HostTensor> out;
  auto run = [&](std::vector<HostTensor> in) {
    return session->run("forward", in, out).toString();
  };
  EXPECT_EQ(run({}), "INVALID_ARGUMENT: input 'x' is missing (F32 [4, 8])");
  EXPECT_EQ(
      run({{"x", DType::F32, {3, 8}, x.data(), 96}}),
      "INVALID_ARGUMENT: input 'x' has shape [3, 8]; the model expects [4, 8]");
  EXPECT_EQ(run({{"x", DType::F64, {4, 8}, x.data(), 256}}),
            "INVALID_ARGUMENT: input 'x' has dtype F64; the model expects F32");
  EXPECT_EQ(run({{"x", DType::F32, {4, 8}, x.data(), 128},
                 {"z", DType::F32, {1}, x.data(), 4}}),
            "INVALID_ARGUMENT: 'z' is not an input of the model (inputs: 'x')");
  EXPECT_EQ(session->run("train_step", {}, out).toString(),
            "NOT_FOUND: the program has no entry 'train_step'");
}

TEST(Session, RefusesBrokenArtifacts) {
  Mlp m = makeMlp();
  std::unique_ptr<Session> session;
  // A program whose JSON says something impossible.
  Program bad = m.program;
  bad.buffers[0].offset = bad.arenaBytes; // Outside the arena.
  ArtifactWriter writer;
  std::string json = programToJson(bad);
  ASSERT_TRUE(writer.addSection("program", {json.begin(), json.end()}).ok());
  ASSERT_TRUE(writer.addSection("init", m.init).ok());
  std::string path = testing::TempDir() + "/bad.kiln";
  ASSERT_TRUE(writer.write(path).ok());
  EXPECT_EQ(Session::open(path, session).toString(),
            "DATA_LOSS: " + path +
                ": program: buffer 0 ('fc1.weight') lies outside the arena");
  // An artifact without a program.
  ArtifactWriter empty;
  ASSERT_TRUE(empty.write(path).ok());
  EXPECT_EQ(
      Session::open(path, session).toString(),
      "DATA_LOSS: " + path +
          " has no 'program' section; it was not written by kiln compile");
  std::remove(path.c_str());
}

TEST(Program, JsonRoundTrips) {
  Mlp m = makeMlp();
  std::string json = programToJson(m.program);
  Program back;
  Status status = programFromJson(json, "m.kiln", back);
  ASSERT_TRUE(status.ok()) << status.toString();
  EXPECT_EQ(programToJson(back), json);
  EXPECT_EQ(back.kernels[0].body[2].op, KOp::Max);
  EXPECT_TRUE(back.entries[0].steps[0].gemm.transB);
}

TEST(Program, StagedKernelsRoundTrip) {
  Mlp m = makeMlp();
  m.program.kernels.push_back(kiln::test::stagedSoftmax(4, 9));
  std::string json = programToJson(m.program);
  Program back;
  Status status = programFromJson(json, "m.kiln", back);
  ASSERT_TRUE(status.ok()) << status.toString();
  EXPECT_EQ(programToJson(back), json);
  const Kernel &k = back.kernels.back();
  ASSERT_EQ(k.stages.size(), 2u);
  EXPECT_EQ(k.rowDims, 1);
  EXPECT_EQ(k.stages[1].values[0].combine, Combine::Sum);
  EXPECT_EQ(k.body[4].op, KOp::Local);
  EXPECT_EQ(k.body[4].ivalue, 1);
  EXPECT_TRUE(k.outputs[1].local);
  EXPECT_TRUE(k.verify().ok()) << k.verify().message();
}

TEST(Program, NonFiniteConstantsRoundTrip) {
  // Max pooling's padding reads -inf; JSON has no infinities, so the format
  // writes them as strings.
  Mlp m = makeMlp();
  KInstr c;
  c.op = KOp::Const;
  c.type = DType::F32;
  for (double v : {-INFINITY, INFINITY}) {
    c.fvalue = v;
    m.program.kernels[0].body.push_back(c);
  }
  c.fvalue = NAN;
  m.program.kernels[0].body.push_back(c);
  std::string json = programToJson(m.program);
  EXPECT_NE(json.find("\"f\":\"-inf\""), std::string::npos);
  Program back;
  Status status = programFromJson(json, "m.kiln", back);
  ASSERT_TRUE(status.ok()) << status.toString();
  const std::vector<KInstr> &body = back.kernels[0].body;
  EXPECT_EQ(body[body.size() - 3].fvalue, -INFINITY);
  EXPECT_EQ(body[body.size() - 2].fvalue, INFINITY);
  EXPECT_TRUE(std::isnan(body.back().fvalue));
}

TEST(Program, MalformedJsonIsDataLoss) {
  Program p;
  EXPECT_EQ(programFromJson("{", "m.kiln", p).code(), KILN_STATUS_DATA_LOSS);
  EXPECT_EQ(
      programFromJson("{\"arena_bytes\":0}", "m.kiln", p).toString(),
      "DATA_LOSS: m.kiln: malformed program: the program has no 'init_bytes'");
  EXPECT_EQ(
      programFromJson(
          R"({"arena_bytes":0,"init_bytes":0,"buffers":[{"name":"x","kind":"weird","dtype":"F32","shape":[1],"offset":0}],"kernels":[],"entries":[]})",
          "m.kiln", p)
          .toString(),
      "DATA_LOSS: m.kiln: malformed program: buffer 0 has unknown kind "
      "'weird'");
}

TEST(Gemm, TransposesBatchesAndBias) {
  // out[b] = 2 * A[b]^T * B + 1 * c (c a row), for two batches.
  Program p;
  int64_t at = 0;
  auto buf = [&](std::vector<int64_t> shape, DType t) {
    Buffer b{"", BufferKind::Temp, t, std::move(shape), at};
    at += b.bytes();
    p.buffers.push_back(b);
    return int32_t(p.buffers.size() - 1);
  };
  const int64_t M = 3, N = 2, K = 4;
  int32_t a = buf({2, K, M}, DType::F64), b = buf({K, N}, DType::F64),
          c = buf({N}, DType::F64), out = buf({2, M, N}, DType::F64);
  p.arenaBytes = at;
  GemmCall g{a, b, c, out, true, false, M, N, K, 2, K * M, 0, M * N, 2.0, 1.0};
  Entry e;
  e.name = "e";
  e.steps = {Step::call(g)};
  p.entries = {e};
  ASSERT_TRUE(p.verify().ok()) << p.verify().toString();
  std::vector<uint8_t> arena(at);
  double *A = reinterpret_cast<double *>(arena.data() + p.buffers[a].offset);
  double *Bm = reinterpret_cast<double *>(arena.data() + p.buffers[b].offset);
  double *C = reinterpret_cast<double *>(arena.data() + p.buffers[c].offset);
  double *O = reinterpret_cast<double *>(arena.data() + p.buffers[out].offset);
  for (int i = 0; i < 2 * K * M; ++i)
    A[i] = i * 0.5 - 3;
  for (int i = 0; i < K * N; ++i)
    Bm[i] = 1.0 / (i + 1);
  C[0] = 10;
  C[1] = -10;
  cpu::gemm(p, g, arena.data());
  for (int bi = 0; bi < 2; ++bi)
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        double sum = 0;
        for (int k = 0; k < K; ++k)
          sum += A[bi * K * M + k * M + i] * Bm[k * N + j];
        EXPECT_NEAR(O[bi * M * N + i * N + j], 2 * sum + C[j], 1e-12);
      }
}

// A GEMM that also sums one operand over K (a bias gradient beside a weight
// gradient, GemmCall::SumOf A or B): stored [k, x] (A transposed, B as it
// is) or [x, k]; the plan round-trips through JSON, and the verifier
// refuses a sum with alpha other than 1 or of the wrong length.
TEST(Gemm, SumsAnOperandOverK) {
  Program p;
  int64_t at = 0;
  auto buf = [&](std::vector<int64_t> shape) {
    return addBuffer(p, "", BufferKind::Temp, std::move(shape), at,
                     DType::F64);
  };
  const int64_t M = 3, N = 2, K = 4;
  int32_t a = buf({K, M}), b = buf({K, N}), bt = buf({N, K}),
          out = buf({M, N}), sumA = buf({M}), sumB = buf({N}),
          sumBt = buf({N});
  p.arenaBytes = at;
  GemmCall ofA{a, b, -1, out, true, false, M, N, K};
  ofA.beta = 0, ofA.sumOf = GemmCall::SumOf::A, ofA.biasGrad = sumA;
  GemmCall ofB = ofA;
  ofB.sumOf = GemmCall::SumOf::B, ofB.biasGrad = sumB;
  GemmCall ofBt = ofB;
  ofBt.b = bt, ofBt.transB = true, ofBt.biasGrad = sumBt;
  Entry e;
  e.name = "e";
  e.steps = {Step::call(ofA), Step::call(ofB), Step::call(ofBt)};
  p.entries = {e};
  ASSERT_TRUE(p.verify().ok()) << p.verify().toString();
  std::string json = programToJson(p);
  EXPECT_NE(json.find("\"bias_grad_of\":\"a\""), std::string::npos) << json;
  Program back;
  ASSERT_TRUE(programFromJson(json, "m.kiln", back).ok());
  EXPECT_EQ(programToJson(back), json);
  EXPECT_EQ(back.entries[0].steps[1].gemm.sumOf, GemmCall::SumOf::B);

  std::vector<uint8_t> arena(size_t(at), 0);
  auto at64 = [&](int32_t id) {
    return reinterpret_cast<double *>(arena.data() + p.buffers[id].offset);
  };
  for (int i = 0; i < K * M; ++i)
    at64(a)[i] = i * 0.5 - 3;
  for (int i = 0; i < K * N; ++i) {
    at64(b)[i] = 1.0 / (i + 1);
    at64(bt)[(i % N) * K + i / N] = at64(b)[i]; // B^T, stored [N, K].
  }
  for (const Step &s : e.steps)
    cpu::gemm(p, s.gemm, arena.data());
  for (int i = 0; i < M; ++i) {
    double sum = 0;
    for (int k = 0; k < K; ++k)
      sum += at64(a)[k * M + i];
    EXPECT_DOUBLE_EQ(at64(sumA)[i], sum) << i;
  }
  for (int j = 0; j < N; ++j) {
    double sum = 0;
    for (int k = 0; k < K; ++k)
      sum += at64(b)[k * N + j];
    EXPECT_DOUBLE_EQ(at64(sumB)[j], sum) << j;
    EXPECT_DOUBLE_EQ(at64(sumBt)[j], sum) << j;
  }

  p.entries[0].steps[0].gemm.alpha = 2;
  EXPECT_EQ(p.verify().toString(),
            "INTERNAL: program: entry 'e' step 0: GEMM's sum of A needs a "
            "bias gradient of 3 elements of its dtype, one batch, alpha 1 "
            "and no other epilogue");
  p.entries[0].steps[0].gemm.alpha = 1;
  p.entries[0].steps[1].gemm.biasGrad = sumA;
  EXPECT_EQ(p.verify().toString(),
            "INTERNAL: program: entry 'e' step 1: GEMM's sum of B needs a "
            "bias gradient of 2 elements of its dtype, one batch, alpha 1 "
            "and no other epilogue");
}

// An embedding gradient step: each id's row of updates added into its row
// (a negative id counts from the end, one out of range adds nothing); the
// step round-trips through JSON; the verifier refuses workspace of the
// wrong type.
TEST(EmbeddingGrad, AddsRowsInOrderAndRoundTrips) {
  Program p;
  int64_t at = 0;
  auto buf = [&](DType t, std::vector<int64_t> shape) {
    return addBuffer(p, "", BufferKind::Temp, std::move(shape), at, t);
  };
  const int64_t n = 5, rows = 3, width = 2;
  EmbeddingGradCall c{buf(DType::I64, {n}),         buf(DType::F32, {n, width}),
                      buf(DType::F32, {rows, width}), buf(DType::I32, {n}),
                      buf(DType::I32, {rows}),        n,
                      width,                          rows};
  p.arenaBytes = at;
  Entry e;
  e.name = "e";
  e.steps = {Step::embeddingGrad(c)};
  p.entries = {e};
  ASSERT_TRUE(p.verify().ok()) << p.verify().toString();
  std::string json = programToJson(p);
  Program back;
  ASSERT_TRUE(programFromJson(json, "m.kiln", back).ok());
  EXPECT_EQ(programToJson(back), json);
  EXPECT_EQ(back.entries[0].steps[0].kind, Step::Kind::EmbeddingGrad);

  std::vector<uint8_t> arena(size_t(at), 0xff); // out starts as garbage.
  int64_t ids[n] = {2, -1, 0, 3, 2};
  float updates[n * width] = {1, 2, 10, 20, 100, 200, 1000, 2000, 4, 8};
  std::memcpy(arena.data() + p.buffers[c.ids].offset, ids, sizeof ids);
  std::memcpy(arena.data() + p.buffers[c.updates].offset, updates,
              sizeof updates);
  cpu::embeddingGrad(p, c, arena.data());
  const float *out =
      reinterpret_cast<const float *>(arena.data() + p.buffers[c.out].offset);
  const float expected[rows * width] = {100, 200, 0, 0, 1 + 10 + 4,
                                        2 + 20 + 8};
  for (int i = 0; i < rows * width; ++i)
    EXPECT_EQ(out[i], expected[i]) << i;

  p.buffers[c.head].dtype = DType::I64;
  EXPECT_NE(p.verify().toString().find(
                "embedding gradient's buffers do not match its sizes"),
            std::string::npos)
      << p.verify().toString();
}

// Large images go through im2col a few at a time (one block of patches of
// at most ~32 MiB): here 576 patch rows of 128 x 131 outputs make ~38 MB
// an image, so each of the three images is a block of its own. Checked against
// a direct convolution with stride, padding, dilation and two groups.
TEST(Convolution, BlocksOfImagesGroupsPaddingAndDilation) {
  Program p;
  int64_t at = 0;
  auto buf = [&](std::vector<int64_t> shape) {
    Buffer b{"", BufferKind::Temp, DType::F32, std::move(shape), at};
    at += b.bytes();
    p.buffers.push_back(b);
    return int32_t(p.buffers.size() - 1);
  };
  ConvCall c{};
  c.n = 3, c.c = 128, c.h = 130, c.w = 129, c.m = 4, c.kh = 3, c.kw = 3;
  c.group = 2, c.strideH = 1, c.strideW = 1, c.dilationH = 2, c.dilationW = 1;
  c.padTop = 1, c.padLeft = 2;
  // Padding of 1 at the bottom and 2 at the right, as ONNX's pads would give.
  c.oh = (c.h + 2 - (c.dilationH * (c.kh - 1) + 1)) / c.strideH + 1;
  c.ow = (c.w + 4 - (c.dilationW * (c.kw - 1) + 1)) / c.strideW + 1;
  c.input = buf({c.n, c.c, c.h, c.w});
  c.weight = buf({c.m, c.c / c.group, c.kh, c.kw});
  c.bias = buf({c.m});
  c.out = buf({c.n, c.m, c.oh, c.ow});
  std::vector<uint8_t> arena(at);
  auto data = [&](int32_t id) {
    return reinterpret_cast<float *>(arena.data() + p.buffers[id].offset);
  };
  float *x = data(c.input), *w = data(c.weight), *bias = data(c.bias);
  for (int64_t i = 0; i < c.n * c.c * c.h * c.w; ++i)
    x[i] = float(std::sin(double(i) * 0.37));
  for (int64_t i = 0; i < c.m * c.c / c.group * c.kh * c.kw; ++i)
    w[i] = float(std::cos(double(i) * 0.11)) * 0.1f;
  for (int64_t m = 0; m < c.m; ++m)
    bias[m] = float(m) - 1.5f;
  cpu::convolution(p, c, arena.data());
  const float *out = data(c.out);
  int64_t cg = c.c / c.group, mg = c.m / c.group, bad = 0;
  for (int64_t n = 0; n < c.n; ++n)
    for (int64_t m = 0; m < c.m; ++m)
      for (int64_t oy = 0; oy < c.oh; oy += 7)
        for (int64_t ox = 0; ox < c.ow; ox += 5) {
          double sum = bias[m];
          int64_t g = m / mg;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t ky = 0; ky < c.kh; ++ky)
              for (int64_t kx = 0; kx < c.kw; ++kx) {
                int64_t iy = oy * c.strideH - c.padTop + ky * c.dilationH;
                int64_t ix = ox * c.strideW - c.padLeft + kx * c.dilationW;
                if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w)
                  continue;
                sum +=
                    double(x[((n * c.c + g * cg + ci) * c.h + iy) * c.w + ix]) *
                    w[((m * cg + ci) * c.kh + ky) * c.kw + kx];
              }
          float got = out[((n * c.m + m) * c.oh + oy) * c.ow + ox];
          bad += std::abs(got - sum) > 1e-4 * (1 + std::abs(sum));
        }
  EXPECT_EQ(bad, 0);
}

} // namespace
