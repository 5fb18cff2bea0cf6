# 014_limits.pl: what a backup selects and how long it may wait, once a
# worker runs it. Unqualified table names select tables of user schemas only,
# never a system catalog or an information_schema table of the same name. And
# pg_dump waits for a table's lock at most lock_wait_timeout: behind a user's
# pending or granted ACCESS EXCLUSIVE lock it used to wait for ever, holding
# its snapshot (the cluster's xmin horizon) and a worker slot.

use strict;
use warnings;

use File::Temp ();
use IPC::Run ();
use Time::HiRes qw(time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakTest;

my $node = new_node('limits');
$node->safe_psql('postgres', 'CREATE DATABASE limdb');
$node->safe_psql('limdb', q{
  CREATE TABLE public.sql_features (id int);
  INSERT INTO public.sql_features SELECT generate_series(1, 3);
  CREATE TABLE big (id int);
  INSERT INTO big SELECT generate_series(1, 1000);
});
my $tmp = File::Temp->newdir();

# toc_entries($id) lists "<type> <schema> <name>" of the TABLE and TABLE DATA
# entries of a custom-format backup, read with the stock zstd and pg_restore.
sub toc_entries
{
	my ($id) = @_;
	my $row = backup_row($node, $id);
	my $dump = "$tmp/toc.$id";
	decompress_file("$row->{location}/data.dump.zst", $dump);
	my ($out, $err);
	IPC::Run::run([ 'pg_restore', '-l', $dump ], '>', \$out, '2>', \$err)
	  or die "pg_restore -l failed: $err";
	my @entries;
	for my $line (split /\n/, $out)
	{
		next if $line =~ /^;/;
		push @entries, "$1 $2 $3"
		  if $line =~ /^\d+; \d+ \d+ (TABLE DATA|TABLE) (\S+) (\S+) /;
	}
	return join(', ', sort @entries);
}

# ---------------------------------------------------------------------------
# Unqualified names resolve in user schemas only.
# ---------------------------------------------------------------------------
my ($id, $status) = run_backup($node, 'limdb', '{"tables": ["sql_features"]}');
is($status, 'succeeded', 'a backup of an unqualified name shared with information_schema succeeds');
my @data = grep { /^TABLE DATA / } split /, /, toc_entries($id);
is("@data", 'TABLE DATA public sql_features',
	'it holds the data of the user table only, not of information_schema.sql_features');
unlike(toc_entries($id), qr/information_schema/, 'and no definition of a system schema');

($id, $status) = run_backup($node, 'limdb', '{"tables": ["sql_parts"]}');
is($status, 'failed', 'a name found only in information_schema fails the backup');
my $row = backup_row($node, $id);
is( $row->{error_message},
	'backup option "tables" names "sql_parts", which is in no user schema of database "limdb"',
	'the error names the table and the database');
is(set_leftovers($row->{location}), '', 'no file of the failed backup is left');

($id, $status) = run_backup($node, 'limdb', '{"tables": ["big", "nowhere", "sql_parts"]}');
like(backup_row($node, $id)->{error_message},
	qr/names "nowhere" \(and 1 more\), which is in no user schema/,
	'every missing name counts, the first is named');

# ---------------------------------------------------------------------------
# Lock waits are bounded.
# ---------------------------------------------------------------------------

# end_session quits a background psql, committing what it holds.
sub end_session
{
	my ($session) = @_;
	eval { $session->query_safe('COMMIT'); };
	eval { $session->quit; };
}

# check_gave_up($id, $timeout, $what): backup $id failed on its own, naming
# the table, and left no session (no snapshot) and no file behind.
sub check_gave_up
{
	my ($id, $timeout, $what) = @_;
	is(wait_backup($node, $id, 60), 'failed', "$what: the backup fails instead of waiting");
	my $row = backup_row($node, $id);
	is( $row->{error_message},
		"pg_dump waited longer than lock_wait_timeout ($timeout) for a lock on table public.big",
		"$what: the error names the table and the timeout");
	like($row->{error_detail}, qr/LOCK TABLE public\.big IN ACCESS SHARE MODE/,
		"$what: the detail keeps pg_dump's own words");
	ok(poll_until(10, sub { pgbak_sessions($node, 'limdb') eq '' }),
		"$what: no session of the backup (no snapshot) is left");
	is(set_leftovers($row->{location}), '', "$what: no file of the backup is left");
}

# A user's ACCESS EXCLUSIVE request waits behind a long read; pg_dump's ACCESS
# SHARE request queues behind it (the case from the issue).
my $reader = $node->background_psql('limdb');
$reader->query_safe('BEGIN');
$reader->query_safe('SELECT count(*) FROM big');
my $locker = $node->background_psql('limdb');
$locker->query_safe('BEGIN');
$locker->query_until(qr/locking/, "\\echo locking\nLOCK TABLE big IN ACCESS EXCLUSIVE MODE;\n");
ok( poll_until(
		30,
		sub {
			$node->safe_psql('limdb',
				q{SELECT count(*) FROM pg_locks WHERE relation = 'big'::regclass
				  AND mode = 'AccessExclusiveLock' AND NOT granted}) eq '1';
		}),
	'a user waits for ACCESS EXCLUSIVE on big');
my $started = time();
$id = queue_backup($node, 'limdb', '{"lock_wait_timeout": 1}');
check_gave_up($id, '1s', 'behind a pending ACCESS EXCLUSIVE');
ok(time() - $started < 50, 'it gave up within seconds, not when the lock went away');
is( $node->safe_psql('limdb',
		q{SELECT count(*) FROM pg_locks WHERE relation = 'big'::regclass
		  AND mode = 'AccessExclusiveLock' AND NOT granted}),
	'1', 'the user still waits: the backup did not wait for the lock to go');
end_session($reader);
end_session($locker);

# A granted ACCESS EXCLUSIVE, the timeout from pgbak.lock_wait_timeout, for a
# custom and a plain dump (whose row counts wait for the same locks).
$node->safe_psql('postgres', q{ALTER SYSTEM SET pgbak.lock_wait_timeout = '1500ms'});
$node->reload;
poll_until(10,
	sub { $node->safe_psql('postgres', 'SHOW pgbak.lock_wait_timeout') eq '1500ms' });
$locker = $node->background_psql('limdb');
$locker->query_safe('BEGIN');
$locker->query_safe('LOCK TABLE big IN ACCESS EXCLUSIVE MODE');
check_gave_up(queue_backup($node, 'limdb'), '1500ms', 'custom format, setting');
check_gave_up(queue_backup($node, 'limdb', '{"format": "plain"}'), '1500ms', 'plain format, setting');
end_session($locker);

# Without a conflicting lock the same backups succeed, and the option 0 waits
# as long as it takes: until the lock is released.
is((run_backup($node, 'limdb', '{"format": "plain"}'))[1], 'succeeded', 'no lock: the backup succeeds');
$locker = $node->background_psql('limdb');
$locker->query_safe('BEGIN');
$locker->query_safe('LOCK TABLE big IN ACCESS EXCLUSIVE MODE');
$id = queue_backup($node, 'limdb', '{"lock_wait_timeout": 0}');
ok( poll_until(
		30,
		sub {
			$node->safe_psql('limdb',
				q{SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'pgbak_ext'
				  AND wait_event_type = 'Lock' AND query LIKE 'LOCK TABLE%big%'}) eq 't';
		}),
	'with lock_wait_timeout 0, pg_dump waits for the lock');
is(wait_backup($node, $id, 3), 'running', 'and still waits past the setting');
end_session($locker);
is(wait_backup($node, $id, 60), 'succeeded', 'then succeeds once the lock is released');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET pgbak.lock_wait_timeout');
$node->reload;

done_testing();
