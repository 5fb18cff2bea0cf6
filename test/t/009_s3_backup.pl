# 009_s3_backup.pl: backups to S3-compatible storage, through a proxy that
# re-verifies every SigV4 signature independently (test/s3), read back with
# the stock awscli, zstd and pg_restore. Covers multipart uploads, retries
# on injected faults, a wrong secret, a permanent failure, cancel during an
# upload, credentials from the server's environment, verify and restore
# from S3, and retention deleting from the bucket.

use strict;
use warnings;

use Digest::SHA ();
use IPC::Run ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakS3;
use PgbakTest;

my $s3 = start_s3(name => 's3backup');
my $node = new_node('s3main', restart_after_crash => 'on');
my $tmp = PostgreSQL::Test::Utils::tempdir;
my $bucket = $s3->bucket;
my $part_size = 5 * 1024 * 1024;

# A database whose stored data object spans several 5 MiB parts: hex text
# compresses about 2:1, so ~45 MB of it makes 4 or 5 parts.
$node->safe_psql('postgres', 'CREATE DATABASE srcdb');
$node->safe_psql('srcdb', q{
  CREATE TABLE hexes (id int PRIMARY KEY, a text, b text);
  INSERT INTO hexes SELECT g, md5(random()::text) || md5(random()::text),
                           md5(g::text || random()::text)
    FROM generate_series(1, 450000) g;
  CREATE TABLE marker (id int PRIMARY KEY, note text);
  INSERT INTO marker VALUES (1, 'S3-ROUND-TRIP-MARKER'), (2, 'ünïcödé ✓');
  CREATE INDEX hexes_b_idx ON hexes (b);
});
my $source_prints = table_fingerprints($node, 'srcdb');

# storage_options builds the JSON of a storage definition on the stack.
sub storage_options
{
	my (%over) = @_;
	my %options = (
		endpoint => $s3->endpoint,
		access_key_id => $s3->access_key,
		secret_access_key => $s3->secret,
		part_size => $part_size,
		concurrency => 3,
		%over);
	return JSON::PP->new->canonical->encode(\%options);
}

sub add_storage
{
	my ($name, $url, $options) = @_;
	# The test harness logs every statement (log_statement = all); a DBA
	# adding a secret turns that off for the call, as the README says.
	$node->safe_psql('postgres',
		    "SET log_statement = 'none';\n"
		  . 'SELECT pgbak_storage_add('
		  . quote_literal($name) . ', '
		  . quote_literal($url) . ', '
		  . quote_literal($options) . ')');
}

sub run_s3_backup
{
	my ($storage, $db, $timeout) = @_;
	my $id = $node->safe_psql('postgres',
		'SELECT pgbak_run(' . quote_literal($db) . ', ' . quote_literal($storage) . ')');
	my $status = wait_backup($node, $id, $timeout // 300);
	return ($id, $status);
}

# key_of turns an s3:// location into its key in the bucket.
sub key_of { return $s3->key_of($_[0]) }

# objects_at lists (name => size) below a set's location, with awscli.
sub objects_at
{
	my ($location) = @_;
	my $prefix = key_of($location) . '/';
	my %objects;
	for my $object ($s3->list_objects($prefix))
	{
		my $name = substr($object->{key}, length($prefix));
		$objects{$name} = $object->{size};
	}
	return \%objects;
}

# fetch downloads one object of a set with awscli and returns the local path.
sub fetch
{
	my ($location, $name, $local) = @_;
	my ($rc, $err) = $s3->download(key_of($location) . "/$name", $local);
	die "aws s3 cp of $name failed: $err" if $rc != 0;
	return $local;
}

# restore_from_bucket downloads the data object with awscli, checks its
# SHA-256 against backup_log, decompresses it with zstd and restores it with
# pg_restore into a new database; returns that database's fingerprints.
sub restore_from_bucket
{
	my ($row, $db, $label) = @_;
	my $zst = fetch($row->{location}, 'data.dump.zst', "$tmp/$label.dump.zst");
	is(sha256_of_file($zst), $row->{checksum_sha256},
		"$label: data object downloaded with awscli has backup_log's SHA-256");
	decompress_file($zst, "$tmp/$label.dump");
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	my ($ok, $err) = restore_custom($node, $db, "$tmp/$label.dump");
	ok($ok, "$label: pg_restore of the downloaded set succeeds") or diag($err);
	return table_fingerprints($node, $db);
}

# ---------------------------------------------------------------------------
# A backup to S3 through the verifying proxy, read back with stock tools.
# ---------------------------------------------------------------------------
add_storage('offsite', "s3://$bucket/cluster-a", storage_options());
my $seq = $s3->last_seq;
my ($id, $status) = run_s3_backup('offsite', 'srcdb');
is($status, 'succeeded', 'backup to S3 succeeds through the signature-checking proxy');
my $row = backup_row($node, $id);
like($row->{location}, qr{^s3://\Q$bucket\E/cluster-a/\d+/srcdb/\d{8}T\d{6}Z-$id$},
	'location is an s3:// URL below the storage prefix');
is($row->{storage_name}, 'offsite', 'backup_log names the storage');

my $objects = objects_at($row->{location});
is_deeply([ sort keys %$objects ], [ 'data.dump.zst', 'globals.sql.zst', 'manifest.json' ],
	'the set holds the data, the globals and the manifest');
is($objects->{'data.dump.zst'}, $row->{stored_bytes},
	'the stored data object has the size backup_log records');
cmp_ok($row->{stored_bytes}, '>', 3 * $part_size,
	'the data object is larger than three parts');

my @log = @{ $s3->request_log(since => $seq) };
my @rejected = grep { defined $_->{status} && $_->{status} >= 400 } @log;
is(scalar(@rejected), 0, 'the proxy accepted every signature and payload hash')
  or diag(explain(\@rejected));
my @parts = grep { $_->{method} eq 'PUT' && ($_->{query} // '') =~ /partNumber=/ } @log;
cmp_ok(scalar(@parts), '>=', 4, 'the data object went up as a multipart upload of 4+ parts');
my @payloads = grep { ($_->{payload} // '') ne 'signed' } @log;
is(scalar(@payloads), 0, 'every request signed its payload hash');
my @puts = grep { $_->{method} eq 'PUT' || $_->{method} eq 'POST' } @log;
like($puts[-1]{path}, qr{/manifest\.json$}, 'the manifest is the last object written');
is(scalar(@{ $s3->open_uploads }), 0, 'no multipart upload is left open');

my $manifest_file = fetch($row->{location}, 'manifest.json', "$tmp/manifest.json");
my $manifest = JSON::PP->new->utf8->decode(slurp_file($manifest_file));
my ($data_entry) = grep { $_->{name} eq 'data.dump.zst' } @{ $manifest->{objects} };
is($data_entry->{sha256}, $row->{checksum_sha256}, 'the manifest in the bucket agrees');

my $prints = restore_from_bucket($row, 'restored_s3', 'first');
is_deeply($prints, $source_prints, 'restored from the bucket: contents equal to the source');

# The README's "Restore by hand" fetch for S3, run as written (with its
# /tmp directory moved into the test's), then the set checked and restored.
{
	my $readme = slurp_file("$ENV{PGBAK_SOURCE_DIR}/README.md");
	my ($section) = $readme =~ /^## Restore by hand\n(.*?)^## /ms;
	my ($fetch) = grep { /aws s3 cp/ } ($section // '') =~ /^```sh\n(.*?)^```/msg;
	ok(defined $fetch, 'README has an awscli fetch block under "Restore by hand"');
	$fetch //= 'false';
	$fetch =~ s{/tmp/myapp-set}{$tmp/readme-set}g;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run(
		[ 'env', '-i', 'PATH=/usr/bin:/bin', "HOME=$tmp", 'AWS_CONFIG_FILE=/dev/null',
		  'AWS_SHARED_CREDENTIALS_FILE=/dev/null', 'AWS_DEFAULT_REGION=us-east-1',
		  'AWS_ACCESS_KEY_ID=' . $s3->access_key, 'AWS_SECRET_ACCESS_KEY=' . $s3->secret,
		  "LOCATION=$row->{location}", 'ENDPOINT=' . $s3->endpoint, 'bash', '-e', '-c', $fetch ],
		'>', \$out, '2>', \$err);
	ok($ok, 'the README fetch commands succeed') or diag($err);
	is(sha256_of_file("$tmp/readme-set/data.dump.zst"), $row->{checksum_sha256},
		'the README fetch brings the data object back intact');
	ok(-f "$tmp/readme-set/manifest.json" && -f "$tmp/readme-set/globals.sql.zst",
		'and the manifest and globals with it');
}

# ---------------------------------------------------------------------------
# Faults: 500s, SlowDown, dropped connections and an error inside a 200 on
# completion are survived by retrying the request (not the backup).
# ---------------------------------------------------------------------------
$s3->set_faults([
	{ name => 'part500', method => 'PUT', query => 'partNumber=', after => 1, times => 2,
	  status => 500 },
	{ name => 'partdrop', method => 'PUT', query => 'partNumber=3', times => 1,
	  drop => 'request' },
	{ name => 'slowdown', method => 'POST', query => 'uploads', times => 1, status => 503 },
	{ name => 'completeerr', method => 'POST', query => 'uploadId=', times => 1,
	  complete_error => JSON::PP::true },
	{ name => 'manifest500', method => 'PUT', path => 'manifest\.json$', times => 1,
	  status => 500 },
]);
$seq = $s3->last_seq;
my ($fault_id, $fault_status) = run_s3_backup('offsite', 'srcdb');
is($fault_status, 'succeeded', 'backup succeeds despite injected 500s, 503, drops');
my %fired = map { $_->{name} => $_->{fired} } @{ $s3->faults };
for my $name (qw(part500 partdrop slowdown completeerr manifest500))
{
	cmp_ok($fired{$name} // 0, '>=', 1, "fault $name fired");
}
$s3->clear_faults;
my $fault_row = backup_row($node, $fault_id);
my $fault_prints = restore_from_bucket($fault_row, 'restored_faults', 'faults');
is_deeply($fault_prints, $source_prints, 'the set written through faults restores equal');
is(scalar(@{ $s3->open_uploads }), 0, 'no multipart upload is left open after retries');

# ---------------------------------------------------------------------------
# Verify and restore from S3 with the extension itself.
# ---------------------------------------------------------------------------
my $verify = $node->safe_psql('postgres', "SELECT pgbak_verify($id, false)");
is(wait_backup($node, $verify, 300), 'succeeded', 'shallow verify of the S3 set passes');
my $deep = $node->safe_psql('postgres', "SELECT pgbak_verify($id, true)");
is(wait_backup($node, $deep, 300), 'succeeded', 'deep verify (restore drill) of the S3 set passes');
my $restore = $node->safe_psql('postgres',
	"SELECT pgbak_restore($id, 'restored_by_pgbak', '{\"jobs\": 2}')");
is(wait_backup($node, $restore, 300), 'succeeded', 'pgbak_restore from S3 succeeds');
is_deeply(table_fingerprints($node, 'restored_by_pgbak'), $source_prints,
	'pgbak_restore from S3: contents equal to the source');

# A flipped byte in the bucket is caught by verify.
{
	my ($small) = run_s3_backup('offsite', 'postgres');
	my $small_row = backup_row($node, $small);
	my $key = key_of($small_row->{location}) . '/globals.sql.zst';
	my $file = fetch($small_row->{location}, 'globals.sql.zst', "$tmp/globals.zst");
	my $bytes = slurp_file($file);
	substr($bytes, 10, 1) = chr(ord(substr($bytes, 10, 1)) ^ 0x01);
	open(my $fh, '>:raw', "$tmp/globals.bad") or die $!;
	print $fh $bytes;
	close($fh);
	my ($rc, $out, $err) = $s3->aws('s3', 'cp', "$tmp/globals.bad", "s3://$bucket/$key");
	is($rc, 0, 'tampered object uploaded with awscli') or diag($err);
	my $bad = $node->safe_psql('postgres', "SELECT pgbak_verify($small, false)");
	is(wait_backup($node, $bad, 120), 'failed', 'verify fails on a flipped byte in the bucket');
	like(backup_row($node, $bad)->{error_message}, qr/SHA-256 mismatch/,
		'with a precise reason');
}

# ---------------------------------------------------------------------------
# A wrong secret: a clear error, nothing stored.
# ---------------------------------------------------------------------------
add_storage('badkey', "s3://$bucket/cluster-bad",
	storage_options(secret_access_key => 'not-the-secret-' . $s3->secret));
my ($bad_id, $bad_status) = run_s3_backup('badkey', 'srcdb');
is($bad_status, 'failed', 'backup with a wrong secret fails');
my $bad_row = backup_row($node, $bad_id);
like($bad_row->{error_message}, qr/SignatureDoesNotMatch/,
	'error names the signature mismatch');
like($bad_row->{error_message}, qr/S3 .* failed: HTTP 403/, 'with the HTTP status');
is_deeply([ $s3->list_objects('cluster-bad/') ], [], 'no object was stored under the prefix');

# ---------------------------------------------------------------------------
# A permanent failure: every part upload fails; the backup fails, with no
# manifest (nor anything else) left, and the upload aborted.
# ---------------------------------------------------------------------------
$s3->set_faults([
	{ name => 'dead', method => 'PUT', query => 'partNumber=', times => -1, status => 500 } ]);
my ($dead_id, $dead_status) = run_s3_backup('offsite', 'srcdb', 600);
is($dead_status, 'failed', 'backup fails when parts fail permanently');
my $dead_row = backup_row($node, $dead_id);
like($dead_row->{error_message}, qr/upload of part \d+ failed: HTTP 500/,
	'error says which part failed and how');
$s3->clear_faults;
is_deeply(objects_at($dead_row->{location}), {}, 'no manifest, no object left in the bucket');
is(scalar(@{ $s3->open_uploads }), 0, 'the failed multipart upload was aborted');

# ---------------------------------------------------------------------------
# The data object is stored, then the manifest fails for good: the backup
# fails and the stored objects are deleted again.
# ---------------------------------------------------------------------------
$s3->set_faults([
	{ name => 'nomanifest', method => 'PUT', path => 'manifest\.json$', times => -1,
	  status => 500 } ]);
$seq = $s3->last_seq;
my ($nomf_id, $nomf_status) = run_s3_backup('offsite', 'postgres', 600);
is($nomf_status, 'failed', 'backup fails when its manifest cannot be stored');
my @completed = grep { $_->{method} eq 'PUT' && ($_->{status} // 0) == 200 && $_->{path} =~ /data\.dump\.zst$/ }
  @{ $s3->request_log(since => $seq) };
cmp_ok(scalar(@completed), '>=', 1, 'its data object had been stored');
$s3->clear_faults;
is_deeply(objects_at(backup_row($node, $nomf_id)->{location}), {},
	'and was deleted when the backup failed');

# ---------------------------------------------------------------------------
# Cancel during a throttled upload: cancelled, nothing left, upload aborted.
# ---------------------------------------------------------------------------
add_storage('slow', "s3://$bucket/cluster-slow",
	storage_options(max_upload_rate => 65536, concurrency => 1));
my $slow = $node->safe_psql('postgres', "SELECT pgbak_run('srcdb', 'slow')");
ok(poll_until(60, sub { scalar(@{ $s3->open_uploads }) > 0 }),
	'the throttled backup has a multipart upload open');
$node->safe_psql('postgres', "SELECT pgbak_cancel($slow)");
is(wait_backup($node, $slow, 120), 'cancelled', 'a backup cancelled mid-upload is cancelled');
is_deeply(objects_at(backup_row($node, $slow)->{location}), {},
	'nothing of the cancelled set is in the bucket');
poll_until(30, sub { scalar(@{ $s3->open_uploads }) == 0 });
is(scalar(@{ $s3->open_uploads }), 0, 'the cancelled multipart upload was aborted');

# ---------------------------------------------------------------------------
# kill -9 of the worker mid-upload: after the crash restart the launcher
# fails the row, removes what was stored and aborts the open upload.
# ---------------------------------------------------------------------------
my $crash = $node->safe_psql('postgres', "SELECT pgbak_run('srcdb', 'slow')");
my $crash_worker = wait_for_running($node, $crash, 60);
ok(poll_until(60, sub { scalar(@{ $s3->open_uploads }) > 0 }),
	'the backup to be killed has a multipart upload open');
ok(kill('KILL', $crash_worker), "kill -9 the worker $crash_worker mid-upload");
is(wait_for_status($node, $crash, qr/^failed$/, 120), 'failed',
	'the killed backup is failed after the restart');
ok(poll_until(60, sub { scalar(@{ $s3->open_uploads }) == 0 }),
	'the launcher aborted the upload the dead worker left open')
  or diag(explain($s3->open_uploads));
is_deeply(objects_at(backup_row($node, $crash)->{location}), {},
	'nothing of the killed set is in the bucket');

# ---------------------------------------------------------------------------
# Credentials from the server's environment.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres',
	'SELECT pgbak_storage_add(' . quote_literal('fromenv') . ', '
	  . quote_literal("s3://$bucket/cluster-env") . ', '
	  . quote_literal(JSON::PP->new->encode({ endpoint => $s3->endpoint })) . ')');
my ($noenv_id, $noenv_status) = run_s3_backup('fromenv', 'postgres');
is($noenv_status, 'failed', 'without keys in options or environment the backup fails');
like(backup_row($node, $noenv_id)->{error_message}, qr/has no credentials/,
	'and says the storage has no credentials');
{
	local $ENV{AWS_ACCESS_KEY_ID} = $s3->access_key;
	local $ENV{AWS_SECRET_ACCESS_KEY} = $s3->secret;
	$node->restart;
}
my ($env_id, $env_status) = run_s3_backup('fromenv', 'postgres');
is($env_status, 'succeeded', 'with AWS_* in the server environment the backup succeeds');

# ---------------------------------------------------------------------------
# Retention deletes expired sets from the bucket.
# ---------------------------------------------------------------------------
# A storage whose policy refuses listing unfinished uploads (403) must not
# keep expired sets from being expired.
$s3->set_faults([
	{ name => 'nolistuploads', method => 'GET', query => 'uploads', times => -1, status => 403 } ]);
$node->safe_psql('postgres',
	q{SELECT pgbak_schedule('s3-keep1', 'postgres', '5 seconds',
	    '{"storage": "offsite", "keep_last": 1}')});
my $job_rows = sub {
	return [ split /\n/, $node->safe_psql('postgres',
		q{SELECT id || ' ' || status FROM backup_log
		  WHERE job_name = 's3-keep1' AND kind = 'backup' ORDER BY id}) ];
};
ok(poll_until(120, sub {
		my @rows = @{ $job_rows->() };
		return (grep { / expired$/ } @rows) >= 1 && (grep { / succeeded$/ } @rows) >= 1;
	}),
	'the job writes to S3 and its retention expires the older set')
  or diag(explain($job_rows->()));
$node->safe_psql('postgres', q{SELECT pgbak_unschedule('s3-keep1')});
$s3->clear_faults;
$node->safe_psql('postgres',
	q{SELECT pgbak_wait(id, 120) FROM backup_log WHERE job_name = 's3-keep1' AND status IN ('queued', 'running')});
my ($expired_id) = map { /^(\d+)/ } grep { / expired$/ } @{ $job_rows->() };
my ($kept_id) = reverse map { /^(\d+)/ } grep { / succeeded$/ } @{ $job_rows->() };
is_deeply(objects_at(backup_row($node, $expired_id)->{location}), {},
	'the expired set is gone from the bucket');
is(scalar(keys %{ objects_at(backup_row($node, $kept_id)->{location}) }), 3,
	'the newest set of the job is complete in the bucket');

# ---------------------------------------------------------------------------
# The secret never shows: backup_log, the server log.
# ---------------------------------------------------------------------------
my $secret = $s3->secret;
my $log_rows = $node->safe_psql('postgres', 'SELECT string_agg(l::text, E\'\n\') FROM backup_log l');
unlike($log_rows, qr/\Q$secret\E/, 'the secret appears nowhere in backup_log');
unlike(slurp_file($node->logfile), qr/\Q$secret\E/, 'the secret appears nowhere in the server log');

$node->stop;
$s3->stop;
done_testing();
