// RUN: kiln-opt %s --split-input-file --kiln-build-train-step | FileCheck %s
// RUN: kiln-opt %s --split-input-file --kiln-build-train-step="optimizer=sgd loss=mse" | FileCheck %s --check-prefix=SGD

// The default: cross-entropy on the first result, AdamW. @forward stays;
// @train_step gets labels and the step's scalars as arguments and returns
// the loss, each parameter's gradient and every write-back.
// CHECK: module attributes {kiln.training = {{.*}}optimizer = "adamw", parameters = ["w"], state = ["optimizer.w.exp_avg", "optimizer.w.exp_avg_sq"]{{.*}}weight_decay = 1.000000e-02
// CHECK-LABEL: func.func @forward(
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[X:.*]]: tensor<4x3xf32> {kiln.name = "x"}
// CHECK-SAME: %[[LABELS:.*]]: tensor<4xi64> {kiln.name = "labels"}
// CHECK-SAME: %[[LR:.*]]: tensor<f32> {kiln.name = "kiln.lr"}
// CHECK-SAME: {kiln.name = "kiln.bias_correction1"}
// CHECK-SAME: {kiln.name = "kiln.bias_correction2_sqrt"}
// CHECK-SAME: -> (tensor<f32> {kiln.name = "loss"}, tensor<3x2xf32> {kiln.name = "grad.w"},
// CHECK-SAME: {kiln.name = "optimizer.w.exp_avg", kiln.update = "optimizer.w.exp_avg"}
// CHECK-SAME: {kiln.name = "optimizer.w.exp_avg_sq", kiln.update = "optimizer.w.exp_avg_sq"}
// CHECK-SAME: {kiln.name = "w", kiln.update = "w"})
// The loss: log-softmax, a one-hot mask of the labels, the mean.
// CHECK: %[[LOGP:.*]] = kiln.log_softmax
// CHECK: kiln.equal
// CHECK: kiln.reduce_sum {{.*}}keepdims = false
// The gradient of w is x^T times the logits' gradient.
// CHECK: %[[XT:.*]] = kiln.transpose %[[X]] {perm = array<i64: 1, 0>}
// CHECK: %[[DW:.*]] = kiln.matmul %[[XT]], %{{.*}} : (tensor<3x4xf32>, tensor<4x2xf32>) -> tensor<3x2xf32>
// CHECK: kiln.initializer "optimizer.w.exp_avg" = dense<0.000000e+00> : tensor<3x2xf32>
// CHECK: kiln.sqrt
// CHECK: return %{{.*}}, %[[DW]],

// SGD with mse: labels shaped like the output, no optimizer state, p - lr g.
// SGD-LABEL: func.func @train_step(
// SGD-SAME: %{{.*}}: tensor<4x2xf32> {kiln.name = "labels"}
// SGD-SAME: {kiln.name = "kiln.lr"}) -> (tensor<f32> {kiln.name = "loss"}, tensor<3x2xf32> {kiln.name = "grad.w"}, tensor<3x2xf32> {kiln.name = "w", kiln.update = "w"})
// SGD: %[[STEP:.*]] = kiln.mul %{{.*}}, %[[G:.*]] : (tensor<f32>, tensor<3x2xf32>)
// SGD: %[[NEW:.*]] = kiln.sub %{{.*}}, %[[STEP]]
// SGD: return {{.*}}%[[NEW]]
func.func @forward(%x: tensor<4x3xf32> {kiln.name = "x"}) -> tensor<4x2xf32> {
  %w = kiln.initializer "w" = dense<0.5> : tensor<3x2xf32>
  %0 = kiln.matmul %x, %w : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

// BatchNorm: the training form in @train_step, running statistics (never
// trainable) updated as PyTorch does: 0.9 kept (ONNX's momentum), 0.1 of the
// batch's, the variance unbiased (8 / 7 for 8 values per channel).
// CHECK: module attributes {kiln.training = {{.*}}parameters = ["g", "b"]{{.*}}statistics = ["rm", "rv"]
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: {kiln.name = "rm", kiln.update = "rm"}
// CHECK-SAME: {kiln.name = "rv", kiln.update = "rv"}
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = kiln.batch_norm_train
// CHECK-DAG: kiln.constant dense<0.114285715> : tensor<f32>
// CHECK-DAG: kiln.constant dense<0.899999976> : tensor<f32>
func.func @forward(%x: tensor<8x2xf32>) -> tensor<8x2xf32> {
  %g = kiln.initializer "g" = dense<1.0> : tensor<2xf32>
  %b = kiln.initializer "b" = dense<0.0> : tensor<2xf32>
  %m = kiln.initializer "rm" = dense<0.0> : tensor<2xf32>
  %v = kiln.initializer "rv" = dense<1.0> : tensor<2xf32>
  %0 = kiln.batch_norm %x, %g, %b, %m, %v : (tensor<8x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<8x2xf32>
  return %0 : tensor<8x2xf32>
}

// -----

// Dropout: the training form, one stream per op, seeded by a new argument
// that the runtime sets each step; its gradient is the same dropout of the
// gradient (the same mask).
// CHECK-LABEL: func.func @forward(
// CHECK: kiln.dropout %{{.*}} {ratio = 5.000000e-01 : f64}
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[SEED:[^:]*]]: tensor<i64> {kiln.name = "kiln.seed"}
// CHECK: kiln.dropout_train %{{.*}}, %[[SEED]] {ratio = 5.000000e-01 : f64, stream = 0 : i64}
// CHECK: kiln.dropout_train %{{.*}}, %[[SEED]] {ratio = 2.500000e-01 : f64, stream = 1 : i64}
// CHECK: kiln.dropout_train %{{.*}}, %[[SEED]] {ratio = 2.500000e-01 : f64, stream = 1 : i64}
// CHECK: kiln.dropout_train %{{.*}}, %[[SEED]] {ratio = 5.000000e-01 : f64, stream = 0 : i64}
func.func @forward(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %w = kiln.initializer "w" = dense<0.5> : tensor<4x3xf32>
  %0 = kiln.mul %x, %w : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  %1 = kiln.dropout %0 {ratio = 0.5 : f64} : (tensor<4x3xf32>) -> tensor<4x3xf32>
  %2 = kiln.mul %1, %w : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  %3 = kiln.dropout %2 {ratio = 0.25 : f64} : (tensor<4x3xf32>) -> tensor<4x3xf32>
  return %3 : tensor<4x3xf32>
}

// -----

// The model's own random draws (in-place dropout as the dynamo exporter
// writes it: RandomUniformLike < 1 - p) take the step's seed and streams
// after the dropouts'; one with an ONNX seed keeps it (the same values
// every step). The forward function's draws are left as they are.
// CHECK-LABEL: func.func @forward(
// CHECK: kiln.random_uniform {dtype = f32, shape = array<i64: 4, 3>} : () -> tensor<4x3xf32>
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[SEED:[^:]*]]: tensor<i64> {kiln.name = "kiln.seed"}
// CHECK: kiln.dropout_train %{{.*}}, %[[SEED]] {ratio = 5.000000e-01 : f64, stream = 0 : i64}
// CHECK: kiln.random_uniform %[[SEED]] {dtype = f32, shape = array<i64: 4, 3>, stream = 1 : i64} : (tensor<i64>) -> tensor<4x3xf32>
// CHECK: kiln.random_uniform {dtype = f32, seed = 7 : i64, shape = array<i64: 4, 3>} : () -> tensor<4x3xf32>
// CHECK: kiln.random_uniform %[[SEED]] {dtype = f32, high = 2.000000e+00 : f64, shape = array<i64: 4, 3>, stream = 2 : i64} : (tensor<i64>) -> tensor<4x3xf32>
func.func @forward(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %w = kiln.initializer "w" = dense<0.5> : tensor<4x3xf32>
  %0 = kiln.mul %x, %w : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  %1 = kiln.dropout %0 {ratio = 0.5 : f64} : (tensor<4x3xf32>) -> tensor<4x3xf32>
  %r = kiln.random_uniform {shape = array<i64: 4, 3>, dtype = f32} : () -> tensor<4x3xf32>
  %2 = kiln.mul %1, %r : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  %s = kiln.random_uniform {shape = array<i64: 4, 3>, dtype = f32, seed = 7} : () -> tensor<4x3xf32>
  %3 = kiln.mul %2, %s : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  %t = kiln.random_uniform {shape = array<i64: 4, 3>, dtype = f32, high = 2.0} : () -> tensor<4x3xf32>
  %4 = kiln.add %3, %t : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  return %4 : tensor<4x3xf32>
}

// -----

// ONNX's momentum (here 0.5) is the share the running statistics keep.
// CHECK-LABEL: func.func @train_step(
// CHECK-DAG: kiln.constant dense<5.000000e-01> : tensor<f32>
// CHECK-DAG: kiln.constant dense<0.571428597> : tensor<f32>
func.func @forward(%x: tensor<8x2xf32>) -> tensor<8x2xf32> {
  %g = kiln.initializer "g" = dense<1.0> : tensor<2xf32>
  %b = kiln.initializer "b" = dense<0.0> : tensor<2xf32>
  %m = kiln.initializer "rm" = dense<0.0> : tensor<2xf32>
  %v = kiln.initializer "rv" = dense<1.0> : tensor<2xf32>
  %0 = kiln.batch_norm %x, %g, %b, %m, %v {momentum = 0.5 : f32} : (tensor<8x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<8x2xf32>
  return %0 : tensor<8x2xf32>
}

// -----

// An embedding's gradient is kiln.embedding_grad over the flattened ids
// and the output's gradient as [ids, width]: no one-hot matrix, no product.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[IDS:[^:]*]]: tensor<2x3xi64> {kiln.name = "ids"}
// CHECK: %[[FLAT:.*]] = kiln.reshape %[[IDS]] {shape = array<i64: 6>} : (tensor<2x3xi64>) -> tensor<6xi64>
// CHECK: %[[DW:.*]] = kiln.embedding_grad %[[FLAT]], %{{.*}} {rows = 10 : i64} : (tensor<6xi64>, tensor<6x4xf32>) -> tensor<10x4xf32>
// CHECK-NOT: kiln.equal
// CHECK: return %{{.*}}, %[[DW]],
func.func @forward(%ids: tensor<2x3xi64> {kiln.name = "ids"}) -> tensor<2x3x4xf32> {
  %w = kiln.initializer "table" = dense<0.5> : tensor<10x4xf32>
  %0 = kiln.gather %w, %ids : (tensor<10x4xf32>, tensor<2x3xi64>) -> tensor<2x3x4xf32>
  return %0 : tensor<2x3x4xf32>
}
