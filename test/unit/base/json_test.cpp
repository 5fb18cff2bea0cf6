// json_test.cpp: the JSON parser and serializer (src/core/base/json.cpp).
#include "core/base/json.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "core/base/error.h"

namespace pgbak::json {
namespace {

// ParseError returns the message of the error Parse throws for text.
std::string ParseError(const std::string& text) {
  try {
    Parse(text);
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidParameter);
    return error.what();
  }
  ADD_FAILURE() << "no error for " << text;
  return {};
}

TEST(JsonTest, RoundTripKeepsOrderAndValues) {
  const std::string text =
      R"({"z":1,"a":[true,false,null,"s",-0.5,1e10,{}],"m":{"k":[]},"n":12345678901234567890})";
  Value value = Parse(text);
  EXPECT_EQ(value.Serialize(), text);
  EXPECT_EQ(Parse(value.Serialize()).Serialize(), text);
  ASSERT_EQ(value.AsObject().size(), 4u);
  EXPECT_EQ(value.AsObject()[0].first, "z");
  EXPECT_EQ(value.Find("a")->AsArray()[3].AsString(), "s");
  EXPECT_DOUBLE_EQ(value.Find("a")->AsArray()[4].AsDouble(), -0.5);
  EXPECT_EQ(value.Find("missing"), nullptr);
}

TEST(JsonTest, WhitespaceIsAccepted) {
  Value value = Parse(" \t\r\n{ \"a\" : [ 1 , 2 ] }\n ");
  EXPECT_EQ(value.Serialize(), R"({"a":[1,2]})");
}

TEST(JsonTest, IndentedOutput) {
  Value value = Parse(R"({"a":1,"b":[1,2],"c":{},"d":[]})");
  EXPECT_EQ(value.Serialize(2),
            "{\n  \"a\": 1,\n  \"b\": [\n    1,\n    2\n  ],\n  \"c\": {},\n  \"d\": []\n}");
}

TEST(JsonTest, StringEscapes) {
  Value value = Parse(R"("q\"b\\s\/n\nt\tr\rb\bf\fA\u0041e\u00e9E\u20ac")");
  EXPECT_EQ(value.AsString(),
            "q\"b\\s/n\nt\tr\rb\bf\fAAe\xc3\xa9"
            "E\xe2\x82\xac");
  // A surrogate pair is one code point: U+1F600 in UTF-8.
  EXPECT_EQ(Parse(R"("\ud83d\ude00")").AsString(), "\xf0\x9f\x98\x80");
  EXPECT_EQ(Parse(R"("\uD83D\uDE00")").AsString(), "\xf0\x9f\x98\x80");
  // \u0000 is a valid JSON escape and survives.
  EXPECT_EQ(Parse(R"("a\u0000b")").AsString(), std::string("a\0b", 3));
}

TEST(JsonTest, QuoteEscapesControlCharactersAndRoundTrips) {
  EXPECT_EQ(Quote("a\"b\\c\n\x01"), R"("a\"b\\c\n\u0001")");
  EXPECT_EQ(Quote("\xc3\xbc"), "\"\xc3\xbc\"");
  std::string all;
  for (int c = 0; c < 256; c++) {
    all.push_back(static_cast<char>(c));
  }
  EXPECT_EQ(Parse(Quote(all)).AsString(), all);
}

TEST(JsonTest, SurrogateErrors) {
  EXPECT_NE(ParseError(R"("\ud83d")").find("high surrogate"), std::string::npos);
  EXPECT_NE(ParseError(R"("\ud83dx")").find("high surrogate"), std::string::npos);
  EXPECT_NE(ParseError(R"("\ud83d\u0041")").find("high surrogate"), std::string::npos);
  EXPECT_NE(ParseError(R"("\ude00")").find("low surrogate"), std::string::npos);
  EXPECT_NE(ParseError(R"("\u12g4")").find("hex digit"), std::string::npos);
}

TEST(JsonTest, BytesThatAreNotUtf8PassThrough) {
  // Names in a LATIN1 (or SQL_ASCII, EUC_JP...) database reach us in its
  // encoding, from jsonb options and in the manifests written for it: they
  // read back byte for byte. (nlohmann/json refuses such text, see json.cpp.)
  const std::string latin1 = "{\"schema\":\"caf\xe9\",\"table\":\"Gr\xfcn\"}";
  Value value = Parse(latin1);
  EXPECT_EQ(value.Find("schema")->AsString(), "caf\xe9");
  EXPECT_EQ(value.Find("table")->AsString(), "Gr\xfcn");
  EXPECT_EQ(value.Serialize(), latin1);
}

TEST(JsonTest, NulByteIsNotTheEndOfInput) {
  // Found by comparing with nlohmann/json under the fuzzer: it takes a NUL
  // byte for the end of the input and reads {"a":1} here, ignoring the rest.
  // A raw NUL is never JSON: after a value it is trailing data, in a string
  // an unescaped control character.
  EXPECT_NE(ParseError(std::string("{\"a\":1}\0{\"hidden\":true}", 24)).find("offset 7"),
            std::string::npos);
  EXPECT_NE(ParseError(std::string("[1,\0]", 5)).find("offset 3"), std::string::npos);
  EXPECT_NE(ParseError(std::string("\"a\0b\"", 5)).find("control character"), std::string::npos);
  EXPECT_NE(ParseError(std::string("1\0", 2)).find("unexpected data"), std::string::npos);
}

TEST(JsonTest, Int64IsExact) {
  Value max = Parse("9223372036854775807");
  EXPECT_EQ(max.AsInt64(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(max.Serialize(), "9223372036854775807");
  EXPECT_EQ(Parse("-9223372036854775808").AsInt64(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(Value::Number(std::numeric_limits<int64_t>::max()).Serialize(), "9223372036854775807");
  EXPECT_EQ(Value::Number(-42).AsInt64(), -42);
  EXPECT_EQ(Parse("1e3").AsInt64(), 1000);
  EXPECT_EQ(Parse("2.0").AsInt64(), 2);
  EXPECT_THROW(Parse("9223372036854775808").AsInt64(), Error);
  EXPECT_THROW(Parse("1.5").AsInt64(), Error);
  EXPECT_THROW(Parse("1e400").AsInt64(), Error);
}

TEST(JsonTest, ErrorsNameTheOffset) {
  EXPECT_NE(ParseError(R"({"a": tru})").find("offset 6"), std::string::npos);
  EXPECT_NE(ParseError("[1] x").find("offset 4"), std::string::npos);
  EXPECT_NE(ParseError("[1,]").find("offset 3"), std::string::npos);
  EXPECT_NE(ParseError("").find("offset 0"), std::string::npos);
  EXPECT_NE(ParseError(R"({"a" 1})").find("offset 5"), std::string::npos);
  EXPECT_NE(ParseError(R"("abc)").find("unterminated"), std::string::npos);
  EXPECT_NE(ParseError("\"a\nb\"").find("control character"), std::string::npos);
  EXPECT_NE(ParseError(R"("\x")").find("escape"), std::string::npos);
  EXPECT_NE(ParseError("01").find("offset"), std::string::npos);
  EXPECT_NE(ParseError("-").find("invalid number"), std::string::npos);
  EXPECT_NE(ParseError("1.").find("invalid number"), std::string::npos);
  EXPECT_NE(ParseError("{'a':1}").find("offset 1"), std::string::npos);
}

TEST(JsonTest, DuplicateKeysAreRejected) {
  std::string message = ParseError(R"({"a":1,"a":2})");
  EXPECT_NE(message.find("duplicate object key \"a\""), std::string::npos);
  EXPECT_NE(message.find("offset 7"), std::string::npos);
  // The same key in different objects is fine.
  EXPECT_NO_THROW(Parse(R"({"a":{"a":1},"b":{"a":2}})"));
}

TEST(JsonTest, DeepNestingIsAnErrorNotACrash) {
  std::string deep(100000, '[');
  EXPECT_NE(ParseError(deep).find("nesting"), std::string::npos);
}

TEST(JsonTest, AccessorsCheckTypes) {
  Value number = Value::Number(1);
  try {
    number.AsString();
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidParameter);
    EXPECT_STREQ(error.what(), "JSON value must be a string, not a number");
  }
  EXPECT_THROW(Value().AsBool(), Error);
  EXPECT_THROW(Value::String("1").AsInt64(), Error);
  EXPECT_THROW(Value::Object().AsArray(), Error);
  EXPECT_THROW(Value::Array().AsObject(), Error);
  EXPECT_STREQ(Value().TypeName(), "null");
  EXPECT_STREQ(Value::Bool(true).TypeName(), "boolean");
  EXPECT_THROW(Value::NumberLexeme("1x"), Error);
  EXPECT_THROW(Value::Array().Set("a", Value()), Error);
  EXPECT_THROW(Value::Object().Append(Value()), Error);
}

TEST(JsonTest, SetReplacesInPlace) {
  Value object = Value::Object();
  object.Set("a", Value::Number(1));
  object.Set("b", Value::Number(2));
  object.Set("a", Value::String("x"));
  EXPECT_EQ(object.Serialize(), R"({"a":"x","b":2})");
  Value array = Value::Array();
  array.Append(Value::Bool(false)) = Value::Bool(true);
  EXPECT_EQ(array.Serialize(), "[true]");
}

}  // namespace
}  // namespace pgbak::json
