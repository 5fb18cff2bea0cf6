// webhook_test.cpp: webhook delivery (src/core/webhook.cpp) against a scripted
// HTTP/1.1 server on the loopback interface, and URL checking and redaction.
#include "core/notify/webhook.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/base/error.h"
#include "test_util.h"

#include "test_socket.h"

namespace pgbak {
namespace {

using Clock = std::chrono::steady_clock;

using test::ListeningSocket;

// ReceivedRequest is one request as the server parsed it.
struct ReceivedRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
};

// ScriptedServer answers the n-th request with script[n] (the last entry
// repeats); a status of 0 means: read the request and never answer.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::vector<int> script)
      : socket_(true), script_(std::move(script)), thread_([this] { Serve(); }) {}
  ~ScriptedServer() {
    stopping_ = true;
    thread_.join();
    for (int fd : held_) {
      close(fd);
    }
  }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  std::string Url(const std::string& path) const { return socket_.Url(path); }
  std::vector<ReceivedRequest> Requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }

 private:
  // Serve accepts connections one at a time until the server is destroyed.
  void Serve() {
    while (!stopping_) {
      pollfd listener{socket_.fd(), POLLIN, 0};
      if (poll(&listener, 1, 20) <= 0) {
        continue;
      }
      int fd = accept4(socket_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        HandleConnection(fd);
      }
    }
  }

  // ReadSome waits up to 2 s for bytes on fd and appends them to buffer.
  bool ReadSome(int fd, std::string* buffer) {
    pollfd connection{fd, POLLIN, 0};
    if (poll(&connection, 1, 2000) <= 0) {
      return false;
    }
    char chunk[4096];
    ssize_t got = read(fd, chunk, sizeof(chunk));
    if (got <= 0) {
      return false;
    }
    buffer->append(chunk, static_cast<size_t>(got));
    return true;
  }

  // HandleConnection parses one request (request line, headers and a
  // Content-Length body), records it and answers as scripted.
  void HandleConnection(int fd) {
    std::string buffer;
    size_t header_end;
    while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadSome(fd, &buffer)) {
        close(fd);
        return;
      }
    }
    ReceivedRequest request;
    test::RequestHead parsed = test::ParseRequestHead(buffer.substr(0, header_end));
    request.method = parsed.method;
    request.target = parsed.target;
    for (const auto& header : parsed.headers) {
      request.headers[header.first] = header.second;
    }
    size_t content_length = 0;
    if (request.headers.count("content-length") != 0) {
      content_length = std::stoul(request.headers["content-length"]);
    }
    request.body = buffer.substr(header_end + 4);
    while (request.body.size() < content_length) {
      if (!ReadSome(fd, &request.body)) {
        break;
      }
    }
    int status;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      status = script_[std::min(requests_.size(), script_.size() - 1)];
      requests_.push_back(request);
    }
    if (status == 0) {
      held_.push_back(fd);
      return;
    }
    std::string response = "HTTP/1.1 " + std::to_string(status) +
                           " Scripted\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    ssize_t written = write(fd, response.data(), response.size());
    (void)written;
    close(fd);
  }

  ListeningSocket socket_;
  std::vector<int> script_;
  mutable std::mutex mutex_;
  std::vector<ReceivedRequest> requests_;
  std::vector<int> held_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// FastPolicy keeps retries quick so the suite stays fast.
WebhookPolicy FastPolicy() {
  WebhookPolicy policy;
  policy.timeout_ms = 2000;
  policy.max_attempts = 3;
  policy.initial_backoff_ms = 10;
  policy.max_backoff_ms = 40;
  return policy;
}

// WaitForResults polls until count results have arrived or 10 s have passed.
std::vector<WebhookResult> WaitForResults(WebhookSender& sender, size_t count) {
  std::vector<WebhookResult> results;
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (results.size() < count && Clock::now() < deadline) {
    for (WebhookResult& result : sender.TakeResults()) {
      results.push_back(std::move(result));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return results;
}

// WaitForRequests polls until the server has seen count requests.
bool WaitForRequests(const ScriptedServer& server, size_t count) {
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (server.Requests().size() < count) {
    if (Clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

const char kSecret[] = "s3cr3t-T0KEN";

TEST(WebhookSenderTest, PostsBodyWithJsonContentType) {
  ScriptedServer server({200});
  WebhookSender sender(FastPolicy());
  const std::string body = R"({"event":"backup_succeeded","id":7,"name":"n\u00e9"})";
  ASSERT_TRUE(sender.Enqueue({7, server.Url("/hooks/abc?x=1"), body}));
  std::vector<WebhookResult> results = WaitForResults(sender, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].id, 7);
  EXPECT_TRUE(results[0].delivered);
  EXPECT_EQ(results[0].attempts, 1);
  EXPECT_EQ(results[0].http_status, 200);
  EXPECT_EQ(results[0].error, "");
  EXPECT_EQ(sender.Pending(), 0u);
  std::vector<ReceivedRequest> requests = server.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/hooks/abc?x=1");
  EXPECT_EQ(requests[0].body, body);
  EXPECT_EQ(requests[0].headers["content-type"], "application/json");
  EXPECT_EQ(requests[0].headers["user-agent"], "pgbak_ext/1.0");
  EXPECT_EQ(requests[0].headers.count("expect"), 0u);
}

TEST(WebhookSenderTest, RetriesServerErrorsUntilSuccess) {
  ScriptedServer server({500, 503, 200});
  WebhookSender sender(FastPolicy());
  ASSERT_TRUE(sender.Enqueue({1, server.Url("/"), "{}"}));
  std::vector<WebhookResult> results = WaitForResults(sender, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].delivered);
  EXPECT_EQ(results[0].attempts, 3);
  EXPECT_EQ(results[0].http_status, 200);
  EXPECT_EQ(results[0].error, "");
  EXPECT_EQ(server.Requests().size(), 3u);
}

TEST(WebhookSenderTest, RetriesTooManyRequests) {
  ScriptedServer server({429, 204});
  WebhookSender sender(FastPolicy());
  ASSERT_TRUE(sender.Enqueue({1, server.Url("/"), "{}"}));
  std::vector<WebhookResult> results = WaitForResults(sender, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].delivered);
  EXPECT_EQ(results[0].attempts, 2);
}

TEST(WebhookSenderTest, GivesUpAfterMaxAttempts) {
  ScriptedServer server({500});
  WebhookPolicy policy = FastPolicy();
  policy.max_attempts = 4;
  WebhookSender sender(policy);
  ASSERT_TRUE(sender.Enqueue({3, server.Url(std::string("/hook/") + kSecret), "{}"}));
  std::vector<WebhookResult> results = WaitForResults(sender, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].id, 3);
  EXPECT_FALSE(results[0].delivered);
  EXPECT_EQ(results[0].attempts, 4);
  EXPECT_EQ(results[0].http_status, 500);
  EXPECT_EQ(results[0].error, "HTTP 500");
  EXPECT_EQ(server.Requests().size(), 4u);
}

TEST(WebhookSenderTest, ClientErrorIsNotRetried) {
  ScriptedServer server({404, 200});
  WebhookSender sender(FastPolicy());
  ASSERT_TRUE(sender.Enqueue({1, server.Url("/missing"), "{}"}));
  std::vector<WebhookResult> results = WaitForResults(sender, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].delivered);
  EXPECT_EQ(results[0].attempts, 1);
  EXPECT_EQ(results[0].http_status, 404);
  EXPECT_EQ(results[0].error, "HTTP 404");
  EXPECT_EQ(server.Requests().size(), 1u);
}

TEST(WebhookSenderTest, RedirectIsNotFollowed) {
  ScriptedServer server({302, 200});
  WebhookSender sender(FastPolicy());
  ASSERT_TRUE(sender.Enqueue({1, server.Url("/"), "{}"}));
  std::vector<WebhookResult> results = WaitForResults(sender, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].delivered);
  EXPECT_EQ(results[0].error, "HTTP 302");
  EXPECT_EQ(server.Requests().size(), 1u);
}

TEST(WebhookSenderTest, ConnectionRefusedIsRetriedAndReportedWithoutUrl) {
  ListeningSocket refusing(false);  // bound, not listening: connections are refused
  WebhookPolicy policy = FastPolicy();
  policy.max_attempts = 2;
  WebhookSender sender(policy);
  std::string url = refusing.Url(std::string("/hooks/") + kSecret + "?token=" + kSecret);
  ASSERT_TRUE(sender.Enqueue({5, url, "{}"}));
  std::vector<WebhookResult> results = WaitForResults(sender, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].delivered);
  EXPECT_EQ(results[0].attempts, 2);
  EXPECT_EQ(results[0].http_status, 0);
  EXPECT_NE(results[0].error.find("connect"), std::string::npos) << results[0].error;
  EXPECT_EQ(results[0].error.find(kSecret), std::string::npos) << results[0].error;
  EXPECT_EQ(results[0].error.find("127.0.0.1"), std::string::npos) << results[0].error;
  EXPECT_EQ(results[0].error.find(std::to_string(refusing.port())), std::string::npos)
      << results[0].error;
}

TEST(WebhookSenderTest, SilentServerTimesOut) {
  ListeningSocket silent(true);  // the kernel accepts, nobody ever reads or answers
  WebhookPolicy policy = FastPolicy();
  policy.timeout_ms = 300;
  policy.max_attempts = 1;
  WebhookSender sender(policy);
  ASSERT_TRUE(sender.Enqueue({9, silent.Url(std::string("/") + kSecret), "{}"}));
  auto start = Clock::now();
  std::vector<WebhookResult> results = WaitForResults(sender, 1);
  auto elapsed = Clock::now() - start;
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].delivered);
  EXPECT_EQ(results[0].attempts, 1);
  EXPECT_NE(results[0].error.find("Timeout"), std::string::npos) << results[0].error;
  EXPECT_EQ(results[0].error.find(kSecret), std::string::npos) << results[0].error;
  EXPECT_GE(elapsed, std::chrono::milliseconds(250));
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));
}

TEST(WebhookSenderTest, DestructorAbortsAnInFlightRequestPromptly) {
  ScriptedServer server({0});  // reads the request, never answers
  WebhookPolicy policy = FastPolicy();
  policy.timeout_ms = 30000;
  auto sender = std::make_unique<WebhookSender>(policy);
  ASSERT_TRUE(sender->Enqueue({1, server.Url("/"), "{}"}));
  ASSERT_TRUE(sender->Enqueue({2, server.Url("/"), "{}"}));
  ASSERT_TRUE(WaitForRequests(server, 1));
  EXPECT_EQ(sender->Pending(), 2u);
  auto start = Clock::now();
  sender.reset();
  Clock::duration destroy_time = Clock::now() - start;
  EXPECT_LT(destroy_time, std::chrono::seconds(2));
  EXPECT_EQ(server.Requests().size(), 1u);
}

TEST(WebhookSenderTest, DestructorCutsBackoffShort) {
  ScriptedServer server({500});
  WebhookPolicy policy = FastPolicy();
  policy.initial_backoff_ms = 60000;
  policy.max_backoff_ms = 60000;
  auto sender = std::make_unique<WebhookSender>(policy);
  ASSERT_TRUE(sender->Enqueue({1, server.Url("/"), "{}"}));
  ASSERT_TRUE(WaitForRequests(server, 1));
  auto start = Clock::now();
  sender.reset();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
  EXPECT_EQ(server.Requests().size(), 1u);
}

TEST(WebhookSenderTest, QueueLimitDropsNewRequests) {
  ScriptedServer server({0});
  WebhookPolicy policy = FastPolicy();
  policy.timeout_ms = 30000;
  policy.max_queue = 3;
  auto sender = std::make_unique<WebhookSender>(policy);
  EXPECT_TRUE(sender->Enqueue({1, server.Url("/"), "{}"}));
  EXPECT_TRUE(sender->Enqueue({2, server.Url("/"), "{}"}));
  EXPECT_TRUE(sender->Enqueue({3, server.Url("/"), "{}"}));
  EXPECT_FALSE(sender->Enqueue({4, server.Url("/"), "{}"}));
  EXPECT_EQ(sender->Pending(), 3u);
  ASSERT_TRUE(WaitForRequests(server, 1));
  EXPECT_FALSE(sender->Enqueue({5, server.Url("/"), "{}"}));
  EXPECT_EQ(sender->Pending(), 3u);
  sender.reset();
  EXPECT_EQ(server.Requests().size(), 1u);
}

TEST(WebhookSenderTest, RequestsAreDeliveredInOrder) {
  ScriptedServer server({200});
  WebhookSender sender(FastPolicy());
  for (int i = 1; i <= 5; i++) {
    ASSERT_TRUE(sender.Enqueue({i, server.Url("/"), "{\"n\":" + std::to_string(i) + "}"}));
  }
  std::vector<WebhookResult> results = WaitForResults(sender, 5);
  ASSERT_EQ(results.size(), 5u);
  std::vector<ReceivedRequest> requests = server.Requests();
  ASSERT_EQ(requests.size(), 5u);
  for (int i = 0; i < 5; i++) {
    EXPECT_EQ(results[i].id, i + 1);
    EXPECT_TRUE(results[i].delivered);
    EXPECT_EQ(requests[i].body, "{\"n\":" + std::to_string(i + 1) + "}");
  }
}

TEST(WebhookSenderTest, NonHttpSchemeIsNotFetched) {
  WebhookSender sender(FastPolicy());
  ASSERT_TRUE(sender.Enqueue({1, "file:///etc/passwd", "{}"}));
  std::vector<WebhookResult> results = WaitForResults(sender, 1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].delivered);
  EXPECT_EQ(results[0].attempts, 1);
  EXPECT_NE(results[0].error, "");
}

// ThreadIds lists the process's threads.
std::set<std::string> ThreadIds() {
  std::set<std::string> tids;
  std::unique_ptr<DIR, int (*)(DIR*)> tasks(opendir("/proc/self/task"), closedir);
  if (!tasks) {
    ADD_FAILURE() << "cannot list /proc/self/task";
    return tids;
  }
  while (struct dirent* entry = readdir(tasks.get())) {
    std::string tid = entry->d_name;
    if (tid != "." && tid != "..") {
      tids.insert(tid);
    }
  }
  return tids;
}

// BlockedSignals reads a thread's blocked-signal mask from /proc.
uint64_t BlockedSignals(const std::string& tid) {
  std::string status = test::ReadFile("/proc/self/task/" + tid + "/status");
  size_t line = status.find("SigBlk:");
  EXPECT_NE(line, std::string::npos);
  return std::stoull(status.substr(line + 7, 32), nullptr, 16);
}

TEST(WebhookSenderTest, ThreadStartsWithEverySignalBlocked) {
  sigset_t before;
  pthread_sigmask(SIG_SETMASK, nullptr, &before);
  ASSERT_FALSE(sigismember(&before, SIGTERM));
  std::set<std::string> existing = ThreadIds();
  WebhookSender sender(FastPolicy());
  std::vector<std::string> started;
  for (const std::string& tid : ThreadIds()) {
    if (existing.count(tid) == 0) {
      started.push_back(tid);
    }
  }
  ASSERT_EQ(started.size(), 1u);
  uint64_t blocked = BlockedSignals(started[0]);
  for (int sig :
       {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGCHLD, SIGPIPE, SIGURG}) {
    EXPECT_TRUE(blocked & (uint64_t{1} << (sig - 1))) << "signal " << sig;
  }
  // The constructing thread's own mask is restored.
  sigset_t after;
  pthread_sigmask(SIG_SETMASK, nullptr, &after);
  EXPECT_FALSE(sigismember(&after, SIGTERM));
}

// ValidationMessage is the message ValidateWebhookUrl throws, or "" if none.
std::string ValidationMessage(const std::string& url) {
  try {
    ValidateWebhookUrl(url);
    return "";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidParameter);
    EXPECT_EQ(std::string(error.what()).find("secret"), std::string::npos) << error.what();
    return error.what();
  }
}

TEST(ValidateWebhookUrlTest, AcceptsHttpAndHttpsUrls) {
  for (const char* url :
       {"https://hooks.example.com/services/T0/B0/secret", "http://localhost:8080/hook",
        "HTTPS://Example.COM", "http://user:secret@example.com:1/x?y=z#f", "http://[::1]:9000/h",
        "http://10.0.0.1/?token=secret"}) {
    EXPECT_EQ(ValidationMessage(url), "") << url;
  }
}

TEST(ValidateWebhookUrlTest, RejectsWithoutEchoingTheUrl) {
  EXPECT_EQ(ValidationMessage("ftp://example.com/secret"),
            "invalid webhook URL: scheme must be http or https");
  EXPECT_EQ(ValidationMessage("example.com/secret"),
            "invalid webhook URL: scheme must be http or https");
  EXPECT_EQ(ValidationMessage("httpx://example.com/secret"),
            "invalid webhook URL: scheme must be http or https");
  EXPECT_EQ(ValidationMessage("https:///secret"), "invalid webhook URL: missing host");
  EXPECT_EQ(ValidationMessage("https://user:secret@/x"), "invalid webhook URL: missing host");
  EXPECT_EQ(ValidationMessage("https://:443/x"), "invalid webhook URL: missing host");
  EXPECT_EQ(ValidationMessage("https://example.com/a secret"),
            "invalid webhook URL: contains whitespace or control characters");
  EXPECT_EQ(ValidationMessage(" https://example.com/secret"),
            "invalid webhook URL: contains whitespace or control characters");
  EXPECT_EQ(ValidationMessage("https://example.com/secret\n"),
            "invalid webhook URL: contains whitespace or control characters");
  EXPECT_EQ(ValidationMessage("https://example.com:0/secret"),
            "invalid webhook URL: port must be a number from 1 to 65535");
  EXPECT_EQ(ValidationMessage("https://example.com:65536/secret"),
            "invalid webhook URL: port must be a number from 1 to 65535");
  EXPECT_EQ(ValidationMessage("https://example.com:http/secret"),
            "invalid webhook URL: port must be a number from 1 to 65535");
  EXPECT_EQ(ValidationMessage(""), "invalid webhook URL: empty");
  EXPECT_EQ(ValidationMessage("https://example.com/" + std::string(2100, 'a')),
            "invalid webhook URL: longer than 2048 bytes");
  EXPECT_EQ(ValidationMessage("https://example.com/" + std::string(2048 - 20, 'a')), "");
}

TEST(RedactUrlTest, KeepsOnlySchemeHostAndPort) {
  EXPECT_EQ(RedactUrl("https://hooks.example.com/services/T0/B0/secret"),
            "https://hooks.example.com/...");
  EXPECT_EQ(RedactUrl("https://hooks.example.com"), "https://hooks.example.com");
  EXPECT_EQ(RedactUrl("https://hooks.example.com/"), "https://hooks.example.com/");
  EXPECT_EQ(RedactUrl("http://localhost:8080/hook"), "http://localhost:8080/...");
  EXPECT_EQ(RedactUrl("http://example.com?token=secret"), "http://example.com/...");
  EXPECT_EQ(RedactUrl("http://example.com#secret"), "http://example.com/...");
  EXPECT_EQ(RedactUrl("HTTPS://user:secret@Example.com:8443/x?y"), "https://Example.com:8443/...");
  EXPECT_EQ(RedactUrl("https://secret@example.com/"), "https://example.com/");
  EXPECT_EQ(RedactUrl("http://[::1]:9000/secret"), "http://[::1]:9000/...");
  EXPECT_EQ(RedactUrl("ftp://example.com/secret"), "ftp://example.com/...");
  EXPECT_EQ(RedactUrl("not a url secret"), "(unparseable URL)");
  EXPECT_EQ(RedactUrl("secret"), "(unparseable URL)");
  EXPECT_EQ(RedactUrl("https://exa mple.com/secret"), "(unparseable URL)");
}

}  // namespace
}  // namespace pgbak
