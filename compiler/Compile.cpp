//===- Compile.cpp - the compiler's C++ entry point -----------------------===//
#include "compiler/Compile.h"

#include "compiler/Export.h"
#include "codegen/cuda/CudaKernel.h"
#include "runtime/src/cuda/nvrtc.h"

#include "runtime/src/io.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

#include <thread>

using namespace mlir;

namespace kiln {

OwningOpRef<ModuleOp> loadModel(const CompileOptions &options,
                                MLIRContext &context) {
  StringRef ext = llvm::sys::path::extension(options.inputPath);
  if (ext == ".onnx" || ext == ".onnxtxt") {
    onnx::ImportOptions import = options.import;
    import.batchNormForTraining = options.training.has_value();
    return onnx::importModel(options.inputPath, import, context);
  }
  if (ext != ".mlir") {
    emitError(UnknownLoc::get(&context))
        << "cannot read '" << options.inputPath
        << "': expected an ONNX model (.onnx, .onnxtxt) or kiln IR (.mlir)";
    return {};
  }
  std::string message;
  auto file = openInputFile(options.inputPath, &message);
  if (!file) {
    emitError(UnknownLoc::get(&context))
        << "cannot read '" << options.inputPath << "': " << message;
    return {};
  }
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(file), SMLoc());
  // The parser reports where and why it fails.
  return parseSourceFile<ModuleOp>(sourceMgr, &context);
}

namespace {

/// Sets `pm` up for `options`: printing the IR after every pass when asked.
void configure(PassManager &pm, const CompileOptions &options,
               MLIRContext &context) {
  if (options.dumpIrAfterAll) {
    context.disableMultithreading(); // IR printing needs a serial pass manager.
    pm.enableIRPrinting(/*shouldPrintBeforePass=*/nullptr,
                        /*shouldPrintAfterPass=*/
                        [](Pass *, Operation *) { return true; },
                        /*printModuleScope=*/true,
                        /*printAfterOnlyOnChange=*/false);
  }
}

/// Runs the kernel pipeline (lowering, then fusion unless `fuse` is off).
LogicalResult lowerToKernels(ModuleOp module, const CompileOptions &options,
                             bool fuse, MLIRContext &context) {
  PassManager pm(&context, ModuleOp::getOperationName());
  configure(pm, options, context);
  PipelineOptions pipeline = options.pipeline;
  pipeline.fuse = fuse;
  buildKernelPipeline(pm, pipeline);
  return pm.run(module);
}

/// Reads the model and runs the pipeline up to `stage`.
OwningOpRef<ModuleOp> runPipeline(const CompileOptions &options, Stage stage,
                                  MLIRContext &context) {
  // The graph stage shows the model as imported (ONNX semantics); only a
  // training pipeline imports BatchNorm in the form it trains from.
  CompileOptions loading = options;
  if (stage == Stage::Graph)
    loading.training.reset();
  OwningOpRef<ModuleOp> module = loadModel(loading, context);
  if (!module)
    return {};
  PassManager pm(&context, ModuleOp::getOperationName());
  configure(pm, options, context);
  buildGraphPipeline(pm, options.pipeline);
  if (stage != Stage::Graph && options.training)
    buildTrainPipeline(pm, *options.training);
  if (failed(pm.run(*module)))
    return {};
  if (stage == Stage::Kernels &&
      failed(lowerToKernels(*module, options, options.pipeline.fuse, context)))
    return {};
  return module;
}

FailureOr<codegen::EmittedProgram> emit(ModuleOp module,
                                        const CompileOptions &options) {
  codegen::EmitOptions emitOptions;
  emitOptions.multiTensor = options.pipeline.fuse;
  FailureOr<codegen::EmittedProgram> emitted =
      codegen::emitModule(module, emitOptions);
  if (succeeded(emitted) && emitted->program.training)
    emitted->program.training->lr = options.learningRate;
  return emitted;
}

/// Records in each entry of `program` the kernel launches and bytes moved of
/// `unfused`, the same graph lowered without fusion (what kiln inspect
/// compares with).
LogicalResult recordUnfused(ModuleOp unfused,
                            codegen::EmittedProgram &program) {
  codegen::EmitOptions unfusedOptions;
  unfusedOptions.multiTensor = false;
  FailureOr<codegen::EmittedProgram> reference =
      codegen::emitModule(unfused, unfusedOptions);
  if (failed(reference))
    return failure();
  for (runtime::Entry &entry : program.program.entries)
    if (const runtime::Entry *other = reference->program.entry(entry.name)) {
      entry.unfusedLaunches = entry.unfusedBytes = 0;
      for (const runtime::Step &step : other->steps) {
        entry.unfusedLaunches += step.kind == runtime::Step::Kind::Kernel;
        runtime::Traffic t = runtime::stepTraffic(reference->program, step);
        entry.unfusedBytes += t.read + t.written;
      }
    }
  return success();
}

/// The program's kernels as one CUDA translation unit.
FailureOr<codegen::cuda::Module> printCuda(const runtime::Program &program,
                                           MLIRContext &context) {
  codegen::cuda::Module module;
  std::string error;
  if (!codegen::cuda::printModule(program.kernels, module, error))
    return emitError(UnknownLoc::get(&context))
           << "cannot print CUDA C++: " << error;
  return module;
}

} // namespace

FailureOr<codegen::EmittedProgram> compileProgram(const CompileOptions &options,
                                                  MLIRContext &context) {
  OwningOpRef<ModuleOp> module = runPipeline(options, Stage::Kernels, context);
  if (!module)
    return failure();
  return emit(*module, options);
}

/// The program's kernels as one CUDA translation unit (artifact section
/// "cuda.source") and, for each architecture asked for, its cubin
/// ("cuda.cubin.<arch>"), compiled by NVRTC one architecture per thread.
static LogicalResult addCuda(const CompileOptions &options,
                             codegen::EmittedProgram &program,
                             MLIRContext &context) {
  auto fail = [&](const Twine &message) {
    return emitError(UnknownLoc::get(&context)) << message;
  };
  FailureOr<codegen::cuda::Module> printed = printCuda(program.program, context);
  if (failed(printed))
    return failure();
  const codegen::cuda::Module &module = *printed;
  program.extraSections.push_back(
      {"cuda.source",
       std::vector<uint8_t>(module.source.begin(), module.source.end())});
  if (options.precompileArchs.empty())
    return success();
  runtime::cuda::Nvrtc *nvrtc = nullptr;
  if (runtime::Status s = runtime::cuda::Nvrtc::get(nvrtc); !s.ok())
    return fail("--precompile: " + std::string(s.message()));
  // An architecture this NVRTC does not know fails here, saying which it
  // does, rather than in NVRTC's option parser.
  const std::vector<int> &known = nvrtc->architectures();
  for (const std::string &arch : options.precompileArchs)
    if (!known.empty() &&
        !llvm::is_contained(known, runtime::cuda::architectureNumber(arch)))
      return fail("--device-arch " + arch + ": NVRTC " + nvrtc->version() +
                  " compiles for " + nvrtc->architecturesText());
  llvm::errs() << "kiln compile: NVRTC " << nvrtc->version() << ": compiling "
               << program.program.kernels.size() << " kernels for";
  for (const std::string &arch : options.precompileArchs)
    llvm::errs() << " " << arch;
  llvm::errs() << "\n";
  size_t archs = options.precompileArchs.size();
  std::vector<std::vector<uint8_t>> cubins(archs);
  std::vector<runtime::Status> statuses(archs);
  std::vector<std::thread> threads;
  for (size_t a = 0; a < archs; ++a)
    threads.emplace_back([&, a] {
      statuses[a] = nvrtc->compile(module.source, "kiln",
                                   options.precompileArchs[a], cubins[a]);
    });
  for (std::thread &t : threads)
    t.join();
  for (size_t a = 0; a < archs; ++a) {
    if (statuses[a].ok()) {
      program.extraSections.push_back(
          {"cuda.cubin." + options.precompileArchs[a], std::move(cubins[a])});
      continue;
    }
    // Name the kernel of the first error line ("kiln.cu(LINE): error").
    std::string message(statuses[a].message());
    size_t at = message.find("kiln.cu(");
    std::string which = "the CUDA module";
    if (at != std::string::npos) {
      size_t line = std::strtoull(message.c_str() + at + 8, nullptr, 10);
      size_t k = codegen::cuda::kernelAtLine(module, line);
      if (k < program.program.kernels.size())
        which = "kernel '" + program.program.kernels[k].name + "'";
    }
    return fail("--precompile: " + which + " does not compile for " +
                options.precompileArchs[a] + ": " + message);
  }
  return success();
}

LogicalResult compile(const CompileOptions &options, MLIRContext &context) {
  auto fail = [&](const Twine &message) {
    return emitError(UnknownLoc::get(&context)) << message;
  };
  // An artifact (and its unfused reference) or CUDA source is lowered
  // below, after the graph stages; IR is printed after options.emit.
  bool lowers = options.artifact || options.emitCuda;
  Stage stage = lowers ? Stage::Train : options.emit;
  OwningOpRef<ModuleOp> module = runPipeline(options, stage, context);
  if (!module)
    return failure();

  if (lowers) {
    // The same graph without fusion, for inspect's comparison.
    OwningOpRef<ModuleOp> unfused;
    if (options.artifact && options.pipeline.fuse) {
      unfused = module->clone();
      CompileOptions quiet = options; // --dump-ir-after-all shows the real one.
      quiet.dumpIrAfterAll = false;
      if (failed(lowerToKernels(*unfused, quiet, /*fuse=*/false, context)))
        return failure();
    }
    if (failed(lowerToKernels(*module, options, options.pipeline.fuse,
                              context)))
      return failure();
    FailureOr<codegen::EmittedProgram> program = emit(*module, options);
    if (failed(program))
      return failure();

    if (options.emitCuda) {
      FailureOr<codegen::cuda::Module> cuda =
          printCuda(program->program, context);
      if (failed(cuda))
        return failure();
      std::string message;
      auto output = openOutputFile(options.outputPath, &message);
      if (!output)
        return fail("cannot write '" + options.outputPath + "': " + message);
      output->os() << cuda->source;
      output->keep();
      return success();
    }

    if (failed(addCuda(options, *program, context)))
      return failure();
    if (unfused && failed(recordUnfused(*unfused, *program)))
      return failure();
    // A training artifact carries its ONNX model, for kiln export.
    StringRef ext = llvm::sys::path::extension(options.inputPath);
    if (options.training && (ext == ".onnx" || ext == ".onnxtxt")) {
      auto embedded = embeddableModel(options.inputPath, program->program);
      if (!embedded)
        return fail(llvm::toString(embedded.takeError()));
      program->extraSections.push_back({"onnx", std::move(*embedded)});
    }
    std::vector<uint8_t> bytes = codegen::artifactBytes(*program);
    runtime::Status status = runtime::writeFileAtomically(
        options.outputPath, {{bytes.data(), bytes.size()}});
    if (!status.ok())
      return fail(status.message());
    return success();
  }

  // Write the IR; the file appears only if everything succeeded.
  std::string message;
  auto output = openOutputFile(options.outputPath, &message);
  if (!output)
    return emitError(UnknownLoc::get(&context))
           << "cannot write '" << options.outputPath << "': " << message;
  OpPrintingFlags flags;
  if (!options.printWeights)
    flags.elideLargeResourceString(1024);
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os, flags);
  // With every resource elided, MLIR still writes an empty resource section.
  StringRef printed = StringRef(text).rtrim();
  if (printed.ends_with("#-}")) {
    size_t open = printed.rfind("{-#");
    if (open != StringRef::npos &&
        printed.slice(open + 3, printed.size() - 3).trim().empty())
      printed = printed.take_front(open).rtrim();
  }
  output->os() << printed << "\n";
  output->keep();
  return success();
}

} // namespace kiln
