// RUN: kiln-opt %s --split-input-file --kiln-lower-to-linalg --kiln-fuse-elementwise | FileCheck %s

// Row kernels: reductions of each row (the first loops kept, the rest
// reduced) and the kernel that reads their results at the row become one
// kiln.row_kernel, which the code generator emits as one staged kernel.

// A softmax: the row's maximum, the sum of exponentials (which reads the
// maximum), then the quotient: three kernels, one launch.
// CHECK-LABEL: func.func @softmax
// CHECK: %[[R:.*]] = kiln.row_kernel rows 1 {
// CHECK: %[[MAX:.*]] = linalg.generic {{.*}}["parallel", "reduction"]{{.*}}ins(%arg0 :
// CHECK: arith.maximumf
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}}["parallel", "reduction"]{{.*}}ins(%arg0, %[[MAX]] :
// CHECK: math.exp
// CHECK: %[[Y:.*]] = linalg.generic {{.*}}["parallel", "parallel"]{{.*}}ins(%arg0, %[[MAX]], %[[SUM]] :
// CHECK: arith.divf
// CHECK: kiln.yield %[[Y]] : tensor<8x10xf32>
// CHECK: return %[[R]]
func.func @softmax(%x: tensor<8x10xf32>) -> tensor<8x10xf32> {
  %0 = kiln.softmax %x : (tensor<8x10xf32>) -> tensor<8x10xf32>
  return %0 : tensor<8x10xf32>
}

// -----

// A log-softmax likewise: maximum, sum of exponentials, x - max - log(sum).
// CHECK-LABEL: func.func @log_softmax
// CHECK: kiln.row_kernel rows 1 {
// CHECK-COUNT-2: linalg.generic {{.*}}["parallel", "reduction"]
// CHECK: linalg.generic {{.*}}["parallel", "parallel"]
// CHECK: math.log
// CHECK: kiln.yield
// CHECK-NOT: linalg.generic
func.func @log_softmax(%x: tensor<64x10xf32>) -> tensor<64x10xf32> {
  %0 = kiln.log_softmax %x : (tensor<64x10xf32>) -> tensor<64x10xf32>
  return %0 : tensor<64x10xf32>
}

// -----

// A LayerNorm over the last axis of a 3-D tensor: two leading row loops.
// CHECK-LABEL: func.func @layer_norm
// CHECK: kiln.row_kernel rows 2 {
// CHECK-COUNT-2: linalg.generic {{.*}}["parallel", "parallel", "reduction"]
// CHECK: linalg.generic {{.*}}["parallel", "parallel", "parallel"]
// CHECK: math.sqrt
// CHECK: kiln.yield
// CHECK-NOT: linalg.generic
func.func @layer_norm(%x: tensor<2x6x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<2x6x8xf32> {
  %0 = kiln.layer_norm %x, %g, %b {axis = 2 : i64} : (tensor<2x6x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x6x8xf32>
  return %0 : tensor<2x6x8xf32>
}

// -----

// A statistic that is also read after the group (here returned) is
// yielded too: the staged kernel writes it once per row.
// CHECK-LABEL: func.func @statistic_read_later
// CHECK: %[[R:.*]]:2 = kiln.row_kernel rows 1 {
// CHECK: %[[S:.*]] = linalg.generic {{.*}}["parallel", "reduction"]
// CHECK: %[[Y:.*]] = linalg.generic {{.*}}["parallel", "parallel"]{{.*}}ins(%arg0, %[[S]] :
// CHECK: kiln.yield %[[Y]], %[[S]] : tensor<4x8xf32>, tensor<4xf32>
// CHECK: kiln.reshape %[[R]]#1
// CHECK: return %[[R]]#0
func.func @statistic_read_later(%x: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x1xf32>) {
  %s = kiln.reduce_sum %x {axes = array<i64: 1>, keepdims = true} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  %d = kiln.sub %x, %s : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  return %d, %s : tensor<4x8xf32>, tensor<4x1xf32>
}

// -----

// BatchNorm's statistics: the rows (channels) are not the first loops, and
// the main kernel reduces its rows too (the sum of squared deviations reads
// the channel's sum): the staged kernel's rows come first in the code
// generator's order (parallel loops, then reduced ones).
// CHECK-LABEL: func.func @channel_statistics
// CHECK: %[[R:.*]] = kiln.row_kernel rows 1 {
// CHECK: %[[S:.*]] = linalg.generic {{.*}}["reduction", "parallel", "reduction", "reduction"]{{.*}}ins(%arg0 :
// CHECK: %[[V:.*]] = linalg.generic {{.*}}["reduction", "parallel", "reduction", "reduction"]{{.*}}ins(%arg0, %[[S]] :
// CHECK: arith.mulf
// CHECK: kiln.yield %[[V]] : tensor<3xf32>
// CHECK: kiln.reshape %[[R]]
func.func @channel_statistics(%x: tensor<4x3x2x2xf32>) -> tensor<1x3x1x1xf32> {
  %m = kiln.reduce_mean %x {axes = array<i64: 0, 2, 3>, keepdims = true} : (tensor<4x3x2x2xf32>) -> tensor<1x3x1x1xf32>
  %d = kiln.sub %x, %m : (tensor<4x3x2x2xf32>, tensor<1x3x1x1xf32>) -> tensor<4x3x2x2xf32>
  %q = kiln.mul %d, %d : (tensor<4x3x2x2xf32>, tensor<4x3x2x2xf32>) -> tensor<4x3x2x2xf32>
  %v = kiln.reduce_sum %q {axes = array<i64: 0, 2, 3>, keepdims = true} : (tensor<4x3x2x2xf32>) -> tensor<1x3x1x1xf32>
  return %v : tensor<1x3x1x1xf32>
}

// -----

// Not a row kernel: the sums of the rows are read along the other axis
// (a column broadcast), not at the row.
// CHECK-LABEL: func.func @read_across_rows
// CHECK-NOT: kiln.row_kernel
// CHECK: linalg.generic {{.*}}["parallel", "reduction"]
// CHECK: linalg.generic {{.*}}["parallel", "parallel"]
func.func @read_across_rows(%x: tensor<4x4xf32>) -> tensor<4x4xf32> {
  %s = kiln.reduce_sum %x {axes = array<i64: 1>, keepdims = false} : (tensor<4x4xf32>) -> tensor<4xf32>
  %d = kiln.sub %x, %s : (tensor<4x4xf32>, tensor<4xf32>) -> tensor<4x4xf32>
  return %d : tensor<4x4xf32>
}

// -----

// Not a row kernel: two long rows would keep two blocks of threads busy
// where the unfused quotient spreads over the whole GPU.
// CHECK-LABEL: func.func @few_long_rows
// CHECK-NOT: kiln.row_kernel
func.func @few_long_rows(%x: tensor<2x4096xf32>) -> tensor<2x4096xf32> {
  %0 = kiln.softmax %x : (tensor<2x4096xf32>) -> tensor<2x4096xf32>
  return %0 : tensor<2x4096xf32>
}

// -----

// A long full reduction (a loss summed over positions and classes, at least
// 65536 points) is a reduction of each row and then of the rows; the row reduction, reading the rows' maxima, joins their row
// kernel as its main kernel (it reduces each row too).
// CHECK-LABEL: func.func @split_loss
// CHECK: %[[R:.*]] = kiln.row_kernel rows 1 {
// CHECK: arith.maximumf
// CHECK: linalg.generic {{.*}}["parallel", "reduction"]{{.*}}outs(%{{.*}} : tensor<64xf32>)
// CHECK: arith.subf
// CHECK: kiln.yield
// CHECK: linalg.generic {{.*}}iterator_types = ["reduction"]{{.*}}ins(%[[R]] : tensor<64xf32>)
// CHECK: arith.addf
func.func @split_loss(%x: tensor<64x2048xf32>) -> tensor<f32> {
  %m = kiln.reduce_max %x {axes = array<i64: 1>, keepdims = true} : (tensor<64x2048xf32>) -> tensor<64x1xf32>
  %d = kiln.sub %x, %m : (tensor<64x2048xf32>, tensor<64x1xf32>) -> tensor<64x2048xf32>
  %s = kiln.reduce_sum %d {axes = array<i64: 0, 1>, keepdims = false} : (tensor<64x2048xf32>) -> tensor<f32>
  return %s : tensor<f32>
}

// -----

// Shorter ones stay one reduction.
// CHECK-LABEL: func.func @short_loss
// CHECK-NOT: kiln.row_kernel
// CHECK: linalg.generic {{.*}}iterator_types = ["reduction", "reduction"]
func.func @short_loss(%x: tensor<64x10xf32>) -> tensor<f32> {
  %s = kiln.reduce_sum %x {axes = array<i64: 0, 1>, keepdims = false} : (tensor<64x10xf32>) -> tensor<f32>
  return %s : tensor<f32>
}

// -----

// Few points with long reductions (a BatchNorm channel's sum over N x H x W:
// 64 channels, fewer than a GPU's multiprocessors) split too: a partial sum
// of each image's channel (the outer reduced loop kept, 8192 points of 1024
// steps), then a sum over the images. Both outputs of a merged reduction
// (sum and sum of squares) split alike.
// CHECK-LABEL: func.func @split_channels
// CHECK: %[[P:.*]]:2 = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction", "reduction"]{{.*}}outs(%{{.*}}, %{{.*}} : tensor<128x64xf32>, tensor<128x64xf32>)
// CHECK: linalg.generic {{.*}}iterator_types = ["reduction", "parallel"]{{.*}}ins(%[[P]]#0, %[[P]]#1 : tensor<128x64xf32>, tensor<128x64xf32>){{.*}}outs(%{{.*}}, %{{.*}} : tensor<64xf32>, tensor<64xf32>)
// CHECK-COUNT-2: arith.addf
// CHECK-NOT: linalg.generic
func.func @split_channels(%x: tensor<128x64x32x32xf32>) -> (tensor<64xf32>, tensor<64xf32>) {
  %s = kiln.reduce_sum %x {axes = array<i64: 0, 2, 3>, keepdims = false} : (tensor<128x64x32x32xf32>) -> tensor<64xf32>
  %q = kiln.mul %x, %x : (tensor<128x64x32x32xf32>, tensor<128x64x32x32xf32>) -> tensor<128x64x32x32xf32>
  %t = kiln.reduce_sum %q {axes = array<i64: 0, 2, 3>, keepdims = false} : (tensor<128x64x32x32xf32>) -> tensor<64xf32>
  return %s, %t : tensor<64xf32>, tensor<64xf32>
}

// -----

// Not split: as many channels as a GPU has multiprocessors or more (a block
// each keeps it busy), or reductions shorter than 16384 steps.
// CHECK-LABEL: func.func @unsplit_channels
// CHECK: linalg.generic {{.*}}iterator_types = ["reduction", "parallel", "reduction", "reduction"]{{.*}}outs(%{{.*}} : tensor<128xf32>)
// CHECK: linalg.generic {{.*}}iterator_types = ["reduction", "parallel", "reduction", "reduction"]{{.*}}outs(%{{.*}} : tensor<64xf32>)
// CHECK-NOT: linalg.generic
func.func @unsplit_channels(%x: tensor<128x128x16x16xf32>, %y: tensor<8x64x32x32xf32>) -> (tensor<128xf32>, tensor<64xf32>) {
  %s = kiln.reduce_sum %x {axes = array<i64: 0, 2, 3>, keepdims = false} : (tensor<128x128x16x16xf32>) -> tensor<128xf32>
  %t = kiln.reduce_sum %y {axes = array<i64: 0, 2, 3>, keepdims = false} : (tensor<8x64x32x32xf32>) -> tensor<64xf32>
  return %s, %t : tensor<128xf32>, tensor<64xf32>
}

// -----

// Column sums over few columns (a LayerNorm's weight and bias gradients:
// [16, 256, 512] summed over the first two axes, 512 points of 4096 steps,
// read along the points) split too: the batch loop kept whole and the
// sequence loop in part (viewed as 4 x 64: kiln.reshape), 32768 partial
// points of 64 steps each, then a sum of the 64 partial results. Both
// outputs alike; the row statistic (a [16, 256] input) viewed alike.
// CHECK-LABEL: func.func @split_columns
// CHECK-DAG: %[[DY:.*]] = kiln.reshape %arg0 {shape = array<i64: 16, 4, 64, 512>}
// CHECK-DAG: %[[X:.*]] = kiln.reshape %arg1 {shape = array<i64: 16, 4, 64, 512>}
// CHECK-DAG: %[[M:.*]] = kiln.reshape %arg2 {shape = array<i64: 16, 4, 64, 1>}
// CHECK-NOT: kiln.reshape
// CHECK: %[[P:.*]]:2 = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction", "parallel"]} ins(%[[DY]], %[[X]], %[[M]], %[[DY]] :{{.*}}outs(%{{.*}}, %{{.*}} : tensor<16x4x512xf32>, tensor<16x4x512xf32>)
// CHECK: linalg.generic {{.*}}iterator_types = ["reduction", "reduction", "parallel"]{{.*}}ins(%[[P]]#0, %[[P]]#1 : tensor<16x4x512xf32>, tensor<16x4x512xf32>){{.*}}outs(%{{.*}}, %{{.*}} : tensor<512xf32>, tensor<512xf32>)
// CHECK-COUNT-2: arith.addf
// CHECK-NOT: linalg.generic
func.func @split_columns(%dy: tensor<16x256x512xf32>, %x: tensor<16x256x512xf32>, %m: tensor<16x256x1xf32>) -> (tensor<512xf32>, tensor<512xf32>) {
  %d = kiln.sub %x, %m : (tensor<16x256x512xf32>, tensor<16x256x1xf32>) -> tensor<16x256x512xf32>
  %p = kiln.mul %dy, %d : (tensor<16x256x512xf32>, tensor<16x256x512xf32>) -> tensor<16x256x512xf32>
  %w = kiln.reduce_sum %p {axes = array<i64: 0, 1>, keepdims = false} : (tensor<16x256x512xf32>) -> tensor<512xf32>
  %b = kiln.reduce_sum %dy {axes = array<i64: 0, 1>, keepdims = false} : (tensor<16x256x512xf32>) -> tensor<512xf32>
  return %w, %b : tensor<512xf32>, tensor<512xf32>
}

// -----

// Not split as columns: enough columns for a GPU already (4096 points, a
// thread each), a reduction shorter than 1024 steps, or one that reads
// across its points (a row sum: the points' elements are 512 apart).
// CHECK-LABEL: func.func @unsplit_columns
// CHECK: linalg.generic {{.*}}iterator_types = ["reduction", "parallel"]{{.*}}outs(%{{.*}} : tensor<4096xf32>)
// CHECK: linalg.generic {{.*}}iterator_types = ["reduction", "parallel"]{{.*}}outs(%{{.*}} : tensor<512xf32>)
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]{{.*}}outs(%{{.*}} : tensor<512xf32>)
// CHECK-NOT: linalg.generic
func.func @unsplit_columns(%x: tensor<2048x4096xf32>, %y: tensor<512x512xf32>) -> (tensor<4096xf32>, tensor<512xf32>, tensor<512xf32>) {
  %s = kiln.reduce_sum %x {axes = array<i64: 0>, keepdims = false} : (tensor<2048x4096xf32>) -> tensor<4096xf32>
  %t = kiln.reduce_sum %y {axes = array<i64: 0>, keepdims = false} : (tensor<512x512xf32>) -> tensor<512xf32>
  %r = kiln.reduce_sum %y {axes = array<i64: 1>, keepdims = false} : (tensor<512x512xf32>) -> tensor<512xf32>
  return %s, %t, %r : tensor<4096xf32>, tensor<512xf32>, tensor<512xf32>
}

// -----

// BatchNorm's two-pass variance, split: in Chan's parallel form. Each
// image's channel sums its points (a stage) and their squared deviations
// from its own mean (sum / 1024): one row kernel per image and channel,
// reading x once. Then per channel the mean's sum (a stage) and the
// variance: the parts' squared deviations plus 1024 x (part mean - mean)^2.
// CHECK-LABEL: func.func @chan_variance
// CHECK: %[[P:.*]]:2 = kiln.row_kernel rows 2 {
// CHECK: %[[S:.*]] = linalg.generic {{.*}}["parallel", "parallel", "reduction", "reduction"]
// CHECK: linalg.generic {{.*}}["parallel", "parallel", "reduction", "reduction"]{{.*}}ins(%arg0, %[[S]] :
// CHECK: arith.constant 1.024000e+03 : f32
// CHECK: arith.divf
// CHECK: arith.subf
// CHECK: arith.mulf
// CHECK: kiln.row_kernel rows 1 {
// CHECK: %[[M:.*]] = linalg.generic {{.*}}["reduction", "parallel"]{{.*}}ins(%[[P]]#1 :
// CHECK: linalg.generic {{.*}}["reduction", "parallel"]{{.*}}ins(%[[P]]#0, %[[P]]#1, %[[M]] :
// CHECK: arith.constant 1.310720e+05 : f32
// CHECK: arith.subf
// CHECK: arith.mulf
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: arith.addf
func.func @chan_variance(%x: tensor<128x64x32x32xf32>) -> (tensor<1x64x1x1xf32>, tensor<1x64x1x1xf32>) {
  %m = kiln.reduce_mean %x {axes = array<i64: 0, 2, 3>, keepdims = true} : (tensor<128x64x32x32xf32>) -> tensor<1x64x1x1xf32>
  %d = kiln.sub %x, %m : (tensor<128x64x32x32xf32>, tensor<1x64x1x1xf32>) -> tensor<128x64x32x32xf32>
  %q = kiln.mul %d, %d : (tensor<128x64x32x32xf32>, tensor<128x64x32x32xf32>) -> tensor<128x64x32x32xf32>
  %v = kiln.reduce_mean %q {axes = array<i64: 0, 2, 3>, keepdims = true} : (tensor<128x64x32x32xf32>) -> tensor<1x64x1x1xf32>
  return %m, %v : tensor<1x64x1x1xf32>, tensor<1x64x1x1xf32>
}

// -----

// A row reduction that reads a later row kernel's statistics at the row and
// its input (the cross-entropy's per-row loss beside its gradient, both from
// the logits' maximum and sum of exponentials) joins that kernel as one more
// stage, so the logits are read by one kernel; the sum of the per-row losses
// moves after it.
// CHECK-LABEL: func.func @loss_beside_gradient
// CHECK: %[[R:.*]]:2 = kiln.row_kernel rows 1 {
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: math.log
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]
// CHECK: kiln.yield
// CHECK: linalg.generic {{.*}}iterator_types = ["reduction"]{{.*}}ins(%[[R]]#1 :
// CHECK-NOT: linalg.generic
func.func @loss_beside_gradient(%x: tensor<64x512xf32>) -> (tensor<f32>, tensor<64x512xf32>) {
  %m = kiln.reduce_max %x {axes = array<i64: 1>, keepdims = true} : (tensor<64x512xf32>) -> tensor<64x1xf32>
  %d = kiln.sub %x, %m : (tensor<64x512xf32>, tensor<64x1xf32>) -> tensor<64x512xf32>
  %e = kiln.exp %d : (tensor<64x512xf32>) -> tensor<64x512xf32>
  %s = kiln.reduce_sum %e {axes = array<i64: 1>, keepdims = true} : (tensor<64x512xf32>) -> tensor<64x1xf32>
  %l = kiln.log %s : (tensor<64x1xf32>) -> tensor<64x1xf32>
  %ls = kiln.sub %d, %l : (tensor<64x512xf32>, tensor<64x1xf32>) -> tensor<64x512xf32>
  %row = kiln.reduce_sum %ls {axes = array<i64: 1>, keepdims = false} : (tensor<64x512xf32>) -> tensor<64xf32>
  %loss = kiln.reduce_sum %row {axes = array<i64: 0>, keepdims = false} : (tensor<64xf32>) -> tensor<f32>
  %p = kiln.div %e, %s : (tensor<64x512xf32>, tensor<64x1xf32>) -> tensor<64x512xf32>
  return %loss, %p : tensor<f32>, tensor<64x512xf32>
}

// -----

// Not when the row reduction reads a kernel that would have to move after
// the group (the log of the sum, written because it is returned too): the
// group stays without it, and the IR valid.
// CHECK-LABEL: func.func @loss_beside_gradient_log_returned
// CHECK: kiln.row_kernel rows 1 {
// CHECK: math.log
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: return
func.func @loss_beside_gradient_log_returned(%x: tensor<64x512xf32>) -> (tensor<f32>, tensor<64x512xf32>, tensor<64x1xf32>) {
  %m = kiln.reduce_max %x {axes = array<i64: 1>, keepdims = true} : (tensor<64x512xf32>) -> tensor<64x1xf32>
  %d = kiln.sub %x, %m : (tensor<64x512xf32>, tensor<64x1xf32>) -> tensor<64x512xf32>
  %e = kiln.exp %d : (tensor<64x512xf32>) -> tensor<64x512xf32>
  %s = kiln.reduce_sum %e {axes = array<i64: 1>, keepdims = true} : (tensor<64x512xf32>) -> tensor<64x1xf32>
  %l = kiln.log %s : (tensor<64x1xf32>) -> tensor<64x1xf32>
  %ls = kiln.sub %d, %l : (tensor<64x512xf32>, tensor<64x1xf32>) -> tensor<64x512xf32>
  %row = kiln.reduce_sum %ls {axes = array<i64: 1>, keepdims = false} : (tensor<64x512xf32>) -> tensor<64xf32>
  %loss = kiln.reduce_sum %row {axes = array<i64: 0>, keepdims = false} : (tensor<64xf32>) -> tensor<f32>
  %p = kiln.div %e, %s : (tensor<64x512xf32>, tensor<64x1xf32>) -> tensor<64x512xf32>
  return %loss, %p, %l : tensor<f32>, tensor<64x512xf32>, tensor<64x1xf32>
}

// -----

// Not split: a reduction whose summand reads another output's accumulator
// (an online softmax's sum of exp(x - running max)): the partial sums
// would each use their own part's maximum.
// CHECK-LABEL: func.func @unsplittable_running_max
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction", "reduction"]
// CHECK-NOT: linalg.generic
#x3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#row3 = affine_map<(d0, d1, d2) -> (d0)>
func.func @unsplittable_running_max(%x: tensor<4x64x256xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %lowest = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4xf32>
  %m0 = linalg.fill ins(%lowest : f32) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %s0 = linalg.fill ins(%zero : f32) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %r:2 = linalg.generic {indexing_maps = [#x3, #row3, #row3], iterator_types = ["parallel", "reduction", "reduction"]} ins(%x : tensor<4x64x256xf32>) outs(%m0, %s0 : tensor<4xf32>, tensor<4xf32>) {
  ^bb0(%in: f32, %m: f32, %s: f32):
    %mx = arith.maximumf %m, %in : f32
    %d = arith.subf %in, %m : f32
    %p = math.exp %d : f32
    %t = arith.addf %s, %p : f32
    linalg.yield %mx, %t : f32, f32
  } -> (tensor<4xf32>, tensor<4xf32>)
  return %r#0, %r#1 : tensor<4xf32>, tensor<4xf32>
}

// -----

// Not split: a sum that starts from 1, not 0 (each partial would start
// from it again).
// CHECK-LABEL: func.func @unsplittable_start
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction", "reduction"]
// CHECK-NOT: linalg.generic
#y3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#yrow = affine_map<(d0, d1, d2) -> (d0)>
func.func @unsplittable_start(%y: tensor<4x64x256xf32>) -> tensor<4xf32> {
  %one = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<4xf32>
  %o0 = linalg.fill ins(%one : f32) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %u = linalg.generic {indexing_maps = [#y3, #yrow], iterator_types = ["parallel", "reduction", "reduction"]} ins(%y : tensor<4x64x256xf32>) outs(%o0 : tensor<4xf32>) {
  ^bb0(%in: f32, %s: f32):
    %t = arith.addf %s, %in : f32
    linalg.yield %t : f32
  } -> tensor<4xf32>
  return %u : tensor<4xf32>
}
