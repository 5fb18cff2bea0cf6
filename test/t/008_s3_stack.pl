# 008_s3_stack.pl: the S3 test stack itself is trustworthy. The S3 tests of
# pgbak_ext rely on the verifying proxy in front of s3rver to reject what
# real S3 would reject; if it accepted anything, our signer's tests would
# pass vacuously. So: awscli (botocore's signer) and a SigV4 signer written
# here in Perl both get through, and what they store reads back
# byte-identical; a wrong secret, an unknown key, a tampered body or header,
# an unsigned x-amz-* header, a skewed clock and a missing payload hash are
# refused with S3's error codes and store nothing; multipart uploads are
# held to S3's rules that s3rver skips; and each kind of injected fault
# does what it says and is logged.

use strict;
use warnings;

use Digest::SHA ();
use IPC::Run ();
use JSON::PP ();
use POSIX ();
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();

use PgbakS3;

# file_sha256 hashes a local file.
sub file_sha256
{
	my ($path) = @_;
	return Digest::SHA->new(256)->addfile($path, 'b')->hexdigest;
}

# write_random_file writes $size bytes from /dev/urandom to $path.
sub write_random_file
{
	my ($path, $size) = @_;
	open(my $in, '<:raw', '/dev/urandom') or die "/dev/urandom: $!";
	open(my $out, '>:raw', $path) or die "$path: $!";
	my $left = $size;
	while ($left > 0)
	{
		my $n = read($in, my $chunk, $left > 1048576 ? 1048576 : $left);
		die "short read from /dev/urandom" unless $n;
		print $out $chunk;
		$left -= $n;
	}
	close($out) or die "$path: $!";
	close($in);
}

# entries_for($s3, $since, $path_re) lists the log entries after $since
# whose path matches.
sub entries_for
{
	my ($s3, $since, $path_re) = @_;
	return grep { $_->{path} =~ $path_re } @{ $s3->request_log(since => $since) };
}

# object_keys lists the keys in the bucket, through awscli.
sub object_keys
{
	my ($s3, $prefix) = @_;
	return map { $_->{key} } $s3->list_objects($prefix);
}

ok(-x $PgbakS3::AWS_CLI, "Debian's awscli is installed at $PgbakS3::AWS_CLI");

# The verifier alone, on the worked examples of the S3 documentation.
my ($unit_out, $unit_err) = ('', '');
IPC::Run::run([ PgbakS3::find_node(), '--test', PgbakS3::stack_dir() . '/test/sigv4.test.js' ],
	'<', \undef, '>', \$unit_out, '2>', \$unit_err);
is($? >> 8, 0, "the proxy's verifier accepts AWS's example signatures and refuses altered copies")
  or diag($unit_out . $unit_err);
my $s3 = start_s3(name => 'stack');
like($s3->{endpoint}, qr{^http://127\.0\.0\.1:\d+$}, 'the proxy listens on a loopback port');
isnt($s3->{endpoint}, $s3->{s3rver_url}, 's3rver listens on another port');
my $scratch = PostgreSQL::Test::Utils::tempdir('s3files');

# --- awscli, correct keys ---------------------------------------------------

my $small = "$scratch/small.txt";
open(my $fh, '>', $small) or die;
print $fh "a small object\n";
close($fh);
my $seq = $s3->last_seq;
my ($rc, $out, $err) = $s3->aws('s3', 'cp', '--only-show-errors', $small, "s3://$s3->{bucket}/dir/small.txt");
is($rc, 0, 'awscli uploads a small file') or diag($err);
my ($put) = entries_for($s3, $seq, qr{/dir/small\.txt$});
is($put->{status}, 200, 'the PUT reached s3rver and succeeded');
is($put->{payload}, 'signed', 'awscli signs the payload over http (x-amz-content-sha256 is the body hash)');
ok((grep { $_ eq 'x-amz-content-sha256' } @{ $put->{signed_headers} }),
	'x-amz-content-sha256 is among the signed headers');

my $big = "$scratch/big.bin";
write_random_file($big, 20 * 1024 * 1024);
$seq = $s3->last_seq;
($rc, $out, $err) = $s3->aws('s3', 'cp', '--only-show-errors', $big, "s3://$s3->{bucket}/dir/big.bin");
is($rc, 0, 'awscli uploads a 20 MiB file') or diag($err);
my @steps = entries_for($s3, $seq, qr{/dir/big\.bin$});
my @parts = grep { $_->{method} eq 'PUT' && $_->{query} =~ /partNumber=/ } @steps;
ok((grep { $_->{method} eq 'POST' && $_->{query} eq 'uploads' && $_->{status} == 200 } @steps),
	'it went multipart: CreateMultipartUpload succeeded');
cmp_ok(scalar(@parts), '>=', 2, 'several UploadPart requests');
is(scalar(grep { $_->{status} == 200 && $_->{payload} eq 'signed' } @parts),
	scalar(@parts), 'every part was verified (signature and body hash) and stored');
ok((grep { $_->{method} eq 'POST' && $_->{query} =~ /^uploadId=/ && $_->{status} == 200 && !$_->{code} } @steps),
	'CompleteMultipartUpload passed the ETag and part-size checks');
is_deeply($s3->open_uploads, [], 'no multipart upload left open');

($rc, $out, $err) = $s3->aws('s3', 'ls', '--recursive', "s3://$s3->{bucket}/");
is($rc, 0, 'awscli s3 ls works') or diag($err);
like($out, qr/\s20971520 dir\/big\.bin$/m, 's3 ls shows the big object with its size');
like($out, qr/\s15 dir\/small\.txt$/m, 's3 ls shows the small object with its size');

($rc, $out, $err) = $s3->aws('s3api', 'head-object', '--bucket', $s3->{bucket}, '--key', 'dir/big.bin');
is($rc, 0, 'awscli s3api head-object works') or diag($err);
like($out, qr/"ContentLength":\s*20971520/, 'head-object reports the full length');

($rc, $err) = $s3->download('dir/big.bin', "$scratch/big.back");
is($rc, 0, 'awscli downloads the big object') or diag($err);
is(file_sha256("$scratch/big.back"), file_sha256($big), 'the download is byte-identical');
($rc, $err) = $s3->download('dir/small.txt', "$scratch/small.back");
is(file_sha256("$scratch/small.back"), file_sha256($small), 'so is the small one');

# --- awscli, wrong secret ---------------------------------------------------

$seq = $s3->last_seq;
($rc, $out, $err) = $s3->aws({ secret => 'not-the-secret' },
	's3', 'cp', '--only-show-errors', $small, "s3://$s3->{bucket}/dir/wrong.txt");
isnt($rc, 0, 'awscli with a wrong secret fails');
like($err, qr/SignatureDoesNotMatch/, 'and reports SignatureDoesNotMatch');
my @wrong = entries_for($s3, $seq, qr{/dir/wrong\.txt$});
ok(@wrong > 0, 'the proxy logged the attempt');
is(scalar(grep { $_->{status} == 403 && $_->{code} eq 'SignatureDoesNotMatch' && $_->{answered_by} eq 'proxy' } @wrong),
	scalar(@wrong), 'every attempt was answered 403 SignatureDoesNotMatch by the proxy');
is_deeply([ object_keys($s3, 'dir/wrong') ], [], 'nothing was stored');
ok(!-e "$s3->{data_dir}/$s3->{bucket}/dir/wrong.txt", 'not even in s3rver\'s files');

# --- requests signed here, in Perl ----------------------------------------

my $res = $s3->signed_request(method => 'PUT', key => 'perl/hello world+$.txt', body => 'signed in Perl');
is($res->{status}, 200, 'a request signed by a third implementation (Perl) is accepted')
  or diag($res->{content});
$res = $s3->signed_request(method => 'GET', key => 'perl/hello world+$.txt');
is($res->{content}, 'signed in Perl', 'and reads back, key with space, plus and dollar');
$res = $s3->signed_request(method => 'GET', query => [ 'list-type' => '2', prefix => 'perl/hello w' ]);
like($res->{content}, qr{<Key>perl/hello world\+\$\.txt</Key>}, 'a signed query with encoded values verifies');

$res = $s3->signed_request(method => 'PUT', key => 'perl/tampered.txt', body => 'original body',
	send_body => 'tampered body');
is($res->{status}, 400, 'a correctly signed request whose body was altered is refused');
is(PgbakS3::error_code($res->{content}), 'XAmzContentSHA256Mismatch', 'with XAmzContentSHA256Mismatch');
$res = $s3->signed_request(method => 'PUT', key => 'perl/tampered.txt', body => 'original body',
	headers => { 'x-amz-meta-owner' => 'alice' }, send_headers => { 'x-amz-meta-owner' => 'mallory' });
is(PgbakS3::error_code($res->{content}), 'SignatureDoesNotMatch', 'a signed header altered after signing is refused');
like($res->{content}, qr{<CanonicalRequest>PUT\n/}, 'the error shows the canonical request, as S3 does');
$res = $s3->signed_request(method => 'PUT', key => 'perl/tampered.txt', body => 'original body',
	send_headers => { 'x-amz-meta-owner' => 'mallory' });
is($res->{status}, 403, 'an unsigned x-amz-* header is refused');
like($res->{content}, qr{<HeadersNotSigned>x-amz-meta-owner</HeadersNotSigned>}, 'naming the header');
is_deeply([ object_keys($s3, 'perl/tampered') ], [], 'none of the tampered requests stored anything');

$res = $s3->signed_request(method => 'GET', key => 'perl/hello world+$.txt', access_key => 'AKIANOBODY');
is(PgbakS3::error_code($res->{content}), 'InvalidAccessKeyId', 'an unknown access key is refused');
$res = $s3->signed_request(method => 'GET', key => 'perl/hello world+$.txt', time => time() - 3600);
is(PgbakS3::error_code($res->{content}), 'RequestTimeTooSkewed', 'a request signed an hour ago is refused');
$res = $s3->signed_request(method => 'PUT', key => 'perl/streaming.txt', body => 'x',
	payload_hash => 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD');
is($res->{status}, 501, 'a STREAMING-* payload is answered 501 NotImplemented');
$res = $s3->signed_request(method => 'PUT', key => 'perl/unsigned.txt', body => 'not hashed',
	payload_hash => 'UNSIGNED-PAYLOAD');
is($res->{status}, 200, 'UNSIGNED-PAYLOAD is accepted (as S3 does) ...');
is($s3->request_log->[-1]{payload}, 'unsigned', '... and logged as such');

$res = $s3->{http}->request('GET', "$s3->{endpoint}/$s3->{bucket}/perl/unsigned.txt");
is(PgbakS3::error_code($res->{content}), 'AccessDenied', 'a request without Authorization is refused');
$res = $s3->{http}->request('GET', "$s3->{endpoint}/$s3->{bucket}/perl/unsigned.txt",
	{ headers => {
		authorization => "AWS4-HMAC-SHA256 Credential=$s3->{access_key}/20240101/us-east-1/s3/aws4_request, "
		  . 'SignedHeaders=host;x-amz-date, Signature=00' } });
is(PgbakS3::error_code($res->{content}), 'InvalidRequest', 'a request without x-amz-content-sha256 is refused');

# --- multipart rules s3rver does not enforce -----------------------------

$res = $s3->signed_request(method => 'POST', key => 'perl/mp.bin', query => [ uploads => '' ]);
my ($upload_id) = $res->{content} =~ m{<UploadId>([^<]+)</UploadId>};
ok($upload_id, 'CreateMultipartUpload signed in Perl (?uploads) works');
$res = $s3->signed_request(method => 'PUT', key => 'perl/mp.bin', body => 'part one',
	query => [ partNumber => 1, uploadId => $upload_id ]);
my $etag = $res->{headers}{etag};
is($res->{status}, 200, 'UploadPart works');
my $complete = sub {
	my ($tag) = @_;
	return "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>$tag</ETag></Part></CompleteMultipartUpload>";
};
$res = $s3->signed_request(method => 'POST', key => 'perl/mp.bin', query => [ uploadId => $upload_id ],
	body => $complete->('"0123456789abcdef0123456789abcdef"'));
is(PgbakS3::error_code($res->{content}), 'InvalidPart', 'Complete with a wrong part ETag is refused');
$res = $s3->signed_request(method => 'POST', key => 'perl/mp.bin', query => [ uploadId => $upload_id ],
	body => $complete->($etag));
is($res->{status}, 200, 'Complete with the right ETag succeeds');
$res = $s3->signed_request(method => 'POST', key => 'perl/mp2.bin', query => [ uploads => '' ]);
($upload_id) = $res->{content} =~ m{<UploadId>([^<]+)</UploadId>};
is_deeply([ map { $_->{path} } @{ $s3->open_uploads } ], ["/$s3->{bucket}/perl/mp2.bin"], 'the open upload is listed');
$res = $s3->signed_request(method => 'DELETE', key => 'perl/mp2.bin', query => [ uploadId => $upload_id ]);
is($res->{status}, 204, 'AbortMultipartUpload is answered 204');
$res = $s3->signed_request(method => 'PUT', key => 'perl/mp2.bin', body => 'late',
	query => [ partNumber => 1, uploadId => $upload_id ]);
is(PgbakS3::error_code($res->{content}), 'NoSuchUpload', 'an aborted upload takes no more parts');
is_deeply($s3->open_uploads, [], 'no upload left open');

# --- faults -----------------------------------------------------------------

$s3->set_faults([ { name => 'put500', method => 'PUT', path => '/dir/retry\.txt$', status => 500, times => 1 } ]);
$seq = $s3->last_seq;
($rc, $out, $err) = $s3->aws('s3', 'cp', '--only-show-errors', $small, "s3://$s3->{bucket}/dir/retry.txt");
is($rc, 0, 'awscli survives a 500 on PUT by retrying') or diag($err);
my @retry = entries_for($s3, $seq, qr{/dir/retry\.txt$});
is_deeply([ map { [ $_->{status}, $_->{code} // '', $_->{fault} // '', $_->{fault_action} // '' ] } @retry ],
	[ [ 500, 'InternalError', 'put500', 'status:500' ], [ 200, '', '', '' ] ],
	'the log shows the injected 500 and the successful retry');
is($s3->faults->[0]{fired}, 1, 'the rule fired once');
is_deeply([ object_keys($s3, 'dir/retry') ], ['dir/retry.txt'], 'the object is there');

$s3->set_faults([ { name => 'drop', method => 'PUT', path => '/dir/dropped\.txt$', drop => 'request', times => -1 } ]);
$seq = $s3->last_seq;
($rc, $out, $err) = $s3->aws({ env => { AWS_MAX_ATTEMPTS => '2' } },
	's3', 'cp', '--only-show-errors', $small, "s3://$s3->{bucket}/dir/dropped.txt");
isnt($rc, 0, 'awscli gives up when every PUT is dropped');
my @dropped = entries_for($s3, $seq, qr{/dir/dropped\.txt$});
is(scalar(@dropped), 2, 'both attempts are logged');
is(scalar(grep { ($_->{fault} // '') eq 'drop' && $_->{fault_action} eq 'drop:request' && !defined $_->{status} } @dropped), 2,
	'as dropped, without a status');
is_deeply([ object_keys($s3, 'dir/dropped') ], [], 'a dropped request never reached s3rver');

# HTTP::Tiny retries a GET once when the connection breaks: fault them all.
$s3->set_faults([ { method => 'GET', path => '/dir/small\.txt$', drop => 'response', times => -1 } ]);
$res = $s3->signed_request(method => 'GET', key => 'dir/small.txt');
is($res->{status}, 599, 'a response dropped midway fails the client');
$s3->set_faults([ { method => 'GET', path => '/dir/big\.bin$', truncate_after => 1000, times => -1 } ]);
$res = $s3->signed_request(method => 'GET', key => 'dir/big.bin');
is($res->{status}, 599, 'a truncated download fails the client');
is($s3->request_log->[-1]{resp_bytes}, 1000, 'after the bytes asked for');
$s3->set_faults([ { method => 'HEAD', delay_ms => 300 } ]);
($rc, $out, $err) = $s3->aws('s3api', 'head-object', '--bucket', $s3->{bucket}, '--key', 'dir/small.txt');
is($rc, 0, 'a delayed request still succeeds') or diag($err);
cmp_ok($s3->request_log->[-1]{ms}, '>=', 300, 'after the delay');

# S3 may answer CompleteMultipartUpload with 200 and an error inside;
# botocore treats that as a retryable failure.
$s3->set_faults([ { name => 'cmu', method => 'POST', query => 'uploadId=', complete_error => JSON::PP::true } ]);
$seq = $s3->last_seq;
($rc, $out, $err) = $s3->aws('s3', 'cp', '--only-show-errors', $big, "s3://$s3->{bucket}/dir/big2.bin");
is($rc, 0, 'awscli retries a Complete answered 200 with an error inside') or diag($err);
my @completes = grep { $_->{method} eq 'POST' && $_->{query} =~ /^uploadId=/ } entries_for($s3, $seq, qr{/dir/big2\.bin$});
is_deeply([ map { [ $_->{status}, $_->{code} // '', $_->{fault} // '', $_->{fault_action} // '' ] } @completes ],
	[ [ 200, 'InternalError', 'cmu', 'complete_error' ], [ 200, '', '', '' ] ],
	'the log shows the 200-with-error and the successful retry');
$s3->clear_faults;
is_deeply($s3->faults, [], 'faults cleared');

# --- the request log --------------------------------------------------------

my $log = $s3->request_log;
ok(scalar(@$log) > 20, 'the in-memory request log has every request');
is(join(',', map { $_->{seq} } @$log), join(',', 1 .. scalar(@$log)), 'numbered without gaps');
my @lines = split /\n/, PostgreSQL::Test::Utils::slurp_file($s3->{log_file});
is(scalar(@lines), scalar(@$log), 'and the log file has one JSON line per request');

# --- lifetime ---------------------------------------------------------------

my $pid = $s3->{pid};
is($s3->stop, 0, 'the stack exits cleanly on SIGTERM');
ok(!kill(0, $pid), 'and is gone');

my $orphan = start_s3(name => 'orphan');
my $orphan_pid = $orphan->{pid};
close($orphan->{lifeline});    # what happens when the test process dies
my $exited = 0;
for (1 .. 100)
{
	if (waitpid($orphan_pid, POSIX::WNOHANG()) == $orphan_pid) { $exited = 1; last; }
	Time::HiRes::usleep(100_000);
}
ok($exited, 'a stack whose test died exits by itself');
$orphan->{pid} = undef;

done_testing();
