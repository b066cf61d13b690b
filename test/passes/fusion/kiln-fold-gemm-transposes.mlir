// RUN: kiln-opt %s --split-input-file --kiln-fold-gemm-transposes | FileCheck %s

// A Linear layer as exported, x W^T with a 3-D x: one GEMM reading W
// transposed, between free reshapes; the transpose is gone.
// CHECK-LABEL: func.func @linear
// CHECK: %[[X:.*]] = kiln.reshape %arg0 {shape = array<i64: 8, 3>} : (tensor<2x4x3xf32>) -> tensor<8x3xf32>
// CHECK: %[[Y:.*]] = kiln.gemm %[[X]], %arg1 {trans_b = true} : (tensor<8x3xf32>, tensor<5x3xf32>) -> tensor<8x5xf32>
// CHECK: %[[R:.*]] = kiln.reshape %[[Y]] {shape = array<i64: 2, 4, 5>} : (tensor<8x5xf32>) -> tensor<2x4x5xf32>
// CHECK-NOT: kiln.transpose
// CHECK: return %[[R]]
func.func @linear(%x: tensor<2x4x3xf32>, %w: tensor<5x3xf32>) -> tensor<2x4x5xf32> {
  %t = kiln.transpose %w {perm = array<i64: 1, 0>} : (tensor<5x3xf32>) -> tensor<3x5xf32>
  %y = kiln.matmul %x, %t : (tensor<2x4x3xf32>, tensor<3x5xf32>) -> tensor<2x4x5xf32>
  return %y : tensor<2x4x5xf32>
}

// -----

// a^T b with 2-D operands: trans_a. The weight gradient (x^T dy)^T of such a
// layer: the GEMM of the operands swapped, dy^T x, flags swapped and
// inverted.
// CHECK-LABEL: func.func @weight_gradient
// CHECK: %[[G:.*]] = kiln.gemm %arg1, %arg0 {trans_a = true} : (tensor<8x5xf32>, tensor<8x3xf32>) -> tensor<5x3xf32>
// CHECK-NOT: kiln.transpose
// CHECK: return %[[G]]
func.func @weight_gradient(%x: tensor<8x3xf32>, %dy: tensor<8x5xf32>) -> tensor<5x3xf32> {
  %xt = kiln.transpose %x {perm = array<i64: 1, 0>} : (tensor<8x3xf32>) -> tensor<3x8xf32>
  %g = kiln.matmul %xt, %dy : (tensor<3x8xf32>, tensor<8x5xf32>) -> tensor<3x5xf32>
  %gt = kiln.transpose %g {perm = array<i64: 1, 0>} : (tensor<3x5xf32>) -> tensor<5x3xf32>
  return %gt : tensor<5x3xf32>
}

// -----

// A GEMM with alpha keeps it through the swap: (a b^T)^T = b a^T.
// CHECK-LABEL: func.func @scaled
// CHECK: kiln.gemm %arg1, %arg0 {alpha = 5.000000e-01 : f32, trans_b = true} : (tensor<5x3xf32>, tensor<4x3xf32>) -> tensor<5x4xf32>
func.func @scaled(%a: tensor<4x3xf32>, %b: tensor<5x3xf32>) -> tensor<5x4xf32> {
  %0 = kiln.gemm %a, %b {alpha = 0.5 : f32, trans_b = true} : (tensor<4x3xf32>, tensor<5x3xf32>) -> tensor<4x5xf32>
  %1 = kiln.transpose %0 {perm = array<i64: 1, 0>} : (tensor<4x5xf32>) -> tensor<5x4xf32>
  return %1 : tensor<5x4xf32>
}

// -----

// Kept: a transpose that others read stays for them (the product still
// reads the weight transposed); a GEMM with C, or read elsewhere, keeps its
// transpose; a batched transpose that moves a batch dimension; integers.
// CHECK-LABEL: func.func @kept
// CHECK: %[[T:.*]] = kiln.transpose %arg1 {perm = array<i64: 1, 0>}
// CHECK: kiln.gemm %arg0, %arg1 {trans_b = true}
// CHECK: %[[C:.*]] = kiln.gemm %arg0, %[[T]], %arg2
// CHECK: kiln.transpose %[[C]]
// CHECK: %[[QT:.*]] = kiln.transpose %arg3 {perm = array<i64: 1, 0, 2>}
// CHECK: kiln.matmul %[[QT]], %arg6 :
// CHECK: kiln.matmul %arg4
func.func @kept(%x: tensor<4x3xf32>, %w: tensor<5x3xf32>, %c: tensor<5xf32>, %q: tensor<2x4x3xf32>, %i: tensor<4x3xi32>, %wi: tensor<5x3xi32>, %r: tensor<4x3x5xf32>) -> (tensor<4x5xf32>, tensor<3x5xf32>, tensor<5x4xf32>, tensor<4x2x5xf32>, tensor<4x5xi32>) {
  %t = kiln.transpose %w {perm = array<i64: 1, 0>} : (tensor<5x3xf32>) -> tensor<3x5xf32>
  %y = kiln.matmul %x, %t : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
  %g = kiln.gemm %x, %t, %c : (tensor<4x3xf32>, tensor<3x5xf32>, tensor<5xf32>) -> tensor<4x5xf32>
  %gt = kiln.transpose %g {perm = array<i64: 1, 0>} : (tensor<4x5xf32>) -> tensor<5x4xf32>
  %qt = kiln.transpose %q {perm = array<i64: 1, 0, 2>} : (tensor<2x4x3xf32>) -> tensor<4x2x3xf32>
  %qq = kiln.matmul %qt, %r : (tensor<4x2x3xf32>, tensor<4x3x5xf32>) -> tensor<4x2x5xf32>
  %ti = kiln.transpose %wi {perm = array<i64: 1, 0>} : (tensor<5x3xi32>) -> tensor<3x5xi32>
  %yi = kiln.matmul %i, %ti : (tensor<4x3xi32>, tensor<3x5xi32>) -> tensor<4x5xi32>
  return %y, %t, %gt, %qq, %yi : tensor<4x5xf32>, tensor<3x5xf32>, tensor<5x4xf32>, tensor<4x2x5xf32>, tensor<4x5xi32>
}

// -----

// Batched products with an operand transposed in its last two dimensions
// (attention's q k^T, and its backward's s^T v): trans_b / trans_a on the
// kiln.matmul, no transpose.
// CHECK-LABEL: func.func @batched
// CHECK: %[[S:.*]] = kiln.matmul %arg0, %arg1 {trans_b = true} : (tensor<2x4x3xf32>, tensor<2x5x3xf32>) -> tensor<2x4x5xf32>
// CHECK: %[[G:.*]] = kiln.matmul %[[S]], %arg2 {trans_a = true} : (tensor<2x4x5xf32>, tensor<2x4x6xf32>) -> tensor<2x5x6xf32>
// CHECK-NOT: kiln.transpose
// CHECK: return %[[G]]
func.func @batched(%q: tensor<2x4x3xf32>, %k: tensor<2x5x3xf32>, %v: tensor<2x4x6xf32>) -> tensor<2x5x6xf32> {
  %kt = kiln.transpose %k {perm = array<i64: 0, 2, 1>} : (tensor<2x5x3xf32>) -> tensor<2x3x5xf32>
  %s = kiln.matmul %q, %kt : (tensor<2x4x3xf32>, tensor<2x3x5xf32>) -> tensor<2x4x5xf32>
  %st = kiln.transpose %s {perm = array<i64: 0, 2, 1>} : (tensor<2x4x5xf32>) -> tensor<2x5x4xf32>
  %g = kiln.matmul %st, %v : (tensor<2x5x4xf32>, tensor<2x4x6xf32>) -> tensor<2x5x6xf32>
  return %g : tensor<2x5x6xf32>
}

// -----

// Attention's K^T taken from [b, t, h, d] as [b, h, d, t] moves the
// innermost dimension (a strided copy): the copy becomes [b, h, t, d]
// (consecutive elements), read transposed by each product (its flag
// flipped). The backward's dK^T transposed back to [b, t, h, d] is the
// product of the operands swapped, then a copy that keeps the innermost
// dimension.
// CHECK-LABEL: func.func @attention_layouts
// CHECK: %[[K:.*]] = kiln.transpose %arg1 {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x5x3x4xf32>) -> tensor<2x3x5x4xf32>
// CHECK: %[[S:.*]] = kiln.matmul %arg0, %[[K]] {trans_b = true} : (tensor<2x3x6x4xf32>, tensor<2x3x5x4xf32>) -> tensor<2x3x6x5xf32>
// CHECK: %[[DK:.*]] = kiln.matmul %arg2, %arg0 {trans_a = true} : (tensor<2x3x6x5xf32>, tensor<2x3x6x4xf32>) -> tensor<2x3x5x4xf32>
// CHECK: %[[DKT:.*]] = kiln.transpose %[[DK]] {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x3x5x4xf32>) -> tensor<2x5x3x4xf32>
// CHECK-NOT: kiln.transpose
// CHECK: return %[[S]], %[[DKT]]
func.func @attention_layouts(%q: tensor<2x3x6x4xf32>, %k: tensor<2x5x3x4xf32>, %ds: tensor<2x3x6x5xf32>) -> (tensor<2x3x6x5xf32>, tensor<2x5x3x4xf32>) {
  %kt = kiln.transpose %k {perm = array<i64: 0, 2, 3, 1>} : (tensor<2x5x3x4xf32>) -> tensor<2x3x4x5xf32>
  %s = kiln.matmul %q, %kt : (tensor<2x3x6x4xf32>, tensor<2x3x4x5xf32>) -> tensor<2x3x6x5xf32>
  %qt = kiln.transpose %q {perm = array<i64: 0, 1, 3, 2>} : (tensor<2x3x6x4xf32>) -> tensor<2x3x4x6xf32>
  %dkt = kiln.matmul %qt, %ds : (tensor<2x3x4x6xf32>, tensor<2x3x6x5xf32>) -> tensor<2x3x4x5xf32>
  %dk = kiln.transpose %dkt {perm = array<i64: 0, 3, 1, 2>} : (tensor<2x3x4x5xf32>) -> tensor<2x5x3x4xf32>
  return %s, %dk : tensor<2x3x6x5xf32>, tensor<2x5x3x4xf32>
}

// -----

// A scale between the transpose and the products (attention's K^T times
// d^-1/2, read by the scores and by the query's gradient) trades places with
// the transpose first; then the copy keeps the innermost dimension and both
// products read it transposed.
// CHECK-LABEL: func.func @scaled_key
// CHECK: %[[S:.*]] = kiln.mul %arg1, %arg3 : (tensor<2x5x3x4xf32>, tensor<1xf32>) -> tensor<2x5x3x4xf32>
// CHECK: %[[K:.*]] = kiln.transpose %[[S]] {perm = array<i64: 0, 2, 1, 3>}
// CHECK: kiln.matmul %arg0, %[[K]] {trans_b = true}
// CHECK: kiln.matmul %arg2, %[[K]] :
// CHECK-NOT: kiln.transpose
func.func @scaled_key(%q: tensor<2x3x6x4xf32>, %k: tensor<2x5x3x4xf32>, %ds: tensor<2x3x6x5xf32>, %s: tensor<1xf32>) -> (tensor<2x3x6x5xf32>, tensor<2x3x6x4xf32>) {
  %kt = kiln.transpose %k {perm = array<i64: 0, 2, 3, 1>} : (tensor<2x5x3x4xf32>) -> tensor<2x3x4x5xf32>
  %kts = kiln.mul %kt, %s : (tensor<2x3x4x5xf32>, tensor<1xf32>) -> tensor<2x3x4x5xf32>
  %sc = kiln.matmul %q, %kts : (tensor<2x3x6x4xf32>, tensor<2x3x4x5xf32>) -> tensor<2x3x6x5xf32>
  %ktt = kiln.transpose %kts {perm = array<i64: 0, 1, 3, 2>} : (tensor<2x3x4x5xf32>) -> tensor<2x3x5x4xf32>
  %dq = kiln.matmul %ds, %ktt : (tensor<2x3x6x5xf32>, tensor<2x3x5x4xf32>) -> tensor<2x3x6x4xf32>
  return %sc, %dq : tensor<2x3x6x5xf32>, tensor<2x3x6x4xf32>
}

// -----

// The gradient's scale between the product and the transpose back moves
// after the transpose, which then folds into the product.
// CHECK-LABEL: func.func @scaled_key_gradient
// CHECK: %[[P:.*]] = kiln.matmul %arg1, %arg0 {trans_a = true} : (tensor<2x3x6x5xf32>, tensor<2x3x6x4xf32>) -> tensor<2x3x5x4xf32>
// CHECK: %[[T:.*]] = kiln.transpose %[[P]] {perm = array<i64: 0, 2, 1, 3>}
// CHECK: %[[G:.*]] = kiln.mul %[[T]], %arg2 : (tensor<2x5x3x4xf32>, tensor<1xf32>) -> tensor<2x5x3x4xf32>
// CHECK: return %[[G]]
func.func @scaled_key_gradient(%q: tensor<2x3x6x4xf32>, %ds: tensor<2x3x6x5xf32>, %s: tensor<1xf32>) -> tensor<2x5x3x4xf32> {
  %qt = kiln.transpose %q {perm = array<i64: 0, 1, 3, 2>} : (tensor<2x3x6x4xf32>) -> tensor<2x3x4x6xf32>
  %dkt = kiln.matmul %qt, %ds : (tensor<2x3x4x6xf32>, tensor<2x3x6x5xf32>) -> tensor<2x3x4x5xf32>
  %sc = kiln.mul %dkt, %s : (tensor<2x3x4x5xf32>, tensor<1xf32>) -> tensor<2x3x4x5xf32>
  %dk = kiln.transpose %sc {perm = array<i64: 0, 3, 1, 2>} : (tensor<2x3x4x5xf32>) -> tensor<2x5x3x4xf32>
  return %dk : tensor<2x5x3x4xf32>
}
