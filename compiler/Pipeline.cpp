//===- Pipeline.cpp - the compiler's pass pipelines -----------------------===//
#include "compiler/Pipeline.h"

#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

namespace kiln {

void buildGraphPipeline(mlir::OpPassManager &pm,
                        const PipelineOptions &options) {
  shape::ShapeInferPassOptions shapeOptions;
  shapeOptions.requireStatic = options.requireStaticShapes;
  mlir::OpPassManager &funcPm = pm.nest<mlir::func::FuncOp>();
  funcPm.addPass(shape::createShapeInferPass(shapeOptions));
  funcPm.addPass(mlir::createCanonicalizerPass());
  funcPm.addPass(mlir::createCSEPass());
}

void buildTrainPipeline(mlir::OpPassManager &pm,
                        const TrainingOptions &options) {
  autodiff::BuildTrainStepPassOptions o;
  o.loss = options.loss;
  o.labels = options.labels;
  o.optimizer = options.optimizer;
  o.momentum = options.momentum;
  o.beta1 = options.beta1;
  o.beta2 = options.beta2;
  o.eps = options.eps;
  o.weightDecay = options.weightDecay;
  o.gradClip = options.gradClip;
  o.freeze = options.freeze; // The pass copies the list.
  o.syncBatchNorm = options.syncBatchNorm;
  pm.addPass(autodiff::createBuildTrainStepPass(o));
  buildGraphPipeline(pm);
  // After CSE, so that the buckets follow the final order of the backward.
  autodiff::AllReduceGradientsPassOptions r;
  r.bucketMb = options.bucketMb;
  pm.addPass(autodiff::createAllReduceGradientsPass(r));
}

void buildKernelPipeline(mlir::OpPassManager &pm,
                         const PipelineOptions &options) {
  mlir::OpPassManager &funcPm = pm.nest<mlir::func::FuncOp>();
  if (options.fuse) {
    funcPm.addPass(fusion::createFoldGemmTransposesPass());
    funcPm.addPass(fusion::createFuseGemmEpiloguePass());
  }
  funcPm.addPass(lowering::createLowerToLinalgPass());
  funcPm.addPass(mlir::createCSEPass());
  // After CSE, which would merge the copies back into the originals.
  if (options.recompute)
    funcPm.addPass(fusion::createRematerializePass());
  if (options.fuse)
    funcPm.addPass(fusion::createFuseElementwisePass());
  funcPm.addPass(fusion::createScheduleKernelsPass());
}

namespace {
struct GraphPipelineOptions : mlir::PassPipelineOptions<GraphPipelineOptions> {
  Option<bool> requireStatic{
      *this, "require-static",
      llvm::cl::desc("Fail when a size is still unknown after shape inference"),
      llvm::cl::init(true)};
};
} // namespace

void registerPipelines() {
  mlir::PassPipelineRegistration<GraphPipelineOptions>(
      "kiln-graph-pipeline",
      "Bring imported kiln IR to the graph stage: kiln-shape-infer, "
      "canonicalize, cse (what `kiln compile --emit mlir` prints)",
      [](mlir::OpPassManager &pm, const GraphPipelineOptions &options) {
        buildGraphPipeline(pm, {options.requireStatic});
      });
}

} // namespace kiln
