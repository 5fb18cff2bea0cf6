-- api: the SQL API on a real server: install, queue, wait, read the log.
\set SHOW_CONTEXT never
CREATE EXTENSION pgbak_ext;
SELECT extversion FROM pg_extension WHERE extname = 'pgbak_ext';

-- What the extension installed, by name (names are part of the contract).
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args,
       pg_get_function_result(p.oid) AS result
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pgbak_ext'
ORDER BY 1;
SELECT c.relname, c.relkind
FROM pg_class c JOIN pg_depend d ON d.objid = c.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pgbak_ext'
ORDER BY 1;

-- What PUBLIC may call or read: pgbak_run, pgbak_wait and pgbak_cancel
-- (which refuse unless the caller owns the database) and backup_log (whose
-- row-level security shows only the caller's own databases); the rest
-- belongs to the pgbak_* roles (see the privileges test).
SELECT p.proname, has_function_privilege('public', p.oid, 'execute') AS public_executes,
       p.prosecdef AS security_definer, p.proconfig AS config
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pgbak_ext'
ORDER BY 1;
SELECT c.relname, has_table_privilege('public', c.oid, 'select') AS public_reads,
       c.relrowsecurity AS row_security
FROM pg_class c JOIN pg_depend d ON d.objid = c.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pgbak_ext'
WHERE c.relkind IN ('r', 'v')
ORDER BY 1;

-- A real backup of this database, queued, then awaited in a later transaction.
CREATE TABLE sample (id int PRIMARY KEY, note text);
INSERT INTO sample SELECT g, 'row ' || g FROM generate_series(1, 1000) g;
SELECT pgbak_run('contrib_regression') AS id \gset
SELECT kind, trigger, storage_name, format, options, requested_by = current_user AS by_me
FROM backup_log WHERE id = :id;
SELECT pgbak_wait(:id, 300);
SELECT status, raw_bytes > 0 AS has_raw, stored_bytes > 0 AS has_stored,
       checksum_sha256 ~ '^[0-9a-f]{64}$' AS checksum_ok,
       location LIKE '%/contrib_regression/%-' || id AS location_ok,
       table_count, snapshot_lsn IS NOT NULL AS has_lsn,
       started_at <= finished_at AS timed, error_message
FROM backup_log WHERE id = :id;
SELECT database_name, last_backup_id = :id AS is_last, stale
FROM backup_status WHERE database_name = 'contrib_regression';

-- Options are normalized and stored.
SELECT pgbak_run('contrib_regression', 'local',
                 '{"format": "plain", "tables": ["Public.Sample"], "zstd_level": 5}') AS id2 \gset
SELECT format, options FROM backup_log WHERE id = :id2;
SELECT pgbak_wait(:id2, 300);
SELECT status, table_count, location LIKE '%-' || id AS location_ok FROM backup_log WHERE id = :id2;

-- Waiting on a finished operation returns at once; cancelling it does nothing.
SELECT pgbak_wait(:id, 0);
SELECT pgbak_cancel(:id);

-- Cancel a queued operation in the transaction that queued it: the launcher
-- never sees it.
BEGIN;
SELECT pgbak_run('contrib_regression') AS id3 \gset
SELECT pgbak_cancel(:id3);
COMMIT;
SELECT status, error_message FROM backup_log WHERE id = :id3;
SELECT pgbak_wait(:id3);

-- Waiting in the queuing transaction cannot work, and says so.
BEGIN;
SELECT pgbak_run('contrib_regression') AS id4 \gset
SELECT pgbak_wait(:id4, 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- Nothing is running once everything has been awaited.
SELECT count(*) FROM backup_progress;
