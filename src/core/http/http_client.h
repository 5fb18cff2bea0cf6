// http_client.h: one HTTP exchange at a time over libcurl, for the S3 driver.
//
// libcurl is the transport only: the caller builds (and signs) every header.
// A client keeps one easy handle so that consecutive requests reuse the
// connection; use one client per thread. libcurl never installs signal
// handlers here (CURLOPT_NOSIGNAL), and a transfer can be aborted at any time
// by the abort callback, which libcurl polls at least once a second.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace pgbak {

// InitCurlOnce calls curl_global_init once per process; it is not safe to
// call while another thread uses libcurl, so the first call must come from
// the main thread before any other thread uses libcurl.
void InitCurlOnce();

// BackoffMs is the pause before attempt failed_attempts+1: initial doubled
// per failure, capped at max, with full jitter in [50%, 100%] so that many
// clients failing together do not retry together.
long BackoffMs(long initial_ms, long max_ms, int failed_attempts, std::mt19937& random);

// IsRetryableCurlError says whether another attempt after libcurl error
// curl_code (a CURLcode) could succeed.
bool IsRetryableCurlError(int curl_code);

// TlsSettings says how https peers are checked.
struct TlsSettings {
  std::string ca_file;  // empty: the system's CA bundle
  bool verify = true;   // false only when the admin explicitly turned it off
};

// HttpCall is one request.
struct HttpCall {
  std::string method;  // GET, PUT, POST, HEAD, DELETE
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  const uint8_t* body = nullptr;  // not owned; must outlive Perform
  size_t body_size = 0;
  // The response body is kept up to this many bytes; more is an error.
  size_t max_response_bytes = 1 << 20;
  long connect_timeout_ms = 10000;
  // A transfer slower than low_speed_bytes per second for low_speed_time_s
  // is abandoned (a stalled connection), as is one longer than total_timeout_ms.
  long low_speed_bytes = 1024;
  long low_speed_time_s = 60;
  long total_timeout_ms = 0;               // 0: none
  uint64_t max_send_bytes_per_second = 0;  // 0: unthrottled
  TlsSettings tls;
};

// HttpResult is what came back: a transport error, or a status and body.
struct HttpResult {
  bool transport_ok = false;
  bool transport_retryable = false;  // a network error worth another attempt
  bool aborted = false;              // the abort callback stopped it
  std::string transport_error;       // curl's text; never the URL
  long status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // lowercase names

  // Header returns a response header's value ("" if absent).
  std::string Header(const std::string& lowercase_name) const;
};

// HttpClient performs requests one at a time on a reused handle.
class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Perform runs one request to completion. should_abort is polled during
  // the transfer (on the calling thread); when it returns true the transfer
  // stops and the result says aborted. It never throws for network errors.
  HttpResult Perform(const HttpCall& call, const std::function<bool()>& should_abort = {});

 private:
  struct Handle;
  std::unique_ptr<Handle> handle_;
};

}  // namespace pgbak
