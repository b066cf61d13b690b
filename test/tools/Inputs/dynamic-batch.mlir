// An input whose batch size is unknown: the graph stage needs static shapes.
func.func @forward(%x: tensor<?x784xf32>, %w: tensor<784x10xf32>) -> tensor<?x10xf32> {
  %0 = kiln.matmul %x, %w : (tensor<?x784xf32>, tensor<784x10xf32>) -> tensor<?x10xf32>
  return %0 : tensor<?x10xf32>
}
