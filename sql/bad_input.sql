-- bad_input: every bad argument gets an error with a SQLSTATE and leaves no
-- row behind.
\set SHOW_CONTEXT never
CREATE EXTENSION IF NOT EXISTS pgbak_ext;
SELECT count(*) AS rows_before FROM backup_log \gset

-- Database
SELECT pgbak_run(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('no_such_database');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('x"; DROP TABLE backup_log; --');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('bäck''up;');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('template0');
\echo :LAST_ERROR_SQLSTATE

-- Storage
SELECT pgbak_run('contrib_regression', 'nowhere');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('contrib_regression', NULL);
\echo :LAST_ERROR_SQLSTATE

-- Options
SELECT pgbak_run('contrib_regression', 'local', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('contrib_regression', 'local', '[]');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('contrib_regression', 'local', '{"fromat": "plain"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('contrib_regression', 'local', '{"format": "directory"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('contrib_regression', 'local', '{"schema_only": "yes"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('contrib_regression', 'local', '{"schema_only": true, "data_only": true}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('contrib_regression', 'local', '{"zstd_level": 0}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('contrib_regression', 'local', '{"zstd_level": 2.5}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('contrib_regression', 'local', '{"tables": "users"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('contrib_regression', 'local', '{"tables": [""]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('contrib_regression', 'local', '{"tables": ["a.b.c"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('contrib_regression', 'local', '{"tables": ["\"unterminated"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('contrib_regression', 'local', '{"schemas": ["a.b"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('contrib_regression', 'local', '{"tables": ["t"], "schemas": ["s"]}');
\echo :LAST_ERROR_SQLSTATE

-- Waiting and cancelling
SELECT pgbak_wait(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_wait(987654321);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_wait(1, -1);
\echo :LAST_ERROR_SQLSTATE
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pgbak_wait(1, 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT pgbak_cancel(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_cancel(987654321);
\echo :LAST_ERROR_SQLSTATE

-- No row was added by any of the above.
SELECT count(*) - :rows_before AS rows_added FROM backup_log;

-- The extension lives only in pgbak.database.
CREATE DATABASE pgbak_elsewhere;
\c pgbak_elsewhere
\set SHOW_CONTEXT never
CREATE EXTENSION pgbak_ext;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM pg_extension WHERE extname = 'pgbak_ext';
\c contrib_regression
DROP DATABASE pgbak_elsewhere;

-- Settings are checked when they are set, not when they are first used.
ALTER SYSTEM SET pgbak.webhook_url = 'ftp://example.com/hook';
\echo :LAST_ERROR_SQLSTATE
ALTER SYSTEM SET pgbak.webhook_events = 'sometimes';
\echo :LAST_ERROR_SQLSTATE
ALTER SYSTEM SET pgbak.metrics_listen = 'localhost';
\echo :LAST_ERROR_SQLSTATE
ALTER SYSTEM SET pgbak.timezone = 'Mars/Olympus_Mons';
\echo :LAST_ERROR_SQLSTATE
ALTER SYSTEM SET pgbak.rpo = '-1 day';
\echo :LAST_ERROR_SQLSTATE
ALTER SYSTEM SET pgbak.zstd_level = 42;
\echo :LAST_ERROR_SQLSTATE
-- pgbak.local_reserve is a size (MB unless a unit says otherwise), or -1.
ALTER SYSTEM SET pgbak.local_reserve = -2;
\echo :LAST_ERROR_SQLSTATE
ALTER SYSTEM SET pgbak.local_reserve = '10%';
\echo :LAST_ERROR_SQLSTATE
SELECT setting, unit, boot_val FROM pg_settings WHERE name = 'pgbak.local_reserve';
