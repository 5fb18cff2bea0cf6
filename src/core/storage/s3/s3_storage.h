// s3_storage.h: the S3-compatible object storage driver.
//
// Every request is signed by our own SigV4 (core/sigv4.h) and sent by
// libcurl (core/http_client.h). An object is written with one PUT when it is
// smaller than a part, else as a streaming multipart upload whose parts are
// uploaded by a few threads while the stream goes on. A failed request is
// retried with exponential backoff and jitter (network errors, 5xx, 429/503
// SlowDown, RequestTimeout); a part is retried on its own, never the whole
// object. An object appears under its key only when the single PUT or
// CompleteMultipartUpload succeeded; a writer that fails or is destroyed
// unfinished aborts its multipart upload.
//
// Memory: one upload holds at most upload_memory bytes, whatever the
// object's size: the part being filled plus the earlier parts in flight or
// kept for reuse (s3_part_plan.h). Part sizes are capped at half the budget
// and fewer parts fly as they grow, rather than streaming parts larger than
// memory: a part stays retryable from its own bytes (the input, pg_dump's
// output, cannot be read twice) without a spool file. The price is a largest
// object that follows from the budget, 1.69 TiB at the default 512 MiB.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/http/http_client.h"
#include "core/storage/s3/object_lock.h"
#include "core/storage/s3/s3_part_plan.h"
#include "core/storage/s3/sigv4.h"
#include "core/storage/storage.h"

namespace pgbak {

// S3RetryPolicy bounds the attempts of one request.
struct S3RetryPolicy {
  int max_attempts = 8;
  long initial_backoff_ms = 250;
  long max_backoff_ms = 20000;
  long connect_timeout_ms = 10000;
  long low_speed_time_s = 60;  // a transfer stalled this long is retried
};

// S3Settings is a validated storage definition (see storage_definition.h).
struct S3Settings {
  std::string bucket;
  std::string prefix;    // "" or "a/b" (no leading or trailing '/')
  std::string endpoint;  // scheme://host[:port], no path
  std::string region = "us-east-1";
  bool path_style = true;  // https://host/bucket/key rather than https://bucket.host/key
  AwsCredentials credentials;
  TlsSettings tls;
  uint64_t max_upload_rate = 0;           // bytes per second over all parts; 0: unthrottled
  uint64_t part_size = kDefaultPartSize;  // the first parts' size; they grow (s3_part_plan.h)
  int concurrency = kDefaultConcurrency;
  uint64_t upload_memory = 0;  // bytes one upload may hold; 0: EffectiveUploadMemory's default
  // object_lock: every object is created with this retention
  // (object_lock.h); its PutObject and UploadPart requests carry Content-MD5.
  ObjectLock object_lock;
  S3RetryPolicy retry;
};

// S3Storage stores objects under s3://bucket/prefix/.
class S3Storage : public Storage {
 public:
  explicit S3Storage(S3Settings settings);
  ~S3Storage() override;

  std::unique_ptr<ObjectWriter> Create(const std::string& key) override;
  // Create with expected_size (bytes, 0: unknown; an estimate such as the
  // database's size) starts with parts large enough that 10,000 of them hold
  // it, within upload_memory.
  std::unique_ptr<ObjectWriter> Create(const std::string& key, uint64_t expected_size);
  std::unique_ptr<ObjectReader> Open(const std::string& key) override;
  std::vector<ObjectInfo> List(const std::string& prefix) override;
  void Remove(const std::string& key) override;
  std::string Location(const std::string& key) const override;
  // Tidy aborts the multipart uploads left open below directory_key by a
  // writer that died (kill -9, a crash): their parts are invisible but
  // stored, and billed. Servers without ListMultipartUploads are skipped.
  void Tidy(const std::string& directory_key) override;

  // SetInterruptCheck installs a callable run often, on the calling thread,
  // while a call waits for the network; it stops the wait by throwing.
  void SetInterruptCheck(std::function<void()> check) { interrupt_check_ = std::move(check); }
  // CheckInterrupt runs the interrupt check (on the main thread only).
  void CheckInterrupt() {
    if (interrupt_check_)
      interrupt_check_();
  }

  const S3Settings& settings() const { return settings_; }
  // UploadMemoryPeak is the most bytes one writer of this storage has held
  // at once (part buffers, by capacity), for tests and monitoring.
  uint64_t UploadMemoryPeak() const { return upload_memory_peak_.load(); }
  // NoteUploadMemory records what a writer holds (any thread).
  void NoteUploadMemory(uint64_t bytes);

  // Internal, shared with the writer and reader.
  struct Request;
  struct Response;
  // Exchange runs one S3 request with retries on the calling thread's
  // client; cancelled (if given) stops it between and during attempts.
  Response Exchange(HttpClient& client, const Request& request,
                    const std::function<bool()>& cancelled);
  // Run is Exchange on the main thread's client, honouring the interrupt
  // check; it throws the S3 error unless the status is in accepted.
  Response Run(const Request& request, std::vector<long> accepted = {200});
  std::string ObjectKey(const std::string& key) const;

 private:
  S3Settings settings_;
  std::unique_ptr<HttpClient> client_;
  std::function<void()> interrupt_check_;
  std::atomic<uint64_t> upload_memory_peak_{0};
};

}  // namespace pgbak
