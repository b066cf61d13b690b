//===- Compile.cpp - the compiler's C++ entry point -----------------------===//
#include "compiler/Compile.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;

namespace kiln {

LogicalResult compile(const CompileOptions &options, MLIRContext &context) {
  // 1. Read the input. Only kiln IR is read so far.
  StringRef ext = llvm::sys::path::extension(options.inputPath);
  if (ext == ".onnx") {
    return emitError(UnknownLoc::get(&context))
           << "cannot read '" << options.inputPath
           << "': this build has no ONNX importer yet; give kiln IR (.mlir)";
  }
  std::string message;
  auto file = openInputFile(options.inputPath, &message);
  if (!file)
    return emitError(UnknownLoc::get(&context))
           << "cannot read '" << options.inputPath << "': " << message;
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(file), SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return failure(); // The parser reported where and why.

  // 2. Run the pipeline up to the requested stage.
  PassManager pm(&context, ModuleOp::getOperationName());
  if (options.dumpIrAfterAll) {
    context.disableMultithreading(); // IR printing needs a serial pass manager.
    pm.enableIRPrinting(/*shouldPrintBeforePass=*/nullptr,
                        /*shouldPrintAfterPass=*/
                        [](Pass *, Operation *) { return true; },
                        /*printModuleScope=*/true,
                        /*printAfterOnlyOnChange=*/false);
  }
  switch (options.emit) {
  case Stage::Graph:
    buildGraphPipeline(pm, options.pipeline);
    break;
  }
  if (failed(pm.run(*module)))
    return failure();

  // 3. Write the result; the file appears only if everything succeeded.
  auto output = openOutputFile(options.outputPath, &message);
  if (!output)
    return emitError(UnknownLoc::get(&context))
           << "cannot write '" << options.outputPath << "': " << message;
  module->print(output->os());
  output->os() << "\n";
  output->keep();
  return success();
}

} // namespace kiln
