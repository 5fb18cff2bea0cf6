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
SELECT pgbak_cancel(id) IS NOT NULL AS cancelled FROM backup_log;
SELECT pgbak_wait(id, 60) IN ('cancelled', 'succeeded', 'failed') AS ended FROM backup_log;
DROP EXTENSION pgbak_ext;
