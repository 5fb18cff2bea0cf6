// settings.cpp: the pgbak.* configuration parameters.

extern "C" {
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
}

#include <climits>
#include <cstring>
#include <string>

#include "core/notify/webhook.h"
#include "core/options/backup_options.h"
#include "core/storage/storage_definition.h"
#include "pg/boundary/boundary.h"
#include "pg/runtime/settings.h"

namespace pgbak {

char* setting_database = nullptr;
int setting_max_workers = 2;
int setting_dump_jobs = 1;
int setting_separate_table_min_kb = 8 * 1024;
char* setting_local_path = nullptr;
int setting_local_reserve_mb = 1024;
int setting_zstd_level = 3;
int setting_zstd_threads = 2;
char* setting_dump_role = nullptr;
char* setting_passfile = nullptr;
char* setting_rpo = nullptr;
char* setting_verify_within = nullptr;
int setting_cancel_grace_ms = 5000;
int setting_lock_wait_timeout_ms = 5 * 60 * 1000;
char* setting_timezone = nullptr;
int setting_log_retention_min = 90 * 24 * 60;
int setting_manual_retention_s = 0;
char* setting_exclude_databases = nullptr;
char* setting_webhook_url = nullptr;
char* setting_webhook_events = nullptr;
char* setting_metrics_listen = nullptr;
char* setting_fault_pause = nullptr;
double setting_notify_queue_limit = 0.5;
char* setting_wal_storage = nullptr;
int setting_wal_push_workers = 4;
bool setting_paused = false;

namespace {

// CheckWalStorage accepts '' (no WAL archive) or a storage name as
// pgbak_storage_add() accepts it, or 'local'.
bool CheckWalStorage(char** newval, void** extra, GucSource source) {
  if (*newval == nullptr || **newval == '\0' || strcmp(*newval, "local") == 0)
    return true;
  Failure failure;
  CatchCore(failure, [&] { CheckStorageName(*newval); });
  if (failure.failed) {
    GUC_check_errdetail("%s", failure.message);
    GUC_check_errhint("Name 'local' or a storage defined with pgbak_storage_add().");
    return false;
  }
  return true;
}

// CheckRpo accepts pgbak.rpo (and pgbak.verify_within) only if it parses as a
// positive interval.
bool CheckRpo(char** newval, void** extra, GucSource source) {
  if (*newval == nullptr || **newval == '\0') {
    GUC_check_errdetail("The value must be an interval such as '1 day'.");
    return false;
  }
  Datum parsed;
  bool ok = true;
  MemoryContext context = CurrentMemoryContext;
  PG_TRY();
  {
    parsed = DirectFunctionCall3(interval_in, CStringGetDatum(*newval),
                                 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
    Interval* interval = DatumGetIntervalP(parsed);
    if (interval->time <= 0 && interval->day <= 0 && interval->month <= 0)
      ok = false;
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(context);
    FlushErrorState();
    ok = false;
  }
  PG_END_TRY();
  if (!ok)
    GUC_check_errdetail("The value must be a positive interval such as '1 day'.");
  return ok;
}

// CheckTimezone accepts pgbak.timezone only if PostgreSQL knows the zone.
bool CheckTimezone(char** newval, void** extra, GucSource source) {
  if (*newval == nullptr || **newval == '\0' || pg_tzset(*newval) == nullptr) {
    GUC_check_errdetail(
        "pgbak.timezone must be a time zone name such as 'UTC' or "
        "'Europe/Berlin' (see pg_timezone_names).");
    return false;
  }
  return true;
}

// CheckWebhookUrl accepts an empty value or an http(s) URL.
bool CheckWebhookUrl(char** newval, void** extra, GucSource source) {
  if (*newval == nullptr || **newval == '\0')
    return true;
  Failure failure;
  CatchCore(failure, [&] { ValidateWebhookUrl(*newval); });
  if (failure.failed)
    GUC_check_errdetail("%s", failure.message);
  return !failure.failed;
}

// CheckWebhookEvents accepts "failure" or "all".
bool CheckWebhookEvents(char** newval, void** extra, GucSource source) {
  if (*newval != nullptr && (strcmp(*newval, "failure") == 0 || strcmp(*newval, "all") == 0))
    return true;
  GUC_check_errdetail("pgbak.webhook_events must be 'failure' or 'all'.");
  return false;
}

// CheckMetricsListen accepts an empty value or host:port with a port number.
bool CheckMetricsListen(char** newval, void** extra, GucSource source) {
  if (*newval == nullptr || **newval == '\0')
    return true;
  const char* colon = strrchr(*newval, ':');
  char* end = nullptr;
  long port = colon != nullptr ? strtol(colon + 1, &end, 10) : 0;
  if (colon == nullptr || colon == *newval || end == colon + 1 || *end != '\0' || port < 1 ||
      port > 65535) {
    GUC_check_errdetail("pgbak.metrics_listen must be host:port, such as '127.0.0.1:9187'.");
    return false;
  }
  return true;
}

}  // namespace

// DefineSettings registers every pgbak.* parameter (from _PG_init).
void DefineSettings() {
  DefineCustomStringVariable(
      "pgbak.database", "Database where pgbak_ext keeps its catalog (backup_log).",
      "The extension can only be created in this database; the launcher connects to it.",
      &setting_database, "postgres", PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("pgbak.max_workers", "Maximum number of operations run at once.",
                          "Each runs in a dynamic background worker, so "
                          "max_worker_processes must leave room for them.",
                          &setting_max_workers, 2, 1, 64, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomStringVariable(
      "pgbak.local_path", "Directory of the storage named 'local'.",
      "Empty means pgbak_backups beside the data directory. Created 0700 on first use.",
      &setting_local_path, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, nullptr, nullptr, nullptr);
  DefineCustomIntVariable(
      "pgbak.local_reserve",
      "Free space a backup or a restore's staging copy must leave on a file system it shares "
      "with PostgreSQL.",
      "Applies to local storages (pgbak.local_path, file:// storages) on the file system of the "
      "data directory, pg_wal or a tablespace: a backup needing the database's size is refused "
      "if it would leave less than this free, and its writes stop there. -1 turns the check off.",
      &setting_local_reserve_mb, 1024, -1, INT_MAX, PGC_SIGHUP, GUC_UNIT_MB, nullptr, nullptr,
      nullptr);
  DefineCustomIntVariable("pgbak.zstd_level", "Default zstd compression level of backups.", nullptr,
                          &setting_zstd_level, 3, 1, 19, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("pgbak.zstd_threads", "zstd worker threads per backup (0: none).",
                          nullptr, &setting_zstd_threads, 2, 0, 64, PGC_SIGHUP, 0, nullptr, nullptr,
                          nullptr);
  DefineCustomIntVariable(
      "pgbak.dump_jobs", "Default number of streams that export a backup's data in one snapshot.",
      "With more than one, the largest tables are copied by that many sessions "
      "into objects of their own while pg_dump writes the rest. The backup "
      "option jobs overrides it.",
      &setting_dump_jobs, 1, 1, kMaxDumpJobs, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("pgbak.separate_table_min_size",
                          "Smallest table that a backup with jobs > 1 copies into an object of its "
                          "own.",
                          "Smaller tables stay in pg_dump's archive.",
                          &setting_separate_table_min_kb, 8 * 1024, 1, INT_MAX, PGC_SIGHUP,
                          GUC_UNIT_KB, nullptr, nullptr, nullptr);
  DefineCustomStringVariable("pgbak.dump_role",
                             "Role that pg_dump connects as over the local socket.",
                             "Empty means the bootstrap superuser.", &setting_dump_role, "",
                             PGC_SIGHUP, GUC_SUPERUSER_ONLY, nullptr, nullptr, nullptr);
  DefineCustomStringVariable("pgbak.passfile", "Password file (PGPASSFILE) for pg_dump.",
                             "Empty means libpq's default (~/.pgpass of the server's OS user).",
                             &setting_passfile, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, nullptr,
                             nullptr, nullptr);
  DefineCustomStringVariable("pgbak.rpo", "Default recovery point objective.",
                             "backup_status marks a database stale when its newest good "
                             "backup is older than this.",
                             &setting_rpo, "1 day", PGC_SIGHUP, 0, CheckRpo, nullptr, nullptr);
  DefineCustomStringVariable(
      "pgbak.verify_within", "How long the newest good backup may stay unverified.",
      "backup_status.verification_overdue turns true after this.", &setting_verify_within, "7 days",
      PGC_SIGHUP, 0, CheckRpo, nullptr, nullptr);
  DefineCustomIntVariable("pgbak.cancel_grace",
                          "Grace period between SIGTERM and SIGKILL "
                          "when stopping pg_dump.",
                          nullptr, &setting_cancel_grace_ms, 5000, 0, 600000, PGC_SIGHUP,
                          GUC_UNIT_MS, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("pgbak.lock_wait_timeout",
                          "How long pg_dump waits for each table's lock before the backup fails.",
                          "Meanwhile the backup's snapshot holds the cluster's xmin horizon back. "
                          "0 waits as long as it takes. The backup option lock_wait_timeout "
                          "overrides it.",
                          &setting_lock_wait_timeout_ms, 5 * 60 * 1000, 0,
                          kMaxLockWaitTimeoutSeconds * 1000, PGC_SIGHUP, GUC_UNIT_MS, nullptr,
                          nullptr, nullptr);
  DefineCustomStringVariable("pgbak.timezone", "Time zone in which schedules are evaluated.",
                             "Also the zone of retention's day, week, month and year buckets.",
                             &setting_timezone, "UTC", PGC_SIGHUP, 0, CheckTimezone, nullptr,
                             nullptr);
  DefineCustomIntVariable("pgbak.log_retention",
                          "How long failed, cancelled, skipped and expired rows stay in "
                          "backup_log.",
                          "0 keeps them forever.", &setting_log_retention_min, 90 * 24 * 60, 0,
                          INT_MAX, PGC_SIGHUP, GUC_UNIT_MIN, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("pgbak.manual_retention",
                          "Age after which the launcher deletes manual backups.",
                          "0 keeps them forever; a storage's manual_retention option wins. The "
                          "newest succeeded backup of a database is never deleted.",
                          &setting_manual_retention_s, 0, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_S,
                          nullptr, nullptr, nullptr);
  DefineCustomStringVariable(
      "pgbak.exclude_databases", "Databases that are deliberately not backed up.",
      "A comma-separated list; backup_status marks them excluded instead of stale.",
      &setting_exclude_databases, "", PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomStringVariable(
      "pgbak.webhook_url", "URL that receives a JSON POST when an operation fails.",
      "Empty: no webhook. Jobs can set their own webhook_url.", &setting_webhook_url, "",
      PGC_SIGHUP, GUC_SUPERUSER_ONLY, CheckWebhookUrl, nullptr, nullptr);
  DefineCustomStringVariable("pgbak.webhook_events", "Which outcomes go to the webhook.",
                             "'failure' (failed, cancelled, skipped) or 'all' (success too).",
                             &setting_webhook_events, "failure", PGC_SIGHUP, 0, CheckWebhookEvents,
                             nullptr, nullptr);
  DefineCustomStringVariable(
      "pgbak.metrics_listen", "Address where the launcher serves pgbak_metrics() over HTTP.",
      "host:port, e.g. '127.0.0.1:9187'; empty (the default) serves "
      "nothing.",
      &setting_metrics_listen, "", PGC_SIGHUP, 0, CheckMetricsListen, nullptr, nullptr);
  DefineCustomStringVariable(
      "pgbak.fault_pause", "For tests: a point where workers pause (internal).",
      "Names a step of an operation (such as restore_swap_aside) where a worker waits up to "
      "five minutes, so that a test can kill it there. Empty: none.",
      &setting_fault_pause, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE, nullptr,
      nullptr, nullptr);
  // Read by the trigger pgbak_state_change (SQL), not by C++ code.
  DefineCustomRealVariable(
      "pgbak.notify_queue_limit",
      "Fraction of the NOTIFY queue in use above which status changes are not announced.",
      "Above it a status change is written to the server log instead of NOTIFY pgbak, so that "
      "a full queue never makes it fail. 0 announces nothing while anything is queued.",
      &setting_notify_queue_limit, 0.5, 0.0, 1.0, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomStringVariable(
      "pgbak.wal_storage", "Storage that archive_library = 'pgbak_ext' archives WAL files to.",
      "'local' or a storage defined with pgbak_storage_add(); empty: archiving is not "
      "configured. The launcher publishes the storage's definition in the data directory "
      "(pg_stat_tmp/pgbak_wal_storage.json) for the archiver, which has no database connection.",
      &setting_wal_storage, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, CheckWalStorage, nullptr, nullptr);
  DefineCustomIntVariable(
      "pgbak.wal_push_workers", "Threads of the archiver that push WAL files in parallel.",
      "They also push files waiting in pg_wal/archive_status ahead of "
      "PostgreSQL's asking, up to four per thread.",
      &setting_wal_push_workers, 4, 1, 32, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomBoolVariable(
      "pgbak.paused",
      "Keeps the launcher from running schedules, operations, retention and cleanup.",
      "For a cluster restored from a base backup, whose catalog is a copy of its source's: "
      "until it is turned off, nothing it does can touch the source's sets or WAL archive. "
      "Operations queued meanwhile wait.",
      &setting_paused, false, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  MarkGUCPrefixReserved("pgbak");
}

// LocalStorageRoot is pgbak.local_path made absolute.
std::string LocalStorageRoot() {
  if (setting_local_path != nullptr && setting_local_path[0] != '\0') {
    std::string path = setting_local_path;
    if (path[0] == '/')
      return path;
    return std::string(DataDir) + "/" + path;
  }
  std::string data_dir = DataDir;
  while (data_dir.size() > 1 && data_dir.back() == '/')
    data_dir.pop_back();
  std::string::size_type slash = data_dir.rfind('/');
  std::string parent = slash == std::string::npos || slash == 0 ? "/" : data_dir.substr(0, slash);
  if (parent != "/")
    parent += "/";
  return parent + "pgbak_backups";
}

// DumpRoleName is pgbak.dump_role, or the bootstrap superuser when empty;
// call inside a transaction.
std::string DumpRoleName() {
  if (setting_dump_role != nullptr && setting_dump_role[0] != '\0')
    return setting_dump_role;
  const char* name = nullptr;
  PgCall([&] { name = GetUserNameFromId(BOOTSTRAP_SUPERUSERID, false); });
  return name;
}

}  // namespace pgbak
