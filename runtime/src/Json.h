// A small JSON reader for the kernel manifest: objects, arrays, strings,
// integers, true/false/null. Numbers with a fraction or exponent are
// rejected: nothing in a manifest needs them, and an exact int64 is what the
// launcher works with.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace attn::launcher {

class JsonValue {
public:
  enum class Kind { Null, Bool, Integer, String, Array, Object };

  Kind kind = Kind::Null;
  bool boolean = false;
  int64_t integer = 0;
  std::string string;
  std::vector<JsonValue> items;                           // Array
  std::vector<std::pair<std::string, JsonValue>> members; // Object, in order

  bool isObject() const { return kind == Kind::Object; }
  bool isArray() const { return kind == Kind::Array; }
  bool isString() const { return kind == Kind::String; }
  bool isInteger() const { return kind == Kind::Integer; }

  // The member named `key`, or null (also when this is not an object).
  const JsonValue *find(std::string_view key) const;
};

// "object", "array", ... for error messages.
const char *jsonKindName(JsonValue::Kind kind);

// Parses one JSON document. On failure returns false and sets `error` to
// "line L, column C: what".
bool parseJson(std::string_view text, JsonValue &out, std::string &error);

} // namespace attn::launcher
