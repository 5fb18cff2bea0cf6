-- storage_sets: sets in a defined storage outlive its definition, and are
-- reachable again once a storage of that name is defined again.
\set SHOW_CONTEXT never
CREATE EXTENSION IF NOT EXISTS pgbak_ext;
-- A backup to a directory storage; once that storage is dropped, its sets
-- cannot be verified or restored until it is defined again.
SELECT pgbak_storage_add('dirstore',
  'file://' || current_setting('data_directory') || '/pgbak-dir-storage');
SELECT pgbak_run('contrib_regression', 'dirstore', '{"schema_only": true}') AS dir_backup \gset
SELECT pgbak_wait(:dir_backup, 120) AS dir_backup_status;
SELECT location LIKE current_setting('data_directory') || '/pgbak-dir-storage/%' AS in_directory
FROM backup_log WHERE id = :dir_backup;
SELECT pgbak_storage_drop('dirstore');
SELECT pgbak_verify(:dir_backup);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_restore(:dir_backup, 'never_restored');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_storage_add('dirstore',
  'file://' || current_setting('data_directory') || '/pgbak-dir-storage');
SELECT pgbak_verify(:dir_backup) AS dir_verify \gset
SELECT pgbak_wait(:dir_verify, 120) AS dir_verify_status;
-- Copies: bad input changes nothing; a copy is verifiable, and one per
-- storage.
SELECT count(*) AS rows_before FROM backup_log \gset
-- (Only the SQLSTATEs: the messages name operation ids.)
\set VERBOSITY sqlstate
SELECT pgbak_copy(:dir_backup, 'dirstore');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_copy(:dir_backup, 'nowhere');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_copy(:dir_verify, 'local');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_copy(999999, 'local');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_copy(NULL, 'local');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT count(*) = :rows_before AS nothing_queued FROM backup_log;
SELECT pgbak_copy(:dir_backup, 'local') AS dir_copy \gset
SELECT pgbak_wait(:dir_copy, 120) AS dir_copy_status;
SELECT kind, source_id = :dir_backup AS of_the_backup, storage_name,
       location LIKE pgbak_local_path() || '/%' AS local_location,
       checksum_sha256 = (SELECT checksum_sha256 FROM backup_log WHERE id = :dir_backup) AS same_data,
       manifest_sha256 = (SELECT manifest_sha256 FROM backup_log WHERE id = :dir_backup) AS same_manifest
FROM backup_log WHERE id = :dir_copy;
\set VERBOSITY sqlstate
SELECT pgbak_copy(:dir_backup, 'local');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT pgbak_verify(:dir_copy, true) AS copy_drill \gset
SELECT pgbak_wait(:copy_drill, 120) AS copy_drill_status;
SELECT last_copy_at IS NOT NULL AS copied, copy_lag
FROM backup_status WHERE database_name = 'contrib_regression';
SELECT pgbak_storage_drop('dirstore');

