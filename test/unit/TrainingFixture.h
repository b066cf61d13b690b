//===- TrainingFixture.h - a training fixture, compiled, with its batch ---===//
#ifndef KILN_TEST_UNIT_TRAININGFIXTURE_H
#define KILN_TEST_UNIT_TRAININGFIXTURE_H

#include "compiler/Compile.h"
#include "compiler/Registration.h"
#include "runtime/src/safetensors.h"
#include "runtime/src/session.h"

#include "mlir/IR/MLIRContext.h"

#include <string>
#include <vector>

namespace kiln::test {

/// test/training/fixtures/NAME.onnx compiled for training with Adam (and
/// `loss`, gradient clipping at `gradClip` when positive), and its batch
/// NAME.safetensors as session inputs (labels included). `ok` says whether
/// both worked; `error` why not.
struct TrainingFixture {
  codegen::EmittedProgram program;
  runtime::SafeTensors batch;
  std::vector<runtime::HostTensor> inputs;
  bool ok = false;
  std::string error;

  TrainingFixture(const std::string &name, const std::string &loss,
                  double gradClip = 0) {
    std::string dir = std::string(KILN_SOURCE_DIR) + "/test/training/fixtures/";
    mlir::DialectRegistry registry;
    registerAllDialects(registry);
    mlir::MLIRContext context(registry);
    CompileOptions options;
    options.inputPath = dir + name + ".onnx";
    options.training = TrainingOptions();
    options.training->loss = loss;
    options.training->optimizer = "adam";
    options.training->gradClip = gradClip;
    auto compiled = compileProgram(options, context);
    if (mlir::failed(compiled)) {
      error = "cannot compile " + name;
      return;
    }
    program = std::move(*compiled);
    if (runtime::Status s =
            runtime::SafeTensors::read(dir + name + ".safetensors", batch);
        !s.ok()) {
      error = s.message();
      return;
    }
    for (const runtime::TensorView &t : batch.tensors())
      inputs.push_back({t.name, t.dtype, t.shape, t.data, t.bytes});
    ok = true;
  }
  TrainingFixture(const TrainingFixture &) = delete;
};

} // namespace kiln::test

#endif // KILN_TEST_UNIT_TRAININGFIXTURE_H
