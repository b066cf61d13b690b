func.func @f(%a: tensor<3xf32>) {
  %0 = kiln.relu %a : (tensor<3xf32>) ->
}
