//===- TensorData.cpp - ONNX tensors and types as MLIR attributes ---------===//
#include "compiler/onnx/TensorData.h"

#include "compiler/onnx/HostTensor.h"
#include "compiler/onnx/ModelReader.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <cstring>
#include <limits>

using namespace mlir;
using ::onnx::TensorProto;

namespace kiln::onnx {
namespace {

llvm::Error error(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

size_t byteWidth(Type type) {
  return type.isInteger(1) ? 1 : type.getIntOrFloatBitWidth() / 8;
}

std::string formatDims(llvm::ArrayRef<int64_t> dims) {
  if (dims.empty())
    return "scalar";
  std::string out;
  for (auto [i, d] : llvm::enumerate(dims))
    out += (i ? "x" : "") + std::to_string(d);
  return out;
}

/// Copies a typed repeated field into `bytes`, converting each value to the
/// element's width.
template <typename Field, typename Convert>
void packField(const Field &field, size_t width, std::vector<char> &bytes,
               Convert convert) {
  bytes.resize(field.size() * width);
  for (int i = 0; i < field.size(); ++i)
    convert(field.Get(i), bytes.data() + i * width);
}

} // namespace

StringRef dataTypeName(int32_t dataType) {
  if (TensorProto::DataType_IsValid(dataType))
    return TensorProto::DataType_Name(
        static_cast<TensorProto::DataType>(dataType));
  return "UNKNOWN";
}

Type elementTypeFor(int32_t dataType, MLIRContext *context) {
  Builder b(context);
  switch (dataType) {
  case TensorProto::FLOAT:
    return b.getF32Type();
  case TensorProto::DOUBLE:
    return b.getF64Type();
  case TensorProto::FLOAT16:
    return b.getF16Type();
  case TensorProto::BFLOAT16:
    return b.getBF16Type();
  case TensorProto::INT64:
    return b.getI64Type();
  case TensorProto::INT32:
    return b.getI32Type();
  case TensorProto::INT8:
    return b.getIntegerType(8);
  case TensorProto::BOOL:
    return b.getI1Type();
  default:
    return {};
  }
}

int32_t dataTypeFor(Type type) {
  if (type.isF32())
    return TensorProto::FLOAT;
  if (type.isF64())
    return TensorProto::DOUBLE;
  if (type.isF16())
    return TensorProto::FLOAT16;
  if (type.isBF16())
    return TensorProto::BFLOAT16;
  if (type.isInteger(64))
    return TensorProto::INT64;
  if (type.isInteger(32))
    return TensorProto::INT32;
  if (type.isInteger(8))
    return TensorProto::INT8;
  if (type.isInteger(1))
    return TensorProto::BOOL;
  return 0;
}

llvm::Expected<ElementsAttr> tensorToAttr(const TensorProto &tensor,
                                          StringRef modelPath,
                                          size_t resourceThresholdBytes,
                                          MLIRContext *context) {
  std::string what = "tensor '" + tensor.name() + "'";
  Type elementType = elementTypeFor(tensor.data_type(), context);
  if (!elementType)
    return error(what + " has element type " +
                 dataTypeName(tensor.data_type()) +
                 ", which kiln does not support");
  llvm::SmallVector<int64_t> dims(tensor.dims().begin(), tensor.dims().end());
  std::optional<int64_t> elements = checkedElementCount(dims);
  if (!elements)
    return error(what + " has shape " + formatDims(dims) +
                 ": a negative size, or more elements than kiln can address");
  int64_t count = *elements;
  if (count > std::numeric_limits<int64_t>::max() / 8)
    return error(what + " of shape " + formatDims(dims) + " is too large");
  auto type = RankedTensorType::get(dims, elementType);
  size_t width = byteWidth(elementType);
  size_t expected = static_cast<size_t>(count) * width;

  // 1. Gather the bytes, little-endian, one element per `width` bytes.
  std::vector<char> bytes;
  std::unique_ptr<llvm::MemoryBuffer> external;
  llvm::ArrayRef<char> data;
  if (tensor.data_location() == TensorProto::EXTERNAL) {
    auto buffer = readExternalData(tensor, modelPath);
    if (!buffer)
      return buffer.takeError();
    external = std::move(*buffer);
    data = {external->getBufferStart(), external->getBufferSize()};
  } else if (tensor.has_raw_data()) {
    data = {tensor.raw_data().data(), tensor.raw_data().size()};
  } else {
    switch (tensor.data_type()) {
    case TensorProto::FLOAT:
      packField(tensor.float_data(), width, bytes,
                [](float v, char *out) { std::memcpy(out, &v, 4); });
      break;
    case TensorProto::DOUBLE:
      packField(tensor.double_data(), width, bytes,
                [](double v, char *out) { std::memcpy(out, &v, 8); });
      break;
    case TensorProto::INT64:
      packField(tensor.int64_data(), width, bytes,
                [](int64_t v, char *out) { std::memcpy(out, &v, 8); });
      break;
    default:
      // INT32, INT8, BOOL, FLOAT16 and BFLOAT16 live in int32_data (the
      // 16-bit floats as their bit patterns).
      packField(tensor.int32_data(), width, bytes,
                [width](int32_t v, char *out) { std::memcpy(out, &v, width); });
      break;
    }
    data = bytes;
  }
  if (data.size() != expected)
    return error(what + " of shape " + formatDims(dims) + " (" +
                 dataTypeName(tensor.data_type()) + ") needs " +
                 llvm::Twine(expected) + " bytes of data but has " +
                 llvm::Twine(data.size()));

  // 2. Build the attribute.
  if (elementType.isInteger(1)) {
    llvm::SmallVector<bool> values(data.begin(), data.end());
    return ElementsAttr(DenseElementsAttr::get(type, values));
  }
  if (resourceThresholdBytes > 0 && data.size() >= resourceThresholdBytes) {
    AsmResourceBlob blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(
        data, alignof(double), /*dataIsMutable=*/false);
    return ElementsAttr(
        DenseResourceElementsAttr::get(type, tensor.name(), std::move(blob)));
  }
  return ElementsAttr(DenseElementsAttr::getFromRawBuffer(type, data));
}

} // namespace kiln::onnx
