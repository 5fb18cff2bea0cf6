# 026_import.pl: a total loss, then recovery in SQL on a new server.
#
# Cluster A backs up two databases to a directory storage, to an S3 storage
# whose sets are encrypted with age, and to a plain S3 storage (through the
# signature-checking proxy), with a copy too; then A is stopped and its data
# directory deleted. A fresh cluster B (another system identifier) defines
# the same storages, the encrypted one with the identity file:
# pgbak_storage_sets lists what they hold, pgbak_import registers the sets
# (rows checked against what A recorded), importing again adds nothing,
# also when two sessions import at once; pgbak_verify passes on imported
# ids and pgbak_restore of imported ids gives the source's data. A set with
# a truncated or a missing object is refused with the reason, a set that
# never finished is never imported, and retention never deletes an imported
# set.

use strict;
use warnings;

use File::Copy qw(copy);
use IPC::Run ();
use File::Path qw(make_path remove_tree);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakS3;
use PgbakTest;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $dirstore = "$tmp/dirstore";
my $recipient = age_keygen("$tmp/key.txt");
my $s3 = start_s3(name => 'import');
my $bucket = $s3->bucket;
my %s3_credentials = (
	endpoint => $s3->endpoint,
	access_key_id => $s3->access_key,
	secret_access_key => $s3->secret);

# backup_to($node, $db, $storage, $options) runs a backup and returns its id.
sub backup_to
{
	my ($node, $db, $storage, $options) = @_;
	my $id = $node->safe_psql('postgres',
		    'SELECT pgbak_run('
		  . quote_literal($db) . ', '
		  . quote_literal($storage) . ', '
		  . quote_literal($options // '{}') . ')');
	is(wait_backup($node, $id, 300), 'succeeded', "backup of $db to $storage");
	return $id;
}

# ---------------------------------------------------------------------------
# Cluster A: two databases, backed up to three storages, and a copy.
# ---------------------------------------------------------------------------
my $node_a = new_node('cluster_a');
$node_a->safe_psql('postgres', 'CREATE DATABASE shop; CREATE DATABASE ledger');
$node_a->safe_psql('shop', q{
  CREATE TABLE items (id int PRIMARY KEY, name text, price numeric);
  INSERT INTO items SELECT g, 'item ' || g || ' ' || md5(g::text), g * 1.5
    FROM generate_series(1, 20000) g;
  CREATE TABLE notes (id int, body text);
  INSERT INTO notes VALUES (1, 'ünïcödé ✓'), (2, NULL);
});
$node_a->safe_psql('ledger', q{
  CREATE SCHEMA books;
  CREATE TABLE books.entries (id bigint PRIMARY KEY, amount bigint, memo text);
  INSERT INTO books.entries SELECT g, g * 7, md5(g::text) FROM generate_series(1, 5000) g;
});
# Settings of shop: one any owner may make, one only a superuser may make,
# and one for a superuser role. An imported manifest is whatever its storage
# held: a restore of it keeps only the first.
my $superuser_a = $node_a->safe_psql('postgres', 'SELECT current_user');
$node_a->safe_psql('postgres', qq{
  ALTER DATABASE shop SET work_mem = '12MB';
  ALTER DATABASE shop SET log_min_duration_statement = 0;
  ALTER ROLE "$superuser_a" IN DATABASE shop SET search_path = 'planted';
});
my %source = (shop => table_fingerprints($node_a, 'shop'), ledger => table_fingerprints($node_a, 'ledger'));
my $cluster_a = $node_a->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');

storage_add($node_a, 'dir', "file://$dirstore");
storage_add($node_a, 'vault', "s3://$bucket/vault", %s3_credentials,
	age_recipients => [$recipient]);
storage_add($node_a, 'offsite', "s3://$bucket/offsite", %s3_credentials);

my $shop_dir = backup_to($node_a, 'shop', 'dir');
my $ledger_dir = backup_to($node_a, 'ledger', 'dir', '{"format": "plain"}');
my $ledger_vault = backup_to($node_a, 'ledger', 'vault');
my $shop_offsite = backup_to($node_a, 'shop', 'offsite');
my $ledger_copy = $node_a->safe_psql('postgres', "SELECT pgbak_copy($ledger_dir, 'offsite')");
is(wait_backup($node_a, $ledger_copy, 300), 'succeeded', 'a copy of the plain ledger set to offsite');
my %row_a = map { $_ => backup_row($node_a, $_) }
  ($shop_dir, $ledger_dir, $ledger_vault, $shop_offsite, $ledger_copy);

# A set that never finished: objects, no manifest.
my $unfinished = "$dirstore/$cluster_a/shop/20260101T000000Z-999";
make_path($unfinished);
append_to_file("$unfinished/data.dump.zst", 'partial');

# Two damaged sets in the directory: shop's set again under other ids (as
# a copy would be), one with its data object cut short, one without its
# globals.
my %damaged;
for my $id (901, 902)
{
	(my $target = $row_a{$shop_dir}{location}) =~ s/-\d+$/-$id/;
	make_path($target);
	copy("$row_a{$shop_dir}{location}/$_", "$target/$_") or die "copy: $!"
	  for backup_files($row_a{$shop_dir}{location});
	$damaged{$id} = $target;
}
truncate("$damaged{901}/data.dump.zst", (-s "$damaged{901}/data.dump.zst") - 10)
  or die "truncate: $!";
unlink("$damaged{902}/globals.sql.zst") or die "unlink: $!";
my ($truncated, $no_globals) = @damaged{ 901, 902 };
# In the bucket, the copy loses its globals object.
my $copy_key = $s3->key_of($row_a{$ledger_copy}{location});
my ($rm_rc, undef, $rm_err) = $s3->aws('s3', 'rm', "s3://$bucket/$copy_key/globals.sql.zst");
is($rm_rc, 0, 'awscli removes the copy\'s globals object') or diag $rm_err;

# ---------------------------------------------------------------------------
# Total loss of cluster A.
# ---------------------------------------------------------------------------
$node_a->stop;
remove_tree($node_a->data_dir);
ok(!-d $node_a->data_dir, 'cluster A is gone');

# ---------------------------------------------------------------------------
# Cluster B: the same storages, the encrypted one with the identity file.
# ---------------------------------------------------------------------------
# B sends a webhook for every finished operation: none for an import.
my $hooks = "$tmp/hooks.jsonl";
my ($receiver, $port) = webhook_receiver($hooks);
my $node_b = new_node(
	'cluster_b',
	'pgbak.webhook_url' => "'http://127.0.0.1:$port/hook'",
	'pgbak.webhook_events' => "'all'");
my $cluster_b = $node_b->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
isnt($cluster_b, $cluster_a, 'cluster B has another system identifier');
# B's backup_log ids are far from A's: nothing may find an imported set by
# a row id that happens to be the id its directory is named with.
$node_b->safe_psql('postgres', q{SELECT setval(pg_get_serial_sequence('backup_log', 'id'), 500)});
storage_add($node_b, 'dir', "file://$dirstore", manual_retention => 1);
storage_add($node_b, 'vault', "s3://$bucket/vault", %s3_credentials,
	age_recipients => [$recipient], age_identity_file => "$tmp/key.txt");
storage_add($node_b, 'offsite', "s3://$bucket/offsite", %s3_credentials);

my $listing = $node_b->safe_psql('postgres',
	q{SELECT directory_id, complete, coalesce(problem, '-'), cluster, database,
	         coalesce(backup_id::text, '-'), coalesce(format, '-'), coalesce(encrypted::text, '-'),
	         location
	  FROM pgbak_storage_sets('dir') ORDER BY directory_id},
	extra_params => [ '-F', '|', '-A' ]);
my %listed = map { my @f = split /\|/; $f[0] => \@f } split /\n/, $listing;
is_deeply([ sort { $a <=> $b } keys %listed ],
	[ sort { $a <=> $b } ($shop_dir, $ledger_dir, 901, 902, 999) ],
	'pgbak_storage_sets lists every set directory of dir');
is_deeply($listed{$shop_dir},
	[ $shop_dir, 't', '-', $cluster_a, 'shop', $shop_dir, 'custom', 'false',
		$row_a{$shop_dir}{location} ],
	'shop\'s set as A recorded it: cluster A, its id, custom, clear, its location');
is(join('|', @{ $listed{$ledger_dir} }[ 4 .. 6 ]), "ledger|$ledger_dir|plain", 'ledger\'s plain set');
is(join('|', @{ $listed{999} }[ 1 .. 5 ]),
	"f|no manifest.json: the backup did not finish|$cluster_a|shop|-",
	'the unfinished set is incomplete, with no backup id');
is($listed{901}[5], $shop_dir, 'a set under another id names the backup it holds');
is( $node_b->safe_psql('postgres',
		q{SELECT count(*) FILTER (WHERE encrypted) || '/' || count(*) || ' '
		      || bool_and(started_at < finished_at AND raw_bytes > stored_bytes)
		  FROM pgbak_storage_sets('vault')}),
	'1/1 true',
	'the vault holds one encrypted set, with its times and sizes');

# ---------------------------------------------------------------------------
# Import: every complete set of dir, refusing the damaged ones.
# ---------------------------------------------------------------------------
my $rows_before = $node_b->safe_psql('postgres', 'SELECT count(*) FROM backup_log');
my ($rc, $out, $err) = $node_b->psql('postgres',
	q{SELECT string_agg(i::text, ',' ORDER BY i) FROM pgbak_import('dir') i});
is($rc, 0, 'pgbak_import(\'dir\') succeeds') or diag $err;
my @dir_ids = split /,/, $out;
is(scalar(@dir_ids), 2, 'it imports the two good sets');
like($err,
	qr/WARNING:  pgbak_import: the set at "\Q$truncated\E" was not imported: data\.dump\.zst: size mismatch: the manifest says \d+ bytes, storage holds \d+/,
	'the truncated set is refused with the reason');
like($err,
	qr/WARNING:  pgbak_import: the set at "\Q$no_globals\E" was not imported: object globals\.sql\.zst is missing from the set/,
	'the set without globals too');
like($err, qr/NOTICE:  pgbak_import: the set at "\Q$unfinished\E" is incomplete and was not imported/,
	'the unfinished set is not imported, and said so');
like($err, qr/2 sets of storage "dir" imported\nDETAIL:  0 already registered, 2 refused .*, 1 incomplete/,
	'the summary counts them');

# id_of($directory_id) is the imported row of the set A made with that id.
sub id_of
{
	my ($directory_id) = @_;
	return $node_b->safe_psql('postgres',
		"SELECT id FROM backup_log WHERE trigger = 'import' "
		  . "AND (options -> 'import' ->> 'directory_id')::bigint = $directory_id");
}
my $shop_import = id_of($shop_dir);
my $ledger_import = id_of($ledger_dir);
is_deeply([ sort @dir_ids ], [ sort($shop_import, $ledger_import) ], 'it returned their ids');

for my $pair ([ $shop_import, $shop_dir ], [ $ledger_import, $ledger_dir ])
{
	my ($id, $made) = @$pair;
	my $row = backup_row($node_b, $id);
	my $was = $row_a{$made};
	is(join(' ', map { $row->{$_} } qw(kind status trigger storage_name database_oid)),
		'backup succeeded import dir 0', "imported $made: a succeeded backup, trigger import");
	is($row->{location}, $was->{location}, "imported $made: A's location");
	for my $column (
		qw(database_name format checksum_sha256 manifest_sha256 raw_bytes stored_bytes
		globals_bytes snapshot_lsn table_count))
	{
		is($row->{$column}, $was->{$column}, "imported $made: $column as A recorded it");
	}
	ok(abs($row->{finished_epoch} - $was->{finished_epoch}) < 5,
		"imported $made: finished when A's backup did (from the manifest)");
	is($node_b->safe_psql('postgres',
			"SELECT options -> 'import' ->> 'backup_id' || ' ' || (options -> 'import' ->> 'cluster') FROM backup_log WHERE id = $id"),
		"$made $cluster_a", "imported $made: A's backup id and cluster in options.import");
}
is($node_b->safe_psql('postgres',
		"SELECT count(*) FROM backup_status WHERE last_backup_id IN ($shop_import, $ledger_import)"),
	'0', 'no database of B counts an imported set as its backup');

# Importing again adds nothing; the damaged and unfinished sets, named,
# are refused with their reason.
my $rows_after = $node_b->safe_psql('postgres', 'SELECT count(*) FROM backup_log');
is($rows_after, $rows_before + 2, 'two rows were added');
is($node_b->safe_psql('postgres', q{SELECT count(*) FROM pgbak_import('dir')}), '0',
	'importing dir again adds nothing');
is($node_b->safe_psql('postgres',
		'SELECT count(*) FROM pgbak_import(\'dir\', ' . quote_literal($row_a{$shop_dir}{location}) . ')'),
	'0', 'nor does importing shop\'s set by its location');
($rc, $out, $err) = $node_b->psql('postgres',
	'SELECT * FROM pgbak_import(\'dir\', ' . quote_literal($truncated) . ')',
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  XX001: the set at "\Q$truncated\E" cannot be imported: data\.dump\.zst: size mismatch/,
	'the truncated set, named, is refused (XX001)');
like($err, qr/HINT:  Import a copy of it from another storage/, 'with a hint');
($rc, $out, $err) = $node_b->psql('postgres',
	'SELECT * FROM pgbak_import(\'dir\', ' . quote_literal($unfinished) . ')',
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  55000: the set at "\Q$unfinished\E" is incomplete\nDETAIL:  no manifest\.json: the backup did not finish/,
	'the unfinished set, named, is refused (55000)');
is($node_b->safe_psql('postgres', 'SELECT count(*) FROM backup_log'), $rows_after,
	'and nothing was added');

# ---------------------------------------------------------------------------
# Import from S3: the vault (encrypted) and offsite, where the copy lost
# an object; two sessions importing offsite at once add each set once.
# ---------------------------------------------------------------------------
my @vault_ids = split /\n/, $node_b->safe_psql('postgres', q{SELECT * FROM pgbak_import('vault')});
is(scalar(@vault_ids), 1, 'the vault\'s set is imported');
my $vault_import = $vault_ids[0];
my $vault_row = backup_row($node_b, $vault_import);
is($vault_row->{checksum_sha256}, $row_a{$ledger_vault}{checksum_sha256},
	'with the encrypted data object\'s checksum');
ok(!defined $vault_row->{table_count}, 'and no table count (it is encrypted)');

my $first = $node_b->background_psql('postgres');
$first->query_safe('BEGIN');
my $first_ids = $first->query(q{SELECT count(*) FROM pgbak_import('offsite')});
$first->{stderr} = '';    # its WARNING and NOTICE, checked below in the second session's
is($first_ids, '1', 'a session imports offsite in an open transaction');
my $second_result = '';
my $second = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node_b->connstr('postgres'), '-c',
		q{SELECT count(*) FROM pgbak_import('offsite')} ],
	'>', \$second_result, '2>', \my $second_err);
ok( poll_until(
		30,
		sub {
			$node_b->safe_psql('postgres',
				q{SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pgbak_import(''offsite'')%'
				  AND wait_event_type = 'Lock'}) eq '1';
		}),
	'a second session importing offsite waits for the first');
$first->query_safe('COMMIT');
$first->quit;
$second->finish;
is($second_result, "0\n", 'and adds nothing once the first commits') or diag $second_err;
like($second_err, qr/the set at ".*-$ledger_copy" was not imported: object globals\.sql\.zst is missing/,
	'the copy without its globals object is refused in S3 too');
my $offsite_import = id_of($shop_offsite);
is($node_b->safe_psql('postgres',
		"SELECT count(*) FROM backup_log WHERE trigger = 'import' AND storage_name = 'offsite'"),
	'1', 'offsite\'s good set is registered once');

# A storage that does not answer holds nothing up: statement_timeout ends
# a listing waiting on S3, and the session goes on. S3 would answer after
# ten minutes, past psql's own timeout in the test harness: a listing that
# waited for it would end without the statement timeout's message.
$s3->set_faults(
	[ { name => 'slow', method => 'GET', path => 'manifest\.json$', delay_ms => 600000, times => -1 } ]);
($rc, $out, $err) = $node_b->psql('postgres',
	q{SET statement_timeout = '2s'; SELECT count(*) FROM pgbak_storage_sets('offsite')});
like($err, qr/canceling statement due to statement timeout/,
	'statement_timeout ends a listing that waits on S3, not S3\'s answer');
$s3->clear_faults;
is($node_b->safe_psql('postgres', q{SELECT count(*) FROM pgbak_storage_sets('offsite')}), '2',
	'once S3 answers, the listing works');

# ---------------------------------------------------------------------------
# Verify and restore imported ids.
# ---------------------------------------------------------------------------
for my $id ($shop_import, $vault_import, $offsite_import)
{
	my $verify = $node_b->safe_psql('postgres', "SELECT pgbak_verify($id)");
	is(wait_backup($node_b, $verify, 300), 'succeeded', "pgbak_verify of imported $id passes")
	  or diag backup_row($node_b, $verify)->{error_message};
	like(backup_row($node_b, $id)->{verify_status}, qr/^passed$/, "imported $id: verify_status passed");
}
my $drill = $node_b->safe_psql('postgres', "SELECT pgbak_verify($ledger_import, true)");
is(wait_backup($node_b, $drill, 300), 'succeeded', 'a restore drill of the imported plain set passes')
  or diag backup_row($node_b, $drill)->{error_message};

my %restores = (shop => $shop_import, ledger_back => $vault_import, shop_s3 => $offsite_import);
for my $target (sort keys %restores)
{
	my $restore = $node_b->safe_psql('postgres', "SELECT pgbak_restore($restores{$target}, '$target')");
	is(wait_backup($node_b, $restore, 300), 'succeeded', "pgbak_restore of imported $restores{$target} into $target")
	  or diag backup_row($node_b, $restore)->{error_message};
	my $database = $target =~ /^shop/ ? 'shop' : 'ledger';
	is_deeply(table_fingerprints($node_b, $target), $source{$database},
		"$target has $database\'s rows (counts and contents)");
}

# Of shop's settings, the restore of an imported set kept the one any owner
# could make and left out, saying so, what only a superuser could.
is($node_b->safe_psql('postgres',
		q{SELECT string_agg(coalesce(r.rolname, '*') || ':' || array_to_string(s.setconfig, ','), ' ')
		  FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
		  LEFT JOIN pg_roles r ON r.oid = s.setrole WHERE d.datname = 'shop'}),
	'*:work_mem=12MB', 'the imported shop has work_mem, not the superuser-only settings');
like(slurp_file($node_b->logfile),
	qr/left out the setting log_min_duration_statement of an imported set/,
	'the log names the setting left out');
like(slurp_file($node_b->logfile),
	qr/left out the setting search_path for role \Q$superuser_a\E of an imported set/,
	'and the superuser\'s one');

# shop is back under its name: it has no backup on B yet, whatever B
# imported of A's shop.
is($node_b->safe_psql('postgres',
		q{SELECT coalesce(last_backup_id::text, 'none') || ' ' || stale FROM backup_status
		  WHERE database_name = 'shop'}),
	'none true', 'the restored shop has no backup of its own in backup_status, and is stale');
like($node_b->safe_psql('postgres', 'SELECT pgbak_metrics()'),
	qr/^pgbak_backup_successes_total\{database="shop"\} 0$/m,
	'nor in the metrics');

# ---------------------------------------------------------------------------
# Retention never deletes an imported set: dir's manual_retention (1 s)
# takes B's own older manual backup, not the imported ones.
# ---------------------------------------------------------------------------
my $own_old = backup_to($node_b, 'shop', 'dir');
my $own_new = backup_to($node_b, 'shop', 'dir');
my $planned;
ok( poll_until(
		30,
		sub {
			$planned = $node_b->safe_psql('postgres',
				q{SELECT string_agg(id::text, ',' ORDER BY id) FROM pgbak_prune(true)});
			$planned eq $own_old;
		}),
	'a dry run of retention lists B\'s older manual backup only')
  or diag "planned: $planned";
is($node_b->safe_psql('postgres',
		"SELECT count(*) FROM pgbak_storage_sets('dir') WHERE cluster = '$cluster_b'"),
	'2', 'B\'s own sets are listed beside A\'s');

# Webhooks: one for B's own backups and restores, none for imported rows.
ok( poll_until(
		60,
		sub { -f $hooks && slurp_file($hooks) =~ /"id":\s*$own_new\b/ }),
	'B\'s own backup is announced by webhook');
my @hooked = map { JSON::PP->new->decode($_)->{id} } grep { /\S/ } split /\n/, slurp_file($hooks);
my @imported = ($shop_import, $ledger_import, $vault_import, $offsite_import);
is_deeply([ grep { my $id = $_; grep { $_ == $id } @hooked } @imported ],
	[], 'no webhook was sent for an imported set');
is($node_b->safe_psql('postgres',
		"SELECT string_agg(DISTINCT webhook_status, ',') FROM backup_log WHERE trigger = 'import'"),
	'not sent: imported', 'their rows say why');

$node_b->stop;
$s3->stop;
kill 'TERM', $receiver;
waitpid($receiver, 0);
done_testing();
