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
  webhook_status  text,
  webhook_attempts integer,
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

CREATE FUNCTION pgbak_verify(backup_id bigint, deep boolean DEFAULT false)
  RETURNS bigint AS 'MODULE_PATHNAME', 'pgbak_verify' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbak_verify(bigint, boolean) IS
  'Queue a verification of a backup (deep: a restore drill); returns its operation id';

CREATE FUNCTION pgbak_restore(backup_id bigint, target_database name, options jsonb DEFAULT '{}')
  RETURNS bigint AS 'MODULE_PATHNAME', 'pgbak_restore' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbak_restore(bigint, name, jsonb) IS
  'Queue a restore of a backup into a new database, or of some tables into an existing one';

CREATE FUNCTION pgbak_progress(
    OUT id bigint, OUT pid integer, OUT kind text, OUT database_name name,
    OUT phase text, OUT bytes_read bigint, OUT bytes_stored bigint,
    OUT started_at timestamptz)
  RETURNS SETOF record AS 'MODULE_PATHNAME', 'pgbak_progress' LANGUAGE C VOLATILE;

CREATE VIEW backup_progress AS
WITH p AS (
  SELECT p.*, extract(epoch FROM clock_timestamp() - p.started_at) AS seconds
  FROM pgbak_progress() p
), e AS (
  -- What to expect: the raw size of the last good backup of the database,
  -- or, the first time, the size of the database on disk.
  SELECT p.*,
         coalesce((SELECT l.raw_bytes FROM backup_log l
                   WHERE l.database_name = p.database_name AND l.kind = 'backup'
                     AND l.status IN ('succeeded', 'expired') AND l.raw_bytes IS NOT NULL
                   ORDER BY l.id DESC LIMIT 1),
                  (SELECT pg_database_size(d.oid) FROM pg_database d
                   WHERE d.datname = p.database_name)) AS expected_bytes
  FROM p
)
SELECT e.id, e.pid, e.kind, e.database_name, e.phase,
       e.bytes_read, e.bytes_stored, e.started_at,
       clock_timestamp() - e.started_at AS elapsed,
       CASE WHEN e.seconds > 0 THEN round(e.bytes_read / e.seconds)::bigint END
         AS read_bytes_per_second,
       e.expected_bytes,
       CASE WHEN e.seconds > 0 AND e.bytes_read > 0 AND e.expected_bytes > e.bytes_read
            THEN make_interval(secs => (e.expected_bytes - e.bytes_read) * e.seconds / e.bytes_read)
       END AS eta
FROM e;
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
       j.options - 'webhook_url' AS options, j.next_run_at, j.last_run_id,
       l.status AS last_run_status,
       l.finished_at AS last_run_finished_at, j.created_by, j.created_at, j.updated_at
FROM pgbak_job j
LEFT JOIN backup_log l ON l.id = j.last_run_id;
COMMENT ON VIEW pgbak_jobs IS 'pgbak_ext: scheduled jobs, their next run and their last run';

-- pgbak_rpo_seconds is the recovery point objective of a database: the
-- smallest "rpo" of its jobs, else pgbak.rpo.
CREATE FUNCTION pgbak_rpo(database name) RETURNS interval
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(
    (SELECT make_interval(secs => min((j.options ->> 'rpo')::double precision))
     FROM @extschema@.pgbak_job j
     WHERE j.database_name = $1 AND j.options ? 'rpo'),
    current_setting('pgbak.rpo')::interval)
$$;

CREATE VIEW backup_status AS
WITH d AS (
  SELECT d.datname,
         CASE WHEN d.datistemplate THEN 'template'
              WHEN d.datname LIKE 'pgbak\_verify\_%' THEN 'pgbak restore drill'
              WHEN NOT d.datallowconn THEN 'does not accept connections'
              WHEN d.datname = ANY (SELECT btrim(x) FROM unnest(string_to_array(
                     current_setting('pgbak.exclude_databases'), ',')) x)
                THEN 'pgbak.exclude_databases'
         END AS excluded_reason
  FROM pg_database d
)
SELECT d.datname AS database_name,
       d.excluded_reason IS NOT NULL AS excluded,
       d.excluded_reason,
       ok.id AS last_backup_id,
       ok.finished_at AS last_success_at,
       clock_timestamp() - ok.finished_at AS age,
       ok.finished_at - ok.started_at AS last_duration,
       ok.stored_bytes AS last_stored_bytes,
       ok.location AS last_location,
       bad.finished_at AS last_failure_at,
       bad.error_message AS last_error,
       (SELECT min(j.next_run_at) FROM pgbak_job j WHERE j.database_name = d.datname)
         AS next_scheduled_run,
       ver.verified_at AS last_verified_at,
       ver.verify_status AS last_verify_status,
       pgbak_rpo(d.datname) AS rpo,
       (d.excluded_reason IS NULL AND ok.id IS NOT NULL
        AND coalesce(ok.verify_status, '') NOT LIKE 'passed%'
        AND clock_timestamp() - ok.finished_at > current_setting('pgbak.verify_within')::interval)
         AS verification_overdue,
       (d.excluded_reason IS NULL
        AND (ok.finished_at IS NULL
             OR clock_timestamp() - ok.finished_at > pgbak_rpo(d.datname))) AS stale
FROM d
LEFT JOIN LATERAL (
  SELECT l.id, l.started_at, l.finished_at, l.location, l.stored_bytes, l.verify_status
  FROM backup_log l
  WHERE l.database_name = d.datname AND l.kind = 'backup' AND l.status = 'succeeded'
  ORDER BY l.id DESC LIMIT 1) ok ON true
LEFT JOIN LATERAL (
  SELECT l.finished_at, l.error_message FROM backup_log l
  WHERE l.database_name = d.datname AND l.kind = 'backup' AND l.status = 'failed'
  ORDER BY l.id DESC LIMIT 1) bad ON true
LEFT JOIN LATERAL (
  SELECT l.verified_at, l.verify_status FROM backup_log l
  WHERE l.database_name = d.datname AND l.kind = 'backup' AND l.verified_at IS NOT NULL
  ORDER BY l.verified_at DESC LIMIT 1) ver ON true;
COMMENT ON VIEW backup_status IS
  'pgbak_ext: one row per database: last good backup, its age, last failure, stale against its RPO';

-- Every state change is announced with NOTIFY pgbak '<json>', in commit
-- order; a change to a final state also marks the row for the launcher to
-- deliver to the webhook, if one is configured for it.
-- SECURITY DEFINER: the webhook URL (often holding a token) is readable by
-- superusers only, whoever changes the row.
CREATE FUNCTION pgbak_state_change() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  url text;
  events text;
  payload text;
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status THEN
    RETURN NEW;
  END IF;
  -- NOTIFY payloads must stay under 8000 bytes: the error is shortened
  -- until the JSON fits (escapes and multibyte text make it grow).
  payload := json_build_object(
    'id', NEW.id, 'kind', NEW.kind, 'database', NEW.database_name,
    'status', NEW.status, 'trigger', NEW.trigger, 'job_name', NEW.job_name,
    'error', left(NEW.error_message, 1000))::text;
  IF octet_length(payload) > 7900 THEN
    payload := json_build_object(
      'id', NEW.id, 'kind', NEW.kind, 'database', NEW.database_name,
      'status', NEW.status, 'trigger', NEW.trigger, 'job_name', NEW.job_name,
      'error', left(NEW.error_message, 100))::text;
  END IF;
  PERFORM pg_notify('pgbak', payload);
  IF NEW.status IN ('succeeded', 'failed', 'cancelled', 'skipped')
     AND NEW.webhook_status IS NULL THEN
    SELECT j.options ->> 'webhook_url', j.options ->> 'webhook_events' INTO url, events
    FROM @extschema@.pgbak_job j WHERE j.job_name = NEW.job_name;
    url := coalesce(url, nullif(current_setting('pgbak.webhook_url'), ''));
    events := coalesce(events, current_setting('pgbak.webhook_events'));
    IF url IS NOT NULL AND (NEW.status <> 'succeeded' OR events = 'all') THEN
      NEW.webhook_status := 'pending';
      NEW.webhook_attempts := 0;
    END IF;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER backup_log_state_change BEFORE INSERT OR UPDATE OF status ON backup_log
  FOR EACH ROW EXECUTE FUNCTION pgbak_state_change();

CREATE FUNCTION pgbak_metrics() RETURNS text
  AS 'MODULE_PATHNAME', 'pgbak_metrics' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbak_metrics() IS
  'Prometheus text exposition of backup freshness, sizes, failures and running operations';

-- Nothing is open to PUBLIC: backups read every table of a database, so only
-- the extension owner (a superuser) may start, cancel or read them.
REVOKE ALL ON TABLE backup_log, pgbak_job FROM PUBLIC;
REVOKE ALL ON backup_progress, backup_status, pgbak_jobs FROM PUBLIC;
REVOKE ALL ON FUNCTION pgbak_verify(bigint, boolean), pgbak_restore(bigint, name, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgbak_run(name, text, jsonb), pgbak_wait(bigint, integer),
  pgbak_cancel(bigint), pgbak_progress(), pgbak_schedule(text, name, text, jsonb),
  pgbak_unschedule(text), pgbak_prune(boolean), pgbak_metrics(), pgbak_rpo(name) FROM PUBLIC;
