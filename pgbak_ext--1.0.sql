-- pgbak_ext--1.0.sql: the catalog and SQL API of pgbak_ext 1.0.
--
-- Every long operation is a row in backup_log, queued by a function call,
-- run by a background worker, followed in backup_progress and awaited with
-- pgbak_wait in a later transaction.

\echo Use "CREATE EXTENSION pgbak_ext" to load this file. \quit

-- Loading the library refuses to work unless it is in
-- shared_preload_libraries, and the check refuses any database other than
-- pgbak.database, so a misplaced CREATE EXTENSION fails here with a clear
-- message and installs nothing.
CREATE FUNCTION pgbak_install_check() RETURNS void
  AS 'MODULE_PATHNAME', 'pgbak_install_check' LANGUAGE C;
SELECT pgbak_install_check();
DROP FUNCTION pgbak_install_check();

CREATE TABLE backup_log (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind            text NOT NULL DEFAULT 'backup'
                  CHECK (kind IN ('backup', 'verify', 'restore')),
  source_id       bigint REFERENCES backup_log (id) ON DELETE SET NULL,
  database_name   name NOT NULL,
  status          text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'succeeded', 'failed',
                                    'cancelled', 'skipped', 'expired')),
  trigger         text NOT NULL DEFAULT 'manual'
                  CHECK (trigger IN ('manual', 'schedule')),
  job_name        text,
  requested_by    name NOT NULL DEFAULT current_user,
  storage_name    text NOT NULL DEFAULT 'local',
  location        text,
  format          text CHECK (format IN ('custom', 'plain')),
  options         jsonb NOT NULL DEFAULT '{}',
  raw_bytes       bigint,
  stored_bytes    bigint,
  globals_bytes   bigint,
  checksum_sha256 text,
  snapshot_lsn    pg_lsn,
  table_count     integer,
  queued_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  started_at      timestamptz,
  finished_at     timestamptz,
  worker_pid      integer,
  error_message   text,
  error_detail    text,
  verified_at     timestamptz,
  verify_status   text,
  restore_seconds double precision,
  expired_at      timestamptz,
  CHECK (status NOT IN ('succeeded', 'failed', 'cancelled', 'skipped', 'expired')
         OR finished_at IS NOT NULL)
);

COMMENT ON TABLE backup_log IS
  'pgbak_ext: one row per backup, verify or restore operation and its whole lifecycle';

-- The launcher scans for queued and running operations on every wake-up.
CREATE INDEX backup_log_active_idx ON backup_log (status, id)
  WHERE status IN ('queued', 'running');
-- backup_status looks up the newest rows of each database.
CREATE INDEX backup_log_database_idx ON backup_log (database_name, kind, status, id DESC);
-- The scheduler checks a job's running row; retention reads a job's history.
CREATE INDEX backup_log_job_idx ON backup_log (job_name, id DESC) WHERE job_name IS NOT NULL;
-- History retention trims finished rows by age.
CREATE INDEX backup_log_finished_idx ON backup_log ((coalesce(expired_at, finished_at)))
  WHERE status IN ('failed', 'cancelled', 'skipped', 'expired');

-- Scheduled jobs. Options are normalized at pgbak_schedule; next_run_at is
-- maintained by the launcher, so the schedule survives restarts.
CREATE TABLE pgbak_job (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_name      text NOT NULL UNIQUE,
  database_name name NOT NULL,
  schedule      text NOT NULL,
  options       jsonb NOT NULL DEFAULT '{}',
  created_by    name NOT NULL DEFAULT current_user,
  created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  next_run_at   timestamptz,
  last_run_id   bigint
);
COMMENT ON TABLE pgbak_job IS 'pgbak_ext: scheduled jobs (see pgbak_jobs)';

CREATE FUNCTION pgbak_run(database name, storage text DEFAULT 'local',
                          options jsonb DEFAULT '{}')
  RETURNS bigint AS 'MODULE_PATHNAME', 'pgbak_run' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbak_run(name, text, jsonb) IS
  'Queue a backup of a database; returns its backup_log id';

CREATE FUNCTION pgbak_wait(id bigint, timeout_s integer DEFAULT 3600)
  RETURNS text AS 'MODULE_PATHNAME', 'pgbak_wait' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbak_wait(bigint, integer) IS
  'Wait until an operation has finished and return its final status';

CREATE FUNCTION pgbak_cancel(id bigint)
  RETURNS boolean AS 'MODULE_PATHNAME', 'pgbak_cancel' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbak_cancel(bigint) IS
  'Cancel a queued or running operation; false if it had already finished';

CREATE FUNCTION pgbak_progress(
    OUT id bigint, OUT pid integer, OUT kind text, OUT database_name name,
    OUT phase text, OUT bytes_read bigint, OUT bytes_stored bigint,
    OUT started_at timestamptz)
  RETURNS SETOF record AS 'MODULE_PATHNAME', 'pgbak_progress' LANGUAGE C VOLATILE;

CREATE VIEW backup_progress AS
SELECT p.id, p.pid, p.kind, p.database_name, p.phase,
       p.bytes_read, p.bytes_stored, p.started_at,
       clock_timestamp() - p.started_at AS elapsed,
       CASE WHEN extract(epoch FROM clock_timestamp() - p.started_at) > 0
            THEN round(p.bytes_read / extract(epoch FROM clock_timestamp() - p.started_at))::bigint
       END AS read_bytes_per_second
FROM pgbak_progress() p;
COMMENT ON VIEW backup_progress IS
  'pgbak_ext: operations running now, live from shared memory';

CREATE FUNCTION pgbak_schedule(job_name text, database name, schedule text,
                               options jsonb DEFAULT '{}')
  RETURNS bigint AS 'MODULE_PATHNAME', 'pgbak_schedule' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbak_schedule(text, name, text, jsonb) IS
  'Create or replace a scheduled backup job; returns its id';

CREATE FUNCTION pgbak_unschedule(job_name text)
  RETURNS boolean AS 'MODULE_PATHNAME', 'pgbak_unschedule' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbak_unschedule(text) IS
  'Remove a scheduled job; false if there is none by that name';

CREATE FUNCTION pgbak_prune(dry_run boolean DEFAULT true)
  RETURNS TABLE (id bigint, job_name text, database_name name, finished_at timestamptz,
                 action text, reason text, location text)
  AS 'MODULE_PATHNAME', 'pgbak_prune' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbak_prune(boolean) IS
  'Apply (or, by default, only show) the retention of every job';

CREATE VIEW pgbak_jobs AS
SELECT j.id, j.job_name, j.database_name, j.schedule,
       coalesce(j.options ->> 'storage', 'local') AS storage,
       j.options, j.next_run_at, j.last_run_id, l.status AS last_run_status,
       l.finished_at AS last_run_finished_at, j.created_by, j.created_at, j.updated_at
FROM pgbak_job j
LEFT JOIN backup_log l ON l.id = j.last_run_id;
COMMENT ON VIEW pgbak_jobs IS 'pgbak_ext: scheduled jobs, their next run and their last run';

CREATE VIEW backup_status AS
SELECT d.datname AS database_name,
       d.datistemplate AS is_template,
       ok.id AS last_backup_id,
       ok.finished_at AS last_success_at,
       clock_timestamp() - ok.finished_at AS age,
       ok.location AS last_location,
       bad.finished_at AS last_failure_at,
       bad.error_message AS last_error,
       (ok.finished_at IS NULL
        OR clock_timestamp() - ok.finished_at > current_setting('pgbak.rpo')::interval) AS stale
FROM pg_database d
LEFT JOIN LATERAL (
  SELECT l.id, l.finished_at, l.location FROM backup_log l
  WHERE l.database_name = d.datname AND l.kind = 'backup' AND l.status = 'succeeded'
  ORDER BY l.id DESC LIMIT 1) ok ON true
LEFT JOIN LATERAL (
  SELECT l.finished_at, l.error_message FROM backup_log l
  WHERE l.database_name = d.datname AND l.kind = 'backup' AND l.status = 'failed'
  ORDER BY l.id DESC LIMIT 1) bad ON true
WHERE d.datallowconn;
COMMENT ON VIEW backup_status IS
  'pgbak_ext: one row per database: last good backup, its age, last failure, stale against pgbak.rpo';

-- Nothing is open to PUBLIC: backups read every table of a database, so only
-- the extension owner (a superuser) may start, cancel or read them.
REVOKE ALL ON TABLE backup_log, pgbak_job FROM PUBLIC;
REVOKE ALL ON backup_progress, backup_status, pgbak_jobs FROM PUBLIC;
REVOKE ALL ON FUNCTION pgbak_run(name, text, jsonb), pgbak_wait(bigint, integer),
  pgbak_cancel(bigint), pgbak_progress(), pgbak_schedule(text, name, text, jsonb),
  pgbak_unschedule(text), pgbak_prune(boolean) FROM PUBLIC;
