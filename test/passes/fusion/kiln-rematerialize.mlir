// RUN: kiln-opt %s --split-input-file --kiln-lower-to-linalg --kiln-rematerialize | FileCheck %s

// The forward's tanh(h) is read by the backward's weight gradient (a
// library call), and h by the backward after it: tanh(h) is computed
// again just before the gradient, which reads the copy, so it is not kept
// across the loss. The copy is marked for kiln-fuse-elementwise.
// CHECK-LABEL: func.func @recomputed
// CHECK: %[[H:.*]] = linalg.generic {{.*}}ins(%arg0
// CHECK: math.exp
// CHECK: %[[G:.*]] = linalg.generic {{.*}}ins(%[[H]]
// CHECK: math.tanh
// CHECK: kiln.matmul %[[G]], %arg1
// CHECK: arith.addf
// CHECK: %[[COPY:.*]] = linalg.generic {{.*}}ins(%[[H]] {{.*}}{kiln.recomputed}
// CHECK-NEXT: ^bb0
// CHECK-NEXT: math.tanh
// CHECK: kiln.gemm %[[COPY]], %arg2 {trans_a = true}
// CHECK: arith.mulf
func.func @recomputed(%x: tensor<64x32xf32>, %w: tensor<32x16xf32>, %dy: tensor<64x16xf32>) -> (tensor<64xf32>, tensor<32x16xf32>, tensor<64x32xf32>) {
  %h = kiln.exp %x : (tensor<64x32xf32>) -> tensor<64x32xf32>
  %g = kiln.tanh %h : (tensor<64x32xf32>) -> tensor<64x32xf32>
  %y = kiln.matmul %g, %w : (tensor<64x32xf32>, tensor<32x16xf32>) -> tensor<64x16xf32>
  %l = kiln.reduce_sum %y {axes = array<i64: 1>, keepdims = false} : (tensor<64x16xf32>) -> tensor<64xf32> loc("loss (cross_entropy)")
  %dw = kiln.gemm %g, %dy {trans_a = true} : (tensor<64x32xf32>, tensor<64x16xf32>) -> tensor<32x16xf32>
  %dh = kiln.mul %h, %x : (tensor<64x32xf32>, tensor<64x32xf32>) -> tensor<64x32xf32>
  return %l, %dw, %dh : tensor<64xf32>, tensor<32x16xf32>, tensor<64x32xf32>
}

// -----

// A value much smaller than the one recomputed (a row sum, 1/32 of it)
// is kept for the copy, which reads it; the original, which the forward
// no longer reads, is gone.
// CHECK-LABEL: func.func @small_kept
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: %[[S:.*]] = kiln.reshape
// CHECK-NOT: math.exp
// CHECK: kiln.constant
// CHECK: %[[SUB:.*]] = linalg.generic {{.*}}ins(%arg0, %[[S]] {{.*}}{kiln.recomputed}
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.subf
// CHECK: %[[COPY:.*]] = linalg.generic {{.*}}ins(%[[SUB]] {{.*}}{kiln.recomputed}
// CHECK-NEXT: ^bb0
// CHECK-NEXT: math.exp
// CHECK: kiln.gemm %[[COPY]], %arg1 {trans_a = true}
func.func @small_kept(%x: tensor<64x32xf32>, %dy: tensor<64x16xf32>) -> (tensor<64x1xf32>, tensor<32x16xf32>, tensor<64x32xf32>) {
  %s = kiln.reduce_sum %x {axes = array<i64: 1>, keepdims = true} : (tensor<64x32xf32>) -> tensor<64x1xf32>
  %n = kiln.sub %x, %s : (tensor<64x32xf32>, tensor<64x1xf32>) -> tensor<64x32xf32>
  %g = kiln.exp %n : (tensor<64x32xf32>) -> tensor<64x32xf32>
  %two = kiln.constant dense<2.0> : tensor<f32>
  %l = kiln.mul %s, %two : (tensor<64x1xf32>, tensor<f32>) -> tensor<64x1xf32> loc("loss (cross_entropy)")
  %dw = kiln.gemm %g, %dy {trans_a = true} : (tensor<64x32xf32>, tensor<64x16xf32>) -> tensor<32x16xf32>
  %dx = kiln.mul %x, %x : (tensor<64x32xf32>, tensor<64x32xf32>) -> tensor<64x32xf32>
  return %l, %dw, %dx : tensor<64x1xf32>, tensor<32x16xf32>, tensor<64x32xf32>
}

// -----

// Attention's probabilities, which the backward's dv reads: recomputed from
// q and k (kept for dq and dk) through the scores' batched product, whose
// reduction is short (K = 8, the head size), keeping only the softmax's row
// statistics (small), as flash attention does.
// CHECK-LABEL: func.func @attention
// CHECK: kiln.matmul %arg0, %arg1 {trans_b = true}
// CHECK: arith.addf
// CHECK: %[[S:.*]] = kiln.matmul %arg0, %arg1 {kiln.recomputed, trans_b = true}
// CHECK: %[[P:.*]] = linalg.generic {{.*}}ins(%[[S]], {{.*}}{kiln.recomputed}
// CHECK: math.exp
// CHECK: kiln.matmul %[[P]], %arg3 {trans_a = true}
func.func @attention(%q: tensor<2x4x64x8xf32>, %k: tensor<2x4x64x8xf32>, %v: tensor<2x4x64x8xf32>, %do: tensor<2x4x64x8xf32>) -> (tensor<2x4x64xf32>, tensor<2x4x64x8xf32>, tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) {
  %s = kiln.matmul %q, %k {trans_b = true} : (tensor<2x4x64x8xf32>, tensor<2x4x64x8xf32>) -> tensor<2x4x64x64xf32>
  %p = kiln.softmax %s : (tensor<2x4x64x64xf32>) -> tensor<2x4x64x64xf32>
  %o = kiln.matmul %p, %v : (tensor<2x4x64x64xf32>, tensor<2x4x64x8xf32>) -> tensor<2x4x64x8xf32>
  %l = kiln.reduce_sum %o {axes = array<i64: 3>, keepdims = false} : (tensor<2x4x64x8xf32>) -> tensor<2x4x64xf32> loc("loss (cross_entropy)")
  %dv = kiln.matmul %p, %do {trans_a = true} : (tensor<2x4x64x64xf32>, tensor<2x4x64x8xf32>) -> tensor<2x4x64x8xf32>
  %dq = kiln.matmul %q, %do {trans_a = true} : (tensor<2x4x64x8xf32>, tensor<2x4x64x8xf32>) -> tensor<2x4x8x8xf32>
  %dk = kiln.matmul %k, %do {trans_a = true} : (tensor<2x4x64x8xf32>, tensor<2x4x64x8xf32>) -> tensor<2x4x8x8xf32>
  return %l, %dv, %dq, %dk : tensor<2x4x64xf32>, tensor<2x4x64x8xf32>, tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>
}

// -----

// Left alone: a value computed from one the backward does not keep (the
// product dies in the forward), a value the backward reads only in kernels
// (they fuse its computation themselves), and anything in a function
// without a loss.
// CHECK-LABEL: func.func @input_dies
// CHECK-NOT: kiln.recomputed
// CHECK-LABEL: func.func @kernels_only
// CHECK-NOT: kiln.recomputed
// CHECK-LABEL: func.func @no_loss
// CHECK-NOT: kiln.recomputed
func.func @input_dies(%x: tensor<64x32xf32>, %w: tensor<32x32xf32>, %dy: tensor<64x16xf32>) -> (tensor<64xf32>, tensor<32x16xf32>) {
  %p = kiln.matmul %x, %w : (tensor<64x32xf32>, tensor<32x32xf32>) -> tensor<64x32xf32>
  %g = kiln.tanh %p : (tensor<64x32xf32>) -> tensor<64x32xf32>
  %l = kiln.reduce_sum %g {axes = array<i64: 1>, keepdims = false} : (tensor<64x32xf32>) -> tensor<64xf32> loc("loss (cross_entropy)")
  %dw = kiln.gemm %g, %dy {trans_a = true} : (tensor<64x32xf32>, tensor<64x16xf32>) -> tensor<32x16xf32>
  return %l, %dw : tensor<64xf32>, tensor<32x16xf32>
}
func.func @kernels_only(%x: tensor<64x32xf32>) -> (tensor<64xf32>, tensor<64x32xf32>) {
  %g = kiln.tanh %x : (tensor<64x32xf32>) -> tensor<64x32xf32>
  %l = kiln.reduce_sum %g {axes = array<i64: 1>, keepdims = false} : (tensor<64x32xf32>) -> tensor<64xf32> loc("loss (cross_entropy)")
  %d = kiln.mul %g, %x : (tensor<64x32xf32>, tensor<64x32xf32>) -> tensor<64x32xf32>
  return %l, %d : tensor<64xf32>, tensor<64x32xf32>
}
func.func @no_loss(%x: tensor<64x32xf32>, %w: tensor<32x16xf32>, %dy: tensor<64x16xf32>) -> (tensor<64x16xf32>, tensor<32x16xf32>, tensor<64x32xf32>) {
  %g = kiln.tanh %x : (tensor<64x32xf32>) -> tensor<64x32xf32>
  %y = kiln.matmul %g, %w : (tensor<64x32xf32>, tensor<32x16xf32>) -> tensor<64x16xf32>
  %dw = kiln.gemm %g, %dy {trans_a = true} : (tensor<64x32xf32>, tensor<64x16xf32>) -> tensor<32x16xf32>
  %dx = kiln.mul %x, %x : (tensor<64x32xf32>, tensor<64x32xf32>) -> tensor<64x32xf32>
  return %y, %dw, %dx : tensor<64x16xf32>, tensor<32x16xf32>, tensor<64x32xf32>
}
