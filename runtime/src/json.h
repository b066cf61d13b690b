//===- json.h - a small JSON reader and writer for the runtime ------------===//
//
// The runtime reads safetensors headers and writes metrics and `kiln
// inspect --json` without a third-party library. Values are a tree of
// JsonValue; numbers keep their text so that 64-bit integers stay exact.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_SRC_JSON_H
#define KILN_RUNTIME_SRC_JSON_H

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::runtime {

class JsonValue {
public:
  enum class Kind { Null, Bool, Number, String, Array, Object };

  Kind kind() const { return kind_; }
  bool isObject() const { return kind_ == Kind::Object; }
  bool isArray() const { return kind_ == Kind::Array; }
  bool isString() const { return kind_ == Kind::String; }
  bool isNumber() const { return kind_ == Kind::Number; }
  /// The value of a Bool (false for anything else).
  bool boolValue() const { return kind_ == Kind::Bool && boolean_; }

  /// The string of a String value ("" otherwise).
  const std::string &str() const { return text_; }
  /// A Number that is an integer in int64's range; std::nullopt otherwise.
  std::optional<int64_t> asInt() const;
  std::optional<double> asDouble() const;
  const std::vector<JsonValue> &items() const { return items_; }
  /// Object members in the order they appear.
  const std::vector<std::pair<std::string, JsonValue>> &members() const {
    return members_;
  }
  /// The member named `key` of an Object, or null.
  const JsonValue *get(std::string_view key) const;

  /// Parses `text` (the whole of it). On error returns std::nullopt and
  /// sets `error` to what is wrong and at which byte.
  static std::optional<JsonValue> parse(std::string_view text,
                                        std::string &error);

private:
  friend class JsonParser;
  Kind kind_ = Kind::Null;
  bool boolean_ = false;
  std::string text_; // String contents, or a Number's text.
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

/// `s` as a JSON string literal, quotes included.
std::string jsonQuote(std::string_view s);

} // namespace kiln::runtime

#endif // KILN_RUNTIME_SRC_JSON_H
