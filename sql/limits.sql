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

-- Database names are at most 63 bytes (NAMEDATALEN - 1), counted in bytes.
-- Declared name, as up to 1.4, PostgreSQL cut a longer argument to its first
-- 63 bytes before the function saw it: lim_<59 n>x was backed up, scheduled
-- or restored as the database lim_<59 n>. Declared text (1.5), each function
-- refuses it whole (42622) and queues nothing.
SELECT 'lim_' || repeat('n', 59) AS l63 \gset
CREATE DATABASE :"l63";
SELECT count(*) AS names_rows_before FROM backup_log \gset
SELECT pgbak_run(:'l63' || 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run(:'l63' || repeat('x', 7), 'local', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('lim-long', :'l63' || 'x', '@daily');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('lim-long', :'l63' || repeat('x', 7), '@daily', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:b, :'l63' || 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:b, :'l63' || repeat('x', 7), '{"tables": ["lim_items"]}');
\echo :LAST_ERROR_SQLSTATE
-- Bytes, not characters: 32 two-byte letters are 64 bytes. (Terse: how a
-- multibyte name is cut in the detail depends on the server encoding.)
\set VERBOSITY terse
SELECT pgbak_run(repeat('é', 32));
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('lim-long', repeat('é', 32), '@daily');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:b, repeat('é', 32));
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT count(*) - :names_rows_before AS rows_added_by_long_names FROM backup_log;
SELECT count(*) - :jobs_before AS jobs_added FROM pgbak_jobs;
-- 63 bytes are a name, whole.
BEGIN;
SELECT pgbak_run(:'l63') AS q \gset
SELECT database_name = :'l63' AS whole_name FROM backup_log WHERE id = :q;
SELECT pgbak_schedule('lim-long', :'l63', '@daily') > 0 AS scheduled;
SELECT database_name = :'l63' AS whole_name FROM pgbak_jobs WHERE job_name = 'lim-long';
SELECT pgbak_restore(:b, repeat('é', 31) || 'd') AS q \gset
SELECT octet_length(database_name::text) AS target_bytes FROM backup_log WHERE id = :q;
ROLLBACK;
-- A value of type name (a column of pg_database) is still taken, through
-- the implicit cast to text.
BEGIN;
SELECT pgbak_run(d.datname) AS q FROM pg_database d WHERE d.datname = :'l63' \gset
SELECT database_name = :'l63' AS whole_name FROM backup_log WHERE id = :q;
ROLLBACK;
DROP DATABASE :"l63";

-- Nothing was queued by any refused call.
SELECT count(*) - :rows_before AS rows_added FROM backup_log;
