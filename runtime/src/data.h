//===- data.h - training data: IDX (Fashion-MNIST) and safetensors sets ---===//
#ifndef KILN_RUNTIME_SRC_DATA_H
#define KILN_RUNTIME_SRC_DATA_H

#include "dtype.h"
#include "kiln/runtime.hpp"

#include <string>
#include <vector>

namespace kiln::runtime {

/// Examples along dimension 0 of every column.
struct Dataset {
  struct Column {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape; ///< shape[0]: the number of examples.
    std::vector<uint8_t> bytes;
    int64_t rowBytes() const;
  };
  std::vector<Column> columns;
  std::string origin; ///< For messages.

  int64_t size() const { return columns.empty() ? 0 : columns[0].shape[0]; }
  const Column *find(const std::string &name) const;
};

/// The Fashion-MNIST (or MNIST) IDX files in `dir`, gzip-compressed or not:
/// `train-*` or `t10k-*`. Columns: "images" (F32 [N, 784], in [0, 1]) and
/// "labels" (I64 [N]).
Status loadIdxDataset(const std::string &dir, bool train, Dataset &out);

/// A safetensors file of columns with a common first dimension.
Status loadSafeTensorsDataset(const std::string &path, Dataset &out);

/// The order of epoch `epoch`'s examples: a permutation of [0, n) that
/// depends only on (seed, epoch), the same on every platform.
std::vector<int64_t> shuffledOrder(int64_t n, uint64_t seed, int64_t epoch);

/// Copies rows `rows[0..count)` of `column` to `out`, back to back.
void gatherRows(const Dataset::Column &column, const int64_t *rows,
                int64_t count, std::vector<uint8_t> &out);

} // namespace kiln::runtime

#endif // KILN_RUNTIME_SRC_DATA_H
