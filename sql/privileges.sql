-- privileges: what each role may do; every refusal is SQLSTATE 42501 and
-- changes nothing.
\set SHOW_CONTEXT never
CREATE EXTENSION IF NOT EXISTS pgbak_ext;
CREATE ROLE regress_nobody LOGIN;
CREATE ROLE regress_monitor LOGIN IN ROLE pgbak_monitor;
CREATE ROLE regress_operator LOGIN IN ROLE pgbak_operator;
CREATE ROLE regress_admin LOGIN IN ROLE pgbak_admin;
CREATE ROLE regress_owner LOGIN;
CREATE DATABASE regress_owned OWNER regress_owner;
SELECT pgbak_storage_add('regress-s3', 's3://regress-bucket',
  '{"access_key_id": "AKIDPRIV", "secret_access_key": "privileges-secret-marker"}');
SELECT max(id) AS good_backup FROM backup_log
  WHERE kind = 'backup' AND status = 'succeeded' AND format = 'custom' \gset
SELECT count(*) AS rows_before FROM backup_log \gset

-- The roles nest: admin > operator > monitor.
SELECT pg_has_role('regress_admin', 'pgbak_monitor', 'USAGE') AS admin_is_monitor,
       pg_has_role('regress_operator', 'pgbak_monitor', 'USAGE') AS operator_is_monitor,
       pg_has_role('regress_monitor', 'pgbak_operator', 'USAGE') AS monitor_is_operator;

-- A login with no role and no database of its own: nothing.
SET ROLE regress_nobody;
SELECT count(*) AS rows_visible FROM backup_log;
SELECT pgbak_run('contrib_regression');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_wait(:good_backup, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_cancel(:good_backup);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_copy(:good_backup, 'local');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_verify(:good_backup);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_metrics() IS NOT NULL;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM backup_status;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM pgbak_storages;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM pgbak_storage_secret;
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('x', 's3://some-bucket');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO backup_log (kind, database_name) VALUES ('backup', 'contrib_regression');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- A monitor reads everything but secrets, and changes nothing.
SET ROLE regress_monitor;
SELECT count(*) = :rows_before AS sees_every_row FROM backup_log;
SELECT count(*) >= 1 AS reads_status FROM backup_status;
SELECT count(*) >= 0 AS reads_progress FROM backup_progress;
SELECT archiving, waiting_files >= 0 AS reads_wal_status FROM pgbak_wal_status;
SELECT count(*) >= 0 AS reads_wal_events FROM pgbak_wal_event;
SELECT name, kind, url LIKE '/%' OR url LIKE 's3://%' AS has_url, credentials
FROM pgbak_storages ORDER BY name;
SELECT pgbak_metrics() LIKE '%pgbak_%' AS reads_metrics;
SELECT pgbak_wait(:good_backup, 0) AS waits;
SELECT count(*) >= 0 AS previews_retention FROM pgbak_prune(true);
SELECT count(*) FROM pgbak_storage_secret;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM pgbak_storage;
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('contrib_regression');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_cancel(:good_backup);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_verify(:good_backup);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgbak_prune(false);
\echo :LAST_ERROR_SQLSTATE
UPDATE backup_log SET status = 'failed' WHERE id = :good_backup;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- An operator runs, verifies, restores into new databases, and cancels;
-- it does not define storages or schedules, nor overwrite a database.
SET ROLE regress_operator;
SELECT pgbak_storage_add('x', 's3://some-bucket');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_drop('regress-s3');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'contrib_regression', '@daily');
\echo :LAST_ERROR_SQLSTATE
-- Nor a job over every database, which would read every database.
SELECT pgbak_schedule('x', '*', '@daily');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_unschedule('x');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:good_backup, 'regress_owned', '{"clean": true}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:good_backup, 'regress_owned', '{"tables": ["public.x"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('regress_owned') AS operator_run \gset
SELECT pgbak_cancel(:operator_run) IS NOT NULL AS cancels;
SELECT pgbak_verify(:good_backup) AS operator_verify \gset
SELECT pgbak_cancel(:operator_verify) IS NOT NULL AS cancels_verify;
SELECT pgbak_restore(:good_backup, 'regress_restored_new') AS operator_restore \gset
SELECT pgbak_cancel(:operator_restore) IS NOT NULL AS cancels_restore;
RESET ROLE;
SELECT pgbak_wait(:operator_run, 60) IN ('cancelled', 'succeeded') AS run_ended,
       pgbak_wait(:operator_verify, 60) IN ('cancelled', 'succeeded') AS verify_ended,
       pgbak_wait(:operator_restore, 60) IN ('cancelled', 'succeeded') AS restore_ended;
SET client_min_messages = warning;  -- the restore may or may not have started
DROP DATABASE IF EXISTS regress_restored_new;
RESET client_min_messages;
SELECT requested_by FROM backup_log WHERE id IN (:operator_run, :operator_verify, :operator_restore);

-- A database owner with no role: backs up that database, follows and
-- cancels its backups, sees only its rows; nothing else.
SET ROLE regress_owner;
BEGIN;
SELECT pgbak_run('regress_owned') > 0 AS first_queued;
SELECT pgbak_run('regress_owned');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT pgbak_run('regress_owned') AS owner_run \gset
SELECT pgbak_wait(:owner_run, 120) AS owner_backup;
SELECT DISTINCT database_name FROM backup_log;
SELECT pgbak_run('contrib_regression');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_wait(:good_backup, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_cancel(:good_backup);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_verify(:owner_run);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:owner_run, 'regress_owned_copy');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM backup_status;
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_run('regress_owned', 'regress-s3');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT requested_by, status FROM backup_log WHERE id = :owner_run;

-- Storages other than 'local' are for operators, admins and the owners an
-- admin granted them to.
SET ROLE regress_admin;
SELECT pgbak_storage_grant('regress-s3', 'regress_owner');
SELECT pgbak_storage_grant('local', 'regress_owner');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_grant('regress-s3', 'regress_no_such_role');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_operator;
SELECT pgbak_storage_grant('regress-s3', 'regress_owner');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_owner;
BEGIN;
SELECT pgbak_run('regress_owned', 'regress-s3') > 0 AS owner_may_use_granted_storage;
ROLLBACK;
RESET ROLE;
SET ROLE regress_admin;
SELECT pgbak_storage_revoke('regress-s3', 'regress_owner') AS revoked;
SELECT pgbak_storage_revoke('regress-s3', 'regress_owner') AS revoked_again;
RESET ROLE;
SET ROLE regress_owner;
SELECT pgbak_run('regress_owned', 'regress-s3');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- An admin defines storages and schedules; storages that use the server's
-- files take the server-file roles besides.
SET ROLE regress_admin;
SELECT pgbak_storage_add('regress-admin-dir', 'file:///var/tmp/regress-admin');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('regress-admin-ca', 's3://admin-bucket', '{"ca_file": "/etc/hostname"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('regress-admin-s3', 's3://admin-bucket/p');
SELECT pgbak_schedule('regress-admin-job', 'regress_owned', '@daily') > 0 AS scheduled;
SELECT created_by FROM pgbak_jobs WHERE job_name = 'regress-admin-job';
SELECT pgbak_unschedule('regress-admin-job');
SELECT pgbak_storage_drop('regress-admin-s3');
SELECT count(*) FROM pgbak_storage_secret;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- Rights are the immediate caller's: a SECURITY DEFINER function owned by a
-- role without any calls pgbak_run with that role's rights, whoever calls
-- it (a superuser here).
CREATE FUNCTION regress_borrow() RETURNS bigint LANGUAGE sql SECURITY DEFINER
  AS $$ SELECT pgbak_run('contrib_regression') $$;
ALTER FUNCTION regress_borrow() OWNER TO regress_nobody;
SELECT regress_borrow();
\echo :LAST_ERROR_SQLSTATE
DROP FUNCTION regress_borrow();

-- Nothing was written by the refused calls.
SELECT count(*) - :rows_before AS rows_added FROM backup_log;
SELECT pgbak_storage_drop('regress-s3');
DROP DATABASE regress_owned;
DROP ROLE regress_nobody, regress_monitor, regress_operator, regress_admin, regress_owner;
