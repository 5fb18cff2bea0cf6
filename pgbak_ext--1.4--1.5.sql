-- pgbak_ext 1.4 -> 1.5: the database arguments of pgbak_run, pgbak_restore
-- and pgbak_schedule are text, so that a name longer than 63 bytes is
-- refused at the call instead of being cut to another database's name.
\echo Use "ALTER EXTENSION pgbak_ext UPDATE TO '1.5'" to load this file. \quit

-- Declared name, PostgreSQL's input function cut a longer argument to its
-- first 63 bytes before the C function saw it: pgbak_restore(1, <70 bytes>)
-- restored into a database named by the first 63. Declared text, the whole
-- argument reaches the C function, which refuses it (42622, name_too_long)
-- before anything is queued. A name-typed value (a column of pg_database,
-- say) is still accepted, through the implicit cast from name to text.
--
-- An argument's type changes only by dropping the function: each is created
-- again with the arguments, defaults, return type, volatility, settings,
-- comment and privileges it had in 1.4 (from 1.0 and 1.0--1.1).
--
-- pgbak_rpo(database name) keeps its name argument: it only reads, and
-- backup_status, which depends on it, would have to be dropped too.

DROP FUNCTION pgbak_run(name, text, jsonb);
CREATE FUNCTION pgbak_run(database text, storage text DEFAULT 'local',
                          options jsonb DEFAULT '{}')
  RETURNS bigint AS 'MODULE_PATHNAME', 'pgbak_run' LANGUAGE C VOLATILE
  SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION pgbak_run(text, text, jsonb) IS
  'Queue a backup of a database; returns its backup_log id';
-- A database owner may back up its own database: the function checks.
REVOKE ALL ON FUNCTION pgbak_run(text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbak_run(text, text, jsonb) TO PUBLIC;

DROP FUNCTION pgbak_restore(bigint, name, jsonb);
CREATE FUNCTION pgbak_restore(backup_id bigint, target_database text, options jsonb DEFAULT '{}')
  RETURNS bigint AS 'MODULE_PATHNAME', 'pgbak_restore' LANGUAGE C VOLATILE
  SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION pgbak_restore(bigint, text, jsonb) IS
  'Queue a restore of a backup into a new database, or of some tables into an existing one';
REVOKE ALL ON FUNCTION pgbak_restore(bigint, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbak_restore(bigint, text, jsonb) TO pgbak_operator;

DROP FUNCTION pgbak_schedule(text, name, text, jsonb);
CREATE FUNCTION pgbak_schedule(job_name text, database text, schedule text,
                               options jsonb DEFAULT '{}')
  RETURNS bigint AS 'MODULE_PATHNAME', 'pgbak_schedule' LANGUAGE C VOLATILE
  SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION pgbak_schedule(text, text, text, jsonb) IS
  'Create or replace a scheduled backup job; returns its id';
REVOKE ALL ON FUNCTION pgbak_schedule(text, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbak_schedule(text, text, text, jsonb) TO pgbak_admin;

-- #15 (copies): a copy is an operation of its own (kind 'copy', source_id
-- the backup or copy it copies, storage_name where the copy went, location
-- its set there). It is restorable and verifiable by its own id.
ALTER TABLE backup_log DROP CONSTRAINT backup_log_kind_check;
ALTER TABLE backup_log ADD CONSTRAINT backup_log_kind_check
  CHECK (kind IN ('backup', 'verify', 'restore', 'copy'));

CREATE FUNCTION pgbak_copy(backup_id bigint, storage text)
  RETURNS bigint AS 'MODULE_PATHNAME', 'pgbak_copy' LANGUAGE C VOLATILE
  SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION pgbak_copy(bigint, text) IS
  'Queue a copy of a backup set to another storage; returns its backup_log id';
-- Whoever may back up the database to that storage may copy its sets
-- there: the function checks.
REVOKE ALL ON FUNCTION pgbak_copy(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbak_copy(bigint, text) TO PUBLIC;
