//===- json.cpp - a small JSON reader and writer for the runtime ----------===//
#include "json.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace kiln::runtime {

class JsonParser {
public:
  explicit JsonParser(std::string_view text) : text_(text) {}

  std::optional<JsonValue> parseDocument(std::string &error) {
    JsonValue value;
    if (!parseValue(value, 0) || (skipSpace(), pos_ != text_.size())) {
      if (error_.empty())
        error_ = "unexpected text after the JSON value";
      error = error_ + " at byte " + std::to_string(pos_);
      return std::nullopt;
    }
    return value;
  }

private:
  static constexpr int kMaxDepth = 64;

  bool fail(const char *message) {
    if (error_.empty())
      error_ = message;
    return false;
  }

  void skipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  bool consume(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word)
      return false;
    pos_ += word.size();
    return true;
  }

  bool parseValue(JsonValue &out, int depth) {
    if (depth > kMaxDepth)
      return fail("JSON nested too deeply");
    skipSpace();
    if (pos_ >= text_.size())
      return fail("unexpected end of JSON");
    char c = text_[pos_];
    if (c == '{')
      return parseObject(out, depth);
    if (c == '[')
      return parseArray(out, depth);
    if (c == '"') {
      out.kind_ = JsonValue::Kind::String;
      return parseString(out.text_);
    }
    if (consume("true")) {
      out.kind_ = JsonValue::Kind::Bool;
      out.boolean_ = true;
      return true;
    }
    if (consume("false")) {
      out.kind_ = JsonValue::Kind::Bool;
      return true;
    }
    if (consume("null"))
      return true;
    if (c == '-' || (c >= '0' && c <= '9'))
      return parseNumber(out);
    return fail("unexpected character in JSON");
  }

  bool parseNumber(JsonValue &out) {
    size_t start = pos_;
    auto digits = [&] {
      size_t from = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9')
        ++pos_;
      return pos_ > from;
    };
    if (text_[pos_] == '-')
      ++pos_;
    if (!digits())
      return fail("malformed number");
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (!digits())
        return fail("malformed number");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-'))
        ++pos_;
      if (!digits())
        return fail("malformed number");
    }
    out.kind_ = JsonValue::Kind::Number;
    out.text_ = std::string(text_.substr(start, pos_ - start));
    return true;
  }

  static void appendUtf8(std::string &out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool parseHex4(uint32_t &out) {
    if (pos_ + 4 > text_.size())
      return fail("malformed \\u escape");
    out = 0;
    for (int i = 0; i < 4; ++i) {
      char h = text_[pos_++];
      out <<= 4;
      if (h >= '0' && h <= '9')
        out |= h - '0';
      else if (h >= 'a' && h <= 'f')
        out |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F')
        out |= h - 'A' + 10;
      else
        return fail("malformed \\u escape");
    }
    return true;
  }

  bool parseString(std::string &out) {
    ++pos_; // opening quote
    while (pos_ < text_.size()) {
      char c = text_[pos_++];
      if (c == '"')
        return true;
      if (static_cast<unsigned char>(c) < 0x20)
        return fail("control character in JSON string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size())
        break;
      char e = text_[pos_++];
      switch (e) {
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case '/':
        out += '/';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        uint32_t cp;
        if (!parseHex4(cp))
          return false;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t low;
          if (!consume("\\u") || !parseHex4(low) || low < 0xDC00 ||
              low > 0xDFFF)
            return fail("unpaired surrogate in JSON string");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return fail("unpaired surrogate in JSON string");
        }
        appendUtf8(out, cp);
        break;
      }
      default:
        return fail("unknown escape in JSON string");
      }
    }
    return fail("unterminated JSON string");
  }

  bool parseArray(JsonValue &out, int depth) {
    ++pos_;
    out.kind_ = JsonValue::Kind::Array;
    skipSpace();
    if (consume("]"))
      return true;
    while (true) {
      JsonValue item;
      if (!parseValue(item, depth + 1))
        return false;
      out.items_.push_back(std::move(item));
      skipSpace();
      if (consume("]"))
        return true;
      if (!consume(","))
        return fail("expected ',' or ']' in JSON array");
    }
  }

  bool parseObject(JsonValue &out, int depth) {
    ++pos_;
    out.kind_ = JsonValue::Kind::Object;
    skipSpace();
    if (consume("}"))
      return true;
    while (true) {
      skipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"')
        return fail("expected a string key in JSON object");
      std::string key;
      if (!parseString(key))
        return false;
      for (const auto &[existing, value] : out.members_)
        if (existing == key)
          return fail("duplicate key in JSON object");
      skipSpace();
      if (!consume(":"))
        return fail("expected ':' in JSON object");
      JsonValue value;
      if (!parseValue(value, depth + 1))
        return false;
      out.members_.emplace_back(std::move(key), std::move(value));
      skipSpace();
      if (consume("}"))
        return true;
      if (!consume(","))
        return fail("expected ',' or '}' in JSON object");
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
};

std::optional<JsonValue> JsonValue::parse(std::string_view text,
                                          std::string &error) {
  return JsonParser(text).parseDocument(error);
}

std::optional<int64_t> JsonValue::asInt() const {
  if (kind_ != Kind::Number || text_.find_first_of(".eE") != std::string::npos)
    return std::nullopt;
  errno = 0;
  char *end = nullptr;
  long long value = std::strtoll(text_.c_str(), &end, 10);
  if (errno == ERANGE || *end != '\0')
    return std::nullopt;
  return value;
}

std::optional<double> JsonValue::asDouble() const {
  if (kind_ != Kind::Number)
    return std::nullopt;
  return std::strtod(text_.c_str(), nullptr);
}

const JsonValue *JsonValue::get(std::string_view key) const {
  for (const auto &[name, value] : members_)
    if (name == key)
      return &value;
  return nullptr;
}

std::string jsonQuote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (static_cast<unsigned char>(c) < 0x20) {
        char buffer[8];
        std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
        out += buffer;
      } else {
        out += c;
      }
    }
  }
  return out + "\"";
}

} // namespace kiln::runtime
