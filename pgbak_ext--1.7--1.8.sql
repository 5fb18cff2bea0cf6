-- pgbak_ext 1.7 -> 1.8
\echo Use "ALTER EXTENSION pgbak_ext UPDATE TO '1.8'" to load this file. \quit

-- #18 (physical restore drills) ---------------------------------------------
-- pgbak_verify(base_id, true) restores a base backup into a scratch server,
-- recovers it to the end of the WAL archive and opens it. recovered_to is
-- the commit time of the last transaction that recovery replayed: the
-- moment the archive proved it can bring the cluster back to. It is set on
-- the drill's verify row and on the base backup's row (with restore_seconds,
-- the measured RTO); NULL where no drill recovered anything.
ALTER TABLE backup_log ADD COLUMN recovered_to timestamptz;
COMMENT ON COLUMN backup_log.recovered_to IS
  'pgbak_ext: restore drills of base backups: commit time of the last transaction its recovery replayed';
