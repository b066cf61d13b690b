// RUN: kiln-opt %s --kiln-build-train-step="optimizer=sgd sync-batchnorm=true" | FileCheck %s

// SyncBatchNorm: the batch statistics of all data-parallel ranks. The mean
// of each rank's mean, then the mean of each rank's variance around it
// (kiln.all_reduce, bucket -1: collectives of the step itself); the running
// variance unbiased with the count summed over ranks (8 here, alone). The
// backward pass goes back through the collectives (their gradient is the
// same collective), so w, before the normalization, gets the gradient of
// the whole batch.
// CHECK-LABEL: func.func @train_step(
// CHECK-NOT: kiln.batch_norm_train
// CHECK: %[[M:.*]] = kiln.reduce_mean %[[H:.*]] {axes = array<i64: 0>} : (tensor<8x2xf32>) -> tensor<1x2xf32>
// CHECK-NEXT: %[[MEAN:.*]] = kiln.all_reduce %[[M]] {bucket = -1 : i64} : (tensor<1x2xf32>) -> tensor<1x2xf32>
// CHECK-NEXT: %[[C:.*]] = kiln.sub %[[H]], %[[MEAN]]
// CHECK-NEXT: %[[SQ:.*]] = kiln.mul %[[C]], %[[C]]
// CHECK-NEXT: %[[V:.*]] = kiln.reduce_mean %[[SQ]] {axes = array<i64: 0>}
// CHECK-NEXT: %[[VAR:.*]] = kiln.all_reduce %[[V]] {bucket = -1 : i64}
// CHECK: %[[N:.*]] = kiln.constant dense<8.000000e+00> : tensor<f32>
// CHECK-NEXT: kiln.all_reduce %[[N]] {bucket = -1 : i64, reduction = "sum"} : (tensor<f32>) -> tensor<f32>
// The backward: two more collectives, on the cotangents of the statistics.
// CHECK: kiln.all_reduce %{{.*}} {bucket = -1 : i64} : (tensor<1x2xf32>) -> tensor<1x2xf32>
// CHECK: kiln.all_reduce %{{.*}} {bucket = -1 : i64} : (tensor<1x2xf32>) -> tensor<1x2xf32>
// CHECK-NOT: kiln.all_reduce
// CHECK: return
func.func @forward(%x: tensor<8x2xf32>) -> tensor<8x2xf32> {
  %w = kiln.initializer "w" = dense<0.5> : tensor<8x2xf32>
  %g = kiln.initializer "g" = dense<1.0> : tensor<2xf32>
  %b = kiln.initializer "b" = dense<0.0> : tensor<2xf32>
  %m = kiln.initializer "rm" = dense<0.0> : tensor<2xf32>
  %v = kiln.initializer "rv" = dense<1.0> : tensor<2xf32>
  %h = kiln.mul %x, %w : (tensor<8x2xf32>, tensor<8x2xf32>) -> tensor<8x2xf32>
  %0 = kiln.batch_norm %h, %g, %b, %m, %v : (tensor<8x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<8x2xf32>
  return %0 : tensor<8x2xf32>
}
