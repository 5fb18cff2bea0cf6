-- pgbak_ext 1.2 -> 1.3: retention records before it deletes ('expiring'),
-- and the one-manual-backup-per-owner limit holds under concurrency.
\echo Use "ALTER EXTENSION pgbak_ext UPDATE TO '1.3'" to load this file. \quit

-- A set that retention removes is first marked 'expiring' (committed), then
-- its objects are deleted, then it is marked 'expired': a crash or a cancel
-- at any point leaves a row that says what is true, and the launcher
-- finishes what was started.
ALTER TABLE backup_log DROP CONSTRAINT backup_log_status_check;
ALTER TABLE backup_log ADD CONSTRAINT backup_log_status_check
  CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'skipped',
                    'expiring', 'expired'));
ALTER TABLE backup_log DROP CONSTRAINT backup_log_check;
ALTER TABLE backup_log ADD CONSTRAINT backup_log_check
  CHECK (status NOT IN ('succeeded', 'failed', 'cancelled', 'skipped', 'expiring', 'expired')
         OR finished_at IS NOT NULL);

-- A database owner without pgbak_operator gets one manual backup of its
-- database in the queue at a time; the index, not a count, enforces it, so
-- that concurrent calls cannot all pass the check.
ALTER TABLE backup_log ADD COLUMN owner_queued boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN backup_log.owner_queued IS
  'pgbak_ext: queued by a database owner without pgbak_operator (one such backup per database at a time)';
CREATE UNIQUE INDEX backup_log_owner_queue_idx ON backup_log (database_name)
  WHERE kind = 'backup' AND owner_queued AND status IN ('queued', 'running');
