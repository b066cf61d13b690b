//===- Driver.cpp - the `kiln` command line -------------------------------===//
//
// One driver, subcommands as they arrive (DESIGN.md "Command line"). Each
// subcommand's options live in its own cl::SubCommand, so `kiln compile --help`
// shows only what `compile` takes.
//
//===----------------------------------------------------------------------===//
#include "compiler/Driver.h"

#include "compiler/Compile.h"
#include "compiler/Registration.h"
#include "runtime/src/inspect.h"
#include "runtime/src/session.h"

#include "kiln/runtime.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

namespace kiln {
namespace {

cl::OptionCategory kilnCategory("kiln options");

//===----------------------------------------------------------------------===//
// kiln compile
//===----------------------------------------------------------------------===//

cl::SubCommand
    compileCommand("compile",
                   "Compile MODEL (.onnx, .onnxtxt or kiln IR .mlir) and write "
                   "the IR of a stage (--emit)");
cl::opt<std::string> compileInput(cl::Positional, cl::Required,
                                  cl::desc("MODEL"), cl::sub(compileCommand),
                                  cl::cat(kilnCategory));
cl::opt<std::string> compileOutput("o",
                                   cl::desc("Output file ('-' for stdout)"),
                                   cl::value_desc("OUT"), cl::init("-"),
                                   cl::sub(compileCommand),
                                   cl::cat(kilnCategory));
cl::opt<std::string> compileEmit(
    "emit",
    cl::desc("Write the IR after this stage instead of an artifact:\n"
             "  mlir     import + shape inference + canonicalize/CSE\n"
             "  kernels  lowered to loop-nest kernels and library calls"),
    cl::value_desc("STAGE"), cl::sub(compileCommand), cl::cat(kilnCategory));
cl::opt<bool> compileInference(
    "inference",
    cl::desc("Write a forward-only (inference) artifact: no loss, gradients "
             "or optimizer"),
    cl::sub(compileCommand), cl::cat(kilnCategory));
cl::list<std::string> compileInputShapes(
    "input-shape",
    cl::desc("Sizes for an input with symbolic dimensions, e.g. "
             "--input-shape input=256,784 (repeat for several inputs)"),
    cl::value_desc("NAME=D0,D1,..."), cl::sub(compileCommand),
    cl::cat(kilnCategory));
cl::opt<bool> compilePrintWeights(
    "print-weights",
    cl::desc("Write all initializer data into the emitted IR (by default, "
             "data over 1 KiB is elided)"),
    cl::sub(compileCommand), cl::cat(kilnCategory));
cl::opt<bool>
    compileDumpAfterAll("dump-ir-after-all",
                        cl::desc("Print the IR after every pass to stderr"),
                        cl::sub(compileCommand), cl::cat(kilnCategory));

int runCompile(mlir::MLIRContext &context) {
  CompileOptions options;
  options.inputPath = compileInput;
  options.outputPath = compileOutput;
  options.dumpIrAfterAll = compileDumpAfterAll;
  options.printWeights = compilePrintWeights;
  for (const std::string &text : compileInputShapes) {
    std::string name, error;
    SmallVector<int64_t> shape;
    if (!onnx::parseInputShape(text, name, shape, error)) {
      errs() << "kiln compile: error: --input-shape: " << error << "\n";
      return 1;
    }
    options.import.inputShapes[name] = shape;
  }
  if (compileEmit.getNumOccurrences() == 0) {
    if (!compileInference) {
      errs() << "kiln compile: error: training artifacts are not available "
                "yet; use --inference for a forward-only artifact, or --emit "
                "mlir|kernels for IR\n";
      return 1;
    }
    if (options.outputPath == "-") {
      errs() << "kiln compile: error: an artifact needs -o OUT.kiln\n";
      return 1;
    }
    options.artifact = true;
  } else if (compileEmit == "mlir") {
    options.emit = Stage::Graph;
  } else if (compileEmit == "kernels") {
    options.emit = Stage::Kernels;
  } else {
    errs() << "kiln compile: error: unknown --emit stage '" << compileEmit
           << "' (known: mlir, kernels)\n";
    return 1;
  }
  return mlir::succeeded(compile(options, context)) ? 0 : 1;
}

//===----------------------------------------------------------------------===//
// kiln run
//===----------------------------------------------------------------------===//

cl::SubCommand
    runCommand("run",
               "Run MODEL's forward pass on tensors from a safetensors file");
cl::opt<std::string> runModel(cl::Positional, cl::Required,
                              cl::desc("MODEL.kiln"), cl::sub(runCommand),
                              cl::cat(kilnCategory));
cl::opt<std::string>
    runInputs("inputs",
              cl::desc("Safetensors file with one tensor per model input, by "
                       "name (other tensors are ignored)"),
              cl::value_desc("IN.safetensors"), cl::Required,
              cl::sub(runCommand), cl::cat(kilnCategory));
cl::list<std::string> runInputShapes(
    "input-shape",
    cl::desc("Sizes for an input with symbolic dimensions, when MODEL is "
             "compiled on the fly"),
    cl::value_desc("NAME=D0,D1,..."), cl::sub(runCommand),
    cl::cat(kilnCategory));
cl::opt<std::string> runOutput("o", cl::desc("Where to write the outputs"),
                               cl::value_desc("OUT.safetensors"), cl::Required,
                               cl::sub(runCommand), cl::cat(kilnCategory));

/// Prints a failed runtime status as the driver's error; returns 1.
int reportStatus(StringRef command, kiln_status_t *status) {
  errs() << "kiln " << command << ": error: " << kiln_status_message(status)
         << "\n";
  kiln_status_free(status);
  return 1;
}

int runRun(mlir::MLIRContext &context) {
  // An artifact runs as it is; a model is compiled (for inference) first,
  // in memory.
  std::unique_ptr<kiln::runtime::Session> session;
  kiln::runtime::Status status;
  if (StringRef(runModel).ends_with(".kiln")) {
    status = kiln::runtime::Session::open(runModel, session);
  } else {
    CompileOptions options;
    options.inputPath = runModel;
    for (const std::string &text : runInputShapes) {
      std::string name, error;
      SmallVector<int64_t> shape;
      if (!onnx::parseInputShape(text, name, shape, error)) {
        errs() << "kiln run: error: --input-shape: " << error << "\n";
        return 1;
      }
      options.import.inputShapes[name] = shape;
    }
    auto program = compileProgram(options, context);
    if (mlir::failed(program))
      return 1; // The compiler reported why.
    status = kiln::runtime::Session::create(std::move(program->program),
                                            std::move(program->init), session);
  }
  if (status.ok())
    status = session->runFiles("forward", runInputs, runOutput);
  return status.ok() ? 0 : reportStatus("run", status.release());
}

//===----------------------------------------------------------------------===//
// kiln inspect
//===----------------------------------------------------------------------===//

cl::SubCommand inspectCommand(
    "inspect", "Describe a compiled artifact: entries, steps, kernels, memory");
cl::opt<std::string> inspectModel(cl::Positional, cl::Required,
                                  cl::desc("MODEL.kiln"),
                                  cl::sub(inspectCommand),
                                  cl::cat(kilnCategory));
cl::opt<bool> inspectJson("json", cl::desc("Print JSON instead of text"),
                          cl::sub(inspectCommand), cl::cat(kilnCategory));

int runInspect(mlir::MLIRContext &) {
  std::string text;
  kiln::runtime::Status status =
      kiln::runtime::inspectArtifact(inspectModel, inspectJson, text);
  if (!status.ok())
    return reportStatus("inspect", status.release());
  outs() << text;
  return 0;
}

//===----------------------------------------------------------------------===//
// Dispatch
//===----------------------------------------------------------------------===//

struct Command {
  cl::SubCommand *sub;
  int (*run)(mlir::MLIRContext &);
};

const Command commands[] = {{&compileCommand, runCompile},
                            {&runCommand, runRun},
                            {&inspectCommand, runInspect}};

StringRef severityName(mlir::DiagnosticSeverity severity) {
  switch (severity) {
  case mlir::DiagnosticSeverity::Error:
    return "error";
  case mlir::DiagnosticSeverity::Warning:
    return "warning";
  case mlir::DiagnosticSeverity::Note:
    return "note";
  case mlir::DiagnosticSeverity::Remark:
    return "remark";
  }
  llvm_unreachable("unknown severity");
}

/// "file: " or "file: node 'x' (Add): " for locations without a line (ONNX
/// files, their nodes and initializers); "" for anything else.
std::string describePlace(mlir::Location loc) {
  std::string label;
  if (auto name = dyn_cast<mlir::NameLoc>(loc)) {
    label = name.getName().str() + ": ";
    loc = name.getChildLoc();
  }
  auto file = dyn_cast<mlir::FileLineColLoc>(loc);
  if (!file || file.getLine() != 0)
    return "";
  return file.getFilename().str() + ": " + label;
}

void printVersion(raw_ostream &os) {
  os << "kiln " << KILN_VERSION << " (MLIR " << LLVM_VERSION_STRING << ")\n";
}

} // namespace

int driverMain(int argc, char **argv) {
  InitLLVM init(argc, argv);

  // An unknown word where a subcommand belongs gets a message that lists the
  // known ones (cl would call it a stray positional argument).
  if (argc > 1 && argv[1][0] != '-') {
    bool known = llvm::any_of(commands, [&](const Command &c) {
      return c.sub->getName() == argv[1];
    });
    if (!known) {
      errs() << "kiln: error: unknown command '" << argv[1] << "'; commands:";
      for (const Command &c : commands)
        errs() << ' ' << c.sub->getName();
      errs() << " (kiln --help explains them)\n";
      return 1;
    }
  }

  cl::HideUnrelatedOptions(kilnCategory);
  for (const Command &c : commands)
    cl::HideUnrelatedOptions(kilnCategory, *c.sub);
  cl::SetVersionPrinter(printVersion);
  if (!cl::ParseCommandLineOptions(
          argc, argv,
          "kiln - compile ONNX models into training executables and run "
          "them\n\n"
          "  kiln compile MODEL --emit mlir [-o OUT] [--dump-ir-after-all]\n"
          "  kiln compile MODEL --inference -o OUT.kiln\n"
          "  kiln run MODEL --inputs IN.safetensors -o OUT.safetensors\n"
          "  kiln inspect MODEL.kiln [--json]\n\n"
          "Training artifacts, the CUDA backend, and some ops' kernels are\n"
          "still to come; kiln says which when it meets them.\n"
          "Run `kiln COMMAND --help` for a command's options.\n",
          &errs()))
    return 1;

  for (const Command &c : commands) {
    if (!*c.sub)
      continue;
    mlir::DialectRegistry registry;
    registerAllDialects(registry);
    mlir::MLIRContext context(registry);
    // Located diagnostics ("file:line:col: error: ...") with the source line.
    SourceMgr sourceMgr;
    mlir::SourceMgrDiagnosticHandler handler(sourceMgr, &context, errs());
    // Diagnostics about a whole file or an ONNX node have no line to show
    // (FileLineColLoc line 0, maybe inside a NameLoc naming the node); they
    // are said as "kiln compile: error: model.onnx: node 'x' (Add): ...".
    // Later handlers are asked first.
    std::string prefix = ("kiln " + c.sub->getName()).str();
    mlir::ScopedDiagnosticHandler plain(&context, [&](mlir::Diagnostic &diag) {
      std::string place = describePlace(diag.getLocation());
      if (place.empty() && !isa<mlir::UnknownLoc>(diag.getLocation()))
        return mlir::failure(); // A line in a text file: let SourceMgr show it.
      errs() << prefix << ": " << severityName(diag.getSeverity()) << ": "
             << place << diag << "\n";
      return mlir::success();
    });
    return c.run(context);
  }
  errs() << "kiln: error: no command given; commands:";
  for (const Command &c : commands)
    errs() << ' ' << c.sub->getName();
  errs() << " (kiln --help explains them)\n";
  return 1;
}

} // namespace kiln
