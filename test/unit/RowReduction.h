//===- RowReduction.h - a hand-built reduction kernel for tests -----------===//
#ifndef KILN_TEST_UNIT_ROWREDUCTION_H
#define KILN_TEST_UNIT_ROWREDUCTION_H

#include "runtime/src/kernel.h"

#include <string>
#include <vector>

namespace kiln::test {

/// A block-reduction kernel over a rows x cols F32 matrix (argument 0):
/// output i + 1 (F32 [rows]) is row r's values combined with combines[i].
inline runtime::Kernel
rowReduction(const std::string &name, int64_t rows, int64_t cols,
             const std::vector<runtime::Combine> &combines) {
  runtime::Kernel k;
  k.name = name;
  k.domain = {rows, cols};
  k.parallelDims = 1;
  k.reduce = runtime::Kernel::Reduce::Block;
  k.args = {{runtime::DType::F32, {rows, cols}, false}};
  runtime::KInstr load;
  load.op = runtime::KOp::Load;
  load.type = runtime::DType::F32;
  load.arg = 0;
  load.map = {1, 0, 0, 0, 1, 0};
  k.body = {load};
  for (size_t i = 0; i < combines.size(); ++i) {
    k.args.push_back({runtime::DType::F32, {rows}, true});
    k.outputs.push_back({int32_t(i + 1), 0, combines[i]});
  }
  return k;
}

/// A reduction over the rows of a rows x cols F32 matrix (argument 0), the
/// points being its columns (a bias's gradient): output i + 1 (F32 [cols])
/// is column c's values combined with combines[i].
inline runtime::Kernel
columnReduction(const std::string &name, int64_t rows, int64_t cols,
                const std::vector<runtime::Combine> &combines) {
  runtime::Kernel k = rowReduction(name, cols, rows, combines);
  k.args[0].shape = {rows, cols};
  k.body[0].map = {0, 1, 0, 1, 0, 0}; // x[step][point]
  return k;
}

/// A staged kernel (a block per row) computing the softmax of each row of a
/// rows x cols F32 matrix (argument 0) into argument 1: stage 0 the row's
/// maximum (local 0), stage 1 the sum of exp(x - max) (local 1), then
/// exp(x - max) / sum at each point; argument 2 (F32 [rows]) receives the
/// sum too (a local output).
inline runtime::Kernel stagedSoftmax(int64_t rows, int64_t cols) {
  using runtime::DType;
  using runtime::KInstr;
  using runtime::KOp;
  runtime::Kernel k;
  k.name = "staged_softmax";
  k.domain = {rows, cols};
  k.parallelDims = 2;
  k.rowDims = 1;
  k.reduce = runtime::Kernel::Reduce::Block;
  k.args = {{DType::F32, {rows, cols}, false},
            {DType::F32, {rows, cols}, true},
            {DType::F32, {rows}, true}};
  auto make = [](KOp op, int32_t a = -1, int32_t b = -1) {
    KInstr in;
    in.op = op;
    in.type = DType::F32;
    in.a = a;
    in.b = b;
    return in;
  };
  KInstr load = make(KOp::Load);
  load.arg = 0;
  load.map = {1, 0, 0, 0, 1, 0};
  auto local = [&](int64_t i) {
    KInstr in = make(KOp::Local);
    in.ivalue = i;
    return in;
  };
  // exp(x - max), instructions 0..3 of stage 1 and of the body.
  std::vector<KInstr> shifted = {load, local(0), make(KOp::Sub, 0, 1),
                                 make(KOp::Exp, 2)};
  k.stages.push_back({{load}, {{0, runtime::Combine::Max}}});
  k.stages.push_back({shifted, {{3, runtime::Combine::Sum}}});
  k.body = shifted;
  k.body.push_back(local(1));
  k.body.push_back(make(KOp::Div, 3, 4));
  k.outputs = {{1, 5, runtime::Combine::None}};
  runtime::KOutput sum{2, 1, runtime::Combine::None};
  sum.local = true;
  k.outputs.push_back(sum);
  return k;
}

} // namespace kiln::test

#endif // KILN_TEST_UNIT_ROWREDUCTION_H
