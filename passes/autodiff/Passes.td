//===- Passes.td - training-step construction -------------*- tablegen -*-===//
#ifndef KILN_PASSES_AUTODIFF_PASSES_TD
#define KILN_PASSES_AUTODIFF_PASSES_TD

include "mlir/Pass/PassBase.td"

def BuildTrainStepPass : Pass<"kiln-build-train-step", "mlir::ModuleOp"> {
  let summary = "Builds @train_step from @forward: loss, gradients, optimizer update";
  let description = [{
    Clones `@forward` into `@train_step` and, in the clone:

    1. Puts BatchNormalization in training mode: batch statistics, and the
       running statistics updated as PyTorch does (the op's momentum, 0.9
       kept by default as PyTorch's 0.1; the unbiased variance).
    2. Appends the loss on the first result: `cross_entropy` (integer class
       ids over the last axis, mean over all other positions, labels shaped
       like the output without its last dimension) or `mse` (mean squared
       error, labels shaped like the output). The labels are a new argument
       named `labels`.
    3. Differentiates the loss with respect to every trainable parameter (a
       float `kiln.initializer` on a differentiable path to the loss, other
       than BatchNorm running statistics and those matching `freeze`) with the
       ops' gradient rules (DifferentiableOpInterface).
    4. Clips the gradients by their global norm (`grad-clip` > 0) and applies
       the optimizer, as torch.optim does. Optimizer state is new zero
       initializers (`optimizer.<param>.exp_avg`, ...).

    Dropout becomes `kiln.dropout_train` (one random stream per op).

    With `sync-batchnorm`, BatchNorm is built from graph ops instead of
    `kiln.batch_norm_train`: the batch mean and then the variance around it
    are each averaged across data-parallel ranks (`kiln.all_reduce`, bucket
    -1), and the running variance is unbiased with the count of all ranks
    (a `sum` all-reduce of each rank's count), as PyTorch's SyncBatchNorm.
    In one process this computes what the plain training form computes.

    The learning rate (and Adam's bias corrections) are scalar arguments the
    runtime supplies each step (`kiln.lr`, `kiln.bias_correction1`,
    `kiln.bias_correction2_sqrt`), so schedules need no recompilation; with
    dropout, so is the step's random seed (`kiln.seed`).
    `@train_step` returns the loss (`loss`), every parameter's gradient
    (`grad.<name>`), then the new value of every parameter and state buffer,
    each result marked `kiln.update = "<initializer>"`: the code generator
    writes it back to that initializer's storage. The module gets a
    `kiln.training` dictionary describing the step for the runtime.

    ```mlir
    // Before
    func.func @forward(%x: tensor<8x4xf32>) -> tensor<8x3xf32> {
      %w = kiln.initializer "w" = dense<...> : tensor<4x3xf32>
      %y = kiln.matmul %x, %w : (tensor<8x4xf32>, tensor<4x3xf32>) -> tensor<8x3xf32>
      return %y : tensor<8x3xf32>
    }
    // After (sgd), beside @forward
    func.func @train_step(%x: tensor<8x4xf32>, %labels: tensor<8xi64>, %lr: tensor<f32>)
        -> (tensor<f32>, tensor<4x3xf32>, tensor<4x3xf32>) {
      ... log_softmax, one-hot of %labels, mean ...       // the loss
      ... gemm (x^T dlogits) ...                           // the gradient dw
      %new = kiln.sub %w, (lr * dw)
      return %loss, %dw, %new  // %new: {kiln.update = "w"}
    }
    ```
    Errors name the op and ONNX node when the loss depends on a parameter
    through an op without a gradient rule.
  }];
  let dependentDialects = ["::kiln::graph::KilnDialect"];
  let options = [
    Option<"loss", "loss", "std::string", /*default=*/"\"cross_entropy\"",
           "The loss on the first result: cross_entropy or mse">,
    Option<"labels", "labels", "std::string", /*default=*/"\"labels\"",
           "The name of the labels argument">,
    Option<"optimizer", "optimizer", "std::string", /*default=*/"\"adamw\"",
           "sgd, momentum, nesterov, adam or adamw">,
    Option<"momentum", "momentum", "double", /*default=*/"0.9",
           "SGD momentum (momentum and nesterov)">,
    Option<"beta1", "beta1", "double", /*default=*/"0.9", "Adam's beta1">,
    Option<"beta2", "beta2", "double", /*default=*/"0.999", "Adam's beta2">,
    Option<"eps", "eps", "double", /*default=*/"1e-8", "Adam's epsilon">,
    Option<"weightDecay", "weight-decay", "double", /*default=*/"-1",
           "Weight decay (L2 for sgd and adam, decoupled for adamw); "
           "negative: the optimizer's PyTorch default (0.01 for adamw, else 0)">,
    Option<"gradClip", "grad-clip", "double", /*default=*/"0",
           "Clip gradients to this global L2 norm (0: no clipping)">,
    ListOption<"freeze", "freeze", "std::string",
               "Initializers (glob patterns) that stay fixed">,
    Option<"syncBatchNorm", "sync-batchnorm", "bool", /*default=*/"false",
           "BatchNorm statistics over the whole batch of a data-parallel "
           "run (kiln.all_reduce across ranks), as SyncBatchNorm">,
  ];
}

def AllReduceGradientsPass : Pass<"kiln-all-reduce-gradients", "mlir::ModuleOp"> {
  let summary = "Averages the training step's gradients and loss across data-parallel ranks, in buckets";
  let description = [{
    In `@train_step` (as `kiln-build-train-step` leaves it), every gradient
    result (`grad.<name>`) and the loss (`loss`) is replaced, for all its
    users (the optimizer, clipping and the results), by its mean over the
    ranks of a data-parallel run: `kiln.all_reduce` ops, one per *bucket*.

    Each value is first computed as early as its operands allow (its
    defining op, and theirs, moved up: pure ops only). Values are then
    taken in the order they become final (the position of their defining
    op: the loss first, then the gradients in backward order, the last
    layer's first) and grouped into buckets of at most `bucket-mb`
    megabytes (a value larger than that is a bucket of its own; PyTorch
    DDP's `bucket_cap_mb`, 25 by default), one element type per bucket.
    Each bucket's `kiln.all_reduce` is placed right after the op that
    defines its last value, so its communication can overlap the rest of
    the backward pass. A value listed twice (two parameters whose gradients
    CSE merged) is reduced once.

    The step's result is then the gradient of the mean loss over all ranks'
    batches: with equal shares, the single-process gradient of the whole
    batch. In a run of one process the ops compute nothing.

    ```mlir
    // Before
    %dw = kiln.gemm ...
    %db = kiln.reduce_sum ...
    %w1 = kiln.sub %w, (lr * %dw) ...
    return %loss, %dw, %db, ...
    // After (both in one bucket, after %db)
    %db = kiln.reduce_sum ...
    %r:2 = kiln.all_reduce %db, %dw {bucket = 1 : i64, reduction = "mean"} : ...
    %w1 = kiln.sub %w, (lr * %r#1) ...
    return %loss', %r#1, %r#0, ...
    ```
  }];
  let dependentDialects = ["::kiln::graph::KilnDialect"];
  let options = [
    Option<"bucketMb", "bucket-mb", "double", /*default=*/"25",
           "Largest bucket in megabytes (2^20 bytes); 0: one bucket per value">,
  ];
}

#endif // KILN_PASSES_AUTODIFF_PASSES_TD
