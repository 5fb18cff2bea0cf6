# 022_object_lock.pl: S3 Object Lock (storage option object_lock). The
# stack's bucket is started locked: the proxy refuses every new object
# without a retention (test/s3/lib/object-lock.js; s3rver itself ignores
# the headers), and checks what AWS checks of one with a retention: both
# headers, a known mode, a future ISO 8601 date, and Content-MD5 on
# PutObject and on every UploadPart of a locked upload. The proxy's log
# shows each upload's headers: their values are checked here against the
# time of the request. Retention then leaves a locked set alone and says
# until when (pgbak_prune), and deletes it once that date has passed.
#
# Time is not faked by a setting: once the locked sets are shown kept, the
# test moves their times in backup_log back by a day and 16 minutes, as if
# they had finished that long ago, and pgbak_prune computes their lock
# date (finished_at + days + 15 minutes) from the row as it does for any
# set. The stack's s3rver has no clock-based lock: what it would do at the
# real date is S3's part, not ours.

use strict;
use warnings;

use IPC::Run ();
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::Local qw(timegm);

use PgbakS3;
use PgbakTest;

# The proxy's rules alone, on requests built by hand.
my ($unit_out, $unit_err) = ('', '');
IPC::Run::run([ PgbakS3::find_node(), '--test', PgbakS3::stack_dir() . '/test/object-lock.test.js' ],
	'<', \undef, '>', \$unit_out, '2>', \$unit_err);
is($? >> 8, 0, "the proxy's Object Lock rules refuse what AWS refuses")
  or diag($unit_out . $unit_err);

my $s3 = start_s3(name => 'lock', locked => 1);
my $bucket = $s3->bucket;
my $node = new_node('lock');

# A database whose data object takes a multipart upload (hex text
# compresses about 2:1: ~14 MB of it makes two or three 5 MiB parts), and a
# small one for the job.
$node->safe_psql('postgres', 'CREATE DATABASE bigdb');
$node->safe_psql('bigdb', q{
  CREATE TABLE hexes (id int PRIMARY KEY, a text, b text);
  INSERT INTO hexes SELECT g, md5(random()::text) || md5(random()::text), md5(g::text)
    FROM generate_series(1, 160000) g;
});
$node->safe_psql('postgres', 'CREATE DATABASE smalldb');
$node->safe_psql('smalldb', 'CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)');

sub add_storage
{
	my ($name, $prefix, %over) = @_;
	my $options = JSON::PP->new->canonical->encode({
		endpoint => $s3->endpoint,
		access_key_id => $s3->access_key,
		secret_access_key => $s3->secret,
		part_size => 5 * 1024 * 1024,
		%over });
	$node->safe_psql('postgres',
		    "SET log_statement = 'none';\n"
		  . 'SELECT pgbak_storage_add(' . quote_literal($name) . ', '
		  . quote_literal("s3://$bucket/$prefix") . ', ' . quote_literal($options) . ')');
}

sub run_to
{
	my ($storage, $db) = @_;
	my $id = $node->safe_psql('postgres',
		'SELECT pgbak_run(' . quote_literal($db) . ', ' . quote_literal($storage) . ')');
	return ($id, wait_backup($node, $id, 300));
}

# epoch_of reads an ISO 8601 UTC time ("2030-01-02T03:04:05(.678)Z").
sub epoch_of
{
	my ($text) = @_;
	$text =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?Z$/ or return undef;
	return timegm($6, $5, $4, $3, $2 - 1, $1) + ($7 // 0);
}

# set_requests lists the proxy's log entries after $seq on the objects of
# the set at $location.
sub set_requests
{
	my ($seq, $location) = @_;
	(my $path = $location) =~ s{^s3://}{/};
	return [ grep { index($_->{path}, "$path/") == 0 } @{ $s3->request_log(since => $seq) } ];
}

# check_uploads checks every upload request of a set: the object-creating
# ones (PutObject, CreateMultipartUpload) carry $mode and a retain-until
# date of their own time plus $days, signed; every PUT (whole object or
# part) carries a Content-MD5 that the proxy verified, signed.
sub check_uploads
{
	my ($label, $requests, $mode, $days) = @_;
	my (@creating, @puts, @parts);
	for my $entry (@$requests)
	{
		my $multipart_create = $entry->{method} eq 'POST' && $entry->{query} =~ /(^|&)uploads(=|&|$)/;
		my $part = $entry->{method} eq 'PUT' && $entry->{query} =~ /partNumber=/;
		my $whole = $entry->{method} eq 'PUT' && !$part;
		push @creating, $entry if $multipart_create || $whole;
		push @puts, $entry if $whole || $part;
		push @parts, $entry if $part;
	}
	ok(@creating >= 3, "$label: the set's objects were created through the proxy (" . scalar(@creating) . ')');
	ok(scalar(grep { $_->{method} eq 'POST' } @creating) >= 1 && @parts >= 2,
		"$label: the data object went up as a multipart upload of " . scalar(@parts) . ' parts')
	  if $label =~ /multipart/;
	my @bad_lock;
	for my $entry (@creating)
	{
		my $until = epoch_of($entry->{lock_retain_until} // '');
		my $sent = epoch_of($entry->{time});
		my %signed = map { $_ => 1 } @{ $entry->{signed_headers} // [] };
		push @bad_lock, $entry
		  unless $entry->{status} == 200
		  && ($entry->{lock_mode} // '') eq $mode
		  && defined $until
		  && abs($until - ($sent + $days * 86400)) <= 5
		  && $signed{'x-amz-object-lock-mode'}
		  && $signed{'x-amz-object-lock-retain-until-date'};
	}
	is_deeply(\@bad_lock, [],
		"$label: every PutObject and CreateMultipartUpload carries $mode until its time + $days day(s), signed");
	my @bad_md5 = grep {
		my %signed = map { $_ => 1 } @{ $_->{signed_headers} // [] };
		!($_->{status} == 200 && ($_->{content_md5} // '') eq 'verified' && $signed{'content-md5'})
	} @puts;
	is_deeply(\@bad_md5, [], "$label: every PUT, whole object or part, carries a matching Content-MD5, signed");
}

# ---------------------------------------------------------------------------
# The locked bucket refuses what a storage without object_lock writes.
# ---------------------------------------------------------------------------
add_storage('unlocked', 'plain');
my ($refused_id, $refused_status) = run_to('unlocked', 'smalldb');
is($refused_status, 'failed', 'a storage without object_lock cannot write to the locked bucket');
like(backup_row($node, $refused_id)->{error_message}, qr/AccessDenied.*Object Lock retention/,
	'the failure is the bucket asking for a retention');

# ---------------------------------------------------------------------------
# Governance: every upload of a set carries the lock and Content-MD5.
# ---------------------------------------------------------------------------
add_storage('locked', 'gov', object_lock => { mode => 'governance', days => 1 });
is($node->safe_psql('postgres', q{SELECT options -> 'object_lock' FROM pgbak_storages WHERE name = 'locked'}),
	'{"days": 1, "mode": "governance"}', 'pgbak_storages shows the lock');
my $seq = $s3->last_seq;
my ($big_id, $big_status) = run_to('locked', 'bigdb');
is($big_status, 'succeeded', 'a backup to a storage with object_lock succeeds in the locked bucket');
my $big = backup_row($node, $big_id);
check_uploads('governance, multipart', set_requests($seq, $big->{location}), 'GOVERNANCE', 1);
my @objects = map { $_->{key} } $s3->list_objects(substr($big->{location}, length("s3://$bucket/")) . '/');
is(scalar(@objects), 3, 'the set holds its three objects') or diag(explain(\@objects));

# ---------------------------------------------------------------------------
# Compliance, another number of days.
# ---------------------------------------------------------------------------
add_storage('vault', 'vault', object_lock => { mode => 'compliance', days => 3 });
$seq = $s3->last_seq;
my ($vault_id, $vault_status) = run_to('vault', 'smalldb');
is($vault_status, 'succeeded', 'a backup to a compliance-locked storage succeeds');
check_uploads('compliance', set_requests($seq, backup_row($node, $vault_id)->{location}),
	'COMPLIANCE', 3);

# ---------------------------------------------------------------------------
# Retention leaves locked sets alone and says until when.
# ---------------------------------------------------------------------------
my $job_seq = $s3->last_seq;
$node->safe_psql('postgres',
	q{SELECT pgbak_schedule('locked-keep1', 'smalldb', '5 seconds',
	    '{"storage": "locked", "keep_last": 1}')});
my $succeeded = sub {
	return $node->safe_psql('postgres',
		q{SELECT count(*) FROM backup_log WHERE job_name = 'locked-keep1' AND status = 'succeeded'});
};
ok(poll_until(180, sub { $succeeded->() >= 3 }), 'the job backs up to the locked storage three times')
  or diag($node->safe_psql('postgres',
	q{SELECT string_agg(id || ' ' || status || ' ' || coalesce(error_message, ''), E'\n')
	  FROM backup_log WHERE job_name = 'locked-keep1'}));
# Scheduled again once a year: it stops running and keeps its retention.
$node->safe_psql('postgres',
	q{SELECT pgbak_schedule('locked-keep1', 'smalldb', '0 0 1 1 *',
	    '{"storage": "locked", "keep_last": 1}')});
$node->safe_psql('postgres',
	q{SELECT pgbak_wait(id, 120) FROM backup_log
	  WHERE job_name = 'locked-keep1' AND status IN ('queued', 'running')});

my $job_ids = sub {
	return [ split /\n/, $node->safe_psql('postgres',
		qq{SELECT id FROM backup_log WHERE job_name = 'locked-keep1' AND status = '$_[0]' ORDER BY id}) ];
};
my @sets = @{ $job_ids->('succeeded') };
my $newest = $sets[-1];
my @older = @sets[ 0 .. $#sets - 1 ];
ok(@older >= 2, 'the job left older sets that keep_last 1 would delete');

# What pgbak_prune shows for the job: each older set, "locked", with the
# date of finished_at + 1 day + 15 minutes (in UTC, to the second).
my $prune_rows = sub {
	my ($dry_run) = @_;
	return { map { split /\|/, $_, 2 } split /\n/, $node->safe_psql('postgres',
		qq{SELECT id, action || ' ' || reason FROM pgbak_prune($dry_run) WHERE job_name = 'locked-keep1'}) };
};
my $expected_dates = { map { split /\|/ } split /\n/, $node->safe_psql('postgres',
	q{SELECT id, to_char(to_timestamp(floor(extract(epoch FROM finished_at))) AT TIME ZONE 'UTC'
	                       + interval '1 day 15 minutes', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
	  FROM backup_log WHERE job_name = 'locked-keep1' AND status = 'succeeded'}) };
my $dry = $prune_rows->('true');
is_deeply([ sort { $a <=> $b } keys %$dry ], \@older, 'pgbak_prune lists the older sets, not the newest');
for my $id (@older)
{
	like($dry->{$id},
		qr/^locked locked until \Q$expected_dates->{$id}\E \(retention: not selected by keep_last 1\)$/,
		"set $id: pgbak_prune says it is locked until its finish + 1 day + 15 minutes");
}
my $applied = $prune_rows->('false');
is_deeply($applied, $dry, 'pgbak_prune(false) does the same: nothing');
is_deeply($job_ids->('succeeded'), \@sets, 'every locked set is still succeeded');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM backup_log WHERE job_name = 'locked-keep1' AND status IN ('expiring', 'expired')}),
	'0', 'no set of the job was ever marked expiring or expired');
my @deletes = grep { $_->{method} eq 'DELETE' } @{ $s3->request_log(since => $job_seq) };
is_deeply(\@deletes, [], 'neither the job nor pgbak_prune asked S3 to delete anything');

# ---------------------------------------------------------------------------
# Once the date has passed, the sets go as usual.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres',
	'UPDATE backup_log SET queued_at = queued_at - interval \'1 day 16 minutes\', '
	  . 'started_at = started_at - interval \'1 day 16 minutes\', '
	  . 'finished_at = finished_at - interval \'1 day 16 minutes\' WHERE id IN (' . join(', ', @older) . ')');
$dry = $prune_rows->('true');
is_deeply([ sort { $a <=> $b } keys %$dry ], \@older, 'past their lock date, the same sets are listed');
is_deeply([ grep { $dry->{$_} !~ /^would delete deleted: not selected by keep_last 1$/ } @older ], [],
	'and pgbak_prune would delete each of them');
my $delete_seq = $s3->last_seq;
$applied = $prune_rows->('false');
is_deeply([ grep { $applied->{$_} !~ /^expiring / } @older ], [], 'pgbak_prune(false) marks them expiring');
ok(poll_until(120, sub { scalar(@{ $job_ids->('expired') }) == scalar(@older) }),
	'the launcher expires them');
is_deeply($job_ids->('succeeded'), [$newest], 'the newest set of the job stays');
@deletes = grep { $_->{method} eq 'DELETE' } @{ $s3->request_log(since => $delete_seq) };
is(scalar(@deletes), 3 * scalar(@older), 'each object of the expired sets was deleted once')
  or diag(explain(\@deletes));
for my $id (@older)
{
	my $prefix = substr(backup_row($node, $id)->{location}, length("s3://$bucket/")) . '/';
	is_deeply([ $s3->list_objects($prefix) ], [], "set $id is gone from the bucket");
}
my $newest_prefix = substr(backup_row($node, $newest)->{location}, length("s3://$bucket/")) . '/';
is(scalar(my @kept = $s3->list_objects($newest_prefix)), 3, 'the newest set is whole in the bucket');

done_testing();
