//===- CompileIr.h - kernel-level programs from IR text, for tests --------===//
#ifndef KILN_TEST_UNIT_COMPILEIR_H
#define KILN_TEST_UNIT_COMPILEIR_H

#include "codegen/ProgramEmitter.h"
#include "compiler/Pipeline.h"
#include "compiler/Registration.h"
#include "runtime/src/session.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <string>

namespace kiln::test {

/// `ir` (graph-level functions, e.g. a func.func @forward) through the
/// graph and kernel pipelines (fused or one kernel per op; recomputing
/// activations in the backward or not) and the emitter; failures are test
/// failures.
inline codegen::EmittedProgram
compileIr(const std::string &ir, bool fuse,
          const codegen::EmitOptions &emitOptions = {},
          bool recompute = true) {
  mlir::DialectRegistry registry;
  registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>("module {\n" + ir + "\n}",
                                              &context);
  EXPECT_TRUE(module);
  if (!module)
    return {};
  mlir::PassManager pm(&context, mlir::ModuleOp::getOperationName());
  buildGraphPipeline(pm);
  PipelineOptions options;
  options.fuse = fuse;
  options.recompute = recompute;
  buildKernelPipeline(pm, options);
  EXPECT_TRUE(mlir::succeeded(pm.run(*module)));
  auto emitted = codegen::emitModule(*module, emitOptions);
  EXPECT_TRUE(mlir::succeeded(emitted));
  if (mlir::failed(emitted))
    return {};
  return std::move(*emitted);
}

/// Runs @forward of `program` on the CPU backend with F32 `inputs` (in
/// signature order), its kernels through `hook` when one is given; the
/// outputs, as F32 values. Failures are test failures.
inline std::vector<std::vector<double>>
runForward(const codegen::EmittedProgram &program,
           const std::vector<std::vector<float>> &inputs,
           runtime::KernelHook hook = nullptr) {
  std::unique_ptr<runtime::Session> session;
  runtime::Status s =
      runtime::Session::create(program.program, program.init, session);
  EXPECT_TRUE(s.ok()) << s.toString();
  if (!s.ok())
    return {};
  if (hook)
    session->setKernelHook(std::move(hook));
  const runtime::Entry *entry = session->program().entry("forward");
  std::vector<runtime::HostTensor> in, out;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const runtime::Buffer &b = session->program().buffers[entry->inputs[i]];
    in.push_back({b.name, runtime::DType::F32, b.shape, inputs[i].data(),
                  inputs[i].size() * sizeof(float)});
  }
  s = session->run("forward", in, out);
  EXPECT_TRUE(s.ok()) << s.toString();
  std::vector<std::vector<double>> result;
  for (const runtime::HostTensor &t : out) {
    const float *f = static_cast<const float *>(t.data);
    result.emplace_back(f, f + t.bytes / sizeof(float));
  }
  return result;
}

} // namespace kiln::test

#endif // KILN_TEST_UNIT_COMPILEIR_H
