//===- Driver.cpp - the `kiln` command line -------------------------------===//
//
// One driver, subcommands as they arrive (DESIGN.md "Command line"). Each
// subcommand's options live in its own cl::SubCommand, so `kiln compile --help`
// shows only what `compile` takes.
//
//===----------------------------------------------------------------------===//
#include "compiler/Driver.h"

#include "compiler/Compile.h"
#include "compiler/Export.h"
#include "compiler/Registration.h"
#include "codegen/cuda/CudaKernel.h"
#include "runtime/src/cpu/threads.h"
#include "runtime/src/cuda/backend.h"
#include "runtime/src/cuda/nvrtc.h"
#include "runtime/src/inspect.h"
#include "runtime/src/safetensors.h"
#include "runtime/src/session.h"
#include "runtime/src/trainloop.h"
#include "runtime/src/training.h"

#include "kiln/runtime.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"

#include <unistd.h>

using namespace llvm;

namespace kiln {
namespace {

cl::OptionCategory kilnCategory("kiln options");

//===----------------------------------------------------------------------===//
// Training options (kiln compile, kiln step, kiln train)
//===----------------------------------------------------------------------===//

cl::SubCommand
    compileCommand("compile",
                   "Compile MODEL (.onnx, .onnxtxt or kiln IR .mlir) into a "
                   "training artifact (or an inference one, or IR: --emit)");
cl::SubCommand
    runCommand("run",
               "Run MODEL's forward pass on tensors from a safetensors file");
cl::SubCommand stepCommand(
    "step", "Run exactly one training step of MODEL on one batch and write the "
            "loss, the gradients and the updated parameters");
cl::SubCommand trainCommand(
    "train", "Train MODEL on a data set (Fashion-MNIST or a safetensors "
             "file): progress, per-epoch loss and accuracy, checkpoints");

#define TRAINING_SUBS                                                          \
  cl::sub(compileCommand), cl::sub(stepCommand), cl::sub(trainCommand),        \
      cl::cat(kilnCategory)

cl::opt<std::string> optLoss(
    "loss",
    cl::desc("Loss on the model's first output: cross_entropy (integer class "
             "ids over the last axis, mean over the other positions) or mse "
             "(default: cross_entropy)"),
    cl::value_desc("cross_entropy|mse"), cl::init("cross_entropy"),
    TRAINING_SUBS);
cl::opt<std::string>
    optLabels("labels",
              cl::desc("Name of the labels tensor in the batch (default: "
                       "labels)"),
              cl::value_desc("NAME"), cl::init("labels"), TRAINING_SUBS);
cl::opt<std::string> optOptimizer(
    "optimizer",
    cl::desc("sgd, momentum (SGD with momentum), adam or adamw, with "
             "torch.optim's semantics (default: adamw)"),
    cl::value_desc("NAME"), cl::init("adamw"), TRAINING_SUBS);
cl::opt<double> optLr("lr",
                      cl::desc("Learning rate (default: 1e-3 for adam and "
                               "adamw, 0.01 for sgd and momentum)"),
                      cl::value_desc("LR"), TRAINING_SUBS);
cl::opt<double> optMomentum("momentum",
                            cl::desc("SGD momentum (default: 0.9)"),
                            cl::init(0.9), TRAINING_SUBS);
cl::opt<bool> optNesterov("nesterov",
                          cl::desc("Nesterov momentum (with --optimizer "
                                   "momentum)"),
                          TRAINING_SUBS);
cl::opt<std::string>
    optBetas("betas", cl::desc("Adam's betas (default: 0.9,0.999)"),
             cl::value_desc("B1,B2"), cl::init("0.9,0.999"), TRAINING_SUBS);
cl::opt<double> optEps("eps", cl::desc("Adam's epsilon (default: 1e-8)"),
                       cl::init(1e-8), TRAINING_SUBS);
cl::opt<double> optWeightDecay(
    "weight-decay",
    cl::desc("Weight decay: decoupled for adamw (default 0.01), L2 for the "
             "others (default 0)"),
    cl::init(-1), TRAINING_SUBS);
cl::opt<double> optGradClip(
    "grad-clip",
    cl::desc("Clip gradients to this global L2 norm, as "
             "torch.nn.utils.clip_grad_norm_ (default: no clipping)"),
    cl::init(0), TRAINING_SUBS);
cl::list<std::string> optFreeze(
    "freeze",
    cl::desc("Keep initializers matching this glob pattern fixed (repeat "
             "for several)"),
    cl::value_desc("PATTERN"), TRAINING_SUBS);
cl::opt<std::string> optPrecision(
    "precision",
    cl::desc("fp32 (default); tf32 lets GPU GEMMs use TF32 tensor cores (the "
             "CPU computes fp32 either way); bf16 is not supported yet"),
    cl::value_desc("fp32|tf32|bf16"), cl::init("fp32"), TRAINING_SUBS);
cl::opt<std::string> optSchedule(
    "lr-schedule",
    cl::desc("constant (default), warmup (linear warm-up over "
             "--warmup-steps, then constant) or cosine (warm-up, then cosine "
             "decay to zero at the last step)"),
    cl::value_desc("constant|warmup|cosine"), cl::init("constant"),
    cl::sub(stepCommand), cl::sub(trainCommand), cl::cat(kilnCategory));
cl::opt<int64_t> optWarmup("warmup-steps",
                           cl::desc("Warm-up steps of --lr-schedule"),
                           cl::init(0), cl::sub(stepCommand),
                           cl::sub(trainCommand), cl::cat(kilnCategory));
cl::list<std::string> optInputShapes(
    "input-shape",
    cl::desc("Sizes for an input with symbolic dimensions, e.g. "
             "--input-shape input=256,784 (repeat for several inputs)"),
    cl::value_desc("NAME=D0,D1,..."), cl::sub(compileCommand),
    cl::sub(runCommand), cl::sub(stepCommand), cl::sub(trainCommand),
    cl::cat(kilnCategory));

cl::opt<bool> optNoFusion(
    "no-fusion",
    cl::desc("Compile one kernel per op (no kiln-fuse-elementwise), to "
             "compare with the fused program"),
    cl::sub(compileCommand), cl::sub(runCommand), cl::sub(stepCommand),
    cl::sub(trainCommand), cl::cat(kilnCategory));

cl::opt<bool> optNoRecompute(
    "no-recompute",
    cl::desc("Keep every activation the backward reads from the forward "
             "(no kiln-rematerialize): more memory at the step's peak, "
             "fewer bytes moved"),
    cl::sub(compileCommand), cl::sub(runCommand), cl::sub(stepCommand),
    cl::sub(trainCommand), cl::cat(kilnCategory));

cl::opt<std::string> trainDevice(
    "device",
    cl::desc("auto (default: the GPU if there is one, else the CPU), cpu or "
             "cuda"),
    cl::value_desc("auto|cpu|cuda"), cl::init("auto"), cl::sub(trainCommand),
    cl::sub(stepCommand), cl::sub(runCommand), cl::cat(kilnCategory));

cl::opt<double> optBucketMb(
    "bucket-mb",
    cl::desc("Data-parallel runs average the gradients across ranks in "
             "buckets of at most this many megabytes, each all-reduced as soon "
             "as its gradients are final (default: 25, as PyTorch DDP)"),
    cl::value_desc("MB"), cl::init(25), TRAINING_SUBS);
cl::opt<bool> optSyncBatchNorm(
    "sync-batchnorm",
    cl::desc("In data-parallel runs, BatchNorm's batch statistics over the "
             "whole batch of all ranks (PyTorch's SyncBatchNorm; default: "
             "each rank's own, as DDP)"),
    TRAINING_SUBS);
cl::opt<double> optCollectiveTimeout(
    "collective-timeout",
    cl::desc("Under mpirun: a collective that has not completed after this "
             "many seconds (a rank died or hangs) is an error, and the job "
             "is aborted on every rank (default: 600)"),
    cl::value_desc("SECONDS"), cl::init(600), cl::sub(stepCommand),
    cl::sub(trainCommand), cl::cat(kilnCategory));

#undef TRAINING_SUBS

/// The training options given on the command line, checked.
std::optional<TrainingOptions> trainingOptions(StringRef command) {
  auto fail = [&](const Twine &message) {
    errs() << "kiln " << command << ": error: " << message << "\n";
    return std::nullopt;
  };
  TrainingOptions o;
  if (optLoss != "cross_entropy" && optLoss != "mse")
    return fail("unknown --loss '" + optLoss +
                "' (expected cross_entropy or mse)");
  if (!is_contained({"sgd", "momentum", "adam", "adamw"}, optOptimizer))
    return fail("unknown --optimizer '" + optOptimizer +
                "' (expected sgd, momentum, adam or adamw)");
  o.loss = optLoss;
  o.labels = optLabels;
  o.optimizer = optOptimizer;
  if (o.optimizer == "momentum" && optNesterov)
    o.optimizer = "nesterov";
  else if (optNesterov)
    return fail("--nesterov needs --optimizer momentum");
  o.momentum = optMomentum;
  StringRef b1, b2;
  std::tie(b1, b2) = StringRef(optBetas).split(',');
  if (b1.trim().getAsDouble(o.beta1) || b2.trim().getAsDouble(o.beta2))
    return fail("--betas '" + optBetas + "' is not two numbers B1,B2");
  o.eps = optEps;
  o.weightDecay = optWeightDecay;
  o.gradClip = optGradClip;
  o.freeze.assign(optFreeze.begin(), optFreeze.end());
  if (!(optBucketMb >= 0))
    return fail("--bucket-mb must not be negative");
  o.bucketMb = optBucketMb;
  o.syncBatchNorm = optSyncBatchNorm;
  if (optPrecision == "bf16")
    return fail("--precision bf16 is not supported yet (fp32 and tf32 are)");
  if (optPrecision != "fp32" && optPrecision != "tf32")
    return fail("unknown --precision '" + optPrecision +
                "' (expected fp32, tf32 or bf16)");
  return o;
}

/// --lr, or the optimizer's default.
double learningRate(StringRef optimizer) {
  if (optLr.getNumOccurrences())
    return optLr;
  return StringRef(optimizer).starts_with("adam") ? 1e-3 : 0.01;
}

/// Parses every --input-shape into `import`; false after reporting.
bool parseInputShapes(StringRef command, onnx::ImportOptions &import) {
  for (const std::string &text : optInputShapes) {
    std::string name, error;
    SmallVector<int64_t> shape;
    if (!onnx::parseInputShape(text, name, shape, error)) {
      errs() << "kiln " << command << ": error: --input-shape: " << error
             << "\n";
      return false;
    }
    import.inputShapes[name] = shape;
  }
  return true;
}

//===----------------------------------------------------------------------===//
// kiln compile
//===----------------------------------------------------------------------===//

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
             "  train    with @train_step (loss, gradients, optimizer)\n"
             "  kernels  lowered to loop-nest kernels and library calls\n"
             "  cuda     the kernels as CUDA C++ (one translation unit)"),
    cl::value_desc("STAGE"), cl::sub(compileCommand), cl::cat(kilnCategory));
cl::opt<bool> compileInference(
    "inference",
    cl::desc("Write a forward-only (inference) artifact: no loss, gradients "
             "or optimizer"),
    cl::sub(compileCommand), cl::cat(kilnCategory));
cl::list<std::string> compileDeviceArch(
    "device-arch",
    cl::desc("GPU architectures to precompile the kernels for, e.g. "
             "--device-arch sm_80,sm_90 (with --precompile; default "
             "sm_80,sm_90). compute_XX embeds PTX instead, which the driver "
             "compiles for a GPU of that architecture or newer that has no "
             "cubin: sm_80,sm_90,compute_90 also runs on GPUs newer than "
             "sm_90 without NVRTC"),
    cl::value_desc("sm_XX|compute_XX,..."), cl::CommaSeparated, cl::sub(compileCommand),
    cl::cat(kilnCategory));
cl::opt<bool> compilePrecompile(
    "precompile",
    cl::desc("Compile every kernel with NVRTC for the --device-arch "
             "architectures now, embed the cubins, and fail naming any "
             "kernel that does not compile (NVRTC needs no GPU)"),
    cl::sub(compileCommand), cl::cat(kilnCategory));
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
  options.pipeline.fuse = !optNoFusion;
  options.pipeline.recompute = !optNoRecompute;
  if (!parseInputShapes("compile", options.import))
    return 1;
  if (!compileInference) {
    options.training = trainingOptions("compile");
    if (!options.training)
      return 1;
  }
  if (compileEmit.getNumOccurrences() == 0) {
    if (options.outputPath == "-") {
      errs() << "kiln compile: error: an artifact needs -o OUT.kiln\n";
      return 1;
    }
    options.artifact = true;
  } else if (compileEmit == "mlir") {
    options.emit = Stage::Graph;
  } else if (compileEmit == "train") {
    if (compileInference) {
      errs() << "kiln compile: error: --emit train shows the training step; "
                "it cannot be combined with --inference\n";
      return 1;
    }
    options.emit = Stage::Train;
  } else if (compileEmit == "kernels") {
    options.emit = Stage::Kernels;
  } else if (compileEmit == "cuda") {
    options.emitCuda = true;
  } else {
    errs() << "kiln compile: error: unknown --emit stage '" << compileEmit
           << "' (known: mlir, train, kernels, cuda)\n";
    return 1;
  }
  if (compileDeviceArch.getNumOccurrences() && !compilePrecompile) {
    errs() << "kiln compile: error: --device-arch names the architectures "
              "--precompile compiles for; add --precompile\n";
    return 1;
  }
  if (compilePrecompile) {
    if (!options.artifact) {
      errs() << "kiln compile: error: --precompile embeds cubins in an "
                "artifact; it cannot be combined with --emit\n";
      return 1;
    }
    options.precompileArchs.assign(compileDeviceArch.begin(),
                                   compileDeviceArch.end());
    if (options.precompileArchs.empty())
      options.precompileArchs = {"sm_80", "sm_90"};
    for (const std::string &arch : options.precompileArchs)
      if (runtime::cuda::architectureNumber(arch) < 10) {
        errs() << "kiln compile: error: --device-arch '" << arch
               << "' is not an architecture like sm_80 or sm_90 (a GPU's), "
                  "or compute_90 (PTX, for newer GPUs)\n";
        return 1;
      }
  }
  if (options.training)
    options.learningRate = learningRate(options.training->optimizer);
  return mlir::succeeded(compile(options, context)) ? 0 : 1;
}

//===----------------------------------------------------------------------===//
// kiln run
//===----------------------------------------------------------------------===//

cl::opt<std::string> runModel(cl::Positional, cl::Required,
                              cl::desc("MODEL.kiln"), cl::sub(runCommand),
                              cl::cat(kilnCategory));
cl::opt<std::string>
    runInputs("inputs",
              cl::desc("Safetensors file with one tensor per model input, by "
                       "name (other tensors are ignored)"),
              cl::value_desc("IN.safetensors"), cl::Required,
              cl::sub(runCommand), cl::cat(kilnCategory));
cl::opt<std::string> runCheckpoint(
    "checkpoint",
    cl::desc("Run with the weights of this checkpoint (kiln train's "
             "checkpoint.safetensors)"),
    cl::value_desc("CKPT.safetensors"), cl::sub(runCommand),
    cl::cat(kilnCategory));
cl::opt<std::string> runOutput("o", cl::desc("Where to write the outputs"),
                               cl::value_desc("OUT.safetensors"), cl::Required,
                               cl::sub(runCommand), cl::cat(kilnCategory));

/// The ranks of a data-parallel run (processes started by mpirun), or one
/// process alone (no communicator).
struct Ranks {
  std::unique_ptr<kiln::runtime::Communicator> comm;
  int rank = 0, size = 1;
};
Ranks ranks;

/// Prints a failed runtime status as the driver's error; returns 1. In a
/// data-parallel run the error names the rank and aborts the job on every
/// rank (the others would wait for this one at their next collective).
int reportStatus(StringRef command, kiln_status_t *status) {
  errs() << "kiln " << command;
  if (ranks.comm)
    errs() << " (rank " << ranks.rank << " of " << ranks.size << ")";
  errs() << ": error: " << kiln_status_message(status) << "\n";
  kiln_status_free(status);
  if (ranks.comm) {
    errs().flush();
    ranks.comm->abort(1);
  }
  return 1;
}

/// Joins the ranks mpirun started, if it did; returns the exit status.
int joinRanks(StringRef command) {
  kiln::runtime::Status status =
      kiln::runtime::openCommunicator(optCollectiveTimeout, ranks.comm);
  if (!status.ok())
    return reportStatus(command, status.release());
  if (!ranks.comm)
    return 0;
  ranks.rank = ranks.comm->rank();
  ranks.size = ranks.comm->size();
  // mpirun merges the ranks' stderr: messages leave in whole writes (at a
  // flush or at exit), not piece by piece, so that lines do not interleave.
  errs().SetBuffered();
  // Ranks on one machine share its cores rather than each taking them all.
  kiln::runtime::cpu::shareCores(ranks.comm->localSize());
  if (ranks.rank == 0)
    errs() << "kiln " << command << ": data-parallel over " << ranks.size
           << " ranks, " << ranks.comm->describe() << "\n";
  errs().flush();
  return 0;
}

/// A session for MODEL: the artifact as it is, or the model compiled in
/// memory, for inference or (with `training`) with the training options;
/// `batch`, when positive, fixes a symbolic batch dimension. Returns the exit
/// status, 0 with `session` set.
int openSession(StringRef command, StringRef model, bool training,
                int64_t batch, mlir::MLIRContext &context,
                std::unique_ptr<kiln::runtime::Session> &session) {
  kiln::runtime::SessionOptions device;
  if (!kiln::runtime::parseDevice(trainDevice, device.device)) {
    errs() << "kiln " << command << ": error: unknown --device '"
           << trainDevice << "' (expected auto, cpu or cuda)\n";
    return 1;
  }
  // Data-parallel ranks on one machine take one GPU each.
  device.ordinal = ranks.comm ? ranks.comm->localRank() : 0;
  device.tf32 = optPrecision == "tf32";
  kiln::runtime::Status status;
  if (model.ends_with(".kiln")) {
    status = kiln::runtime::Session::open(model.str(), session, device);
  } else {
    CompileOptions options;
    options.inputPath = model.str();
    options.import.batchSize = batch;
    // kiln step takes its batch from a file: a model with a fixed batch
    // keeps it, and a file of another size is refused by the session,
    // naming the input.
    options.import.batchSizeIfSymbolic = command == "step";
    options.pipeline.fuse = !optNoFusion;
    options.pipeline.recompute = !optNoRecompute;
    if (!parseInputShapes(command, options.import))
      return 1;
    if (training) {
      options.training = trainingOptions(command);
      if (!options.training)
        return 1;
      options.learningRate = learningRate(options.training->optimizer);
    }
    auto program = compileProgram(options, context);
    if (mlir::failed(program))
      return 1; // The compiler reported why.
    // The CUDA backend runs the kernels printed as CUDA C++: printed only
    // where a GPU is usable (else the session says why, and runs on the CPU
    // or fails as --device asks).
    kiln::runtime::DeviceCode code;
    if (device.device != kiln::runtime::Device::Cpu &&
        kiln::runtime::cuda::available().ok()) {
      kiln::codegen::cuda::Module module;
      std::string error;
      if (kiln::codegen::cuda::printModule(program->program.kernels, module,
                                           error))
        code.source = std::move(module.source);
      else if (device.device == kiln::runtime::Device::Cuda)
        return reportStatus(
            command, kiln::runtime::Status(KILN_STATUS_UNIMPLEMENTED,
                                           "--device cuda: " + error)
                         .release());
    }
    status = kiln::runtime::Session::create(std::move(program->program),
                                            std::move(program->init), session,
                                            device, std::move(code));
  }
  if (!status.ok() && device.device == kiln::runtime::Device::Cuda)
    status.annotate("--device cuda");
  if (!status.ok())
    return reportStatus(command, status.release());
  if (!session->fallback().empty() && ranks.rank == 0)
    errs() << "kiln " << command << ": no usable GPU (" << session->fallback()
           << "); running on the CPU\n";
  else if (device.device != kiln::runtime::Device::Cpu && ranks.rank == 0)
    errs() << "kiln " << command << ": running on " << session->device()
           << "\n";
  if (ranks.comm) {
    session->setCommunicator(ranks.comm.get());
    // Each rank compiled on its own; the timeouts count from here.
    status = ranks.comm->barrier("waiting for every rank to load " +
                                 model.str());
    if (!status.ok())
      return reportStatus(command, status.release());
  }
  return 0;
}

int runRun(mlir::MLIRContext &context) {
  std::unique_ptr<kiln::runtime::Session> session;
  if (int rc = openSession("run", runModel, /*training=*/false, 0, context,
                           session))
    return rc;
  kiln::runtime::Status status;
  if (!runCheckpoint.empty())
    status = session->restore(runCheckpoint);
  if (status.ok())
    status = session->runFiles("forward", runInputs, runOutput);
  return status.ok() ? 0 : reportStatus("run", status.release());
}

//===----------------------------------------------------------------------===//
// kiln step, kiln train
//===----------------------------------------------------------------------===//

cl::opt<std::string> stepModel(cl::Positional, cl::Required,
                               cl::desc("MODEL (.onnx or a training .kiln)"),
                               cl::sub(stepCommand), cl::cat(kilnCategory));
cl::opt<std::string> stepInputs(
    "inputs",
    cl::desc("Safetensors file with the batch: one tensor per model input, "
             "by name, and the labels"),
    cl::value_desc("BATCH.safetensors"), cl::Required, cl::sub(stepCommand),
    cl::cat(kilnCategory));
cl::opt<std::string> stepOutput(
    "o",
    cl::desc("Where to write loss, grad.<name> (before the update), "
             "param.<name> (after it) and stat.<name> (BatchNorm running "
             "statistics after the step)"),
    cl::value_desc("OUT.safetensors"), cl::Required, cl::sub(stepCommand),
    cl::cat(kilnCategory));

cl::opt<std::string> trainModel(cl::Positional, cl::Required,
                                cl::desc("MODEL (.onnx or a training .kiln)"),
                                cl::sub(trainCommand), cl::cat(kilnCategory));
cl::opt<std::string> trainData(
    "data",
    cl::desc("fashion-mnist[:DIR] (IDX files, default DIR "
             "/usr/share/datasets/fashion-mnist; its test set is evaluated "
             "after each epoch) or FILE.safetensors (tensors named like the "
             "model's inputs and labels, examples along dimension 0)"),
    cl::value_desc("SET"), cl::init("fashion-mnist"), cl::sub(trainCommand),
    cl::cat(kilnCategory));
cl::opt<std::string> trainTestData(
    "test-data", cl::desc("Safetensors test set, evaluated after each epoch"),
    cl::value_desc("FILE.safetensors"), cl::sub(trainCommand),
    cl::cat(kilnCategory));
cl::opt<int64_t> trainEpochs("epochs", cl::desc("Epochs (default: 1)"),
                             cl::init(1), cl::sub(trainCommand),
                             cl::cat(kilnCategory));
cl::opt<int64_t> trainBatch(
    "batch",
    cl::desc("Batch size: fixes a model's symbolic first input dimension "
             "(default: the model's own batch size)"),
    cl::init(0), cl::sub(trainCommand), cl::cat(kilnCategory));
cl::opt<uint64_t> trainSeed("seed",
                            cl::desc("Seed of the data order and of dropout (default: 0)"),
                            cl::init(0), cl::sub(trainCommand),
                            cl::cat(kilnCategory));
cl::opt<std::string> trainCheckpoint(
    "checkpoint",
    cl::desc("Directory for checkpoint.safetensors (parameters, optimizer "
             "state, step, data order), written atomically after each epoch"),
    cl::value_desc("DIR"), cl::sub(trainCommand), cl::cat(kilnCategory));
cl::opt<int64_t> trainCheckpointEvery(
    "checkpoint-every", cl::desc("Also checkpoint every N steps"),
    cl::value_desc("N"), cl::init(0), cl::sub(trainCommand),
    cl::cat(kilnCategory));
cl::opt<bool> trainResume(
    "resume",
    cl::desc("Continue from the checkpoint in --checkpoint DIR: the result "
             "equals an uninterrupted run"),
    cl::sub(trainCommand), cl::cat(kilnCategory));
cl::opt<int64_t> trainMaxSteps(
    "max-steps",
    cl::desc("Stop after this many steps in all (a resumed run counts the "
             "steps before it)"),
    cl::value_desc("N"), cl::init(-1), cl::sub(trainCommand),
    cl::cat(kilnCategory));
cl::opt<std::string> trainMetrics(
    "metrics", cl::desc("Append per-epoch metrics as JSON lines to FILE"),
    cl::value_desc("FILE.jsonl"), cl::sub(trainCommand),
    cl::cat(kilnCategory));

/// The learning-rate schedule from the options; false after reporting.
bool schedule(StringRef command, const kiln::runtime::Program &program,
              int64_t totalSteps, kiln::runtime::LearningRate &lr) {
  if (!kiln::runtime::LearningRate::parseKind(optSchedule, lr.kind)) {
    errs() << "kiln " << command << ": error: unknown --lr-schedule '"
           << optSchedule << "' (expected constant, warmup or cosine)\n";
    return false;
  }
  lr.base = optLr.getNumOccurrences() ? double(optLr) : program.training->lr;
  lr.warmupSteps = optWarmup;
  lr.totalSteps = totalSteps;
  return true;
}

int runStep(mlir::MLIRContext &context) {
  namespace rt = kiln::runtime;
  if (int rc = joinRanks("step"))
    return rc;
  // The batch first: its rows fix a model's symbolic batch dimension (each
  // rank's share of them, in a data-parallel run).
  rt::SafeTensors batch;
  rt::Status status = rt::SafeTensors::read(stepInputs, batch);
  if (!status.ok())
    return reportStatus("step", status.release());
  int64_t rows = 0;
  if (const rt::TensorView *labels = batch.find(optLabels))
    if (!labels->shape.empty())
      rows = labels->shape[0];
  if (rows % ranks.size) {
    errs() << "kiln step: error: " << stepInputs << " holds a batch of "
           << rows << ", which " << ranks.size
           << " ranks cannot share equally\n";
    return 1;
  }
  std::unique_ptr<rt::Session> session;
  if (int rc = openSession("step", stepModel, /*training=*/true,
                           rows / ranks.size, context, session))
    return rc;
  rt::LearningRate lr;
  if (!schedule("step", session->program(), 1, lr))
    return 1;
  std::unique_ptr<rt::Trainer> trainer;
  status = rt::Trainer::create(*session, lr, trainer);
  // Rank r takes the r-th share of the rows of every tensor the step reads.
  std::vector<rt::HostTensor> inputs, outputs;
  const rt::Program &program = session->program();
  const rt::Entry *entry = program.entry("train_step");
  for (const rt::TensorView &t : batch.tensors()) {
    rt::HostTensor in{t.name, t.dtype, t.shape, t.data, t.bytes};
    if (ranks.comm && entry && !t.shape.empty())
      for (int32_t id : entry->inputs) {
        if (program.buffers[id].name != t.name)
          continue;
        int64_t share = program.buffers[id].shape.empty()
                            ? 0
                            : program.buffers[id].shape[0];
        if (t.shape[0] != share * ranks.size) {
          errs() << "kiln step: error: " << stepInputs << ": '" << t.name
                 << "' has " << t.shape[0] << " rows; " << ranks.size
                 << " ranks of the model's batch " << share << " take "
                 << share * ranks.size << "\n";
          return 1;
        }
        in.shape[0] = share;
        in.bytes = t.bytes / size_t(ranks.size);
        in.data = static_cast<const uint8_t *>(t.data) +
                  in.bytes * size_t(ranks.rank);
      }
    inputs.push_back(in);
  }
  double loss = 0;
  if (status.ok()) {
    status = trainer->step(inputs, outputs, loss);
    if (!status.ok())
      status.annotate(stepInputs);
  }
  // loss and grad.* are the step's outputs; param.* are read back from
  // the parameters' buffers after the update.
  rt::SafeTensorsWriter writer;
  for (const rt::HostTensor &t : outputs)
    if (status.ok())
      status = writer.add(t.name, t.dtype, t.shape, t.data, t.bytes);
  // param.* and, for BatchNorm's running statistics, stat.*: after the step.
  // (A vector's bytes stay where they are when the vector holding it grows.)
  std::vector<std::vector<uint8_t>> copies;
  if (status.ok())
    for (auto [prefix, names] :
         {std::pair("param.", &trainer->info().parameters),
          std::pair("stat.", &trainer->info().statistics)})
      for (const std::string &name : *names) {
        const rt::Buffer *b = session->persistent(name);
        copies.emplace_back(size_t(b->bytes()));
        if (status.ok())
          status = session->read(*b, copies.back().data());
        if (status.ok())
          status = writer.add(prefix + name, b->dtype, b->shape,
                              copies.back().data(), copies.back().size());
      }
  // Every rank ends with the same parameters: rank 0 writes them.
  if (status.ok() && ranks.rank == 0) {
    writer.setMetadata("producer", "kiln step");
    status = writer.write(stepOutput);
  }
  if (!status.ok())
    return reportStatus("step", status.release());
  return 0;
}

int runTrain(mlir::MLIRContext &context) {
  namespace rt = kiln::runtime;
  if (int rc = joinRanks("train"))
    return rc;
  const bool leader = ranks.rank == 0;
  // The data first: a missing data set should not cost a compilation.
  rt::Dataset train, test;
  bool haveTest = false;
  rt::Status status;
  StringRef data = trainData;
  if (data == "fashion-mnist" || data.starts_with("fashion-mnist:")) {
    std::string dir = data.contains(':')
                          ? data.split(':').second.str()
                          : "/usr/share/datasets/fashion-mnist";
    status = rt::loadIdxDataset(dir, /*train=*/true, train);
    if (status.ok())
      status = rt::loadIdxDataset(dir, /*train=*/false, test);
    haveTest = true;
  } else if (data.ends_with(".safetensors")) {
    status = rt::loadSafeTensorsDataset(data.str(), train);
  } else {
    errs() << "kiln train: error: --data '" << data
           << "' is neither fashion-mnist[:DIR] nor a .safetensors file\n";
    return 1;
  }
  if (status.ok() && !trainTestData.empty()) {
    status = rt::loadSafeTensorsDataset(trainTestData, test);
    haveTest = true;
  }
  if (!status.ok())
    return reportStatus("train", status.release());
  if (trainEpochs < 1 || trainBatch < 0) {
    errs() << "kiln train: error: --epochs must be at least 1 and --batch "
              "positive\n";
    return 1;
  }
  if (!trainCheckpoint.empty()) {
    if (std::error_code ec = sys::fs::create_directories(trainCheckpoint)) {
      errs() << "kiln train: error: cannot create " << trainCheckpoint << ": "
             << ec.message() << "\n";
      return 1;
    }
  }
  if (trainDevice == "auto" && leader)
    errs() << "kiln train: no CUDA backend in this build; training on the "
              "CPU\n";
  // --batch is the global batch: each rank compiles for its share.
  if (trainBatch % ranks.size) {
    errs() << "kiln train: error: --batch " << trainBatch << " cannot be "
           << "shared equally by " << ranks.size << " ranks\n";
    return 1;
  }

  std::unique_ptr<rt::Session> session;
  if (int rc = openSession("train", trainModel, /*training=*/true,
                           trainBatch / ranks.size, context, session))
    return rc;
  const rt::Program &program = session->program();
  if (!program.training) {
    errs() << "kiln train: error: " << trainModel
           << " has no training step (it was compiled with --inference)\n";
    return 1;
  }
  int64_t batch = 0;
  for (int32_t id : program.entry("train_step")->inputs)
    if (!program.buffers[id].shape.empty())
      batch = program.buffers[id].shape[0];
  if (trainBatch > 0 && batch * ranks.size != trainBatch) {
    errs() << "kiln train: error: " << trainModel << " takes batches of "
           << batch << " per process; --batch " << trainBatch << " over "
           << ranks.size << " rank(s) would need " << trainBatch / ranks.size
           << " (recompile it, or leave --batch out)\n";
    return 1;
  }
  batch *= ranks.size; // The global batch, from here on.
  rt::LearningRate lr;
  if (!schedule("train", program,
                trainEpochs * (train.size() / std::max<int64_t>(1, batch)),
                lr))
    return 1;
  std::unique_ptr<rt::Trainer> trainer;
  status = rt::Trainer::create(*session, lr, trainer);
  if (!status.ok())
    return reportStatus("train", status.release());
  // Dropout: each rank draws its own masks (as each DDP process does from
  // its own generator state); rank 0 draws the single-process ones.
  trainer->setSeed(trainSeed + uint64_t(ranks.rank) * 0x9E3779B97F4A7C15ull);

  rt::TrainLoopOptions options;
  options.epochs = trainEpochs;
  options.maxSteps = trainMaxSteps;
  options.seed = trainSeed;
  options.checkpointDir = trainCheckpoint;
  options.checkpointEvery = trainCheckpointEvery;
  options.resume = trainResume;
  options.metricsPath = leader ? std::string(trainMetrics) : std::string();
  options.progress = leader && isatty(fileno(stderr)) ? stderr : nullptr;
  options.log = leader ? stdout : nullptr;
  size_t params = 0;
  for (const std::string &name : program.training->parameters) {
    const rt::Buffer *b = session->persistent(name);
    size_t n = 1;
    for (int64_t d : b->shape)
      n *= size_t(d);
    params += n;
  }
  if (leader) {
    outs() << "training " << trainModel << ": " << params
           << " parameters in " << program.training->parameters.size()
           << " tensors, " << program.training->optimizer << " lr "
           << format("%g", lr.base) << ", " << train.size()
           << " examples, batch " << batch;
    if (ranks.comm)
      outs() << " (" << ranks.size << " ranks x " << batch / ranks.size
             << ")";
    outs() << ", " << trainEpochs << " epoch(s)\n";
    outs().flush();
  }
  rt::TrainLoopResult result;
  status = rt::trainLoop(*session, *trainer, train, haveTest ? &test : nullptr,
                         options, result);
  if (!status.ok())
    return reportStatus("train", status.release());
  if (!leader)
    return 0;
  outs() << "trained " << result.steps << " steps in "
         << format("%.1f", result.seconds) << " s";
  if (result.testAccuracy >= 0)
    outs() << "; final test accuracy " << format("%.2f", 100 * result.testAccuracy)
           << "%";
  else if (result.testLoss >= 0)
    outs() << "; final test loss " << format("%.6f", result.testLoss);
  outs() << "\n";
  return 0;
}

//===----------------------------------------------------------------------===//
// kiln export
//===----------------------------------------------------------------------===//

cl::SubCommand exportCommand(
    "export", "Write the forward ONNX model with the weights of a checkpoint");
cl::opt<std::string> exportModel_(
    cl::Positional, cl::Required,
    cl::desc("MODEL (a training .kiln, or the .onnx it was compiled from)"),
    cl::sub(exportCommand), cl::cat(kilnCategory));
cl::opt<std::string> exportCheckpoint(
    "checkpoint", cl::desc("The trained weights (kiln train's checkpoint)"),
    cl::value_desc("CKPT.safetensors"), cl::Required, cl::sub(exportCommand),
    cl::cat(kilnCategory));
cl::opt<std::string> exportOutput("o", cl::desc("Where to write the model"),
                                  cl::value_desc("OUT.onnx"), cl::Required,
                                  cl::sub(exportCommand),
                                  cl::cat(kilnCategory));

int runExport(mlir::MLIRContext &) {
  if (Error e = exportModel(exportModel_, exportCheckpoint, exportOutput)) {
    errs() << "kiln export: error: " << toString(std::move(e)) << "\n";
    return 1;
  }
  return 0;
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
                            {&stepCommand, runStep},
                            {&trainCommand, runTrain},
                            {&exportCommand, runExport},
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
/// files, their nodes and initializers), "file: the kernel of node 'x'
/// (Add), node 'y' (Mul): " for a kernel fused from such nodes; "" for
/// anything else.
std::string describePlace(mlir::Location loc) {
  if (auto fused = dyn_cast<mlir::FusedLoc>(loc)) {
    std::string file;
    SmallVector<std::string> nodes;
    std::function<bool(mlir::Location)> collect = [&](mlir::Location l) {
      if (auto inner = dyn_cast<mlir::FusedLoc>(l))
        return llvm::all_of(inner.getLocations(), collect);
      std::string place = describePlace(l);
      if (place.empty())
        return false;
      auto name = dyn_cast<mlir::NameLoc>(l);
      auto at = cast<mlir::FileLineColLoc>(name ? name.getChildLoc() : l);
      file = at.getFilename().str();
      if (name && !llvm::is_contained(nodes, name.getName().str()))
        nodes.push_back(name.getName().str());
      return true;
    };
    if (!llvm::all_of(fused.getLocations(), collect) || file.empty())
      return "";
    if (nodes.size() <= 1)
      return file + ": " + (nodes.empty() ? "" : nodes[0] + ": ");
    constexpr size_t kShown = 4;
    std::string label = file + ": the kernel of ";
    for (size_t i = 0; i < std::min(nodes.size(), kShown); ++i)
      label += (i ? ", " : "") + nodes[i];
    if (nodes.size() > kShown)
      label += " and " + std::to_string(nodes.size() - kShown) + " more";
    return label + ": ";
  }
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
          "  kiln compile MODEL -o OUT.kiln [training options]\n"
          "  kiln compile MODEL --inference -o OUT.kiln\n"
          "  kiln compile MODEL --emit mlir|train|kernels|cuda [-o OUT]\n"
          "  kiln compile MODEL -o OUT.kiln --precompile --device-arch sm_80,sm_90\n"
          "  kiln run MODEL --inputs IN.safetensors -o OUT.safetensors\n"
          "  kiln step MODEL --inputs BATCH.safetensors -o OUT.safetensors\n"
          "  kiln train MODEL --data fashion-mnist --epochs N [--batch B]\n"
          "  mpirun -np R kiln train|step ...   (data-parallel over R ranks;\n"
          "      --batch is the global batch, see --bucket-mb,\n"
          "      --sync-batchnorm, --collective-timeout)\n"
          "  kiln export MODEL.kiln --checkpoint CKPT -o trained.onnx\n"
          "  kiln inspect MODEL.kiln [--json]\n\n"
          "Training options: --loss, --optimizer, --lr, --lr-schedule, ...\n"
          "(see kiln compile --help). kiln train and kiln step run on the\n"
          "GPU when there is one (--device auto|cpu|cuda); an ONNX op kiln\n"
          "cannot compile yet is an error naming its node.\n"
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
