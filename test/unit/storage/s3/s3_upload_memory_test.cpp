// s3_upload_memory_test.cpp: the S3 writer (src/core/storage/s3/
// s3_storage.cpp) against a scripted S3 server on the loopback interface:
// whatever the object's size, the buffers it holds (the part being filled,
// the parts in flight, the one kept for reuse) stay within upload_memory,
// the object arrives whole, and a failed part is re-sent from its own bytes.
#include "core/storage/s3/s3_storage.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_socket.h"

namespace pgbak {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

// QueryValue is the value of name in a request target's query ("" if absent).
std::string QueryValue(const std::string& target, const std::string& name) {
  size_t question = target.find('?');
  if (question == std::string::npos)
    return "";
  std::string query = "&" + target.substr(question + 1);
  size_t at = query.find("&" + name + "=");
  if (at == std::string::npos)
    return "";
  size_t start = at + name.size() + 2;
  return query.substr(start, query.find('&', start) - start);
}

// FakeS3Server answers the requests of one multipart upload (or single PUT)
// the way S3 does, on keep-alive connections served by a thread each. Part
// answers come after part_delay (a slow link, so that parts pile up), and the
// first attempt of each part in fail_once is answered 500 InternalError.
class FakeS3Server {
 public:
  FakeS3Server(std::chrono::milliseconds part_delay, std::set<int> fail_once)
      : socket_(true),
        part_delay_(part_delay),
        fail_once_(std::move(fail_once)),
        acceptor_([this] { Accept(); }) {}
  ~FakeS3Server() {
    stopping_ = true;
    acceptor_.join();
    for (std::thread& handler : handlers_)
      handler.join();
  }
  FakeS3Server(const FakeS3Server&) = delete;
  FakeS3Server& operator=(const FakeS3Server&) = delete;

  std::string Endpoint() const { return socket_.Url(""); }

  // Object is what the completed upload (or single PUT) stored.
  std::string Object() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return object_;
  }
  // PartSizes are the sizes of the parts the completion listed, in order.
  std::vector<size_t> PartSizes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return completed_sizes_;
  }
  int PartAttempts() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return part_attempts_;
  }
  int SinglePuts() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return single_puts_;
  }

 private:
  void Accept() {
    while (!stopping_) {
      pollfd listener{socket_.fd(), POLLIN, 0};
      if (poll(&listener, 1, 20) <= 0)
        continue;
      int fd = accept4(socket_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0)
        handlers_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  bool ReadSome(int fd, std::string* buffer) {
    while (!stopping_) {
      pollfd connection{fd, POLLIN, 0};
      int ready = poll(&connection, 1, 20);
      if (ready < 0)
        return false;
      if (ready == 0)
        continue;
      char chunk[65536];
      ssize_t got = read(fd, chunk, sizeof(chunk));
      if (got <= 0)
        return false;
      buffer->append(chunk, static_cast<size_t>(got));
      return true;
    }
    return false;
  }

  static bool WriteAll(int fd, const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t wrote = send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (wrote <= 0)
        return false;
      done += static_cast<size_t>(wrote);
    }
    return true;
  }

  static std::string Answer(int status, const std::string& body,
                            const std::string& extra_headers = "") {
    return "HTTP/1.1 " + std::to_string(status) + " Scripted\r\n" + extra_headers +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }

  // Handle answers one request as S3 would.
  std::string Handle(const test::RequestHead& head, std::string body) {
    std::string part_number = QueryValue(head.target, "partNumber");
    bool has_upload_id = head.target.find("uploadId=") != std::string::npos;
    if (head.method == "POST" && !has_upload_id)
      return Answer(200,
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult>"
                    "<Bucket>bucket</Bucket><Key>object</Key><UploadId>upload-1</UploadId>"
                    "</InitiateMultipartUploadResult>");
    if (head.method == "PUT" && !part_number.empty()) {
      std::this_thread::sleep_for(part_delay_);
      int number = std::stoi(part_number);
      std::lock_guard<std::mutex> lock(mutex_);
      part_attempts_++;
      if (fail_once_.erase(number) != 0)
        return Answer(500,
                      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError"
                      "</Code><Message>scripted failure</Message></Error>");
      parts_[number] = std::move(body);
      return Answer(200, "", "ETag: \"etag-" + part_number + "\"\r\n");
    }
    if (head.method == "POST") {
      std::lock_guard<std::mutex> lock(mutex_);
      object_.clear();
      completed_sizes_.clear();
      for (size_t at = body.find("<PartNumber>"); at != std::string::npos;
           at = body.find("<PartNumber>", at + 1)) {
        int number = std::stoi(body.substr(at + 12));
        object_ += parts_[number];
        completed_sizes_.push_back(parts_[number].size());
      }
      return Answer(200,
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult>"
                    "<Bucket>bucket</Bucket><Key>object</Key><ETag>\"whole\"</ETag>"
                    "</CompleteMultipartUploadResult>");
    }
    if (head.method == "PUT") {
      std::lock_guard<std::mutex> lock(mutex_);
      single_puts_++;
      object_ = std::move(body);
      return Answer(200, "", "ETag: \"whole\"\r\n");
    }
    return Answer(204, "");
  }

  void Serve(int fd) {
    std::string buffer;
    for (;;) {
      size_t header_end;
      bool open = true;
      while (open && (header_end = buffer.find("\r\n\r\n")) == std::string::npos)
        open = ReadSome(fd, &buffer);
      if (!open)
        break;
      test::RequestHead head = test::ParseRequestHead(buffer.substr(0, header_end));
      size_t length = 0;
      for (const auto& header : head.headers)
        if (header.first == "content-length")
          length = std::stoul(header.second);
      buffer.erase(0, header_end + 4);
      while (open && buffer.size() < length)
        open = ReadSome(fd, &buffer);
      if (!open)
        break;
      std::string body = buffer.substr(0, length);
      buffer.erase(0, length);
      if (!WriteAll(fd, Handle(head, std::move(body))))
        break;
    }
    close(fd);
  }

  test::ListeningSocket socket_;
  std::chrono::milliseconds part_delay_;
  mutable std::mutex mutex_;
  std::set<int> fail_once_;
  std::map<int, std::string> parts_;
  std::string object_;
  std::vector<size_t> completed_sizes_;
  int part_attempts_ = 0;
  int single_puts_ = 0;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> handlers_;  // touched by the acceptor, then the destructor
  std::thread acceptor_;
};

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
