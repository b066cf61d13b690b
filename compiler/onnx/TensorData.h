//===- TensorData.h - ONNX tensors and types as MLIR attributes -----------===//
#ifndef KILN_COMPILER_ONNX_TENSORDATA_H
#define KILN_COMPILER_ONNX_TENSORDATA_H

#include "onnx/onnx_pb.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/Support/Error.h"

namespace kiln::onnx {

/// The name ONNX gives a TensorProto data type ("FLOAT", "UINT16", ...).
llvm::StringRef dataTypeName(int32_t dataType);

/// kiln's element type for an ONNX data type, or null when kiln does not
/// support it.
mlir::Type elementTypeFor(int32_t dataType, mlir::MLIRContext *context);

/// The ONNX data type of a kiln element type (0 when there is none).
int32_t dataTypeFor(mlir::Type elementType);

/// Converts a TensorProto to an attribute of its static tensor type. Data may
/// be inline (raw_data or the typed fields) or external (read relative to
/// `modelPath`, see readExternalData). With `resourceThresholdBytes` > 0,
/// tensors of at least that many bytes become DenseResourceElementsAttr
/// blobs named after the tensor; otherwise DenseElementsAttr. Errors name the
/// tensor and say what is wrong.
llvm::Expected<mlir::ElementsAttr>
tensorToAttr(const ::onnx::TensorProto &tensor, llvm::StringRef modelPath,
             size_t resourceThresholdBytes, mlir::MLIRContext *context);

} // namespace kiln::onnx

#endif // KILN_COMPILER_ONNX_TENSORDATA_H
