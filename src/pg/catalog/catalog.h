// catalog.h: reading and writing backup_log through SPI.
//
// These are PostgreSQL-style functions: they may raise errors with ereport,
// so C++ code calls them through PgCall. They need an open transaction with
// SPI connected (see transaction.h) unless a comment says otherwise.
//
// Include after postgres.h.
#pragma once

#include <cstdint>
#include <string>

namespace pgbak {

// ExtensionInstalled says whether pgbak_ext exists in this database (needs a
// transaction, not SPI).
bool ExtensionInstalled();

// ExtensionOwner is the role that owns pgbak_ext (needs a transaction).
Oid ExtensionOwner();

// SchemaQualified is the quoted name of one of the extension's relations,
// qualified with the extension's schema (palloc'd).
const char* SchemaQualified(const char* relation);

// QuotedRelation is SchemaQualified for C++ callers: through PgCall, as a
// std::string.
std::string QuotedRelation(const char* relation);

// ValidText returns s as text valid in the database encoding (s itself if
// it is; else a palloc'd copy whose non-ASCII bytes are '?').
const char* ValidText(const char* s);

// BackupLogName is the schema-qualified, quoted name of backup_log.
const char* BackupLogName();

// Operation is one backup_log row as a worker needs it; strings are palloc'd
// in the caller's memory context.
struct Operation {
  int64 id;
  const char* kind;
  const char* status;
  const char* database;
  const char* storage;
  const char* options_json;
  const char* location;
  const char* job_name;      // nullptr for a manual operation
  int64 source_id;           // the backup a verify or restore reads; 0 if none
  const char* requested_by;  // the role that queued it (rights are checked again)
};

// SourceRow is the backup a verify or restore reads.
struct SourceRow {
  const char* database;
  const char* location;
  const char* checksum_sha256;
  const char* toc_sha256;       // nullptr if not recorded (or a 1.1 schema)
  const char* manifest_sha256;  // nullptr if not recorded (before 1.3)
  const char* format;
  const char* storage;
  int64 raw_bytes;  // the data object's size decompressed; -1 if not recorded
  // set_id is the backup whose set this is: the row itself for a backup,
  // the backup a copy (or a copy of a copy) came from; its manifest names
  // it. 0 if that backup's row is gone.
  int64 set_id;
  // directory_id is the id the set's directory is named with: the row's
  // own, but for an imported set (trigger 'import') the id the cluster that
  // wrote it gave it, recorded by pgbak_import.
  int64 directory_id;
  // imported: the set came into backup_log through pgbak_import (it or the
  // backup a copy of it came from): its manifest was taken from its storage
  // as it was, not written by this server.
  bool imported;
  // kind: "backup", "copy" or "base" (a physical base backup, whose
  // database is nullptr).
  const char* kind;
};

// BackupLogHasColumn says whether backup_log has column (a library can run
// before ALTER EXTENSION ... UPDATE brought the schema it was built for).
bool BackupLogHasColumn(const char* column);

// CatalogRelationHasColumn is BackupLogHasColumn for another relation of the
// extension's schema (a table or a view).
bool CatalogRelationHasColumn(const char* relation, const char* column);

// CatalogRelationExists says whether the extension's schema has relation.
// Needs SPI connected.
bool CatalogRelationExists(const char* relation);

// CatalogHas13 says whether backup_log has version 1.3's schema (the
// 'expiring' status, owner_queued).
bool CatalogHas13();

// LoadSourceRow reads backup id for a worker; false if it is gone.
bool LoadSourceRow(int64 id, SourceRow* row);

// QueueCopy inserts a queued copy of set source_id to storage, requested by
// requested_by, for job job_name (nullptr: a manual copy); the copy keeps
// the source's database, its OID and format. Returns the new row's id, or
// 0 if the set (the backup at the root of source_id's copies) already has
// a queued, running or succeeded copy in storage. Needs SPI connected.
int64 QueueCopy(int64 source_id, const char* storage, const char* requested_by,
                const char* job_name);

// FinishWithSeconds marks row id succeeded, recording restore_seconds
// (negative: leave it NULL).
void FinishWithSeconds(int64 id, double restore_seconds);

// RecordVerification writes a verification's outcome onto backup id's row.
void RecordVerification(int64 backup_id, const char* verify_status, double restore_seconds);

// LoadOperation reads row id; false if there is no such row.
bool LoadOperation(int64 id, Operation* op);

// ClaimOperation marks row id as taken by this worker (worker_pid, started_at)
// if it is still 'running' as the launcher left it; false otherwise.
bool ClaimOperation(int64 id);

// SetLocation records where the set's objects go, before any is written, so
// that cleanup after a crash knows what to remove.
void SetLocation(int64 id, const char* location, const char* format);

// BackupOutcome is the result of a finished backup.
struct BackupOutcome {
  int64 raw_bytes;
  int64 stored_bytes;
  int64 globals_bytes;
  const char* checksum_sha256;
  const char* toc_sha256;       // of the archive's header and TOC; nullptr if unknown
  const char* manifest_sha256;  // of manifest.json; nullptr if unknown
  const char* snapshot_lsn;
  int table_count;
};

// FinishSucceeded marks row id succeeded with its outcome.
void FinishSucceeded(int64 id, const BackupOutcome& outcome);

// FinishCopySucceeded marks copy id succeeded with its source's sizes,
// checksums, snapshot LSN and table count, and manifest_sha256 (the
// manifest it wrote).
void FinishCopySucceeded(int64 id, const char* manifest_sha256);

// FinishFailed marks row id failed (or cancelled) with a message and detail,
// and (from version 1.4's schema on) the error's SQLSTATE and hint, but only
// if it is still running; returns whether it changed the row. detail,
// sqlstate and hint may be nullptr or empty.
bool FinishFailed(int64 id, const char* status, const char* message, const char* detail,
                  const char* sqlstate = nullptr, const char* hint = nullptr);

}  // namespace pgbak
