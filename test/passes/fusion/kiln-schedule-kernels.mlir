// RUN: kiln-opt %s --split-input-file --kiln-lower-to-linalg --kiln-fuse-elementwise --kiln-schedule-kernels | FileCheck %s

// Many rows summed along the row: a warp per row, lanes reading
// consecutive elements.
// CHECK-LABEL: func.func @row_sums
// CHECK: linalg.generic {{.*}}["parallel", "reduction"]{{.*}}attrs = {kiln.schedule = "warp"}
func.func @row_sums(%x: tensor<4096x512xf32>) -> tensor<4096xf32> {
  %0 = kiln.reduce_sum %x {axes = array<i64: 1>, keepdims = false} : (tensor<4096x512xf32>) -> tensor<4096xf32>
  return %0 : tensor<4096xf32>
}

// -----

// A bias's gradient: few columns summed over many rows, read along the
// points. kiln-fuse-elementwise splits it (the rows viewed as 64 x 64): a
// thread per partial point (64 x 512, consecutive columns), then a thread
// per column summing the 64 partial results.
// CHECK-LABEL: func.func @column_sums
// CHECK: kiln.reshape %arg0 {shape = array<i64: 64, 64, 512>}
// CHECK: linalg.generic {{.*}}["parallel", "reduction", "parallel"]{{.*}}attrs = {kiln.schedule = "thread"}
// CHECK: linalg.generic {{.*}}["reduction", "parallel"]{{.*}}attrs = {kiln.schedule = "thread"}
func.func @column_sums(%x: tensor<4096x512xf32>) -> tensor<512xf32> {
  %0 = kiln.reduce_sum %x {axes = array<i64: 0>, keepdims = false} : (tensor<4096x512xf32>) -> tensor<512xf32>
  return %0 : tensor<512xf32>
}

// -----

// A LayerNorm weight's gradient that normalizes its input itself (the
// row's mean and scale read at the row: the same for all the columns),
// over 4093 rows (a prime, which kiln-fuse-elementwise cannot split):
// tiles of consecutive columns.
// CHECK-LABEL: func.func @column_sums_of_normalized
// CHECK-NOT: kiln.reshape
// CHECK: linalg.generic {{.*}}["reduction", "parallel"]{{.*}}ins(%arg0, %arg1, %arg2, %arg3 :{{.*}}attrs = {kiln.schedule = "columns"}
func.func @column_sums_of_normalized(%x: tensor<4093x512xf32>, %m: tensor<4093x1xf32>, %r: tensor<4093x1xf32>, %g: tensor<4093x512xf32>) -> tensor<512xf32> {
  %0 = kiln.sub %x, %m : (tensor<4093x512xf32>, tensor<4093x1xf32>) -> tensor<4093x512xf32>
  %1 = kiln.mul %0, %r : (tensor<4093x512xf32>, tensor<4093x1xf32>) -> tensor<4093x512xf32>
  %2 = kiln.mul %1, %g : (tensor<4093x512xf32>, tensor<4093x512xf32>) -> tensor<4093x512xf32>
  %3 = kiln.reduce_sum %2 {axes = array<i64: 0>, keepdims = false} : (tensor<4093x512xf32>) -> tensor<512xf32>
  return %3 : tensor<512xf32>
}

// -----

// Columns over few rows: a thread per column reads coalesced already.
// CHECK-LABEL: func.func @short_columns
// CHECK: linalg.generic {{.*}}["reduction", "parallel"]{{.*}}attrs = {kiln.schedule = "thread"}
func.func @short_columns(%x: tensor<64x512xf32>) -> tensor<512xf32> {
  %0 = kiln.reduce_sum %x {axes = array<i64: 0>, keepdims = false} : (tensor<64x512xf32>) -> tensor<512xf32>
  return %0 : tensor<512xf32>
}

// -----

// A channel's statistic over N x H x W: few points, long reductions read
// along the reduction: a block per channel, of 1024 threads from 16384
// steps on (here 65536), else 256.
// CHECK-LABEL: func.func @channel_sums
// CHECK: linalg.generic {{.*}}["reduction", "parallel", "reduction", "reduction"]{{.*}}attrs = {kiln.schedule = "block1024"}
func.func @channel_sums(%x: tensor<64x128x32x32xf32>) -> tensor<128xf32> {
  %0 = kiln.reduce_sum %x {axes = array<i64: 0, 2, 3>, keepdims = false} : (tensor<64x128x32x32xf32>) -> tensor<128xf32>
  return %0 : tensor<128xf32>
}

// -----

// Reductions shorter than a warp: a thread per point.
// CHECK-LABEL: func.func @short_rows
// CHECK: linalg.generic {{.*}}["parallel", "reduction"]{{.*}}attrs = {kiln.schedule = "thread"}
func.func @short_rows(%x: tensor<4096x10xf32>) -> tensor<4096xf32> {
  %0 = kiln.reduce_max %x {axes = array<i64: 1>, keepdims = false} : (tensor<4096x10xf32>) -> tensor<4096xf32>
  return %0 : tensor<4096xf32>
}

// -----

// Row kernels: a warp per row of up to 1024 points, a block per longer row
// (the exponential of the second softmax fuses into its row kernel).
// CHECK-LABEL: func.func @softmaxes
// CHECK: kiln.row_kernel rows 1 attributes {kiln.schedule = "warp"}
// CHECK: kiln.row_kernel rows 1 attributes {kiln.schedule = "block"}
// CHECK-NOT: kiln.schedule
func.func @softmaxes(%x: tensor<512x256xf32>, %y: tensor<64x4096xf32>) -> (tensor<512x256xf32>, tensor<64x4096xf32>) {
  %0 = kiln.softmax %x : (tensor<512x256xf32>) -> tensor<512x256xf32>
  %1 = kiln.softmax %y : (tensor<64x4096xf32>) -> tensor<64x4096xf32>
  %2 = kiln.exp %1 : (tensor<64x4096xf32>) -> tensor<64x4096xf32>
  return %0, %2 : tensor<512x256xf32>, tensor<64x4096xf32>
}

// -----

// Elementwise kernels: 4 points a thread where 4 divides the last loop and
// the outputs are f32; else (here 6 columns, or f64) a point a thread.
// CHECK-LABEL: func.func @elementwise
// CHECK: linalg.generic {{.*}}attrs = {kiln.schedule = "vector4"}
// CHECK: math.exp
// CHECK-NOT: kiln.schedule
func.func @elementwise(%x: tensor<8x16xf32>, %y: tensor<8x6xf32>, %z: tensor<8x16xf64>) -> (tensor<8x16xf32>, tensor<8x6xf32>, tensor<8x16xf64>) {
  %0 = kiln.exp %x : (tensor<8x16xf32>) -> tensor<8x16xf32>
  %1 = kiln.exp %y : (tensor<8x6xf32>) -> tensor<8x6xf32>
  %2 = kiln.exp %z : (tensor<8x16xf64>) -> tensor<8x16xf64>
  return %0, %1, %2 : tensor<8x16xf32>, tensor<8x6xf32>, tensor<8x16xf64>
}

// -----

// A transpose of the innermost dimension: tiles in shared memory, so that
// both the reads and the writes are of consecutive elements.
// CHECK-LABEL: func.func @transpose
// CHECK: linalg.generic {{.*}}attrs = {kiln.schedule = "transpose"}
func.func @transpose(%x: tensor<64x96xf32>) -> tensor<96x64xf32> {
  %0 = kiln.transpose %x {perm = array<i64: 1, 0>} : (tensor<64x96xf32>) -> tensor<96x64xf32>
  %1 = kiln.exp %0 : (tensor<96x64xf32>) -> tensor<96x64xf32>
  return %1 : tensor<96x64xf32>
}

// -----

// CHECK-LABEL: func.func @shorter_channel_sums
// CHECK: linalg.generic {{.*}}attrs = {kiln.schedule = "block"}
func.func @shorter_channel_sums(%x: tensor<16x128x8x8xf32>) -> tensor<128xf32> {
  %0 = kiln.reduce_sum %x {axes = array<i64: 0, 2, 3>, keepdims = false} : (tensor<16x128x8x8xf32>) -> tensor<128xf32>
  return %0 : tensor<128xf32>
}
