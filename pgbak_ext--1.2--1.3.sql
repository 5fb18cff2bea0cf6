-- pgbak_ext 1.2 -> 1.3: retention records before it deletes ('expiring'),
-- the one-manual-backup-per-owner limit holds under concurrency, and the
-- databases restores create are known by their OID.
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

-- A worker told to stop (a fast shutdown) cleans up its partial set for a few
-- seconds only; what it could not remove is flagged, and the launcher
-- removes it later.
ALTER TABLE backup_log ADD COLUMN cleanup_pending boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN backup_log.cleanup_pending IS
  'pgbak_ext: objects of this failed operation are still to be removed (the launcher does it)';

-- The databases a restore or a restore drill creates are known by their OID,
-- recorded when created, not by their name: a user's database called
-- pgbak_verify_1 is neither hidden from backup_status nor dropped by a
-- cleanup, and a clean restore's swap can be finished or undone after a
-- crash (replaced_database is the database it moved aside).
ALTER TABLE backup_log ADD COLUMN scratch_database oid;
ALTER TABLE backup_log ADD COLUMN replaced_database oid;
COMMENT ON COLUMN backup_log.scratch_database IS
  'pgbak_ext: OID of the database a restore builds or a restore drill fills';
COMMENT ON COLUMN backup_log.replaced_database IS
  'pgbak_ext: OID of the database a clean restore moved aside to replace it';

-- History follows a database's OID, not its name: a new database that
-- reuses a dropped one's name sees none of the old rows (in backup_status
-- and, for its owner, in backup_log) and gets no rights over them. Rows
-- written before 1.3 have no OID and keep following the name.
ALTER TABLE backup_log ADD COLUMN database_oid oid;
COMMENT ON COLUMN backup_log.database_oid IS
  'pgbak_ext: OID of the database the row is about when it was queued (NULL: before 1.3, or a database that did not exist yet)';
CREATE FUNCTION pgbak_set_database_oid() RETURNS trigger
  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NEW.database_oid IS NULL AND NEW.source_id IS NOT NULL AND NEW.kind = 'verify' THEN
    -- A verify is about the backed-up database, whatever now has its name.
    NEW.database_oid := (SELECT b.database_oid FROM @extschema@.backup_log b
                         WHERE b.id = NEW.source_id);
  ELSIF NEW.database_oid IS NULL THEN
    NEW.database_oid := (SELECT d.oid FROM pg_catalog.pg_database d
                         WHERE d.datname = NEW.database_name);
  END IF;
  RETURN NEW;
END $$;
CREATE INDEX backup_log_database_oid_idx ON backup_log (database_oid, kind, status, id DESC);
CREATE TRIGGER backup_log_database_oid BEFORE INSERT ON backup_log
  FOR EACH ROW EXECUTE FUNCTION pgbak_set_database_oid();
DROP POLICY backup_log_database_owners ON backup_log;
CREATE POLICY backup_log_database_owners ON backup_log FOR SELECT
  USING (EXISTS (SELECT FROM pg_catalog.pg_database d
                 WHERE CASE WHEN database_oid IS NOT NULL THEN d.oid = database_oid
                            ELSE d.datname = database_name END
                   AND pg_catalog.pg_has_role(d.datdba, 'USAGE')));

CREATE OR REPLACE VIEW backup_status AS
WITH d AS (
  SELECT d.oid, d.datname,
         CASE WHEN d.datistemplate THEN 'template'
              WHEN d.oid IN (SELECT l.scratch_database FROM backup_log l
                             WHERE l.kind = 'verify' AND l.status = 'running'
                               AND l.scratch_database IS NOT NULL)
                THEN 'pgbak restore drill'
              WHEN d.oid IN (SELECT l.scratch_database FROM backup_log l
                             WHERE l.kind = 'restore' AND l.status = 'running'
                               AND l.scratch_database IS NOT NULL)
                THEN 'pgbak restore in progress'
              WHEN NOT d.datallowconn THEN 'does not accept connections'
              WHEN d.datname = ANY (SELECT btrim(x) FROM unnest(string_to_array(
                     current_setting('pgbak.exclude_databases'), ',')) x)
                THEN 'pgbak.exclude_databases'
         END AS excluded_reason
  FROM pg_database d
)
SELECT d.datname AS database_name,
       d.excluded_reason IS NOT NULL AS excluded,
       d.excluded_reason,
       ok.id AS last_backup_id,
       ok.finished_at AS last_success_at,
       clock_timestamp() - ok.finished_at AS age,
       ok.finished_at - ok.started_at AS last_duration,
       ok.stored_bytes AS last_stored_bytes,
       ok.location AS last_location,
       bad.finished_at AS last_failure_at,
       bad.error_message AS last_error,
       (SELECT min(j.next_run_at) FROM pgbak_job j WHERE j.database_name = d.datname)
         AS next_scheduled_run,
       ver.verified_at AS last_verified_at,
       ver.verify_status AS last_verify_status,
       pgbak_rpo(d.datname) AS rpo,
       (d.excluded_reason IS NULL AND ok.id IS NOT NULL
        AND coalesce(ok.verify_status, '') NOT LIKE 'passed%'
        AND clock_timestamp() - ok.finished_at > current_setting('pgbak.verify_within')::interval)
         AS verification_overdue,
       (d.excluded_reason IS NULL
        AND (ok.finished_at IS NULL
             OR clock_timestamp() - ok.finished_at > pgbak_rpo(d.datname))) AS stale
FROM d
LEFT JOIN LATERAL (
  SELECT l.id, l.started_at, l.finished_at, l.location, l.stored_bytes, l.verify_status
  FROM backup_log l
  WHERE (l.database_oid = d.oid OR (l.database_oid IS NULL AND l.database_name = d.datname))
    AND l.kind = 'backup' AND l.status = 'succeeded'
  ORDER BY l.id DESC LIMIT 1) ok ON true
LEFT JOIN LATERAL (
  SELECT l.finished_at, l.error_message FROM backup_log l
  WHERE (l.database_oid = d.oid OR (l.database_oid IS NULL AND l.database_name = d.datname))
    AND l.kind = 'backup' AND l.status = 'failed'
  ORDER BY l.id DESC LIMIT 1) bad ON true
LEFT JOIN LATERAL (
  SELECT l.verified_at, l.verify_status FROM backup_log l
  WHERE (l.database_oid = d.oid OR (l.database_oid IS NULL AND l.database_name = d.datname))
    AND l.kind = 'backup' AND l.verified_at IS NOT NULL
  ORDER BY l.verified_at DESC LIMIT 1) ver ON true;

-- The SHA-256 of a set's manifest.json, kept where the stored objects cannot
-- change it: a restore trusts the database's owner, grants and settings the
-- manifest records only if it is the manifest the backup wrote.
ALTER TABLE backup_log ADD COLUMN manifest_sha256 text;
COMMENT ON COLUMN backup_log.manifest_sha256 IS
  'pgbak_ext: SHA-256 of the set''s manifest.json, checked by every verify and restore';

-- Who may write to which storage: members of pgbak_operator and pgbak_admin
-- may use every storage; a database owner without those roles only 'local'
-- and the storages an admin granted it (or PUBLIC), so that nobody fills an
-- admin's bucket with stored credentials by pointing a manual backup at it.
CREATE TABLE pgbak_storage_user (
  storage_name text NOT NULL REFERENCES pgbak_storage (name) ON DELETE CASCADE,
  grantee      oid NOT NULL,  -- a role's OID, 0 for PUBLIC
  granted_by   name NOT NULL DEFAULT current_user,
  granted_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (storage_name, grantee)
);
COMMENT ON TABLE pgbak_storage_user IS
  'pgbak_ext: database owners allowed to back up to a storage (grantee 0: PUBLIC)';
CREATE FUNCTION pgbak_storage_grant(storage text, role name)
  RETURNS void AS 'MODULE_PATHNAME', 'pgbak_storage_grant' LANGUAGE C VOLATILE
  SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION pgbak_storage_grant(text, name) IS
  'Let a role (or PUBLIC) that owns databases back them up to a storage (admin)';
CREATE FUNCTION pgbak_storage_revoke(storage text, role name)
  RETURNS boolean AS 'MODULE_PATHNAME', 'pgbak_storage_revoke' LANGUAGE C VOLATILE
  SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION pgbak_storage_revoke(text, name) IS
  'Take back what pgbak_storage_grant gave; true if there was such a grant (admin)';
REVOKE ALL ON FUNCTION pgbak_storage_grant(text, name), pgbak_storage_revoke(text, name)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbak_storage_grant(text, name), pgbak_storage_revoke(text, name)
  TO pgbak_admin;

-- A storage may read its secret access key from a file on the server
-- (secret_access_key_file), so that the key is never SQL text: such a storage
-- shows 'file'. 'environment' means the server's own credentials, from its
-- AWS_* environment or the AWS credentials files of its OS user.
CREATE OR REPLACE VIEW pgbak_storages AS
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
FROM pgbak_storage s;

-- A status change is announced with NOTIFY only while the notification queue
-- has room. PostgreSQL refuses to commit a transaction whose notifications do
-- not fit ("too many notifications in the NOTIFY queue"), and one listener
-- that stops reading (a session left idle in a transaction) fills the queue
-- for everyone: a finished backup must still be recorded. Above
-- pgbak.notify_queue_limit (a fraction of the queue; 0.5 by default, where
-- PostgreSQL starts to warn) the change is written to the server log instead,
-- which leaves half of the queue (4 GB) between the check and the commit.
-- NOTIFY pgbak proves nothing about its sender (anyone who can connect may
-- send one): listeners read the row of the payload's id in backup_log.
CREATE OR REPLACE FUNCTION pgbak_state_change() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  url text;
  events text;
  payload text;
  usage float8;
  queue_limit float8;
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status THEN
    RETURN NEW;
  END IF;
  -- NOTIFY payloads must stay under 8000 bytes: the error is shortened
  -- until the JSON fits (escapes and multibyte text make it grow).
  payload := json_build_object(
    'id', NEW.id, 'kind', NEW.kind, 'database', NEW.database_name,
    'status', NEW.status, 'trigger', NEW.trigger, 'job_name', NEW.job_name,
    'error', left(NEW.error_message, 1000))::text;
  IF octet_length(payload) > 7900 THEN
    payload := json_build_object(
      'id', NEW.id, 'kind', NEW.kind, 'database', NEW.database_name,
      'status', NEW.status, 'trigger', NEW.trigger, 'job_name', NEW.job_name,
      'error', left(NEW.error_message, 100))::text;
  END IF;
  usage := pg_notification_queue_usage();
  queue_limit := coalesce(nullif(current_setting('pgbak.notify_queue_limit', true), '')::float8,
                          0.5);
  IF usage > queue_limit THEN
    RAISE LOG 'pgbak: status change of operation % to % not announced: the NOTIFY queue is % full, above pgbak.notify_queue_limit (%)',
      NEW.id, NEW.status, round(usage::numeric * 100, 4) || '%',
      round(queue_limit::numeric * 100, 4) || '%'
      USING DETAIL = 'A session that listens but does not read (idle in a transaction) holds the queue. Payload: ' || payload;
  ELSE
    PERFORM pg_notify('pgbak', payload);
  END IF;
  IF NEW.status IN ('succeeded', 'failed', 'cancelled', 'skipped')
     AND NEW.webhook_status IS NULL THEN
    SELECT j.options ->> 'webhook_url', j.options ->> 'webhook_events' INTO url, events
    FROM @extschema@.pgbak_job j WHERE j.job_name = NEW.job_name;
    url := coalesce(url, nullif(current_setting('pgbak.webhook_url'), ''));
    events := coalesce(events, current_setting('pgbak.webhook_events'));
    IF url IS NOT NULL AND (NEW.status <> 'succeeded' OR events = 'all') THEN
      NEW.webhook_status := 'pending';
      NEW.webhook_attempts := 0;
    END IF;
  END IF;
  RETURN NEW;
END
$$;
