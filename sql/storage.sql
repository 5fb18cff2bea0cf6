-- storage: defining and dropping S3 storages; bad definitions get an error
-- with a SQLSTATE and change nothing; secrets are never shown.
\set SHOW_CONTEXT never
CREATE EXTENSION IF NOT EXISTS pgbak_ext;

SELECT pgbak_storage_add('offsite', 's3://pgbak-test/cluster1',
  '{"endpoint": "http://127.0.0.1:9", "region": "eu-west-1",
    "access_key_id": "AKIDREGRESS", "secret_access_key": "regress-secret-marker",
    "part_size": 5242880, "concurrency": 2}');
SELECT pgbak_storage_add('from-env', 's3://other-bucket/');
SELECT name, kind, CASE kind WHEN 'local' THEN url LIKE '/%' ELSE NULL END AS local_path_absolute,
       CASE kind WHEN 's3' THEN url END AS url, endpoint, region, options, credentials
FROM pgbak_storages ORDER BY name;
-- The secret is stored, but nowhere a view shows.
SELECT count(*) AS secrets_stored FROM pgbak_storage_secret;
SELECT position('regress-secret-marker' IN (SELECT string_agg(t::text, ' ') FROM pgbak_storages t))
  AS secret_in_view;

-- Names
SELECT pgbak_storage_add('offsite', 's3://pgbak-test');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('local', 's3://pgbak-test');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('Off Site', 's3://pgbak-test');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add(NULL, 's3://pgbak-test');
\echo :LAST_ERROR_SQLSTATE

-- URLs
SELECT pgbak_storage_add('x', 'https://pgbak-test/');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://Bad_Bucket/');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket/a/../b');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket//b');
\echo :LAST_ERROR_SQLSTATE

-- Options
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"endpont": "http://x"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"endpoint": "ftp://x"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"endpoint": "http://x/path"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"uri_style": "host"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"part_size": 1048576}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"concurrency": 0}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"concurrency": "4"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"tls_verify": "no"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"ca_file": "relative.pem"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"ca_file": "/nonexistent/ca.pem"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"access_key_id": "AKID"}');
\echo :LAST_ERROR_SQLSTATE
-- A bad secret is refused without being echoed.
SELECT pgbak_storage_add('x', 's3://ok-bucket',
  '{"access_key_id": "AKID", "secret_access_key": "bad secret marker"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '[]');
\echo :LAST_ERROR_SQLSTATE
-- NULL arguments are refused (and, like every error of pgbak_storage_add,
-- without the statement in the server log).
SELECT pgbak_storage_add(NULL, 's3://ok-bucket', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', NULL, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', NULL);
\echo :LAST_ERROR_SQLSTATE
-- A secret access key in a server file instead of SQL text.
SELECT pgbak_storage_add('x', 's3://ok-bucket',
  '{"access_key_id": "AKID", "secret_access_key_file": "relative/key"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket',
  '{"access_key_id": "AKID", "secret_access_key_file": "/nonexistent/key"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"secret_access_key_file": "/nonexistent/key"}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS storages_after_errors FROM pgbak_storage;
-- The key file must be readable by its owner only: one that COPY writes
-- (0644) is refused, without showing what it holds.
DO $$
DECLARE
  key_file text := current_setting('data_directory') || '/pgbak_regress_key';
BEGIN
  EXECUTE format('COPY (SELECT %L) TO %L', 'regress-file-secret-marker', key_file);
  PERFORM pgbak_storage_add('keyfile', 's3://ok-bucket',
    jsonb_build_object('access_key_id', 'AKIDFILE', 'secret_access_key_file', key_file));
EXCEPTION WHEN invalid_parameter_value THEN
  RAISE NOTICE '%: %', SQLSTATE, replace(SQLERRM, current_setting('data_directory'), '$PGDATA');
END
$$;
SELECT count(*) AS keyfile_storages FROM pgbak_storage WHERE name = 'keyfile';

-- Directory storages and encryption options.
SELECT pgbak_storage_add('dir', 'file:///var/tmp/pgbak-regress-dir/',
  '{"age_recipients": ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]}');
SELECT name, kind, url, options, credentials FROM pgbak_storages WHERE name = 'dir';
SELECT pgbak_storage_drop('dir');
SELECT pgbak_storage_add('x', 'file://relative/path');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 'file:///srv/../etc');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 'file:///srv/backups', '{"endpoint": "http://127.0.0.1:9000"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"age_recipients": "age1abc"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"age_recipients": []}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"age_recipients": ["age1notarecipient"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket',
  '{"age_recipients": ["AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"age_identity_file": "/nonexistent/key.txt"}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS storages_after_age_errors FROM pgbak_storage;

-- S3 Object Lock: every object written with a retention of mode and days.
SELECT pgbak_storage_add('locked', 's3://ok-bucket/locked',
  '{"object_lock": {"mode": "Compliance", "days": 30}}');
SELECT name, options FROM pgbak_storages WHERE name = 'locked';
SELECT pgbak_storage_drop('locked');
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"object_lock": {"mode": "legal-hold", "days": 7}}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"object_lock": {"mode": null, "days": 7}}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"object_lock": {"mode": "governance", "days": 0}}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"object_lock": {"mode": "governance", "days": -1}}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"object_lock": {"mode": "governance", "days": 1.5}}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"object_lock": {"mode": "governance", "days": "7"}}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"object_lock": {"mode": "governance", "days": 36501}}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"object_lock": {"mode": "governance", "days": 1e15}}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"object_lock": {"mode": "governance"}}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket',
  '{"object_lock": {"mode": "governance", "days": 7, "bypass": true}}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://ok-bucket', '{"object_lock": true}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 'file:///var/tmp/pgbak-regress-lock',
  '{"object_lock": {"mode": "governance", "days": 7}}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS storages_after_lock_errors FROM pgbak_storage;

-- Runs and jobs may name a defined storage, and only that.
SELECT pgbak_run('contrib_regression', 'nowhere');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('offsite-nightly', 'contrib_regression', '0 3 * * *',
                      '{"storage": "offsite"}') > 0 AS scheduled;

-- Dropping
SELECT pgbak_storage_drop('offsite');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_unschedule('offsite-nightly');
SELECT pgbak_storage_drop('offsite');
SELECT pgbak_storage_drop('offsite');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_drop('local');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_drop('from-env');
SELECT count(*) AS storages_left, (SELECT count(*) FROM pgbak_storage_secret) AS secrets_left
FROM pgbak_storage;

-- Manual retention per storage (#15): an interval, a number of seconds or
-- "off", stored as seconds; pgbak_storages shows the retention that applies
-- (NULL: manual backups stay) and what each storage holds. Bad values are
-- refused with 22023 and change nothing.
SHOW pgbak.manual_retention;
SELECT pgbak_storage_add('aging', 'file:///var/tmp/pgbak-regress-aging',
  '{"manual_retention": "2 weeks"}');
SELECT pgbak_storage_add('forever', 's3://ok-bucket/forever', '{"manual_retention": "off"}');
SELECT pgbak_storage_add('hourly', 's3://ok-bucket/hourly', '{"manual_retention": 3600}');
SELECT name, options -> 'manual_retention' AS stored, manual_retention, used_bytes, set_count
FROM pgbak_storages WHERE name IN ('aging', 'forever', 'hourly') ORDER BY name;
SELECT manual_retention AS local_manual_retention FROM pgbak_storages WHERE name = 'local';
SELECT pgbak_storage_add('bad', 's3://ok-bucket', '{"manual_retention": true}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('bad', 's3://ok-bucket', '{"manual_retention": ["7 days"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('bad', 's3://ok-bucket', '{"manual_retention": {"days": 7}}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('bad', 's3://ok-bucket', '{"manual_retention": null}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('bad', 's3://ok-bucket', '{"manual_retention": -86400}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('bad', 's3://ok-bucket', '{"manual_retention": "-1 days"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('bad', 's3://ok-bucket', '{"manual_retention": 0}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('bad', 'file:///var/tmp/pgbak-regress-bad',
  '{"manual_retention": "101 years"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('bad', 's3://ok-bucket', '{"manual_retention": 1e20}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('bad', 's3://ok-bucket',
  '{"manual_retention": "99999999999999999999 years"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('bad', 's3://ok-bucket', '{"manual_retention": 1.5}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('bad', 's3://ok-bucket', '{"manual_retention": "7 fortnights"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('bad', 's3://ok-bucket', '{"manual_retention": "OFF"}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS bad_storages FROM pgbak_storage WHERE name = 'bad';
SELECT name, options FROM pgbak_storage WHERE name IN ('aging', 'forever', 'hourly')
ORDER BY name;
-- The setting is an interval too, never negative, changed by a reload only.
ALTER SYSTEM SET pgbak.manual_retention = '-1';
\echo :LAST_ERROR_SQLSTATE
ALTER SYSTEM SET pgbak.manual_retention = '7 fortnights';
\echo :LAST_ERROR_SQLSTATE
SET pgbak.manual_retention = '7d';
\echo :LAST_ERROR_SQLSTATE
SHOW pgbak.manual_retention;
SELECT pgbak_storage_drop('aging');
SELECT pgbak_storage_drop('forever');
SELECT pgbak_storage_drop('hourly');
