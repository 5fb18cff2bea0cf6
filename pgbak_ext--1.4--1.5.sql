-- pgbak_ext 1.4 -> 1.5: the database arguments of pgbak_run, pgbak_restore
-- and pgbak_schedule are text, so that a name longer than 63 bytes is
-- refused at the call instead of being cut to another database's name.
\echo Use "ALTER EXTENSION pgbak_ext UPDATE TO '1.5'" to load this file. \quit

-- Declared name, PostgreSQL's input function cut a longer argument to its
-- first 63 bytes before the C function saw it: pgbak_restore(1, <70 bytes>)
-- restored into a database named by the first 63. Declared text, the whole
-- argument reaches the C function, which refuses it (42622, name_too_long)
-- before anything is queued. A name-typed value (a column of pg_database,
-- say) is still accepted, through the implicit cast from name to text.
--
-- An argument's type changes only by dropping the function: each is created
-- again with the arguments, defaults, return type, volatility, settings,
-- comment and privileges it had in 1.4 (from 1.0 and 1.0--1.1).
--
-- pgbak_rpo(database name) keeps its name argument: it only reads, and
-- backup_status, which depends on it, would have to be dropped too.

DROP FUNCTION pgbak_run(name, text, jsonb);
CREATE FUNCTION pgbak_run(database text, storage text DEFAULT 'local',
                          options jsonb DEFAULT '{}')
  RETURNS bigint AS 'MODULE_PATHNAME', 'pgbak_run' LANGUAGE C VOLATILE
  SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION pgbak_run(text, text, jsonb) IS
  'Queue a backup of a database; returns its backup_log id';
-- A database owner may back up its own database: the function checks.
REVOKE ALL ON FUNCTION pgbak_run(text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbak_run(text, text, jsonb) TO PUBLIC;

DROP FUNCTION pgbak_restore(bigint, name, jsonb);
CREATE FUNCTION pgbak_restore(backup_id bigint, target_database text, options jsonb DEFAULT '{}')
  RETURNS bigint AS 'MODULE_PATHNAME', 'pgbak_restore' LANGUAGE C VOLATILE
  SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION pgbak_restore(bigint, text, jsonb) IS
  'Queue a restore of a backup into a new database, or of some tables into an existing one';
REVOKE ALL ON FUNCTION pgbak_restore(bigint, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbak_restore(bigint, text, jsonb) TO pgbak_operator;

DROP FUNCTION pgbak_schedule(text, name, text, jsonb);
CREATE FUNCTION pgbak_schedule(job_name text, database text, schedule text,
                               options jsonb DEFAULT '{}')
  RETURNS bigint AS 'MODULE_PATHNAME', 'pgbak_schedule' LANGUAGE C VOLATILE
  SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION pgbak_schedule(text, text, text, jsonb) IS
  'Create or replace a scheduled backup job; returns its id';
REVOKE ALL ON FUNCTION pgbak_schedule(text, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbak_schedule(text, text, text, jsonb) TO pgbak_admin;

-- #15 (B, manual retention and storage usage): pgbak_storages says how much
-- each storage holds and how long manual backups stay in it. Same columns,
-- comment and grants as in 1.3, three more at the end:
--   manual_retention: the age after which the launcher deletes manual
--     backups in the storage (its option manual_retention, stored as seconds
--     or "off", else the setting pgbak.manual_retention); NULL: never.
--   used_bytes, set_count: the backup sets backup_log says are in the
--     storage (backups and copies; succeeded, or expiring: not all removed
--     yet), data and globals
--     objects (stored_bytes + globals_bytes; manifest.json, a few kB a set,
--     is not recorded and not counted), whatever database or job.
CREATE OR REPLACE VIEW pgbak_storages AS
WITH usage AS (
  SELECT storage_name,
         sum(coalesce(stored_bytes, 0) + coalesce(globals_bytes, 0))::bigint AS used_bytes,
         count(*) AS set_count
  FROM backup_log
  WHERE kind IN ('backup', 'copy') AND status IN ('succeeded', 'expiring')
  GROUP BY storage_name),
setting AS (
  SELECT justify_hours(make_interval(secs => nullif(setting, '0')::float8)) AS manual_retention
  FROM pg_catalog.pg_settings WHERE name = 'pgbak.manual_retention')
SELECT l.*,
       CASE WHEN jsonb_typeof(l.options -> 'manual_retention') = 'number'
            THEN justify_hours(make_interval(secs => (l.options ->> 'manual_retention')::float8))
            WHEN l.options ? 'manual_retention' THEN NULL
            ELSE (SELECT manual_retention FROM setting) END AS manual_retention,
       coalesce(u.used_bytes, 0) AS used_bytes, coalesce(u.set_count, 0) AS set_count
FROM (
  SELECT 'local'::text AS name, 'local'::text AS kind, pgbak_local_path() AS url,
         NULL::text AS endpoint, NULL::text AS region, '{}'::jsonb AS options,
         'none'::text AS credentials, NULL::name AS created_by, NULL::timestamptz AS created_at
  UNION ALL
  SELECT s.name, CASE WHEN s.url LIKE 'file:%' THEN 'local' ELSE 's3' END, s.url,
         CASE WHEN s.url LIKE 's3:%' THEN coalesce(s.options ->> 'endpoint', 'AWS') END,
         s.options ->> 'region', s.options,
         CASE WHEN s.url LIKE 'file:%' THEN 'none'
              WHEN s.options ? 'secret_access_key_file' THEN 'file'
              WHEN EXISTS (SELECT FROM pgbak_storage_secret x WHERE x.name = s.name)
              THEN 'stored' ELSE 'environment' END,
         s.created_by, s.created_at
  FROM pgbak_storage s) l
LEFT JOIN usage u ON u.storage_name = l.name;

-- #15 (A): jobs over every database ('*') and coverage in backup_status.
--
-- A job whose database is '*' covers, at each run, every database that
-- accepts connections except templates, the databases restores and restore
-- drills are building, those in pgbak.exclude_databases and those in the
-- job's exclude_databases option. pgbak_job_covers is that rule, the one
-- place it is written: the scheduler expands '*' with it at run time, and
-- backup_status, pgbak_rpo and next_scheduled_run read coverage from it.
-- SECURITY DEFINER, like pgbak_rpo: it reads backup_log, whose rows
-- row-level security would hide from a monitor's session.
CREATE FUNCTION pgbak_job_covers(job_database name, job_options jsonb, database oid)
  RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN $1 <> '*' THEN d.datname = $1
              ELSE d.datallowconn AND NOT d.datistemplate
                   AND NOT coalesce(($2 -> 'exclude_databases') ? d.datname::text, false)
                   AND d.datname <> ALL (SELECT btrim(x) FROM unnest(string_to_array(
                         current_setting('pgbak.exclude_databases'), ',')) x)
                   AND d.oid NOT IN (SELECT l.scratch_database FROM @extschema@.backup_log l
                                     WHERE l.kind IN ('verify', 'restore') AND l.status = 'running'
                                       AND l.scratch_database IS NOT NULL)
         END
  FROM pg_catalog.pg_database d WHERE d.oid = $3
$$;
COMMENT ON FUNCTION pgbak_job_covers(name, jsonb, oid) IS
  'Whether a job (its database, ''*'' for every database, and options) covers a database, by OID';
REVOKE ALL ON FUNCTION pgbak_job_covers(name, jsonb, oid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbak_job_covers(name, jsonb, oid) TO pgbak_monitor;

-- The backup_log ids a job's last run queued, one per database it covered
-- (skipped ones included): pgbak_jobs counts them and their failures.
ALTER TABLE pgbak_job ADD COLUMN last_run_ids bigint[];
COMMENT ON COLUMN pgbak_job.last_run_ids IS
  'pgbak_ext: the backup_log rows of the last run, one per database it covered';

CREATE OR REPLACE FUNCTION pgbak_rpo(database name) RETURNS interval
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(
    (SELECT make_interval(secs => min((j.options ->> 'rpo')::double precision))
     FROM @extschema@.pgbak_job j
     WHERE j.options ? 'rpo'
       AND (j.database_name = $1
            OR (j.database_name = '*' AND @extschema@.pgbak_job_covers(j.database_name, j.options,
                  (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = $1))))),
    current_setting('pgbak.rpo')::interval)
$$;

-- pgbak_jobs shows a '*' job once: last_run_status sums up its rows
-- (running while any is queued or running, then failed if any failed),
-- last_run_databases says how many databases the run covered and
-- last_run_failed how many of those failed. A job over one database covers
-- one, and its last_run_status is its row's, as before.
CREATE OR REPLACE VIEW pgbak_jobs AS
SELECT j.id, j.job_name, j.database_name, j.schedule,
       coalesce(j.options ->> 'storage', 'local') AS storage,
       j.options - 'webhook_url' AS options, j.next_run_at, j.last_run_id,
       CASE WHEN j.database_name <> '*' THEN l.status
            WHEN r.rows_found = 0 THEN NULL
            WHEN r.queued = r.rows_found THEN 'queued'
            WHEN r.active > 0 THEN 'running'
            WHEN r.failed > 0 THEN 'failed'
            WHEN r.cancelled > 0 THEN 'cancelled'
            WHEN r.skipped = r.rows_found THEN 'skipped'
            ELSE 'succeeded' END AS last_run_status,
       CASE WHEN j.database_name <> '*' THEN l.finished_at
            WHEN r.active = 0 THEN r.finished_at END AS last_run_finished_at,
       j.created_by, j.created_at, j.updated_at,
       coalesce(cardinality(j.last_run_ids), CASE WHEN j.last_run_id IS NOT NULL THEN 1 END)
         AS last_run_databases,
       CASE WHEN j.last_run_ids IS NOT NULL OR j.last_run_id IS NOT NULL THEN r.failed END
         AS last_run_failed
FROM pgbak_job j
LEFT JOIN backup_log l ON l.id = j.last_run_id
LEFT JOIN LATERAL (
  SELECT count(*) AS rows_found,
         count(*) FILTER (WHERE x.status = 'queued') AS queued,
         count(*) FILTER (WHERE x.status IN ('queued', 'running')) AS active,
         count(*) FILTER (WHERE x.status = 'failed') AS failed,
         count(*) FILTER (WHERE x.status = 'cancelled') AS cancelled,
         count(*) FILTER (WHERE x.status = 'skipped') AS skipped,
         max(x.finished_at) AS finished_at
  FROM backup_log x
  WHERE x.id = ANY (coalesce(j.last_run_ids, ARRAY[j.last_run_id]))) r ON true;

-- backup_status: covered_by lists the jobs that cover a database (by
-- pgbak_job_covers), and unprotected flags a database that no job covers,
-- unless it is excluded (a template, a restore's scratch database, one that
-- refuses connections or is in pgbak.exclude_databases). A database a '*'
-- job excludes and no other job covers is unprotected: to silence that,
-- list it in pgbak.exclude_databases.
CREATE OR REPLACE VIEW backup_status AS
WITH d AS (
  SELECT d.oid, d.datname,
         CASE WHEN d.datistemplate THEN 'template'
              WHEN d.oid IN (SELECT l.scratch_database FROM backup_log l
                             WHERE l.kind = 'verify' AND l.status = 'running'
                               AND l.scratch_database IS NOT NULL)
                THEN 'pgbak restore drill'
              WHEN d.oid IN (SELECT l.scratch_database FROM backup_log l
                             WHERE l.kind = 'restore' AND l.status = 'running'
                               AND l.scratch_database IS NOT NULL)
                THEN 'pgbak restore in progress'
              WHEN NOT d.datallowconn THEN 'does not accept connections'
              WHEN d.datname = ANY (SELECT btrim(x) FROM unnest(string_to_array(
                     current_setting('pgbak.exclude_databases'), ',')) x)
                THEN 'pgbak.exclude_databases'
         END AS excluded_reason,
         ARRAY(SELECT j.job_name FROM pgbak_job j
               WHERE pgbak_job_covers(j.database_name, j.options, d.oid)
               ORDER BY j.job_name) AS covered_by
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
       (SELECT min(j.next_run_at) FROM pgbak_job j WHERE j.job_name = ANY (d.covered_by))
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
             OR clock_timestamp() - ok.finished_at > pgbak_rpo(d.datname))) AS stale,
       d.covered_by,
       (d.excluded_reason IS NULL AND cardinality(d.covered_by) = 0) AS unprotected,
       -- Copies (pgbak_copy, job option copy_to): when the newest copy of
       -- a set of this database finished, and how far behind the newest
       -- good backup the storage whose newest copied set is oldest is (0:
       -- every storage with copies has the newest); NULL: no copy yet.
       cp.finished_at AS last_copy_at,
       ok.finished_at - cp.set_finished_at AS copy_lag
FROM d
LEFT JOIN LATERAL (
  SELECT l.id, l.started_at, l.finished_at, l.location, l.stored_bytes, l.verify_status
  FROM backup_log l
  WHERE (l.database_oid = d.oid OR (l.database_oid IS NULL AND l.database_name = d.datname))
    AND l.kind = 'backup' AND l.status = 'succeeded'
  ORDER BY l.id DESC LIMIT 1) ok ON true
LEFT JOIN LATERAL (
  SELECT l.finished_at, l.error_message FROM backup_log l
  WHERE (l.database_oid = d.oid OR (l.database_oid IS NULL AND l.database_name = d.datname))
    AND l.kind = 'backup' AND l.status = 'failed'
  ORDER BY l.id DESC LIMIT 1) bad ON true
LEFT JOIN LATERAL (
  SELECT l.verified_at, l.verify_status FROM backup_log l
  WHERE (l.database_oid = d.oid OR (l.database_oid IS NULL AND l.database_name = d.datname))
    AND l.kind = 'backup' AND l.verified_at IS NOT NULL
  ORDER BY l.verified_at DESC LIMIT 1) ver ON true
LEFT JOIN LATERAL (
  SELECT max(per.copied_at) AS finished_at, min(per.set_finished_at) AS set_finished_at
  FROM (SELECT max(c.finished_at) AS copied_at, max(r.finished_at) AS set_finished_at
        FROM backup_log c
        LEFT JOIN backup_log r ON r.id = (c.options ->> 'set_id')::bigint
        WHERE (c.database_oid = d.oid OR (c.database_oid IS NULL AND c.database_name = d.datname))
          AND c.kind = 'copy' AND c.status = 'succeeded'
        GROUP BY c.storage_name) per) cp ON true;

-- Databases the launcher has seen. A database that appears (first seen
-- outside the exclusions) while no job covers it is announced once: NOTIFY
-- pgbak '{"event": "database_unprotected", ...}' and, with pgbak.webhook_url
-- set, a webhook (webhook_status as in backup_log). The databases that exist
-- when this is installed are not new. Rows of dropped databases go once
-- their webhook is settled.
CREATE TABLE pgbak_database_seen (
  database_oid     oid PRIMARY KEY,
  database_name    name NOT NULL,
  seen_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  unprotected      boolean NOT NULL DEFAULT false,
  webhook_status   text,
  webhook_attempts integer
);
COMMENT ON TABLE pgbak_database_seen IS
  'pgbak_ext: databases the launcher has seen, and whether each was unprotected when it appeared';
INSERT INTO pgbak_database_seen (database_oid, database_name)
  SELECT oid, datname FROM pg_catalog.pg_database;
REVOKE ALL ON TABLE pgbak_database_seen FROM PUBLIC;
GRANT SELECT ON TABLE pgbak_database_seen TO pgbak_monitor;

-- #15 (copies): a copy is an operation of its own (kind 'copy', source_id
-- the backup or copy it copies, storage_name where the copy went, location
-- its set there). It is restorable and verifiable by its own id.
ALTER TABLE backup_log DROP CONSTRAINT backup_log_kind_check;
ALTER TABLE backup_log ADD CONSTRAINT backup_log_kind_check
  CHECK (kind IN ('backup', 'verify', 'restore', 'copy'));

-- options.set_id of a copy is the backup at the root of its chain of
-- copies; one copy of a set per storage (queued, running or there).
CREATE UNIQUE INDEX backup_log_copy_once ON backup_log
  (((options ->> 'set_id')::bigint), storage_name)
  WHERE kind = 'copy' AND status IN ('queued', 'running', 'succeeded');

CREATE FUNCTION pgbak_copy(backup_id bigint, storage text)
  RETURNS bigint AS 'MODULE_PATHNAME', 'pgbak_copy' LANGUAGE C VOLATILE
  SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION pgbak_copy(bigint, text) IS
  'Queue a copy of a backup set to another storage; returns its backup_log id';
-- Whoever may back up the database to that storage may copy its sets
-- there: the function checks.
REVOKE ALL ON FUNCTION pgbak_copy(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbak_copy(bigint, text) TO PUBLIC;
