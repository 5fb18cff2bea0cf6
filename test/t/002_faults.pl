# 002_faults.pl: backups interrupted on purpose. A backup is made to block
# deterministically by holding ACCESS EXCLUSIVE on a table in another
# session (pg_dump waits for its ACCESS SHARE lock); then it is cancelled,
# its pg_dump is killed, its worker is killed with SIGKILL, the server is
# restarted under it, and two backups of one database are queued at once.
# Whatever happens, no row stays running, no partial set looks complete, no
# file is left behind.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Find ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakTest;

# The test framework turns restart_after_crash off; users run with it on.
my $node = new_node('faults', restart_after_crash => 'on');
is($node->safe_psql('postgres', 'SHOW pgbak.max_workers'), '2', 'pgbak.max_workers is 2 by default');

$node->safe_psql('postgres', 'CREATE DATABASE faultdb');
$node->safe_psql('postgres', 'CREATE DATABASE otherdb');
$node->safe_psql('faultdb', q{
  CREATE TABLE big (id int PRIMARY KEY, payload text);
  INSERT INTO big SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 50000) g;
  CREATE TABLE small (id int);
  INSERT INTO small SELECT generate_series(1, 10);
});
$node->safe_psql('otherdb', q{
  CREATE TABLE t (id int);
  INSERT INTO t SELECT generate_series(1, 1000);
});

# lock_big opens a session that holds ACCESS EXCLUSIVE on big until it
# commits, so that any pg_dump of faultdb waits.
sub lock_big
{
	my $session = $node->background_psql('faultdb');
	$session->query_safe('BEGIN');
	$session->query_safe('LOCK TABLE big IN ACCESS EXCLUSIVE MODE');
	return $session;
}

# wait_blocked($id) waits until backup $id is running and its pg_dump waits
# for the lock on big; returns (worker pid, pg_dump pid).
sub wait_blocked
{
	my ($id) = @_;
	my $worker = wait_for_running($node, $id, 60);
	ok(defined $worker, "backup $id is running and in backup_progress");
	return (undef, undef) unless defined $worker;
	my $waiting = poll_until(
		60,
		sub {
			$node->safe_psql('faultdb',
				q{SELECT count(*) > 0 FROM pg_stat_activity
				  WHERE datname = 'faultdb' AND application_name = 'pgbak_ext'
				    AND wait_event_type = 'Lock' AND query LIKE 'LOCK TABLE%big%'})
			  eq 't';
		});
	ok($waiting, "pg_dump of backup $id waits for the lock on big");
	my ($dump) = map { $_->[0] } grep { $_->[1] eq 'pg_dump' } children_of($worker);
	ok(defined $dump, "the worker $worker has a pg_dump child");
	is($node->safe_psql('postgres', "SELECT phase FROM backup_progress WHERE id = $id"),
		'dumping', 'backup_progress shows the dumping phase');
	return ($worker, $dump);
}

# end_session quits a background psql whose server may have gone away.
sub end_session
{
	my ($session) = @_;
	eval { $session->query_safe('COMMIT'); };
	eval { $session->quit; };
}

# check_no_set($id, $what) asserts that the set of a stopped backup is gone.
sub check_no_set
{
	my ($id, $what) = @_;
	my $row = backup_row($node, $id);
	ok(defined $row->{location}, "$what: the row has a location");
	ok(!-e "$row->{location}/manifest.json", "$what: no manifest");
	is(set_leftovers($row->{location}), '', "$what: no file left in the set directory");
	ok(defined $row->{finished_at}, "$what: finished_at is set");
	return $row;
}

# ---------------------------------------------------------------------------
# (a) pgbak_cancel of a running backup.
# ---------------------------------------------------------------------------
my $lock = lock_big();
my $id = queue_backup($node, 'faultdb');
my $cancelled_id = $id;
my ($worker, $dump) = wait_blocked($id);

is($node->safe_psql('postgres', "SELECT pgbak_cancel($id)"), 't', 'pgbak_cancel returns true');
is(wait_backup($node, $id, 60), 'cancelled', 'pgbak_wait returns cancelled while the lock is still held');
my $row = check_no_set($id, 'cancel');
like($row->{error_message}, qr/cancel/i, 'error_message says it was cancelled');
ok(poll_until(10, sub { !process_alive($dump) }), 'the pg_dump child is gone');
ok(poll_until(10, sub { !process_alive($worker) }), 'the worker is gone');
my $sessions = '';
ok( poll_until(
		10,
		sub {
			$sessions = pgbak_sessions($node, 'faultdb');
			$sessions eq '';
		}),
	'no session of the cancelled backup is left in faultdb')
  or diag "sessions left: $sessions";
is($node->safe_psql('postgres', "SELECT count(*) FROM backup_progress WHERE id = $id"),
	'0', 'backup_progress no longer lists it');
end_session($lock);
ok(poll_until(30, sub { pgbak_sessions($node, 'faultdb') eq '' }),
	'no session of the cancelled backup once the lock is released');
is($node->safe_psql('postgres', "SELECT status FROM backup_log WHERE id = $id"),
	'cancelled', 'the row stays cancelled after the lock is released');

# ---------------------------------------------------------------------------
# (a2) pg_dump dies (kill -9 of the child): the backup fails and says why.
# ---------------------------------------------------------------------------
$lock = lock_big();
$id = queue_backup($node, 'faultdb');
my $dump_killed_id = $id;
($worker, $dump) = wait_blocked($id);
ok(kill('KILL', $dump), "kill -9 pg_dump $dump");
# pg_dump is gone, so nothing should wait for the lock any more: the failure
# must be recorded while the lock is still held.
is(wait_backup($node, $id, 20), 'failed', 'the backup fails promptly when pg_dump dies');
end_session($lock);
is(wait_backup($node, $id, 60), 'failed', 'the backup is failed (at the latest once the lock is gone)');
$row = check_no_set($id, 'pg_dump killed');
like($row->{error_message}, qr/pg_dump/, 'error_message names pg_dump');
like($row->{error_message}, qr/signal 9|kill/i, 'error_message says how it died');
ok(poll_until(10, sub { !process_alive($worker) }), 'the worker is gone');
ok(poll_until(30, sub { pgbak_sessions($node, 'faultdb') eq '' }),
	'no session is left once the lock is released');

# ---------------------------------------------------------------------------
# (a3) pg_cancel_backend on the worker cancels the backup cleanly, and a
# running backup does not hold up DROP DATABASE elsewhere (it absorbs the
# barrier that DROP DATABASE waits for).
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE scratch_to_drop');
$lock = lock_big();
$id = queue_backup($node, 'faultdb');
my $sigint_id = $id;
($worker, $dump) = wait_blocked($id);
my ($drop_ret, $drop_out, $drop_err) = $node->psql('postgres', 'DROP DATABASE scratch_to_drop',
	extra_params => [ '-v', 'ON_ERROR_STOP=1' ], timeout => 30);
is($drop_ret, 0, 'DROP DATABASE of another database completes while a backup runs')
  or diag $drop_err;
is($node->safe_psql('postgres', "SELECT status FROM backup_log WHERE id = $id"),
	'running', 'the backup is still running after the DROP DATABASE');
is($node->safe_psql('postgres', "SELECT pg_cancel_backend($worker)"), 't', 'pg_cancel_backend on the worker');
is(wait_backup($node, $id, 30), 'cancelled', 'pg_cancel_backend cancels the backup, recorded as cancelled');
$row = check_no_set($id, 'pg_cancel_backend');
like($row->{error_message}, qr/pg_cancel_backend/, 'error_message says who cancelled it');
end_session($lock);
ok(poll_until(30, sub { pgbak_sessions($node, 'faultdb') eq '' }),
	'no session is left after pg_cancel_backend');

# ---------------------------------------------------------------------------
# (a4) the launcher terminated on its own comes back, and the queue goes on.
# ---------------------------------------------------------------------------
my $launcher = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pgbak launcher'});
ok($launcher ne '', "the launcher runs (pid $launcher)");
$node->safe_psql('postgres', "SELECT pg_terminate_backend($launcher)");
ok( poll_until(
		30,
		sub {
			my $pid = $node->safe_psql('postgres',
				q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pgbak launcher'});
			$pid ne '' && $pid ne $launcher;
		}),
	'a new launcher starts after the old one was terminated');
my ($after_id, $after_status) = run_backup($node, 'faultdb', '{}', 60);
is($after_status, 'succeeded', 'backups run again after the launcher came back');

# ---------------------------------------------------------------------------
# (b) kill -9 of the worker: a crash restart; the row is failed afterwards.
# ---------------------------------------------------------------------------
$lock = lock_big();
$id = queue_backup($node, 'faultdb');
my $killed_id = $id;
($worker, $dump) = wait_blocked($id);
my $log_offset = -s $node->logfile;
ok(kill('KILL', $worker), "kill -9 the worker $worker");
my $status = wait_for_status($node, $id, qr/^(succeeded|failed|cancelled)$/, 90);
is($status, 'failed', 'after the crash restart the row is failed');
ok($node->log_contains('terminating any other active server processes', $log_offset),
	'the server did a crash restart');
$row = check_no_set($id, 'kill -9');
like($row->{error_message}, qr/restart|crash/i, 'error_message mentions the restart or crash');
ok(poll_until(30, sub { !process_alive($dump) }), 'the orphaned pg_dump is gone');
end_session($lock);

my ($after_crash, $after_status) = run_backup($node, 'faultdb', '{}', 120);
is($after_status, 'succeeded', 'a new backup succeeds after the crash');
$row = backup_row($node, $after_crash);
is_deeply(
	{ map { ("$_->{schema}.$_->{table}" => $_->{rows}) } @{ read_manifest($row->{location})->{tables} } },
	{ 'public.big' => 50000, 'public.small' => 10 },
	'and its manifest counts every row');

# ---------------------------------------------------------------------------
# (c) server restart (fast mode) under a running backup.
# ---------------------------------------------------------------------------
$lock = lock_big();
$id = queue_backup($node, 'faultdb');
my $restarted_id = $id;
($worker, $dump) = wait_blocked($id);
$node->restart;
end_session($lock);
$status = wait_for_status($node, $id, qr/^(succeeded|failed|cancelled)$/, 60);
is($status, 'failed', 'after a restart the interrupted row is failed');
$row = check_no_set($id, 'restart');
like($row->{error_message}, qr/terminat|shut|restart/i, 'error_message says why');
ok(!process_alive($dump), 'its pg_dump is gone');

# ---------------------------------------------------------------------------
# (d) two backups of one database at once run one after the other; another
# database is not held up meanwhile.
# ---------------------------------------------------------------------------
$lock = lock_big();
my ($first, $second) = split /\n/,
  $node->safe_psql('postgres',
	q{BEGIN; SELECT pgbak_run('faultdb'); SELECT pgbak_run('faultdb'); COMMIT;});
ok($first && $second && $second > $first, "two backups queued in one transaction ($first, $second)");
wait_blocked($first);
is($node->safe_psql('postgres', "SELECT status FROM backup_log WHERE id = $second"),
	'queued', 'the second backup of the same database stays queued');
# Rows committed while the first backup waits are after its snapshot.
$node->safe_psql('faultdb', 'INSERT INTO small SELECT generate_series(11, 15)');

my ($other, $other_status) = run_backup($node, 'otherdb', '{}', 60);
is($other_status, 'succeeded', 'a backup of another database runs meanwhile');
is($node->safe_psql('postgres', "SELECT status FROM backup_log WHERE id = $first"),
	'running', 'while the first backup is still blocked');
is($node->safe_psql('postgres', "SELECT status FROM backup_log WHERE id = $second"),
	'queued', 'and the second is still queued after launcher wake-ups');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM backup_progress WHERE id = $second"),
	'0', 'the queued backup is not in backup_progress');

end_session($lock);
is(wait_backup($node, $first, 120), 'succeeded', 'the first backup succeeds once the lock is gone');
is(wait_backup($node, $second, 120), 'succeeded', 'then the second one succeeds');
my $row1 = backup_row($node, $first);
my $row2 = backup_row($node, $second);
ok($row2->{started_epoch} >= $row1->{finished_epoch},
	'the second started after the first finished')
  or diag "first finished $row1->{finished_at}, second started $row2->{started_at}";
my $row3 = backup_row($node, $other);
ok($row3->{started_epoch} >= $row1->{started_epoch}
	  && $row3->{finished_epoch} <= $row1->{finished_epoch},
	'the other database was backed up while the first backup was running');
for my $r ($row1, $row2, $row3)
{
	ok(-f "$r->{location}/manifest.json", "backup $r->{id} has its manifest");
}

# The first backup's dump and manifest both see the snapshot taken before
# the insert; the second one sees the new rows.
my %small_rows = map {
	my $m = read_manifest($_->{location});
	($_->{id} => (map { $_->{rows} } grep { $_->{table} eq 'small' } @{ $m->{tables} })[0])
} ($row1, $row2);
is($small_rows{$first}, 10, 'the first manifest counts the rows of its snapshot');
is($small_rows{$second}, 15, 'the second manifest counts the rows committed since');
my $tmp = PostgreSQL::Test::Utils::tempdir;
decompress_file("$row1->{location}/data.dump.zst", "$tmp/first.dump");
$node->safe_psql('postgres', 'CREATE DATABASE snapcheck');
my ($restored, $restore_err) = restore_custom($node, 'snapcheck', "$tmp/first.dump");
ok($restored, 'the first dump restores') or diag $restore_err;
is($node->safe_psql('snapcheck', 'SELECT count(*) || \' \' || max(id) FROM small'), '10 10',
	'the dump holds the same snapshot as its manifest');
is($node->safe_psql('snapcheck', 'SELECT count(*) FROM big'), '50000', 'and all of big');

# ---------------------------------------------------------------------------
# (e) after everything: nothing running, no temporary file anywhere.
# ---------------------------------------------------------------------------
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM backup_log WHERE status IN ('queued', 'running')}),
	'0', 'no row of backup_log is queued or running');
is($node->safe_psql('postgres', 'SELECT count(*) FROM backup_progress'),
	'0', 'backup_progress is empty');
my $root = dirname($node->data_dir) . '/pgbak_backups';
my @temporaries;
File::Find::find(sub { push @temporaries, $File::Find::name if -f $_ && /^\./ }, $root);
is_deeply(\@temporaries, [], 'no temporary file anywhere under the storage root');
is_deeply(
	[ split /\n/, $node->safe_psql('postgres', q{SELECT id || ' ' || status FROM backup_log ORDER BY id}) ],
	[
		"$cancelled_id cancelled", "$dump_killed_id failed", "$sigint_id cancelled",
		"$after_id succeeded", "$killed_id failed", "$after_crash succeeded",
		"$restarted_id failed", "$first succeeded", "$second succeeded",
		"$other succeeded"
	],
	'backup_log tells the whole story');

$node->stop;
done_testing();
