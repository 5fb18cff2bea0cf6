# 032_base_retention.pl: retention of base backups and of the WAL archive.
# A base job's keep rules expire its old sets; a manual base backup goes
# with pgbak.manual_retention; the archived WAL that no kept base backup
# needs is removed, and every segment from the oldest kept base backup's
# first segment on stays (no gap); logical sets are not touched; a base
# backup is never expired while it is the newest.

use strict;
use warnings;

use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakTest;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $root = "$tmp/storage";
make_path($root);

my $node = new_node(
	'retention',
	wal_level => 'replica',
	max_wal_senders => 4,
	archive_mode => 'on',
	archive_library => "'pgbak_ext'",
	'pgbak.wal_storage' => "'local'",
	'pgbak.local_path' => "'$root'",
	autovacuum => 'off');
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my $wal_dir = "$root/$sysid/wal";

$node->safe_psql('postgres', 'CREATE DATABASE appdb');
$node->safe_psql('appdb', 'CREATE TABLE t (id int, note text)');

# write_and_switch($n) writes some rows and switches segments $n times,
# then waits until the last switched segment is archived.
sub write_and_switch
{
	my ($n) = @_;
	my $last;
	for (1 .. $n)
	{
		$node->safe_psql('appdb',
			q{INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 2000) g});
		$last = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
	}
	ok( poll_until(
			120,
			sub {
				$node->safe_psql('postgres', 'SELECT last_archived_wal FROM pg_stat_archiver')
				  ge $last;
			}),
		"segment $last is archived");
	return $last;
}

# archived() is the sorted list of archived segment names (not history or
# backup files) in the WAL storage.
sub archived
{
	my @names;
	for my $path (glob("$wal_dir/*/*.zst"))
	{
		my ($name) = $path =~ m{/([0-9A-F]{24})-[0-9a-f]{64}\.zst$};
		push @names, $name if defined $name;
	}
	return sort @names;
}

# no_gap($first, $last, $what) checks that every segment from $first to
# $last is in the storage and nothing before $first is.
sub no_gap
{
	my ($first, $last, $what) = @_;
	my %have = map { $_ => 1 } archived();
	my @missing = grep { !$have{$_} } wal_segments($first, $last);
	is_deeply(\@missing, [], "$what: every segment from $first to $last is archived");
	my @older = grep { $_ lt $first } keys %have;
	is_deeply(\@older, [], "$what: nothing before $first is left");
}

# run_job($job) makes the job due and returns its new base backup's id once
# the worker (retention and WAL expiry included) has finished.
sub run_job
{
	my ($job) = @_;
	my $before = $node->safe_psql('postgres',
		"SELECT coalesce(max(id), 0) FROM backup_log WHERE job_name = '$job'");
	$node->safe_psql('postgres', "UPDATE pgbak_job SET next_run_at = now() WHERE job_name = '$job'");
	my $id;
	ok( poll_until(
			60,
			sub {
				$id = $node->safe_psql('postgres',
					"SELECT max(id) FROM backup_log WHERE job_name = '$job' AND id > $before");
				$id ne '';
			}),
		"job $job runs");
	is(wait_backup($node, $id, 300), 'succeeded', "its base backup $id succeeds");
	# The worker prunes after the backup is recorded: wait for it to exit.
	ok( poll_until(
			60,
			sub {
				$node->safe_psql('postgres',
					q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgbak worker'})
				  eq '0';
			}),
		'its worker has finished');
	return $id;
}

sub status_of
{
	my ($id) = @_;
	return $node->safe_psql('postgres', "SELECT status FROM backup_log WHERE id = $id");
}

# ---------------------------------------------------------------------------
# Bad retention keys in a base job are refused at the call.
# ---------------------------------------------------------------------------
my ($rc, $out, $err) = $node->psql('postgres',
	"\\set VERBOSITY verbose\n"
	  . q{SELECT pgbak_schedule('bad', NULL, '@daily', '{"kind": "base", "keep_last": 0}')});
like($err, qr/ERROR:  22023: job option "keep_last" must be an integer >= 1/,
	'keep_last 0 in a base job: 22023');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pgbak_job'), '0', 'and no job saved');

# ---------------------------------------------------------------------------
# WAL from before any base backup, a logical set, a manual base backup.
# ---------------------------------------------------------------------------
write_and_switch(2);
my ($logical, $logical_status) = run_backup($node, 'appdb');
is($logical_status, 'succeeded', 'a logical backup of appdb succeeds');
my $logical_row = backup_row($node, $logical);

my $early = (archived())[0];
ok(defined $early, "WAL from before any base backup is archived ($early)");
my $manual = $node->safe_psql('postgres', 'SELECT pgbak_base_backup()');
is(wait_backup($node, $manual, 300), 'succeeded', 'a manual base backup succeeds');
my $manual_row = backup_row($node, $manual);
ok($early lt $manual_row->{wal_first_segment}, 'it starts in a later segment');
# Its worker then removes the WAL from before it: no base backup needs it.
ok(poll_until(60, sub { (archived())[0] eq $manual_row->{wal_first_segment} }),
	'after it, the WAL before its first segment is removed');

# ---------------------------------------------------------------------------
# A base job keeping two: its third run expires its first. The manual base
# backup is still kept, so only the WAL from before it goes.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres',
	q{SELECT pgbak_schedule('base-keep2', NULL, '@daily', '{"kind": "base", "keep_last": 2}')});
is( $node->safe_psql('postgres',
		q{SELECT options ->> 'keep_last' FROM pgbak_job WHERE job_name = 'base-keep2'}),
	'2', 'the job keeps its keep_last');
my @job_ids;
for my $run (1 .. 3)
{
	write_and_switch(2);
	push @job_ids, run_job('base-keep2');
	my $archived_now = write_and_switch(1);
	no_gap($manual_row->{wal_first_segment}, $archived_now, "after run $run");
}
is(status_of($job_ids[0]), 'expired', 'the job\'s first base backup expired');
my $first_row = backup_row($node, $job_ids[0]);
ok(!-e $first_row->{location}, 'its set directory is gone');
is_deeply([ map { status_of($_) } @job_ids[ 1, 2 ] ],
	[ 'succeeded', 'succeeded' ], 'the two newest are kept');
is(status_of($manual), 'succeeded', 'the manual one is not the job\'s to expire');
my $last = write_and_switch(1);
no_gap($manual_row->{wal_first_segment}, $last, 'with the manual base backup kept');

is($node->safe_psql('postgres', 'SELECT count(*) FROM pgbak_prune()'), '0',
	'pgbak_prune has nothing more to do');

# ---------------------------------------------------------------------------
# Manual retention takes the manual base backup; the launcher then trims
# the WAL up to the oldest kept base backup, the job's second.
# ---------------------------------------------------------------------------
my $second_row = backup_row($node, $job_ids[1]);
$node->safe_psql('postgres', q{ALTER SYSTEM SET pgbak.manual_retention = '2s'});
$node->reload;
ok(poll_until(60, sub { status_of($manual) eq 'expired' }),
	'manual retention expires the manual base backup');
ok(!-e $manual_row->{location}, 'its set directory is gone');
ok( poll_until(
			60,
			sub {
				(archived())[0] eq $second_row->{wal_first_segment};
			}),
	'the launcher removes the WAL before the oldest kept base backup');
$last = write_and_switch(1);
no_gap($second_row->{wal_first_segment}, $last, 'with the job\'s second base backup oldest');
like(slurp_file($node->logfile),
	qr/pgbak: removed \d+ archived WAL file\(s\) from storage "local" before segment $second_row->{wal_first_segment}/,
	'the server log says what went');

# The logical set is untouched, though manual retention applies to it: it
# is its database's newest.
is(status_of($logical), 'succeeded', 'the logical backup is still succeeded');
ok(-f "$logical_row->{location}/manifest.json", 'and its set is complete');

# ---------------------------------------------------------------------------
# max_age: pgbak_prune shows the base sets that go (database NULL), and the
# job's next run keeps only its own new backup.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', q{ALTER SYSTEM SET pgbak.manual_retention = 0});
$node->reload;
$node->safe_psql('postgres',
	q{SELECT pgbak_schedule('base-keep2', NULL, '@daily', '{"kind": "base", "max_age": 1}')});
sleep(2);
is( $node->safe_psql('postgres',
		q{SELECT string_agg(id || ' ' || coalesce(database_name, 'NULL') || ' ' || action, ',' ORDER BY id)
		  FROM pgbak_prune()}),
	"$job_ids[1] NULL would delete",
	'pgbak_prune: the older of the job\'s two goes (the job keeps its newest), with no database');
write_and_switch(1);
my $newest = run_job('base-keep2');
is(status_of($newest), 'succeeded', 'the job\'s new base backup is kept');
is_deeply([ map { status_of($_) } @job_ids[ 1, 2 ] ],
	[ 'expired', 'expired' ], 'the older ones went');
my $newest_row = backup_row($node, $newest);
$last = write_and_switch(1);
no_gap($newest_row->{wal_first_segment}, $last, 'with one base backup left');

# The newest base backup of the cluster is kept whatever its rules say: a
# manual one, with manual retention shorter than its age.
my $manual2 = $node->safe_psql('postgres', 'SELECT pgbak_base_backup()');
is(wait_backup($node, $manual2, 300), 'succeeded', 'a second manual base backup succeeds');
$node->safe_psql('postgres', q{ALTER SYSTEM SET pgbak.manual_retention = '1s'});
$node->reload;
sleep(2);
is($node->safe_psql('postgres', "SELECT count(*) FROM pgbak_prune() WHERE id = $manual2"),
	'0', 'manual retention leaves the newest base backup out of its plan');
$node->safe_psql('postgres', 'SELECT count(*) FROM pgbak_prune(false)');
is(status_of($manual2), 'succeeded', 'and pgbak_prune(false) keeps it');
$node->safe_psql('postgres', q{ALTER SYSTEM SET pgbak.manual_retention = 0});
$node->reload;

# ---------------------------------------------------------------------------
# Status: pgbak_wal_status names the base backups, the metrics count them,
# and pgbak_storages counts their bytes.
# ---------------------------------------------------------------------------
my $manual2_row = backup_row($node, $manual2);
is( $node->safe_psql('postgres',
		q{SELECT base_backups || ' ' || newest_base_backup_id || ' '
		  || extract(epoch FROM earliest_recovery_time)::numeric(20,3)
		  FROM pgbak_wal_status}),
	"2 $manual2 "
	  . $node->safe_psql('postgres',
		"SELECT extract(epoch FROM finished_at)::numeric(20,3) FROM backup_log WHERE id = $newest"),
	'pgbak_wal_status: two base backups, the newest, and recovery reaches back to the older\'s end');
my $metrics = $node->safe_psql('postgres', 'SELECT pgbak_metrics()');
like($metrics, qr/^pgbak_base_backups 2$/m, 'pgbak_base_backups counts them');
like($metrics, qr/^pgbak_base_backup_last_success_timestamp_seconds \d+/m,
	'and says when it finished');
my $on_disk = 0;
for my $row ($newest_row, $manual2_row)
{
	my $size = 0;
	$size += -s $_ for grep { !/manifest\.json$/ } glob("$row->{location}/*");
	is($row->{stored_bytes}, $size, "the stored_bytes of $row->{id} are its objects on disk");
	$on_disk += $size;
}
is( $node->safe_psql('postgres', q{SELECT used_bytes || ' ' || set_count FROM pgbak_storages
		WHERE name = 'local'}),
	($on_disk + $logical_row->{stored_bytes} + ($logical_row->{globals_bytes} // 0)) . ' 3',
	'pgbak_storages counts the base sets beside the logical one');

# ---------------------------------------------------------------------------
# pgbak.paused (what a copy restored from a base backup starts with): the
# launcher starts nothing, and once it is off the queued backup runs.
# ---------------------------------------------------------------------------
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', q{ALTER SYSTEM SET pgbak.paused = on});
$node->reload;
ok( poll_until(
		30,
		sub {
			substr(slurp_file($node->logfile), $log_offset)
			  =~ /LOG:  pgbak: paused \(pgbak.paused = on\)/;
		}),
	'the launcher says it is paused');
my $waiting = queue_backup($node, 'appdb');
sleep(3);
is(status_of($waiting), 'queued', 'a backup queued while paused waits');
$node->safe_psql('postgres', q{ALTER SYSTEM SET pgbak.paused = off});
$node->reload;
is(wait_backup($node, $waiting, 120), 'succeeded', 'and runs once pgbak.paused is off');
like(substr(slurp_file($node->logfile), $log_offset), qr/LOG:  pgbak: resumed/, 'which the log says');

$node->stop;
done_testing();
