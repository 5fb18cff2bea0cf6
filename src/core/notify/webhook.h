// webhook.h: delivering JSON notifications over HTTP without blocking anyone.
//
// The launcher hands each notification to a WebhookSender, whose own thread
// POSTs it with libcurl (timeouts, retries with exponential backoff and
// jitter) and queues the outcome for the launcher to collect and record. The
// thread never calls PostgreSQL and runs with every signal blocked, so a dead
// or slow receiver delays nothing but its own deliveries.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pgbak {

// WebhookRequest is one notification to deliver.
struct WebhookRequest {
  int64_t id = 0;    // the caller's key (a backup_log id)
  std::string url;   // http:// or https://
  std::string body;  // JSON
  int topic = 0;     // what kind of key id is, for a caller with several
};

// WebhookResult is the outcome of one request after all its attempts.
struct WebhookResult {
  int64_t id = 0;
  int topic = 0;  // the request's
  bool delivered = false;
  int attempts = 0;
  long http_status = 0;  // of the last attempt; 0 if no response
  // error says why the last attempt failed, e.g. "HTTP 500" or "Couldn't
  // connect to server (Connection refused)"; it never contains the URL (a
  // webhook URL often holds a token).
  std::string error;
};

// WebhookPolicy bounds a delivery.
struct WebhookPolicy {
  long timeout_ms = 5000;  // per attempt, connect included
  int max_attempts = 3;    // retries on network errors, 429 and 5xx
  long initial_backoff_ms = 500;
  long max_backoff_ms = 8000;
  size_t max_queue = 1000;  // Enqueue refuses a request beyond this many pending
};

// WebhookSender owns the delivery thread.
class WebhookSender {
 public:
  explicit WebhookSender(WebhookPolicy policy = {});
  // The destructor stops the thread; requests not yet delivered are dropped.
  ~WebhookSender();
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  // Enqueue adds a request; returns false (and drops it) if the queue is full.
  bool Enqueue(WebhookRequest request);
  // TakeResults returns and forgets the outcomes collected so far.
  std::vector<WebhookResult> TakeResults();
  // Pending is the number of requests queued or in flight.
  size_t Pending() const;

 private:
  // Run is the delivery thread's loop.
  void Run();
  // Deliver makes every attempt at one request, backing off between them.
  WebhookResult Deliver(const WebhookRequest& request);
  // Stopping says whether the destructor has begun.
  bool Stopping() const;
  // SleepUnlessStopping waits ms; returns false early if the sender is stopping.
  bool SleepUnlessStopping(long ms);

  WebhookPolicy policy_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<WebhookRequest> queue_;
  std::vector<WebhookResult> results_;
  size_t in_flight_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

// ValidateWebhookUrl throws kInvalidParameter unless url is an absolute
// http:// or https:// URL with a host and no whitespace or control bytes.
void ValidateWebhookUrl(const std::string& url);

// RedactUrl returns scheme://host[:port]/... of a URL, for messages: the
// path and query of a webhook URL are often a secret.
std::string RedactUrl(const std::string& url);

}  // namespace pgbak
