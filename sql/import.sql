-- import: pgbak_storage_sets and pgbak_import (#16): the sets a storage
-- holds, and registering them in backup_log. Bad input gets a SQLSTATE, a
-- message and a hint, and changes nothing; sets this server made are
-- already registered, so importing its own storage adds nothing.
\set SHOW_CONTEXT never
CREATE EXTENSION IF NOT EXISTS pgbak_ext;
SELECT pgbak_storage_add('importstore',
  'file://' || current_setting('data_directory') || '/pgbak-import-storage');
SELECT pgbak_run('contrib_regression', 'importstore', '{"schema_only": true}') AS made \gset
SELECT pgbak_wait(:made, 120) AS made_status;
SELECT count(*) AS rows_before FROM backup_log \gset

-- The listing: this server's set, complete, with what its row says.
SELECT s.complete, s.problem, s.cluster = (SELECT system_identifier::text FROM pg_control_system())
         AS this_cluster,
       s.database, s.directory_id = :made AS directory_id_is_the_row, s.backup_id = :made
         AS backup_id_is_the_row, s.format,
       s.started_at <= s.finished_at AS times_in_order, s.raw_bytes > 0 AS has_raw_bytes,
       s.stored_bytes = l.stored_bytes + l.globals_bytes AS stored_as_logged, s.encrypted
FROM pgbak_storage_sets('importstore') s JOIN backup_log l ON l.location = s.location;
SELECT count(*) AS sets FROM pgbak_storage_sets('importstore');
SELECT pg_typeof(started_at) AS started_type, pg_typeof(raw_bytes) AS raw_type
FROM pgbak_storage_sets('importstore');

-- Importing a storage whose sets this server made adds nothing.
SELECT count(*) AS imported FROM pgbak_import('importstore');
SELECT location AS made_location FROM backup_log WHERE id = :made \gset
SET client_min_messages = warning;  -- its NOTICE names the data directory
SELECT count(*) AS imported FROM pgbak_import('importstore', :'made_location');
RESET client_min_messages;

-- Bad input: NULL, unknown storages, locations that are no set.
SELECT * FROM pgbak_storage_sets(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgbak_storage_sets('nowhere');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgbak_import(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgbak_import('nowhere');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgbak_import('importstore', '');
\echo :LAST_ERROR_SQLSTATE
-- (The messages below name this server's data directory: SQLSTATEs only.)
\set VERBOSITY sqlstate
SELECT * FROM pgbak_import('importstore', '/not/below/the/storage');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgbak_import('importstore',
  current_setting('data_directory') || '/pgbak-import-storage/1/db');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgbak_import('importstore',
  current_setting('data_directory') || '/pgbak-import-storage/1/db/20260101T000000Z-7');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgbak_import('local', :'made_location');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
-- A storage whose directory is not there: the messages in full.
SELECT pgbak_storage_add('ghost', 'file:///pgbak-regress-nowhere');
SELECT * FROM pgbak_import('ghost', '/pgbak-regress-nowhere/1/db/x');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgbak_import('ghost', '/elsewhere/1/db/20260101T000000Z-7');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgbak_import('ghost', '/pgbak-regress-nowhere/1/db/20260101T000000Z-7');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS sets FROM pgbak_storage_sets('ghost');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS imported FROM pgbak_import('ghost');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_drop('ghost');

-- Only admins: an operator is refused, with the role to grant.
CREATE ROLE regress_import_operator IN ROLE pgbak_operator;
SET ROLE regress_import_operator;
SELECT * FROM pgbak_storage_sets('importstore');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgbak_import('importstore');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE regress_import_operator;

SELECT count(*) = :rows_before AS nothing_changed FROM backup_log;
-- The trigger check allows 'import' (and nothing else new).
\set VERBOSITY sqlstate
INSERT INTO backup_log (kind, database_name, status, trigger, finished_at)
  VALUES ('backup', 'contrib_regression', 'failed', 'imported', now());
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT pgbak_storage_drop('importstore');
