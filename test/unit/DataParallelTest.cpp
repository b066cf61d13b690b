//===- DataParallelTest.cpp - gradient buckets in the compiled step -------===//
//
// The training step of a small MLP, compiled by the real pipeline
// (kiln-build-train-step, kiln-all-reduce-gradients, lowering, fusion, the
// emitter): each bucket's values are laid out back to back and are the
// step's outputs in place; and the session issues each bucket's collective
// and waits for it before any step reads it, checked with a communicator
// that does its work only when waited for.
//
//===----------------------------------------------------------------------===//
#include "codegen/ProgramEmitter.h"
#include "compiler/Pipeline.h"
#include "compiler/Registration.h"
#include "test/unit/DoublingCommunicator.h"
#include "runtime/src/session.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

namespace {

using namespace mlir;
namespace rt = kiln::runtime;

constexpr const char *kForward = R"mlir(
func.func @forward(%x: tensor<4x3xf32> {kiln.name = "x"}) -> tensor<4x2xf32> {
  %w1 = kiln.initializer "w1" = dense<[[0.5, -0.25, 0.125, 0.3, -0.1], [0.2, 0.4, -0.3, 0.1, 0.6], [-0.5, 0.7, 0.2, -0.2, 0.05]]> : tensor<3x5xf32>
  %b1 = kiln.initializer "b1" = dense<0.1> : tensor<5xf32>
  %w2 = kiln.initializer "w2" = dense<[[0.3, -0.2], [0.1, 0.4], [-0.6, 0.2], [0.25, -0.35], [0.05, 0.15]]> : tensor<5x2xf32>
  %h = kiln.matmul %x, %w1 : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
  %hb = kiln.add %h, %b1 : (tensor<4x5xf32>, tensor<5xf32>) -> tensor<4x5xf32>
  %a = kiln.tanh %hb : (tensor<4x5xf32>) -> tensor<4x5xf32>
  %y = kiln.matmul %a, %w2 : (tensor<4x5xf32>, tensor<5x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
)mlir";

/// The emitted training program of kForward (SGD), buckets of `bucketMb`.
kiln::codegen::EmittedProgram compile(double bucketMb) {
  DialectRegistry registry;
  kiln::registerAllDialects(registry);
  MLIRContext context(registry);
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(
      std::string("module {\n") + kForward + "}", &context);
  EXPECT_TRUE(module);
  PassManager pm(&context, ModuleOp::getOperationName());
  kiln::buildGraphPipeline(pm);
  kiln::TrainingOptions training;
  training.optimizer = "sgd";
  training.bucketMb = bucketMb;
  kiln::buildTrainPipeline(pm, training);
  kiln::buildKernelPipeline(pm);
  EXPECT_TRUE(succeeded(pm.run(*module)));
  auto emitted = kiln::codegen::emitModule(*module);
  EXPECT_TRUE(succeeded(emitted));
  return std::move(*emitted);
}

std::vector<const rt::Step *> allReduces(const rt::Program &p) {
  std::vector<const rt::Step *> out;
  for (const rt::Step &s : p.entry("train_step")->steps)
    if (s.kind == rt::Step::Kind::AllReduce)
      out.push_back(&s);
  return out;
}

TEST(GradientBuckets, BackToBackAndOutputsInPlace) {
  for (double mb : {25.0, 0.0}) {
    kiln::codegen::EmittedProgram e = compile(mb);
    const rt::Program &p = e.program;
    std::vector<const rt::Step *> buckets = allReduces(p);
    // The loss and three gradients: one bucket, or one each.
    ASSERT_EQ(buckets.size(), mb > 0 ? 1u : 4u);
    std::set<std::string> names;
    for (const rt::Step *s : buckets) {
      for (size_t i = 0; i < s->args.size(); ++i) {
        const rt::Buffer &b = p.buffers[s->args[i]];
        EXPECT_EQ(b.kind, rt::BufferKind::Output) << b.name;
        names.insert(b.name);
        if (i + 1 < s->args.size())
          EXPECT_EQ(p.buffers[s->args[i + 1]].offset,
                    (b.offset + b.bytes() + 63) / 64 * 64)
              << "bucket " << s->bucket << " is not back to back at " << b.name;
      }
    }
    EXPECT_EQ(names, (std::set<std::string>{"loss", "grad.w1", "grad.b1",
                                            "grad.w2"}));
    // The outputs are the bucket's buffers themselves: nothing is copied.
    const rt::Entry &step = *p.entry("train_step");
    for (int32_t id : step.outputs)
      if (names.count(p.buffers[id].name))
        EXPECT_TRUE(std::any_of(buckets.begin(), buckets.end(),
                                [&](const rt::Step *s) {
                                  return std::count(s->args.begin(),
                                                    s->args.end(), id) > 0;
                                }))
            << p.buffers[id].name;
    for (const rt::Step &s : step.steps)
      if (s.kind == rt::Step::Kind::Kernel)
        EXPECT_NE(p.kernels[s.kernel].name.rfind("copy", 0), 0u);
  }
}

using kiln::test::DoublingCommunicator;

/// Runs one step; returns every output and parameter by name.
std::map<std::string, std::vector<float>> runStep(rt::Session &s) {
  const rt::Program &p = s.program();
  float x[12] = {0.5f, -1, 2, 0.25f, 1.5f, -0.5f, -2, 0.75f, 1, 0.1f, -0.3f, 0.9f};
  int64_t labels[4] = {0, 1, 1, 0};
  float lr = 0.1f;
  std::vector<rt::HostTensor> inputs = {
      {"x", rt::DType::F32, {4, 3}, x, sizeof x},
      {"labels", rt::DType::I64, {4}, labels, sizeof labels},
      {"kiln.lr", rt::DType::F32, {}, &lr, sizeof lr}};
  std::vector<rt::HostTensor> outputs;
  rt::Status status = s.run("train_step", inputs, outputs);
  EXPECT_TRUE(status.ok()) << status.message();
  std::map<std::string, std::vector<float>> out;
  for (const rt::HostTensor &t : outputs) {
    const float *f = static_cast<const float *>(t.data);
    out[t.name].assign(f, f + t.bytes / 4);
  }
  for (const std::string &name : p.training->parameters) {
    const rt::Buffer *b = s.persistent(name);
    std::vector<float> &v = out["param." + name];
    v.resize(size_t(b->bytes() / 4));
    EXPECT_TRUE(s.read(*b, v.data()).ok());
  }
  return out;
}

TEST(GradientBuckets, SessionWaitsBeforeTheOptimizerReads) {
  for (double mb : {25.0, 0.0}) {
    kiln::codegen::EmittedProgram e = compile(mb);
    std::unique_ptr<rt::Session> alone, ranked;
    ASSERT_TRUE(rt::Session::create(e.program, e.init, alone).ok());
    ASSERT_TRUE(rt::Session::create(e.program, e.init, ranked).ok());
    DoublingCommunicator comm;
    ranked->setCommunicator(&comm);
    auto before = runStep(*alone), after = runStep(*ranked);
    size_t buckets = allReduces(e.program).size();
    EXPECT_EQ(comm.started, int(buckets));
    EXPECT_EQ(comm.waited, int(buckets));

    std::map<std::string, std::vector<float>> initial;
    for (const std::string &name : e.program.training->parameters) {
      const rt::Buffer &b =
          e.program.buffers[e.program.persistent(name)];
      const float *f = reinterpret_cast<const float *>(e.init.data() + b.offset);
      initial[name].assign(f, f + b.bytes() / 4);
    }
    EXPECT_NEAR(after["loss"][0], 2 * before["loss"][0], 1e-6);
    for (const std::string &name : e.program.training->parameters) {
      const auto &g1 = before["grad." + name], &g2 = after["grad." + name];
      const auto &p1 = before["param." + name], &p2 = after["param." + name];
      ASSERT_EQ(g1.size(), g2.size());
      for (size_t i = 0; i < g1.size(); ++i) {
        EXPECT_NEAR(g2[i], 2 * g1[i], 1e-6) << name << "[" << i << "]";
        // SGD read the doubled gradient: p - lr (2 g).
        EXPECT_NEAR(p2[i], initial[name][i] - 0.1f * 2 * g1[i], 1e-6)
            << name << "[" << i << "]";
        EXPECT_NE(p1[i], p2[i]);
      }
    }
  }
}

} // namespace
