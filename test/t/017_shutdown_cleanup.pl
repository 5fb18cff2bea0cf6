# 017_shutdown_cleanup.pl: nothing waiting for S3 holds the cluster up.
#
# While a backup's upload and a verify's read-back hang on S3, CREATE
# DATABASE and DROP DATABASE (which wait for every backend to absorb a
# barrier) complete at once: the workers' waits on the network absorb it.
#
# While a backup uploads to an S3 that stops answering (the proxy holds
# every further part and every DELETE for minutes), pg_ctl stop -m fast
# ends promptly: the worker, told to stop, gives its cleanup a few seconds
# and flags what it could not remove (cleanup_pending). At the next start,
# with S3 answering again, the launcher removes the partial set and clears
# the flag: nothing is left in the bucket, nothing looks complete.
#
# A crash while the launcher cleans up after dead workers loses no cleanup:
# every operation it fails stays flagged until its cleanup is done.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP ();
use Time::HiRes ();

use PgbakS3;
use PgbakTest;

my $s3 = start_s3(name => 'shutdown');
my $node = new_node('shutdown', restart_after_crash => 'on');
my $bucket = $s3->bucket;

$node->safe_psql('postgres', 'CREATE DATABASE big');
# About 30 MB of md5 text: zstd leaves more than one 5 MiB part of it.
$node->safe_psql('big',
	'CREATE TABLE hexes AS SELECT g AS id, md5(g::text) || md5((g + 1)::text) AS a, '
	  . 'md5(random()::text) AS b FROM generate_series(1, 300000) g');

my $options = JSON::PP->new->canonical->encode(
	{
		endpoint => $s3->endpoint,
		access_key_id => $s3->access_key,
		secret_access_key => $s3->secret,
		part_size => 5 * 1024 * 1024,
		concurrency => 2,
	});
$node->safe_psql('postgres',
	    "SET log_statement = 'none';\n"
	  . "SELECT pgbak_storage_add('s3', 's3://$bucket/shut', "
	  . quote_literal($options) . ')');

$node->safe_psql('postgres', 'CREATE DATABASE small');
$node->safe_psql('small', 'CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g');
my $small = $node->safe_psql('postgres', q{SELECT pgbak_run('small', 's3')});
is(wait_backup($node, $small), 'succeeded', 'a small backup to s3');

# The first part goes through; every later part, every DELETE and every
# read of a stored object hangs.
$s3->set_faults(
	[
		{
			name => 'stall_parts',
			method => 'PUT',
			query => 'partNumber=',
			after => 1,
			times => -1,
			delay_ms => 300000
		},
		{ name => 'stall_deletes', method => 'DELETE', times => -1, delay_ms => 300000 },
		{
			name => 'stall_reads',
			method => 'GET',
			path => 'small/.*/data\\.dump',
			times => -1,
			delay_ms => 300000
		},
	]);
my $seq = $s3->last_seq;
my $id = $node->safe_psql('postgres', q{SELECT pgbak_run('big', 's3')});
ok( poll_until(
		120,
		sub {
			scalar grep {
				$_->{method} eq 'PUT' && ($_->{query} // '') =~ /partNumber=/
			} @{ $s3->request_log(since => $seq) };
		}),
	'the backup uploaded its first part and now waits for S3');
my $verify = $node->safe_psql('postgres', "SELECT pgbak_verify($small)");
ok( poll_until(
		60,
		sub {
			scalar grep { $_->{method} eq 'GET' && $_->{path} =~ /small/ }
			  @{ $s3->request_log(since => $seq) };
		}),
	'the verify is reading back from S3');
# The proxy logs a request when it answers; give the stalled GET a moment.
sleep 1;
my ($ret, $out, $err) = $node->psql('postgres',
	"SET statement_timeout = '30s'; CREATE DATABASE passing_by; DROP DATABASE passing_by;");
is($ret, 0, "CREATE and DROP DATABASE complete while S3 hangs under a backup and a verify $err");

my $started = Time::HiRes::time();
$node->stop('fast');
my $took = Time::HiRes::time() - $started;
ok($took < 45, sprintf('pg_ctl stop -m fast returned after %.1f s with S3 hanging', $took));
like(
	slurp_file($node->logfile),
	qr/(cleanup of operation $id|after removing set $id): .*(stopping|gave up|left to the launcher)/,
	'the worker said it left the cleanup to the launcher');

$s3->set_faults([]);
$node->start;
my $row = sub {
	$node->safe_psql('postgres',
		"SELECT status, cleanup_pending, coalesce(location, '') FROM backup_log WHERE id = $id");
};
ok( poll_until(
		120,
		sub {
			my ($status, $pending) = split /\|/, $row->();
			$status =~ /^(failed|cancelled)$/ && $pending eq 'f';
		}),
	'after the restart the launcher cleaned up the set and cleared cleanup_pending: '
	  . $row->());
like(slurp_file($node->logfile), qr/removed what operation $id left behind/,
	'it was the launcher that finished the cleanup');
is(scalar @{ $s3->open_uploads }, 0, 'no multipart upload is left open');
my (undef, undef, $location) = split /\|/, $row->();
my $prefix = $location;
$prefix =~ s{^s3://\Q$bucket\E/}{};
my @left = $prefix ne '' ? map { $_->{key} } $s3->list_objects("$prefix/") : ();
is(join(',', @left), '', 'nothing of the set is left in the bucket');

# ---------------------------------------------------------------------------
# 2. A crash while the launcher cleans up after dead workers loses no
#    cleanup. A backup hangs on S3 and a clean restore pauses in the middle
#    of its swap (its target moved aside); both workers die in a crash. At
#    the restart the launcher fails both rows and starts on the backup's
#    leftovers, whose DELETEs hang; the server stops right then, before it
#    got to the restore. At the next start the launcher still knows what is
#    to be done: the restore's target is back, the backup's parts are gone.
# ---------------------------------------------------------------------------

$node->safe_psql('postgres', 'CREATE DATABASE swapdb');
$node->safe_psql('swapdb', "CREATE TABLE marker (v text); INSERT INTO marker VALUES ('backed up')");
my $swap_backup = queue_backup($node, 'swapdb');
is(wait_backup($node, $swap_backup), 'succeeded', 'a local backup of swapdb');
$node->safe_psql('swapdb', "UPDATE marker SET v = 'live'");

$s3->set_faults(
	[
		{
			name => 'stall_parts',
			method => 'PUT',
			query => 'partNumber=',
			after => 1,
			times => -1,
			delay_ms => 300000
		},
		{ name => 'stall_deletes', method => 'DELETE', times => -1, delay_ms => 300000 },
	]);
$seq = $s3->last_seq;
my $hung = $node->safe_psql('postgres', q{SELECT pgbak_run('big', 's3')});
ok( poll_until(
		120,
		sub {
			scalar grep {
				$_->{method} eq 'PUT' && ($_->{query} // '') =~ /partNumber=/
			} @{ $s3->request_log(since => $seq) };
		}),
	"backup $hung uploaded its first part and now waits for S3");

$node->safe_psql('postgres', "ALTER SYSTEM SET pgbak.fault_pause = 'restore_swap_aside'");
$node->reload;
my $restore = $node->safe_psql('postgres',
	"SELECT pgbak_restore($swap_backup, 'swapdb', '{\"clean\": true}')");
ok( poll_until(
		120,
		sub {
			slurp_file($node->logfile) =~ /operation $restore pauses at restore_swap_aside/;
		}),
	"restore $restore pauses with swapdb moved aside");
$node->safe_psql('postgres', 'ALTER SYSTEM RESET pgbak.fault_pause');
$node->reload;

# database_names() lists swapdb and the restore's databases.
my $database_names = sub {
	return $node->safe_psql('postgres',
		    q{SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database }
		  . q{WHERE datname = 'swapdb' OR datname LIKE 'pgbak\_re%'});
};
my $mid_swap = "pgbak_replaced_$restore,pgbak_restore_$restore";
is($database_names->(), $mid_swap, 'swapdb is aside, the restored database not yet in place');

my $restore_pid = wait_for_running($node, $restore);
kill 'KILL', $restore_pid;
my $statuses = sub {
	my ($ret, $out) = $node->psql('postgres',
		"SELECT string_agg(status, ',' ORDER BY id) FROM backup_log WHERE id IN ($hung, $restore)");
	return $ret == 0 ? $out : '';
};
ok(poll_until(120, sub { $statuses->() eq 'failed,failed' }),
	'after the crash the launcher failed both operations');
# It works through them in order: the backup's DELETEs hang, the restore
# waits its turn.
is($database_names->(), $mid_swap, 'the launcher is still on the backup: swapdb is still aside');
$node->stop('immediate');

$s3->set_faults([]);
$node->start;
ok( poll_until(
		120,
		sub {
			$database_names->() eq 'swapdb';
		}),
	'after the next start swapdb is back: ' . $database_names->());
my (undef, $marker) = $node->psql('swapdb', 'SELECT v FROM marker');
is($marker, 'live', 'with its data as it was');
ok( poll_until(
		60,
		sub {
			$node->safe_psql('postgres',
				"SELECT string_agg(cleanup_pending::text, ',' ORDER BY id) FROM backup_log "
				  . "WHERE id IN ($hung, $restore)") eq 'false,false';
		}),
	'both cleanups are done and recorded');
is(scalar @{ $s3->open_uploads }, 0, 'no multipart upload is left open');
($location) = $node->safe_psql('postgres',
	"SELECT coalesce(location, '') FROM backup_log WHERE id = $hung");
$prefix = $location;
$prefix =~ s{^s3://\Q$bucket\E/}{};
@left = $prefix ne '' ? map { $_->{key} } $s3->list_objects("$prefix/") : ();
is(join(',', @left), '', "nothing of backup $hung is left in the bucket");

$node->stop;
done_testing();
