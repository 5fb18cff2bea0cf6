-- verify_restore: pgbak_verify and pgbak_restore check their arguments and
-- queue nothing on bad input; a real verify and restore run end to end.
\set SHOW_CONTEXT never
CREATE EXTENSION IF NOT EXISTS pgbak_ext;

CREATE TABLE vr_items (id int PRIMARY KEY, note text);
INSERT INTO vr_items SELECT g, 'item ' || g FROM generate_series(1, 500) g;
SELECT pgbak_run('contrib_regression') AS b \gset
SELECT pgbak_wait(:b, 300);
SELECT count(*) AS rows_before FROM backup_log \gset

-- Arguments
SELECT pgbak_verify(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_verify(:b, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_verify(987654321);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(NULL, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:b, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:b, '');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(987654321, 'vr_new');
\echo :LAST_ERROR_SQLSTATE
-- The catalog database is never a restore target.
SELECT pgbak_restore(:b, 'contrib_regression');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:b, 'contrib_regression', '{"clean": true}');
\echo :LAST_ERROR_SQLSTATE
-- A whole restore never overwrites an existing database by accident.
SELECT pgbak_restore(:b, 'postgres');
\echo :LAST_ERROR_SQLSTATE
-- Tables go into an existing database.
SELECT pgbak_restore(:b, 'vr_nowhere', '{"tables": ["vr_items"]}');
\echo :LAST_ERROR_SQLSTATE
-- Options
SELECT pgbak_restore(:b, 'vr_new', '{"clena": true}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:b, 'vr_new', '{"clean": "yes"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:b, 'vr_new', '{"jobs": 0}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:b, 'vr_new', '{"jobs": 99}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:b, 'vr_new', '{"tables": []}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:b, 'vr_new', '{"tables": ["a.b.c"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:b, 'template1', '{"clean": true, "tables": ["vr_items"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:b, 'vr_new', '[]');
\echo :LAST_ERROR_SQLSTATE

-- Operations that are not succeeded backups cannot be read.
SELECT pgbak_verify(:b) AS v \gset
SELECT pgbak_wait(:v, 300);
SELECT count(*) + 1 AS rows_before FROM backup_log WHERE id <> :v \gset
SELECT pgbak_verify(:v);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:v, 'vr_new');
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT pgbak_run('contrib_regression') AS q \gset
SELECT pgbak_cancel(:q);
COMMIT;
SELECT pgbak_verify(:q);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) - :rows_before AS rows_added_by_errors FROM backup_log WHERE id <> :q;

-- The verification is recorded on the backup.
SELECT kind, status, source_id = :b AS reads_backup, options FROM backup_log WHERE id = :v;
SELECT verify_status, verified_at IS NOT NULL AS verified FROM backup_log WHERE id = :b;

-- A restore drill, then a real restore into a new database.
SELECT pgbak_verify(:b, true) AS d \gset
SELECT pgbak_wait(:d, 300);
SELECT verify_status, restore_seconds > 0 AS timed FROM backup_log WHERE id = :b;
SELECT count(*) AS scratch_left FROM pg_database WHERE datname LIKE 'pgbak_verify_%';
SELECT pgbak_restore(:b, 'vr_new', '{"jobs": 2}') AS r \gset
SELECT kind, database_name, options FROM backup_log WHERE id = :r;
SELECT pgbak_wait(:r, 300);
SELECT restore_seconds > 0 AS timed FROM backup_log WHERE id = :r;
\c vr_new
SELECT count(*), sum(id) FROM vr_items;
\c contrib_regression
DROP DATABASE vr_new;
