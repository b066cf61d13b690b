//===- CompileIr.h - kernel-level programs from IR text, for tests --------===//
#ifndef KILN_TEST_UNIT_COMPILEIR_H
#define KILN_TEST_UNIT_COMPILEIR_H

#include "codegen/ProgramEmitter.h"
#include "compiler/Pipeline.h"
#include "compiler/Registration.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <string>

namespace kiln::test {

/// `ir` (graph-level functions, e.g. a func.func @forward) through the
/// graph and kernel pipelines (fused or one kernel per op) and the emitter;
/// failures are test failures.
inline codegen::EmittedProgram
compileIr(const std::string &ir, bool fuse,
          const codegen::EmitOptions &emitOptions = {}) {
  mlir::DialectRegistry registry;
  registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::parseSourceString<mlir::ModuleOp>(
      "module {\n" + ir + "\n}", &context);
  EXPECT_TRUE(module);
  if (!module)
    return {};
  mlir::PassManager pm(&context, mlir::ModuleOp::getOperationName());
  buildGraphPipeline(pm);
  PipelineOptions options;
  options.fuse = fuse;
  buildKernelPipeline(pm, options);
  EXPECT_TRUE(mlir::succeeded(pm.run(*module)));
  auto emitted = codegen::emitModule(*module, emitOptions);
  EXPECT_TRUE(mlir::succeeded(emitted));
  if (mlir::failed(emitted))
    return {};
  return std::move(*emitted);
}

} // namespace kiln::test

#endif // KILN_TEST_UNIT_COMPILEIR_H
