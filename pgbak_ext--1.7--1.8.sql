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

-- #18 (pgbak_recover) ---------------------------------------------------------
-- A recovery of tables as they were at a moment: the newest base backup
-- that ended before it is restored into a scratch cluster beside this one,
-- recovered from the WAL archive to that moment, and the tables are copied
-- from it into a new schema of the live database. Its row has kind
-- 'recover', the database, the base backup as source_id, and the options
-- with the target time.
ALTER TABLE backup_log DROP CONSTRAINT backup_log_kind_check;
ALTER TABLE backup_log ADD CONSTRAINT backup_log_kind_check
  CHECK (kind IN ('backup', 'verify', 'restore', 'copy', 'base', 'recover'));

CREATE FUNCTION pgbak_recover(database text, target_time timestamptz, options jsonb DEFAULT '{}')
  RETURNS bigint AS 'MODULE_PATHNAME', 'pgbak_recover' LANGUAGE C VOLATILE
  SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION pgbak_recover(text, timestamptz, jsonb) IS
  'Queue a point-in-time recovery of tables into a new schema of the database; returns its id';
REVOKE ALL ON FUNCTION pgbak_recover(text, timestamptz, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbak_recover(text, timestamptz, jsonb) TO pgbak_operator;

-- A database pgbak_recover is building (pgbak_recover_<id>, its OID in
-- scratch_database) is a working database like a drill's or a restore's:
-- no '*' job covers it (same definition as 1.5 otherwise).
CREATE OR REPLACE FUNCTION pgbak_job_covers(job_database name, job_options jsonb, database oid)
  RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN $1 <> '*' THEN d.datname = $1
              ELSE d.datallowconn AND NOT d.datistemplate
                   AND NOT coalesce(($2 -> 'exclude_databases') ? d.datname::text, false)
                   AND d.datname <> ALL (SELECT btrim(x) FROM unnest(string_to_array(
                         current_setting('pgbak.exclude_databases'), ',')) x)
                   AND d.oid NOT IN (SELECT l.scratch_database FROM @extschema@.backup_log l
                                     WHERE l.kind IN ('verify', 'restore', 'recover')
                                       AND l.status = 'running'
                                       AND l.scratch_database IS NOT NULL)
         END
  FROM pg_catalog.pg_database d WHERE d.oid = $3
$$;
