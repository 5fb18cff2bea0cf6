# 020_all_databases.pl: a job over every database ('*') backs up each
# database it covers at each run, a database created between runs from the
# next run on and a dropped one no more; retention and verification work per
# database; pgbak_jobs shows the job once; backup_status, the metric and a
# NOTIFY say which databases no job covers.

use strict;
use warnings;

use JSON::PP qw(decode_json);
use PgbakTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_node('alldb', 'pgbak.max_workers' => 2);
for my $db (qw(keep_db drop_db skip_db))
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db,
		    'CREATE TABLE items (id int PRIMARY KEY, note text);'
		  . " INSERT INTO items SELECT g, '$db ' || g FROM generate_series(1, 500) g;");
}
$node->safe_psql('postgres', 'CREATE ROLE app_owner LOGIN');

# status($db) is the backup_status row of a database as a hashref.
sub status
{
	my ($db) = @_;
	my $json = $node->safe_psql('postgres',
		'SELECT row_to_json(s)::text FROM backup_status s WHERE database_name = '
		  . quote_literal($db));
	return $json eq '' ? undef : decode_json($json);
}

# metric($name, $db) is a sample of pgbak_metrics() for a database, or undef.
sub metric
{
	my ($name, $db) = @_;
	my $text = $node->safe_psql('postgres', 'SELECT pgbak_metrics()');
	return $text =~ /^\Q$name\E\{database="\Q$db\E"\} (\S+)$/m ? $1 : undef;
}

# The listener collects every NOTIFY pgbak payload.
my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN pgbak');
my @payloads;

# collect_notifications reads what reached the listener so far.
sub collect_notifications
{
	my $out = $listener->query_safe('SELECT 1');
	for my $line (split /\n/, $out . "\n" . ($listener->{stderr} // ''))
	{
		push @payloads, decode_json($1)
		  if $line =~ /Asynchronous notification "pgbak" with payload "(.*)" received/;
	}
	$listener->{stderr} = '';
	return;
}

# unprotected_events($db) are the database_unprotected events naming $db.
sub unprotected_events
{
	my ($db) = @_;
	collect_notifications();
	return grep {
		     ($_->{event} // '') eq 'database_unprotected'
		  && $_->{database} eq $db
	} @payloads;
}

# --- Before any job: every database is unprotected ------------------------

my $s = status('keep_db');
is_deeply($s->{covered_by}, [], 'with no job, no job covers keep_db');
ok($s->{unprotected}, 'and it is unprotected');
ok(!status('template1')->{unprotected}, 'a template is excluded, not unprotected');
is(metric('pgbak_database_unprotected', 'keep_db'), '1', 'the metric says so too');

# --- The job, held between runs -------------------------------------------
#
# The scheduler skips a job whose row someone holds locked (as it does while
# pgbak_schedule replaces it) and fires it once, at once, when the lock goes:
# the test holds the row while it creates and drops databases, so that each
# run sees exactly the databases it should.

$node->safe_psql('postgres',
	q{SELECT pgbak_schedule('all', '*', '5 seconds',
	    '{"exclude_databases": ["skip_db"], "keep_last": 2, "verify": "checksum",
	      "lock_wait_timeout": "1 second"}')});
my $hold = $node->background_psql('postgres');

# job() is the job's pgbak_jobs row, with last_run_ids.
sub job
{
	my $json = $node->safe_psql('postgres',
		q{SELECT row_to_json(r)::text FROM (
		    SELECT v.*, j.last_run_ids FROM pgbak_jobs v JOIN pgbak_job j USING (job_name)
		    WHERE job_name = 'all') r});
	return decode_json($json);
}

# run_databases($ids) are the databases of a run's rows, sorted.
sub run_databases
{
	my ($ids) = @_;
	return [ split /\n/,
		$node->safe_psql('postgres',
			'SELECT database_name FROM backup_log WHERE id IN ('
			  . join(',', @$ids)
			  . ') ORDER BY 1') ];
}

# next_run($previous) waits until the job has run once more after the run
# whose first row is $previous, holds the job so that it runs no more, and
# waits until every row of the run (and its verifications) has finished.
# Returns the run's row ids.
sub next_run
{
	my ($previous) = @_;
	my $job;
	ok( poll_until(60,
			sub {
				$job = job();
				defined $job->{last_run_id} && $job->{last_run_id} != $previous;
			}),
		'the job runs');
	$hold->query_safe(q{BEGIN; SELECT 1 FROM pgbak_job WHERE job_name = 'all' FOR UPDATE});
	$job = job();
	# A worker queues the verification and applies retention after its
	# backup has succeeded: the run is over once no row is active, every
	# succeeded backup of the run has its verification and no worker is left.
	ok( poll_until(120,
			sub {
				$node->safe_psql('postgres',
					q{SELECT (SELECT count(*) FROM backup_log WHERE job_name = 'all'
					          AND status IN ('queued', 'running', 'expiring'))
					       + (SELECT count(*) FROM backup_log b, pgbak_job j
					          WHERE j.job_name = 'all' AND b.id = ANY (j.last_run_ids)
					            AND b.status = 'succeeded' AND NOT EXISTS (
					              SELECT FROM backup_log v WHERE v.source_id = b.id))
					       + (SELECT count(*) FROM pg_stat_activity
					          WHERE backend_type = 'pgbak worker')}) eq '0';
			}),
		'and its backups and verifications finish');
	return $job->{last_run_ids};
}

my $run1 = next_run(0);
is_deeply(run_databases($run1), [qw(drop_db keep_db postgres)],
	'run 1: every database but the excluded one and the templates, the catalog database too');
ok(!status('keep_db')->{unprotected}, 'a covered database is not unprotected');
is_deeply(status('keep_db')->{covered_by}, ['all'], 'covered_by names the job');
ok(status('skip_db')->{unprotected}, 'the database the job excludes is unprotected');
is(metric('pgbak_database_unprotected', 'skip_db'), '1', 'and its metric is 1');
is(metric('pgbak_database_unprotected', 'keep_db'), '0', 'the metric of a covered one is 0');

# Between runs: one database goes, one comes. Created while the job covers
# every database, the new one is not announced.
$node->safe_psql('postgres', 'DROP DATABASE drop_db');
$node->safe_psql('postgres', 'CREATE DATABASE new_db OWNER app_owner');
$node->safe_psql('new_db', 'CREATE TABLE t AS SELECT g FROM generate_series(1, 100) g');
$hold->query_safe('COMMIT');
my $run2 = next_run($run1->[0]);
is_deeply(run_databases($run2), [qw(keep_db new_db postgres)],
	'run 2: the new database is in, the dropped one is out');

# Run 3: keep_db's backup cannot get its lock and fails.
my $blocker = $node->background_psql('keep_db');
$blocker->query_safe('BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE');
$hold->query_safe('COMMIT');
my $run3 = next_run($run2->[0]);
$blocker->query_safe('COMMIT');
$blocker->quit;
is_deeply(run_databases($run3), [qw(keep_db new_db postgres)], 'run 3 covers the same databases');

# --- Exactly the expected rows --------------------------------------------

my $rows = $node->safe_psql('postgres',
	q{SELECT database_name, status, trigger FROM backup_log
	  WHERE job_name = 'all' AND kind = 'backup' ORDER BY database_name, id});
is( $rows,
	join("\n",
		'drop_db|succeeded|schedule',
		'keep_db|succeeded|schedule', 'keep_db|succeeded|schedule', 'keep_db|failed|schedule',
		'new_db|succeeded|schedule', 'new_db|succeeded|schedule',
		'postgres|expired|schedule', 'postgres|succeeded|schedule', 'postgres|succeeded|schedule'),
	'one row per covered database and run; keep_last = 2 holds per database (only postgres had three)'
);
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM backup_log WHERE job_name = 'all' AND kind = 'backup'
		  AND database_name = 'skip_db'}),
	'0',
	'the excluded database was never attempted');
is( $node->safe_psql('postgres',
		q{SELECT string_agg(v.status || ':' || b.database_name, ',' ORDER BY b.id)
		  FROM backup_log b LEFT JOIN backup_log v ON v.source_id = b.id AND v.kind = 'verify'
		  WHERE b.job_name = 'all' AND b.kind = 'backup' AND b.status <> 'failed'
		    AND b.id IN (SELECT unnest(last_run_ids) FROM pgbak_job WHERE job_name = 'all')}),
	'succeeded:new_db,succeeded:postgres',
	'each backup of the last run was verified on its own');

my $job = job();
is($node->safe_psql('postgres', q{SELECT count(*) FROM pgbak_jobs WHERE job_name = 'all'}),
	'1', 'pgbak_jobs shows the job once');
is($job->{database_name}, '*', 'as a job over every database');
is($job->{last_run_databases}, 3, 'its last run covered three databases');
is($job->{last_run_failed}, 1, 'one of which failed');
is($job->{last_run_status}, 'failed', 'and the run is reported failed');

# Rows a '*' job makes follow their database's OID: the owner of new_db sees
# its rows and only those.
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM backup_log l JOIN pg_database d ON d.datname = l.database_name
		  WHERE l.job_name = 'all' AND l.database_oid IS DISTINCT FROM d.oid}),
	'0',
	'every row of the job carries its database OID');
is( $node->safe_psql('postgres',
		q{SET ROLE app_owner; SELECT string_agg(DISTINCT database_name, ',') FROM backup_log
		  WHERE job_name = 'all'}),
	'new_db',
	"new_db's owner sees the rows of new_db only");

# The catalog database's backup leaves out the extension's own objects.
my $catalog_location = $node->safe_psql('postgres',
	q{SELECT location FROM backup_log WHERE job_name = 'all' AND database_name = 'postgres'
	  AND kind = 'backup' AND status = 'succeeded' ORDER BY id DESC LIMIT 1});
my $dump = "$PostgreSQL::Test::Utils::tmp_check/catalog.dump";
decompress_file("$catalog_location/data.dump.zst", $dump);
my ($list, $list_err) = ('', '');
IPC::Run::run([ 'pg_restore', '-l', $dump ], '>', \$list, '2>', \$list_err)
  or die "pg_restore -l failed: $list_err";
like($list, qr/EXTENSION - pgbak_ext/, 'the catalog database backup creates the extension');
unlike($list, qr/TABLE DATA .*(backup_log|pgbak_job)/,
	'and carries no row of backup_log or pgbak_job');

# --- Coverage by another job; a new database no job covers ----------------

$node->safe_psql('postgres', q{SELECT pgbak_schedule('skip-only', 'skip_db', '@daily')});
ok(!status('skip_db')->{unprotected}, 'a job over skip_db makes it protected');
is_deeply(status('skip_db')->{covered_by}, ['skip-only'], 'covered_by names that job');
is(metric('pgbak_database_unprotected', 'skip_db'), '0', 'and its metric drops to 0');

$hold->query_safe('COMMIT');
$node->safe_psql('postgres', q{SELECT pgbak_unschedule('all')});
ok(status('keep_db')->{unprotected}, 'without the job, keep_db is unprotected again');

# A webhook receiver: answers 200 and appends each request body to a file.
my $hooks = "${PostgreSQL::Test::Utils::tmp_check}/hooks.txt";
my ($receiver, $port) = webhook_receiver($hooks);
$node->safe_psql('postgres',
	"ALTER SYSTEM SET pgbak.webhook_url = 'http://127.0.0.1:$port/hook'; SELECT pg_reload_conf()");
ok(poll_until(10, sub { $node->safe_psql('postgres', 'SHOW pgbak.webhook_url') =~ /$port/ }),
	'the webhook URL is set');

$node->safe_psql('postgres', 'CREATE DATABASE lonely');
ok(poll_until(60, sub { scalar unprotected_events('lonely') }),
	'a new database no job covers is announced on NOTIFY pgbak');
my ($event) = unprotected_events('lonely');
is( $event->{database_oid},
	$node->safe_psql('postgres', q{SELECT oid FROM pg_database WHERE datname = 'lonely'}),
	'the event carries its OID');
is(scalar unprotected_events('new_db'), 0, 'new_db, covered when it appeared, was not announced');
ok( poll_until(30,
		sub {
			$node->safe_psql('postgres',
				q{SELECT webhook_status FROM pgbak_database_seen WHERE database_name = 'lonely'}) eq
			  'delivered';
		}),
	'the event is delivered to the webhook');
my ($hook) = grep { ($_->{event} // '') eq 'database_unprotected' }
  map { decode_json($_) } grep { /\S/ } split /\n/, slurp_file($hooks);
is($hook->{database}, 'lonely', 'the webhook names the database');
like($hook->{text}, qr/new database "lonely" is not covered by any backup job/,
	'with a text line for chat tools');
is( $node->safe_psql('postgres',
		q{SELECT unprotected FROM pgbak_database_seen s JOIN pg_database d ON d.oid = s.database_oid
		  WHERE d.datname = 'lonely'}),
	't',
	'pgbak_database_seen records it as unprotected when it appeared');

# A covered new database is not announced.
$node->safe_psql('postgres', q{SELECT pgbak_schedule('later', 'postgres', '@daily')});
$node->safe_psql('postgres', q{SELECT pgbak_schedule('every', '*', '@daily')});
$node->safe_psql('postgres', 'CREATE DATABASE welcome');
ok( poll_until(60,
		sub {
			$node->safe_psql('postgres',
				q{SELECT count(*) FROM pgbak_database_seen s JOIN pg_database d
				  ON d.oid = s.database_oid WHERE d.datname = 'welcome'}) eq '1';
		}),
	'the launcher records the next new database');
is(scalar unprotected_events('welcome'), 0, 'which a job over every database covers: no event');
is(scalar unprotected_events('lonely'), 1, 'and lonely was announced once');

is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM pgbak_database_seen WHERE database_name = 'welcome'
		  AND webhook_status IS NOT NULL}),
	'0',
	'nor sent to the webhook');

kill 'KILL', $receiver;
waitpid($receiver, 0);
$hold->quit;
$listener->quit;
$node->stop;
done_testing();
