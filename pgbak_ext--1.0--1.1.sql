-- pgbak_ext 1.0 -> 1.1: S3-compatible storages.
\echo Use "ALTER EXTENSION pgbak_ext UPDATE TO '1.1'" to load this file. \quit

-- Storage definitions. The public part is here; credentials live in
-- pgbak_storage_secret, which only the extension's owner can read (the
-- pgbak_storages view shows whether a storage has its own credentials,
-- never what they are). Neither table is dumped with the database: a
-- backup of the catalog database must not carry the keys to the backups.
CREATE TABLE pgbak_storage (
  name       text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$' AND name <> 'local'),
  url        text NOT NULL CHECK (url LIKE 's3://%'),
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

CREATE VIEW pgbak_storages AS
SELECT 'local'::text AS name, 'local'::text AS kind,
       -- pgbak.local_path made absolute, as the workers do
       CASE WHEN coalesce(current_setting('pgbak.local_path', true), '') = ''
            THEN regexp_replace(current_setting('data_directory'), '/[^/]+/?$', '')
                 || '/pgbak_backups'
            WHEN current_setting('pgbak.local_path') LIKE '/%'
            THEN current_setting('pgbak.local_path')
            ELSE current_setting('data_directory') || '/' || current_setting('pgbak.local_path')
       END AS url,
       NULL::text AS endpoint, NULL::text AS region, '{}'::jsonb AS options,
       'none'::text AS credentials, NULL::name AS created_by, NULL::timestamptz AS created_at
UNION ALL
SELECT s.name, 's3', s.url,
       coalesce(s.options ->> 'endpoint', 'AWS'), s.options ->> 'region', s.options,
       CASE WHEN EXISTS (SELECT FROM pgbak_storage_secret x WHERE x.name = s.name)
            THEN 'stored' ELSE 'environment' END,
       s.created_by, s.created_at
FROM pgbak_storage s;
COMMENT ON VIEW pgbak_storages IS 'pgbak_ext: storages (without credentials)';

REVOKE ALL ON TABLE pgbak_storage, pgbak_storage_secret FROM PUBLIC;
REVOKE ALL ON pgbak_storages FROM PUBLIC;
REVOKE ALL ON FUNCTION pgbak_storage_add(text, text, jsonb), pgbak_storage_drop(text) FROM PUBLIC;
