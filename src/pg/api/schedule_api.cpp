// schedule_api.cpp: the SQL functions for jobs and retention:
// pgbak_schedule, pgbak_unschedule and pgbak_prune.
//
// Every argument is validated (job name, database, cron text, options,
// storage) before anything is written, so a bad call changes nothing.

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(pgbak_schedule);
PG_FUNCTION_INFO_V1(pgbak_unschedule);
PG_FUNCTION_INFO_V1(pgbak_prune);
}

#include <ctime>
#include <string>
#include <vector>

#include "core/options/base_backup_options.h"
#include "core/options/job_options.h"
#include "core/schedule/cron.h"
#include "pg/api/base_backup_api.h"
#include "pg/api/privileges.h"
#include "pg/api/validation.h"
#include "pg/boundary/boundary.h"
#include "pg/boundary/pg_time_zone.h"
#include "pg/catalog/catalog.h"
#include "pg/jobs/prune.h"
#include "pg/runtime/settings.h"
#include "pg/runtime/shared_state.h"

namespace pgbak {

namespace {

// CheckedJob is a validated job definition in palloc'd strings.
struct CheckedJob {
  char* options_json;
  char* storage;
  TimestampTz next_run;
  // copy_to: the storages the job's backups are copied to (palloc'd).
  char** copy_to;
  int copy_count;
};

// CheckJob validates the schedule and options of a job (over every
// database, or one) and computes its first run; raises a precise error on
// bad input.
CheckedJob CheckJob(const char* schedule_text, const char* options_text, bool every_database) {
  CheckedJob checked{};
  Failure failure;
  CatchCore(failure, [&] {
    CronSchedule schedule = CronSchedule::Parse(schedule_text);
    JobOptions options = ParseJobOptions(options_text);
    CheckJobScope(options, every_database);
    RefuseCatalogNames(options.backup.tables, "backup option \"tables\"");
    RefuseCatalogNames(options.backup.exclude_tables, "backup option \"exclude_tables\"");
    PgTimeZone zone(setting_timezone);
    std::time_t next = schedule.NextAfter(std::time(nullptr), zone);
    std::string normalized = options.ToJson().Serialize();
    PgCall([&] {
      checked.options_json = pstrdup(normalized.c_str());
      checked.storage = pstrdup(options.storage.c_str());
      checked.copy_count = static_cast<int>(options.copy_to.size());
      checked.copy_to = static_cast<char**>(palloc0(sizeof(char*) * (options.copy_to.size() + 1)));
      for (size_t i = 0; i < options.copy_to.size(); i++)
        checked.copy_to[i] = pstrdup(options.copy_to[i].c_str());
      checked.next_run = UnixToTimestamp(next);
    });
  });
  ReportFailure(failure);
  return checked;
}

// PruneRow is one row of pgbak_prune's result in palloc'd C strings, so the
// SQL function can build tuples with no C++ object alive.
struct PruneRow {
  int64 id;
  char* job_name;  // nullptr for a manual backup
  char* database;
  TimestampTz finished_at;
  char* action;
  char* reason;
  char* location;  // nullptr if unknown
};

// RunPrune plans retention, applies it unless dry_run, and returns the rows
// (palloc'd) and their number; raises on failure. Needs SPI connected.
PruneRow* RunPrune(bool dry_run, int* count) {
  PruneRow* rows = nullptr;
  *count = 0;
  Failure failure;
  CatchCore(failure, [&] {
    std::vector<PruneItem> items = PlanPrune("");
    bool has13 = false;
    PgCall([&] { has13 = CatalogHas13(); });
    if (!dry_run && has13) {
      // A set that goes is only marked 'expiring' here, in the caller's
      // transaction; once that has committed, the launcher removes its
      // objects and marks it 'expired'. A cancel, a terminate or a crash
      // at any moment leaves rows that say what is true. Cleaning a failed
      // set's leftovers changes no row and is done here.
      for (PruneItem& item : items) {
        if (item.action == "delete")
          item.done = MarkExpiring(item);
        else
          ExecutePruneItem(item, StorageUse::kLauncher);
      }
      PgCall([] { WakeLauncherAtCommit(); });
    } else if (!dry_run) {
      // A schema before 1.3 has no 'expiring': objects are removed before
      // their rows change, inside this statement, with interrupts held so
      // that a cancel cannot roll the rows back over removed objects.
      PgCall([] { HOLD_INTERRUPTS(); });
      for (PruneItem& item : items)
        ExecutePruneItem(item, StorageUse::kLauncher);
      PgCall([] { RESUME_INTERRUPTS(); });
    }
    PgCall([&] { rows = static_cast<PruneRow*>(palloc0(sizeof(PruneRow) * (items.size() + 1))); });
    for (const PruneItem& item : items) {
      std::string action = item.action == "locked" ? item.action
                           : dry_run               ? "would " + item.action
                           : item.done
                               ? (item.action != "delete" ? "cleaned"
                                  : has13                 ? "expiring"
                                                          : "deleted")
                               : (item.action == "delete" && has13
                                      ? "kept (no longer succeeded, in use, or now the newest)"
                                      : "failed to " + item.action);
      PruneRow& row = rows[(*count)++];
      PgCall([&] {
        row.id = item.id;
        row.job_name = item.job_name.empty() ? nullptr : pstrdup(item.job_name.c_str());
        // A base backup has no database: NULL, as in backup_log.
        row.database = item.database.empty() ? nullptr : pstrdup(item.database.c_str());
        row.finished_at = UnixToTimestamp(item.finished_at);
        row.action = pstrdup(action.c_str());
        row.reason = pstrdup(item.reason.c_str());
        row.location = item.location.empty() ? nullptr : pstrdup(item.location.c_str());
      });
    }
  });
  ReportFailure(failure);
  return rows;
}

}  // namespace

}  // namespace pgbak

using namespace pgbak;

// pgbak_schedule creates or replaces a job; returns its id. The database
// '*' makes a job over every database, expanded at each run (see
// scheduler.cpp), so it is not looked up here.
extern "C" Datum pgbak_schedule(PG_FUNCTION_ARGS) {
  RequireArgument(fcinfo, 0, "job_name");
  RequireArgument(fcinfo, 2, "schedule");
  RequireArgument(fcinfo, 3, "options");
  // base backups (#17): {"kind": "base"} schedules base backups of the
  // cluster, with database NULL.
  {
    Jsonb* base_options = PG_GETARG_JSONB_P(3);
    char* text = JsonbToCString(nullptr, &base_options->root, VARSIZE(base_options));
    if (IsBaseJob(text))
      return ScheduleBaseJob(fcinfo, text);
  }
  RequireArgument(fcinfo, 1, "database");
  char* job_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
  Name database = DatabaseNameArgument(fcinfo, 1, "database");
  char* schedule = text_to_cstring(PG_GETARG_TEXT_PP(2));
  Jsonb* options = PG_GETARG_JSONB_P(3);
  Caller caller = EnterAsOwner();
  RequireRole(caller, PgbakRole::kAdmin, "schedule backups");

  CheckJobName(job_name);
  bool every_database = strcmp(NameStr(*database), kEveryDatabase) == 0;
  if (!every_database)
    CheckDatabaseForBackup(NameStr(*database));
  CheckedJob checked =
      CheckJob(schedule, JsonbToCString(nullptr, &options->root, VARSIZE(options)), every_database);
  CheckStorageExists(checked.storage);
  for (int i = 0; i < checked.copy_count; i++) {
    CheckStorageExists(checked.copy_to[i]);
    if (strcmp(checked.copy_to[i], checked.storage) == 0)
      ereport(ERROR,
              (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
               errmsg("job option \"copy_to\" names the job's own storage \"%s\"", checked.storage),
               errhint("A copy goes to another storage than the backup it copies.")));
  }

  if (SPI_connect() != SPI_OK_CONNECT)
    elog(ERROR, "SPI_connect failed");
  const char* job_table = SchemaQualified("pgbak_job");
  const char* sql = psprintf(
      "INSERT INTO %s AS j (job_name, database_name, schedule, options, next_run_at, created_by) "
      "VALUES ($1, $2, $3, $4::jsonb, $5, $6) "
      "ON CONFLICT (job_name) DO UPDATE SET database_name = EXCLUDED.database_name, "
      "schedule = EXCLUDED.schedule, options = EXCLUDED.options, "
      "next_run_at = EXCLUDED.next_run_at, updated_at = clock_timestamp() "
      "RETURNING id",
      job_table);
  Oid types[6] = {TEXTOID, NAMEOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, NAMEOID};
  Datum values[6] = {CStringGetTextDatum(job_name),
                     NameGetDatum(database),
                     CStringGetTextDatum(schedule),
                     CStringGetTextDatum(checked.options_json),
                     TimestampTzGetDatum(checked.next_run),
                     DirectFunctionCall1(namein, CStringGetDatum(CallerName(caller)))};
  if (SPI_execute_with_args(sql, 6, types, values, nullptr, false, 1) != SPI_OK_INSERT_RETURNING ||
      SPI_processed != 1)
    elog(ERROR, "could not save job \"%s\"", job_name);
  bool isnull = false;
  int64 id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  SPI_finish();
  WakeLauncherAtCommit();
  LeaveAsOwner(caller);
  PG_RETURN_INT64(id);
}

// pgbak_unschedule removes a job; false if there is none by that name.
// Its history stays in backup_log, and a run in progress finishes.
extern "C" Datum pgbak_unschedule(PG_FUNCTION_ARGS) {
  RequireArgument(fcinfo, 0, "job_name");
  char* job_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
  Caller caller = EnterAsOwner();
  RequireRole(caller, PgbakRole::kAdmin, "unschedule backups");
  if (SPI_connect() != SPI_OK_CONNECT)
    elog(ERROR, "SPI_connect failed");
  const char* sql = psprintf("DELETE FROM %s WHERE job_name = $1", SchemaQualified("pgbak_job"));
  Oid types[1] = {TEXTOID};
  Datum values[1] = {CStringGetTextDatum(job_name)};
  if (SPI_execute_with_args(sql, 1, types, values, nullptr, false, 0) != SPI_OK_DELETE)
    elog(ERROR, "could not remove job \"%s\"", job_name);
  bool removed = SPI_processed > 0;
  SPI_finish();
  if (removed)
    WakeLauncherAtCommit();
  LeaveAsOwner(caller);
  PG_RETURN_BOOL(removed);
}

// pgbak_prune shows (dry_run, the default) or applies every job's retention
// and manual retention.
extern "C" Datum pgbak_prune(PG_FUNCTION_ARGS) {
  RequireArgument(fcinfo, 0, "dry_run");
  bool dry_run = PG_GETARG_BOOL(0);
  Caller caller = EnterAsOwner();
  RequireRole(caller, dry_run ? PgbakRole::kMonitor : PgbakRole::kAdmin,
              dry_run ? "see what retention would remove" : "apply retention");
  // Objects are removed before their rows are marked expired; inside a
  // transaction block a later ROLLBACK would bring back rows whose objects
  // are gone, so a real prune must be its own transaction.
  if (!dry_run && IsTransactionBlock())
    ereport(ERROR, (errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
                    errmsg("pgbak_prune(false) cannot run inside a transaction block"),
                    errhint("Run SELECT * FROM pgbak_prune(false) on its own, outside "
                            "BEGIN ... COMMIT.")));

  ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
  InitMaterializedSRF(fcinfo, 0);
  if (SPI_connect() != SPI_OK_CONNECT)
    elog(ERROR, "SPI_connect failed");
  int count = 0;
  PruneRow* rows = RunPrune(dry_run, &count);
  for (int i = 0; i < count; i++) {
    Datum values[7];
    bool nulls[7] = {false, rows[i].job_name == nullptr, rows[i].database == nullptr, false, false,
                     false, rows[i].location == nullptr};
    values[0] = Int64GetDatum(rows[i].id);
    values[1] = rows[i].job_name != nullptr ? CStringGetTextDatum(rows[i].job_name) : (Datum)0;
    values[2] = rows[i].database != nullptr
                    ? DirectFunctionCall1(namein, CStringGetDatum(rows[i].database))
                    : (Datum)0;
    values[3] = TimestampTzGetDatum(rows[i].finished_at);
    values[4] = CStringGetTextDatum(rows[i].action);
    values[5] = CStringGetTextDatum(rows[i].reason);
    values[6] = rows[i].location != nullptr ? CStringGetTextDatum(rows[i].location) : (Datum)0;
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  SPI_finish();
  LeaveAsOwner(caller);
  return (Datum)0;
}
