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
SELECT pgbak_storage_drop('dirstore');

