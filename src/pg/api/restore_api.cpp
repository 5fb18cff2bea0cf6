// restore_api.cpp: the SQL functions that queue verifications, restores and
// copies: pgbak_verify, pgbak_restore and pgbak_copy.
//
// Each reads a set: it must exist, be a backup or a copy of one, and have
// succeeded. Every
// argument is checked before the row is queued, so a bad call changes
// nothing; the work runs in a background worker (verify_job.cpp).

extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xlog.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(pgbak_verify);
PG_FUNCTION_INFO_V1(pgbak_restore);
PG_FUNCTION_INFO_V1(pgbak_recover);
PG_FUNCTION_INFO_V1(pgbak_copy);
}

#include <string>

#include "core/options/recover_options.h"
#include "core/options/restore_options.h"
#include "pg/api/privileges.h"
#include "pg/api/storage_grant.h"
#include "pg/api/validation.h"
#include "pg/boundary/boundary.h"
#include "pg/catalog/catalog.h"
#include "pg/catalog/storage_registry.h"
#include "pg/runtime/settings.h"
#include "pg/runtime/shared_state.h"

namespace pgbak {

namespace {

// SourceBackup is what the functions need of the backup they read.
struct SourceBackup {
  char* database;  // nullptr for a base backup
  char* storage;
  char* format;
  bool base;  // a physical base backup (kind 'base')
};

// LoadSourceBackup reads backup id and raises unless it is a succeeded
// backup or copy of one, or (with allow_base: a verify) a succeeded base
// backup. Needs SPI connected.
SourceBackup LoadSourceBackup(int64 id, bool allow_base = false) {
  const char* sql = psprintf(
      "SELECT kind, status, database_name, storage_name, coalesce(format, 'custom') FROM %s "
      "WHERE id = $1",
      BackupLogName());
  Oid types[1] = {INT8OID};
  Datum values[1] = {Int64GetDatum(id)};
  if (SPI_execute_with_args(sql, 1, types, values, nullptr, true, 1) != SPI_OK_SELECT)
    elog(ERROR, "could not read backup_log");
  if (SPI_processed == 0)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                    errmsg("backup " INT64_FORMAT " does not exist", id),
                    errhint("See SELECT id, database_name, finished_at FROM backup_log "
                            "WHERE kind = 'backup' AND status = 'succeeded'.")));
  HeapTuple tuple = SPI_tuptable->vals[0];
  TupleDesc desc = SPI_tuptable->tupdesc;
  char* kind = SPI_getvalue(tuple, desc, 1);
  char* status = SPI_getvalue(tuple, desc, 2);
  bool base = strcmp(kind, "base") == 0;
  if (base && !allow_base)
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("backup " INT64_FORMAT " is a base backup: it cannot be restored or "
                           "copied by this function",
                           id),
                    errhint("pgbak_verify(" INT64_FORMAT ") checks it; the README's \"Restoring a "
                            "base backup by hand\" restores it.",
                            id)));
  if (!base && strcmp(kind, "backup") != 0 && strcmp(kind, "copy") != 0)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("operation " INT64_FORMAT " is a %s, not a backup", id, kind),
                    errhint("Backups and their copies hold sets; verifications and restores "
                            "do not.")));
  if (strcmp(status, "succeeded") != 0)
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("backup " INT64_FORMAT " cannot be used: its status is %s", id, status),
                    errhint("Only a succeeded backup can be verified or restored.")));
  SourceBackup backup;
  backup.database = SPI_getvalue(tuple, desc, 3);
  backup.storage = SPI_getvalue(tuple, desc, 4);
  backup.format = SPI_getvalue(tuple, desc, 5);
  backup.base = base;
  return backup;
}

// RequireSourceStorage refuses a backup whose storage is no longer defined
// (and keeps it defined until this transaction ends).
void RequireSourceStorage(int64 id, const SourceBackup& backup) {
  if (!StorageIsDefined(backup.storage))
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                    errmsg("the storage \"%s\" of backup " INT64_FORMAT " is no longer defined",
                           backup.storage, id),
                    errhint("Define it again with pgbak_storage_add() to reach the sets in it.")));
}

// QueueOperation inserts a queued verify or restore row; returns its id.
int64 QueueOperation(const char* kind, int64 source_id, const char* database,
                     const char* requested_by, const SourceBackup& backup,
                     const char* options_json) {
  const char* sql = psprintf(
      "INSERT INTO %s (kind, source_id, database_name, storage_name, format, options, "
      "requested_by) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7) RETURNING id",
      BackupLogName());
  Oid types[7] = {TEXTOID, INT8OID, NAMEOID, TEXTOID, TEXTOID, TEXTOID, NAMEOID};
  // A base backup's verify is about the cluster: no database.
  const char nulls[8] = {' ', ' ', database == nullptr ? 'n' : ' ', ' ', ' ', ' ', ' ', '\0'};
  Datum values[7] = {
      CStringGetTextDatum(kind),
      Int64GetDatum(source_id),
      database == nullptr ? (Datum)0 : DirectFunctionCall1(namein, CStringGetDatum(database)),
      CStringGetTextDatum(backup.storage),
      CStringGetTextDatum(backup.format),
      CStringGetTextDatum(options_json),
      DirectFunctionCall1(namein, CStringGetDatum(requested_by))};
  if (SPI_execute_with_args(sql, 7, types, values, nulls, false, 1) != SPI_OK_INSERT_RETURNING ||
      SPI_processed != 1)
    elog(ERROR, "could not queue the %s", kind);
  bool isnull = false;
  return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

// CheckedRestore is the outcome of validating restore options.
struct CheckedRestore {
  char* options_json;
  bool partial;
  bool clean;
  int jobs;
  bool allow_superuser_code;
  bool globals;
};

// CheckRestoreOptions validates the options; raises on bad input.
CheckedRestore CheckRestoreOptions(const char* json_text) {
  CheckedRestore checked{};
  Failure failure;
  CatchCore(failure, [&] {
    RestoreOptions options = ParseRestoreOptions(json_text);
    RefuseCatalogNames(options.tables, "restore option \"tables\"");
    std::string normalized = options.ToJson().Serialize();
    PgCall([&] { checked.options_json = pstrdup(normalized.c_str()); });
    checked.partial = options.partial();
    checked.clean = options.clean;
    checked.jobs = options.jobs;
    checked.allow_superuser_code = options.allow_superuser_code;
    checked.globals = options.globals;
  });
  ReportFailure(failure);
  return checked;
}

// RefusePlainCatalogSet raises for a plain-format backup of pgbak.database:
// its script creates pgbak_ext, which refuses every other database, and a
// SQL script cannot be filtered the way a custom archive's list can.
void RefusePlainCatalogSet(int64 id, const SourceBackup& backup, const char* what) {
  if (strcmp(backup.format, "plain") == 0 && strcmp(backup.database, setting_database) == 0)
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("cannot %s backup " INT64_FORMAT ": a plain-format backup of \"%s\"",
                           what, id, setting_database),
                    errdetail("Its script creates pgbak_ext, which can only exist in \"%s\".",
                              setting_database),
                    errhint("Back up the catalog database in custom format, or restore this one by "
                            "hand without its CREATE EXTENSION pgbak_ext line.")));
}

// RefuseUnusableTarget raises for a target that is a template or does not
// accept connections. CREATE DATABASE copies templates (a restored template1
// would seed every database created after it), and the worker finds such a
// target out only once the whole set is restored, when replacing it fails.
void RefuseUnusableTarget(const char* target) {
  bool is_template = strcmp(target, "template0") == 0 || strcmp(target, "template1") == 0;
  bool allows_connections = true;
  Oid oid = get_database_oid(target, true);
  HeapTuple tuple = OidIsValid(oid) ? SearchSysCache1(DATABASEOID, ObjectIdGetDatum(oid)) : nullptr;
  if (HeapTupleIsValid(tuple)) {
    Form_pg_database form = (Form_pg_database)GETSTRUCT(tuple);
    is_template = is_template || form->datistemplate;
    allows_connections = form->datallowconn;
    ReleaseSysCache(tuple);
  }
  if (is_template)
    ereport(ERROR,
            (errcode(ERRCODE_WRONG_OBJECT_TYPE),
             errmsg("cannot restore into template database \"%s\"", target),
             errdetail("CREATE DATABASE copies templates into new databases; a restore neither "
                       "replaces a template nor adds to one."),
             errhint("Restore into a database of another name. template0 and template1 are never "
                     "restore targets; another template becomes one after ALTER DATABASE ... "
                     "IS_TEMPLATE false.")));
  if (!allows_connections)
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
             errmsg("cannot restore into database \"%s\": it does not accept connections", target),
             errdetail("Its datallowconn is false."),
             errhint("Restore into a database of another name, or first run ALTER DATABASE "
                     "%s ALLOW_CONNECTIONS true.",
                     quote_identifier(target))));
}

}  // namespace

}  // namespace pgbak

using namespace pgbak;

// RequireWalInStorage refuses what needs the WAL archive next to base
// backups in storage (a drill, a recovery) unless this server archives
// its WAL there: pgbak restore-cluster reads the WAL from the base
// backup's own storage, and an archive_command's copies elsewhere are
// not found there.
static void RequireWalInStorage(const char* storage, const char* what) {
  const char* library = GetConfigOption("archive_library", true, false);
  const char* mode = GetConfigOption("archive_mode", true, false);
  bool archiving = library != nullptr && strcmp(library, "pgbak_ext") == 0 && mode != nullptr &&
                   strcmp(mode, "off") != 0;
  if (!archiving || setting_wal_storage == nullptr || strcmp(setting_wal_storage, storage) != 0)
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
             errmsg("%s needs the WAL archive in storage \"%s\"", what, storage),
             errdetail("This server archives its WAL %s.",
                       !archiving ? "without pgbak_ext (archive_library is not 'pgbak_ext')"
                                  : psprintf("to storage \"%s\"", setting_wal_storage)),
             errhint("Set archive_library = 'pgbak_ext' and pgbak.wal_storage to the storage of "
                     "the base backups; the README's \"Restoring a base backup by hand\" "
                     "recovers from another archive.")));
}

// RequireArchivedWal refuses the restore drill of base backup id unless
// its WAL was archived: without it the restored cluster cannot reach
// consistency. Needs SPI connected.
static void RequireArchivedWal(int64 id) {
  const char* sql =
      psprintf("SELECT coalesce(wal_archived, false) FROM %s WHERE id = $1", BackupLogName());
  Oid types[1] = {INT8OID};
  Datum values[1] = {Int64GetDatum(id)};
  if (SPI_execute_with_args(sql, 1, types, values, nullptr, true, 1) != SPI_OK_SELECT ||
      SPI_processed != 1)
    elog(ERROR, "could not read backup_log");
  bool isnull = false;
  if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
             errmsg("base backup " INT64_FORMAT " cannot be drilled: its WAL was not archived", id),
             errdetail("A restore of it cannot reach a consistent state without the WAL written "
                       "while it was taken."),
             errhint("pgbak_verify(" INT64_FORMAT
                     ", false) checks its objects; take base backups while archive_library = "
                     "'pgbak_ext' archives to pgbak.wal_storage.",
                     id)));
}

// pgbak_verify queues a verification of a backup; returns its operation id.
extern "C" Datum pgbak_verify(PG_FUNCTION_ARGS) {
  RequireArgument(fcinfo, 0, "backup_id");
  RequireArgument(fcinfo, 1, "deep");
  int64 backup_id = PG_GETARG_INT64(0);
  bool deep = PG_GETARG_BOOL(1);
  Caller caller = EnterAsOwner();
  RequireRole(caller, PgbakRole::kOperator, "verify backups");
  if (SPI_connect() != SPI_OK_CONNECT)
    elog(ERROR, "SPI_connect failed");
  SourceBackup backup = LoadSourceBackup(backup_id, true);
  RequireSourceStorage(backup_id, backup);
  if (deep && backup.base) {
    RequireArchivedWal(backup_id);
    RequireWalInStorage(backup.storage, "a restore drill of a base backup");
  }
  if (deep)
    RefusePlainCatalogSet(backup_id, backup, "restore-drill");
  int64 id = QueueOperation("verify", backup_id, backup.database, CallerName(caller), backup,
                            deep ? "{\"deep\": true}" : "{\"deep\": false}");
  SPI_finish();
  WakeLauncherAtCommit();
  LeaveAsOwner(caller);
  PG_RETURN_INT64(id);
}

// pgbak_restore queues a restore of a backup; returns its operation id.
extern "C" Datum pgbak_restore(PG_FUNCTION_ARGS) {
  RequireArgument(fcinfo, 0, "backup_id");
  RequireArgument(fcinfo, 1, "target_database");
  RequireArgument(fcinfo, 2, "options");
  int64 backup_id = PG_GETARG_INT64(0);
  Name target = DatabaseNameArgument(fcinfo, 1, "target_database");
  Jsonb* options = PG_GETARG_JSONB_P(2);
  Caller caller = EnterAsOwner();
  RequireRole(caller, PgbakRole::kOperator, "restore backups");

  if (NameStr(*target)[0] == '\0')
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("target_database must not be empty")));
  if (strcmp(NameStr(*target), setting_database) == 0)
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("cannot restore into \"%s\": it holds the catalog of pgbak_ext",
                           setting_database),
                    errhint("Restore into another database, then move what you need from there.")));
  CheckedRestore checked =
      CheckRestoreOptions(JsonbToCString(nullptr, &options->root, VARSIZE(options)));
  RefuseUnusableTarget(NameStr(*target));
  if (checked.allow_superuser_code && !CallerHas(caller, PgbakRole::kAdmin))
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
             errmsg("permission denied for restore option \"allow_superuser_code\""),
             errdetail("It lets other roles' code run with superuser rights during the restore."),
             errhint("Only members of pgbak_admin may pass it.")));
  if (checked.globals && !CallerHas(caller, PgbakRole::kAdmin))
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("permission denied for restore option \"globals\""),
                    errdetail("It creates roles, superusers among them if the set has any."),
                    errhint("Only members of pgbak_admin may pass it.")));

  if (SPI_connect() != SPI_OK_CONNECT)
    elog(ERROR, "SPI_connect failed");
  SourceBackup backup = LoadSourceBackup(backup_id);
  RequireSourceStorage(backup_id, backup);
  RefusePlainCatalogSet(backup_id, backup, "restore");
  if (strcmp(backup.format, "plain") == 0 && (checked.partial || checked.jobs > 1))
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("backup " INT64_FORMAT " is in plain format", backup_id),
                    errdetail("A plain-format backup is a SQL script: it restores whole, "
                              "with one connection."),
                    errhint("Leave out \"tables\", \"schemas\" and \"jobs\".")));
  bool exists = OidIsValid(get_database_oid(NameStr(*target), true));
  if (!checked.partial && exists && !checked.clean)
    ereport(ERROR, (errcode(ERRCODE_DUPLICATE_DATABASE),
                    errmsg("database \"%s\" already exists", NameStr(*target)),
                    errhint("Restore into a new database, or pass {\"clean\": true} to drop "
                            "and recreate it.")));
  if (checked.partial && !exists)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_DATABASE),
                    errmsg("database \"%s\" does not exist", NameStr(*target)),
                    errhint("Tables and schemas are restored into an existing database; "
                            "a whole backup is restored into a new one.")));
  // Writing into a database that exists (dropping it for "clean", or
  // restoring tables into it) takes more than restoring into a new one.
  if (exists && !CallerHas(caller, PgbakRole::kAdmin) &&
      !CallerOwnsDatabase(caller, NameStr(*target)))
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
             errmsg("permission denied to restore into existing database \"%s\"", NameStr(*target)),
             errdetail("Members of pgbak_operator restore into new databases; "
                       "overwriting or adding to an existing one takes pgbak_admin or "
                       "ownership of that database.")));
  int64 id = QueueOperation("restore", backup_id, NameStr(*target), CallerName(caller), backup,
                            checked.options_json);
  SPI_finish();
  WakeLauncherAtCommit();
  LeaveAsOwner(caller);
  PG_RETURN_INT64(id);
}

// pgbak_copy queues a copy of a backup's set (or of a copy's) to another
// storage; returns its operation id.
extern "C" Datum pgbak_copy(PG_FUNCTION_ARGS) {
  RequireArgument(fcinfo, 0, "backup_id");
  RequireArgument(fcinfo, 1, "storage");
  int64 backup_id = PG_GETARG_INT64(0);
  char* storage = text_to_cstring(PG_GETARG_TEXT_PP(1));
  if (RecoveryInProgress())
    ereport(ERROR,
            (errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION), errmsg("cannot queue a copy on a standby"),
             errhint("Run copies on the primary; the launcher sleeps on a standby.")));
  Caller caller = EnterAsOwner();
  CheckStorageExists(storage);
  if (SPI_connect() != SPI_OK_CONNECT)
    elog(ERROR, "SPI_connect failed");
  // The right follows the database's OID: a database that took a dropped
  // one's name gets no rights over its sets. Checked before anything of
  // the row is told.
  if (!CallerHas(caller, PgbakRole::kOperator)) {
    const char* owner_sql =
        psprintf("SELECT database_name::text, database_oid FROM %s WHERE id = $1", BackupLogName());
    Oid owner_types[1] = {INT8OID};
    Datum owner_values[1] = {Int64GetDatum(backup_id)};
    if (SPI_execute_with_args(owner_sql, 1, owner_types, owner_values, nullptr, true, 1) !=
        SPI_OK_SELECT)
      elog(ERROR, "could not read backup_log");
    bool owns = false;
    if (SPI_processed > 0) {
      bool no_oid = true;
      char* name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
      Oid oid =
          DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &no_oid));
      owns = no_oid ? CallerOwnsDatabase(caller, name) : CallerOwnsDatabaseOid(caller, oid);
    }
    if (!owns)
      ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                      errmsg("permission denied to copy backup " INT64_FORMAT, backup_id),
                      errdetail("Only members of pgbak_operator and the owner of the backed-up "
                                "database may copy its sets.")));
    // An owner gets one copy in the queue at a time, as one backup.
    const char* pending_sql = psprintf(
        "SELECT 1 FROM %s WHERE kind = 'copy' AND requested_by = $1 AND status IN "
        "('queued', 'running') LIMIT 1",
        BackupLogName());
    Oid pending_types[1] = {NAMEOID};
    Datum pending_values[1] = {DirectFunctionCall1(namein, CStringGetDatum(CallerName(caller)))};
    if (SPI_execute_with_args(pending_sql, 1, pending_types, pending_values, nullptr, true, 1) !=
        SPI_OK_SELECT)
      elog(ERROR, "could not read backup_log");
    if (SPI_processed > 0)
      ereport(ERROR, (errcode(ERRCODE_OBJECT_IN_USE),
                      errmsg("a copy requested by \"%s\" is already queued or running",
                             CallerName(caller)),
                      errhint("Wait for it with pgbak_wait(); members of pgbak_operator can queue "
                              "more.")));
  }
  SourceBackup backup = LoadSourceBackup(backup_id);
  RequireSourceStorage(backup_id, backup);
  if (strcmp(storage, backup.storage) == 0)
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
             errmsg("backup " INT64_FORMAT " is already in storage \"%s\"", backup_id, storage),
             errhint("Copy it to another storage.")));
  RequireStorageUse(caller, storage);
  // One copy of a set per storage: a second would be the same objects
  // under another id.
  const char* existing_sql = psprintf(
      "SELECT id, status FROM %s WHERE kind = 'copy' AND source_id = $1 AND storage_name = $2 "
      "AND status IN ('queued', 'running', 'succeeded') ORDER BY id LIMIT 1",
      BackupLogName());
  Oid existing_types[2] = {INT8OID, TEXTOID};
  Datum existing_values[2] = {Int64GetDatum(backup_id), CStringGetTextDatum(storage)};
  if (SPI_execute_with_args(existing_sql, 2, existing_types, existing_values, nullptr, true, 1) !=
      SPI_OK_SELECT)
    elog(ERROR, "could not read backup_log");
  if (SPI_processed > 0)
    ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
                    errmsg("backup " INT64_FORMAT " already has a copy in storage \"%s\"",
                           backup_id, storage),
                    errdetail("Operation %s, %s.",
                              SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
                              SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2))));
  int64 id = QueueCopy(backup_id, storage, CallerName(caller), nullptr);
  if (id == 0)
    ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
                    errmsg("backup " INT64_FORMAT " already has a copy in storage \"%s\"",
                           backup_id, storage),
                    errdetail("A copy of the same set is queued, running or there.")));
  SPI_finish();
  WakeLauncherAtCommit();
  LeaveAsOwner(caller);
  PG_RETURN_INT64(id);
}

// pgbak_recover queues a point-in-time recovery of tables of a database
// into a new schema of it; returns its operation id.
extern "C" Datum pgbak_recover(PG_FUNCTION_ARGS) {
  RequireArgument(fcinfo, 0, "database");
  RequireArgument(fcinfo, 1, "target_time");
  RequireArgument(fcinfo, 2, "options");
  Name database = DatabaseNameArgument(fcinfo, 0, "database");
  TimestampTz target_time = PG_GETARG_TIMESTAMPTZ(1);
  Jsonb* options = PG_GETARG_JSONB_P(2);
  if (RecoveryInProgress())
    ereport(ERROR, (errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
                    errmsg("cannot queue a recovery on a standby"),
                    errhint("Recover on the primary; the launcher sleeps on a standby.")));
  Caller caller = EnterAsOwner();
  RequireRole(caller, PgbakRole::kOperator, "recover tables");
  if (strcmp(NameStr(*database), setting_database) == 0)
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("cannot recover tables into \"%s\": it holds the catalog of pgbak_ext",
                           setting_database),
                    errhint("Recover the cluster with pgbak restore-cluster instead.")));
  if (TIMESTAMP_NOT_FINITE(target_time) || target_time > GetCurrentTimestamp())
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("target_time must be a moment in the past")));
  // The options, checked as the worker will read them.
  char* options_json = nullptr;
  char* target_database = nullptr;
  Failure failure;
  CatchCore(failure, [&] {
    RecoverOptions parsed =
        ParseRecoverOptions(JsonbToCString(nullptr, &options->root, VARSIZE(options)));
    RefuseCatalogNames(parsed.tables, "recover option \"tables\"");
    std::string normalized = parsed.ToJson().Serialize();
    PgCall([&] {
      options_json = pstrdup(normalized.c_str());
      if (!parsed.target_database.empty())
        target_database = pstrdup(parsed.target_database.c_str());
    });
  });
  ReportFailure(failure);
  if (target_database != nullptr) {
    // The whole database as a new one: as pgbak_restore into a new
    // database, pgbak_operator's; the database may be gone from the live
    // cluster (a dropped database comes back this way).
    if (strcmp(target_database, setting_database) == 0)
      ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                      errmsg("cannot recover into \"%s\": it holds the catalog of pgbak_ext",
                             setting_database)));
    if (OidIsValid(get_database_oid(target_database, true)))
      ereport(ERROR, (errcode(ERRCODE_DUPLICATE_DATABASE),
                      errmsg("database \"%s\" already exists", target_database),
                      errhint("Recover option \"target_database\" names a new database.")));
  }
  Oid oid = get_database_oid(NameStr(*database), true);
  if (target_database == nullptr && !OidIsValid(oid))
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_DATABASE),
                    errmsg("database \"%s\" does not exist", NameStr(*database)),
                    errhint("The tables are recovered into a new schema of the live database; "
                            "{\"target_database\": ...} brings back a database that is gone.")));
  if (target_database == nullptr)
    RefuseUnusableTarget(NameStr(*database));
  if (target_database == nullptr && !CallerHas(caller, PgbakRole::kAdmin) &&
      !CallerOwnsDatabase(caller, NameStr(*database)))
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
             errmsg("permission denied to recover tables into database \"%s\"", NameStr(*database)),
             errdetail("Recovered tables are added to the live database: that takes pgbak_admin "
                       "or ownership of the database.")));
  RequireWalInStorage(setting_wal_storage != nullptr ? setting_wal_storage : "",
                      "a recovery of tables");
  if (SPI_connect() != SPI_OK_CONNECT)
    elog(ERROR, "SPI_connect failed");
  // The base backup recovery starts from: the newest succeeded one in the
  // WAL storage, with its WAL archived, that ended at or before the target.
  const char* sql = psprintf(
      "SELECT id, storage_name, to_char($1 AT TIME ZONE 'UTC', "
      "'YYYY-MM-DD HH24:MI:SS.US') || '+00', "
      "NULL FROM %s WHERE kind = 'base' AND status = 'succeeded' AND wal_archived "
      "AND storage_name = $2 AND finished_at <= $1 ORDER BY finished_at DESC, id DESC LIMIT 1",
      BackupLogName());
  Oid types[2] = {TIMESTAMPTZOID, TEXTOID};
  Datum values[2] = {TimestampTzGetDatum(target_time), CStringGetTextDatum(setting_wal_storage)};
  if (SPI_execute_with_args(sql, 2, types, values, nullptr, true, 1) != SPI_OK_SELECT)
    elog(ERROR, "could not read backup_log");
  if (SPI_processed == 0) {
    const char* earliest_sql = psprintf(
        "SELECT min(finished_at)::text FROM %s WHERE kind = 'base' AND status = 'succeeded' "
        "AND wal_archived AND storage_name = $1",
        BackupLogName());
    Oid earliest_types[1] = {TEXTOID};
    Datum earliest_values[1] = {CStringGetTextDatum(setting_wal_storage)};
    if (SPI_execute_with_args(earliest_sql, 1, earliest_types, earliest_values, nullptr, true, 1) !=
        SPI_OK_SELECT)
      elog(ERROR, "could not read backup_log");
    char* earliest = SPI_processed == 1
                         ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)
                         : nullptr;
    if (earliest == nullptr)
      ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                      errmsg("there is no base backup to recover from"),
                      errhint("Take one with pgbak_base_backup() while archive_library = "
                              "'pgbak_ext' archives the WAL.")));
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("no base backup ended at or before %s", timestamptz_to_str(target_time)),
                    errdetail("The earliest moment recovery reaches is %s, when the oldest base "
                              "backup with archived WAL finished.",
                              earliest)));
  }
  HeapTuple tuple = SPI_tuptable->vals[0];
  TupleDesc desc = SPI_tuptable->tupdesc;
  bool isnull = false;
  int64 base_id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
  SourceBackup backup;
  backup.database = NameStr(*database);
  backup.storage = SPI_getvalue(tuple, desc, 2);
  backup.format = pstrdup("custom");
  backup.base = true;
  char* target_text = SPI_getvalue(tuple, desc, 3);
  RequireSourceStorage(base_id, backup);
  // The target time is stored with the options, in UTC with its offset.
  int64 id = QueueOperation("recover", base_id, NameStr(*database), CallerName(caller), backup,
                            options_json);
  const char* time_sql = psprintf(
      "UPDATE %s SET options = options || jsonb_build_object('target_time', $2::text) "
      "WHERE id = $1",
      BackupLogName());
  Oid time_types[2] = {INT8OID, TEXTOID};
  Datum time_values[2] = {Int64GetDatum(id), CStringGetTextDatum(target_text)};
  if (SPI_execute_with_args(time_sql, 2, time_types, time_values, nullptr, false, 0) !=
      SPI_OK_UPDATE)
    elog(ERROR, "could not queue the recovery");
  SPI_finish();
  WakeLauncherAtCommit();
  LeaveAsOwner(caller);
  PG_RETURN_INT64(id);
}
