# 031_readme_pitr.pl: the README's point-in-time recovery with stock tools
# ("### By hand with stock tools" under "## Point-in-time recovery"), run
# as it is written there: a cluster with a tablespace archives its WAL
# with archive_library = 'pgbak_ext' into a local storage that also holds
# its base backup; pgbench writes, the tables are noted with the time, then
# a table is dropped. The block picks the base backup, checks and unpacks
# it with zstd and tar, and writes the restore_command and the target; the
# recovered cluster holds exactly the noted tables. The block's
# restore_command keeps PostgreSQL's rule: 1 for a file the archive lacks,
# 255 for a damaged one.

use strict;
use warnings;

use File::Path qw(make_path);
use IPC::Run ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakTest;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $store = "$tmp/store";
make_path($store);

my $node = new_node(
	'readme_pitr_source',
	wal_level => 'replica',
	max_wal_senders => 2,
	archive_mode => 'on',
	archive_library => "'pgbak_ext'",
	'pgbak.wal_storage' => "'walstore'",
	autovacuum => 'off');
$node->safe_psql('postgres', "SELECT pgbak_storage_add('walstore', 'file://$store')");
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
make_path("$tmp/ts_source");
$node->safe_psql('postgres', "CREATE TABLESPACE far LOCATION '$tmp/ts_source'");
my $ts_oid = $node->safe_psql('postgres', "SELECT oid FROM pg_tablespace WHERE spcname = 'far'");
$node->safe_psql('postgres', 'CREATE DATABASE bench');
$node->command_ok([ 'pgbench', '-i', '-q', '-s', '1', '-h', $node->host, '-p', $node->port, 'bench' ],
	'pgbench -i');
$node->safe_psql('bench', q{
  CREATE TABLE far_rows (id int, note text) TABLESPACE far;
  INSERT INTO far_rows SELECT g, 'far ' || g FROM generate_series(1, 3000) g;
});

my $base_id = $node->safe_psql('postgres', "SELECT pgbak_base_backup('walstore')");
is(wait_backup($node, $base_id, 300), 'succeeded', 'a base backup to the WAL storage succeeds');
$node->command_ok(
	[ 'pgbench', '-n', '-t', '200', '-c', '2', '-h', $node->host, '-p', $node->port, 'bench' ],
	'pgbench traffic after the base backup');
my $noted = table_fingerprints($node, 'bench');
my $target = $node->safe_psql('postgres',
	q{SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'});
$node->safe_psql('bench', 'DROP TABLE pgbench_accounts');
$node->safe_psql('bench', q{INSERT INTO far_rows SELECT g, 'later' FROM generate_series(1, 100) g});
my $segment = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
ok( poll_until(
		120,
		sub {
			$node->safe_psql('postgres', 'SELECT last_archived_wal FROM pg_stat_archiver') ge $segment;
		}),
	"the archive holds $segment, after the drop");
$node->stop;

# The README's block, as it is written there.
my ($block, $first_line) = readme_block('### By hand with stock tools');
ok(defined $block, 'the README shows point-in-time recovery with stock tools');
my $script = "$tmp/pitr_by_hand.sh";
open(my $sfh, '>', $script) or die $!;
print $sfh $block;
close($sfh);
my $recovered = PostgreSQL::Test::Cluster->new('readme_pitr_recovered');
my $new = $recovered->data_dir;
my $ts = $recovered->basedir . '/tablespaces';
my ($ok, $out, $err, $failure) = run_readme_block($script, $first_line,
	{ STORE => $store, SYSID => $sysid, TARGET => $target, NEW => $new, TS => $ts }, 300);
ok($ok, 'the README block picks, checks and unpacks the base backup and writes the recovery settings')
  or diag("$failure\n$out\n$err");
is(slurp_file("$new/tablespace_map"), "$ts_oid $ts/$ts_oid\n", 'tablespace_map names the new place');
ok(-f "$new/recovery.signal", 'recovery.signal is there');
like(slurp_file("$new/postgresql.auto.conf"), qr/^pgbak\.paused = on$/m,
	'the copy\'s launcher is paused');

$recovered->append_conf('postgresql.conf', "port = " . $recovered->port . "\narchive_mode = off\n");
$recovered->start;
ok( poll_until(120, sub { $recovered->safe_psql('postgres', 'SELECT NOT pg_is_in_recovery()') eq 't' }),
	'the recovered cluster replays the archive up to the target and opens');
is_deeply(table_fingerprints($recovered, 'bench'), $noted,
	'it holds exactly the tables of the target time (pgbench_accounts too)');
is($recovered->safe_psql('postgres', "SELECT pg_tablespace_location($ts_oid)"),
	"$ts/$ts_oid", 'its tablespace is the restored one');
$recovered->stop;

# The block's restore_command, as PostgreSQL runs it (sh -c, %f and %p
# replaced, in the data directory).
my ($line) = grep { /^restore_command = / } split /\n/, slurp_file("$new/postgresql.auto.conf");
my ($command) = $line =~ /^restore_command = '(.*)'$/;
ok(defined $command && $command !~ /''/, 'the restore_command is one quoted value');

# restore($file): runs it for $file into pg_wal/RECOVERYXLOG; its exit code.
sub restore
{
	my ($file) = @_;
	(my $run = $command) =~ s/%f/$file/g;
	$run =~ s/%p/pg_wal\/RECOVERYXLOG/g;
	my ($o, $e) = ('', '');
	IPC::Run::run([ 'sh', '-c', "cd '$new' && $run" ], '>', \$o, '2>', \$e);
	return $? >> 8;
}
is(restore('0000000100000000000000FE'), 1, 'a file the archive lacks: exit 1 (the end of the archive)');
ok(!-e "$new/pg_wal/RECOVERYXLOG", 'and no file');
my ($object) = glob("$store/$sysid/wal/*/$segment-*.zst");
is(restore($segment), 0, 'an archived segment: exit 0');
is(sha256_of_file("$new/pg_wal/RECOVERYXLOG"), ($object =~ /-([0-9a-f]{64})\.zst$/)[0],
	'restored with the content its key names');
unlink "$new/pg_wal/RECOVERYXLOG";
# Another archived object under this name's key: valid zstd, other content.
my ($other) = grep { !/\/\Q$segment\E-/ } glob("$store/$sysid/wal/*/*.zst");
IPC::Run::run([ 'cp', $other, $object ]) or die 'cp failed';
is(restore($segment), 255, 'an object whose content is not the one its key names: exit 255');
ok(!-e "$new/pg_wal/RECOVERYXLOG" && !-e "$new/pg_wal/RECOVERYXLOG.tmp",
	'and no file under the name PostgreSQL asked for, nor a temporary one');

done_testing();
