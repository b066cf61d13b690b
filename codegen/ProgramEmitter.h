//===- ProgramEmitter.h - kernel-level IR to the runtime's program --------===//
//
// Turns a function of linalg.generic kernels, library ops (kiln.gemm,
// kiln.matmul), views (kiln.reshape) and data (kiln.initializer,
// kiln.constant) into the runtime's Program: buffers with a memory plan,
// kernel descriptions, steps. The artifact format is the runtime's; this is
// the only writer of it in the compiler.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_CODEGEN_PROGRAMEMITTER_H
#define KILN_CODEGEN_PROGRAMEMITTER_H

#include "runtime/src/program.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include <optional>
#include <vector>

namespace kiln::codegen {

struct EmittedProgram {
  runtime::Program program;
  std::vector<uint8_t>
      init; ///< The arena's init region (parameters, constants).
  /// More artifact sections (the source ONNX model that `kiln export`
  /// writes trained weights into).
  std::vector<std::pair<std::string, std::vector<uint8_t>>> extraSections;
};

/// How the emitter shapes the program beyond what the IR says.
struct EmitOptions {
  /// Consecutive independent kernels with one elementwise body (the
  /// optimizer's update of each parameter) become one multi-tensor launch:
  /// a segmented kernel over flat views, each tensor a segment.
  bool multiTensor = true;
};

/// The runtime element type for an MLIR element type (index is stored as
/// I64), or nullopt where the runtime has none.
std::optional<runtime::DType> dtypeOf(mlir::Type t);

/// Emits `func` as the program's entry `entry`. Reports what it cannot
/// express as located errors and fails.
mlir::FailureOr<EmittedProgram> emitProgram(mlir::func::FuncOp func,
                                            llvm::StringRef entry);

/// Emits several functions as entries of one program; initializers of the
/// same name share one persistent buffer, and a result marked
/// `kiln.update = "<initializer>"` is written back to that buffer.
mlir::FailureOr<EmittedProgram>
emitProgram(llvm::ArrayRef<std::pair<mlir::func::FuncOp, std::string>> functions,
            const EmitOptions &options = {});

/// Emits a module: @forward as "forward" and, when there is one, @train_step
/// as "train_step" with the module's `kiln.training` description.
mlir::FailureOr<EmittedProgram> emitModule(mlir::ModuleOp module,
                                           const EmitOptions &options = {});

/// The artifact's bytes for an emitted program.
std::vector<uint8_t> artifactBytes(const EmittedProgram &emitted);

/// Records in `entry` the plan's peak: the step where the values of `sizes`
/// bytes living over `lifetimes` (inclusive) take the most bytes at once,
/// and those values, largest first (what `kiln inspect` shows).
void recordPeak(runtime::Entry &entry, const std::vector<int64_t> &sizes,
                const std::vector<std::pair<int, int>> &lifetimes);

/// Offsets for buffers of `sizes` bytes that live over [first, last] steps
/// (inclusive), 64-byte aligned, reusing space where lifetimes do not
/// overlap (largest first, first fit). Returns the total size in `total`.
std::vector<int64_t>
planMemory(const std::vector<int64_t> &sizes,
           const std::vector<std::pair<int, int>> &lifetimes, int64_t &total);

} // namespace kiln::codegen

#endif // KILN_CODEGEN_PROGRAMEMITTER_H
