# 005_verify_restore.pl: pgbak_verify (shallow and deep) and pgbak_restore
# (whole database, one table, clean, parallel jobs), checked against the
# source with table fingerprints; verification of damaged sets fails with a
# precise reason; a failing restore drill still drops its scratch database;
# bad calls are refused with their SQLSTATE before anything is queued.
#
# This file is saved as UTF-8 without "use utf8": text with non-ASCII
# letters is byte strings here, as psql sends and returns them.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Find ();
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakTest;

# Every psql of this test (the helpers' too) gives up after 100 s, so that a
# hang (say a DROP DATABASE that waits forever) ends the test with a message
# instead of blocking it.
{
	no warnings 'redefine';
	my $psql = \&PostgreSQL::Test::Cluster::psql;
	*PostgreSQL::Test::Cluster::psql = sub {
		my ($self, $db, $sql, %params) = @_;
		$params{timeout} = 100 unless defined $params{timeout};
		return $psql->($self, $db, $sql, %params);
	};
}

my $node = new_node('verify');
my $root = dirname($node->data_dir) . '/pgbak_backups';

# ---------------------------------------------------------------------------
# Helpers.
# ---------------------------------------------------------------------------

# op_call($sql) runs a SELECT returning an operation id; returns the id, or
# undef (with a diag) if the call raised an error.
sub op_call
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql, on_error_stop => 1);
	if ($ret != 0 || $out !~ /^\d+$/)
	{
		diag "call failed: $sql\n$err";
		return undef;
	}
	return $out;
}

# wait_op($id) waits for an operation; 'no operation' if there is none.
sub wait_op
{
	my ($id) = @_;
	return 'no operation' unless defined $id;
	return $node->safe_psql('postgres', "SELECT pgbak_wait($id, 60)");
}

# run_verify($backup_id, $deep) -> ($verify_id, $status)
sub run_verify
{
	my ($backup_id, $deep) = @_;
	my $id = op_call("SELECT pgbak_verify($backup_id" . ($deep ? ', true' : '') . ')');
	return ($id, wait_op($id));
}

# run_restore($backup_id, $target, $options_json) -> ($restore_id, $status)
sub run_restore
{
	my ($backup_id, $target, $options) = @_;
	my $sql = "SELECT pgbak_restore($backup_id, " . quote_literal($target);
	$sql .= ', ' . quote_literal($options) . '::jsonb' if defined $options;
	my $id = op_call("$sql)");
	return ($id, wait_op($id));
}

# row_or_empty($id): backup_row, or an empty hash for an undefined id.
sub row_or_empty
{
	my ($id) = @_;
	return {} unless defined $id;
	return backup_row($node, $id) // {};
}

# op_story($id): the error of an operation, for diag.
sub op_story
{
	my ($id) = @_;
	my $r = row_or_empty($id);
	return 'operation ' . ($id // 'undef') . ': '
	  . ($r->{status} // '?') . ': '
	  . ($r->{error_message} // '') . ' / '
	  . ($r->{error_detail} // '');
}

# prints($db): table_fingerprints, or { error => ... } if the database
# cannot be read (so that one failure does not end the test).
sub prints
{
	my ($db) = @_;
	my $p = eval { table_fingerprints($node, $db) };
	return $p // { error => "cannot read $db: $@" };
}

# scratch_databases lists the databases a restore drill may leave behind.
sub scratch_databases
{
	return $node->safe_psql('postgres',
		q{SELECT coalesce(string_agg(datname, ', ' ORDER BY datname), '')
		  FROM pg_database WHERE datname LIKE 'pgbak\_verify\_%'});
}

# sqlstate_of($call) runs "PERFORM $call" in a DO block and returns
# (SQLSTATE, message) of the error it raises, or ('none', ...) if it raised
# none; the block then rolls back, so nothing stays queued either way.
sub sqlstate_of
{
	my ($call) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', qq{
DO \$sqlstate\$
BEGIN
  BEGIN
    PERFORM $call;
  EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'sqlstate=% message=%', SQLSTATE, SQLERRM;
    RETURN;
  END;
  RAISE EXCEPTION 'the call raised no error';
END
\$sqlstate\$}, on_error_stop => 0);
	return ($1, $2) if $err =~ /sqlstate=(\w{5}) message=(.*)/;
	return ('none', $err);
}

sub check_sqlstate
{
	my ($call, $want, $what) = @_;
	my ($state, $message) = sqlstate_of($call);
	is($state, $want, "$what: SQLSTATE $want") or diag "$call: $message";
}

# flip_byte($path) xors the byte in the middle of a file with 0xFF.
sub flip_byte
{
	my ($path) = @_;
	my $pos = int((-s $path) / 2);
	open(my $fh, '+<:raw', $path) or die "open $path: $!";
	seek($fh, $pos, 0) or die "seek: $!";
	read($fh, my $byte, 1) == 1 or die "read $path: $!";
	seek($fh, $pos, 0) or die "seek: $!";
	print $fh chr(ord($byte) ^ 0xFF) or die "write $path: $!";
	close($fh) or die "close $path: $!";
}

# ---------------------------------------------------------------------------
# 1. The source database and a good backup of it.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
  CREATE TABLE items (id int PRIMARY KEY, qty int, price numeric(12,2), label text);
  INSERT INTO items SELECT g, g % 97, g / 3.0, 'item ' || g FROM generate_series(1, 20000) g;
  INSERT INTO items VALUES (0, NULL, NULL, NULL);

  CREATE TABLE texts (id int PRIMARY KEY, body text);
  INSERT INTO texts VALUES
    (1, E'line one\nline two\r\nline three\n'),
    (2, E'tab\there and a backslash \\ and \\N'),
    (3, $$single ' and double " quotes, 'nested "mixed"'$$),
    (4, 'unicode: ü é ß 中文 😀 ∑ ﬁ'),
    (5, NULL),
    (6, ''),
    (7, E'before\n\\.\nafter');
  INSERT INTO texts SELECT g, repeat(md5(g::text), 10) FROM generate_series(100, 3100) g;

  CREATE TABLE docs (id int PRIMARY KEY, doc jsonb);
  INSERT INTO docs VALUES
    (1, '{"quote": "\"q\"", "newline": "a\nb", "null": null, "ü": [1, 2.5, true]}'),
    (2, NULL),
    (3, '"just a string"');
  INSERT INTO docs SELECT g, jsonb_build_object('id', g, 'tags', jsonb_build_array('a', g))
    FROM generate_series(10, 1010) g;

  CREATE TABLE "MixedCase" ("Id" int PRIMARY KEY, "Value" text);
  INSERT INTO "MixedCase" SELECT g, 'mixed ' || g FROM generate_series(1, 300) g;

  CREATE SCHEMA other;
  CREATE TABLE other.things (id int, note text);
  INSERT INTO other.things SELECT g, CASE WHEN g % 5 = 0 THEN NULL ELSE 'thing ' || g END
    FROM generate_series(1, 500) g;
});

my $source_prints = table_fingerprints($node, 'src');
is_deeply([ sort keys %$source_prints ],
	[ 'other.things', 'public.MixedCase', 'public.docs', 'public.items', 'public.texts' ],
	'the source has its five tables');
like($source_prints->{'public.items'}, qr/^20001:[0-9a-f]{32}$/, 'fingerprints count the rows');

my ($good_id, $status) = run_backup($node, 'src');
is($status, 'succeeded', 'the backup of src succeeds');
my $good = backup_row($node, $good_id);
ok(-f "$good->{location}/manifest.json", 'the good set is complete');

# Four more sets of the same database, to be damaged on purpose below.
my @copies = map { queue_backup($node, 'src') } 1 .. 4;
for my $n (1 .. 4)
{
	is(wait_backup($node, $copies[ $n - 1 ]), 'succeeded', "copy $n of the set succeeds");
}

# ---------------------------------------------------------------------------
# 2. Shallow verify of the good set.
# ---------------------------------------------------------------------------
my ($shallow_id, $vstatus) = run_verify($good_id, 0);
is($vstatus, 'succeeded', 'the shallow verify succeeds') or diag op_story($shallow_id);
my $vrow = row_or_empty($shallow_id);
is($vrow->{kind}, 'verify', 'the verify row has kind verify');
is($vrow->{source_id}, $good_id, 'the verify row points at the backup');
is($vrow->{database_name}, 'src', "the verify row names the backup's database");
$good = backup_row($node, $good_id);
ok(defined $good->{verified_at}, 'the backup row has verified_at');
is($good->{verify_status}, 'passed', "the backup row's verify_status is passed");
is($good->{status}, 'succeeded', 'the backup row is still succeeded');
my $first_verified_at = $good->{verified_at} // 'epoch';

# ---------------------------------------------------------------------------
# 3. Deep verify of the good set: a restore drill.
# ---------------------------------------------------------------------------
my ($deep_id, $dstatus) = run_verify($good_id, 1);
is($dstatus, 'succeeded', 'the deep verify succeeds') or diag op_story($deep_id);
my $drow = row_or_empty($deep_id);
is($drow->{kind}, 'verify', 'the deep verify row has kind verify');
is($drow->{source_id}, $good_id, 'the deep verify row points at the backup');
ok(defined $drow->{restore_seconds} && $drow->{restore_seconds} > 0,
	'the deep verify row has restore_seconds > 0')
  or diag 'restore_seconds: ' . ($drow->{restore_seconds} // 'NULL');
$good = backup_row($node, $good_id);
is($good->{verify_status}, 'passed (restore drill)',
	"the backup row's verify_status is passed (restore drill)");
ok(defined $good->{restore_seconds} && $good->{restore_seconds} > 0,
	'the backup row has restore_seconds > 0')
  or diag 'restore_seconds: ' . ($good->{restore_seconds} // 'NULL');
is($node->safe_psql('postgres',
		"SELECT verified_at >= '$first_verified_at'::timestamptz FROM backup_log WHERE id = $good_id"),
	't', 'verified_at moved on with the deep verify');
is(scratch_databases(), '', 'no pgbak_verify_% database remains after the drill');

# ---------------------------------------------------------------------------
# 4. Restore into a new database.
# ---------------------------------------------------------------------------
my ($restore_id, $rstatus) = run_restore($good_id, 'restored');
is($rstatus, 'succeeded', 'restore into a new database succeeds') or diag op_story($restore_id);
my $rrow = row_or_empty($restore_id);
is($rrow->{kind}, 'restore', 'the restore row has kind restore');
is($rrow->{source_id}, $good_id, 'the restore row points at the backup');
is($rrow->{database_name}, 'restored', 'the restore row names the target database');
ok(defined $rrow->{restore_seconds} && $rrow->{restore_seconds} > 0,
	'the restore row has restore_seconds > 0')
  or diag 'restore_seconds: ' . ($rrow->{restore_seconds} // 'NULL');
is_deeply(prints('restored'), $source_prints,
	'the restored database has every table with identical rows');
is($node->safe_psql('restored', 'SELECT body FROM texts WHERE id = 4'),
	'unicode: ü é ß 中文 😀 ∑ ﬁ', 'unicode text survives byte for byte');

# ---------------------------------------------------------------------------
# 6. No overwrite without "clean"; with it, the junk is gone.
# ---------------------------------------------------------------------------
check_sqlstate("pgbak_restore($good_id, 'restored')", '42P04',
	'full restore into an existing database without clean');
$node->safe_psql('restored', q{INSERT INTO items VALUES (-1, 1, 1, 'junk')});
my ($clean_id, $cstatus) = run_restore($good_id, 'restored', '{"clean": true}');
is($cstatus, 'succeeded', 'restore with clean succeeds') or diag op_story($clean_id);
is($node->safe_psql('restored', 'SELECT count(*) FROM items WHERE id = -1'),
	'0', 'the junk row is gone after the clean restore');
is_deeply(prints('restored'), $source_prints,
	'after the clean restore every table equals the source again');

# ---------------------------------------------------------------------------
# 7. Parallel restore.
# ---------------------------------------------------------------------------
my ($jobs_id, $jstatus) = run_restore($good_id, 'restored_j2', '{"jobs": 2}');
is($jstatus, 'succeeded', 'restore with jobs 2 succeeds') or diag op_story($jobs_id);
is_deeply(prints('restored_j2'), $source_prints,
	'the parallel restore equals the source');

# ---------------------------------------------------------------------------
# 5. One dropped table back into the live source; the rest untouched.
# ---------------------------------------------------------------------------
$node->safe_psql('src', q{
  DROP TABLE items;
  UPDATE texts SET body = 'changed after the backup' WHERE id = 1;
});
my $changed_prints = table_fingerprints($node, 'src');
ok(!exists $changed_prints->{'public.items'}, 'items is gone from the source');
isnt($changed_prints->{'public.texts'}, $source_prints->{'public.texts'},
	'texts differs from the backup now');
my ($table_id, $tstatus) = run_restore($good_id, 'src', '{"tables": ["public.items"]}');
is($tstatus, 'succeeded', 'restore of one table into the live database succeeds')
  or diag op_story($table_id);
is(row_or_empty($table_id)->{database_name}, 'src', 'the table restore row names src');
is_deeply(prints('src'),
	{ %$changed_prints, 'public.items' => $source_prints->{'public.items'} },
	'items is back with its backed-up rows, every other table untouched');
is($node->safe_psql('src', 'SELECT body FROM texts WHERE id = 1'),
	'changed after the backup', 'the changed row keeps its change');

# ---------------------------------------------------------------------------
# 8. Damaged sets: shallow verify fails with a precise reason.
# ---------------------------------------------------------------------------
my @copy_rows = map { backup_row($node, $_) } @copies;

# (a) one flipped byte in data.dump.zst
my $data1 = "$copy_rows[0]{location}/data.dump.zst";
my $sum_before = sha256_of_file($data1);
flip_byte($data1);
isnt(sha256_of_file($data1), $sum_before, 'copy 1: one byte of data.dump.zst is flipped');
my ($bad_a, $sa) = run_verify($copies[0], 0);
is($sa, 'failed', 'copy 1: verify of a flipped byte fails');
my $ra = row_or_empty($bad_a);
note 'copy 1 reason: ' . ($ra->{error_message} // 'none');
like($ra->{error_message} // '', qr/data\.dump\.zst/, 'copy 1: the reason names data.dump.zst');
like($ra->{error_message} // '', qr/sha-?256|checksum/i, 'copy 1: the reason names the checksum');
my $ba = backup_row($node, $copies[0]);
like($ba->{verify_status} // '', qr/^failed: \S/, "copy 1: the backup's verify_status is failed: <reason>");
like($ba->{verify_status} // '', qr/data\.dump\.zst/, "copy 1: the backup's verify_status names the object");
ok(defined $ba->{verified_at}, 'copy 1: the backup row has verified_at');

# (b) manifest.json deleted
unlink("$copy_rows[1]{location}/manifest.json") or die "unlink: $!";
my ($bad_b, $sb) = run_verify($copies[1], 0);
is($sb, 'failed', 'copy 2: verify without manifest.json fails');
my $rb = row_or_empty($bad_b);
like($rb->{error_message} // '', qr/manifest/, 'copy 2: the reason names the manifest');
like($rb->{error_message} // '', qr/missing|not found|no such/i, 'copy 2: the reason says it is missing');
like(backup_row($node, $copies[1])->{verify_status} // '', qr/^failed: .*manifest/,
	"copy 2: the backup's verify_status is failed: <reason>");

# (c) globals.sql.zst deleted
unlink("$copy_rows[2]{location}/globals.sql.zst") or die "unlink: $!";
my ($bad_c, $sc) = run_verify($copies[2], 0);
is($sc, 'failed', 'copy 3: verify without globals.sql.zst fails');
my $rc = row_or_empty($bad_c);
like($rc->{error_message} // '', qr/globals\.sql\.zst/, 'copy 3: the reason names globals.sql.zst');
like($rc->{error_message} // '', qr/missing|not found|no such/i, 'copy 3: the reason says it is missing');
like(backup_row($node, $copies[2])->{verify_status} // '', qr/^failed: .*globals\.sql\.zst/,
	"copy 3: the backup's verify_status is failed: <reason>");

# (d) a row count in the manifest that the dump does not hold: the objects
# are intact (shallow passes), the restore drill's counts disagree.
my $manifest_path = "$copy_rows[3]{location}/manifest.json";
my $manifest = read_manifest($copy_rows[3]{location});
my ($items_entry) = grep { $_->{schema} eq 'public' && $_->{table} eq 'items' } @{ $manifest->{tables} };
ok(defined $items_entry, 'copy 4: the manifest counts items');
$items_entry->{rows} += 1 if defined $items_entry;
open(my $mfh, '>:raw', $manifest_path) or die "open $manifest_path: $!";
print $mfh JSON::PP->new->utf8->canonical->pretty->encode($manifest);
close($mfh) or die "close: $!";
# backup_log vouches for the manifest (manifest_sha256, 1.3): record the
# changed one's, as if the backup had counted wrong, so that the drill's own
# count is what disagrees (013_restore_safety.pl changes a manifest behind
# backup_log's back).
$node->safe_psql('postgres',
	"UPDATE backup_log SET manifest_sha256 = '" . sha256_of_file($manifest_path)
	  . "' WHERE id = $copies[3]");
my ($ok_d, $sd) = run_verify($copies[3], 0);
is($sd, 'succeeded', 'copy 4: shallow verify passes with a wrong row count (objects intact)')
  or diag op_story($ok_d);
my ($bad_d, $sd2) = run_verify($copies[3], 1);
is($sd2, 'failed', 'copy 4: deep verify fails when a row count differs from the manifest');
like(row_or_empty($bad_d)->{error_message} // '', qr/items/,
	'copy 4: the reason names the table whose count differs');
like(backup_row($node, $copies[3])->{verify_status} // '', qr/^failed: /,
	"copy 4: the backup's verify_status is failed: <reason>");
is(scratch_databases(), '', 'copy 4: no pgbak_verify_% database remains');

# ---------------------------------------------------------------------------
# 9. A restore drill that fails inside pg_restore still drops its scratch
# database: the dumped table's owner no longer exists.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', q{
  CREATE ROLE ephemeral_owner NOLOGIN;
  CREATE DATABASE drill;
});
$node->safe_psql('drill', q{
  CREATE TABLE kept (id int);
  INSERT INTO kept SELECT generate_series(1, 100);
  CREATE TABLE owned (id int);
  INSERT INTO owned VALUES (1), (2);
  ALTER TABLE owned OWNER TO ephemeral_owner;
});
my ($drill_id, $drill_status) = run_backup($node, 'drill');
is($drill_status, 'succeeded', 'the backup of drill succeeds');
$node->safe_psql('drill', 'DROP TABLE owned');
$node->safe_psql('postgres', 'DROP ROLE ephemeral_owner');
my ($drill_ok, $dos) = run_verify($drill_id, 0);
is($dos, 'succeeded', 'drill: the shallow verify passes (the set itself is intact)')
  or diag op_story($drill_ok);
my ($drill_bad, $dbs) = run_verify($drill_id, 1);
is($dbs, 'failed', 'drill: the deep verify fails (the owner role is gone)');
like(row_or_empty($drill_bad)->{error_message} // '', qr/pg_restore/,
	'drill: the reason names pg_restore')
  or diag op_story($drill_bad);
like(backup_row($node, $drill_id)->{verify_status} // '', qr/^failed: /,
	"drill: the backup's verify_status is failed: <reason>");
is(scratch_databases(), '', 'drill: no pgbak_verify_% database remains after the failed drill');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_roles WHERE rolname = 'ephemeral_owner'}),
	'0', 'drill: the drill did not recreate the role on the cluster');

# ---------------------------------------------------------------------------
# 10. Bad calls, refused with a SQLSTATE.
# ---------------------------------------------------------------------------
my ($failed_id, $fstatus) = run_backup($node, 'src', '{"tables":["public.no_such_table"]}');
is($fstatus, 'failed', 'a backup that fails, for the calls below');
my $no_id = $node->safe_psql('postgres', 'SELECT coalesce(max(id), 0) + 1000000 FROM backup_log');

check_sqlstate('pgbak_verify(NULL)', '22004', 'verify of NULL');
check_sqlstate("pgbak_verify($no_id)", '42704', 'verify of an unknown id');
check_sqlstate("pgbak_verify($shallow_id)", '22023', 'verify of a verify operation');
check_sqlstate("pgbak_verify($restore_id)", '22023', 'verify of a restore operation');
check_sqlstate("pgbak_verify($failed_id)", '55000', 'verify of a failed backup');
check_sqlstate("pgbak_verify($failed_id, true)", '55000', 'deep verify of a failed backup');

check_sqlstate("pgbak_restore(NULL, 'new_target')", '22004', 'restore of NULL');
check_sqlstate("pgbak_restore($no_id, 'new_target')", '42704', 'restore of an unknown id');
check_sqlstate("pgbak_restore($shallow_id, 'new_target')", '22023', 'restore of a verify operation');
check_sqlstate("pgbak_restore($failed_id, 'new_target')", '55000', 'restore of a failed backup');
check_sqlstate("pgbak_restore($good_id, NULL)", '22004', 'restore into NULL');
check_sqlstate("pgbak_restore($good_id, 'postgres')", '55000', 'restore into the catalog database');
check_sqlstate("pgbak_restore($good_id, 'postgres', '{\"clean\": true}')", '55000',
	'clean restore into the catalog database');
check_sqlstate("pgbak_restore($good_id, 'src')", '42P04', 'full restore over the source');
check_sqlstate(qq{pgbak_restore($good_id, 'no_such_db', '{"tables": ["public.items"]}')},
	'3D000', 'tables restore into a database that does not exist');
check_sqlstate(qq{pgbak_restore($good_id, 'no_such_db', '{"schemas": ["other"]}')},
	'3D000', 'schemas restore into a database that does not exist');
check_sqlstate(qq{pgbak_restore($good_id, 'new_target', '{"bogus": 1}')},
	'22023', 'an unknown option');
check_sqlstate(qq{pgbak_restore($good_id, 'src', '{"clean": true, "tables": ["public.items"]}')},
	'22023', 'clean with tables');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_database WHERE datname IN ('new_target', 'no_such_db')}),
	'0', 'the refused calls created no database');

# ---------------------------------------------------------------------------
# A restore whose target is created while it waits in the queue fails at
# run time and leaves that database alone.
# ---------------------------------------------------------------------------
# Both workers (pgbak.max_workers is 2) are taken by backups that wait for
# a lock, so the restore stays queued.
my (@locks, @blocked);
for my $db ('blocker1', 'blocker2')
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)');
	my $lock = $node->background_psql($db);
	$lock->query_safe('BEGIN');
	$lock->query_safe('LOCK TABLE t IN ACCESS EXCLUSIVE MODE');
	push @locks, $lock;
	my $id = queue_backup($node, $db);
	push @blocked, $id;
	ok(defined wait_for_running($node, $id, 60), "a backup of $db runs and waits for its lock");
}
my $late_id = op_call("SELECT pgbak_restore($good_id, 'late')");
ok(defined $late_id, 'a restore into a database that does not exist yet is accepted');
$node->safe_psql('postgres', 'CREATE DATABASE late');
$node->safe_psql('late', q{CREATE TABLE marker (note text); INSERT INTO marker VALUES ('mine')});
is($node->safe_psql('postgres', "SELECT status FROM backup_log WHERE id = " . ($late_id // 0)),
	'queued', 'the restore is still queued when its target appears');
for my $lock (@locks)
{
	$lock->query_safe('COMMIT');
	$lock->quit;
}
is(wait_backup($node, $_), 'succeeded', "blocked backup $_ ends once its lock is gone") for @blocked;
is(wait_op($late_id), 'failed', 'the restore into the database created meanwhile fails')
  or diag op_story($late_id);
is_deeply([ sort keys %{ user_tables($node, 'late') } ], ['public.marker'],
	'the database created meanwhile holds only its own table');
is($node->safe_psql('late', 'SELECT string_agg(note, \',\') FROM marker'), 'mine',
	'and its row');

# ---------------------------------------------------------------------------
# 11. Nothing left behind.
# ---------------------------------------------------------------------------
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM backup_log WHERE status IN ('queued', 'running')}),
	'0', 'no operation is left queued or running');
is(scratch_databases(), '', 'no pgbak_verify_% database at the end');
my $staging = "$root/.staging";
is(-d $staging ? set_leftovers($staging) : '', '', 'the staging directory is empty or absent');
my @temporaries;
File::Find::find(sub { push @temporaries, $File::Find::name if -f $_ && /^\./ }, $root);
is_deeply(\@temporaries, [], 'no temporary file anywhere under the storage root');
is_deeply(
	[ split /\n/, $node->safe_psql('postgres',
		q{SELECT kind || ' ' || count(*) FROM backup_log GROUP BY kind ORDER BY kind}) ],
	[ 'backup 9', 'restore 5', 'verify 9' ],
	'backup_log holds every backup, restore and verify of this test');

# ---------------------------------------------------------------------------
# 12. A whole restore of a damaged set fails on the checksum and leaves no
# database behind: a half-restored database never passes for a restored one.
# ---------------------------------------------------------------------------
{
	# One more flipped byte, late in copy 1's data object (already damaged
	# in the middle): the restore must read to the end to see either.
	my $path = "$copy_rows[0]{location}/data.dump.zst";
	my $pos = (-s $path) - 100;
	open(my $fh, '+<:raw', $path) or die "open $path: $!";
	seek($fh, $pos, 0) or die "seek: $!";
	read($fh, my $byte, 1) == 1 or die "read $path: $!";
	seek($fh, $pos, 0) or die "seek: $!";
	print $fh chr(ord($byte) ^ 0xFF) or die "write $path: $!";
	close($fh) or die "close $path: $!";
}
my ($damaged_id, $damaged_status) =
  run_restore($copies[0], 'from_damaged', '{"jobs": 2}');
is($damaged_status, 'failed', 'a whole restore of a damaged set fails')
  or diag op_story($damaged_id);
like(row_or_empty($damaged_id)->{error_message} // '', qr/data\.dump\.zst: SHA-256 mismatch/,
	'the restore names the checksum of data.dump.zst');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_database WHERE datname = 'from_damaged'}),
	'0', 'the damaged restore leaves no target database');
is(-d $staging ? set_leftovers($staging) : '', '',
	'the damaged restore leaves nothing staged');

$node->stop;
done_testing();
