// verify_job.h: verifying and restoring backups in a worker.
//
// Include after postgres.h.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/archive/manifest.h"
#include "core/archive/set_reader.h"
#include "core/crypto/age.h"
#include "core/options/restore_options.h"
#include "core/storage/storage.h"

namespace pgbak {

// SourceInfo is the backup (or copy) a verify, restore or copy reads.
struct SourceInfo {
  std::string database;
  std::string location;
  std::string checksum_sha256;
  std::string toc_sha256;       // empty if not recorded
  std::string manifest_sha256;  // empty if not recorded (before 1.3)
  std::string format;
  std::string storage;
  int64_t raw_bytes = -1;  // the data object decompressed (what a restore stages); -1: unknown
  // set_id is the backup the set's manifest names: the row itself, or for
  // a copy the backup it came from (0: that row is gone; then the
  // manifest's own id is taken, its SHA-256 having been checked).
  int64_t set_id = 0;
  // directory_id is the id the set's directory is named with, which SetKey
  // checks its location against: the row's own id, or an imported set's
  // recorded one (SourceRow).
  int64_t directory_id = 0;
  // imported: its manifest came from its storage through pgbak_import (see
  // SourceRow), not from this server.
  bool imported = false;
  // kind: "backup", "copy" or "base" (a physical base backup: database is
  // empty, and only a verify reads it).
  std::string kind;
};

// StagingKey is operation id's staging directory below the local storage
// (".staging/<id>"): the staged copy of a set, or a physical drill's
// scratch cluster.
std::string StagingKey(int64_t id);

// OpenSourceStorage opens the storage of a source set and reads its
// identity file, if it has one.
SourceStorage OpenSourceStorage(const SourceInfo& source);

// LoadSource reads backup source_id; throws if it is no longer a succeeded
// backup.
SourceInfo LoadSource(int64_t source_id);

// RunVerify checks backup source_id (deep: with a restore drill), records
// the outcome on the backup's row and marks operation id succeeded; throws
// (with the backup's row already marked failed) if the backup does not hold.
void RunVerify(int64_t id, int64_t source_id, bool deep);

// RunRestore restores backup source_id into target as options_json says and
// marks operation id succeeded; throws on failure. The right of
// requested_by to write into target is checked again as it is now: a
// database that appeared after the call is overwritten or added to only by
// an admin or by its owner, and a restore into an existing database runs
// with the rights of that database's owner.
void RunRestore(int64_t id, int64_t source_id, const std::string& target,
                const std::string& options_json, const std::string& requested_by);

// QueueScheduledVerification queues the verification a job asks for after
// its backup backup_id succeeded ("verify": "checksum" or "restore", with a
// restore drill every "verify_every"-th backup). Opens its own transaction.
void QueueScheduledVerification(int64_t backup_id, const std::string& job_name);

struct ServerFacts;

// RecoverTablesIntoSchema is the logical half of pgbak_recover: in the
// recovered scratch cluster that scratch_conninfo reaches (libpq keywords
// without dbname), it disables the event triggers of database and moves
// options.tables into the new schema options.into_schema (as a restore
// into_schema does), dumps that schema with pg_dump into work_dir, checks
// what it would load as whom (as any restore), and restores it into the
// live database of the same name as a new schema, in one transaction, in
// sessions of the database's owner (or each object's owner). The
// requester's right to write into the live database and the schema name
// are checked first. base_id names the base backup in refusals. Returns
// the tables and their row counts, for the log.
// The database of the copy must be the live one's past (its OID is
// database_oid; InvalidOid: not checked), every table must exist then
// (not in a system schema), and, unless the requester is an admin, be one
// the requester could read then; every definition of the copy's database
// is checked for code a superuser-owned object would run, as a restore
// into_schema checks a backup's.
std::string RecoverTablesIntoSchema(const ServerFacts& facts, int64_t id, int64_t base_id,
                                    const std::string& scratch_conninfo,
                                    const std::string& database, Oid database_oid,
                                    const RestoreOptions& options, const std::string& requested_by,
                                    const std::string& work_dir);

// RecoverDatabaseAsNew is pgbak_recover with target_database: database of
// the recovered copy (its OID database_oid) dumped whole with pg_dump into
// work_dir, checked as a restore checks a backup, and restored as a new
// database, built under a name of its own (recorded for a crash's
// cleanup), owned by the copy's database owner, every object loaded as
// its owner, then renamed to target. Returns what it restored, for the
// log.
std::string RecoverDatabaseAsNew(const ServerFacts& facts, int64_t id, int64_t base_id,
                                 const std::string& scratch_conninfo, const std::string& database,
                                 Oid database_oid, const std::string& target,
                                 const std::string& work_dir);

// CheckNewDatabaseName fails if target exists now or is the catalog
// database.
void CheckNewDatabaseName(const ServerFacts& facts, const std::string& target);

// CheckRecoverTarget fails unless requested_by may add schema into_schema
// to the live database now (it exists, accepts connections, is no
// template, the requester may write into it, the schema is new): checked
// before a recovery's cluster is restored, and again before loading.
void CheckRecoverTarget(const ServerFacts& facts, const std::string& database,
                        const std::string& into_schema, const std::string& requested_by);

// CleanUpAbandoned removes what a verify or restore whose worker died left
// behind: its staging files, and the databases it created (known by the
// OIDs on its row, never by name); a clean restore that died in the middle
// of its swap gets the database it replaced back, or kept aside. What it
// did and problems are logged, not raised.
void CleanUpAbandoned(int64_t id, const std::string& kind);

}  // namespace pgbak
