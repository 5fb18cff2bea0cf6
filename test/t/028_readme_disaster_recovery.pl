# 028_readme_disaster_recovery.pl: the "Disaster recovery" commands of
# README.md, taken from the README text itself and run as they stand, as
# 006 does for "Restore by hand": cluster A backs up myapp, encrypted, to S3
# (the signature-checking proxy) and is deleted; the README's block then
# brings myapp back on a fresh cluster B with nothing but the pgbak
# command. Only the environment is the test's own: STORAGE and OPTIONS (the
# storage's URL and options file, which names the secret key file and the
# age identity), PGHOST/PGPORT/PGUSER of cluster B, and PATH with the
# PostgreSQL 15 client tools (and pgbak beside them) first.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Path qw(remove_tree);
use IPC::Run ();
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakS3;
use PgbakTest;

my $tmp = PostgreSQL::Test::Utils::tempdir;

# ---------------------------------------------------------------------------
# The commands: the first ```sh block of "### Disaster recovery" (a block of
# a later section is never taken for it).
# ---------------------------------------------------------------------------
my ($block, $block_first_line) = readme_block('### Disaster recovery');
ok(defined $block, 'README.md has a ```sh block in its section "### Disaster recovery"')
  or do { done_testing(); exit 1; };
note "README.md lines $block_first_line..: \n$block";
like($block, qr/^pgbak restore /m, 'the block restores with pgbak');
my $script_file = "$tmp/disaster_recovery.sh";
PostgreSQL::Test::Utils::append_to_file($script_file, $block);

# ---------------------------------------------------------------------------
# Cluster A: myapp, owned by a role of its own, backed up encrypted to S3.
# ---------------------------------------------------------------------------
my $keyfile = "$tmp/backup-key.txt";
my $recipient = age_keygen($keyfile);
my $s3 = start_s3(name => 'readmedr');
my $bucket = $s3->bucket;
my $a = new_node('dr_a');
$a->safe_psql('postgres', q{
  CREATE ROLE myapp_owner LOGIN CONNECTION LIMIT 7;
  CREATE DATABASE myapp OWNER myapp_owner;
});
$a->safe_psql('myapp', q{
  SET ROLE myapp_owner;
  CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL);
  INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 5000) g;
  CREATE TABLE orders (id bigint PRIMARY KEY, user_id int REFERENCES users, total numeric);
  INSERT INTO orders SELECT g, 1 + g % 5000, g * 0.5 FROM generate_series(1, 20000) g;
});
my $source = table_fingerprints($a, 'myapp');
my %s3_options = (
	endpoint => $s3->endpoint,
	region => $s3->region,
	access_key_id => $s3->access_key);
$a->safe_psql('postgres',
	    "SET log_statement = 'none';\n"
	  . "SELECT pgbak_storage_add('prod', 's3://$bucket/prod', "
	  . quote_literal(JSON::PP->new->encode(
			{ %s3_options, secret_access_key => $s3->secret, age_recipients => [$recipient] }))
	  . ')');
my $old = $a->safe_psql('postgres', q{SELECT pgbak_run('myapp', 'prod')});
is(wait_backup($a, $old, 300), 'succeeded', 'an older backup of myapp');
$a->safe_psql('myapp', q{INSERT INTO users VALUES (100001, 'added after the first backup')});
$source = table_fingerprints($a, 'myapp');
my $id = $a->safe_psql('postgres', q{SELECT pgbak_run('myapp', 'prod')});
is(wait_backup($a, $id, 300), 'succeeded', 'the newest backup of myapp');
$a->stop('immediate');
remove_tree($a->data_dir);

# ---------------------------------------------------------------------------
# Cluster B, and the README block run against it under bash -e -o pipefail.
# ---------------------------------------------------------------------------
my $b = plain_node('dr_b');
PostgreSQL::Test::Utils::append_to_file("$tmp/secret", $s3->secret);
chmod 0600, "$tmp/secret";
PostgreSQL::Test::Utils::append_to_file("$tmp/s3.json",
	JSON::PP->new->encode(
		{ %s3_options, secret_access_key_file => "$tmp/secret", age_identity_file => $keyfile }));
my $bindir = dirname(`which pg_restore`);
my ($ok, $out, $err, $failure) = run_readme_block(
	$script_file,
	$block_first_line,
	{
		STORAGE => "s3://$bucket/prod",
		OPTIONS => "$tmp/s3.json",
		PGHOST => $b->host,
		PGPORT => $b->port,
		PGUSER => $b->safe_psql('postgres', 'SELECT current_user'),
		PATH => "$bindir:$ENV{PATH}",
		map { $_ => undef } grep { /^AWS_/ } keys %ENV
	},
	300);
note "stdout:\n$out";
note "stderr:\n$err";
ok($ok, 'every command of the README block succeeds under bash -e -o pipefail')
  or diag(($failure ne '' ? $failure : "bash exited $?\n") . "stderr:\n$err");

like($out, qr/-$old\n.*-$id\n/s, 'step 1 listed both sets of myapp, newest last');
like($out, qr/backup $id of database "myapp" .*: verified\n.*decompressed sizes too/,
	'step 2 verified the newest, decrypted');
like($out, qr/backup $id of database "myapp" .*: restored in/, 'step 3 restored it');
is_deeply(table_fingerprints($b, 'myapp'), $source, 'myapp on B equals myapp as last backed up');
is($b->safe_psql('postgres',
		q{SELECT rolcanlogin || ' ' || rolconnlimit FROM pg_roles WHERE rolname = 'myapp_owner'}),
	'true 7', 'its role came back with its attributes');
is($b->safe_psql('postgres',
		q{SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'myapp'}),
	'myapp_owner', 'and owns the database');

$b->stop;
done_testing();
