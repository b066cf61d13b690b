// An op whose location fuses several ONNX nodes' (a kernel fused from
// them), which the code generator cannot emit: the error names the nodes.
func.func @forward(%x: tensor<1x2x4x4x4xf32> {kiln.name = "x"}, %w: tensor<3x2x1x1x1xf32> {kiln.name = "w"}) -> tensor<1x3x4x4x4xf32> {
  %0 = kiln.conv %x, %w {strides = array<i64: 1, 1, 1>, pads = array<i64: 0, 0, 0, 0, 0, 0>, dilations = array<i64: 1, 1, 1>, group = 1 : i64} : (tensor<1x2x4x4x4xf32>, tensor<3x2x1x1x1xf32>) -> tensor<1x3x4x4x4xf32> loc(fused["node 'conv0' (Conv)"("model.onnx":0:0), "node 'bias0' (Add)"("model.onnx":0:0), fused["node 'a' (Mul)"("model.onnx":0:0), "node 'b' (Mul)"("model.onnx":0:0), "node 'c' (Mul)"("model.onnx":0:0)]])
  return %0 : tensor<1x3x4x4x4xf32>
}
