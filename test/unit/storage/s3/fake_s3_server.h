// fake_s3_server.h: a scripted S3 server on the loopback interface, for
// tests of the S3 writer (src/core/storage/s3/s3_storage.cpp): it answers
// one multipart upload (or single PUT) the way S3 does and records every
// request it received.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/storage/s3/object_lock.h"
#include "test_socket.h"

namespace pgbak::test {

// QueryValue is the value of name in a request target's query ("" if absent).
inline std::string QueryValue(const std::string& target, const std::string& name) {
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

  // Recorded is one request as received, with its body's Content-MD5
  // value (what a client should have sent for it).
  struct Recorded {
    RequestHead head;
    std::string body_md5;
    std::string Header(const std::string& name) const {
      for (const auto& header : head.headers)
        if (header.first == name)
          return header.second;
      return "";
    }
    bool Has(const std::string& name) const {
      for (const auto& header : head.headers)
        if (header.first == name)
          return true;
      return false;
    }
  };
  // Requests are every request received, in the order they arrived.
  std::vector<Recorded> Requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
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
  std::string Handle(const RequestHead& head, std::string body) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requests_.push_back(
          {head, ContentMd5(reinterpret_cast<const uint8_t*>(body.data()), body.size())});
    }
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
      RequestHead head = ParseRequestHead(buffer.substr(0, header_end));
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

  ListeningSocket socket_;
  std::chrono::milliseconds part_delay_;
  mutable std::mutex mutex_;
  std::set<int> fail_once_;
  std::map<int, std::string> parts_;
  std::string object_;
  std::vector<size_t> completed_sizes_;
  int part_attempts_ = 0;
  int single_puts_ = 0;
  std::vector<Recorded> requests_;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> handlers_;  // touched by the acceptor, then the destructor
  std::thread acceptor_;
};

}  // namespace pgbak::test
