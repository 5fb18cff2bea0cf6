// webhook.cpp: the webhook delivery thread (libcurl easy, one request at a time).
//
// The thread is created with every signal blocked, because it lives inside a
// PostgreSQL background worker whose handlers (SIGTERM, SIGHUP, latch
// wake-ups) must run on the main thread only; libcurl is told not to use
// signals either (CURLOPT_NOSIGNAL). Error texts come from curl_easy_strerror
// and the HTTP status, never from anything that could echo the URL, because a
// webhook URL often carries a token.
#include "core/notify/webhook.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <utility>

#include "core/base/error.h"
#include "core/http/http_client.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

constexpr size_t kMaxUrlLength = 2048;
constexpr const char* kUserAgent = "pgbak_ext/1.0";

struct CurlEasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};

struct CurlSlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;

// ErrnoText returns strerror(errnum) without strerror's static buffer.
std::string ErrnoText(int errnum) {
  char buffer[256];
  const char* text = strerror_r(errnum, buffer, sizeof(buffer));
  return text != nullptr ? std::string(text) : "error " + std::to_string(errnum);
}

// DiscardBody swallows the response body: only the status matters, and
// without a write function libcurl would print it to stdout.
size_t DiscardBody(char*, size_t size, size_t count, void*) {
  return size * count;
}

// AttemptOutcome is what one POST came to.
struct AttemptOutcome {
  bool delivered = false;
  bool retryable = false;
  bool aborted = false;  // the sender is stopping
  long http_status = 0;
  std::string error;
};

// ClassifyStatus turns an HTTP status into an outcome: 2xx is delivered,
// 429 and 5xx are worth another attempt, anything else is final.
AttemptOutcome ClassifyStatus(long status) {
  AttemptOutcome outcome;
  outcome.http_status = status;
  if (status >= 200 && status < 300) {
    outcome.delivered = true;
    return outcome;
  }
  outcome.error = "HTTP " + std::to_string(status);
  outcome.retryable = status == 429 || (status >= 500 && status < 600);
  return outcome;
}

// PostOnce makes one POST attempt; progress is called often during the
// transfer and aborts it by returning non-zero.
AttemptOutcome PostOnce(const WebhookRequest& request, const WebhookPolicy& policy,
                        curl_xferinfo_callback progress, void* progress_data) {
  AttemptOutcome outcome;
  CurlEasy easy(curl_easy_init());
  curl_slist* raw_headers = curl_slist_append(nullptr, "Content-Type: application/json");
  CurlSlist headers(raw_headers);
  // An empty Expect: stops libcurl from waiting for "100 Continue" on large
  // bodies, which some receivers never send.
  if (raw_headers != nullptr) {
    raw_headers = curl_slist_append(raw_headers, "Expect:");
  }
  if (!easy || raw_headers == nullptr) {
    outcome.error = "out of memory";
    return outcome;
  }
  CURL* handle = easy.get();
  CURLcode code = CURLE_OK;
  auto set = [&code](CURLcode result) {
    if (code == CURLE_OK) {
      code = result;
    }
  };
  set(curl_easy_setopt(handle, CURLOPT_URL, request.url.c_str()));
#if LIBCURL_VERSION_NUM >= 0x075500
  set(curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https"));
#else
  set(curl_easy_setopt(handle, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  set(curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L));
  set(curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L));
  set(curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, policy.timeout_ms));
  set(curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, policy.timeout_ms));
  set(curl_easy_setopt(handle, CURLOPT_USERAGENT, kUserAgent));
  set(curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers.get()));
  set(curl_easy_setopt(handle, CURLOPT_POST, 1L));
  set(curl_easy_setopt(handle, CURLOPT_POSTFIELDS, request.body.data()));
  set(curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size())));
  set(curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, DiscardBody));
  set(curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L));
  set(curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, progress));
  set(curl_easy_setopt(handle, CURLOPT_XFERINFODATA, progress_data));
  if (code == CURLE_OK) {
    code = curl_easy_perform(handle);
  }
  if (code == CURLE_ABORTED_BY_CALLBACK) {
    outcome.aborted = true;
    outcome.error = "cancelled";
    return outcome;
  }
  if (code != CURLE_OK) {
    outcome.error = curl_easy_strerror(code);
    long os_errno = 0;
    if (curl_easy_getinfo(handle, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK && os_errno != 0) {
      outcome.error += " (" + ErrnoText(static_cast<int>(os_errno)) + ")";
    }
    outcome.retryable = IsRetryableCurlError(code);
    return outcome;
  }
  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  return ClassifyStatus(status);
}

// BackoffMs is the wait after the given number of failed attempts: the
// initial backoff doubled per failure, capped, then jittered by +/-25% so
// that many senders do not retry in step (never above the cap).
long BackoffMs(const WebhookPolicy& policy, int failed_attempts, std::mt19937& random) {
  long base = std::max(0L, policy.initial_backoff_ms);
  long cap = std::max(0L, policy.max_backoff_ms);
  for (int i = 1; i < failed_attempts && base < cap; i++) {
    base *= 2;
  }
  base = std::min(base, cap);
  std::uniform_real_distribution<double> jitter(0.75, 1.25);
  return std::min(cap, static_cast<long>(static_cast<double>(base) * jitter(random)));
}

// ToLower lowercases ASCII letters.
std::string ToLower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return text;
}

// UrlParts is an absolute URL split just enough to check and redact it.
struct UrlParts {
  std::string scheme;     // as written
  std::string host_port;  // the authority without user information
  std::string host;       // without port; an IPv6 literal keeps its brackets
  std::string port;       // digits, or empty
  bool has_port = false;
  std::string rest;  // path, query and fragment
};

// SplitUrl splits scheme://[userinfo@]host[:port][rest]; false if there is no "://".
bool SplitUrl(const std::string& url, UrlParts* parts) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) {
    return false;
  }
  parts->scheme = url.substr(0, scheme_end);
  size_t authority_begin = scheme_end + 3;
  size_t authority_end = url.find_first_of("/?#", authority_begin);
  if (authority_end == std::string::npos) {
    authority_end = url.size();
  }
  std::string authority = url.substr(authority_begin, authority_end - authority_begin);
  parts->rest = url.substr(authority_end);
  size_t at = authority.rfind('@');
  if (at != std::string::npos) {
    authority.erase(0, at + 1);
  }
  parts->host_port = authority;
  size_t port_colon = std::string::npos;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close != std::string::npos && close + 1 < authority.size() && authority[close + 1] == ':') {
      port_colon = close + 1;
    }
  } else {
    port_colon = authority.rfind(':');
  }
  if (port_colon != std::string::npos) {
    parts->host = authority.substr(0, port_colon);
    parts->port = authority.substr(port_colon + 1);
    parts->has_port = true;
  } else {
    parts->host = authority;
  }
  return true;
}

// InvalidUrl is the error for a bad webhook URL; the URL itself is left out
// of the message because it may hold a secret.
[[noreturn]] void InvalidUrl(const std::string& why) {
  throw Error(ErrorKind::kInvalidParameter, "invalid webhook URL: " + why);
}

}  // namespace

// WebhookSender starts the delivery thread with every signal blocked, so the
// thread inherits a full mask and no PostgreSQL handler ever runs on it.
WebhookSender::WebhookSender(WebhookPolicy policy) : policy_(policy) {
  InitCurlOnce();
  sigset_t all_signals;
  sigset_t previous;
  sigfillset(&all_signals);
  int rc = pthread_sigmask(SIG_SETMASK, &all_signals, &previous);
  if (rc != 0) {
    ThrowErrno("could not block signals for the webhook thread", rc);
  }
  try {
    thread_ = std::thread(&WebhookSender::Run, this);
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    throw;
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

// ~WebhookSender wakes the thread (from its queue wait, a backoff or, through
// the progress callback, an in-flight transfer) and joins it.
WebhookSender::~WebhookSender() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

// Enqueue counts queued and in-flight requests against max_queue, so
// Pending() never exceeds it.
bool WebhookSender::Enqueue(WebhookRequest request) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || queue_.size() + in_flight_ >= policy_.max_queue) {
      return false;
    }
    queue_.push_back(std::move(request));
  }
  wake_.notify_all();
  return true;
}

// TakeResults hands over the collected outcomes.
std::vector<WebhookResult> WebhookSender::TakeResults() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<WebhookResult> taken;
  taken.swap(results_);
  return taken;
}

// Pending counts queued and in-flight requests; a request's result is
// available from TakeResults by the time it stops counting here.
size_t WebhookSender::Pending() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size() + in_flight_;
}

// Stopping reads the stop flag under the lock.
bool WebhookSender::Stopping() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stopping_;
}

// SleepUnlessStopping waits on the condition variable, so the destructor
// cuts a backoff short.
bool WebhookSender::SleepUnlessStopping(long ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  return !wake_.wait_for(lock, std::chrono::milliseconds(std::max(0L, ms)),
                         [this] { return stopping_; });
}

// Deliver attempts a request up to max_attempts times; 2xx ends it, and so
// does any status other than 429 or 5xx.
WebhookResult WebhookSender::Deliver(const WebhookRequest& request) {
  // A lambda in a member function may read private members; it converts to
  // the plain function pointer libcurl wants.
  curl_xferinfo_callback progress = [](void* sender, curl_off_t, curl_off_t, curl_off_t,
                                       curl_off_t) -> int {
    return static_cast<WebhookSender*>(sender)->Stopping() ? 1 : 0;
  };
  thread_local std::mt19937 random{std::random_device{}()};
  WebhookResult result;
  result.id = request.id;
  result.topic = request.topic;
  int max_attempts = std::max(1, policy_.max_attempts);
  for (int attempt = 1; attempt <= max_attempts; attempt++) {
    AttemptOutcome outcome = PostOnce(request, policy_, progress, this);
    result.attempts = attempt;
    result.http_status = outcome.http_status;
    result.delivered = outcome.delivered;
    result.error = outcome.error;
    if (outcome.delivered || outcome.aborted || !outcome.retryable || attempt == max_attempts) {
      break;
    }
    if (!SleepUnlessStopping(BackoffMs(policy_, attempt, random))) {
      break;
    }
  }
  return result;
}

// Run takes requests one at a time until the sender is destroyed; a result is
// published in the same critical section that ends its in-flight count.
void WebhookSender::Run() {
  for (;;) {
    WebhookRequest request;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) {
        return;
      }
      request = std::move(queue_.front());
      queue_.pop_front();
      in_flight_ = 1;
    }
    WebhookResult result;
    try {
      result = Deliver(request);
    } catch (const std::exception& error) {
      // Only allocation can throw here; an exception must not end the thread
      // (std::terminate would take the PostgreSQL worker with it).
      result = WebhookResult{};
      result.id = request.id;
      result.topic = request.topic;
      result.error = error.what();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    in_flight_ = 0;
    if (stopping_) {
      return;
    }
    results_.push_back(std::move(result));
  }
}

// ValidateWebhookUrl checks what can be checked without a request; every
// message leaves the URL out.
void ValidateWebhookUrl(const std::string& url) {
  if (url.empty()) {
    InvalidUrl("empty");
  }
  if (url.size() > kMaxUrlLength) {
    InvalidUrl("longer than " + std::to_string(kMaxUrlLength) + " bytes");
  }
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) {
      InvalidUrl("contains whitespace or control characters");
    }
  }
  UrlParts parts;
  if (!SplitUrl(url, &parts)) {
    InvalidUrl("scheme must be http or https");
  }
  std::string scheme = ToLower(parts.scheme);
  if (scheme != "http" && scheme != "https") {
    InvalidUrl("scheme must be http or https");
  }
  if (parts.host.empty() || parts.host == "[]") {
    InvalidUrl("missing host");
  }
  if (parts.host.front() == '[' && parts.host.back() != ']') {
    InvalidUrl("malformed IPv6 address");
  }
  if (parts.has_port) {
    bool digits = !parts.port.empty() && parts.port.size() <= 5 &&
                  std::all_of(parts.port.begin(), parts.port.end(),
                              [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stol(parts.port) < 1 || std::stol(parts.port) > 65535) {
      InvalidUrl("port must be a number from 1 to 65535");
    }
  }
}

// RedactUrl keeps scheme, host and port, drops user information, and shows
// "/..." where a path, query or fragment was.
std::string RedactUrl(const std::string& url) {
  static const char kUnparseable[] = "(unparseable URL)";
  UrlParts parts;
  if (!SplitUrl(url, &parts) || parts.scheme.empty()) {
    return kUnparseable;
  }
  auto printable = [](const std::string& text) {
    return std::all_of(text.begin(), text.end(), [](char c) {
      unsigned char byte = static_cast<unsigned char>(c);
      return byte > 0x20 && byte != 0x7f;
    });
  };
  bool scheme_ok = std::all_of(parts.scheme.begin(), parts.scheme.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '-' || c == '.';
  });
  if (!scheme_ok || !printable(parts.host_port)) {
    return kUnparseable;
  }
  std::string redacted = ToLower(parts.scheme) + "://" + parts.host_port;
  if (parts.rest == "/") {
    redacted += "/";
  } else if (!parts.rest.empty()) {
    redacted += "/...";
  }
  return redacted;
}

}  // namespace pgbak
