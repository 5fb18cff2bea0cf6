// meter_sink_test.cpp: SHA-256 and byte counting (src/core/meter_sink.cpp).
#include "core/pipeline/meter_sink.h"

#include <gtest/gtest.h>

#include <string>

#include "core/base/error.h"
#include "test_util.h"

namespace pgbak {
namespace {

using test::Bytes;

std::string HashOf(const std::string& text) {
  Sha256 sha;
  sha.Update(Bytes(text), text.size());
  return sha.HexDigest();
}

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(HashOf(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HashOf("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HashOf("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, IncrementalEqualsOneShot) {
  std::string data(1000000, 'a');
  Sha256 sha;
  for (size_t offset = 0; offset < data.size(); offset += 777) {
    sha.Update(Bytes(data) + offset, std::min<size_t>(777, data.size() - offset));
  }
  EXPECT_EQ(sha.HexDigest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, FinishingTwiceIsAnError) {
  Sha256 sha;
  sha.HexDigest();
  EXPECT_THROW(sha.HexDigest(), Error);
  EXPECT_THROW(sha.Update(Bytes("x"), 1), Error);
}

TEST(MeterSinkTest, CountsHashesAndPassesThrough) {
  StringSink out;
  MeterSink meter(out, true);
  WriteString(meter, "a");
  WriteString(meter, "");
  WriteString(meter, "bc");
  EXPECT_FALSE(out.finished());
  meter.Finish();
  EXPECT_TRUE(out.finished());
  EXPECT_EQ(out.contents(), "abc");
  EXPECT_EQ(meter.bytes(), 3u);
  EXPECT_EQ(meter.sha256_hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(MeterSinkTest, WithoutHashOnlyCounts) {
  StringSink out;
  MeterSink meter(out, false);
  WriteString(meter, "hello");
  meter.Finish();
  EXPECT_EQ(meter.bytes(), 5u);
  EXPECT_EQ(meter.sha256_hex(), "");
  EXPECT_EQ(out.contents(), "hello");
}

}  // namespace
}  // namespace pgbak
