-- upgrade: the oldest install script plus every upgrade step gives the
-- current version, with the objects each step adds.
\set SHOW_CONTEXT never
CREATE EXTENSION pgbak_ext VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'pgbak_ext';
SELECT to_regclass('pgbak_storage') IS NULL AS no_storage_table_in_1_0;
SELECT pgbak_run('contrib_regression') > 0 AS queued_in_1_0;
ALTER EXTENSION pgbak_ext UPDATE TO '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'pgbak_ext';
-- History written by 1.0 survives the update.
SELECT count(*) AS rows_kept FROM backup_log;
SELECT name, kind, credentials FROM pgbak_storages ORDER BY name;
SELECT has_table_privilege('public', 'pgbak_storage_secret', 'select') AS public_reads_secrets,
       has_function_privilege('public', 'pgbak_storage_add(text,text,jsonb)', 'execute')
         AS public_adds;
-- 1.2 records the hash of each archive's table of contents.
ALTER EXTENSION pgbak_ext UPDATE TO '1.2';
SELECT extversion FROM pg_extension WHERE extname = 'pgbak_ext';
SELECT count(*) AS rows_kept FROM backup_log;
SELECT format_type(atttypid, atttypmod) AS toc_sha256_type FROM pg_attribute
  WHERE attrelid = 'backup_log'::regclass AND attname = 'toc_sha256';
-- 1.3: retention records a set 'expiring' before it deletes anything, and
-- owners' manual backups are limited by a unique index.
ALTER EXTENSION pgbak_ext UPDATE TO '1.3';
SELECT extversion FROM pg_extension WHERE extname = 'pgbak_ext';
SELECT count(*) AS rows_kept, bool_and(NOT owner_queued) AS none_owner_queued FROM backup_log;
SELECT pg_get_constraintdef(oid) LIKE '%expiring%' AS expiring_allowed
  FROM pg_constraint WHERE conrelid = 'backup_log'::regclass AND conname = 'backup_log_status_check';
SELECT indexdef LIKE '%owner_queued%' AS owner_queue_index
  FROM pg_indexes WHERE indexname = 'backup_log_owner_queue_idx';
-- Rows made before 1.3 have no database OID; new rows get theirs.
SELECT count(*) FILTER (WHERE database_oid IS NULL) AS rows_without_oid FROM backup_log;
SELECT pgbak_run('contrib_regression') > 0 AS queued_in_1_3;
SELECT database_oid = (SELECT oid FROM pg_database WHERE datname = 'contrib_regression')
  AS new_row_knows_its_database
  FROM backup_log ORDER BY id DESC LIMIT 1;
-- 1.3 also: a storage may read its key from a server file, and a status
-- change is announced only while the NOTIFY queue has room; the trigger
-- function stays closed to PUBLIC.
SELECT pg_get_viewdef('pgbak_storages') LIKE '%secret_access_key_file%' AS key_file_shown;
SELECT prosrc LIKE '%pg_notification_queue_usage()%' AS notify_checks_queue,
       has_function_privilege('public', oid, 'execute') AS public_runs_trigger
  FROM pg_proc WHERE proname = 'pgbak_state_change';
SHOW pgbak.notify_queue_limit;
-- 1.4: a failed operation's row keeps its error's SQLSTATE and hint.
ALTER EXTENSION pgbak_ext UPDATE TO '1.4';
SELECT extversion FROM pg_extension WHERE extname = 'pgbak_ext';
SELECT count(*) AS rows_kept FROM backup_log;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
  WHERE attrelid = 'backup_log'::regclass AND attname IN ('error_sqlstate', 'error_hint')
  ORDER BY attname;
-- 1.5: the database arguments are text, so that a name longer than 63
-- bytes is refused (42622), not cut to another database's name as 1.4 does
-- (the error names the first 63 bytes). Every other property of the three
-- functions stays as it was, privileges included.
SELECT pgbak_run(repeat('d', 70));
\echo :LAST_ERROR_SQLSTATE
CREATE TEMP TABLE functions_1_4 AS
SELECT p.proname, p.proargnames, pg_get_expr(p.proargdefaults, 0) AS defaults, p.prorettype,
       p.prolang, p.prosrc, p.probin, p.provolatile, p.proisstrict, p.prosecdef, p.proleakproof,
       p.proparallel, p.procost, p.proconfig, p.proacl::text AS acl,
       obj_description(p.oid, 'pg_proc') AS comment,
       (SELECT i.initprivs::text FROM pg_init_privs i
        WHERE i.objoid = p.oid AND i.classoid = 'pg_proc'::regclass) AS initprivs
FROM pg_proc p WHERE p.proname IN ('pgbak_run', 'pgbak_restore', 'pgbak_schedule');
ALTER EXTENSION pgbak_ext UPDATE TO '1.5';
SELECT extversion FROM pg_extension WHERE extname = 'pgbak_ext';
SELECT count(*) AS rows_kept FROM backup_log;
SELECT p.oid::regprocedure AS function, e.extname AS member_of
FROM pg_proc p LEFT JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
LEFT JOIN pg_extension e ON e.oid = d.refobjid
WHERE p.proname IN ('pgbak_run', 'pgbak_restore', 'pgbak_schedule') ORDER BY p.oid::regprocedure::text;
CREATE TEMP TABLE functions_1_5 AS
SELECT p.proname, p.proargnames, pg_get_expr(p.proargdefaults, 0) AS defaults, p.prorettype,
       p.prolang, p.prosrc, p.probin, p.provolatile, p.proisstrict, p.prosecdef, p.proleakproof,
       p.proparallel, p.procost, p.proconfig, p.proacl::text AS acl,
       obj_description(p.oid, 'pg_proc') AS comment,
       (SELECT i.initprivs::text FROM pg_init_privs i
        WHERE i.objoid = p.oid AND i.classoid = 'pg_proc'::regclass) AS initprivs
FROM pg_proc p WHERE p.proname IN ('pgbak_run', 'pgbak_restore', 'pgbak_schedule');
SELECT count(*) AS functions, count(DISTINCT proname) AS names FROM functions_1_5;
(TABLE functions_1_4 EXCEPT TABLE functions_1_5)
UNION ALL (TABLE functions_1_5 EXCEPT TABLE functions_1_4);
SELECT r.rolname, p.oid::regprocedure AS function,
       has_function_privilege(r.rolname, p.oid, 'execute') AS executes
FROM pg_proc p
CROSS JOIN (VALUES ('public'), ('pgbak_monitor'), ('pgbak_operator'), ('pgbak_admin')) r (rolname)
WHERE p.proname IN ('pgbak_run', 'pgbak_restore', 'pgbak_schedule')
ORDER BY p.oid::regprocedure::text, r.rolname;
SELECT pgbak_run(repeat('d', 70));
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_cancel(id) IS NOT NULL AS cancelled FROM backup_log;
SELECT pgbak_wait(id, 60) IN ('cancelled', 'succeeded', 'failed') AS ended FROM backup_log;
-- #15 (B): pgbak_storages gains manual_retention, used_bytes and set_count
-- after its columns of 1.4, with the same comment and grants.
SELECT string_agg(attname, ', ' ORDER BY attnum) AS storages_columns FROM pg_attribute
  WHERE attrelid = 'pgbak_storages'::regclass AND attnum > 0;
SELECT obj_description('pgbak_storages'::regclass, 'pg_class') AS storages_comment,
       has_table_privilege('pgbak_monitor', 'pgbak_storages', 'select') AS monitor_reads,
       has_table_privilege('public', 'pgbak_storages', 'select') AS public_reads;
SELECT name, used_bytes >= 0 AS counted,
       set_count = (SELECT count(*) FROM backup_log WHERE kind = 'backup'
                    AND status IN ('succeeded', 'expiring')) AS sets_agree
FROM pgbak_storages ORDER BY name;
-- 1.6 (#16): sets found in a storage are imported into backup_log (trigger
-- 'import', once per storage and location) by pgbak_import, and listed by
-- pgbak_storage_sets; both refuse non-admins themselves. (#17) The WAL
-- archive's status, for monitors.
ALTER EXTENSION pgbak_ext UPDATE TO '1.6';
SELECT extversion FROM pg_extension WHERE extname = 'pgbak_ext';
SELECT count(*) AS rows_kept, count(*) FILTER (WHERE trigger = 'import') AS imported
FROM backup_log;
SELECT pg_get_constraintdef(oid) AS trigger_check
  FROM pg_constraint WHERE conrelid = 'backup_log'::regclass AND conname = 'backup_log_trigger_check';
SELECT regexp_replace(indexdef, ' ON \S+ ', ' ON backup_log ') AS import_index
  FROM pg_indexes WHERE indexname = 'backup_log_import_once';
SELECT p.oid::regprocedure AS function, pg_get_function_result(p.oid) AS result,
       pg_get_expr(p.proargdefaults, 0) AS defaults, p.proconfig, e.extname AS member_of,
       has_function_privilege('public', p.oid, 'execute') AS public_executes
FROM pg_proc p LEFT JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
LEFT JOIN pg_extension e ON e.oid = d.refobjid
WHERE p.proname IN ('pgbak_storage_sets', 'pgbak_import', 'pgbak_wal_archive_status')
ORDER BY 1::text;
SELECT has_function_privilege('pgbak_monitor', 'pgbak_wal_archive_status()', 'execute') AS monitor_reads_wal,
       archived_count >= 0 AS wal_counts FROM pgbak_wal_archive_status();
SELECT archiving, waiting_files >= 0 AS waiting_counted, stale,
       has_table_privilege('pgbak_monitor', 'pgbak_wal_status', 'select') AS monitor_reads_status,
       has_table_privilege('public', 'pgbak_wal_status', 'select') AS public_reads_status
FROM pgbak_wal_status;
SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
         AS wal_event_columns,
       has_table_privilege('pgbak_monitor', 'pgbak_wal_event', 'select') AS monitor_reads_events
FROM pg_attribute WHERE attrelid = 'pgbak_wal_event'::regclass AND attnum > 0;
-- 1.6, base backups (#17): backup_log takes kind 'base' with no database
-- (and still refuses a missing database for every other kind), records
-- the WAL a base backup needs, and pgbak_base_backup is pgbak_admin's only.
SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute
  WHERE attrelid = 'backup_log'::regclass
    AND attname IN ('database_name', 'wal_start_lsn', 'wal_end_lsn', 'timeline',
                    'wal_first_segment', 'wal_last_segment', 'wal_archived', 'bad_checksums')
  ORDER BY attnum;
SELECT pg_get_constraintdef(oid) AS kind_check
  FROM pg_constraint WHERE conrelid = 'backup_log'::regclass AND conname = 'backup_log_kind_check';
\set VERBOSITY terse
INSERT INTO backup_log (kind, database_name) VALUES ('backup', NULL);
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
SELECT r.rolname, has_function_privilege(r.rolname, 'pgbak_base_backup(text,jsonb)', 'execute')
  AS executes
FROM (VALUES ('public'), ('pgbak_monitor'), ('pgbak_operator'), ('pgbak_admin')) r (rolname)
ORDER BY r.rolname;
SELECT pgbak_base_backup('nosuch');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_base_backup(options => '{"fast": true}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS base_rows FROM backup_log WHERE kind = 'base';
ALTER EXTENSION pgbak_ext UPDATE TO '1.7';
-- 1.7, retention and status of base backups (#17): pgbak_storages counts
-- base sets, and pgbak_wal_status ends with the base backups it serves.
SELECT string_agg(attname, ', ' ORDER BY attnum) AS wal_status_columns
FROM pg_attribute WHERE attrelid = 'pgbak_wal_status'::regclass AND attnum > 0;
SELECT base_backups, newest_base_backup_id, earliest_recovery_time FROM pgbak_wal_status;
SELECT used_bytes AS used_before, set_count AS sets_before FROM pgbak_storages WHERE name = 'local';
INSERT INTO backup_log (kind, database_name, storage_name, status, stored_bytes, started_at,
                        finished_at, wal_archived)
VALUES ('base', NULL, 'local', 'succeeded', 1000, now() - interval '2 hours',
        now() - interval '1 hour', true),
       ('base', NULL, 'local', 'succeeded', 3000, now() - interval '20 minutes',
        now() - interval '10 minutes', false),
       ('base', NULL, 'local', 'failed', 5000, now(), now(), NULL);
SELECT used_bytes, set_count FROM pgbak_storages WHERE name = 'local';
SELECT base_backups,
       newest_base_backup_id = (SELECT max(id) FROM backup_log WHERE stored_bytes = 3000)
         AS newest_is_the_last_succeeded,
       newest_base_backup_at = (SELECT finished_at FROM backup_log WHERE stored_bytes = 3000)
         AS newest_at_its_end,
       earliest_recovery_time = (SELECT finished_at FROM backup_log WHERE stored_bytes = 1000)
         AS earliest_is_the_oldest_with_archived_wal
FROM pgbak_wal_status;
SELECT has_table_privilege('pgbak_monitor', 'pgbak_wal_status', 'select') AS monitor_reads_status,
       has_table_privilege('public', 'pgbak_wal_status', 'select') AS public_reads_status,
       has_table_privilege('pgbak_monitor', 'pgbak_storages', 'select') AS monitor_reads_storages;
-- A verify of a base backup has no database either; other kinds still need one.
SELECT pg_get_constraintdef(oid) AS database_name_check
  FROM pg_constraint WHERE conrelid = 'backup_log'::regclass
   AND conname = 'backup_log_database_name_check';
\set VERBOSITY terse
INSERT INTO backup_log (kind, database_name) VALUES ('restore', NULL);
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(id, 'x') FROM backup_log WHERE stored_bytes = 1000;
\echo :LAST_ERROR_SQLSTATE
ALTER EXTENSION pgbak_ext UPDATE TO '1.8';
-- 1.8, restore drills of base backups (#18): backup_log records the time
-- a drill recovered to.
SELECT format_type(atttypid, atttypmod) AS recovered_to_type,
       col_description(attrelid, attnum) IS NOT NULL AS commented
  FROM pg_attribute WHERE attrelid = 'backup_log'::regclass AND attname = 'recovered_to';
-- pgbak_recover queues kind 'recover' (pgbak_operator's to call).
SELECT pg_get_constraintdef(oid) AS kind_check
  FROM pg_constraint WHERE conrelid = 'backup_log'::regclass AND conname = 'backup_log_kind_check';
SELECT has_function_privilege('pgbak_operator', 'pgbak_recover(text, timestamptz, jsonb)',
                              'execute') AS operator_recovers,
       has_function_privilege('public', 'pgbak_recover(text, timestamptz, jsonb)',
                              'execute') AS public_recovers;
-- A drill of a base backup whose WAL was not archived is refused at the call.
SELECT pgbak_verify(id, true) FROM backup_log WHERE stored_bytes = 3000;
\echo :LAST_ERROR_SQLSTATE
DROP EXTENSION pgbak_ext;
