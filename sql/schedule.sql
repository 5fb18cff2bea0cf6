-- schedule: jobs are created, replaced and removed; every bad definition is
-- refused with a SQLSTATE and changes nothing.
\set SHOW_CONTEXT never
CREATE EXTENSION IF NOT EXISTS pgbak_ext;

SELECT pgbak_schedule('nightly-app', 'contrib_regression', '30 2 * * *') AS job \gset
SELECT job_name, database_name, schedule, storage, options,
       next_run_at > now() AS in_future,
       next_run_at <= now() + interval '1 day' AS within_a_day,
       extract(minute FROM next_run_at AT TIME ZONE 'UTC') AS minute,
       extract(hour FROM next_run_at AT TIME ZONE 'UTC') AS hour,
       last_run_id, created_by = current_user AS by_me
FROM pgbak_jobs;

-- Replacing keeps the id and takes the new schedule and options at once.
SELECT pgbak_schedule('nightly-app', 'contrib_regression', '@weekly',
                      '{"format": "plain", "keep_last": 3, "keep_daily": 7,
                        "max_age": "90 days", "verify": "checksum"}') = :job AS same_id;
SELECT schedule, options, extract(dow FROM next_run_at AT TIME ZONE 'UTC') AS dow
FROM pgbak_jobs WHERE job_name = 'nightly-app';
SELECT count(*) FROM pgbak_jobs;

-- Names, aliases, lists and steps are all accepted.
SELECT pgbak_schedule('business-hours', 'contrib_regression', '*/15 9-17 * JAN-DEC MON-FRI') > 0 AS ok;
SELECT pgbak_schedule('monthly', 'contrib_regression', '@monthly', '{"keep_monthly": 12}') > 0 AS ok;
SELECT pgbak_schedule('tiny', 'contrib_regression', '30 seconds') > 0 AS ok;
SELECT job_name, schedule FROM pgbak_jobs ORDER BY job_name;

-- Nothing below may change a row.
-- (next_run_at and last_run_id belong to the launcher, which may fire 'tiny'.)
SELECT md5(string_agg((id, job_name, database_name, schedule, options, updated_at)::text, ','
                      ORDER BY id)) AS jobs_before FROM pgbak_job \gset

SELECT pgbak_schedule(NULL, 'contrib_regression', '@daily');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', NULL, '@daily');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'contrib_regression', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('bad name!', 'contrib_regression', '@daily');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('', 'contrib_regression', '@daily');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'no_such_database', '@daily');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'template0', '@daily');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'contrib_regression', '61 * * * *');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'contrib_regression', '0 24 * * *');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'contrib_regression', '0 0 32 * *');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'contrib_regression', '0 0 * 13 *');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'contrib_regression', '0 0 * * 8');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'contrib_regression', '0 0 * * FUNDAY');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'contrib_regression', '*/0 * * * *');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'contrib_regression', '5-1 * * * *');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'contrib_regression', '0 0 * *');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
SELECT pgbak_schedule('x', 'contrib_regression', '0 0 30 2 *');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT pgbak_schedule('x', 'contrib_regression', '@reboot');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'contrib_regression', '0 seconds');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'contrib_regression', '90 seconds');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'contrib_regression', '@daily', '{"storage": "nowhere"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'contrib_regression', '@daily', '{"keep_last": -2}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'contrib_regression', '@daily', '{"keep_daily": 0}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'contrib_regression', '@daily', '{"keep_weekly": "4"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'contrib_regression', '@daily', '{"max_age": "soon"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'contrib_regression', '@daily', '{"verify": "sometimes"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'contrib_regression', '@daily', '{"keep_lats": 2}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'contrib_regression', '@daily', '{"zstd_level": 42}');
\echo :LAST_ERROR_SQLSTATE
-- A job over every database ('*'): exclude_databases is an array of whole
-- database names, and a selection of tables or schemas, checked in each
-- database, makes no sense there; exclude_databases does on a job over one.
SELECT pgbak_schedule('x', '*', '@daily', '{"exclude_databases": "scratch"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', '*', '@daily', '{"exclude_databases": ["scratch", 7]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', '*', '@daily', '{"exclude_databases": [""]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', '*', '@daily', '{"exclude_databases": ["a", "a"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', '*', '@daily',
                      json_build_object('exclude_databases', json_build_array(repeat('d', 64)))::jsonb);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', '*', '@daily',
                      json_build_object('exclude_databases', json_build_array(repeat('é', 32)))::jsonb);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', '*', '@daily', '{"tables": ["orders"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', '*', '@daily', '{"schemas": ["public"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', 'contrib_regression', '@daily', '{"exclude_databases": ["postgres"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('x', '*', 'every day');
\echo :LAST_ERROR_SQLSTATE
-- Replacing an existing job with a bad definition keeps the old one.
SELECT pgbak_schedule('nightly-app', 'contrib_regression', '0 0 0 * *');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('nightly-app', '*', '@daily', '{"tables": ["orders"]}');
\echo :LAST_ERROR_SQLSTATE

SELECT md5(string_agg((id, job_name, database_name, schedule, options, updated_at)::text, ','
                      ORDER BY id)) = :'jobs_before' AS unchanged FROM pgbak_job;

-- Retention: nothing to prune yet; a real prune refuses a transaction block.
SELECT count(*) FROM pgbak_prune();
BEGIN;
SELECT * FROM pgbak_prune(false);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- Unschedule: true once, then false.
SELECT pgbak_unschedule('business-hours'), pgbak_unschedule('business-hours');
SELECT pgbak_unschedule(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_unschedule('nightly-app'), pgbak_unschedule('monthly'), pgbak_unschedule('tiny');
SELECT count(*) FROM pgbak_jobs;

-- A job over every database is kept as '*' and expanded at each run; until
-- it has run it covered nothing. backup_status says which jobs cover each
-- database and flags those no job covers, excluded ones aside.
SELECT database_name, excluded, covered_by, unprotected
FROM backup_status WHERE database_name IN ('contrib_regression', 'postgres', 'template1')
ORDER BY 1;
SELECT pgbak_schedule('one-db', 'postgres', '@daily') > 0 AS ok;
SELECT pgbak_schedule('everything', '*', '@daily',
                      '{"exclude_databases": ["postgres", "gone"], "keep_last": 2,
                        "exclude_schemas": ["scratch"]}') > 0 AS ok;
SELECT job_name, database_name, options, last_run_id, last_run_status, last_run_databases,
       last_run_failed
FROM pgbak_jobs WHERE job_name = 'everything';
SELECT database_name, excluded, covered_by, unprotected
FROM backup_status WHERE database_name IN ('contrib_regression', 'postgres', 'template1')
ORDER BY 1;
SELECT pgbak_unschedule('everything'), pgbak_unschedule('one-db');
SELECT database_name, covered_by, unprotected
FROM backup_status WHERE database_name IN ('contrib_regression', 'postgres')
ORDER BY 1;

-- copy_to names other, existing storages; copy_retention needs it. Bad
-- input changes nothing.
SELECT count(*) AS jobs_before FROM pgbak_jobs \gset
SELECT pgbak_schedule('copying', 'postgres', '@daily', '{"copy_to": ["nowhere"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('copying', 'postgres', '@daily', '{"copy_to": ["local"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('copying', 'postgres', '@daily', '{"copy_to": "local"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('copying', 'postgres', '@daily', '{"copy_retention": {"keep_last": 3}}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbak_schedule('copying', 'postgres', '@daily',
                      '{"copy_to": ["x"], "copy_retention": {"keep_everything": 1}}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) = :jobs_before AS nothing_scheduled FROM pgbak_jobs;
