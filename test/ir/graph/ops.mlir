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
