-- preload_missing: without shared_preload_libraries the extension refuses
-- to install and says how to fix it. Run on its own server (nopreload.conf).
\set SHOW_CONTEXT never
CREATE EXTENSION pgbak_ext;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM pg_extension WHERE extname = 'pgbak_ext';
