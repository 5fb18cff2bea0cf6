# 012_streaming_restore.pl: a whole-database restore of a custom set loads
# tables while the set is still being read back (src/pg/jobs/stream_restore.cpp).
# What must hold:
#   - the restored database equals the source: every table (partitions,
#     odd names, non-ASCII text, bytea, empty tables), sequence values, a
#     large object, indexes, constraints, a materialized view; with 1 and 2
#     jobs; and for a backup made before toc_sha256 existed;
#   - backup_log.toc_sha256 is the SHA-256 of the archive's header and TOC;
#   - nothing of an archive whose TOC is not the one the backup wrote is
#     run (no DDL reaches the server), and no database is left;
#   - a restore with "clean" over an existing database keeps that database
#     when the set turns out damaged;
#   - a table whose rows fail to load fails the restore (and a drill) with
#     the table named, and leaves no database;
#   - a cancel, and a kill -9 of the worker, in the middle of loading leave
#     no database, no session and nothing staged.

use strict;
use warnings;

use Digest::SHA ();
use File::Basename qw(dirname);
use File::Find ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use PgbakTest;

# The test framework turns restart_after_crash off; users run with it on.
my $node = new_node('stream', restart_after_crash => 'on');
my $root = dirname($node->data_dir) . '/pgbak_backups';
my $tmp = PostgreSQL::Test::Utils::tempdir();

# run_restore($backup_id, $target, $options_json) -> ($restore_id, $status)
sub run_restore
{
	my ($backup_id, $target, $options) = @_;
	my $sql = "SELECT pgbak_restore($backup_id, " . quote_literal($target);
	$sql .= ', ' . quote_literal($options) . '::jsonb' if defined $options;
	my $id = $node->safe_psql('postgres', "$sql)");
	return ($id, $node->safe_psql('postgres', "SELECT pgbak_wait($id, 120)"));
}

# databases_like($pattern) lists databases whose names match a LIKE pattern.
sub databases_like
{
	my ($pattern) = @_;
	return $node->safe_psql('postgres',
		"SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE datname LIKE "
		  . quote_literal($pattern));
}

# staged_files() lists what is left below the staging directory.
sub staged_files
{
	my @left;
	File::Find::find(sub { push @left, $File::Find::name if -f $_ }, "$root/.staging")
	  if -d "$root/.staging";
	return join(', ', @left);
}

# extras($db): what table fingerprints do not show.
sub extras
{
	my ($db) = @_;
	return $node->safe_psql(
		$db, q{
		SELECT (SELECT last_value FROM public.items_id_seq) || ' ' ||
		       (SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes
		         WHERE schemaname = 'public') || ' ' ||
		       (SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint
		         WHERE connamespace = 'public'::regnamespace) || ' ' ||
		       (SELECT count(*) FROM public.item_totals) || ' ' ||
		       (SELECT md5(lo_get(loid)) FROM public.docs)});
}

# ---------------------------------------------------------------------------
# A source database with a bit of everything.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql(
	'src', q{
	CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, price numeric(10,2),
	                    data bytea, tags text[]);
	INSERT INTO items (name, price, data, tags)
	  SELECT 'item ' || g || ' Grüße ☃', g / 7.0, decode(md5(g::text), 'hex'),
	         ARRAY['a' || g, E'tab\there', E'new\nline']
	  FROM generate_series(1, 60000) g;
	CREATE TABLE orders (id bigint PRIMARY KEY, item_id int REFERENCES items (id),
	                     note text);
	INSERT INTO orders SELECT g, 1 + g % 60000, repeat('x', g % 50) FROM generate_series(1, 30000) g;
	CREATE INDEX orders_note ON orders (note);
	CREATE TABLE empty_table (a int);
	CREATE SCHEMA "Odd Schema";
	CREATE TABLE "Odd Schema"."Mixed ""Quoted"" Table" ("Col" text);
	INSERT INTO "Odd Schema"."Mixed ""Quoted"" Table" VALUES ('one'), (NULL), (E'back\\slash');
	CREATE TABLE measurements (day date NOT NULL, v int) PARTITION BY RANGE (day);
	CREATE TABLE measurements_2023 PARTITION OF measurements
	  FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
	CREATE TABLE measurements_2024 PARTITION OF measurements
	  FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
	INSERT INTO measurements SELECT d, extract(doy FROM d) FROM
	  generate_series('2023-01-01'::date, '2024-12-31', '1 day') d;
	CREATE MATERIALIZED VIEW item_totals AS SELECT item_id, count(*) FROM orders GROUP BY 1;
	CREATE TABLE docs (loid oid);
	INSERT INTO docs VALUES (lo_from_bytea(0, convert_to(repeat('large object ', 1000), 'UTF8')));
	SELECT setval('items_id_seq', 70000);
});
my $source_prints = table_fingerprints($node, 'src');
my $source_extras = extras('src');
like($source_extras, qr/^70000 .*orders_note.*orders_item_id_fkey.* \d+ [0-9a-f]{32}$/,
	'the source has its sequence, index, foreign key, view and large object');

my ($backup, $status) = run_backup($node, 'src');
is($status, 'succeeded', 'backup of the source');
my $row = backup_row($node, $backup);

# ---------------------------------------------------------------------------
# toc_sha256 is the hash of the header and TOC: of a prefix of the archive
# that ends where the first data block (type byte 1) starts.
# ---------------------------------------------------------------------------
like($row->{toc_sha256}, qr/^[0-9a-f]{64}$/, 'the backup records toc_sha256');
{
	my $archive = "$tmp/src.dump";
	decompress_file("$row->{location}/data.dump.zst", $archive);
	my $bytes = slurp_file($archive);
	my $match;
	for (my $at = index($bytes, "\x01"); $at > 0 && $at < 4 << 20;
		$at = index($bytes, "\x01", $at + 1))
	{
		if (Digest::SHA::sha256_hex(substr($bytes, 0, $at)) eq $row->{toc_sha256})
		{
			$match = $at;
			last;
		}
	}
	ok(defined $match, 'toc_sha256 is the SHA-256 of the archive up to a data block');
	# The block there is the first table's data: pg_restore lists the TOC.
	my $listing = `pg_restore --list $archive`;
	like($listing, qr/TABLE DATA/, 'pg_restore reads the archive');
}

# ---------------------------------------------------------------------------
# Whole restores equal the source, with 2 jobs and with 1.
# ---------------------------------------------------------------------------
for my $jobs (2, 1)
{
	my ($rid, $st) = run_restore($backup, "copy_j$jobs", qq({"jobs": $jobs}));
	is($st, 'succeeded', "restore with $jobs jobs succeeds")
	  or diag explain backup_row($node, $rid);
	is_deeply(table_fingerprints($node, "copy_j$jobs"),
		$source_prints, "restore with $jobs jobs: every table equals the source");
	is(extras("copy_j$jobs"), $source_extras,
		"restore with $jobs jobs: sequence, indexes, constraints, view, large object");
	ok(defined backup_row($node, $rid)->{restore_seconds},
		"restore with $jobs jobs records its time");
}
is(databases_like('pgbak_restore_%'), '', 'no database is left under a building name');

# A backup made before version 1.2 has no toc_sha256: its TOC is trusted
# only once the whole object was checked, and the restore still works.
$node->safe_psql('postgres', "UPDATE backup_log SET toc_sha256 = NULL WHERE id = $backup");
{
	my ($rid, $st) = run_restore($backup, 'copy_legacy', '{"jobs": 2}');
	is($st, 'succeeded', 'restore of a set without toc_sha256 succeeds');
	is_deeply(table_fingerprints($node, 'copy_legacy'),
		$source_prints, 'and equals the source');
}

# ---------------------------------------------------------------------------
# A TOC that is not the one the backup wrote is never run.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'ALTER SYSTEM SET log_statement = ddl');
$node->reload;
$node->safe_psql('postgres',
	"UPDATE backup_log SET toc_sha256 = repeat('0', 64) WHERE id = $backup");
{
	my $log_start = -s $node->logfile;
	my ($rid, $st) = run_restore($backup, 'copy_forged', '{"jobs": 2}');
	is($st, 'failed', 'a restore whose TOC hash differs fails');
	my $r = backup_row($node, $rid);
	like($r->{error_message}, qr/table of contents is not the one the backup wrote/,
		'the error says the TOC is not the one the backup wrote');
	my $log = substr(slurp_file($node->logfile), $log_start);
	unlike($log, qr/CREATE TABLE public\.items/, 'no statement of that archive reached the server');
	is(databases_like('copy_forged'), '', 'no target database');
	is(databases_like('pgbak_restore_%'), '', 'no building database');
	is(staged_files(), '', 'nothing staged');
}
$node->safe_psql('postgres', 'ALTER SYSTEM RESET log_statement');
$node->reload;
$node->safe_psql('postgres',
	"UPDATE backup_log SET toc_sha256 = " . quote_literal($row->{toc_sha256}) . " WHERE id = $backup");

# ---------------------------------------------------------------------------
# clean over an existing database keeps it when the set is damaged.
# ---------------------------------------------------------------------------
{
	my ($damaged) = run_backup($node, 'src');
	my $location = backup_row($node, $damaged)->{location};
	my $object = "$location/data.dump.zst";
	my $size = -s $object;
	open(my $fh, '+<', $object) or die "open $object: $!";
	binmode $fh;
	seek($fh, int($size * 0.8), 0);
	read($fh, my $byte, 1);
	seek($fh, int($size * 0.8), 0);
	print $fh chr(ord($byte) ^ 0x5a);
	close($fh);

	$node->safe_psql('postgres', 'CREATE DATABASE keepme');
	$node->safe_psql('keepme', "CREATE TABLE precious (v text); INSERT INTO precious VALUES ('kept')");
	my ($rid, $st) = run_restore($damaged, 'keepme', '{"clean": true, "jobs": 2}');
	is($st, 'failed', 'a clean restore of a damaged set fails');
	like(backup_row($node, $rid)->{error_message}, qr/SHA-256 mismatch/,
		'and says why');
	is($node->safe_psql('keepme', 'SELECT v FROM precious'),
		'kept', 'the database it would have replaced is untouched');
	is(databases_like('pgbak_restore_%'), '', 'no building database is left');

	# A good set does replace it.
	($rid, $st) = run_restore($backup, 'keepme', '{"clean": true}');
	is($st, 'succeeded', 'a clean restore of a good set succeeds');
	is_deeply(table_fingerprints($node, 'keepme'), $source_prints, 'and replaces the database');
}

# ---------------------------------------------------------------------------
# Rows that fail to load fail the restore and the drill, with the table named.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE picky');
$node->safe_psql(
	'picky', q{
	CREATE FUNCTION public.not_while_restoring(v int) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
	  IF current_database() LIKE 'pgbak\_%' THEN
	    RAISE EXCEPTION 'refusing row % in %', v, current_database();
	  END IF;
	  RETURN true;
	END $$;
	CREATE TABLE fine (v int);
	INSERT INTO fine SELECT generate_series(1, 1000);
	CREATE TABLE refuses (v int CHECK (public.not_while_restoring(v)));
	INSERT INTO refuses SELECT generate_series(1, 10);
});
{
	my ($picky) = run_backup($node, 'picky');
	my ($rid, $st) = run_restore($picky, 'picky_copy', '{"jobs": 2}');
	is($st, 'failed', 'a restore whose rows are refused fails');
	my $r = backup_row($node, $rid);
	like($r->{error_message}, qr/loading table "public"\."refuses" failed/,
		'the error names the table');
	like($r->{error_detail}, qr/refusing row/, 'the detail has the server\'s reason');
	is(databases_like('picky_copy'), '', 'no target database');
	is(databases_like('pgbak_restore_%'), '', 'no building database');

	my $vid = $node->safe_psql('postgres', "SELECT pgbak_verify($picky, true)");
	is($node->safe_psql('postgres', "SELECT pgbak_wait($vid, 120)"),
		'failed', 'the restore drill fails too');
	like(backup_row($node, $picky)->{verify_status},
		qr/^failed: loading table "public"\."refuses" failed/, 'verify_status names the table');
	is(databases_like('pgbak_verify_%'), '', 'the scratch database is dropped');
}

# ---------------------------------------------------------------------------
# Cancel and kill -9 while tables load.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE slow');
$node->safe_psql(
	'slow', q{
	CREATE FUNCTION public.slowly(v int) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
	  IF current_database() LIKE 'pgbak\_%' THEN
	    PERFORM pg_catalog.pg_sleep(0.01);
	  END IF;
	  RETURN true;
	END $$;
	CREATE TABLE crawl (v int CHECK (public.slowly(v)));
	INSERT INTO crawl SELECT generate_series(1, 6000);
});
my ($slow) = run_backup($node, 'slow');

# loading_in($db): a session of ours copies into crawl in that database.
sub loading_in
{
	my ($id) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE datname = 'pgbak_restore_$id' "
		  . "AND query LIKE 'COPY public.crawl%'");
}

for my $how ('cancel', 'kill')
{
	my $rid = $node->safe_psql('postgres', "SELECT pgbak_restore($slow, 'slow_$how')");
	ok(poll_until(60, sub { loading_in($rid) > 0 }), "$how: the restore is loading");
	if ($how eq 'cancel')
	{
		$node->safe_psql('postgres', "SELECT pgbak_cancel($rid)");
		is($node->safe_psql('postgres', "SELECT pgbak_wait($rid, 60)"),
			'cancelled', 'cancel: the restore ends cancelled');
	}
	else
	{
		my $pid = backup_row($node, $rid)->{worker_pid};
		kill 'KILL', $pid;
		ok(poll_until(90, sub { backup_row($node, $rid)->{status} eq 'failed' }),
			'kill: after the crash restart the restore is marked failed');
	}
	ok(poll_until(60, sub { databases_like('pgbak_restore_%') eq '' }),
		"$how: the building database is dropped");
	is(databases_like("slow_$how"), '', "$how: no target database");
	ok(poll_until(30, sub { loading_in($rid) == 0 }), "$how: no loading session is left");
	ok(poll_until(30, sub { staged_files() eq '' }), "$how: nothing staged is left");
}

# The server is still well: a restore after all that succeeds.
{
	my ($rid, $st) = run_restore($backup, 'copy_after', '{"jobs": 2}');
	is($st, 'succeeded', 'a restore after the faults succeeds');
	is_deeply(table_fingerprints($node, 'copy_after'), $source_prints, 'and equals the source');
}

$node->stop;
done_testing();
