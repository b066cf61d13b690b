// RUN: kiln-opt %s --split-input-file --kiln-lower-to-linalg --kiln-fuse-elementwise | FileCheck %s

// A chain of elementwise ops is one kernel: exp, mul, relu read x and y once
// and write only the result.
// CHECK-LABEL: func.func @chain
// CHECK-COUNT-1: linalg.generic
// CHECK-NOT: linalg.generic
// CHECK: math.exp
// CHECK: arith.mulf
// CHECK: arith.maximumf
func.func @chain(%x: tensor<4x8xf32>, %y: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = kiln.exp %x : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %1 = kiln.mul %0, %y : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %2 = kiln.relu %1 : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return %2 : tensor<4x8xf32>
}

// -----

// An elementwise producer fuses into the reduction that consumes it: the
// squares are summed where they are computed.
// CHECK-LABEL: func.func @into_reduction
// CHECK: linalg.fill
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK-NOT: linalg.generic
func.func @into_reduction(%x: tensor<4x8xf32>) -> tensor<4xf32> {
  %0 = kiln.mul %x, %x : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %1 = kiln.reduce_sum %0 {axes = array<i64: 1>, keepdims = false} : (tensor<4x8xf32>) -> tensor<4xf32>
  return %1 : tensor<4xf32>
}

// -----

// A value read twice by one consumer is one operand (duplicates are
// merged), so it fuses and is computed once; a value read through a
// broadcast (it would be recomputed per element) is not fused.
// CHECK-LABEL: func.func @kept_apart
// CHECK: %[[LOG:.*]] = linalg.generic {{.*}}ins(%arg1
// CHECK: math.log
// CHECK: linalg.generic {{.*}}ins(%arg0, %[[LOG]] :
// CHECK: math.exp
// CHECK-NOT: math.exp
// CHECK: arith.mulf
// CHECK-NOT: linalg.generic
func.func @kept_apart(%x: tensor<4x8xf32>, %v: tensor<8xf32>) -> tensor<4x8xf32> {
  %0 = kiln.exp %x : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %1 = kiln.log %v : (tensor<8xf32>) -> tensor<8xf32>
  %2 = kiln.mul %0, %0 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %3 = kiln.add %2, %1 : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %3 : tensor<4x8xf32>
}

// -----

// A value with users besides its consumer, too costly to compute twice
// (four full-size inputs: reading them twice moves more than writing the
// value once and reading it back twice), stays an output of the fused
// kernel: computed once, written for the later user.
// CHECK-LABEL: func.func @kept_as_output
// CHECK: %[[FUSED:.*]]:2 = linalg.generic {{.*}}ins(%arg0, %arg1, %arg2, %arg3 :
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: arith.mulf
// CHECK: math.exp
// CHECK: linalg.yield %{{.*}}, %{{.*}} : f32, f32
// CHECK: linalg.generic {{.*}}ins(%[[FUSED]]#0 :
// CHECK: linalg.generic {{.*}}ins(%[[FUSED]]#1, 
func.func @kept_as_output(%x: tensor<4x8xf32>, %y: tensor<4x8xf32>, %z: tensor<4x8xf32>, %w: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %p0 = kiln.mul %x, %y : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %p1 = kiln.add %p0, %z : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %p = kiln.mul %p1, %w : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %1 = kiln.exp %p : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %2 = kiln.reduce_sum %p {axes = array<i64: 1>, keepdims = true} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  %3 = kiln.sub %1, %2 : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  return %3 : tensor<4x8xf32>
}

// -----

// Where computing a kernel again in each reader moves fewer bytes than
// writing its results and reading them back (BatchNorm's backward: the
// normalized input and the masked gradient, read by the sums and by the
// input's gradient), each reader computes them from the inputs: here two
// results of three inputs, read three times: 2 x 3 < 3 + 2 + 3 tensors.
// CHECK-LABEL: func.func @recomputed_by_traffic
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]} ins(%arg0, %arg1, %arg2 :
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]} ins(%arg0, %arg1, %{{.*}}, %arg2 :
// CHECK-NOT: linalg.generic
func.func @recomputed_by_traffic(%m: tensor<4x8xf32>, %g: tensor<4x8xf32>, %x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %dy = kiln.mul %m, %g : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %xh = kiln.exp %x : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %p = kiln.mul %dy, %xh : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %s = kiln.reduce_sum %p {axes = array<i64: 1>, keepdims = true} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  %d = kiln.sub %dy, %s : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  %r = kiln.mul %d, %xh : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %r : tensor<4x8xf32>
}

// -----

// A cheap value (at most four ops, at most two full-size inputs) read by
// several kernels is computed again in each: here a one-hot mask of
// labels times a scale, read by a row sum and by an elementwise kernel.
// No kernel writes it.
// CHECK-LABEL: func.func @recomputed_elementwise
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: arith.cmpi eq
// CHECK: arith.addf
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]
// CHECK: arith.cmpi eq
// CHECK: arith.subf
// CHECK-NOT: linalg.generic
func.func @recomputed_elementwise(%labels: tensor<4x1xi64>, %ids: tensor<5xi64>, %s: tensor<f32>, %p: tensor<4x5xf32>) -> tensor<4x5xf32> {
  %eq = kiln.equal %labels, %ids : (tensor<4x1xi64>, tensor<5xi64>) -> tensor<4x5xi1>
  %onehot = kiln.cast %eq {to = f32} : (tensor<4x5xi1>) -> tensor<4x5xf32>
  %g = kiln.mul %onehot, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
  %sum = kiln.reduce_sum %g {axes = array<i64: 1>, keepdims = true} : (tensor<4x5xf32>) -> tensor<4x1xf32>
  %ps = kiln.mul %p, %sum : (tensor<4x5xf32>, tensor<4x1xf32>) -> tensor<4x5xf32>
  %d = kiln.sub %g, %ps : (tensor<4x5xf32>, tensor<4x5xf32>) -> tensor<4x5xf32>
  return %d : tensor<4x5xf32>
}

// -----

// A small scalar kernel (a rate times a decay, from the step's scalar
// inputs) is computed again inside every kernel that reads it, broadcast or
// not: each consumer gets its own copy, and the scalar kernel is gone. The
// fused kernels keep their own names.
// CHECK-LABEL: func.func @recomputed_scalar
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]{{.*}} ins(%arg2, %arg0, %arg1 : tensor<4x8xf32>, tensor<f32>, tensor<f32>)
// CHECK: arith.mulf
// CHECK: arith.mulf
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel"]{{.*}} ins(%arg3, %arg0, %arg1 : tensor<8xf32>, tensor<f32>, tensor<f32>)
// CHECK: arith.mulf
// CHECK: arith.mulf
// CHECK-NOT: linalg.generic
func.func @recomputed_scalar(%lr: tensor<f32>, %wd: tensor<f32>, %w: tensor<4x8xf32>, %b: tensor<8xf32>) -> (tensor<4x8xf32>, tensor<8xf32>) {
  %s = kiln.mul %lr, %wd : (tensor<f32>, tensor<f32>) -> tensor<f32>
  %0 = kiln.mul %w, %s : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %1 = kiln.mul %b, %s : (tensor<8xf32>, tensor<f32>) -> tensor<8xf32>
  return %0, %1 : tensor<4x8xf32>, tensor<8xf32>
}

// -----

// A per-row statistic (a mean from a sum, kept as [rows, 1] by a reshape):
// the subtraction reads through the reshape (its map drops the unit
// dimension), and the mean, read 16 times per element through that
// broadcast, is recomputed there: two kernels, the sum and the centered
// values, and no kernel of the mean's own.
// CHECK-LABEL: func.func @row_statistic
// CHECK-NOT: kiln.reshape
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: arith.addf
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]{{.*}} ins(%arg0, %[[SUM]], %{{.*}} : tensor<4x16xf32>, tensor<4xf32>, tensor<f32>)
// CHECK: arith.mulf
// CHECK: arith.subf
// CHECK-NOT: linalg.generic
func.func @row_statistic(%x: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %s = kiln.reduce_sum %x {axes = array<i64: 1>, keepdims = false} : (tensor<4x16xf32>) -> tensor<4xf32>
  %c = kiln.constant dense<0.0625> : tensor<f32>
  %m = kiln.mul %s, %c : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %r = kiln.reshape %m {shape = array<i64: 4, 1>} : (tensor<4xf32>) -> tensor<4x1xf32>
  %d = kiln.sub %x, %r : (tensor<4x16xf32>, tensor<4x1xf32>) -> tensor<4x16xf32>
  return %d : tensor<4x16xf32>
}

// -----

// Read fewer than 8 times per element through the broadcast (4 here), a
// statistic keeps its own kernel (read through its reshape all the same).
// CHECK-LABEL: func.func @statistic_kept
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: %[[MEAN:.*]] = linalg.generic {{.*}}iterator_types = ["parallel"]
// CHECK: arith.mulf
// CHECK-NOT: kiln.reshape
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]{{.*}} ins(%arg0, %[[MEAN]] : tensor<4x4xf32>, tensor<4xf32>)
// CHECK: arith.subf
func.func @statistic_kept(%x: tensor<4x4xf32>) -> tensor<4x4xf32> {
  %s = kiln.reduce_sum %x {axes = array<i64: 1>, keepdims = false} : (tensor<4x4xf32>) -> tensor<4xf32>
  %c = kiln.constant dense<0.25> : tensor<f32>
  %m = kiln.mul %s, %c : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %r = kiln.reshape %m {shape = array<i64: 4, 1>} : (tensor<4xf32>) -> tensor<4x1xf32>
  %d = kiln.sub %x, %r : (tensor<4x4xf32>, tensor<4x1xf32>) -> tensor<4x4xf32>
  return %d : tensor<4x4xf32>
}

// -----

// A reshape that splits a dimension ([4] as [2, 2]) is read through, its
// index arithmetic in the reader's map (d0 * 2 + d1), and the exp then fuses
// into the subtraction: one kernel.
// CHECK-DAG: #[[$SPLIT:.*]] = affine_map<(d0, d1) -> (d0 * 2 + d1)>
// CHECK-LABEL: func.func @split
// CHECK-NOT: kiln.reshape
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[$SPLIT]], #{{.*}}]{{.*}} ins(%arg0, %arg1 : tensor<2x2xf32>, tensor<4xf32>)
// CHECK: math.exp
// CHECK: arith.subf
// CHECK-NOT: linalg.generic
func.func @split(%x: tensor<2x2xf32>, %v: tensor<4xf32>) -> tensor<2x2xf32> {
  %e = kiln.exp %v : (tensor<4xf32>) -> tensor<4xf32>
  %r = kiln.reshape %e {shape = array<i64: 2, 2>} : (tensor<4xf32>) -> tensor<2x2xf32>
  %d = kiln.sub %x, %r : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  return %d : tensor<2x2xf32>
}

// -----

// A reshape that merges dimensions ([2, 2] as [4]: division) stays a view
// between two kernels.
// CHECK-LABEL: func.func @merged
// CHECK: math.exp
// CHECK: %[[R:.*]] = kiln.reshape %{{.*}} {shape = array<i64: 4>}
// CHECK: linalg.generic {{.*}} ins(%arg0, %[[R]] : tensor<4xf32>, tensor<4xf32>)
func.func @merged(%x: tensor<4xf32>, %m: tensor<2x2xf32>) -> tensor<4xf32> {
  %e = kiln.exp %m : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %r = kiln.reshape %e {shape = array<i64: 4>} : (tensor<2x2xf32>) -> tensor<4xf32>
  %d = kiln.sub %x, %r : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %d : tensor<4xf32>
}

// -----

// A reshape that splits the rows of a [32, 8] value as [2, 16, 8] stays a
// view for a sum over both split dimensions: read through it, no operand
// would read d0 or d1 plainly, and linalg could not size those loops (the
// pass crashed on Hugging Face GPT-2's bias gradients).
// CHECK-LABEL: func.func @column_sum_of_split
// CHECK: %[[R:.*]] = kiln.reshape %arg0 {shape = array<i64: 2, 16, 8>}
// CHECK: linalg.generic {{.*}} ins(%[[R]] : tensor<2x16x8xf32>)
func.func @column_sum_of_split(%x: tensor<32x8xf32>) -> tensor<8xf32> {
  %r = kiln.reshape %x {shape = array<i64: 2, 16, 8>} : (tensor<32x8xf32>) -> tensor<2x16x8xf32>
  %s = kiln.reduce_sum %r {axes = array<i64: 0, 1>, keepdims = false} : (tensor<2x16x8xf32>) -> tensor<8xf32>
  return %s : tensor<8xf32>
}

// -----

// Slices of a projection (ONNX Split): the multiplication reading the
// slice at an offset reads the projection itself (d1 + 4); the slice at
// offset 0 of the longer dimension stays a view (linalg would size the
// loop from a plain d1 read of the 12 columns). Both products read y: one
// kernel with two outputs.
// CHECK-DAG: #[[$OFF:.*]] = affine_map<(d0, d1) -> (d0, d1 + 4)>
// CHECK-LABEL: func.func @split_thirds
// CHECK: %[[E:.*]] = linalg.generic
// CHECK: math.exp
// CHECK: %[[Q:.*]] = tensor.extract_slice %[[E]][0, 0] [2, 4] [1, 1]
// CHECK: linalg.generic {indexing_maps = [#{{[a-z0-9]+}}, #{{[a-z0-9]+}}, #[[$OFF]], {{.*}} ins(%[[Q]], %arg1, %[[E]], %arg1 : tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x12xf32>, tensor<2x4xf32>)
// CHECK-NOT: tensor.extract_slice
func.func @split_thirds(%p: tensor<2x12xf32>, %y: tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>) {
  %e = kiln.exp %p : (tensor<2x12xf32>) -> tensor<2x12xf32>
  %q = kiln.slice %e {starts = array<i64: 0, 0>, sizes = array<i64: 2, 4>, strides = array<i64: 1, 1>} : (tensor<2x12xf32>) -> tensor<2x4xf32>
  %k = kiln.slice %e {starts = array<i64: 0, 4>, sizes = array<i64: 2, 4>, strides = array<i64: 1, 1>} : (tensor<2x12xf32>) -> tensor<2x4xf32>
  %0 = kiln.mul %q, %y : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %1 = kiln.mul %k, %y : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  return %0, %1 : tensor<2x4xf32>, tensor<2x4xf32>
}

// -----

// Sibling reductions over one loop nest (a LayerNorm's weight and bias
// gradients: column sums of two values) are one kernel with two outputs;
// a reduction that reads the other's result, or one over another nest,
// stays apart.
// CHECK-LABEL: func.func @siblings
// CHECK: %[[BOTH:.*]]:2 = linalg.generic {{.*}}iterator_types = ["reduction", "parallel"]{{.*}} ins(%arg0, %arg1, %arg0 : tensor<8x4xf32>, tensor<8x4xf32>, tensor<8x4xf32>) outs(%{{.*}}, %{{.*}} : tensor<4xf32>, tensor<4xf32>)
// CHECK: ^bb0(%[[DY:.*]]: f32, %[[XHAT:.*]]: f32, %[[DY2:.*]]: f32, %[[ACC0:.*]]: f32, %[[ACC1:.*]]: f32):
// CHECK: %[[P:.*]] = arith.mulf %[[DY]], %[[XHAT]]
// CHECK: %[[S0:.*]] = arith.addf %[[ACC0]], %[[P]]
// CHECK: %[[S1:.*]] = arith.addf %[[ACC1]], %[[DY2]]
// CHECK: linalg.yield %[[S0]], %[[S1]]
// CHECK: linalg.generic {{.*}}ins(%arg0, %[[BOTH]]#1
// CHECK: linalg.generic {{.*}}iterator_types = ["reduction"]
// CHECK: return %[[BOTH]]#0, %[[BOTH]]#1
func.func @siblings(%dy: tensor<8x4xf32>, %xhat: tensor<8x4xf32>, %v: tensor<8xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<8x4xf32>, tensor<f32>) {
  %p = kiln.mul %dy, %xhat : (tensor<8x4xf32>, tensor<8x4xf32>) -> tensor<8x4xf32>
  %dg = kiln.reduce_sum %p {axes = array<i64: 0>, keepdims = false} : (tensor<8x4xf32>) -> tensor<4xf32>
  %db = kiln.reduce_sum %dy {axes = array<i64: 0>, keepdims = false} : (tensor<8x4xf32>) -> tensor<4xf32>
  %s = kiln.sub %dy, %db : (tensor<8x4xf32>, tensor<4xf32>) -> tensor<8x4xf32>
  %t = kiln.reduce_sum %v {axes = array<i64: 0>, keepdims = false} : (tensor<8xf32>) -> tensor<f32>
  return %dg, %db, %s, %t : tensor<4xf32>, tensor<4xf32>, tensor<8x4xf32>, tensor<f32>
}

// -----

// A sibling whose input is computed after the first reduction: the two
// merge at the second's place (nothing reads the first before it).
// CHECK-LABEL: func.func @siblings_late
// CHECK: %[[Y:.*]] = linalg.generic {{.*}}ins(%arg1
// CHECK: math.exp
// CHECK: %[[BOTH:.*]]:2 = linalg.generic {{.*}}ins(%arg0, %[[Y]] : tensor<8x4xf32>, tensor<8x4xf32>)
// CHECK: return %[[BOTH]]#0, %[[BOTH]]#1, %[[Y]]
func.func @siblings_late(%x: tensor<8x4xf32>, %z: tensor<8x4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<8x4xf32>) {
  %a = kiln.reduce_sum %x {axes = array<i64: 0>, keepdims = false} : (tensor<8x4xf32>) -> tensor<4xf32>
  %y = kiln.exp %z : (tensor<8x4xf32>) -> tensor<8x4xf32>
  %b = kiln.reduce_sum %y {axes = array<i64: 0>, keepdims = false} : (tensor<8x4xf32>) -> tensor<4xf32>
  return %a, %b, %y : tensor<4xf32>, tensor<4xf32>, tensor<8x4xf32>
}

// -----

// Elementwise siblings over one loop nest that read one value (a
// projection's thirds split into heads) become one kernel with an output
// each: one launch.
// CHECK-LABEL: func.func @elementwise_siblings
// CHECK: %[[R:.*]]:2 = linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]{{.*}}ins(%arg0, %arg0 :
// CHECK: math.exp
// CHECK: math.tanh
// CHECK-NOT: linalg.generic
// CHECK: return %[[R]]#0, %[[R]]#1
func.func @elementwise_siblings(%x: tensor<4x24xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %a = kiln.slice %x {starts = array<i64: 0, 8>, sizes = array<i64: 4, 8>, strides = array<i64: 1, 1>} : (tensor<4x24xf32>) -> tensor<4x8xf32>
  %b = kiln.slice %x {starts = array<i64: 0, 16>, sizes = array<i64: 4, 8>, strides = array<i64: 1, 1>} : (tensor<4x24xf32>) -> tensor<4x8xf32>
  %ea = kiln.exp %a : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %tb = kiln.tanh %b : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return %ea, %tb : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// A gather reading an elementwise kernel's result (a Concat reads each input
// at clamped coordinates) computes the element itself from the producer's
// inputs: the transposes into heads and the scale are not launched, and the
// concat reads %x at the transposed coordinates, through the reshape that
// merges the heads (the coordinate along 512 split into head and lane).
// CHECK-LABEL: func.func @gathered_producer
// CHECK-COUNT-1: linalg.generic
// CHECK-NOT: linalg.generic
// CHECK-NOT: kiln.reshape
// CHECK: %[[LANE:.*]] = arith.remsi %[[J:.*]], %c64_i64
// CHECK: %[[HEAD:.*]] = arith.divsi %[[J]], %c64_i64
// CHECK-NOT: arith.remsi
// CHECK-DAG: %[[H:.*]] = arith.index_cast %[[HEAD]]
// CHECK-DAG: %[[L:.*]] = arith.index_cast %[[LANE]]
// CHECK: tensor.extract %arg0[%{{.*}}, %[[H]], %{{.*}}, %[[L]]]
// CHECK: arith.mulf
// CHECK: tensor.extract %arg1[
func.func @gathered_producer(%x: tensor<2x8x4x64xf32>, %y: tensor<2x4x512xf32>, %s: tensor<f32>) -> tensor<2x4x1024xf32> {
  %0 = kiln.transpose %x {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x8x4x64xf32>) -> tensor<2x4x8x64xf32>
  %1 = kiln.mul %0, %s : (tensor<2x4x8x64xf32>, tensor<f32>) -> tensor<2x4x8x64xf32>
  %2 = kiln.reshape %1 {shape = array<i64: 2, 4, 512>} : (tensor<2x4x8x64xf32>) -> tensor<2x4x512xf32>
  %3 = kiln.concat %2, %y {axis = 2 : i64} : (tensor<2x4x512xf32>, tensor<2x4x512xf32>) -> tensor<2x4x1024xf32>
  return %3 : tensor<2x4x1024xf32>
}

// -----

// Not when the producer's result is also read point for point elsewhere
// (it is written anyway) or when the producer is not elementwise.
// CHECK-LABEL: func.func @gathered_producer_kept
// CHECK: %[[E:.*]] = linalg.generic
// CHECK: math.exp
// CHECK: linalg.generic
// CHECK: tensor.extract %[[E]]
// CHECK: return
func.func @gathered_producer_kept(%x: tensor<4x8xf32>, %y: tensor<4x8xf32>) -> (tensor<4x16xf32>, tensor<4x8xf32>) {
  %0 = kiln.exp %x : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %1 = kiln.concat %0, %y {axis = 1 : i64} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x16xf32>
  return %1, %0 : tensor<4x16xf32>, tensor<4x8xf32>
}

// -----

// A value read by several kernels is not made an extra output of a reader
// whose own one reader is a reduction (that reader would then be written and
// read back): the reader fuses into the reduction, which reads the value,
// written once as it would be anyway.
// CHECK-LABEL: func.func @kept_apart_for_reduction
// CHECK: %[[P:.*]] = linalg.generic {{.*}}ins(%arg0, %arg1, %arg2 :
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]} ins(%[[P]], %arg3 :
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: linalg.generic {{.*}}ins(%[[P]] :
// CHECK: math.exp
// CHECK-NOT: linalg.generic
func.func @kept_apart_for_reduction(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>, %w: tensor<4x8xf32>, %x: tensor<4x8xf32>) -> (tensor<4xf32>, tensor<4x8xf32>) {
  %s0 = kiln.add %a, %b : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %p = kiln.mul %s0, %w : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %c = kiln.mul %p, %x : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %s = kiln.reduce_sum %c {axes = array<i64: 1>, keepdims = false} : (tensor<4x8xf32>) -> tensor<4xf32>
  %e = kiln.exp %p : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return %s, %e : tensor<4xf32>, tensor<4x8xf32>
}

// -----

// A kernel that gathers (an embedding lookup plus a position's) is not
// recomputed by each of its readers for fewer bytes: what a gather reads is
// up to its indices, so the byte count does not hold. It is written once.
// CHECK-LABEL: func.func @gather_not_recomputed
// CHECK: %[[E:.*]] = linalg.generic
// CHECK: tensor.extract
// CHECK: linalg.generic {{.*}}ins(%[[E]] :
// CHECK: linalg.generic {{.*}}ins(%[[E]] :
// CHECK-NOT: tensor.extract
func.func @gather_not_recomputed(%t: tensor<64x32xf32>, %ids: tensor<4x16xi64>, %p: tensor<4x16x32xf32>) -> (tensor<4x16xf32>, tensor<4x16x32xf32>) {
  %0 = kiln.gather %t, %ids : (tensor<64x32xf32>, tensor<4x16xi64>) -> tensor<4x16x32xf32>
  %1 = kiln.add %0, %p : (tensor<4x16x32xf32>, tensor<4x16x32xf32>) -> tensor<4x16x32xf32>
  %2 = kiln.reduce_sum %1 {axes = array<i64: 2>, keepdims = false} : (tensor<4x16x32xf32>) -> tensor<4x16xf32>
  %3 = kiln.exp %1 : (tensor<4x16x32xf32>) -> tensor<4x16x32xf32>
  return %2, %3 : tensor<4x16xf32>, tensor<4x16x32xf32>
}

// -----

// Elementwise siblings reading one value (%x) stay apart when the second
// gathers from the first's result (a concat of a slice of it, the gradient
// of rotate-half in a LLaMA block): merged, the kernel would read its own
// output.
// CHECK-LABEL: func.func @sibling_gathers_from_its_sibling
// CHECK: %[[A:.*]] = linalg.generic {{.*}} ins(%arg0, %arg1 : tensor<2x4xf32>, tensor<2x4xf32>)
// CHECK: %[[B:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<2x4xf32>)
// CHECK: tensor.extract %[[A]]
// CHECK: return %[[A]], %[[B]]
func.func @sibling_gathers_from_its_sibling(%x: tensor<2x4xf32>, %c: tensor<2x4xf32>, %z: tensor<2x2xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>) {
  %a = kiln.mul %x, %c : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %h = kiln.slice %a {starts = array<i64: 0, 2>, sizes = array<i64: 2, 2>, strides = array<i64: 1, 1>} : (tensor<2x4xf32>) -> tensor<2x2xf32>
  %r = kiln.concat %h, %z {axis = 1 : i64} : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4xf32>
  %b = kiln.add %x, %r : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  return %a, %b : tensor<2x4xf32>, tensor<2x4xf32>
}

// -----

// A producer that reads its coordinates (a Trilu's mask) fused through a
// view: linalg's fusion writes the view's index arithmetic as affine.apply,
// which the pass expands into arith ops (the kernel format has no affine).
// CHECK-LABEL: func.func @index_producer_through_view
// CHECK: linalg.generic
// CHECK-NOT: affine.apply
// CHECK: %[[I1:.*]] = linalg.index 1 : index
// CHECK: %[[I2:.*]] = linalg.index 2 : index
// CHECK: %[[C4:.*]] = arith.constant 4 : index
// CHECK: %[[M:.*]] = arith.muli %[[I1]], %[[C4]] : index
// CHECK: arith.addi %[[M]], %[[I2]] : index
func.func @index_producer_through_view(%x: tensor<2x8xf32>, %y: tensor<2x2x4xf32>) -> tensor<2x2x4xf32> {
  %t = kiln.trilu %x {upper = true} : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %r = kiln.reshape %t {shape = array<i64: 2, 2, 4>} : (tensor<2x8xf32>) -> tensor<2x2x4xf32>
  %s = kiln.add %r, %y : (tensor<2x2x4xf32>, tensor<2x2x4xf32>) -> tensor<2x2x4xf32>
  return %s : tensor<2x2x4xf32>
}

// -----

// A kernel kiln-rematerialize copied into the backward (kiln.recomputed)
// stays apart from the forward's identical one: no common subexpression,
// no sibling merge (either would keep the value from the forward again).
// A producer fused into it keeps the mark on the fused kernel.
// CHECK-LABEL: func.func @recomputed_apart
// CHECK: %[[A:.*]] = linalg.generic
// CHECK-NOT: kiln.recomputed
// CHECK: math.exp
// CHECK: math.tanh
// CHECK: kiln.matmul %[[A]], %arg1
// CHECK: %[[B:.*]] = linalg.generic {{.*}}{kiln.recomputed}
// CHECK: math.exp
// CHECK: math.tanh
// CHECK: kiln.gemm %[[B]], %arg2 {trans_a = true}
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @recomputed_apart(%x: tensor<4x8xf32>, %w: tensor<8x2xf32>, %dy: tensor<4x2xf32>) -> (tensor<4x2xf32>, tensor<8x2xf32>) {
  %e = tensor.empty() : tensor<4x8xf32>
  %p = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %t = math.exp %in : f32
    linalg.yield %t : f32
  } -> tensor<4x8xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%p : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %t = math.tanh %in : f32
    linalg.yield %t : f32
  } -> tensor<4x8xf32>
  %y = kiln.matmul %a, %w : (tensor<4x8xf32>, tensor<8x2xf32>) -> tensor<4x2xf32>
  %q = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %t = math.exp %in : f32
    linalg.yield %t : f32
  } -> tensor<4x8xf32>
  %b = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%q : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) attrs = {kiln.recomputed} {
  ^bb0(%in: f32, %out: f32):
    %t = math.tanh %in : f32
    linalg.yield %t : f32
  } -> tensor<4x8xf32>
  %dw = kiln.gemm %b, %dy {trans_a = true} : (tensor<4x8xf32>, tensor<4x2xf32>) -> tensor<8x2xf32>
  return %y, %dw : tensor<4x2xf32>, tensor<8x2xf32>
}

// -----

// Two recomputed siblings (reading one value) become one kernel, still
// marked, which then stays apart from the forward's kernel reading that
// value too.
// CHECK-LABEL: func.func @recomputed_siblings
// CHECK: %[[A:.*]] = linalg.generic
// CHECK-NOT: kiln.recomputed
// CHECK: math.exp
// CHECK-NEXT: linalg.yield
// CHECK: kiln.matmul %[[A]], %arg1
// CHECK: %[[B:.*]]:2 = linalg.generic {{.*}}{kiln.recomputed}
// CHECK: math.tanh
// CHECK: arith.negf
// CHECK: kiln.gemm %[[B]]#0, %arg2 {trans_a = true}
// CHECK: kiln.gemm %[[B]]#1, %arg2 {trans_a = true}
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @recomputed_siblings(%x: tensor<4x8xf32>, %w: tensor<8x2xf32>, %dy: tensor<4x2xf32>) -> (tensor<4x2xf32>, tensor<8x2xf32>, tensor<8x2xf32>) {
  %e = tensor.empty() : tensor<4x8xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %t = math.exp %in : f32
    linalg.yield %t : f32
  } -> tensor<4x8xf32>
  %y = kiln.matmul %a, %w : (tensor<4x8xf32>, tensor<8x2xf32>) -> tensor<4x2xf32>
  %b = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) attrs = {kiln.recomputed} {
  ^bb0(%in: f32, %out: f32):
    %t = math.tanh %in : f32
    linalg.yield %t : f32
  } -> tensor<4x8xf32>
  %c = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) attrs = {kiln.recomputed} {
  ^bb0(%in: f32, %out: f32):
    %t = arith.negf %in : f32
    linalg.yield %t : f32
  } -> tensor<4x8xf32>
  %d1 = kiln.gemm %b, %dy {trans_a = true} : (tensor<4x8xf32>, tensor<4x2xf32>) -> tensor<8x2xf32>
  %d2 = kiln.gemm %c, %dy {trans_a = true} : (tensor<4x8xf32>, tensor<4x2xf32>) -> tensor<8x2xf32>
  return %y, %d1, %d2 : tensor<4x2xf32>, tensor<8x2xf32>, tensor<8x2xf32>
}

// -----

// A recomputed kernel joins a later sibling of the backward (both read x:
// a GELU's output again beside its gradient), the weight gradient that
// reads it in between moving after the two.
// CHECK-LABEL: func.func @recomputed_joins_backward
// CHECK: %[[C:.*]] = kiln.gemm %arg2, %arg1
// CHECK: %[[M:.*]]:2 = linalg.generic {{.*}}{kiln.recomputed}
// CHECK: math.tanh
// CHECK: arith.mulf
// CHECK: %[[DW:.*]] = kiln.gemm %[[M]]#0, %arg2 {trans_a = true}
// CHECK: return %[[DW]], %[[M]]#1
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @recomputed_joins_backward(%x: tensor<4x8xf32>, %w: tensor<2x8xf32>, %dy: tensor<4x2xf32>) -> (tensor<8x2xf32>, tensor<4x8xf32>) {
  %e = tensor.empty() : tensor<4x8xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) attrs = {kiln.recomputed} {
  ^bb0(%in: f32, %out: f32):
    %t = math.tanh %in : f32
    linalg.yield %t : f32
  } -> tensor<4x8xf32>
  %dw = kiln.gemm %a, %dy {trans_a = true} : (tensor<4x8xf32>, tensor<4x2xf32>) -> tensor<8x2xf32>
  %c = kiln.gemm %dy, %w : (tensor<4x2xf32>, tensor<2x8xf32>) -> tensor<4x8xf32>
  %b = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%x, %c : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%in: f32, %in_1: f32, %out: f32):
    %t = arith.mulf %in, %in_1 : f32
    linalg.yield %t : f32
  } -> tensor<4x8xf32>
  return %dw, %b : tensor<8x2xf32>, tensor<4x8xf32>
}

// -----

// Two recomputed kernels, the second reading what is computed after a
// reader of the first, stay apart (each block's attention probabilities
// read the one causal mask and that block's own scores: merged, the first
// block's backward would wait for the last's).
// CHECK-LABEL: func.func @copies_stay_apart
// CHECK: %[[A:.*]] = linalg.generic {{.*}}{kiln.recomputed}
// CHECK-NEXT: ^bb0
// CHECK-NEXT: math.tanh
// CHECK: kiln.gemm %[[A]], %arg2 {trans_a = true}
// CHECK: %[[C:.*]] = kiln.gemm %arg2, %arg1
// CHECK: %[[B:.*]] = linalg.generic {{.*}}ins(%arg0, %[[C]] {{.*}}{kiln.recomputed}
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.mulf
// CHECK: kiln.gemm %[[B]], %arg2 {trans_a = true}
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @copies_stay_apart(%x: tensor<4x8xf32>, %w: tensor<2x8xf32>, %dy: tensor<4x2xf32>) -> (tensor<8x2xf32>, tensor<8x2xf32>) {
  %e = tensor.empty() : tensor<4x8xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) attrs = {kiln.recomputed} {
  ^bb0(%in: f32, %out: f32):
    %t = math.tanh %in : f32
    linalg.yield %t : f32
  } -> tensor<4x8xf32>
  %d1 = kiln.gemm %a, %dy {trans_a = true} : (tensor<4x8xf32>, tensor<4x2xf32>) -> tensor<8x2xf32>
  %c = kiln.gemm %dy, %w : (tensor<4x2xf32>, tensor<2x8xf32>) -> tensor<4x8xf32>
  %b = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%x, %c : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) attrs = {kiln.recomputed} {
  ^bb0(%in: f32, %in_1: f32, %out: f32):
    %t = arith.mulf %in, %in_1 : f32
    linalg.yield %t : f32
  } -> tensor<4x8xf32>
  %d2 = kiln.gemm %b, %dy {trans_a = true} : (tensor<4x8xf32>, tensor<4x2xf32>) -> tensor<8x2xf32>
  return %d1, %d2 : tensor<8x2xf32>, tensor<8x2xf32>
}

// -----

// A transpose that read its input through a reshape (d1 * 6 + d3 of a
// dimension of 12) is not fused into a reader that takes d1 = 0 only: the
// fused kernel would read that dimension at d3 alone, over 6 points, which
// linalg cannot size (a bidirectional LSTM's gradient, one direction's half
// of the last step). The transpose stays a kernel; its reader reads it.
// CHECK-LABEL: func.func @composed_reads_keep_sizes
// CHECK: %[[T:.*]] = linalg.generic {{.*}}ins(%arg0 : tensor<4x5x12xf32>) outs(%{{.*}} : tensor<5x2x4x6xf32>)
// CHECK-NOT: ins(%arg0
// CHECK: linalg.generic {{.*}}ins(%[[T]], %arg1 : tensor<5x2x4x6xf32>, tensor<4x6xf32>)
#tr = affine_map<(d0, d1, d2) -> (d1, d0, d2)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#tr4 = affine_map<(d0, d1, d2, d3) -> (d0, d2, d1, d3)>
func.func @composed_reads_keep_sizes(%a: tensor<4x5x12xf32>, %m: tensor<4x6xf32>) -> tensor<4x6xf32> {
  %e0 = tensor.empty() : tensor<5x4x12xf32>
  %0 = linalg.generic {indexing_maps = [#tr, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%a : tensor<4x5x12xf32>) outs(%e0 : tensor<5x4x12xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<5x4x12xf32>
  %1 = kiln.reshape %0 {shape = array<i64: 5, 4, 2, 6>} : (tensor<5x4x12xf32>) -> tensor<5x4x2x6xf32>
  %e1 = tensor.empty() : tensor<5x2x4x6xf32>
  %2 = linalg.generic {indexing_maps = [#tr4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%1 : tensor<5x4x2x6xf32>) outs(%e1 : tensor<5x2x4x6xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<5x2x4x6xf32>
  %s = tensor.extract_slice %2[4, 0, 0, 0] [1, 1, 4, 6] [1, 1, 1, 1] : tensor<5x2x4x6xf32> to tensor<1x1x4x6xf32>
  %e2 = tensor.empty() : tensor<1x1x4x6xf32>
  %3 = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s : tensor<1x1x4x6xf32>) outs(%e2 : tensor<1x1x4x6xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<1x1x4x6xf32>
  %4 = kiln.reshape %3 {shape = array<i64: 4, 6>} : (tensor<1x1x4x6xf32>) -> tensor<4x6xf32>
  %e3 = tensor.empty() : tensor<4x6xf32>
  %5 = linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%4, %m : tensor<4x6xf32>, tensor<4x6xf32>) outs(%e3 : tensor<4x6xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %t = arith.mulf %in, %in_0 : f32
    linalg.yield %t : f32
  } -> tensor<4x6xf32>
  return %5 : tensor<4x6xf32>
}
