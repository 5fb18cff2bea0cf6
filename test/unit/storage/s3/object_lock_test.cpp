// object_lock_test.cpp: S3 Object Lock (src/core/storage/s3/object_lock.cpp)
// and the writer that applies it: the request that creates an object
// (PutObject, CreateMultipartUpload) carries the lock mode and a
// retain-until date of its time plus the lock's days, signed; PutObject and
// every UploadPart carry the Content-MD5 of their body; a storage without
// a lock sends none of these.
#include "core/storage/s3/object_lock.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/storage/s3/s3_storage.h"
#include "core/storage/s3/sigv4.h"
#include "storage/s3/fake_s3_server.h"

namespace pgbak {
namespace {

using test::FakeS3Server;

constexpr uint64_t kMiB = 1ull << 20;

// ParseIso8601Utc reads "YYYY-MM-DDTHH:MM:SSZ" back (-1 if malformed).
std::time_t ParseIso8601Utc(const std::string& text) {
  struct tm fields {};
  if (text.size() != 20 || strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &fields) == nullptr)
    return -1;
  return timegm(&fields);
}

TEST(ObjectLockTest, HeadersCarryModeAndRetainUntilDate) {
  ObjectLock lock;
  lock.mode = ObjectLockMode::kGovernance;
  lock.days = 30;
  // 2023-11-14T22:13:20Z plus 30 days.
  NameValueList headers = ObjectLockHeaders(lock, 1700000000);
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers[0],
            (std::pair<std::string, std::string>{"x-amz-object-lock-mode", "GOVERNANCE"}));
  EXPECT_EQ(headers[1], (std::pair<std::string, std::string>{"x-amz-object-lock-retain-until-date",
                                                             "2023-12-14T22:13:20Z"}));
  lock.mode = ObjectLockMode::kCompliance;
  lock.days = 1;
  headers = ObjectLockHeaders(lock, 1700000000);
  EXPECT_EQ(headers[0].second, "COMPLIANCE");
  EXPECT_EQ(headers[1].second, "2023-11-15T22:13:20Z");
  EXPECT_TRUE(ObjectLockHeaders(ObjectLock(), 1700000000).empty());
}

TEST(ObjectLockTest, DatesAreUtcIso8601) {
  EXPECT_EQ(Iso8601Utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(Iso8601Utc(951782400), "2000-02-29T00:00:00Z");
  // The longest lock from the last second a time_t of 32 bits holds.
  ObjectLock lock{ObjectLockMode::kCompliance, kMaxObjectLockDays};
  EXPECT_EQ(Iso8601Utc(RetainUntil(lock, 2147483647)), "2137-12-26T03:14:07Z");
  EXPECT_THROW(Iso8601Utc(253402300800), Error);  // year 10000
}

TEST(ObjectLockTest, ModeNames) {
  EXPECT_EQ(ObjectLockModeFromName("governance"), ObjectLockMode::kGovernance);
  EXPECT_EQ(ObjectLockModeFromName("compliance"), ObjectLockMode::kCompliance);
  EXPECT_EQ(ObjectLockModeFromName("legal-hold"), ObjectLockMode::kNone);
  EXPECT_EQ(ObjectLockModeName(ObjectLockMode::kCompliance), "compliance");
  EXPECT_EQ(ObjectLockModeName(ObjectLockMode::kGovernance), "governance");
}

TEST(ObjectLockTest, ContentMd5IsTheBase64OfTheDigest) {
  // RFC 1321's test suite, in base64.
  EXPECT_EQ(ContentMd5(nullptr, 0), "1B2M2Y8AsgTpgAmY7PhCfg==");
  std::string text = "The quick brown fox jumps over the lazy dog";
  EXPECT_EQ(ContentMd5(reinterpret_cast<const uint8_t*>(text.data()), text.size()),
            "nhB9nTcrtoJr2B01QqQZ1g==");
}

TEST(ObjectLockTest, SigV4SignsTheLockHeaders) {
  HttpRequestToSign request;
  request.method = "PUT";
  request.host = "examplebucket.s3.amazonaws.com";
  request.path = "/set/manifest.json";
  ObjectLock lock{ObjectLockMode::kGovernance, 7};
  request.headers = ObjectLockHeaders(lock, 1700000000);
  request.headers.emplace_back("Content-MD5", ContentMd5(nullptr, 0));
  request.payload_sha256 = Sha256Hex("");
  AwsCredentials credentials{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                             ""};
  SignedRequest signed_request =
      SignV4(request, credentials, "us-east-1", "s3", "20231114T221320Z");
  std::string authorization = signed_request.headers.back().second;
  EXPECT_NE(authorization.find("SignedHeaders=content-md5;host;x-amz-content-sha256;x-amz-date;"
                               "x-amz-object-lock-mode;x-amz-object-lock-retain-until-date,"),
            std::string::npos)
      << authorization;
  EXPECT_NE(signed_request.canonical_request.find(
                "x-amz-object-lock-retain-until-date:2023-11-21T22:13:20Z\n"),
            std::string::npos)
      << signed_request.canonical_request;
}

S3Settings SettingsFor(const FakeS3Server& server, ObjectLock lock) {
  S3Settings settings;
  settings.bucket = "bucket";
  settings.endpoint = server.Endpoint();
  settings.credentials.access_key_id = "AKIDEXAMPLE";
  settings.credentials.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  settings.part_size = kMinPartSize;
  settings.concurrency = 2;
  settings.object_lock = lock;
  settings.retry.initial_backoff_ms = 1;
  settings.retry.max_backoff_ms = 10;
  return settings;
}

// Write stores size bytes (that differ from part to part) under key.
void Write(S3Storage& storage, const std::string& key, size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; i++)
    bytes[i] = static_cast<char>((i * 2654435761u) >> 13);
  std::unique_ptr<ObjectWriter> writer = storage.Create(key);
  writer->Write(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  writer->Finish();
}

// IsPart says whether a recorded request is an UploadPart.
bool IsPart(const FakeS3Server::Recorded& request) {
  return request.head.method == "PUT" &&
         !test::QueryValue(request.head.target, "partNumber").empty();
}

// ExpectLocked checks the lock headers of a request made between before and
// after (seconds) by a storage locked for days.
void ExpectLocked(const FakeS3Server::Recorded& request, const std::string& mode, int days,
                  std::time_t before, std::time_t after) {
  SCOPED_TRACE(request.head.method + " " + request.head.target);
  EXPECT_EQ(request.Header("x-amz-object-lock-mode"), mode);
  std::time_t until = ParseIso8601Utc(request.Header("x-amz-object-lock-retain-until-date"));
  EXPECT_GE(until, before + days * 86400) << request.Header("x-amz-object-lock-retain-until-date");
  EXPECT_LE(until, after + days * 86400) << request.Header("x-amz-object-lock-retain-until-date");
  EXPECT_NE(request.Header("authorization")
                .find("x-amz-object-lock-mode;x-amz-object-lock-"
                      "retain-until-date"),
            std::string::npos);
}

TEST(ObjectLockTest, SinglePutIsLockedAndCarriesContentMd5) {
  FakeS3Server server(std::chrono::milliseconds(0), {});
  S3Storage storage(SettingsFor(server, ObjectLock{ObjectLockMode::kCompliance, 3}));
  std::time_t before = std::time(nullptr);
  Write(storage, "set/manifest.json", 1000);
  std::time_t after = std::time(nullptr);
  std::vector<FakeS3Server::Recorded> requests = server.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].head.method, "PUT");
  ExpectLocked(requests[0], "COMPLIANCE", 3, before, after);
  EXPECT_EQ(requests[0].Header("content-md5"), requests[0].body_md5);
  EXPECT_NE(requests[0].Header("authorization").find("content-md5;"), std::string::npos);
}

TEST(ObjectLockTest, MultipartUploadIsLockedAndEveryPartCarriesContentMd5) {
  // One failed part is sent again, with the same digest.
  FakeS3Server server(std::chrono::milliseconds(0), {2});
  S3Storage storage(SettingsFor(server, ObjectLock{ObjectLockMode::kGovernance, 10}));
  std::time_t before = std::time(nullptr);
  Write(storage, "set/data.dump.zst", 12 * kMiB + 5);
  std::time_t after = std::time(nullptr);
  int creates = 0, parts = 0, completes = 0;
  for (const FakeS3Server::Recorded& request : server.Requests()) {
    SCOPED_TRACE(request.head.method + " " + request.head.target);
    if (request.head.method == "POST" &&
        request.head.target.find("uploadId=") == std::string::npos) {
      creates++;
      ExpectLocked(request, "GOVERNANCE", 10, before, after);
    } else if (IsPart(request)) {
      parts++;
      EXPECT_EQ(request.Header("content-md5"), request.body_md5);
      EXPECT_NE(request.Header("authorization").find("content-md5;"), std::string::npos);
      // The lock is the upload's, given once when it starts.
      EXPECT_FALSE(request.Has("x-amz-object-lock-mode"));
    } else {
      completes++;
      EXPECT_FALSE(request.Has("x-amz-object-lock-mode"));
    }
  }
  EXPECT_EQ(creates, 1);
  EXPECT_EQ(parts, 3 + 1);
  EXPECT_EQ(completes, 1);
  EXPECT_EQ(server.PartSizes().size(), 3u);
}

TEST(ObjectLockTest, NoLockNoLockHeadersNoDigest) {
  FakeS3Server server(std::chrono::milliseconds(0), {});
  S3Storage storage(SettingsFor(server, ObjectLock()));
  Write(storage, "set/data.dump.zst", 6 * kMiB);
  Write(storage, "set/manifest.json", 100);
  std::vector<FakeS3Server::Recorded> requests = server.Requests();
  EXPECT_EQ(requests.size(), 5u);  // create, two parts, complete; one PUT
  for (const FakeS3Server::Recorded& request : requests) {
    SCOPED_TRACE(request.head.method + " " + request.head.target);
    EXPECT_FALSE(request.Has("x-amz-object-lock-mode"));
    EXPECT_FALSE(request.Has("x-amz-object-lock-retain-until-date"));
    EXPECT_FALSE(request.Has("content-md5"));
  }
}

}  // namespace
}  // namespace pgbak
