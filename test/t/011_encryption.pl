# 011_encryption.pl: age encryption, checked with the stock tools.
#
# An encrypted backup to S3 (through the signature-checking proxy) is
# fetched with awscli, decrypted with `age -d -i key.txt`, decompressed with
# zstd and restored with pg_restore, equal to the source; the bucket holds
# no plaintext (a marker string from the data is in no stored byte); the
# extension verifies, drills and restores with the storage's identity file;
# a server holding only the public key still checks sizes and checksums and
# refuses to restore with a clear error; a flipped byte fails verification;
# an encrypted directory storage (file://) works the same.

use strict;
use warnings;

use File::Find ();
use IPC::Run ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakS3;
use PgbakTest;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $marker = 'PLAINTEXT-MARKER-7d1c0f5e';

my $recipient = age_keygen("$tmp/key.txt");
my $other_recipient = age_keygen("$tmp/other.txt");

my $s3 = start_s3(name => 'encryption');
my $node = new_node('encryption');
my $bucket = $s3->bucket;

$node->safe_psql('postgres', 'CREATE DATABASE secretdb');
$node->safe_psql('secretdb', qq{
  CREATE TABLE notes (id int PRIMARY KEY, body text);
  INSERT INTO notes SELECT g, '$marker ' || g || ' ' || md5(g::text) FROM generate_series(1, 20000) g;
  CREATE TABLE "$marker" (id int);
});
my $source = table_fingerprints($node, 'secretdb');

sub add_storage { storage_add($node, @_) }

sub backup_to
{
	my ($storage) = @_;
	my $id = $node->safe_psql('postgres', "SELECT pgbak_run('secretdb', '$storage')");
	return ($id, wait_backup($node, $id, 120));
}

my %s3_credentials = (
	endpoint => $s3->endpoint,
	access_key_id => $s3->access_key,
	secret_access_key => $s3->secret);

# ---------------------------------------------------------------------------
# Bad encryption options are refused.
# ---------------------------------------------------------------------------
my ($rc, $out, $err) = $node->psql('postgres',
	q{SELECT pgbak_storage_add('bad', 's3://b-ucket', '{"age_recipients": ["age1notakey"]}')});
like($err, qr/invalid age recipient/, 'a malformed recipient is refused');
($rc, $out, $err) = $node->psql('postgres',
	'SELECT pgbak_storage_add(' . quote_literal('bad') . ", 's3://b-ucket', "
	  . quote_literal(JSON::PP->new->encode({ age_recipients => [$recipient],
			age_identity_file => "$tmp/other.txt" })) . ')');
like($err, qr/holds no identity for any of age_recipients/,
	'an identity file that cannot decrypt what the storage writes is refused');
unlike($err, qr/AGE-SECRET-KEY/i, 'and the error quotes no secret key');

# ---------------------------------------------------------------------------
# Encrypted to S3, read back with awscli + age + zstd + pg_restore.
# ---------------------------------------------------------------------------
add_storage('vault', "s3://$bucket/enc", %s3_credentials,
	age_recipients => [ $recipient, $other_recipient ],
	age_identity_file => "$tmp/key.txt");
my ($id, $status) = backup_to('vault');
is($status, 'succeeded', 'an encrypted backup to S3 succeeds');
my $row = backup_row($node, $id);
(my $prefix = $row->{location}) =~ s{^s3://\Q$bucket\E/}{};
my @keys = map { $_->{key} } $s3->list_objects("$prefix/");
is_deeply([ map { s{.*/}{}r } @keys ],
	[ 'data.dump.zst.age', 'globals.sql.zst.age', 'manifest.json', 'tables.json.age' ],
	'the objects are named .age, the manifest is not');

my %local;
for my $name ('data.dump.zst.age', 'globals.sql.zst.age', 'manifest.json')
{
	my ($dl_rc, $dl_err) = $s3->download("$prefix/$name", "$tmp/$name");
	is($dl_rc, 0, "awscli downloads $name") or diag($dl_err);
}
is(sha256_of_file("$tmp/data.dump.zst.age"), $row->{checksum_sha256},
	'the stored data object has the SHA-256 in backup_log');
my $manifest = JSON::PP->new->utf8->decode(slurp_file("$tmp/manifest.json"));
is_deeply([ sort @{ $manifest->{age_recipients} } ], [ sort($recipient, $other_recipient) ],
	'the manifest records the recipients');
is((grep { $_->{encryption} eq 'age' } @{ $manifest->{objects} }), 3,
	'and that the data, the globals and the row counts are encrypted');
is_deeply($manifest->{tables}, [], 'the manifest itself names no table');
{
	my ($tables_rc, $tables_err) = $s3->download("$prefix/tables.json.age", "$tmp/tables.json.age");
	my $tables_json = '';
	IPC::Run::run([ 'age', '-d', '-i', "$tmp/key.txt", "$tmp/tables.json.age" ],
		'>', \$tables_json, '2>', \$err);
	my %rows = map { ("$_->{schema}.$_->{table}" => $_->{rows}) }
	  @{ JSON::PP->new->utf8->decode($tables_json || '[]') };
	is($rows{'public.notes'}, 20000, 'the row counts decrypt with stock age');
}

for my $key ("$tmp/key.txt", "$tmp/other.txt")
{
	my $label = $key =~ /other/ ? 'the second recipient' : 'the first recipient';
	unlink "$tmp/data.dump.zst", "$tmp/data.dump";
	ok(IPC::Run::run([ 'age', '-d', '-i', $key, '-o', "$tmp/data.dump.zst", "$tmp/data.dump.zst.age" ],
			'2>', \$err),
		"stock age -d decrypts the data object with $label") or diag($err);
}
decompress_file("$tmp/data.dump.zst", "$tmp/data.dump");
$node->safe_psql('postgres', 'CREATE DATABASE from_age');
my ($ok, $restore_err) = restore_custom($node, 'from_age', "$tmp/data.dump");
ok($ok, 'pg_restore restores the decrypted, decompressed dump') or diag($restore_err);
is_deeply(table_fingerprints($node, 'from_age'), $source, 'contents equal to the source');
ok(IPC::Run::run([ 'age', '-d', '-i', "$tmp/key.txt", "$tmp/globals.sql.zst.age" ],
		'|', [ 'zstd', '-dc' ], '>', \$out, '2>', \$err),
	'the globals decrypt and decompress too') or diag($err);
like($out, qr/CREATE ROLE/, 'into SQL');

# The README's "Restore by hand" decryption block, run as written (key and
# /tmp paths moved into the test's directory) on the downloaded set.
{
	my $readme = slurp_file("$ENV{PGBAK_SOURCE_DIR}/README.md");
	my ($section) = $readme =~ /^## Restore by hand\n(.*?)^## /ms;
	my ($block) = grep { /age -d/ } ($section // '') =~ /^```sh\n(.*?)^```/msg;
	ok(defined $block, 'README has an age block under "Restore by hand"');
	$block //= 'false';
	$block =~ s{backup-key\.txt}{$tmp/key.txt}g;
	$block =~ s{/tmp/myapp\.dump}{$tmp/readme.dump}g;
	my ($block_out, $block_err) = ('', '');
	local $ENV{SET} = $tmp;
	local $ENV{PGHOST} = $node->host;
	local $ENV{PGPORT} = $node->port;
	ok(IPC::Run::run([ 'bash', '-e', '-o', 'pipefail', '-c', $block ], '>', \$block_out,
			'2>', \$block_err),
		'the README commands decrypt the set') or diag($block_err);
	$node->safe_psql('postgres', 'CREATE DATABASE from_readme');
	my ($readme_ok, $readme_err) = restore_custom($node, 'from_readme', "$tmp/readme.dump");
	ok($readme_ok, 'and what they decrypted restores') or diag($readme_err);
	is_deeply(table_fingerprints($node, 'from_readme'), $source, 'equal to the source');
}

# The bucket holds no plaintext: no stored byte sequence is the marker.
my @stored;
File::Find::find(sub { push @stored, $File::Find::name if -f $_ }, $s3->data_dir);
my @leaks = grep { index(slurp_file($_), $marker) >= 0 } @stored;
cmp_ok(scalar(@stored), '>=', 3, 'the S3 server stored the objects as files');
is_deeply(\@leaks, [], 'no stored file holds the marker string from the data')
  or diag(explain(\@leaks));

# ---------------------------------------------------------------------------
# The extension decrypts with the storage's identity file.
# ---------------------------------------------------------------------------
my $verify = $node->safe_psql('postgres', "SELECT pgbak_verify($id, false)");
is(wait_backup($node, $verify, 120), 'succeeded', 'shallow verify decrypts and lists the archive');
is($node->safe_psql('postgres', "SELECT verify_status FROM backup_log WHERE id = $id"), 'passed',
	'and records passed');
my $drill = $node->safe_psql('postgres', "SELECT pgbak_verify($id, true)");
is(wait_backup($node, $drill, 120), 'succeeded', 'a restore drill of the encrypted set passes');
my $restore = $node->safe_psql('postgres', "SELECT pgbak_restore($id, 'from_pgbak')");
is(wait_backup($node, $restore, 120), 'succeeded', 'pgbak_restore of the encrypted set succeeds');
is_deeply(table_fingerprints($node, 'from_pgbak'), $source, 'contents equal to the source');

# Options that name tables stay out of the plaintext manifest.
{
	my $selective = $node->safe_psql('postgres',
		q{SELECT pgbak_run('secretdb', 'vault', '{"tables": ["public.notes"], "exclude_schemas": ["audit"]}')});
	is(wait_backup($node, $selective, 120), 'succeeded', 'an encrypted backup of selected tables');
	(my $sel_prefix = backup_row($node, $selective)->{location}) =~ s{^s3://\Q$bucket\E/}{};
	my ($sel_rc, $sel_err) = $s3->download("$sel_prefix/manifest.json", "$tmp/selective.json");
	my $sel_manifest = slurp_file("$tmp/selective.json");
	unlike($sel_manifest, qr/notes|audit/, 'its manifest names neither the tables nor the schemas');
}

# ---------------------------------------------------------------------------
# A server with only the public key: checks what it can, restores nothing.
# ---------------------------------------------------------------------------
add_storage('dropbox', "s3://$bucket/writeonly", %s3_credentials, age_recipients => [$recipient]);
my ($wo_id, $wo_status) = backup_to('dropbox');
is($wo_status, 'succeeded', 'a storage with recipients only (no identity) backs up');
my $wo_verify = $node->safe_psql('postgres', "SELECT pgbak_verify($wo_id, false)");
is(wait_backup($node, $wo_verify, 120), 'succeeded', 'its shallow verify checks sizes and SHA-256');
like($node->safe_psql('postgres', "SELECT verify_status FROM backup_log WHERE id = $wo_id"),
	qr/not decrypted/, 'and says it could not decrypt');
my $wo_restore = $node->safe_psql('postgres', "SELECT pgbak_restore($wo_id, 'never_made')");
is(wait_backup($node, $wo_restore, 120), 'failed', 'a restore without the identity fails');
like(backup_row($node, $wo_restore)->{error_message}, qr/encrypted.*no age_identity_file/,
	'saying why');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'never_made'}),
	'0', 'and creates no database');

# ---------------------------------------------------------------------------
# Tampering: one flipped byte in the stored ciphertext fails verification.
# ---------------------------------------------------------------------------
{
	my $bytes = slurp_file("$tmp/globals.sql.zst.age");
	my $at = length($bytes) - 20;
	substr($bytes, $at, 1) = chr(ord(substr($bytes, $at, 1)) ^ 0x01);
	open(my $fh, '>:raw', "$tmp/globals.bad") or die $!;
	print $fh $bytes;
	close($fh);
	my ($cp_rc, $cp_out, $cp_err) =
	  $s3->aws('s3', 'cp', "$tmp/globals.bad", "s3://$bucket/$prefix/globals.sql.zst.age");
	is($cp_rc, 0, 'a tampered copy replaces the globals in the bucket') or diag($cp_err);
	my $bad = $node->safe_psql('postgres', "SELECT pgbak_verify($id, false)");
	is(wait_backup($node, $bad, 120), 'failed', 'verify fails on the tampered object');
	like(backup_row($node, $bad)->{error_message}, qr/SHA-256 mismatch/, 'with a checksum mismatch');
	ok(!IPC::Run::run([ 'age', '-d', '-i', "$tmp/key.txt", "$tmp/globals.bad" ],
			'>', \$out, '2>', \$err),
		'stock age refuses the tampered file too');

	# Someone with write access to the bucket can also rewrite the manifest
	# to match: then the checksums agree and age's own authentication is
	# what must catch it.
	my $forged = JSON::PP->new->utf8->decode(slurp_file("$tmp/manifest.json"));
	for my $object (@{ $forged->{objects} })
	{
		next unless $object->{name} eq 'globals.sql.zst.age';
		$object->{sha256} = sha256_of_file("$tmp/globals.bad");
		$object->{size} = -s "$tmp/globals.bad";
	}
	open(my $mfh, '>:raw', "$tmp/manifest.forged") or die $!;
	print $mfh JSON::PP->new->utf8->canonical->pretty->encode($forged);
	close($mfh);
	($cp_rc, $cp_out, $cp_err) =
	  $s3->aws('s3', 'cp', "$tmp/manifest.forged", "s3://$bucket/$prefix/manifest.json");
	is($cp_rc, 0, 'a manifest matching the tampered object replaces the real one') or diag($cp_err);
	my $forged_verify = $node->safe_psql('postgres', "SELECT pgbak_verify($id, false)");
	is(wait_backup($node, $forged_verify, 120), 'failed',
		'verify fails although the checksums now agree');
	like(backup_row($node, $forged_verify)->{error_message},
		qr/manifest\.json: SHA-256 mismatch with backup_log/,
		'because backup_log vouches for another manifest (1.3)');
	# Even if the manifest's SHA-256 in backup_log were the forged one's,
	# age's own authentication of the object catches the tampering.
	$node->safe_psql('postgres',
		"UPDATE backup_log SET manifest_sha256 = '"
		  . sha256_of_file("$tmp/manifest.forged")
		  . "' WHERE id = $id");
	my $forged_again = $node->safe_psql('postgres', "SELECT pgbak_verify($id, false)");
	is(wait_backup($node, $forged_again, 120), 'failed', 'verify fails again');
	like(backup_row($node, $forged_again)->{error_message},
		qr/globals\.sql\.zst\.age: cannot be read back: .*age/,
		'because the age authentication of the object fails');
}

# ---------------------------------------------------------------------------
# An encrypted directory storage.
# ---------------------------------------------------------------------------
my $dir = "$tmp/encrypted-dir";
mkdir $dir;
add_storage('safe', "file://$dir", age_recipients => [$recipient],
	age_identity_file => "$tmp/key.txt");
my ($dir_id, $dir_status) = backup_to('safe');
is($dir_status, 'succeeded', 'an encrypted backup to a file:// storage succeeds');
my $dir_row = backup_row($node, $dir_id);
like($dir_row->{location}, qr{^\Q$dir\E/}, 'below the storage directory');
ok(-f "$dir_row->{location}/data.dump.zst.age", 'as .age files');
is((stat("$dir_row->{location}/data.dump.zst.age"))[2] & 07777, 0600, 'mode 0600');
ok(IPC::Run::run([ 'age', '-d', '-i', "$tmp/key.txt", "$dir_row->{location}/data.dump.zst.age" ],
		'|', [ 'zstd', '-dc' ], '>', "$tmp/dir.dump", '2>', \$err),
	'stock age and zstd read it') or diag($err);
$node->safe_psql('postgres', 'CREATE DATABASE from_dir');
($ok, $restore_err) = restore_custom($node, 'from_dir', "$tmp/dir.dump");
ok($ok, 'and it restores') or diag($restore_err);
is_deeply(table_fingerprints($node, 'from_dir'), $source, 'equal to the source');
my $dir_verify = $node->safe_psql('postgres', "SELECT pgbak_verify($dir_id, true)");
is(wait_backup($node, $dir_verify, 120), 'succeeded', 'its restore drill passes');

$node->stop;
$s3->stop;
done_testing();
