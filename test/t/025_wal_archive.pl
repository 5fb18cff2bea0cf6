# 025_wal_archive.pl: archive_library = 'pgbak_ext' (the continuous WAL
# archive). A cluster archives to an S3 storage with age recipients, through
# the proxy that re-verifies every signature (test/s3), under pgbench and
# pg_switch_wal(). Every file PostgreSQL reports archived is in the bucket,
# and stock age + zstd turn it back into the byte-identical file from
# pg_wal; no segment is missing. Faults: S3 answering 500s and dropping
# connections (retried, no gap), S3 down for a while (failures counted, WAL
# kept, caught up once S3 is back), the catalog database dropped and
# created again (archiving carries on: the archiver needs no database), the
# same file archived twice (succeeds), a different file under an archived
# name (fails loudly, and keeps failing). Then pgbak.wal_storage = 'local',
# read back with zstd alone.

use strict;
use warnings;

use Digest::SHA ();
use File::Copy ();
use IPC::Run ();
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakS3;
use PgbakTest;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $s3 = start_s3(name => 'walarchive');
my $bucket = $s3->bucket;

# An age identity; the storage encrypts to its public key.
my ($keygen_out, $keygen_err);
IPC::Run::run([ 'age-keygen', '-o', "$tmp/key.txt" ], '>', \$keygen_out, '2>', \$keygen_err)
  or die "age-keygen failed: $keygen_err";
my ($recipient) = slurp_file("$tmp/key.txt") =~ /public key: (age1[0-9a-z]+)/;
chmod 0600, "$tmp/key.txt";

# The catalog lives in its own database (catdb), so that it can be dropped
# while the cluster archives. Segments stay in pg_wal (wal_keep_size) so
# that each archived one can be compared with its original. Autovacuum is
# off: after DROP DATABASE's checkpoint, vacuuming pgbench's tables writes
# segments of full-page images that the steps below would have to expect.
# Webhooks go to a receiver that writes each body to a file.
my $hooks = "$tmp/hooks.jsonl";
my ($receiver, $hook_port) = webhook_receiver($hooks);
my $node = PostgreSQL::Test::Cluster->new('walarchive');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'pgbak_ext'
pgbak.database = 'catdb'
max_worker_processes = 16
wal_level = replica
max_wal_senders = 2
archive_mode = on
archive_library = 'pgbak_ext'
pgbak.wal_storage = 'offsite'
pgbak.wal_push_workers = 3
pgbak.webhook_url = 'http://127.0.0.1:$hook_port/hook'
wal_keep_size = '2GB'
max_wal_size = '2GB'
checkpoint_timeout = '1h'
autovacuum = off
});
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE catdb');
$node->safe_psql('catdb', 'CREATE EXTENSION pgbak_ext');
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my $pgdata = $node->data_dir;
my $wal_prefix = "cluster/$sysid/wal/";

my %s3_options = (
	endpoint => $s3->endpoint,
	access_key_id => $s3->access_key,
	secret_access_key => $s3->secret,
	age_recipients => [$recipient]);
$node->safe_psql('catdb',
	    "SET log_statement = 'none';\n"
	  . "SELECT pgbak_storage_add('offsite', 's3://$bucket/cluster', "
	  . quote_literal(JSON::PP->new->canonical->encode(\%s3_options)) . ')');

# The launcher publishes the definition for the archiver: 0600, in the
# data directory.
my $storage_file = "$pgdata/pg_stat_tmp/pgbak_wal_storage.json";
ok(poll_until(30, sub { -f $storage_file }), 'the launcher publishes the WAL storage');
is((stat($storage_file))[2] & 07777, 0600, 'the storage file is readable by its owner only');
my $published = JSON::PP->new->decode(slurp_file($storage_file));
is($published->{name}, 'offsite', 'it holds the storage pgbak.wal_storage names');

# A name no storage can have is refused, and changes nothing.
my ($bad_rc, $bad_out, $bad_err) =
  $node->psql('postgres', "ALTER SYSTEM SET pgbak.wal_storage = 'Not A Name'");
isnt($bad_rc, 0, 'a bad pgbak.wal_storage is refused');
like($bad_err, qr/invalid value for parameter "pgbak.wal_storage".*\n.*DETAIL:  .*\n.*HINT:  Name 'local' or a storage defined/,
	'with a detail and a hint');
ok(!-f "$pgdata/postgresql.auto.conf" || slurp_file("$pgdata/postgresql.auto.conf") !~ /wal_storage/,
	'and nothing is written');

# archiver_stats returns pg_stat_archiver's counters.
sub archiver_stats
{
	my ($archived, $last, $failed, $last_failed) = split /\|/,
	  $node->safe_psql('postgres',
		'SELECT archived_count, coalesce(last_archived_wal, \'\'), failed_count, '
		  . "coalesce(last_failed_wal, '') FROM pg_stat_archiver");
	return { archived => $archived, last => $last, failed => $failed, last_failed => $last_failed };
}

# ready_files lists the names pg_wal/archive_status says are waiting.
sub ready_files
{
	opendir(my $dh, "$pgdata/pg_wal/archive_status") or die $!;
	my @ready = sort map { /^(.*)\.ready$/ ? $1 : () } readdir($dh);
	closedir($dh);
	return @ready;
}

# done_files lists the names PostgreSQL marked archived.
sub done_files
{
	opendir(my $dh, "$pgdata/pg_wal/archive_status") or die $!;
	my @done = sort map { /^(.*)\.done$/ ? $1 : () } readdir($dh);
	closedir($dh);
	return @done;
}

# make_wal writes some WAL and switches to a new segment; returns the name
# of the segment it completed.
sub make_wal
{
	my ($rows) = @_;
	$rows //= 1000;
	my $segment = $node->safe_psql('postgres',
		    "INSERT INTO churn SELECT g, md5(g::text) FROM generate_series(1, $rows) g;\n"
		  . 'SELECT pg_walfile_name(pg_current_wal_lsn())');
	$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
	return $segment;
}

# wait_archived waits until PostgreSQL has archived $segment and everything
# before it (nothing older left .ready).
sub wait_archived
{
	my ($segment, $timeout) = @_;
	return poll_until(
		$timeout // 120,
		sub {
			my $stats = archiver_stats();
			return 0 if $stats->{last} lt $segment;
			return !grep { $_ le $segment } ready_files();
		});
}

# Segments are copied out of pg_wal as soon as they are complete, before
# anything could recycle them.
my %copied;
sub copy_segments
{
	opendir(my $dh, "$pgdata/pg_wal") or die $!;
	for my $name (readdir($dh))
	{
		next unless $name =~ /^[0-9A-F]{24}(\.partial)?$|^[0-9A-F]{8}\.history$|\.backup$/;
		next if $copied{$name};
		next unless -f "$pgdata/pg_wal/archive_status/$name.done";
		File::Copy::copy("$pgdata/pg_wal/$name", "$tmp/orig_$name") or die "copy $name: $!";
		$copied{$name} = 1;
	}
	closedir($dh);
}

# check_archive compares the bucket with what PostgreSQL reports archived:
# every .done file and every segment up to last_archived_wal has exactly one
# object, named with the SHA-256 of its content, which stock age and zstd
# turn back into the file from pg_wal.
my %verified;
sub check_archive
{
	my ($label) = @_;
	copy_segments();
	# What PostgreSQL says is archived is read before the bucket is listed:
	# a file archived in between is then in the bucket and not expected,
	# never the other way round.
	my $stats = archiver_stats();
	my @done = done_files();
	my %objects;
	for my $object ($s3->list_objects($wal_prefix))
	{
		my ($timeline, $name, $sha) =
		  $object->{key} =~ m{^\Q$wal_prefix\E([0-9A-F]{8})/([^/]+)-([0-9a-f]{64})\.zst\.age$}
		  or die "unexpected object $object->{key}";
		die "$object->{key} is not under its timeline" if substr($name, 0, 8) ne $timeline;
		push @{ $objects{$name} }, { key => $object->{key}, sha => $sha };
	}
	# Every segment of timeline 1 from the first up to the last archived.
	my @expected = @done;
	my ($last_log, $last_seg) = $stats->{last} =~ /^00000001([0-9A-F]{8})([0-9A-F]{8})$/
	  or die "last archived is $stats->{last}";
	my $last_number = hex($last_log) * 256 + hex($last_seg);
	for my $n (1 .. $last_number)
	{
		push @expected, sprintf('00000001%08X%08X', int($n / 256), $n % 256);
	}
	my %seen;
	my ($missing, $damaged, $checked) = (0, 0, 0);
	for my $name (grep { !$seen{$_}++ } @expected)
	{
		my $found = $objects{$name} // [];
		if (@$found != 1)
		{
			diag("$label: $name has " . scalar(@$found) . ' objects');
			$missing++;
			next;
		}
		next if $verified{ $found->[0]{key} };
		my $original = "$tmp/orig_$name";
		if (!-f $original)
		{
			diag("$label: $name was not copied out of pg_wal");
			$missing++;
			next;
		}
		my ($rc, $err) = $s3->download($found->[0]{key}, "$tmp/object");
		die "download of $found->[0]{key} failed: $err" if $rc != 0;
		my ($out, $stderr) = ('', '');
		IPC::Run::run([ 'age', '-d', '-i', "$tmp/key.txt", "$tmp/object" ],
			'|', [ 'zstd', '-q', '-d', '-c' ], '>', "$tmp/restored", '2>', \$stderr)
		  or die "age | zstd failed for $name: $stderr";
		my $restored_sha = Digest::SHA->new(256)->addfile("$tmp/restored", 'b')->hexdigest;
		my $original_sha = Digest::SHA->new(256)->addfile($original, 'b')->hexdigest;
		if ($restored_sha ne $original_sha || $restored_sha ne $found->[0]{sha})
		{
			diag("$label: $name restores to $restored_sha, pg_wal has $original_sha, key says $found->[0]{sha}");
			$damaged++;
			next;
		}
		$verified{ $found->[0]{key} } = 1;
		$checked++;
	}
	is($missing, 0, "$label: every file PostgreSQL archived (up to $stats->{last}) is stored once");
	is($damaged, 0, "$label: each decrypts and decompresses to the file from pg_wal ($checked checked now)");
	return $stats;
}

# ---------------------------------------------------------------------------
# pgbench: many segments, pushed in parallel.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'CREATE TABLE churn (id int, note text)');
$node->command_ok([ 'pgbench', '-i', '-s', '5', '-h', $node->host, '-p', $node->port, 'postgres' ],
	'pgbench -i');
$node->command_ok(
	[ 'pgbench', '-T', '5', '-c', '2', '-h', $node->host, '-p', $node->port, 'postgres' ],
	'a short pgbench run');
my $segment = make_wal();
ok(wait_archived($segment), "archived up to $segment after pgbench");
my $stats = check_archive('pgbench');
cmp_ok($stats->{archived}, '>=', 5, "several segments archived ($stats->{archived})");
is($stats->{failed}, 0, 'no archiving attempt failed');
my $log = $s3->request_log;
my @puts = grep { $_->{method} eq 'PUT' && $_->{path} =~ m{/wal/} } @$log;
ok(@puts >= $stats->{archived}, 'each file went up with a signed PUT the proxy accepted');
ok(!(grep { ($_->{status} // 0) >= 400 && !$_->{fault} } @$log),
	'the proxy accepted every request (signatures checked)');

# ---------------------------------------------------------------------------
# S3 answering 500s and dropping connections: retried, no gap.
# ---------------------------------------------------------------------------
$s3->set_faults([
	{ name => 'wal500', method => 'PUT', path => '/wal/', times => 3, status => 500 },
	{ name => 'waldrop', method => 'PUT', path => '/wal/', after => 1, times => 2, drop => 'request' },
	{ name => 'list503', method => 'GET', times => 1, status => 503 } ]);
my $failed_before = archiver_stats()->{failed};
my $seq = $s3->last_seq;
my $fault_segment;
$fault_segment = make_wal(20000) for 1 .. 4;
ok(wait_archived($fault_segment), "archived up to $fault_segment through the faults");
my %fired = map { $_->{name} => $_->{fired} } @{ $s3->faults };
is($fired{wal500}, 3, 'the 500s were answered');
is($fired{waldrop}, 2, 'the connections were dropped');
ok(grep({ ($_->{fault} // '') eq 'waldrop' } @{ $s3->request_log(since => $seq) }),
	'the proxy log shows the dropped requests');
$s3->clear_faults;
check_archive('faults');

# ---------------------------------------------------------------------------
# S3 down for a while: failures counted, WAL kept; caught up once it is back.
# ---------------------------------------------------------------------------
# Events before the outage (a failure the faults above caused) are settled
# first: the last one, if any, says archiving recovered.
ok( poll_until(
		60,
		sub {
			$node->safe_psql('catdb',
				q{SELECT coalesce((SELECT event FROM pgbak_wal_event ORDER BY id DESC LIMIT 1),
				                  'none')}) ne 'wal_archive_failing';
		}),
	'no failure is announced before the outage that has not recovered');
my $events_before =
  $node->safe_psql('catdb', 'SELECT coalesce(max(id), 0) FROM pgbak_wal_event');
$s3->set_faults([ { name => 'down', times => -1, status => 503 } ]);
$stats = archiver_stats();
my $down_first = make_wal(20000);
# PostgreSQL tries a file three times, then waits (up to a minute, or until
# new WAL wakes it): every attempt fails while S3 is down.
ok(poll_until(120, sub { archiver_stats()->{failed} >= $stats->{failed} + 3 }),
	'pg_stat_archiver.failed_count grows while S3 is down');
ok(poll_until(30, sub { $node->log_contains(qr/"\Q$down_first\E" failed too many times/) }),
	'PostgreSQL gives up on it for now');
my $down_last;
$down_last = make_wal(20000) for 1 .. 3;
my @waiting = ready_files();
cmp_ok(scalar(@waiting), '>=', 3, 'WAL accumulates in pg_wal (' . scalar(@waiting) . ' files waiting)');
ok(-f "$pgdata/pg_wal/$down_first", "$down_first is still in pg_wal");
ok((grep { $_ eq $down_first } @waiting), "$down_first still waits to be archived");
ok($node->log_contains(qr/pgbak could not archive WAL file "\Q$down_first\E"/),
	'the failure is logged, naming the file');
# The view says what waits, since when, and why.
my ($archiving, $waiting, $lag_seconds, $lag_bytes, $view_error) = split /\|/,
  $node->safe_psql('catdb',
	'SELECT archiving, waiting_files, extract(epoch FROM archive_lag)::int, archive_lag_bytes, '
	  . 'last_error FROM pgbak_wal_status');
is($archiving, 't', 'pgbak_wal_status: archiving is on');
cmp_ok($waiting, '>=', 3, "it counts the files waiting ($waiting)");
cmp_ok($lag_seconds, '>', 0, "and how long the oldest has waited ($lag_seconds s)");
cmp_ok($lag_bytes, '>=', 3 * 16 * 1024 * 1024, "and the bytes behind ($lag_bytes)");
like($view_error, qr/503|SlowDown/, 'and the last error');
like($node->safe_psql('catdb', 'SELECT pgbak_metrics()'), qr/^pgbak_wal_waiting_files [3-9]\d*$/m,
	'pgbak_metrics() has the files waiting');
# The launcher announces that archiving is failing, once.
ok( poll_until(
		120,
		sub {
			$node->safe_psql('catdb',
				"SELECT count(*) FROM pgbak_wal_event WHERE event = 'wal_archive_failing' "
				  . "AND id > $events_before") eq '1';
		}),
	'pgbak_wal_event records that archiving started failing (after 30 s of failures)');
like($node->safe_psql('catdb',
		"SELECT wal_file || ' ' || error_message FROM pgbak_wal_event "
		  . "WHERE event = 'wal_archive_failing' AND id > $events_before"),
	qr/^[0-9A-F]{24} .*(503|SlowDown)/, 'naming the file and the error');
ok($node->log_contains(qr/WARNING:  pgbak: WAL archiving is failing at "[0-9A-F]{24}"/),
	'and says so in the server log');
$s3->clear_faults;
my $back = make_wal();
ok(wait_archived($back, 240), "caught up to $back once S3 is back");
check_archive('after the outage');
ok( poll_until(
		60,
		sub {
			$node->safe_psql('catdb',
				"SELECT string_agg(event, ',' ORDER BY id) FROM pgbak_wal_event "
				  . "WHERE id > $events_before") eq
			  'wal_archive_failing,wal_archive_recovered';
		}),
	'and that it recovered, once');
is($node->safe_psql('catdb', 'SELECT waiting_files || \' \' || archive_lag FROM pgbak_wal_status'),
	'0 00:00:00', 'pgbak_wal_status: nothing waits any more');
ok( poll_until(
		60,
		sub {
			-f $hooks
			  && slurp_file($hooks) =~ /"event":"wal_archive_failing"/
			  && slurp_file($hooks) =~ /"event":"wal_archive_recovered"/;
		}),
	'both events reached the webhook');
like(slurp_file($hooks), qr/"text":"pgbak: WAL archiving is failing at [0-9A-F]{24}: /,
	'with a line to read');

# The archiver's status, from shared memory: in pgbak_metrics() and in
# pgbak_wal_archive_status().
my ($pg_archived, $pg_failed) = split /\|/,
  $node->safe_psql('postgres', 'SELECT archived_count, failed_count FROM pg_stat_archiver');
my $status = $node->safe_psql('catdb',
	'SELECT archived_count, failed_count, pushed_ahead_count, last_archived_wal, '
	  . 'last_failed_wal, last_error FROM pgbak_wal_archive_status()');
my ($our_archived, $our_failed, $ahead, $our_last, $our_last_failed, $last_error) = split /\|/, $status;
is($our_archived, $pg_archived, 'the status counts what pg_stat_archiver counts as archived');
is($our_failed, $pg_failed, 'and as failed');
is($our_last, $back, 'it names the last file archived');
cmp_ok($ahead, '>', 0, "files waiting after the outage were pushed ahead in parallel ($ahead)");
like($last_error, qr/503|SlowDown/, "the last error says what S3 answered: $last_error");
my $metrics = $node->safe_psql('catdb', 'SELECT pgbak_metrics()');
like($metrics, qr/^pgbak_wal_archived_total \Q$pg_archived\E$/m, 'pgbak_metrics() counts archived files');
like($metrics, qr/^pgbak_wal_failures_total \Q$pg_failed\E$/m, 'and failures');
like($metrics, qr/^pgbak_wal_last_archived_timestamp_seconds \d+$/m,
	'and says when the last one was archived');

# ---------------------------------------------------------------------------
# The catalog database dropped and created again: archiving carries on.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'DROP DATABASE catdb WITH (FORCE)');
my $orphan_segment = make_wal(5000);
ok(wait_archived($orphan_segment, 120), "archived $orphan_segment without the catalog database");
$node->safe_psql('postgres', 'CREATE DATABASE catdb');
my $recreated_segment = make_wal(5000);
ok(wait_archived($recreated_segment, 120),
	"archived $recreated_segment with catdb created again (no extension in it)");
check_archive('catalog dropped');

# ---------------------------------------------------------------------------
# The same file archived twice succeeds.
# ---------------------------------------------------------------------------
my $again = $recreated_segment;
my @objects_before = $s3->list_objects($wal_prefix);
$stats = archiver_stats();
rename("$pgdata/pg_wal/archive_status/$again.done", "$pgdata/pg_wal/archive_status/$again.ready")
  or die "rename: $!";
my $after_again = make_wal();
ok(wait_archived($after_again), "$again archived a second time, then $after_again");
ok(-f "$pgdata/pg_wal/archive_status/$again.done", "$again is marked archived again");
is(archiver_stats()->{failed}, $stats->{failed}, 'archiving the same file again did not fail');
my @objects_after = $s3->list_objects($wal_prefix);
# Other WAL may have been written meanwhile (autovacuum): what counts is
# that $again still has its one object, the one it had.
my @again_before = grep { $_->{key} =~ /\/\Q$again\E-/ } @objects_before;
my @again_after = grep { $_->{key} =~ /\/\Q$again\E-/ } @objects_after;
is(scalar(@again_after), 1, 'and stored nothing new for it (still one object)');
is($again_after[0]{key}, $again_before[0]{key}, 'the one it had');

# ---------------------------------------------------------------------------
# A different file under an archived name fails loudly, and keeps failing.
# ---------------------------------------------------------------------------
# Another cluster with this system identifier got there first: an object
# for the segment being written now, with other content.
my $next = $node->safe_psql('postgres',
	"INSERT INTO churn VALUES (0, 'x'); SELECT pg_walfile_name(pg_current_wal_lsn())");
my $bogus_sha = Digest::SHA::sha256_hex('another cluster');
my $bogus_key = "$wal_prefix" . substr($next, 0, 8) . "/$next-$bogus_sha.zst.age";
PostgreSQL::Test::Utils::append_to_file("$tmp/bogus", 'another cluster');
my ($put_rc, $put_out, $put_err) =
  $s3->aws('s3api', 'put-object', '--bucket', $bucket, '--key', $bogus_key, '--body', "$tmp/bogus");
is($put_rc, 0, 'a foreign object is placed under the next segment\'s name') or diag($put_err);
$stats = archiver_stats();
$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
ok(poll_until(120, sub { archiver_stats()->{failed} >= $stats->{failed} + 2 }),
	'the conflicting file fails, again and again');
is(archiver_stats()->{last_failed}, $next, 'pg_stat_archiver names it');
ok(-f "$pgdata/pg_wal/archive_status/$next.ready", "$next is not marked archived");
my $log_text = slurp_file($node->logfile);
like($log_text,
	qr/pgbak could not archive WAL file "\Q$next\E": WAL file "\Q$next\E" is already archived with different content/,
	'the log names the file');
like($log_text, qr/DETAIL:  SHA-256 of the archived file: \Q$bogus_sha\E .*SHA-256 of the file in pg_wal: [0-9a-f]{64}/,
	'and both checksums');
like($log_text, qr/HINT:  Another cluster with the same system identifier may be archiving to this storage/,
	'and a hint');
my @kept = grep { $_->{key} =~ /\Q$next\E-/ } $s3->list_objects($wal_prefix);
is(scalar(@kept), 1, 'the archived object is neither overwritten nor joined by another');
# Once the conflict is resolved (here: the foreign object removed), it goes on.
$s3->aws('s3api', 'delete-object', '--bucket', $bucket, '--key', $bogus_key);
my $resolved = make_wal();
ok(wait_archived($resolved, 180), "archived up to $resolved once the conflict is resolved");
check_archive('after the conflict');

# ---------------------------------------------------------------------------
# A fast shutdown while S3 hangs is not held up by the archiver; the file is
# archived after the next start.
# ---------------------------------------------------------------------------
$s3->set_faults([ { name => 'hang', method => 'PUT', path => '/wal/', times => -1, delay_ms => 600000 } ]);
my $hung = make_wal();
ok(poll_until(60, sub { (grep { $_->{name} eq 'hang' && $_->{matched} > 0 } @{ $s3->faults }) ? 1 : 0 }),
	"the upload of $hung hangs");
my $stop_started = time;
$node->stop('fast');
my $stop_took = time - $stop_started;
cmp_ok($stop_took, '<', 20, "a fast shutdown while S3 hangs takes $stop_took s");
# The file whose upload hung is $hung or one before it still waiting (on a
# busy machine, the archiver may still be pushing an earlier one).
ok($node->log_contains(qr/pgbak could not archive WAL file "([0-9A-F]{24})": archiving of WAL file "\1" was interrupted/),
	'the archiver says it gave up for the shutdown');
$s3->clear_faults;
$node->start;
my $after_restart = make_wal();
ok(wait_archived($after_restart), "after the restart, archived $hung and up to $after_restart");
check_archive('after the hung shutdown');

unlike(slurp_file($node->logfile), qr/\Q${\ $s3->secret }\E/, 'the secret key never reaches the log');

# ---------------------------------------------------------------------------
# pgbak.wal_storage = 'local': stock zstd reads it back.
# ---------------------------------------------------------------------------
my $local_root = "$tmp/local_store";
$node->append_conf('postgresql.conf', "pgbak.wal_storage = 'local'\npgbak.local_path = '$local_root'\n");
$node->reload;
my $local_segment = make_wal(2000);
ok(wait_archived($local_segment), "archived $local_segment to the local storage");
copy_segments();
my @local = glob("$local_root/$sysid/wal/00000001/$local_segment-*.zst");
is(scalar(@local), 1, 'one object for it, not encrypted');
my ($sha_in_name) = $local[0] =~ /-([0-9a-f]{64})\.zst$/;
is((stat($local[0]))[2] & 07777, 0600, 'stored 0600');
system('zstd', '-q', '-d', '-f', $local[0], '-o', "$tmp/local_restored") == 0 or die 'zstd failed';
my $local_sha = Digest::SHA->new(256)->addfile("$tmp/local_restored", 'b')->hexdigest;
is($local_sha, Digest::SHA->new(256)->addfile("$tmp/orig_$local_segment", 'b')->hexdigest,
	'zstd -d gives back the file from pg_wal');
is($sha_in_name, $local_sha, 'whose SHA-256 names the object');

# ---------------------------------------------------------------------------
# The archive recovers a cluster with stock tools: a base backup without WAL
# (pg_basebackup -X none) and the README's restore_command (ls and zstd).
# ---------------------------------------------------------------------------
$node->backup('base', backup_options => [ '-X', 'none' ]);
$node->safe_psql('postgres',
	'CREATE TABLE after_base AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 50000) g');
my $after_base = make_wal();
ok(wait_archived($after_base), "archived $after_base, written after the base backup");
my $restored = PostgreSQL::Test::Cluster->new('walrestored');
$restored->init_from_backup($node, 'base');
my $wal_glob = "$local_root/$sysid/wal/*/%f-*.zst";
# The copy keeps archiving to the same local storage (its settings came
# with the base backup): its new timeline's history file joins the archive
# beside timeline 1, without a conflict.
$restored->append_conf(
	'postgresql.conf', qq{
restore_command = 'f=\$(ls $wal_glob 2>/dev/null) && zstd -q -d -c "\$f" > "%p"'
});
PostgreSQL::Test::Utils::append_to_file($restored->data_dir . '/recovery.signal', '');
$restored->start;
ok( poll_until(
		120,
		sub {
			my ($rc, $out) = $restored->psql('postgres', 'SELECT pg_is_in_recovery()');
			return $rc == 0 && $out eq 'f';
		}),
	'a copy recovers to the end of the archive');
is($restored->safe_psql('postgres', 'SELECT count(*), sum(length(note)) FROM after_base'),
	'50000|1600000', 'with the rows written after its base backup');
ok($restored->log_contains(qr/restored log file "\Q$after_base\E" from archive/),
	"$after_base came from the archive");
my $history = "$local_root/$sysid/wal/00000002/00000002.history-";
ok(poll_until(60, sub { scalar(glob("$history*.zst")) && -f $restored->data_dir . '/pg_wal/archive_status/00000002.history.done' }),
	'the new timeline\'s history file is archived under wal/00000002/');
my ($history_object) = glob("$history*.zst");
system('zstd', '-q', '-d', '-f', $history_object, '-o', "$tmp/history") == 0 or die 'zstd failed';
is(slurp_file("$tmp/history"), slurp_file($restored->data_dir . '/pg_wal/00000002.history'),
	'and reads back as the file in pg_wal');
$restored->stop('fast');

# A prompt, clean shutdown with the archiver's threads running.
my $started = time;
$node->stop('fast');
cmp_ok(time - $started, '<', 60, 'the server stops promptly');

# ---------------------------------------------------------------------------
# archive_library without the preload: refused loudly, the WAL kept.
# ---------------------------------------------------------------------------
my $bare = PostgreSQL::Test::Cluster->new('walnopreload');
$bare->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$bare->append_conf('postgresql.conf',
	"wal_level = replica\narchive_mode = on\narchive_library = 'pgbak_ext'\n");
$bare->start;
my $bare_segment = $bare->safe_psql('postgres',
	'CREATE TABLE t AS SELECT 1 AS x; SELECT pg_walfile_name(pg_current_wal_lsn())');
$bare->safe_psql('postgres', 'SELECT pg_switch_wal()');
ok(poll_until(60, sub { $bare->log_contains(qr/pgbak_ext must be loaded via shared_preload_libraries/) }),
	'without the preload the archiver says what is missing');
ok(-f $bare->data_dir . "/pg_wal/archive_status/$bare_segment.ready", 'and the WAL waits');
$bare->stop('fast');

kill "TERM", $receiver;
waitpid($receiver, 0);
done_testing();
