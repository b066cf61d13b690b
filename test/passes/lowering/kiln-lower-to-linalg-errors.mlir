// RUN: kiln-opt %s --split-input-file --kiln-lower-to-linalg=inference=false --verify-diagnostics

// kiln.uniform belongs in kernel bodies (lowering puts it there); outside
// one it has no kernel of its own.
func.func @not_yet(%i: i64, %s: i64) {
  // expected-error @+1 {{'kiln.uniform' op has no lowering to kernels yet}}
  %0 = kiln.uniform %i, %s : f32
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
