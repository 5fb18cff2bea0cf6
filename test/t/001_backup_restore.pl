# 001_backup_restore.pl: the whole life of a local backup, checked with the
# stock tools only: the set directory and its manifest, checksums with
# sha256sum, restores with zstd + pg_restore / psql into new databases, the
# globals on a second cluster, the dump options, awkward names, and a
# failing pg_dump.
#
# This file is saved as UTF-8 without "use utf8": names with non-ASCII
# letters are byte strings here, as psql sends and returns them.

use strict;
use warnings;

use Encode qw(decode_utf8);
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakTest;

my $node = new_node('main');
my $tmp = PostgreSQL::Test::Utils::tempdir;

# ---------------------------------------------------------------------------
# The source database: every kind of value and name a dump must carry.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', q{
  CREATE ROLE app_readers NOLOGIN;
  CREATE ROLE app_owner LOGIN CONNECTION LIMIT 7 IN ROLE app_readers;
  CREATE DATABASE srcdb;
});
$node->safe_psql('srcdb', q{
  CREATE TABLE ints (id bigint PRIMARY KEY, small smallint, big bigint,
                     num numeric(20,5), f double precision);
  INSERT INTO ints SELECT g, (g % 30000)::smallint, g::bigint * 1000003, g / 7.0, g * 0.5
    FROM generate_series(1, 100000) g;
  CREATE INDEX ints_small_idx ON ints (small);

  CREATE TABLE texts (id int PRIMARY KEY, body text);
  INSERT INTO texts VALUES
    (1, E'line one\nline two\r\nline three\n'),
    (2, E'tab\there\tand\tthere'),
    (3, E'back\\slash \\N \\\\ \\t'),
    (4, $$single ' and double " quotes, 'nested "mixed"'$$),
    (5, 'unicode: ü é ß 中文 😀 ∑ ﬁ'),
    (6, NULL),
    (7, ''),
    (8, E'before\n\\.\nafter'),
    (9, E'\\.'),
    (10, 'COPY-like line	with a tab and \N');
  INSERT INTO texts SELECT g, repeat(md5(g::text), 20) FROM generate_series(100, 5100) g;

  CREATE TABLE blobs (id int PRIMARY KEY, data bytea);
  INSERT INTO blobs VALUES
    (1, (SELECT decode(string_agg(lpad(to_hex(g), 2, '0'), ''), 'hex')
         FROM generate_series(0, 255) g)),
    (2, ''::bytea),
    (3, NULL),
    (4, (SELECT string_agg(decode(md5(g::text), 'hex'), ''::bytea)
         FROM generate_series(1, 20000) g));

  CREATE TABLE docs (id int PRIMARY KEY, doc jsonb);
  INSERT INTO docs VALUES
    (1, '{"quote": "\"q\"", "backslash": "\\\\", "newline": "a\nb", "null": null}'),
    (2, '[1, 2.5, true, false, null, "ü", {"nested": [[]]}]'),
    (3, NULL),
    (4, '"just a string"');
  INSERT INTO docs SELECT g, jsonb_build_object('id', g, 'tags', jsonb_build_array('a', g))
    FROM generate_series(10, 2010) g;

  CREATE TABLE nulls (a int, b text, c jsonb, d bytea, e timestamptz);
  INSERT INTO nulls VALUES (NULL, NULL, NULL, NULL, NULL),
                           (1, NULL, 'null', NULL, '2024-02-29 12:34:56.789+00'),
                           (NULL, '', NULL, '', NULL);

  CREATE TABLE "MixedCase" ("Id" int PRIMARY KEY, "Value" text);
  INSERT INTO "MixedCase" SELECT g, 'mixed ' || g FROM generate_series(1, 300) g;

  CREATE SCHEMA "odd.schema name";
  CREATE TABLE "odd.schema name".things (id int, "a column" text);
  INSERT INTO "odd.schema name".things SELECT g, 'thing ' || g FROM generate_series(1, 123) g;

  CREATE TABLE events (id int, at date, payload text) PARTITION BY RANGE (at);
  CREATE TABLE events_2023 PARTITION OF events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
  CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
  INSERT INTO events SELECT g, date '2023-01-01' + (g % 700), 'event ' || g
    FROM generate_series(1, 7000) g;

  CREATE SEQUENCE counter START 100;
  SELECT setval('counter', 4242);

  CREATE VIEW recent_ints AS SELECT id, big FROM ints WHERE id > 99990;

  CREATE TABLE owned (id int, note text);
  INSERT INTO owned VALUES (1, 'owned by app_owner'), (2, NULL);
  ALTER TABLE owned OWNER TO app_owner;
  GRANT SELECT ON owned TO app_readers;
});

my $source_prints = table_fingerprints($node, 'srcdb');
# Make sure the fingerprints are worth something: every table is there and
# the data is not trivially empty.
is(scalar(keys %$source_prints), 11, 'source has the 11 tables and partitions');
like($source_prints->{'public.ints'}, qr/^100000:[0-9a-f]{32}$/, 'fingerprint counts rows');

# leaf_counts: count(*) FROM ONLY of every ordinary table of a database
# (the partitions, not the partitioned table), as "schema.table" => count.
sub leaf_counts
{
	my ($db) = @_;
	my $sql = $node->safe_psql($db, q{
	  SELECT string_agg(format('SELECT %L, count(*) FROM ONLY %I.%I',
	                           n.nspname || '.' || c.relname, n.nspname, c.relname),
	                    ' UNION ALL ')
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	  WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'});
	my %counts;
	for my $line (split /\n/, $node->safe_psql($db, $sql, extra_params => [ '-F', "\t" ]))
	{
		my ($name, $count) = split /\t/, $line;
		$counts{$name} = $count;
	}
	return \%counts;
}
my $source_counts = leaf_counts('srcdb');

# manifest_counts: "schema.table" => rows from a manifest.
sub manifest_counts
{
	my ($manifest) = @_;
	return { map { ("$_->{schema}.$_->{table}" => $_->{rows}) } @{ $manifest->{tables} } };
}

# new_database: creates an empty database to restore into.
sub new_database
{
	my ($n, $db) = @_;
	$n->safe_psql('postgres', 'CREATE DATABASE ' . quote_ident($db));
}

# ---------------------------------------------------------------------------
# A default (custom format) backup.
# ---------------------------------------------------------------------------
my ($id, $status) = run_backup($node, 'srcdb', '{"format":"custom"}');
is($status, 'succeeded', 'custom format backup succeeds');
my $row = backup_row($node, $id);
is($row->{status}, 'succeeded', 'backup_log says succeeded');
is($row->{database_name}, 'srcdb', 'backup_log names the database');
is($row->{format}, 'custom', 'backup_log records the format');
ok(!defined $row->{error_message}, 'no error message on success');
ok(defined $row->{started_at} && defined $row->{finished_at}
	  && $row->{started_epoch} <= $row->{finished_epoch},
	'started_at <= finished_at');

my $root = dirname($node->data_dir) . '/pgbak_backups';
my $loc = $row->{location};
like($loc, qr{^\Q$root\E/}, 'the set is under <datadir>/../pgbak_backups');
ok(-d $loc, 'the set directory exists');
is_deeply([ backup_files($loc) ], [ 'data.dump.zst', 'globals.sql.zst', 'manifest.json' ],
	'the set holds exactly the data, the globals and the manifest');
for my $name (backup_files($loc))
{
	is((stat("$loc/$name"))[2] & 07777, 0600, "$name is mode 0600");
}
is((stat($loc))[2] & 07777, 0700, 'the set directory is mode 0700');

my $data = "$loc/data.dump.zst";
is($row->{checksum_sha256}, sha256_of_file($data),
	'checksum_sha256 is the sha256sum of data.dump.zst');
is($row->{stored_bytes}, -s $data, 'stored_bytes is the size of data.dump.zst');
my $dump = "$tmp/srcdb.dump";
my $raw_size = decompress_file($data, $dump);
is($row->{raw_bytes}, $raw_size, 'raw_bytes is the size of the uncompressed dump');
ok($raw_size > 1_000_000, 'the dump has the data (more than 1 MB)');
ok($row->{stored_bytes} < $raw_size, 'the stored object is compressed');
is($row->{globals_bytes}, -s "$loc/globals.sql.zst", 'globals_bytes is the size of globals.sql.zst');

# The manifest: parses, describes both objects exactly, counts every row.
my $manifest = read_manifest($loc);
is($manifest->{backup_id}, $id, 'manifest names the backup id');
is($manifest->{database}, 'srcdb', 'manifest names the database');
is($manifest->{dump_format}, 'custom', 'manifest names the format');
is($manifest->{system_identifier},
	$node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()'),
	'manifest carries the system identifier');
like($manifest->{snapshot_lsn}, qr{^[0-9A-F]+/[0-9A-F]+$}, 'manifest carries an LSN');
my %objects = map { ($_->{name} => $_) } @{ $manifest->{objects} };
is_deeply([ sort keys %objects ], [ 'data.dump.zst', 'globals.sql.zst' ],
	'manifest lists the two objects');
for my $name (sort keys %objects)
{
	my $o = $objects{$name};
	is($o->{size}, -s "$loc/$name", "manifest size of $name matches the file");
	is($o->{sha256}, sha256_of_file("$loc/$name"), "manifest sha256 of $name matches sha256sum");
	my $raw = decompress_file("$loc/$name", "$tmp/raw.$id");
	is($o->{raw_size}, $raw, "manifest raw_size of $name matches zstd -dc");
}
is($objects{'data.dump.zst'}{sha256}, $row->{checksum_sha256},
	'manifest and backup_log agree on the checksum');
is_deeply(manifest_counts($manifest), $source_counts,
	'manifest row counts equal count(*) of every table in the source');
is($row->{table_count}, scalar(@{ $manifest->{tables} }), 'table_count matches the manifest');

# Restore with stock pg_restore into a new database: same data everywhere.
new_database($node, 'restored');
my ($ok, $err) = restore_custom($node, 'restored', $dump);
ok($ok, 'pg_restore of the uncompressed dump succeeds') or diag $err;
is_deeply(table_fingerprints($node, 'restored'), $source_prints,
	'every table restores with identical rows');
is($node->safe_psql('restored', 'SELECT last_value FROM counter'), '4242',
	'the sequence value is restored');
is($node->safe_psql('restored', 'SELECT count(*) || \',\' || sum(big) FROM recent_ints'),
	$node->safe_psql('srcdb', 'SELECT count(*) || \',\' || sum(big) FROM recent_ints'),
	'the view is restored');
is($node->safe_psql('restored',
		q{SELECT indexdef FROM pg_indexes WHERE indexname = 'ints_small_idx'}),
	$node->safe_psql('srcdb',
		q{SELECT indexdef FROM pg_indexes WHERE indexname = 'ints_small_idx'}),
	'the index is restored');
is($node->safe_psql('restored',
		q{SELECT tableowner || ' ' || has_table_privilege('app_readers', 'owned', 'SELECT')
		  FROM pg_tables WHERE tablename = 'owned'}),
	'app_owner true', 'ownership and grants are restored');
is($node->safe_psql('restored', q{SELECT body FROM texts WHERE id = 5}),
	'unicode: ü é ß 中文 😀 ∑ ﬁ', 'unicode text survives byte for byte');

# ---------------------------------------------------------------------------
# Globals: on a second, fresh cluster, globals.sql.zst recreates the roles,
# after which the data restores with its owner.
# ---------------------------------------------------------------------------
my $other = plain_node('other');
my $globals_sql = "$tmp/globals.sql";
decompress_file("$loc/globals.sql.zst", $globals_sql);
my ($rc, $gout, $gerr) = run_psql_file($other, 'postgres', $globals_sql);
is($rc, 0, 'psql runs globals.sql on a fresh cluster');
my @errors = grep { /ERROR/ } split /\n/, $gerr;
ok(!grep({ !/role "[^"]+" already exists/ } @errors),
	'the only errors are about the bootstrap role that already exists')
  or diag $gerr;
is($other->safe_psql('postgres',
		q{SELECT rolcanlogin || ' ' || rolconnlimit FROM pg_roles WHERE rolname = 'app_owner'}),
	'true 7', 'the test role exists on the new cluster with its attributes');
is($other->safe_psql('postgres', q{SELECT pg_has_role('app_owner', 'app_readers', 'MEMBER')}),
	't', 'role membership is restored');
new_database($other, 'restored');
($ok, $err) = restore_custom($other, 'restored', $dump);
ok($ok, 'the dump restores on the new cluster once the globals are in') or diag $err;
is_deeply(table_fingerprints($other, 'restored'), $source_prints,
	'identical rows on the new cluster');
is($other->safe_psql('restored', q{SELECT tableowner FROM pg_tables WHERE tablename = 'owned'}),
	'app_owner', 'the restored table keeps its owner on the new cluster');
$other->stop;

# ---------------------------------------------------------------------------
# Plain format: data.sql.zst, restored with psql.
# ---------------------------------------------------------------------------
($id, $status) = run_backup($node, 'srcdb', '{"format":"plain"}');
is($status, 'succeeded', 'plain format backup succeeds');
$row = backup_row($node, $id);
is($row->{format}, 'plain', 'backup_log records the plain format');
is_deeply([ backup_files($row->{location}) ],
	[ 'data.sql.zst', 'globals.sql.zst', 'manifest.json' ],
	'a plain set holds data.sql.zst');
is($row->{checksum_sha256}, sha256_of_file("$row->{location}/data.sql.zst"),
	'checksum_sha256 is the sha256sum of data.sql.zst');
$manifest = read_manifest($row->{location});
is($manifest->{dump_format}, 'plain', 'manifest names the plain format');
my $plain = "$tmp/plain.sql";
decompress_file("$row->{location}/data.sql.zst", $plain);
new_database($node, 'restored_plain');
($ok, $err) = restore_plain($node, 'restored_plain', $plain);
ok($ok, 'psql -v ON_ERROR_STOP=1 restores the plain dump') or diag $err;
is_deeply(table_fingerprints($node, 'restored_plain'), $source_prints,
	'plain restore gives identical rows');

# ---------------------------------------------------------------------------
# "tables": only those tables' data, quoting honoured; every definition
# comes along, so that the set restores on its own.
# ---------------------------------------------------------------------------

# selection_prints($prints, @tables): what table_fingerprints gives for a
# restore of a selection: every table, empty but for those named.
sub selection_prints
{
	my ($prints, @tables) = @_;
	my %selected = map { $_ => 1 } @tables;
	my %expected = map {
		$_ => $selected{$_} ? $prints->{$_} : '0:' . 'd41d8cd98f00b204e9800998ecf8427e'
	} keys %$prints;
	return \%expected;
}
($id, $status) = run_backup($node, 'srcdb',
	'{"tables":["public.texts", "public.\"MixedCase\""]}');
is($status, 'succeeded', 'backup with a tables list succeeds');
$row = backup_row($node, $id);
$manifest = read_manifest($row->{location});
is_deeply(manifest_counts($manifest),
	{ 'public.texts' => $source_counts->{'public.texts'},
	  'public.MixedCase' => $source_counts->{'public.MixedCase'} },
	'manifest counts only the selected tables');
decompress_file("$row->{location}/data.dump.zst", "$tmp/tables.dump");
new_database($node, 'restored_tables');
($ok, $err) = restore_custom($node, 'restored_tables', "$tmp/tables.dump");
ok($ok, 'the table-selected dump restores') or diag $err;
is_deeply(table_fingerprints($node, 'restored_tables'),
	selection_prints($source_prints, 'public.texts', 'public.MixedCase'),
	'every table is defined, only the selected ones have rows, identical ones');

($id, $status) = run_backup($node, 'srcdb', '{"tables":["\"odd.schema name\".things"]}');
is($status, 'succeeded', 'a table in a schema with a dot and a space can be selected');
$row = backup_row($node, $id);
is_deeply(manifest_counts(read_manifest($row->{location})),
	{ 'odd.schema name.things' => 123 }, 'manifest counts that one table');
decompress_file("$row->{location}/data.dump.zst", "$tmp/odd.dump");
new_database($node, 'restored_odd');
($ok, $err) = restore_custom($node, 'restored_odd', "$tmp/odd.dump");
ok($ok, 'the dump of that table restores into an empty database, its schema with it')
  or diag $err;
is_deeply(table_fingerprints($node, 'restored_odd'),
	selection_prints($source_prints, 'odd.schema name.things'),
	'that table alone has rows');

# ---------------------------------------------------------------------------
# schema_only, then data_only on top of it.
# ---------------------------------------------------------------------------
($id, $status) = run_backup($node, 'srcdb', '{"schema_only":true}');
is($status, 'succeeded', 'schema-only backup succeeds');
$row = backup_row($node, $id);
is_deeply(read_manifest($row->{location})->{tables}, [], 'schema-only manifest counts no table');
decompress_file("$row->{location}/data.dump.zst", "$tmp/schema.dump");
new_database($node, 'restored_schema');
($ok, $err) = restore_custom($node, 'restored_schema', "$tmp/schema.dump");
ok($ok, 'the schema-only dump restores') or diag $err;
my $schema_prints = table_fingerprints($node, 'restored_schema');
is_deeply([ sort keys %$schema_prints ], [ sort keys %$source_prints ],
	'schema-only restore creates every table');
is_deeply([ grep { !/^0:/ } values %$schema_prints ], [], 'and no table has a row');

($id, $status) = run_backup($node, 'srcdb', '{"data_only":true}');
is($status, 'succeeded', 'data-only backup succeeds');
$row = backup_row($node, $id);
is_deeply(manifest_counts(read_manifest($row->{location})), $source_counts,
	'data-only manifest counts every table');
decompress_file("$row->{location}/data.dump.zst", "$tmp/data.dump");
($ok, $err) = restore_custom($node, 'restored_schema', "$tmp/data.dump");
ok($ok, 'the data-only dump restores into the schema-only copy') or diag $err;
is_deeply(table_fingerprints($node, 'restored_schema'), $source_prints,
	'schema-only + data-only give identical rows');

# ---------------------------------------------------------------------------
# A database name with a quote, a semicolon, a space and a unicode letter.
# ---------------------------------------------------------------------------
my $weird = "we'ird; db ü";
new_database($node, $weird);
$node->safe_psql($weird, q{
  CREATE TABLE t (id int PRIMARY KEY, v text);
  INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 1000) g;
});
my $weird_id;
($weird_id, $status) = run_backup($node, $weird, '{}');
is($status, 'succeeded', 'a database with an awkward name backs up');
$row = backup_row($node, $weird_id);
is($row->{database_name}, $weird, 'backup_log has its exact name');
ok(-f "$row->{location}/manifest.json", 'its set is complete');
$manifest = read_manifest($row->{location});
is($manifest->{database}, decode_utf8($weird), 'manifest has its exact name');
is_deeply(manifest_counts($manifest), { 'public.t' => 1000 }, 'manifest counts its table');
decompress_file("$row->{location}/data.dump.zst", "$tmp/weird.dump");
my $weird_target = "rëstored \"x\" 'y'; z";
new_database($node, $weird_target);
($ok, $err) = restore_custom($node, $weird_target, "$tmp/weird.dump");
ok($ok, 'it restores into another awkward name') or diag $err;
is_deeply(table_fingerprints($node, $weird_target), table_fingerprints($node, $weird),
	'identical rows');

# ---------------------------------------------------------------------------
# pg_dump failing: a tables entry that does not exist.
# ---------------------------------------------------------------------------
my $good_id = queue_backup($node, 'srcdb', '{}');
is(wait_backup($node, $good_id), 'succeeded', 'another good backup of srcdb');
my $bad_id;
($bad_id, $status) = run_backup($node, 'srcdb', '{"tables":["public.no_such_table"]}');
is($status, 'failed', 'a backup of a table that does not exist fails');
$row = backup_row($node, $bad_id);
is( $row->{error_message},
	'backup option "tables" names "public.no_such_table", which is not in database "srcdb"',
	'error_message names the table and the database');
is($row->{error_sqlstate}, '42704', 'as an undefined object');
ok(defined $row->{finished_at}, 'the failed row has finished_at');
ok(defined $row->{location}, 'the failed row has a location');
ok(!-e "$row->{location}/manifest.json", 'no manifest for the failed backup');
is(set_leftovers($row->{location}), '', 'no file left of the failed backup');

# backup_status: one row per database, pointing at the newest good backup.
is($node->safe_psql('postgres',
		q{SELECT last_backup_id || ' ' || stale || ' ' || (last_location IS NOT NULL)
		  FROM backup_status WHERE database_name = 'srcdb'}),
	"$good_id false true", 'backup_status shows the newest good backup of srcdb');
like($node->safe_psql('postgres',
		q{SELECT last_error FROM backup_status WHERE database_name = 'srcdb'}),
	qr/no_such_table/, 'backup_status shows the last failure');
is($node->safe_psql('postgres',
		'SELECT last_backup_id FROM backup_status WHERE database_name = ' . quote_literal($weird)),
	$weird_id, 'backup_status shows the awkward database too');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM backup_log WHERE status IN ('queued', 'running')}),
	'0', 'nothing is left queued or running');

$node->stop;
done_testing();
