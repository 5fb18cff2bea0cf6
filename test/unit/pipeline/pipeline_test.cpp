// pipeline_test.cpp: the whole backup stream, checked against stock tools:
// raw meter -> zstd (multithreaded) -> hashing meter -> local storage, then
// the stored object is decompressed by the zstd CLI and hashed by sha256sum.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "core/base/child_process.h"
#include "core/base/error.h"
#include "core/pipeline/child_pump.h"
#include "core/pipeline/meter_sink.h"
#include "core/pipeline/zstd_sink.h"
#include "core/storage/local/local_storage.h"
#include "test_util.h"

namespace pgbak {
namespace {

using test::Bytes;

// DumpLikeData alternates random blocks with repetitive SQL-like text.
std::string DumpLikeData(size_t size) {
  std::mt19937_64 random(20261122);
  std::string data;
  data.reserve(size);
  while (data.size() < size) {
    if (random() % 3 == 0) {
      size_t block = 1000 + random() % 20000;
      for (size_t i = 0; i < block; i++) {
        data.push_back(static_cast<char>(random() & 0xff));
      }
    } else {
      for (int i = 0; i < 200; i++) {
        data += std::to_string(random() % 100000) + "\tcustomer name\t2026-11-22\n";
      }
    }
  }
  data.resize(size);
  return data;
}

// ReadObject streams an object back through our decompressor.
std::string ReadObject(Storage& storage, const std::string& key, std::string* sha256) {
  StringSink out;
  MeterSink meter(out, true);
  ZstdDecompressSink zstd(meter);
  std::unique_ptr<ObjectReader> reader = storage.Open(key);
  std::vector<uint8_t> buffer(100000);
  while (size_t got = reader->Read(buffer.data(), buffer.size())) {
    zstd.Write(buffer.data(), got);
  }
  zstd.Finish();
  *sha256 = meter.sha256_hex();
  return out.contents();
}

TEST(PipelineTest, RoundTripThroughStockTools) {
  test::TempDir dir;
  const std::string input = DumpLikeData(7 * 1024 * 1024 + 12345);
  const std::string key = "7301234567890123456/myapp/20261122T010203Z-42/data.dump.zst";
  LocalStorage storage(dir.Join("backups"));

  std::unique_ptr<ObjectWriter> writer = storage.Create(key);
  MeterSink stored(*writer, true);
  ZstdCompressSink zstd(stored, 3, 2);
  MeterSink raw(zstd, false);
  // Odd write sizes, as a pipe delivers them.
  std::mt19937 random(7);
  for (size_t offset = 0; offset < input.size();) {
    size_t chunk = std::min<size_t>(1 + random() % 200000, input.size() - offset);
    raw.Write(Bytes(input) + offset, chunk);
    offset += chunk;
  }
  raw.Finish();

  std::string path = storage.Location(key);
  std::string stored_bytes = test::ReadFile(path);
  EXPECT_EQ(raw.bytes(), input.size());
  EXPECT_EQ(stored.bytes(), stored_bytes.size());
  EXPECT_LT(stored_bytes.size(), input.size());
  EXPECT_EQ(stored.sha256_hex(), test::Sha256Sum(path));

  test::WriteFile(dir.Join("input"), input);
  int status = -1;
  test::RunShell("zstd -q -d -c '" + path + "' > '" + dir.Join("restored") + "'", &status);
  ASSERT_EQ(status, 0);
  EXPECT_TRUE(test::ReadFile(dir.Join("restored")) == input) << "zstd CLI output differs";

  std::string decompressed_sha;
  EXPECT_TRUE(ReadObject(storage, key, &decompressed_sha) == input)
      << "our decompressor's output differs";
  EXPECT_EQ(decompressed_sha, test::Sha256Sum(dir.Join("input")));
}

TEST(PipelineTest, ChildOutputIntoStorage) {
  test::TempDir dir;
  LocalStorage storage(dir.path());
  std::unique_ptr<ObjectWriter> writer = storage.Create("set/data.dump.zst");
  MeterSink stored(*writer, true);
  ZstdCompressSink zstd(stored, 1, 0);
  MeterSink raw(zstd, true);
  ChildProcess child({"/usr/bin/head", {"-c", "3000000", "/dev/urandom"}, {}});
  PumpChild(child, raw);
  raw.Finish();
  EXPECT_EQ(raw.bytes(), 3000000u);
  int status = -1;
  std::string cli_sha = test::RunShell(
      "zstd -q -d -c '" + storage.Location("set/data.dump.zst") + "' | sha256sum", &status);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(cli_sha.substr(0, 64), raw.sha256_hex());
  EXPECT_EQ(stored.sha256_hex(), test::Sha256Sum(storage.Location("set/data.dump.zst")));
}

TEST(PipelineTest, FailedChildLeavesNoObject) {
  test::TempDir dir;
  LocalStorage storage(dir.path());
  {
    std::unique_ptr<ObjectWriter> writer = storage.Create("set/data.dump.zst");
    ZstdCompressSink zstd(*writer, 3, 2);
    ChildProcess child({"/bin/sh", {"-c", "echo partial; exit 1"}, {}});
    EXPECT_THROW(PumpChild(child, zstd), Error);
  }
  EXPECT_TRUE(storage.List("").empty());
  EXPECT_EQ(storage.RemoveStaleTemporaries(""), 0);
}

}  // namespace
}  // namespace pgbak
