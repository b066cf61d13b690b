// RUN: kiln-opt %s --split-input-file --kiln-lower-to-linalg | FileCheck %s

// Broadcasting is in the indexing maps: b's row is read for every i.
// CHECK-DAG: #[[$ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[$ROW:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @add_broadcast
// CHECK: %[[E:.*]] = tensor.empty() : tensor<4x3xf32>
// CHECK: linalg.generic {indexing_maps = [#[[$ID]], #[[$ROW]], #[[$ID]]], iterator_types = ["parallel", "parallel"]} ins(%arg0, %arg1 : tensor<4x3xf32>, tensor<3xf32>) outs(%[[E]] : tensor<4x3xf32>)
// CHECK: arith.addf
// CHECK-NOT: kiln.add
func.func @add_broadcast(%a: tensor<4x3xf32>, %b: tensor<3xf32>) -> tensor<4x3xf32> {
  %0 = kiln.add %a, %b : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// -----

// A reduction starts from a fill of its identity; keepdims is a reshape view.
// CHECK-LABEL: func.func @reduce_max
// CHECK: %[[NEG_INF:.*]] = arith.constant 0xFF800000 : f32
// CHECK: %[[INIT:.*]] = linalg.fill ins(%[[NEG_INF]] : f32) outs(%{{.*}} : tensor<2xf32>) -> tensor<2xf32>
// CHECK: %[[R:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction", "reduction"]{{.*}} outs(%[[INIT]] : tensor<2xf32>)
// CHECK: arith.maximumf
// CHECK: kiln.reshape %[[R]] {shape = array<i64: 2, 1, 1>}
func.func @reduce_max(%x: tensor<2x3x4xf32>) -> tensor<2x1x1xf32> {
  %0 = kiln.reduce_max %x {axes = array<i64: 1, 2>} : (tensor<2x3x4xf32>) -> tensor<2x1x1xf32>
  return %0 : tensor<2x1x1xf32>
}

// -----

// Python's mod: C's remainder, plus the divisor where it is nonzero and its
// sign differs from the divisor's. fmod is the remainder alone.
// CHECK-LABEL: func.func @mod_fmod
// CHECK: linalg.generic
// CHECK: %[[R:.*]] = arith.remsi %[[X:.*]], %[[Y:.*]] : i64
// CHECK: %[[NZ:.*]] = arith.cmpi ne, %[[R]], %{{.*}} : i64
// CHECK: %[[RN:.*]] = arith.cmpi slt, %[[R]], %{{.*}} : i64
// CHECK: %[[YN:.*]] = arith.cmpi slt, %[[Y]], %{{.*}} : i64
// CHECK: %[[DIFF:.*]] = arith.xori %[[RN]], %[[YN]] : i1
// CHECK: %[[MOVE:.*]] = arith.andi %[[NZ]], %[[DIFF]] : i1
// CHECK: %[[SUM:.*]] = arith.addi %[[R]], %[[Y]] : i64
// CHECK: arith.select %[[MOVE]], %[[SUM]], %[[R]] : i64
// CHECK: linalg.generic
// CHECK: arith.remf
// CHECK-NOT: arith.select
// CHECK: return
func.func @mod_fmod(%a: tensor<4xi64>, %b: tensor<4xi64>, %x: tensor<4xf32>, %y: tensor<4xf32>) -> (tensor<4xi64>, tensor<4xf32>) {
  %0 = kiln.mod %a, %b : (tensor<4xi64>, tensor<4xi64>) -> tensor<4xi64>
  %1 = kiln.fmod %x, %y : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %0, %1 : tensor<4xi64>, tensor<4xf32>
}

// -----

// Trigonometric and rounding ops are math ops in the kernel body.
// CHECK-LABEL: func.func @math_unary
// CHECK: math.sin
// CHECK: math.acosh
// CHECK: math.roundeven
// CHECK: math.ceil
func.func @math_unary(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %0 = kiln.sin %x : (tensor<4xf32>) -> tensor<4xf32>
  %1 = kiln.acosh %x : (tensor<4xf32>) -> tensor<4xf32>
  %2 = kiln.round %x : (tensor<4xf32>) -> tensor<4xf32>
  %3 = kiln.ceil %x : (tensor<4xf32>) -> tensor<4xf32>
  return %0, %1, %2, %3 : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}

// -----

// Logical ops on i1 are the integer bit ops.
// CHECK-LABEL: func.func @xor
// CHECK: linalg.generic
// CHECK: arith.xori %{{.*}}, %{{.*}} : i1
func.func @xor(%a: tensor<2x3xi1>, %b: tensor<3xi1>) -> tensor<2x3xi1> {
  %0 = kiln.xor %a, %b : (tensor<2x3xi1>, tensor<3xi1>) -> tensor<2x3xi1>
  return %0 : tensor<2x3xi1>
}

// -----

// Integer min starts from the type's largest value; product from one.
// CHECK-LABEL: func.func @reduce_min_prod
// CHECK: %[[MAXI:.*]] = arith.constant 2147483647 : i32
// CHECK: linalg.fill ins(%[[MAXI]] : i32)
// CHECK: arith.minsi
// CHECK: %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK: linalg.fill ins(%[[ONE]] : f32)
// CHECK: arith.mulf
func.func @reduce_min_prod(%i: tensor<2x3xi32>, %x: tensor<2x3xf32>) -> (tensor<2xi32>, tensor<3xf32>) {
  %0 = kiln.reduce_min %i {axes = array<i64: 1>, keepdims = false} : (tensor<2x3xi32>) -> tensor<2xi32>
  %1 = kiln.reduce_prod %x {axes = array<i64: 0>, keepdims = false} : (tensor<2x3xf32>) -> tensor<3xf32>
  return %0, %1 : tensor<2xi32>, tensor<3xf32>
}

// -----

// Softmax: max, sum of exp(x - max), then the normalization.
// CHECK-LABEL: func.func @softmax
// CHECK: %[[MAX:.*]] = linalg.generic {{.*}}["parallel", "reduction"]
// CHECK: arith.maximumf
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}}["parallel", "reduction"]{{.*}} ins(%arg0, %[[MAX]]
// CHECK: math.exp
// CHECK: linalg.generic {{.*}}["parallel", "parallel"]{{.*}} ins(%arg0, %[[MAX]], %[[SUM]]
// CHECK: arith.divf
func.func @softmax(%x: tensor<8x10xf32>) -> tensor<8x10xf32> {
  %0 = kiln.softmax %x : (tensor<8x10xf32>) -> tensor<8x10xf32>
  return %0 : tensor<8x10xf32>
}

// -----

// A strided slice is a view the copy reads through.
// CHECK-LABEL: func.func @slice
// CHECK: %[[V:.*]] = tensor.extract_slice %arg0[0, 4] [2, 3] [1, -1] : tensor<2x6xf32> to tensor<2x3xf32>
// CHECK: linalg.generic {{.*}} ins(%[[V]] : tensor<2x3xf32>)
func.func @slice(%x: tensor<2x6xf32>) -> tensor<2x3xf32> {
  %0 = kiln.slice %x {starts = array<i64: 0, 4>, sizes = array<i64: 2, 3>, strides = array<i64: 1, -1>} : (tensor<2x6xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// Library ops stay; a column bias the GEMM cannot add is broadcast first.
// CHECK-LABEL: func.func @gemm_column_bias
// CHECK: %[[B:.*]] = linalg.generic {{.*}} ins(%arg2 : tensor<4x1xf32>)
// CHECK: kiln.gemm %arg0, %arg1, %[[B]] : (tensor<4x5xf32>, tensor<5x6xf32>, tensor<4x6xf32>) -> tensor<4x6xf32>
func.func @gemm_column_bias(%a: tensor<4x5xf32>, %b: tensor<5x6xf32>, %c: tensor<4x1xf32>) -> tensor<4x6xf32> {
  %0 = kiln.gemm %a, %b, %c : (tensor<4x5xf32>, tensor<5x6xf32>, tensor<4x1xf32>) -> tensor<4x6xf32>
  return %0 : tensor<4x6xf32>
}

// -----

// An embedding lookup reads the table at the loaded index (negative indices
// count from the end).
// CHECK-LABEL: func.func @gather
// CHECK: linalg.generic {{.*}} ins(%arg1 : tensor<2x3xi64>)
// CHECK: arith.select
// CHECK: tensor.extract %arg0[
func.func @gather(%t: tensor<10x4xf32>, %ids: tensor<2x3xi64>) -> tensor<2x3x4xf32> {
  %0 = kiln.gather %t, %ids : (tensor<10x4xf32>, tensor<2x3xi64>) -> tensor<2x3x4xf32>
  return %0 : tensor<2x3x4xf32>
}

// -----

// Inference dropout is the identity.
// CHECK-LABEL: func.func @dropout
// CHECK-NEXT: return %arg0
func.func @dropout(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = kiln.dropout %x {ratio = 0.5} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Concat reads each input clamped into range and picks by position.
// CHECK-LABEL: func.func @concat
// CHECK: linalg.generic {{.*}}outs(%{{.*}} : tensor<2x5xf32>)
// CHECK-COUNT-2: tensor.extract
// CHECK: arith.select
func.func @concat(%a: tensor<2x2xf32>, %b: tensor<2x3xf32>) -> tensor<2x5xf32> {
  %0 = kiln.concat %a, %b {axis = 1 : i64} : (tensor<2x2xf32>, tensor<2x3xf32>) -> tensor<2x5xf32>
  return %0 : tensor<2x5xf32>
}

// -----

// Max pooling reduces over the window dims added to the domain; padding
// reads are -inf.
// CHECK-LABEL: func.func @max_pool
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]
// CHECK: tensor.extract %arg0
// CHECK: arith.constant 0xFF800000 : f32
// CHECK: arith.maximumf
func.func @max_pool(%x: tensor<1x2x6x6xf32>) -> tensor<1x2x3x3xf32> {
  %0 = kiln.max_pool %x {kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 0, 0>, dilations = array<i64: 1, 1>} : (tensor<1x2x6x6xf32>) -> tensor<1x2x3x3xf32>
  return %0 : tensor<1x2x3x3xf32>
}

// -----

// Training-mode batch norm: sums over every dim but the channel.
// CHECK-LABEL: func.func @batch_norm_train
// CHECK: linalg.generic {{.*}}["reduction", "parallel", "reduction", "reduction"]
// CHECK: linalg.generic {{.*}}["reduction", "parallel", "reduction", "reduction"]
// CHECK: math.sqrt
// CHECK-NOT: kiln.batch_norm_train
func.func @batch_norm_train(%x: tensor<2x3x4x4xf32>, %s: tensor<3xf32>, %b: tensor<3xf32>) -> (tensor<2x3x4x4xf32>, tensor<3xf32>, tensor<3xf32>) {
  %y, %m, %v = kiln.batch_norm_train %x, %s, %b : (tensor<2x3x4x4xf32>, tensor<3xf32>, tensor<3xf32>) -> (tensor<2x3x4x4xf32>, tensor<3xf32>, tensor<3xf32>)
  return %y, %m, %v : tensor<2x3x4x4xf32>, tensor<3xf32>, tensor<3xf32>
}

// -----

// Convolution stays for the code generator (a library call).
// CHECK-LABEL: func.func @conv
// CHECK: kiln.conv
func.func @conv(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32> {
  %0 = kiln.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  return %0 : tensor<1x4x6x6xf32>
}

// -----

// The gradient of max pooling: a sum over the kernel offsets at every input
// position, reading the window's maximum and gradient at computed
// coordinates.
// CHECK-LABEL: func.func @pool_grad
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]
// CHECK: arith.divsi
// CHECK: arith.remsi
// CHECK: tensor.extract %arg0
// CHECK: tensor.extract %arg2
// CHECK: arith.cmpf oeq
// The backward products of a convolution stay library ops.
// CHECK: kiln.conv_backward_data
func.func @pool_grad(%dp: tensor<1x2x2x2xf32>, %x: tensor<1x2x4x4xf32>, %y: tensor<1x2x2x2xf32>, %w: tensor<2x2x1x1xf32>) -> (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) {
  %0 = kiln.pool_grad %dp, %x, %y {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, max = true} : (tensor<1x2x2x2xf32>, tensor<1x2x4x4xf32>, tensor<1x2x2x2xf32>) -> tensor<1x2x4x4xf32>
  %1 = kiln.conv_backward_data %x, %w {input_shape = array<i64: 1, 2, 4, 4>, strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x4x4xf32>
  return %0, %1 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>
}

// -----

// Random draws: element i (row-major) is kiln.uniform(i, seed * 2^32 +
// stream) scaled into [low, high); the seed is the step's (an input), the
// op's own, or 0 with the op's position among such draws as the stream.
// CHECK-LABEL: func.func @random
// CHECK: linalg.generic {{.*}} ins(%arg0 : tensor<i64>) outs(%{{.*}} : tensor<2x3xf32>)
// CHECK: ^bb0(%[[SEED:.*]]: i64, %{{.*}}: f32):
// CHECK-DAG: %[[C5:.*]] = arith.constant 5 : i64
// CHECK-DAG: %[[TWO32:.*]] = arith.constant 4294967296 : i64
// CHECK: %[[HI:.*]] = arith.muli %[[SEED]], %[[TWO32]] : i64
// CHECK: %[[S:.*]] = arith.addi %[[HI]], %[[C5]] : i64
// CHECK: %[[U:.*]] = kiln.uniform %{{.*}}, %[[S]] : f32
// CHECK: %[[X:.*]] = arith.mulf %[[U]], %{{.*}} : f32
// CHECK: arith.addf %[[X]], %{{.*}} : f32
// The second draw has no seed: seed 0, stream 0 (its position).
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<2x3xf32>)
// CHECK: kiln.uniform
// The third, ONNX's seed 9: drawn in f64.
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<4xf64>)
// CHECK: arith.constant 9 : i64
// CHECK: kiln.uniform %{{.*}}, %{{.*}} : f64
func.func @random(%seed: tensor<i64>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<4xf64>) {
  %a = kiln.random_uniform %seed {shape = array<i64: 2, 3>, dtype = f32, low = -1.0, high = 3.0, stream = 5} : (tensor<i64>) -> tensor<2x3xf32>
  %b = kiln.random_uniform {shape = array<i64: 2, 3>, dtype = f32} : () -> tensor<2x3xf32>
  %c = kiln.random_uniform {shape = array<i64: 4>, dtype = f64, seed = 9} : () -> tensor<4xf64>
  return %a, %b, %c : tensor<2x3xf32>, tensor<2x3xf32>, tensor<4xf64>
}
