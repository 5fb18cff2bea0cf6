// settings.h: the pgbak.* configuration parameters (GUCs).
//
// Include after postgres.h.
#pragma once

#include <string>

namespace pgbak {

extern char* setting_database;             // pgbak.database: where the catalog lives
extern int setting_max_workers;            // pgbak.max_workers: concurrent operations
extern char* setting_local_path;           // pgbak.local_path: the 'local' storage root
extern int setting_zstd_level;             // pgbak.zstd_level
extern int setting_zstd_threads;           // pgbak.zstd_threads
extern int setting_dump_jobs;              // pgbak.dump_jobs: default of the backup option jobs
extern int setting_separate_table_min_kb;  // pgbak.separate_table_min_size
extern char* setting_dump_role;            // pgbak.dump_role: role pg_dump connects as
extern char* setting_passfile;             // pgbak.passfile: PGPASSFILE for pg_dump
extern char* setting_rpo;
extern char* setting_verify_within;       // pgbak.verify_within: verification is overdue after //
                                          // pgbak.rpo: default recovery point objective
extern int setting_cancel_grace_ms;       // grace between SIGTERM and SIGKILL of a child
extern int setting_lock_wait_timeout_ms;  // pgbak.lock_wait_timeout: pg_dump's wait per lock
extern char* setting_timezone;            // pgbak.timezone: where schedules are evaluated
extern int setting_log_retention_min;
extern char* setting_exclude_databases;  // pgbak.exclude_databases: comma list
extern char* setting_webhook_url;        // pgbak.webhook_url: POST outcomes here
extern char* setting_webhook_events;     // pgbak.webhook_events: failure | all
extern char* setting_metrics_listen;     // pgbak.metrics_listen: host:port or ''
extern char* setting_fault_pause;        // pgbak.fault_pause: tests only
                                         // pgbak.log_retention, in minutes

// pgbak.manual_retention, in seconds: age after which manual backups are
// deleted by the launcher (0: never); a storage's manual_retention wins.
extern int setting_manual_retention_s;

// pgbak.local_reserve, in MB: what backups and restores' staging copies
// leave free on a file system they share with PostgreSQL; -1: no check.
extern int setting_local_reserve_mb;
// pgbak.notify_queue_limit: read by the SQL trigger pgbak_state_change.
extern double setting_notify_queue_limit;

// pgbak.wal_storage: the storage archive_library = 'pgbak_ext' archives to
// ('' when not configured); pgbak.wal_push_workers: the archiver's threads.
extern char* setting_wal_storage;
extern int setting_wal_push_workers;
// pgbak.paused: the launcher runs no schedules, operations, retention or
// cleanup (a cluster restored from a base backup starts with it on).
extern bool setting_paused;

// DefineSettings registers every pgbak.* parameter (from _PG_init).
void DefineSettings();

// LocalStorageRoot is pgbak.local_path made absolute (default: pgbak_backups
// beside the data directory).
std::string LocalStorageRoot();

// DumpRoleName is pgbak.dump_role, or the bootstrap superuser when empty;
// call inside a transaction.
std::string DumpRoleName();

}  // namespace pgbak
