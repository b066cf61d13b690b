//===- Pipeline.h - the compiler's pass pipelines -------------------------===//
#ifndef KILN_COMPILER_PIPELINE_H
#define KILN_COMPILER_PIPELINE_H

#include "mlir/Pass/PassManager.h"

#include <string>
#include <vector>

namespace kiln {

/// The pipelines `kiln compile --emit` can stop after, in order.
enum class Stage {
  /// Import, shape inference, canonicalization, CSE: the graph as the
  /// compiler understands it, every size static.
  Graph,
  /// The graph with @train_step built from @forward (loss, gradients,
  /// optimizer), shapes inferred, canonicalized: training artifacts only.
  Train,
  /// The graph lowered to loop-nest kernels (linalg.generic) and library
  /// ops: what the code generator turns into the runtime's program.
  Kernels,
};

/// Options shared by every pipeline.
struct PipelineOptions {
  /// Fail when a size is still unknown after shape inference.
  bool requireStaticShapes = true;
  /// Fuse kernels (kiln-fuse-elementwise); off only to compare with.
  bool fuse = true;
  /// Recompute cheap activations in the backward rather than keep them
  /// from the forward (kiln-rematerialize): less memory at the step's peak
  /// for a little more traffic.
  bool recompute = true;
};

/// What `kiln-build-train-step` builds (see passes/autodiff/Passes.td).
struct TrainingOptions {
  std::string loss = "cross_entropy";
  std::string labels = "labels";
  std::string optimizer = "adamw";
  double momentum = 0.9, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weightDecay = -1; ///< Negative: the optimizer's PyTorch default.
  double gradClip = 0;
  std::vector<std::string> freeze;
  /// Data-parallel gradient buckets (kiln-all-reduce-gradients), megabytes.
  double bucketMb = 25;
  /// BatchNorm statistics across data-parallel ranks.
  bool syncBatchNorm = false;
};

/// Appends the passes from `Stage::Graph` to `Stage::Train`.
void buildTrainPipeline(mlir::OpPassManager &pm,
                        const TrainingOptions &options);

/// Appends the passes that bring freshly imported IR to `Stage::Graph`:
/// kiln-shape-infer, canonicalize, cse.
void buildGraphPipeline(mlir::OpPassManager &pm,
                        const PipelineOptions &options = {});

/// Appends the passes from `Stage::Graph` (or `Stage::Train`) to
/// `Stage::Kernels`: lowering, CSE, and (unless `options.fuse` is off)
/// fusion.
void buildKernelPipeline(mlir::OpPassManager &pm,
                         const PipelineOptions &options = {});

/// Registers the pipelines above for kiln-opt (`--kiln-graph-pipeline`).
void registerPipelines();

} // namespace kiln

#endif // KILN_COMPILER_PIPELINE_H
