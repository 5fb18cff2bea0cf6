# 033_parallel_export.pl: backups with jobs > 1 (README "Parallel export").
#
# The largest tables leave pg_dump's archive for objects of their own, each
# COPYed by one of several streams in the backup's one snapshot. The set
# must restore with the stock tools (the README's recipe, run as written),
# with pgbak_restore and with the restore drill, every table equal to the
# source, and so must selections of it (tables, schemas, into_schema) and
# the pgbak command (fetch, restore, restore --tables/--create/--jobs);
# rows written while the backup runs must not be in it; a backup killed
# while its streams run, or whose COPY backend is terminated mid-table,
# leaves no manifest and no objects.

use strict;
use warnings;

use File::Copy ();
use IPC::Run ();
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakTest;

my $tmp = PostgreSQL::Test::Utils::tempdir;

# Tables of 64 kB and more get objects of their own: small enough that the
# partitions and the quoted table here do. The test framework turns
# restart_after_crash off; users run with it on (the kill -9 below).
my $node = new_node(
	'parallel',
	"pgbak.separate_table_min_size" => "'64kB'",
	restart_after_crash => 'on');
$node->safe_psql('postgres', 'CREATE ROLE app_owner LOGIN; CREATE DATABASE app OWNER app_owner');
$node->safe_psql(
	'app', q{
  SET ROLE app_owner;
  CREATE TABLE big (id bigint PRIMARY KEY, body text NOT NULL, doc jsonb, at timestamptz,
                    f float8, twice bigint GENERATED ALWAYS AS (id * 2) STORED);
  INSERT INTO big SELECT g, md5(g::text) || repeat('é', g % 7),
         jsonb_build_object('n', g, 'tag', 'x' || (g % 13)),
         timestamptz '2026-01-01 00:00+00' + g * interval '1 minute', g / 7.0
    FROM generate_series(1, 60000) g;
  UPDATE big SET body = E'tab\there\nnew line \\N \\\\ "q"' WHERE id = 5;
  UPDATE big SET doc = NULL, at = NULL WHERE id % 1000 = 0;
  CREATE SCHEMA "Sales Co";
  CREATE TABLE "Sales Co"."Line ""Items""" (n int, "Mixed Col" text, small_id int);
  INSERT INTO "Sales Co"."Line ""Items""" SELECT g, 'item ' || g, g % 50 + 1 FROM generate_series(1, 8000) g;
  CREATE TABLE events (id int, day date, what text) PARTITION BY RANGE (day);
  CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
  CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
  CREATE INDEX ON events (day);
  INSERT INTO events SELECT g, date '2025-01-01' + (g % 700), md5(g::text)
    FROM generate_series(1, 12000) g;
  ALTER TABLE events ADD PRIMARY KEY (id, day);
  CREATE TABLE small (id serial PRIMARY KEY, big_id bigint REFERENCES big, note text);
  INSERT INTO small (big_id, note) SELECT g, 'n' || g FROM generate_series(1, 50) g;
  -- Foreign keys held by a table in an object of its own ("Line Items") and
  -- pointing at one (notes to big), for the selective restores.
  ALTER TABLE "Sales Co"."Line ""Items""" ADD FOREIGN KEY (small_id) REFERENCES small;
  CREATE TABLE "Sales Co".notes (big_id bigint REFERENCES big, note text);
  INSERT INTO "Sales Co".notes SELECT g * 100, 'note ' || g FROM generate_series(1, 20) g;
  CREATE TABLE empty_one (x int);
  -- An inheritance child whose parent gained a column after it: the source
  -- orders its columns a, b, x, c; pg_dump's CREATE TABLE ... INHERITS
  -- gives the restored one a, b, c, x.
  CREATE TABLE par (a int, b text);
  CREATE TABLE kid (x text) INHERITS (par);
  ALTER TABLE par ADD COLUMN c text;
  INSERT INTO kid (a, b, x, c) SELECT g, 'b' || g, 'x' || g, 'c' || g
    FROM generate_series(1, 6000) g;
  SELECT lo_from_bytea(4242, 'large object bytes');
  CREATE VIEW big_view AS SELECT id FROM big;
});
my %source_rows = map { $_ => $node->safe_psql('app', "SELECT count(*) FROM $_") }
  ('big', '"Sales Co"."Line ""Items"""', 'events_2025', 'events_2026', 'small');
my $source = table_fingerprints($node, 'app');

# foreign_keys($node, $db, $schema) lists the foreign keys of the tables in
# $schema: holder -> referenced table, and whether the key was validated
# (every row checked when it was made).
sub foreign_keys
{
	my ($on, $db, $schema) = @_;
	return $on->safe_psql($db,
		"SELECT string_agg(format('%s -> %s %s', conrelid::regclass, confrelid::regclass, convalidated), ', '"
		  . ' ORDER BY conrelid::regclass::text, confrelid::regclass::text) FROM pg_constraint'
		  . " WHERE contype = 'f' AND connamespace = " . quote_literal($schema) . '::regnamespace');
}
my $source_keys = foreign_keys($node, 'app', 'public') . '; ' . foreign_keys($node, 'app', '"Sales Co"');

# ---------------------------------------------------------------------------
# The backup and its set.
# ---------------------------------------------------------------------------
my ($id, $status) = run_backup($node, 'app', '{"jobs": 3}');
is($status, 'succeeded', 'a backup with jobs = 3 succeeds');
my $row = backup_row($node, $id);
my $set = $row->{location};
my $manifest = read_manifest($set);
is(JSON::PP->new->canonical->encode($manifest->{options}), '{"format":"custom","jobs":3}',
	'the manifest keeps the option');
my @table_objects = grep { $_->{role} eq 'table_data' } @{ $manifest->{objects} };
# A table cut into pieces is listed once per piece: rows summed here.
my (%by_table, %objects_of);
for my $entry (@{ $manifest->{tables} })
{
	my $name = "$entry->{schema}.$entry->{table}";
	$by_table{$name} //= { %$entry, rows => 0 };
	$by_table{$name}{rows} += $entry->{rows};
	push @{ $objects_of{$name} }, $entry->{object} if defined $entry->{object};
}
my @separate = sort grep { defined $by_table{$_}{object} } keys %by_table;
is_deeply(\@separate,
	[ 'Sales Co.Line "Items"', 'public.big', 'public.events_2025', 'public.events_2026', 'public.kid' ],
	'the tables of 64 kB and more are in objects of their own, the small ones are not');
# big (about 7 MB) is more than 2 x 4 x 64 kB: one piece per stream, ranges
# of its blocks, largest first; the others are one object each.
is_deeply($objects_of{'public.big'}, [ 'table-0001.copy.zst', 'table-0002.copy.zst', 'table-0003.copy.zst' ],
	'the largest table is cut into three pieces, one per stream, first in the plan');
is(scalar(@table_objects), 7, 'the manifest lists one object per piece or table');
is(scalar(@{ $objects_of{$_} }), 1, "$_ is one object") for grep { $_ ne 'public.big' } @separate;
is($manifest->{format_version}, 2, 'a set with pieces has manifest format 2 (format 1 readers refuse it)');
for my $object (@table_objects)
{
	is(sha256_of_file("$set/$object->{name}"), $object->{sha256}, "$object->{name}: SHA-256 as the manifest says");
	is(-s "$set/$object->{name}", $object->{size}, "$object->{name}: size as the manifest says");
}
is($by_table{'public.big'}{rows}, $source_rows{big}, 'row count of big: its pieces add up (COPY streams)');
cmp_ok($_->{rows}, '>', 0, "$_->{object} holds rows of big")
  for grep { $_->{table} eq 'big' } @{ $manifest->{tables} };
is($by_table{'Sales Co.Line "Items"'}{rows}, $source_rows{'"Sales Co"."Line ""Items"""'},
	'row count of the quoted table (COPY stream)');
is($by_table{'public.events_2025'}{rows}, $source_rows{events_2025}, 'row count of a partition');
is($by_table{'public.small'}{rows}, $source_rows{small}, 'row count of small (in the archive)');
ok(!exists $by_table{'public.events'}, 'the partitioned parent holds no rows of its own');
my $sum = 0;
$sum += $_->{size} for grep { $_->{role} eq 'data' || $_->{role} eq 'table_data' } @{ $manifest->{objects} };
is($row->{stored_bytes}, $sum, 'stored_bytes counts the data object and the table objects');
is($row->{table_count}, scalar(keys %by_table),
	'table_count counts every table once, those in objects of their own too');

# The archive alone has no rows of the separate tables, and the large object.
my $dump = "$tmp/archive.dump";
decompress_file("$set/data.dump.zst", $dump);
my ($out, $err);
IPC::Run::run([ 'pg_restore', '--list', $dump ], '>', \$out, '2>', \$err) or die $err;
unlike($out, qr/TABLE DATA public big /, 'the archive holds no data of big');
like($out, qr/TABLE DATA public small /, 'the archive holds the data of small');
like($out, qr/BLOB/, 'the large object is in the archive');

# ---------------------------------------------------------------------------
# Restored with the stock tools, by the README's recipe, on a fresh cluster.
# ---------------------------------------------------------------------------
my ($block, $first_line) = readme_block('### A set made with jobs > 1');
ok(defined $block, 'README.md has a recipe for a set made with jobs > 1')
  or do { done_testing(); exit 1; };
my $replaced = ($block =~ s{/tmp/myapp\.dump}{$tmp/myapp.dump}g) || 0;
ok($replaced > 0, 'the recipe writes /tmp/myapp.dump (moved to the test directory)');
my $script_file = "$tmp/restore_parallel.sh";
PostgreSQL::Test::Utils::append_to_file($script_file, $block);
my $fresh = plain_node('fresh');
my ($ok, $stdout, $stderr, $failure) = run_readme_block(
	$script_file, $first_line,
	{
		SET => $set,
		PGHOST => $fresh->host,
		PGPORT => $fresh->port,
		PGUSER => undef,
	},
	300);
ok($ok, 'the README recipe runs without an error') or diag "$failure\n$stderr";
is_deeply(table_fingerprints($fresh, 'myapp_restored'), $source,
	'restored with the stock tools: every table equals the source');
is($fresh->safe_psql('myapp_restored', "SELECT convert_from(lo_get(4242), 'UTF8')"),
	'large object bytes', 'the large object is restored');
is($fresh->safe_psql('myapp_restored',
		q{SELECT count(*) FROM pg_constraint WHERE conrelid = 'small'::regclass AND contype = 'f'}),
	'1', 'the foreign key from small to big is restored');
is($fresh->safe_psql('myapp_restored', q{SELECT tableowner FROM pg_tables WHERE tablename = 'big'}),
	'app_owner', 'big keeps its owner');

# ---------------------------------------------------------------------------
# pgbak_restore (streamed, loaders in parallel) and the restore drill.
# ---------------------------------------------------------------------------
my $restore = $node->safe_psql('postgres', "SELECT pgbak_restore($id, 'app_restored', '{\"jobs\": 2}')");
is(wait_backup($node, $restore), 'succeeded', 'pgbak_restore of the set succeeds');
is_deeply(table_fingerprints($node, 'app_restored'), $source,
	'restored with pgbak_restore: every table equals the source');
is($node->safe_psql('app_restored',
		q{SELECT count(*) FROM pg_constraint WHERE conrelid = 'small'::regclass AND contype = 'f'}),
	'1', 'pgbak_restore keeps the foreign key to a table in an object of its own');
is(foreign_keys($node, 'app_restored', 'public') . '; ' . foreign_keys($node, 'app_restored', '"Sales Co"'),
	$source_keys, 'pgbak_restore keeps every foreign key, those held by such a table too');
is($node->safe_psql('app_restored', q{SELECT count(*) FROM pg_indexes WHERE tablename = 'big'}),
	'1', 'the primary key of big is built');
is($node->safe_psql('app_restored', "SELECT convert_from(lo_get(4242), 'UTF8')"),
	'large object bytes', 'pgbak_restore brings the large object back');
like(slurp_file($node->logfile), qr/restored backup $id into "[^"]+": .* (\d+) of \1 tables \(or pieces\) loaded/,
	'the loaders loaded the archive\'s tables and the separate ones');

# ---------------------------------------------------------------------------
# Selected tables and schemas: those in objects of their own get their rows.
# ---------------------------------------------------------------------------
# pick($target, $options, $from) restores a selection of backup $from (the
# set by default) into $target and returns its final status.
sub pick
{
	my ($target, $options, $from) = @_;
	$from = $id unless defined $from;
	my $op = $node->safe_psql('postgres', "SELECT pgbak_restore($from, '$target', '$options')");
	return wait_backup($node, $op);
}
$node->safe_psql('postgres', 'CREATE DATABASE app_pick OWNER app_owner');
is(pick('app_pick', '{"tables": ["public.big", "public.small", "public.events", "public.events_2025", "public.events_2026"]}'),
	'succeeded', 'a restore of selected tables, some in objects of their own, succeeds');
my $picked = table_fingerprints($node, 'app_pick');
for my $table ('public.big', 'public.small', 'public.events_2025', 'public.events_2026')
{
	is($picked->{$table}, $source->{$table}, "selected table $table equals the source");
}
ok(defined $source->{'public.big'} && $picked->{'public.big'} !~ /^0:/, 'big came back with rows');
is($node->safe_psql('app_pick',
		q{SELECT count(*) FROM pg_constraint WHERE conrelid = 'small'::regclass AND contype = 'f'}),
	'1', 'the foreign key from small to big (checked against big\'s loaded rows) is restored');
is($node->safe_psql('app_pick', q{SELECT count(*) FROM events}),
	$source_rows{events_2025} + $source_rows{events_2026},
	'the selected partitions are attached to their parent, with their rows');
is($node->safe_psql('app_pick', q{SELECT tableowner FROM pg_tables WHERE tablename = 'big'}),
	'app_owner', 'the selected table belongs to the target\'s owner');

# A partitioned table named alone comes back with every partition (here
# each in an object of its own), its primary key and index valid; a
# partition named alone is attached to its parent in the target, which
# makes its copies of the parent's key and index.
my $tree_indexes = q{SELECT string_agg(format('%s %s', indexrelid::regclass, indisvalid), ', '
  ORDER BY indexrelid::regclass::text) FROM pg_index
  WHERE indrelid IN ('events'::regclass, 'events_2025'::regclass, 'events_2026'::regclass)};
$node->safe_psql('postgres', 'CREATE DATABASE app_tree OWNER app_owner');
is(pick('app_tree', '{"tables": ["public.events"]}'), 'succeeded',
	'a restore of a partitioned table named alone succeeds');
my $tree = table_fingerprints($node, 'app_tree');
is($tree->{"public.$_"}, $source->{"public.$_"}, "its partition $_ comes with it, equal to the source")
  for ('events_2025', 'events_2026');
is($node->safe_psql('app_tree', $tree_indexes), $node->safe_psql('app', $tree_indexes),
	'the tree has the source\'s indexes and key, every one valid');
$node->safe_psql('postgres', 'CREATE DATABASE app_tree_some OWNER app_owner');
is(pick('app_tree_some', '{"tables": ["public.events", "public.events_2025"]}'), 'succeeded',
	'a restore of a partitioned table and some of its partitions succeeds');
is($node->safe_psql('app_tree_some', 'SELECT count(*) FROM events_2026'), $source_rows{events_2026},
	'and brings the others too, with their rows');
is($node->safe_psql('app_tree_some', $tree_indexes), $node->safe_psql('app', $tree_indexes),
	'every index of the tree valid');
$node->safe_psql('app_tree', 'DROP TABLE events_2025');
is(pick('app_tree', '{"tables": ["public.events_2025"]}'), 'succeeded',
	'a partition named alone is restored into the tree it was dropped from');
is(table_fingerprints($node, 'app_tree')->{'public.events_2025'}, $source->{'public.events_2025'},
	'with its rows from its object');
is($node->safe_psql('app_tree', $tree_indexes), $node->safe_psql('app', $tree_indexes),
	'attached: its key and index are the parent\'s copies, and the parent\'s stay valid');

# A schema holding a table in an object of its own (pg_restore -n needs
# the schema there).
$node->safe_psql('app_pick', q{SET ROLE app_owner; CREATE SCHEMA "Sales Co"});
is(pick('app_pick', '{"schemas": ["\\"Sales Co\\""]}'), 'succeeded', 'a restore of a schema succeeds');
is(table_fingerprints($node, 'app_pick')->{'Sales Co.Line "Items"'},
	$source->{'Sales Co.Line "Items"'}, 'its table in an object of its own equals the source');
is(foreign_keys($node, 'app_pick', '"Sales Co"'),
	'"Sales Co"."Line ""Items""" -> small t, "Sales Co".notes -> big t',
	'the schema\'s foreign keys held by and pointing at tables in objects of their own are made '
	  . 'and validated');

# Beside the live table: the inheritance child whose columns the restored
# definition orders otherwise, big, and the keys between small and two
# tables in objects of their own.
is( pick(
		'app',
		'{"tables": ["public.kid", "public.big", "public.small", "\"Sales Co\".\"Line \"\"Items\"\"\""], '
		  . '"into_schema": "recovered"}'),
	'succeeded',
	'a restore into_schema of tables in objects of their own succeeds');
my $recovered = table_fingerprints($node, 'app');
is($recovered->{'recovered.kid'}, $source->{'public.kid'}, 'recovered.kid equals the source\'s kid');
is($recovered->{'recovered.big'}, $source->{'public.big'}, 'recovered.big equals the source\'s big');
is($recovered->{'recovered.Line "Items"'}, $source->{'Sales Co.Line "Items"'},
	'recovered."Line ""Items""" equals the source\'s');
is(foreign_keys($node, 'app', 'recovered'),
	'recovered."Line ""Items""" -> recovered.small t, recovered.small -> recovered.big t',
	'the copies keep the keys between them, to and from tables in objects of their own, validated');
$node->safe_psql('app', 'DROP SCHEMA recovered CASCADE');

# Into a database a superuser owns, each object is loaded by its archived
# owner: big's rows too (its \copy runs as app_owner). A set of a big that
# checks who loads each row (a CHECK on current_user, which COPY evaluates)
# shows it: loaded by a superuser, its rows would be refused.
$node->safe_psql('app',
	q{SET ROLE app_owner; ALTER TABLE big ADD CONSTRAINT loaded_by_owner CHECK (current_user = 'app_owner')});
my ($owned, $owned_status) = run_backup($node, 'app', '{"jobs": 3}');
$node->safe_psql('app', 'ALTER TABLE big DROP CONSTRAINT loaded_by_owner');
is($owned_status, 'succeeded', 'a backup of a big that checks who loads it succeeds');
is( scalar(grep { $_->{table} eq 'big' && defined $_->{object} }
			@{ read_manifest(backup_row($node, $owned)->{location})->{tables} }),
	3, 'big is in objects of its own (three pieces)');
$node->safe_psql('postgres', 'CREATE DATABASE su_pick');
$node->safe_psql('su_pick', 'GRANT CREATE ON SCHEMA public TO app_owner');
is(pick('su_pick', '{"tables": ["public.big"]}', $owned), 'succeeded',
	'a selection into a database a superuser owns succeeds');
is($node->safe_psql('su_pick', q{SELECT count(*) FROM pg_constraint WHERE conname = 'loaded_by_owner'}),
	'1', 'with the check on who loads the rows: they were loaded as app_owner');
is(table_fingerprints($node, 'su_pick')->{'public.big'}, $source->{'public.big'},
	'its table in an object of its own equals the source');
is($node->safe_psql('su_pick', q{SELECT tableowner FROM pg_tables WHERE tablename = 'big'}),
	'app_owner', 'and belongs to its archived owner');

# A selection that fails after its rows were loaded leaves nothing: the
# index big_pkey's name is taken in the target, so big's primary key fails
# after big was created and filled.
$node->safe_psql('postgres', 'CREATE DATABASE app_taken OWNER app_owner');
$node->safe_psql('app_taken', 'SET ROLE app_owner; CREATE TABLE other (x int); CREATE INDEX big_pkey ON other (x)');
is(pick('app_taken', '{"tables": ["public.big"]}'), 'failed',
	'a selection whose index cannot be created fails');
like(slurp_file($node->logfile), qr/ERROR:  relation "big_pkey" already exists/, 'the server log says why');
is($node->safe_psql('app_taken', q{SELECT count(*) FROM pg_class WHERE relname = 'big'}), '0',
	'and leaves no part of it behind: not the table, not its rows');

my $drill = $node->safe_psql('postgres', "SELECT pgbak_verify($id, true)");
is(wait_backup($node, $drill), 'succeeded', 'the restore drill (deep verify) succeeds, row counts included');
my $check = $node->safe_psql('postgres', "SELECT pgbak_verify($id)");
is(wait_backup($node, $check), 'succeeded', 'a verify checks every object');

# ---------------------------------------------------------------------------
# The pgbak command: verify, fetch (the table objects too) and restore.
# ---------------------------------------------------------------------------
my $local = $node->safe_psql('postgres', 'SELECT pgbak_local_path()');
sub pgbak
{
	my (@args) = @_;
	my ($stdout_of, $stderr_of);
	IPC::Run::run([ 'pgbak', @args ], '<', \undef, '>', \$stdout_of, '2>', \$stderr_of);
	return ($? >> 8, $stdout_of, $stderr_of);
}
my @local = ('--storage', "file://$local");
my $rc;
($rc, $out, $err) = pgbak('verify', $set, @local);
is($rc, 0, 'pgbak verify accepts the set') or diag $err;

# fetch: the archive, each table object's COPY text, and tables.sql, which
# loads them; restored with the three commands it prints.
($rc, $out, $err) = pgbak('fetch', $set, "$tmp/fetched", @local);
is($rc, 0, 'pgbak fetch of the set succeeds') or diag $err;
ok(-f "$tmp/fetched/table-$_.copy", "fetch writes table-$_.copy") for ('0001' .. '0007');
ok(-f "$tmp/fetched/tables.sql" && -f "$tmp/fetched/manifest.json", 'and tables.sql and the manifest');
like($out, qr/tables\.sql/, 'it says how to restore with tables.sql');
$fresh->safe_psql('postgres', 'CREATE DATABASE fetched');
my @on_fresh = ('-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', $fresh->host, '-p', $fresh->port);
for my $step (
	[ 'pg_restore', '--section=pre-data', '-h', $fresh->host, '-p', $fresh->port, '-d', 'fetched', "$tmp/fetched/data.dump" ],
	[ 'psql', @on_fresh, '-1', '-d', 'fetched', '-f', "$tmp/fetched/tables.sql" ],
	[ 'pg_restore', '--section=data', '--section=post-data', '-j', '2', '-h', $fresh->host, '-p', $fresh->port,
		'-d', 'fetched', "$tmp/fetched/data.dump" ])
{
	IPC::Run::run($step, '<', \undef, '>', \$out, '2>', \$err);
	is($? >> 8, 0, "fetched set: $step->[0] $step->[1] succeeds") or diag $err;
}
is_deeply(table_fingerprints($fresh, 'fetched'), $source, 'the fetched set restores every table equal to the source');

# restore: one session, one transaction; --jobs with --create; --tables.
$fresh->safe_psql('postgres', 'CREATE DATABASE cli_one');
($rc, $out, $err) = pgbak('restore', $set, @local, '--dbname', $fresh->connstr('cli_one'));
is($rc, 0, 'pgbak restore of the set succeeds') or diag $err;
is_deeply(table_fingerprints($fresh, 'cli_one'), $source, 'pgbak restore: every table equals the source');
is($fresh->safe_psql('cli_one', q{SELECT count(*) FROM pg_indexes WHERE tablename = 'big'}), '1',
	'pgbak restore builds the primary key of big');

($rc, $out, $err) = pgbak('restore', $set, @local, '--dbname', $fresh->connstr('postgres'), '--create', '--jobs', '2');
is($rc, 0, 'pgbak restore --create --jobs 2 of the set succeeds') or diag $err;
is_deeply(table_fingerprints($fresh, 'app'), $source, 'pgbak restore --create --jobs 2: every table equals the source');
# Again with a postgresql:// URI: the loads reach the database --create made.
$fresh->safe_psql('postgres', 'DROP DATABASE app');
my $uri = 'postgresql:///postgres?host=' . $fresh->host . '&port=' . $fresh->port;
($rc, $out, $err) = pgbak('restore', $set, @local, '--dbname', $uri, '--create');
is($rc, 0, 'pgbak restore --create with a URI succeeds') or diag $err;
is_deeply(table_fingerprints($fresh, 'app'), $source, 'pgbak restore --create with a URI: every table equals the source');

$fresh->safe_psql('postgres', 'CREATE DATABASE cli_pick');
($rc, $out, $err) = pgbak('restore', $set, @local, '--dbname', $fresh->connstr('cli_pick'),
	'--tables', 'public.big,public.small,kid,par');
is($rc, 0, 'pgbak restore --tables of tables in objects of their own succeeds') or diag $err;
my $cli_picked = table_fingerprints($fresh, 'cli_pick');
is($cli_picked->{$_}, $source->{$_}, "pgbak restore --tables: $_ equals the source")
  for ('public.big', 'public.small', 'public.kid', 'public.par');

# A failure after the rows were loaded (big_pkey's name is taken) leaves
# nothing in one session.
$fresh->safe_psql('postgres', 'CREATE DATABASE cli_taken');
$fresh->safe_psql('cli_taken', 'CREATE TABLE other (x int); CREATE INDEX big_pkey ON other (x)');
($rc, $out, $err) = pgbak('restore', $set, @local, '--dbname', $fresh->connstr('cli_taken'), '--tables', 'public.big');
isnt($rc, 0, 'pgbak restore --tables fails where big_pkey cannot be created');
like($err, qr/big_pkey/, 'it says why');
is($fresh->safe_psql('cli_taken', q{SELECT count(*) FROM pg_class WHERE relname = 'big'}), '0',
	'and leaves neither big nor its rows');

# A pg_restore older than 15.14 (CVE-2025-8714) writes its scripts without
# \restrict, and a name in a hostile archive could then end a line and run
# a psql meta-command: pgbak refuses such scripts before psql runs them.
# pg_restore 15.14 and later always write \restrict with --file, so an old
# one is played by a wrapper that removes it and adds a meta-command; pgbak
# finds its tools beside itself, so a copy of pgbak sits beside the wrapper.
my $bindir = $node->config_data('--bindir');
my $old_tools = "$tmp/old_tools";
mkdir $old_tools or die "mkdir $old_tools: $!";
File::Copy::copy("$bindir/pgbak", "$old_tools/pgbak") or die "copy pgbak: $!";
chmod 0755, "$old_tools/pgbak";
symlink("$bindir/psql", "$old_tools/psql") or die "symlink psql: $!";
my $fake = q{#!/bin/sh
"BINDIR/pg_restore" "$@" || exit $?
for arg in "$@"; do
  case $arg in
    --file=*) sed -i -e '/^\\\\restrict /d' -e '/^\\\\unrestrict /d' "${arg#--file=}"
              echo '\! touch MARKER' >>"${arg#--file=}" ;;
  esac
done
};
$fake =~ s/BINDIR/$bindir/;
$fake =~ s/MARKER/$tmp\/old_tools_ran/;
PostgreSQL::Test::Utils::append_to_file("$old_tools/pg_restore", $fake);
chmod 0755, "$old_tools/pg_restore";
$fresh->safe_psql('postgres', 'CREATE DATABASE cli_old');
my ($old_out, $old_err);
IPC::Run::run([ "$old_tools/pgbak", 'restore', $set, @local, '--dbname', $fresh->connstr('cli_old') ],
	'<', \undef, '>', \$old_out, '2>', \$old_err);
is($? >> 8, 1, 'pgbak restore with a pg_restore that writes no \restrict fails (exit 1)');
like($old_err, qr/does not begin with \\restrict/, 'it says the script lacks \restrict');
like($old_err, qr/15\.14 or later/, 'and which pg_restore is needed');
ok(!-e "$tmp/old_tools_ran", 'psql ran none of the script\'s meta-commands');
is($fresh->safe_psql('cli_old', q{SELECT count(*) FROM pg_class WHERE relname = 'big'}), '0',
	'and nothing was restored');

# ---------------------------------------------------------------------------
# Encrypted: the table objects are age-encrypted too, and which table each
# holds is only in the encrypted row counts, which the manifest lists first.
# ---------------------------------------------------------------------------
my $recipient = age_keygen("$tmp/key.txt");
storage_add($node, 'sealed', "file://$tmp/sealed",
	age_recipients => [$recipient],
	age_identity_file => "$tmp/key.txt");
my $sealed = $node->safe_psql('postgres', q{SELECT pgbak_run('app', 'sealed', '{"jobs": 2}')});
is(wait_backup($node, $sealed), 'succeeded', 'an encrypted backup with jobs = 2 succeeds');
my $sealed_set = backup_row($node, $sealed)->{location};
my $sealed_manifest = read_manifest($sealed_set);
is($sealed_manifest->{objects}[0]{name}, 'tables.json.age', 'its encrypted row counts come first');
is(scalar(grep { $_->{name} =~ /^table-\d{4}\.copy\.zst\.age$/ && $_->{encryption} eq 'age' }
			@{ $sealed_manifest->{objects} }),
	6, 'its table objects are encrypted (big in two pieces with jobs = 2)');
unlike(slurp_file("$sealed_set/manifest.json"), qr/Line|events_20|"big"/, 'its manifest names no table');
is(backup_row($node, $sealed)->{table_count}, scalar(keys %by_table),
	'its table_count counts every table, as the unencrypted set\'s does');
$node->safe_psql('postgres', 'CREATE DATABASE sealed_pick OWNER app_owner');
my $sealed_pick = $node->safe_psql('postgres',
	"SELECT pgbak_restore($sealed, 'sealed_pick', '{\"tables\": [\"public.big\"]}')");
is(wait_backup($node, $sealed_pick), 'succeeded', 'a selective restore of the encrypted set succeeds');
is(table_fingerprints($node, 'sealed_pick')->{'public.big'}, $source->{'public.big'},
	'its table in an encrypted object of its own equals the source');
my $sealed_restore = $node->safe_psql('postgres', "SELECT pgbak_restore($sealed, 'app_sealed', '{\"jobs\": 2}')");
is(wait_backup($node, $sealed_restore), 'succeeded', 'pgbak_restore of the encrypted set succeeds');
is_deeply(table_fingerprints($node, 'app_sealed'), $source, 'the encrypted set restores every table');
$fresh->safe_psql('postgres', 'CREATE DATABASE sealed_cli');
($rc, $out, $err) = pgbak('restore', $sealed_set, '--storage', "file://$tmp/sealed", '--identity', "$tmp/key.txt",
	'--dbname', $fresh->connstr('sealed_cli'));
is($rc, 0, 'pgbak restore of the encrypted set succeeds') or diag $err;
is_deeply(table_fingerprints($fresh, 'sealed_cli'), $source, 'pgbak restore of the encrypted set: every table equals the source');

# set_pause($point) makes workers pause at $point ('none' for none: it also
# ends a pause, which a reset would not).
sub set_pause
{
	my ($point) = @_;
	$node->safe_psql('postgres',
		$point eq '' ? 'ALTER SYSTEM RESET pgbak.fault_pause' : "ALTER SYSTEM SET pgbak.fault_pause = '$point'");
	$node->reload;
}

# paused_backup($point, $options, $what) queues a backup of app that pauses
# at $point and returns its id once it does.
sub paused_backup
{
	my ($point, $options, $what) = @_;
	set_pause($point);
	my $id = queue_backup($node, 'app', $options);
	ok(poll_until(120, sub { slurp_file($node->logfile) =~ /operation $id pauses at $point/ }), $what);
	return $id;
}

# ---------------------------------------------------------------------------
# Rows written after the snapshot are not in the set, in any stream.
# ---------------------------------------------------------------------------
my $during = paused_backup('backup_snapshot', '{"jobs": 3}', 'the backup pauses after taking its snapshot');
$node->safe_psql(
	'app', q{
  INSERT INTO big (id, body) SELECT -g, 'written during the backup' FROM generate_series(1, 100) g;
  -- New versions of rows in every piece's blocks, many in blocks added
  -- since (a full page has no room): each piece reads the old ones only.
  UPDATE big SET body = body || ' updated during the backup' WHERE id % 50 = 0;
  DELETE FROM big WHERE id % 997 = 0;
  INSERT INTO "Sales Co"."Line ""Items""" VALUES (-1, 'written during the backup');
  INSERT INTO events VALUES (-1, '2026-06-01', 'written during the backup');
  INSERT INTO small (big_id, note) VALUES (1, 'written during the backup');
  DELETE FROM events_2025 WHERE id <= 10;
});
set_pause('none');
is(wait_backup($node, $during), 'succeeded', 'the backup goes on and succeeds');
my $restore_during = $node->safe_psql('postgres', "SELECT pgbak_restore($during, 'app_during')");
is(wait_backup($node, $restore_during), 'succeeded', 'its restore succeeds');
is_deeply(table_fingerprints($node, 'app_during'), $source,
	'the set is the database as of its snapshot: no row written or deleted later shows');
my $during_manifest = read_manifest(backup_row($node, $during)->{location});
my %during_rows;
$during_rows{"$_->{schema}.$_->{table}"} += $_->{rows} for @{ $during_manifest->{tables} };
is($during_rows{'public.big'}, $source_rows{big}, 'the manifest counts the snapshot\'s rows of big');

# ---------------------------------------------------------------------------
# kill -9 while the streams run: no manifest, and the launcher removes the
# objects.
# ---------------------------------------------------------------------------
my $killed = paused_backup('backup_streams', '{"jobs": 2}', 'the backup pauses while its streams run');
my $killed_set = backup_row($node, $killed)->{location};
my $pid = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pgbak worker'");
ok($pid =~ /^\d+$/, 'the worker is found');
kill 'KILL', $pid;
ok( poll_until(
		120,
		sub {
			my ($ret, $status_now) = $node->psql('postgres', "SELECT status FROM backup_log WHERE id = $killed");
			$ret == 0 && $status_now eq 'failed';
		}),
	'the killed backup is failed');
set_pause('none');
ok(!-e "$killed_set/manifest.json", 'the killed backup has no manifest');
ok(poll_until(120, sub { set_leftovers($killed_set) eq '' }),
	'the launcher removed what the killed backup wrote')
  or diag 'left: ' . set_leftovers($killed_set);

# ---------------------------------------------------------------------------
# A COPY stream whose backend is terminated in the middle of a table: the
# backup fails, says which table, and leaves no manifest and no object.
# ---------------------------------------------------------------------------
set_pause('backup_copy');
my $cut = queue_backup($node, 'app', '{"jobs": 2}');
my $copy_backend;
ok( poll_until(
		120,
		sub {
			($copy_backend) = slurp_file($node->logfile)
			  =~ /operation $cut pauses at backup_copy \(pgbak\.fault_pause\): COPY stream backend (\d+)/;
			defined $copy_backend;
		}),
	'a COPY stream stops in the middle of a table');
my $cut_set = backup_row($node, $cut)->{location};
like($node->safe_psql('postgres', "SELECT query FROM pg_stat_activity WHERE pid = $copy_backend"),
	qr/^COPY .* TO STDOUT$/, 'its backend is running the table\'s COPY');
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($copy_backend)"), 't',
	'the COPY backend is terminated mid-stream');
is(wait_backup($node, $cut), 'failed', 'the backup fails');
set_pause('none');
my $cut_row = backup_row($node, $cut);
like($cut_row->{error_message}, qr/the COPY of table .* failed/, 'it says which COPY failed');
ok(!-e "$cut_set/manifest.json", 'the backup has no manifest');
ok(!defined $cut_row->{checksum_sha256} && !defined $cut_row->{manifest_sha256},
	'and its row records no checksum or manifest');
ok(poll_until(60, sub { set_leftovers($cut_set) eq '' }), 'no object of it is left, complete or not')
  or diag 'left: ' . set_leftovers($cut_set);

# pgbak_cancel while the streams run: cancelled, and nothing of it stays.
my $cancelled = paused_backup('backup_streams', '{"jobs": 2}', 'another backup pauses while its streams run');
my $cancelled_set = backup_row($node, $cancelled)->{location};
is($node->safe_psql('postgres', "SELECT pgbak_cancel($cancelled)"), 't', 'pgbak_cancel accepts it');
is(wait_backup($node, $cancelled), 'cancelled', 'the backup is cancelled');
set_pause('none');
ok(!-e "$cancelled_set/manifest.json", 'the cancelled backup has no manifest');
ok(poll_until(60, sub { set_leftovers($cancelled_set) eq '' }), 'the cancelled backup left no object')
  or diag 'left: ' . set_leftovers($cancelled_set);

# One stream's worth: jobs = 1 (the default) keeps every table in the archive.
my ($single, $single_status) = run_backup($node, 'app', '{}');
is($single_status, 'succeeded', 'a backup without jobs succeeds');
is(scalar(grep { $_->{role} eq 'table_data' } @{ read_manifest(backup_row($node, $single)->{location})->{objects} }),
	0, 'without jobs no table has an object of its own');

# ---------------------------------------------------------------------------
# A piece is read by a query, and planning it evaluates the table's index
# predicates and expressions: its owner's code. It runs as the owner, never
# as the worker's superuser, and cannot switch back (README "Parallel
# export"). The trap raises an error when it runs as a superuser, so the
# backup fails if it ever does; a table whose owner cannot read all of it
# (forced row security) is not cut at all.
# ---------------------------------------------------------------------------
# A mixed-case owner name: the stream switches to it by name.
$node->safe_psql('postgres', 'CREATE ROLE "Trap Per" LOGIN; CREATE DATABASE trapdb OWNER "Trap Per"');
$node->safe_psql(
	'trapdb', q{
  SET ROLE "Trap Per";
  CREATE FUNCTION trap() RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
  BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
      RAISE EXCEPTION 'trap ran as superuser %', current_user;
    END IF;
    RETURN 0;
  END $$;
  CREATE TABLE trapped (id int, v text);
  INSERT INTO trapped SELECT g, md5(g::text) FROM generate_series(1, 40000) g;
  CREATE INDEX trapped_partial ON trapped (id) WHERE id > trap();
  CREATE INDEX trapped_expr ON trapped ((id + trap()));
  CREATE TABLE guarded (id int, v text);
  INSERT INTO guarded SELECT g, md5(g::text) FROM generate_series(1, 40000) g;
  ALTER TABLE guarded ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
  CREATE POLICY all_rows ON guarded USING (true);
});
my $trap_source = table_fingerprints($node, 'trapdb', 'Trap Per');
my ($trap_id, $trap_status) = run_backup($node, 'trapdb', '{"jobs": 2}');
is($trap_status, 'succeeded', 'a backup cutting a table with its owner\'s code in index predicates succeeds')
  or diag backup_row($node, $trap_id)->{error_message};
my $trap_manifest = read_manifest(backup_row($node, $trap_id)->{location});
is(scalar(grep { $_->{table} eq 'trapped' && defined $_->{object} } @{ $trap_manifest->{tables} }),
	2, 'trapped is cut into two pieces (read as its owner: the trap stayed quiet)');
is(scalar(grep { $_->{table} eq 'guarded' && defined $_->{object} } @{ $trap_manifest->{tables} }),
	1, 'guarded, whose owner is subject to forced row security, stays whole');
my $trap_restore = $node->safe_psql('postgres', "SELECT pgbak_restore($trap_id, 'trapdb_restored')");
is(wait_backup($node, $trap_restore), 'succeeded', 'its restore succeeds');
is_deeply(table_fingerprints($node, 'trapdb_restored', 'Trap Per'), $trap_source, 'and equals the source');

# The owner's code may change the session's settings instead (set_config(),
# which RESET SESSION AUTHORIZATION does not undo): the stream would write
# the next tables in DateStyle SQL, DMY. The backup fails instead.
$node->safe_psql(
	'trapdb', q{
  SET ROLE "Trap Per";
  CREATE FUNCTION sneak() RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
  BEGIN
    PERFORM pg_catalog.set_config('datestyle', 'SQL, DMY', false);
    RETURN 0;
  END $$;
  CREATE TABLE sneaky (id int, at date);
  INSERT INTO sneaky SELECT g, date '2024-05-03' + g % 30 FROM generate_series(1, 40000) g;
  CREATE INDEX sneaky_partial ON sneaky (id) WHERE id > sneak();
});
my ($sneak_id, $sneak_status) = run_backup($node, 'trapdb', '{"jobs": 2}');
is($sneak_status, 'failed', 'a backup whose table\'s code changes the session\'s settings fails');
like(backup_row($node, $sneak_id)->{error_message}, qr/the code of table "public"."sneaky" changed the settings/,
	'it names the table whose code did it');
ok(!-e backup_row($node, $sneak_id)->{location} . '/manifest.json', 'and leaves no manifest');

done_testing();
