-- pgbak_ext 1.6 -> 1.7
\echo Use "ALTER EXTENSION pgbak_ext UPDATE TO '1.7'" to load this file. \quit

-- #17 (retention and status of base backups) ---------------------------------
-- Base backups are held in storages like logical sets: pgbak_storages
-- counts them in used_bytes and set_count (same columns, comment and grants
-- as in 1.5; only the kinds counted change).
CREATE OR REPLACE VIEW pgbak_storages AS
WITH usage AS (
  SELECT storage_name,
         sum(coalesce(stored_bytes, 0) + coalesce(globals_bytes, 0))::bigint AS used_bytes,
         count(*) AS set_count
  FROM backup_log
  WHERE kind IN ('backup', 'copy', 'base') AND status IN ('succeeded', 'expiring')
  GROUP BY storage_name),
setting AS (
  SELECT justify_hours(make_interval(secs => nullif(setting, '0')::float8)) AS manual_retention
  FROM pg_catalog.pg_settings WHERE name = 'pgbak.manual_retention')
SELECT l.*,
       CASE WHEN jsonb_typeof(l.options -> 'manual_retention') = 'number'
            THEN justify_hours(make_interval(secs => (l.options ->> 'manual_retention')::float8))
            WHEN l.options ? 'manual_retention' THEN NULL
            ELSE (SELECT manual_retention FROM setting) END AS manual_retention,
       coalesce(u.used_bytes, 0) AS used_bytes, coalesce(u.set_count, 0) AS set_count
FROM (
  SELECT 'local'::text AS name, 'local'::text AS kind, pgbak_local_path() AS url,
         NULL::text AS endpoint, NULL::text AS region, '{}'::jsonb AS options,
         'none'::text AS credentials, NULL::name AS created_by, NULL::timestamptz AS created_at
  UNION ALL
  SELECT s.name, CASE WHEN s.url LIKE 'file:%' THEN 'local' ELSE 's3' END, s.url,
         CASE WHEN s.url LIKE 's3:%' THEN coalesce(s.options ->> 'endpoint', 'AWS') END,
         s.options ->> 'region', s.options,
         CASE WHEN s.url LIKE 'file:%' THEN 'none'
              WHEN s.options ? 'secret_access_key_file' THEN 'file'
              WHEN EXISTS (SELECT FROM pgbak_storage_secret x WHERE x.name = s.name)
              THEN 'stored' ELSE 'environment' END,
         s.created_by, s.created_at
  FROM pgbak_storage s) l
LEFT JOIN usage u ON u.storage_name = l.name;

-- pgbak_wal_status (1.6) gets the base backups the archive serves, at the
-- end (same columns before them, same grants):
--   base_backups: succeeded base backups (what retention keeps);
--   newest_base_backup_id, newest_base_backup_at: the newest of them and
--     when it finished;
--   earliest_recovery_time: when the oldest of them whose WAL was archived
--     finished: point-in-time recovery reaches no earlier moment (NULL:
--     none).
CREATE OR REPLACE VIEW pgbak_wal_status WITH (security_barrier) AS
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
                > current_setting('pgbak.rpo')::interval, true) AS stale,
       b.base_backups, b.newest_base_backup_id, b.newest_base_backup_at,
       b.earliest_recovery_time
FROM pgbak_wal_archive_status() s, pg_catalog.pg_stat_archiver a,
     (SELECT count(*) AS base_backups,
             (array_agg(id ORDER BY finished_at DESC, id DESC))[1] AS newest_base_backup_id,
             max(finished_at) AS newest_base_backup_at,
             min(finished_at) FILTER (WHERE wal_archived) AS earliest_recovery_time
      FROM backup_log WHERE kind = 'base' AND status = 'succeeded') b;

-- A verify of a base backup (pgbak_verify(base_id): every object read back
-- and checked) is about the cluster, as the base backup is: its row has no
-- database either.
ALTER TABLE backup_log DROP CONSTRAINT backup_log_database_name_check;
ALTER TABLE backup_log ADD CONSTRAINT backup_log_database_name_check
  CHECK (database_name IS NOT NULL OR kind IN ('base', 'verify'));
