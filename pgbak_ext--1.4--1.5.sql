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
--     storage (succeeded, or expiring: not all removed yet), data and globals
--     objects (stored_bytes + globals_bytes; manifest.json, a few kB a set,
--     is not recorded and not counted), whatever database or job.
CREATE OR REPLACE VIEW pgbak_storages AS
WITH usage AS (
  SELECT storage_name,
         sum(coalesce(stored_bytes, 0) + coalesce(globals_bytes, 0))::bigint AS used_bytes,
         count(*) AS set_count
  FROM backup_log
  WHERE kind = 'backup' AND status IN ('succeeded', 'expiring')
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
