// json.h: a small JSON value, parser and serializer.
//
// Used for backup options (jsonb from SQL arrives as text) and manifests.
// Numbers keep their lexeme so that 64-bit sizes round-trip exactly; objects
// keep member order so that a manifest serializes in a stable, readable order.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgbak::json {

enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

// Value is one JSON value of any type.
class Value {
 public:
  Value() = default;  // null
  static Value Bool(bool b);
  static Value Number(int64_t n);
  static Value NumberLexeme(std::string lexeme);  // lexeme must be valid JSON
  static Value String(std::string s);
  static Value Array();
  static Value Object();

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  // TypeName is "null", "boolean", "number", "string", "array" or "object".
  const char* TypeName() const;
  // TypeNameWithArticle is "null", "a boolean", "a number", "a string",
  // "an array" or "an object", for messages such as "must be X, not Y".
  const char* TypeNameWithArticle() const;

  // Accessors throw kInvalidParameter naming the expected type on mismatch.
  bool AsBool() const;
  int64_t AsInt64() const;  // also rejects non-integral and out-of-range numbers
  double AsDouble() const;
  const std::string& AsString() const;
  const std::vector<Value>& AsArray() const;
  const std::vector<std::pair<std::string, Value>>& AsObject() const;

  // Find returns the member named key, or nullptr (objects only).
  const Value* Find(std::string_view key) const;
  // Append adds to an array; Set adds or replaces an object member.
  Value& Append(Value v);
  Value& Set(std::string key, Value v);

  // Serialize writes compact JSON, or indented by indent spaces if indent > 0.
  std::string Serialize(int indent = 0) const;

 private:
  void SerializeTo(std::string& out, int indent, int depth) const;
  Type type_ = Type::kNull;
  bool bool_ = false;
  std::string text_;  // number lexeme or string contents
  std::vector<Value> items_;
  std::vector<std::pair<std::string, Value>> members_;
};

// Parse parses a complete JSON text; throws kInvalidParameter with the byte
// offset of the first error. Duplicate object keys are rejected.
Value Parse(std::string_view text);

// Quote returns s as a JSON string literal (with quotes and escapes).
std::string Quote(std::string_view s);

}  // namespace pgbak::json
