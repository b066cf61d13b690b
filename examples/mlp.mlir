// examples/mlp.mlir - the benchmark MLP (784-1024-1024-10, batch 256) as kiln
// IR, written the way the importer leaves a model before shape inference:
// argument shapes known, result sizes not yet (`?`). The README's main
// command compiles it; `kiln compile --emit mlir` prints it fully shaped.
func.func @forward(%x: tensor<256x784xf32>,
                   %fc1_w: tensor<784x1024xf32>, %fc1_b: tensor<1024xf32>,
                   %fc2_w: tensor<1024x1024xf32>, %fc2_b: tensor<1024xf32>,
                   %fc3_w: tensor<10x1024xf32>, %fc3_b: tensor<10xf32>) -> tensor<?x10xf32> {
  // fc1 and fc2 as the dynamo exporter writes Linear: MatMul + Add.
  %0 = kiln.matmul %x, %fc1_w : (tensor<256x784xf32>, tensor<784x1024xf32>) -> tensor<?x?xf32>
  %1 = kiln.add %0, %fc1_b : (tensor<?x?xf32>, tensor<1024xf32>) -> tensor<?x?xf32>
  %2 = kiln.relu %1 : (tensor<?x?xf32>) -> tensor<?x?xf32>
  %3 = kiln.matmul %2, %fc2_w : (tensor<?x?xf32>, tensor<1024x1024xf32>) -> tensor<?x?xf32>
  %4 = kiln.add %3, %fc2_b : (tensor<?x?xf32>, tensor<1024xf32>) -> tensor<?x?xf32>
  %5 = kiln.relu %4 : (tensor<?x?xf32>) -> tensor<?x?xf32>
  // fc3 as the TorchScript exporter writes Linear: Gemm with a transposed weight.
  %6 = kiln.gemm %5, %fc3_w, %fc3_b {trans_b = true} : (tensor<?x?xf32>, tensor<10x1024xf32>, tensor<10xf32>) -> tensor<?x10xf32>
  // Log-probabilities, which cross-entropy reads.
  %7 = kiln.log_softmax %6 : (tensor<?x10xf32>) -> tensor<?x10xf32>
  return %7 : tensor<?x10xf32>
}
