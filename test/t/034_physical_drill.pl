# 034_physical_drill.pl: the restore drill of a base backup,
# pgbak_verify(base_id, true). It restores the base backup into a scratch
# directory with `pgbak restore-cluster`, recovers it from the WAL archive
# in a scratch server of its own (no TCP, socket in the scratch directory,
# no archiving), checks it with pg_amcheck, records the RTO and the time it
# recovered to, and removes everything. A missing WAL segment fails it,
# naming the segment; a worker killed with kill -9 mid-drill leaves nothing
# once the launcher cleaned up; a base job with verify "restore" drills its
# base backups.

use strict;
use warnings;

use File::Copy qw(move);
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakTest;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $root = "$tmp/storage";
make_path($root);

my $node = new_node(
	'drill',
	wal_level => 'replica',
	max_wal_senders => 4,
	archive_mode => 'on',
	archive_library => "'pgbak_ext'",
	'pgbak.wal_storage' => "'local'",
	'pgbak.local_path' => "'$root'",
	autovacuum => 'off',
	# The test framework turns restart_after_crash off; users run with it on.
	restart_after_crash => 'on');
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my $wal_dir = "$root/$sysid/wal";

$node->safe_psql('postgres', 'CREATE DATABASE appdb');
$node->safe_psql('appdb',
	q{CREATE TABLE accounts (id int PRIMARY KEY, note text);
	  INSERT INTO accounts SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
	  CREATE INDEX accounts_note ON accounts (note);});

# switch_and_wait() switches to a new segment and waits until the one it
# ended is archived; returns its name.
sub switch_and_wait
{
	my $last = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
	ok( poll_until(
			120,
			sub {
				$node->safe_psql('postgres', 'SELECT last_archived_wal FROM pg_stat_archiver')
				  ge $last;
			}),
		"segment $last is archived");
	return $last;
}

# scratch_processes($dir) lists the processes whose working directory or
# command line is below $dir.
sub scratch_processes
{
	my ($dir) = @_;
	my @found;
	opendir(my $dh, '/proc') or die "no /proc: $!";
	for my $pid (grep { /^\d+$/ } readdir($dh))
	{
		next unless process_alive($pid);
		my $cwd = readlink("/proc/$pid/cwd") // '';
		my $cmdline = '';
		if (open(my $fh, '<', "/proc/$pid/cmdline"))
		{
			local $/;
			$cmdline = <$fh> // '';
			close($fh);
		}
		push @found, "$pid ($cwd)"
		  if index($cwd, $dir) == 0 || index($cmdline, $dir) >= 0;
	}
	closedir($dh);
	return @found;
}

# A database owner who is no superuser sets traps for the drill's
# superuser sessions in the copy: an overload of amcheck's bt_index_check
# in a schema of hers where amcheck is installed (pg_amcheck would run it
# as the superuser it connects as, and it writes a file only a superuser
# may), an event trigger's worth of settings: read-only transactions and
# a search_path into her schema.
my $marker = "$tmp/superuser_code_ran";
$node->safe_psql('postgres', q{CREATE ROLE alice LOGIN; CREATE DATABASE alicedb OWNER alice});
$node->safe_psql('alicedb', 'CREATE EXTENSION amcheck SCHEMA public');
$node->safe_psql('alicedb', qq{
  SET ROLE alice;
  CREATE TABLE notes (id int PRIMARY KEY, body text);
  INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 100) g;
  CREATE FUNCTION public.bt_index_check(index oid, heapallindexed boolean) RETURNS void
    LANGUAGE plpgsql AS \$\$
    BEGIN
      EXECUTE format('COPY (SELECT current_user) TO %L', '$marker');
    EXCEPTION WHEN insufficient_privilege THEN NULL;
    END \$\$;
  ALTER DATABASE alicedb SET default_transaction_read_only = on;
  ALTER DATABASE alicedb SET search_path = public, pg_catalog;});

my $base = $node->safe_psql('postgres', 'SELECT pgbak_base_backup()');
is(wait_backup($node, $base, 300), 'succeeded', 'a base backup succeeds');

# Traffic after the base backup: recovery must replay it.
$node->safe_psql('appdb', q{UPDATE accounts SET note = 'after base' WHERE id <= 100});
my $last_commit = $node->safe_psql('appdb',
	q{INSERT INTO accounts VALUES (20001, 'last') RETURNING extract(epoch FROM clock_timestamp())});
switch_and_wait();

# ---------------------------------------------------------------------------
# The drill passes, with its RTO and the time it recovered to.
# ---------------------------------------------------------------------------
my $drill = $node->safe_psql('postgres', "SELECT pgbak_verify($base, true)");
is(wait_backup($node, $drill, 300), 'succeeded', 'the restore drill of the base backup succeeds');
my $row = backup_row($node, $drill);
ok(defined $row->{restore_seconds} && $row->{restore_seconds} > 0,
	"the drill records its RTO ($row->{restore_seconds} s)");
ok(defined $row->{recovered_to}, 'and the time it recovered to');
my $recovered_epoch = $node->safe_psql('postgres',
	"SELECT extract(epoch FROM recovered_to) FROM backup_log WHERE id = $drill");
ok($recovered_epoch >= $last_commit - 0.001,
	'it recovered up to the last transaction archived before it ran');
my $base_row = backup_row($node, $base);
is($base_row->{verify_status}, 'passed (restore drill, pg_amcheck)',
	'the base backup is marked drilled, pg_amcheck clean');
is($base_row->{restore_seconds}, $row->{restore_seconds}, 'its RTO is on the base backup too');
is($base_row->{recovered_to}, $row->{recovered_to}, 'and the time it recovered to');
ok(!-e $marker, "the owner's overload of bt_index_check never ran as a superuser");
is( $node->safe_psql('postgres',
		"SELECT recovered_to <= started_at FROM backup_log WHERE id = $drill"),
	't', 'it recovered to a time before the drill started');
ok(!-e "$root/.staging/$drill", 'the scratch directory is gone');
is_deeply([ scratch_processes("$root/.staging") ], [], 'no process of the drill is left');
like(
	slurp_file($node->logfile),
	qr/restore drill of base backup $base recovered to \S+ \S+ on timeline 2 in [0-9.]+ s/,
	'the server log says where it recovered to');

# ---------------------------------------------------------------------------
# While it runs, the scratch server shares nothing with the live cluster;
# kill -9 of the worker: the launcher stops what is left and removes it.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', "ALTER SYSTEM SET pgbak.fault_pause = 'drill_open'");
$node->reload;
$drill = $node->safe_psql('postgres', "SELECT pgbak_verify($base, true)");
my $pid = wait_for_running($node, $drill, 60);
my $scratch = "$root/.staging/$drill";
ok( poll_until(
		120,
		sub {
			$node->safe_psql('postgres',
				"SELECT phase FROM backup_progress WHERE id = $drill") eq 'recovering'
			  && -e "$scratch/data/postmaster.pid"
			  && slurp_file("$scratch/data/postmaster.pid") =~ /\n(ready|standby)\s*\n?$/;
		}),
	'the drill has opened its scratch server and pauses');
my @pid_file = split /\n/, slurp_file("$scratch/data/postmaster.pid");
my $scratch_pid = $pid_file[0];
ok(process_alive($scratch_pid), "the scratch postmaster runs (PID $scratch_pid)");
my $socket_dir = $pid_file[4];
like($socket_dir, qr{^/tmp/pgbak-drill-\w{6}$}, "its socket is in a directory of its own ($socket_dir)");
is(sprintf('%o', (stat($socket_dir))[2] & 07777), '700', 'which only this OS user reaches');
is($pid_file[5] // '', '', 'it listens on no TCP address');
is(sprintf('%o', (stat($scratch))[2] & 07777), '700', 'the scratch directory is private');
my $ps = slurp_file("/proc/$scratch_pid/cmdline");
like($ps, qr/archive_mode=off/, 'it does not archive');
like($ps, qr/shared_preload_libraries=\0/, 'it loads no library of the copy');
like(
	slurp_file("$scratch/data/postgresql.auto.conf"),
	qr/restore_command = '.*pgbak'? wal-get/,
	'it recovers with pgbak wal-get');
kill 'KILL', $pid;
is(wait_for_status($node, $drill, qr/^failed$/, 120), 'failed', 'the killed drill is failed');
$node->safe_psql('postgres', "ALTER SYSTEM SET pgbak.fault_pause = ''");
$node->reload;
ok(poll_until(120, sub { !-e $scratch }), 'the launcher removed the scratch directory');
ok(poll_until(30, sub { !process_alive($scratch_pid) }), 'the scratch postmaster is stopped');
ok(!-e $socket_dir, 'and its socket directory');
is_deeply([ scratch_processes("$root/.staging") ], [], 'no process of the drill is left');
is($node->safe_psql('postgres', "SELECT verify_status FROM backup_log WHERE id = $base"),
	'passed (restore drill, pg_amcheck)',
	'a drill that died says nothing about the base backup');

# ---------------------------------------------------------------------------
# A segment missing from the archive fails the drill, naming it, and
# leaves nothing behind.
# ---------------------------------------------------------------------------
$node->safe_psql('appdb', q{INSERT INTO accounts VALUES (20002, 'more')});
my $gap = switch_and_wait();
$node->safe_psql('appdb', q{INSERT INTO accounts VALUES (20003, 'more')});
switch_and_wait();
my ($gap_file) = glob("$wal_dir/*/$gap-*.zst");
ok(defined $gap_file, "segment $gap is in the archive");
move($gap_file, "$tmp/held-back") or die "could not move $gap_file: $!";
$drill = $node->safe_psql('postgres', "SELECT pgbak_verify($base, true)");
is(wait_backup($node, $drill, 300), 'failed', 'a drill over a gap in the WAL archive fails');
$row = backup_row($node, $drill);
like($row->{error_message}, qr/segment $gap is missing/, 'naming the missing segment');
like($node->safe_psql('postgres', "SELECT verify_status FROM backup_log WHERE id = $base"),
	qr/^failed: .*segment $gap is missing/, 'and the base backup is marked failed');
ok(!-e "$root/.staging/$drill", 'it leaves no scratch directory');
is_deeply([ scratch_processes("$root/.staging") ], [], 'nor any process');
move("$tmp/held-back", $gap_file) or die "could not move $gap_file back: $!";

# ---------------------------------------------------------------------------
# Bad calls are refused at the call: a base backup without archived WAL.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', "UPDATE backup_log SET wal_archived = false WHERE id = $base");
my ($ret, $out, $err) =
  $node->psql('postgres', "SELECT pgbak_verify($base, true)", on_error_stop => 1);
isnt($ret, 0, 'a drill of a base backup whose WAL was not archived is refused');
like($err, qr/cannot be drilled: its WAL was not archived/, 'saying why');
$node->safe_psql('postgres', "UPDATE backup_log SET wal_archived = true WHERE id = $base");

# ---------------------------------------------------------------------------
# A base job with verify "restore" drills the base backups it takes.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres',
	q{SELECT pgbak_schedule('base-drilled', NULL, '@daily', '{"kind": "base", "verify": "restore"}')}
);
is( $node->safe_psql('postgres',
		q{SELECT options ->> 'verify' FROM pgbak_job WHERE job_name = 'base-drilled'}),
	'restore',
	'the job keeps its verify option');
$node->safe_psql('postgres',
	q{UPDATE pgbak_job SET next_run_at = now() WHERE job_name = 'base-drilled'});
my $job_base;
ok( poll_until(
		60,
		sub {
			$job_base = $node->safe_psql('postgres',
				q{SELECT max(id) FROM backup_log WHERE job_name = 'base-drilled' AND kind = 'base'});
			$job_base ne '';
		}),
	'the job runs');
is(wait_backup($node, $job_base, 300), 'succeeded', 'its base backup succeeds');
my $job_drill;
ok( poll_until(
		60,
		sub {
			$job_drill = $node->safe_psql('postgres',
				"SELECT id FROM backup_log WHERE kind = 'verify' AND source_id = $job_base");
			$job_drill ne '';
		}),
	'a drill of it is queued');
is( $node->safe_psql('postgres', "SELECT trigger || ' ' || (options ->> 'deep') FROM backup_log WHERE id = $job_drill"),
	'schedule true', 'by the schedule, as a restore drill');
is(wait_backup($node, $job_drill, 300), 'succeeded', 'and it passes');
ok(defined backup_row($node, $job_base)->{recovered_to}, 'recording where it recovered to');

# ---------------------------------------------------------------------------
# pgbak_recover cancelled while its scratch cluster is open: the
# operation ends cancelled, its scratch server is stopped and its
# directories removed, nothing reaches the live database.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', "ALTER SYSTEM SET pgbak.fault_pause = 'recover_open'");
$node->reload;
my $recover = $node->safe_psql('postgres',
	q{SELECT pgbak_recover('appdb', clock_timestamp(), '{"tables": ["accounts"], "into_schema": "back"}')});
my $recover_dir = "$root/.staging/$recover";
ok( poll_until(
		120,
		sub {
			-e "$recover_dir/data/postmaster.pid"
			  && slurp_file("$recover_dir/data/postmaster.pid") =~ /\nready\s*\n?$/;
		}),
	'the recovery has opened its scratch cluster and pauses');
my ($recover_pid, undef, undef, undef, $recover_socket) =
  split /\n/, slurp_file("$recover_dir/data/postmaster.pid");
is($node->safe_psql('postgres', "SELECT pgbak_cancel($recover)"), 't', 'pgbak_cancel stops it');
is(wait_backup($node, $recover, 120), 'cancelled', 'it ends cancelled');
ok(!-e $recover_dir, 'its scratch directory is gone');
ok(!process_alive($recover_pid), 'its scratch postmaster is stopped');
is_deeply([ scratch_processes("$root/.staging") ], [], 'no process of it is left');
ok(!-e $recover_socket, "nor its socket directory ($recover_socket)");
is($node->safe_psql('appdb', q{SELECT count(*) FROM pg_namespace WHERE nspname = 'back'}),
	'0', 'nothing reached the live database');
$node->safe_psql('postgres', "ALTER SYSTEM SET pgbak.fault_pause = ''");
$node->reload;

$node->stop;
done_testing();
