-- pgbak_ext 1.3 -> 1.4: a failed operation's row keeps the SQLSTATE and the
-- hint of its error, not only the message and detail.
\echo Use "ALTER EXTENSION pgbak_ext UPDATE TO '1.4'" to load this file. \quit

-- A failure's SQLSTATE tells a full disk (53100) from a storage that cannot
-- be reached (58030) or a damaged set (XX001) without parsing the message,
-- and its hint says what to do about it. Rows failed before 1.4, and rows
-- the launcher marks failed after a crash, have none.
ALTER TABLE backup_log ADD COLUMN error_sqlstate text
  CHECK (error_sqlstate ~ '^[0-9A-Z]{5}$');
ALTER TABLE backup_log ADD COLUMN error_hint text;
COMMENT ON COLUMN backup_log.error_sqlstate IS
  'pgbak_ext: SQLSTATE of the error a failed or cancelled operation ended with (53100: a disk was full)';
COMMENT ON COLUMN backup_log.error_hint IS
  'pgbak_ext: the hint of that error: what to do about it';
