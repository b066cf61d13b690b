// A kiln.row_kernel whose stage writes its row sums transposed: read at the
// row by the main kernel, they would not be the staged kernel's locals.
#x = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#swapped = affine_map<(d0, d1, d2) -> (d1, d0)>
#row = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @forward(%x: tensor<4x4x8xf32> {kiln.name = "x"}) -> (tensor<4x4x8xf32> {kiln.name = "y"}) {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x4xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x4xf32>) -> tensor<4x4xf32>
  %o = tensor.empty() : tensor<4x4x8xf32>
  %r = kiln.row_kernel rows 2 {
    %s = linalg.generic {indexing_maps = [#x, #swapped], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x : tensor<4x4x8xf32>) outs(%f : tensor<4x4xf32>) {
    ^bb0(%in: f32, %acc: f32):
      %a = arith.addf %acc, %in : f32
      linalg.yield %a : f32
    } -> tensor<4x4xf32>
    %y = linalg.generic {indexing_maps = [#x, #row, #x], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x, %s : tensor<4x4x8xf32>, tensor<4x4xf32>) outs(%o : tensor<4x4x8xf32>) {
    ^bb0(%in: f32, %t: f32, %out: f32):
      %d = arith.subf %in, %t : f32
      linalg.yield %d : f32
    } -> tensor<4x4x8xf32>
    kiln.yield %y : tensor<4x4x8xf32>
  } : tensor<4x4x8xf32>
  return %r : tensor<4x4x8xf32>
}
