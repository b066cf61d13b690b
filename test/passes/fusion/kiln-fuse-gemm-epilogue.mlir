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
