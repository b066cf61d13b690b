// kiln compile --emit mlir: the graph pipeline on kiln IR.
// RUN: kiln compile %s --emit mlir | FileCheck %s
// RUN: kiln compile %s --emit mlir -o %t && FileCheck %s < %t

// CHECK-LABEL: func.func @forward
// CHECK-SAME: -> (tensor<8x10xf32>, tensor<8x10xf32>)
// CHECK: kiln.matmul {{.*}} -> tensor<8x10xf32>
// CHECK: kiln.add {{.*}} -> tensor<8x10xf32>
// CHECK-NOT: kiln.add
// CHECK: return
func.func @forward(%x: tensor<8x784xf32>, %w: tensor<784x10xf32>, %b: tensor<10xf32>)
    -> (tensor<?x10xf32>, tensor<?x10xf32>) {
  %0 = kiln.matmul %x, %w : (tensor<8x784xf32>, tensor<784x10xf32>) -> tensor<?x10xf32>
  %1 = kiln.add %0, %b : (tensor<?x10xf32>, tensor<10xf32>) -> tensor<?x10xf32>
  %2 = kiln.add %0, %b : (tensor<?x10xf32>, tensor<10xf32>) -> tensor<?x10xf32>
  return %1, %2 : tensor<?x10xf32>, tensor<?x10xf32>
}

// --dump-ir-after-all prints the IR after every pass of the pipeline.
// RUN: kiln compile %s --emit mlir --dump-ir-after-all -o /dev/null 2>&1 | FileCheck %s --check-prefix=DUMP
// DUMP: IR Dump After ShapeInferPass (kiln-shape-infer)
// DUMP: IR Dump After Canonicalizer (canonicalize)
// DUMP: IR Dump After CSE (cse)
