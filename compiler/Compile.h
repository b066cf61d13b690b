//===- Compile.h - the compiler's C++ entry point -------------------------===//
#ifndef KILN_COMPILER_COMPILE_H
#define KILN_COMPILER_COMPILE_H

#include "codegen/ProgramEmitter.h"
#include "compiler/Pipeline.h"
#include "compiler/onnx/Importer.h"

#include "mlir/IR/MLIRContext.h"

#include <optional>
#include <string>
#include <vector>

namespace kiln {

struct CompileOptions {
  /// The model: ONNX (`.onnx`, or ONNX's text syntax in `.onnxtxt`), or kiln
  /// IR (`.mlir`).
  std::string inputPath;
  /// Where the result goes; "-" is stdout.
  std::string outputPath = "-";
  /// The stage whose IR is written; with `artifact`, the stage the artifact
  /// is generated from (Kernels).
  Stage emit = Stage::Graph;
  /// Write a .kiln artifact rather than IR.
  bool artifact = false;
  /// Print the IR after every pass to stderr.
  bool dumpIrAfterAll = false;
  /// Write every initializer's data into the IR (large ones are elided by
  /// default: the IR is for reading).
  bool printWeights = false;
  PipelineOptions pipeline;
  /// Build a training step (@train_step) beside the forward function.
  std::optional<TrainingOptions> training;
  /// The learning rate a training artifact records as its default.
  double learningRate = 1e-3;
  /// Write the program's kernels as CUDA C++ (one translation unit) instead
  /// of IR or an artifact.
  bool emitCuda = false;
  /// Compile the kernels with NVRTC for these architectures ("sm_80") and
  /// embed the cubins in the artifact; any kernel that does not compile is
  /// an error naming it, with NVRTC's log.
  std::vector<std::string> precompileArchs;
  onnx::ImportOptions import;
};

/// Reads a model as kiln IR: imports `.onnx` / `.onnxtxt`, parses `.mlir`.
/// Errors are reported through `context`'s diagnostics; null on failure.
mlir::OwningOpRef<mlir::ModuleOp> loadModel(const CompileOptions &options,
                                            mlir::MLIRContext &context);

/// Reads the model, runs the pipeline up to `options.emit` and writes the IR
/// (or, with `options.artifact`, the .kiln artifact). Errors are reported as
/// located diagnostics through `context`; the output file is written only
/// when everything succeeded.
llvm::LogicalResult compile(const CompileOptions &options,
                            mlir::MLIRContext &context);

/// Compiles the model of `options` to a program in memory (with a training
/// step when `options.training` is set): what `kiln run`, `kiln step` and
/// `kiln train` execute when given a model rather than an artifact.
mlir::FailureOr<codegen::EmittedProgram>
compileProgram(const CompileOptions &options, mlir::MLIRContext &context);

} // namespace kiln

#endif // KILN_COMPILER_COMPILE_H
