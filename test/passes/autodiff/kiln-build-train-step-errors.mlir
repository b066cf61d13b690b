// RUN: kiln-opt %s --split-input-file --kiln-build-train-step --verify-diagnostics

func.func @forward(%x: tensor<4x3xf32>) -> tensor<4x1xf32> {
  %w = kiln.initializer "w" = dense<0.5> : tensor<4x3xf32>
  %0 = kiln.add %x, %w : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  // expected-error @+1 {{'kiln.reduce_prod' op has no gradient rule, and the loss depends on a trainable parameter through it}}
  %1 = kiln.reduce_prod %0 {axes = array<i64: 1>, keepdims = true} : (tensor<4x3xf32>) -> tensor<4x1xf32>
  return %1 : tensor<4x1xf32>
}

// -----

// expected-error @+1 {{has no trainable parameter: no float initializer reaches the loss}}
func.func @forward(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %0 = kiln.relu %x : (tensor<4x3xf32>) -> tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// -----

// expected-error @+1 {{has no function @forward to train}}
module {
  func.func @main(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
    return %x : tensor<4x3xf32>
  }
}

// -----

// expected-error @+1 {{a loss needs a float tensor}}
func.func @forward(%x: tensor<4x3xi64>) -> tensor<4x3xi64> {
  return %x : tensor<4x3xi64>
}

// -----

// A GEMM with its ReLU already folded in (kiln-fuse-gemm-epilogue runs after
// autodiff): no gradient rule.
func.func @forward(%x: tensor<4x3xf32>) -> tensor<4x5xf32> {
  %w = kiln.initializer "w" = dense<0.5> : tensor<5x3xf32>
  // expected-error @+1 {{'kiln.gemm' op with a ReLU epilogue has no gradient rule: kiln-fuse-gemm-epilogue runs after autodiff}}
  %0 = kiln.gemm %x, %w {relu = true, trans_b = true} : (tensor<4x3xf32>, tensor<5x3xf32>) -> tensor<4x5xf32>
  return %0 : tensor<4x5xf32>
}
