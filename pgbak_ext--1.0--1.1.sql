-- pgbak_ext 1.0 -> 1.1: S3-compatible storages; the pgbak_admin, pgbak_operator and
-- pgbak_monitor roles, row-level security on backup_log.
\echo Use "ALTER EXTENSION pgbak_ext UPDATE TO '1.1'" to load this file. \quit

-- Storage definitions. The public part is here; credentials live in
-- pgbak_storage_secret, which only the extension's owner can read (the
-- pgbak_storages view shows whether a storage has its own credentials,
-- never what they are). Neither table is dumped with the database: a
-- backup of the catalog database must not carry the keys to the backups.
CREATE TABLE pgbak_storage (
  name       text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$' AND name <> 'local'),
  url        text NOT NULL CHECK (url LIKE 's3://%' OR url LIKE 'file:///%'),
  options    jsonb NOT NULL DEFAULT '{}',
  created_by name NOT NULL DEFAULT current_user,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE pgbak_storage IS 'pgbak_ext: storage definitions (see pgbak_storages)';

CREATE TABLE pgbak_storage_secret (
  name    text PRIMARY KEY REFERENCES pgbak_storage (name) ON DELETE CASCADE,
  secrets jsonb NOT NULL
);
COMMENT ON TABLE pgbak_storage_secret IS 'pgbak_ext: storage credentials (owner only)';

CREATE FUNCTION pgbak_storage_add(name text, url text, options jsonb DEFAULT '{}')
  RETURNS void AS 'MODULE_PATHNAME', 'pgbak_storage_add' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbak_storage_add(text, text, jsonb) IS
  'Define an S3-compatible storage: pgbak_storage_add(''offsite'', ''s3://bucket/prefix'', options)';

CREATE FUNCTION pgbak_storage_drop(name text)
  RETURNS void AS 'MODULE_PATHNAME', 'pgbak_storage_drop' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbak_storage_drop(text) IS
  'Forget a storage definition (the objects in it are left alone)';

-- pgbak_local_path is pgbak.local_path made absolute, as the workers do.
-- SECURITY DEFINER: data_directory is readable by superusers and
-- pg_read_all_settings only, and monitors read pgbak_storages.
CREATE FUNCTION pgbak_local_path() RETURNS text
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN coalesce(current_setting('pgbak.local_path', true), '') = ''
              THEN regexp_replace(current_setting('data_directory'), '/[^/]+/?$', '')
                   || '/pgbak_backups'
              WHEN current_setting('pgbak.local_path') LIKE '/%'
              THEN current_setting('pgbak.local_path')
              ELSE current_setting('data_directory') || '/' || current_setting('pgbak.local_path')
         END
$$;

CREATE VIEW pgbak_storages AS
SELECT 'local'::text AS name, 'local'::text AS kind, pgbak_local_path() AS url,
       NULL::text AS endpoint, NULL::text AS region, '{}'::jsonb AS options,
       'none'::text AS credentials, NULL::name AS created_by, NULL::timestamptz AS created_at
UNION ALL
SELECT s.name, CASE WHEN s.url LIKE 'file:%' THEN 'local' ELSE 's3' END, s.url,
       CASE WHEN s.url LIKE 's3:%' THEN coalesce(s.options ->> 'endpoint', 'AWS') END,
       s.options ->> 'region', s.options,
       CASE WHEN s.url LIKE 'file:%' THEN 'none'
            WHEN EXISTS (SELECT FROM pgbak_storage_secret x WHERE x.name = s.name)
            THEN 'stored' ELSE 'environment' END,
       s.created_by, s.created_at
FROM pgbak_storage s;
COMMENT ON VIEW pgbak_storages IS 'pgbak_ext: storages (without credentials)';

REVOKE ALL ON TABLE pgbak_storage, pgbak_storage_secret FROM PUBLIC;
REVOKE ALL ON pgbak_storages FROM PUBLIC;
REVOKE ALL ON FUNCTION pgbak_storage_add(text, text, jsonb), pgbak_storage_drop(text) FROM PUBLIC;

-- Roles. Three NOLOGIN roles the DBA grants to people and services; they
-- nest, each including the one below it. They are cluster-wide, so they
-- may exist already (an earlier install), and DROP EXTENSION leaves them.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pgbak_monitor') THEN
    CREATE ROLE pgbak_monitor NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pgbak_operator') THEN
    CREATE ROLE pgbak_operator NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pgbak_admin') THEN
    CREATE ROLE pgbak_admin NOLOGIN;
  END IF;
END
$$;
COMMENT ON ROLE pgbak_monitor IS 'pgbak_ext: read backup_log, backup_status, backup_progress, metrics';
COMMENT ON ROLE pgbak_operator IS 'pgbak_ext: run, cancel, verify, restore into new databases';
COMMENT ON ROLE pgbak_admin IS 'pgbak_ext: storages, schedules, retention';
GRANT pgbak_monitor TO pgbak_operator;
GRANT pgbak_operator TO pgbak_admin;

-- The functions check their caller (current_user: the role PostgreSQL
-- itself checks privileges for) and then do their catalog work as the
-- extension's owner, switching user inside (see src/pg/privileges.h); they
-- are not SECURITY DEFINER, so a SECURITY DEFINER function of someone
-- else's, or maintenance code running as a table's owner, calls them with
-- its own rights, not its caller's. search_path is pinned so that no
-- caller's objects are ever resolved.
ALTER FUNCTION pgbak_run(name, text, jsonb) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION pgbak_wait(bigint, integer) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION pgbak_cancel(bigint) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION pgbak_verify(bigint, boolean) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION pgbak_restore(bigint, name, jsonb) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION pgbak_progress() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION pgbak_schedule(text, name, text, jsonb) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION pgbak_unschedule(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION pgbak_prune(boolean) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION pgbak_metrics() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION pgbak_storage_add(text, text, jsonb) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION pgbak_storage_drop(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION pgbak_rpo(name) SECURITY DEFINER;

-- backup_log: monitors see every row; the owner of a database sees the rows
-- of that database (its backups, and verifies and restores naming it), and
-- nobody else sees anything. Only the extension's owner writes.
ALTER TABLE backup_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY backup_log_monitors ON backup_log FOR SELECT
  USING (pg_catalog.pg_has_role('pgbak_monitor', 'USAGE'));
CREATE POLICY backup_log_database_owners ON backup_log FOR SELECT
  USING (EXISTS (SELECT FROM pg_catalog.pg_database d
                 WHERE d.datname = database_name AND pg_catalog.pg_has_role(d.datdba, 'USAGE')));
GRANT SELECT ON backup_log TO PUBLIC;

GRANT SELECT ON backup_status, backup_progress, pgbak_jobs, pgbak_storages TO pgbak_monitor;
REVOKE ALL ON FUNCTION pgbak_local_path() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbak_progress(), pgbak_metrics(), pgbak_rpo(name), pgbak_local_path(),
  pgbak_prune(boolean) TO pgbak_monitor;
-- A database owner may back up, follow and cancel backups of that
-- database without any role: these three check the caller themselves.
GRANT EXECUTE ON FUNCTION pgbak_run(name, text, jsonb), pgbak_wait(bigint, integer),
  pgbak_cancel(bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION pgbak_verify(bigint, boolean), pgbak_restore(bigint, name, jsonb)
  TO pgbak_operator;
GRANT EXECUTE ON FUNCTION pgbak_schedule(text, name, text, jsonb), pgbak_unschedule(text),
  pgbak_storage_add(text, text, jsonb), pgbak_storage_drop(text) TO pgbak_admin;
REVOKE ALL ON FUNCTION pgbak_state_change() FROM PUBLIC;
