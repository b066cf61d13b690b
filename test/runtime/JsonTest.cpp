//===- JsonTest.cpp - the runtime's JSON reader ---------------------------===//
#include "runtime/src/json.h"

#include <gtest/gtest.h>

namespace {

using kiln::runtime::jsonQuote;
using kiln::runtime::JsonValue;

std::optional<JsonValue> parse(std::string_view text,
                               std::string *error = nullptr) {
  std::string e;
  auto v = JsonValue::parse(text, e);
  if (error)
    *error = e;
  return v;
}

TEST(Json, ParsesNestedValues) {
  auto v = parse(
      R"( {"a": [1, -2, 3.5e2], "b": {"c": "d"}, "t": true, "n": null} )");
  ASSERT_TRUE(v);
  ASSERT_TRUE(v->isObject());
  const JsonValue *a = v->get("a");
  ASSERT_TRUE(a && a->isArray());
  EXPECT_EQ(a->items()[0].asInt(), 1);
  EXPECT_EQ(a->items()[1].asInt(), -2);
  EXPECT_EQ(a->items()[2].asInt(), std::nullopt); // Not an integer.
  EXPECT_DOUBLE_EQ(*a->items()[2].asDouble(), 350.0);
  EXPECT_EQ(v->get("b")->get("c")->str(), "d");
  EXPECT_EQ(v->get("missing"), nullptr);
  EXPECT_EQ(v->members()[0].first, "a"); // Order kept.
}

TEST(Json, IntegersStayExact) {
  auto v =
      parse("[9223372036854775807, -9223372036854775808, 9223372036854775808]");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->items()[0].asInt(), INT64_MAX);
  EXPECT_EQ(v->items()[1].asInt(), INT64_MIN);
  EXPECT_EQ(v->items()[2].asInt(), std::nullopt); // Out of range.
}

TEST(Json, StringEscapes) {
  auto v = parse(R"(["a\"b\\c\/\n\t", "\u00e9\u20ac", "\ud83d\ude00"])");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->items()[0].str(), "a\"b\\c/\n\t");
  EXPECT_EQ(v->items()[1].str(), "\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(v->items()[2].str(), "\xf0\x9f\x98\x80");
}

TEST(Json, RejectsMalformedText) {
  std::string error;
  for (const char *bad :
       {"", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,\"a\":2}", "\"unterminated",
        "[01x]", "{\"a\":1} extra", "\"\\ud800\"", "\"bad \\q escape\"",
        "\"tab\tinside\""}) {
    EXPECT_FALSE(parse(bad, &error)) << bad;
    EXPECT_NE(error.find("at byte"), std::string::npos) << bad << ": " << error;
  }
  EXPECT_FALSE(parse(std::string(100, '[') + std::string(100, ']'), &error));
  EXPECT_NE(error.find("nested too deeply"), std::string::npos);
}

TEST(Json, QuoteRoundTrips) {
  std::string s = "tab\tquote\"back\\slash\x01";
  auto v = parse(jsonQuote(s));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->str(), s);
}

} // namespace
