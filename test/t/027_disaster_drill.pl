# 027_disaster_drill.pl: recovery after the server that holds backup_log is
# gone. Cluster A backs up two databases, one of them encrypted, to S3 (the
# signature-checking proxy) and to a local directory; A is stopped and its
# data directory deleted. On a fresh cluster B, the pgbak command lists the
# sets, verifies them, fetches one and restores them (whole with --create,
# --globals and --jobs; plain; a few tables), each equal to the source; a
# flipped byte in the bucket makes verify and restore exit with the
# checksum code and create nothing; bad usage, a missing set and a storage
# that cannot be reached exit with their own codes. Then, in SQL on B,
# pgbak_storage_sets and pgbak_import register the sets and pgbak_restore
# brings the encrypted one back.

use strict;
use warnings;

use File::Path qw(make_path remove_tree);
use IPC::Run ();
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakS3;
use PgbakTest;

my $tmp = PostgreSQL::Test::Utils::tempdir;

my $keyfile = "$tmp/key.txt";
my $recipient = age_keygen($keyfile);

my $s3 = start_s3(name => 'drill');
my $bucket = $s3->bucket;
my $local = "$tmp/local-storage";
my $a = new_node('drill_a', 'pgbak.local_path' => "'$local'");

# ---------------------------------------------------------------------------
# Cluster A: two databases, their roles, backups to S3 and to local.
# ---------------------------------------------------------------------------
$a->safe_psql('postgres', q{
  CREATE ROLE shop_owner LOGIN PASSWORD 'drill-secret';
  CREATE ROLE vault_owner;
  CREATE DATABASE shop OWNER shop_owner;
  CREATE DATABASE vault OWNER vault_owner;
});
$a->safe_psql('shop', q{
  SET ROLE shop_owner;
  CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
  CREATE TABLE orders (id int PRIMARY KEY, customer int REFERENCES customers,
                       amount numeric, note text);
  CREATE INDEX orders_customer ON orders (customer);
  INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 2000) g;
  INSERT INTO orders SELECT g, 1 + g % 2000, g * 1.5, md5(g::text)
    FROM generate_series(1, 50000) g;
  CREATE TABLE notes (id int, body text);
  INSERT INTO notes VALUES (1, 'ünïcödé ✓'), (2, NULL);
});
$a->safe_psql('vault', q{
  SET ROLE vault_owner;
  CREATE TABLE secrets (id int PRIMARY KEY, payload text);
  INSERT INTO secrets SELECT g, md5(random()::text) FROM generate_series(1, 30000) g;
});
my %source = (shop => table_fingerprints($a, 'shop'), vault => table_fingerprints($a, 'vault'));
my $cluster_a = $a->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');

my %s3_options = (
	endpoint => $s3->endpoint,
	region => $s3->region,
	access_key_id => $s3->access_key,
	secret_access_key => $s3->secret);
sub add_storage
{
	my ($name, $url, %options) = @_;
	$a->safe_psql('postgres',
		    "SET log_statement = 'none';\n"
		  . "SELECT pgbak_storage_add('$name', '$url', "
		  . quote_literal(JSON::PP->new->canonical->encode(\%options)) . ')');
}
add_storage('offsite', "s3://$bucket/drill", %s3_options);
add_storage('safe', "s3://$bucket/drill", %s3_options, age_recipients => [$recipient]);

sub backup_to
{
	my ($db, $storage, $options) = @_;
	my $id = $a->safe_psql('postgres',
		"SELECT pgbak_run('$db', '$storage', " . quote_literal($options // '{}') . ')');
	is(wait_backup($a, $id, 300), 'succeeded', "backup of $db to $storage");
	return $id;
}
my $shop_s3 = backup_to('shop', 'offsite');
my $shop_local = backup_to('shop', 'local');
my $shop_plain = backup_to('shop', 'local', '{"format": "plain"}');
my $vault_s3 = backup_to('vault', 'safe');
my $shop_location = backup_row($a, $shop_s3)->{location};
my $vault_location = backup_row($a, $vault_s3)->{location};

# The disaster: A is gone, with its data directory and backup_log.
$a->stop('immediate');
remove_tree($a->data_dir);
ok(!-d $a->data_dir, 'cluster A\'s data directory is gone');

# ---------------------------------------------------------------------------
# Cluster B: a new server (pgbak_ext preloaded, for the SQL part at the end;
# the command needs none of it).
# ---------------------------------------------------------------------------
my $b = new_node('drill_b');
my $b_conn = $b->connstr('postgres');

# The storage options file holds no secret: the secret is in a file of its
# own, named by it.
PostgreSQL::Test::Utils::append_to_file("$tmp/secret", $s3->secret);
chmod 0600, "$tmp/secret";
my %file_options = %s3_options;
delete $file_options{secret_access_key};
$file_options{secret_access_key_file} = "$tmp/secret";
PostgreSQL::Test::Utils::append_to_file("$tmp/s3.json",
	JSON::PP->new->canonical->encode(\%file_options));
my @s3 = ('--storage', "s3://$bucket/drill", '--storage-options', "$tmp/s3.json");
my @local = ('--storage', "file://$local");

# pgbak runs the installed program; its arguments never hold a secret.
sub pgbak
{
	my (@args) = @_;
	my ($out, $err);
	IPC::Run::run([ 'pgbak', @args ], '<', \undef, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}
sub json_of { return JSON::PP->new->decode($_[0]) }

my ($rc, $out, $err) = pgbak('sets', @s3, '--json');
is($rc, 0, 'pgbak sets lists the bucket') or diag $err;
my $sets = json_of($out);
my ($shop_set) = grep { $_->{database} eq 'shop' } @$sets;
my ($vault_set) = grep { $_->{database} eq 'vault' } @$sets;
is(scalar(@$sets), 2, 'two sets in the bucket');
is($shop_set->{backup_id}, $shop_s3, 'shop\'s, with its backup id');
is($shop_set->{location}, $shop_location, 'at the location A recorded');
is($shop_set->{cluster}, $cluster_a, 'of cluster A');
ok(!$shop_set->{encrypted}, 'not encrypted');
ok($vault_set->{encrypted}, 'vault\'s is encrypted');
($rc, $out) = pgbak('sets', @local, '--json');
is(scalar(@{ json_of($out) }), 2, 'and the local directory holds shop\'s two sets');

# The same listing with the secret from the standard AWS environment.
{
	local $ENV{AWS_ACCESS_KEY_ID} = $s3->access_key;
	local $ENV{AWS_SECRET_ACCESS_KEY} = $s3->secret;
	my %env_options = %s3_options;
	delete @env_options{qw(access_key_id secret_access_key)};
	PostgreSQL::Test::Utils::append_to_file("$tmp/env.json",
		JSON::PP->new->encode(\%env_options));
	($rc, $out, $err) = pgbak('sets', '--storage', "s3://$bucket/drill", '--storage-options',
		"$tmp/env.json", '--json');
	is($rc, 0, 'credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY') or diag $err;
	is(scalar(@{ json_of($out) }), 2, 'list the same sets');
}

# ---------------------------------------------------------------------------
# verify
# ---------------------------------------------------------------------------
($rc, $out, $err) = pgbak('verify', $shop_location, @s3, '--json');
is($rc, 0, 'pgbak verify passes on shop\'s set') or diag $err;
my $verified = json_of($out);
ok($verified->{verified} && $verified->{decrypted}, 'every object read back and decompressed');
cmp_ok($verified->{archive_entries}, '>', 5, 'and pg_restore --list reads the archive');
($rc, $out, $err) = pgbak('verify', 'latest', @s3, '--database', 'vault');
is($rc, 0, 'the encrypted set verifies without an identity') or diag $err;
like($out, qr/not decrypted \(no --identity\)/, 'on its checksums only, and says so');
($rc, $out, $err) = pgbak('verify', $vault_s3, @s3, '--identity', $keyfile);
is($rc, 0, 'with --identity it is read through, named by its backup id') or diag $err;
like($out, qr/decompressed sizes too\n.*pg_restore --list reads the archive: \d+ entries/s,
	'and listed');
($rc, $out, $err) = pgbak('verify', $shop_plain, @local);
is($rc, 0, 'a plain set verifies') or diag $err;

# ---------------------------------------------------------------------------
# restore: shop from S3, with its roles, as a new database, two sessions.
# ---------------------------------------------------------------------------
($rc, $out, $err) = pgbak('restore', $shop_location, @s3, '--dbname', $b_conn, '--create',
	'--globals', '--jobs', '2', '--json');
is($rc, 0, 'pgbak restore --create --globals --jobs 2') or diag $err;
my %created = map { $_ => 1 } @{ json_of($out)->{roles_created} };
ok($created{shop_owner} && $created{vault_owner}, 'created the roles B lacked')
  or diag explain \%created;
ok(!$created{ $b->safe_psql('postgres', 'SELECT current_user') }, 'and left B\'s own alone');
is_deeply(table_fingerprints($b, 'shop'), $source{shop}, 'shop on B equals shop on A');
is($b->safe_psql('postgres',
		q{SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'shop'}),
	'shop_owner', 'owned as it was');
is($b->safe_psql('shop', q{SELECT tableowner FROM pg_tables WHERE tablename = 'orders'}),
	'shop_owner', 'and so are its tables');
is($b->safe_psql('shop',
		q{SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_customer'}),
	'1', 'with their indexes');
my ($stdout, $stderr);
$b->psql('shop', 'SELECT 1', stdout => \$stdout, stderr => \$stderr,
	extra_params => [ '-U', 'shop_owner' ]);
is($stdout, '1', 'the restored role can log in');

# A plain set, from the local directory, into an existing database.
$b->safe_psql('postgres', 'CREATE DATABASE shop_plain');
($rc, $out, $err) = pgbak('restore', $shop_plain, @local, '--dbname', $b->connstr('shop_plain'));
is($rc, 0, 'a plain set is restored with psql') or diag $err;
is_deeply(table_fingerprints($b, 'shop_plain'), $source{shop}, 'equal to the source');

# Two tables of shop's local set, whole, into another database.
$b->safe_psql('postgres', 'CREATE DATABASE shop_tables');
($rc, $out, $err) = pgbak('restore', $shop_local, @local, '--dbname', $b->connstr('shop_tables'),
	'--tables', 'public.customers,notes');
is($rc, 0, 'pgbak restore --tables') or diag $err;
my $prints = table_fingerprints($b, 'shop_tables');
is_deeply([ sort keys %$prints ], [ 'public.customers', 'public.notes' ], 'restores those tables');
is($prints->{'public.customers'}, $source{shop}{'public.customers'}, 'whole');
($rc, $out, $err) = pgbak('restore', $shop_local, @local, '--dbname', $b->connstr('shop_tables'),
	'--tables', 'nosuch');
is($rc, 3, 'a table the set does not hold exits 3');
like($err, qr/the set holds no table nosuch/, 'naming it');

# ---------------------------------------------------------------------------
# fetch: vault, decrypted and decompressed, restored by hand.
# ---------------------------------------------------------------------------
($rc, $out, $err) = pgbak('fetch', $vault_location, "$tmp/fetched", @s3, '--identity', $keyfile);
is($rc, 0, 'pgbak fetch') or diag $err;
ok(-f "$tmp/fetched/data.dump" && -f "$tmp/fetched/globals.sql"
	  && -f "$tmp/fetched/manifest.json", 'wrote data.dump, globals.sql and manifest.json');
{
	opendir(my $dh, "$tmp/fetched") or die;
	my @entries = sort grep { !/^\.\.?$/ } readdir($dh);
	is_deeply(\@entries, [ 'data.dump', 'globals.sql', 'manifest.json' ], 'and nothing else');
}
$b->safe_psql('postgres', 'CREATE DATABASE vault_by_hand');
my $restored = IPC::Run::run([ 'pg_restore', '-j', '2', '--no-owner', '-d',
		$b->connstr('vault_by_hand'), "$tmp/fetched/data.dump" ], '>', \$stdout, '2>', \$stderr);
ok($restored, 'stock pg_restore -j 2 restores the fetched archive') or diag $stderr;
is_deeply(table_fingerprints($b, 'vault_by_hand'), $source{vault}, 'equal to the source');
($rc, $out, $err) = pgbak('fetch', $vault_location, "$tmp/fetched", @s3, '--identity', $keyfile);
is($rc, 2, 'fetch into a directory that is not empty exits 2');
like($err, qr/is not empty/, 'and says so');
($rc, $out, $err) = pgbak('fetch', $vault_location, "$tmp/fetch-no-key", @s3);
is($rc, 2, 'fetching an encrypted set without an identity exits 2');
like($err, qr/is encrypted, and no identity was given.*\nHINT: Give pgbak --identity FILE/s, 'saying what to give');
ok(!-e "$tmp/fetch-no-key/data.dump", 'and writes no archive');

# ---------------------------------------------------------------------------
# A flipped byte in the bucket: verify and restore exit 4, nothing created.
# ---------------------------------------------------------------------------
my $vault_key = $s3->key_of($vault_location) . '/data.dump.zst.age';
($rc, $err) = $s3->download($vault_key, "$tmp/object");
is($rc, 0, 'the encrypted data object downloads') or diag $err;
my $original_object = slurp_file("$tmp/object");
{
	my $bytes = slurp_file("$tmp/object");
	my $at = int(length($bytes) / 2);
	substr($bytes, $at, 1) = chr(ord(substr($bytes, $at, 1)) ^ 0x01);
	open(my $fh, '>', "$tmp/object") or die;
	binmode $fh;
	print $fh $bytes;
	close $fh;
}
($rc, $out, $err) = $s3->aws('s3', 'cp', '--only-show-errors', "$tmp/object", "s3://$bucket/$vault_key");
is($rc, 0, 'and goes back with one bit flipped') or diag $err;
($rc, $out, $err) = pgbak('verify', $vault_location, @s3, '--identity', $keyfile);
is($rc, 4, 'pgbak verify exits 4 (checksum)');
like($err, qr/data\.dump\.zst\.age: SHA-256 mismatch: the manifest says [0-9a-f]{64}, storage holds [0-9a-f]{64}/,
	'naming the object');
$b->safe_psql('postgres', 'DROP ROLE vault_owner');
make_path("$tmp/work");
($rc, $out, $err) = pgbak('restore', $vault_location, @s3, '--identity', $keyfile, '--dbname',
	$b_conn, '--create', '--globals', '--work-dir', "$tmp/work", '--json');
is($rc, 4, 'pgbak restore --create --globals exits 4 too');
is(json_of($out)->{exit_code}, 4, 'and says so in JSON');
is($b->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'vault'}),
	'0', 'no database was created');
is($b->safe_psql('postgres', q{SELECT count(*) FROM pg_roles WHERE rolname = 'vault_owner'}),
	'0', 'nor any role');
{
	opendir(my $dh, "$tmp/work") or die;
	is_deeply([ grep { !/^\.\.?$/ } readdir($dh) ], [], 'and no staging file is left behind');
}
# A flipped byte in the age header (the X25519 stanza) is damage too.
{
	($rc, $err) = $s3->download($vault_key, "$tmp/object");
	my $bytes = slurp_file("$tmp/object");
	$bytes =~ s/(-> X25519 .)(.)/$1 . chr(ord($2) ^ 0x01)/e or die 'no X25519 stanza';
	open(my $fh, '>', "$tmp/object") or die;
	binmode $fh;
	print $fh $bytes;
	close $fh;
	($rc, $out, $err) =
	  $s3->aws('s3', 'cp', '--only-show-errors', "$tmp/object", "s3://$bucket/$vault_key");
}
($rc, $out, $err) = pgbak('verify', $vault_location, @s3, '--identity', $keyfile);
is($rc, 4, 'a damaged age header exits 4, not "wrong identity"');
like($err, qr/SHA-256 mismatch/, 'as a checksum mismatch');

# The object as it was, for the SQL part below.
{
	open(my $fh, '>', "$tmp/object") or die;
	binmode $fh;
	print $fh $original_object;
	close $fh;
	($rc, $out, $err) =
	  $s3->aws('s3', 'cp', '--only-show-errors', "$tmp/object", "s3://$bucket/$vault_key");
	is($rc, 0, 'the encrypted data object is put back as it was') or diag $err;
}

# ---------------------------------------------------------------------------
# Bad usage, a missing set, a storage that cannot be reached.
# ---------------------------------------------------------------------------
($rc, $out, $err) = pgbak('restore', $shop_location, @s3, '--dbname',
	"$b_conn password=hunter2");
is($rc, 2, 'a password in --dbname exits 2');
like($err, qr/--dbname carries a password/, 'and is refused before anything is read');
unlike($err, qr/hunter2/, 'without repeating it');
($rc, $out, $err) = pgbak('restore', $shop_location, @s3, '--dbname',
	'postgresql://someone:hunter2@localhost/postgres');
is($rc, 2, 'in a URI too');
($rc, $out, $err) = pgbak('verify', 'latest', @s3, '--database', 'nosuch');
is($rc, 3, 'a database without sets exits 3');
($rc, $out, $err) = pgbak('verify', '999999', @s3);
is($rc, 3, 'a backup id the storage does not hold exits 3');
like($err, qr/HINT: pgbak sets lists the sets it holds/, 'with a hint');
($rc, $out, $err) = pgbak('restore', '--help');
is($rc, 0, 'pgbak restore --help');
like($out, qr/--globals .*--tables/s, 'describes every option');
my $closed_port = PostgreSQL::Test::Cluster::get_free_port();
my %dead = (%file_options, endpoint => "http://127.0.0.1:$closed_port");
PostgreSQL::Test::Utils::append_to_file("$tmp/dead.json", JSON::PP->new->encode(\%dead));
($rc, $out, $err) = pgbak('sets', '--storage', "s3://$bucket/drill", '--storage-options',
	"$tmp/dead.json");
is($rc, 5, 'a storage that cannot be reached exits 5') or diag $err;

# ---------------------------------------------------------------------------
# In SQL on B: list the bucket, import its sets, restore the encrypted one.
# ---------------------------------------------------------------------------
storage_add($b, 'safe', "s3://$bucket/drill", %s3_options, age_identity_file => $keyfile);
is($b->safe_psql('postgres',
		q{SELECT string_agg(database || ':' || backup_id || ':' || encrypted, ',' ORDER BY database)
		  FROM pgbak_storage_sets('safe') WHERE complete}),
	"shop:$shop_s3:false,vault:$vault_s3:true",
	'pgbak_storage_sets lists what pgbak sets listed');
my @imported = split /\n/,
  $b->safe_psql('postgres', q{SELECT * FROM pgbak_import('safe') ORDER BY 1});
is(scalar(@imported), 2, 'pgbak_import registers both sets');
is($b->safe_psql('postgres', q{SELECT count(*) FROM pgbak_import('safe')}), '0',
	'and a second import adds nothing');
my $vault_row = $b->safe_psql('postgres',
	q{SELECT id FROM backup_log WHERE trigger = 'import' AND database_name = 'vault'});
is($b->safe_psql('postgres',
		"SELECT kind || ' ' || status || ' ' || location FROM backup_log WHERE id = $vault_row"),
	"backup succeeded $vault_location", 'as a succeeded backup at its location');
my $restore = $b->safe_psql('postgres',
	"SELECT pgbak_restore($vault_row, 'vault', '{\"globals\": true}')");
is($b->safe_psql('postgres', "SELECT pgbak_wait($restore, 300)"), 'succeeded',
	'pgbak_restore of the imported encrypted set succeeds')
  or diag explain backup_row($b, $restore);
is_deeply(table_fingerprints($b, 'vault'), $source{vault}, 'vault on B equals vault on A');
is($b->safe_psql('postgres',
		q{SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'vault'}),
	'vault_owner', 'owned by its role, created from the set\'s globals');

$b->stop;
done_testing();
