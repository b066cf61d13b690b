// Long full reductions over several tensors run as one multi-tensor
// launch, whose entry takes blocks of 256 threads whatever each reduction
// alone would have had (a single one this long gets blocks of 1024).
// RUN: kiln compile %s --inference -o %t.kiln
// RUN: kiln inspect %t.kiln | FileCheck %s
// CHECK: kernel '{{.*}}' over [20000] (0 parallel, block reduction), 2 instructions; one launch over 2 tensors, 50000 points
// CHECK-NOT: 1024 threads
func.func @forward(%a: tensor<20000xf32> {kiln.name = "a"}, %b: tensor<30000xf32> {kiln.name = "b"}) -> (tensor<f32> {kiln.name = "sa"}, tensor<f32> {kiln.name = "sb"}) {
  %0 = kiln.mul %a, %a : (tensor<20000xf32>, tensor<20000xf32>) -> tensor<20000xf32>
  %1 = kiln.reduce_sum %0 {axes = array<i64: 0>, keepdims = false} : (tensor<20000xf32>) -> tensor<f32>
  %2 = kiln.mul %b, %b : (tensor<30000xf32>, tensor<30000xf32>) -> tensor<30000xf32>
  %3 = kiln.reduce_sum %2 {axes = array<i64: 0>, keepdims = false} : (tensor<30000xf32>) -> tensor<f32>
  return %1, %3 : tensor<f32>, tensor<f32>
}
