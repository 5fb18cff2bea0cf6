// stream_restore.h: restoring a custom-format set while it is read back.
//
// A restore used to read the whole data object back, check its SHA-256,
// stage it, and only then run pg_restore -j on the staged copy: the read-back
// and the staging write added a third to the time pg_restore takes. Here
// they overlap with the restore itself:
//
//   1. The data object streams from storage through SHA-256, age and zstd
//      into an ArchiveScanner, which rechunks each table's COPY text and
//      stages the archive in a file, as before.
//   2. When the header and table of contents have passed, and their SHA-256
//      is the toc_sha256 backup_log recorded for the backup, pg_restore
//      --section=pre-data runs on the staged file (which by then holds the
//      TOC) while the rest still arrives. An archive whose TOC hash was not
//      recorded (a backup made before version 1.2) waits until the whole
//      object has been checked; one whose TOC differs is never applied.
//   3. When the tables exist, `jobs` loader threads, each with its own libpq
//      session, COPY every table's data from the staged file, following the
//      staging as it grows, largest table first, in a transaction that
//      truncates the new table first (as pg_restore -j does).
//   4. When the object has been read to its end and its SHA-256 matches
//      backup_log, and a loader has no table left to take while others
//      still load, the indexes and constraints (PRIMARY KEY, UNIQUE) of the
//      tables already loaded are built by a pg_restore of their own, as
//      pg_restore -j builds a table's indexes while others still load.
//   5. When every table is loaded, pg_restore --section=data
//      --section=post-data -j jobs applies the rest (sequence values, large
//      objects, tables it must load itself, then indexes, constraints,
//      triggers, ACLs) with a list that leaves out what was done already.
//
// Nothing that runs code comes from bytes that were not checked first: the
// TOC (every statement pg_restore runs, and the COPY statements) is checked
// against backup_log before step 2, and step 4 runs only after the whole
// object was. COPY text of a damaged object may reach the new tables before
// the damage is found at the end of the object; the restore then fails and
// its caller drops the database it created.
//
// Include after postgres.h.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/archive/archive_scanner.h"
#include "core/archive/load_queue.h"
#include "core/archive/restore_list.h"
#include "core/archive/set_reader.h"
#include "core/base/child_process.h"
#include "core/pipeline/staging_file.h"
#include "pg/jobs/dump_tools.h"

namespace pgbak {

// ListArchive is pg_restore --list of the archive at data_path.
std::string ListArchive(const ServerFacts& facts, const std::string& data_path);

// OwnershipArgs are pg_restore's options for sessions made restore sessions
// with restore_as (see pg/runtime/restore_session.h): "*" loads each object
// as its owner (--use-set-session-authorization), a role name makes that
// role own everything (--no-owner); "" (a dump role that is no superuser)
// changes nothing.
std::vector<std::string> OwnershipArgs(const std::string& restore_as);

// StreamingRestore restores one custom archive into an existing, empty
// database while ReadBackSet stages it (see the top of this file). Create
// it, pass it to ReadBackSet, then call Finish. Destroying it before Finish
// returned stops everything it started (pg_restore, loaders) and waits for
// them; the caller then drops the database.
class StreamingRestore : public StageObserver {
 public:
  // trusted_toc_sha256 is backup_log's toc_sha256 of the backup ("" if none);
  // restore_as is what every session of the restore runs as ("*": each
  // object as its owner, the loaders too).
  StreamingRestore(const ServerFacts& facts, std::string database, int jobs,
                   std::string trusted_toc_sha256, std::string restore_as);
  ~StreamingRestore() override;
  StreamingRestore(const StreamingRestore&) = delete;
  StreamingRestore& operator=(const StreamingRestore&) = delete;

  // SetTocCheck gives a check of the table of contents that must pass
  // (return) before anything of the archive runs; what it throws fails the
  // restore, the entries it returns are left out of it.
  void SetTocCheck(std::function<std::set<int>(const std::vector<TocEntry>&)> check) {
    toc_check_ = std::move(check);
  }
  // Attach is called by ReadBackSet before the first byte is staged: the
  // staging file the scanner writes to.
  void Attach(StagingFile& file) override;
  // OnStaged is called by the stage after the scanner (see StagedSink) each
  // time bytes were handed to the file: it publishes what is in the file to
  // the loaders and looks after pre-data.
  void OnStaged() override;
  // ArchiveListener: the scanner's news.
  void OnTocEnd(const ArchiveScanner& scanner) override;
  void OnTableChunk(size_t table, uint64_t offset, size_t size) override;
  void OnTableEnd(size_t table) override;

  // SetSeparateTables names the tables whose rows are in objects of their
  // own (a parallel export; see export_plan.h), before the archive is read:
  // the loaders wait for them as for the archive's tables, and their
  // indexes wait for their rows.
  // tables are the manifest's entries with an object (TableCount.object;
  // columns: those of its COPY text); a table cut into pieces has one per
  // piece, each loaded by its own loader, side by side.
  void SetSeparateTables(std::vector<TableCount> tables);
  // OnSeparateTableStaged hands the loaders the COPY text of table object
  // object as it is staged at path: the first written bytes of the file
  // (all of it, checked, when done).
  void OnSeparateTableStaged(const std::string& object, const std::string& path, uint64_t written,
                             bool done);

  // Finish completes the restore once the data object (and the separate
  // tables' objects) have been read back and checked (staged at data_path,
  // patches being the scanner's data offsets): waits for pre-data and the
  // loaders, then runs the rest.
  void Finish(const std::string& data_path, const std::vector<OffsetPatch>& patches);

  // Timeline says, for the server log, when each step ended, in seconds
  // since the restore was created.
  std::string Timeline() const;

 private:
  struct Loader;
  // TableLoad is one table's data as the loaders see it.
  struct TableLoad {
    bool loadable = false;  // COPY statement understood: loaders take it
    std::string copy_statement;
    std::string qualified;  // "schema"."table"
    std::string owner;      // loaded as this role
    int dump_id = 0;
    std::vector<std::pair<uint64_t, size_t>> chunks;  // offset and size in the file
    bool ended = false;
    Loader* loader = nullptr;  // who claimed it
    bool loaded = false;
    // A separate table: its rows are in a staged file of their own (fd,
    // closed with the restore, once staged), table_id is its TABLE entry.
    bool separate = false;
    int fd = -1;
    int table_id = 0;
    std::string object;  // a separate table's object
    // One of several pieces of a table: loaded beside the others, so not
    // truncated first (that would wait for, then remove, another piece).
    bool piece = false;
  };
  // Loader is one thread and its session. A loader waiting for data says
  // what it waits for in wants, so that only it is woken when that comes.
  struct Loader {
    PgConnPtr conn{nullptr, PQfinish};
    PGcancel* cancel = nullptr;
    std::thread thread;
    std::condition_variable wake;
    uint64_t wants = kWantsNothing;  // under mutex_
  };
  // Loader::wants: not waiting; waiting for the next chunk of its table (or
  // its end); else the staged size that makes its next chunk readable.
  static constexpr uint64_t kWantsNothing = 0;
  static constexpr uint64_t kWantsNextChunk = UINT64_MAX;

  void StartPreData();

  void PollPreData();
  void StartLoaders();
  void LoaderMain(Loader* loader) noexcept;
  bool LoadTable(Loader* loader, size_t index, std::vector<uint8_t>& buffer);
  int ClaimTable(Loader* loader);
  void Fail(const char* message, const char* detail) noexcept;
  void Fail(const std::string& message, const std::string& detail) noexcept {
    Fail(message.c_str(), detail.c_str());
  }
  void WakeLoaders();
  void Notify() noexcept;
  void StopAll();
  void MaybeStartEarly();
  void PollEarly();
  std::set<int> ReadyPostData() const;
  void ThrowIfFailed();
  double Elapsed() const;

  const ServerFacts& facts_;
  std::string database_;
  int jobs_;
  std::string trusted_toc_;
  std::string restore_as_;
  StagingFile* file_ = nullptr;
  std::string path_;
  int read_fd_ = -1;  // the staging file, read by the loaders
  int wake_fd_ = -1;  // eventfd: a loader finished a table, or failed

  // Main thread only.
  std::chrono::steady_clock::time_point created_ = std::chrono::steady_clock::now();
  double pre_data_started_ = -1, pre_data_ended_ = -1, read_ended_ = -1, loads_ended_ = -1,
         rest_ended_ = -1;
  bool toc_seen_ = false;
  bool toc_trusted_ = false;
  std::string session_sql_;  // what each loader session runs first
  std::function<std::set<int>(const std::vector<TocEntry>&)> toc_check_;
  std::set<int> left_out_;            // what toc_check_ returned
  std::vector<TableCount> separate_;  // SetSeparateTables
  std::string listing_;               // ListArchive of the staged file, once the TOC is there
  std::unique_ptr<ChildProcess> pre_data_;
  std::vector<TocEntry> toc_;
  std::unique_ptr<ChildProcess> early_;  // indexes of loaded tables, while others load
  std::set<int> early_ids_;              // the entries given to it
  int early_runs_ = 0;
  bool pre_data_done_ = false;
  std::vector<std::unique_ptr<Loader>> loaders_;  // changed only while no loader runs
  std::string list_path_;

  // Shared with the loaders, under mutex_.
  mutable std::mutex mutex_;
  std::condition_variable claimable_;  // a table to take, or nothing more to wait for
  std::vector<TableLoad> tables_;
  LoadQueue queue_;            // the loadable tables not yet claimed
  uint64_t staged_ = 0;        // bytes of the staging file readable
  bool staging_done_ = false;  // no more chunks will come
  bool stop_ = false;
  bool failed_ = false;
  std::string error_message_;
  std::string error_detail_;
  size_t loadable_count_ = 0;  // loaded, being loaded or in queue_
  size_t loaded_count_ = 0;
};

}  // namespace pgbak
