# 021_manual_retention.pl: manual backups age out, and storages say what
# they hold.
#
# pgbak.manual_retention (7 days here) and a storage's manual_retention
# option ("off" on one storage, "1 day" on another, both winning over the
# setting) make the launcher expire old manual backups through the same
# 'expiring' -> 'expired' path as jobs' retention: their objects leave the
# disk and their rows end 'expired'. It never takes the newest succeeded
# backup of a database, even an old one, and a database dropped and created
# again under its name is another database whose newest backup stays too; a
# set that a running verify reads stays until the verify has ended.
# pgbak_prune(true) lists exactly what would go, and changes nothing.
# pgbak_storages.used_bytes and set_count agree with the files on disk before
# and after, and pgbak_metrics() shows them per storage.
#
# Ages are made by moving finished_at back: nothing here sleeps for days.

use strict;
use warnings;

use File::Find ();
use IPC::Run ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakTest;

my $node = new_node('manual');
my $tmp = PostgreSQL::Test::Utils::tempdir();

for my $db (qw(ma mb mc md))
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, 'CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g');
}
for my $storage (['keep', '"off"'], ['short', '"1 day"'])
{
	my ($name, $retention) = @$storage;
	mkdir "$tmp/$name";
	$node->safe_psql('postgres',
		    "SELECT pgbak_storage_add('$name', "
		  . quote_literal("file://$tmp/$name")
		  . ", '{\"manual_retention\": $retention}')");
}

# backup($db, $storage) runs a manual backup and returns its id.
sub backup
{
	my ($db, $storage) = @_;
	my $id = $node->safe_psql('postgres', "SELECT pgbak_run('$db', '$storage')");
	is(wait_backup($node, $id), 'succeeded', "backup $id of $db to $storage succeeds");
	return $id;
}

my %id;
$id{a1} = backup('ma', 'local');
$id{a2} = backup('ma', 'local');
$id{a3} = backup('ma', 'local');
$id{b1} = backup('mb', 'local');
$id{b2} = backup('mb', 'keep');
$id{b3} = backup('mb', 'keep');
$id{b4} = backup('mb', 'short');
$id{b5} = backup('mb', 'local');
$id{c1} = backup('mc', 'local');
$id{c2} = backup('mc', 'local');
# mc is dropped and created again: its old backups are another database's.
$node->safe_psql('postgres', 'DROP DATABASE mc');
$node->safe_psql('postgres', 'CREATE DATABASE mc');
$id{c3} = backup('mc', 'local');
$id{d1} = backup('md', 'local');
$id{d2} = backup('md', 'local');

# Age in days of each set once moved back; the others are fresh.
my %age = (a1 => 10, a2 => 9, a3 => 8, b1 => 10, b2 => 30, b3 => 20, b4 => 2,
	c1 => 10, c2 => 9, d1 => 10);
# What manual retention removes, and why each other old set stays.
my @goes = qw(a1 a2 b1 b4 c1);
my %stays = (
	a3 => 'the newest backup of ma, though 8 days old',
	b2 => 'in a storage whose manual_retention is off',
	b3 => 'in a storage whose manual_retention is off',
	c2 => 'the newest backup of the dropped mc',
	d1 => 'read by a running verify',
	(map { $_ => 'fresh' } qw(b5 c3 d2)));

$node->safe_psql('postgres',
	"ALTER SYSTEM SET pgbak.manual_retention = '7d'; SELECT pg_reload_conf()");
ok(poll_until(30, sub { $node->safe_psql('postgres', 'SHOW pgbak.manual_retention') eq '7d' }),
	'pgbak.manual_retention is 7 days');

# A verify of d1 that stays running (pgbak.fault_pause) while retention runs.
$node->safe_psql('postgres',
	"ALTER SYSTEM SET pgbak.fault_pause = 'verify_start'; SELECT pg_reload_conf()");
ok(poll_until(30, sub { $node->safe_psql('postgres', 'SHOW pgbak.fault_pause') eq 'verify_start' }),
	'verifies pause at their start');
my $verify = $node->safe_psql('postgres', "SELECT pgbak_verify($id{d1})");
ok(poll_until(60, sub { slurp_file($node->logfile) =~ /operation $verify pauses at verify_start/ }),
	'the verify of d1 is running');

# finished_at and status of every set, and the storage usage.
sub statuses
{
	my $ids = join(',', values %id);
	my %status = map { split /\|/ } split /\n/,
	  $node->safe_psql('postgres', "SELECT id, status FROM backup_log WHERE id IN ($ids)");
	return { map { $_ => $status{ $id{$_} } } keys %id };
}

# on_disk($dir) is [bytes of data and globals objects, sets with a
# manifest] below a storage directory.
sub on_disk
{
	my ($dir) = @_;
	my ($bytes, $sets) = (0, 0);
	File::Find::find(
		sub {
			return unless -f $_;
			$sets++ if $_ eq 'manifest.json';
			$bytes += -s $_ if /^(data|globals)\./;
		},
		$dir);
	return [ $bytes, $sets ];
}

# usage() is {storage => [used_bytes, set_count]} from pgbak_storages.
sub usage
{
	my %usage;
	for my $line (split /\n/,
		$node->safe_psql('postgres', 'SELECT name, used_bytes, set_count FROM pgbak_storages'))
	{
		my ($name, $bytes, $count) = split /\|/, $line;
		$usage{$name} = [ $bytes, $count ];
	}
	return \%usage;
}

my %dir = (
	local => $node->safe_psql('postgres', "SELECT url FROM pgbak_storages WHERE name = 'local'"),
	keep => "$tmp/keep",
	short => "$tmp/short");

my $before = usage();
for my $storage (sort keys %dir)
{
	is_deeply($before->{$storage}, on_disk($dir{$storage}),
		"before pruning, used_bytes and set_count of $storage are what is on disk");
}
is($before->{local}[1], 10, 'local holds 10 sets');

# Aged and listed by the dry run in one transaction: the launcher cannot
# act on the new ages before the list is taken.
my $ages = join(' ', map { "WHEN $id{$_} THEN $age{$_}" } sort keys %age);
my $dry = $node->safe_psql(
	'postgres', qq{
BEGIN;
UPDATE backup_log SET finished_at = finished_at - make_interval(days => CASE id $ages END)
  WHERE id IN (@{[ join(',', map { $id{$_} } sort keys %age) ]});
SELECT id, coalesce(job_name, '<null>'), action, reason FROM pgbak_prune(true) ORDER BY id;
SELECT count(*) FROM backup_log WHERE kind = 'backup' AND status <> 'succeeded';
COMMIT;
});
my @dry = split /\n/, $dry;
my $not_succeeded = pop @dry;
is($not_succeeded, '0', 'the dry run changes no row');
my %listed = map { my @f = split /\|/; $f[0] => [ @f[ 1 .. 3 ] ] } @dry;
my %name_of = reverse %id;
is_deeply([ sort map { $name_of{$_} // "unknown id $_" } keys %listed ],
	[ sort @goes ], 'pgbak_prune(true) lists exactly the manual sets that go');
is_deeply([ map { $_->[0] } values %listed ], [ ('<null>') x @goes ],
	'with no job name');
is_deeply([ map { $_->[1] } values %listed ], [ ('would delete') x @goes ], 'as would delete');
like($listed{ $id{a1} }[2], qr/^deleted: manual backup older than pgbak\.manual_retention \(1 week\)$/,
	'the setting is the reason for a set in local');
like($listed{ $id{b4} }[2],
	qr/^deleted: manual backup older than the manual_retention of storage "short" \(1 day\)$/,
	'a storage\'s own retention is the reason for a set in it');
for my $set (@goes)
{
	ok(-f backup_row($node, $id{$set})->{location} . '/manifest.json',
		"after the dry run, $set is still on disk");
}

# A reload makes the launcher apply manual retention at once.
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
my $goes_ids = join(',', map { $id{$_} } @goes);
ok( poll_until(
		60,
		sub {
			$node->safe_psql('postgres',
				"SELECT count(*) FROM backup_log WHERE id IN ($goes_ids) AND status = 'expired'")
			  == @goes;
		}),
	'the launcher expires the old manual sets');
my $status = statuses();
for my $set (@goes)
{
	is($status->{$set}, 'expired', "$set is expired");
	is(set_leftovers(backup_row($node, $id{$set})->{location}), '', "and its objects are gone");
}
for my $set (sort keys %stays)
{
	is($status->{$set}, 'succeeded', "$set stays: $stays{$set}");
	my @files = backup_files(backup_row($node, $id{$set})->{location});
	ok(grep({ $_ eq 'manifest.json' } @files) && grep({ /^data\./ } @files),
		"and its set is whole");
}
like(slurp_file($node->logfile), qr/manual backup $id{a1} of database "ma" is expiring/,
	'the server log says which manual backup goes');

my $after = usage();
for my $storage (sort keys %dir)
{
	is_deeply($after->{$storage}, on_disk($dir{$storage}),
		"after pruning, used_bytes and set_count of $storage are what is on disk");
}
is($after->{local}[1], $before->{local}[1] - 4, 'local holds 4 sets fewer');
cmp_ok($after->{local}[0], '<', $before->{local}[0], 'and fewer bytes');
is_deeply($after->{keep}, $before->{keep}, 'keep holds what it held');
is_deeply($after->{short}, [ 0, 0 ], 'short holds nothing');

my $metrics = $node->safe_psql('postgres', 'SELECT pgbak_metrics()');
like($metrics, qr/^# TYPE pgbak_storage_used_bytes gauge$/m, 'pgbak_storage_used_bytes is a gauge');
like($metrics, qr/^# TYPE pgbak_storage_sets gauge$/m, 'pgbak_storage_sets is a gauge');
for my $storage (sort keys %dir)
{
	like($metrics,
		qr/^pgbak_storage_used_bytes\{storage="$storage"\} $after->{$storage}[0]$/m,
		"the metric has the bytes of $storage");
	like($metrics, qr/^pgbak_storage_sets\{storage="$storage"\} $after->{$storage}[1]$/m,
		"and its sets");
}
my ($out, $err) = ('', '');
ok(IPC::Run::run([ '/usr/bin/promtool', 'check', 'metrics' ], '<', \$metrics, '>', \$out, '2>', \$err),
	'promtool check metrics accepts them') or diag "$out\n$err";

# Once the verify has ended, d1 goes too (md has a newer backup).
$node->safe_psql('postgres', "SELECT pgbak_cancel($verify)");
like(wait_backup($node, $verify), qr/^(cancelled|failed)$/, 'the verify ends');
$node->safe_psql('postgres',
	"ALTER SYSTEM RESET pgbak.fault_pause; SELECT pg_reload_conf()");
is(wait_for_status($node, $id{d1}, qr/^expired$/, 60), 'expired',
	'd1 expires once no operation reads it');

# The old newest backup of ma goes once a newer one exists.
my $a4 = backup('ma', 'local');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
is(wait_for_status($node, $id{a3}, qr/^expired$/, 60), 'expired',
	'a3 expires once ma has a newer backup');
is(set_leftovers(backup_row($node, $id{a3})->{location}), '', 'its objects are gone');
is(backup_row($node, $a4)->{status}, 'succeeded', 'the newer one stays');

$node->stop;
done_testing();
