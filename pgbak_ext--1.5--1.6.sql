-- pgbak_ext 1.5 -> 1.6
\echo Use "ALTER EXTENSION pgbak_ext UPDATE TO '1.6'" to load this file. \quit

-- base backups (#17) ---------------------------------------------------------
-- A physical base backup of the whole cluster is an operation of its own:
-- kind 'base', database_name NULL (it holds every database), location the
-- directory <system identifier>/base/<UTC time>-<id> in its storage. Its
-- row records the WAL it needs: from the segment holding wal_start_lsn to
-- the one holding the last byte before wal_end_lsn, on timeline, and
-- whether that WAL was archived when the backup finished (false: archive_mode
-- was off, and a restore needs WAL from elsewhere). bad_checksums counts the
-- pages whose checksum failed while the server read them (data checksums
-- on); such a backup is kept, as the best copy there is, and says so.
ALTER TABLE backup_log DROP CONSTRAINT backup_log_kind_check;
ALTER TABLE backup_log ADD CONSTRAINT backup_log_kind_check
  CHECK (kind IN ('backup', 'verify', 'restore', 'copy', 'base'));
ALTER TABLE backup_log ALTER COLUMN database_name DROP NOT NULL;
ALTER TABLE backup_log ADD CONSTRAINT backup_log_database_name_check
  CHECK (database_name IS NOT NULL OR kind = 'base');
ALTER TABLE backup_log
  ADD COLUMN wal_start_lsn pg_lsn,
  ADD COLUMN wal_end_lsn pg_lsn,
  ADD COLUMN timeline integer,
  ADD COLUMN wal_first_segment text,
  ADD COLUMN wal_last_segment text,
  ADD COLUMN wal_archived boolean,
  ADD COLUMN bad_checksums bigint;
COMMENT ON COLUMN backup_log.wal_start_lsn IS
  'pgbak_ext: base backups: where the WAL replay needed by the backup starts';
COMMENT ON COLUMN backup_log.wal_end_lsn IS
  'pgbak_ext: base backups: where replay must at least reach for the backup to be consistent';
COMMENT ON COLUMN backup_log.timeline IS
  'pgbak_ext: base backups: the timeline of wal_start_lsn and wal_end_lsn';
COMMENT ON COLUMN backup_log.wal_first_segment IS
  'pgbak_ext: base backups: the first WAL segment a restore needs';
COMMENT ON COLUMN backup_log.wal_last_segment IS
  'pgbak_ext: base backups: the last WAL segment a restore needs';
COMMENT ON COLUMN backup_log.wal_archived IS
  'pgbak_ext: base backups: the WAL it needs was archived when it finished (false: archive_mode off)';
COMMENT ON COLUMN backup_log.bad_checksums IS
  'pgbak_ext: base backups: pages whose checksum failed when read (0 if none or checksums off)';

CREATE FUNCTION pgbak_base_backup(storage text DEFAULT 'local', options jsonb DEFAULT '{}')
  RETURNS bigint AS 'MODULE_PATHNAME', 'pgbak_base_backup' LANGUAGE C VOLATILE
  SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION pgbak_base_backup(text, jsonb) IS
  'Queue a physical base backup of the whole cluster; returns its backup_log id';
-- It holds every database and role: pgbak_admin only (the function checks).
REVOKE ALL ON FUNCTION pgbak_base_backup(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbak_base_backup(text, jsonb) TO pgbak_admin;
-- A job whose options say {"kind": "base"} takes base backups of the
-- cluster: its database_name is NULL; every other job names a database.
ALTER TABLE pgbak_job ALTER COLUMN database_name DROP NOT NULL;
ALTER TABLE pgbak_job ADD CONSTRAINT pgbak_job_database_name_check
  CHECK ((database_name IS NULL) = (options ->> 'kind' IS NOT DISTINCT FROM 'base'));
-- end of base backups (#17) --------------------------------------------------
