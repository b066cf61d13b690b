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

} // namespace kiln::test

#endif // KILN_TEST_UNIT_ROWREDUCTION_H
