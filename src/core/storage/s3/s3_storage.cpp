// s3_storage.cpp: S3 requests, multipart upload, ranged reads, listing.
//
// Threads: the writer's part uploaders are created with every signal
// blocked and never touch anything but their own HttpClient and the writer's
// queue. The main thread (the PostgreSQL worker) fills parts, waits for room
// with a timeout so that the interrupt check runs, and does every request
// that is not a part upload.
#include "core/storage/s3/s3_storage.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include "core/base/error.h"
#include "core/base/signals_blocked.h"
#include "core/pipeline/meter_sink.h"
#include "core/storage/s3/s3_xml.h"
#include "core/base/no_postgres.h"

namespace pgbak {

struct S3Storage::Request {
  std::string what;        // for messages, e.g. "upload of part 3"
  std::string method;      // GET, PUT, POST, HEAD, DELETE
  std::string object_key;  // full key in the bucket; "" for the bucket itself
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;
  const uint8_t* body = nullptr;
  size_t body_size = 0;
  std::string body_sha256;  // computed when empty
  size_t max_response_bytes = 1 << 20;
  // CompleteMultipartUpload can answer 200 with an error document.
  bool error_body_possible = false;
  uint64_t send_rate = 0;
};

struct S3Storage::Response {
  bool ok = false;  // a 2xx without an error document
  bool aborted = false;
  long status = 0;
  int attempts = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string error;  // what went wrong, for messages: "HTTP 403 SignatureDoesNotMatch: ..."
  std::string code;   // S3's error code, if any
  std::string Header(const std::string& name) const {
    for (const auto& header : headers)
      if (header.first == name)
        return header.second;
    return "";
  }
};

namespace {

constexpr size_t kReadRange = 8 << 20;
constexpr int kAbortSeconds = 15;

// EndpointParts splits scheme://host[:port].
struct EndpointParts {
  std::string scheme;
  std::string authority;
};

EndpointParts SplitEndpoint(const std::string& endpoint) {
  EndpointParts parts;
  size_t colon = endpoint.find("://");
  parts.scheme = endpoint.substr(0, colon);
  parts.authority = endpoint.substr(colon + 3);
  while (!parts.authority.empty() && parts.authority.back() == '/')
    parts.authority.pop_back();
  return parts;
}

// HintFor suggests what to check for S3's common refusals.
std::string HintFor(const std::string& code, long status, const std::string& error) {
  // A bucket with a default retention locks what it stores, and S3 then
  // wants the integrity check that only a storage with object_lock sends.
  if (code == "InvalidRequest" && error.find("Object Lock") != std::string::npos)
    return "The bucket has S3 Object Lock with a default retention: give the storage the "
           "object_lock option ({\"mode\": ..., \"days\": ...}) that matches it.";
  if (code == "SignatureDoesNotMatch")
    return "Check the storage's secret_access_key (and that the endpoint does not rewrite "
           "requests).";
  if (code == "InvalidAccessKeyId")
    return "Check the storage's access_key_id.";
  if (code == "NoSuchBucket")
    return "Create the bucket first, or fix the bucket name in the storage URL.";
  if (code == "AccessDenied" || status == 403)
    return "Check the permissions of the storage's credentials on this bucket and prefix.";
  if (code == "RequestTimeTooSkewed")
    return "The server's clock is off; S3 accepts requests within 15 minutes of its time.";
  if (status == 0)
    return "Check the storage's endpoint and that the server can reach it.";
  return "";
}

bool IsRetryableStatus(long status, const std::string& code) {
  return status == 500 || status == 502 || status == 503 || status == 504 || status == 429 ||
         code == "RequestTimeout" || code == "SlowDown" || code == "InternalError";
}

// SleepUnlessCancelled sleeps for ms, in short slices so cancel is prompt;
// returns false if cancelled.
bool SleepUnlessCancelled(long ms, const std::function<bool()>& cancelled) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) {
    if (cancelled && cancelled())
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return !(cancelled && cancelled());
}

// Payload is a part's bytes, recycled between parts.
using Payload = std::vector<uint8_t>;

// OnIoThread runs work on a thread of its own, created with every signal
// blocked, and waits for it on the calling thread, calling poll every
// 100 ms; once poll returns true, stop is set for work to see. libcurl may
// start a resolver thread inside a transfer, and a thread inherits its
// creator's signal mask: transfers therefore never run on the main thread,
// whose PostgreSQL signal handlers must run nowhere else. Rethrows what
// work threw.
void OnIoThread(const std::function<void(const std::atomic<bool>& stop)>& work,
                const std::function<bool()>& poll) {
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::condition_variable finished;
  bool done = false;
  std::exception_ptr failure;
  std::thread io;
  {
    AllSignalsBlocked blocked;
    io = std::thread([&] {
      try {
        work(stop);
      } catch (...) {
        failure = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(mutex);
      done = true;
      finished.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mutex);
  while (!done) {
    finished.wait_for(lock, std::chrono::milliseconds(100));
    if (done || stop)
      continue;
    lock.unlock();
    bool stop_now = poll && poll();
    lock.lock();
    if (stop_now)
      stop = true;
  }
  lock.unlock();
  io.join();
  if (failure)
    std::rethrow_exception(failure);
}

}  // namespace

S3Storage::S3Storage(S3Settings settings) : settings_(std::move(settings)) {
  InitCurlOnce();
  client_ = std::make_unique<HttpClient>();
}

S3Storage::~S3Storage() = default;

void S3Storage::NoteUploadMemory(uint64_t bytes) {
  uint64_t peak = upload_memory_peak_.load();
  while (bytes > peak && !upload_memory_peak_.compare_exchange_weak(peak, bytes)) {
  }
}

std::string S3Storage::ObjectKey(const std::string& key) const {
  return settings_.prefix.empty() ? key : settings_.prefix + "/" + key;
}

std::string S3Storage::Location(const std::string& key) const {
  std::string location = "s3://" + settings_.bucket;
  std::string object = key.empty() ? settings_.prefix : ObjectKey(key);
  if (!object.empty())
    location += "/" + object;
  return location;
}

S3Storage::Response S3Storage::Exchange(HttpClient& client, const Request& request,
                                        const std::function<bool()>& cancelled) {
  EndpointParts endpoint = SplitEndpoint(settings_.endpoint);
  HttpRequestToSign to_sign;
  to_sign.method = request.method;
  if (settings_.path_style) {
    to_sign.host = endpoint.authority;
    to_sign.path = "/" + settings_.bucket;
    if (!request.object_key.empty())
      to_sign.path += "/" + request.object_key;
  } else {
    to_sign.host = settings_.bucket + "." + endpoint.authority;
    to_sign.path = "/" + request.object_key;
  }
  to_sign.query = request.query;
  to_sign.headers = request.headers;
  to_sign.payload_sha256 = request.body_sha256;
  if (to_sign.payload_sha256.empty()) {
    Sha256 hash;
    hash.Update(request.body, request.body_size);
    to_sign.payload_sha256 = hash.HexDigest();
  }

  thread_local std::mt19937 random{std::random_device{}()};
  Response response;
  for (int attempt = 1;; attempt++) {
    response = Response();
    response.attempts = attempt;
    SignedRequest signed_request =
        SignV4(to_sign, settings_.credentials, settings_.region, "s3", AmzDate(std::time(nullptr)));
    HttpCall call;
    call.method = request.method;
    call.url = endpoint.scheme + "://" + to_sign.host + signed_request.target;
    call.headers = signed_request.headers;
    call.body = request.body;
    call.body_size = request.body_size;
    call.max_response_bytes = request.max_response_bytes;
    call.connect_timeout_ms = settings_.retry.connect_timeout_ms;
    call.low_speed_time_s = settings_.retry.low_speed_time_s;
    call.max_send_bytes_per_second = request.send_rate;
    call.tls = settings_.tls;
    HttpResult result = client.Perform(call, cancelled);
    bool retryable = false;
    if (result.aborted) {
      response.aborted = true;
      response.error = "cancelled";
      return response;
    }
    if (!result.transport_ok) {
      response.error = result.transport_error;
      retryable = result.transport_retryable;
    } else {
      response.status = result.status;
      response.body = std::move(result.body);
      response.headers = std::move(result.headers);
      bool error_document = response.body.find("<Error>") != std::string::npos &&
                            (result.status >= 300 || request.error_body_possible);
      if (result.status >= 200 && result.status < 300 && !error_document) {
        response.ok = true;
        return response;
      }
      response.code = XmlText(response.body, "Code");
      std::string message = XmlText(response.body, "Message");
      response.error = "HTTP " + std::to_string(result.status);
      if (!response.code.empty())
        response.error += " " + response.code;
      if (!message.empty())
        response.error += ": " + message;
      retryable = IsRetryableStatus(result.status, response.code);
    }
    if (!retryable || attempt >= settings_.retry.max_attempts)
      return response;
    long pause = BackoffMs(settings_.retry.initial_backoff_ms, settings_.retry.max_backoff_ms,
                           attempt, random);
    // SlowDown asks for more patience than a lost packet.
    if (response.code == "SlowDown" || response.status == 503 || response.status == 429)
      pause = std::min(settings_.retry.max_backoff_ms, pause * 2);
    if (!SleepUnlessCancelled(pause, cancelled)) {
      response.aborted = true;
      response.error = "cancelled";
      return response;
    }
  }
}

// ThrowFailure turns a failed response into the error a user sees.
[[noreturn]] void ThrowS3Failure(const S3Storage& storage, const std::string& what,
                                 const std::string& object_key,
                                 const S3Storage::Response& response);

S3Storage::Response S3Storage::Run(const Request& request, std::vector<long> accepted) {
  std::exception_ptr interrupted;
  auto poll = [&]() {
    if (!interrupt_check_)
      return false;
    try {
      interrupt_check_();
      return false;
    } catch (...) {
      interrupted = std::current_exception();
      return true;
    }
  };
  Response response;
  OnIoThread(
      [&](const std::atomic<bool>& stop) {
        response = Exchange(*client_, request, [&stop] { return stop.load(); });
      },
      poll);
  if (interrupted)
    std::rethrow_exception(interrupted);
  bool fine =
      response.ok || std::find(accepted.begin(), accepted.end(), response.status) != accepted.end();
  if (!fine || response.aborted)
    ThrowS3Failure(*this, request.what, request.object_key, response);
  return response;
}

void ThrowS3Failure(const S3Storage& storage, const std::string& what,
                    const std::string& object_key, const S3Storage::Response& response) {
  if (response.aborted)
    throw Error(ErrorKind::kCancelled, "S3 " + what + " was cancelled");
  std::string where = "s3://" + storage.settings().bucket;
  if (!object_key.empty())
    where += "/" + object_key;
  std::string detail = "After " + std::to_string(response.attempts) +
                       (response.attempts == 1 ? " attempt" : " attempts") + ", at " + where +
                       " (endpoint " + storage.settings().endpoint + ").";
  throw Error(ErrorKind::kIo, "S3 " + what + " failed: " + response.error, detail,
              HintFor(response.code, response.status, response.error));
}

namespace {

// S3ObjectWriter streams one object: a single PUT if it fits in the first
// part, else a multipart upload with parts in flight on worker threads.
// Memory follows plan_ (s3_part_plan.h): a part's buffer is allocated only
// when it is about to be filled, and only once the buffers of earlier parts
// (in flight, or one kept for reuse) are few enough for the budget.
class S3ObjectWriter : public ObjectWriter {
 public:
  S3ObjectWriter(S3Storage& storage, std::string object_key, uint64_t expected_size)
      : storage_(storage), object_key_(std::move(object_key)) {
    const S3Settings& settings = storage_.settings();
    plan_ = MakePartPlan(settings.part_size, settings.concurrency, settings.upload_memory,
                         expected_size);
    concurrency_ = plan_.concurrency;
    locked_ = settings.object_lock.enabled();
  }

  ~S3ObjectWriter() override {
    if (!finished_)
      Abort();
  }

  void Write(const uint8_t* data, size_t size) override {
    while (size > 0) {
      if (current_target_ == 0)
        StartPart();
      size_t n = static_cast<size_t>(std::min<uint64_t>(size, current_target_ - current_.size()));
      current_.insert(current_.end(), data, data + n);
      data += n;
      size -= n;
      if (current_.size() == current_target_)
        SubmitPart();
    }
  }

  void Finish() override {
    if (upload_id_.empty()) {
      PutWhole();
    } else {
      if (!current_.empty())
        SubmitPart();
      WaitForAllParts();
      Complete();
    }
    finished_ = true;
    StopThreads();
  }

  void Abort() noexcept override {
    finished_ = true;
    StopThreads();
    if (upload_id_.empty() || completed_)
      return;
    try {
      // Best effort, for at most kAbortSeconds: some servers (s3rver)
      // refuse with 405, and a lost abort only leaves invisible parts that a
      // bucket lifecycle rule for incomplete uploads removes.
      S3Storage::Request request;
      request.what = "abort of multipart upload";
      request.method = "DELETE";
      request.object_key = object_key_;
      request.query = {{"uploadId", upload_id_}};
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kAbortSeconds);
      OnIoThread(
          [&](const std::atomic<bool>& stop) {
            HttpClient client;
            (void)storage_.Exchange(client, request, [&stop] { return stop.load(); });
          },
          [&] { return std::chrono::steady_clock::now() > deadline; });
    } catch (...) {
    }
    upload_id_.clear();
  }

 private:
  struct Part {
    int number = 0;
    Payload bytes;
  };

  void PutWhole() {
    S3Storage::Request request;
    request.what = "upload";
    request.method = "PUT";
    request.object_key = object_key_;
    request.body = current_.data();
    request.body_size = current_.size();
    AddObjectLock(request);
    if (locked_)
      request.headers.emplace_back("Content-MD5", ContentMd5(request.body, request.body_size));
    request.send_rate = storage_.settings().max_upload_rate;
    storage_.Run(request);
    completed_ = true;
  }

  void Create() {
    S3Storage::Request request;
    request.what = "start of multipart upload";
    request.method = "POST";
    request.object_key = object_key_;
    request.query = {{"uploads", ""}};
    AddObjectLock(request);
    S3Storage::Response response = storage_.Run(request);
    upload_id_ = XmlText(response.body, "UploadId");
    if (upload_id_.empty())
      throw Error(ErrorKind::kIo, "S3 start of multipart upload failed: no UploadId in the answer",
                  "At s3://" + storage_.settings().bucket + "/" + object_key_ + ".");
  }

  // AddObjectLock gives a request that creates the object the storage's
  // retention, counted from now (the request's first attempt: a retry
  // sends the same date).
  void AddObjectLock(S3Storage::Request& request) {
    for (auto& header : ObjectLockHeaders(storage_.settings().object_lock, std::time(nullptr)))
      request.headers.push_back(std::move(header));
  }

  void StartThreads() {
    AllSignalsBlocked blocked;
    for (int i = 0; i < concurrency_; i++)
      threads_.emplace_back(&S3ObjectWriter::UploadLoop, this);
  }

  void StopThreads() noexcept {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    stopping_flag_ = true;
    wake_.notify_all();
    for (std::thread& thread : threads_)
      if (thread.joinable())
        thread.join();
    threads_.clear();
  }

  // StartPart gives current_ the buffer of part next_part_ (throwing past
  // part 10,000), once few enough earlier parts are held: the new buffer
  // plus those held stay within the budget. It reuses the spare buffer when
  // that has the right size, and frees it otherwise.
  void StartPart() {
    uint64_t target = plan_.PartSize(next_part_);
    int max_held = plan_.MaxHeldParts(next_part_);
    std::unique_lock<std::mutex> lock(mutex_);
    WaitForParts(lock, max_held);
    Payload spare;
    if (!spare_.empty()) {
      spare.swap(spare_.back());
      spare_.pop_back();
      held_bytes_ -= spare.capacity();
    }
    if (spare.capacity() == target) {
      current_.swap(spare);
      current_.clear();
    } else {
      Payload().swap(spare);
      current_.reserve(target);
    }
    current_target_ = target;
    uint64_t holding = current_.capacity() + held_bytes_;
    lock.unlock();
    storage_.NoteUploadMemory(holding);
  }

  // SubmitPart hands the filled buffer to the uploaders. It does not wait:
  // with no part being filled, the parts held are at most one more than
  // while filling this one, none larger, which StartPart's wait accounted.
  void SubmitPart() {
    if (upload_id_.empty()) {
      Create();
      StartThreads();
    }
    Part part;
    part.number = next_part_++;
    part.bytes.swap(current_);
    current_target_ = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      held_bytes_ += part.bytes.capacity();
      in_flight_parts_++;
      queue_.push_back(std::move(part));
    }
    wake_.notify_all();
  }

  // WaitForParts waits until at most max_parts are in flight, running the
  // interrupt check and raising the first failure of any part.
  void WaitForParts(std::unique_lock<std::mutex>& lock, int max_parts) {
    for (;;) {
      if (!failure_.empty()) {
        std::string failure = failure_;
        lock.unlock();
        throw Error(ErrorKind::kIo, failure, failure_detail_, failure_hint_);
      }
      if (in_flight_parts_ <= max_parts)
        return;
      done_.wait_for(lock, std::chrono::milliseconds(200));
      lock.unlock();
      storage_.CheckInterrupt();
      lock.lock();
    }
  }

  void WaitForAllParts() {
    std::unique_lock<std::mutex> lock(mutex_);
    WaitForParts(lock, 0);
  }

  // UploadLoop never lets an exception out (that would end the process):
  // whatever goes wrong becomes the writer's failure.
  void UploadLoop() {
    try {
      UploadParts();
    } catch (const std::exception& e) {
      RecordFailure(std::string("S3 upload thread failed: ") + e.what());
    } catch (...) {
      RecordFailure("S3 upload thread failed");
    }
  }

  void RecordFailure(const std::string& what) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (failure_.empty())
      failure_ = what;
    // Nothing more will be taken from the queue: count what is in it as
    // done, so that the main thread stops waiting and sees the failure.
    while (!queue_.empty()) {
      held_bytes_ -= queue_.front().bytes.capacity();
      in_flight_parts_--;
      queue_.pop_front();
    }
    done_.notify_all();
  }

  void UploadParts() {
    HttpClient client;
    for (;;) {
      Part part;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_)
          return;
        part = std::move(queue_.front());
        queue_.pop_front();
      }
      S3Storage::Request request;
      request.what = "upload of part " + std::to_string(part.number);
      request.method = "PUT";
      request.object_key = object_key_;
      request.query = {{"partNumber", std::to_string(part.number)}, {"uploadId", upload_id_}};
      request.body = part.bytes.data();
      request.body_size = part.bytes.size();
      // An upload started with a retention needs an integrity check on
      // every part (object_lock.h).
      if (locked_)
        request.headers = {{"Content-MD5", ContentMd5(request.body, request.body_size)}};
      uint64_t rate = storage_.settings().max_upload_rate;
      request.send_rate = rate > 0 ? std::max<uint64_t>(1, rate / concurrency_) : 0;
      S3Storage::Response response =
          storage_.Exchange(client, request, [this] { return stopping_flag_.load(); });
      std::string etag = response.Header("etag");
      std::unique_lock<std::mutex> lock(mutex_);
      if (response.ok) {
        etags_[part.number] = etag;
      } else if (failure_.empty() && !response.aborted) {
        failure_ = "S3 " + request.what + " failed: " + response.error;
        failure_detail_ = "After " + std::to_string(response.attempts) + " attempts, at s3://" +
                          storage_.settings().bucket + "/" + object_key_ + ".";
        failure_hint_ = HintFor(response.code, response.status, response.error);
      }
      // One buffer is kept for the next part (counted in held_bytes_ until
      // StartPart takes or frees it); another is freed before the part stops
      // counting as in flight, so that StartPart never allocates before the
      // memory it waited for is returned.
      if (spare_.empty()) {
        spare_.push_back(std::move(part.bytes));
      } else {
        lock.unlock();
        uint64_t capacity = part.bytes.capacity();
        Payload().swap(part.bytes);
        lock.lock();
        held_bytes_ -= capacity;
      }
      in_flight_parts_--;
      done_.notify_all();
    }
  }

  void Complete() {
    std::string body = "<CompleteMultipartUpload>";
    for (const auto& entry : etags_)
      body += "<Part><PartNumber>" + std::to_string(entry.first) + "</PartNumber><ETag>" +
              XmlEscape(entry.second) + "</ETag></Part>";
    body += "</CompleteMultipartUpload>";
    if (static_cast<int>(etags_.size()) != next_part_ - 1)
      throw Error(ErrorKind::kInternal, "multipart upload lost track of its parts");
    S3Storage::Request request;
    request.what = "completion of multipart upload";
    request.method = "POST";
    request.object_key = object_key_;
    request.query = {{"uploadId", upload_id_}};
    request.headers = {{"Content-Type", "application/xml"}};
    request.body = reinterpret_cast<const uint8_t*>(body.data());
    request.body_size = body.size();
    request.error_body_possible = true;
    S3Storage::Response response = storage_.Run(request, {200, 404});
    if (!response.ok) {
      // 404 NoSuchUpload after a lost answer: an earlier attempt may have
      // completed the upload. The object existing says so; anything else
      // is the failure it looks like.
      S3Storage::Request head;
      head.what = "check of a completed upload";
      head.method = "HEAD";
      head.object_key = object_key_;
      if (response.attempts < 2 || storage_.Run(head, {200, 404}).status != 200)
        ThrowS3Failure(storage_, request.what, object_key_, response);
    }
    completed_ = true;
  }

  S3Storage& storage_;
  std::string object_key_;
  PartPlan plan_;
  int concurrency_ = 1;
  Payload current_;
  uint64_t current_target_ = 0;  // size of the part being filled; 0: none yet
  int next_part_ = 1;
  std::string upload_id_;
  bool finished_ = false;
  bool completed_ = false;
  bool locked_ = false;  // the storage has object_lock

  std::mutex mutex_;
  std::condition_variable wake_;  // uploaders: a part is queued, or stop
  std::condition_variable done_;  // main thread: a part finished
  std::deque<Part> queue_;
  std::vector<Payload> spare_;  // at most one
  std::vector<std::thread> threads_;
  std::map<int, std::string> etags_;
  uint64_t held_bytes_ = 0;  // capacity of the parts in flight and of spare_
  int in_flight_parts_ = 0;
  bool stopping_ = false;
  std::atomic<bool> stopping_flag_{false};
  std::string failure_;
  std::string failure_detail_;
  std::string failure_hint_;
};

// S3ObjectReader reads an object in ranges, each retried on its own.
class S3ObjectReader : public ObjectReader {
 public:
  S3ObjectReader(S3Storage& storage, std::string object_key, uint64_t size)
      : storage_(storage), object_key_(std::move(object_key)), size_(size) {}

  size_t Read(uint8_t* buffer, size_t capacity) override {
    if (position_ == buffered_.size()) {
      if (offset_ >= size_)
        return 0;
      uint64_t last = std::min<uint64_t>(size_, offset_ + kReadRange) - 1;
      S3Storage::Request request;
      request.what = "download";
      request.method = "GET";
      request.object_key = object_key_;
      request.headers = {
          {"Range", "bytes=" + std::to_string(offset_) + "-" + std::to_string(last)}};
      request.max_response_bytes = kReadRange;
      S3Storage::Response response = storage_.Run(request, {200, 206});
      uint64_t expected = last - offset_ + 1;
      if (response.body.size() != expected)
        throw Error(ErrorKind::kIo,
                    "S3 download returned " + std::to_string(response.body.size()) +
                        " bytes for a range of " + std::to_string(expected),
                    "At " + storage_.Location("") + "/" + object_key_ +
                        "; the object changed while it was read, or the server ignored the range.");
      buffered_ = std::move(response.body);
      position_ = 0;
      offset_ += expected;
    }
    size_t n = std::min(capacity, buffered_.size() - position_);
    std::copy(buffered_.data() + position_, buffered_.data() + position_ + n, buffer);
    position_ += n;
    return n;
  }

 private:
  S3Storage& storage_;
  std::string object_key_;
  uint64_t size_;
  uint64_t offset_ = 0;
  std::string buffered_;
  size_t position_ = 0;
};

}  // namespace

std::unique_ptr<ObjectWriter> S3Storage::Create(const std::string& key) {
  return Create(key, 0);
}

std::unique_ptr<ObjectWriter> S3Storage::Create(const std::string& key, uint64_t expected_size) {
  ValidateKey(key);
  return std::make_unique<S3ObjectWriter>(*this, ObjectKey(key), expected_size);
}

std::unique_ptr<ObjectReader> S3Storage::Open(const std::string& key) {
  ValidateKey(key);
  Request request;
  request.what = "read of object metadata";
  request.method = "HEAD";
  request.object_key = ObjectKey(key);
  Response response = Run(request, {200, 404});
  if (response.status == 404)
    throw Error(ErrorKind::kUndefinedObject, "object " + Location(key) + " does not exist");
  std::string length = response.Header("content-length");
  char* end = nullptr;
  unsigned long long size = std::strtoull(length.c_str(), &end, 10);
  if (length.empty() || end == nullptr || *end != '\0')
    throw Error(ErrorKind::kIo, "S3 answered HEAD of " + Location(key) + " without a size");
  return std::make_unique<S3ObjectReader>(*this, ObjectKey(key), size);
}

std::vector<ObjectInfo> S3Storage::List(const std::string& prefix) {
  std::vector<ObjectInfo> objects;
  std::string base = settings_.prefix.empty() ? "" : settings_.prefix + "/";
  std::string token;
  for (;;) {
    Request request;
    request.what = "listing";
    request.method = "GET";
    request.query = {{"list-type", "2"}, {"prefix", base + prefix}};
    if (!token.empty())
      request.query.emplace_back("continuation-token", token);
    request.max_response_bytes = 16 << 20;
    Response response = Run(request);
    for (std::string_view contents : XmlElements(response.body, "Contents")) {
      std::string key = XmlText(contents, "Key");
      std::string size_text = XmlText(contents, "Size");
      if (key.compare(0, base.size(), base) != 0)
        continue;
      ObjectInfo info;
      info.key = key.substr(base.size());
      info.size = std::strtoull(size_text.c_str(), nullptr, 10);
      objects.push_back(std::move(info));
    }
    if (XmlText(response.body, "IsTruncated") != "true")
      break;
    token = XmlText(response.body, "NextContinuationToken");
    if (token.empty())
      throw Error(ErrorKind::kIo, "S3 listing is truncated but has no continuation token",
                  "At " + Location(prefix) + ".");
  }
  std::sort(objects.begin(), objects.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return objects;
}

// Tidy is best effort: a server or a policy that refuses to list or abort
// uploads (400, 403, 405, 501) leaves them to the bucket's lifecycle rule.
void S3Storage::Tidy(const std::string& directory_key) {
  ValidateKey(directory_key);
  Request list;
  list.what = "listing of unfinished uploads";
  list.method = "GET";
  list.query = {{"uploads", ""}, {"prefix", ObjectKey(directory_key) + "/"}};
  Response listing = Run(list, {200, 400, 403, 405, 501});
  if (!listing.ok)
    return;
  for (std::string_view upload : XmlElements(listing.body, "Upload")) {
    Request abort;
    abort.what = "abort of an unfinished multipart upload";
    abort.method = "DELETE";
    abort.object_key = XmlText(upload, "Key");
    abort.query = {{"uploadId", XmlText(upload, "UploadId")}};
    if (abort.object_key.empty() || abort.query[0].second.empty())
      continue;
    Run(abort, {200, 204, 400, 403, 404, 405, 501});
  }
}

void S3Storage::Remove(const std::string& key) {
  ValidateKey(key);
  Request request;
  request.what = "delete";
  request.method = "DELETE";
  request.object_key = ObjectKey(key);
  Run(request, {200, 204, 404});
}

}  // namespace pgbak
