// A schedule whose shared memory would not fit in the 48 KiB a kernel may
// declare gives way: seven inputs read transposed would need seven
// 32 x 33 tiles (59 KiB at 8 bytes an element), so the kernel reads them
// a point a thread; with one, it takes the tiles.
// RUN: kiln compile %s --inference -o %t.kiln
// RUN: kiln inspect %t.kiln | FileCheck %s
// CHECK: kernel '{{.*}}' over [96, 64] (2 parallel), 13 instructions
// CHECK: kernel '{{.*}}' over [96, 64] (2 parallel, 32 x 32 tiles of dimensions 0 and 1), 2 instructions
func.func @forward(%a: tensor<64x96xf32> {kiln.name = "a"}, %b: tensor<64x96xf32> {kiln.name = "b"}, %c: tensor<64x96xf32> {kiln.name = "c"}, %d: tensor<64x96xf32> {kiln.name = "d"}, %e: tensor<64x96xf32> {kiln.name = "e"}, %f: tensor<64x96xf32> {kiln.name = "f"}, %g: tensor<64x96xf32> {kiln.name = "g"}, %h: tensor<64x96xf32> {kiln.name = "h"}) -> (tensor<96x64xf32> {kiln.name = "y"}, tensor<96x64xf32> {kiln.name = "z"}) {
  %at = kiln.transpose %a {perm = array<i64: 1, 0>} : (tensor<64x96xf32>) -> tensor<96x64xf32>
  %bt = kiln.transpose %b {perm = array<i64: 1, 0>} : (tensor<64x96xf32>) -> tensor<96x64xf32>
  %ct = kiln.transpose %c {perm = array<i64: 1, 0>} : (tensor<64x96xf32>) -> tensor<96x64xf32>
  %dt = kiln.transpose %d {perm = array<i64: 1, 0>} : (tensor<64x96xf32>) -> tensor<96x64xf32>
  %et = kiln.transpose %e {perm = array<i64: 1, 0>} : (tensor<64x96xf32>) -> tensor<96x64xf32>
  %ft = kiln.transpose %f {perm = array<i64: 1, 0>} : (tensor<64x96xf32>) -> tensor<96x64xf32>
  %gt = kiln.transpose %g {perm = array<i64: 1, 0>} : (tensor<64x96xf32>) -> tensor<96x64xf32>
  %0 = kiln.add %at, %bt : (tensor<96x64xf32>, tensor<96x64xf32>) -> tensor<96x64xf32>
  %1 = kiln.add %0, %ct : (tensor<96x64xf32>, tensor<96x64xf32>) -> tensor<96x64xf32>
  %2 = kiln.add %1, %dt : (tensor<96x64xf32>, tensor<96x64xf32>) -> tensor<96x64xf32>
  %3 = kiln.add %2, %et : (tensor<96x64xf32>, tensor<96x64xf32>) -> tensor<96x64xf32>
  %4 = kiln.add %3, %ft : (tensor<96x64xf32>, tensor<96x64xf32>) -> tensor<96x64xf32>
  %5 = kiln.add %4, %gt : (tensor<96x64xf32>, tensor<96x64xf32>) -> tensor<96x64xf32>
  %ht = kiln.transpose %h {perm = array<i64: 1, 0>} : (tensor<64x96xf32>) -> tensor<96x64xf32>
  %6 = kiln.exp %ht : (tensor<96x64xf32>) -> tensor<96x64xf32>
  return %5, %6 : tensor<96x64xf32>, tensor<96x64xf32>
}
