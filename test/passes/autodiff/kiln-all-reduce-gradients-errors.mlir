// RUN: kiln-opt %s --split-input-file --kiln-all-reduce-gradients --verify-diagnostics

// expected-error @+1 {{kiln-all-reduce-gradients: has no @train_step (run kiln-build-train-step first)}}
module {
  func.func @forward(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

func.func @train_step(%g: tensor<4xf32>) -> (tensor<4xf32> {kiln.name = "grad.w"}) {
  // expected-error @+1 {{is already in @train_step; kiln-all-reduce-gradients runs once}}
  %r = kiln.all_reduce %g {bucket = 0 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  return %r : tensor<4xf32>
}
