// sql_api.cpp: the SQL-callable functions that queue, await, cancel and
// watch operations.
//
// These run in the caller's backend and transaction. They validate every
// argument before writing anything, so a bad call changes nothing; the work
// itself happens in background workers.

extern "C" {
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

PG_FUNCTION_INFO_V1(pgbak_install_check);
PG_FUNCTION_INFO_V1(pgbak_run);
PG_FUNCTION_INFO_V1(pgbak_wait);
PG_FUNCTION_INFO_V1(pgbak_cancel);
PG_FUNCTION_INFO_V1(pgbak_progress);
}

#include <string>

#include "core/options/backup_options.h"
#include "pg/api/privileges.h"
#include "pg/api/storage_grant.h"
#include "pg/api/validation.h"
#include "pg/boundary/boundary.h"
#include "pg/catalog/catalog.h"
#include "pg/runtime/settings.h"
#include "pg/runtime/shared_state.h"

namespace pgbak {

namespace {

// Longest sleep of pgbak_wait between two reads of the row (it is woken
// sooner when a worker finishes); the row is cheap to read by primary key.
constexpr long kWaitPollMs = 200;
// How long pgbak_cancel waits for a just-started worker to take its slot.
constexpr long kCancelSlotWaitMs = 10000;

// NormalizeOptions validates backup options given as JSON text and returns
// their normalized JSON (palloc'd) and format; raises on bad input.
char* NormalizeOptions(const char* json_text, char** format) {
  char* normalized = nullptr;
  Failure failure;
  CatchCore(failure, [&] {
    BackupOptions options = ParseBackupOptions(json_text);
    RefuseCatalogNames(options.tables, "backup option \"tables\"");
    RefuseCatalogNames(options.exclude_tables, "backup option \"exclude_tables\"");
    std::string text = options.ToJson().Serialize();
    PgCall([&] {
      normalized = pstrdup(text.c_str());
      *format = pstrdup(options.format.c_str());
    });
  });
  ReportFailure(failure);
  return normalized;
}

// StatusBuffer holds a status; statuses are short words.
struct StatusBuffer {
  char text[32];
};

// StatusQuery is the statement RowStatus runs, built once per call of a
// SQL function (palloc'd).
const char* StatusQuery() {
  return psprintf("SELECT status, xmin::text FROM %s WHERE id = $1", BackupLogName());
}

// RowStatus reads status and inserting transaction of row id into plain
// storage and frees the result, so that polling does not grow memory;
// false if there is no such row.
bool RowStatus(const char* sql, int64 id, StatusBuffer* status, TransactionId* xmin) {
  Oid types[1] = {INT8OID};
  Datum values[1] = {Int64GetDatum(id)};
  if (SPI_execute_with_args(sql, 1, types, values, nullptr, false, 1) != SPI_OK_SELECT)
    elog(ERROR, "could not read backup_log");
  bool found = SPI_processed > 0;
  if (found) {
    char* status_text = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
    char* xmin_text = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
    strlcpy(status->text, status_text, sizeof(status->text));
    *xmin = static_cast<TransactionId>(strtoul(xmin_text, nullptr, 10));
    pfree(status_text);
    pfree(xmin_text);
  }
  SPI_freetuptable(SPI_tuptable);
  return found;
}

// IsFinal says whether a status is one an operation ends in.
bool IsFinal(const char* status) {
  return strcmp(status, "queued") != 0 && strcmp(status, "running") != 0;
}

// UnknownOperation raises the error for an id with no backup_log row.
void UnknownOperation(int64 id) {
  ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                  errmsg("operation " INT64_FORMAT " does not exist", id),
                  errhint("See SELECT id, status FROM backup_log ORDER BY id DESC.")));
}

// RequireOperationRight raises 42501 unless the caller may wait for (a
// monitor, or the owner of the row's database) or cancel (an operator, or
// the owner of the database of a backup) operation id. Needs SPI.
void RequireOperationRight(const Caller& caller, int64 id, bool cancel) {
  if (CallerHas(caller, cancel ? PgbakRole::kOperator : PgbakRole::kMonitor))
    return;
  // A row of version 1.3 knows its database's OID: a database that took a
  // dropped one's name gets no rights over the old rows.
  bool has_oid = BackupLogHasColumn("database_oid");
  const char* sql = psprintf("SELECT database_name::text, kind, %s FROM %s WHERE id = $1",
                             has_oid ? "database_oid" : "NULL::oid", BackupLogName());
  Oid types[1] = {INT8OID};
  Datum values[1] = {Int64GetDatum(id)};
  if (SPI_execute_with_args(sql, 1, types, values, nullptr, true, 1) != SPI_OK_SELECT)
    elog(ERROR, "could not read backup_log");
  if (SPI_processed == 0)
    UnknownOperation(id);
  char* database = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
  char* kind = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
  bool no_oid = true;
  Oid database_oid =
      DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &no_oid));
  bool owns =
      no_oid ? CallerOwnsDatabase(caller, database) : CallerOwnsDatabaseOid(caller, database_oid);
  if (owns && (!cancel || strcmp(kind, "backup") == 0 || strcmp(kind, "copy") == 0))
    return;
  ereport(ERROR,
          (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
           errmsg("permission denied to %s operation " INT64_FORMAT, cancel ? "cancel" : "wait for",
                  id),
           errdetail(cancel ? "Only members of pgbak_operator, and the owner of the database for "
                              "its backups and copies, may cancel an operation."
                            : "Only members of pgbak_monitor, and the owner of the database, may "
                              "follow an operation.")));
}

}  // namespace

}  // namespace pgbak

using namespace pgbak;

// pgbak_install_check refuses CREATE EXTENSION outside pgbak.database.
extern "C" Datum pgbak_install_check(PG_FUNCTION_ARGS) {
  char* current = get_database_name(MyDatabaseId);
  if (current == nullptr || strcmp(current, setting_database) != 0) {
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("pgbak_ext can only be created in database \"%s\"", setting_database),
                    errdetail("pgbak.database is \"%s\"; this is database \"%s\".",
                              setting_database, current ? current : "?"),
                    errhint("Connect to \"%s\" to create the extension, or set pgbak.database in "
                            "postgresql.conf and restart the server.",
                            setting_database)));
  }
  PG_RETURN_VOID();
}

// pgbak_run validates a backup request and queues it; returns the row id.
extern "C" Datum pgbak_run(PG_FUNCTION_ARGS) {
  RequireArgument(fcinfo, 0, "database");
  RequireArgument(fcinfo, 1, "storage");
  RequireArgument(fcinfo, 2, "options");
  Name database = DatabaseNameArgument(fcinfo, 0, "database");
  char* storage = text_to_cstring(PG_GETARG_TEXT_PP(1));
  Jsonb* options = PG_GETARG_JSONB_P(2);

  if (RecoveryInProgress())
    ereport(ERROR, (errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
                    errmsg("cannot queue a backup on a standby"),
                    errhint("Run backups on the primary; the launcher sleeps on a standby.")));

  CheckDatabaseForBackup(NameStr(*database));
  Caller caller = EnterAsOwner();
  RequireBackupRight(caller, NameStr(*database), "back up this database");
  CheckStorageExists(storage);

  char* format = nullptr;
  char* normalized =
      NormalizeOptions(JsonbToCString(nullptr, &options->root, VARSIZE(options)), &format);

  if (SPI_connect() != SPI_OK_CONNECT)
    elog(ERROR, "SPI_connect failed");
  RequireStorageUse(caller, storage);
  // A database's owner (without the operator role) gets one manual backup
  // of it in the queue at a time, so that owners cannot fill the queue
  // that everyone's scheduled backups wait in.
  if (!CallerHas(caller, PgbakRole::kOperator)) {
    const char* pending_sql = psprintf(
        "SELECT count(*) FROM %s WHERE kind = 'backup' AND database_name = $1 "
        "AND status IN ('queued', 'running') AND job_name IS NULL",
        BackupLogName());
    Oid pending_types[1] = {NAMEOID};
    Datum pending_values[1] = {NameGetDatum(database)};
    bool isnull = false;
    if (SPI_execute_with_args(pending_sql, 1, pending_types, pending_values, nullptr, true, 1) !=
            SPI_OK_SELECT ||
        SPI_processed != 1)
      elog(ERROR, "could not read backup_log");
    if (DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) > 0)
      ereport(ERROR, (errcode(ERRCODE_OBJECT_IN_USE),
                      errmsg("a backup of database \"%s\" is already queued or running",
                             NameStr(*database)),
                      errhint("Wait for it with pgbak_wait(); members of pgbak_operator can queue "
                              "more.")));
  }
  // The count above gives the friendly refusal; with version 1.3's schema a
  // unique index makes the limit hold for calls that run at the same time
  // (each would pass the count before any had committed).
  bool owner_limited = !CallerHas(caller, PgbakRole::kOperator) && CatalogHas13();
  const char* sql =
      owner_limited
          ? psprintf(
                "INSERT INTO %s (kind, database_name, storage_name, options, format, "
                "requested_by, owner_queued) VALUES ('backup', $1, $2, $3::jsonb, $4, $5, "
                "true) ON CONFLICT (database_name) WHERE kind = 'backup' AND owner_queued "
                "AND status IN ('queued', 'running') DO NOTHING RETURNING id",
                BackupLogName())
          : psprintf(
                "INSERT INTO %s (kind, database_name, storage_name, options, format, "
                "requested_by) VALUES ('backup', $1, $2, $3::jsonb, $4, $5) RETURNING id",
                BackupLogName());
  Oid types[5] = {NAMEOID, TEXTOID, TEXTOID, TEXTOID, NAMEOID};
  NameData requested_by;
  namestrcpy(&requested_by, CallerName(caller));
  Datum values[5] = {NameGetDatum(database), CStringGetTextDatum(storage),
                     CStringGetTextDatum(normalized), CStringGetTextDatum(format),
                     NameGetDatum(&requested_by)};
  if (SPI_execute_with_args(sql, 5, types, values, nullptr, false, 1) != SPI_OK_INSERT_RETURNING)
    elog(ERROR, "could not queue the backup");
  if (SPI_processed != 1)
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_IN_USE),
             errmsg("a backup of database \"%s\" is already queued or running", NameStr(*database)),
             errhint("Wait for it with pgbak_wait(); members of pgbak_operator can queue "
                     "more.")));
  bool isnull = false;
  int64 id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  SPI_finish();
  WakeLauncherAtCommit();
  LeaveAsOwner(caller);
  PG_RETURN_INT64(id);
}

// pgbak_wait waits until operation id has finished and returns its status;
// after timeout_s seconds it returns the status it has then.
extern "C" Datum pgbak_wait(PG_FUNCTION_ARGS) {
  RequireArgument(fcinfo, 0, "id");
  RequireArgument(fcinfo, 1, "timeout_s");
  int64 id = PG_GETARG_INT64(0);
  int32 timeout_s = PG_GETARG_INT32(1);
  if (timeout_s < 0)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("timeout_s must be zero or positive, not %d", timeout_s)));
  if (IsolationUsesXactSnapshot())
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("pgbak_wait cannot see progress in a %s transaction",
                           IsolationIsSerializable() ? "SERIALIZABLE" : "REPEATABLE READ"),
                    errhint("Call pgbak_wait in a READ COMMITTED transaction.")));

  TimestampTz deadline =
      TimestampTzPlusMilliseconds(GetCurrentTimestamp(), static_cast<int64>(timeout_s) * 1000);
  Caller caller = EnterAsOwner();
  if (SPI_connect() != SPI_OK_CONNECT)
    elog(ERROR, "SPI_connect failed");
  RequireOperationRight(caller, id, false);
  const char* sql = StatusQuery();
  StatusBuffer status;
  for (;;) {
    TransactionId xmin = InvalidTransactionId;
    if (!RowStatus(sql, id, &status, &xmin))
      UnknownOperation(id);
    if (IsFinal(status.text))
      break;
    if (TransactionIdIsCurrentTransactionId(xmin))
      ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                      errmsg("operation " INT64_FORMAT " was queued in this transaction", id),
                      errdetail("The launcher cannot see it until this transaction commits."),
                      errhint("Commit first, then call pgbak_wait in a later transaction.")));
    long remaining_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
    if (remaining_ms <= 0)
      break;
    // Woken when a worker or the launcher commits an operation's end; the
    // timeout catches ends made elsewhere (pgbak_cancel of a queued one).
    WaitForFinish(Min(remaining_ms, kWaitPollMs));
    CHECK_FOR_INTERRUPTS();
  }
  StopWaitingForFinish();
  text* result = cstring_to_text(status.text);
  text* copy = static_cast<text*>(SPI_palloc(VARSIZE(result)));
  memcpy(copy, result, VARSIZE(result));
  SPI_finish();
  LeaveAsOwner(caller);
  PG_RETURN_TEXT_P(copy);
}

// pgbak_cancel cancels a queued operation at once, or asks the worker of a
// running one to stop; false if the operation had already finished.
extern "C" Datum pgbak_cancel(PG_FUNCTION_ARGS) {
  RequireArgument(fcinfo, 0, "id");
  int64 id = PG_GETARG_INT64(0);
  Caller caller = EnterAsOwner();
  if (SPI_connect() != SPI_OK_CONNECT)
    elog(ERROR, "SPI_connect failed");
  RequireOperationRight(caller, id, true);
  const char* status_sql = StatusQuery();
  StatusBuffer status;
  TransactionId xmin = InvalidTransactionId;
  if (!RowStatus(status_sql, id, &status, &xmin))
    UnknownOperation(id);
  bool result = false;
  if (strcmp(status.text, "queued") == 0) {
    const char* sql = psprintf(
        "UPDATE %s SET status = 'cancelled', finished_at = clock_timestamp(), "
        "error_message = 'cancelled by pgbak_cancel before it started' "
        "WHERE id = $1 AND status = 'queued'",
        BackupLogName());
    Oid types[1] = {INT8OID};
    Datum values[1] = {Int64GetDatum(id)};
    if (SPI_execute_with_args(sql, 1, types, values, nullptr, false, 0) != SPI_OK_UPDATE)
      elog(ERROR, "could not update backup_log");
    result = SPI_processed == 1;
    // If the launcher started it between our read and our update, it is
    // running now: read the status again.
    if (!result && !RowStatus(status_sql, id, &status, &xmin))
      UnknownOperation(id);
  }
  if (!result && strcmp(status.text, "running") == 0) {
    // A worker that has just been started may not hold its slot yet.
    TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), kCancelSlotWaitMs);
    while (!(result = RequestCancel(id))) {
      if (!RowStatus(status_sql, id, &status, &xmin) || IsFinal(status.text))
        break;
      if (TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline) <= 0)
        break;
      (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 50,
                      PG_WAIT_EXTENSION);
      ResetLatch(MyLatch);
      CHECK_FOR_INTERRUPTS();
    }
  }
  SPI_finish();
  LeaveAsOwner(caller);
  PG_RETURN_BOOL(result);
}

// pgbak_progress returns one row per running operation from shared memory.
extern "C" Datum pgbak_progress(PG_FUNCTION_ARGS) {
  Caller caller = EnterAsOwner();
  RequireRole(caller, PgbakRole::kMonitor, "read the progress of operations");
  ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
  InitMaterializedSRF(fcinfo, 0);
  int capacity = SlotCount();
  ProgressSnapshot* snaps =
      static_cast<ProgressSnapshot*>(palloc0(sizeof(ProgressSnapshot) * Max(capacity, 1)));
  int n = CopyProgress(snaps, capacity);
  for (int i = 0; i < n; i++) {
    Datum values[8];
    bool nulls[8] = {false};
    NameData database;
    namestrcpy(&database, snaps[i].database);
    values[0] = Int64GetDatum(snaps[i].id);
    values[1] = Int32GetDatum(snaps[i].pid);
    values[2] = CStringGetTextDatum(snaps[i].kind);
    values[3] = NameGetDatum(&database);
    values[4] = CStringGetTextDatum(PhaseName(snaps[i].phase));
    values[5] = Int64GetDatum(static_cast<int64>(snaps[i].bytes_read));
    values[6] = Int64GetDatum(static_cast<int64>(snaps[i].bytes_stored));
    values[7] = TimestampTzGetDatum(snaps[i].started_at);
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  LeaveAsOwner(caller);
  return (Datum)0;
}
