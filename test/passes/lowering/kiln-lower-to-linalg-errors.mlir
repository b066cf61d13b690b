// RUN: kiln-opt %s --split-input-file --kiln-lower-to-linalg=inference=false --verify-diagnostics

func.func @not_yet(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv' op has no lowering to kernels yet}}
  %0 = kiln.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  return
}

// -----

func.func @dynamic(%x: tensor<?x3xf32>) {
  // expected-error @+1 {{'kiln.relu' op result type 'tensor<?x3xf32>' has a dynamic size; lowering to kernels needs static shapes (run kiln-shape-infer)}}
  %0 = kiln.relu %x : (tensor<?x3xf32>) -> tensor<?x3xf32>
  return
}

// -----

func.func @training_dropout(%x: tensor<4xf32>) {
  // expected-error @+1 {{'kiln.dropout' op training-mode dropout is not lowered yet}}
  %0 = kiln.dropout %x {ratio = 0.5} : (tensor<4xf32>) -> tensor<4xf32>
  return
}
