// http_client_test.cpp: the libcurl transport of the S3 driver
// (src/core/http_client.cpp) against a canned HTTP/1.1 server on the loopback
// interface, and the retry backoff schedule.
#include "core/http/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <climits>
#include <cstdint>
#include <functional>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "test_socket.h"

namespace pgbak {
namespace {

using Clock = std::chrono::steady_clock;

using test::ListeningSocket;

// ReceivedRequest is one request as the server parsed it.
struct ReceivedRequest {
  int connection = 0;  // which accepted connection (0, 1, ...) it came on
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased, in order
  std::string body;

  // Count is how many times the header appeared.
  size_t Count(const std::string& name) const {
    return static_cast<size_t>(std::count_if(headers.begin(), headers.end(),
                                             [&](const auto& h) { return h.first == name; }));
  }
  // Header is the first value of a header ("" if absent).
  std::string Header(const std::string& name) const {
    for (const auto& header : headers) {
      if (header.first == name) {
        return header.second;
      }
    }
    return "";
  }
};

// CannedReply is what the server does once it has read a whole request:
// write bytes (possibly nothing, possibly a truncated answer), then close the
// connection or keep it open (for the next request, or held silently until
// the client goes away or the server is destroyed).
struct CannedReply {
  std::string bytes;
  bool keep_open = false;
};

// Answer builds a complete response with a Content-Length.
std::string Answer(int status, const std::string& body,
                   const std::vector<std::string>& extra_headers = {}, bool close = true) {
  std::string answer = "HTTP/1.1 " + std::to_string(status) + " Canned\r\n";
  for (const std::string& header : extra_headers) {
    answer += header + "\r\n";
  }
  answer += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  if (close) {
    answer += "Connection: close\r\n";
  }
  return answer + "\r\n" + body;
}

// CannedServer answers the n-th request with replies[n] (the last one
// repeats). Each connection has its own thread, so a held connection does
// not stop others from being served.
class CannedServer {
 public:
  explicit CannedServer(std::vector<CannedReply> replies)
      : socket_(true), replies_(std::move(replies)), acceptor_([this] { Accept(); }) {}
  ~CannedServer() {
    stopping_ = true;
    acceptor_.join();
    for (std::thread& handler : handlers_) {
      handler.join();
    }
  }
  CannedServer(const CannedServer&) = delete;
  CannedServer& operator=(const CannedServer&) = delete;

  std::string Url(const std::string& path) const { return socket_.Url(path); }
  std::vector<ReceivedRequest> Requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }
  size_t RequestCount() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_.size();
  }
  // Replied is how many replies have been written in full.
  size_t Replied() const { return replied_; }

 private:
  // Accept hands each connection to a thread of its own until destruction.
  void Accept() {
    int connections = 0;
    while (!stopping_) {
      pollfd listener{socket_.fd(), POLLIN, 0};
      if (poll(&listener, 1, 20) <= 0) {
        continue;
      }
      int fd = accept4(socket_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        int connection = connections++;
        handlers_.emplace_back([this, fd, connection] { Serve(fd, connection); });
      }
    }
  }

  // ReadSome appends what arrives on fd to buffer; false at end of stream,
  // on error or when the server is stopping.
  bool ReadSome(int fd, std::string* buffer) {
    while (!stopping_) {
      pollfd connection{fd, POLLIN, 0};
      int ready = poll(&connection, 1, 20);
      if (ready < 0) {
        return false;
      }
      if (ready == 0) {
        continue;
      }
      char chunk[65536];
      ssize_t got = read(fd, chunk, sizeof(chunk));
      if (got <= 0) {
        return false;
      }
      buffer->append(chunk, static_cast<size_t>(got));
      return true;
    }
    return false;
  }

  // WriteAll writes bytes whole; false if the client went away.
  static bool WriteAll(int fd, const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t wrote = send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (wrote <= 0) {
        return false;
      }
      done += static_cast<size_t>(wrote);
    }
    return true;
  }

  // ReadRequest parses one request (request line, headers, Content-Length
  // body) from buffer, reading more as needed; leftover bytes stay in buffer.
  bool ReadRequest(int fd, std::string* buffer, ReceivedRequest* request) {
    size_t header_end;
    while ((header_end = buffer->find("\r\n\r\n")) == std::string::npos) {
      if (!ReadSome(fd, buffer)) {
        return false;
      }
    }
    test::RequestHead parsed = test::ParseRequestHead(buffer->substr(0, header_end));
    request->method = parsed.method;
    request->target = parsed.target;
    request->headers = parsed.headers;
    size_t content_length = 0;
    if (request->Count("content-length") != 0) {
      content_length = std::stoul(request->Header("content-length"));
    }
    buffer->erase(0, header_end + 4);
    while (buffer->size() < content_length) {
      if (!ReadSome(fd, buffer)) {
        return false;
      }
    }
    request->body = buffer->substr(0, content_length);
    buffer->erase(0, content_length);
    return true;
  }

  // Serve answers the requests of one connection as scripted.
  void Serve(int fd, int connection) {
    std::string buffer;
    while (true) {
      ReceivedRequest request;
      request.connection = connection;
      if (!ReadRequest(fd, &buffer, &request)) {
        break;
      }
      CannedReply reply;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        reply = replies_[std::min(requests_.size(), replies_.size() - 1)];
        requests_.push_back(std::move(request));
      }
      if (!WriteAll(fd, reply.bytes)) {
        break;
      }
      replied_++;
      if (!reply.keep_open) {
        break;
      }
    }
    close(fd);
  }

  ListeningSocket socket_;
  std::vector<CannedReply> replies_;
  mutable std::mutex mutex_;
  std::vector<ReceivedRequest> requests_;
  std::atomic<size_t> replied_{0};
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> handlers_;  // touched by the acceptor, then the destructor
  std::thread acceptor_;
};

// Call is a request to url with short timeouts, so that a failure is fast.
HttpCall Call(const std::string& method, const std::string& url) {
  HttpCall call;
  call.method = method;
  call.url = url;
  call.connect_timeout_ms = 5000;
  return call;
}

// BinaryBody is size bytes covering every byte value, zeros and CR/LF included.
std::string BinaryBody(size_t size) {
  std::string body(size, '\0');
  uint32_t state = 12345;
  for (size_t i = 0; i < size; i++) {
    state = state * 1103515245u + 12345u;
    body[i] = static_cast<char>(i < 256 ? i : (state >> 16) & 0xff);
  }
  return body;
}

const uint8_t* Bytes(const std::string& text) {
  return reinterpret_cast<const uint8_t*>(text.data());
}

TEST(HttpClientTest, ReturnsStatusBodyAndLowercaseHeaders) {
  const std::string body = "<ListBucketResult></ListBucketResult>";
  CannedServer server(
      {{Answer(200, body,
               {"ETag: \"9b2cf535f27731c974343645a3985328\"", "X-Amz-Request-Id: 4442587FB7D0A2F9",
                "Content-Type: application/xml", "X-AMZ-Meta-Mixed:   spaced value"})}});
  HttpClient client;
  HttpCall call = Call("GET", server.Url("/backups?list-type=2&prefix=prod%2F"));
  call.headers = {{"Host", "backups.example"},
                  {"x-amz-date", "20261122T000000Z"},
                  {"Authorization", "AWS4-HMAC-SHA256 Credential=AKID/x, Signature=abc"}};
  HttpResult result = client.Perform(call);
  ASSERT_TRUE(result.transport_ok) << result.transport_error;
  EXPECT_FALSE(result.aborted);
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, body);
  EXPECT_EQ(result.Header("etag"), "\"9b2cf535f27731c974343645a3985328\"");
  EXPECT_EQ(result.Header("x-amz-request-id"), "4442587FB7D0A2F9");
  EXPECT_EQ(result.Header("content-type"), "application/xml");
  EXPECT_EQ(result.Header("x-amz-meta-mixed"), "spaced value");
  EXPECT_EQ(result.Header("content-length"), std::to_string(body.size()));
  EXPECT_EQ(result.Header("x-absent"), "");
  for (const auto& header : result.headers) {
    for (char c : header.first) {
      EXPECT_FALSE(std::isupper(static_cast<unsigned char>(c))) << header.first;
    }
  }

  std::vector<ReceivedRequest> requests = server.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].target, "/backups?list-type=2&prefix=prod%2F");
  EXPECT_EQ(requests[0].Header("host"), "backups.example");
  EXPECT_EQ(requests[0].Count("host"), 1u);
  EXPECT_EQ(requests[0].Header("x-amz-date"), "20261122T000000Z");
  EXPECT_EQ(requests[0].Header("authorization"),
            "AWS4-HMAC-SHA256 Credential=AKID/x, Signature=abc");
  EXPECT_EQ(requests[0].Count("accept"), 0u);
  EXPECT_EQ(requests[0].Count("content-length"), 0u);
  EXPECT_EQ(requests[0].body, "");
}

TEST(HttpClientTest, ErrorStatusIsAnAnswerNotATransportError) {
  const std::string error =
      "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>";
  CannedServer server({{Answer(404, error, {"Content-Type: application/xml"})}});
  HttpClient client;
  HttpResult result = client.Perform(Call("GET", server.Url("/b/missing")));
  ASSERT_TRUE(result.transport_ok) << result.transport_error;
  EXPECT_EQ(result.status, 404);
  EXPECT_EQ(result.body, error);
  EXPECT_EQ(result.transport_error, "");
}

// ExpectBodySentExactly performs method with body and checks what the
// server received: the bytes, the length, the caller's headers, and no
// header libcurl would add on its own.
void ExpectBodySentExactly(const std::string& method, const std::string& body) {
  SCOPED_TRACE(method + " of " + std::to_string(body.size()) + " bytes");
  CannedServer server({{Answer(200, "", {"ETag: \"abc\""})}});
  HttpClient client;
  HttpCall call = Call(method, server.Url("/b/key?partNumber=1&uploadId=u%2B1"));
  call.headers = {{"x-amz-content-sha256", "UNSIGNED-PAYLOAD"},
                  {"x-amz-date", "20261122T000000Z"},
                  {"Authorization", "AWS4-HMAC-SHA256 Signature=0"}};
  call.body = Bytes(body);
  call.body_size = body.size();
  HttpResult result = client.Perform(call);
  ASSERT_TRUE(result.transport_ok) << result.transport_error;
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.Header("etag"), "\"abc\"");

  std::vector<ReceivedRequest> requests = server.Requests();
  ASSERT_EQ(requests.size(), 1u);
  const ReceivedRequest& request = requests[0];
  EXPECT_EQ(request.method, method);
  EXPECT_EQ(request.target, "/b/key?partNumber=1&uploadId=u%2B1");
  EXPECT_EQ(request.Header("content-length"), std::to_string(body.size()));
  EXPECT_EQ(request.Count("content-length"), 1u);
  EXPECT_TRUE(request.body == body) << "the body differs (" << request.body.size() << " bytes)";
  EXPECT_EQ(request.Header("x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
  EXPECT_EQ(request.Header("x-amz-date"), "20261122T000000Z");
  EXPECT_EQ(request.Header("authorization"), "AWS4-HMAC-SHA256 Signature=0");
  EXPECT_EQ(request.Count("content-type"), 0u);
  EXPECT_EQ(request.Count("expect"), 0u);
  EXPECT_EQ(request.Count("transfer-encoding"), 0u);
  EXPECT_EQ(request.Count("accept"), 0u);
}

TEST(HttpClientTest, PutSendsTheBodyExactly) {
  ExpectBodySentExactly("PUT", "hello");
  ExpectBodySentExactly("PUT", "");
  // Larger than libcurl's upload buffer and its 1 MiB "Expect" threshold.
  ExpectBodySentExactly("PUT", BinaryBody(3 * 1024 * 1024 + 17));
}

TEST(HttpClientTest, PostSendsTheBodyExactly) {
  ExpectBodySentExactly("POST", "");  // CreateMultipartUpload
  ExpectBodySentExactly(
      "POST",
      "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag>"
      "</Part></CompleteMultipartUpload>");
  ExpectBodySentExactly("POST", BinaryBody(2 * 1024 * 1024 + 1));
}

TEST(HttpClientTest, CallerContentTypeIsSentAsGiven) {
  CannedServer server({{Answer(200, "")}});
  HttpClient client;
  const std::string body = "<Delete><Object><Key>a</Key></Object></Delete>";
  HttpCall call = Call("POST", server.Url("/b?delete"));
  call.headers = {{"Content-Type", "application/xml"}, {"Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="}};
  call.body = Bytes(body);
  call.body_size = body.size();
  HttpResult result = client.Perform(call);
  ASSERT_TRUE(result.transport_ok) << result.transport_error;
  std::vector<ReceivedRequest> requests = server.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].Count("content-type"), 1u);
  EXPECT_EQ(requests[0].Header("content-type"), "application/xml");
  EXPECT_EQ(requests[0].Header("content-md5"), "1B2M2Y8AsgTpgAmY7PhCfg==");
  EXPECT_EQ(requests[0].body, body);
}

TEST(HttpClientTest, HeaderWithAnEmptyValueIsSent) {
  // A signed header must reach the server even when its value is empty.
  CannedServer server({{Answer(200, "")}});
  HttpClient client;
  HttpCall call = Call("GET", server.Url("/b/k"));
  call.headers = {{"x-amz-meta-empty", ""}, {"x-amz-meta-blank", "  "}, {"x-amz-meta-full", "v"}};
  HttpResult result = client.Perform(call);
  ASSERT_TRUE(result.transport_ok) << result.transport_error;
  std::vector<ReceivedRequest> requests = server.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].Count("x-amz-meta-empty"), 1u);
  EXPECT_EQ(requests[0].Header("x-amz-meta-empty"), "");
  EXPECT_EQ(requests[0].Count("x-amz-meta-blank"), 1u);
  EXPECT_EQ(requests[0].Header("x-amz-meta-blank"), "");
  EXPECT_EQ(requests[0].Header("x-amz-meta-full"), "v");
}

TEST(HttpClientTest, HeadReturnsHeadersWithoutBody) {
  CannedServer server(
      {{"HTTP/1.1 200 OK\r\nContent-Length: 16777216\r\nETag: \"e\"\r\n"
        "Last-Modified: Sun, 22 Nov 2026 03:00:00 GMT\r\nConnection: close\r\n\r\n"}});
  HttpClient client;
  HttpResult result = client.Perform(Call("HEAD", server.Url("/b/set.dump")));
  ASSERT_TRUE(result.transport_ok) << result.transport_error;
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, "");
  EXPECT_EQ(result.Header("content-length"), "16777216");
  EXPECT_EQ(result.Header("etag"), "\"e\"");
  std::vector<ReceivedRequest> requests = server.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "HEAD");
}

TEST(HttpClientTest, DeleteSendsTheMethod) {
  CannedServer server({{Answer(204, "")}});
  HttpClient client;
  HttpResult result = client.Perform(Call("DELETE", server.Url("/b/k?uploadId=1")));
  ASSERT_TRUE(result.transport_ok) << result.transport_error;
  EXPECT_EQ(result.status, 204);
  std::vector<ReceivedRequest> requests = server.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "DELETE");
  EXPECT_EQ(requests[0].target, "/b/k?uploadId=1");
}

TEST(HttpClientTest, ConsecutiveRequestsReuseTheConnection) {
  CannedServer server({{Answer(200, "first", {}, false), true},
                       {Answer(200, "", {}, false), true},
                       {Answer(200, "", {}, false), true},
                       {Answer(200, "last", {}, false), true}});
  HttpClient client;
  HttpResult first = client.Perform(Call("GET", server.Url("/1")));
  const std::string put_body = "body";
  HttpCall put = Call("PUT", server.Url("/2"));
  put.body = Bytes(put_body);
  put.body_size = put_body.size();
  HttpResult second = client.Perform(put);
  HttpResult third = client.Perform(Call("HEAD", server.Url("/3")));
  HttpResult fourth = client.Perform(Call("GET", server.Url("/4")));
  ASSERT_TRUE(first.transport_ok && second.transport_ok && third.transport_ok &&
              fourth.transport_ok);
  EXPECT_EQ(first.body, "first");
  EXPECT_EQ(fourth.body, "last");
  std::vector<ReceivedRequest> requests = server.Requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[1].method, "PUT");
  EXPECT_EQ(requests[1].body, "body");
  // The PUT's upload setting does not leak into the next requests.
  EXPECT_EQ(requests[2].method, "HEAD");
  EXPECT_EQ(requests[3].method, "GET");
  EXPECT_EQ(requests[3].Count("content-length"), 0u);
  for (const ReceivedRequest& request : requests) {
    EXPECT_EQ(request.connection, 0) << request.target;
  }
}

TEST(HttpClientTest, InterimResponseHeadersAreDropped) {
  CannedServer server(
      {{"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n" + Answer(200, "ok", {"X-Final: 2"})}});
  HttpClient client;
  const std::string body = "data";
  HttpCall call = Call("PUT", server.Url("/b/k"));
  call.body = Bytes(body);
  call.body_size = body.size();
  HttpResult result = client.Perform(call);
  ASSERT_TRUE(result.transport_ok) << result.transport_error;
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, "ok");
  EXPECT_EQ(result.Header("x-final"), "2");
  EXPECT_EQ(result.Header("x-interim"), "");
}

TEST(HttpClientTest, ResponseOverTheLimitFails) {
  const std::string big(5000, 'x');
  CannedServer server({{Answer(200, big)}});
  HttpClient client;
  HttpCall call = Call("GET", server.Url("/b/k"));
  call.max_response_bytes = 1000;
  HttpResult result = client.Perform(call);
  EXPECT_FALSE(result.transport_ok);
  EXPECT_FALSE(result.transport_retryable);
  EXPECT_FALSE(result.aborted);
  EXPECT_NE(result.transport_error.find("larger than 1000 bytes"), std::string::npos)
      << result.transport_error;
  EXPECT_LE(result.body.size(), 1000u);

  // Exactly at the limit is fine.
  call.max_response_bytes = big.size();
  HttpResult at_limit = client.Perform(call);
  ASSERT_TRUE(at_limit.transport_ok) << at_limit.transport_error;
  EXPECT_EQ(at_limit.body, big);
}

TEST(HttpClientTest, ConnectionRefusedIsRetryable) {
  ListeningSocket refusing(false);  // bound, not listening: connections are refused
  HttpClient client;
  HttpResult result = client.Perform(Call("GET", refusing.Url("/bucket/secret-key?X-Amz-Sig=s")));
  EXPECT_FALSE(result.transport_ok);
  EXPECT_TRUE(result.transport_retryable);
  EXPECT_FALSE(result.aborted);
  EXPECT_EQ(result.status, 0);
  EXPECT_NE(result.transport_error, "");
  EXPECT_EQ(result.transport_error.find("secret-key"), std::string::npos) << result.transport_error;
  EXPECT_EQ(result.transport_error.find("X-Amz-Sig"), std::string::npos) << result.transport_error;
}

TEST(HttpClientTest, UnsupportedSchemeIsNotRetryable) {
  HttpClient client;
  for (const char* url : {"ftp://127.0.0.1/b/k", "file:///etc/hostname"}) {
    HttpResult result = client.Perform(Call("GET", url));
    EXPECT_FALSE(result.transport_ok) << url;
    EXPECT_FALSE(result.transport_retryable) << url;
    EXPECT_EQ(result.body, "") << url;
  }
}

TEST(HttpClientTest, ConnectionClosedMidResponseIsRetryable) {
  CannedServer server({{"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly ten b"}});
  HttpClient client;
  HttpResult result = client.Perform(Call("GET", server.Url("/b/k")));
  EXPECT_FALSE(result.transport_ok);
  EXPECT_TRUE(result.transport_retryable) << result.transport_error;
  EXPECT_FALSE(result.aborted);
  EXPECT_NE(result.transport_error, "");
}

TEST(HttpClientTest, ConnectionClosedWithoutAnswerIsRetryable) {
  CannedServer server({{""}});  // reads the request, closes
  HttpClient client;
  HttpResult result = client.Perform(Call("GET", server.Url("/b/k")));
  EXPECT_FALSE(result.transport_ok);
  EXPECT_TRUE(result.transport_retryable) << result.transport_error;
  EXPECT_EQ(server.RequestCount(), 1u);
}

TEST(HttpClientTest, TotalTimeoutStopsASilentServer) {
  CannedServer server({{"", true}});  // reads the request, never answers
  HttpClient client;
  HttpCall call = Call("GET", server.Url("/b/k"));
  call.total_timeout_ms = 300;
  auto start = Clock::now();
  HttpResult result = client.Perform(call);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  EXPECT_FALSE(result.transport_ok);
  EXPECT_TRUE(result.transport_retryable) << result.transport_error;
  EXPECT_FALSE(result.aborted);
}

// PerformUntilAborted runs call with an abort callback that says yes once
// ready() does, and checks that the transfer then stops promptly.
HttpResult PerformUntilAborted(HttpClient& client, const HttpCall& call,
                               const std::function<bool()>& ready) {
  Clock::time_point first_yes{};
  int polls = 0;
  HttpResult result = client.Perform(call, [&] {
    polls++;
    if (first_yes == Clock::time_point{} && ready()) {
      first_yes = Clock::now();
    }
    return first_yes != Clock::time_point{};
  });
  EXPECT_GT(polls, 0);
  EXPECT_NE(first_yes, Clock::time_point{});
  // libcurl polls at least once a second; allow a generous margin.
  EXPECT_LT(Clock::now() - first_yes, std::chrono::seconds(3));
  return result;
}

TEST(HttpClientTest, AbortStopsAWaitForTheAnswer) {
  CannedServer server({{"", true}});  // reads the request, never answers
  HttpClient client;
  auto start = Clock::now();
  HttpResult result = PerformUntilAborted(client, Call("GET", server.Url("/b/k")),
                                          [&] { return server.RequestCount() >= 1; });
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  EXPECT_TRUE(result.aborted);
  EXPECT_FALSE(result.transport_ok);
  EXPECT_FALSE(result.transport_retryable);
}

TEST(HttpClientTest, AbortStopsASlowResponse) {
  // The answer starts, then the server goes quiet with most of it unsent.
  CannedServer server(
      {{"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nthe first bytes", true}});
  HttpClient client;
  HttpResult result = PerformUntilAborted(client, Call("GET", server.Url("/b/k")),
                                          [&] { return server.Replied() >= 1; });
  EXPECT_TRUE(result.aborted);
  EXPECT_FALSE(result.transport_ok);
  EXPECT_FALSE(result.transport_retryable);
}

TEST(HttpClientTest, AbortStopsASlowUpload) {
  // A large body sent at a throttled rate would take a minute.
  CannedServer server({{"", true}});
  const std::string body = BinaryBody(16 * 1024 * 1024);
  HttpClient client;
  HttpCall call = Call("PUT", server.Url("/b/k?partNumber=1"));
  call.body = Bytes(body);
  call.body_size = body.size();
  call.max_send_bytes_per_second = 256 * 1024;
  auto start = Clock::now();
  HttpResult result = PerformUntilAborted(
      client, call, [&] { return Clock::now() - start > std::chrono::milliseconds(200); });
  EXPECT_TRUE(result.aborted);
  EXPECT_FALSE(result.transport_ok);
}

TEST(HttpClientTest, ClientWorksAgainAfterAFailure) {
  CannedServer server(
      {{"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\ncut"}, {Answer(200, "ok")}});
  HttpClient client;
  HttpResult failed = client.Perform(Call("GET", server.Url("/1")));
  EXPECT_FALSE(failed.transport_ok);
  HttpResult result = client.Perform(Call("GET", server.Url("/2")));
  ASSERT_TRUE(result.transport_ok) << result.transport_error;
  EXPECT_EQ(result.body, "ok");
  EXPECT_EQ(result.Header("content-length"), "2");
  EXPECT_EQ(result.headers.size(), 2u);  // Content-Length and Connection, nothing stale
}

// --- BackoffMs ---------------------------------------------------------------

TEST(BackoffTest, DoublesPerFailureWithinJitterBounds) {
  std::mt19937 random(42);
  for (int failed = 1; failed <= 12; failed++) {
    long base = std::min(250L << (failed - 1), 20000L);
    for (int sample = 0; sample < 200; sample++) {
      long pause = BackoffMs(250, 20000, failed, random);
      ASSERT_GE(pause, base / 2) << "after " << failed << " failures";
      ASSERT_LE(pause, base) << "after " << failed << " failures";
    }
  }
}

TEST(BackoffTest, GrowsThenStaysAtTheCap) {
  std::mt19937 random(7);
  // The smallest pause after n+1 failures is at least the largest after n-1
  // (the base doubled twice, jitter at most halves it).
  for (int failed = 1; failed <= 5; failed++) {
    long most_before = 0;
    long least_after = LONG_MAX;
    for (int sample = 0; sample < 200; sample++) {
      most_before = std::max(most_before, BackoffMs(100, 1000000, failed, random));
      least_after = std::min(least_after, BackoffMs(100, 1000000, failed + 2, random));
    }
    EXPECT_GE(least_after, most_before) << "after " << failed << " failures";
  }
  for (int failed : {8, 9, 20, 64, 1000, INT_MAX}) {
    long pause = BackoffMs(250, 20000, failed, random);
    EXPECT_GE(pause, 10000) << failed;
    EXPECT_LE(pause, 20000) << failed;
  }
  // An initial pause above the cap is capped too.
  for (int failed : {1, 2, 3}) {
    long pause = BackoffMs(50000, 20000, failed, random);
    EXPECT_GE(pause, 10000) << failed;
    EXPECT_LE(pause, 20000) << failed;
  }
}

TEST(BackoffTest, JitterSpreadsOverHalfToFull) {
  std::mt19937 random(1234);
  long least = LONG_MAX;
  long most = 0;
  for (int sample = 0; sample < 2000; sample++) {
    long pause = BackoffMs(1000, 20000, 3, random);  // base 4000
    least = std::min(least, pause);
    most = std::max(most, pause);
  }
  EXPECT_GE(least, 2000);
  EXPECT_LT(least, 2100);
  EXPECT_LE(most, 4000);
  EXPECT_GT(most, 3900);
}

TEST(BackoffTest, SameSeedSamePauses) {
  std::mt19937 first(99);
  std::mt19937 second(99);
  for (int failed = 1; failed <= 10; failed++) {
    EXPECT_EQ(BackoffMs(250, 20000, failed, first), BackoffMs(250, 20000, failed, second));
  }
}

TEST(BackoffTest, ZeroAndNegativeInputsGiveZero) {
  std::mt19937 random(5);
  EXPECT_EQ(BackoffMs(0, 20000, 5, random), 0);
  EXPECT_EQ(BackoffMs(250, 0, 5, random), 0);
  EXPECT_EQ(BackoffMs(-5, 20000, 1, random), 0);
  long first = BackoffMs(250, 20000, 0, random);  // no failure yet: the initial pause
  EXPECT_GE(first, 125);
  EXPECT_LE(first, 250);
}

}  // namespace
}  // namespace pgbak
