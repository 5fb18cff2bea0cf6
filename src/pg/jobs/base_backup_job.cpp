// base_backup_job.cpp: one physical base backup, from BASE_BACKUP to
// manifest.json, in a worker.
//
// The worker opens a replication connection to its own server over the
// local socket and runs BASE_BACKUP (PostgreSQL 15, TARGET 'client',
// MANIFEST 'yes', TABLESPACE_MAP, VERIFY_CHECKSUMS). The server does what
// makes a base backup right: the checkpoint, non-exclusive backup mode,
// backup_label and tablespace_map written into base.tar, page checksums
// checked as files are read, and a backup_manifest that the stock
// pg_verifybackup accepts. Each tar (one per tablespace) and the manifest
// stream through zstd, age (if the storage has recipients) and SHA-256
// straight into the storage, one CopyData message at a time: nothing is
// staged, memory is bounded. The backup mode ends with the connection, so
// a worker killed at any point leaves no backup running in the server.
//
// The set is complete only once the WAL it needs is archived: the worker
// waits (bounded) for pg_stat_archiver to pass the backup's last segment
// when archive_mode is on, then writes manifest.json last, then marks the
// row succeeded. With archive_mode off the set is committed at once and
// its row and manifest say the WAL is not archived.

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
}

#include <libpq-fe.h>
#include <sys/time.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/archive/base_backup_stream.h"
#include "core/archive/base_layout.h"
#include "core/archive/manifest.h"
#include "core/archive/set_layout.h"
#include "core/crypto/age.h"
#include "core/options/base_backup_options.h"
#include "core/pipeline/meter_sink.h"
#include "core/pipeline/zstd_sink.h"
#include "pg/boundary/boundary.h"
#include "pg/boundary/transaction.h"
#include "pg/catalog/catalog.h"
#include "pg/catalog/storage_registry.h"
#include "pg/jobs/base_backup_job.h"
#include "pg/jobs/disk_space.h"
#include "pg/jobs/dump_tools.h"
#include "pg/runtime/settings.h"
#include "pg/runtime/shared_state.h"
#include "pg/runtime/worker_signals.h"

namespace pgbak {

namespace {

constexpr const char* kVersionTag = "pgbak_ext 1.6";
// How often the archiver's progress is read while waiting for the WAL.
constexpr long kArchivePollMs = 500;
// How many CopyData messages are handled between two looks at the latch.
constexpr int kMessagesPerCheck = 64;

// StoredObject owns the chain of one object being stored: zstd, age (with
// recipients), SHA-256 and size of what is stored, progress, the storage
// writer. An object not finished is aborted, so it never appears.
class StoredObject {
 public:
  StoredObject(Storage& storage, const std::string& key, int zstd_level,
               const std::vector<AgeRecipient>& recipients)
      : writer_(storage.Create(key)), progress_(*writer_), stored_(progress_, true) {
    if (!recipients.empty())
      encrypt_ = std::make_unique<AgeEncryptSink>(stored_, recipients);
    compress_ = std::make_unique<ZstdCompressSink>(
        encrypt_ ? static_cast<Sink&>(*encrypt_) : static_cast<Sink&>(stored_), zstd_level,
        setting_zstd_threads);
    compress_->SetInterruptCheck(ThrowIfStopping);
    raw_ = std::make_unique<MeterSink>(*compress_, false);
  }
  ~StoredObject() {
    if (!finished_)
      writer_->Abort();
  }
  StoredObject(const StoredObject&) = delete;
  StoredObject& operator=(const StoredObject&) = delete;

  Sink& sink() { return *raw_; }
  void Finish() {
    raw_->Finish();
    finished_ = true;
  }
  uint64_t raw_bytes() const { return raw_->bytes(); }
  uint64_t stored_bytes() const { return stored_.bytes(); }
  const std::string& sha256() const { return stored_.sha256_hex(); }

 private:
  std::unique_ptr<ObjectWriter> writer_;
  ProgressSink progress_;
  MeterSink stored_;
  std::unique_ptr<AgeEncryptSink> encrypt_;
  std::unique_ptr<ZstdCompressSink> compress_;
  std::unique_ptr<MeterSink> raw_;
  bool finished_ = false;
};

// BaseSetWriter stores each part of the BASE_BACKUP stream as an object of
// the set and lists them for the manifest.
class BaseSetWriter : public CopyStreamHandler {
 public:
  BaseSetWriter(Storage& storage, std::string set_key, int zstd_level,
                const std::vector<AgeRecipient>& recipients)
      : storage_(storage),
        set_key_(std::move(set_key)),
        zstd_level_(zstd_level),
        recipients_(recipients) {}

  void BeginPart(const CopyStreamPart& part) override {
    ManifestObject object;
    object.name = part.manifest ? kBaseManifestObject : BaseArchiveObject(part.archive_name);
    if (!recipients_.empty())
      object.name += kAgeSuffix;
    object.role = part.manifest                     ? "backup_manifest"
                  : part.archive_name == "base.tar" ? "base"
                                                    : "tablespace";
    object.compression = "zstd";
    object.encryption = recipients_.empty() ? "none" : "age";
    current_ = std::make_unique<StoredObject>(storage_, set_key_ + "/" + object.name, zstd_level_,
                                              recipients_);
    pending_ = std::move(object);
  }

  void PartData(const uint8_t* data, size_t size) override {
    AddBytesRead(size);
    current_->sink().Write(data, size);
  }

  void EndPart() override {
    current_->Finish();
    pending_.size = current_->stored_bytes();
    pending_.raw_size = current_->raw_bytes();
    pending_.sha256 = current_->sha256();
    objects_.push_back(pending_);
    current_.reset();
  }

  const std::vector<ManifestObject>& objects() const { return objects_; }

 private:
  Storage& storage_;
  std::string set_key_;
  int zstd_level_;
  const std::vector<AgeRecipient>& recipients_;
  std::unique_ptr<StoredObject> current_;
  ManifestObject pending_;
  std::vector<ManifestObject> objects_;
};

// ReceiveNotice hands the server's warnings to the checksum counter; it
// runs inside libpq calls and must not throw.
void ReceiveNotice(void* arg, const PGresult* result) {
  const char* message = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  if (message == nullptr)
    return;
  try {
    static_cast<ChecksumFailureCounter*>(arg)->Observe(message);
  } catch (...) {
  }
}

// IgnoreNotice drops a notice (the receiver once the counter is gone).
void IgnoreNotice(void*, const PGresult*) {}

// CancelStatement asks the server to cancel what conn runs, best effort.
void CancelStatement(PGconn* conn) noexcept {
  if (PGcancel* cancel = PQgetCancel(conn)) {
    char error[256];
    (void)PQcancel(cancel, error, sizeof(error));
    PQfreeCancel(cancel);
  }
}

// NextResult waits, serving the latch, for conn's next result; nullptr
// when the command is over. A stop cancels the command (the checkpoint
// BASE_BACKUP starts with can take long) and throws.
PgResultPtr NextResult(PGconn* conn) {
  std::vector<int> fds, ready;
  while (PQisBusy(conn)) {
    try {
      ThrowIfStopping();
    } catch (...) {
      CancelStatement(conn);
      throw;
    }
    fds.assign(1, PQsocket(conn));
    WaitForInput(fds, 1000, ready);
    if (!PQconsumeInput(conn))
      throw Error(ErrorKind::kIo, "lost the replication connection of the base backup",
                  TrimMessage(PQerrorMessage(conn)));
  }
  return PgResultPtr(PQgetResult(conn), PQclear);
}

// ReceiveCopy feeds the COPY OUT stream of BASE_BACKUP to demux until the
// server ends it.
void ReceiveCopy(PGconn* conn, CopyStreamDemux& demux) {
  std::vector<int> fds, ready;
  int messages = 0;
  for (;;) {
    char* buffer = nullptr;
    int n = PQgetCopyData(conn, &buffer, 1);
    if (n > 0) {
      std::unique_ptr<char, void (*)(void*)> owned(buffer, PQfreemem);
      demux.Message(reinterpret_cast<const uint8_t*>(buffer), static_cast<size_t>(n));
      if (++messages % kMessagesPerCheck == 0)
        ThrowIfStopping();
      continue;
    }
    if (n == -1)
      return;
    if (n == -2)
      throw Error(ErrorKind::kIo, "the base backup stream failed",
                  TrimMessage(PQerrorMessage(conn)));
    ThrowIfStopping();
    fds.assign(1, PQsocket(conn));
    WaitForInput(fds, 1000, ready);
    if (!PQconsumeInput(conn))
      throw Error(ErrorKind::kIo, "lost the replication connection of the base backup",
                  TrimMessage(PQerrorMessage(conn)));
  }
}

// ServerPosition is an LSN and timeline BASE_BACKUP reports.
struct ServerPosition {
  std::string lsn;
  uint32_t timeline = 0;
};

// Position reads row 0 of a (recptr, tli) result.
ServerPosition Position(const PGresult* result) {
  if (PQntuples(result) != 1 || PQnfields(result) < 2)
    throw Error(ErrorKind::kCorrupt, "unexpected WAL position result from BASE_BACKUP");
  ServerPosition position;
  position.lsn = PQgetvalue(result, 0, 0);
  position.timeline = static_cast<uint32_t>(std::stoul(PQgetvalue(result, 0, 1)));
  ParseLsn(position.lsn);  // throws if it is not one
  return position;
}

// StreamedBackup is what BASE_BACKUP produced.
struct StreamedBackup {
  ServerPosition start;
  ServerPosition end;
  uint64_t bad_checksums = 0;
  std::string first_checksum_message;
};

// RunBaseBackupCommand runs BASE_BACKUP on conn, storing its stream
// through writer.
StreamedBackup RunBaseBackupCommand(PGconn* conn, int64_t id, const BaseBackupOptions& options,
                                    BaseSetWriter& writer) {
  ChecksumFailureCounter checksums;
  // The receiver points at checksums only while it lives, whatever way
  // this function is left.
  struct ReceiverGuard {
    PGconn* conn;
    ~ReceiverGuard() { PQsetNoticeReceiver(conn, IgnoreNotice, nullptr); }
  } receiver_guard{conn};
  PQsetNoticeReceiver(conn, ReceiveNotice, &checksums);
  // WAIT 0: the server does not wait for the WAL to be archived; this
  // worker does, bounded and cancellable (WaitForWalArchived).
  std::string command = "BASE_BACKUP (LABEL 'pgbak_ext base backup " + std::to_string(id) +
                        "', TARGET 'client', CHECKPOINT '" +
                        (options.fast_checkpoint ? "fast" : "spread") +
                        "', WAIT 0, MANIFEST 'yes', TABLESPACE_MAP, VERIFY_CHECKSUMS " +
                        (options.verify_checksums ? "1" : "0") + ")";
  if (!PQsendQuery(conn, command.c_str()))
    throw Error(ErrorKind::kIo, "could not start BASE_BACKUP", TrimMessage(PQerrorMessage(conn)));
  CopyStreamDemux demux(writer);
  StreamedBackup backup;
  bool have_start = false, copied = false, have_end = false;
  std::string error, sqlstate;
  while (PgResultPtr result = NextResult(conn)) {
    switch (PQresultStatus(result.get())) {
      case PGRES_TUPLES_OK:
        // The start position, the tablespace list, and after the stream
        // the end position.
        if (!have_start) {
          backup.start = Position(result.get());
          have_start = true;
        } else if (copied) {
          backup.end = Position(result.get());
          have_end = true;
        }
        break;
      case PGRES_COPY_OUT:
        SetPhase(Phase::kDumping);
        ReceiveCopy(conn, demux);
        demux.Finish();
        copied = true;
        break;
      case PGRES_COMMAND_OK:
        break;
      default:
        if (error.empty()) {
          error = TrimMessage(PQresultErrorMessage(result.get()));
          const char* state = PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
          sqlstate = state != nullptr ? state : "";
        }
        break;
    }
  }
  backup.bad_checksums = checksums.total();
  backup.first_checksum_message = checksums.first_message();
  // Bad page checksums end BASE_BACKUP with XX001 after the whole backup
  // was sent: the backup is complete (the best copy there is of a damaged
  // cluster) and is kept with the count, as pg_basebackup keeps it.
  bool checksum_error = sqlstate == "XX001" && backup.bad_checksums > 0;
  if (!error.empty() && !(checksum_error && have_end))
    throw Error(ErrorKind::kIo, "BASE_BACKUP failed", error);
  if (!have_start || !copied || !have_end || !demux.manifest_seen())
    throw Error(ErrorKind::kCorrupt,
                "BASE_BACKUP ended without "
                "a start position, archives, backup manifest and end "
                "position");
  return backup;
}

// ArchiverState reads pg_stat_archiver's last archived and failed files.
void ArchiverState(std::string* archived, std::string* failed) {
  RunInTransaction([&] {
    PgCall([&] {
      if (SPI_execute("SELECT coalesce(last_archived_wal, ''), coalesce(last_failed_wal, '') "
                      "FROM pg_catalog.pg_stat_archiver",
                      true, 1) != SPI_OK_SELECT ||
          SPI_processed != 1)
        elog(ERROR, "could not read pg_stat_archiver");
      *archived = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
      *failed = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
    });
  });
}

// WaitForWalArchived waits until the archiver has archived last_segment,
// at most timeout_s seconds.
void WaitForWalArchived(const std::string& last_segment, int timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  std::vector<int> ready;
  for (;;) {
    std::string archived, failed;
    ArchiverState(&archived, &failed);
    if (WalSegmentReached(archived, last_segment))
      return;
    if (std::chrono::steady_clock::now() >= deadline)
      throw Error(ErrorKind::kIo,
                  "the WAL this base backup needs was not archived within " +
                      std::to_string(timeout_s) + " s",
                  "The backup needs WAL up to segment " + last_segment +
                      "; pg_stat_archiver's last archived file is " +
                      (archived.empty() ? "none" : archived) +
                      (failed.empty() ? "" : ", its last failed one " + failed) +
                      ". Without that WAL the backup cannot be restored; it was not kept.",
                  "Check archive_library (or archive_command) and pg_stat_archiver, or give the "
                  "archiver more time with the base backup option \"wal_archive_timeout\".");
    ThrowIfStopping();
    WaitForInput({}, kArchivePollMs, ready);
  }
}

// RecordLocation writes where the set's objects go (no format: a base set
// is tars).
void RecordLocation(int64_t id, const std::string& location) {
  RunInTransaction([&] {
    PgCall([&] {
      const char* sql = psprintf("UPDATE %s SET location = $2 WHERE id = $1", BackupLogName());
      Oid types[2] = {INT8OID, TEXTOID};
      Datum values[2] = {Int64GetDatum(id), CStringGetTextDatum(location.c_str())};
      if (SPI_execute_with_args(sql, 2, types, values, nullptr, false, 0) != SPI_OK_UPDATE)
        elog(ERROR, "could not update backup_log row " INT64_FORMAT, static_cast<int64>(id));
    });
  });
}

// RecordBaseFacts writes the base backup's own columns (in the transaction
// that marks the row succeeded).
void RecordBaseFacts(int64_t id, const BaseBackupFacts& facts) {
  const char* sql = psprintf(
      "UPDATE %s SET wal_start_lsn = $2::pg_lsn, wal_end_lsn = $3::pg_lsn, timeline = $4, "
      "wal_first_segment = $5, wal_last_segment = $6, wal_archived = $7, bad_checksums = $8 "
      "WHERE id = $1",
      BackupLogName());
  Oid types[8] = {INT8OID, TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTOID, BOOLOID, INT8OID};
  Datum values[8] = {Int64GetDatum(id),
                     CStringGetTextDatum(facts.start_lsn.c_str()),
                     CStringGetTextDatum(facts.end_lsn.c_str()),
                     Int32GetDatum(static_cast<int32>(facts.timeline)),
                     CStringGetTextDatum(facts.wal_first_segment.c_str()),
                     CStringGetTextDatum(facts.wal_last_segment.c_str()),
                     BoolGetDatum(facts.wal_archived),
                     Int64GetDatum(static_cast<int64>(facts.bad_checksums))};
  if (SPI_execute_with_args(sql, 8, types, values, nullptr, false, 0) != SPI_OK_UPDATE)
    elog(ERROR, "could not update backup_log row " INT64_FORMAT, static_cast<int64>(id));
}

// ClusterSize is the size of every database (their tablespaces included),
// the estimate of what a base backup reads; call in a transaction.
uint64_t ClusterSize() {
  uint64_t bytes = 0;
  PgCall([&] {
    bool isnull = false;
    if (SPI_execute("SELECT coalesce(sum(pg_catalog.pg_database_size(oid)), 0)::bigint "
                    "FROM pg_catalog.pg_database",
                    true, 1) != SPI_OK_SELECT ||
        SPI_processed != 1)
      elog(ERROR, "could not read the size of the cluster");
    bytes = static_cast<uint64_t>(
        DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
  });
  return bytes;
}

// NowUtc returns the current time as seconds and microseconds.
struct timeval NowUtc() {
  struct timeval now;
  gettimeofday(&now, nullptr);
  return now;
}

}  // namespace

// RunBaseBackup takes base backup id; see base_backup_job.h.
void RunBaseBackup(int64_t id, const std::string& storage_name, const std::string& options_json,
                   std::string& location) {
  BaseBackupOptions options = ParseBaseBackupOptions(options_json, true);
  int zstd_level = options.zstd_level.value_or(setting_zstd_level);
  struct timeval started = NowUtc();

  ServerFacts facts;
  StorageHandle handle;
  uint64_t segment_size = 0;
  bool archiving = false;
  RunInTransaction([&] {
    facts = GatherServerFacts();
    handle = OpenStorageHandle(storage_name, StorageUse::kWorker, ThrowIfStopping);
    PgCall([&] {
      segment_size = static_cast<uint64_t>(wal_segment_size);
      archiving = XLogArchiveMode != ARCHIVE_MODE_OFF;
    });
  });
  Storage& storage = *handle.storage;
  std::vector<AgeRecipient> recipients;
  for (const std::string& recipient : handle.encryption.recipients)
    recipients.push_back(AgeRecipient::Parse(recipient));

  // Before anything is written: a local storage on the file system of the
  // data directory must leave PostgreSQL its reserve (see disk_space.h).
  RunInTransaction([&] { GuardBaseBackupSpace(storage, storage_name, id, ClusterSize()); });

  std::string set_key = BaseSetDirectory(facts.system_identifier, started.tv_sec, id);
  location = storage.Location(set_key);
  RecordLocation(id, location);

  // A full disk fails the backup naming the storage that filled up.
  auto naming_storage = [&](auto&& write) {
    try {
      return write();
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kDiskFull)
        throw;
      ThrowNamingStorage(e, storage_name, storage, "for base backup " + std::to_string(id));
    }
  };

  SetPhase(Phase::kDumping);
  BaseSetWriter writer(storage, set_key, zstd_level, recipients);
  StreamedBackup backup = naming_storage([&] {
    PgConnPtr conn = ConnectLocalReplication(facts);
    return RunBaseBackupCommand(conn.get(), id, options, writer);
  });

  BaseBackupFacts base;
  base.start_lsn = backup.start.lsn;
  base.end_lsn = backup.end.lsn;
  base.timeline = backup.start.timeline;
  WalRange range = BackupWalRange(backup.start.timeline, ParseLsn(backup.start.lsn),
                                  backup.end.timeline, ParseLsn(backup.end.lsn), segment_size);
  base.wal_first_segment = range.first_segment;
  base.wal_last_segment = range.last_segment;
  base.bad_checksums = backup.bad_checksums;
  if (backup.bad_checksums > 0) {
    std::string first = backup.first_checksum_message;
    PgCall([&] {
      ereport(WARNING,
              (errcode(ERRCODE_DATA_CORRUPTED),
               errmsg("pgbak: base backup " INT64_FORMAT " read %llu page(s) with a bad checksum",
                      static_cast<int64>(id), static_cast<unsigned long long>(base.bad_checksums)),
               first.empty() ? 0 : errdetail("%s", first.c_str()),
               errhint("The backup is kept as it was read; check the cluster's storage.")));
    });
  }

  SetPhase(Phase::kFinishing);
  if (archiving) {
    WaitForWalArchived(range.last_segment, options.wal_archive_timeout_s);
    base.wal_archived = true;
  }

  ThrowIfStopping();
  SetPhase(Phase::kManifest);
  struct timeval finished = NowUtc();
  Manifest manifest;
  manifest.tool = kVersionTag;
  manifest.kind = "base";
  manifest.backup_id = id;
  manifest.system_identifier = facts.system_identifier;
  manifest.server_version = facts.server_version;
  manifest.dump_format = "tar";
  manifest.started_at = FormatUtcTimestamp(started.tv_sec, started.tv_usec);
  manifest.finished_at = FormatUtcTimestamp(finished.tv_sec, finished.tv_usec);
  manifest.snapshot_lsn = base.start_lsn;
  manifest.options_json = options.ToJson().Serialize();
  manifest.objects = writer.objects();
  manifest.age_recipients = handle.encryption.recipients;
  manifest.base = base;
  std::string manifest_sha256;
  naming_storage([&] {
    std::unique_ptr<ObjectWriter> object = storage.Create(set_key + "/" + kManifestObject);
    MeterSink meter(*object, true);
    WriteString(meter, manifest.ToJson());
    meter.Finish();
    manifest_sha256 = meter.sha256_hex();
  });

  uint64_t raw_bytes = 0, stored_bytes = 0;
  std::string base_sha256;
  for (const ManifestObject& object : manifest.objects) {
    raw_bytes += object.raw_size;
    stored_bytes += object.size;
    if (object.role == "base")
      base_sha256 = object.sha256;
  }
  RunInTransaction([&] {
    BackupOutcome outcome;
    outcome.raw_bytes = static_cast<int64>(raw_bytes);
    outcome.stored_bytes = static_cast<int64>(stored_bytes);
    outcome.globals_bytes = 0;
    outcome.checksum_sha256 = base_sha256.c_str();
    outcome.manifest_sha256 = manifest_sha256.c_str();
    outcome.snapshot_lsn = base.start_lsn.c_str();
    outcome.table_count = 0;
    PgCall([&] {
      FinishSucceeded(id, outcome);
      RecordBaseFacts(id, base);
    });
  });
  struct timeval done = NowUtc();
  double seconds = (done.tv_sec - started.tv_sec) + (done.tv_usec - started.tv_usec) / 1e6;
  char line[512];
  snprintf(line, sizeof(line),
           "pgbak: base backup %lld succeeded in %.1f s: %llu bytes read, %llu stored (zstd "
           "level %d), WAL %s to %s %s",
           static_cast<long long>(id), seconds, static_cast<unsigned long long>(raw_bytes),
           static_cast<unsigned long long>(stored_bytes), zstd_level,
           base.wal_first_segment.c_str(), base.wal_last_segment.c_str(),
           base.wal_archived ? "archived" : "NOT archived (archive_mode is off)");
  PgCall([&] { ereport(LOG, (errmsg("%s", line))); });
}

}  // namespace pgbak
