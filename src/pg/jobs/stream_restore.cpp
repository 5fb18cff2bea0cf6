// stream_restore.cpp: restoring a custom-format set while it is read back;
// see stream_restore.h.
//
// Threads: the worker's main thread reads, stages, runs pg_restore and waits;
// each loader thread only uses its own libpq session, the staging file (by
// pread) and the state under mutex_, never a PostgreSQL server function. A
// loader that fails (a C++ exception included: nothing may leave a thread,
// or the process aborts and takes the whole cluster through a crash restart)
// records the message and wakes the main thread through an eventfd, which it
// waits on together with the latch; stopping shuts the loaders' sockets
// down, so that no libpq call can keep a thread from being joined. Staging
// wakes only the loader whose next chunk it completed, and a new table only
// one idle loader: a flush every 256 KiB used to wake every loader.
extern "C" {
#include "postgres.h"
}

#include "pg/jobs/stream_restore.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/base/error.h"
#include "core/base/signals_blocked.h"
#include "core/options/backup_options.h"
#include "core/storage/local/local_storage.h"
#include "pg/runtime/restore_session.h"
#include "pg/runtime/settings.h"
#include "pg/runtime/worker_signals.h"

namespace pgbak {

namespace {

// EndsWith says whether text ends with suffix.
bool EndsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// kPage is the granularity at which staged bytes are given back, and
// kReleaseStep how many at a time (each release is a file system
// transaction: per 256 KiB chunk, they slowed loading measurably).
constexpr uint64_t kPage = 4096;
constexpr uint64_t kReleaseStep = 32 << 20;
uint64_t AlignUp(uint64_t offset) {
  return (offset + kPage - 1) / kPage * kPage;
}
uint64_t AlignDown(uint64_t offset) {
  return offset / kPage * kPage;
}

// Release gives the pages of fd in [from, to) back to the file system once
// a loader has sent them: pages still in the page cache are dropped rather
// than written out, and the staging file never holds more than the loaders
// are behind. Nothing reads them again (pg_restore, later, reads only the
// TOC and the blocks the loaders leave to it). Best effort: a file system
// that cannot punch holes keeps the bytes. Returns the new release point.
uint64_t Release(int fd, uint64_t from, uint64_t to) {
  if (to <= from)
    return from;
#ifdef FALLOC_FL_PUNCH_HOLE
  (void)fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(from),
                  static_cast<off_t>(to - from));
#endif
  return to;
}

// ResultMessage is the error of a libpq result (or of the session).
std::string ResultMessage(PGconn* conn, PGresult* result) {
  const char* message = result != nullptr ? PQresultErrorMessage(result) : "";
  if (message == nullptr || message[0] == '\0')
    message = PQerrorMessage(conn);
  return TrimMessage(message);
}

}  // namespace

// ListArchive runs pg_restore --list.
std::string ListArchive(const ServerFacts& facts, const std::string& data_path) {
  StringSink listing;
  RunTool(facts, "pg_restore", {"--list", data_path}, &listing);
  return listing.contents();
}

// OwnershipArgs are pg_restore's options for restore_as sessions.
std::vector<std::string> OwnershipArgs(const std::string& restore_as) {
  if (restore_as.empty())
    return {};
  if (restore_as == kRestoreAsOwners)
    return {"--use-set-session-authorization"};
  return {"--no-owner"};
}

StreamingRestore::StreamingRestore(const ServerFacts& facts, std::string database, int jobs,
                                   std::string trusted_toc_sha256, std::string restore_as)
    : facts_(facts),
      database_(std::move(database)),
      jobs_(std::max(1, jobs)),
      trusted_toc_(std::move(trusted_toc_sha256)),
      restore_as_(std::move(restore_as)) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0)
    ThrowErrno("could not create an eventfd", errno);
}

StreamingRestore::~StreamingRestore() {
  StopAll();
  if (read_fd_ >= 0)
    close(read_fd_);
  for (const TableLoad& table : tables_)
    if (table.fd >= 0)
      close(table.fd);
  close(wake_fd_);
}

void StreamingRestore::SetSeparateTables(std::vector<TableCount> tables) {
  separate_ = std::move(tables);
}

void StreamingRestore::OnSeparateTableStaged(const std::string& object, const std::string& path,
                                             uint64_t written, bool done) {
  bool found = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = 0; i < tables_.size() && !found; i++) {
      TableLoad& load = tables_[i];
      if (!load.separate || load.object != object || load.ended)
        continue;
      if (load.fd < 0) {
        load.fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
        if (load.fd < 0)
          ThrowErrno("could not open \"" + path + "\"", errno);
      }
      uint64_t end = load.chunks.empty() ? 0 : load.chunks.back().first + load.chunks.back().second;
      bool first = load.chunks.empty();
      for (uint64_t offset = end; offset < written; offset += kRestoreChunkSize)
        load.chunks.emplace_back(
            offset, static_cast<size_t>(std::min<uint64_t>(kRestoreChunkSize, written - offset)));
      load.ended = done;
      // Claimable with its first bytes (or, empty, at its end), as an
      // archive's table is; a loader already at it may wait for more.
      if ((first && !load.chunks.empty()) || (done && load.chunks.empty())) {
        if (queue_.Grow(i, std::max<uint64_t>(written, 1))) {
          if (queue_.waiting() == 0)
            claimable_.notify_all();
          else
            claimable_.notify_one();
        }
      } else if (load.loader != nullptr && load.loader->wants == kWantsNextChunk) {
        load.loader->wake.notify_one();
      }
      found = true;
    }
  }
  if (!found)
    throw Error(ErrorKind::kCorrupt,
                "the set holds object " + object + " twice, or one that holds no table it lists");
  // As OnStaged does for the archive: pre-data may have ended meanwhile,
  // and the loaders start then.
  PollPreData();
  ThrowIfFailed();
}

void StreamingRestore::Attach(StagingFile& file) {
  file_ = &file;
  path_ = file.path();
}

// OnTocEnd learns the tables and how to load them, and starts pre-data if
// the TOC is the one the backup wrote. A TOC that is not throws kCorrupt:
// the reader then reports the object's checksum mismatch.
void StreamingRestore::OnTocEnd(const ArchiveScanner& scanner) {
  toc_seen_ = true;
  toc_ = scanner.toc();
  bool encoding_known = !scanner.client_encoding().empty();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tables_.resize(scanner.tables().size());
    for (size_t i = 0; i < tables_.size(); i++) {
      const ArchiveTable& table = scanner.table(i);
      TableLoad& load = tables_[i];
      load.copy_statement = table.copy_statement;
      load.qualified = QuoteIdentifier(table.schema) + "." + QuoteIdentifier(table.table);
      load.owner = table.owner;
      load.dump_id = table.dump_id;
      // Anything else (an overlong statement, an archive without ENCODING)
      // is left to pg_restore.
      load.loadable = encoding_known && load.copy_statement.rfind("COPY ", 0) == 0 &&
                      EndsWith(load.copy_statement, " FROM stdin;\n");
      if (load.loadable) {
        queue_.Add(i);
        loadable_count_++;
      }
    }
    // The tables in objects of their own, which loaders wait for as for a
    // table whose data has not arrived yet.
    std::map<std::pair<std::string, std::string>, int> pieces;
    for (const TableCount& table : separate_)
      pieces[{table.schema, table.table}]++;
    for (const TableCount& table : separate_) {
      const TocEntry* entry = nullptr;
      for (const TocEntry& candidate : toc_)
        if (candidate.desc == "TABLE" && candidate.namespace_ == table.schema &&
            candidate.tag == table.table)
          entry = &candidate;
      std::string qualified = QuoteIdentifier(table.schema) + "." + QuoteIdentifier(table.table);
      if (entry == nullptr)
        throw Error(ErrorKind::kCorrupt, "the set holds the rows of table " + qualified +
                                             " in an object of its own, but its archive does "
                                             "not define that table");
      TableLoad load;
      load.loadable = true;
      load.separate = true;
      load.object = table.object;
      load.piece = pieces[{table.schema, table.table}] > 1;
      std::string column_list;
      for (const std::string& column : table.columns)
        column_list += (column_list.empty() ? "" : ", ") + QuoteIdentifier(column);
      load.copy_statement = "COPY " + qualified +
                            (column_list.empty() ? "" : " (" + column_list + ")") +
                            " FROM stdin;\n";
      load.qualified = qualified;
      load.owner = entry->owner;
      load.table_id = entry->dump_id;
      tables_.push_back(std::move(load));
      queue_.Add(tables_.size() - 1);
      loadable_count_++;
    }
  }
  // What pg_restore sets at the start of each of its sessions
  // (_doSetFixedOutputState in pg_backup_archiver.c).
  bool std_strings = scanner.standard_conforming_strings();
  session_sql_ =
      "SET statement_timeout = 0; SET lock_timeout = 0; "
      "SET idle_in_transaction_session_timeout = 0; SET client_encoding = '" +
      scanner.client_encoding() +
      "'; SET standard_conforming_strings = " + (std_strings ? "on" : "off") +
      "; SELECT pg_catalog.set_config('search_path', '', false); "
      "SET check_function_bodies = false; SET xmloption = content; "
      "SET client_min_messages = warning; SET row_security = off;" +
      (std_strings ? "" : " SET escape_string_warning = off;");
  if (trusted_toc_.empty())
    return;  // a backup made before toc_sha256: wait for the whole object
  if (scanner.toc_sha256() != trusted_toc_)
    throw Error(ErrorKind::kCorrupt,
                "the archive's table of contents is not the one the backup wrote",
                "SHA-256 " + scanner.toc_sha256() + ", backup_log has " + trusted_toc_ + ".");
  toc_trusted_ = true;
  if (toc_check_)
    left_out_ = toc_check_(toc_);
  file_->Flush();  // pg_restore reads the TOC from the file
  StartPreData();
}

// OnTableChunk records where a chunk of a table is; the first one makes the
// table one a loader can take, a later one is what the table's loader may
// be waiting for.
void StreamingRestore::OnTableChunk(size_t table, uint64_t offset, size_t size) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (table >= tables_.size())
    return;
  TableLoad& load = tables_[table];
  load.chunks.emplace_back(offset, size);
  if (queue_.Grow(table, size)) {
    // One idle loader takes it; once no table is left to wait for, the
    // others can stop waiting.
    if (queue_.waiting() == 0)
      claimable_.notify_all();
    else
      claimable_.notify_one();
  } else if (load.loader != nullptr && load.loader->wants == kWantsNextChunk) {
    load.loader->wants = offset + size;
    if (load.loader->wants <= staged_)
      load.loader->wake.notify_one();
  }
}

void StreamingRestore::OnTableEnd(size_t table) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (table >= tables_.size())
    return;
  tables_[table].ended = true;
  Loader* loader = tables_[table].loader;
  if (loader != nullptr && loader->wants == kWantsNextChunk)
    loader->wake.notify_one();
}

// OnStaged publishes new bytes of the file to the loaders; it runs for
// every piece the scanner passes on, so it does nothing unless the file grew,
// and wakes only the loaders whose next chunk is now readable.
void StreamingRestore::OnStaged() {
  uint64_t written = file_->written();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (written == staged_)
      return;
    staged_ = written;
    for (const std::unique_ptr<Loader>& loader : loaders_)
      if (loader->wants != kWantsNothing && loader->wants <= staged_)
        loader->wake.notify_one();
  }
  PollPreData();
  ThrowIfFailed();
}

// WakeLoaders wakes every loader, waiting for a table or for data, to look
// again (stop, failure, end of staging); call with mutex_ held.
void StreamingRestore::WakeLoaders() {
  claimable_.notify_all();
  for (const std::unique_ptr<Loader>& loader : loaders_)
    loader->wake.notify_all();
}

// StartPreData runs pg_restore --section=pre-data on the staged file.
void StreamingRestore::StartPreData() {
  listing_ = ListArchive(facts_, path_);
  list_path_ = WriteRestoreList(listing_, path_, left_out_);
  ChildSpec spec;
  spec.program = facts_.bin_dir + "/pg_restore";
  // Pre-data creates objects, runs none of their code (no row exists yet,
  // function bodies are not checked), and is applied as pg_restore does by
  // default: created by the restoring role, then given to their owners. As
  // each owner instead (--use-set-session-authorization), an object whose
  // owner may create in a schema only through a grant restored later would
  // be refused. Loading data and post-data, where code runs, happen in
  // restore sessions, as each object's owner.
  spec.args = {"--section=pre-data",
               "--exit-on-error",
               "--no-password",
               "--dbname=dbname=" + ConnInfoValue(database_),
               "--use-list=" + list_path_,
               path_};
  spec.env = ChildEnvironment(facts_);
  pre_data_ = std::make_unique<ChildProcess>(spec);
  pre_data_started_ = Elapsed();
}

// PollPreData looks after a running pre-data pg_restore without waiting;
// when it has succeeded, the loaders start.
void StreamingRestore::PollPreData() {
  if (pre_data_ == nullptr || pre_data_done_)
    return;
  uint8_t discard[4096];
  while (pre_data_->ReadStdout(discard, sizeof(discard)) > 0) {
  }
  pre_data_->DrainStderr();
  if (!pre_data_->TryReap())
    return;
  pre_data_->DrainStderr();
  if (!pre_data_->Succeeded()) {
    std::string tail = TrimMessage(pre_data_->stderr_tail());
    throw Error(ErrorKind::kChildFailed,
                "pg_restore (pre-data) failed: " + pre_data_->DescribeExit(), tail);
  }
  pre_data_done_ = true;
  pre_data_ended_ = Elapsed();
  StartLoaders();
}

// StartLoaders opens one session per loader (no more than there are
// tables) and starts their threads.
void StreamingRestore::StartLoaders() {
  size_t count = std::min(static_cast<size_t>(jobs_), loadable_count_ - loaded_count_);
  if (count == 0)
    return;
  if (read_fd_ < 0)
    read_fd_ = open(path_.c_str(), O_RDWR | O_CLOEXEC);
  if (read_fd_ < 0)
    ThrowErrno("could not open \"" + path_ + "\"", errno);
  // Loaders are added while none runs: the main thread reads loaders_
  // without the lock (WakeLoaders and OnStaged take it for the loaders'
  // state, not for the vector).
  std::vector<std::unique_ptr<Loader>> loaders;
  for (size_t i = 0; i < count; i++) {
    loaders.push_back(std::make_unique<Loader>());
    loaders.back()->conn = ConnectLocal(facts_, database_, restore_as_);
    loaders.back()->cancel = PQgetCancel(loaders.back()->conn.get());
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    loaders_ = std::move(loaders);
  }
  AllSignalsBlocked blocked;
  for (const std::unique_ptr<Loader>& loader : loaders_)
    loader->thread = std::thread(&StreamingRestore::LoaderMain, this, loader.get());
}

// LoaderMain sets its session up as pg_restore does, then loads tables
// until there are none left. Whatever goes wrong, a C++ exception included,
// becomes the restore's failure: nothing may leave the thread.
void StreamingRestore::LoaderMain(Loader* loader) noexcept {
  try {
    PGconn* conn = loader->conn.get();
    PGresult* result = PQexec(conn, session_sql_.c_str());
    bool ready = PQresultStatus(result) == PGRES_COMMAND_OK;
    if (!ready)
      Fail("could not set up a session to load tables", ResultMessage(conn, result));
    PQclear(result);
    std::vector<uint8_t> buffer(kRestoreChunkSize);
    while (ready) {
      int index = ClaimTable(loader);
      if (index < 0 || !LoadTable(loader, static_cast<size_t>(index), buffer))
        break;
    }
  } catch (const std::exception& e) {
    Fail("a loader failed", e.what());
  } catch (...) {
    Fail("a loader failed", "unknown C++ exception");
  }
  Notify();
}

// ClaimTable waits for a table that has started to arrive and nobody loads,
// and takes the largest; -1 when there is nothing left to take.
int StreamingRestore::ClaimTable(Loader* loader) {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (stop_ || failed_)
      return -1;
    if (std::optional<size_t> table = queue_.Claim()) {
      tables_[*table].loader = loader;
      return static_cast<int>(*table);
    }
    if (queue_.waiting() == 0 || staging_done_)
      return -1;
    claimable_.wait(lock);
  }
}

// LoadTable copies one table's data from the staging file into its table,
// in a transaction that truncates the table first (pg_restore -j does the
// same for a table it created: with wal_level minimal the COPY then skips
// the WAL). False if it failed or was stopped.
bool StreamingRestore::LoadTable(Loader* loader, size_t index, std::vector<uint8_t>& buffer) {
  PGconn* conn = loader->conn.get();
  std::string qualified, copy, owner;
  int fd;
  bool piece;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    qualified = tables_[index].qualified;
    copy = tables_[index].copy_statement;
    owner = tables_[index].owner;
    fd = tables_[index].fd >= 0 ? tables_[index].fd : read_fd_;
    piece = tables_[index].piece;
  }
  std::string what = "loading table " + qualified;
  auto exec = [&](const std::string& sql, ExecStatusType expected) {
    PGresult* result = PQexec(conn, sql.c_str());
    bool ok = PQresultStatus(result) == expected;
    if (!ok)
      Fail(what + " failed", ResultMessage(conn, result));
    PQclear(result);
    return ok;
  };
  uint64_t released = 0;  // the file up to here is given back
  // As pg_restore --use-set-session-authorization does: the table's
  // constraints, domains and generated columns run with its owner's rights.
  if (restore_as_ == kRestoreAsOwners &&
      !exec(owner.empty() ? std::string("RESET SESSION AUTHORIZATION")
                          : "SET SESSION AUTHORIZATION " + QuoteIdentifier(owner),
            PGRES_COMMAND_OK))
    return false;
  if (!exec("BEGIN", PGRES_COMMAND_OK) ||
      (!piece && !exec("TRUNCATE TABLE ONLY " + qualified, PGRES_COMMAND_OK)) ||
      !exec(copy, PGRES_COPY_IN))
    return false;
  for (size_t chunk = 0;; chunk++) {
    std::pair<uint64_t, size_t> piece;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      const TableLoad& table = tables_[index];
      for (;;) {
        if (stop_ || failed_)
          break;
        if (chunk < table.chunks.size()) {
          uint64_t end = table.chunks[chunk].first + table.chunks[chunk].second;
          if (table.separate || end <= staged_)
            break;
          loader->wants = end;
        } else {
          if (table.ended || staging_done_)
            break;
          loader->wants = kWantsNextChunk;
        }
        loader->wake.wait(lock);
      }
      loader->wants = kWantsNothing;
      if (stop_ || failed_) {
        lock.unlock();
        (void)PQputCopyEnd(conn, "restore stopped");
        return false;
      }
      if (chunk == table.chunks.size()) {
        if (!table.ended) {
          lock.unlock();
          Fail(what + " failed", "the archive ended inside the table's data");
          return false;
        }
        break;
      }
      piece = table.chunks[chunk];
    }
    if (piece.second > buffer.size()) {
      Fail(what + " failed", "a staged chunk is larger than the loader's buffer");
      return false;
    }
    size_t done = 0;
    while (done < piece.second) {
      ssize_t n = pread(fd, buffer.data() + done, piece.second - done,
                        static_cast<off_t>(piece.first + done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        Fail(what + " failed",
             n < 0 ? std::string("could not read the staged archive: ") + strerror(errno)
                   : "the staged archive is shorter than written");
        return false;
      }
      done += static_cast<size_t>(n);
    }
    if (PQputCopyData(conn, reinterpret_cast<const char*>(buffer.data()),
                      static_cast<int>(piece.second)) != 1) {
      Fail(what + " failed", ResultMessage(conn, nullptr));
      return false;
    }
    if (chunk == 0)
      released = AlignUp(piece.first);
    if (piece.first + piece.second - released >= kReleaseStep)
      released = Release(fd, released, AlignDown(piece.first + piece.second));
  }
  if (PQputCopyEnd(conn, nullptr) != 1) {
    Fail(what + " failed", ResultMessage(conn, nullptr));
    return false;
  }
  bool copied = true;
  while (PGresult* result = PQgetResult(conn)) {
    if (copied && PQresultStatus(result) != PGRES_COMMAND_OK) {
      Fail(what + " failed", ResultMessage(conn, result));
      copied = false;
    }
    PQclear(result);
  }
  if (!copied || !exec("COMMIT", PGRES_COMMAND_OK))
    return false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tables_[index].loaded = true;
    loaded_count_++;
  }
  Notify();
  return true;
}

// Fail records a loader's first failure and wakes everyone. It never
// throws: a loader has nobody to throw to. If even the message cannot be
// kept, the failure still is.
void StreamingRestore::Fail(const char* message, const char* detail) noexcept {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (failed_ || stop_)
      return;
    failed_ = true;
    try {
      error_message_ = message;
      error_detail_ = detail;
    } catch (...) {
      error_message_.clear();
      error_detail_.clear();
    }
    WakeLoaders();
  }
  Notify();
}

// Notify wakes the main thread.
void StreamingRestore::Notify() noexcept {
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

// ThrowIfFailed throws a loader's failure in the main thread.
void StreamingRestore::ThrowIfFailed() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (failed_)
    throw Error(ErrorKind::kChildFailed,
                error_message_.empty() ? "a loader failed (out of memory)" : error_message_,
                error_detail_);
}

// StopAll stops pre-data and the loaders and waits for them; the loaders'
// sessions are cut, so that their backends roll back and no libpq call
// blocks a thread.
void StreamingRestore::StopAll() {
  bool unfinished;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    unfinished = loaded_count_ < loadable_count_ || failed_;
    WakeLoaders();
  }
  for (const std::unique_ptr<Loader>& loader : loaders_) {
    if (unfinished && loader->thread.joinable()) {
      char error[256];
      if (loader->cancel != nullptr)
        (void)PQcancel(loader->cancel, error, sizeof(error));
      (void)shutdown(PQsocket(loader->conn.get()), SHUT_RDWR);
    }
    if (loader->thread.joinable())
      loader->thread.join();
    if (loader->cancel != nullptr)
      PQfreeCancel(loader->cancel);
    loader->cancel = nullptr;
    loader->conn.reset();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (TableLoad& table : tables_)
      table.loader = nullptr;
    loaders_.clear();
  }
  if (pre_data_ != nullptr && !pre_data_->exited())
    pre_data_->Stop(setting_cancel_grace_ms);
  if (early_ != nullptr && !early_->exited())
    early_->Stop(setting_cancel_grace_ms);
}

// ReadyPostData lists the indexes and constraints (post-data INDEX and
// CONSTRAINT entries) that can be built now: everything they depend on is
// pre-data, a table the loaders have loaded, or such an entry itself.
// Anything else (foreign keys, triggers, a table pg_restore still has to
// load) waits for the final pg_restore. Main thread, loaders running.
std::set<int> StreamingRestore::ReadyPostData() const {
  std::map<int, const TocEntry*> by_id;
  for (const TocEntry& entry : toc_)
    by_id[entry.dump_id] = &entry;
  std::set<int> loaded;              // TABLE DATA entries loaded
  std::set<int> separate_waiting;    // TABLE entries of separate tables (a piece) not loaded
  std::set<int> separate_tables;     // TABLE entries of separate tables
  std::map<int, int> data_of_table;  // TABLE entry -> its TABLE DATA entry
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const TableLoad& table : tables_) {
      if (table.separate)
        separate_tables.insert(table.table_id);
      if (table.separate && !table.loaded)
        separate_waiting.insert(table.table_id);
      else if (!table.separate && table.loaded)
        loaded.insert(table.dump_id);
    }
  }
  for (const TocEntry& entry : toc_) {
    if (entry.desc != "TABLE DATA")
      continue;
    for (int dependency : entry.dependencies) {
      auto found = by_id.find(dependency);
      if (found != by_id.end() && found->second->desc == "TABLE")
        data_of_table[dependency] = entry.dump_id;
    }
  }
  std::map<int, bool> known;  // memo; false also while being decided (no cycles)
  std::function<bool(const TocEntry&)> ready = [&](const TocEntry& entry) {
    auto memo = known.find(entry.dump_id);
    if (memo != known.end())
      return memo->second;
    known[entry.dump_id] = false;
    if (entry.section != kSectionPostData || (entry.desc != "INDEX" && entry.desc != "CONSTRAINT"))
      return false;
    for (int dependency : entry.dependencies) {
      auto found = by_id.find(dependency);
      if (found == by_id.end())
        continue;  // pg_restore ignores it too
      const TocEntry& on = *found->second;
      bool ok;
      if (on.desc == "TABLE DATA") {
        ok = loaded.count(on.dump_id) != 0;
      } else if (on.desc == "TABLE") {
        auto data = data_of_table.find(on.dump_id);
        if (separate_tables.count(on.dump_id) != 0)
          ok = separate_waiting.count(on.dump_id) == 0;
        else
          ok = data == data_of_table.end() || loaded.count(data->second) != 0;
      } else {
        ok = on.section == kSectionPreData || (on.section == kSectionPostData && ready(on));
      }
      if (!ok)
        return false;
    }
    known[entry.dump_id] = true;
    return true;
  };
  std::set<int> ids;
  for (const TocEntry& entry : toc_)
    if (early_ids_.count(entry.dump_id) == 0 && ready(entry))
      ids.insert(entry.dump_id);
  return ids;
}

// MaybeStartEarly starts a pg_restore of the indexes and constraints that
// are ready, when a loader has nothing left to take (so that at most jobs
// sessions work at a time) and no such pg_restore runs already.
void StreamingRestore::MaybeStartEarly() {
  if (early_ != nullptr || toc_.empty())
    return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queue_.unclaimed() > 0)
      return;  // a free loader takes it
    size_t loading = queue_.claimed() - loaded_count_;
    if (loading == 0 || loading >= static_cast<size_t>(jobs_))
      return;
  }
  std::set<int> ready = ReadyPostData();
  if (ready.empty())
    return;
  std::set<int> skip = left_out_;
  for (const TocEntry& entry : toc_)
    if (ready.count(entry.dump_id) == 0)
      skip.insert(entry.dump_id);
  early_ids_.insert(ready.begin(), ready.end());
  ChildSpec spec;
  spec.program = facts_.bin_dir + "/pg_restore";
  spec.args = {
      "--exit-on-error", "--no-password", "--dbname=dbname=" + ConnInfoValue(database_),
      "--use-list=" + WriteRestoreList(listing_, path_, skip,
                                       ".early" + std::to_string(++early_runs_) + ".list")};
  for (const std::string& arg : OwnershipArgs(restore_as_))
    spec.args.push_back(arg);
  spec.args.push_back(path_);
  spec.env = ChildEnvironment(facts_, restore_as_);
  early_ = std::make_unique<ChildProcess>(spec);
}

// PollEarly looks after a running early pg_restore without waiting.
void StreamingRestore::PollEarly() {
  if (early_ == nullptr)
    return;
  uint8_t discard[4096];
  while (early_->ReadStdout(discard, sizeof(discard)) > 0) {
  }
  early_->DrainStderr();
  if (!early_->TryReap())
    return;
  early_->DrainStderr();
  if (!early_->Succeeded())
    throw Error(ErrorKind::kChildFailed, "pg_restore (indexes) failed: " + early_->DescribeExit(),
                TrimMessage(early_->stderr_tail()));
  early_.reset();
}

// Finish waits for pre-data (starting it now if the TOC could not be
// trusted before the whole object was checked) and for the loaders, then
// restores everything else.
void StreamingRestore::Finish(const std::string& data_path,
                              const std::vector<OffsetPatch>& patches) {
  path_ = data_path;
  read_ended_ = Elapsed();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Every separate table has its rows staged by now: one that has not
    // would be restored empty.
    for (const TableLoad& table : tables_)
      if (table.separate && !table.ended)
        throw Error(ErrorKind::kCorrupt, "the rows of table " + table.qualified +
                                             " were not read back: the set lists no object "
                                             "holding them");
    staging_done_ = true;
    // Tables the scanner never saw the whole of (it gave up on the archive)
    // are pg_restore's.
    for (size_t i = 0; i < tables_.size(); i++) {
      TableLoad& table = tables_[i];
      if (table.loadable && table.loader == nullptr && !table.ended && queue_.Withdraw(i)) {
        table.loadable = false;
        loadable_count_--;
      }
    }
    WakeLoaders();
  }
  if (pre_data_ == nullptr) {
    if (toc_check_)
      left_out_ = toc_check_(toc_);
    StartPreData();
  }
  std::vector<int> fds, ready;
  while (!pre_data_done_) {
    fds.clear();
    if (pre_data_->stdout_fd() >= 0)
      fds.push_back(pre_data_->stdout_fd());
    if (pre_data_->stderr_fd() >= 0)
      fds.push_back(pre_data_->stderr_fd());
    WaitForInput(fds, 100, ready);
    ThrowIfStopping();
    PollPreData();
  }
  // Now that no pg_restore reads the TOC, fill in its data offsets.
  ApplyOffsetPatches(path_, patches);
  // Wait for the loads, building indexes of loaded tables meanwhile, then
  // for the last such build.
  for (bool loads_done = false; !loads_done || early_ != nullptr;) {
    ThrowIfFailed();
    PollEarly();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      loads_done = loaded_count_ == loadable_count_;
    }
    if (!loads_done)
      MaybeStartEarly();
    else if (early_ == nullptr)
      break;
    fds.assign(1, wake_fd_);
    if (early_ != nullptr && early_->stdout_fd() >= 0)
      fds.push_back(early_->stdout_fd());
    if (early_ != nullptr && early_->stderr_fd() >= 0)
      fds.push_back(early_->stderr_fd());
    WaitForInput(fds, early_ != nullptr ? 100 : 1000, ready);
    uint64_t events;
    (void)!read(wake_fd_, &events, sizeof(events));
    ThrowIfStopping();
  }
  StopAll();
  loads_ended_ = Elapsed();
  std::set<int> loaded = early_ids_;  // done already: not again
  loaded.insert(left_out_.begin(), left_out_.end());
  for (const TableLoad& table : tables_)
    if (table.loadable && !table.separate)
      loaded.insert(table.dump_id);
  std::vector<std::string> args = {
      "--section=data",
      "--section=post-data",
      "--exit-on-error",
      "--no-password",
      "--dbname=dbname=" + ConnInfoValue(database_),
      "--use-list=" + WriteRestoreList(listing_, path_, loaded, ".rest.list")};
  if (jobs_ > 1)
    args.push_back("--jobs=" + std::to_string(jobs_));
  for (const std::string& arg : OwnershipArgs(restore_as_))
    args.push_back(arg);
  args.push_back(path_);
  RunTool(facts_, "pg_restore", args, nullptr, restore_as_);
  rest_ended_ = Elapsed();
}

double StreamingRestore::Elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - created_).count();
}

std::string StreamingRestore::Timeline() const {
  char line[256];
  snprintf(line, sizeof(line),
           "pre-data %.2f to %.2f s, read back by %.2f s, %zu of %zu tables (or pieces) loaded by "
           "%.2f s "
           "(%zu indexes and constraints built meanwhile), the rest by %.2f s",
           pre_data_started_, pre_data_ended_, read_ended_, loaded_count_, tables_.size(),
           loads_ended_, early_ids_.size(), rest_ended_);
  return line;
}

}  // namespace pgbak
