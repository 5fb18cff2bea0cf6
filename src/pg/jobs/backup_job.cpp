// backup_job.cpp: one backup, from snapshot to manifest, in a worker.
//
// The worker opens a libpq session to the database being dumped (a
// background worker is bound to pgbak.database, and a snapshot can only be
// imported in its own database), exports a snapshot there, and runs the
// server's own pg_dump with --snapshot so that the dump and the manifest's
// row counts (queried on that session while pg_dump runs) see the same data.
// pg_dump's stdout streams through zstd and SHA-256 into the storage; the
// objects, then manifest.json as the commit marker, then the backup_log row.

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
}

#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>

#include <ctime>
#include <memory>
#include <string>
#include <sys/time.h>
#include <vector>

#include "core/archive/archive_scanner.h"
#include "core/archive/manifest.h"
#include "core/archive/set_layout.h"
#include "core/base/child_process.h"
#include "core/base/json.h"
#include "core/crypto/age.h"
#include "core/options/backup_options.h"
#include "core/pipeline/meter_sink.h"
#include "core/pipeline/zstd_sink.h"
#include "pg/boundary/transaction.h"
#include "pg/catalog/catalog.h"
#include "pg/catalog/storage_registry.h"
#include "pg/jobs/backup_job.h"
#include "pg/jobs/disk_space.h"
#include "pg/jobs/dump_tools.h"
#include "pg/runtime/settings.h"
#include "pg/runtime/shared_state.h"
#include "pg/runtime/worker_signals.h"

namespace pgbak {

namespace {

constexpr int kPipeSize = 1 << 20;
constexpr size_t kTablesPerCountQuery = 100;
constexpr const char* kVersionTag = "pgbak_ext 1.0";

using PgResultPtr = std::unique_ptr<PGresult, void (*)(PGresult*)>;

// SnapshotSession is the libpq session that exports the dump's snapshot,
// holds it open while pg_dump imports it, and counts rows in it.
class SnapshotSession : public SideChannel {
 public:
  SnapshotSession(const ServerFacts& facts, const std::string& database)
      : conn_(nullptr, PQfinish) {
    conn_ = ConnectLocal(facts, database);
    Exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    PgResultPtr result = Exec(
        "SELECT pg_catalog.pg_export_snapshot(), "
        "pg_catalog.pg_current_wal_lsn()::text, "
        "(SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_catalog.pg_database "
        " WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database())");
    snapshot_ = PQgetvalue(result.get(), 0, 0);
    lsn_ = PQgetvalue(result.get(), 0, 1);
    owner_ = PQgetvalue(result.get(), 0, 2);
  }

  // A query still running when the session goes away (a failure, a cancel)
  // is cancelled: closing the socket alone would leave its backend counting,
  // or waiting for a lock, while holding the snapshot back.
  ~SnapshotSession() {
    if (busy_)
      CancelQuery();
  }
  SnapshotSession(const SnapshotSession&) = delete;
  SnapshotSession& operator=(const SnapshotSession&) = delete;

  const std::string& snapshot() const { return snapshot_; }
  const std::string& lsn() const { return lsn_; }
  // owner is the database's owner in the snapshot (a restore builds the
  // database as that role's).
  const std::string& owner() const { return owner_; }

  // ListTables returns the tables whose data pg_dump dumps by default.
  std::vector<std::pair<std::string, std::string>> ListTables() {
    PgResultPtr result = Exec(
        "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind OPERATOR(pg_catalog.=) 'r' AND c.relpersistence IN ('p', 'u') "
        "AND n.nspname OPERATOR(pg_catalog.<>) 'information_schema' "
        "AND n.nspname OPERATOR(pg_catalog.!~) '^pg_' "
        "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d "
        "  WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass "
        "  AND d.objid = c.oid AND d.deptype = 'e') "
        "ORDER BY 1, 2");
    std::vector<std::pair<std::string, std::string>> tables;
    for (int i = 0; i < PQntuples(result.get()); i++)
      tables.emplace_back(PQgetvalue(result.get(), i, 0), PQgetvalue(result.get(), i, 1));
    return tables;
  }

  // StartCounting begins counting rows of tables, a batch at a time,
  // without blocking: Socket() and OnReadable() drive it from the main loop.
  void StartCounting(std::vector<std::pair<std::string, std::string>> tables) {
    pending_ = std::move(tables);
    next_ = 0;
    SendNextBatch();
  }
  // Socket is the descriptor to wait on while counting, or -1 when done.
  int Socket() const override { return busy_ ? PQsocket(conn_.get()) : -1; }
  bool Done() const override { return !busy_ && next_ >= pending_.size(); }
  bool CountingDone() const { return Done(); }
  const std::vector<TableCount>& counts() const { return counts_; }

  // OnReadable consumes what arrived for the running count query.
  void OnReadable() override {
    if (!PQconsumeInput(conn_.get()))
      throw Error(ErrorKind::kIo, "lost the snapshot session while counting rows",
                  Trim(PQerrorMessage(conn_.get())));
    while (busy_ && !PQisBusy(conn_.get())) {
      PgResultPtr result(PQgetResult(conn_.get()), PQclear);
      if (!result) {
        busy_ = false;
        SendNextBatch();
        return;
      }
      if (PQresultStatus(result.get()) != PGRES_TUPLES_OK)
        throw Error(ErrorKind::kIo, "could not count rows in the dump's snapshot",
                    Trim(PQresultErrorMessage(result.get())));
      for (int i = 0; i < PQntuples(result.get()); i++) {
        TableCount count;
        count.schema = PQgetvalue(result.get(), i, 0);
        count.table = PQgetvalue(result.get(), i, 1);
        count.rows = std::stoll(PQgetvalue(result.get(), i, 2));
        counts_.push_back(count);
      }
    }
  }

  // Commit ends the snapshot transaction.
  void Commit() { Exec("COMMIT"); }

 private:
  // CancelQuery asks the server to cancel the running query, best effort.
  void CancelQuery() noexcept {
    PGcancel* cancel = PQgetCancel(conn_.get());
    if (cancel == nullptr)
      return;
    char error[256];
    (void)PQcancel(cancel, error, sizeof(error));
    PQfreeCancel(cancel);
    busy_ = false;
  }

  static std::string Trim(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
      text.pop_back();
    return text;
  }

  PgResultPtr Exec(const char* sql) {
    PgResultPtr result(PQexec(conn_.get(), sql), PQclear);
    ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
      throw Error(ErrorKind::kIo, "snapshot session query failed",
                  Trim(PQerrorMessage(conn_.get())));
    return result;
  }

  std::string Escaped(const std::string& text, bool identifier) {
    char* escaped = identifier ? PQescapeIdentifier(conn_.get(), text.data(), text.size())
                               : PQescapeLiteral(conn_.get(), text.data(), text.size());
    if (escaped == nullptr)
      throw Error(ErrorKind::kInternal, "could not quote a name",
                  Trim(PQerrorMessage(conn_.get())));
    std::string result = escaped;
    PQfreemem(escaped);
    return result;
  }

  void SendNextBatch() {
    if (next_ >= pending_.size())
      return;
    std::string sql;
    size_t end = std::min(pending_.size(), next_ + kTablesPerCountQuery);
    for (size_t i = next_; i < end; i++) {
      const auto& [schema, table] = pending_[i];
      if (!sql.empty())
        sql += " UNION ALL ";
      sql += "SELECT " + Escaped(schema, false) + ", " + Escaped(table, false) +
             ", pg_catalog.count(*) FROM ONLY " + Escaped(schema, true) + "." +
             Escaped(table, true);
    }
    next_ = end;
    if (!PQsendQuery(conn_.get(), sql.c_str()))
      throw Error(ErrorKind::kIo, "could not send the row count query",
                  Trim(PQerrorMessage(conn_.get())));
    busy_ = true;
  }

  PgConnPtr conn_;
  std::string snapshot_;
  std::string lsn_;
  std::string owner_;
  std::vector<std::pair<std::string, std::string>> pending_;
  size_t next_ = 0;
  bool busy_ = false;
  std::vector<TableCount> counts_;
};

// ObjectResult is what the pipeline measured of one stored object.
struct ObjectResult {
  uint64_t raw_bytes = 0;
  uint64_t stored_bytes = 0;
  std::string sha256;
};

// ScanResult is what an ArchiveScanner read from a custom-format dump.
struct ScanResult {
  bool ok = false;
  std::string problem;
  std::vector<TableCount> counts;
  // SHA-256 of the archive's header and TOC, recorded in backup_log so that
  // a restore can trust the TOC before the whole object has been read.
  std::string toc_sha256;
};

// StoreChildOutput runs a child and stores its stdout, zstd-compressed, as
// one object; the object exists under its key only if everything succeeded.
// With scan set, the stream also passes an ArchiveScanner that counts rows
// per table on the way (custom format only).
ObjectResult StoreChildOutput(Storage& storage, const std::string& key, const ChildSpec& spec,
                              const char* what, int zstd_level,
                              const std::vector<AgeRecipient>& recipients, SnapshotSession* session,
                              std::vector<std::pair<std::string, std::string>> count_tables,
                              ScanResult* scan) {
  std::unique_ptr<ObjectWriter> writer = storage.Create(key);
  ProgressSink progress(*writer);
  MeterSink stored(progress, true);
  // Encryption comes after compression (ciphertext does not compress) and
  // before the hash: the SHA-256 in the manifest is of what is stored.
  std::unique_ptr<AgeEncryptSink> encrypt;
  if (!recipients.empty())
    encrypt = std::make_unique<AgeEncryptSink>(stored, recipients);
  ZstdCompressSink compress(encrypt ? static_cast<Sink&>(*encrypt) : static_cast<Sink&>(stored),
                            zstd_level, setting_zstd_threads);
  compress.SetInterruptCheck(ThrowIfStopping);
  MeterSink raw(compress, false);
  // pg_dump writing uncompressed to a pipe puts every COPY row in a chunk
  // of its own, which pg_restore sends to the server as one message each;
  // the stored archive gets the same COPY text in large chunks, so that
  // every restore (by hand too) is as fast as of a file pg_dump -Fc wrote.
  ArchiveScanner scanner(raw, kRestoreChunkSize);
  Sink& head = scan != nullptr ? static_cast<Sink&>(scanner) : static_cast<Sink&>(raw);

  ChildProcess child(spec);
  // A larger pipe means fewer wake-ups per megabyte; best effort.
  if (child.stdout_fd() >= 0)
    (void)fcntl(child.stdout_fd(), F_SETPIPE_SZ, kPipeSize);
  if (session != nullptr)
    session->StartCounting(std::move(count_tables));
  StreamChild(child, head, what, session);
  ThrowIfStopping();
  head.Finish();  // ends the zstd frame and commits the object
  if (scan != nullptr) {
    scan->ok = scanner.ok() && scanner.complete();
    scan->problem = scanner.problem();
    if (scan->ok)
      scan->toc_sha256 = scanner.toc_sha256();
    for (const ArchiveTable& table : scanner.tables())
      scan->counts.push_back({table.schema, table.table, table.rows});
  }
  return {raw.bytes(), stored.bytes(), stored.sha256_hex()};
}

// WaitForCounts counts rows of tables in the snapshot session now, waiting
// on its socket together with the latch.
std::vector<TableCount> WaitForCounts(SnapshotSession& session,
                                      std::vector<std::pair<std::string, std::string>> tables) {
  std::vector<int> fds, ready;
  session.StartCounting(std::move(tables));
  while (!session.CountingDone()) {
    ThrowIfStopping();
    fds.assign(1, session.Socket());
    WaitForInput(fds, 1000, ready);
    for (int fd : ready)
      if (fd == session.Socket())
        session.OnReadable();
  }
  return session.counts();
}

// NowUtc returns the current time as seconds and microseconds.
struct timeval NowUtc() {
  struct timeval now;
  gettimeofday(&now, nullptr);
  return now;
}

}  // namespace

// RunBackup takes backup id of database; see backup_job.h.
void RunBackup(int64_t id, const std::string& database, const std::string& storage_name,
               const std::string& options_json, std::string& location) {
  BackupOptions options = ParseBackupOptions(options_json);
  int zstd_level = options.zstd_level.value_or(setting_zstd_level);
  struct timeval started = NowUtc();

  ServerFacts facts;
  std::string set_key;
  StorageHandle handle;
  RunInTransaction([&] {
    facts = GatherServerFacts();
    handle = OpenStorageHandle(storage_name, StorageUse::kWorker, ThrowIfStopping);
  });
  Storage& storage = *handle.storage;
  std::vector<AgeRecipient> recipients;
  for (const std::string& recipient : handle.encryption.recipients)
    recipients.push_back(AgeRecipient::Parse(recipient));
  // An encrypted object's name says so, as age's own tools name files.
  std::string suffix = recipients.empty() ? "" : kAgeSuffix;
  std::string encryption = recipients.empty() ? "none" : "age";
  // Before anything is written: a local storage on the file system of the
  // data directory must leave PostgreSQL its reserve (see disk_space.h).
  RunInTransaction([&] { GuardBackupSpace(storage, storage_name, id, database); });
  // A full disk fails the backup naming the storage that filled up.
  auto naming_storage = [&](auto&& write) {
    try {
      return write();
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kDiskFull)
        throw;
      ThrowNamingStorage(e, storage_name, storage, "for backup " + std::to_string(id));
    }
  };
  set_key = SetDirectory(facts.system_identifier, database, started.tv_sec, id);
  location = storage.Location(set_key);
  std::string data_name =
      std::string(options.format == "plain" ? kDataObjectPlain : kDataObjectCustom) + suffix;
  std::string globals_name = std::string(kGlobalsObject) + suffix;
  RunInTransaction(
      [&] { PgCall([&] { SetLocation(id, location.c_str(), options.format.c_str()); }); });

  SetPhase(Phase::kDumping);
  SnapshotSession session(facts, database);
  // Row counts for the manifest. A custom-format dump is counted as it
  // streams past (exact, and no second read of every table); a plain dump
  // is counted with count(*) in the exported snapshot while pg_dump runs.
  bool scan_archive = options.format == "custom";
  auto tables_in_dump = [&] {
    std::vector<std::pair<std::string, std::string>> tables;
    if (!options.schema_only)
      for (auto& table : session.ListTables())
        if (options.IncludesTableData(table.first, table.second))
          tables.push_back(table);
    return tables;
  };
  std::vector<std::pair<std::string, std::string>> count_tables;
  if (!scan_archive)
    count_tables = tables_in_dump();

  ChildSpec dump;
  dump.program = facts.bin_dir + "/pg_dump";
  dump.args = options.DumpArguments();
  if (!options.tables.empty() || !options.schemas.empty())
    dump.args.push_back("--strict-names");
  dump.args.push_back("--compress=0");
  dump.args.push_back("--no-password");
  dump.args.push_back("--snapshot=" + session.snapshot());
  dump.env = ChildEnvironment(facts);
  dump.env.push_back("PGDATABASE=" + database);
  ScanResult scan;
  ObjectResult data = naming_storage([&] {
    return StoreChildOutput(storage, set_key + "/" + data_name, dump, "pg_dump", zstd_level,
                            recipients, &session, std::move(count_tables),
                            scan_archive ? &scan : nullptr);
  });
  std::vector<TableCount> table_counts;
  if (!scan_archive) {
    table_counts = session.counts();
  } else if (scan.ok) {
    table_counts = std::move(scan.counts);
  } else {
    // The dump is fine; only reading it on the way failed (a pg_dump whose
    // archive version this code does not know). Count in the snapshot,
    // which is still held open.
    std::string problem = scan.problem;
    PgCall([&] {
      ereport(WARNING, (errmsg("pgbak: operation " INT64_FORMAT
                               ": counting rows in the snapshot instead of the dump",
                               static_cast<int64>(id)),
                        errdetail("%s", problem.c_str())));
    });
    table_counts = WaitForCounts(session, tables_in_dump());
  }
  session.Commit();

  SetPhase(Phase::kGlobals);
  ChildSpec globals;
  globals.program = facts.bin_dir + "/pg_dumpall";
  globals.args = {"--globals-only", "--no-password",
                  "--dbname=dbname=" + ConnInfoValue(setting_database)};
  // Only a superuser can read pg_authid; a least-privilege dump role gets
  // the roles without their passwords rather than no globals at all.
  if (!facts.dump_role_is_superuser)
    globals.args.push_back("--no-role-passwords");
  globals.env = ChildEnvironment(facts);
  ObjectResult globals_result = naming_storage([&] {
    return StoreChildOutput(storage, set_key + "/" + globals_name, globals, "pg_dumpall",
                            zstd_level, recipients, nullptr, {}, nullptr);
  });

  ThrowIfStopping();
  SetPhase(Phase::kManifest);
  struct timeval finished = NowUtc();
  Manifest manifest;
  manifest.tool = kVersionTag;
  manifest.backup_id = id;
  manifest.database = database;
  manifest.system_identifier = facts.system_identifier;
  manifest.server_version = facts.server_version;
  manifest.dump_format = options.format;
  manifest.started_at = FormatUtcTimestamp(started.tv_sec, started.tv_usec);
  manifest.finished_at = FormatUtcTimestamp(finished.tv_sec, finished.tv_usec);
  manifest.snapshot_lsn = session.lsn();
  manifest.database_owner = session.owner();
  {
    // Table and schema names are data too: an encrypted set's plaintext
    // manifest keeps the options without the names they select.
    json::Value options_json = options.ToJson();
    if (!recipients.empty()) {
      json::Value kept = json::Value::Object();
      for (const auto& [key, value] : options_json.AsObject())
        if (key != "tables" && key != "exclude_tables" && key != "schemas" &&
            key != "exclude_schemas")
          kept.Set(key, value);
      options_json = kept;
    }
    manifest.options_json = options_json.Serialize();
  }
  manifest.objects.push_back(
      {data_name, "data", data.stored_bytes, data.raw_bytes, data.sha256, "zstd", encryption});
  manifest.objects.push_back({globals_name, "globals", globals_result.stored_bytes,
                              globals_result.raw_bytes, globals_result.sha256, "zstd", encryption});
  manifest.age_recipients = handle.encryption.recipients;
  if (recipients.empty()) {
    manifest.tables = std::move(table_counts);
  } else {
    // Table names are data too: an encrypted set keeps its row counts in
    // an encrypted object of their own, and its manifest lists none.
    std::string tables_name = std::string(kTablesObject) + kAgeSuffix;
    std::string text = TablesToJson(table_counts);
    naming_storage([&] {
      std::unique_ptr<ObjectWriter> writer = storage.Create(set_key + "/" + tables_name);
      MeterSink stored(*writer, true);
      AgeEncryptSink encrypt(stored, recipients);
      WriteString(encrypt, text);
      encrypt.Finish();
      manifest.objects.push_back(
          {tables_name, "tables", stored.bytes(), text.size(), stored.sha256_hex(), "none", "age"});
    });
  }
  naming_storage([&] {
    std::unique_ptr<ObjectWriter> writer = storage.Create(set_key + "/" + kManifestObject);
    WriteString(*writer, manifest.ToJson());
    writer->Finish();
  });

  SetPhase(Phase::kFinishing);
  std::string lsn = session.lsn();
  RunInTransaction([&] {
    BackupOutcome outcome;
    outcome.raw_bytes = static_cast<int64>(data.raw_bytes);
    outcome.stored_bytes = static_cast<int64>(data.stored_bytes);
    outcome.globals_bytes = static_cast<int64>(globals_result.stored_bytes);
    outcome.checksum_sha256 = data.sha256.c_str();
    outcome.toc_sha256 = scan.toc_sha256.empty() ? nullptr : scan.toc_sha256.c_str();
    outcome.snapshot_lsn = lsn.c_str();
    outcome.table_count = static_cast<int>(manifest.tables.size());
    PgCall([&] { FinishSucceeded(id, outcome); });
  });
  // One concise line per backup in the server log, with what a DBA scans for.
  struct timeval done = NowUtc();
  double seconds = (done.tv_sec - started.tv_sec) + (done.tv_usec - started.tv_usec) / 1e6;
  char line[512];
  snprintf(line, sizeof(line),
           "pgbak: backup %lld of database \"%s\" succeeded in %.1f s: %llu bytes from "
           "pg_dump, %llu stored (zstd level %d), %zu tables counted",
           static_cast<long long>(id), database.c_str(), seconds,
           static_cast<unsigned long long>(data.raw_bytes),
           static_cast<unsigned long long>(data.stored_bytes + globals_result.stored_bytes),
           zstd_level, manifest.tables.size());
  PgCall([&] { ereport(LOG, (errmsg("%s", line))); });
}

}  // namespace pgbak
