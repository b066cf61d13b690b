// A kiln.row_kernel whose main kernel reads the row sums across the rows.
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#col = affine_map<(d0, d1) -> (d1)>
func.func @forward(%x: tensor<8x8xf32> {kiln.name = "x"}) -> (tensor<8x8xf32> {kiln.name = "y"}) {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %o = tensor.empty() : tensor<8x8xf32>
  %r = kiln.row_kernel rows 1 {
    %s = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<8x8xf32>) outs(%f : tensor<8xf32>) {
    ^bb0(%in: f32, %acc: f32):
      %a = arith.addf %acc, %in : f32
      linalg.yield %a : f32
    } -> tensor<8xf32>
    %y = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]} ins(%x, %s : tensor<8x8xf32>, tensor<8xf32>) outs(%o : tensor<8x8xf32>) {
    ^bb0(%in: f32, %t: f32, %out: f32):
      %d = arith.subf %in, %t : f32
      linalg.yield %d : f32
    } -> tensor<8x8xf32>
    kiln.yield %y : tensor<8x8xf32>
  } : tensor<8x8xf32>
  return %r : tensor<8x8xf32>
}
