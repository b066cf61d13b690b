//===- ArtifactTest.cpp - the .kiln container -----------------------------===//
#include "runtime/src/artifact.h"
#include "runtime/src/io.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace {

using namespace kiln::runtime;

std::vector<uint8_t> twoSections() {
  ArtifactWriter writer;
  EXPECT_TRUE(writer.addSection("program", {1, 2, 3}).ok());
  EXPECT_TRUE(
      writer.addSection("parameters", std::vector<uint8_t>(1000, 7)).ok());
  return writer.serialize();
}

std::string parseError(std::vector<uint8_t> bytes) {
  Artifact artifact;
  return Artifact::parse(std::move(bytes), "m.kiln", artifact).toString();
}

TEST(Crc32, KnownValues) {
  EXPECT_EQ(crc32("", 0), 0u);
  EXPECT_EQ(crc32("123456789", 9), 0xCBF43926u); // The standard check value.
  // Continuing a CRC equals computing it at once.
  EXPECT_EQ(crc32("56789", 5, crc32("1234", 4)), 0xCBF43926u);
}

/// Eight bytes a step equals a byte a step (the bitwise definition), for
/// every length and alignment around the step, and continued across parts.
TEST(Crc32, EqualsTheBitwiseDefinition) {
  auto bitwise = [](const uint8_t *p, size_t n) {
    uint32_t c = ~0u;
    for (size_t i = 0; i < n; ++i) {
      c ^= p[i];
      for (int k = 0; k < 8; ++k)
        c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
  };
  std::vector<uint8_t> bytes(4099);
  uint32_t state = 12345;
  for (uint8_t &b : bytes) {
    state = state * 1103515245u + 12345u;
    b = uint8_t(state >> 16);
  }
  for (size_t offset = 0; offset < 8; ++offset)
    for (size_t n : {0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4091}) {
      const uint8_t *p = bytes.data() + offset;
      EXPECT_EQ(crc32(p, n), bitwise(p, n)) << offset << " + " << n;
      EXPECT_EQ(crc32(p + n / 3, n - n / 3, crc32(p, n / 3)), bitwise(p, n))
          << offset << " + " << n << " in two parts";
    }
}

TEST(Artifact, RoundTrips) {
  std::vector<uint8_t> bytes = twoSections();
  EXPECT_EQ(bytes.size() % 64, 0u);
  Artifact artifact;
  ASSERT_TRUE(Artifact::parse(bytes, "m.kiln", artifact).ok());
  EXPECT_EQ(artifact.version(), kArtifactVersion);
  EXPECT_EQ(artifact.sectionNames(),
            (std::vector<std::string>{"program", "parameters"}));
  EXPECT_EQ(*artifact.section("program"), (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_EQ(artifact.section("parameters")->size(), 1000u);
  EXPECT_EQ(artifact.section("missing"), nullptr);

  std::string path = testing::TempDir() + "/m.kiln";
  ArtifactWriter writer;
  ASSERT_TRUE(writer.addSection("program", {9}).ok());
  ASSERT_TRUE(writer.write(path).ok());
  ASSERT_TRUE(Artifact::read(path, artifact).ok());
  EXPECT_EQ(*artifact.section("program"), (std::vector<uint8_t>{9}));
  std::remove(path.c_str());
}

TEST(Artifact, RefusesOtherFiles) {
  EXPECT_EQ(
      parseError({}),
      "INVALID_ARGUMENT: m.kiln is not a kiln artifact (it does not start "
      "with KILNART); compile one with `kiln compile`");
  EXPECT_EQ(parseError({'{', '}', 0, 0, 0, 0, 0, 0, 0}).substr(0, 40),
            "INVALID_ARGUMENT: m.kiln is not a kiln a");
}

TEST(Artifact, RefusesTruncatedFiles) {
  std::vector<uint8_t> bytes = twoSections();
  for (size_t keep :
       {size_t(10), size_t(63), size_t(64), size_t(200), bytes.size() - 1}) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + keep);
    std::string error = parseError(cut);
    EXPECT_EQ(error.rfind("DATA_LOSS: m.kiln: ", 0), 0u)
        << keep << ": " << error;
  }
  std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + 200);
  EXPECT_EQ(parseError(cut),
            "DATA_LOSS: m.kiln: truncated or padded: the header says " +
                std::to_string(bytes.size()) + " bytes, the file has 200");
}

TEST(Artifact, RefusesCorruptBytes) {
  std::vector<uint8_t> bytes = twoSections();
  // A flipped bit in each part is caught by that part's checksum.
  auto flipped = [&](size_t at) {
    std::vector<uint8_t> b = bytes;
    b[at] ^= 0x10;
    return parseError(b);
  };
  EXPECT_EQ(
      flipped(13),
      "DATA_LOSS: m.kiln: the artifact header is corrupt (checksum mismatch)");
  EXPECT_EQ(
      flipped(64 + 2),
      "DATA_LOSS: m.kiln: the section table is corrupt (checksum mismatch)");
  Artifact artifact;
  ASSERT_TRUE(Artifact::parse(bytes, "m.kiln", artifact).ok());
  // The parameters section starts after the table and the program section.
  EXPECT_EQ(
      flipped(bytes.size() - 100),
      "DATA_LOSS: m.kiln: section 'parameters' is corrupt (checksum mismatch)");
}

TEST(Artifact, RefusesNewerVersions) {
  std::vector<uint8_t> bytes = twoSections();
  bytes[8] = 7; // Format version 7, written by a future kiln.
  EXPECT_EQ(parseError(bytes),
            "UNIMPLEMENTED: m.kiln has artifact format version 7; this runtime "
            "reads up to 1 (update the runtime, or compile the model with the "
            "kiln that matches it)");
}

TEST(Artifact, WriterChecksNames) {
  ArtifactWriter writer;
  EXPECT_FALSE(writer.addSection("", {}).ok());
  EXPECT_FALSE(writer.addSection(std::string(24, 'x'), {}).ok());
  EXPECT_TRUE(writer.addSection(std::string(23, 'x'), {}).ok());
  EXPECT_EQ(writer.addSection(std::string(23, 'x'), {}).toString(),
            "INVALID_ARGUMENT: artifact section '" + std::string(23, 'x') +
                "' is added twice");
}

} // namespace
