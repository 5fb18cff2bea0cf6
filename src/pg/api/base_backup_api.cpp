// base_backup_api.cpp: pgbak_base_backup, which queues a physical base
// backup of the whole cluster (kind 'base', database_name NULL).
//
// A base backup holds every database, role and setting of the cluster, so
// only pgbak_admin may ask for one. Everything is validated before the row
// is written: a bad call changes nothing.

extern "C" {
#include "postgres.h"

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(pgbak_base_backup);
}

#include <ctime>
#include <string>

#include "core/options/base_backup_options.h"
#include "core/schedule/cron.h"
#include "pg/api/base_backup_api.h"
#include "pg/api/privileges.h"
#include "pg/api/storage_grant.h"
#include "pg/api/validation.h"
#include "pg/boundary/boundary.h"
#include "pg/boundary/pg_time_zone.h"
#include "pg/catalog/catalog.h"
#include "pg/runtime/settings.h"
#include "pg/runtime/shared_state.h"

namespace pgbak {

namespace {

// NormalizeBaseOptions validates options and returns their normalized JSON
// (palloc'd); raises on bad input.
char* NormalizeBaseOptions(const char* json_text) {
  char* normalized = nullptr;
  Failure failure;
  CatchCore(failure, [&] {
    std::string text = ParseBaseBackupOptions(json_text).ToJson().Serialize();
    PgCall([&] { normalized = pstrdup(text.c_str()); });
  });
  ReportFailure(failure);
  return normalized;
}

// CheckedBaseJob is a validated base backup job in palloc'd strings.
struct CheckedBaseJob {
  char* options_json;
  char* storage;
  TimestampTz next_run;
};

// CheckBaseJob validates the schedule and options and computes the first
// run; raises a precise error on bad input.
CheckedBaseJob CheckBaseJob(const char* schedule_text, const char* options_text) {
  CheckedBaseJob checked{};
  Failure failure;
  CatchCore(failure, [&] {
    CronSchedule schedule = CronSchedule::Parse(schedule_text);
    BaseJobOptions options = ParseBaseJobOptions(options_text);
    PgTimeZone zone(setting_timezone);
    std::time_t next = schedule.NextAfter(std::time(nullptr), zone);
    std::string normalized = options.ToJson().Serialize();
    PgCall([&] {
      checked.options_json = pstrdup(normalized.c_str());
      checked.storage = pstrdup(options.storage.c_str());
      checked.next_run = UnixToTimestamp(next);
    });
  });
  ReportFailure(failure);
  return checked;
}

}  // namespace

// ScheduleBaseJob creates or replaces a base backup job; see the header.
Datum ScheduleBaseJob(FunctionCallInfo fcinfo, const char* options_text) {
  char* job_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
  char* schedule = text_to_cstring(PG_GETARG_TEXT_PP(2));
  Caller caller = EnterAsOwner();
  RequireRole(caller, PgbakRole::kAdmin, "schedule backups");
  CheckJobName(job_name);
  if (!PG_ARGISNULL(1))
    ereport(
        ERROR,
        (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
         errmsg("a base backup job backs up the whole cluster: its database must be NULL"),
         errhint("pgbak_schedule('%s', NULL, '%s', '{\"kind\": \"base\"}')", job_name, schedule)));
  CheckedBaseJob checked = CheckBaseJob(schedule, options_text);
  CheckStorageExists(checked.storage);

  if (SPI_connect() != SPI_OK_CONNECT)
    elog(ERROR, "SPI_connect failed");
  RequireStorageUse(caller, checked.storage);
  const char* sql = psprintf(
      "INSERT INTO %s AS j (job_name, database_name, schedule, options, next_run_at, created_by) "
      "VALUES ($1, NULL, $2, $3::jsonb, $4, $5) "
      "ON CONFLICT (job_name) DO UPDATE SET database_name = NULL, "
      "schedule = EXCLUDED.schedule, options = EXCLUDED.options, "
      "next_run_at = EXCLUDED.next_run_at, updated_at = clock_timestamp() "
      "RETURNING id",
      SchemaQualified("pgbak_job"));
  Oid types[5] = {TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, NAMEOID};
  Datum values[5] = {CStringGetTextDatum(job_name), CStringGetTextDatum(schedule),
                     CStringGetTextDatum(checked.options_json),
                     TimestampTzGetDatum(checked.next_run),
                     DirectFunctionCall1(namein, CStringGetDatum(CallerName(caller)))};
  if (SPI_execute_with_args(sql, 5, types, values, nullptr, false, 1) != SPI_OK_INSERT_RETURNING ||
      SPI_processed != 1)
    elog(ERROR, "could not save job \"%s\"", job_name);
  bool isnull = false;
  int64 id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  SPI_finish();
  WakeLauncherAtCommit();
  LeaveAsOwner(caller);
  PG_RETURN_INT64(id);
}

}  // namespace pgbak

// pgbak_base_backup validates a base backup request and queues it; returns
// the row id.
extern "C" Datum pgbak_base_backup(PG_FUNCTION_ARGS) {
  using namespace pgbak;
  RequireArgument(fcinfo, 0, "storage");
  RequireArgument(fcinfo, 1, "options");
  char* storage = text_to_cstring(PG_GETARG_TEXT_PP(0));
  Jsonb* options = PG_GETARG_JSONB_P(1);

  if (RecoveryInProgress())
    ereport(ERROR, (errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
                    errmsg("cannot queue a base backup on a standby"),
                    errhint("Run base backups on the primary; the launcher sleeps on a standby.")));
  Caller caller = EnterAsOwner();
  RequireRole(caller, PgbakRole::kAdmin, "take a base backup of the cluster");
  CheckStorageExists(storage);
  char* normalized =
      NormalizeBaseOptions(JsonbToCString(nullptr, &options->root, VARSIZE(options)));

  if (SPI_connect() != SPI_OK_CONNECT)
    elog(ERROR, "SPI_connect failed");
  RequireStorageUse(caller, storage);
  const char* sql = psprintf(
      "INSERT INTO %s (kind, database_name, storage_name, options, format, requested_by) "
      "VALUES ('base', NULL, $1, $2::jsonb, NULL, $3) RETURNING id",
      BackupLogName());
  Oid types[3] = {TEXTOID, TEXTOID, NAMEOID};
  NameData requested_by;
  namestrcpy(&requested_by, CallerName(caller));
  Datum values[3] = {CStringGetTextDatum(storage), CStringGetTextDatum(normalized),
                     NameGetDatum(&requested_by)};
  if (SPI_execute_with_args(sql, 3, types, values, nullptr, false, 1) != SPI_OK_INSERT_RETURNING ||
      SPI_processed != 1)
    elog(ERROR, "could not queue the base backup");
  bool isnull = false;
  int64 id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  SPI_finish();
  WakeLauncherAtCommit();
  LeaveAsOwner(caller);
  PG_RETURN_INT64(id);
}
