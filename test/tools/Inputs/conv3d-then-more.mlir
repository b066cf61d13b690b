// A convolution in three spatial dimensions, then ops that read it: the
// code generator says so once, not again for each reader.
func.func @forward(%x: tensor<1x2x4x4x4xf32> {kiln.name = "x"}, %w: tensor<3x2x1x1x1xf32> {kiln.name = "w"}) -> tensor<1x3x4x4x4xf32> {
  %0 = kiln.conv %x, %w {strides = array<i64: 1, 1, 1>, pads = array<i64: 0, 0, 0, 0, 0, 0>, dilations = array<i64: 1, 1, 1>, group = 1 : i64} : (tensor<1x2x4x4x4xf32>, tensor<3x2x1x1x1xf32>) -> tensor<1x3x4x4x4xf32>
  %1 = kiln.relu %0 : (tensor<1x3x4x4x4xf32>) -> tensor<1x3x4x4x4xf32>
  %2 = kiln.softmax %1 : (tensor<1x3x4x4x4xf32>) -> tensor<1x3x4x4x4xf32>
  return %2 : tensor<1x3x4x4x4xf32>
}
