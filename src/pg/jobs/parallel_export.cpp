// parallel_export.cpp: the COPY streams of a backup with jobs > 1; see
// parallel_export.h.

extern "C" {
#include "postgres.h"
}

#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "core/archive/database_properties.h"
#include "core/base/signals_blocked.h"
#include "core/options/backup_options.h"
#include "core/pipeline/meter_sink.h"
#include "core/pipeline/zstd_sink.h"
#include "pg/boundary/boundary.h"
#include "pg/jobs/parallel_export.h"
#include "pg/runtime/restore_session.h"
#include "pg/runtime/shared_state.h"

namespace pgbak {

namespace {

// CountingSink passes bytes on and adds their number to a counter the main
// thread reports (backup_progress is PostgreSQL's shared memory: threads do
// not touch it).
class CountingSink : public Sink {
 public:
  CountingSink(Sink& next, std::atomic<uint64_t>& counter) : next_(next), counter_(counter) {}
  void Write(const uint8_t* data, size_t size) override {
    next_.Write(data, size);
    counter_ += size;
  }
  void Finish() override { next_.Finish(); }

 private:
  Sink& next_;
  std::atomic<uint64_t>& counter_;
};

// Run executes sql on conn and throws kIo with the server's message unless
// it succeeds.
// kOutputSettings are the settings that shape a stream's COPY text (and
// what its queries mean), one string: the owner's code that runs while a
// piece is planned can change them with set_config() for the rest of the
// session, and RESET SESSION AUTHORIZATION does not undo that. A stream
// compares them after each piece and fails rather than write another table
// (or the rest of this one) in, say, DateStyle SQL, DMY or with fewer float
// digits.
constexpr const char* kOutputSettings =
    "SELECT pg_catalog.concat_ws(' | ', pg_catalog.current_setting('client_encoding'), "
    "pg_catalog.current_setting('DateStyle'), pg_catalog.current_setting('IntervalStyle'), "
    "pg_catalog.current_setting('extra_float_digits'), "
    "pg_catalog.current_setting('standard_conforming_strings'), "
    "pg_catalog.current_setting('bytea_output'), pg_catalog.current_setting('search_path'), "
    "pg_catalog.current_setting('row_security'), pg_catalog.current_setting('lc_monetary'), "
    "pg_catalog.current_setting('TimeZone'), pg_catalog.current_setting('enable_tidscan'), "
    "pg_catalog.current_setting('statement_timeout'), pg_catalog.current_setting('lock_timeout'))";

PgResultPtr Run(PGconn* conn, const std::string& sql, const std::string& what) {
  PgResultPtr result(PQexec(conn, sql.c_str()), PQclear);
  ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
    throw Error(ErrorKind::kIo, what, TrimMessage(PQerrorMessage(conn)));
  return result;
}

// RunWithParams executes sql with text parameters (one statement, never
// spliced into its text) and throws kIo unless it succeeds.
PgResultPtr RunWithParams(PGconn* conn, const std::string& sql,
                          const std::vector<std::string>& params, const std::string& what) {
  std::vector<const char*> values;
  for (const std::string& param : params)
    values.push_back(param.c_str());
  PgResultPtr result(PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                  values.data(), nullptr, nullptr, 0),
                     PQclear);
  ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
    throw Error(ErrorKind::kIo, what, TrimMessage(PQerrorMessage(conn)));
  return result;
}

}  // namespace

ParallelExport::ParallelExport(const ServerFacts& facts, const std::string& database,
                               const std::string& snapshot, std::vector<ExportTable> tables,
                               std::vector<std::unique_ptr<Storage>> storages,
                               ExportSettings settings)
    : settings_(std::move(settings)), tables_(std::move(tables)), queue_(tables_.size()) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0)
    throw Error(ErrorKind::kIo, "could not create an eventfd");
  results_.resize(tables_.size());
  done_.assign(tables_.size(), false);
  std::string names;
  for (const pgbak::ExportTable& table : tables_)
    if (table.piece == 0)  // a table cut into pieces is locked once
      names += (names.empty() ? "" : ", ") + QuoteIdentifier(table.schema) + "." +
               QuoteIdentifier(table.table);
  // Pieces are read as their tables' owners (see ExportTable::splittable):
  // the streams are then restore sessions in owners mode, whose client
  // alone switches between owners, and code that runs while a piece's
  // query is planned cannot switch back.
  bool pieces = false;
  for (const pgbak::ExportTable& table : tables_)
    pieces = pieces || table.pieces > 1;
  for (std::unique_ptr<Storage>& storage : storages) {
    auto stream = std::make_unique<Stream>();
    stream->storage = std::move(storage);
    stream->conn = ConnectLocal(facts, database, pieces ? kRestoreAsOwners : "");
    // The session sees the dump's snapshot and writes COPY text as pg_dump
    // does (setup_connection in pg_dump.c): the database's encoding, ISO
    // dates, every float digit, no timeout from role or database settings.
    // A superuser's COPY bypasses row security; a dump role that is no
    // superuser gets an error instead of rows filtered by a policy (whose
    // expressions are user code), as with pg_dump.
    Run(stream->conn.get(),
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; "
        "SET TRANSACTION SNAPSHOT " +
            QuoteLiteral(snapshot) +
            "; SELECT pg_catalog.set_config('client_encoding', "
            "pg_catalog.getdatabaseencoding(), false); "
            "SET DateStyle = ISO; SET IntervalStyle = postgres; SET extra_float_digits = 3; "
            "SET standard_conforming_strings = on; "
            "SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0; "
            "SET enable_tidscan = on; SET max_parallel_workers_per_gather = 0; "
            "SET row_security = off; SET lock_timeout = " +
            std::to_string(settings_.lock_timeout_ms),
        "could not import the backup's snapshot in a COPY stream");
    stream->settings = PQgetvalue(
        Run(stream->conn.get(), kOutputSettings, "could not read a COPY stream's settings").get(),
        0, 0);
    // Each stream holds every table's lock from the start, so that its
    // COPY later asks for none: a lock it asked for when its table's turn
    // came would queue behind any ALTER TABLE waiting for the backup's
    // locks, and wait for the backup itself. The snapshot session holds
    // them already; a request that cannot be granted at once means such a
    // waiter came in between, and fails the backup now (as pg_dump -j
    // does).
    Run(stream->conn.get(), "LOCK TABLE ONLY " + names + " IN ACCESS SHARE MODE NOWAIT",
        "could not lock the tables of a COPY stream");
    stream->cancel = PQgetCancel(stream->conn.get());
    streams_.push_back(std::move(stream));
  }
}

ParallelExport::~ParallelExport() {
  Stop();
  for (auto& stream : streams_)
    if (stream->cancel != nullptr)
      PQfreeCancel(stream->cancel);
  if (wake_fd_ >= 0)
    close(wake_fd_);
}

void ParallelExport::Start() {
  AllSignalsBlocked blocked;
  for (auto& stream : streams_) {
    running_++;
    stream->thread = std::thread(&ParallelExport::StreamMain, this, stream.get());
  }
}

// Stop tells the streams to stop, cancels what their sessions run and waits
// for them.
void ParallelExport::Stop() noexcept {
  stop_ = true;
  queue_.Close();
  for (auto& stream : streams_) {
    if (!stream->thread.joinable())
      continue;
    if (stream->cancel != nullptr) {
      char error[256];
      (void)PQcancel(stream->cancel, error, sizeof(error));
    }
  }
  for (auto& stream : streams_)
    if (stream->thread.joinable())
      stream->thread.join();
}

void ParallelExport::Notify() noexcept {
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

// StreamMain takes tables until none is left, the backup stops or one
// fails.
void ParallelExport::StreamMain(Stream* stream) noexcept {
  try {
    while (std::optional<size_t> index = queue_.Next()) {
      if (stop_)
        break;
      ExportOne(*stream, *index);
      Notify();
    }
    Run(stream->conn.get(), "COMMIT", "could not end a COPY stream's transaction");
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!failed_) {
      failed_ = true;
      const Error* error = dynamic_cast<const Error*>(&e);
      error_kind_ = stop_ ? ErrorKind::kCancelled : error ? error->kind() : ErrorKind::kInternal;
      error_message_ = e.what();
      error_detail_ = error ? error->detail() : std::string();
    }
    queue_.Close();
  }
  running_--;
  Notify();
}

// ExportOne stores the COPY text of table index as its object.
void ParallelExport::ExportOne(Stream& stream, size_t index) {
  const ExportTable& table = tables_[index];
  PGconn* conn = stream.conn.get();
  std::string name = QuoteIdentifier(table.schema) + "." + QuoteIdentifier(table.table);
  // Locked (since the start), the name leads to the table the snapshot
  // listed, or the backup fails: nothing else (a view put in its place) is
  // read with a superuser's rights.
  // The name and the OID go as parameters, never into the statement's text.
  std::string oid = std::to_string(table.oid);
  PgResultPtr check =
      RunWithParams(conn,
                    "SELECT FROM pg_catalog.pg_class c WHERE c.oid "
                    "OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1) "
                    "AND c.oid OPERATOR(pg_catalog.=) $2::pg_catalog.oid "
                    "AND c.relkind OPERATOR(pg_catalog.=) 'r'",
                    {name, oid}, "could not check table " + name + " for its COPY stream");
  if (PQntuples(check.get()) != 1)
    throw Error(ErrorKind::kIo,
                "relation " + name + " is no longer the table the backup's snapshot holds",
                "It was dropped or replaced while the backup ran.");

  ExportedTable result;
  result.table = table;
  result.object.name = TableObjectName(index, settings_.suffix);
  result.object.role = kTableDataRole;
  result.object.compression = "zstd";
  result.object.encryption = settings_.recipients.empty() ? "none" : "age";
  std::unique_ptr<ObjectWriter> writer =
      stream.storage->Create(settings_.set_key + "/" + result.object.name);
  CountingSink progress(*writer, unreported_bytes_);
  MeterSink stored(progress, true);
  std::unique_ptr<AgeEncryptSink> encrypt;
  if (!settings_.recipients.empty())
    encrypt = std::make_unique<AgeEncryptSink>(stored, settings_.recipients);
  ZstdCompressSink compress(encrypt ? static_cast<Sink&>(*encrypt) : static_cast<Sink&>(stored),
                            settings_.zstd_level, settings_.zstd_threads);
  compress.SetInterruptCheck([this] {
    if (stop_)
      throw Error(ErrorKind::kCancelled, "the backup stops");
  });
  MeterSink raw(compress, false);

  // Text COPY, as pg_dump writes it: the columns the snapshot has (not the
  // generated ones), in their order, named, so that a column added or
  // dropped since is not read (or fails the backup) and the restore loads
  // each value into its column whatever order the restored table has.
  PgResultPtr columns = RunWithParams(
      conn,
      "SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid "
      "OPERATOR(pg_catalog.=) $1::pg_catalog.oid AND a.attnum OPERATOR(pg_catalog.>) 0 "
      "AND NOT a.attisdropped AND a.attgenerated OPERATOR(pg_catalog.=) '' ORDER BY a.attnum",
      {oid}, "could not read the columns of table " + name);
  std::string column_list;
  for (int r = 0; r < PQntuples(columns.get()); r++) {
    result.columns.emplace_back(PQgetvalue(columns.get(), r, 0));
    column_list += (r == 0 ? "" : ", ") + QuoteIdentifier(result.columns.back());
  }
  // A piece of a table (SplitIntoPieces) is the rows of its range of
  // blocks: a TID range scan of the table alone (ONLY, as COPY of a table
  // reads no child), its columns in the same order, the same text.
  std::string condition = PieceCondition(table);
  if (!condition.empty()) {
    Run(conn, "SET SESSION AUTHORIZATION " + QuoteIdentifier(table.owner),
        "could not become the owner of table " + name + " to read a piece of it");
    // By name, and the name must still be that role's (not another role's,
    // renamed into it since the plan).
    PgResultPtr who = Run(conn,
                          "SELECT r.oid FROM pg_catalog.pg_roles r "
                          "WHERE r.rolname OPERATOR(pg_catalog.=) session_user",
                          "could not check who reads a piece of table " + name);
    if (PQntuples(who.get()) != 1 || std::to_string(table.owner_oid) != PQgetvalue(who.get(), 0, 0))
      throw Error(ErrorKind::kIo, "the owner of table " + name + " changed while the backup ran",
                  "Role \"" + table.owner + "\" is no longer the role that owned it.");
  }
  std::string copy_sql =
      condition.empty()
          ? "COPY " + name + (column_list.empty() ? "" : " (" + column_list + ")") + " TO STDOUT"
          : "COPY (SELECT " + column_list + " FROM ONLY " + name + " WHERE " + condition +
                ") TO STDOUT";
  PgResultPtr copy(PQexec(conn, copy_sql.c_str()), PQclear);
  if (!copy || PQresultStatus(copy.get()) != PGRES_COPY_OUT)
    throw Error(ErrorKind::kIo, "could not start the COPY of table " + name,
                TrimMessage(PQerrorMessage(conn)));
  // libpq hands over one row at a time: rows are gathered into writes of
  // about 1 MiB, as pg_dump's pipe delivers them to the single stream (one
  // zstd call per row cost more CPU than the COPY itself on narrow rows).
  constexpr size_t kGather = 1 << 20;
  std::vector<uint8_t> gathered;
  gathered.reserve(kGather + 64 * 1024);
  for (;;) {
    char* row = nullptr;
    int size = PQgetCopyData(conn, &row, 0);
    if (size < 0)
      break;
    std::unique_ptr<char, void (*)(void*)> owned(row, PQfreemem);
    if (static_cast<size_t>(size) >= kGather) {  // a wide row goes as it is
      raw.Write(gathered.data(), gathered.size());
      gathered.clear();
      raw.Write(reinterpret_cast<const uint8_t*>(row), static_cast<size_t>(size));
    } else {
      gathered.insert(gathered.end(), reinterpret_cast<const uint8_t*>(row),
                      reinterpret_cast<const uint8_t*>(row) + size);
    }
    if (gathered.size() >= kGather) {
      raw.Write(gathered.data(), gathered.size());
      gathered.clear();
    }
    if (gathered.empty() && stop_)
      throw Error(ErrorKind::kCancelled, "the backup stops");
    if (settings_.pause_in_copy && !copy_paused_.exchange(true))
      PauseInCopy(conn);
  }
  if (stop_)
    throw Error(ErrorKind::kCancelled, "the backup stops");
  PgResultPtr end(PQgetResult(conn), PQclear);
  if (!end || PQresultStatus(end.get()) != PGRES_COMMAND_OK)
    throw Error(ErrorKind::kIo, "the COPY of table " + name + " failed",
                TrimMessage(PQerrorMessage(conn)));
  result.rows = std::strtoll(PQcmdTuples(end.get()), nullptr, 10);
  while (PGresult* rest = PQgetResult(conn))
    PQclear(rest);
  if (!condition.empty()) {
    Run(conn, "RESET SESSION AUTHORIZATION", "could not end the read of a piece of table " + name);
    PgResultPtr now = Run(conn, kOutputSettings, "could not read a COPY stream's settings");
    if (stream.settings != PQgetvalue(now.get(), 0, 0))
      throw Error(ErrorKind::kIo,
                  "the code of table " + name +
                      " changed the settings of the backup's session while a piece of it was read",
                  "Its index or statistics expressions (run when the piece's query is planned) "
                  "called set_config(). Before: " +
                      stream.settings + "; after: " + PQgetvalue(now.get(), 0, 0) + ".",
                  "Remove the set_config() call from the functions its indexes use, or back the "
                  "database up with jobs 1.");
  }
  raw.Write(gathered.data(), gathered.size());
  raw.Finish();  // ends the zstd frame (and age stream) and commits the object
  result.object.size = stored.bytes();
  result.object.raw_size = raw.bytes();
  result.object.sha256 = stored.sha256_hex();
  std::lock_guard<std::mutex> lock(mutex_);
  results_[index] = std::move(result);
  done_[index] = true;
}

// PauseInCopy holds a stream in the middle of its COPY (fault point
// backup_copy, see ExportSettings) until the backend serving it is gone or
// the backup stops; the main thread logs the pause (OnReadable).
void ParallelExport::PauseInCopy(PGconn* conn) noexcept {
  int backend = PQbackendPID(conn);
  paused_backend_ = backend;
  Notify();
  for (int i = 0; i < 15000 && !stop_; i++) {
    if (backend <= 0 || (kill(backend, 0) != 0 && errno == ESRCH))
      return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int ParallelExport::Socket() const {
  return wake_fd_;
}

void ParallelExport::OnReadable() {
  uint64_t events;
  (void)!read(wake_fd_, &events, sizeof(events));
  AddBytesStored(unreported_bytes_.exchange(0));
  if (int backend = paused_backend_.exchange(0)) {
    int64_t id = settings_.operation_id;
    PgCall([&] {
      ereport(LOG, (errmsg("pgbak: operation " INT64_FORMAT
                           " pauses at backup_copy (pgbak.fault_pause): COPY stream backend %d",
                           static_cast<int64>(id), backend)));
    });
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (failed_)
    throw Error(error_kind_, error_message_, error_detail_);
}

bool ParallelExport::Done() const {
  if (running_ > 0)
    return false;
  std::lock_guard<std::mutex> lock(mutex_);
  if (failed_)
    throw Error(error_kind_, error_message_, error_detail_);
  return true;
}

std::vector<ExportedTable> ParallelExport::Results() const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (bool done : done_)
    if (!done)
      throw Error(ErrorKind::kInternal, "a COPY stream ended with tables left");
  return results_;
}

}  // namespace pgbak
