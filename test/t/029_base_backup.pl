# 029_base_backup.pl: physical base backups (kind 'base') to the local
# storage, to S3 through the signature-checking proxy, and to an encrypted
# S3 storage, of a cluster with a tablespace; each one unpacked with stock
# tools only (age, zstd, tar), checked by the stock pg_verifybackup against
# PostgreSQL's own backup_manifest, started with the WAL it needs, and
# compared with the source table by table. Also: bad input at the call,
# rights, the bounded wait for WAL archiving, a worker killed with kill -9
# in the middle of the stream, a base job without keep rules, and
# archive_mode off.

use strict;
use warnings;

use File::Copy qw(copy);
use File::Path qw(make_path);
use IPC::Run ();
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakS3;
use PgbakTest;

my $bindir = dirname_of_postgres();
my $tmp = PostgreSQL::Test::Utils::tempdir;
my $archive = "$tmp/archive";
make_path($archive);

my $node = new_node(
	'base',
	wal_level => 'replica',
	max_wal_senders => 4,
	archive_mode => 'on',
	archive_command => "'cp %p $archive/%f'",
	restart_after_crash => 'on');

# A database with a table in the default tablespace and one (with its
# index) in another tablespace.
make_path("$tmp/ts1");
$node->safe_psql('postgres', "CREATE TABLESPACE ts1 LOCATION '$tmp/ts1'");
$node->safe_psql('postgres', 'CREATE DATABASE appdb');
$node->safe_psql('appdb', q{
  CREATE TABLE main_rows (id int PRIMARY KEY, payload text);
  INSERT INTO main_rows SELECT g, md5(g::text) FROM generate_series(1, 50000) g;
  CREATE TABLE far_rows (id int, note text) TABLESPACE ts1;
  CREATE INDEX far_rows_id ON far_rows (id) TABLESPACE ts1;
  INSERT INTO far_rows SELECT g, 'far ' || g FROM generate_series(1, 20000) g;
});
my $ts_oid = $node->safe_psql('postgres', "SELECT oid FROM pg_tablespace WHERE spcname = 'ts1'");

# dirname_of_postgres is the directory of the server's binaries (the stock
# pg_verifybackup is there).
sub dirname_of_postgres
{
	my $out = `pg_config --bindir`;
	chomp $out;
	return $out;
}

# call_error($sql, $role) runs $sql (as $role if given) and returns psql's
# stderr in verbose form ("ERROR:  <SQLSTATE>: message", "HINT:  ...").
sub call_error
{
	my ($sql, $role) = @_;
	my ($rc, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY verbose\n" . (defined $role ? "SET ROLE $role;\n" : '') . $sql);
	return $err;
}

sub base_count
{
	return $node->safe_psql('postgres', "SELECT count(*) FROM backup_log WHERE kind = 'base'");
}

# unpack_object($file, $identity, @sink) streams a stored object through
# stock age (if it is encrypted) and zstd into @sink (an IPC::Run tail such
# as ['tar', '-x', '-C', $dir] or '>', $file).
sub unpack_object
{
	my ($file, $identity, @sink) = @_;
	my @pipeline;
	if ($file =~ /\.age$/)
	{
		@pipeline = ([ 'age', '-d', '-i', $identity, $file ], '|', [ 'zstd', '-q', '-dc' ]);
	}
	else
	{
		@pipeline = ([ 'zstd', '-q', '-dc', $file ]);
	}
	my $err = '';
	if (ref $sink[0] eq 'ARRAY')
	{
		IPC::Run::run(@pipeline, '|', @sink, '2>', \$err) or die "unpacking $file failed: $err";
	}
	else
	{
		IPC::Run::run(@pipeline, @sink, '2>', \$err) or die "unpacking $file failed: $err";
	}
}

# restore_and_check($name, $objdir, $identity, $row, $prints): unpack the
# set's objects found in $objdir into a fresh cluster with stock tools,
# give it the WAL from the archive, check it with pg_verifybackup, start
# it, and compare its tables with $prints.
sub restore_and_check
{
	my ($name, $objdir, $identity, $row, $prints) = @_;
	my $manifest = JSON::PP->new->decode(slurp_file("$objdir/manifest.json"));
	my $restored = PostgreSQL::Test::Cluster->new($name);
	my $pgdata = $restored->data_dir;
	my $tsroot = $restored->basedir . '/tablespaces';
	make_path($pgdata, $tsroot);
	chmod 0700, $pgdata;
	my %objects = map { $_->{name} => $_ } @{ $manifest->{objects} };
	for my $object (values %objects)
	{
		is(sha256_of_file("$objdir/$object->{name}"), $object->{sha256},
			"$name: $object->{name} has the SHA-256 manifest.json gives");
	}
	my $suffix = $manifest->{age_recipients} ? '.age' : '';
	ok($objects{"base.tar.zst$suffix"}, "$name: the set holds base.tar.zst$suffix");
	ok($objects{"$ts_oid.tar.zst$suffix"}, "$name: the set holds the tablespace's tar");
	ok($objects{"backup_manifest.zst$suffix"}, "$name: the set holds backup_manifest");
	unpack_object("$objdir/base.tar.zst$suffix", $identity, [ 'tar', '-x', '-C', $pgdata ]);
	make_path("$tsroot/$ts_oid");
	unpack_object("$objdir/$ts_oid.tar.zst$suffix", $identity,
		[ 'tar', '-x', '-C', "$tsroot/$ts_oid" ]);
	my $backup_manifest = $restored->basedir . '/backup_manifest';
	unpack_object("$objdir/backup_manifest.zst$suffix", $identity, '>', $backup_manifest);
	ok(-f "$pgdata/backup_label", "$name: backup_label is in base.tar");
	like(slurp_file("$pgdata/tablespace_map"), qr/^$ts_oid \Q$tmp\E\/ts1$/m,
		"$name: tablespace_map names the tablespace");
	symlink("$tsroot/$ts_oid", "$pgdata/pg_tblspc/$ts_oid") or die "symlink: $!";
	for my $segment (wal_segments($row->{wal_first_segment}, $row->{wal_last_segment}))
	{
		copy("$archive/$segment", "$pgdata/pg_wal/$segment") or die "copy $segment: $!";
	}
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ "$bindir/pg_verifybackup", '-m', $backup_manifest, $pgdata ],
		'>', \$out, '2>', \$err);
	ok($ok, "$name: the stock pg_verifybackup accepts the restored directory and its WAL")
	  or diag("$out\n$err");
	# The tablespace goes where it was unpacked, not to the source's.
	open(my $map, '>', "$pgdata/tablespace_map") or die $!;
	print $map "$ts_oid $tsroot/$ts_oid\n";
	close($map);
	$restored->append_conf('postgresql.conf',
		"port = " . $restored->port . "\narchive_mode = off\n");
	$restored->start;
	is($restored->safe_psql('postgres', "SELECT pg_tablespace_location($ts_oid)"),
		"$tsroot/$ts_oid", "$name: the tablespace is the restored one");
	is_deeply(table_fingerprints($restored, 'appdb'), $prints,
		"$name: every table holds what the source held at backup time");
	return $restored;
}

# ---------------------------------------------------------------------------
# Bad input is refused at the call, with SQLSTATE, message and hint, and
# queues nothing; base backups are for pgbak_admin only.
# ---------------------------------------------------------------------------
my $err = call_error("SELECT pgbak_base_backup('nosuch')");
like($err, qr/ERROR:  42704: storage "nosuch" does not exist/, 'unknown storage: 42704');
like($err, qr/HINT:  .*pgbak_storage_add/, 'unknown storage: with a hint');
$err = call_error(q{SELECT pgbak_base_backup('local', '{"zstd_lvl": 3}')});
like($err, qr/ERROR:  22023: unknown base backup option "zstd_lvl"/, 'unknown option: 22023');
like($err, qr/HINT:  Valid base backup options: /, 'unknown option: the hint lists them');
$err = call_error(q{SELECT pgbak_base_backup('local', '{"wal_archive_timeout": 0}')});
like($err, qr/ERROR:  22023: base backup option "wal_archive_timeout" must be an integer between 1/,
	'a bad value names the key');
$err = call_error(q{SELECT pgbak_base_backup('local', '[1]')});
like($err, qr/ERROR:  22023: base backup options must be a JSON object/, 'not an object: 22023');
$node->safe_psql('postgres', q{CREATE ROLE alice LOGIN; CREATE ROLE oscar LOGIN;
  GRANT pgbak_operator TO oscar});
like(call_error('SELECT pgbak_base_backup()', 'alice'), qr/ERROR:  42501: /,
	'a role without pgbak_admin gets 42501');
like(call_error('SELECT pgbak_base_backup()', 'oscar'), qr/ERROR:  42501: /,
	'pgbak_operator is not enough either');
is(base_count(), '0', 'nothing was queued by the refused calls');

# ---------------------------------------------------------------------------
# To the local storage.
# ---------------------------------------------------------------------------
my $prints = table_fingerprints($node, 'appdb');
my $id = $node->safe_psql('postgres', 'SELECT pgbak_base_backup()');
is(wait_backup($node, $id, 300), 'succeeded', 'a base backup to local succeeds');
my $row = backup_row($node, $id);
is($row->{kind}, 'base', 'its row is kind base');
ok(!defined $row->{database_name}, 'with no database');
ok($row->{wal_archived}, 'it waited for its WAL to be archived');
is($row->{bad_checksums}, 0, 'no page failed its checksum');
like($row->{wal_first_segment}, qr/^[0-9A-F]{24}$/, 'the first WAL segment is recorded');
ok($row->{wal_last_segment} ge $row->{wal_first_segment}, 'and the last one after it');
ok(-f "$archive/$row->{wal_last_segment}", 'the last segment is in the archive');
like($row->{location}, qr{/\d+/base/\d{8}T\d{6}Z-$id$}, 'it lands in <sysid>/base/<time>-<id>');
ok($row->{stored_bytes} > 0 && $row->{stored_bytes} < $row->{raw_bytes},
	'its stored size is counted and compressed');
my $manifest = read_manifest($row->{location});
is($manifest->{kind}, 'base', 'manifest.json says it is a base backup');
is($manifest->{base_backup}{wal_last_segment}, $row->{wal_last_segment},
	'manifest.json names the WAL it needs');
is(sha256_of_file("$row->{location}/manifest.json"), $row->{manifest_sha256},
	'backup_log holds the SHA-256 of manifest.json');
like(call_error("SELECT pgbak_wait($id, 0)", 'alice'), qr/ERROR:  42501: permission denied to wait for operation $id/,
	'a role without pgbak_monitor may not follow a base backup (it owns no database of it)');
like(call_error("SELECT pgbak_cancel($id)", 'alice'), qr/ERROR:  42501: /, 'nor cancel one');
my $restored = restore_and_check('restored_local', $row->{location}, undef, $row, $prints);
$restored->stop;

# ---------------------------------------------------------------------------
# To S3 through the proxy, in clear and encrypted.
# ---------------------------------------------------------------------------
my $s3 = start_s3(name => 's3base');
my %s3_options = (
	endpoint => $s3->endpoint,
	access_key_id => $s3->access_key,
	secret_access_key => $s3->secret,
	part_size => 5 * 1024 * 1024,
	concurrency => 2);
my $identity = "$tmp/identity.txt";
my $recipient = age_keygen($identity);
$node->safe_psql('postgres',
	    "SET log_statement = 'none';\n"
	  . "SELECT pgbak_storage_add('s3', 's3://"
	  . $s3->bucket
	  . "/plain', "
	  . quote_literal(JSON::PP->new->canonical->encode(\%s3_options)) . ");\n"
	  . "SELECT pgbak_storage_add('s3enc', 's3://"
	  . $s3->bucket
	  . "/sealed', "
	  . quote_literal(JSON::PP->new->canonical->encode(
			{ %s3_options, age_recipients => [$recipient], age_identity_file => $identity }))
	  . ')');

# fetch_set($row, $dir) downloads every object of an S3 set with awscli.
sub fetch_set
{
	my ($set_row, $dir) = @_;
	make_path($dir);
	my $key = $s3->key_of($set_row->{location});
	my @objects = $s3->list_objects("$key/");
	for my $object (@objects)
	{
		(my $name = $object->{key}) =~ s{^.*/}{};
		my ($rc, $derr) = $s3->download($object->{key}, "$dir/$name");
		die "download $object->{key}: $derr" if $rc != 0;
	}
	return map { my $k = $_->{key}; $k =~ s{^.*/}{}; $k } @objects;
}

my %base_of = (local => $id);
for my $storage ('s3', 's3enc')
{
	my $sid = $node->safe_psql('postgres', "SELECT pgbak_base_backup('$storage')");
	$base_of{$storage} = $sid;
	is(wait_backup($node, $sid, 300), 'succeeded', "a base backup to $storage succeeds");
	my $srow = backup_row($node, $sid);
	like($srow->{location}, qr{^s3://.*/base/\d{8}T\d{6}Z-$sid$}, "$storage: its location");
	my @names = fetch_set($srow, "$tmp/fetched_$storage");
	if ($storage eq 's3enc')
	{
		is_deeply([ grep { !/\.age$/ } @names ], ['manifest.json'],
			's3enc: every object but manifest.json is encrypted');
	}
	my $r = restore_and_check("restored_$storage", "$tmp/fetched_$storage",
		$identity, $srow, $prints);
	if ($storage eq 's3enc')
	{
		# The restored cluster runs pgbak_ext too, and its catalog shows this
		# backup still running: its launcher marks it failed, and must not
		# remove the complete set it was restored from.
		is(wait_for_status($r, $sid, qr/^failed$/, 60), 'failed',
			'the restored cluster marks the backup it came from failed');
		ok( poll_until(30, sub { slurp_file($r->logfile) =~ /base backup $sid .* has its manifest\.json: kept/ }),
			'and says it keeps the complete set');
		my @after = map { $_->{key} } $s3->list_objects($s3->key_of($srow->{location}) . '/');
		is(scalar(@after), scalar(@names), 'every object of the set is still in S3');
	}
	$r->stop;
}

# ---------------------------------------------------------------------------
# pgbak_verify of a base backup reads every object back and checks it; a
# damaged object fails it, naming the object; a drill is not there yet.
# ---------------------------------------------------------------------------
for my $storage ('local', 's3', 's3enc')
{
	my $bid = $base_of{$storage};
	my $vid = $node->safe_psql('postgres', "SELECT pgbak_verify($bid)");
	is(wait_backup($node, $vid, 300), 'succeeded', "pgbak_verify of the $storage base backup succeeds");
	my $vrow = backup_row($node, $vid);
	ok(!defined $vrow->{database_name}, 'its row has no database');
	is(backup_row($node, $bid)->{verify_status}, 'passed', 'the base backup is marked verified');
}
{
	my $bid = $base_of{local};
	my $object = backup_row($node, $bid)->{location} . '/base.tar.zst';
	copy($object, "$object.good") or die "copy $object: $!";
	open(my $fh, '+<', $object) or die "open $object: $!";
	binmode $fh;
	seek($fh, int((-s $object) / 2), 0);
	read($fh, my $byte, 1);
	seek($fh, int((-s $object) / 2), 0);
	print $fh chr(ord($byte) ^ 0xFF);
	close($fh);
	my $vid = $node->safe_psql('postgres', "SELECT pgbak_verify($bid)");
	is(wait_backup($node, $vid, 300), 'failed', 'a flipped byte in base.tar.zst fails the verify');
	like(backup_row($node, $bid)->{verify_status}, qr/^failed: .*base\.tar\.zst/,
		'and the base backup is marked failed, naming the object');
	rename("$object.good", $object) or die "rename: $!";
	like(call_error("SELECT pgbak_verify($bid, true)"),
		qr/ERROR:  55000: a restore drill of a base backup needs the WAL archive in storage "local"/,
		'a restore drill of a base backup whose WAL an archive_command keeps elsewhere: 55000');
	like(call_error("SELECT pgbak_restore($bid, 'somewhere')"),
		qr/ERROR:  0A000: backup $bid is a base backup: it cannot be restored or copied/,
		'pgbak_restore of a base backup: 0A000');
	my $vid2 = $node->safe_psql('postgres', "SELECT pgbak_verify($bid)");
	is(wait_backup($node, $vid2, 300), 'succeeded', 'with the object back, it passes again');
}

# ---------------------------------------------------------------------------
# The WAL wait is bounded: with the archiver failing, the backup fails,
# says why, and leaves nothing.
# ---------------------------------------------------------------------------
$node->append_conf('postgresql.conf', "archive_command = 'false'\n");
$node->reload;
$id = $node->safe_psql('postgres', q{SELECT pgbak_base_backup('local', '{"wal_archive_timeout": 2}')});
is(wait_backup($node, $id, 120), 'failed', 'a base backup whose WAL is not archived fails');
$row = backup_row($node, $id);
like($row->{error_message}, qr/the WAL this base backup needs was not archived within 2 s/,
	'it says the WAL was not archived in time');
like($row->{error_detail}, qr/needs WAL up to segment [0-9A-F]{24}/, 'naming the segment');
is(set_leftovers($row->{location}), '', 'and its objects are gone');

# ---------------------------------------------------------------------------
# A local storage on the data directory's file system keeps
# pgbak.local_reserve free: a base backup that could eat into it is refused
# before anything is written.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', "ALTER SYSTEM SET pgbak.local_reserve = '1000TB'");
$node->reload;
$id = $node->safe_psql('postgres', 'SELECT pgbak_base_backup()');
is(wait_backup($node, $id, 120), 'failed', 'a base backup that would eat the reserve fails');
$row = backup_row($node, $id);
is($row->{error_sqlstate}, '53100', 'with 53100');
like($row->{error_message},
	qr/^not enough free space on the file system of .* for base backup $id in storage "local"$/,
	'naming the base backup and the storage');
like($row->{error_detail}, qr/the cluster is .*Nothing was written/, 'with the estimate');
ok(!defined $row->{location}, 'and nothing was written');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET pgbak.local_reserve');
$node->reload;

# ---------------------------------------------------------------------------
# A worker killed with kill -9 in the middle of the stream leaves no
# manifest.json; the server is not left in backup mode.
# ---------------------------------------------------------------------------
$node->append_conf('postgresql.conf', "archive_command = 'cp %p $archive/%f'\n");
$node->reload;
$s3->set_faults([ { name => 'slow', method => 'PUT', delay_ms => 3000, times => -1 } ]);
$id = $node->safe_psql('postgres', "SELECT pgbak_base_backup('s3')");
my $pid = wait_for_running($node, $id, 60);
ok( poll_until(
		60,
		sub {
			$node->safe_psql('postgres',
				q{SELECT count(*) FROM pg_stat_progress_basebackup
				  WHERE phase = 'streaming database files'}) eq '1';
		}),
	'the base backup is streaming');
kill 'KILL', $pid;
is(wait_for_status($node, $id, qr/^failed$/, 120), 'failed',
	'the killed base backup is marked failed');
$s3->clear_faults;
$row = backup_row($node, $id);
my $key = $s3->key_of($row->{location});
ok( poll_until(60, sub { !grep { $_->{key} =~ /manifest\.json$/ } $s3->list_objects("$key/") }),
	'the killed base backup has no manifest.json');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'}),
	'0', 'no walsender is left running');
$id = $node->safe_psql('postgres', 'SELECT pgbak_base_backup()');
is(wait_backup($node, $id, 300), 'succeeded', 'the next base backup succeeds');

# A cancelled base backup ends the server's side with its connection (no
# crash restart helps here): the walsender goes, backup mode with it.
$s3->set_faults([ { name => 'slow', method => 'PUT', delay_ms => 3000, times => -1 } ]);
$id = $node->safe_psql('postgres', "SELECT pgbak_base_backup('s3')");
ok( poll_until(
		60,
		sub {
			$node->safe_psql('postgres',
				q{SELECT count(*) FROM pg_stat_progress_basebackup
				  WHERE phase = 'streaming database files'}) eq '1';
		}),
	'a second base backup to S3 is streaming');
is($node->safe_psql('postgres', "SELECT pgbak_cancel($id)"), 't', 'it is cancelled');
is(wait_backup($node, $id, 120), 'cancelled', 'and ends cancelled');
$s3->clear_faults;
ok( poll_until(
		60,
		sub {
			$node->safe_psql('postgres',
				q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'})
			  eq '0';
		}),
	'its walsender is gone');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_stat_progress_basebackup'),
	'0', 'no base backup runs in the server');
$row = backup_row($node, $id);
$key = $s3->key_of($row->{location});
ok(!grep({ $_->{key} =~ /manifest\.json$/ } $s3->list_objects("$key/")),
	'the cancelled base backup has no manifest.json');

# A fast shutdown in the middle of a base backup is not held up by it.
$s3->set_faults([ { name => 'slow', method => 'PUT', delay_ms => 3000, times => -1 } ]);
$id = $node->safe_psql('postgres', "SELECT pgbak_base_backup('s3')");
ok( poll_until(
		60,
		sub {
			$node->safe_psql('postgres',
				q{SELECT count(*) FROM pg_stat_progress_basebackup
				  WHERE phase = 'streaming database files'}) eq '1';
		}),
	'a third base backup to S3 is streaming');
my $stop_started = time();
$node->stop('fast');
ok(time() - $stop_started < 30, 'a fast shutdown does not wait for it');
$s3->clear_faults;
$node->start;
like(wait_for_status($node, $id, qr/^(failed|cancelled)$/, 60), qr/^(failed|cancelled)$/,
	'it ends failed or cancelled');
$row = backup_row($node, $id);
$key = $s3->key_of($row->{location});
ok(!grep({ $_->{key} =~ /manifest\.json$/ } $s3->list_objects("$key/")),
	'and has no manifest.json');

# ---------------------------------------------------------------------------
# A job with {"kind": "base"} and no database takes scheduled base backups.
# ---------------------------------------------------------------------------
$err = call_error(q{SELECT pgbak_schedule('base-bad', 'appdb', '@daily', '{"kind": "base"}')});
like($err, qr/ERROR:  22023: a base backup job backs up the whole cluster: its database must be NULL/,
	'a base job naming a database: 22023');
like($err, qr/HINT:  pgbak_schedule\('base-bad', NULL, '\@daily'/, 'with the call to make instead');
$err = call_error(
	q{SELECT pgbak_schedule('base-bad', NULL, '@daily', '{"kind": "base", "copy_to": ["s3"]}')});
like($err, qr/ERROR:  22023: unknown base backup option "copy_to"/,
	'an option base jobs do not take: 22023');
$err = call_error(q{SELECT pgbak_schedule('base-bad', NULL, '@daily', '{}')});
like($err, qr/ERROR:  22004: /, 'a logical job without a database: 22004');
like(call_error(q{SELECT pgbak_schedule('base-bad', NULL, '@daily', '{"kind": "base"}')}, 'oscar'),
	qr/ERROR:  42501: /, 'scheduling base backups needs pgbak_admin');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pgbak_job}), '0',
	'no job was saved by the refused calls');
$node->safe_psql('postgres',
	q{SELECT pgbak_schedule('nightly-base', NULL, '@daily', '{"kind": "base", "zstd_level": 2}')});
$node->safe_psql('postgres',
	q{UPDATE pgbak_job SET next_run_at = now() WHERE job_name = 'nightly-base'});
my $scheduled;
ok( poll_until(
		60,
		sub {
			$scheduled = $node->safe_psql('postgres',
				q{SELECT max(id) FROM backup_log WHERE job_name = 'nightly-base'});
			$scheduled ne '';
		}),
	'the base job runs');
is(wait_backup($node, $scheduled, 300), 'succeeded', 'its base backup succeeds');
$row = backup_row($node, $scheduled);
is_deeply([ $row->{kind}, $row->{trigger}, $row->{database_name}, $row->{options}{zstd_level} ],
	[ 'base', 'schedule', undef, 2 ], 'it is a scheduled base backup with the job\'s options');
ok(-f "$row->{location}/manifest.json", 'its set is complete');

# ---------------------------------------------------------------------------
# A base job without keep rules keeps every base set (032 tests the rules).
# ---------------------------------------------------------------------------
my $before = $node->safe_psql('postgres',
	q{SELECT string_agg(id::text, ',' ORDER BY id) FROM backup_log
	  WHERE kind = 'base' AND status = 'succeeded'});
$node->safe_psql('postgres', 'SELECT count(*) FROM pgbak_prune(false)');
is( $node->safe_psql('postgres',
		q{SELECT string_agg(id::text, ',' ORDER BY id) FROM backup_log
		  WHERE kind = 'base' AND status = 'succeeded'}),
	$before, 'pgbak_prune keeps every base backup');
my $local = backup_row($node,
	$node->safe_psql('postgres',
		q{SELECT max(id) FROM backup_log WHERE kind = 'base' AND status = 'succeeded'
		  AND storage_name = 'local'}));
ok(-f "$local->{location}/manifest.json", 'the local base set is still complete');
$node->safe_psql('postgres', q{SELECT pgbak_unschedule('nightly-base')});

# ---------------------------------------------------------------------------
# archive_mode off: the backup succeeds at once and says the WAL is not
# archived.
# ---------------------------------------------------------------------------
$node->append_conf('postgresql.conf', "archive_mode = off\n");
$node->restart;
$id = $node->safe_psql('postgres', 'SELECT pgbak_base_backup()');
is(wait_backup($node, $id, 300), 'succeeded', 'with archive_mode off it succeeds');
$row = backup_row($node, $id);
ok(defined $row->{wal_archived} && !$row->{wal_archived}, 'and records the WAL as not archived');
is(read_manifest($row->{location})->{base_backup}{wal_archived}, JSON::PP::false,
	'so does its manifest');

# ---------------------------------------------------------------------------
# Pages whose checksum fails are counted: the backup is kept, with the
# count in its row and manifest and a WARNING in the server log.
# ---------------------------------------------------------------------------
$node->safe_psql('appdb', q{
  CREATE TABLE victim AS SELECT g, md5(g::text) AS h FROM generate_series(1, 5000) g;
  CHECKPOINT;
});
my $victim = $node->data_dir . '/'
  . $node->safe_psql('appdb', q{SELECT pg_relation_filepath('victim')});
$node->stop;
command_ok([ 'pg_checksums', '--enable', '-D', $node->data_dir ],
	'data checksums enabled with the stock pg_checksums');
# Two pages of the table get a few bytes of garbage in the middle.
open(my $fh, '+<', $victim) or die "open $victim: $!";
binmode $fh;
for my $block (1, 3)
{
	seek($fh, $block * 8192 + 4000, 0) or die $!;
	print $fh 'CORRUPTED-PAGE!!';
}
close($fh);
$node->start;
my $log_offset = -s $node->logfile;
$id = $node->safe_psql('postgres', 'SELECT pgbak_base_backup()');
is(wait_backup($node, $id, 300), 'succeeded', 'a base backup of a damaged cluster is kept');
$row = backup_row($node, $id);
is($row->{bad_checksums}, 2, 'it counts the two bad pages');
is(read_manifest($row->{location})->{base_backup}{bad_checksums}, 2, 'so does its manifest');
like(substr(slurp_file($node->logfile), $log_offset),
	qr/WARNING:  pgbak: base backup $id read 2 page\(s\) with a bad checksum/,
	'and the server log warns');
$id = $node->safe_psql('postgres', q{SELECT pgbak_base_backup('local', '{"verify_checksums": false}')});
is(wait_backup($node, $id, 300), 'succeeded', 'without verify_checksums it succeeds too');
is(backup_row($node, $id)->{bad_checksums}, 0, 'and checks nothing');

$node->stop;

# ---------------------------------------------------------------------------
# With pgbak's own WAL archive (archive_library = 'pgbak_ext'): the base
# backup waits for that archiver, and the README's restore_command (ls and
# zstd) recovers a cluster from the base backup through WAL written after
# it, after the stock pg_verifybackup checked it with that archive's WAL.
# ---------------------------------------------------------------------------
my $store = "$tmp/pitr_store";
my $pitr = new_node(
	'pitr',
	wal_level => 'replica',
	max_wal_senders => 2,
	archive_mode => 'on',
	archive_library => "'pgbak_ext'",
	'pgbak.wal_storage' => "'walstore'");
# A defined storage (a directory), so that the launcher publishes it to
# the archiver in a file of the data directory, as it would an S3 one.
make_path($store);
$pitr->safe_psql('postgres', "SELECT pgbak_storage_add('walstore', 'file://$store')");
my $sysid = $pitr->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
make_path("$tmp/pts");
$pitr->safe_psql('postgres', "CREATE TABLESPACE pts LOCATION '$tmp/pts'");
$pitr->safe_psql('postgres', 'CREATE DATABASE appdata');
$pitr->safe_psql('appdata', q{
  CREATE TABLE before_base AS SELECT g AS id FROM generate_series(1, 1000) g;
  CREATE TABLE far_before (id int, note text) TABLESPACE pts;
  INSERT INTO far_before SELECT g, 'far ' || g FROM generate_series(1, 3000) g;
});
my $pts_oid = $pitr->safe_psql('postgres', "SELECT oid FROM pg_tablespace WHERE spcname = 'pts'");
$id = $pitr->safe_psql('postgres', 'SELECT pgbak_base_backup()');
is(wait_backup($pitr, $id, 300), 'succeeded', 'a base backup with pgbak\'s WAL archive succeeds');
$row = backup_row($pitr, $id);
ok($row->{wal_archived}, 'once pgbak\'s archiver has its WAL');
my @last_objects = glob("$store/$sysid/wal/*/$row->{wal_last_segment}-*.zst");
is(scalar(@last_objects), 1, 'its last segment is in the WAL storage');
$pitr->safe_psql('appdata',
	'CREATE TABLE after_base AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 20000) g');
my $after = $pitr->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
ok( poll_until(
		120,
		sub {
			$pitr->safe_psql('postgres', 'SELECT last_archived_wal FROM pg_stat_archiver') ge $after;
		}),
	"the WAL written after it is archived ($after)");
my $pitr_prints = table_fingerprints($pitr, 'appdata');
ok(-f $pitr->data_dir . '/pg_stat_tmp/pgbak_wal_storage.json',
	'the source holds the archiver\'s storage file (with any secret of the WAL storage)');
$pitr->stop;

# The README's block, as it is written there.
my $recovered = PostgreSQL::Test::Cluster->new('recovered');
my $rdata = $recovered->data_dir;
my $rts = $recovered->basedir . '/tablespaces';
my ($block, $first_line) = readme_block('### Restoring a base backup by hand');
ok(defined $block, 'the README shows how to restore a base backup by hand');
my $script = "$tmp/restore_base_by_hand.sh";
open(my $sfh, '>', $script) or die $!;
print $sfh $block;
close($sfh);
my ($rok, $rout, $rerr, $rfailure) = run_readme_block($script, $first_line,
	{ SET => $row->{location}, NEW => $rdata, TS => $rts, ARCHIVE => $store }, 300);
ok($rok, 'the README block unpacks it, fetches its WAL and pg_verifybackup accepts it')
  or diag("$rfailure\n$rout\n$rerr");
ok(-l "$rdata/pg_tblspc/$pts_oid", 'the tablespace is linked');
ok(-d "$rdata/pg_stat_tmp" && !-e "$rdata/pg_stat_tmp/pgbak_wal_storage.json",
	'the base backup left the archiver\'s storage file out');
is(slurp_file("$rdata/tablespace_map"), "$pts_oid $rts/$pts_oid\n",
	'tablespace_map names the new place');
$recovered->append_conf('postgresql.conf',
	    "port = "
	  . $recovered->port
	  . "\narchive_mode = off\n"
	  . "restore_command = 'f=\$(ls $store/$sysid/wal/*/%f-*.zst 2>/dev/null) && zstd -q -d -c \"\$f\" > \"%p\"'\n");
open(my $signal, '>', "$rdata/recovery.signal") or die $!;
close($signal);
$recovered->start;
ok( poll_until(120, sub { $recovered->safe_psql('postgres', 'SELECT NOT pg_is_in_recovery()') eq 't' }),
	'the recovered cluster replays the archive and opens');
is_deeply(table_fingerprints($recovered, 'appdata'), $pitr_prints,
	'it holds what the source held, the rows written after the base backup too');
is($recovered->safe_psql('postgres', "SELECT pg_tablespace_location($pts_oid)"),
	"$rts/$pts_oid", 'its tablespace is the restored one');
$recovered->stop;

done_testing();
