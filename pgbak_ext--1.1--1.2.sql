-- pgbak_ext 1.1 -> 1.2: backup_log.toc_sha256, the SHA-256 of a custom
-- archive's header and table of contents.
\echo Use "ALTER EXTENSION pgbak_ext UPDATE TO '1.2'" to load this file. \quit

-- A restore loads tables while the archive is still being read back, but
-- runs nothing from it before its table of contents is known to be the one
-- the backup wrote: this column is that knowledge, kept where the stored
-- objects cannot change it.
ALTER TABLE backup_log ADD COLUMN toc_sha256 text;

COMMENT ON COLUMN backup_log.toc_sha256 IS
  'pgbak_ext: SHA-256 of the custom archive''s header and table of contents (uncompressed), checked before a restore runs any of it';
