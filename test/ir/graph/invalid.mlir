// RUN: kiln-opt %s --split-input-file --verify-diagnostics

func.func @add_not_broadcastable(%a: tensor<2x3xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'kiln.add' op operands are not broadcast-compatible: lhs dimension 1 is 3 but rhs dimension 0 is 4 (shapes 2x3 and 4)}}
  %0 = kiln.add %a, %b : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @add_mixed_element_types(%a: tensor<3xf32>, %b: tensor<3xf64>) {
  // expected-error @+1 {{'kiln.sub' op operands must have the same element type, but lhs is 'f32' and rhs is 'f64'}}
  %0 = kiln.sub %a, %b : (tensor<3xf32>, tensor<3xf64>) -> tensor<3xf32>
  return
}

// -----

func.func @add_wrong_result(%a: tensor<2x3xf32>, %b: tensor<3xf32>) {
  // expected-error @+1 {{'kiln.add' op result type 'tensor<3x3xf32>' is incompatible with the inferred type 'tensor<2x3xf32>'}}
  %0 = kiln.add %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<3x3xf32>
  return
}

// -----

func.func @add_wrong_result_rank(%a: tensor<2x3xf32>, %b: tensor<3xf32>) {
  // expected-error @+1 {{'kiln.mul' op result type 'tensor<6xf32>' is incompatible with the inferred type 'tensor<2x3xf32>'}}
  %0 = kiln.mul %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<6xf32>
  return
}

// -----

func.func @unranked(%a: tensor<*xf32>) {
  // expected-error @+1 {{'kiln.relu' op operand #0 must be ranked tensor of}}
  %0 = kiln.relu %a : (tensor<*xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @unsupported_element_type(%a: tensor<3xi16>) {
  // expected-error @+1 {{'kiln.relu' op operand #0 must be ranked tensor of 16-bit float or bfloat16 type or 32-bit float or 64-bit float or 32-bit signless integer or 64-bit signless integer values, but got 'tensor<3xi16>'}}
  %0 = kiln.relu %a : (tensor<3xi16>) -> tensor<3xi16>
  return
}

// -----

func.func @matmul_contracting(%a: tensor<256x784xf32>, %b: tensor<512x10xf32>) {
  // expected-error @+1 {{'kiln.matmul' op contracting dimensions differ: lhs dimension 1 is 784 but rhs dimension 0 is 512 (shapes 256x784 and 512x10)}}
  %0 = kiln.matmul %a, %b : (tensor<256x784xf32>, tensor<512x10xf32>) -> tensor<256x10xf32>
  return
}

// -----

func.func @matmul_scalar(%a: tensor<f32>, %b: tensor<3xf32>) {
  // expected-error @+1 {{'kiln.matmul' op operands must have rank 1 or more, got a scalar lhs}}
  %0 = kiln.matmul %a, %b : (tensor<f32>, tensor<3xf32>) -> tensor<3xf32>
  return
}

// -----

func.func @matmul_batch(%a: tensor<2x3x4xf32>, %b: tensor<5x4x6xf32>) {
  // expected-error @+1 {{'kiln.matmul' op operands are not broadcast-compatible: lhs batch dimension 0 is 2 but rhs batch dimension 0 is 5 (shapes 2 and 5)}}
  %0 = kiln.matmul %a, %b : (tensor<2x3x4xf32>, tensor<5x4x6xf32>) -> tensor<2x3x6xf32>
  return
}

// -----

func.func @gemm_rank(%a: tensor<2x3x4xf32>, %b: tensor<4x6xf32>) {
  // expected-error @+1 {{'kiln.gemm' op operand a must have rank 2, got rank 3}}
  %0 = kiln.gemm %a, %b : (tensor<2x3x4xf32>, tensor<4x6xf32>) -> tensor<3x6xf32>
  return
}

// -----

func.func @gemm_contracting(%a: tensor<8x784xf32>, %b: tensor<784x10xf32>) {
  // expected-error @+1 {{'kiln.gemm' op contracting dimensions differ: a dimension 1 is 784 but b dimension 1 is 10 (trans_a = 0, trans_b = 1)}}
  %0 = kiln.gemm %a, %b {trans_b = true} : (tensor<8x784xf32>, tensor<784x10xf32>) -> tensor<8x784xf32>
  return
}

// -----

func.func @gemm_bias(%a: tensor<8x16xf32>, %b: tensor<16x10xf32>, %c: tensor<8xf32>) {
  // expected-error @+1 {{'kiln.gemm' op operand c of shape 8 does not broadcast to the result shape 8x10}}
  %0 = kiln.gemm %a, %b, %c : (tensor<8x16xf32>, tensor<16x10xf32>, tensor<8xf32>) -> tensor<8x10xf32>
  return
}

// -----

func.func @softmax_axis(%a: tensor<4x10xf32>) {
  // expected-error @+1 {{'kiln.log_softmax' op axis 2 is out of range for an input of rank 2 (expected -2 to 1)}}
  %0 = kiln.log_softmax %a {axis = 2 : i64} : (tensor<4x10xf32>) -> tensor<4x10xf32>
  return
}

// -----

func.func @softmax_int(%a: tensor<4x10xi64>) {
  // expected-error @+1 {{'kiln.softmax' op operand #0 must be ranked tensor of 16-bit float or bfloat16 type or 32-bit float or 64-bit float values, but got 'tensor<4x10xi64>'}}
  %0 = kiln.softmax %a : (tensor<4x10xi64>) -> tensor<4x10xi64>
  return
}

// -----

func.func @constant_dynamic() {
  // expected-error @+1 {{'kiln.constant' op value must be a statically shaped tensor, got}}
  %0 = "kiln.constant"() <{value = dense<1.0> : vector<2xf32>}> : () -> tensor<2xf32>
  return
}

// -----

func.func @not_an_op(%a: tensor<3xf32>) {
  // expected-error @+1 {{custom op 'kiln.frobnicate' is unknown}}
  %0 = kiln.frobnicate %a : (tensor<3xf32>) -> tensor<3xf32>
  return
}
