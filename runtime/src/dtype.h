//===- dtype.h - element types the runtime stores -------------------------===//
#ifndef KILN_RUNTIME_SRC_DTYPE_H
#define KILN_RUNTIME_SRC_DTYPE_H

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::runtime {

/// Element types, named as safetensors names them.
enum class DType : uint8_t { F32, F64, F16, BF16, I64, I32, I8, U8, Bool };

/// Bytes per element.
size_t dtypeSize(DType dtype);
/// "F32", "BF16", "BOOL", ...
std::string_view dtypeName(DType dtype);
std::optional<DType> dtypeFromName(std::string_view name);

/// "[2, 3, 4]": a shape as errors and JSON both print it.
std::string formatShape(const std::vector<int64_t> &shape);

} // namespace kiln::runtime

#endif // KILN_RUNTIME_SRC_DTYPE_H
