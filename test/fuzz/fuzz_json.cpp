// fuzz_json.cpp: libFuzzer harness for the JSON parser and serializer
// (src/core/base/json.cpp), with nlohmann/json as a second opinion.
//
// Options, storage definitions and manifests all go through json::Parse; a
// manifest comes back from a storage that may have been tampered with.
// Properties, on every input:
//   - Parse returns a value or throws a kInvalidParameter Error, nothing else;
//   - a value serializes, compact and indented, to text that parses back to
//     the same value; its accessors answer or throw Error;
//   - nlohmann/json (strict RFC 8259, but for a NUL byte, which it takes for
//     the end of the input) agrees: what it accepts we accept, with
//     the same value, unless the text has a duplicate key, nests deeper than
//     our limit or opens with a byte order mark; what it rejects we reject,
//     unless its reason is bytes that are not UTF-8 (which we pass through:
//     names in a database's own encoding) or a number too large for a double
//     (which we keep as its lexeme).
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/error.h"
#include "core/base/json.h"
#include "fuzz_util.h"

namespace pgbak {
namespace {

using fuzz::Check;
using fuzz::Violation;

// Touch calls every accessor of value and its children.
void Touch(const json::Value& value) {
  try {
    switch (value.type()) {
      case json::Type::kNull:
        break;
      case json::Type::kBool:
        value.AsBool();
        break;
      case json::Type::kNumber:
        try {
          value.AsInt64();
        } catch (const Error&) {
        }
        value.AsDouble();
        break;
      case json::Type::kString:
        value.AsString();
        break;
      case json::Type::kArray:
        for (const json::Value& item : value.AsArray()) {
          Touch(item);
        }
        break;
      case json::Type::kObject:
        for (const auto& [key, member] : value.AsObject()) {
          Check(value.Find(key) == &member, "Find does not find member " + json::Quote(key));
          Touch(member);
        }
        break;
    }
  } catch (const Error& error) {
    Check(error.kind() == ErrorKind::kInvalidParameter,
          std::string("accessor threw an Error of another kind: ") + error.what());
  }
}

// CompareWithNlohmann checks that nlohmann/json reads text as we do.
void CompareWithNlohmann(std::string_view text, const json::Value* ours,
                         const std::string& our_error) {
  // nlohmann takes a NUL byte for the end of the input (for C strings), even
  // when given its size: it accepts "1\0garbage". A NUL is never valid JSON
  // (in a string it must be escaped), so we refuse any text with one.
  if (text.find('\0') != std::string_view::npos) {
    Check(ours == nullptr, "accepted a text with a NUL byte");
    return;
  }
  nlohmann::json theirs;
  std::string their_error;
  bool overflow = false;
  try {
    theirs = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& error) {
    their_error = error.what();
  } catch (const nlohmann::json::out_of_range& error) {
    their_error = error.what();
    overflow = true;
  }
  bool theirs_ok = their_error.empty();
  if (theirs_ok && ours == nullptr) {
    bool allowed = our_error.find("duplicate object key") != std::string::npos ||
                   our_error.find("nesting is deeper") != std::string::npos ||
                   text.substr(0, 3) == "\xEF\xBB\xBF";
    Check(allowed, "nlohmann accepts what we reject: " + our_error);
  }
  if (!theirs_ok && ours != nullptr) {
    bool allowed = overflow || their_error.find("ill-formed UTF-8") != std::string::npos;
    Check(allowed, "we accept what nlohmann rejects: " + their_error);
  }
  if (theirs_ok && ours != nullptr) {
    Check(nlohmann::json::parse(ours->Serialize()) == theirs,
          "nlohmann reads another value: ours " + ours->Serialize() + ", theirs " + theirs.dump());
  }
}

}  // namespace
}  // namespace pgbak

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pgbak;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  json::Value value;
  bool parsed = false;
  std::string error_text;
  try {
    value = json::Parse(text);
    parsed = true;
  } catch (const Error& error) {
    fuzz::Check(error.kind() == ErrorKind::kInvalidParameter,
                std::string("Parse threw an Error of another kind: ") + error.what());
    error_text = error.what();
  }
  if (parsed) {
    std::string compact = value.Serialize();
    std::string pretty = value.Serialize(2);
    try {
      fuzz::Check(json::Parse(compact).Serialize() == compact, "compact form does not round-trip");
      fuzz::Check(json::Parse(pretty).Serialize() == compact, "indented form does not round-trip");
    } catch (const Error& error) {
      fuzz::Violation(std::string("serialized value does not parse: ") + error.what());
    }
    Touch(value);
  }
  CompareWithNlohmann(text, parsed ? &value : nullptr, error_text);
  return 0;
}
