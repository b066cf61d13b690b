// RUN: kiln-opt %s --split-input-file --kiln-lower-to-linalg=inference=false --verify-diagnostics

func.func @not_yet() {
  // expected-error @+1 {{'kiln.random_uniform' op has no lowering to kernels yet}}
  %0 = kiln.random_uniform {shape = array<i64: 4>, dtype = f32} : () -> tensor<4xf32>
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
