// scheduler.cpp: the launcher's scheduling pass: firing due jobs and
// trimming history.
//
// A job's next_run_at lives in pgbak_job, so schedules survive restarts and
// pgbak_jobs can show it. A due job queues one backup_log row (trigger
// 'schedule') per database it covers: its own database, or for a job over
// every database ('*') each database pgbak_job_covers accepts now, so that
// a database created since the last run is in and a dropped one is out. If
// the job's previous backup of a database is still queued or running, the
// new one is recorded as 'skipped' instead, never lost silently and never
// run twice at once; the launcher's queue rules (pgbak.max_workers, one
// backup per database) then apply to the rows as to any other. After
// downtime a job that missed runs fires once (one catch-up), then returns
// to its schedule: next_run_at is always computed from now.

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

#include <time.h>

#include <ctime>
#include <string>
#include <vector>

#include "core/options/base_backup_options.h"
#include "core/options/job_options.h"
#include "core/schedule/cron.h"
#include "pg/boundary/boundary.h"
#include "pg/boundary/pg_time_zone.h"
#include "pg/boundary/transaction.h"
#include "pg/catalog/catalog.h"
#include "pg/jobs/prune.h"
#include "pg/runtime/scheduler.h"
#include "pg/runtime/settings.h"

namespace pgbak {

namespace {

// How often the launcher trims backup_log history.
constexpr long kTrimIntervalSeconds = 3600;
std::time_t last_trim = 0;

// DueJob is one row of pgbak_job as the scheduler needs it.
struct DueJob {
  int64 id;
  std::string name;
  std::string database;
  std::string schedule;
  std::string options;
  std::string created_by;
  bool has_next;
  std::time_t next_run;
};

// ExecSpi runs one statement with parameters or raises.
void ExecSpi(const std::string& sql, int expected, int nargs, Oid* types, Datum* values,
             const char* nulls) {
  int rc = SPI_execute_with_args(sql.c_str(), nargs, types, values, nulls, false, 0);
  if (rc != expected)
    elog(ERROR, "SPI_execute failed (%d): %s", rc, sql.c_str());
}

// LoadJobs reads every job whose turn may have come, skipping rows that a
// pgbak_schedule in progress holds locked (it wakes us when it commits).
std::vector<DueJob> LoadJobs() {
  std::vector<DueJob> jobs;
  std::string sql =
      "SELECT id, job_name, database_name, schedule, options::text, created_by, "
      "next_run_at IS NOT NULL, coalesce(floor(extract(epoch FROM next_run_at)), 0)::bigint "
      "FROM " +
      QuotedRelation("pgbak_job") + " ORDER BY id FOR UPDATE SKIP LOCKED";
  int64 count = 0;
  PgCall([&] {
    ExecSpi(sql, SPI_OK_SELECT, 0, nullptr, nullptr, nullptr);
    count = SPI_processed;
  });
  for (int64 i = 0; i < count; i++) {
    DueJob job;
    const char *name = nullptr, *database = nullptr, *schedule = nullptr, *options = nullptr,
               *created_by = nullptr;
    PgCall([&] {
      HeapTuple tuple = SPI_tuptable->vals[i];
      TupleDesc desc = SPI_tuptable->tupdesc;
      bool isnull = false;
      job.id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
      name = SPI_getvalue(tuple, desc, 2);
      database = SPI_getvalue(tuple, desc, 3);
      schedule = SPI_getvalue(tuple, desc, 4);
      options = SPI_getvalue(tuple, desc, 5);
      created_by = SPI_getvalue(tuple, desc, 6);
      job.has_next = DatumGetBool(SPI_getbinval(tuple, desc, 7, &isnull));
      job.next_run =
          static_cast<std::time_t>(DatumGetInt64(SPI_getbinval(tuple, desc, 8, &isnull)));
    });
    job.name = name;
    job.database = database != nullptr ? database : "";  // NULL: a base backup job
    job.schedule = schedule;
    job.options = options;
    job.created_by = created_by;
    jobs.push_back(std::move(job));
  }
  return jobs;
}

// CoveredDatabases lists the databases a run of job backs up: its own, or
// for '*' those pgbak_job_covers accepts at this moment, by name.
std::vector<std::string> CoveredDatabases(const DueJob& job) {
  if (job.database != kEveryDatabase)
    return {job.database};
  std::string sql = "SELECT d.datname::text FROM pg_catalog.pg_database d WHERE " +
                    QuotedRelation("pgbak_job_covers") +
                    "('*', $1::jsonb, d.oid) ORDER BY d.datname";
  std::vector<std::string> databases;
  int64 count = 0;
  PgCall([&] {
    Oid types[1] = {TEXTOID};
    Datum values[1] = {CStringGetTextDatum(job.options.c_str())};
    ExecSpi(sql, SPI_OK_SELECT, 1, types, values, nullptr);
    count = SPI_processed;
  });
  for (int64 i = 0; i < count; i++) {
    const char* name = nullptr;
    PgCall([&] { name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1); });
    databases.emplace_back(name);
  }
  return databases;
}

// ActiveRun returns the id of the job's queued or running backup of
// database, or 0.
int64 ActiveRun(const std::string& job_name, const std::string& database) {
  std::string sql = "SELECT id FROM " + QuotedRelation("backup_log") +
                    " WHERE job_name = $1 AND database_name = $2 AND kind = 'backup' "
                    "AND status IN ('queued', 'running') ORDER BY id LIMIT 1";
  int64 id = 0;
  PgCall([&] {
    Oid types[2] = {TEXTOID, NAMEOID};
    Datum values[2] = {CStringGetTextDatum(job_name.c_str()),
                       DirectFunctionCall1(namein, CStringGetDatum(database.c_str()))};
    ExecSpi(sql, SPI_OK_SELECT, 2, types, values, nullptr);
    if (SPI_processed > 0) {
      bool isnull = false;
      id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    }
  });
  return id;
}

// QueueRun inserts the job's backup_log row for database: queued, or
// skipped with the reason; returns its id.
int64 QueueRun(const DueJob& job, const std::string& database, const JobOptions& options,
               int64 active_run) {
  std::string sql = "INSERT INTO " + QuotedRelation("backup_log") +
                    " (kind, database_name, status, trigger, job_name, requested_by, "
                    "storage_name, options, format, finished_at, error_message) "
                    "VALUES ('backup', $1, $2, 'schedule', $3, $4, $5, $6::jsonb, $7, "
                    "CASE WHEN $2 = 'skipped' THEN clock_timestamp() END, $8) RETURNING id";
  std::string status = active_run != 0 ? "skipped" : "queued";
  std::string message = active_run != 0
                            ? "skipped: the previous run (id " + std::to_string(active_run) +
                                  ") was still queued or running"
                            : "";
  int64 id = 0;
  PgCall([&] {
    Oid types[8] = {NAMEOID, TEXTOID, TEXTOID, NAMEOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
    char nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', message.empty() ? 'n' : ' '};
    Datum values[8] = {DirectFunctionCall1(namein, CStringGetDatum(database.c_str())),
                       CStringGetTextDatum(status.c_str()),
                       CStringGetTextDatum(job.name.c_str()),
                       DirectFunctionCall1(namein, CStringGetDatum(job.created_by.c_str())),
                       CStringGetTextDatum(options.storage.c_str()),
                       CStringGetTextDatum(options.backup_json.c_str()),
                       CStringGetTextDatum(options.backup.format.c_str()),
                       message.empty() ? (Datum)0 : CStringGetTextDatum(message.c_str())};
    ExecSpi(sql, SPI_OK_INSERT_RETURNING, 8, types, values, nulls);
    bool isnull = false;
    id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  });
  return id;
}

// QueueBaseRun queues a run of base backup job (database_name NULL), or
// records it skipped if the job's previous one is still queued or running;
// returns its id.
int64 QueueBaseRun(const DueJob& job) {
  BaseJobOptions options = ParseBaseJobOptions(job.options);
  std::string log = QuotedRelation("backup_log");
  std::string active_sql = "SELECT coalesce(min(id), 0) FROM " + log +
                           " WHERE job_name = $1 AND kind = 'base' AND status IN ('queued', "
                           "'running')";
  std::string insert_sql =
      "INSERT INTO " + log +
      " (kind, database_name, status, trigger, job_name, requested_by, storage_name, options, "
      "finished_at, error_message) SELECT 'base', NULL, CASE WHEN $5 = 0 THEN 'queued' ELSE "
      "'skipped' END, 'schedule', $1, $2, $3, $4::jsonb, CASE WHEN $5 <> 0 THEN "
      "clock_timestamp() END, CASE WHEN $5 <> 0 THEN 'skipped: the previous run (id ' || $5 || "
      "') was still queued or running' END RETURNING id, status";
  std::string backup_json = options.backup.ToJson().Serialize();
  int64 id = 0;
  const char* status = nullptr;
  PgCall([&] {
    Oid active_types[1] = {TEXTOID};
    Datum active_values[1] = {CStringGetTextDatum(job.name.c_str())};
    ExecSpi(active_sql, SPI_OK_SELECT, 1, active_types, active_values, nullptr);
    bool isnull = false;
    int64 active =
        DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    Oid types[5] = {TEXTOID, NAMEOID, TEXTOID, TEXTOID, INT8OID};
    Datum values[5] = {CStringGetTextDatum(job.name.c_str()),
                       DirectFunctionCall1(namein, CStringGetDatum(job.created_by.c_str())),
                       CStringGetTextDatum(options.storage.c_str()),
                       CStringGetTextDatum(backup_json.c_str()), Int64GetDatum(active)};
    ExecSpi(insert_sql, SPI_OK_INSERT_RETURNING, 5, types, values, nullptr);
    id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
    ereport(LOG, (errmsg("pgbak: job \"%s\" is due: base backup %s as " INT64_FORMAT,
                         job.name.c_str(), status, id)));
  });
  return id;
}

// SetNextRun records the job's next fire time and, if it fired, its run:
// last_run_id is the run's first row, last_run_ids (version 1.5 on) all of
// them, one per database it covered.
void SetNextRun(const DueJob& job, std::time_t next_run, bool fired,
                const std::vector<int64>& run_ids) {
  bool has_ids = false;
  std::string table = QuotedRelation("pgbak_job");
  PgCall([&] { has_ids = CatalogRelationHasColumn("pgbak_job", "last_run_ids"); });
  std::string sql =
      "UPDATE " + table + " SET next_run_at = $2, last_run_id = coalesce($3, last_run_id)" +
      (has_ids ? ", last_run_ids = CASE WHEN $4 THEN $5::bigint[] ELSE last_run_ids END" : "") +
      " WHERE id = $1";
  std::string ids = "{";
  for (size_t i = 0; i < run_ids.size(); i++)
    ids += (i > 0 ? "," : "") + std::to_string(run_ids[i]);
  ids += "}";
  PgCall([&] {
    Oid types[5] = {INT8OID, TIMESTAMPTZOID, INT8OID, BOOLOID, TEXTOID};
    char nulls[5] = {' ', ' ', run_ids.empty() ? 'n' : ' ', ' ', ' '};
    Datum values[5] = {Int64GetDatum(job.id), TimestampTzGetDatum(UnixToTimestamp(next_run)),
                       Int64GetDatum(run_ids.empty() ? 0 : run_ids.front()), BoolGetDatum(fired),
                       CStringGetTextDatum(ids.c_str())};
    ExecSpi(sql, SPI_OK_UPDATE, has_ids ? 5 : 3, types, values, nulls);
  });
}

// LogJobProblem reports a job that cannot be fired (its definition became
// invalid, e.g. after a downgrade) without stopping the other jobs.
void LogJobProblem(const DueJob& job, const std::string& problem) {
  PgCall([&] {
    ereport(WARNING, (errmsg("pgbak: job \"%s\" cannot be scheduled: %s", job.name.c_str(),
                             problem.c_str())));
  });
}

}  // namespace

// RunScheduler fires due jobs; returns milliseconds until the next is due.
long RunScheduler() {
  long wait_ms = kNoJobDue;
  RunInTransaction([&] {
    PgTimeZone zone(setting_timezone);
    // Fire times are whole seconds; the clock is read to the millisecond so
    // that a job fires right at its second, not up to a second late.
    struct timespec clock_now;
    clock_gettime(CLOCK_REALTIME, &clock_now);
    std::time_t now = clock_now.tv_sec;
    int64_t now_ms = static_cast<int64_t>(clock_now.tv_sec) * 1000 + clock_now.tv_nsec / 1000000;
    for (const DueJob& job : LoadJobs()) {
      CronSchedule schedule;
      JobOptions options;
      bool base_job = IsBaseJob(job.options);
      try {
        schedule = CronSchedule::Parse(job.schedule);
        if (!base_job)
          options = ParseJobOptions(job.options);
      } catch (const Error& e) {
        LogJobProblem(job, e.what());
        continue;
      }
      std::time_t next_run = job.next_run;
      bool fired = false;
      std::vector<int64> run_ids;
      try {
        if (!job.has_next) {
          next_run = schedule.NextAfter(now, zone);
        } else if (job.next_run <= now) {
          // The next time first (it can throw for a schedule that stopped
          // matching), so that a run is never queued without moving on.
          // From the planned time, so an interval does not drift; from now if
          // that is already past, so missed runs are not replayed in a burst.
          next_run = schedule.NextAfter(job.next_run, zone);
          if (next_run <= now)
            next_run = schedule.NextAfter(now, zone);
          fired = true;
          if (base_job) {
            run_ids.push_back(QueueBaseRun(job));
            SetNextRun(job, next_run, fired, run_ids);
            long until_ms = static_cast<long>(
                std::max<int64_t>(static_cast<int64_t>(next_run) * 1000 - now_ms, 0));
            if (wait_ms == kNoJobDue || until_ms < wait_ms)
              wait_ms = until_ms;
            continue;
          }
          std::string queued, skipped;
          for (const std::string& database : CoveredDatabases(job)) {
            int64 active = ActiveRun(job.name, database);
            int64 run_id = QueueRun(job, database, options, active);
            run_ids.push_back(run_id);
            std::string& line = active != 0 ? skipped : queued;
            line +=
                (line.empty() ? "" : ", ") + ("\"" + database + "\" as " + std::to_string(run_id));
            if (active != 0)
              line += " (run " + std::to_string(active) + " still active)";
          }
          std::string line = job.database != kEveryDatabase ? "" : "every database: ";
          line += run_ids.empty() ? "no database to back up" : "";
          line += !queued.empty() ? "queued " + queued : "";
          line += !skipped.empty() ? (queued.empty() ? "" : "; ") + ("skipped " + skipped) : "";
          PgCall([&] {
            ereport(LOG, (errmsg("pgbak: job \"%s\" is due: %s", job.name.c_str(), line.c_str())));
          });
        }
      } catch (const Error& e) {
        // A schedule that stopped matching anything (it was checked when it
        // was defined) must not stop the other jobs.
        LogJobProblem(job, e.what());
        continue;
      }
      if (!job.has_next || fired)
        SetNextRun(job, next_run, fired, run_ids);
      long until_ms =
          static_cast<long>(std::max<int64_t>(static_cast<int64_t>(next_run) * 1000 - now_ms, 0));
      if (wait_ms == kNoJobDue || until_ms < wait_ms)
        wait_ms = until_ms;
    }
  });
  return wait_ms;
}

// MaybeTrimHistory trims backup_log at most once per kTrimIntervalSeconds.
void MaybeTrimHistory() {
  std::time_t now = std::time(nullptr);
  if (now - last_trim < kTrimIntervalSeconds)
    return;
  last_trim = now;
  int64_t deleted = 0;
  RunInTransaction([&] { deleted = TrimHistory(); });
  if (deleted > 0) {
    PgCall([&] {
      ereport(LOG, (errmsg("pgbak: removed " INT64_FORMAT
                           " rows older than pgbak.log_retention from backup_log",
                           static_cast<int64>(deleted))));
    });
  }
}

}  // namespace pgbak
