//===- StatusTest.cpp - kiln_status_t and its C++ wrapper -----------------===//
#include "kiln/runtime.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using kiln::runtime::Status;

TEST(Status, OkIsNull) {
  EXPECT_EQ(kiln_status_create(KILN_STATUS_OK, "x"), nullptr);
  EXPECT_EQ(kiln_status_createf(KILN_STATUS_OK, "%d", 1), nullptr);
  EXPECT_EQ(kiln_status_code(nullptr), KILN_STATUS_OK);
  EXPECT_STREQ(kiln_status_message(nullptr), "");
  EXPECT_EQ(kiln_status_annotate(nullptr, "context"), nullptr);
}

TEST(Status, CarriesCodeAndMessage) {
  kiln_status_t *s = kiln_status_create(KILN_STATUS_NOT_FOUND, "no tensor 'x'");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(kiln_status_code(s), KILN_STATUS_NOT_FOUND);
  EXPECT_STREQ(kiln_status_message(s), "no tensor 'x'");
  kiln_status_free(s);

  s = kiln_status_create(KILN_STATUS_INTERNAL, nullptr);
  EXPECT_STREQ(kiln_status_message(s), "");
  kiln_status_free(s);
}

TEST(Status, FormatsLongMessages) {
  std::string big(5000, 'a');
  kiln_status_t *s = kiln_status_createf(KILN_STATUS_INVALID_ARGUMENT, "%s|%d",
                                         big.c_str(), 7);
  EXPECT_EQ(std::string(kiln_status_message(s)), big + "|7");
  kiln_status_free(s);
}

TEST(Status, AnnotateNestsContext) {
  kiln_status_t *s =
      kiln_status_create(KILN_STATUS_DATA_LOSS, "checksum mismatch");
  s = kiln_status_annotate(s, "section 'kernels'");
  s = kiln_status_annotate(s, "loading model.kiln");
  s = kiln_status_annotate(s, ""); // An empty context adds nothing.
  EXPECT_STREQ(kiln_status_message(s),
               "loading model.kiln: section 'kernels': checksum mismatch");
  kiln_status_free(s);
}

TEST(Status, CodeNames) {
  EXPECT_STREQ(kiln_status_code_name(KILN_STATUS_OK), "OK");
  EXPECT_STREQ(kiln_status_code_name(KILN_STATUS_UNAVAILABLE), "UNAVAILABLE");
  EXPECT_STREQ(kiln_status_code_name(KILN_STATUS_DEADLINE_EXCEEDED),
               "DEADLINE_EXCEEDED");
  EXPECT_STREQ(kiln_status_code_name(static_cast<kiln_status_code_t>(999)),
               "UNKNOWN");
}

TEST(StatusWrapper, OwnsAndMoves) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.toString(), "OK");

  Status err(KILN_STATUS_UNIMPLEMENTED, "artifact version 9 is newer than 1");
  EXPECT_FALSE(err.ok());
  EXPECT_EQ(err.code(), KILN_STATUS_UNIMPLEMENTED);
  err.annotate("model.kiln");
  EXPECT_EQ(err.toString(),
            "UNIMPLEMENTED: model.kiln: artifact version 9 is newer than 1");

  Status moved = std::move(err);
  EXPECT_FALSE(moved.ok());
  EXPECT_TRUE(err.ok()); // NOLINT(bugprone-use-after-move): moved-from is OK.

  kiln_status_t *raw = moved.release();
  EXPECT_TRUE(moved.ok());
  EXPECT_EQ(kiln_status_code(raw), KILN_STATUS_UNIMPLEMENTED);
  kiln_status_free(raw);
}

} // namespace

namespace {

TEST(SessionHandle, ReportsAMissingArtifact) {
  kiln::runtime::SessionHandle session;
  kiln::runtime::Status status =
      kiln::runtime::SessionHandle::open("/nonexistent/model.kiln", session);
  EXPECT_EQ(status.code(), KILN_STATUS_NOT_FOUND);
  EXPECT_EQ(session.get(), nullptr);
}

} // namespace
