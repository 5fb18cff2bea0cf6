# 016_prune_safety.pl: retention records before it deletes.
#
# A set that retention removes is marked 'expiring' (committed) before any
# of its objects goes, and 'expired' only once they are all gone; the
# launcher finishes what was started. With every S3 DELETE slowed down by
# the proxy, a prune is interrupted mid-way (kill -9 of the launcher doing
# pgbak_prune(false)'s deletions, and pg_terminate_backend of a worker
# applying a job's retention): at every moment a 'succeeded' row has all
# of its objects, and in the end every row agrees with the bucket.
#
# An S3 that never answers a DELETE holds nothing up while a job's worker
# or the launcher deletes from it: CREATE and DROP DATABASE, terminating the
# worker, a backup to local storage queued meanwhile, a fast shutdown.
#
# And the one-manual-backup limit of database owners holds when several
# sessions queue at the same time.

use strict;
use warnings;

use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();

use PgbakS3;
use PgbakTest;

my $s3 = start_s3(name => 'prune');
my $node = new_node('prune', restart_after_crash => 'on');
my $bucket = $s3->bucket;

$node->safe_psql('postgres', 'CREATE DATABASE pr');
$node->safe_psql('pr',
	'CREATE TABLE t AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 20000) g');

my $options = JSON::PP->new->canonical->encode(
	{
		endpoint => $s3->endpoint,
		access_key_id => $s3->access_key,
		secret_access_key => $s3->secret,
	});
$node->safe_psql('postgres',
	    "SET log_statement = 'none';\n"
	  . "SELECT pgbak_storage_add('s3', 's3://$bucket/prune', "
	  . quote_literal($options) . ')');

# objects_of($location) lists the object names of a set in the bucket.
sub objects_of
{
	my ($location) = @_;
	my $key = $location;
	$key =~ s{^s3://\Q$bucket\E/}{} or die "not in bucket $bucket: $location";
	return sort map { my $k = $_->{key}; $k =~ s{.*/}{}; $k } $s3->list_objects("$key/");
}

# rows_of($job) returns [id, status, location] of the job's backups.
sub rows_of
{
	my ($job) = @_;
	my $out = $node->safe_psql('postgres',
		"SELECT id, status, location FROM backup_log WHERE kind = 'backup' "
		  . "AND job_name = '$job' ORDER BY id");
	return map { [ split /\|/ ] } grep { length } split /\n/, $out;
}

# disagreements($job) describes every row whose status the bucket
# contradicts: a 'succeeded' set must be whole, an 'expired' one gone.
sub disagreements
{
	my ($job) = @_;
	my @wrong;
	for my $row (rows_of($job))
	{
		my ($id, $status, $location) = @$row;
		my @objects = objects_of($location);
		my $whole = grep({ $_ eq 'manifest.json' } @objects)
		  && grep({ /^data\./ } @objects)
		  && grep({ /^globals\./ } @objects);
		push @wrong, "$id is succeeded but holds only [@objects]"
		  if $status eq 'succeeded' && !$whole;
		push @wrong, "$id is expired but still holds [@objects]"
		  if $status eq 'expired' && @objects;
	}
	return join('; ', @wrong);
}

sub count_status
{
	my ($job, $status) = @_;
	return scalar grep { $_->[1] eq $status } rows_of($job);
}

sub launcher_pid
{
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pgbak launcher'");
}

# ---------------------------------------------------------------------------
# 1. pgbak_prune(false) records, the launcher deletes; kill -9 mid-way.
# ---------------------------------------------------------------------------

$node->safe_psql('postgres',
	q{SELECT pgbak_schedule('manualjob', 'pr', '0 0 1 1 *', '{"keep_last": 1, "storage": "s3"}')});
my @ids;
for (1 .. 4)
{
	my $id = $node->safe_psql('postgres', q{SELECT pgbak_run('pr', 's3')});
	is(wait_backup($node, $id), 'succeeded', "backup $id to s3");
	push @ids, $id;
}
# Retention applies to a job's backups: these four become that job's.
$node->safe_psql('postgres',
	"UPDATE backup_log SET job_name = 'manualjob', trigger = 'schedule' WHERE id IN ("
	  . join(',', @ids) . ')');
is(disagreements('manualjob'), '', 'before the prune every row agrees with the bucket');

$s3->set_faults([ { name => 'slow_delete', method => 'DELETE', delay_ms => 3000, times => -1 } ]);
my $seq = $s3->last_seq;
my $pruned = $node->safe_psql('postgres',
	q{SELECT string_agg(action, ',' ORDER BY id) FROM pgbak_prune(false)});
is($pruned, 'expiring,expiring,expiring', 'pgbak_prune(false) marks three sets expiring');
is(count_status('manualjob', 'expiring'), 3, 'the marks are committed before anything is deleted');

# Wait until the launcher has removed at least one object, then kill it in
# the middle of the next (slowed) DELETE.
ok( poll_until(
		60,
		sub {
			scalar grep { $_->{method} eq 'DELETE' } @{ $s3->request_log(since => $seq) };
		}),
	'the launcher started deleting');
my $pid = launcher_pid();
ok($pid =~ /^\d+$/, "the launcher runs (pid $pid)");
kill 'KILL', $pid;
# The postmaster restarts the cluster after a child's kill -9.
ok( poll_until(
		120,
		sub {
			my ($ret) = $node->psql('postgres', 'SELECT 1');
			$ret == 0;
		}),
	'the server is back after the kill');
is(disagreements('manualjob'), '', 'after kill -9 mid-prune every row still agrees');
$s3->set_faults([]);
ok( poll_until(
		120,
		sub {
			count_status('manualjob', 'expiring') == 0;
		}),
	'after the restart the launcher finishes every expiring set');
is(count_status('manualjob', 'expired'), 3, 'three sets are expired');
is(count_status('manualjob', 'succeeded'), 1, 'the newest stays');
is(disagreements('manualjob'), '', 'every row agrees with the bucket in the end');

# ---------------------------------------------------------------------------
# 2. A job's own retention, in its worker: terminated mid-way.
# ---------------------------------------------------------------------------

$s3->set_faults([ { name => 'slow_delete', method => 'DELETE', delay_ms => 3000, times => -1 } ]);
$node->safe_psql('postgres',
	q{SELECT pgbak_schedule('every', 'pr', '3 seconds', '{"keep_last": 1, "storage": "s3"}')});
ok( poll_until(
		120,
		sub {
			count_status('every', 'expiring') > 0;
		}),
	"the job's worker marks its oldest set expiring before deleting it");
$node->safe_psql('postgres', q{SELECT pgbak_unschedule('every')});
my $terminated = $node->safe_psql('postgres',
	q{SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	  WHERE backend_type = 'pgbak worker'});
is($terminated, 1, "the worker was still deleting (S3 DELETEs take 3 s each) and is terminated");
is(disagreements('every'), '', 'right after the terminate every row agrees');
$s3->set_faults([]);
ok( poll_until(
		120,
		sub {
			count_status('every', 'expiring') == 0
			  && !$node->safe_psql('postgres',
				"SELECT count(*) FROM backup_log WHERE status IN ('queued', 'running')");
		}),
	'the launcher finishes what the worker started');
ok(count_status('every', 'expired') >= 1, 'the job expired at least one set');
is(disagreements('every'), '', "the job's rows agree with the bucket in the end");

# ---------------------------------------------------------------------------
# 3. Ten sessions of a database owner queue a backup at the same time: one
#    gets in.
# ---------------------------------------------------------------------------

$node->safe_psql('postgres', q{
  CREATE ROLE dbowner LOGIN;
  CREATE DATABASE ownedb OWNER dbowner;
});
my @sessions;
for my $i (1 .. 10)
{
	my $session = $node->background_psql(
		'postgres',
		on_error_stop => 0,
		extra_params => [ '-U', 'dbowner' ]);
	# A session that would wait for another's uncommitted backup gives up
	# after a moment instead, so that all ten are in flight at once.
	$session->query_safe("SET lock_timeout = '500ms'");
	$session->query_safe('BEGIN');
	push @sessions, $session;
}
# No session has committed when the others call: each passes the count of
# queued backups, which sees none.
my $queued = 0;
my $refused = 0;
for my $session (@sessions)
{
	my ($out, $ret) = $session->query(q{SELECT pgbak_run('ownedb')});
	if ($ret == 0 && $out =~ /^\d+$/)
	{
		$queued++;
	}
	else
	{
		$refused++;
	}
}
$_->query('COMMIT') for @sessions;
$_->quit for @sessions;
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM backup_log WHERE database_name = 'ownedb' AND kind = 'backup'"),
	'1',
	"ten concurrent owner sessions queue one backup ($queued answered with an id, $refused refused)");

# ---------------------------------------------------------------------------
# 4. An S3 that never answers a DELETE holds nothing up: not CREATE or DROP
#    DATABASE (which wait for every process to absorb a barrier), not a
#    stop, not the launcher's scheduling, whether a job's worker or the
#    launcher is deleting.
# ---------------------------------------------------------------------------

$s3->set_faults(
	[ { name => 'stall_delete', method => 'DELETE', delay_ms => 300000, times => -1 } ]);

# create_drop() runs CREATE and DROP DATABASE within a 30 s timeout.
sub create_drop
{
	my ($name) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"SET statement_timeout = '30s'; CREATE DATABASE $name; DROP DATABASE $name;");
	return $ret == 0 ? '' : $err;
}

# locked_expiring($job) lists the job's expiring rows someone holds locked
# (a worker or the launcher in the middle of deleting their objects).
sub locked_expiring
{
	my ($job) = @_;
	return $node->safe_psql('postgres',
		    "SELECT string_agg(id::text, ',') FROM backup_log WHERE job_name = '$job' "
		  . "AND status = 'expiring' AND id NOT IN (SELECT id FROM backup_log "
		  . "WHERE status = 'expiring' FOR UPDATE SKIP LOCKED)");
}

# 4a. A job's worker applying retention.
$node->safe_psql('postgres',
	q{SELECT pgbak_schedule('hung', 'pr', '3 seconds', '{"keep_last": 1, "storage": "s3"}')});
ok(poll_until(120, sub { locked_expiring('hung') ne '' }),
	"a job's worker is deleting an expired set from an S3 that does not answer");
# No more runs; the job stays, with its retention.
$node->safe_psql('postgres',
	q{SELECT pgbak_schedule('hung', 'pr', '0 0 1 1 *', '{"keep_last": 1, "storage": "s3"}')});
sleep 1;    # the DELETE is in flight
is(create_drop('pass_worker'), '', "CREATE and DROP DATABASE complete while the worker waits");
my $pruner = $node->safe_psql('postgres',
	q{SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE backend_type = 'pgbak worker'});
$node->safe_psql('postgres',
	q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'pgbak worker'});
ok( poll_until(
		15,
		sub {
			$node->safe_psql('postgres',
				q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgbak worker'}) == 0;
		}),
	"the pruning worker ($pruner) stops within seconds when terminated");
is(disagreements('hung'), '', "the job's rows agree with the bucket after the terminate");

# 4b. The launcher finishing expiring sets: more of them, the job's worker's
#     one included.
my @more;
for (1 .. 5)
{
	my $id = $node->safe_psql('postgres', q{SELECT pgbak_run('pr', 's3')});
	is(wait_backup($node, $id), 'succeeded', "backup $id to s3 (PUTs still pass)");
	push @more, $id;
}
$node->safe_psql('postgres',
	"UPDATE backup_log SET job_name = 'hung', trigger = 'schedule' WHERE id IN ("
	  . join(',', @more) . ')');
$node->safe_psql('postgres', q{SELECT count(*) FROM pgbak_prune(false)});
ok(count_status('hung', 'expiring') >= 5, 'the prune left the launcher sets to expire');
ok(poll_until(60, sub { locked_expiring('hung') ne '' }),
	'the launcher is deleting an expired set from an S3 that does not answer');
is(create_drop('pass_launcher'), '', 'CREATE and DROP DATABASE complete while the launcher waits');
my ($local_id, $local_status) = run_backup($node, 'pr', '{}', 30);
is($local_status, 'succeeded',
	"a backup to local storage queued meanwhile starts and succeeds ($local_id)");
is(disagreements('hung'), '', "the job's rows agree with the bucket");
my $stop_started = Time::HiRes::time();
$node->stop('fast');
my $stop_took = Time::HiRes::time() - $stop_started;
ok($stop_took < 20, sprintf('pg_ctl stop -m fast returned after %.1f s', $stop_took));
done_testing();
