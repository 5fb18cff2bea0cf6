// json.cpp: the JSON value, a strict recursive-descent parser and a
// serializer.
//
// Strict where it protects the user (duplicate keys are an error, not "last
// one wins", so an option cannot be given twice with different values) and
// exact where it protects data (numbers keep their lexeme, so a 64-bit size
// survives a round trip). Nesting depth is bounded so hostile input cannot
// exhaust the stack. test/fuzz/fuzz_json.cpp fuzzes it against nlohmann/json.
//
// Why not nlohmann/json (Debian's 3.11.2, measured): it refuses strings that
// are not UTF-8 ("ill-formed UTF-8 byte"; its writer throws or replaces
// them), with no way to turn that off, and our JSON carries names in the
// database's own encoding: jsonb options of a LATIN1 or SQL_ASCII database,
// and the manifest and tables.json written for it, which a verify or restore
// must read back byte for byte. It also takes a NUL byte for the end of the
// input ({"a":1}\0{"hidden":1} reads as {"a":1}), keeps no number lexemes
// (1e10 comes back as 10000000000.0) and has no duplicate-key check. Those
// could be worked around (a NUL check first, its SAX interface); the
// encoding cannot.
#include "core/base/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>
#include <unordered_set>

#include "core/base/error.h"
#include "core/base/no_postgres.h"

namespace pgbak::json {

namespace {

// kMaxDepth bounds nesting of arrays and objects in parsed input.
constexpr int kMaxDepth = 256;

// IsNumberLexeme checks the JSON number grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool IsNumberLexeme(std::string_view text) {
  size_t i = 0;
  auto digit = [&text](size_t at) {
    return at < text.size() && text[at] >= '0' && text[at] <= '9';
  };
  if (i < text.size() && text[i] == '-') {
    i++;
  }
  if (!digit(i)) {
    return false;
  }
  if (text[i] == '0') {
    i++;
  } else {
    while (digit(i)) {
      i++;
    }
  }
  if (i < text.size() && text[i] == '.') {
    i++;
    if (!digit(i)) {
      return false;
    }
    while (digit(i)) {
      i++;
    }
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    i++;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
      i++;
    }
    if (!digit(i)) {
      return false;
    }
    while (digit(i)) {
      i++;
    }
  }
  return i == text.size();
}

// TypeError is the accessor error: what was expected, what was found.
[[noreturn]] void TypeError(const char* expected, const Value& found) {
  throw Error(ErrorKind::kInvalidParameter, std::string("JSON value must be ") + expected +
                                                ", not " + found.TypeNameWithArticle());
}

// AppendUtf8 encodes one code point as UTF-8.
void AppendUtf8(std::string& out, uint32_t code) {
  if (code < 0x80) {
    out.push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (code >> 6)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3f)));
  } else if (code < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (code >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (code >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3f)));
  }
}

// Parser reads one JSON text; every error names the byte offset.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  // ParseDocument parses one value and requires nothing but space after it.
  Value ParseDocument() {
    SkipSpace();
    Value value = ParseValue(0);
    SkipSpace();
    if (pos_ != text_.size()) {
      Fail("unexpected data after the JSON value");
    }
    return value;
  }

 private:
  [[noreturn]] void Fail(const std::string& why) const { FailAt(pos_, why); }

  [[noreturn]] void FailAt(size_t offset, const std::string& why) const {
    throw Error(ErrorKind::kInvalidParameter,
                "invalid JSON at offset " + std::to_string(offset) + ": " + why);
  }

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      pos_++;
    }
  }

  // Describe names the character at the cursor for an error message.
  std::string Describe() const {
    if (pos_ >= text_.size()) {
      return "end of input";
    }
    unsigned char c = static_cast<unsigned char>(text_[pos_]);
    if (c >= 0x20 && c < 0x7f) {
      return std::string("character '") + static_cast<char>(c) + "'";
    }
    char hex[8];
    std::snprintf(hex, sizeof(hex), "0x%02x", c);
    return std::string("byte ") + hex;
  }

  // ParseValue dispatches on the first character of a value.
  Value ParseValue(int depth) {
    if (pos_ >= text_.size()) {
      Fail("expected a value, found end of input");
    }
    char c = text_[pos_];
    if (c == '{') {
      return ParseObject(depth + 1);
    }
    if (c == '[') {
      return ParseArray(depth + 1);
    }
    if (c == '"') {
      return Value::String(ParseString());
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      return ParseNumber();
    }
    if (ConsumeWord("true")) {
      return Value::Bool(true);
    }
    if (ConsumeWord("false")) {
      return Value::Bool(false);
    }
    if (ConsumeWord("null")) {
      return Value();
    }
    Fail("expected a value, found " + Describe());
  }

  bool ConsumeWord(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) {
      return false;
    }
    pos_ += word.size();
    return true;
  }

  // ParseObject parses members in order and rejects duplicate keys.
  Value ParseObject(int depth) {
    if (depth > kMaxDepth) {
      Fail("nesting is deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    pos_++;  // '{'
    Value object = Value::Object();
    std::unordered_set<std::string> seen;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      pos_++;
      return object;
    }
    while (true) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') {
        Fail("expected a string as object key, found " + Describe());
      }
      size_t key_offset = pos_;
      std::string key = ParseString();
      if (!seen.insert(key).second) {
        FailAt(key_offset, "duplicate object key " + Quote(key));
      }
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != ':') {
        Fail("expected ':' after object key, found " + Describe());
      }
      pos_++;
      SkipSpace();
      object.Set(std::move(key), ParseValue(depth));
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        pos_++;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == '}') {
        pos_++;
        return object;
      }
      Fail("expected ',' or '}' in object, found " + Describe());
    }
  }

  Value ParseArray(int depth) {
    if (depth > kMaxDepth) {
      Fail("nesting is deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    pos_++;  // '['
    Value array = Value::Array();
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      pos_++;
      return array;
    }
    while (true) {
      SkipSpace();
      array.Append(ParseValue(depth));
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        pos_++;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == ']') {
        pos_++;
        return array;
      }
      Fail("expected ',' or ']' in array, found " + Describe());
    }
  }

  Value ParseNumber() {
    size_t start = pos_;
    while (pos_ < text_.size() &&
           std::string_view("+-0123456789.eE").find(text_[pos_]) != std::string_view::npos) {
      pos_++;
    }
    std::string_view lexeme = text_.substr(start, pos_ - start);
    if (!IsNumberLexeme(lexeme)) {
      FailAt(start, "invalid number \"" + std::string(lexeme) + "\"");
    }
    return Value::NumberLexeme(std::string(lexeme));
  }

  // ParseHex4 reads the four hex digits of a \u escape.
  uint32_t ParseHex4() {
    if (pos_ + 4 > text_.size()) {
      Fail("incomplete \\u escape");
    }
    uint32_t code = 0;
    for (int i = 0; i < 4; i++) {
      char c = text_[pos_ + i];
      code <<= 4;
      if (c >= '0' && c <= '9') {
        code |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        code |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        code |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        FailAt(pos_ + i, "invalid hex digit in \\u escape");
      }
    }
    pos_ += 4;
    return code;
  }

  // ParseString decodes a string literal; \u escapes become UTF-8 and a
  // surrogate pair becomes one code point. Lone surrogates are errors.
  std::string ParseString() {
    pos_++;  // opening quote
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) {
        Fail("unterminated string");
      }
      unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        pos_++;
        return out;
      }
      if (c < 0x20) {
        Fail("control character in string must be escaped");
      }
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        pos_++;
        continue;
      }
      size_t escape_offset = pos_;
      pos_++;
      if (pos_ >= text_.size()) {
        Fail("unterminated string");
      }
      char e = text_[pos_++];
      switch (e) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '/':
          out.push_back('/');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          uint32_t code = ParseHex4();
          if (code >= 0xdc00 && code <= 0xdfff) {
            FailAt(escape_offset, "low surrogate without a preceding high surrogate");
          }
          if (code >= 0xd800 && code <= 0xdbff) {
            if (text_.substr(pos_, 2) != "\\u") {
              FailAt(escape_offset, "high surrogate not followed by a low surrogate");
            }
            pos_ += 2;
            uint32_t low = ParseHex4();
            if (low < 0xdc00 || low > 0xdfff) {
              FailAt(escape_offset, "high surrogate not followed by a low surrogate");
            }
            code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
          }
          AppendUtf8(out, code);
          break;
        }
        default:
          FailAt(escape_offset, "invalid escape sequence");
      }
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// NewLine starts an indented line in pretty output.
void NewLine(std::string& out, int indent, int depth) {
  out.push_back('\n');
  out.append(static_cast<size_t>(indent) * static_cast<size_t>(depth), ' ');
}

}  // namespace

Value Value::Bool(bool b) {
  Value v;
  v.type_ = Type::kBool;
  v.bool_ = b;
  return v;
}

Value Value::Number(int64_t n) {
  Value v;
  v.type_ = Type::kNumber;
  v.text_ = std::to_string(n);
  return v;
}

// NumberLexeme keeps the text of a number so it round-trips exactly.
Value Value::NumberLexeme(std::string lexeme) {
  if (!IsNumberLexeme(lexeme)) {
    throw Error(ErrorKind::kInternal, "invalid JSON number \"" + lexeme + "\"");
  }
  Value v;
  v.type_ = Type::kNumber;
  v.text_ = std::move(lexeme);
  return v;
}

Value Value::String(std::string s) {
  Value v;
  v.type_ = Type::kString;
  v.text_ = std::move(s);
  return v;
}

Value Value::Array() {
  Value v;
  v.type_ = Type::kArray;
  return v;
}

Value Value::Object() {
  Value v;
  v.type_ = Type::kObject;
  return v;
}

const char* Value::TypeName() const {
  switch (type_) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return "boolean";
    case Type::kNumber:
      return "number";
    case Type::kString:
      return "string";
    case Type::kArray:
      return "array";
    case Type::kObject:
      return "object";
  }
  return "unknown";
}

const char* Value::TypeNameWithArticle() const {
  switch (type_) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return "a boolean";
    case Type::kNumber:
      return "a number";
    case Type::kString:
      return "a string";
    case Type::kArray:
      return "an array";
    case Type::kObject:
      return "an object";
  }
  return "unknown";
}

bool Value::AsBool() const {
  if (type_ != Type::kBool) {
    TypeError("a boolean", *this);
  }
  return bool_;
}

// AsInt64 parses integer lexemes exactly; a lexeme with a fraction or
// exponent is accepted only if its value is an exactly representable integer.
int64_t Value::AsInt64() const {
  if (type_ != Type::kNumber) {
    TypeError("an integer", *this);
  }
  int64_t result = 0;
  const char* begin = text_.data();
  const char* end = text_.data() + text_.size();
  auto [ptr, ec] = std::from_chars(begin, end, result);
  if (ec == std::errc() && ptr == end) {
    return result;
  }
  if (ec == std::errc::result_out_of_range) {
    throw Error(ErrorKind::kInvalidParameter, "JSON number " + text_ + " is out of range");
  }
  double value = AsDouble();
  if (std::isfinite(value) && value == std::trunc(value) &&
      std::fabs(value) <= 9007199254740992.0) {
    return static_cast<int64_t>(value);
  }
  throw Error(ErrorKind::kInvalidParameter, "JSON number " + text_ + " is not an integer");
}

double Value::AsDouble() const {
  if (type_ != Type::kNumber) {
    TypeError("a number", *this);
  }
  double result = 0;
  auto [ptr, ec] = std::from_chars(text_.data(), text_.data() + text_.size(), result);
  if (ec != std::errc() || ptr != text_.data() + text_.size()) {
    throw Error(ErrorKind::kInvalidParameter, "JSON number " + text_ + " is out of range");
  }
  return result;
}

const std::string& Value::AsString() const {
  if (type_ != Type::kString) {
    TypeError("a string", *this);
  }
  return text_;
}

const std::vector<Value>& Value::AsArray() const {
  if (type_ != Type::kArray) {
    TypeError("an array", *this);
  }
  return items_;
}

const std::vector<std::pair<std::string, Value>>& Value::AsObject() const {
  if (type_ != Type::kObject) {
    TypeError("an object", *this);
  }
  return members_;
}

// Find is a linear search: objects here are small, and order matters more.
const Value* Value::Find(std::string_view key) const {
  if (type_ != Type::kObject) {
    return nullptr;
  }
  for (const auto& member : members_) {
    if (member.first == key) {
      return &member.second;
    }
  }
  return nullptr;
}

Value& Value::Append(Value v) {
  if (type_ != Type::kArray) {
    throw Error(ErrorKind::kInternal, std::string("cannot append to ") + TypeNameWithArticle());
  }
  items_.push_back(std::move(v));
  return items_.back();
}

// Set replaces an existing member in place, so member order stays stable.
Value& Value::Set(std::string key, Value v) {
  if (type_ != Type::kObject) {
    throw Error(ErrorKind::kInternal,
                std::string("cannot set a member of ") + TypeNameWithArticle());
  }
  for (auto& member : members_) {
    if (member.first == key) {
      member.second = std::move(v);
      return member.second;
    }
  }
  members_.emplace_back(std::move(key), std::move(v));
  return members_.back().second;
}

std::string Value::Serialize(int indent) const {
  std::string out;
  SerializeTo(out, indent, 0);
  return out;
}

// SerializeTo writes this value; empty containers stay on one line.
void Value::SerializeTo(std::string& out, int indent, int depth) const {
  switch (type_) {
    case Type::kNull:
      out += "null";
      return;
    case Type::kBool:
      out += bool_ ? "true" : "false";
      return;
    case Type::kNumber:
      out += text_;
      return;
    case Type::kString:
      out += Quote(text_);
      return;
    case Type::kArray:
      out.push_back('[');
      for (size_t i = 0; i < items_.size(); i++) {
        if (i > 0) {
          out.push_back(',');
        }
        if (indent > 0) {
          NewLine(out, indent, depth + 1);
        }
        items_[i].SerializeTo(out, indent, depth + 1);
      }
      if (indent > 0 && !items_.empty()) {
        NewLine(out, indent, depth);
      }
      out.push_back(']');
      return;
    case Type::kObject:
      out.push_back('{');
      for (size_t i = 0; i < members_.size(); i++) {
        if (i > 0) {
          out.push_back(',');
        }
        if (indent > 0) {
          NewLine(out, indent, depth + 1);
        }
        out += Quote(members_[i].first);
        out += indent > 0 ? ": " : ":";
        members_[i].second.SerializeTo(out, indent, depth + 1);
      }
      if (indent > 0 && !members_.empty()) {
        NewLine(out, indent, depth);
      }
      out.push_back('}');
      return;
  }
}

Value Parse(std::string_view text) {
  return Parser(text).ParseDocument();
}

// Quote escapes quotes, backslashes and control characters; other bytes,
// including UTF-8 sequences, pass through unchanged.
std::string Quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
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
        if (c < 0x20 || c == 0x7f) {
          char escape[8];
          std::snprintf(escape, sizeof(escape), "\\u%04x", c);
          out += escape;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace pgbak::json
