#include "Json.h"

#include <limits>

namespace attn::launcher {

const JsonValue *JsonValue::find(std::string_view key) const {
  if (kind != Kind::Object)
    return nullptr;
  for (const auto &member : members)
    if (member.first == key)
      return &member.second;
  return nullptr;
}

const char *jsonKindName(JsonValue::Kind kind) {
  switch (kind) {
  case JsonValue::Kind::Null:
    return "null";
  case JsonValue::Kind::Bool:
    return "boolean";
  case JsonValue::Kind::Integer:
    return "integer";
  case JsonValue::Kind::String:
    return "string";
  case JsonValue::Kind::Array:
    return "array";
  case JsonValue::Kind::Object:
    return "object";
  }
  return "?";
}

namespace {

// Nesting bound: a manifest is a few levels deep; this only keeps hostile
// input from exhausting the stack.
constexpr int kMaxDepth = 64;

class Parser {
public:
  explicit Parser(std::string_view text) : text_(text) {}

  bool parseDocument(JsonValue &out, std::string &error) {
    skipWhitespace();
    if (!parseValue(out, 0))
      return fail(error);
    skipWhitespace();
    if (pos_ != text_.size()) {
      message_ = "unexpected text after the JSON value";
      return fail(error);
    }
    return true;
  }

private:
  std::string_view text_;
  size_t pos_ = 0;
  std::string message_;

  bool fail(std::string &error) {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    error = "line " + std::to_string(line) + ", column " +
            std::to_string(column) + ": " + message_;
    return false;
  }

  bool error(std::string message) {
    message_ = std::move(message);
    return false;
  }

  bool atEnd() const { return pos_ >= text_.size(); }
  char peek() const { return atEnd() ? '\0' : text_[pos_]; }

  void skipWhitespace() {
    while (!atEnd() && (peek() == ' ' || peek() == '\t' || peek() == '\n' ||
                        peek() == '\r'))
      ++pos_;
  }

  bool expectLiteral(std::string_view literal) {
    if (text_.substr(pos_, literal.size()) != literal)
      return error("invalid literal (expected '" + std::string(literal) + "')");
    pos_ += literal.size();
    return true;
  }

  bool parseValue(JsonValue &out, int depth) {
    if (depth > kMaxDepth)
      return error("nesting deeper than " + std::to_string(kMaxDepth));
    if (atEnd())
      return error("unexpected end of input, expected a value");
    char c = peek();
    switch (c) {
    case '{':
      return parseObject(out, depth);
    case '[':
      return parseArray(out, depth);
    case '"':
      out.kind = JsonValue::Kind::String;
      return parseString(out.string);
    case 't':
      out.kind = JsonValue::Kind::Bool;
      out.boolean = true;
      return expectLiteral("true");
    case 'f':
      out.kind = JsonValue::Kind::Bool;
      out.boolean = false;
      return expectLiteral("false");
    case 'n':
      out.kind = JsonValue::Kind::Null;
      return expectLiteral("null");
    default:
      if (c == '-' || (c >= '0' && c <= '9'))
        return parseInteger(out);
      return error(std::string("unexpected character '") + c + "'");
    }
  }

  bool parseObject(JsonValue &out, int depth) {
    out.kind = JsonValue::Kind::Object;
    ++pos_; // '{'
    skipWhitespace();
    if (peek() == '}') {
      ++pos_;
      return true;
    }
    while (true) {
      skipWhitespace();
      if (peek() != '"')
        return error("expected a string key");
      size_t keyPos = pos_;
      std::string key;
      if (!parseString(key))
        return false;
      if (out.find(key)) {
        pos_ = keyPos;
        return error("duplicate key \"" + key + "\"");
      }
      skipWhitespace();
      if (peek() != ':')
        return error("expected ':' after key \"" + key + "\"");
      ++pos_;
      skipWhitespace();
      JsonValue value;
      if (!parseValue(value, depth + 1))
        return false;
      out.members.emplace_back(std::move(key), std::move(value));
      skipWhitespace();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        return true;
      }
      return error("expected ',' or '}' in object");
    }
  }

  bool parseArray(JsonValue &out, int depth) {
    out.kind = JsonValue::Kind::Array;
    ++pos_; // '['
    skipWhitespace();
    if (peek() == ']') {
      ++pos_;
      return true;
    }
    while (true) {
      skipWhitespace();
      JsonValue value;
      if (!parseValue(value, depth + 1))
        return false;
      out.items.push_back(std::move(value));
      skipWhitespace();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        return true;
      }
      return error("expected ',' or ']' in array");
    }
  }

  bool parseInteger(JsonValue &out) {
    size_t start = pos_;
    bool negative = peek() == '-';
    if (negative)
      ++pos_;
    if (atEnd() || peek() < '0' || peek() > '9')
      return error("expected a digit");
    if (peek() == '0' && pos_ + 1 < text_.size() && text_[pos_ + 1] >= '0' &&
        text_[pos_ + 1] <= '9')
      return error("leading zeros are not allowed");
    // Accumulate the magnitude as unsigned so INT64_MIN is representable.
    uint64_t magnitude = 0;
    const uint64_t limit =
        negative ? uint64_t(std::numeric_limits<int64_t>::max()) + 1
                 : uint64_t(std::numeric_limits<int64_t>::max());
    while (!atEnd() && peek() >= '0' && peek() <= '9') {
      uint64_t digit = uint64_t(peek() - '0');
      if (magnitude > (limit - digit) / 10) {
        pos_ = start;
        return error("integer does not fit in 64 bits");
      }
      magnitude = magnitude * 10 + digit;
      ++pos_;
    }
    if (peek() == '.' || peek() == 'e' || peek() == 'E')
      return error("only integers are supported, not fractions or exponents");
    out.kind = JsonValue::Kind::Integer;
    out.integer = negative ? int64_t(0 - magnitude) : int64_t(magnitude);
    return true;
  }

  static void appendUtf8(std::string &out, uint32_t codePoint) {
    if (codePoint < 0x80) {
      out += char(codePoint);
    } else if (codePoint < 0x800) {
      out += char(0xC0 | (codePoint >> 6));
      out += char(0x80 | (codePoint & 0x3F));
    } else if (codePoint < 0x10000) {
      out += char(0xE0 | (codePoint >> 12));
      out += char(0x80 | ((codePoint >> 6) & 0x3F));
      out += char(0x80 | (codePoint & 0x3F));
    } else {
      out += char(0xF0 | (codePoint >> 18));
      out += char(0x80 | ((codePoint >> 12) & 0x3F));
      out += char(0x80 | ((codePoint >> 6) & 0x3F));
      out += char(0x80 | (codePoint & 0x3F));
    }
  }

  bool parseHex4(uint32_t &value) {
    if (pos_ + 4 > text_.size())
      return error("truncated \\u escape");
    value = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_++];
      value <<= 4;
      if (c >= '0' && c <= '9')
        value |= uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f')
        value |= uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        value |= uint32_t(c - 'A' + 10);
      else
        return error("invalid hex digit in \\u escape");
    }
    return true;
  }

  bool parseString(std::string &out) {
    ++pos_; // opening quote
    while (true) {
      if (atEnd())
        return error("unterminated string");
      char c = text_[pos_++];
      if (c == '"')
        return true;
      if (static_cast<unsigned char>(c) < 0x20) {
        --pos_;
        return error("control character inside a string");
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (atEnd())
        return error("unterminated string");
      char escape = text_[pos_++];
      switch (escape) {
      case '"':
      case '\\':
      case '/':
        out += escape;
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
        uint32_t codePoint;
        if (!parseHex4(codePoint))
          return false;
        // A high surrogate must be followed by \u and a low surrogate.
        if (codePoint >= 0xD800 && codePoint <= 0xDBFF) {
          uint32_t low;
          if (text_.substr(pos_, 2) != "\\u")
            return error("unpaired surrogate in \\u escape");
          pos_ += 2;
          if (!parseHex4(low))
            return false;
          if (low < 0xDC00 || low > 0xDFFF)
            return error("unpaired surrogate in \\u escape");
          codePoint = 0x10000 + ((codePoint - 0xD800) << 10) + (low - 0xDC00);
        } else if (codePoint >= 0xDC00 && codePoint <= 0xDFFF) {
          return error("unpaired surrogate in \\u escape");
        }
        appendUtf8(out, codePoint);
        break;
      }
      default:
        --pos_;
        return error(std::string("invalid escape '\\") + escape + "'");
      }
    }
  }
};

} // namespace

bool parseJson(std::string_view text, JsonValue &out, std::string &error) {
  out = JsonValue();
  Parser parser(text);
  return parser.parseDocument(out, error);
}

} // namespace attn::launcher
