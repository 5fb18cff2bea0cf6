// parallel_export.h: the COPY streams of a backup with jobs > 1.
//
// pg_dump writes the definitions and the small tables; meanwhile `jobs`
// threads, each with a libpq session that imports the dump's exported
// snapshot, take the large tables from one queue (largest first, see
// core/archive/export_plan.h) and store each one's COPY text, through zstd
// (and age) and SHA-256, as an object of its own. The threads use libpq,
// the pipeline and their own storage handle only, never PostgreSQL's API:
// the worker's main thread serves them as a SideChannel of pg_dump's loop
// (their news arrives on an eventfd) and reports their bytes.
//
// Include after postgres.h.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/archive/export_plan.h"
#include "core/archive/manifest.h"
#include "core/archive/set_layout.h"
#include "core/base/error.h"
#include "core/crypto/age.h"
#include "core/storage/storage.h"
#include "pg/jobs/dump_tools.h"

namespace pgbak {

// ExportedTable is one table stored as an object of its own.
struct ExportedTable {
  ExportTable table;
  ManifestObject object;  // role "table_data"
  int64_t rows = 0;       // COPY's own count
  // The columns of its COPY text, in order, as the snapshot has them.
  std::vector<std::string> columns;
};

// ExportSettings are what every stream writes with.
struct ExportSettings {
  std::string set_key;  // the set's directory in the storage
  std::string suffix;   // ".age" when encrypted
  int zstd_level = 3;
  int zstd_threads = 1;  // per stream
  std::vector<AgeRecipient> recipients;
  int64_t lock_timeout_ms = 0;  // each table's lock wait (0: none)
  // Tests (pgbak.fault_pause = 'backup_copy'): the first stream to have
  // read a row of a table stops reading there, its COPY unfinished, until
  // its session's backend is gone (pg_terminate_backend) or the backup
  // stops, at most five minutes; the main thread logs where (operation_id,
  // the backend's pid).
  bool pause_in_copy = false;
  int64_t operation_id = 0;
};

// ParallelExport runs the streams. Construct it on the main thread (it
// connects and imports the snapshot there), Start() it, serve it as a
// SideChannel until Done(), then take Results(). Destroying it stops the
// streams (their queries are cancelled) and waits for them; objects not
// finished are not stored.
class ParallelExport : public SideChannel {
 public:
  // storages holds one storage handle per stream (streams share nothing).
  ParallelExport(const ServerFacts& facts, const std::string& database, const std::string& snapshot,
                 std::vector<ExportTable> tables, std::vector<std::unique_ptr<Storage>> storages,
                 ExportSettings settings);
  ~ParallelExport() override;
  ParallelExport(const ParallelExport&) = delete;
  ParallelExport& operator=(const ParallelExport&) = delete;

  void Start();
  // SideChannel: the eventfd while a stream runs; OnReadable reports the
  // bytes stored meanwhile and throws the first stream's error.
  int Socket() const override;
  void OnReadable() override;
  bool Done() const override;
  // Results are the exported tables in plan order; after Done().
  std::vector<ExportedTable> Results() const;

 private:
  struct Stream {
    PgConnPtr conn{nullptr, PQfinish};
    PGcancel* cancel = nullptr;
    // The settings that shape COPY text, as set up (see kOutputSettings):
    // a piece's owner's code must not have changed them.
    std::string settings;
    std::unique_ptr<Storage> storage;
    std::thread thread;
  };
  void StreamMain(Stream* stream) noexcept;
  void ExportOne(Stream& stream, size_t index);
  void Notify() noexcept;
  void Stop() noexcept;

  ExportSettings settings_;
  std::vector<ExportTable> tables_;
  TableQueue queue_;
  std::vector<std::unique_ptr<Stream>> streams_;
  int wake_fd_ = -1;  // eventfd: a stream finished a table, ended or failed
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> unreported_bytes_{0};
  std::atomic<int> running_{0};
  std::atomic<bool> copy_paused_{false};  // pause_in_copy: a stream took it
  std::atomic<int> paused_backend_{0};    // its backend, until logged
  void PauseInCopy(PGconn* conn) noexcept;

  mutable std::mutex mutex_;            // guards what follows
  std::vector<ExportedTable> results_;  // by plan index; rows < 0 until done
  std::vector<bool> done_;
  bool failed_ = false;
  ErrorKind error_kind_ = ErrorKind::kIo;
  std::string error_message_;
  std::string error_detail_;
};

}  // namespace pgbak
