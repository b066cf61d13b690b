//===- MultiTensorTest.cpp - independent kernels as one launch ------------===//
//
// The emitter's multi-tensor kernels: consecutive kernels with one
// elementwise body over independent tensors become one segmented kernel
// step (each tensor a segment, 1-D views of any rank), which the CPU backend
// runs with the same results; a kernel that reads another's output, or one
// with another body, stays a launch of its own.
//
//===----------------------------------------------------------------------===//
#include "runtime/src/session.h"
#include "test/unit/CompileIr.h"

#include <gtest/gtest.h>

#include <cmath>

namespace {

using namespace mlir;
namespace rt = kiln::runtime;

/// `ir` (a func.func @forward) lowered one kernel per op and emitted.
rt::Program emit(const std::string &ir, bool multiTensor,
                 std::vector<uint8_t> *init = nullptr) {
  kiln::codegen::EmitOptions emitOptions;
  emitOptions.multiTensor = multiTensor;
  // One kernel per op: the emitter alone merges.
  kiln::codegen::EmittedProgram emitted =
      kiln::test::compileIr(ir, false, emitOptions);
  if (init)
    *init = emitted.init;
  return std::move(emitted.program);
}

int launches(const rt::Program &p) {
  int n = 0;
  for (const rt::Step &s : p.entry("forward")->steps)
    n += s.kind == rt::Step::Kind::Kernel;
  return n;
}

constexpr const char *kIndependent = R"mlir(
func.func @forward(%a: tensor<4x8xf32> {kiln.name = "a"}, %b: tensor<8xf32> {kiln.name = "b"}, %c: tensor<2x3x5xf32> {kiln.name = "c"})
    -> (tensor<4x8xf32>, tensor<8xf32>, tensor<2x3x5xf32>) {
  %0 = kiln.exp %a : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %1 = kiln.exp %b : (tensor<8xf32>) -> tensor<8xf32>
  %2 = kiln.exp %c : (tensor<2x3x5xf32>) -> tensor<2x3x5xf32>
  return %0, %1, %2 : tensor<4x8xf32>, tensor<8xf32>, tensor<2x3x5xf32>
}
)mlir";

TEST(MultiTensor, IndependentKernelsOfOneBodyAreOneLaunch) {
  std::vector<uint8_t> init;
  rt::Program merged = emit(kIndependent, true, &init);
  EXPECT_EQ(launches(emit(kIndependent, false)), 3);
  ASSERT_EQ(launches(merged), 1);
  const rt::Step &step = merged.entry("forward")->steps[0];
  const rt::Kernel &k = merged.kernels[step.kernel];
  EXPECT_TRUE(k.segmented);
  EXPECT_EQ(k.domain, std::vector<int64_t>{32});
  ASSERT_EQ(step.segments.size(), 2u);
  EXPECT_EQ(merged.buffers[step.segments[0][0]].shape, std::vector<int64_t>{8});
  EXPECT_EQ(merged.buffers[step.segments[1][0]].shape, std::vector<int64_t>{30});

  // The CPU backend runs every segment: exp of each input.
  std::unique_ptr<rt::Session> session;
  ASSERT_TRUE(rt::Session::create(merged, init, session).ok());
  std::vector<float> a(32), b(8), c(30);
  for (size_t i = 0; i < a.size(); ++i) a[i] = 0.01f * float(i);
  for (size_t i = 0; i < b.size(); ++i) b[i] = -0.2f * float(i);
  for (size_t i = 0; i < c.size(); ++i) c[i] = 0.05f * float(i) - 0.7f;
  std::vector<rt::HostTensor> inputs = {
      {"a", rt::DType::F32, {4, 8}, a.data(), a.size() * 4},
      {"b", rt::DType::F32, {8}, b.data(), b.size() * 4},
      {"c", rt::DType::F32, {2, 3, 5}, c.data(), c.size() * 4}};
  std::vector<rt::HostTensor> outputs;
  rt::Status s = session->run("forward", inputs, outputs);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(outputs.size(), 3u);
  for (size_t o = 0; o < 3; ++o) {
    const std::vector<float> &in = o == 0 ? a : o == 1 ? b : c;
    const float *out = static_cast<const float *>(outputs[o].data);
    for (size_t i = 0; i < in.size(); ++i)
      EXPECT_FLOAT_EQ(out[i], std::exp(in[i])) << "output " << o << "[" << i << "]";
  }
}

/// Sums of squares of several tensors (gradient clipping's norm) are one
/// segmented reduction: a segment, and a scalar, per tensor.
TEST(MultiTensor, SumsOfSquaresAreOneReduction) {
  const char *ir = R"mlir(
func.func @forward(%a: tensor<4x8xf32> {kiln.name = "a"}, %b: tensor<6xf32> {kiln.name = "b"})
    -> (tensor<f32>, tensor<f32>) {
  %a2 = kiln.mul %a, %a : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %b2 = kiln.mul %b, %b : (tensor<6xf32>, tensor<6xf32>) -> tensor<6xf32>
  %0 = kiln.reduce_sum %a2 {axes = array<i64: 0, 1>, keepdims = false} : (tensor<4x8xf32>) -> tensor<f32>
  %1 = kiln.reduce_sum %b2 {axes = array<i64: 0>, keepdims = false} : (tensor<6xf32>) -> tensor<f32>
  return %0, %1 : tensor<f32>, tensor<f32>
}
)mlir";
  DialectRegistry registry;
  kiln::registerAllDialects(registry);
  MLIRContext context(registry);
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(std::string("module {\n") + ir + "}", &context);
  ASSERT_TRUE(module);
  PassManager pm(&context, ModuleOp::getOperationName());
  kiln::buildGraphPipeline(pm);
  kiln::buildKernelPipeline(pm); // With fusion: each square into its sum.
  ASSERT_TRUE(succeeded(pm.run(*module)));
  auto emitted = kiln::codegen::emitModule(*module);
  ASSERT_TRUE(succeeded(emitted));
  const rt::Program &p = emitted->program;
  ASSERT_EQ(launches(p), 1);
  const rt::Step &step = p.entry("forward")->steps[0];
  EXPECT_EQ(p.kernels[step.kernel].parallelDims, 0);
  EXPECT_EQ(p.kernels[step.kernel].reduce, rt::Kernel::Reduce::Block);
  ASSERT_EQ(step.segments.size(), 1u);

  std::unique_ptr<rt::Session> session;
  ASSERT_TRUE(rt::Session::create(p, emitted->init, session).ok());
  std::vector<float> a(32), b(6);
  double sa = 0, sb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = 0.1f * float(i) - 1.0f;
    sa += double(a[i]) * a[i];
  }
  for (size_t i = 0; i < b.size(); ++i) {
    b[i] = 2.0f - 0.5f * float(i);
    sb += double(b[i]) * b[i];
  }
  std::vector<rt::HostTensor> inputs = {
      {"a", rt::DType::F32, {4, 8}, a.data(), a.size() * 4},
      {"b", rt::DType::F32, {6}, b.data(), b.size() * 4}};
  std::vector<rt::HostTensor> outputs;
  ASSERT_TRUE(session->run("forward", inputs, outputs).ok());
  EXPECT_NEAR(*static_cast<const float *>(outputs[0].data), sa, 1e-4);
  EXPECT_NEAR(*static_cast<const float *>(outputs[1].data), sb, 1e-4);
}

TEST(MultiTensor, DependentKernelsOrOtherBodiesStayApart) {
  // exp then exp of its result: the second reads what the first writes.
  EXPECT_EQ(launches(emit(R"mlir(
func.func @forward(%a: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = kiln.exp %a : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %1 = kiln.exp %0 : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return %1 : tensor<4x8xf32>
}
)mlir", true)), 2);
  // exp and tanh: two bodies.
  EXPECT_EQ(launches(emit(R"mlir(
func.func @forward(%a: tensor<4x8xf32>, %b: tensor<8xf32>) -> (tensor<4x8xf32>, tensor<8xf32>) {
  %0 = kiln.exp %a : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %1 = kiln.tanh %b : (tensor<8xf32>) -> tensor<8xf32>
  return %0, %1 : tensor<4x8xf32>, tensor<8xf32>
}
)mlir", true)), 2);
  // A transpose reads its input at another point than it writes.
  EXPECT_EQ(launches(emit(R"mlir(
func.func @forward(%a: tensor<4x8xf32>, %b: tensor<8x4xf32>) -> (tensor<8x4xf32>, tensor<4x8xf32>) {
  %0 = kiln.transpose %a {perm = array<i64: 1, 0>} : (tensor<4x8xf32>) -> tensor<8x4xf32>
  %1 = kiln.transpose %b {perm = array<i64: 1, 0>} : (tensor<8x4xf32>) -> tensor<4x8xf32>
  return %0, %1 : tensor<8x4xf32>, tensor<4x8xf32>
}
)mlir", true)), 2);
}

/// The GPU schedule of reductions: a block of threads per point where
/// points are few and reductions long (BatchNorm's statistics), a thread
/// per point otherwise; kiln inspect shows it.
TEST(ReductionSchedule, BlockForFewLongReductions) {
  rt::Program p = emit(R"mlir(
func.func @forward(%a: tensor<4x2048xf32>, %b: tensor<8192x4xf32>, %c: tensor<4x8xf32>)
    -> (tensor<4x1xf32>, tensor<8192x1xf32>, tensor<4x1xf32>) {
  %0 = kiln.reduce_sum %a {axes = array<i64: 1>} : (tensor<4x2048xf32>) -> tensor<4x1xf32>
  %1 = kiln.reduce_sum %b {axes = array<i64: 1>} : (tensor<8192x4xf32>) -> tensor<8192x1xf32>
  %2 = kiln.reduce_max %c {axes = array<i64: 1>} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  return %0, %1, %2 : tensor<4x1xf32>, tensor<8192x1xf32>, tensor<4x1xf32>
}
)mlir", true);
  std::vector<rt::Kernel::Reduce> chosen;
  for (const rt::Step &s : p.entry("forward")->steps)
    if (s.kind == rt::Step::Kind::Kernel)
      chosen.push_back(p.kernels[s.kernel].reduce);
  EXPECT_EQ(chosen, (std::vector<rt::Kernel::Reduce>{
                        rt::Kernel::Reduce::Block, rt::Kernel::Reduce::Thread,
                        rt::Kernel::Reduce::Thread}));
}

} // namespace
