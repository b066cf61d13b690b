//===- GradientCheckTest.cpp - every gradient rule vs finite differences --===//
//
// For each op with a gradient rule: a float64 function @forward of the op,
// and @grad, built by the autodiff core, returning the gradient of
// sum(forward(x) * W) (W a fixed random tensor, so every output element
// weighs differently) with respect to every argument. Both are compiled by
// the real pipeline and run on the CPU backend; the gradients must equal
// central finite differences of the same sum.
//
//===----------------------------------------------------------------------===//
#include "codegen/ProgramEmitter.h"
#include "compiler/Pipeline.h"
#include "compiler/Registration.h"
#include "compiler/onnx/Importer.h"
#include "ir/graph/GraphOps.h"
#include "passes/autodiff/Autodiff.h"
#include "runtime/src/session.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace {

using namespace mlir;
namespace rt = kiln::runtime;

struct Case {
  std::string name;
  std::string ir; ///< func.func @forward(...) on f64 tensors, or (`onnx`)
                  ///< a model in ONNX's text syntax that imports to one.
  double lo = -2, hi = 2; ///< Inputs are uniform in [lo, hi].
  double tolerance = 1e-6;
  double step = 1e-6; ///< The finite-difference step.
  bool onnx = false;
};

/// An ONNX model (text syntax, opset 17 unless `opset` says otherwise) with
/// float64 inputs `inputs` and one output `output`, as the importer writes
/// it: for ops the importer composes of graph ops (the recurrent layers).
Case onnxModel(const std::string &name, const std::string &inputs,
               const std::string &output, const std::string &nodes,
               int opset = 17) {
  Case c{name,
         "<\n  ir_version: 8,\n  opset_import: [\"\" : " +
             std::to_string(opset) + "]\n>\ng (" + inputs + ") => (" + output +
             ")\n{\n" + nodes + "\n}\n"};
  c.onnx = true;
  return c;
}

/// `kiln.OP %a` on one tensor<3x4xf64>.
Case unary(const std::string &op, const std::string &attrs = "",
           double lo = -2, double hi = 2) {
  return {op,
          "func.func @forward(%a: tensor<3x4xf64>) -> tensor<3x4xf64> {\n"
          "  %0 = kiln." + op + " %a " + attrs +
              " : (tensor<3x4xf64>) -> tensor<3x4xf64>\n"
              "  return %0 : tensor<3x4xf64>\n}",
          lo, hi};
}

/// `kiln.OP %a, %b` broadcasting tensor<3x4xf64> against tensor<4xf64>
/// (and the other way round, so both operands' sumTo is exercised).
Case binary(const std::string &op, double lo = -2, double hi = 2) {
  return {op,
          "func.func @forward(%a: tensor<3x4xf64>, %b: tensor<4xf64>, %c: "
          "tensor<3x1xf64>) -> tensor<3x4xf64> {\n"
          "  %0 = kiln." + op + " %a, %b : (tensor<3x4xf64>, tensor<4xf64>) "
              "-> tensor<3x4xf64>\n"
              "  %1 = kiln." + op + " %c, %0 : (tensor<3x1xf64>, "
              "tensor<3x4xf64>) -> tensor<3x4xf64>\n"
              "  return %1 : tensor<3x4xf64>\n}",
          lo, hi};
}

/// A function of the named arguments and body, returning `result`.
Case fn(const std::string &name, const std::string &args,
        const std::string &body, const std::string &resultType,
        double lo = -2, double hi = 2) {
  return {name,
          "func.func @forward(" + args + ") -> " + resultType + " {\n" + body +
              "\n}",
          lo, hi};
}

std::vector<Case> cases() {
  std::vector<Case> all = {
      binary("add"), binary("sub"), binary("mul"), binary("div", 0.5, 2),
      binary("pow", 0.5, 2), binary("max"), binary("min"),
      unary("neg"), unary("abs"), unary("relu"),
      unary("leaky_relu", "{alpha = 0.1 : f32}"), unary("sqrt", "", 0.5, 2),
      unary("reciprocal", "", 0.5, 2), unary("exp"), unary("log", "", 0.5, 2),
      unary("erf"), unary("tanh"), unary("sigmoid"), unary("sin"),
      unary("cos"), unary("tan", "", -1, 1), unary("sinh"), unary("cosh"),
      unary("atan"), unary("asin", "", -0.9, 0.9), unary("acos", "", -0.9, 0.9),
      unary("asinh"), unary("acosh", "", 1.2, 3), unary("atanh", "", -0.9, 0.9),
      unary("floor", "", 0.1, 0.9), unary("ceil", "", 0.1, 0.9),
      unary("round", "", 0.1, 0.4), unary("cumsum", "{axis = 1 : i64}"),
      unary("cumsum", "{axis = 0 : i64, exclusive = true, reverse = true}"),
      unary("hard_sigmoid", "{alpha = 0.3 : f32, beta = 0.4 : f32}"),
      unary("hard_swish", "", -5, 5), unary("gelu"),
      unary("gelu", "{approximate = \"tanh\"}"),
      unary("clip", "{min = -1.0 : f64, max = 1.0 : f64}"),
      unary("trilu", "{upper = false, k = 1 : i64}"),
      unary("softmax", "{axis = 0 : i64}"), unary("log_softmax"),
      fn("where",
         "%c: tensor<3x4xf64>, %a: tensor<3x4xf64>, %b: tensor<4xf64>",
         "  %z = kiln.constant dense<0.0> : tensor<f64>\n"
         "  %m = kiln.greater %c, %z : (tensor<3x4xf64>, tensor<f64>) -> tensor<3x4xi1>\n"
         "  %0 = kiln.where %m, %a, %b : (tensor<3x4xi1>, tensor<3x4xf64>, tensor<4xf64>) -> tensor<3x4xf64>\n"
         "  return %0 : tensor<3x4xf64>",
         "tensor<3x4xf64>"),
      fn("cast", "%a: tensor<3x4xf64>",
         "  %0 = kiln.cast %a {to = f32} : (tensor<3x4xf64>) -> tensor<3x4xf32>\n"
         "  %1 = kiln.cast %0 {to = f64} : (tensor<3x4xf32>) -> tensor<3x4xf64>\n"
         "  return %1 : tensor<3x4xf64>",
         "tensor<3x4xf64>"),
      fn("reshape_transpose", "%a: tensor<2x3x4xf64>",
         "  %0 = kiln.transpose %a {perm = array<i64: 2, 0, 1>} : (tensor<2x3x4xf64>) -> tensor<4x2x3xf64>\n"
         "  %1 = kiln.reshape %0 {shape = array<i64: 8, 3>} : (tensor<4x2x3xf64>) -> tensor<8x3xf64>\n"
         "  return %1 : tensor<8x3xf64>",
         "tensor<8x3xf64>"),
      fn("broadcast_to", "%a: tensor<3x1xf64>",
         "  %0 = kiln.broadcast_to %a {shape = array<i64: 2, 3, 4>} : (tensor<3x1xf64>) -> tensor<2x3x4xf64>\n"
         "  return %0 : tensor<2x3x4xf64>",
         "tensor<2x3x4xf64>"),
      // Index tuples into the first two dims (one repeated, one negative):
      // the gradient adds each tuple's slice into the slice it read.
      fn("gather_nd", "%a: tensor<3x4x2xf64>",
         "  %i = kiln.constant dense<[[0, 1], [2, -1], [0, 1]]> : tensor<3x2xi64>\n"
         "  %0 = kiln.gather_nd %a, %i : (tensor<3x4x2xf64>, tensor<3x2xi64>) -> tensor<3x2xf64>\n"
         "  return %0 : tensor<3x2xf64>",
         "tensor<3x2xf64>"),
      fn("gather_nd_batch", "%a: tensor<2x3x4xf64>",
         "  %i = kiln.constant dense<[[[1], [0]], [[2], [2]]]> : tensor<2x2x1xi64>\n"
         "  %0 = kiln.gather_nd %a, %i {batch_dims = 1 : i64} : (tensor<2x3x4xf64>, tensor<2x2x1xi64>) -> tensor<2x2x4xf64>\n"
         "  return %0 : tensor<2x2x4xf64>",
         "tensor<2x2x4xf64>"),
      // Strided slices (GPT-J's interleaved rotary halves): every other
      // column from 1, and every third row from 0 (its span, 9, cut to 8).
      fn("slice_strided", "%a: tensor<8x8xf64>",
         "  %0 = kiln.slice %a {starts = array<i64: 0, 1>, sizes = array<i64: 3, 3>, strides = array<i64: 3, 2>} : (tensor<8x8xf64>) -> tensor<3x3xf64>\n"
         "  return %0 : tensor<3x3xf64>",
         "tensor<3x3xf64>"),
      // A flip of a whole dimension (its gradient was once the identity).
      fn("slice_flip", "%a: tensor<2x5xf64>",
         "  %0 = kiln.slice %a {starts = array<i64: 0, 4>, sizes = array<i64: 2, 5>, strides = array<i64: 1, -1>} : (tensor<2x5xf64>) -> tensor<2x5xf64>\n"
         "  %1 = kiln.mul %0, %a : (tensor<2x5xf64>, tensor<2x5xf64>) -> tensor<2x5xf64>\n"
         "  return %1 : tensor<2x5xf64>",
         "tensor<2x5xf64>"),
      // Backwards: a flip of the columns, and every second row from 6 down.
      fn("slice_backwards", "%a: tensor<8x5xf64>",
         "  %0 = kiln.slice %a {starts = array<i64: 6, 4>, sizes = array<i64: 3, 5>, strides = array<i64: -2, -1>} : (tensor<8x5xf64>) -> tensor<3x5xf64>\n"
         "  return %0 : tensor<3x5xf64>",
         "tensor<3x5xf64>"),
      // Batch dimensions that broadcast (one key head, two query heads).
      fn("matmul_broadcast_batch", "%a: tensor<2x2x3x4xf64>, %b: tensor<2x1x4x3xf64>",
         "  %0 = kiln.matmul %a, %b : (tensor<2x2x3x4xf64>, tensor<2x1x4x3xf64>) -> tensor<2x2x3x3xf64>\n"
         "  return %0 : tensor<2x2x3x3xf64>",
         "tensor<2x2x3x3xf64>"),
      // ONNX Pad (reflect, then edge) as the importer writes it.
      fn("pad_reflect_edge", "%a: tensor<2x3xf64>",
         "  %0 = kiln.slice %a {starts = array<i64: 0, 2>, sizes = array<i64: 2, 2>, strides = array<i64: 1, -1>} : (tensor<2x3xf64>) -> tensor<2x2xf64>\n"
         "  %1 = kiln.slice %a {starts = array<i64: 0, 1>, sizes = array<i64: 2, 1>, strides = array<i64: 1, -1>} : (tensor<2x3xf64>) -> tensor<2x1xf64>\n"
         "  %2 = kiln.concat %0, %a, %1 {axis = 1 : i64} : (tensor<2x2xf64>, tensor<2x3xf64>, tensor<2x1xf64>) -> tensor<2x6xf64>\n"
         "  %3 = kiln.slice %2 {starts = array<i64: 1, 0>, sizes = array<i64: 1, 6>, strides = array<i64: 1, 1>} : (tensor<2x6xf64>) -> tensor<1x6xf64>\n"
         "  %4 = kiln.broadcast_to %3 {shape = array<i64: 2, 6>} : (tensor<1x6xf64>) -> tensor<2x6xf64>\n"
         "  %5 = kiln.concat %2, %4 {axis = 0 : i64} : (tensor<2x6xf64>, tensor<2x6xf64>) -> tensor<4x6xf64>\n"
         "  return %5 : tensor<4x6xf64>",
         "tensor<4x6xf64>"),
      // ONNX OneHot as the importer writes it: its values' gradients.
      fn("one_hot", "%v: tensor<2xf64>",
         "  %i = kiln.constant dense<[[0], [2], [1]]> : tensor<3x1xi64>\n"
         "  %p = kiln.constant dense<[0, 1, 2, 3]> : tensor<4xi64>\n"
         "  %h = kiln.equal %i, %p : (tensor<3x1xi64>, tensor<4xi64>) -> tensor<3x4xi1>\n"
         "  %0 = kiln.slice %v {starts = array<i64: 0>, sizes = array<i64: 1>, strides = array<i64: 1>} : (tensor<2xf64>) -> tensor<1xf64>\n"
         "  %1 = kiln.reshape %0 {shape = array<i64>} : (tensor<1xf64>) -> tensor<f64>\n"
         "  %2 = kiln.slice %v {starts = array<i64: 1>, sizes = array<i64: 1>, strides = array<i64: 1>} : (tensor<2xf64>) -> tensor<1xf64>\n"
         "  %3 = kiln.reshape %2 {shape = array<i64>} : (tensor<1xf64>) -> tensor<f64>\n"
         "  %4 = kiln.where %h, %3, %1 : (tensor<3x4xi1>, tensor<f64>, tensor<f64>) -> tensor<3x4xf64>\n"
         "  return %4 : tensor<3x4xf64>",
         "tensor<3x4xf64>"),
      // ONNX Einsum "bhqd,bhkd->bhqk" as the importer writes it: batch
      // labels folded, k transposed, one batched product.
      fn("einsum_attention", "%q: tensor<2x2x3x4xf64>, %k: tensor<2x2x5x4xf64>",
         "  %0 = kiln.reshape %q {shape = array<i64: 4, 3, 4>} : (tensor<2x2x3x4xf64>) -> tensor<4x3x4xf64>\n"
         "  %1 = kiln.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<2x2x5x4xf64>) -> tensor<2x2x4x5xf64>\n"
         "  %2 = kiln.reshape %1 {shape = array<i64: 4, 4, 5>} : (tensor<2x2x4x5xf64>) -> tensor<4x4x5xf64>\n"
         "  %3 = kiln.matmul %0, %2 : (tensor<4x3x4xf64>, tensor<4x4x5xf64>) -> tensor<4x3x5xf64>\n"
         "  %4 = kiln.reshape %3 {shape = array<i64: 2, 2, 3, 5>} : (tensor<4x3x5xf64>) -> tensor<2x2x3x5xf64>\n"
         "  return %4 : tensor<2x2x3x5xf64>",
         "tensor<2x2x3x5xf64>"),
      // ONNX Einsum "bij,jk->kb": i summed first, the product transposed.
      fn("einsum_reduce", "%x: tensor<2x3x4xf64>, %w: tensor<4x5xf64>",
         "  %0 = kiln.reduce_sum %x {axes = array<i64: 1>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<2x4xf64>\n"
         "  %1 = kiln.matmul %0, %w : (tensor<2x4xf64>, tensor<4x5xf64>) -> tensor<2x5xf64>\n"
         "  %2 = kiln.transpose %1 {perm = array<i64: 1, 0>} : (tensor<2x5xf64>) -> tensor<5x2xf64>\n"
         "  return %2 : tensor<5x2xf64>",
         "tensor<5x2xf64>"),
      // Rows added at their ids (a scatter's call): repeated, negative and
      // out-of-range ids (which add nothing).
      fn("embedding_grad", "%u: tensor<5x3xf64>",
         "  %ids = kiln.constant dense<[0, 2, -1, 2, 7]> : tensor<5xi64>\n"
         "  %0 = kiln.embedding_grad %ids, %u {rows = 4 : i64} : (tensor<5xi64>, tensor<5x3xf64>) -> tensor<4x3xf64>\n"
         "  return %0 : tensor<4x3xf64>",
         "tensor<4x3xf64>"),
      // ONNX DepthToSpace (DCR) as the importer writes it.
      fn("depth_to_space", "%a: tensor<1x8x2x3xf64>",
         "  %0 = kiln.reshape %a {shape = array<i64: 1, 2, 2, 2, 2, 3>} : (tensor<1x8x2x3xf64>) -> tensor<1x2x2x2x2x3xf64>\n"
         "  %1 = kiln.transpose %0 {perm = array<i64: 0, 3, 4, 1, 5, 2>} : (tensor<1x2x2x2x2x3xf64>) -> tensor<1x2x2x2x3x2xf64>\n"
         "  %2 = kiln.reshape %1 {shape = array<i64: 1, 2, 4, 6>} : (tensor<1x2x2x2x3x2xf64>) -> tensor<1x2x4x6xf64>\n"
         "  return %2 : tensor<1x2x4x6xf64>",
         "tensor<1x2x4x6xf64>"),
      // ONNX Tile as the importer writes it: a broadcast between views.
      fn("tile", "%a: tensor<2x3xf64>",
         "  %0 = kiln.reshape %a {shape = array<i64: 1, 2, 1, 3>} : (tensor<2x3xf64>) -> tensor<1x2x1x3xf64>\n"
         "  %1 = kiln.broadcast_to %0 {shape = array<i64: 2, 2, 2, 3>} : (tensor<1x2x1x3xf64>) -> tensor<2x2x2x3xf64>\n"
         "  %2 = kiln.reshape %1 {shape = array<i64: 4, 6>} : (tensor<2x2x2x3xf64>) -> tensor<4x6xf64>\n"
         "  return %2 : tensor<4x6xf64>",
         "tensor<4x6xf64>"),
      fn("concat_slice", "%a: tensor<2x3xf64>, %b: tensor<2x2xf64>",
         "  %0 = kiln.concat %a, %b {axis = 1 : i64} : (tensor<2x3xf64>, tensor<2x2xf64>) -> tensor<2x5xf64>\n"
         "  %1 = kiln.slice %0 {starts = array<i64: 0, 1>, sizes = array<i64: 2, 3>, strides = array<i64: 1, 1>} : (tensor<2x5xf64>) -> tensor<2x3xf64>\n"
         "  return %1 : tensor<2x3xf64>",
         "tensor<2x3xf64>"),
      fn("reduce_sum_mean", "%a: tensor<2x3x4xf64>",
         "  %0 = kiln.reduce_sum %a {axes = array<i64: 1>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<2x4xf64>\n"
         "  %1 = kiln.reduce_mean %0 {axes = array<i64: 0>, keepdims = true} : (tensor<2x4xf64>) -> tensor<1x4xf64>\n"
         "  %2 = kiln.mul %0, %1 : (tensor<2x4xf64>, tensor<1x4xf64>) -> tensor<2x4xf64>\n"
         "  return %2 : tensor<2x4xf64>",
         "tensor<2x4xf64>"),
      fn("reduce_max_min", "%a: tensor<3x5xf64>",
         "  %0 = kiln.reduce_max %a {axes = array<i64: 1>, keepdims = false} : (tensor<3x5xf64>) -> tensor<3xf64>\n"
         "  %1 = kiln.reduce_min %a {axes = array<i64: 0>, keepdims = false} : (tensor<3x5xf64>) -> tensor<5xf64>\n"
         "  %2 = kiln.reshape %0 {shape = array<i64: 3, 1>} : (tensor<3xf64>) -> tensor<3x1xf64>\n"
         "  %3 = kiln.mul %2, %1 : (tensor<3x1xf64>, tensor<5xf64>) -> tensor<3x5xf64>\n"
         "  return %3 : tensor<3x5xf64>",
         "tensor<3x5xf64>"),
      fn("matmul_2d", "%a: tensor<3x4xf64>, %b: tensor<4x5xf64>",
         "  %0 = kiln.matmul %a, %b : (tensor<3x4xf64>, tensor<4x5xf64>) -> tensor<3x5xf64>\n"
         "  return %0 : tensor<3x5xf64>",
         "tensor<3x5xf64>"),
      fn("matmul_batched", "%a: tensor<2x3x4xf64>, %b: tensor<2x4x5xf64>",
         "  %0 = kiln.matmul %a, %b : (tensor<2x3x4xf64>, tensor<2x4x5xf64>) -> tensor<2x3x5xf64>\n"
         "  return %0 : tensor<2x3x5xf64>",
         "tensor<2x3x5xf64>"),
      fn("matmul_batched_by_matrix", "%a: tensor<2x3x4xf64>, %b: tensor<4x5xf64>",
         "  %0 = kiln.matmul %a, %b : (tensor<2x3x4xf64>, tensor<4x5xf64>) -> tensor<2x3x5xf64>\n"
         "  return %0 : tensor<2x3x5xf64>",
         "tensor<2x3x5xf64>"),
      fn("matmul_transposed", "%a: tensor<2x4x3xf64>, %b: tensor<2x5x4xf64>",
         "  %0 = kiln.matmul %a, %b {trans_a = true, trans_b = true} : (tensor<2x4x3xf64>, tensor<2x5x4xf64>) -> tensor<2x3x5xf64>\n"
         "  return %0 : tensor<2x3x5xf64>",
         "tensor<2x3x5xf64>"),
      fn("matmul_transposed_by_matrix", "%a: tensor<2x4x3xf64>, %b: tensor<4x5xf64>",
         "  %0 = kiln.matmul %a, %b {trans_a = true} : (tensor<2x4x3xf64>, tensor<4x5xf64>) -> tensor<2x3x5xf64>\n"
         "  return %0 : tensor<2x3x5xf64>",
         "tensor<2x3x5xf64>"),
      fn("matmul_vectors", "%a: tensor<4xf64>, %b: tensor<4x5xf64>, %c: tensor<5xf64>",
         "  %0 = kiln.matmul %a, %b : (tensor<4xf64>, tensor<4x5xf64>) -> tensor<5xf64>\n"
         "  %1 = kiln.matmul %b, %c : (tensor<4x5xf64>, tensor<5xf64>) -> tensor<4xf64>\n"
         "  %2 = kiln.matmul %1, %b : (tensor<4xf64>, tensor<4x5xf64>) -> tensor<5xf64>\n"
         "  %3 = kiln.add %0, %2 : (tensor<5xf64>, tensor<5xf64>) -> tensor<5xf64>\n"
         "  return %3 : tensor<5xf64>",
         "tensor<5xf64>"),
      fn("gemm", "%a: tensor<3x4xf64>, %b: tensor<5x4xf64>, %c: tensor<5xf64>",
         "  %0 = kiln.gemm %a, %b, %c {trans_b = true, alpha = 0.5 : f32, beta = 2.0 : f32} : (tensor<3x4xf64>, tensor<5x4xf64>, tensor<5xf64>) -> tensor<3x5xf64>\n"
         "  return %0 : tensor<3x5xf64>",
         "tensor<3x5xf64>"),
      fn("gemm_trans_a", "%a: tensor<4x3xf64>, %b: tensor<4x5xf64>, %c: tensor<3x1xf64>",
         "  %0 = kiln.gemm %a, %b, %c {trans_a = true} : (tensor<4x3xf64>, tensor<4x5xf64>, tensor<3x1xf64>) -> tensor<3x5xf64>\n"
         "  return %0 : tensor<3x5xf64>",
         "tensor<3x5xf64>"),
      fn("gemm_trans_both", "%a: tensor<4x3xf64>, %b: tensor<5x4xf64>",
         "  %0 = kiln.gemm %a, %b {trans_a = true, trans_b = true} : (tensor<4x3xf64>, tensor<5x4xf64>) -> tensor<3x5xf64>\n"
         "  return %0 : tensor<3x5xf64>",
         "tensor<3x5xf64>"),
      fn("gather_embedding", "%w: tensor<5x3xf64>",
         "  %i = kiln.constant dense<[[0, 4, -1], [2, 0, 1]]> : tensor<2x3xi64>\n"
         "  %0 = kiln.gather %w, %i {axis = 0 : i64} : (tensor<5x3xf64>, tensor<2x3xi64>) -> tensor<2x3x3xf64>\n"
         "  return %0 : tensor<2x3x3xf64>",
         "tensor<2x3x3xf64>"),
      fn("gather_embedding_i32", "%w: tensor<5x3xf64>",
         "  %i = kiln.constant dense<[3, 3, -5, 1, 3]> : tensor<5xi32>\n"
         "  %0 = kiln.gather %w, %i {axis = 0 : i64} : (tensor<5x3xf64>, tensor<5xi32>) -> tensor<5x3xf64>\n"
         "  return %0 : tensor<5x3xf64>",
         "tensor<5x3xf64>"),
      fn("gather_elements_middle_axis", "%x: tensor<2x3x4xf64>",
         "  %i = kiln.constant dense<[[[0, 2, -1, 1], [2, 2, 0, -3]], [[1, 0, 0, 2], [-1, 1, 2, 2]]]> : tensor<2x2x4xi64>\n"
         "  %0 = kiln.gather_elements %x, %i {axis = 1 : i64} : (tensor<2x3x4xf64>, tensor<2x2x4xi64>) -> tensor<2x2x4xf64>\n"
         "  return %0 : tensor<2x2x4xf64>",
         "tensor<2x2x4xf64>"),
      fn("gather_elements", "%x: tensor<3x4xf64>",
         "  %i = kiln.constant dense<[[0, 2], [3, 3], [-1, 1]]> : tensor<3x2xi32>\n"
         "  %j = kiln.constant dense<[[0, 2, 1, 0], [2, 2, 0, 1]]> : tensor<2x4xi64>\n"
         "  %0 = kiln.gather_elements %x, %i {axis = 1 : i64} : (tensor<3x4xf64>, tensor<3x2xi32>) -> tensor<3x2xf64>\n"
         "  %1 = kiln.gather_elements %x, %j {axis = 0 : i64} : (tensor<3x4xf64>, tensor<2x4xi64>) -> tensor<2x4xf64>\n"
         "  %2 = kiln.reduce_sum %1 {axes = array<i64: 0>, keepdims = false} : (tensor<2x4xf64>) -> tensor<4xf64>\n"
         "  %3 = kiln.reshape %0 {shape = array<i64: 6>} : (tensor<3x2xf64>) -> tensor<6xf64>\n"
         "  %4 = kiln.concat %3, %2 {axis = 0 : i64} : (tensor<6xf64>, tensor<4xf64>) -> tensor<10xf64>\n"
         "  return %4 : tensor<10xf64>",
         "tensor<10xf64>"),
      fn("conv", "%x: tensor<2x4x5x6xf64>, %w: tensor<6x2x3x2xf64>, %b: tensor<6xf64>",
         "  %0 = kiln.conv %x, %w, %b {strides = array<i64: 2, 1>, pads = array<i64: 1, 0, 1, 1>, dilations = array<i64: 1, 2>, group = 2 : i64} : (tensor<2x4x5x6xf64>, tensor<6x2x3x2xf64>, tensor<6xf64>) -> tensor<2x6x3x5xf64>\n"
         "  return %0 : tensor<2x6x3x5xf64>",
         "tensor<2x6x3x5xf64>"),
      fn("conv_1d", "%x: tensor<2x3x7xf64>, %w: tensor<4x3x3xf64>",
         "  %0 = kiln.conv %x, %w {strides = array<i64: 2>, pads = array<i64: 1, 1>, dilations = array<i64: 1>, group = 1 : i64} : (tensor<2x3x7xf64>, tensor<4x3x3xf64>) -> tensor<2x4x4xf64>\n"
         "  return %0 : tensor<2x4x4xf64>",
         "tensor<2x4x4xf64>"),
      // A transposed convolution (ONNX ConvTranspose: stride 2, an output
      // padding row, two groups): both its operands' gradients.
      fn("conv_transpose", "%x: tensor<2x4x3x3xf64>, %w: tensor<4x3x3x2xf64>",
         "  %0 = kiln.conv_backward_data %x, %w {input_shape = array<i64: 2, 6, 6, 6>, strides = array<i64: 2, 2>, pads = array<i64: 1, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 2 : i64} : (tensor<2x4x3x3xf64>, tensor<4x3x3x2xf64>) -> tensor<2x6x6x6xf64>\n"
         "  return %0 : tensor<2x6x6x6xf64>",
         "tensor<2x6x6x6xf64>"),
      fn("max_pool", "%x: tensor<2x3x5x6xf64>",
         "  %0 = kiln.max_pool %x {kernel = array<i64: 3, 2>, strides = array<i64: 2, 2>, pads = array<i64: 1, 0, 1, 0>, dilations = array<i64: 1, 1>} : (tensor<2x3x5x6xf64>) -> tensor<2x3x3x3xf64>\n"
         "  return %0 : tensor<2x3x3x3xf64>",
         "tensor<2x3x3x3xf64>"),
      fn("avg_pool", "%x: tensor<2x3x5x6xf64>",
         "  %0 = kiln.avg_pool %x {kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>} : (tensor<2x3x5x6xf64>) -> tensor<2x3x3x3xf64>\n"
         "  return %0 : tensor<2x3x3x3xf64>",
         "tensor<2x3x3x3xf64>"),
      fn("avg_pool_include_pad", "%x: tensor<1x2x6xf64>",
         "  %0 = kiln.avg_pool %x {kernel = array<i64: 3>, strides = array<i64: 1>, pads = array<i64: 1, 1>, dilations = array<i64: 1>, count_include_pad = true} : (tensor<1x2x6xf64>) -> tensor<1x2x6xf64>\n"
         "  return %0 : tensor<1x2x6xf64>",
         "tensor<1x2x6xf64>"),
      fn("dropout_train", "%x: tensor<6x7xf64>",
         "  %s = kiln.constant dense<12345> : tensor<i64>\n"
         "  %0 = kiln.dropout_train %x, %s {ratio = 0.3 : f64, stream = 2 : i64} : (tensor<6x7xf64>, tensor<i64>) -> tensor<6x7xf64>\n"
         "  return %0 : tensor<6x7xf64>",
         "tensor<6x7xf64>"),
      // ONNX InstanceNormalization as the importer writes it: a layer norm
      // over the spatial dims with a scalar scale, then per-channel ones.
      fn("instance_norm", "%x: tensor<2x3x2x2xf64>, %g: tensor<3x1x1xf64>, %b: tensor<3x1x1xf64>",
         "  %one = kiln.constant dense<1.0> : tensor<f64>\n"
         "  %0 = kiln.layer_norm %x, %one {axis = 2 : i64, epsilon = 1.0e-3 : f32} : (tensor<2x3x2x2xf64>, tensor<f64>) -> tensor<2x3x2x2xf64>\n"
         "  %1 = kiln.mul %0, %g : (tensor<2x3x2x2xf64>, tensor<3x1x1xf64>) -> tensor<2x3x2x2xf64>\n"
         "  %2 = kiln.add %1, %b : (tensor<2x3x2x2xf64>, tensor<3x1x1xf64>) -> tensor<2x3x2x2xf64>\n"
         "  return %2 : tensor<2x3x2x2xf64>",
         "tensor<2x3x2x2xf64>"),
      fn("layer_norm", "%x: tensor<2x3x4xf64>, %g: tensor<4xf64>, %b: tensor<4xf64>",
         "  %0 = kiln.layer_norm %x, %g, %b {axis = 2 : i64, epsilon = 1.0e-5 : f32} : (tensor<2x3x4xf64>, tensor<4xf64>, tensor<4xf64>) -> tensor<2x3x4xf64>\n"
         "  return %0 : tensor<2x3x4xf64>",
         "tensor<2x3x4xf64>"),
      fn("batch_norm_train", "%x: tensor<4x3x2x2xf64>, %g: tensor<3xf64>, %b: tensor<3xf64>",
         "  %0, %m, %v = kiln.batch_norm_train %x, %g, %b {epsilon = 1.0e-5 : f32} : (tensor<4x3x2x2xf64>, tensor<3xf64>, tensor<3xf64>) -> (tensor<4x3x2x2xf64>, tensor<3xf64>, tensor<3xf64>)\n"
         "  return %0 : tensor<4x3x2x2xf64>",
         "tensor<4x3x2x2xf64>"),
      fn("batch_norm", "%x: tensor<4x3x2xf64>, %g: tensor<3xf64>, %b: tensor<3xf64>",
         "  %m = kiln.constant dense<[0.1, -0.2, 0.3]> : tensor<3xf64>\n"
         "  %v = kiln.constant dense<[1.5, 0.5, 2.0]> : tensor<3xf64>\n"
         "  %0 = kiln.batch_norm %x, %g, %b, %m, %v {epsilon = 1.0e-5 : f32} : (tensor<4x3x2xf64>, tensor<3xf64>, tensor<3xf64>, tensor<3xf64>, tensor<3xf64>) -> tensor<4x3x2xf64>\n"
         "  return %0 : tensor<4x3x2xf64>",
         "tensor<4x3x2xf64>"),
      // The recurrent layers as the importer unrolls them, every input
      // (weights, biases, peepholes, initial states) differentiated.
      // Bidirectional LSTM; the second sequence one step long, so the
      // reverse direction gathers its rows.
      onnxModel("lstm",
                "double[3, 2, 2] x, double[2, 8, 2] w, double[2, 8, 2] r, "
                "double[2, 16] b, double[2, 2, 2] h0, double[2, 2, 2] c0, "
                "double[2, 6] p",
                "double[3, 2, 2, 2] y",
                "  lens = Constant <value = int32[2] {3, 1}> ()\n"
                "  y, yh, yc = LSTM <direction = \"bidirectional\", "
                "hidden_size = 2> (x, w, r, b, lens, h0, c0, p)"),
      // Its final cell state, with coupled gates (input_forget).
      onnxModel("lstm_cell_state",
                "double[3, 2, 2] x, double[1, 8, 2] w, double[1, 8, 2] r, "
                "double[1, 2, 2] c0",
                "double[1, 2, 2] yc",
                "  y, yh, yc = LSTM <hidden_size = 2, input_forget = 1> "
                "(x, w, r, , , , c0)"),
      // Reverse GRU, reset after the product (PyTorch's), clipped.
      onnxModel("gru_linear_before_reset",
                "double[3, 2, 2] x, double[1, 6, 2] w, double[1, 6, 2] r, "
                "double[1, 12] b, double[1, 2, 2] h0",
                "double[3, 1, 2, 2] y",
                "  lens = Constant <value = int32[2] {2, 3}> ()\n"
                "  y, yh = GRU <direction = \"reverse\", hidden_size = 2, "
                "linear_before_reset = 1, clip = 1.5> (x, w, r, b, lens, h0)"),
      // Bidirectional GRU, reset before the product.
      onnxModel("gru",
                "double[3, 2, 2] x, double[2, 6, 2] w, double[2, 6, 2] r, "
                "double[2, 12] b, double[2, 2, 2] h0",
                "double[3, 2, 2, 2] y",
                "  y, yh = GRU <direction = \"bidirectional\", hidden_size "
                "= 2> (x, w, r, b, , h0)"),
      // GlobalMaxPool (a max over the spatial dimensions): the gradient
      // reaches the largest of each channel (an opset-1 model: its form
      // has not changed).
      onnxModel("global_max_pool", "double[2, 3, 2, 3] x",
                "double[2, 3, 1, 1] y", "  y = GlobalMaxPool (x)", 1),
      // ScatterElements replacing (the data's gradient only where nothing
      // is written) and ScatterND adding (at a repeated index).
      onnxModel("scatter_elements",
                "double[3, 4] x, double[3, 2] u", "double[3, 4] y",
                "  i = Constant <value = int64[3, 2] {1, -1, 0, 2, 3, 1}> ()\n"
                "  y = ScatterElements <axis = 1> (x, i, u)",
                16),
      onnxModel("scatternd_add",
                "double[4, 3] x, double[3] u", "double[4, 3] y",
                "  i = Constant <value = int64[3, 2] {0, 1, 3, -1, 0, 1}> ()\n"
                "  y = ScatterND <reduction = \"add\"> (x, i, u)",
                16),
      // The reductions mul and max, at indices that repeat (rounds of
      // scatters, each combined where it reaches).
      onnxModel("scatter_elements_mul",
                "double[3, 4] x, double[3, 2] u", "double[3, 4] y",
                "  i = Constant <value = int64[3, 2] {1, 1, 0, 2, 3, 3}> ()\n"
                "  y = ScatterElements <axis = 1, reduction = \"mul\"> (x, i, u)",
                18),
      onnxModel("scatternd_max", "double[4, 3] x, double[3] u",
                "double[4, 3] y",
                "  i = Constant <value = int64[3, 2] {0, 1, 3, 2, 0, 1}> ()\n"
                "  y = ScatterND <reduction = \"max\"> (x, i, u)",
                18),
      // PRelu (the slope per channel trained too), LRN, MVN, Shrink and
      // ReverseSequence as the importer composes them.
      onnxModel("prelu", "double[2, 3, 2] x, double[3, 1] s",
                "double[2, 3, 2] y", "  y = PRelu (x, s)"),
      onnxModel("lrn", "double[2, 4, 3] x", "double[2, 4, 3] y",
                "  y = LRN <size = 3, alpha = 0.5, beta = 0.75, bias = 2.0> (x)"),
      onnxModel("mean_variance_normalization", "double[2, 3, 4] x",
                "double[2, 3, 4] y",
                "  y = MeanVarianceNormalization <axes = [0, 2]> (x)"),
      onnxModel("shrink", "double[3, 4] x", "double[3, 4] y",
                "  y = Shrink <lambd = 0.5, bias = 0.25> (x)"),
      onnxModel("reverse_sequence", "double[4, 3, 2] x", "double[4, 3, 2] y",
                "  lens = Constant <value = int64[3] {4, 1, 2}> ()\n"
                "  y = ReverseSequence (x, lens)"),
      // GridSample (bilinear) as imported: the input's gradient through the
      // gathers, the grid's through the weights; zeros and reflection.
      onnxModel("grid_sample",
                "double[1, 2, 3, 4] x, double[1, 2, 3, 2] grid",
                "double[1, 2, 2, 3] y", "  y = GridSample (x, grid)", 16),
      onnxModel("grid_sample_bicubic",
                "double[1, 2, 3, 4] x, double[1, 2, 3, 2] grid",
                "double[1, 2, 2, 3] y",
                "  y = GridSample <mode = \"bicubic\"> (x, grid)", 16),
      onnxModel("grid_sample_reflection",
                "double[1, 2, 3, 4] x, double[1, 2, 3, 2] grid",
                "double[1, 2, 2, 3] y",
                "  y = GridSample <padding_mode = \"reflection\", "
                "align_corners = 1> (x, grid)",
                16),
      // Control flow as the importer resolves it: a Loop unrolled (the
      // weight read from the outer graph in every iteration, a scan
      // output), a while loop whose condition is known only at run time
      // (its updates masked), a Scan over two inputs, one reversed, and an
      // If on a run-time condition (both branches, selected).
      onnxModel("loop", "double[2, 2] x, double[2, 2] w", "double[3, 2, 2] ys",
                "  m = Constant <value = int64 {3}> ()\n"
                "  y, ys = Loop (m, , x) <body = b (int64 i, bool c, double[2, "
                "2] y_in) => (bool c_out, double[2, 2] y_out, double[2, 2] "
                "s) {\n"
                "    c_out = Identity (c)\n"
                "    p = MatMul (y_in, w)\n"
                "    t = Tanh (p)\n"
                "    y_out = Add (t, y_in)\n"
                "    s = Mul (y_out, y_in)\n"
                "  }>"),
      // A Loop appending to a sequence, stacked after it, and a sequence
      // built, inserted into and erased from, concatenated.
      onnxModel("loop_sequence", "double[2, 2] x, double[2, 2] w",
                "double[2, 3, 2] y",
                "  m = Constant <value = int64 {3}> ()\n"
                "  e = SequenceEmpty ()\n"
                "  h, hs = Loop (m, , x, e) <body = b (int64 i, bool c, "
                "double[2, 2] h_in, hs_in) => (bool c_out, double[2, 2] h_out, "
                "hs_out) {\n"
                "    c_out = Identity (c)\n"
                "    p = MatMul (h_in, w)\n"
                "    h_out = Sin (p)\n"
                "    hs_out = SequenceInsert (hs_in, h_out)\n"
                "  }>\n"
                "  y = ConcatFromSequence <axis = 1, new_axis = 1> (hs)"),
      onnxModel("sequence_ops", "double[2, 2] a, double[2, 2] b, "
                "double[2, 2] c",
                "double[6, 2] y",
                "  s = SequenceConstruct (a, b)\n"
                "  zero = Constant <value = int64 {0}> ()\n"
                "  s2 = SequenceInsert (s, c, zero)\n"
                "  s3 = SequenceInsert (s2, a)\n"
                "  s4 = SequenceErase (s3, zero)\n"
                "  y = ConcatFromSequence <axis = 0> (s4)"),
      onnxModel("loop_while", "double[2, 2] x, double[2, 2] w",
                "double[2, 2] z",
                "  m = Constant <value = int64 {6}> ()\n"
                "  limit = Constant <value = double {30}> ()\n"
                "  z = Loop (m, , x) <body = b (int64 i, bool c, double[2, 2] "
                "z_in) => (bool c_out, double[2, 2] z_out) {\n"
                "    p = MatMul (z_in, w)\n"
                "    z_out = Add (p, z_in)\n"
                "    a = Abs (z_out)\n"
                "    n = ReduceSum <keepdims = 0> (a)\n"
                "    c_out = Less (n, limit)\n"
                "  }>"),
      onnxModel("scan", "double[2, 3] s0, double[2, 4, 3] xa, double[4, 3] xb",
                "double[2, 3, 4] o",
                "  s, o = Scan (s0, xa, xb) <num_scan_inputs = 2, "
                "scan_input_axes = [1, 0], scan_input_directions = [0, 1], "
                "scan_output_axes = [2], body = b (double[2, 3] acc, double[2, "
                "3] a, double[3] e) => (double[2, 3] acc_out, double[2, 3] "
                "out) {\n"
                "    m = Mul (acc, e)\n"
                "    acc_out = Add (m, a)\n"
                "    out = Sin (acc_out)\n"
                "  }>"),
      onnxModel("if_runtime", "double[2, 3] x, double[2, 3] w",
                "double[2, 3] y",
                "  n = ReduceSum <keepdims = 0> (x)\n"
                "  zero = Constant <value = double {0}> ()\n"
                "  c = Greater (n, zero)\n"
                "  y = If (c) <then_branch = t () => (double[2, 3] a) {\n"
                "    a = Mul (x, w)\n"
                "  }, else_branch = e () => (double[2, 3] b) {\n"
                "    b = Sub (w, x)\n"
                "  }>"),
      // DFT (a product with a constant matrix) of a complex signal, inverse
      // and zero-padded, and of a real one, onesided and truncated; STFT
      // (frames gathered along time) with a window that is an input too.
      onnxModel("dft_inverse_padded", "double[2, 3, 2, 2] x",
                "double[2, 5, 2, 2] y",
                "  l = Constant <value = int64 {5}> ()\n"
                "  y = DFT <axis = 1, inverse = 1> (x, l)"),
      onnxModel("dft_onesided_truncated", "double[2, 6, 1] x",
                "double[2, 3, 2] y",
                "  l = Constant <value = int64 {4}> ()\n"
                "  y = DFT <axis = 1, onesided = 1> (x, l)"),
      onnxModel("stft", "double[2, 11] x, double[4] w", "double[2, 4, 3, 2] y",
                "  s = Constant <value = int64 {2}> ()\n"
                "  y = STFT (x, s, w)"),
      // MaxUnpool of MaxPool's values at its indices (a scatter of the
      // values, whose gradient gathers them back).
      onnxModel("maxunpool", "double[1, 2, 4, 4] x", "double[1, 2, 4, 4] y",
                "  v, i = MaxPool <kernel_shape = [2, 2], strides = [2, 2]> "
                "(x)\n"
                "  t = Tanh (v)\n"
                "  y = MaxUnpool <kernel_shape = [2, 2], strides = [2, 2]> "
                "(t, i)"),
      // Einsum with a label twice in an operand (its diagonal: a product
      // with the identity, summed).
      onnxModel("einsum_diagonal", "double[3, 3, 2] c, double[2, 4] d",
                "double[3, 4] y",
                "  y = Einsum <equation = \"iij,jk->ik\"> (c, d)"),
      // Resize, linear up and cubic down (products with constant weights).
      onnxModel("resize_linear", "double[1, 2, 3, 2] x", "double[1, 2, 5, 4] y",
                "  sizes = Constant <value = int64[4] {1, 2, 5, 4}> ()\n"
                "  y = Resize <mode = \"linear\"> (x, , , sizes)"),
      onnxModel("resize_cubic", "double[1, 1, 5, 4] x", "double[1, 1, 3, 3] y",
                "  sizes = Constant <value = int64[4] {1, 1, 3, 3}> ()\n"
                "  y = Resize <mode = \"cubic\", coordinate_transformation_mode "
                "= \"align_corners\"> (x, , , sizes)"),
      // ConvTranspose with an output_shape past its full output (zeros
      // concatenated on both sides of H, at the end of W).
      onnxModel("conv_transpose_output_shape",
                "double[1, 2, 3, 3] x, double[2, 2, 3, 3] w, double[2] b",
                "double[1, 2, 11, 8] y",
                "  y = ConvTranspose <strides = [3, 2], output_shape = [11, 8]> "
                "(x, w, b)"),
      // Batch-first RNN (layout 1, opset 14): its final state.
      onnxModel("rnn_batch_first",
                "double[2, 3, 2] x, double[1, 2, 2] w, double[1, 2, 2] r, "
                "double[1, 4] b, double[2, 1, 2] h0",
                "double[2, 1, 2] yh",
                "  y, yh = RNN <hidden_size = 2, layout = 1> (x, w, r, b, , h0)",
                14),
  };
  for (Case &c : all)
    if (c.name == "cast") { // Through float32: a step float32 can see.
      c.tolerance = 1e-4;
      c.step = 1e-2;
    }
  return all;
}

void PrintTo(const Case &c, std::ostream *os) { *os << c.name; }

class GradientCheck : public testing::TestWithParam<Case> {};

/// Appends @grad to the module: the gradient of sum(forward(args) * w) with
/// respect to every argument.
LogicalResult buildGradFunction(ModuleOp module, std::vector<double> &weights) {
  auto forward = module.lookupSymbol<func::FuncOp>("forward");
  func::FuncOp grad = forward.clone();
  grad.setSymName("grad");
  module.push_back(grad);
  auto ret = cast<func::ReturnOp>(grad.getBody().front().getTerminator());
  OpBuilder b(ret);
  Location loc = ret.getLoc();
  Value out = ret.getOperand(0);
  auto type = cast<RankedTensorType>(out.getType());
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-1, 1);
  weights.resize(size_t(type.getNumElements()));
  for (double &w : weights)
    w = u(rng);
  Value w = b.create<kiln::graph::ConstantOp>(
      loc, DenseElementsAttr::get(type, ArrayRef<double>(weights)));
  Value weighted = b.create<kiln::graph::MulOp>(loc, out, w);
  SmallVector<int64_t> axes;
  for (int64_t d = 0; d < type.getRank(); ++d)
    axes.push_back(d);
  Value loss = b.create<kiln::graph::ReduceSumOp>(
      loc, weighted, b.getDenseI64ArrayAttr(axes), b.getBoolAttr(false));
  SmallVector<Value> wrt(grad.getArguments().begin(),
                         grad.getArguments().end());
  FailureOr<SmallVector<Value>> grads =
      kiln::autodiff::gradients(b, loss, wrt);
  if (failed(grads))
    return failure();
  SmallVector<Value> results;
  for (auto [arg, g] : llvm::zip(wrt, *grads)) {
    if (!g) // The loss does not depend on it: a zero gradient.
      g = b.create<kiln::graph::ConstantOp>(
          loc, DenseElementsAttr::get(cast<RankedTensorType>(arg.getType()),
                                      0.0));
    results.push_back(g);
  }
  b.create<func::ReturnOp>(loc, results);
  ret.erase();
  grad.setFunctionType(
      FunctionType::get(module.getContext(), grad.getArgumentTypes(),
                        ValueRange(results).getTypes()));
  grad.removeResAttrsAttr(); // @forward's output names (an imported model)
  return success();
}

double weightedSum(const rt::HostTensor &out, const std::vector<double> &w) {
  auto *v = static_cast<const double *>(out.data);
  double s = 0;
  for (size_t i = 0; i < w.size(); ++i)
    s += v[i] * w[i];
  return s;
}

/// Runs the graph and kernel pipelines on `module` and opens a session whose
/// entries are its functions named in `entries`; null (with the reason in
/// `error`) when any part fails.
std::unique_ptr<rt::Session> compileSession(ModuleOp module,
                                            ArrayRef<std::string> entries,
                                            std::string &error) {
  PassManager pm(module.getContext(), ModuleOp::getOperationName());
  kiln::buildGraphPipeline(pm);
  kiln::buildKernelPipeline(pm);
  if (failed(pm.run(module))) {
    error = "the pipeline fails";
    return nullptr;
  }
  SmallVector<std::pair<func::FuncOp, std::string>> functions;
  for (const std::string &name : entries)
    functions.push_back({module.lookupSymbol<func::FuncOp>(name), name});
  auto emitted = kiln::codegen::emitProgram(functions);
  if (failed(emitted)) {
    error = "the code generator fails";
    return nullptr;
  }
  std::unique_ptr<rt::Session> session;
  rt::Status status = rt::Session::create(std::move(emitted->program),
                                          std::move(emitted->init), session);
  if (!status.ok())
    error = status.message();
  return session;
}

TEST_P(GradientCheck, MatchesFiniteDifferences) {
  const Case &c = GetParam();
  DialectRegistry registry;
  kiln::registerAllDialects(registry);
  MLIRContext context(registry);
  std::string diagnostics;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
    diagnostics += d.str() + "\n";
    return success();
  });
  OwningOpRef<ModuleOp> module;
  if (c.onnx) {
    SmallString<128> path;
    int fd;
    ASSERT_FALSE(
        llvm::sys::fs::createTemporaryFile("gradient-check", "onnxtxt", fd, path));
    {
      llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
      os << c.ir;
    }
    module = kiln::onnx::importModel(path, {}, context);
    llvm::sys::fs::remove(path);
  } else {
    module =
        parseSourceString<ModuleOp>("module {\n" + c.ir + "\n}", &context);
  }
  ASSERT_TRUE(module) << diagnostics;
  std::vector<double> weights;
  ASSERT_TRUE(succeeded(buildGradFunction(*module, weights))) << diagnostics;
  std::string error;
  std::unique_ptr<rt::Session> session =
      compileSession(*module, {"forward", "grad"}, error);
  ASSERT_TRUE(session) << error << "\n" << diagnostics;

  // Random inputs; one f64 buffer per argument.
  const rt::Program &program = session->program();
  const rt::Entry &fwd = *program.entry("forward");
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(c.lo, c.hi);
  std::vector<std::vector<double>> values;
  std::vector<rt::HostTensor> inputs;
  for (int32_t id : fwd.inputs) {
    const rt::Buffer &b = program.buffers[id];
    values.emplace_back(size_t(b.bytes() / 8));
    for (double &v : values.back())
      v = u(rng);
  }
  for (size_t i = 0; i < values.size(); ++i) {
    const rt::Buffer &b = program.buffers[fwd.inputs[i]];
    inputs.push_back({b.name, b.dtype, b.shape, values[i].data(),
                      values[i].size() * 8});
  }
  std::vector<rt::HostTensor> outputs;
  rt::Status status = session->run("grad", inputs, outputs);
  ASSERT_TRUE(status.ok()) << status.message();
  std::vector<std::vector<double>> analytic;
  for (const rt::HostTensor &t : outputs) {
    auto *v = static_cast<const double *>(t.data);
    analytic.emplace_back(v, v + t.bytes / 8);
  }
  ASSERT_EQ(analytic.size(), values.size());

  // Central differences of the weighted sum, element by element.
  const double h = c.step;
  for (size_t i = 0; i < values.size(); ++i) {
    for (size_t j = 0; j < values[i].size(); ++j) {
      double saved = values[i][j];
      values[i][j] = saved + h;
      ASSERT_TRUE(session->run("forward", inputs, outputs).ok());
      double up = weightedSum(outputs[0], weights);
      values[i][j] = saved - h;
      ASSERT_TRUE(session->run("forward", inputs, outputs).ok());
      double down = weightedSum(outputs[0], weights);
      values[i][j] = saved;
      double numeric = (up - down) / (2 * h);
      EXPECT_NEAR(analytic[i][j], numeric,
                  c.tolerance * (1 + std::fabs(numeric)))
          << c.name << ": argument " << i << " element " << j;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Rules, GradientCheck, testing::ValuesIn(cases()),
                         [](const testing::TestParamInfo<Case> &info) {
                           // Names like "gelu_27": the op, then the index.
                           std::string n = info.param.name;
                           for (char &ch : n)
                             if (!isalnum(ch))
                               ch = '_';
                           return n + "_" + std::to_string(info.index);
                         });

} // namespace

namespace {

/// Runs `kiln.dropout_train` (ratio 0.25) on ones through the real pipeline
/// and returns the result; `seed` and `stream` pick the mask.
std::vector<float> dropoutOfOnes(int64_t seed, int64_t stream) {
  DialectRegistry registry;
  kiln::registerAllDialects(registry);
  MLIRContext context(registry);
  std::string ir =
      "func.func @forward(%x: tensor<100x100xf32>, %s: tensor<i64>) -> "
      "tensor<100x100xf32> {\n"
      "  %0 = kiln.dropout_train %x, %s {ratio = 0.25 : f64, stream = " +
      std::to_string(stream) +
      " : i64} : (tensor<100x100xf32>, tensor<i64>) -> tensor<100x100xf32>\n"
      "  return %0 : tensor<100x100xf32>\n}";
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(ir, &context);
  std::string error;
  std::unique_ptr<rt::Session> session =
      module ? compileSession(*module, {"forward"}, error) : nullptr;
  if (!session)
    return {};
  std::vector<float> ones(10000, 1.0f);
  std::vector<rt::HostTensor> in = {
      {"input0", rt::DType::F32, {100, 100}, ones.data(), ones.size() * 4},
      {"input1", rt::DType::I64, {}, &seed, 8}};
  std::vector<rt::HostTensor> out;
  if (!session->run("forward", in, out).ok())
    return {};
  auto *v = static_cast<const float *>(out[0].data);
  return std::vector<float>(v, v + 10000);
}

TEST(Dropout, KeepsOneMinusRatioScaledAndReproducibly) {
  std::vector<float> a = dropoutOfOnes(5, 0);
  ASSERT_EQ(a.size(), 10000u);
  int dropped = 0;
  for (float v : a) {
    if (v == 0.0f)
      ++dropped;
    else
      EXPECT_EQ(v, 1.0f / 0.75f); // Kept elements are scaled by 1/(1-p).
  }
  // 2500 expected; the standard deviation is about 43.
  EXPECT_NEAR(dropped, 2500, 200);
  EXPECT_EQ(a, dropoutOfOnes(5, 0));  // The same seed and stream: same mask.
  EXPECT_NE(a, dropoutOfOnes(6, 0));  // Another step's seed: another mask.
  EXPECT_NE(a, dropoutOfOnes(5, 1));  // Another op's stream: another mask.
}

} // namespace
