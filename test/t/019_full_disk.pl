# 019_full_disk.pl: local storages on file systems that fill up.
#
# Needs two small file systems of its own, which only root can mount:
# PGBAK_TEST_SMALL_FS (about 64 MB), the storage that fills up, and
# PGBAK_TEST_DATA_FS (about 256 MB), where a second cluster keeps its data
# directory. scripts/test-all.sh mounts two tmpfs and passes their paths.
# Without them the test is skipped, except under CI=true, where it fails.
#
# 1. A backup that fills its storage (a file:// storage, then
#    pgbak.local_path, on the small file system) fails with SQLSTATE 53100
#    and a message naming the storage and "no space left"; nothing of it is
#    left (no object, no temporary file, no manifest), the space is free
#    again, and the next backup, to a roomier storage, succeeds.
# 2. A restore, and a verify, whose staging copy cannot fit below
#    pgbak.local_path fail the same way before they create anything (no
#    database, no staging file); with room, the restore succeeds and equals
#    the source.
# 3. pgbak.local_path on the data directory's own file system: a backup
#    that could leave less than pgbak.local_reserve free once it has taken
#    the database's size is refused before it writes anything; one whose
#    writes would cross the reserve (someone else filled the disk meanwhile)
#    stops at the reserve; otherwise it succeeds. A storage on another file
#    system is not held to the reserve, and -1 turns the check off.

use strict;
use warnings;

use File::Find ();
use File::Path qw(make_path rmtree);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakTest;

my $MB = 1024 * 1024;

my @missing = grep { !defined $ENV{$_} || !-d $ENV{$_} || !-w $ENV{$_} }
  qw(PGBAK_TEST_SMALL_FS PGBAK_TEST_DATA_FS);
if (@missing)
{
	my $why =
	    'needs small file systems of its own mounted by root (scripts/test-all.sh '
	  . 'mounts two tmpfs): set '
	  . join(' and ', @missing)
	  . ' to writable directories';
	if ($ENV{CI})
	{
		fail("019_full_disk $why");
		done_testing();
		exit;
	}
	plan skip_all => $why;
}

# fs_stat($path) -> (available bytes, size in bytes, device) of the file
# system holding $path, as the stock stat(1) reports them.
sub fs_stat
{
	my ($path) = @_;
	my $out = `stat -f -c '%a %b %S' -- '$path'`;
	die "stat -f $path failed" unless $out =~ /^(\d+) (\d+) (\d+)/;
	my @st = stat($path) or die "stat $path: $!";
	return ($1 * $3, $2 * $3, $st[0]);
}

sub fs_avail { return (fs_stat(@_))[0]; }

# files_below($dir) lists every regular file below $dir, hidden ones too.
sub files_below
{
	my ($dir) = @_;
	my @files;
	return @files unless -d $dir;
	File::Find::find({ wanted => sub { push @files, $File::Find::name if -f $_ }, no_chdir => 1 },
		$dir);
	return sort @files;
}

# reload_with($node, %settings): ALTER SYSTEM SET each setting (undef:
# RESET), reload, and wait until a new session sees the values, so that the
# next worker the postmaster starts has them too.
sub reload_with
{
	my ($node, %settings) = @_;
	for my $name (sort keys %settings)
	{
		my $value = $settings{$name};
		$node->safe_psql('postgres',
			defined $value
			? "ALTER SYSTEM SET $name = " . quote_literal($value)
			: "ALTER SYSTEM RESET $name");
	}
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	for my $name (sort keys %settings)
	{
		my $want = $settings{$name};
		next unless defined $want;
		ok( poll_until(
				30,
				sub {
					my $now = $node->safe_psql('postgres', "SHOW $name");
					return lc($now) eq lc($want);
				}),
			"$name = $want is in effect");
	}
}

my ($small_avail, $small_size, $small_dev) = fs_stat($ENV{PGBAK_TEST_SMALL_FS});
my ($data_avail, $data_size, $data_dev) = fs_stat($ENV{PGBAK_TEST_DATA_FS});
my $tmp_dev = (stat($PostgreSQL::Test::Utils::tmp_check))[0];
ok($small_dev != $tmp_dev && $data_dev != $tmp_dev && $small_dev != $data_dev,
	'the two small file systems are file systems of their own');
cmp_ok($small_size, '<=', 256 * $MB, 'PGBAK_TEST_SMALL_FS is small (at most 256 MB)');
cmp_ok($data_size, '>=', 192 * $MB, 'PGBAK_TEST_DATA_FS holds a cluster (at least 192 MB)');
cmp_ok($data_size, '<=', 1024 * $MB, 'PGBAK_TEST_DATA_FS is small (at most 1 GB)');

my $small = "$ENV{PGBAK_TEST_SMALL_FS}/019";
my $datafs = "$ENV{PGBAK_TEST_DATA_FS}/019";
rmtree([ $small, $datafs ]);
make_path($small, $datafs);
my $tmp = PostgreSQL::Test::Utils::tempdir();

###########################################################################
# 1. A backup that fills its storage.
###########################################################################

my $node = new_node('full');
$small_avail = fs_avail($small);
# Random bytes do not compress: the backup needs more than the small file
# system holds.
my $rows = int(($small_avail + 16 * $MB) / $MB) + 1;
$node->safe_psql('postgres', 'CREATE DATABASE big');
$node->safe_psql('big',
	'CREATE TABLE blobs AS SELECT g AS id, (SELECT decode(string_agg(md5(random()::text || g || i), '
	  . "''), 'hex') FROM generate_series(1, 65536) i) AS b FROM generate_series(1, $rows) g");
$node->safe_psql('big', 'CREATE TABLE small_table AS SELECT g FROM generate_series(1, 1000) g');
my $big_print_sql =
  q{SELECT count(*) || ':' || md5(string_agg(md5(b), '' ORDER BY id)) FROM blobs};
my $big_print = $node->safe_psql('big', $big_print_sql);
note("database big: $rows MB of random bytes; the small file system has "
	  . int($small_avail / $MB)
	  . ' MB free');

storage_add($node, 'small', "file://$small/sets");
storage_add($node, 'roomy', "file://$tmp/roomy");

# check_failed_for_space($row, $storage, $purpose, $what): the common
# promises of an operation a full disk failed.
sub check_failed_for_space
{
	my ($row, $storage, $purpose, $what) = @_;
	is($row->{status}, 'failed', "$what: the row is failed");
	is($row->{error_sqlstate}, '53100', "$what: SQLSTATE 53100 (disk_full) in backup_log");
	like(
		$row->{error_message},
		qr/^no space left in storage "\Q$storage\E" \Q$purpose\E/,
		"$what: the message names storage \"$storage\" and says no space is left")
	  or diag explain $row;
	ok(defined $row->{error_hint} && $row->{error_hint} ne '', "$what: a hint says what to do")
	  or diag explain $row;
}

my $before = fs_avail($small);
my $full_id = $node->safe_psql('postgres', q{SELECT pgbak_run('big', 'small')});
is(wait_backup($node, $full_id, 300), 'failed', 'a backup that fills its storage fails');
my $row = backup_row($node, $full_id);
check_failed_for_space($row, 'small', "for backup $full_id", 'backup to a full file:// storage');
like($row->{error_detail}, qr/No space left on device/,
	'the detail has the system\'s own words for it');
is_deeply([ files_below($small) ], [], 'no object, temporary file or manifest is left');
is(set_leftovers($row->{location}), '', 'the set directory is gone');
cmp_ok(fs_avail($small), '>=', $before - $MB, 'the space is free again');

my $roomy_id = $node->safe_psql('postgres', q{SELECT pgbak_run('big', 'roomy')});
is(wait_backup($node, $roomy_id, 300), 'succeeded', 'the next backup, to a roomier storage, succeeds');
my $roomy_row = backup_row($node, $roomy_id);
ok(-f "$roomy_row->{location}/manifest.json", 'and it has its manifest');

# The same with pgbak.local_path on the small file system.
reload_with($node, 'pgbak.local_path' => "$small/local");
$before = fs_avail($small);
my ($local_id, $local_status) = run_backup($node, 'big', '{}', 300);
$row = backup_row($node, $local_id);
check_failed_for_space($row, 'local', "for backup $local_id", 'backup to a full pgbak.local_path');
like($row->{error_hint}, qr/pgbak\.local_path/, 'the hint points at pgbak.local_path');
is_deeply([ files_below($small) ], [], 'nothing of it is left');
cmp_ok(fs_avail($small), '>=', $before - $MB, 'the space is free again');

###########################################################################
# 2. A restore whose staging copy cannot fit below pgbak.local_path.
###########################################################################

$before = fs_avail($small);
my $restore_id =
  $node->safe_psql('postgres', "SELECT pgbak_restore($roomy_id, 'big_copy')");
is(wait_backup($node, $restore_id, 300), 'failed', 'a restore staging on the full file system fails');
$row = backup_row($node, $restore_id);
check_failed_for_space($row, 'local', "to stage backup $roomy_id",
	'restore with staging on a full file system');
like($row->{error_message}, qr/\d+ bytes \([^)]*\) needed, \d+ bytes \([^)]*\) available/,
	'it says how much it needed and found, before writing any');
is($row->{scratch_database}, undef, 'it failed before it created a database');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_database WHERE datname IN ('big_copy')
		  OR datname LIKE 'pgbak_restore_%'}),
	'0',
	'no target or half-built database exists');
is_deeply([ files_below($small) ], [], 'no staging file is left');
cmp_ok(fs_avail($small), '>=', $before - $MB, 'the space is free again');

my $verify_id = $node->safe_psql('postgres', "SELECT pgbak_verify($roomy_id)");
is(wait_backup($node, $verify_id, 300), 'failed', 'a verify staging on the full file system fails');
$row = backup_row($node, $verify_id);
check_failed_for_space($row, 'local', "to stage backup $roomy_id",
	'verify with staging on a full file system');
is(backup_row($node, $roomy_id)->{verify_status},
	undef, 'a full staging disk says nothing about the backup: its verify_status is untouched');

reload_with($node, 'pgbak.local_path' => "$tmp/local");
$restore_id = $node->safe_psql('postgres', "SELECT pgbak_restore($roomy_id, 'big_copy')");
is(wait_backup($node, $restore_id, 300), 'succeeded', 'with room to stage, the restore succeeds');
is($node->safe_psql('big_copy', $big_print_sql), $big_print, 'and equals the source');
is_deeply([ files_below("$tmp/local/.staging") ], [], 'its staging copy is gone');
$node->stop;

###########################################################################
# 3. pgbak.local_path on the data directory's own file system.
###########################################################################

# The node's data directory, and beside it the default pgbak.local_path
# (pgbak_backups), are on the small data file system.
my $pgdisk;
{
	local $PostgreSQL::Test::Utils::tmp_check = $datafs;
	$pgdisk = PostgreSQL::Test::Cluster->new('pgdisk');
}
$pgdisk->init(extra => [ '--encoding=UTF8', '--locale=C', '--wal-segsize=1' ]);
$pgdisk->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'pgbak_ext'
pgbak.database = 'postgres'
max_worker_processes = 16
pgbak.zstd_threads = 1
min_wal_size = 2MB
max_wal_size = 16MB
});
$pgdisk->start;
$pgdisk->safe_psql('postgres', 'CREATE EXTENSION pgbak_ext');
my $backups = $pgdisk->basedir . '/pgbak_backups';
is((stat($pgdisk->data_dir))[0], $data_dev, 'the data directory is on the data file system');

$pgdisk->safe_psql('postgres', 'CREATE DATABASE mid');
$pgdisk->safe_psql('mid',
	'CREATE TABLE blobs AS SELECT g AS id, (SELECT decode(string_agg(md5(random()::text || g || i), '
	  . "''), 'hex') FROM generate_series(1, 65536) i) AS b FROM generate_series(1, 40) g");
$pgdisk->safe_psql('postgres', 'CHECKPOINT');
my $free = fs_avail($datafs);
my $db_size = $pgdisk->safe_psql('postgres', q{SELECT pg_database_size('mid')});
note(sprintf('data file system: %d MB free, database mid is %d MB', $free / $MB, $db_size / $MB));
cmp_ok($db_size, '>', 32 * $MB, 'the database is larger than the margins below');

# A reserve the file system keeps now, but not once the database's size is
# taken from it: refused, before anything is written.
my $refusing_mb = int(($free - $db_size) / $MB) + 16;
cmp_ok($refusing_mb * $MB, '<', $free - 8 * $MB, 'that reserve alone would fit');
reload_with($pgdisk, 'pgbak.local_reserve' => "${refusing_mb}MB");
my ($refused_id, $refused_status) = run_backup($pgdisk, 'mid', '{}', 120);
is($refused_status, 'failed', 'a backup that could eat into pgbak.local_reserve is refused');
$row = backup_row($pgdisk, $refused_id);
is($row->{error_sqlstate}, '53100', 'with SQLSTATE 53100 in backup_log');
like(
	$row->{error_message},
	qr/^not enough free space on the file system of the data directory for backup $refused_id of database "mid" in storage "local"/,
	'the message names the data directory\'s file system, the database and the storage');
like($row->{error_detail}, qr/the database is \d+ bytes .*pgbak\.local_reserve keeps/,
	'the detail gives the free space, the database size and the reserve');
like($row->{error_hint}, qr/lower pgbak\.local_reserve/, 'the hint names the setting');
is($row->{location}, undef, 'no set was started');
is_deeply([ files_below($backups) ], [], 'nothing was written');

# A reserve that the estimate leaves, but the disk fills up meanwhile (a
# ballast file written while the dump runs): the writes stop at the reserve.
my $floor_mb = int(($free - $db_size) / $MB) - 24;
cmp_ok($floor_mb, '>=', 8, 'room for a reserve the estimate leaves');
reload_with($pgdisk, 'pgbak.local_reserve' => "${floor_mb}MB");
# zstd level 12 with one thread: slow enough that the ballast is written
# long before the backup could be done.
my $floor_id = queue_backup($pgdisk, 'mid', '{"zstd_level": 12}');
ok( poll_until(
		60,
		sub {
			$pgdisk->safe_psql('postgres',
				"SELECT bytes_read > 0 FROM backup_progress WHERE id = $floor_id") eq 't';
		}),
	'the backup is past its free space check and dumping');
my $ballast = "$datafs/ballast";
my $ballast_bytes = fs_avail($datafs) - ($floor_mb + 8) * $MB;
{
	open(my $fh, '>', $ballast) or die "$ballast: $!";
	my $chunk = 'x' x $MB;
	for (my $written = 0; $written < $ballast_bytes; $written += $MB)
	{
		print $fh $chunk or die "writing $ballast: $!";
	}
	close($fh) or die "closing $ballast: $!";
}
is(wait_backup($pgdisk, $floor_id, 300), 'failed',
	'a backup whose writes would cross pgbak.local_reserve fails');
$row = backup_row($pgdisk, $floor_id);
check_failed_for_space($row, 'local', "for backup $floor_id",
	'backup stopped at pgbak.local_reserve');
like($row->{error_detail}, qr/would leave less than .*pgbak\.local_reserve keeps/,
	'the detail says the reserve stopped it');
cmp_ok(fs_avail($datafs), '>=', $floor_mb * $MB, 'the file system still has its reserve');
is(set_leftovers($row->{location}), '', 'the set directory is gone');
is_deeply([ files_below($backups) ], [], 'no object or temporary file is left');
unlink($ballast) or die "$ballast: $!";
is($pgdisk->safe_psql('mid', 'SELECT count(*) FROM blobs'), '40', 'PostgreSQL carries on');

my ($fits_id, $fits_status) = run_backup($pgdisk, 'mid', '{}', 300);
is($fits_status, 'succeeded', 'a backup that leaves the reserve free succeeds');
ok(-f backup_row($pgdisk, $fits_id)->{location} . '/manifest.json', 'with its manifest');

# The reserve concerns PostgreSQL's file systems only.
reload_with($pgdisk, 'pgbak.local_reserve' => '100GB');
storage_add($pgdisk, 'elsewhere', "file://$small/elsewhere");
my $elsewhere_id = $pgdisk->safe_psql('postgres', q{SELECT pgbak_run('mid', 'elsewhere')});
is(wait_backup($pgdisk, $elsewhere_id, 300),
	'succeeded', 'a storage on another file system is not held to pgbak.local_reserve');
my ($huge_id, $huge_status) = run_backup($pgdisk, 'mid', '{}', 120);
is($huge_status, 'failed', 'while the same reserve refuses the data directory\'s');
reload_with($pgdisk, 'pgbak.local_reserve' => '-1');
my ($off_id, $off_status) = run_backup($pgdisk, 'mid', '{}', 300);
is($off_status, 'succeeded', '-1 turns the check off');

$pgdisk->stop;
rmtree([ $small, $datafs ]);

done_testing();
