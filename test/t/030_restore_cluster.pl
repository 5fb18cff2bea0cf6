# 030_restore_cluster.pl: point-in-time recovery from the command line.
# A cluster archives its WAL with archive_library = 'pgbak_ext' into a
# storage that also holds its base backup; pgbench writes, the state of
# its tables is noted with the time and the LSN, then pgbench_accounts is
# dropped and a bad UPDATE without WHERE runs, and more rows are written.
# pgbak restore-cluster --target-time (and --target-lsn) brings a new
# cluster back to exactly the noted state (tables compared row by row),
# with its tablespace moved by --tablespace-map and checked by the stock
# pg_verifybackup; --target latest holds everything, the drop too. Refused
# with their exit codes: a non-empty directory, a target before the oldest
# base backup, an LSN past the archive. pgbak wal-get: a missing file
# exits 1; a damaged object exits above 125 with a clear message, and a
# recovery that meets it stops (FATAL) instead of opening early. And a
# restore from an encrypted S3 storage through the signature-checking
# proxy, with the secret in a file: restore_command holds no secret.
# The source's postgresql.auto.conf holds a stale recovery_target_time (as
# a cluster that was itself restored keeps it): every restore overrides it.
# A restored cluster that archives timeline 2 into the same storage: a
# later restore from the same base follows its history there.

use strict;
use warnings;

use File::Copy qw(copy);
use File::Path qw(make_path);
use IPC::Run ();
use JSON::PP ();
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakS3;
use PgbakTest;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $store = "$tmp/store";
make_path($store);

my $node = new_node(
	'pitr_source',
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
$node->command_ok([ 'pgbench', '-i', '-q', '-s', '2', '-h', $node->host, '-p', $node->port, 'bench' ],
	'pgbench -i');
$node->safe_psql('bench', q{
  CREATE TABLE far_rows (id int, note text) TABLESPACE far;
  INSERT INTO far_rows SELECT g, 'far ' || g FROM generate_series(1, 5000) g;
});

# now_utc is the server's clock, as --target-time takes it.
sub now_utc
{
	return $node->safe_psql('postgres',
		q{SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'});
}

# archive_through_now closes the current segment and waits until the
# archiver stored it.
sub archive_through_now
{
	my $segment = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
	ok( poll_until(
			120,
			sub {
				$node->safe_psql('postgres', 'SELECT last_archived_wal FROM pg_stat_archiver') ge
				  $segment;
			}),
		"the archive holds $segment");
}

# pgbak($cmd...) runs the pgbak command; returns (exit code, stdout, stderr).
sub pgbak
{
	my @cmd = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'pgbak', @cmd ], '<', \'', '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

my @storage = ('--storage', "file://$store", '--cluster', $sysid);
my $before_base = now_utc();

# A cluster that was itself restored to a time keeps its target in
# postgresql.auto.conf (ALTER SYSTEM writes it there too); its base backup
# copies it. Every restore below must override it: with it left alone, an
# LSN target fails FATAL ("multiple recovery targets specified") and
# latest stops at the old time.
$node->safe_psql('postgres', "ALTER SYSTEM SET recovery_target_time = '$before_base'");

my $base_id = $node->safe_psql('postgres', "SELECT pgbak_base_backup('walstore')");
is(wait_backup($node, $base_id, 300), 'succeeded', 'a base backup to the WAL storage succeeds');

# A database a role that is no superuser owns, closed to PUBLIC, made
# after the base backup (recovery replays its creation).
$node->safe_psql('postgres', q{CREATE ROLE olga LOGIN; CREATE DATABASE olgadb OWNER olga;
  REVOKE CONNECT, TEMPORARY ON DATABASE olgadb FROM PUBLIC;
  ALTER DATABASE olgadb SET work_mem = '7MB'});
$node->safe_psql('olgadb', q{SET ROLE olga; CREATE TABLE notes (id int PRIMARY KEY, body text);
  INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 500) g});
$node->command_ok(
	[ 'pgbench', '-n', '-t', '300', '-c', '2', '-h', $node->host, '-p', $node->port, 'bench' ],
	'pgbench traffic after the base backup');
my $noted = table_fingerprints($node, 'bench');
my $target_time = now_utc();
my $target_lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok($noted->{'public.pgbench_accounts'}, 'the noted state holds pgbench_accounts');

# The accident, then more work.
$node->safe_psql('bench', 'UPDATE pgbench_tellers SET tbalance = 0');
$node->safe_psql('bench', 'DROP TABLE pgbench_accounts');
$node->safe_psql('bench',
	q{INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) SELECT 1, 1, g, g, now() FROM generate_series(1, 2000) g});
$node->safe_psql('bench', q{INSERT INTO far_rows SELECT g, 'later' FROM generate_series(1, 100) g});
my $latest = table_fingerprints($node, 'bench');
archive_through_now();

# last_setting($text, $name) is the value of the last line setting $name
# in a configuration file's $text: the one PostgreSQL applies.
sub last_setting
{
	my ($text, $name) = @_;
	my @values = $text =~ /^\Q$name\E = (.*)$/mg;
	return $values[-1];
}

# restored_node($name, $args...) runs restore-cluster into a new node's
# data directory and returns the node and pgbak's output.
sub restored_node
{
	my ($name, @args) = @_;
	my $restored = PostgreSQL::Test::Cluster->new($name);
	my ($rc, $out, $err) = pgbak('restore-cluster', '--pgdata', $restored->data_dir, @storage, @args);
	is($rc, 0, "$name: pgbak restore-cluster succeeds") or diag("$out\n$err");
	$restored->append_conf('postgresql.conf', "port = " . $restored->port . "\n");
	return ($restored, $out);
}

# wait_promoted($node) waits until recovery ended and the node opened.
sub wait_promoted
{
	my ($restored) = @_;
	return poll_until(120,
		sub { $restored->safe_psql('postgres', 'SELECT NOT pg_is_in_recovery()') eq 't' });
}

# --- To the noted time, with the tablespace moved ---------------------------
my ($by_time, $out) = restored_node('by_time', '--target-time', $target_time,
	'--tablespace-map', "$tmp/ts_source=$tmp/ts_by_time", '--no-archive');
like($out, qr/base backup $base_id .*ended at LSN/, 'it names the base backup it chose');
like($out, qr/the archive covers base backup $base_id .* up to segment [0-9A-F]{24}/,
	'and what the archive covers');
my $pgdata = $by_time->data_dir;
ok(-f "$pgdata/recovery.signal", 'recovery.signal is written');
my $auto = slurp_file("$pgdata/postgresql.auto.conf");
like($auto, qr/^restore_command = '\S*pgbak wal-get %f %p --storage file:\/\/\Q$store\E --cluster $sysid'$/m,
	'restore_command runs pgbak wal-get on the same storage');
like($auto, qr/^recovery_target_time = '\Q$before_base\E'$/m,
	"the copied postgresql.auto.conf holds the source's stale target");
is(last_setting($auto, 'recovery_target_time'), "'$target_time'", 'the target time is set, last');
is(last_setting($auto, 'recovery_target_lsn'), "''", 'other target kinds are reset');
like($auto, qr/^recovery_target_action = 'promote'$/m, 'and promotion at the target');
like($auto, qr/^archive_mode = off$/m, '--no-archive writes archive_mode = off');
like($auto, qr/^pgbak\.paused = on$/m, 'and pgbak.paused = on: the catalog is a copy of the source\'s');
is(slurp_file("$pgdata/tablespace_map"), "$ts_oid $tmp/ts_by_time\n",
	'tablespace_map names the new place');
is(readlink("$pgdata/pg_tblspc/$ts_oid"), "$tmp/ts_by_time", 'pg_tblspc links to it');
ok(-f "$pgdata/backup_manifest", "PostgreSQL's backup_manifest is beside the files");
$by_time->start;
ok(wait_promoted($by_time), 'the time-target cluster recovers and opens');
is_deeply(table_fingerprints($by_time, 'bench'), $noted,
	'it holds exactly the tables of the noted time (pgbench_accounts, and no bad UPDATE)');
is($by_time->safe_psql('postgres', "SELECT pg_tablespace_location($ts_oid)"),
	"$tmp/ts_by_time", 'its tablespace is the restored one');
$by_time->stop;

# --- To the noted LSN ---------------------------------------------------------
my ($by_lsn) = restored_node('by_lsn', '--target-lsn', $target_lsn,
	'--tablespace-map', "$ts_oid=$tmp/ts_by_lsn");
$by_lsn->append_conf('postgresql.conf', "archive_mode = off\n");
$by_lsn->start;
ok(wait_promoted($by_lsn), 'the LSN-target cluster recovers and opens');
is_deeply(table_fingerprints($by_lsn, 'bench'), $noted, 'it holds the tables of the noted LSN');
$by_lsn->stop;

# --- To the end of the archive -------------------------------------------------
my ($by_latest, $latest_out) = restored_node('by_latest', '--target', 'latest',
	'--tablespace-map', "$tmp/ts_source=$tmp/ts_latest", '--no-archive');
like($latest_out, qr/pg_verifybackup: the files match PostgreSQL's backup_manifest/,
	'the stock pg_verifybackup checked the restored files');
my $latest_auto = slurp_file($by_latest->data_dir . '/postgresql.auto.conf');
is(join(',', map { last_setting($latest_auto, "recovery_target$_") } ('', '_name', '_time', '_xid', '_lsn')),
	"'','','','',''", 'latest resets every target kind (the stale time too)');
$by_latest->start;
ok(wait_promoted($by_latest), 'the latest cluster recovers and opens');
is_deeply(table_fingerprints($by_latest, 'bench'), $latest,
	'it holds everything archived: the drop, the bad UPDATE and the rows after them');
is($by_latest->safe_psql('bench', "SELECT to_regclass('pgbench_accounts') IS NULL"), 't',
	'pgbench_accounts is gone there');
$by_latest->stop;

# ---------------------------------------------------------------------------
# pgbak_recover: the dropped table and the ones the bad UPDATE hit, as they
# were at the noted time, in one SQL call, into a new schema of the live
# database (the cluster recovered in a scratch directory, its tablespace
# moved there too, and removed).
# ---------------------------------------------------------------------------
my $recover = $node->safe_psql('postgres',
	"SELECT pgbak_recover('bench', '$target_time', "
	  . q{'{"tables": ["public.pgbench_accounts", "public.pgbench_branches", "pgbench_tellers"]}')});
is(wait_backup($node, $recover, 600), 'succeeded', 'pgbak_recover succeeds')
  or diag(join("\n", map { "$_: " . ($node->safe_psql('postgres',
		"SELECT $_ FROM backup_log WHERE id = $recover") // '') } qw(error_message error_detail)));
my $recovered = table_fingerprints($node, 'bench');
for my $table (qw(pgbench_accounts pgbench_branches pgbench_tellers))
{
	is($recovered->{"pgbak_recovered_$recover.$table"},
		$noted->{"public.$table"}, "$table is back in pgbak_recovered_$recover as it was at the noted time");
}
is($recovered->{'public.pgbench_tellers'}, $latest->{'public.pgbench_tellers'},
	'the live pgbench_tellers is left as it is');
ok(!exists $recovered->{'public.pgbench_accounts'}, 'nothing is recreated in the live schema');
is( $node->safe_psql('bench',
		"SELECT count(*) FROM pg_indexes WHERE schemaname = 'pgbak_recovered_$recover'"),
	'3', 'with their primary keys');
my $recover_row = backup_row($node, $recover);
is($recover_row->{kind}, 'recover', 'the operation is a recover');
is($recover_row->{source_id}, $base_id, 'from the base backup that ended before the target');
ok($recover_row->{restore_seconds} > 0, "it took $recover_row->{restore_seconds} s");
is( $node->safe_psql('postgres',
		"SELECT recovered_to <= '$target_time'::timestamptz AND recovered_to > "
		  . "(SELECT finished_at FROM backup_log WHERE id = $base_id) FROM backup_log WHERE id = $recover"),
	't', "it recovered to $recover_row->{recovered_to}: after the base backup, at or before the target");
is_deeply([ glob('/tmp/pgbak-drill-*') ], [], 'no socket directory of a scratch server is left');
ok(!-e $node->data_dir . "/../pgbak_backups/.staging/$recover", 'the scratch cluster is gone');
# Asking again into the same schema is refused by the worker, changing
# nothing; a schema of the caller's choice works.
my $again = $node->safe_psql('postgres',
	"SELECT pgbak_recover('bench', '$target_time', "
	  . qq{'{"tables": ["pgbench_branches"], "into_schema": "pgbak_recovered_$recover"}')});
is(wait_backup($node, $again, 600), 'failed', 'a recovery into an existing schema fails');
like($node->safe_psql('postgres', "SELECT error_message FROM backup_log WHERE id = $again"),
	qr/schema "pgbak_recovered_$recover" already exists/, 'saying so');
# The whole database as it was, as a new database.
my $whole = $node->safe_psql('postgres',
	qq{SELECT pgbak_recover('bench', '$target_time', '{"target_database": "bench_at_noted"}')});
is(wait_backup($node, $whole, 600), 'succeeded', 'pgbak_recover of the whole database succeeds')
  or diag($node->safe_psql('postgres', "SELECT error_message || ' ' || coalesce(error_detail, '') FROM backup_log WHERE id = $whole"));
is_deeply(table_fingerprints($node, 'bench_at_noted'), $noted,
	'the new database holds every table exactly as it was at the noted time');
is( $node->safe_psql('postgres',
		q{SELECT pg_get_userbyid(datdba) = (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'bench')
		  AND datconnlimit = -1 FROM pg_database WHERE datname = 'bench_at_noted'}),
	't', 'owned by the database\'s owner, open to connections');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_database WHERE datname LIKE 'pgbak_recover_%'"),
	'0', 'no database under construction is left');
my ($wret, $wout, $werr) = $node->psql('postgres',
	qq{SELECT pgbak_recover('bench', '$target_time', '{"target_database": "bench_at_noted"}')});
like($werr, qr/database "bench_at_noted" already exists/, 'a target_database that exists is refused at the call');
$node->safe_psql('postgres', 'DROP DATABASE bench_at_noted');

# A database that was dropped comes back under its name, as it was: its
# owner, its grants (closed to PUBLIC), its settings, its objects' owners.
my $olga_notes = table_fingerprints($node, 'olgadb');
$node->safe_psql('postgres', 'DROP DATABASE olgadb');
my $olga = $node->safe_psql('postgres',
	qq{SELECT pgbak_recover('olgadb', '$target_time', '{"target_database": "olgadb"}')});
is(wait_backup($node, $olga, 600), 'succeeded', 'a dropped database is recovered whole')
  or diag($node->safe_psql('postgres', "SELECT error_message || ' ' || coalesce(error_detail, '') FROM backup_log WHERE id = $olga"));
is_deeply(table_fingerprints($node, 'olgadb'), $olga_notes, 'with its table as it was');
is( $node->safe_psql('postgres',
		q{SELECT pg_get_userbyid(datdba) || ' ' || has_database_privilege('public', 'olgadb', 'CONNECT')
		  || ' ' || (SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting s
		             WHERE s.setdatabase = d.oid AND s.setrole = 0)
		  FROM pg_database d WHERE datname = 'olgadb'}),
	'olga false work_mem=7MB', 'owned by its owner, closed to PUBLIC, with its settings');
is($node->safe_psql('olgadb', q{SELECT tableowner FROM pg_tables WHERE tablename = 'notes'}),
	'olga', 'its table owned by its owner');

# A superuser-owned table whose CHECK calls a function another role owns
# (in another schema than the table's): loading it as its owner would run
# that role's code with superuser rights. The recovery refuses, before
# anything reaches the live database.
$node->safe_psql('postgres', q{CREATE ROLE mallory; CREATE DATABASE trapdb});
$node->safe_psql('trapdb', q{
  CREATE SCHEMA tools AUTHORIZATION mallory;
  SET ROLE mallory;
  CREATE FUNCTION tools.ok(int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
  RESET ROLE;
  CREATE TABLE guarded (x int CHECK (tools.ok(x)));
  INSERT INTO guarded VALUES (1);});
my $trap_time = now_utc();
archive_through_now();
my $trapped = $node->safe_psql('postgres',
	qq{SELECT pgbak_recover('trapdb', '$trap_time', '{"tables": ["public.guarded"]}')});
is(wait_backup($node, $trapped, 600), 'failed', 'a table that would run another role\'s code as superuser is refused');
like($node->safe_psql('postgres', "SELECT error_message FROM backup_log WHERE id = $trapped"),
	qr/would run code of role "mallory" with superuser rights/, 'naming the role');
is($node->safe_psql('trapdb', "SELECT count(*) FROM pg_namespace WHERE nspname = 'pgbak_recovered_$trapped'"),
	'0', 'and nothing reached the live database');
# Refused at the call: a time before every base backup, in the future,
# bad options, the catalog database.
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	"SELECT pgbak_recover('bench', '$before_base', '{\"tables\": [\"t\"]}')");
like($stderr, qr/no base backup ended at or before/, 'a time before the base backup is refused');
($ret, $stdout, $stderr) = $node->psql('postgres',
	q{SELECT pgbak_recover('bench', now() + interval '1 hour', '{"tables": ["t"]}')});
like($stderr, qr/target_time must be a moment in the past/, 'a future time is refused');
($ret, $stdout, $stderr) =
  $node->psql('postgres', qq{SELECT pgbak_recover('bench', '$target_time', '{}')});
like($stderr, qr/recover option "tables" must name at least one table/, 'no tables is refused');
($ret, $stdout, $stderr) =
  $node->psql('postgres', qq{SELECT pgbak_recover('postgres', '$target_time', '{"tables": ["t"]}')});
like($stderr, qr/holds the catalog of pgbak_ext/, 'the catalog database is refused');

# --- Refusals ----------------------------------------------------------------------
make_path("$tmp/not_empty");
open(my $fh, '>', "$tmp/not_empty/file") or die $!;
close($fh);
my ($rc, $rout, $rerr) = pgbak('restore-cluster', '--pgdata', "$tmp/not_empty", @storage);
is($rc, 2, 'a non-empty directory is refused with exit code 2');
like($rerr, qr/"\Q$tmp\E\/not_empty" is not empty/, 'saying so');
($rc, $rout, $rerr) =
  pgbak('restore-cluster', '--pgdata', "$tmp/too_early", @storage, '--target-time', $before_base);
is($rc, 3, 'a target before the oldest base backup is refused with exit code 3');
like($rerr, qr/is before the end of the oldest base backup/, 'saying so');
like($rerr, qr/DETAIL: The oldest is base backup $base_id /, 'naming it');
ok(!-e "$tmp/too_early", 'nothing was written');
($rc, $rout, $rerr) =
  pgbak('restore-cluster', '--pgdata', "$tmp/too_late", @storage, '--target-lsn', 'FF/0');
is($rc, 3, 'an LSN past the archive is refused with exit code 3');
like($rerr, qr/--target-lsn FF\/0 is past the end of the WAL archive\nDETAIL: the archive covers base backup $base_id .* up to segment [0-9A-F]{24} \(LSN [0-9A-F]+\/[0-9A-F]+\)/,
	'saying what the archive covers');
ok(!-e "$tmp/too_late", 'nothing was written');

# --- wal-get -------------------------------------------------------------------------
make_path("$tmp/walget");
($rc, $rout, $rerr) = pgbak('wal-get', '0000000100000000000000FE', "$tmp/walget/RECOVERYXLOG", @storage);
is($rc, 1, 'wal-get of a file the archive does not hold exits 1 (PostgreSQL: end of archive)');
like($rerr, qr/is not in the archive/, 'saying so');
ok(!-e "$tmp/walget/RECOVERYXLOG", 'and writes nothing');

# With its stderr a pipe nobody reads (the server log went away), saying
# so must not kill it with SIGPIPE, which PostgreSQL would read as a
# failure instead of the end of the archive.
{
	pipe(my $reader, my $writer) or die "pipe: $!";
	close($reader);
	my $pid = fork() // die "fork: $!";
	if ($pid == 0)
	{
		$SIG{PIPE} = 'DEFAULT';
		open(STDERR, '>&', $writer) or POSIX::_exit(126);
		open(STDOUT, '>', '/dev/null') or POSIX::_exit(126);
		exec('pgbak', 'wal-get', '0000000100000000000000FE', "$tmp/walget/RECOVERYXLOG", @storage)
		  or POSIX::_exit(127);
	}
	close($writer);
	waitpid($pid, 0);
	my $status = $?;
	is($status & 127, 0, 'wal-get writing to a closed stderr is not killed by a signal');
	is($status >> 8, 1, 'and still exits 1');
}

# A wal-get killed while writing (a fast shutdown) leaves its temporary
# file beside %p; the next call removes it, and not one of a process that
# still runs.
{
	my $dead = fork() // die "fork: $!";
	POSIX::_exit(0) if $dead == 0;
	waitpid($dead, 0);
	my $stale = "$tmp/walget/.pgbak-wal-get-$dead-AbC123";
	my $alive = "$tmp/walget/.pgbak-wal-get-$$-AbC123";
	PostgreSQL::Test::Utils::append_to_file($_, 'x') for ($stale, $alive);
	($rc) = pgbak('wal-get', '0000000100000000000000FE', "$tmp/walget/RECOVERYXLOG", @storage);
	ok(!-e $stale, "wal-get removes a dead process's temporary file beside %p");
	ok(-e $alive, "and keeps a running one's");
	unlink $alive;
}

# A copy of the archive with one segment damaged (after the base backup's
# WAL, so that recovery meets it while it replays).
my $bad_store = "$tmp/bad_store";
IPC::Run::run([ 'cp', '-a', $store, $bad_store ]) or die 'cp failed';
my $manifest = read_manifest((glob("$bad_store/$sysid/base/*"))[0]);
my $last = $manifest->{base_backup}{wal_last_segment};
my ($victim_name, $victim_file);
for my $file (sort glob("$bad_store/$sysid/wal/*/*.zst"))
{
	my ($name) = $file =~ m{/([0-9A-F]{24})-[0-9a-f]{64}\.zst$};
	next unless defined $name && $name gt $last;
	($victim_name, $victim_file) = ($name, $file);
	last;
}
ok(defined $victim_file, "a segment after the base backup's WAL is archived ($victim_name)");
my $bytes = slurp_file($victim_file);
substr($bytes, int(length($bytes) / 2), 8) = 'DAMAGED!';
open(my $vfh, '>:raw', $victim_file) or die $!;
print $vfh $bytes;
close($vfh);
my @bad_storage = ('--storage', "file://$bad_store", '--cluster', $sysid);
($rc, $rout, $rerr) = pgbak('wal-get', $victim_name, "$tmp/walget/RECOVERYXLOG", @bad_storage,
	'--prefetch', '0');
cmp_ok($rc, '>', 125, "wal-get of a damaged object exits above 125 ($rc): PostgreSQL stops recovery");
like($rerr, qr/pgbak: WAL file "$victim_name"(?: cannot be read back|: SHA-256 mismatch)/,
	'with a message naming the file');
ok(!-e "$tmp/walget/RECOVERYXLOG", 'and leaves no file behind');

# The prefetch cache: fetching the segment before the damaged one fills it
# from the good archive; the damaged one is then served from the cache,
# checked, without reading the damaged archive. A damaged cache entry is
# dropped, never served: the damaged archive is read and refused.
my ($good_sha) = (glob("$store/$sysid/wal/*/$victim_name-*.zst"))[0] =~ /-([0-9a-f]{64})\.zst$/;
my @cache = ('--prefetch-dir', "$tmp/cache", '--prefetch', '4');
($rc, $rout, $rerr) = pgbak('wal-get', $last, "$tmp/walget/RECOVERYXLOG", @storage, @cache);
is($rc, 0, "wal-get of $last from the good archive") or diag($rerr);
ok(-f "$tmp/cache/$sysid/$victim_name-$good_sha",
	'prefetched the next segment into the cache (a directory per cluster), named by its SHA-256');
($rc, $rout, $rerr) =
  pgbak('wal-get', $victim_name, "$tmp/walget/RECOVERYXLOG", @bad_storage, @cache);
is($rc, 0, 'the next call is served from the cache') or diag($rerr);
is(sha256_of_file("$tmp/walget/RECOVERYXLOG"), $good_sha, 'with the good content');
ok(!-e "$tmp/cache/$sysid/$victim_name-$good_sha", 'and the entry left the cache');
unlink "$tmp/walget/RECOVERYXLOG";
# An empty cache again (the segments prefetched after the damaged one are
# still there, and the cache is topped up only when half of it was used).
File::Path::remove_tree("$tmp/cache/$sysid");
($rc, $rout, $rerr) = pgbak('wal-get', $last, "$tmp/walget/RECOVERYXLOG", @storage, @cache);
unlink "$tmp/walget/RECOVERYXLOG";
my $entry = "$tmp/cache/$sysid/$victim_name-$good_sha";
ok(-f $entry, 'prefetched again');
my $cached = slurp_file($entry);
substr($cached, 100, 1) = substr($cached, 100, 1) eq 'x' ? 'y' : 'x';
open(my $cfh, '>:raw', $entry) or die $!;
print $cfh $cached;
close($cfh);
($rc, $rout, $rerr) =
  pgbak('wal-get', $victim_name, "$tmp/walget/RECOVERYXLOG", @bad_storage, @cache);
cmp_ok($rc, '>', 125, 'a damaged cache entry is not served: the damaged archive is read, and refused');
ok(!-e $entry, 'the damaged entry is gone');
ok(!-e "$tmp/walget/RECOVERYXLOG", 'and no file was written');

# A recovery that meets it stops instead of opening before it.
my $stopped = PostgreSQL::Test::Cluster->new('stopped');
($rc, $rout, $rerr) = pgbak('restore-cluster', '--pgdata', $stopped->data_dir, @bad_storage,
	'--tablespace-map', "$ts_oid=$tmp/ts_stopped", '--no-archive');
is($rc, 0, 'restore-cluster from the damaged archive unpacks the (intact) base backup')
  or diag($rerr);
$stopped->append_conf('postgresql.conf', "port = " . $stopped->port . "\n");
$stopped->start(fail_ok => 1);
ok( poll_until(
		120,
		sub {
			my $log = slurp_file($stopped->logfile);
			return $log =~ /FATAL:  could not restore file "$victim_name" from archive/;
		}),
	'recovery stops FATAL at the damaged segment');
like(slurp_file($stopped->logfile), qr/pgbak: WAL file "$victim_name"/,
	"the server log holds pgbak's message");
ok( poll_until(60, sub { !-f $stopped->data_dir . '/postmaster.pid' }),
	'and the server did not open');

# --- Encrypted S3, through the signature-checking proxy ------------------------------
# Another cluster archives into an S3 storage with age recipients and takes
# its base backup there; restore-cluster reads both with an options file
# that names the secret's file and an identity file: restore_command holds
# their paths, never the secret.
my $s3 = start_s3(name => 'pitr_s3');
my $identity = "$tmp/identity.txt";
my $recipient = age_keygen($identity);
my %s3_options = (
	endpoint => $s3->endpoint,
	access_key_id => $s3->access_key,
	secret_access_key => $s3->secret);
my $sealed = new_node(
	'pitr_sealed',
	wal_level => 'replica',
	max_wal_senders => 2,
	archive_mode => 'on',
	archive_library => "'pgbak_ext'",
	'pgbak.wal_storage' => "'s3enc'",
	autovacuum => 'off');
storage_add($sealed, 's3enc', 's3://' . $s3->bucket . '/sealed', %s3_options,
	age_recipients => [$recipient]);
my $sealed_sysid = $sealed->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
$sealed->safe_psql('postgres', 'CREATE DATABASE bench');
$sealed->command_ok(
	[ 'pgbench', '-i', '-q', '-s', '1', '-h', $sealed->host, '-p', $sealed->port, 'bench' ],
	'sealed: pgbench -i');
my $sealed_base = $sealed->safe_psql('postgres', "SELECT pgbak_base_backup('s3enc')");
is(wait_backup($sealed, $sealed_base, 300), 'succeeded', 'sealed: a base backup to encrypted S3');
$sealed->command_ok(
	[ 'pgbench', '-n', '-t', '200', '-c', '2', '-h', $sealed->host, '-p', $sealed->port, 'bench' ],
	'sealed: pgbench traffic');
my $sealed_noted = table_fingerprints($sealed, 'bench');
my $sealed_lsn = $sealed->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
$sealed->safe_psql('bench', 'DROP TABLE pgbench_accounts');
my $sealed_segment = $sealed->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
ok( poll_until(
		120,
		sub {
			$sealed->safe_psql('postgres', 'SELECT last_archived_wal FROM pg_stat_archiver') ge
			  $sealed_segment;
		}),
	"sealed: the archive holds $sealed_segment, after the drop");
$sealed->stop;

PostgreSQL::Test::Utils::append_to_file("$tmp/s3_secret", $s3->secret);
chmod 0600, "$tmp/s3_secret";
my %file_options = %s3_options;
delete $file_options{secret_access_key};
$file_options{secret_access_key_file} = "$tmp/s3_secret";
PostgreSQL::Test::Utils::append_to_file("$tmp/s3.json", JSON::PP->new->canonical->encode(\%file_options));
my $from_s3 = PostgreSQL::Test::Cluster->new('from_s3');
($rc, $rout, $rerr) = pgbak(
	'restore-cluster', '--pgdata', $from_s3->data_dir,
	'--storage', 's3://' . $s3->bucket . '/sealed',
	'--storage-options', "$tmp/s3.json", '--identity', $identity,
	'--target-lsn', $sealed_lsn, '--no-archive');
is($rc, 0, 'restore-cluster from encrypted S3 succeeds') or diag("$rout\n$rerr");
like($rout, qr/base backup $sealed_base /, 'from the base backup in S3');
my $s3_auto = slurp_file($from_s3->data_dir . '/postgresql.auto.conf');
like($s3_auto,
	qr/^restore_command = '\S*pgbak wal-get %f %p --storage s3:\/\/\S+\/sealed --storage-options \Q$tmp\E\/s3\.json --identity \Q$identity\E --cluster $sealed_sysid'$/m,
	'restore_command names the options and identity files');
unlike($s3_auto, qr/\Q${\ $s3->secret }\E/, 'and holds no secret');
$from_s3->append_conf('postgresql.conf', "port = " . $from_s3->port . "\n");
$from_s3->start;
ok(wait_promoted($from_s3), 'the cluster from encrypted S3 recovers to the LSN and opens');
is_deeply(table_fingerprints($from_s3, 'bench'), $sealed_noted,
	'it holds exactly the tables at that LSN (pgbench_accounts too)');
like($s3_auto, qr/^recovery_end_command = 'rm -rf pg_wal\/pgbak_prefetch'$/m,
	'recovery_end_command removes the prefetch cache');
ok(!-e $from_s3->data_dir . '/pg_wal/pgbak_prefetch', 'which is gone once recovery ended');
$from_s3->stop;

# --- A promotion: the restored cluster lives on, on timeline 2 -------------------
# A cluster restored to the latest without --no-archive replaces a lost
# server: it archives its new timeline into the same storage. A later
# restore-cluster from the same base follows timeline 2 (its history file
# says it branched off after the base ended), pinned to it, and recovers
# what was written there.
my ($successor) = restored_node('successor', '--target', 'latest',
	'--tablespace-map', "$ts_oid=$tmp/ts_successor");
$successor->start;
ok(wait_promoted($successor), 'the successor recovers and opens');
$successor->safe_psql('bench',
	q{CREATE TABLE after_promotion AS SELECT g FROM generate_series(1, 1000) g});
my $successor_segment =
  $successor->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
like($successor_segment, qr/^00000002/, 'the successor writes timeline 2');
ok( poll_until(
		120,
		sub {
			$successor->safe_psql('postgres', 'SELECT last_archived_wal FROM pg_stat_archiver') ge
			  $successor_segment;
		}),
	"the successor archived $successor_segment");
ok(scalar(glob("$store/$sysid/wal/00000002/00000002.history-*")),
	'and the history file of timeline 2');
my $successor_state = table_fingerprints($successor, 'bench');
ok($successor_state->{'public.after_promotion'}, 'the successor holds its own table');
$successor->stop;
my ($followed, $followed_out) = restored_node('followed', '--target', 'latest',
	'--tablespace-map', "$ts_oid=$tmp/ts_followed", '--no-archive');
like($followed_out, qr/up to segment 00000002[0-9A-F]{16} \(LSN [0-9A-F\/]+\), following timeline 1 to 2 \(at LSN /,
	'restore-cluster follows timeline 2 from the same base');
is(last_setting(slurp_file($followed->data_dir . '/postgresql.auto.conf'), 'recovery_target_timeline'),
	"'2'", 'and pins recovery_target_timeline to it');
$followed->start;
ok(wait_promoted($followed), 'the cluster recovered along timeline 2 opens');
is_deeply(table_fingerprints($followed, 'bench'), $successor_state,
	'it holds what the successor wrote on timeline 2');
$followed->stop;

# The source went on on timeline 1 (the successor was a copy after all):
# its next base backup ends after timeline 2 branched off. A restore from
# it must not follow timeline 2 (PostgreSQL would stop FATAL: "requested
# timeline 2 is not a child of this server's history"): pinned to 1.
my $second_base = $node->safe_psql('postgres', "SELECT pgbak_base_backup('walstore')");
is(wait_backup($node, $second_base, 300), 'succeeded', 'a second base backup of the source');
$node->safe_psql('bench', q{CREATE TABLE source_went_on AS SELECT 1 AS one});
my $source_state = table_fingerprints($node, 'bench');
archive_through_now();
my ($pinned, $pinned_out) = restored_node('pinned', '--target', 'latest',
	'--tablespace-map', "$ts_oid=$tmp/ts_pinned", '--no-archive');
like($pinned_out, qr/base backup $second_base .*timeline 2 branched off at LSN \S+, before the base backup ended, and is not followed/s,
	'restore-cluster from the newer base leaves timeline 2 alone, and says so');
is(last_setting(slurp_file($pinned->data_dir . '/postgresql.auto.conf'), 'recovery_target_timeline'),
	"'1'", "and pins recovery_target_timeline to the base's");
$pinned->start;
ok(wait_promoted($pinned), 'the cluster recovered along timeline 1 opens');
is_deeply(table_fingerprints($pinned, 'bench'), $source_state,
	'it holds what the source wrote on timeline 1, after the second base backup');
$pinned->stop;

$node->stop;
done_testing();
