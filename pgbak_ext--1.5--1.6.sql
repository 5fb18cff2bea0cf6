-- pgbak_ext 1.5 -> 1.6: version 2's recovery without the old server and
-- the work merged after it. One section per change, each saying why.
\echo Use "ALTER EXTENSION pgbak_ext UPDATE TO '1.6'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- #16 (part 2): a storage's sets, listed and imported, in SQL.
--
-- After a total loss, a new server (a new cluster, with its own system
-- identifier) defines the storages the old one wrote to and registers the
-- sets they hold in its backup_log, after which pgbak_verify and
-- pgbak_restore work on them as on its own backups.
-- ---------------------------------------------------------------------------

-- An imported set is a row of kind 'backup', status 'succeeded', trigger
-- 'import'. Its options hold the backup's options from the manifest and
-- "import": {"directory_id", "backup_id", "cluster"}: the id its directory
-- is named with and the backup its manifest describes (both of the cluster
-- that wrote it, not ids of this backup_log), so that verify and restore
-- find the set by its recorded directory id, as a copy's by its own id.
ALTER TABLE backup_log DROP CONSTRAINT backup_log_trigger_check;
ALTER TABLE backup_log ADD CONSTRAINT backup_log_trigger_check
  CHECK (trigger IN ('manual', 'schedule', 'import'));

-- A set is imported once per storage: concurrent imports of the same set
-- wait for each other here and the later one adds nothing. A row marked
-- expired (by hand: retention never deletes an imported set) no longer
-- holds its place.
CREATE UNIQUE INDEX backup_log_import_once ON backup_log (storage_name, location)
  WHERE trigger = 'import' AND status IN ('succeeded', 'expiring');

CREATE FUNCTION pgbak_storage_sets(storage text)
  RETURNS TABLE (location text, complete boolean, problem text, cluster text, database text,
                 directory_id bigint, backup_id bigint, format text,
                 started_at timestamptz, finished_at timestamptz, raw_bytes bigint,
                 stored_bytes bigint, encrypted boolean)
  AS 'MODULE_PATHNAME', 'pgbak_storage_sets' LANGUAGE C VOLATILE
  SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION pgbak_storage_sets(text) IS
  'The backup sets a storage holds, from their manifests (any cluster), as the pgbak sets command lists them (admin)';

CREATE FUNCTION pgbak_import(storage text, location text DEFAULT NULL)
  RETURNS SETOF bigint AS 'MODULE_PATHNAME', 'pgbak_import' LANGUAGE C VOLATILE
  SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION pgbak_import(text, text) IS
  'Register the sets of a storage (or the one at location) in backup_log, trigger ''import''; returns the ids added (admin)';

-- Both read a storage with the server's credentials and name the databases
-- of other clusters: members of pgbak_admin (and superusers) only. The
-- functions check their caller before anything else and refuse everyone
-- else with 42501 and a hint saying which role to grant, so they are
-- executable by PUBLIC, like pgbak_run.
REVOKE ALL ON FUNCTION pgbak_storage_sets(text), pgbak_import(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbak_storage_sets(text), pgbak_import(text, text) TO PUBLIC;

-- ---------------------------------------------------------------------------
-- #17 (part 1): the WAL archive's status.
--
-- archive_library = 'pgbak_ext' archives WAL without a database connection;
-- what it did is kept in shared memory and read here. Counts are since the
-- server started; pg_stat_archiver has PostgreSQL's own view, this adds why
-- the last attempt failed, how many files were pushed ahead, and what waits
-- to be archived now (pg_wal/archive_status: the .ready files, and since
-- when the oldest has waited).
-- ---------------------------------------------------------------------------
CREATE FUNCTION pgbak_wal_archive_status(
    OUT last_archived_wal text, OUT last_archived_time timestamptz,
    OUT archived_count bigint, OUT pushed_ahead_count bigint,
    OUT already_archived_count bigint, OUT failed_count bigint,
    OUT last_failed_wal text, OUT last_failed_time timestamptz, OUT last_error text,
    OUT waiting_files bigint, OUT waiting_since timestamptz)
  RETURNS record AS 'MODULE_PATHNAME', 'pgbak_wal_archive_status' LANGUAGE C VOLATILE
  SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION pgbak_wal_archive_status() IS
  'Status of the WAL archive (archive_library = ''pgbak_ext''): last file archived, counts, last failure';
-- The last error may name a storage's bucket and endpoint: monitors read it,
-- as they read backup_log's error messages.
REVOKE ALL ON FUNCTION pgbak_wal_archive_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbak_wal_archive_status() TO pgbak_monitor;

-- The cluster's WAL archive at a glance, one row: is archiving on, the last
-- file archived and when (since the server started, else as
-- pg_stat_archiver remembers it across a clean restart), the archive lag (bytes of WAL written after the
-- last archived segment; how long the oldest waiting file has waited),
-- failures and the last error, and the recovery point: the age of the last
-- archived file, stale beyond pgbak.rpo (an idle server archives nothing
-- new: set archive_timeout below pgbak.rpo).
CREATE VIEW pgbak_wal_status WITH (security_barrier) AS
SELECT current_setting('archive_library') = 'pgbak_ext'
         AND current_setting('archive_mode') <> 'off' AS archiving,
       coalesce(s.last_archived_wal, a.last_archived_wal) AS last_archived_wal,
       coalesce(s.last_archived_time, a.last_archived_time) AS last_archived_time,
       CASE WHEN NOT pg_catalog.pg_is_in_recovery()
                 AND coalesce(s.last_archived_wal, a.last_archived_wal) ~ '^[0-9A-F]{24}'
            THEN greatest(pg_catalog.pg_current_wal_lsn() - ('0/0'::pg_lsn
                   + (('x' || substr(coalesce(s.last_archived_wal, a.last_archived_wal), 9, 8))
                        ::bit(32)::bigint * 4294967296
                      + (('x' || substr(coalesce(s.last_archived_wal, a.last_archived_wal), 17, 8))
                        ::bit(32)::bigint + 1)
                        * pg_catalog.pg_size_bytes(current_setting('wal_segment_size')))::numeric),
                   0)::bigint
       END AS archive_lag_bytes,
       s.waiting_files,
       coalesce(now() - s.waiting_since, interval '0') AS archive_lag,
       s.failed_count, s.last_failed_wal, s.last_failed_time, s.last_error,
       now() - coalesce(s.last_archived_time, a.last_archived_time) AS recovery_point_age,
       coalesce(now() - coalesce(s.last_archived_time, a.last_archived_time)
                > current_setting('pgbak.rpo')::interval, true) AS stale
FROM pgbak_wal_archive_status() s, pg_catalog.pg_stat_archiver a;
COMMENT ON VIEW pgbak_wal_status IS
  'pgbak_ext: the WAL archive at a glance: last file archived, archive lag, failures, recovery point';
REVOKE ALL ON pgbak_wal_status FROM PUBLIC;
GRANT SELECT ON pgbak_wal_status TO pgbak_monitor;

-- When archiving starts failing and when it recovers, the launcher records
-- the event here, announces it on NOTIFY pgbak and, with pgbak.webhook_url,
-- sends a webhook (webhook_status as in backup_log).
CREATE TABLE pgbak_wal_event (
  id               bigserial PRIMARY KEY,
  event            text NOT NULL
                   CHECK (event IN ('wal_archive_failing', 'wal_archive_recovered')),
  wal_file         text,
  error_message    text,
  occurred_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  webhook_status   text,
  webhook_attempts integer
);
COMMENT ON TABLE pgbak_wal_event IS
  'pgbak_ext: WAL archiving that started failing, and its recovery';
REVOKE ALL ON TABLE pgbak_wal_event FROM PUBLIC;
GRANT SELECT ON TABLE pgbak_wal_event TO pgbak_monitor;

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
