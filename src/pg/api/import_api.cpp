// import_api.cpp: the SQL functions pgbak_storage_sets and pgbak_import: the
// sets a storage holds, listed from their manifests as the pgbak command
// lists them, and registered in backup_log on a server that did not write
// them (a new server after a total loss; core/archive/set_import.h says
// what is checked first).
//
// Both read the storage in the caller's backend: a wait on the network
// serves what CREATE DATABASE waits for and ends on a cancel, a terminate
// or statement_timeout (BackendWaitCheck), and the work between sets checks
// for interrupts. The C++ work runs in CatchCore and calls PostgreSQL
// through PgCall; errors are raised once every C++ object of it is gone.
//
// An imported row is kind 'backup', status 'succeeded', trigger 'import',
// with database_oid 0: the set is of a database of another cluster (or of
// this one's past), so no database of this server gets rights over it, its
// history in backup_status, or retention's protection of its newest backup
// through it. Retention never deletes it (it is neither a job's nor a
// manual backup), and the deleting code would refuse its location anyway:
// that checks a location against the row's own id, which an imported row's
// directory is not named with.

extern "C" {
#include "postgres.h"

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(pgbak_storage_sets);
PG_FUNCTION_INFO_V1(pgbak_import);
}

#include <sys/stat.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/archive/set_import.h"
#include "core/archive/set_layout.h"
#include "core/archive/set_listing.h"
#include "core/storage/local/local_storage.h"
#include "pg/api/privileges.h"
#include "pg/api/validation.h"
#include "pg/boundary/boundary.h"
#include "pg/catalog/catalog.h"
#include "pg/catalog/storage_registry.h"

namespace pgbak {

namespace {

constexpr int kSetColumns = 13;

// OpenForReading opens storage name for a SQL function (SPI connected):
// short retries, and a wait that the session's cancel ends.
std::unique_ptr<Storage> OpenForReading(const char* name) {
  return OpenStorage(name, StorageUse::kLauncher, BackendWaitCheck());
}

// RequireDirectory refuses a defined directory storage whose directory is
// not there: after a loss, a mistyped path must not look like a storage
// without sets. The built-in 'local' is created on first use: before that
// it holds nothing.
void RequireDirectory(const char* name, Storage& storage) {
  auto* local = strcmp(name, "local") == 0 ? nullptr : dynamic_cast<LocalStorage*>(&storage);
  struct stat st;
  if (local != nullptr && (stat(local->root().c_str(), &st) != 0 || !S_ISDIR(st.st_mode)))
    throw Error(ErrorKind::kUndefinedObject,
                "the directory of storage \"" + std::string(name) + "\" does not exist",
                local->root() + " is not a directory on this server.",
                "Define the storage with the directory the sets are in (pgbak_storage_drop, "
                "then pgbak_storage_add).");
}

// UnixMicrosToTimestamp converts microseconds since the Unix epoch.
TimestampTz UnixMicrosToTimestamp(int64 microseconds) {
  return microseconds - (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
}

// TextDatum is s as text valid in the database encoding (a storage may
// hold names in any bytes).
Datum TextDatum(const std::string& s) {
  return CStringGetTextDatum(ValidText(s.c_str()));
}

// PutSetRow adds one row of pgbak_storage_sets (PostgreSQL code: call it
// through PgCall).
void PutSetRow(ReturnSetInfo* rsinfo, const SetSummary& set, const std::string& location) {
  Datum values[kSetColumns];
  bool nulls[kSetColumns] = {false};
  values[0] = TextDatum(location);
  values[1] = BoolGetDatum(set.complete);
  values[2] = TextDatum(set.problem);
  nulls[2] = set.problem.empty();
  values[3] = TextDatum(set.system_identifier);
  values[4] = TextDatum(set.database);
  values[5] = Int64GetDatum(set.directory_id);
  values[6] = Int64GetDatum(set.backup_id);
  values[7] = TextDatum(set.dump_format);
  int64_t started = 0, finished = 0;
  nulls[8] = !set.complete || !ParseUtcTimestamp(set.started_at, &started);
  nulls[9] = !set.complete || !ParseUtcTimestamp(set.finished_at, &finished);
  values[8] = TimestampTzGetDatum(UnixMicrosToTimestamp(started));
  values[9] = TimestampTzGetDatum(UnixMicrosToTimestamp(finished));
  values[10] = Int64GetDatum(static_cast<int64>(set.raw_bytes));
  values[11] = Int64GetDatum(static_cast<int64>(set.stored_bytes));
  values[12] = BoolGetDatum(set.encrypted);
  // What only a manifest says is NULL for a set without one.
  for (int column : {6, 7, 10, 12})
    nulls[column] = !set.complete;
  tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

// RaiseFailure raises what CatchCore caught; a cancel or a statement
// timeout that stopped the work is raised as PostgreSQL's own error.
void RaiseFailure(const Failure& failure) {
  if (failure.failed)
    CHECK_FOR_INTERRUPTS();
  ReportFailure(failure);
}

// ImportCounts says what pgbak_import did with the sets it saw.
struct ImportCounts {
  int64 imported = 0;
  int64 registered = 0;  // already in backup_log
  int64 refused = 0;
  int64 incomplete = 0;
};

// ExistingRow is the id of the row of this server that has the set at
// location of storage already (a backup or copy it made, or an import),
// or 0. Needs SPI.
int64 ExistingRow(const char* storage, const char* location) {
  const char* sql = psprintf(
      "SELECT id FROM %s WHERE storage_name = $1 AND location = $2 AND kind IN ('backup', 'copy') "
      "AND status IN ('queued', 'running', 'succeeded', 'expiring') ORDER BY id LIMIT 1",
      BackupLogName());
  Oid types[2] = {TEXTOID, TEXTOID};
  Datum values[2] = {CStringGetTextDatum(storage), CStringGetTextDatum(location)};
  if (SPI_execute_with_args(sql, 2, types, values, nullptr, true, 1) != SPI_OK_SELECT)
    elog(ERROR, "could not read backup_log");
  if (SPI_processed == 0)
    return 0;
  bool isnull = false;
  return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

// InsertImported registers record at location of storage; returns the new
// row's id, or 0 if a concurrent import registered it first (the unique
// index backup_log_import_once). Needs SPI. The row is announced on NOTIFY
// pgbak like any change, but sends no webhook: no backup ran, and an
// import of many sets would send as many "succeeded".
int64 InsertImported(const char* storage, const char* location, const ImportRecord& record,
                     const char* requested_by) {
  const char* sql = psprintf(
      "INSERT INTO %s (kind, status, trigger, database_name, database_oid, storage_name, "
      "location, format, options, requested_by, raw_bytes, stored_bytes, globals_bytes, "
      "checksum_sha256, manifest_sha256, snapshot_lsn, table_count, started_at, finished_at, "
      "webhook_status) "
      "VALUES ('backup', 'succeeded', 'import', $1, 0, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, "
      "$10, $11, $12::pg_lsn, $13, $14, $15, 'not sent: imported') "
      "ON CONFLICT (storage_name, location) WHERE trigger = 'import' "
      "AND status IN ('succeeded', 'expiring') DO NOTHING RETURNING id",
      BackupLogName());
  Oid types[15] = {NAMEOID, TEXTOID, TEXTOID, TEXTOID,        TEXTOID,
                   NAMEOID, INT8OID, INT8OID, INT8OID,        TEXTOID,
                   TEXTOID, TEXTOID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID};
  char nulls[15];
  memset(nulls, ' ', sizeof(nulls));
  nulls[11] = record.snapshot_lsn.empty() ? 'n' : ' ';
  nulls[12] = record.table_count < 0 || record.table_count > PG_INT32_MAX ? 'n' : ' ';
  Datum values[15] = {DirectFunctionCall1(namein, CStringGetDatum(record.database.c_str())),
                      CStringGetTextDatum(storage),
                      CStringGetTextDatum(location),
                      CStringGetTextDatum(record.format.c_str()),
                      CStringGetTextDatum(record.options_json.c_str()),
                      DirectFunctionCall1(namein, CStringGetDatum(requested_by)),
                      Int64GetDatum(static_cast<int64>(record.raw_bytes)),
                      Int64GetDatum(static_cast<int64>(record.stored_bytes)),
                      Int64GetDatum(static_cast<int64>(record.globals_bytes)),
                      CStringGetTextDatum(record.data_sha256.c_str()),
                      CStringGetTextDatum(record.manifest_sha256.c_str()),
                      CStringGetTextDatum(record.snapshot_lsn.c_str()),
                      Int32GetDatum(static_cast<int32>(nulls[12] == 'n' ? 0 : record.table_count)),
                      TimestampTzGetDatum(UnixMicrosToTimestamp(record.started_us)),
                      TimestampTzGetDatum(UnixMicrosToTimestamp(record.finished_us))};
  if (SPI_execute_with_args(sql, 15, types, values, nulls, false, 1) != SPI_OK_INSERT_RETURNING)
    elog(ERROR, "could not register the set at %s", location);
  if (SPI_processed == 0)
    return 0;
  bool isnull = false;
  return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

// Valid is text from a storage (a manifest may hold any bytes) made valid
// in the database encoding, for a message (C++: calls PostgreSQL through
// PgCall).
std::string Valid(const std::string& text) {
  const char* valid = nullptr;
  PgCall([&] { valid = ValidText(text.c_str()); });
  return valid;
}

// ListingHint points at the listing of storage.
std::string ListingHint(const std::string& storage) {
  return "See SELECT location, complete, problem FROM pgbak_storage_sets('" + storage + "').";
}

// ImportSets imports the sets of storage_name (only the one at location,
// if not nullptr), adding each new row's id to rsinfo. Sets that cannot be
// imported raise an error when location names them; when importing every
// set, each is skipped with a WARNING (damaged) or a NOTICE (incomplete)
// naming it and why. Needs SPI; C++ (call it in CatchCore).
void ImportSets(const char* storage_name, const char* location, const char* requested_by,
                ReturnSetInfo* rsinfo, ImportCounts& counts) {
  std::unique_ptr<Storage> storage = OpenForReading(storage_name);
  std::string key;
  if (location != nullptr) {
    key = ImportKey(*storage, location);
    if (key.empty())
      throw PgError(
          ERRCODE_INVALID_PARAMETER_VALUE,
          "\"" + Printable(location) + "\" is not the location of a set in storage \"" +
              storage_name + "\"",
          "A set's location is " + storage->Location("") + "/<cluster>/<database>/<time>-<id>.",
          ListingHint(storage_name));
  }
  RequireDirectory(storage_name, *storage);
  // Each complete set is checked as the listing reads its manifest; sets
  // are registered afterwards, oldest first.
  std::map<std::string, ImportRecord> records;
  std::map<std::string, std::string> refusals;
  auto check = [&](const SetSummary& set, const Manifest& manifest, const std::string& text,
                   const std::vector<ObjectInfo>& objects) {
    PgCall([] { CHECK_FOR_INTERRUPTS(); });
    try {
      ImportRecord record = CheckSetForImport(set, manifest, text, objects);
      bool valid = false;
      PgCall([&] {
        valid =
            pg_verifymbstr(record.database.c_str(), static_cast<int>(record.database.size()), true);
      });
      if (!valid)
        throw Error(ErrorKind::kCorrupt,
                    "its database name is not valid in this server's encoding");
      records.emplace(set.key, std::move(record));
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kCorrupt)
        throw;
      refusals[set.key] = e.what();
    }
  };
  std::vector<SetSummary> sets =
      key.empty() ? ListSets(*storage, {}, check) : ListSetAt(*storage, key, check);
  if (!key.empty()) {
    if (sets.empty())
      throw PgError(ERRCODE_UNDEFINED_OBJECT,
                    "storage \"" + std::string(storage_name) + "\" holds no set at \"" +
                        Printable(location) + "\"",
                    "", ListingHint(storage_name));
    if (!sets[0].complete)
      throw PgError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                    "the set at \"" + Printable(location) + "\" is incomplete",
                    Valid(Printable(sets[0].problem)),
                    "A set without a manifest.json that reads is a backup that did not finish, "
                    "or is still being written: nothing says what it should hold, and it is "
                    "never imported.");
    auto refused = refusals.find(key);
    if (refused != refusals.end())
      throw PgError(ERRCODE_DATA_CORRUPTED,
                    "the set at \"" + Printable(location) +
                        "\" cannot be imported: " + Valid(refused->second),
                    "Its objects do not match its manifest, so a restore of it would fail.",
                    "Import a copy of it from another storage, or check the set with pgbak "
                    "verify.");
  }
  for (const SetSummary& set : sets) {
    std::string where = storage->Location(set.key);
    if (!set.complete) {
      counts.incomplete++;
      PgCall([&] {
        ereport(NOTICE, (errmsg("pgbak_import: the set at \"%s\" is incomplete and was not "
                                "imported",
                                ValidText(where.c_str())),
                         errdetail("%s", ValidText(set.problem.c_str()))));
      });
      continue;
    }
    auto refused = refusals.find(set.key);
    if (refused != refusals.end()) {
      counts.refused++;
      PgCall([&] {
        ereport(WARNING, (errcode(ERRCODE_DATA_CORRUPTED),
                          errmsg("pgbak_import: the set at \"%s\" was not imported: %s",
                                 ValidText(where.c_str()), ValidText(refused->second.c_str())),
                          errhint("Import a copy of it from another storage, or check the set with "
                                  "pgbak verify.")));
      });
      continue;
    }
    const ImportRecord& record = records.at(set.key);
    int64 existing = 0, id = 0;
    PgCall([&] {
      CHECK_FOR_INTERRUPTS();
      existing = ExistingRow(storage_name, where.c_str());
      if (existing == 0) {
        id = InsertImported(storage_name, where.c_str(), record, requested_by);
        if (id == 0)  // a concurrent import registered it first
          existing = ExistingRow(storage_name, where.c_str());
      }
    });
    if (id == 0) {
      counts.registered++;
      if (location != nullptr)
        PgCall([&] {
          ereport(NOTICE, (errmsg("the set at \"%s\" is already registered as backup " INT64_FORMAT,
                                  ValidText(where.c_str()), existing),
                           errdetail("Nothing was imported.")));
        });
      continue;
    }
    counts.imported++;
    PgCall([&] {
      Datum value = Int64GetDatum(id);
      bool null = false;
      tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &null);
    });
  }
}

}  // namespace

}  // namespace pgbak

using namespace pgbak;

// pgbak_storage_sets lists the sets storage holds, complete or not, of any
// cluster, oldest first.
extern "C" Datum pgbak_storage_sets(PG_FUNCTION_ARGS) {
  RequireArgument(fcinfo, 0, "storage");
  char* storage = text_to_cstring(PG_GETARG_TEXT_PP(0));
  Caller caller = EnterAsOwner();
  RequireRole(caller, PgbakRole::kAdmin, "list the sets of a storage");
  CheckStorageExists(storage);
  InitMaterializedSRF(fcinfo, 0);
  ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
  if (SPI_connect() != SPI_OK_CONNECT)
    elog(ERROR, "SPI_connect failed");
  Failure failure;
  CatchCore(failure, [&] {
    std::unique_ptr<Storage> opened = OpenForReading(storage);
    RequireDirectory(storage, *opened);
    for (const SetSummary& set : ListSets(*opened)) {
      std::string location = opened->Location(set.key);
      PgCall([&] { PutSetRow(rsinfo, set, location); });
    }
  });
  RaiseFailure(failure);
  SPI_finish();
  LeaveAsOwner(caller);
  return (Datum)0;
}

// pgbak_import registers the sets of storage (every complete one, or the
// one at location) in backup_log; returns the ids it added.
extern "C" Datum pgbak_import(PG_FUNCTION_ARGS) {
  RequireArgument(fcinfo, 0, "storage");
  char* storage = text_to_cstring(PG_GETARG_TEXT_PP(0));
  char* location = PG_ARGISNULL(1) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(1));
  Caller caller = EnterAsOwner();
  RequireRole(caller, PgbakRole::kAdmin, "import backup sets");
  if (RecoveryInProgress())
    ereport(ERROR, (errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
                    errmsg("cannot import backup sets on a standby"),
                    errhint("Import them on the primary, whose backup_log this is.")));
  CheckStorageExists(storage);
  if (location != nullptr && location[0] == '\0')
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("location must not be empty"),
                    errhint("Pass a location from pgbak_storage_sets('%s'), or NULL to import "
                            "every complete set of the storage.",
                            storage)));
  // A set of bigint: the executor describes its one column.
  InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
  ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
  const char* requested_by = CallerName(caller);
  if (SPI_connect() != SPI_OK_CONNECT)
    elog(ERROR, "SPI_connect failed");
  ImportCounts counts;
  Failure failure;
  CatchCore(failure, [&] { ImportSets(storage, location, requested_by, rsinfo, counts); });
  RaiseFailure(failure);
  SPI_finish();
  if (location == nullptr)
    ereport(NOTICE,
            (errmsg("pgbak_import: " INT64_FORMAT " set%s of storage \"%s\" imported",
                    counts.imported, counts.imported == 1 ? "" : "s", storage),
             errdetail(INT64_FORMAT " already registered, " INT64_FORMAT
                                    " refused (see the warnings), " INT64_FORMAT " incomplete.",
                       counts.registered, counts.refused, counts.incomplete)));
  LeaveAsOwner(caller);
  return (Datum)0;
}
