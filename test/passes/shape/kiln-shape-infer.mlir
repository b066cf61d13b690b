// RUN: kiln-opt %s --split-input-file --kiln-shape-infer | FileCheck %s

// Unknown sizes are refined from the operands, through the whole chain, and
// the function's result type follows what it returns.
// CHECK-LABEL: func.func @mlp
// CHECK-SAME: -> tensor<8x10xf32>
// CHECK: kiln.matmul {{.*}} -> tensor<8x1024xf32>
// CHECK: kiln.add {{.*}} : (tensor<8x1024xf32>, tensor<1024xf32>) -> tensor<8x1024xf32>
// CHECK: kiln.relu {{.*}} : (tensor<8x1024xf32>) -> tensor<8x1024xf32>
// CHECK: kiln.gemm {{.*}} -> tensor<8x10xf32>
// CHECK: return {{.*}} : tensor<8x10xf32>
func.func @mlp(%x: tensor<8x784xf32>, %w1: tensor<784x1024xf32>, %b1: tensor<1024xf32>,
               %w2: tensor<1024x10xf32>) -> tensor<?x10xf32> {
  %0 = kiln.matmul %x, %w1 : (tensor<8x784xf32>, tensor<784x1024xf32>) -> tensor<?x?xf32>
  %1 = kiln.add %0, %b1 : (tensor<?x?xf32>, tensor<1024xf32>) -> tensor<?x1024xf32>
  %2 = kiln.relu %1 : (tensor<?x1024xf32>) -> tensor<?x1024xf32>
  %3 = kiln.gemm %2, %w2 : (tensor<?x1024xf32>, tensor<1024x10xf32>) -> tensor<?x10xf32>
  return %3 : tensor<?x10xf32>
}

// -----

// A written static size is kept where inference cannot know it.
// CHECK-LABEL: func.func @keeps_written_sizes
// CHECK: kiln.add {{.*}} -> tensor<4x3xf32>
func.func @keeps_written_sizes(%a: tensor<?x3xf32>, %b: tensor<?x1xf32>) -> tensor<4x3xf32> {
  %0 = kiln.add %a, %b : (tensor<?x3xf32>, tensor<?x1xf32>) -> tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// -----

// Sizes left unknown by dynamic inputs stay unknown.
// CHECK-LABEL: func.func @stays_dynamic
// CHECK: kiln.add {{.*}} -> tensor<?x3xf32>
func.func @stays_dynamic(%a: tensor<?x3xf32>, %b: tensor<3xf32>) -> tensor<?x3xf32> {
  %0 = kiln.add %a, %b : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}
