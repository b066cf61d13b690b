//===- SafeTensorsTest.cpp - reading and writing safetensors --------------===//
#include "runtime/src/safetensors.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>

namespace {

using namespace kiln::runtime;

std::string fixture(const char *name) {
  return std::string(KILN_TEST_SOURCE_DIR) + "/fixtures/" + name;
}

template <typename T> std::vector<T> values(const TensorView &t) {
  std::vector<T> out(t.bytes / sizeof(T));
  std::memcpy(out.data(), t.data, t.bytes);
  return out;
}

/// Parses `header` (JSON) followed by `data` bytes; returns the status text.
std::string parseError(const std::string &header, size_t dataBytes) {
  std::vector<uint8_t> bytes(8);
  for (int i = 0; i < 8; ++i)
    bytes[i] = static_cast<uint8_t>(uint64_t(header.size()) >> (8 * i));
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.resize(bytes.size() + dataBytes);
  SafeTensors file;
  Status status = SafeTensors::parse(std::move(bytes), "x.safetensors", file);
  return status.toString();
}

TEST(SafeTensors, ReadsTheReferenceImplementationsFile) {
  SafeTensors file;
  Status status = SafeTensors::read(fixture("reference.safetensors"), file);
  ASSERT_TRUE(status.ok()) << status.toString();
  EXPECT_EQ(file.metadata().at("format"), "pt");
  EXPECT_EQ(file.tensors().size(), 8u);

  const TensorView *f32 = file.find("f32");
  ASSERT_TRUE(f32);
  EXPECT_EQ(f32->dtype, DType::F32);
  EXPECT_EQ(f32->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(values<float>(*f32),
            (std::vector<float>{0, 0.25, 0.5, 0.75, 1, 1.25}));
  EXPECT_EQ(values<double>(*file.find("f64")),
            (std::vector<double>{0.5, -1.0, 1e300}));
  EXPECT_EQ(
      values<int64_t>(*file.find("i64")),
      (std::vector<int64_t>{1, -2, int64_t(1) << 40, -(int64_t(1) << 40)}));
  const TensorView *i32 = file.find("i32");
  EXPECT_TRUE(i32->shape.empty());
  EXPECT_EQ(values<int32_t>(*i32), (std::vector<int32_t>{7}));
  EXPECT_EQ(values<uint8_t>(*file.find("u8")),
            (std::vector<uint8_t>{0, 1, 254, 255}));
  EXPECT_EQ(values<uint8_t>(*file.find("flag")),
            (std::vector<uint8_t>{1, 0, 1}));
  EXPECT_EQ(file.find("f16")->dtype, DType::F16);
  EXPECT_EQ(values<uint16_t>(*file.find("f16")),
            (std::vector<uint16_t>{0x3E00, 0xB400})); // 1.5, -0.25
  EXPECT_EQ(file.find("empty")->bytes, 0u);
  EXPECT_EQ(file.find("empty")->shape, (std::vector<int64_t>{0, 4}));
}

TEST(SafeTensors, WriteThenReadRoundTrips) {
  std::vector<float> a = {1, 2, 3, 4, 5, 6};
  std::vector<int64_t> b = {-1, 1LL << 50};
  SafeTensorsWriter writer;
  ASSERT_TRUE(
      writer.add("layer.weight", DType::F32, {2, 3}, a.data(), 24).ok());
  ASSERT_TRUE(writer.add("step", DType::I64, {2}, b.data(), 16).ok());
  writer.setMetadata("kiln", "checkpoint \"1\"");
  std::string path = testing::TempDir() + "/roundtrip.safetensors";
  ASSERT_TRUE(writer.write(path).ok());

  SafeTensors file;
  ASSERT_TRUE(SafeTensors::read(path, file).ok());
  EXPECT_EQ(values<float>(*file.find("layer.weight")), a);
  EXPECT_EQ(values<int64_t>(*file.find("step")), b);
  EXPECT_EQ(file.metadata().at("kiln"), "checkpoint \"1\"");
  // The data starts 8-byte aligned, as the format recommends.
  std::vector<uint8_t> bytes = writer.serialize();
  uint64_t headerSize;
  std::memcpy(&headerSize, bytes.data(), 8);
  EXPECT_EQ((8 + headerSize) % 8, 0u);
  std::remove(path.c_str());
}

TEST(SafeTensors, WriterRefusesBadTensors) {
  SafeTensorsWriter writer;
  float x[2] = {0, 0};
  EXPECT_EQ(writer.add("x", DType::F32, {3}, x, 8).toString(),
            "INVALID_ARGUMENT: tensor 'x' of shape [3] needs 12 bytes, got 8");
  ASSERT_TRUE(writer.add("x", DType::F32, {2}, x, 8).ok());
  EXPECT_EQ(writer.add("x", DType::F32, {2}, x, 8).toString(),
            "INVALID_ARGUMENT: tensor 'x' is added twice");
  EXPECT_FALSE(writer.add("__metadata__", DType::F32, {2}, x, 8).ok());
}

TEST(SafeTensors, FailedWriteLeavesNoFile) {
  SafeTensorsWriter writer;
  std::string path = testing::TempDir() + "/no-such-dir/out.safetensors";
  Status status = writer.write(path);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.toString().find("no-such-dir"), std::string::npos);
  std::ifstream in(path);
  EXPECT_FALSE(in.good());
}

TEST(SafeTensors, RefusesMalformedFiles) {
  SafeTensors file;
  EXPECT_EQ(
      SafeTensors::parse({1, 2, 3}, "x.safetensors", file).toString(),
      "DATA_LOSS: x.safetensors: is 3 bytes, too short for a safetensors file");
  EXPECT_EQ(parseError("{}", 0), "OK");
  EXPECT_EQ(parseError("[1]", 0),
            "DATA_LOSS: x.safetensors: the header does not start with '{'; not "
            "a safetensors file");
  EXPECT_EQ(parseError("{\"a\":", 0).substr(0, 47),
            "DATA_LOSS: x.safetensors: malformed header: une");
  EXPECT_EQ(parseError(
                R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4),
            "DATA_LOSS: x.safetensors: tensor 'a''s data_offsets lie outside "
            "the 4 bytes of data (truncated file?)");
  EXPECT_EQ(parseError(
                R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
            "DATA_LOSS: x.safetensors: tensor 'a' of shape [3] (F32) needs 12 "
            "bytes but its data_offsets hold 8");
  EXPECT_EQ(parseError(
                R"({"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})", 8),
            "UNIMPLEMENTED: x.safetensors: tensor 'a' has dtype C64, which "
            "kiln does not support");
  EXPECT_EQ(
      parseError(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                 R"("b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
                 6),
      "DATA_LOSS: x.safetensors: tensor 'b' overlaps another in the data");
  EXPECT_EQ(parseError(
                R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
            "DATA_LOSS: x.safetensors: tensor 'a' leaves a gap before it in "
            "the data");
  EXPECT_EQ(parseError(
                R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 6),
            "DATA_LOSS: x.safetensors: 2 bytes of data after the last tensor");
  EXPECT_EQ(
      parseError(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})",
                 0),
      "DATA_LOSS: x.safetensors: tensor 'a' has a shape entry that is "
      "not a non-negative integer");
  EXPECT_EQ(
      parseError(R"({"__metadata__":{"k":1}})", 0),
      "DATA_LOSS: x.safetensors: __metadata__ value of 'k' is not a string");
  // A header length beyond the file.
  std::vector<uint8_t> bytes = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
  EXPECT_EQ(SafeTensors::parse(bytes, "x.safetensors", file).code(),
            KILN_STATUS_DATA_LOSS);
}

TEST(SafeTensors, MissingFileIsNotFound) {
  SafeTensors file;
  Status status =
      SafeTensors::read(testing::TempDir() + "/nope.safetensors", file);
  EXPECT_EQ(status.code(), KILN_STATUS_NOT_FOUND);
  EXPECT_NE(status.toString().find("nope.safetensors"), std::string::npos);
}

} // namespace
