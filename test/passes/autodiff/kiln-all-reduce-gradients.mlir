// RUN: kiln-opt %s --split-input-file --kiln-all-reduce-gradients | FileCheck %s
// RUN: kiln-opt %s --split-input-file --kiln-all-reduce-gradients=bucket-mb=0 | FileCheck %s --check-prefix=SPLIT
// Collectives are never merged or dropped: CSE keeps every bucket.
// RUN: kiln-opt %s --split-input-file --kiln-all-reduce-gradients=bucket-mb=0 --cse | FileCheck %s --check-prefix=SPLIT

// A step as kiln-build-train-step leaves it: the loss, the gradients, the
// optimizer reading them. Each gradient is first computed as early as its
// operands allow (dW2 right after the activation it needs, before dB2),
// then the values go into buckets in that order: one bucket (25 MB by
// default), after the last gradient; the optimizer and the results read
// the averages.
// CHECK-LABEL: func.func @train_step(
// CHECK: %[[LOSS:.*]] = kiln.reduce_mean
// CHECK: %[[DW2:.*]] = kiln.matmul {{.*}} -> tensor<5x2xf32>
// CHECK: %[[DB2:.*]] = kiln.reduce_sum
// CHECK: %[[DW1:.*]] = kiln.matmul {{.*}} -> tensor<3x5xf32>
// CHECK-NEXT: %[[R:.*]]:4 = kiln.all_reduce %[[LOSS]], %[[DW2]], %[[DB2]], %[[DW1]] {bucket = 0 : i64}
// CHECK: kiln.mul %{{.*}}, %[[R]]#3
// CHECK: kiln.mul %{{.*}}, %[[R]]#1
// CHECK: kiln.mul %{{.*}}, %[[R]]#2
// CHECK: return %[[R]]#0, %[[R]]#3, %[[R]]#1, %[[R]]#2,

// bucket-mb=0: a bucket per value, each issued as soon as its value is
// final, so that communication overlaps the rest of the backward pass.
// SPLIT-LABEL: func.func @train_step(
// SPLIT: %[[LOSS:.*]] = kiln.reduce_mean
// SPLIT-NEXT: kiln.all_reduce %[[LOSS]] {bucket = 0 : i64
// SPLIT: %[[DW2:.*]] = kiln.matmul {{.*}} -> tensor<5x2xf32>
// SPLIT-NEXT: kiln.all_reduce %[[DW2]] {bucket = 1 : i64
// SPLIT: %[[DB2:.*]] = kiln.reduce_sum
// SPLIT-NEXT: kiln.all_reduce %[[DB2]] {bucket = 2 : i64
// SPLIT: %[[DW1:.*]] = kiln.matmul {{.*}} -> tensor<3x5xf32>
// SPLIT-NEXT: kiln.all_reduce %[[DW1]] {bucket = 3 : i64
func.func @train_step(%x: tensor<4x3xf32>, %dy: tensor<4x2xf32>, %lr: tensor<f32>)
    -> (tensor<f32> {kiln.name = "loss"}, tensor<3x5xf32> {kiln.name = "grad.w1"},
        tensor<5x2xf32> {kiln.name = "grad.w2"}, tensor<2xf32> {kiln.name = "grad.b2"},
        tensor<3x5xf32> {kiln.name = "w1", kiln.update = "w1"},
        tensor<5x2xf32> {kiln.name = "w2", kiln.update = "w2"},
        tensor<2xf32> {kiln.name = "b2", kiln.update = "b2"}) {
  %w1 = kiln.initializer "w1" = dense<0.5> : tensor<3x5xf32>
  %w2 = kiln.initializer "w2" = dense<0.25> : tensor<5x2xf32>
  %b2 = kiln.initializer "b2" = dense<0.0> : tensor<2xf32>
  %h = kiln.matmul %x, %w1 : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
  %loss = kiln.reduce_mean %h {axes = array<i64: 0, 1>, keepdims = false} : (tensor<4x5xf32>) -> tensor<f32>
  %db2 = kiln.reduce_sum %dy {axes = array<i64: 0>, keepdims = false} : (tensor<4x2xf32>) -> tensor<2xf32>
  %ht = kiln.transpose %h {perm = array<i64: 1, 0>} : (tensor<4x5xf32>) -> tensor<5x4xf32>
  %dw2 = kiln.matmul %ht, %dy : (tensor<5x4xf32>, tensor<4x2xf32>) -> tensor<5x2xf32>
  %w2t = kiln.transpose %w2 {perm = array<i64: 1, 0>} : (tensor<5x2xf32>) -> tensor<2x5xf32>
  %dh = kiln.matmul %dy, %w2t : (tensor<4x2xf32>, tensor<2x5xf32>) -> tensor<4x5xf32>
  %xt = kiln.transpose %x {perm = array<i64: 1, 0>} : (tensor<4x3xf32>) -> tensor<3x4xf32>
  %dw1 = kiln.matmul %xt, %dh : (tensor<3x4xf32>, tensor<4x5xf32>) -> tensor<3x5xf32>
  %s1 = kiln.mul %lr, %dw1 : (tensor<f32>, tensor<3x5xf32>) -> tensor<3x5xf32>
  %n1 = kiln.sub %w1, %s1 : (tensor<3x5xf32>, tensor<3x5xf32>) -> tensor<3x5xf32>
  %s2 = kiln.mul %lr, %dw2 : (tensor<f32>, tensor<5x2xf32>) -> tensor<5x2xf32>
  %n2 = kiln.sub %w2, %s2 : (tensor<5x2xf32>, tensor<5x2xf32>) -> tensor<5x2xf32>
  %s3 = kiln.mul %lr, %db2 : (tensor<f32>, tensor<2xf32>) -> tensor<2xf32>
  %n3 = kiln.sub %b2, %s3 : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  return %loss, %dw1, %dw2, %db2, %n1, %n2, %n3 : tensor<f32>, tensor<3x5xf32>, tensor<5x2xf32>, tensor<2xf32>, tensor<3x5xf32>, tensor<5x2xf32>, tensor<2xf32>
}

// -----

// A gradient that is also a cotangent of the backward pass (b's gradient is
// dh itself, from which w's is computed): the backward keeps this rank's
// value, the optimizer and the result read the average. Values of two
// element types go to two buckets; a value returned twice is reduced once.
// CHECK-LABEL: func.func @train_step(
// CHECK: %[[DH:.*]] = kiln.mul %{{.*}}, %{{.*}} : (tensor<4xf32>, tensor<4xf32>)
// CHECK: %[[DW:.*]] = kiln.mul %[[DH]], %{{.*}} : (tensor<4xf32>, tensor<4xf32>)
// CHECK-NEXT: %[[R:.*]]:2 = kiln.all_reduce %[[DH]], %[[DW]] {bucket = 0 : i64
// CHECK: %[[D64:.*]] = kiln.cast
// CHECK-NEXT: %[[R64:.*]] = kiln.all_reduce %[[D64]] {bucket = 1 : i64
// CHECK: kiln.sub %{{.*}}, %[[R]]#0
// CHECK: return %[[R]]#1, %[[R]]#0, %[[R]]#0, %[[R64]], %{{.*}} :
func.func @train_step(%x: tensor<4xf32>, %g: tensor<4xf32>)
    -> (tensor<4xf32> {kiln.name = "grad.w"}, tensor<4xf32> {kiln.name = "grad.b"},
        tensor<4xf32> {kiln.name = "grad.c"}, tensor<4xf64> {kiln.name = "grad.d"},
        tensor<4xf32> {kiln.name = "b", kiln.update = "b"}) {
  %b = kiln.initializer "b" = dense<0.0> : tensor<4xf32>
  %dh = kiln.mul %g, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %dw = kiln.mul %dh, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %d64 = kiln.cast %dw {to = f64} : (tensor<4xf32>) -> tensor<4xf64>
  %nb = kiln.sub %b, %dh : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %dw, %dh, %dh, %d64, %nb : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf64>, tensor<4xf32>
}

// -----

// A weight the model uses transposed: autodiff ends its gradient with a
// transpose where the reverse sweep reached W^T's use, at the end. Moved up
// to right after the gradient it transposes, its bucket starts there.
// SPLIT-LABEL: func.func @train_step(
// SPLIT: %[[DWT:.*]] = kiln.matmul {{.*}} -> tensor<3x5xf32>
// SPLIT-NEXT: %[[DW:.*]] = kiln.transpose %[[DWT]]
// SPLIT-NEXT: kiln.all_reduce %[[DW]] {bucket = 0 : i64
// SPLIT: kiln.exp
func.func @train_step(%x: tensor<4x3xf32>, %dy: tensor<4x5xf32>, %z: tensor<4x5xf32>)
    -> (tensor<5x3xf32> {kiln.name = "grad.w"}, tensor<4x5xf32>) {
  %w = kiln.initializer "w" = dense<0.5> : tensor<5x3xf32>
  %xt = kiln.transpose %x {perm = array<i64: 1, 0>} : (tensor<4x3xf32>) -> tensor<3x4xf32>
  %dwt = kiln.matmul %xt, %dy : (tensor<3x4xf32>, tensor<4x5xf32>) -> tensor<3x5xf32>
  %other = kiln.exp %z : (tensor<4x5xf32>) -> tensor<4x5xf32>
  %dw = kiln.transpose %dwt {perm = array<i64: 1, 0>} : (tensor<3x5xf32>) -> tensor<5x3xf32>
  return %dw, %other : tensor<5x3xf32>, tensor<4x5xf32>
}
