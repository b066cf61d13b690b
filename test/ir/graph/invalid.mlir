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
  // expected-error @+1 {{'kiln.relu' op operand #0 must be ranked tensor of 16-bit float or bfloat16 type or 32-bit float or 64-bit float or 8-bit signless integer or 32-bit signless integer or 64-bit signless integer values, but got 'tensor<3xi16>'}}
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

func.func @matmul_transposed_vector(%a: tensor<4xf32>, %b: tensor<4x3xf32>) {
  // expected-error @+1 {{'kiln.matmul' op trans_a needs an operand of rank 2 or more}}
  %0 = kiln.matmul %a, %b {trans_a = true} : (tensor<4xf32>, tensor<4x3xf32>) -> tensor<3xf32>
  return
}

// -----

func.func @matmul_transposed_contracting(%a: tensor<2x4x3xf32>, %b: tensor<2x3x5xf32>) {
  // expected-error @+1 {{'kiln.matmul' op contracting dimensions differ}}
  %0 = kiln.matmul %a, %b {trans_b = true} : (tensor<2x4x3xf32>, tensor<2x3x5xf32>) -> tensor<2x4x3xf32>
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
  // expected-error @+1 {{'kiln.gemm' op operand c of shape 8 does not broadcast to 8x10}}
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

// -----

func.func @where_cond(%c: tensor<3xi1>, %a: tensor<2x4xf32>) {
  // expected-error @+1 {{'kiln.where' op operands are not broadcast-compatible: condition dimension 0 is 3 but values dimension 1 is 4 (shapes 3 and 2x4)}}
  %0 = kiln.where %c, %a, %a : (tensor<3xi1>, tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @compare_result(%a: tensor<3xf32>) {
  // expected-error @+1 {{'kiln.less' op result #0 must be tensor of 1-bit signless integer values, but got 'tensor<3xf32>'}}
  %0 = kiln.less %a, %a : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return
}

// -----

func.func @gelu_mode(%a: tensor<3xf32>) {
  // expected-error @+1 {{'kiln.gelu' op approximate must be "none" or "tanh", got "fast"}}
  %0 = kiln.gelu %a {approximate = "fast"} : (tensor<3xf32>) -> tensor<3xf32>
  return
}

// -----

func.func @clip_bounds(%a: tensor<3xf32>) {
  // expected-error @+1 {{'kiln.clip' op min (6) is greater than max (0)}}
  %0 = kiln.clip %a {min = 6.0, max = 0.0} : (tensor<3xf32>) -> tensor<3xf32>
  return
}

// -----

func.func @cast_to(%a: tensor<3xf32>) {
  // expected-error @+1 {{'kiln.cast' op cannot cast to 'i16': not an element type kiln supports}}
  %0 = kiln.cast %a {to = i16} : (tensor<3xf32>) -> tensor<3xi64>
  return
}

// -----

func.func @dropout_ratio(%a: tensor<3xf32>) {
  // expected-error @+1 {{'kiln.dropout' op ratio must be in [0, 1), got 1}}
  %0 = kiln.dropout %a {ratio = 1.0} : (tensor<3xf32>) -> tensor<3xf32>
  return
}

// -----

func.func @reshape_count(%a: tensor<2x3x4xf32>) {
  // expected-error @+1 {{'kiln.reshape' op shape 4x7 has 28 elements but the input 2x3x4 has 24}}
  %0 = kiln.reshape %a {shape = array<i64: 4, 7>} : (tensor<2x3x4xf32>) -> tensor<4x7xf32>
  return
}

// -----

func.func @reshape_negative(%a: tensor<2x3x4xf32>) {
  // expected-error @+1 {{'kiln.reshape' op shape[1] is -1 but must be at least 0}}
  %0 = kiln.reshape %a {shape = array<i64: 2, -1>} : (tensor<2x3x4xf32>) -> tensor<2x12xf32>
  return
}

// -----

func.func @transpose_perm(%a: tensor<2x3x4xf32>) {
  // expected-error @+1 {{'kiln.transpose' op perm [0, 0, 1] is not a permutation of the 3 dimensions of the input}}
  %0 = kiln.transpose %a {perm = array<i64: 0, 0, 1>} : (tensor<2x3x4xf32>) -> tensor<2x2x3xf32>
  return
}

// -----

func.func @broadcast_to(%a: tensor<3x2xf32>) {
  // expected-error @+1 {{'kiln.broadcast_to' op the input of shape 3x2 does not broadcast to 3x4}}
  %0 = kiln.broadcast_to %a {shape = array<i64: 3, 4>} : (tensor<3x2xf32>) -> tensor<3x4xf32>
  return
}

// -----

func.func @slice_bounds(%a: tensor<4x5xf32>) {
  // expected-error @+1 {{'kiln.slice' op dimension 1 reads indices 1 to 5 (stride 2) outside the input's size 5}}
  %0 = kiln.slice %a {starts = array<i64: 0, 1>, sizes = array<i64: 4, 3>, strides = array<i64: 1, 2>} : (tensor<4x5xf32>) -> tensor<4x3xf32>
  return
}

// -----

func.func @slice_rank(%a: tensor<4x5xf32>) {
  // expected-error @+1 {{'kiln.slice' op starts has 1 entries but the input's rank needs 2}}
  %0 = kiln.slice %a {starts = array<i64: 0>, sizes = array<i64: 4, 3>, strides = array<i64: 1, 1>} : (tensor<4x5xf32>) -> tensor<4x3xf32>
  return
}

// -----

func.func @concat_sizes(%a: tensor<2x3xf32>, %b: tensor<4x3xf32>) {
  // expected-error @+1 {{'kiln.concat' op input 1 dimension 0 is 4 but input 0's is 2 (only the axis dimension may differ)}}
  %0 = kiln.concat %a, %b {axis = 1 : i64} : (tensor<2x3xf32>, tensor<4x3xf32>) -> tensor<2x6xf32>
  return
}

// -----

func.func @gather_axis(%a: tensor<10x4xf32>, %i: tensor<3xi64>) {
  // expected-error @+1 {{'kiln.gather' op axis 2 is out of range for data of rank 2}}
  %0 = kiln.gather %a, %i {axis = 2 : i64} : (tensor<10x4xf32>, tensor<3xi64>) -> tensor<3x4xf32>
  return
}

// -----

func.func @gather_elements_rank(%a: tensor<10x4xf32>, %i: tensor<3xi64>) {
  // expected-error @+1 {{'kiln.gather_elements' op indices have rank 1 but data has rank 2}}
  %0 = kiln.gather_elements %a, %i : (tensor<10x4xf32>, tensor<3xi64>) -> tensor<3xf32>
  return
}

// -----

func.func @trilu_rank(%a: tensor<4xf32>) {
  // expected-error @+1 {{'kiln.trilu' op input must have rank 2 or more, got rank 1}}
  %0 = kiln.trilu %a : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @reduce_axes(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{'kiln.reduce_sum' op axes [1, 0] must be distinct, sorted and in [0, 2)}}
  %0 = kiln.reduce_sum %a {axes = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<1x1xf32>
  return
}

// -----

func.func @conv_channels(%x: tensor<1x3x8x8xf32>, %w: tensor<4x2x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv' op weight dimension 1 is 2 but input channels / group is 3}}
  %0 = kiln.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : (tensor<1x3x8x8xf32>, tensor<4x2x3x3xf32>) -> tensor<1x4x6x6xf32>
  return
}

// -----

func.func @conv_pads(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv' op pads has 2 entries but 2 spatial dimensions (begins, then ends) needs 4}}
  %0 = kiln.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0>, dilations = array<i64: 1, 1>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  return
}

// -----

func.func @conv_too_small(%x: tensor<1x3x2x2xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv' op spatial dimension 0 of size 2 (padded 2) is smaller than the window (3 with dilation 1)}}
  %0 = kiln.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : (tensor<1x3x2x2xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x1x1xf32>
  return
}

// -----

func.func @conv_bias(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<3xf32>) {
  // expected-error @+1 {{'kiln.conv' op bias of shape 3 must have one element per output channel (4)}}
  %0 = kiln.conv %x, %w, %b {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<3xf32>) -> tensor<1x4x6x6xf32>
  return
}

// -----

func.func @pool_pad(%x: tensor<1x3x8x8xf32>) {
  // expected-error @+1 {{'kiln.max_pool' op padding of spatial dimension 0 (2, 2) must be smaller than the kernel (2)}}
  %0 = kiln.max_pool %x {kernel = array<i64: 2, 2>, strides = array<i64: 1, 1>, pads = array<i64: 2, 0, 2, 0>, dilations = array<i64: 1, 1>} : (tensor<1x3x8x8xf32>) -> tensor<1x3x11x7xf32>
  return
}

// -----

func.func @batch_norm_channels(%x: tensor<2x3x4x4xf32>, %s: tensor<4xf32>) {
  // expected-error @+1 {{'kiln.batch_norm_train' op scale of shape 4 must have one element per channel (3)}}
  %0:3 = kiln.batch_norm_train %x, %s, %s : (tensor<2x3x4x4xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<2x3x4x4xf32>, tensor<3xf32>, tensor<3xf32>)
  return
}

// -----

func.func @batch_norm_result(%x: tensor<2x3x4x4xf32>, %s: tensor<3xf32>) {
  // expected-error @+1 {{'kiln.batch_norm_train' op result type #1 'tensor<4xf32>' is incompatible with the inferred type 'tensor<3xf32>'}}
  %0:3 = kiln.batch_norm_train %x, %s, %s : (tensor<2x3x4x4xf32>, tensor<3xf32>, tensor<3xf32>) -> (tensor<2x3x4x4xf32>, tensor<4xf32>, tensor<3xf32>)
  return
}

// -----

func.func @layer_norm_scale(%x: tensor<2x3x8xf32>, %s: tensor<3xf32>) {
  // expected-error @+1 {{'kiln.layer_norm' op scale of shape 3 does not broadcast to 8}}
  %0 = kiln.layer_norm %x, %s {axis = 2 : i64} : (tensor<2x3x8xf32>, tensor<3xf32>) -> tensor<2x3x8xf32>
  return
}

// -----

func.func @initializer_name() {
  // expected-error @+1 {{'kiln.initializer' op requires a non-empty name}}
  %0 = kiln.initializer "" = dense<1.0> : tensor<2xf32>
  return
}

// -----

func.func @gather_nd_tuple(%d: tensor<3x4xf32>, %i: tensor<2x3xi64>) {
  // expected-error @+1 {{'kiln.gather_nd' op index tuples of length 3 do not fit data of rank 2 after 0 batch dimensions}}
  %0 = kiln.gather_nd %d, %i : (tensor<3x4xf32>, tensor<2x3xi64>) -> tensor<2xf32>
  return
}

// -----

func.func @gather_nd_batch(%d: tensor<3x4xf32>, %i: tensor<2x1xi64>) {
  // expected-error @+1 {{'kiln.gather_nd' op batch dimension 0 is 3 in data but 2 in indices}}
  %0 = kiln.gather_nd %d, %i {batch_dims = 1 : i64} : (tensor<3x4xf32>, tensor<2x1xi64>) -> tensor<2xf32>
  return
}

// -----

func.func @cumsum_axis(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{'kiln.cumsum' op axis 2 is out of range for an input of rank 2}}
  %0 = kiln.cumsum %a {axis = 2 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @random_bounds() {
  // expected-error @+1 {{'kiln.random_uniform' op low (1) must be below high (1)}}
  %0 = kiln.random_uniform {shape = array<i64: 4>, dtype = f32, low = 1.0, high = 1.0} : () -> tensor<4xf32>
  return
}

// -----

func.func @random_seed(%seed: tensor<2xi64>) {
  // expected-error @+1 {{'kiln.random_uniform' op step_seed must be a scalar, got 'tensor<2xi64>'}}
  %0 = kiln.random_uniform %seed {shape = array<i64: 4>, dtype = f32} : (tensor<2xi64>) -> tensor<4xf32>
  return
}

// -----

func.func @random_dtype() {
  // expected-error @+1 {{'kiln.random_uniform' op dtype must be a float type, got 'i32'}}
  %0 = kiln.random_uniform {shape = array<i64: 4>, dtype = i32} : () -> tensor<4xf32>
  return
}

// -----

func.func @conv_backward_data_wrong_grad(%dy: tensor<2x6x5x5xf32>, %w: tensor<6x2x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv_backward_data' op grad has shape 'tensor<2x6x5x5xf32>' but the forward convolution's output would be 'tensor<2x6x4x4xf32>'}}
  %0 = kiln.conv_backward_data %dy, %w {input_shape = array<i64: 2, 4, 8, 8>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 2 : i64} : (tensor<2x6x5x5xf32>, tensor<6x2x3x3xf32>) -> tensor<2x4x8x8xf32>
  return
}

// -----

func.func @conv_backward_filter_bad_group(%dy: tensor<2x6x4x4xf32>, %x: tensor<2x4x8x8xf32>) {
  // expected-error @+1 {{'kiln.conv_backward_filter' op channels do not fit: input 4, weight 6x3, group 2}}
  %0 = kiln.conv_backward_filter %dy, %x {weight_shape = array<i64: 6, 3, 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 2 : i64} : (tensor<2x6x4x4xf32>, tensor<2x4x8x8xf32>) -> tensor<6x3x3x3xf32>
  return
}

// -----

func.func @pool_grad_mismatch(%dp: tensor<2x4x3x3xf32>, %x: tensor<2x4x8x8xf32>, %y: tensor<2x4x4x4xf32>) {
  // expected-error @+1 {{'kiln.pool_grad' op grad 'tensor<2x4x3x3xf32>' and the pooling's output 'tensor<2x4x4x4xf32>' differ}}
  %0 = kiln.pool_grad %dp, %x, %y {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, max = true} : (tensor<2x4x3x3xf32>, tensor<2x4x8x8xf32>, tensor<2x4x4x4xf32>) -> tensor<2x4x8x8xf32>
  return
}

// -----

func.func @all_reduce_result_type(%a: tensor<3xf32>) {
  // expected-error @+1 {{'kiln.all_reduce' op result 0 has type 'tensor<4xf32>'; operand 0 has 'tensor<3xf32>'}}
  %0 = kiln.all_reduce %a {bucket = 0 : i64} : (tensor<3xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @all_reduce_mixed(%a: tensor<3xf32>, %b: tensor<3xf64>) {
  // expected-error @+1 {{'kiln.all_reduce' op mixes element types ('f32' and 'f64'): one bucket is one collective of one type}}
  %0:2 = kiln.all_reduce %a, %b {bucket = 0 : i64} : (tensor<3xf32>, tensor<3xf64>) -> (tensor<3xf32>, tensor<3xf64>)
  return
}

// -----

func.func @all_reduce_reduction(%a: tensor<3xf32>) {
  // expected-error @+1 {{'kiln.all_reduce' op has reduction 'max' (expected mean or sum)}}
  %0 = kiln.all_reduce %a {bucket = 0 : i64, reduction = "max"} : (tensor<3xf32>) -> tensor<3xf32>
  return
}

// -----

func.func @all_reduce_empty() {
  // expected-error @+1 {{'kiln.all_reduce' op needs at least one operand}}
  kiln.all_reduce {bucket = 0 : i64} : () -> ()
  return
}

// -----

func.func @gemm_relu_grad_shapes(%a: tensor<4x3xf32>, %b: tensor<3x5xf32>, %m: tensor<4x6xf32>) {
  // expected-error @+1 {{'kiln.gemm_relu_grad' op needs the mask and the gradient to be 'tensor<4x5xf32>'}}
  %0:2 = kiln.gemm_relu_grad %a, %b, %m : (tensor<4x3xf32>, tensor<3x5xf32>, tensor<4x6xf32>) -> (tensor<4x5xf32>, tensor<5xf32>)
  return
}

// -----

func.func @gemm_bias_grad_operand(%a: tensor<6x4xf32>, %b: tensor<6x3xf32>) {
  // expected-error @+1 {{'kiln.gemm_bias_grad' op sums operand 'a' or 'b', not 'c'}}
  %0:2 = kiln.gemm_bias_grad %a, %b {of = "c", trans_a = true} : (tensor<6x4xf32>, tensor<6x3xf32>) -> (tensor<4x3xf32>, tensor<4xf32>)
  return
}

// -----

func.func @gemm_bias_grad_sums(%a: tensor<6x4xf32>, %b: tensor<6x3xf32>) {
  // expected-error @+1 {{'kiln.gemm_bias_grad' op needs a bias gradient of 3 'f32'}}
  %0:2 = kiln.gemm_bias_grad %a, %b {of = "b", trans_a = true} : (tensor<6x4xf32>, tensor<6x3xf32>) -> (tensor<4x3xf32>, tensor<4xf32>)
  return
}

// -----

func.func @gemm_bias_grad_shapes(%a: tensor<6x4xf32>, %b: tensor<5x3xf32>) {
  // expected-error @+1 {{'kiln.gemm_bias_grad' op multiplies 4x6 by 5x3}}
  %0:2 = kiln.gemm_bias_grad %a, %b {of = "a", trans_a = true} : (tensor<6x4xf32>, tensor<5x3xf32>) -> (tensor<4x3xf32>, tensor<4xf32>)
  return
}

// -----

func.func @row_kernel_yield_types(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{'kiln.row_kernel' op yields 1 values whose types differ from its results'}}
  %0 = kiln.row_kernel rows 1 {
    kiln.yield %x : tensor<4x8xf32>
  } : tensor<4xf32>
  return
}

// -----

func.func @yield_outside_row_kernel(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{'kiln.yield' op expects parent op 'kiln.row_kernel'}}
  kiln.yield %x : tensor<4x8xf32>
}

// -----

func.func @embedding_grad_rows(%ids: tensor<6xi64>, %g: tensor<6x4xf32>) {
  // expected-error @+1 {{'kiln.embedding_grad' op needs a result of 'tensor<10x4xf32>'}}
  %0 = kiln.embedding_grad %ids, %g {rows = 10 : i64} : (tensor<6xi64>, tensor<6x4xf32>) -> tensor<9x4xf32>
  return
}

// -----

func.func @embedding_grad_ids(%ids: tensor<2x3xi64>, %g: tensor<6x4xf32>) {
  // expected-error @+1 {{'kiln.embedding_grad' op needs ids [N] and updates [N, W], not 'tensor<2x3xi64>' and 'tensor<6x4xf32>'}}
  %0 = kiln.embedding_grad %ids, %g {rows = 10 : i64} : (tensor<2x3xi64>, tensor<6x4xf32>) -> tensor<10x4xf32>
  return
}
