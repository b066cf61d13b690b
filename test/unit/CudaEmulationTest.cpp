//===- CudaEmulationTest.cpp - printed CUDA kernels run on the CPU --------===//
//
// No GPU is needed to check what the CUDA printer writes: the module is
// compiled by the host C++ compiler (with CUDA's builtins emulated: one
// thread walks every point) and run in place of the interpreter. For every
// training fixture, one training step through the printed kernels must give
// the interpreter's loss, gradients and updated parameters.
//
//===----------------------------------------------------------------------===//
#include "codegen/cuda/CudaKernel.h"
#include "compiler/Compile.h"
#include "compiler/Registration.h"
#include "runtime/src/cpu/interpreter.h"
#include "runtime/src/io.h"
#include "runtime/src/safetensors.h"
#include "runtime/src/training.h"
#include "test/unit/HostModule.h"
#include "test/unit/CompileIr.h"
#include "test/unit/RowReduction.h"
#include "test/unit/TrainingFixture.h"

#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <functional>

#include <cmath>
#include <cstdlib>
#include <dlfcn.h>
#include <filesystem>
#include <fstream>

namespace {

namespace rt = kiln::runtime;
using kiln::test::LaunchFn;

struct Model {
  std::string name, loss = "cross_entropy";
  double gradClip = 0; ///< With clipping: its norm is a segmented reduction.
  /// Blocks of the runtime's sizes, warps of 32, the GPU's tiles (slower).
  bool gpuGeometry = false;
  std::string label() const {
    return name + (gradClip > 0 ? "_clipped" : "") +
           (gpuGeometry ? "_gpu_geometry" : "");
  }
};

void PrintTo(const Model &m, std::ostream *os) { *os << m.label(); }

/// A load of F32 argument `arg` at the index map `map`.
rt::KInstr f32Load(int32_t arg, std::vector<int64_t> map) {
  rt::KInstr in{rt::KOp::Load, rt::DType::F32};
  in.arg = arg;
  in.map = std::move(map);
  return in;
}

class CudaEmulation : public testing::TestWithParam<Model> {};

/// The printed module, compiled by the host compiler in a directory named
/// after `name` (and the geometry) and loaded.
LaunchFn buildHostModule(const std::vector<rt::Kernel> &kernels,
                         const std::string &name, std::string &error,
                         bool gpuGeometry = false) {
  std::string dir = testing::TempDir() + "/kiln-cuda-" + name +
                    (gpuGeometry ? "-gpu-geometry" : "");
  std::filesystem::create_directories(dir);
  void *handle =
      kiln::test::buildHostModule(kernels, dir, error, "", gpuGeometry);
  return handle ? reinterpret_cast<LaunchFn>(dlsym(handle, "kiln_host_launch"))
                : nullptr;
}

TEST_P(CudaEmulation, TrainingStepMatchesTheInterpreter) {
  const Model &m = GetParam();
  kiln::test::TrainingFixture fixture(m.name, m.loss, m.gradClip);
  ASSERT_TRUE(fixture.ok) << fixture.error;
  const kiln::codegen::EmittedProgram *program = &fixture.program;
  const std::vector<rt::HostTensor> &inputs = fixture.inputs;

  std::string error;
  LaunchFn launch = buildHostModule(program->program.kernels, m.label(),
                                    error, m.gpuGeometry);
  ASSERT_TRUE(launch) << error;

  // The same program twice: interpreted, and through the printed kernels.
  std::vector<std::vector<uint8_t>> results[2];
  std::vector<std::string> names;
  for (int emulated = 0; emulated < 2; ++emulated) {
    std::unique_ptr<rt::Session> session;
    ASSERT_TRUE(
        rt::Session::create(program->program, program->init, session).ok());
    if (emulated)
      session->setKernelHook(
          [&](int32_t kernel, const std::vector<void *> &args, int64_t points) {
            launch(kernel, const_cast<void **>(args.data()), points);
            return rt::Status();
          });
    std::unique_ptr<rt::Trainer> trainer;
    ASSERT_TRUE(
        rt::Trainer::create(*session, rt::LearningRate(), trainer).ok());
    std::vector<rt::HostTensor> outputs;
    double loss;
    rt::Status s = trainer->step(inputs, outputs, loss);
    ASSERT_TRUE(s.ok()) << s.message();
    names.clear();
    for (const rt::HostTensor &t : outputs) {
      names.push_back(t.name);
      auto *p = static_cast<const uint8_t *>(t.data);
      results[emulated].emplace_back(p, p + t.bytes);
    }
    for (const std::string &name : trainer->checkpointNames()) {
      const rt::Buffer *b = session->persistent(name);
      names.push_back(name);
      results[emulated].emplace_back(size_t(b->bytes()));
      ASSERT_TRUE(session->read(*b, results[emulated].back().data()).ok());
    }
  }
  ASSERT_EQ(results[0].size(), results[1].size());
  for (size_t i = 0; i < results[0].size(); ++i) {
    const auto *a = reinterpret_cast<const float *>(results[0][i].data());
    const auto *b = reinterpret_cast<const float *>(results[1][i].data());
    size_t n = results[0][i].size() / 4;
    double worst = 0;
    for (size_t j = 0; j < n; ++j) {
      if (std::isnan(a[j]) && std::isnan(b[j]))
        continue;
      double d =
          std::fabs(double(a[j]) - b[j]) / (1e-6 + std::fabs(double(a[j])));
      if (!(d <= worst)) // A NaN on one side only counts as the worst.
        worst = d;
    }
    EXPECT_LE(worst, 1e-5) << m.name << ": " << names[i];
  }
}

INSTANTIATE_TEST_SUITE_P(
    TrainingFixtures, CudaEmulation,
    testing::Values(Model{"mlp_relu"}, Model{"mlp_gelu"},
                    Model{"mlp_batchnorm"}, Model{"autoencoder_mse", "mse"},
                    Model{"lenet_maxpool"}, Model{"gpt_block"},
                    Model{"llama_block"}, Model{"hf_gpt2"}, Model{"hf_bert"},
                    Model{"hf_llama"}, Model{"hf_qwen2"}, Model{"hf_vit"},
                    Model{"hf_roberta"}, Model{"hf_phi"}, Model{"hf_convnext"},
                    Model{"hf_opt"}, Model{"hf_wav2vec2"}, Model{"hf_bloom"},
                    Model{"hf_falcon"}, Model{"hf_gemma"}, Model{"hf_gptj"},
                    Model{"hf_neox"}, Model{"hf_albert"}, Model{"hf_distilbert"},
                    Model{"pad_cnn"}, Model{"upsample_cnn"}, Model{"decoder_cnn"},
                    Model{"einsum_attention"}, Model{"topk_pool"},
                    Model{"lstm_classifier"}, Model{"gru_classifier"},
                    Model{"rnn_classifier"}, Model{"scatter_mix"},
                    Model{"prelu_cnn"}, Model{"grid_sample_net"},
                    Model{"interpolate_cnn"}, Model{"scripted_rnn"},
                    Model{"scripted_rnn_list"}, Model{"spectrogram_net"},
                    Model{"tv_mobilenet"},
                    Model{"mlp_relu", "cross_entropy", 0.5},
                    // At a GPU's widths: warps of 32 lanes, 8 a block,
                    // column and transpose tiles of 32.
                    Model{"mlp_batchnorm", "cross_entropy", 0, true},
                    Model{"lenet_maxpool", "cross_entropy", 0, true},
                    Model{"gpt_block", "cross_entropy", 0, true},
                    Model{"llama_block", "cross_entropy", 0, true},
                    Model{"mlp_relu", "cross_entropy", 0.5, true}),
    [](const testing::TestParamInfo<Model> &info) {
      return info.param.label();
    });

/// This session's fusions, at sizes where they apply, in one program run
/// interpreted and through its printed kernels: BatchNorm statistics split
/// in Chan's form (staged kernels over image x channel rows, then channel
/// rows), a gather computing transposed heads, and a cross-entropy-like
/// per-row sum joined to its gradient's row kernel as a co-stage.
TEST(CudaEmulationKernels, FusedProgramMatchesTheInterpreter) {
  const std::string ir = R"mlir(
func.func @forward(%x: tensor<16x4x32x32xf32> {kiln.name = "x"}, %q: tensor<2x3x5x4xf32> {kiln.name = "q"}, %z: tensor<64x512xf32> {kiln.name = "z"})
    -> (tensor<16x4x32x32xf32>, tensor<2x5x24xf32>, tensor<f32>, tensor<64x512xf32>) {
  %m = kiln.reduce_mean %x {axes = array<i64: 0, 2, 3>, keepdims = true} : (tensor<16x4x32x32xf32>) -> tensor<1x4x1x1xf32>
  %d = kiln.sub %x, %m : (tensor<16x4x32x32xf32>, tensor<1x4x1x1xf32>) -> tensor<16x4x32x32xf32>
  %dd = kiln.mul %d, %d : (tensor<16x4x32x32xf32>, tensor<16x4x32x32xf32>) -> tensor<16x4x32x32xf32>
  %v = kiln.reduce_mean %dd {axes = array<i64: 0, 2, 3>, keepdims = true} : (tensor<16x4x32x32xf32>) -> tensor<1x4x1x1xf32>
  %y = kiln.div %d, %v : (tensor<16x4x32x32xf32>, tensor<1x4x1x1xf32>) -> tensor<16x4x32x32xf32>
  %t = kiln.transpose %q {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x3x5x4xf32>) -> tensor<2x5x3x4xf32>
  %e = kiln.exp %t : (tensor<2x5x3x4xf32>) -> tensor<2x5x3x4xf32>
  %r = kiln.reshape %e {shape = array<i64: 2, 5, 12>} : (tensor<2x5x3x4xf32>) -> tensor<2x5x12xf32>
  %c = kiln.concat %r, %r {axis = 2 : i64} : (tensor<2x5x12xf32>, tensor<2x5x12xf32>) -> tensor<2x5x24xf32>
  %zm = kiln.reduce_max %z {axes = array<i64: 1>, keepdims = true} : (tensor<64x512xf32>) -> tensor<64x1xf32>
  %zd = kiln.sub %z, %zm : (tensor<64x512xf32>, tensor<64x1xf32>) -> tensor<64x512xf32>
  %ze = kiln.exp %zd : (tensor<64x512xf32>) -> tensor<64x512xf32>
  %zs = kiln.reduce_sum %ze {axes = array<i64: 1>, keepdims = true} : (tensor<64x512xf32>) -> tensor<64x1xf32>
  %zl = kiln.log %zs : (tensor<64x1xf32>) -> tensor<64x1xf32>
  %zls = kiln.sub %zd, %zl : (tensor<64x512xf32>, tensor<64x1xf32>) -> tensor<64x512xf32>
  %row = kiln.reduce_sum %zls {axes = array<i64: 1>, keepdims = false} : (tensor<64x512xf32>) -> tensor<64xf32>
  %loss = kiln.reduce_sum %row {axes = array<i64: 0>, keepdims = false} : (tensor<64xf32>) -> tensor<f32>
  %p = kiln.div %ze, %zs : (tensor<64x512xf32>, tensor<64x1xf32>) -> tensor<64x512xf32>
  return %y, %c, %loss, %p : tensor<16x4x32x32xf32>, tensor<2x5x24xf32>, tensor<f32>, tensor<64x512xf32>
}
)mlir";
  kiln::codegen::EmittedProgram program = kiln::test::compileIr(ir, true);
  int staged = 0;
  for (const rt::Kernel &k : program.program.kernels)
    staged += !k.stages.empty();
  EXPECT_GE(staged, 3); // Chan's two, the softmax's with its co-stage.
  std::vector<float> x(16 * 4 * 32 * 32), q(120), z(64 * 512);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = 2.0f + float(std::sin(0.7 * double(i)));
  for (size_t i = 0; i < q.size(); ++i)
    q[i] = float(std::cos(0.3 * double(i)));
  for (size_t i = 0; i < z.size(); ++i)
    z[i] = float(std::sin(0.11 * double(i))) * 3.0f;
  std::vector<std::vector<double>> interpreted =
      kiln::test::runForward(program, {x, q, z});
  ASSERT_EQ(interpreted.size(), 4u);
  for (bool gpuGeometry : {false, true}) {
    SCOPED_TRACE(gpuGeometry ? "at a GPU's widths" : "in blocks of four");
    std::string error;
    LaunchFn launch =
        buildHostModule(program.program.kernels, "fused", error, gpuGeometry);
    ASSERT_TRUE(launch) << error;
    std::vector<std::vector<double>> emulated = kiln::test::runForward(
        program, {x, q, z},
        [&](int32_t kernel, const std::vector<void *> &args, int64_t points) {
          launch(kernel, const_cast<void **>(args.data()), points);
          return rt::Status();
        });
    ASSERT_EQ(emulated.size(), 4u);
    for (size_t o = 0; o < 4; ++o)
      for (size_t i = 0; i < interpreted[o].size(); ++i) {
        double a = interpreted[o][i], b = emulated[o][i];
        ASSERT_TRUE(std::fabs(a - b) <= 1e-5 * (1 + std::fabs(a)))
            << "output " << o << " element " << i << ": " << a << " vs " << b;
      }
  }
}

/// Runs kernel `k` by the CPU interpreter and by its printed CUDA form
/// compiled for the host (in a directory named after `name`, `grid`
/// blocks), on the arguments `args(0)` and `args(1)` give, then `check`:
/// once in emulated blocks of four threads, once at a GPU's widths.
void runBothWays(const rt::Kernel &k, const std::string &name, int64_t grid,
                 const std::function<std::vector<void *>(int)> &args,
                 const std::function<void()> &check) {
  ASSERT_TRUE(k.verify().ok()) << k.verify().message();
  std::vector<void *> cpu = args(0);
  ASSERT_TRUE(rt::cpu::runKernel(k, cpu).ok());
  for (bool gpuGeometry : {false, true}) {
    SCOPED_TRACE(gpuGeometry ? "at a GPU's widths" : "in blocks of four");
    std::string error;
    LaunchFn launch = buildHostModule({k}, name, error, gpuGeometry);
    ASSERT_TRUE(launch) << error;
    std::vector<void *> emulated = args(1);
    launch(0, emulated.data(), grid);
    check();
  }
}

/// The schedules a reduction over rows is emulated with: a block of the
/// usual threads, a block of 1024 (shared arrays that big), a warp.
std::vector<std::pair<rt::Kernel::Reduce, int32_t>> rowSchedules() {
  return {{rt::Kernel::Reduce::Block, rt::kBlockReduceThreads},
          {rt::Kernel::Reduce::Block, rt::kLongBlockThreads},
          {rt::Kernel::Reduce::Warp, rt::kBlockReduceThreads}};
}

/// A block reduction (a block of threads per parallel point, a tree in
/// shared memory), as the compiler chooses for few points with long
/// reductions, and a warp reduction (a warp per point, shuffles): their
/// printed code gives the interpreter's sums and maxima.
/// (Emulated with three blocks of four host threads, then at a GPU's widths:
/// the trees, barriers and strides run, though not at a GPU's timing; NVRTC
/// compiles it in the cuda.precompile test and the benchmark script.)
TEST(CudaEmulationKernels, BlockAndWarpReductionsMatchTheInterpreter) {
  for (auto [how, threads] : rowSchedules()) {
    SCOPED_TRACE(how == rt::Kernel::Reduce::Block ? "block" : "warp");
    rt::Kernel k = kiln::test::rowReduction(
        "block_sum_max", 3, 1500, {rt::Combine::Sum, rt::Combine::Max});
    k.reduce = how;
    k.blockThreads = threads;
    std::vector<float> in(3 * 1500), sum[2], max[2];
    for (size_t i = 0; i < in.size(); ++i)
      in[i] = float(std::sin(0.37 * double(i))) * 3.0f;
    runBothWays(k,
                "block" + std::to_string(int(how)) + "-" +
                    std::to_string(k.blockThreads),
                3,
                [&](int which) {
                  sum[which].assign(3, -1);
                  max[which].assign(3, -1);
                  return std::vector<void *>{in.data(), sum[which].data(),
                                             max[which].data()};
                },
                [&] {
                  for (int p = 0; p < 3; ++p) {
                    EXPECT_NEAR(sum[1][p], sum[0][p], 1e-4) << p;
                    EXPECT_EQ(max[1][p], max[0][p]) << p;
                    EXPECT_NE(sum[0][p], -1.0f);
                  }
                });
  }
}

/// A column reduction (tiles of consecutive points, phases striding the
/// rows, partial results combined in shared memory), as the compiler
/// chooses for a bias's gradient, over a number of columns that no tile
/// divides: its printed code gives the interpreter's sums and maxima.
TEST(CudaEmulationKernels, ColumnReductionMatchesTheInterpreter) {
  const int64_t R = 1500, C = 37;
  rt::Kernel k = kiln::test::columnReduction(
      "column_sum_max", R, C, {rt::Combine::Sum, rt::Combine::Max});
  k.reduce = rt::Kernel::Reduce::Columns;
  std::vector<float> in(R * C), sum[2], max[2];
  for (size_t i = 0; i < in.size(); ++i)
    in[i] = float(std::sin(0.53 * double(i))) * 2.0f;
  runBothWays(
      k, "columns", 0,
      [&](int which) {
        sum[which].assign(C, -1);
        max[which].assign(C, -1);
        return std::vector<void *>{in.data(), sum[which].data(),
                                   max[which].data()};
      },
      [&] {
        for (int64_t c = 0; c < C; ++c) {
          double expected = 0;
          for (int64_t r = 0; r < R; ++r)
            expected += in[r * C + c];
          EXPECT_NEAR(sum[0][c], expected, 1e-3) << c;
          EXPECT_NEAR(sum[1][c], sum[0][c], 1e-4) << c;
          EXPECT_EQ(max[1][c], max[0][c]) << c;
        }
      });
}

/// A column reduction that also reads a value of each row, the same for
/// all the columns (a LayerNorm's scale: x[r][c] * s[r] summed over r):
/// the column tiles read it once per row and phase.
TEST(CudaEmulationKernels, ColumnReductionReadingRowValuesMatchesTheInterpreter) {
  const int64_t R = 777, C = 45;
  rt::Kernel k = kiln::test::columnReduction("column_scaled_sum", R, C,
                                             {rt::Combine::Sum});
  k.reduce = rt::Kernel::Reduce::Columns;
  // Argument 2: s [R], read at the step (the row) for every point.
  k.args.push_back({rt::DType::F32, {R}, false});
  rt::KInstr scale;
  scale.op = rt::KOp::Load;
  scale.type = rt::DType::F32;
  scale.arg = 2;
  scale.map = {0, 1, 0};
  rt::KInstr mul;
  mul.op = rt::KOp::Mul;
  mul.type = rt::DType::F32;
  mul.a = 0;
  mul.b = 1;
  k.body.push_back(scale);
  k.body.push_back(mul);
  k.outputs[0].value = 2;
  std::vector<float> x(R * C), scales(R), sum[2];
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = float(std::sin(0.37 * double(i)));
  for (int64_t r = 0; r < R; ++r)
    scales[size_t(r)] = 0.5f + float(r % 7);
  runBothWays(
      k, "columns-rows", 0,
      [&](int which) {
        sum[which].assign(C, -1);
        return std::vector<void *>{x.data(), sum[which].data(),
                                   scales.data()};
      },
      [&] {
        for (int64_t c = 0; c < C; ++c) {
          double expected = 0;
          for (int64_t r = 0; r < R; ++r)
            expected += double(x[size_t(r * C + c)]) * scales[size_t(r)];
          EXPECT_NEAR(sum[0][size_t(c)], expected, 1e-3) << c;
          EXPECT_NEAR(sum[1][size_t(c)], sum[0][size_t(c)], 1e-4) << c;
        }
      });
}

/// A vector kernel (four points a thread): loads along the last dimension
/// as vectors (x, and b broadcast over the rows), one read across it per
/// point (t, transposed), one vector store; and with a pointer that is not
/// 16-byte aligned, the scalar kernel instead. Both give the interpreter's
/// values.
TEST(CudaEmulationKernels, VectorKernelMatchesTheInterpreterAlignedOrNot) {
  const int64_t R = 3, C = 8;
  rt::Kernel k;
  k.name = "vector_axpy";
  k.domain = {R, C};
  k.parallelDims = 2;
  k.vector = 4;
  k.args = {{rt::DType::F32, {R, C}, false},
            {rt::DType::F32, {C}, false},
            {rt::DType::F32, {C, R}, false},
            {rt::DType::F32, {R, C}, true}};
  auto op = [](rt::KOp o, int32_t a, int32_t b) {
    rt::KInstr in;
    in.op = o;
    in.type = rt::DType::F32;
    in.a = a;
    in.b = b;
    return in;
  };
  k.body = {f32Load(0, {1, 0, 0, 0, 1, 0}), f32Load(1, {0, 1, 0}),
            f32Load(2, {0, 1, 0, 1, 0, 0}), op(rt::KOp::Mul, 0, 1),
            op(rt::KOp::Add, 3, 2)};
  k.outputs = {{3, 4, rt::Combine::None}};
  ASSERT_TRUE(k.verify().ok()) << k.verify().message();
  std::string error;
  LaunchFn launch = buildHostModule({k}, "vector", error);
  ASSERT_TRUE(launch) << error;
  // 16-byte aligned storage; x at element 0 (aligned) or 1 (not).
  alignas(16) float x[R * C + 4], b[C], t[C * R], y[2][R * C + 4];
  for (int64_t i = 0; i < R * C + 4; ++i)
    x[i] = float(i) * 0.5f - 3.0f;
  for (int64_t i = 0; i < C; ++i)
    b[i] = float(i) - 2.0f;
  for (int64_t i = 0; i < C * R; ++i)
    t[i] = float(i * i % 7);
  for (int shift : {0, 1}) {
    SCOPED_TRACE(shift ? "misaligned" : "aligned");
    for (int emulated = 0; emulated < 2; ++emulated) {
      std::fill(std::begin(y[emulated]), std::end(y[emulated]), -1.0f);
      std::vector<void *> args = {x + shift, b, t, y[emulated] + shift};
      if (emulated)
        launch(0, args.data(), 0);
      else
        ASSERT_TRUE(rt::cpu::runKernel(k, args).ok());
    }
    for (int64_t i = 0; i < R * C + 4; ++i)
      EXPECT_EQ(y[1][i], y[0][i]) << i;
    EXPECT_EQ(y[0][shift + 9], x[shift + 9] * b[1] + t[1 * R + 1]);
  }
}

/// A kernel in transpose tiles: out[b][i][j] = x[b][j][i] * y[b][i][j]
/// (x read transposed, through shared memory; y along the rows), sizes
/// that no tile divides: the interpreter's values.
TEST(CudaEmulationKernels, TransposeTilesMatchTheInterpreter) {
  const int64_t B = 3, I = 5, J = 7;
  rt::Kernel k;
  k.name = "tiled_transpose";
  k.domain = {B, I, J};
  k.parallelDims = 3;
  k.tileDim = 1;
  k.args = {{rt::DType::F32, {B, J, I}, false},
            {rt::DType::F32, {B, I, J}, false},
            {rt::DType::F32, {B, I, J}, true}};
  rt::KInstr x;
  x.op = rt::KOp::Load;
  x.type = rt::DType::F32;
  x.arg = 0;
  x.map = {1, 0, 0, 0, /**/ 0, 0, 1, 0, /**/ 0, 1, 0, 0};
  rt::KInstr y = x;
  y.arg = 1;
  y.map = {1, 0, 0, 0, /**/ 0, 1, 0, 0, /**/ 0, 0, 1, 0};
  rt::KInstr mul;
  mul.op = rt::KOp::Mul;
  mul.type = rt::DType::F32;
  mul.a = 0;
  mul.b = 1;
  k.body = {x, y, mul};
  k.outputs = {{2, 2, rt::Combine::None}};
  std::vector<float> xs(B * J * I), ys(B * I * J), out[2];
  for (size_t i = 0; i < xs.size(); ++i) {
    xs[i] = float(i) + 1.0f;
    ys[i] = float(i % 3) + 0.5f;
  }
  runBothWays(
      k, "tiles", 0,
      [&](int which) {
        out[which].assign(B * I * J, -1);
        return std::vector<void *>{xs.data(), ys.data(), out[which].data()};
      },
      [&] { EXPECT_EQ(out[1], out[0]); });
  // out[2][4][6] = x[2][6][4] * y[2][4][6].
  EXPECT_EQ(out[0][(2 * I + 4) * J + 6],
            xs[(2 * J + 6) * I + 4] * ys[(2 * I + 4) * J + 6]);
}

/// A staged kernel (a softmax: the row's maximum, then its sum of
/// exponentials, then each point), rows longer than the emulated block:
/// the printed code gives the interpreter's values and writes the local
/// output.
TEST(CudaEmulationKernels, StagedKernelsMatchTheInterpreter) {
  for (auto [how, threads] : rowSchedules()) {
    SCOPED_TRACE(how == rt::Kernel::Reduce::Block ? "block" : "warp");
    const int64_t R = 3, C = 1500;
    rt::Kernel k = kiln::test::stagedSoftmax(R, C);
    k.reduce = how;
    k.blockThreads = threads;
    std::vector<float> in(R * C), y[2], sum[2];
    for (size_t i = 0; i < in.size(); ++i)
      in[i] = float(std::cos(0.31 * double(i))) * 5.0f;
    runBothWays(k,
                "staged" + std::to_string(int(how)) + "-" +
                    std::to_string(k.blockThreads),
                0,
                [&](int which) {
                  y[which].assign(R * C, -1);
                  sum[which].assign(R, -1);
                  return std::vector<void *>{in.data(), y[which].data(),
                                             sum[which].data()};
                },
                [&] {
                  for (int64_t r = 0; r < R; ++r) {
                    EXPECT_NEAR(sum[1][r], sum[0][r], 1e-4 * sum[0][r]) << r;
                    EXPECT_GT(sum[0][r], 1.0f) << r;
                  }
                  for (size_t i = 0; i < in.size(); ++i)
                    ASSERT_NEAR(y[1][i], y[0][i], 1e-6) << i;
                });
  }
}

/// A segmented reduction (a sum of squares per tensor, one launch): each
/// segment's size comes with the launch.
TEST(CudaEmulationKernels, SegmentedReductionGivesEachSegmentsSum) {
  rt::Kernel k;
  k.name = "sums_of_squares";
  k.domain = {700};
  k.parallelDims = 0;
  k.segmented = true;
  k.reduce = rt::Kernel::Reduce::Block;
  k.args = {{rt::DType::F32, {700}, false}, {rt::DType::F32, {}, true}};
  rt::KInstr square{rt::KOp::Mul, rt::DType::F32, 0, 0};
  k.body = {f32Load(0, {1, 0}), square};
  k.outputs = {{1, 1, rt::Combine::Sum}};
  ASSERT_TRUE(k.verify().ok()) << k.verify().message();
  for (bool gpuGeometry : {false, true}) {
    SCOPED_TRACE(gpuGeometry ? "at a GPU's widths" : "in blocks of four");
    std::string error;
    LaunchFn launch = buildHostModule({k}, "segmented-sum", error, gpuGeometry);
    ASSERT_TRUE(launch) << error;
    for (int64_t n : {700, 37}) {
      std::vector<float> in(static_cast<size_t>(n));
      double expected = 0;
      for (int64_t i = 0; i < n; ++i) {
        in[i] = float(std::cos(0.1 * double(i)));
        expected += double(in[i]) * in[i];
      }
      float got = -1;
      std::vector<void *> args = {in.data(), &got};
      launch(0, args.data(), n);
      EXPECT_NEAR(got, expected, 1e-3) << n;
    }
  }
}

/// A segmented elementwise kernel four points a thread (the optimizer's
/// multi-tensor update): each segment's 16-byte aligned pointers take
/// vector loads and stores, its last partial vector a point at a time, and
/// a segment whose pointers are not aligned runs the scalar loop; every
/// point is written once, and nothing past a segment's end.
TEST(CudaEmulationKernels, SegmentedVectorKernelCoversEverySegmentsPoints) {
  rt::Kernel k;
  k.name = "axpy";
  k.domain = {64};
  k.parallelDims = 1;
  k.segmented = true;
  k.vector = 4;
  // out = 3 * x + y
  k.args = {{rt::DType::F32, {64}, false},
            {rt::DType::F32, {64}, false},
            {rt::DType::F32, {64}, true}};
  rt::KInstr three{rt::KOp::Const, rt::DType::F32};
  three.fvalue = 3;
  rt::KInstr mul{rt::KOp::Mul, rt::DType::F32, 0, 2};
  rt::KInstr add{rt::KOp::Add, rt::DType::F32, 3, 1};
  k.body = {f32Load(0, {1, 0}), f32Load(1, {1, 0}), three, mul, add};
  k.outputs = {{2, 4, rt::Combine::None}};
  ASSERT_TRUE(k.verify().ok()) << k.verify().message();
  std::string source, error;
  ASSERT_TRUE(kiln::codegen::cuda::printHostModule({k}, source, error))
      << error;
  EXPECT_NE(source.find("*reinterpret_cast<const float4*>(a0"),
            std::string::npos);
  EXPECT_NE(source.find("if (p + 4LL > kiln_n)"), std::string::npos);
  std::string dir = testing::TempDir() + "/kiln-cuda-segmented-vector";
  std::filesystem::create_directories(dir);
  void *handle = kiln::test::buildHostModule({k}, dir, error);
  ASSERT_TRUE(handle) << error;
  auto launch = reinterpret_cast<LaunchFn>(dlsym(handle, "kiln_host_launch"));
  auto segments = reinterpret_cast<void (*)(int, const long long *)>(
      dlsym(handle, "kiln_host_segments"));
  ASSERT_TRUE(launch && segments);
  // Segments of these sizes, each at this many floats past a 16-byte
  // boundary (1: the scalar loop).
  const std::vector<std::pair<int64_t, int64_t>> rows = {
      {64, 0}, {37, 0}, {3, 0}, {41, 1}, {1, 0}, {200, 0}};
  std::vector<std::vector<float>> xs, ys, outs;
  const float kUnwritten = -1234.5f;
  for (auto [n, skew] : rows) {
    std::vector<float> a(size_t(n + 8)), b(size_t(n + 8));
    for (int64_t i = 0; i < n + 8; ++i) {
      a[size_t(i)] = float(i) * 0.25f - float(n);
      b[size_t(i)] = float(n) - float(i);
    }
    xs.push_back(a);
    ys.push_back(b);
    outs.emplace_back(size_t(n + 8), kUnwritten);
  }
  // Aligned storage: the vectors' data are 16-byte aligned (operator new).
  auto base = [&](std::vector<float> &v, int64_t skew) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data()) % 16, 0u);
    return v.data() + skew;
  };
  auto check = [&](const char *how) {
    for (size_t r = 0; r < rows.size(); ++r) {
      auto [n, skew] = rows[r];
      for (int64_t i = 0; i < n + 8 - skew; ++i) {
        float want = i < n
                         ? 3 * xs[r][size_t(skew + i)] + ys[r][size_t(skew + i)]
                         : kUnwritten;
        ASSERT_EQ(outs[r][size_t(skew + i)], want)
            << how << ": segment " << r << " (" << n << " points, skew " << skew
            << "), point " << i;
      }
      outs[r].assign(outs[r].size(), kUnwritten);
    }
  };
  // The plain entry, a segment a launch.
  for (size_t r = 0; r < rows.size(); ++r) {
    auto [n, skew] = rows[r];
    std::vector<void *> args = {base(xs[r], skew), base(ys[r], skew),
                                base(outs[r], skew)};
    launch(0, args.data(), n);
  }
  check("a launch per segment");
  // The segments entry: the table as the CUDA backend writes it, each row
  // a block per 4 * 4 points (the emulation's four threads).
  std::vector<long long> table = {(long long)rows.size()}, body;
  long long blocks = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    auto [n, skew] = rows[r];
    table.push_back(blocks);
    blocks += std::max<long long>(1, n / 16);
    body.push_back(n);
    for (std::vector<float> *v : {&xs[r], &ys[r], &outs[r]})
      body.push_back((long long)(uintptr_t)base(*v, skew));
  }
  table.push_back(blocks);
  table.insert(table.end(), body.begin(), body.end());
  segments(0, table.data());
  check("one multi-tensor launch");
}

} // namespace
