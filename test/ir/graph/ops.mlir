// RUN: kiln-opt %s --split-input-file | FileCheck %s
// Round trip: printing what was parsed, and parsing that again, gives the same.
// RUN: kiln-opt %s --split-input-file | kiln-opt --split-input-file | FileCheck %s
// Generic form round trip.
// RUN: kiln-opt %s --split-input-file --mlir-print-op-generic | kiln-opt --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @mlp
func.func @mlp(%x: tensor<256x784xf32>, %w1: tensor<784x1024xf32>, %b1: tensor<1024xf32>,
               %w2: tensor<1024x10xf32>, %b2: tensor<10xf32>) -> tensor<256x10xf32> {
  // CHECK: kiln.matmul %{{.*}}, %{{.*}} : (tensor<256x784xf32>, tensor<784x1024xf32>) -> tensor<256x1024xf32>
  %0 = kiln.matmul %x, %w1 : (tensor<256x784xf32>, tensor<784x1024xf32>) -> tensor<256x1024xf32>
  // CHECK: kiln.add %{{.*}}, %{{.*}} : (tensor<256x1024xf32>, tensor<1024xf32>) -> tensor<256x1024xf32>
  %1 = kiln.add %0, %b1 : (tensor<256x1024xf32>, tensor<1024xf32>) -> tensor<256x1024xf32>
  // CHECK: kiln.relu %{{.*}} : (tensor<256x1024xf32>) -> tensor<256x1024xf32>
  %2 = kiln.relu %1 : (tensor<256x1024xf32>) -> tensor<256x1024xf32>
  // CHECK: kiln.gemm %{{.*}}, %{{.*}}, %{{.*}} : (tensor<256x1024xf32>, tensor<1024x10xf32>, tensor<10xf32>) -> tensor<256x10xf32>
  %3 = kiln.gemm %2, %w2, %b2 : (tensor<256x1024xf32>, tensor<1024x10xf32>, tensor<10xf32>) -> tensor<256x10xf32>
  // CHECK: kiln.log_softmax %{{.*}} : (tensor<256x10xf32>) -> tensor<256x10xf32>
  %4 = kiln.log_softmax %3 : (tensor<256x10xf32>) -> tensor<256x10xf32>
  return %4 : tensor<256x10xf32>
}

// -----

// CHECK-LABEL: func.func @binary
func.func @binary(%a: tensor<4x1x3xf64>, %b: tensor<5x1xf64>) -> tensor<4x5x3xf64> {
  // CHECK: kiln.add {{.*}} -> tensor<4x5x3xf64>
  // CHECK: kiln.sub {{.*}} -> tensor<4x5x3xf64>
  // CHECK: kiln.mul {{.*}} -> tensor<4x5x3xf64>
  // CHECK: kiln.div {{.*}} -> tensor<4x5x3xf64>
  %0 = kiln.add %a, %b : (tensor<4x1x3xf64>, tensor<5x1xf64>) -> tensor<4x5x3xf64>
  %1 = kiln.sub %0, %b : (tensor<4x5x3xf64>, tensor<5x1xf64>) -> tensor<4x5x3xf64>
  %2 = kiln.mul %1, %a : (tensor<4x5x3xf64>, tensor<4x1x3xf64>) -> tensor<4x5x3xf64>
  %3 = kiln.div %2, %2 : (tensor<4x5x3xf64>, tensor<4x5x3xf64>) -> tensor<4x5x3xf64>
  return %3 : tensor<4x5x3xf64>
}

// -----

// A written result type may be less refined than the inferred one.
// CHECK-LABEL: func.func @dynamic
func.func @dynamic(%a: tensor<?x3xf32>, %b: tensor<8x3xf32>) -> tensor<?x3xf32> {
  // CHECK: kiln.add {{.*}} : (tensor<?x3xf32>, tensor<8x3xf32>) -> tensor<?x3xf32>
  %0 = kiln.add %a, %b : (tensor<?x3xf32>, tensor<8x3xf32>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}

// -----

// CHECK-LABEL: func.func @matmul_forms
func.func @matmul_forms(%v: tensor<4xf32>, %m: tensor<4x6xf32>, %n: tensor<6x4xf32>,
                        %b: tensor<2x1x3x4xbf16>, %c: tensor<5x4x7xbf16>) {
  // CHECK: (tensor<4xf32>, tensor<4x6xf32>) -> tensor<6xf32>
  %0 = kiln.matmul %v, %m : (tensor<4xf32>, tensor<4x6xf32>) -> tensor<6xf32>
  // CHECK: (tensor<6x4xf32>, tensor<4xf32>) -> tensor<6xf32>
  %1 = kiln.matmul %n, %v : (tensor<6x4xf32>, tensor<4xf32>) -> tensor<6xf32>
  // CHECK: (tensor<4xf32>, tensor<4xf32>) -> tensor<f32>
  %2 = kiln.matmul %v, %v : (tensor<4xf32>, tensor<4xf32>) -> tensor<f32>
  // CHECK: (tensor<2x1x3x4xbf16>, tensor<5x4x7xbf16>) -> tensor<2x5x3x7xbf16>
  %3 = kiln.matmul %b, %c : (tensor<2x1x3x4xbf16>, tensor<5x4x7xbf16>) -> tensor<2x5x3x7xbf16>
  return
}

// -----

// CHECK-LABEL: func.func @gemm_attrs
func.func @gemm_attrs(%a: tensor<784x256xf32>, %b: tensor<10x784xf32>) -> tensor<256x10xf32> {
  // CHECK: kiln.gemm %{{.*}}, %{{.*}} {alpha = 2.000000e+00 : f32, trans_a = true, trans_b = true} : (tensor<784x256xf32>, tensor<10x784xf32>) -> tensor<256x10xf32>
  %0 = kiln.gemm %a, %b {alpha = 2.0 : f32, trans_a = true, trans_b = true} : (tensor<784x256xf32>, tensor<10x784xf32>) -> tensor<256x10xf32>
  return %0 : tensor<256x10xf32>
}

// -----

// CHECK-LABEL: func.func @softmax_axis
func.func @softmax_axis(%x: tensor<2x5x7xf16>) -> tensor<2x5x7xf16> {
  // CHECK: kiln.softmax %{{.*}} {axis = 1 : i64} : (tensor<2x5x7xf16>) -> tensor<2x5x7xf16>
  %0 = kiln.softmax %x {axis = 1 : i64} : (tensor<2x5x7xf16>) -> tensor<2x5x7xf16>
  return %0 : tensor<2x5x7xf16>
}

// -----

// CHECK-LABEL: func.func @constant
func.func @constant() -> tensor<2xi64> {
  // CHECK: kiln.constant dense<[1, 2]> : tensor<2xi64>
  %0 = kiln.constant dense<[1, 2]> : tensor<2xi64>
  return %0 : tensor<2xi64>
}

// -----

// CHECK-LABEL: func.func @initializer
func.func @initializer() -> tensor<2x2xf32> {
  // CHECK: kiln.initializer "fc1.weight" = dense<{{.*}}> : tensor<2x2xf32>
  %0 = kiln.initializer "fc1.weight" = dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

// CHECK-LABEL: func.func @elementwise
func.func @elementwise(%a: tensor<2x3xf32>, %b: tensor<3xf32>, %m: tensor<2x3xi1>, %i: tensor<3xi64>) {
  // CHECK: kiln.pow {{.*}} -> tensor<2x3xf32>
  %0 = kiln.pow %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.equal {{.*}} -> tensor<3xi1>
  %1 = kiln.equal %i, %i : (tensor<3xi64>, tensor<3xi64>) -> tensor<3xi1>
  // CHECK: kiln.less {{.*}} -> tensor<2x3xi1>
  %2 = kiln.less %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  // CHECK: kiln.less_equal
  %3 = kiln.less_equal %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  // CHECK: kiln.greater
  %4 = kiln.greater %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  // CHECK: kiln.greater_equal
  %5 = kiln.greater_equal %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  // CHECK: kiln.not {{.*}} : (tensor<2x3xi1>) -> tensor<2x3xi1>
  %6 = kiln.not %m : (tensor<2x3xi1>) -> tensor<2x3xi1>
  // CHECK: kiln.where {{.*}} : (tensor<2x3xi1>, tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %7 = kiln.where %m, %a, %b : (tensor<2x3xi1>, tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.is_nan {{.*}} -> tensor<2x3xi1>
  %8 = kiln.is_nan %a : (tensor<2x3xf32>) -> tensor<2x3xi1>
  // CHECK: kiln.neg
  %9 = kiln.neg %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.abs
  %10 = kiln.abs %i : (tensor<3xi64>) -> tensor<3xi64>
  // CHECK: kiln.sqrt
  %11 = kiln.sqrt %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.reciprocal
  %12 = kiln.reciprocal %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.exp
  %13 = kiln.exp %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.log
  %14 = kiln.log %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.erf
  %15 = kiln.erf %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.tanh
  %16 = kiln.tanh %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.sin %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %sin_ = kiln.sin %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.cos %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %cos_ = kiln.cos %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.tan %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %tan_ = kiln.tan %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.asin %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %asin_ = kiln.asin %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.acos %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %acos_ = kiln.acos %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.atan %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %atan_ = kiln.atan %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.sinh %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %sinh_ = kiln.sinh %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.cosh %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %cosh_ = kiln.cosh %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.asinh %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %asinh_ = kiln.asinh %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.acosh %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %acosh_ = kiln.acosh %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.atanh %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %atanh_ = kiln.atanh %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.ceil %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %ceil_ = kiln.ceil %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.floor %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %floor_ = kiln.floor %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.round %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %round_ = kiln.round %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.sigmoid
  %17 = kiln.sigmoid %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.hard_swish
  %18 = kiln.hard_swish %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.leaky_relu {{.*}} {alpha = 1.000000e-01 : f32}
  %19 = kiln.leaky_relu %a {alpha = 0.1 : f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.hard_sigmoid {{.*}} {alpha = 3.000000e-01 : f32, beta = 4.000000e-01 : f32}
  %20 = kiln.hard_sigmoid %a {alpha = 0.3 : f32, beta = 0.4 : f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.gelu {{.*}} {approximate = "tanh"}
  %21 = kiln.gelu %a {approximate = "tanh"} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.clip {{.*}} {max = 6.000000e+00 : f64, min = 0.000000e+00 : f64}
  %22 = kiln.clip %a {min = 0.0, max = 6.0} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.cast {{.*}} {to = i64} : (tensor<2x3xf32>) -> tensor<2x3xi64>
  %23 = kiln.cast %a {to = i64} : (tensor<2x3xf32>) -> tensor<2x3xi64>
  // CHECK: kiln.dropout {{.*}} {ratio = 1.000000e-01 : f64}
  %24 = kiln.dropout %a {ratio = 0.1} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

// CHECK-LABEL: func.func @data_movement
func.func @data_movement(%x: tensor<16x256x512xf32>, %t: tensor<10x4xf32>, %ids: tensor<2x3xi64>,
                         %a: tensor<2x1x4xf32>, %b: tensor<2x2x4xf32>) {
  // CHECK: kiln.reshape {{.*}} {shape = array<i64: 16, 256, 8, 64>} : (tensor<16x256x512xf32>) -> tensor<16x256x8x64xf32>
  %0 = kiln.reshape %x {shape = array<i64: 16, 256, 8, 64>} : (tensor<16x256x512xf32>) -> tensor<16x256x8x64xf32>
  // CHECK: kiln.transpose {{.*}} -> tensor<16x8x256x64xf32>
  %1 = kiln.transpose %0 {perm = array<i64: 0, 2, 1, 3>} : (tensor<16x256x8x64xf32>) -> tensor<16x8x256x64xf32>
  // CHECK: kiln.slice {{.*}} -> tensor<16x256x128xf32>
  %2 = kiln.slice %x {starts = array<i64: 0, 0, 511>, sizes = array<i64: 16, 256, 128>, strides = array<i64: 1, 1, -2>} : (tensor<16x256x512xf32>) -> tensor<16x256x128xf32>
  // CHECK: kiln.concat {{.*}} {axis = 1 : i64} : (tensor<2x1x4xf32>, tensor<2x2x4xf32>, tensor<2x1x4xf32>) -> tensor<2x4x4xf32>
  %3 = kiln.concat %a, %b, %a {axis = 1 : i64} : (tensor<2x1x4xf32>, tensor<2x2x4xf32>, tensor<2x1x4xf32>) -> tensor<2x4x4xf32>
  // CHECK: kiln.gather {{.*}} -> tensor<2x3x4xf32>
  %4 = kiln.gather %t, %ids : (tensor<10x4xf32>, tensor<2x3xi64>) -> tensor<2x3x4xf32>
  // CHECK: kiln.gather_elements {{.*}} -> tensor<2x3xf32>
  %5 = kiln.gather_elements %t, %ids {axis = 1 : i64} : (tensor<10x4xf32>, tensor<2x3xi64>) -> tensor<2x3xf32>
  // CHECK: kiln.broadcast_to {{.*}} -> tensor<3x2x1x4xf32>
  %6 = kiln.broadcast_to %a {shape = array<i64: 3, 2, 1, 4>} : (tensor<2x1x4xf32>) -> tensor<3x2x1x4xf32>
  // CHECK: kiln.trilu {{.*}} {k = 1 : i64, upper = false}
  %7 = kiln.trilu %t {upper = false, k = 1 : i64} : (tensor<10x4xf32>) -> tensor<10x4xf32>
  return
}

// -----

// CHECK-LABEL: func.func @reductions
func.func @reductions(%x: tensor<2x3x4xf32>) {
  // CHECK: kiln.reduce_sum {{.*}} -> tensor<2x1x4xf32>
  %0 = kiln.reduce_sum %x {axes = array<i64: 1>} : (tensor<2x3x4xf32>) -> tensor<2x1x4xf32>
  // CHECK: kiln.reduce_mean {{.*}} -> tensor<2xf32>
  %1 = kiln.reduce_mean %x {axes = array<i64: 1, 2>, keepdims = false} : (tensor<2x3x4xf32>) -> tensor<2xf32>
  // CHECK: kiln.reduce_max {{.*}} -> tensor<f32>
  %2 = kiln.reduce_max %x {axes = array<i64: 0, 1, 2>, keepdims = false} : (tensor<2x3x4xf32>) -> tensor<f32>
  // CHECK: kiln.mod {{.*}} -> tensor<2x3x4xf32>
  %5 = kiln.mod %x, %x : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  // CHECK: kiln.fmod {{.*}} -> tensor<2x3x4xf32>
  %6 = kiln.fmod %x, %x : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  // CHECK: kiln.reduce_min {{.*}} -> tensor<1x3x1xf32>
  %3 = kiln.reduce_min %x {axes = array<i64: 0, 2>} : (tensor<2x3x4xf32>) -> tensor<1x3x1xf32>
  // CHECK: kiln.reduce_prod {{.*}} -> tensor<2x3xf32>
  %4 = kiln.reduce_prod %x {axes = array<i64: 2>, keepdims = false} : (tensor<2x3x4xf32>) -> tensor<2x3xf32>
  return
}

// -----

// CHECK-LABEL: func.func @nn
func.func @nn(%x: tensor<128x3x32x32xf32>, %w: tensor<64x3x3x3xf32>, %b: tensor<64xf32>,
              %g: tensor<128x64x32x32xf32>, %s: tensor<16x256x512xf32>, %ls: tensor<512xf32>) {
  // CHECK: kiln.conv {{.*}} -> tensor<128x64x32x32xf32>
  %0 = kiln.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>} : (tensor<128x3x32x32xf32>, tensor<64x3x3x3xf32>) -> tensor<128x64x32x32xf32>
  // CHECK: kiln.conv {{.*}} -> tensor<128x64x16x16xf32>
  %1 = kiln.conv %x, %w, %b {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>} : (tensor<128x3x32x32xf32>, tensor<64x3x3x3xf32>, tensor<64xf32>) -> tensor<128x64x16x16xf32>
  // CHECK: kiln.max_pool {{.*}} -> tensor<128x64x17x17xf32>
  %2 = kiln.max_pool %g {kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, ceil_mode = true} : (tensor<128x64x32x32xf32>) -> tensor<128x64x17x17xf32>
  // CHECK: kiln.avg_pool {{.*}} -> tensor<128x64x16x16xf32>
  %3 = kiln.avg_pool %g {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : (tensor<128x64x32x32xf32>) -> tensor<128x64x16x16xf32>
  // CHECK: kiln.batch_norm {{.*}} -> tensor<128x64x32x32xf32>
  %4 = kiln.batch_norm %g, %b, %b, %b, %b : (tensor<128x64x32x32xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<128x64x32x32xf32>
  // CHECK: kiln.batch_norm_train {{.*}} -> (tensor<128x64x32x32xf32>, tensor<64xf32>, tensor<64xf32>)
  %5:3 = kiln.batch_norm_train %g, %b, %b {epsilon = 1.0e-5 : f32} : (tensor<128x64x32x32xf32>, tensor<64xf32>, tensor<64xf32>) -> (tensor<128x64x32x32xf32>, tensor<64xf32>, tensor<64xf32>)
  // CHECK: kiln.layer_norm {{.*}} -> tensor<16x256x512xf32>
  %6 = kiln.layer_norm %s, %ls, %ls {axis = 2 : i64} : (tensor<16x256x512xf32>, tensor<512xf32>, tensor<512xf32>) -> tensor<16x256x512xf32>
  return
}

// -----

// CHECK-LABEL: func.func @transformer_extras
func.func @transformer_extras(%a: tensor<2x3xf32>, %m: tensor<2x3xi1>, %d: tensor<3x4x5xf32>, %i: tensor<2x2xi64>, %seed: tensor<i64>) {
  // CHECK: kiln.max {{.*}} -> tensor<2x3xf32>
  %0 = kiln.max %a, %a : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.min {{.*}} -> tensor<2x3xf32>
  %1 = kiln.min %a, %a : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.and {{.*}} -> tensor<2x3xi1>
  %2 = kiln.and %m, %m : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
  // CHECK: kiln.or {{.*}} -> tensor<2x3xi1>
  %3 = kiln.or %m, %m : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
  // CHECK: kiln.xor {{.*}} -> tensor<2x3xi1>
  %xor = kiln.xor %m, %m : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
  // CHECK: kiln.cumsum {{.*}} {axis = 0 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %4 = kiln.cumsum %a {axis = 0 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.gather_nd {{.*}} -> tensor<2x5xf32>
  %5 = kiln.gather_nd %d, %i : (tensor<3x4x5xf32>, tensor<2x2xi64>) -> tensor<2x5xf32>
  // CHECK: kiln.random_uniform {dtype = bf16, shape = array<i64: 4>} : () -> tensor<4xbf16>
  %6 = kiln.random_uniform {shape = array<i64: 4>, dtype = bf16} : () -> tensor<4xbf16>
  // CHECK: kiln.random_uniform %{{.*}} {dtype = f32, shape = array<i64: 4>, stream = 3 : i64} : (tensor<i64>) -> tensor<4xf32>
  %7 = kiln.random_uniform %seed {shape = array<i64: 4>, dtype = f32, stream = 3} : (tensor<i64>) -> tensor<4xf32>
  return
}

// -----

// The ops gradient rules build: the backward products of a convolution and
// the gradient of pooling.
// CHECK-LABEL: func.func @backward_ops
func.func @backward_ops(%x: tensor<2x4x8x8xf32>, %w: tensor<6x2x3x3xf32>, %dy: tensor<2x6x4x4xf32>,
                        %y: tensor<2x4x4x4xf32>, %dp: tensor<2x4x4x4xf32>) {
  // CHECK: kiln.conv_backward_data {{.*}} -> tensor<2x4x8x8xf32>
  %0 = kiln.conv_backward_data %dy, %w {input_shape = array<i64: 2, 4, 8, 8>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 2 : i64} : (tensor<2x6x4x4xf32>, tensor<6x2x3x3xf32>) -> tensor<2x4x8x8xf32>
  // CHECK: kiln.conv_backward_filter {{.*}} -> tensor<6x2x3x3xf32>
  %1 = kiln.conv_backward_filter %dy, %x {weight_shape = array<i64: 6, 2, 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 2 : i64} : (tensor<2x6x4x4xf32>, tensor<2x4x8x8xf32>) -> tensor<6x2x3x3xf32>
  // CHECK: kiln.pool_grad {{.*}} -> tensor<2x4x8x8xf32>
  %2 = kiln.pool_grad %dp, %x, %y {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, max = true} : (tensor<2x4x4x4xf32>, tensor<2x4x8x8xf32>, tensor<2x4x4x4xf32>) -> tensor<2x4x8x8xf32>
  return
}

// A gradient bucket's all-reduce (mean, the default) and a sum.
// CHECK-LABEL: func.func @all_reduce
func.func @all_reduce(%a: tensor<3xf32>, %b: tensor<2x2xf32>) -> (tensor<3xf32>, tensor<2x2xf32>, tensor<3xf32>) {
  // CHECK: %[[R:.*]]:2 = kiln.all_reduce %{{.*}}, %{{.*}} {bucket = 0 : i64} : (tensor<3xf32>, tensor<2x2xf32>) -> (tensor<3xf32>, tensor<2x2xf32>)
  %0:2 = kiln.all_reduce %a, %b {bucket = 0 : i64} : (tensor<3xf32>, tensor<2x2xf32>) -> (tensor<3xf32>, tensor<2x2xf32>)
  // CHECK: kiln.all_reduce %{{.*}} {bucket = 1 : i64, reduction = "sum"}
  %1 = kiln.all_reduce %a {bucket = 1 : i64, reduction = "sum"} : (tensor<3xf32>) -> tensor<3xf32>
  return %0#0, %0#1, %1 : tensor<3xf32>, tensor<2x2xf32>, tensor<3xf32>
}

// -----

// Arithmetic on two float splat constants folds (canonicalize), rounded as
// the element type rounds; anything else stays.
// RUN: kiln-opt %s --split-input-file --canonicalize | FileCheck %s --check-prefix=FOLD
// FOLD-LABEL: func.func @fold_splats
// FOLD-DAG: kiln.constant dense<-1.250000e-01> : tensor<f32>
// FOLD-DAG: kiln.constant dense<0.333333343> : tensor<f32>
// FOLD-DAG: kiln.constant dense<3.500000e+00> : tensor<2xf64>
// FOLD: kiln.mul %arg0
// FOLD-NOT: kiln.add
// FOLD-NOT: kiln.div
func.func @fold_splats(%x: tensor<f32>) -> (tensor<f32>, tensor<f32>, tensor<2xf64>, tensor<f32>) {
  %a = kiln.constant dense<-1.0> : tensor<f32>
  %b = kiln.constant dense<0.125> : tensor<f32>
  %c = kiln.constant dense<3.0> : tensor<f32>
  %one = kiln.constant dense<1.0> : tensor<f32>
  %d = kiln.constant dense<[1.5, 1.5]> : tensor<2xf64>
  %e = kiln.constant dense<2.0> : tensor<2xf64>
  %0 = kiln.mul %a, %b : (tensor<f32>, tensor<f32>) -> tensor<f32>
  %1 = kiln.div %one, %c : (tensor<f32>, tensor<f32>) -> tensor<f32>
  %2 = kiln.add %d, %e : (tensor<2xf64>, tensor<2xf64>) -> tensor<2xf64>
  %3 = kiln.mul %x, %b : (tensor<f32>, tensor<f32>) -> tensor<f32>
  return %0, %1, %2, %3 : tensor<f32>, tensor<f32>, tensor<2xf64>, tensor<f32>
}

// -----

// A float sum times a scalar constant becomes the sum of the scaled values
// (canonicalize): the mean loss is then one reduction kernel. A sum with
// another reader, or a non-constant scale, stays.
// FOLD-LABEL: func.func @scale_inside_sum
// FOLD: %[[C:.*]] = kiln.constant dense<-1.250000e-01> : tensor<f32>
// FOLD: %[[S:.*]] = kiln.mul %arg0, %[[C]] : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
// FOLD: %[[R:.*]] = kiln.reduce_sum %[[S]] {axes = array<i64: 0, 1>, keepdims = false} : (tensor<4x8xf32>) -> tensor<f32>
// FOLD: %[[KEPT:.*]] = kiln.reduce_sum %arg0 {axes = array<i64: 1>} : (tensor<4x8xf32>) -> tensor<4x1xf32>
// FOLD: kiln.mul %[[KEPT]], %arg1
// FOLD: return %[[R]],
func.func @scale_inside_sum(%x: tensor<4x8xf32>, %y: tensor<f32>) -> (tensor<f32>, tensor<4x1xf32>) {
  %c = kiln.constant dense<-0.125> : tensor<f32>
  %0 = kiln.reduce_sum %x {axes = array<i64: 0, 1>, keepdims = false} : (tensor<4x8xf32>) -> tensor<f32>
  %1 = kiln.mul %0, %c : (tensor<f32>, tensor<f32>) -> tensor<f32>
  %2 = kiln.reduce_sum %x {axes = array<i64: 1>, keepdims = true} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  %3 = kiln.mul %2, %y : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
  return %1, %3 : tensor<f32>, tensor<4x1xf32>
}

// -----

// A transpose undoing another, or by the identity, folds to its input
// (canonicalize; autodiff writes W^T^T); any other pair stays.
// FOLD-LABEL: func.func @fold_transposes
// FOLD: %[[T:.*]] = kiln.transpose %arg1 {perm = array<i64: 1, 2, 0>}
// FOLD: %[[TT:.*]] = kiln.transpose %[[T]] {perm = array<i64: 1, 2, 0>}
// FOLD: return %arg0, %arg0, %[[TT]]
func.func @fold_transposes(%x: tensor<3x5xf32>, %y: tensor<2x3x4xf32>) -> (tensor<3x5xf32>, tensor<3x5xf32>, tensor<4x2x3xf32>) {
  %0 = kiln.transpose %x {perm = array<i64: 1, 0>} : (tensor<3x5xf32>) -> tensor<5x3xf32>
  %1 = kiln.transpose %0 {perm = array<i64: 1, 0>} : (tensor<5x3xf32>) -> tensor<3x5xf32>
  %2 = kiln.transpose %x {perm = array<i64: 0, 1>} : (tensor<3x5xf32>) -> tensor<3x5xf32>
  %3 = kiln.transpose %y {perm = array<i64: 1, 2, 0>} : (tensor<2x3x4xf32>) -> tensor<3x4x2xf32>
  %4 = kiln.transpose %3 {perm = array<i64: 1, 2, 0>} : (tensor<3x4x2xf32>) -> tensor<4x2x3xf32>
  return %1, %2, %4 : tensor<3x5xf32>, tensor<3x5xf32>, tensor<4x2x3xf32>
}

// -----

// A gather at constant consecutive indices is a slice (canonicalize):
// arange(T) into a position table (the whole axis: the table itself), a
// run from 2 (negative indices count from the end), and a [2, 2] block of
// a run (a slice, then a reshape). Indices that skip or repeat stay.
// FOLD-LABEL: func.func @gather_consecutive
// FOLD-DAG: %[[S:.*]] = kiln.slice %arg0 {sizes = array<i64: 3, 4>, starts = array<i64: 2, 0>, strides = array<i64: 1, 1>} : (tensor<6x4xf32>) -> tensor<3x4xf32>
// FOLD-DAG: %[[C:.*]] = kiln.slice %arg1 {sizes = array<i64: 2, 4>, starts = array<i64: 0, 1>, strides = array<i64: 1, 1>} : (tensor<2x6xf32>) -> tensor<2x4xf32>
// FOLD-DAG: %[[R:.*]] = kiln.reshape %[[C]] {shape = array<i64: 2, 2, 2>} : (tensor<2x4xf32>) -> tensor<2x2x2xf32>
// FOLD-DAG: %[[G:.*]] = kiln.gather %arg0, %{{.*}} : (tensor<6x4xf32>, tensor<3xi64>) -> tensor<3x4xf32>
// FOLD: return %arg0, %[[S]], %[[R]], %[[G]]
func.func @gather_consecutive(%table: tensor<6x4xf32>, %wide: tensor<2x6xf32>) -> (tensor<6x4xf32>, tensor<3x4xf32>, tensor<2x2x2xf32>, tensor<3x4xf32>) {
  %all = kiln.constant dense<[0, 1, 2, 3, 4, 5]> : tensor<6xi64>
  %run = kiln.constant dense<[2, -3, 4]> : tensor<3xi64>
  %block = kiln.constant dense<[[1, 2], [3, 4]]> : tensor<2x2xi32>
  %skip = kiln.constant dense<[0, 2, 2]> : tensor<3xi64>
  %0 = kiln.gather %table, %all : (tensor<6x4xf32>, tensor<6xi64>) -> tensor<6x4xf32>
  %1 = kiln.gather %table, %run : (tensor<6x4xf32>, tensor<3xi64>) -> tensor<3x4xf32>
  %2 = kiln.gather %wide, %block {axis = 1 : i64} : (tensor<2x6xf32>, tensor<2x2xi32>) -> tensor<2x2x2xf32>
  %3 = kiln.gather %table, %skip : (tensor<6x4xf32>, tensor<3xi64>) -> tensor<3x4xf32>
  return %0, %1, %2, %3 : tensor<6x4xf32>, tensor<3x4xf32>, tensor<2x2x2xf32>, tensor<3x4xf32>
}

// -----

// A matmul whose batch dimensions differ (one key head against two query
// heads) reads the broadcast operand broadcast (canonicalize); equal batches
// and one matrix on the right stay.
// FOLD-LABEL: func.func @matmul_broadcast_batch
// FOLD: %[[B:.*]] = kiln.broadcast_to %arg1 {shape = array<i64: 2, 2, 4, 6>} : (tensor<2x1x4x6xf32>) -> tensor<2x2x4x6xf32>
// FOLD: %[[M:.*]] = kiln.matmul %arg0, %[[B]] : (tensor<2x2x6x4xf32>, tensor<2x2x4x6xf32>) -> tensor<2x2x6x6xf32>
// FOLD: %[[L:.*]] = kiln.broadcast_to %arg2 {shape = array<i64: 2, 1, 6, 4>} : (tensor<6x4xf32>) -> tensor<2x1x6x4xf32>
// FOLD: kiln.matmul %[[L]], %arg1 : (tensor<2x1x6x4xf32>, tensor<2x1x4x6xf32>)
// FOLD-NOT: broadcast_to
// FOLD: kiln.matmul %arg0, %arg3 : (tensor<2x2x6x4xf32>, tensor<4x6xf32>)
func.func @matmul_broadcast_batch(%q: tensor<2x2x6x4xf32>, %k: tensor<2x1x4x6xf32>, %m: tensor<6x4xf32>, %w: tensor<4x6xf32>) -> (tensor<2x2x6x6xf32>, tensor<2x1x6x6xf32>, tensor<2x2x6x6xf32>) {
  %0 = kiln.matmul %q, %k : (tensor<2x2x6x4xf32>, tensor<2x1x4x6xf32>) -> tensor<2x2x6x6xf32>
  %1 = kiln.matmul %m, %k : (tensor<6x4xf32>, tensor<2x1x4x6xf32>) -> tensor<2x1x6x6xf32>
  %2 = kiln.matmul %q, %w : (tensor<2x2x6x4xf32>, tensor<4x6xf32>) -> tensor<2x2x6x6xf32>
  return %0, %1, %2 : tensor<2x2x6x6xf32>, tensor<2x1x6x6xf32>, tensor<2x2x6x6xf32>
}

// -----

// CHECK-LABEL: func.func @embedding_grad
// CHECK: kiln.embedding_grad %arg0, %arg1 {rows = 10 : i64} : (tensor<6xi32>, tensor<6x4xf32>) -> tensor<10x4xf32>
func.func @embedding_grad(%ids: tensor<6xi32>, %g: tensor<6x4xf32>) -> tensor<10x4xf32> {
  %0 = kiln.embedding_grad %ids, %g {rows = 10 : i64} : (tensor<6xi32>, tensor<6x4xf32>) -> tensor<10x4xf32>
  return %0 : tensor<10x4xf32>
}

// -----

// A matmul reading an operand transposed (set by kiln-fold-gemm-transposes).
// CHECK-LABEL: func.func @matmul_transposed
// CHECK: kiln.matmul %arg0, %arg1 {trans_b = true} : (tensor<2x4x3xf32>, tensor<2x5x3xf32>) -> tensor<2x4x5xf32>
// CHECK: kiln.matmul %arg0, %arg0 {trans_a = true} : (tensor<2x4x3xf32>, tensor<2x4x3xf32>) -> tensor<2x3x3xf32>
func.func @matmul_transposed(%a: tensor<2x4x3xf32>, %b: tensor<2x5x3xf32>) -> (tensor<2x4x5xf32>, tensor<2x3x3xf32>) {
  %0 = kiln.matmul %a, %b {trans_b = true} : (tensor<2x4x3xf32>, tensor<2x5x3xf32>) -> tensor<2x4x5xf32>
  %1 = kiln.matmul %a, %a {trans_a = true} : (tensor<2x4x3xf32>, tensor<2x4x3xf32>) -> tensor<2x3x3xf32>
  return %0, %1 : tensor<2x4x5xf32>, tensor<2x3x3xf32>
}

// -----

// CHECK-LABEL: func.func @gemm_epilogues
func.func @gemm_epilogues(%a: tensor<4x3xf32>, %b: tensor<5x3xf32>, %y: tensor<4x5xf32>) -> (tensor<4x5xf32>, tensor<4x5xf32>, tensor<5xf32>) {
  // CHECK: kiln.gemm %{{.*}}, %{{.*}} {relu = true, trans_b = true}
  %0 = kiln.gemm %a, %b {relu = true, trans_b = true} : (tensor<4x3xf32>, tensor<5x3xf32>) -> tensor<4x5xf32>
  // CHECK: kiln.gemm_relu_grad %{{.*}}, %{{.*}}, %{{.*}} {trans_b = true} : (tensor<4x3xf32>, tensor<5x3xf32>, tensor<4x5xf32>) -> (tensor<4x5xf32>, tensor<5xf32>)
  %1:2 = kiln.gemm_relu_grad %a, %b, %y {trans_b = true} : (tensor<4x3xf32>, tensor<5x3xf32>, tensor<4x5xf32>) -> (tensor<4x5xf32>, tensor<5xf32>)
  return %0, %1#0, %1#1 : tensor<4x5xf32>, tensor<4x5xf32>, tensor<5xf32>
}

// -----

// CHECK-LABEL: func.func @gemm_bias_grad
func.func @gemm_bias_grad(%dy: tensor<6x4xf32>, %x: tensor<6x3xf32>) -> (tensor<4x3xf32>, tensor<4xf32>, tensor<3x4xf32>, tensor<4xf32>) {
  // CHECK: kiln.gemm_bias_grad %{{.*}}, %{{.*}} {of = "a", trans_a = true} : (tensor<6x4xf32>, tensor<6x3xf32>) -> (tensor<4x3xf32>, tensor<4xf32>)
  %0:2 = kiln.gemm_bias_grad %dy, %x {of = "a", trans_a = true} : (tensor<6x4xf32>, tensor<6x3xf32>) -> (tensor<4x3xf32>, tensor<4xf32>)
  // CHECK: kiln.gemm_bias_grad %{{.*}}, %{{.*}} {of = "b", trans_a = true} : (tensor<6x3xf32>, tensor<6x4xf32>) -> (tensor<3x4xf32>, tensor<4xf32>)
  %1:2 = kiln.gemm_bias_grad %x, %dy {of = "b", trans_a = true} : (tensor<6x3xf32>, tensor<6x4xf32>) -> (tensor<3x4xf32>, tensor<4xf32>)
  return %0#0, %0#1, %1#0, %1#1 : tensor<4x3xf32>, tensor<4xf32>, tensor<3x4xf32>, tensor<4xf32>
}

// -----

// CHECK-LABEL: func.func @row_kernel
// CHECK: %[[R:.*]] = kiln.row_kernel rows 1 {
// CHECK: %[[S:.*]] = kiln.reduce_sum
// CHECK: kiln.yield %[[S]] : tensor<4x1xf32>
// CHECK: } : tensor<4x1xf32>
// CHECK: return %[[R]]
func.func @row_kernel(%x: tensor<4x8xf32>) -> tensor<4x1xf32> {
  %0 = kiln.row_kernel rows 1 {
    %s = kiln.reduce_sum %x {axes = array<i64: 1>, keepdims = true} : (tensor<4x8xf32>) -> tensor<4x1xf32>
    kiln.yield %s : tensor<4x1xf32>
  } : tensor<4x1xf32>
  return %0 : tensor<4x1xf32>
}
