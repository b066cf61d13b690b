// kiln-opt: the kiln dialect and passes beside upstream canonicalize/CSE/DCE.
// RUN: kiln-opt --help | FileCheck %s --check-prefix=HELP
// HELP: Available Dialects: {{.*}}kiln
// HELP-DAG: --canonicalize
// HELP-DAG: --cse
// HELP-DAG: --symbol-dce
// HELP-DAG: --remove-dead-values
// HELP-DAG: --kiln-shape-infer {{.*}}Refines result types of kiln ops
// HELP-DAG: --require-static
// HELP-DAG: --kiln-graph-pipeline

// A malformed file: a located diagnostic and a non-zero exit.
// RUN: not kiln-opt %S/Inputs/malformed.mlir 2>&1 | FileCheck %s --check-prefix=MALFORMED
// MALFORMED: malformed.mlir:2:41: error: expected non-function type

// --mlir-print-ir-after-all prints after each pass.
// RUN: kiln-opt %s --kiln-shape-infer --cse --mlir-print-ir-after-all -o /dev/null 2>&1 | FileCheck %s --check-prefix=PRINT
// PRINT: IR Dump After ShapeInferPass (kiln-shape-infer)
// PRINT: kiln.add {{.*}} -> tensor<4x3xf32>
// PRINT: IR Dump After CSE (cse)

// CSE and canonicalize see kiln ops as pure: the duplicate add and the unused
// relu go away.
// RUN: kiln-opt %s --cse --canonicalize | FileCheck %s --check-prefix=CLEAN
// CLEAN-LABEL: func.func @f
// CLEAN-COUNT-1: kiln.add
// CLEAN-NOT: kiln.relu
// CLEAN: return
func.func @f(%a: tensor<4x3xf32>, %b: tensor<3xf32>) -> (tensor<?x3xf32>, tensor<?x3xf32>) {
  %0 = kiln.add %a, %b : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %1 = kiln.add %a, %b : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %2 = kiln.relu %a : (tensor<4x3xf32>) -> tensor<4x3xf32>
  return %0, %1 : tensor<?x3xf32>, tensor<?x3xf32>
}

// Random draws are not pure: CSE keeps both, DCE keeps even an unused one.
// RUN: kiln-opt %s --cse --canonicalize --split-input-file | FileCheck %s --check-prefix=RANDOM
// RANDOM-LABEL: func.func @random
// RANDOM-COUNT-3: kiln.random_uniform
func.func @random() -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = kiln.random_uniform {shape = array<i64: 4>, dtype = f32} : () -> tensor<4xf32>
  %1 = kiln.random_uniform {shape = array<i64: 4>, dtype = f32} : () -> tensor<4xf32>
  %2 = kiln.random_uniform {shape = array<i64: 4>, dtype = f32} : () -> tensor<4xf32>
  return %0, %1 : tensor<4xf32>, tensor<4xf32>
}
