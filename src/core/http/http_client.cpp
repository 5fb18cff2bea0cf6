// http_client.cpp: the libcurl transport behind the S3 driver.
//
// Bodies are sent with CURLOPT_UPLOAD and a read callback, whatever the
// method, so that libcurl adds no header of its own (no Content-Type, no
// "Expect: 100-continue"): S3 signs headers, and what the server sees must be
// what was signed.
#include "core/http/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <mutex>

#include "core/base/error.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

struct CurlSlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;

// Transfer is the state the callbacks of one request share.
struct Transfer {
  const HttpCall* call = nullptr;
  size_t sent = 0;
  HttpResult* result = nullptr;
  bool oversize = false;
  const std::function<bool()>* should_abort = nullptr;
  bool aborted = false;
};

size_t ReadBody(char* buffer, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  size_t room = size * count;
  size_t left = transfer->call->body_size - transfer->sent;
  size_t n = std::min(room, left);
  if (n > 0)
    std::memcpy(buffer, transfer->call->body + transfer->sent, n);
  transfer->sent += n;
  return n;
}

// RewindBody lets libcurl send the body again (after a redirect or an
// authentication round trip it would otherwise fail the request).
int RewindBody(void* user, curl_off_t offset, int origin) {
  auto* transfer = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > transfer->call->body_size)
    return CURL_SEEKFUNC_CANTSEEK;
  transfer->sent = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

size_t WriteBody(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  size_t n = size * count;
  if (transfer->result->body.size() + n > transfer->call->max_response_bytes) {
    transfer->oversize = true;
    return 0;  // makes libcurl fail the transfer with CURLE_WRITE_ERROR
  }
  transfer->result->body.append(data, n);
  return n;
}

size_t WriteHeader(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  size_t n = size * count;
  std::string line(data, n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
    line.pop_back();
  // A new status line (after "100 Continue", say) starts a new header block.
  if (line.compare(0, 5, "HTTP/") == 0) {
    transfer->result->headers.clear();
    return n;
  }
  size_t colon = line.find(':');
  if (colon == std::string::npos)
    return n;
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  size_t start = line.find_first_not_of(" \t", colon + 1);
  std::string value = start == std::string::npos ? "" : line.substr(start);
  transfer->result->headers.emplace_back(std::move(name), std::move(value));
  return n;
}

int Progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* transfer = static_cast<Transfer*>(user);
  if (transfer->should_abort != nullptr && *transfer->should_abort && (*transfer->should_abort)()) {
    transfer->aborted = true;
    return 1;
  }
  return 0;
}

}  // namespace

// IsRetryableCurlError: network trouble yes; a bad URL, a certificate that
// does not verify or our own mistakes no.
bool IsRetryableCurlError(int curl_code) {
  CURLcode code = static_cast<CURLcode>(curl_code);
  switch (code) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_ABORTED_BY_CALLBACK:
    case CURLE_WRITE_ERROR:
      return false;
    default:
      return true;
  }
}

void InitCurlOnce() {
  static std::once_flag once;
  static CURLcode init_code = CURLE_OK;
  std::call_once(once, [] { init_code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (init_code != CURLE_OK)
    throw Error(ErrorKind::kInternal,
                std::string("could not initialize libcurl: ") + curl_easy_strerror(init_code));
}

long BackoffMs(long initial_ms, long max_ms, int failed_attempts, std::mt19937& random) {
  long base = std::max(0L, initial_ms);
  long cap = std::max(0L, max_ms);
  for (int i = 1; i < failed_attempts && base < cap; i++)
    base *= 2;
  base = std::min(base, cap);
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return static_cast<long>(static_cast<double>(base) * jitter(random));
}

std::string HttpResult::Header(const std::string& lowercase_name) const {
  for (const auto& header : headers)
    if (header.first == lowercase_name)
      return header.second;
  return "";
}

struct HttpClient::Handle {
  CURL* easy = nullptr;
  ~Handle() {
    if (easy != nullptr)
      curl_easy_cleanup(easy);
  }
};

HttpClient::HttpClient() : handle_(new Handle) {
  InitCurlOnce();
  handle_->easy = curl_easy_init();
  if (handle_->easy == nullptr)
    throw Error(ErrorKind::kInternal, "could not create a libcurl handle");
}

HttpClient::~HttpClient() = default;

HttpResult HttpClient::Perform(const HttpCall& call, const std::function<bool()>& should_abort) {
  HttpResult result;
  Transfer transfer;
  transfer.call = &call;
  transfer.result = &result;
  transfer.should_abort = &should_abort;

  CURL* easy = handle_->easy;
  // Reset keeps the connection cache, so the next request reuses the socket.
  curl_easy_reset(easy);
  CurlSlist headers;
  curl_slist* list = nullptr;
  auto add_header = [&](const std::string& line) {
    curl_slist* grown = curl_slist_append(list, line.c_str());
    if (grown == nullptr)
      throw Error(ErrorKind::kInternal, "out of memory building HTTP headers");
    list = grown;
    headers.release();
    headers.reset(list);
  };
  // libcurl drops "Name:" with nothing after it; "Name;" sends the header empty.
  for (const auto& header : call.headers)
    add_header(header.first + (header.second.find_first_not_of(" \t") == std::string::npos
                                   ? std::string(";")
                                   : ": " + header.second));
  add_header("Expect:");
  add_header("Accept:");

  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(easy, CURLOPT_URL, call.url.c_str());
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "pgbak_ext");
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, call.connect_timeout_ms);
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, call.low_speed_bytes);
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, call.low_speed_time_s);
  if (call.total_timeout_ms > 0)
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, call.total_timeout_ms);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, call.tls.verify ? 1L : 0L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, call.tls.verify ? 2L : 0L);
  if (!call.tls.ca_file.empty())
    curl_easy_setopt(easy, CURLOPT_CAINFO, call.tls.ca_file.c_str());
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, WriteHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, Progress);
  curl_easy_setopt(easy, CURLOPT_XFERINFODATA, &transfer);
  if (call.max_send_bytes_per_second > 0)
    curl_easy_setopt(easy, CURLOPT_MAX_SEND_SPEED_LARGE,
                     static_cast<curl_off_t>(call.max_send_bytes_per_second));

  if (call.method == "PUT" || call.method == "POST") {
    curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(easy, CURLOPT_READFUNCTION, ReadBody);
    curl_easy_setopt(easy, CURLOPT_READDATA, &transfer);
    curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, RewindBody);
    curl_easy_setopt(easy, CURLOPT_SEEKDATA, &transfer);
    curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(call.body_size));
    if (call.method == "POST")
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "POST");
  } else if (call.method == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else if (call.method != "GET") {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, call.method.c_str());
  }

  CURLcode code = curl_easy_perform(easy);
  // The header list dies with this call; the handle must not point at it.
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, nullptr);
  if (code == CURLE_OK) {
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &result.status);
    result.transport_ok = true;
    return result;
  }
  result.aborted = transfer.aborted;
  if (transfer.oversize) {
    result.transport_error =
        "the response is larger than " + std::to_string(call.max_response_bytes) + " bytes";
    return result;
  }
  result.transport_retryable = IsRetryableCurlError(code);
  result.transport_error = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
  return result;
}

}  // namespace pgbak
