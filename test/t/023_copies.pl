# 023_copies.pl: copies of backup sets to another storage (3-2-1), through
# the S3 stack's signature-checking proxy: a job's copy_to, pgbak_copy, the
# copy read back with the stock awscli, zstd and pg_restore, a damaged
# source that fails the copy naming the object, and restore and verify from
# the copy once the first storage's sets are gone; copies pruned per
# storage with copy_retention.

use strict;
use warnings;

use File::Path qw(remove_tree);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakS3;
use PgbakTest;

my $s3 = start_s3(name => 's3copies');
my $node = new_node('copies', restart_after_crash => 'on');
my $tmp = PostgreSQL::Test::Utils::tempdir;
my $bucket = $s3->bucket;

# Data that spans several 5 MiB parts once compressed (md5 hex), and rows
# whose round trip is easy to see.
$node->safe_psql('postgres', 'CREATE DATABASE copydb');
$node->safe_psql('copydb', q{
  CREATE TABLE hexes (id int PRIMARY KEY, a text, b text);
  INSERT INTO hexes SELECT g, md5(random()::text) || md5(random()::text), md5(g::text)
    FROM generate_series(1, 200000) g;
  CREATE TABLE marker (id int PRIMARY KEY, note text);
  INSERT INTO marker VALUES (1, 'COPY-ROUND-TRIP'), (2, 'ünïcödé ✓');
});
my $source_prints = table_fingerprints($node, 'copydb');

my $options = JSON::PP->new->canonical->encode(
	{
		endpoint => $s3->endpoint,
		access_key_id => $s3->access_key,
		secret_access_key => $s3->secret,
		part_size => 5 * 1024 * 1024,
		concurrency => 2
	});
$node->safe_psql('postgres',
	    "SET log_statement = 'none';\n"
	  . "SELECT pgbak_storage_add('offsite', 's3://$bucket/copies', "
	  . quote_literal($options) . ')');

# key_of turns an s3:// location into its key in the bucket.
sub key_of { return $s3->key_of($_[0]) }

sub wait_op
{
	my ($id) = @_;
	return $node->safe_psql('postgres', "SELECT pgbak_wait($id, 300)");
}

# ---------------------------------------------------------------------------
# A job's backups are copied to copy_to once they succeed.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres',
	q{SELECT pgbak_schedule('copied', 'copydb', '@daily',
	    '{"copy_to": ["offsite"], "keep_last": 5, "copy_retention": {"max_age": "1 second"}}')});
$node->safe_psql('postgres', q{UPDATE pgbak_job SET next_run_at = now() WHERE job_name = 'copied'});
my $backup;
ok( poll_until(
		120,
		sub {
			$backup = $node->safe_psql('postgres',
				q{SELECT max(id) FROM backup_log WHERE job_name = 'copied' AND kind = 'backup'});
			$backup ne '';
		}),
	'the job runs');
is(wait_backup($node, $backup, 300), 'succeeded', 'its backup succeeds');
my $copy;
ok( poll_until(
		60,
		sub {
			$copy = $node->safe_psql('postgres',
				"SELECT max(id) FROM backup_log WHERE kind = 'copy' AND source_id = $backup");
			$copy ne '';
		}),
	'a copy of it is queued');
is(wait_op($copy), 'succeeded', 'the copy succeeds');
my $brow = backup_row($node, $backup);
my $crow = backup_row($node, $copy);
is($crow->{storage_name}, 'offsite', 'the copy is in the other storage');
is($crow->{job_name}, 'copied', 'it belongs to the job');
is($crow->{trigger}, 'schedule', 'scheduled');
like($crow->{location}, qr{^s3://\Q$bucket\E/copies/\d+/copydb/\d{8}T\d{6}Z-$copy$},
	'its set directory ends with its own id');
is($crow->{checksum_sha256}, $brow->{checksum_sha256}, 'it has the backup\'s data checksum');
is($crow->{manifest_sha256}, $brow->{manifest_sha256}, 'and the same manifest');

# Read back with awscli, zstd and pg_restore: the same rows.
my $prefix = key_of($crow->{location}) . '/';
my %objects = map { substr($_->{key}, length($prefix)) => $_->{size} } $s3->list_objects($prefix);
is_deeply([ sort keys %objects ], [ 'data.dump.zst', 'globals.sql.zst', 'manifest.json' ],
	'the copy holds the data, the globals and the manifest');
my ($rc, $err) = $s3->download("${prefix}data.dump.zst", "$tmp/copy.dump.zst");
is($rc, 0, 'awscli downloads the copied data object') or diag $err;
is(sha256_of_file("$tmp/copy.dump.zst"), $brow->{checksum_sha256},
	'with the backup\'s SHA-256');
decompress_file("$tmp/copy.dump.zst", "$tmp/copy.dump");
$node->safe_psql('postgres', 'CREATE DATABASE by_hand');
my ($ok, $restore_err) = restore_custom($node, 'by_hand', "$tmp/copy.dump");
ok($ok, 'stock pg_restore restores it') or diag $restore_err;
is_deeply(table_fingerprints($node, 'by_hand'), $source_prints, 'with the source\'s rows');
like($node->safe_psql('postgres', q{SELECT array_to_string(covered_by, ',') || ' '
	  || (last_copy_at IS NOT NULL) || ' ' || copy_lag FROM backup_status WHERE database_name = 'copydb'}),
	qr/^copied true 00:00:00$/, 'backup_status shows the copy and no lag');

# ---------------------------------------------------------------------------
# A damaged source fails the copy, naming the object; nothing is kept.
# ---------------------------------------------------------------------------
my $manual = queue_backup($node, 'copydb');
is(wait_backup($node, $manual, 300), 'succeeded', 'a manual backup to local');
my $mrow = backup_row($node, $manual);
# The globals object comes after the data object: the data is copied whole
# before the damage is found, and must be removed again.
my $data = "$mrow->{location}/globals.sql.zst";
my $original = slurp_file($data);
{
	open(my $fh, '+<', $data) or die "open $data: $!";
	binmode $fh;
	seek($fh, 10, 0);
	print $fh 'DAMAGE';
	close $fh;
}
my $bad_copy = $node->safe_psql('postgres', "SELECT pgbak_copy($manual, 'offsite')");
is(wait_op($bad_copy), 'failed', 'a copy of a damaged set fails');
like(backup_row($node, $bad_copy)->{error_message},
	qr/^globals\.sql\.zst: SHA-256 mismatch: the manifest says [0-9a-f]{64}, the source storage holds [0-9a-f]{64}$/,
	'naming the object');
my $bad_location = backup_row($node, $bad_copy)->{location};
ok(defined $bad_location, 'the failed copy recorded where it was writing');
my @left = $s3->list_objects(key_of($bad_location) . '/');
is(scalar(@left), 0, 'and nothing of it is left in the bucket: its data object was removed');
is_deeply($s3->open_uploads, [], 'nor an unfinished upload');
{
	open(my $fh, '>', $data) or die;
	binmode $fh;
	print $fh $original;
	close $fh;
}
my $good_copy = $node->safe_psql('postgres', "SELECT pgbak_copy($manual, 'offsite')");
is(wait_op($good_copy), 'succeeded', 'once repaired, the copy succeeds');

# ---------------------------------------------------------------------------
# The first storage loses its sets: the copies still verify and restore.
# ---------------------------------------------------------------------------
remove_tree($mrow->{location});
remove_tree($brow->{location});
my $verify_original = $node->safe_psql('postgres', "SELECT pgbak_verify($manual)");
is(wait_op($verify_original), 'failed', 'the original set is gone');
my $drill = $node->safe_psql('postgres', "SELECT pgbak_verify($good_copy, true)");
is(wait_op($drill), 'succeeded', 'a restore drill of its copy passes');
is(backup_row($node, $good_copy)->{verify_status} =~ /^passed/ ? 1 : 0, 1,
	'the copy\'s row records it');
my $restore = $node->safe_psql('postgres', "SELECT pgbak_restore($copy, 'from_copy')");
is(wait_op($restore), 'succeeded', 'a restore from the job\'s copy succeeds')
  or diag backup_row($node, $restore)->{error_message};
is_deeply(table_fingerprints($node, 'from_copy'), $source_prints,
	'with the source\'s rows');
my $copy_of_copy_local = $node->safe_psql('postgres', "SELECT pgbak_copy($good_copy, 'local')");
is(wait_op($copy_of_copy_local), 'succeeded', 'a copy of a copy back to local');
my $back = $node->safe_psql('postgres', "SELECT pgbak_restore($copy_of_copy_local, 'back_home')");
is(wait_op($back), 'succeeded', 'restores too');
is_deeply(table_fingerprints($node, 'back_home'), $source_prints, 'the same rows again');

# ---------------------------------------------------------------------------
# Copies are pruned per storage with copy_retention (max_age 1 second
# here: every copy is past it, and the newest good one is kept all the
# same), the job's backups with its retention (keep_last 5).
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', q{UPDATE pgbak_job SET next_run_at = now() WHERE job_name = 'copied'});
my $second;
ok( poll_until(
		120,
		sub {
			$second = $node->safe_psql('postgres',
				q{SELECT max(id) FROM backup_log WHERE job_name = 'copied' AND kind = 'backup'});
			$second > $backup;
		}),
	'the job runs again');
is(wait_backup($node, $second, 300), 'succeeded', 'its second backup succeeds');
my $second_copy;
ok( poll_until(
		60,
		sub {
			$second_copy = $node->safe_psql('postgres',
				"SELECT max(id) FROM backup_log WHERE kind = 'copy' AND source_id = $second");
			$second_copy ne '';
		}),
	'and is copied');
is(wait_op($second_copy), 'succeeded', 'the second copy succeeds');
my $prune = $node->safe_psql('postgres',
	q{SELECT string_agg(id || ' ' || action, ', ' ORDER BY id) FROM pgbak_prune(true) WHERE job_name = 'copied'});
is($prune, "$copy would delete", 'a dry run lists the first copy, not the backups');
$node->safe_psql('postgres', 'SELECT count(*) FROM pgbak_prune(false)');
ok( poll_until(
		60,
		sub {
			$node->safe_psql('postgres', "SELECT status FROM backup_log WHERE id = $copy") eq
			  'expired';
		}),
	'the first copy expires');
my @gone = $s3->list_objects(key_of($crow->{location}) . '/');
is(scalar(@gone), 0, 'its objects are gone');
is($node->safe_psql('postgres', "SELECT status FROM backup_log WHERE id = $second_copy"),
	'succeeded', 'the newest copy stays');

$node->stop;
$s3->stop;
done_testing();
