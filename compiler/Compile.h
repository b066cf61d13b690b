//===- Compile.h - the compiler's C++ entry point -------------------------===//
#ifndef KILN_COMPILER_COMPILE_H
#define KILN_COMPILER_COMPILE_H

#include "compiler/Pipeline.h"

#include "mlir/IR/MLIRContext.h"

#include <string>

namespace kiln {

struct CompileOptions {
  /// The model: kiln IR (`.mlir`). ONNX input arrives with the importer.
  std::string inputPath;
  /// Where the result goes; "-" is stdout.
  std::string outputPath = "-";
  /// The stage whose IR is written.
  Stage emit = Stage::Graph;
  /// Print the IR after every pass to stderr.
  bool dumpIrAfterAll = false;
  PipelineOptions pipeline;
};

/// Reads the model, runs the pipeline up to `options.emit` and writes the IR.
/// Errors are reported as located diagnostics through `context`; the output
/// file is written only when everything succeeded.
llvm::LogicalResult compile(const CompileOptions &options,
                            mlir::MLIRContext &context);

} // namespace kiln

#endif // KILN_COMPILER_COMPILE_H
