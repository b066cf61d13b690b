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
