// s3_upload_memory_test.cpp: the S3 writer (src/core/storage/s3/
// s3_storage.cpp) against a scripted S3 server on the loopback interface:
// whatever the object's size, the buffers it holds (the part being filled,
// the parts in flight, the one kept for reuse) stay within upload_memory,
// the object arrives whole, and a failed part is re-sent from its own bytes.
#include "core/storage/s3/s3_storage.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "storage/s3/fake_s3_server.h"

namespace pgbak {
namespace {

using test::FakeS3Server;

constexpr uint64_t kMiB = 1ull << 20;

S3Settings SettingsFor(const FakeS3Server& server, uint64_t part_size, int concurrency,
                       uint64_t upload_memory) {
  S3Settings settings;
  settings.bucket = "bucket";
  settings.endpoint = server.Endpoint();
  settings.credentials.access_key_id = "AKIDEXAMPLE";
  settings.credentials.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  settings.part_size = part_size;
  settings.concurrency = concurrency;
  settings.upload_memory = upload_memory;
  settings.retry.initial_backoff_ms = 1;
  settings.retry.max_backoff_ms = 10;
  return settings;
}

// ObjectBytes is size bytes that differ from part to part.
std::string ObjectBytes(size_t size) {
  std::string bytes(size, '\0');
  uint32_t state = 2463534242u;
  for (size_t i = 0; i < size; i++) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    bytes[i] = static_cast<char>(state);
  }
  return bytes;
}

// Upload writes bytes to a new object in uneven chunks and finishes it.
void Upload(S3Storage& storage, const std::string& bytes, uint64_t expected_size = 0) {
  std::unique_ptr<ObjectWriter> writer = storage.Create("set/object", expected_size);
  const size_t chunk = 1 * kMiB + 4093;
  for (size_t at = 0; at < bytes.size(); at += chunk) {
    size_t n = std::min(chunk, bytes.size() - at);
    writer->Write(reinterpret_cast<const uint8_t*>(bytes.data()) + at, n);
  }
  writer->Finish();
}

TEST(S3UploadMemoryTest, WriterHoldsNoMoreThanTheBudget) {
  FakeS3Server server(std::chrono::milliseconds(20), {});
  // 16 MiB: a 5 MiB part being filled and two in flight, though four could
  // upload; 100 MiB (20 parts) must not need more.
  S3Storage storage(SettingsFor(server, kMinPartSize, 4, 16 * kMiB));
  std::string bytes = ObjectBytes(100 * kMiB);
  Upload(storage, bytes);
  EXPECT_TRUE(server.Object() == bytes) << "the stored object differs";
  EXPECT_EQ(server.PartSizes(), std::vector<size_t>(20, kMinPartSize));
  EXPECT_LE(storage.UploadMemoryPeak(), 15 * kMiB);
  // Parts did upload while the next was filled.
  EXPECT_GE(storage.UploadMemoryPeak(), 10 * kMiB);
}

TEST(S3UploadMemoryTest, ConcurrencyBoundsSmallParts) {
  FakeS3Server server(std::chrono::milliseconds(20), {});
  // The default budget has room for many 5 MiB parts; two uploaders need
  // two in flight and one being filled.
  S3Storage storage(SettingsFor(server, kMinPartSize, 2, 0));
  std::string bytes = ObjectBytes(40 * kMiB + 123);
  Upload(storage, bytes);
  EXPECT_TRUE(server.Object() == bytes) << "the stored object differs";
  EXPECT_EQ(server.PartSizes().size(), 9u);
  EXPECT_LE(storage.UploadMemoryPeak(), 15 * kMiB);
}

TEST(S3UploadMemoryTest, SizeHintRaisesPartsWithinTheBudget) {
  FakeS3Server server(std::chrono::milliseconds(0), {});
  // A 1 TiB hint asks for 105 MiB parts; a 16 MiB budget allows 8 MiB.
  S3Storage storage(SettingsFor(server, kMinPartSize, 4, 16 * kMiB));
  std::string bytes = ObjectBytes(20 * kMiB);
  Upload(storage, bytes, 1ull << 40);
  EXPECT_TRUE(server.Object() == bytes) << "the stored object differs";
  EXPECT_EQ(server.PartSizes(), (std::vector<size_t>{8 * kMiB, 8 * kMiB, 4 * kMiB}));
  EXPECT_LE(storage.UploadMemoryPeak(), 16 * kMiB);
}

TEST(S3UploadMemoryTest, FailedPartIsResentFromItsOwnBytes) {
  FakeS3Server server(std::chrono::milliseconds(5), {2, 3, 7});
  S3Storage storage(SettingsFor(server, kMinPartSize, 4, 16 * kMiB));
  std::string bytes = ObjectBytes(40 * kMiB);
  Upload(storage, bytes);
  EXPECT_TRUE(server.Object() == bytes) << "the stored object differs";
  EXPECT_EQ(server.PartAttempts(), 8 + 3);
  EXPECT_LE(storage.UploadMemoryPeak(), 15 * kMiB);
}

TEST(S3UploadMemoryTest, SmallObjectIsOnePutOfOnePartBuffer) {
  FakeS3Server server(std::chrono::milliseconds(0), {});
  S3Storage storage(SettingsFor(server, kMinPartSize, 4, 0));
  std::string bytes = ObjectBytes(3 * kMiB);
  Upload(storage, bytes);
  EXPECT_TRUE(server.Object() == bytes) << "the stored object differs";
  EXPECT_EQ(server.SinglePuts(), 1);
  EXPECT_EQ(server.PartAttempts(), 0);
  EXPECT_EQ(storage.UploadMemoryPeak(), kMinPartSize);
}

}  // namespace
}  // namespace pgbak
