//===- dtype.cpp - element types the runtime stores -----------------------===//
#include "dtype.h"

namespace kiln::runtime {
namespace {
struct DTypeInfo {
  DType dtype;
  std::string_view name;
  size_t size;
};
constexpr DTypeInfo kTypes[] = {
    {DType::F32, "F32", 4},   {DType::F64, "F64", 8}, {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I64, "I64", 8}, {DType::I32, "I32", 4},
    {DType::I8, "I8", 1},     {DType::U8, "U8", 1},   {DType::Bool, "BOOL", 1},
};
} // namespace

size_t dtypeSize(DType dtype) {
  for (const DTypeInfo &info : kTypes)
    if (info.dtype == dtype)
      return info.size;
  return 0;
}

std::string_view dtypeName(DType dtype) {
  for (const DTypeInfo &info : kTypes)
    if (info.dtype == dtype)
      return info.name;
  return "?";
}

std::optional<DType> dtypeFromName(std::string_view name) {
  for (const DTypeInfo &info : kTypes)
    if (info.name == name)
      return info.dtype;
  return std::nullopt;
}

std::string formatShape(const std::vector<int64_t> &shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

} // namespace kiln::runtime
