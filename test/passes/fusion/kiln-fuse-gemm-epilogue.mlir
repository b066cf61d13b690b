// RUN: kiln-opt %s --split-input-file --kiln-fuse-gemm-epilogue | FileCheck %s

// A ReLU of a GEMM that nothing else reads: the GEMM's epilogue.
// CHECK-LABEL: func.func @folded
// CHECK: %[[Y:.*]] = kiln.gemm %arg0, %arg1, %arg2 {relu = true, trans_b = true} : (tensor<4x3xf32>, tensor<5x3xf32>, tensor<5xf32>) -> tensor<4x5xf32>
// CHECK-NOT: kiln.relu
// CHECK: return %[[Y]]
func.func @folded(%x: tensor<4x3xf32>, %w: tensor<5x3xf32>, %b: tensor<5xf32>) -> tensor<4x5xf32> {
  %0 = kiln.gemm %x, %w, %b {trans_b = true} : (tensor<4x3xf32>, tensor<5x3xf32>, tensor<5xf32>) -> tensor<4x5xf32>
  %1 = kiln.relu %0 : (tensor<4x5xf32>) -> tensor<4x5xf32>
  return %1 : tensor<4x5xf32>
}

// -----

// The pre-activation is read elsewhere too, or it is no GEMM: unchanged.
// CHECK-LABEL: func.func @kept
// CHECK: kiln.gemm %arg0, %arg1 : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
// CHECK: kiln.relu
// CHECK: kiln.matmul
// CHECK: kiln.relu
func.func @kept(%x: tensor<4x3xf32>, %w: tensor<3x5xf32>) -> (tensor<4x5xf32>, tensor<4x5xf32>, tensor<4x5xf32>) {
  %0 = kiln.gemm %x, %w : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
  %1 = kiln.relu %0 : (tensor<4x5xf32>) -> tensor<4x5xf32>
  %2 = kiln.matmul %x, %w : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
  %3 = kiln.relu %2 : (tensor<4x5xf32>) -> tensor<4x5xf32>
  return %0, %1, %3 : tensor<4x5xf32>, tensor<4x5xf32>, tensor<4x5xf32>
}

// -----

// The backward of a Linear + ReLU layer: the GEMM's result through the
// ReLU's gradient (y > 0), and its sum over rows (the bias's gradient), as
// one library call with both results; the comparison goes when nothing
// else reads it.
// CHECK-LABEL: func.func @relu_gradient
// CHECK: %[[DZ:.*]], %[[DB:.*]] = kiln.gemm_relu_grad %arg0, %arg1, %arg2 {trans_b = true} : (tensor<4x3xf32>, tensor<5x3xf32>, tensor<4x5xf32>) -> (tensor<4x5xf32>, tensor<5xf32>)
// CHECK-NEXT: %[[DB2:.*]] = kiln.reshape %[[DB]] {shape = array<i64: 1, 5>} : (tensor<5xf32>) -> tensor<1x5xf32>
// CHECK-NOT: kiln.where
// CHECK-NOT: kiln.greater
// CHECK: return %[[DZ]], %[[DB2]]
func.func @relu_gradient(%dy: tensor<4x3xf32>, %w: tensor<5x3xf32>, %y: tensor<4x5xf32>) -> (tensor<4x5xf32>, tensor<1x5xf32>) {
  %zero = kiln.constant dense<0.0> : tensor<f32>
  %g = kiln.gemm %dy, %w {trans_b = true} : (tensor<4x3xf32>, tensor<5x3xf32>) -> tensor<4x5xf32>
  %p = kiln.greater %y, %zero : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xi1>
  %dz = kiln.where %p, %g, %zero : (tensor<4x5xi1>, tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
  %db = kiln.reduce_sum %dz {axes = array<i64: 0>} : (tensor<4x5xf32>) -> tensor<1x5xf32>
  return %dz, %db : tensor<4x5xf32>, tensor<1x5xf32>
}

// -----

// Not a ReLU's gradient (the comparison is with 1), or the GEMM's result is
// read elsewhere: unchanged.
// CHECK-LABEL: func.func @not_relu_gradient
// CHECK-NOT: kiln.gemm_relu_grad
// CHECK: kiln.where
// CHECK: kiln.where
func.func @not_relu_gradient(%dy: tensor<4x3xf32>, %w: tensor<3x5xf32>, %y: tensor<4x5xf32>) -> (tensor<4x5xf32>, tensor<4x5xf32>, tensor<4x5xf32>) {
  %zero = kiln.constant dense<0.0> : tensor<f32>
  %one = kiln.constant dense<1.0> : tensor<f32>
  %g = kiln.gemm %dy, %w : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
  %p = kiln.greater %y, %one : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xi1>
  %a = kiln.where %p, %g, %zero : (tensor<4x5xi1>, tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
  %h = kiln.gemm %dy, %w : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
  %q = kiln.greater %y, %zero : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xi1>
  %b = kiln.where %q, %h, %zero : (tensor<4x5xi1>, tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
  return %a, %b, %h : tensor<4x5xf32>, tensor<4x5xf32>, tensor<4x5xf32>
}

// -----

// A Linear layer's backward over [2, 3] rows: the weight's gradient
// dy^T x reads dy as [6, 4] transposed (K along the rows), and the bias's
// gradient sums dy over those rows: one library call computes both (the
// sum of A over K). The reshape reading the sum before the GEMM moves
// after it.
// CHECK-LABEL: func.func @bias_gradient_of_a
// CHECK: %[[R:.*]] = kiln.reshape %arg0 {shape = array<i64: 6, 4>}
// CHECK-NEXT: %[[DW:.*]], %[[DB:.*]] = kiln.gemm_bias_grad %[[R]], %arg1 {of = "a", trans_a = true} : (tensor<6x4xf32>, tensor<6x5xf32>) -> (tensor<4x5xf32>, tensor<4xf32>)
// CHECK-NEXT: %[[DB3:.*]] = kiln.reshape %[[DB]] {shape = array<i64: 1, 1, 4>} : (tensor<4xf32>) -> tensor<1x1x4xf32>
// CHECK-NEXT: %[[DB1:.*]] = kiln.reshape %[[DB3]] {shape = array<i64: 4>}
// CHECK-NOT: kiln.reduce_sum
// CHECK: return %[[DW]], %[[DB1]]
func.func @bias_gradient_of_a(%dy: tensor<2x3x4xf32>, %x: tensor<6x5xf32>) -> (tensor<4x5xf32>, tensor<4xf32>) {
  %s = kiln.reduce_sum %dy {axes = array<i64: 0, 1>} : (tensor<2x3x4xf32>) -> tensor<1x1x4xf32>
  %db = kiln.reshape %s {shape = array<i64: 4>} : (tensor<1x1x4xf32>) -> tensor<4xf32>
  %r = kiln.reshape %dy {shape = array<i64: 6, 4>} : (tensor<2x3x4xf32>) -> tensor<6x4xf32>
  %dw = kiln.gemm %r, %x {trans_a = true} : (tensor<6x4xf32>, tensor<6x5xf32>) -> tensor<4x5xf32>
  return %dw, %db : tensor<4x5xf32>, tensor<4xf32>
}

// -----

// The same with dy as B (x^T dy: the weight's gradient transposed), and a
// 2-D dy summed over axis 0: the sum of B over K.
// CHECK-LABEL: func.func @bias_gradient_of_b
// CHECK: %[[DW:.*]], %[[DB:.*]] = kiln.gemm_bias_grad %arg1, %arg0 {of = "b", trans_a = true} : (tensor<6x5xf32>, tensor<6x4xf32>) -> (tensor<5x4xf32>, tensor<4xf32>)
// CHECK-NEXT: %[[DB2:.*]] = kiln.reshape %[[DB]] {shape = array<i64: 1, 4>}
// CHECK: return %[[DW]], %[[DB2]]
func.func @bias_gradient_of_b(%dy: tensor<6x4xf32>, %x: tensor<6x5xf32>) -> (tensor<5x4xf32>, tensor<1x4xf32>) {
  %dw = kiln.gemm %x, %dy {trans_a = true} : (tensor<6x5xf32>, tensor<6x4xf32>) -> tensor<5x4xf32>
  %db = kiln.reduce_sum %dy {axes = array<i64: 0>} : (tensor<6x4xf32>) -> tensor<1x4xf32>
  return %dw, %db : tensor<5x4xf32>, tensor<1x4xf32>
}

// -----

// Not the same rows: a sum over the last axis, a GEMM with K along dy's
// columns (dy w: the input's gradient), a GEMM with a C, one scaled by
// alpha; and a GEMM whose other operand is computed from the sum (which
// it could not follow): unchanged.
// CHECK-LABEL: func.func @not_bias_gradients
// CHECK-NOT: kiln.gemm_bias_grad
// CHECK-COUNT-2: kiln.reduce_sum
// CHECK: kiln.gemm %arg0, %arg2 : (tensor<6x4xf32>, tensor<4x5xf32>)
// CHECK: kiln.gemm %arg0, %arg1, %arg3 {trans_a = true}
// CHECK: kiln.gemm %arg0, %arg1 {alpha = 5.000000e-01 : f32, trans_a = true}
// CHECK: kiln.reduce_sum %arg4
// CHECK: kiln.gemm %arg4, %{{.*}} {trans_a = true}
func.func @not_bias_gradients(%dy: tensor<6x4xf32>, %x: tensor<6x5xf32>, %w: tensor<4x5xf32>, %c: tensor<4x5xf32>, %v: tensor<6x4xf32>) -> (tensor<6x1xf32>, tensor<1x4xf32>, tensor<6x5xf32>, tensor<4x5xf32>, tensor<4x5xf32>, tensor<4x4xf32>) {
  %rows = kiln.reduce_sum %dy {axes = array<i64: 1>} : (tensor<6x4xf32>) -> tensor<6x1xf32>
  %db = kiln.reduce_sum %dy {axes = array<i64: 0>} : (tensor<6x4xf32>) -> tensor<1x4xf32>
  %dx = kiln.gemm %dy, %w : (tensor<6x4xf32>, tensor<4x5xf32>) -> tensor<6x5xf32>
  %dw = kiln.gemm %dy, %x, %c {trans_a = true} : (tensor<6x4xf32>, tensor<6x5xf32>, tensor<4x5xf32>) -> tensor<4x5xf32>
  %half = kiln.gemm %dy, %x {alpha = 0.5 : f32, trans_a = true} : (tensor<6x4xf32>, tensor<6x5xf32>) -> tensor<4x5xf32>
  %s = kiln.reduce_sum %v {axes = array<i64: 0>} : (tensor<6x4xf32>) -> tensor<1x4xf32>
  %t = kiln.mul %v, %s : (tensor<6x4xf32>, tensor<1x4xf32>) -> tensor<6x4xf32>
  %vt = kiln.gemm %v, %t {trans_a = true} : (tensor<6x4xf32>, tensor<6x4xf32>) -> tensor<4x4xf32>
  return %rows, %db, %dx, %dw, %half, %vt : tensor<6x1xf32>, tensor<1x4xf32>, tensor<6x5xf32>, tensor<4x5xf32>, tensor<4x5xf32>, tensor<4x4xf32>
}
