// Every user error of kiln compile: one clear message, exit status 1, and no
// output file left behind.
// RUN: rm -f %t

// RUN: not kiln compile %s -o %t 2>&1 | FileCheck %s --check-prefix=NO-EMIT
// NO-EMIT: kiln compile: error: {{.*}}kiln-compile-errors.mlir: has no function @forward to train

// RUN: not kiln compile %s --inference 2>&1 | FileCheck %s --check-prefix=NO-OUT
// NO-OUT: kiln compile: error: an artifact needs -o OUT.kiln

// RUN: not kiln compile %s --emit llvm 2>&1 | FileCheck %s --check-prefix=STAGE
// STAGE: kiln compile: error: unknown --emit stage 'llvm' (known: mlir, train, kernels, cuda)

// RUN: not kiln compile %t.missing.mlir --emit mlir 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: kiln compile: error: cannot read '{{.*}}.missing.mlir': {{.*}}No such file or directory

// RUN: not kiln compile model.txt --emit mlir 2>&1 | FileCheck %s --check-prefix=KIND
// KIND: kiln compile: error: cannot read 'model.txt': expected an ONNX model (.onnx, .onnxtxt) or kiln IR (.mlir)

// RUN: not kiln compile %S/Inputs/malformed.mlir --emit mlir -o %t 2>&1 | FileCheck %s --check-prefix=MALFORMED
// MALFORMED: malformed.mlir:2:41: error: expected non-function type

// RUN: not kiln compile %S/Inputs/dynamic-batch.mlir --emit mlir -o %t 2>&1 | FileCheck %s --check-prefix=DYNAMIC
// DYNAMIC: dynamic-batch.mlir:3:8: error: 'kiln.matmul' op result type 'tensor<?x10xf32>' still has a dynamic size after shape inference

// Kernel-level IR the code generator cannot emit as one staged kernel.
// RUN: not kiln compile %S/Inputs/row-kernel-read-across.mlir --inference -o %t 2>&1 | FileCheck %s --check-prefix=ACROSS
// ACROSS: row-kernel-read-across.mlir:16:10: error: 'linalg.generic' op reads a row statistic of its kiln.row_kernel other than at the row: affine_map<(d0, d1) -> (d1)>
// RUN: not kiln compile %S/Inputs/row-kernel-bad-stage.mlir --inference -o %t 2>&1 | FileCheck %s --check-prefix=STAGE-ORDER
// STAGE-ORDER: row-kernel-bad-stage.mlir:12:10: error: 'linalg.generic' op is a stage of a kiln.row_kernel that writes its rows in another order than its loops: affine_map<(d0, d1, d2) -> (d1, d0)>

// RUN: not kiln compile %S/Inputs/unknown-schedule.mlir --inference -o %t 2>&1 | FileCheck %s --check-prefix=SCHEDULE
// SCHEDULE: unknown-schedule.mlir:8:8: error: 'linalg.generic' op has unknown kiln.schedule 'simd' (expected thread, block, block1024, warp, columns, vector2, vector4 or transpose)

// An op the code generator cannot emit is named once; the ops reading its
// result say nothing more.
// RUN: not kiln compile %S/Inputs/conv3d-then-more.mlir --inference -o %t 2>&1 | FileCheck %s --check-prefix=ONCE
// ONCE: conv3d-then-more.mlir:4:8: error: 'kiln.conv' op in 3 spatial dimensions is not supported yet (1 and 2 are)
// ONCE-NOT: error:

// An error at a kernel fused from ONNX nodes names them (four, then a count),
// not "model.onnx:0:0".
// RUN: not kiln compile %S/Inputs/fused-location.mlir --inference -o %t 2>&1 | FileCheck %s --check-prefix=FUSED
// FUSED: kiln compile: error: model.onnx: the kernel of node 'conv0' (Conv), node 'bias0' (Add), node 'a' (Mul), node 'b' (Mul) and 1 more: 'kiln.conv' op in 3 spatial dimensions is not supported yet (1 and 2 are)

// None of the failures above wrote the output file.
// RUN: not test -e %t
