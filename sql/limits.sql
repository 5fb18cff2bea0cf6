-- limits: values that are too large, too long or aimed at the wrong object
-- are refused at the call, with a SQLSTATE and a hint, and queue nothing.
\set SHOW_CONTEXT never
CREATE EXTENSION IF NOT EXISTS pgbak_ext;

CREATE TABLE lim_items (id int PRIMARY KEY);
INSERT INTO lim_items SELECT generate_series(1, 10);
SELECT pgbak_run('contrib_regression') AS b \gset
SELECT pgbak_wait(:b, 300);
SELECT count(*) AS rows_before FROM backup_log \gset
SELECT count(*) AS jobs_before FROM pgbak_jobs \gset

-- Durations: rpo and max_age are at most 100 years; beyond that they wrapped
-- around in backup_status.
SELECT pgbak_schedule('lim-rpo', 'contrib_regression', '@daily', '{"rpo": "100000000000 years"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('lim-rpo', 'contrib_regression', '@daily', '{"rpo": 3153600001}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('lim-age', 'contrib_regression', '@daily', '{"max_age": "101 years"}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) - :jobs_before AS jobs_added FROM pgbak_jobs;
SELECT pgbak_schedule('lim-rpo', 'contrib_regression', '@daily', '{"rpo": "100 years"}') > 0 AS scheduled;
SELECT rpo, rpo > interval '99 years' AS positive, stale
  FROM backup_status WHERE database_name = 'contrib_regression';
SELECT pgbak_unschedule('lim-rpo');

-- Restore targets: never a template, never a database without connections.
CREATE DATABASE lim_template IS_TEMPLATE true;
CREATE DATABASE lim_closed ALLOW_CONNECTIONS false;
SELECT pgbak_restore(:b, 'template1', '{"clean": true}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:b, 'template0', '{"clean": true}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:b, 'template1', '{"tables": ["lim_items"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:b, 'lim_template', '{"clean": true}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:b, 'lim_closed', '{"clean": true}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:b, 'lim_closed', '{"tables": ["lim_items"]}');
\echo :LAST_ERROR_SQLSTATE
ALTER DATABASE lim_template IS_TEMPLATE false;
DROP DATABASE lim_template;
DROP DATABASE lim_closed;

-- Sizes: options are at most 64 KiB of JSON and name at most 1000 tables and
-- schemas (pg_dump 15 takes each as an argument); a schedule is at most 1024
-- bytes. 300000 names were queued, and failed when the worker started
-- pg_dump with "Argument list too long".
SELECT pgbak_run('contrib_regression', 'local',
  jsonb_build_object('exclude_tables', (SELECT jsonb_agg('t' || g) FROM generate_series(1, 300000) g)));
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('contrib_regression', 'local',
  jsonb_build_object('exclude_tables', (SELECT jsonb_agg('t' || g) FROM generate_series(1, 600) g),
                     'exclude_schemas', (SELECT jsonb_agg('s' || g) FROM generate_series(1, 401) g)));
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT pgbak_run('contrib_regression', 'local',
  jsonb_build_object('exclude_tables', (SELECT jsonb_agg('t' || g) FROM generate_series(1, 1000) g)))
  > 0 AS thousand_names_queued;
ROLLBACK;
SELECT pgbak_schedule('lim-names', 'contrib_regression', '@daily',
  jsonb_build_object('exclude_tables', (SELECT jsonb_agg('t' || g) FROM generate_series(1, 300000) g)));
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('lim-names', 'contrib_regression', '@daily',
  jsonb_build_object('tables', (SELECT jsonb_agg('t' || g) FROM generate_series(1, 1001) g)));
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('lim-cron', 'contrib_regression', '0' || repeat(',0', 100000) || ' * * * *');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:b, 'lim_new',
  jsonb_build_object('tables', (SELECT jsonb_agg('t' || g) FROM generate_series(1, 1001) g)));
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) - :jobs_before AS jobs_added FROM pgbak_jobs;

-- System catalogs are never selected: pg_dump dumps whatever -t or -n names,
-- and {"tables": ["pg_authid"]} dumped pg_catalog.pg_authid.
SELECT pgbak_run('contrib_regression', 'local', '{"tables": ["pg_authid"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('contrib_regression', 'local', '{"tables": ["pg_catalog.pg_authid"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('contrib_regression', 'local', '{"exclude_tables": ["pg_class"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('contrib_regression', 'local', '{"schemas": ["pg_catalog"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('contrib_regression', 'local', '{"schemas": ["information_schema"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('lim-catalog', 'contrib_regression', '@daily', '{"tables": ["pg_shadow"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:b, 'lim_new', '{"tables": ["pg_authid"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:b, 'lim_new', '{"schemas": ["pg_toast"]}');
\echo :LAST_ERROR_SQLSTATE
-- A table of one's own by a catalog's name is selected by its schema.
BEGIN;
SELECT pgbak_run('contrib_regression', 'local', '{"tables": ["public.pg_authid"]}') > 0 AS queued;
ROLLBACK;

-- Lock waits: pg_dump waits at most lock_wait_timeout for each table's lock
-- (default pgbak.lock_wait_timeout, 5min), at most one day.
SHOW pgbak.lock_wait_timeout;
SELECT pgbak_run('contrib_regression', 'local', '{"lock_wait_timeout": "2 days"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('lim-lock', 'contrib_regression', '@daily', '{"lock_wait_timeout": -1}');
\echo :LAST_ERROR_SQLSTATE
ALTER SYSTEM SET pgbak.lock_wait_timeout = '2d';
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT pgbak_run('contrib_regression', 'local', '{"lock_wait_timeout": "30 seconds"}') AS q \gset
SELECT options FROM backup_log WHERE id = :q;
ROLLBACK;

-- Database names. Declared name, as pgbak_run, pgbak_schedule and
-- pgbak_restore declare them up to 1.2, PostgreSQL cuts a longer name to 63
-- bytes before the function sees it. Declared text, as the next version
-- declares them, the same functions refuse it whole (42622); lim_text holds
-- such declarations of the same C functions.
CREATE SCHEMA lim_text;
CREATE FUNCTION lim_text.pgbak_run(text, text, jsonb) RETURNS bigint
  AS '$libdir/pgbak_ext', 'pgbak_run' LANGUAGE C;
CREATE FUNCTION lim_text.pgbak_schedule(text, text, text, jsonb) RETURNS bigint
  AS '$libdir/pgbak_ext', 'pgbak_schedule' LANGUAGE C;
CREATE FUNCTION lim_text.pgbak_restore(bigint, text, jsonb) RETURNS bigint
  AS '$libdir/pgbak_ext', 'pgbak_restore' LANGUAGE C;
SELECT lim_text.pgbak_run('contrib_regression' || repeat('x', 50), 'local', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT lim_text.pgbak_schedule('lim-long', repeat('d', 64), '@daily', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT lim_text.pgbak_restore(:b, 'restored_' || repeat('x', 60), '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT lim_text.pgbak_run(repeat('d', 63), 'local', '{}');
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT lim_text.pgbak_run('contrib_regression', 'local', '{}') AS q \gset
SELECT database_name FROM backup_log WHERE id = :q;
ROLLBACK;
DROP SCHEMA lim_text CASCADE;

-- Nothing was queued by any refused call.
SELECT count(*) - :rows_before AS rows_added FROM backup_log;
