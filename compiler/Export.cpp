//===- Export.cpp - trained weights back into the ONNX model --------------===//
#include "compiler/Export.h"

#include "compiler/onnx/ModelReader.h"
#include "runtime/src/artifact.h"
#include "runtime/src/io.h"
#include "runtime/src/safetensors.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Path.h"

namespace kiln {
namespace {

using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

Error fail(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// The ONNX data type of a runtime dtype (0 if none).
int32_t onnxType(runtime::DType t) {
  switch (t) {
  case runtime::DType::F32:
    return ::onnx::TensorProto::FLOAT;
  case runtime::DType::F64:
    return ::onnx::TensorProto::DOUBLE;
  case runtime::DType::F16:
    return ::onnx::TensorProto::FLOAT16;
  case runtime::DType::BF16:
    return ::onnx::TensorProto::BFLOAT16;
  case runtime::DType::I64:
    return ::onnx::TensorProto::INT64;
  case runtime::DType::I32:
    return ::onnx::TensorProto::INT32;
  default:
    return 0;
  }
}

/// Replaces `tensor`'s data with `bytes` (raw, inline), checking type and
/// shape.
Error setData(::onnx::TensorProto &tensor, runtime::DType dtype,
              const std::vector<int64_t> &shape, const uint8_t *bytes,
              size_t size, StringRef origin) {
  std::vector<int64_t> dims(tensor.dims().begin(), tensor.dims().end());
  if (onnxType(dtype) != tensor.data_type() || dims != shape)
    return fail(origin + ": '" + tensor.name() + "' is " +
                runtime::dtypeName(dtype) + " " + runtime::formatShape(shape) +
                "; the model's initializer is " +
                runtime::formatShape(dims) + " of ONNX type " +
                llvm::Twine(tensor.data_type()));
  tensor.clear_float_data();
  tensor.clear_double_data();
  tensor.clear_int32_data();
  tensor.clear_int64_data();
  tensor.clear_external_data();
  tensor.set_data_location(::onnx::TensorProto::DEFAULT);
  tensor.set_raw_data(bytes, size);
  if (StringRef(tensor.doc_string()).starts_with("kiln: "))
    tensor.clear_doc_string();
  return Error::success();
}

/// Reads every externally stored initializer into the model.
Error inlineExternalData(::onnx::ModelProto &model, StringRef path) {
  for (::onnx::TensorProto &t : *model.mutable_graph()->mutable_initializer()) {
    if (t.data_location() != ::onnx::TensorProto::EXTERNAL)
      continue;
    auto data = onnx::readExternalData(t, path);
    if (!data)
      return data.takeError();
    t.clear_external_data();
    t.set_data_location(::onnx::TensorProto::DEFAULT);
    t.set_raw_data((*data)->getBufferStart(), (*data)->getBufferSize());
  }
  return Error::success();
}

} // namespace

Expected<std::vector<uint8_t>> embeddableModel(StringRef path,
                                               const runtime::Program &program) {
  auto model = onnx::readModel(path);
  if (!model)
    return model.takeError();
  if (Error e = inlineExternalData(**model, path))
    return std::move(e);
  for (::onnx::TensorProto &t :
       *(*model)->mutable_graph()->mutable_initializer())
    if (program.persistent(t.name()) >= 0) {
      t.clear_raw_data();
      t.clear_float_data();
      t.clear_double_data();
      t.set_doc_string("kiln: the data is in the artifact's init section");
    }
  std::string bytes;
  if (!(*model)->SerializeToString(&bytes))
    return fail(path + ": cannot serialize the model to embed it");
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

Error exportModel(StringRef modelPath, StringRef checkpointPath,
                  StringRef outPath) {
  // The model, and where the data of its emptied initializers is.
  std::unique_ptr<::onnx::ModelProto> model;
  runtime::Artifact artifact;
  runtime::Program program;
  bool fromArtifact = modelPath.ends_with(".kiln");
  if (fromArtifact) {
    if (runtime::Status s = runtime::Artifact::read(modelPath.str(), artifact);
        !s.ok())
      return fail(s.message());
    const std::vector<uint8_t> *onnxBytes = artifact.section("onnx");
    const std::vector<uint8_t> *json = artifact.section("program");
    if (!onnxBytes || !json)
      return fail(modelPath + " holds no ONNX model (it was compiled from "
                              "kiln IR, or for inference); export from the "
                              "ONNX model itself: kiln export MODEL.onnx "
                              "--checkpoint ...");
    model = std::make_unique<::onnx::ModelProto>();
    if (!model->ParseFromArray(onnxBytes->data(), int(onnxBytes->size())))
      return fail(modelPath + ": the embedded ONNX model is corrupt");
    if (runtime::Status s = runtime::programFromJson(
            std::string_view(reinterpret_cast<const char *>(json->data()),
                             json->size()),
            modelPath.str(), program);
        !s.ok())
      return fail(s.message());
  } else {
    auto read = onnx::readModel(modelPath);
    if (!read)
      return read.takeError();
    model = std::move(*read);
    if (Error e = inlineExternalData(*model, modelPath))
      return e;
  }
  runtime::SafeTensors checkpoint;
  if (runtime::Status s =
          runtime::SafeTensors::read(checkpointPath.str(), checkpoint);
      !s.ok())
    return fail(s.message());

  // Every initializer the checkpoint holds gets its value; emptied ones
  // not in the checkpoint (frozen parameters) get the artifact's.
  int replaced = 0;
  llvm::StringSet<> names;
  for (::onnx::TensorProto &t : *model->mutable_graph()->mutable_initializer()) {
    names.insert(t.name());
    if (const runtime::TensorView *v = checkpoint.find(t.name())) {
      if (Error e = setData(t, v->dtype, v->shape, v->data, v->bytes,
                            checkpointPath))
        return e;
      ++replaced;
      continue;
    }
    int32_t id = fromArtifact ? program.persistent(t.name()) : -1;
    if (id >= 0) {
      const runtime::Buffer &b = program.buffers[id];
      const std::vector<uint8_t> &init = *artifact.section("init");
      // Beyond the init region, a persistent buffer starts as zeros.
      std::vector<uint8_t> zeros;
      const uint8_t *data = init.data() + b.offset;
      if (b.offset >= int64_t(init.size())) {
        zeros.assign(size_t(b.bytes()), 0);
        data = zeros.data();
      } else if (b.offset + b.bytes() > int64_t(init.size())) {
        return fail(modelPath + ": '" + t.name() + "' straddles the end of "
                                                   "the init section");
      }
      if (Error e = setData(t, b.dtype, b.shape, data, size_t(b.bytes()),
                            modelPath))
        return e;
    }
  }
  if (replaced == 0)
    return fail(checkpointPath + " holds none of the model's initializers; "
                                 "is it a checkpoint of this model?");
  std::string bytes;
  if (!model->SerializeToString(&bytes))
    return fail("the trained model is too large for one ONNX file (2 GiB)");
  runtime::Status s = runtime::writeFileAtomically(
      outPath.str(), {{reinterpret_cast<const uint8_t *>(bytes.data()),
                       bytes.size()}});
  if (!s.ok())
    return fail(s.message());
  return Error::success();
}

} // namespace kiln
