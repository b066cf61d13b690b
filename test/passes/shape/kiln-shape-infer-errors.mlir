// RUN: kiln-opt %s --split-input-file --kiln-shape-infer="require-static" --verify-diagnostics

// A `?` that becomes 5 no longer fits the 4 the next op needs.
func.func @refined_operand_breaks_rule(%a: tensor<5x3xf32>, %b: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %0 = kiln.relu %a : (tensor<5x3xf32>) -> tensor<?x3xf32>
  // expected-error @+1 {{'kiln.add' op operands are not broadcast-compatible: lhs dimension 0 is 5 but rhs dimension 0 is 4 (shapes 5x3 and 4x3)}}
  %1 = kiln.add %0, %b : (tensor<?x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  return %1 : tensor<4x3xf32>
}

// -----

// The refined operands give a result the written type contradicts.
func.func @written_type_contradicted(%a: tensor<5x3xf32>, %b: tensor<?x3xf32>) -> tensor<4x3xf32> {
  %0 = kiln.relu %a : (tensor<5x3xf32>) -> tensor<?x3xf32>
  // expected-error @+1 {{'kiln.add' op inferred result type 'tensor<5x3xf32>' contradicts the written type 'tensor<4x3xf32>'}}
  %1 = kiln.add %0, %b : (tensor<?x3xf32>, tensor<?x3xf32>) -> tensor<4x3xf32>
  return %1 : tensor<4x3xf32>
}

// -----

// require-static: a size inference cannot know is an error naming the op.
func.func @still_dynamic(%a: tensor<?x3xf32>, %b: tensor<3xf32>) -> tensor<?x3xf32> {
  // expected-error @+1 {{'kiln.add' op result type 'tensor<?x3xf32>' still has a dynamic size after shape inference; give every input a static shape}}
  %0 = kiln.add %a, %b : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}
