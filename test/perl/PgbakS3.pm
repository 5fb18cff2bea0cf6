# PgbakS3.pm: the S3 test stack of the pgbak_ext TAP tests, seen from Perl.
#
# start_s3 starts test/s3/stack.js: s3rver (a real S3 server storing in a
# per-test directory) behind a proxy that re-verifies the AWS SigV4
# signature of every request with an independent implementation
# (@smithy/signature-v4), checks payload hashes and multipart ETags, and
# injects faults on demand. The returned object knows the endpoint, the
# bucket and the key pair, drives the proxy's control API (faults, request
# log, open uploads), and reads objects back with Debian's awscli
# (/usr/bin/aws by absolute path: another aws may come first in PATH), so
# that what a test checks is what a user with stock tools would get.
#
# Ports are ephemeral and directories per test, so test files may run at
# once. The stack is stopped by stop(), when the object goes away, or at the
# latest in END; it also exits by itself when the test process dies, because
# its stdin is a pipe only the test holds open.

package PgbakS3;

use strict;
use warnings;

use Carp qw(croak);
use Digest::SHA qw(sha256_hex hmac_sha256 hmac_sha256_hex);
use Exporter 'import';
use File::Basename qw(basename dirname);
use File::Spec ();
use HTTP::Tiny ();
use IPC::Run ();
use JSON::PP ();
use POSIX qw(WNOHANG strftime);
use PostgreSQL::Test::Utils ();
use Test::More ();
use Time::HiRes qw(usleep time);

our @EXPORT = qw(start_s3);

# Debian's awscli; never the aws that PATH would find first.
our $AWS_CLI = '/usr/bin/aws';

my $json = JSON::PP->new->utf8->canonical;
my %live_stacks;    # pid => stack, for END
my %names_used;     # name => how many stacks had it, for distinct log names
my $owner_pid = $$; # END in a forked child must not stop our stacks

# stack_dir finds test/s3 (stack.js and its node_modules): under
# PGBAK_SOURCE_DIR when the TAP runner set it, else next to this module.
sub stack_dir
{
	my $root = $ENV{PGBAK_SOURCE_DIR};
	$root = File::Spec->rel2abs(dirname(__FILE__) . '/../..') unless $root;
	return "$root/test/s3";
}

# find_node returns the node binary: PGBAK_NODE, or the first in PATH.
sub find_node
{
	return $ENV{PGBAK_NODE} if $ENV{PGBAK_NODE};
	for my $dir (split /:/, ($ENV{PATH} || '/usr/bin:/bin'))
	{
		return "$dir/node" if $dir ne '' && -x "$dir/node";
	}
	croak 'node not found in PATH (install nodejs: scripts/install-deps.sh)';
}

# random_token returns $n random characters from [A-Z0-9].
sub random_token
{
	my ($n) = @_;
	my @chars = ('A' .. 'Z', '0' .. '9');
	return join('', map { $chars[ int(rand(@chars)) ] } 1 .. $n);
}

# start_s3(%opts) starts a stack and returns it once both servers listen.
# Options: name (label for directories and logs, default "s3"), bucket
# (default "pgbak-test"), access_key and secret (random by default),
# extra_keys ({ access_key => secret } also accepted), min_part_size (bytes,
# default S3's 5 MiB), locked (true: the bucket refuses every new object
# without an Object Lock retention, test/s3/lib/object-lock.js), timeout
# (seconds to wait for readiness, default 60).
# The object is a hash with endpoint (the proxy's URL: point clients here),
# s3rver_url (s3rver itself, unverified), bucket, access_key, secret,
# region ("us-east-1"), data_dir (s3rver's files), dir, log_file (one JSON
# line per request), stderr_file and pid.
sub start_s3
{
	my (%opts) = @_;
	my $name = $opts{name} // 's3';
	my $dir = PostgreSQL::Test::Utils::tempdir("s3_$name");
	my $test_name = basename($0);
	$test_name =~ s/\.[^.]+$//;
	my $label = $names_used{$name}++ ? "${name}$names_used{$name}" : $name;
	my $log_prefix = "$PostgreSQL::Test::Utils::log_path/${test_name}_${label}_$$";

	my $self = bless {
		name => $name,
		dir => $dir,
		data_dir => "$dir/data",
		home => "$dir/home",
		bucket => $opts{bucket} // 'pgbak-test',
		access_key => $opts{access_key} // ('AKIATEST' . random_token(12)),
		secret => $opts{secret} // random_token(40),
		region => 'us-east-1',
		log_file => "$log_prefix.requests.jsonl",
		stderr_file => "$log_prefix.stack.log",
		ready_file => "$dir/ready.json",
	}, 'PgbakS3';
	mkdir $self->{home} or die "could not create $self->{home}: $!";

	my $stack_dir = stack_dir();
	-d "$stack_dir/node_modules/s3rver"
	  or croak "$stack_dir/node_modules is missing: run scripts/install-deps.sh (npm ci in test/s3)";
	my %keys = (%{ $opts{extra_keys} // {} }, $self->{access_key} => $self->{secret});
	my $keys_file = "$dir/keys.json";
	open(my $kfh, '>', $keys_file) or die "could not write $keys_file: $!";
	print $kfh $json->encode(\%keys);
	close($kfh);

	my @cmd = (
		find_node(), "$stack_dir/stack.js",
		'--data-dir' => $self->{data_dir},
		'--keys-file' => $keys_file,
		'--bucket' => $self->{bucket},
		'--region' => $self->{region},
		'--ready-file' => $self->{ready_file},
		'--log-file' => $self->{log_file},
		'--exit-on-stdin-close');
	push @cmd, '--min-part-size' => $opts{min_part_size} if defined $opts{min_part_size};
	push @cmd, '--locked-bucket' => $self->{bucket} if $opts{locked};

	# The stack's stdin is the read end of a pipe whose write end only this
	# process holds (Perl marks it close-on-exec): when we die, it exits.
	pipe(my $lifeline_r, my $lifeline_w) or die "pipe: $!";
	my $pid = fork() // die "fork: $!";
	if ($pid == 0)
	{
		%ENV = (PATH => '/usr/bin:/bin', HOME => $self->{home}, LANG => 'C.UTF-8');
		open(STDIN, '<&', $lifeline_r) or POSIX::_exit(126);
		open(STDOUT, '>', "$dir/stack.stdout") or POSIX::_exit(126);
		open(STDERR, '>>', $self->{stderr_file}) or POSIX::_exit(126);
		exec { $cmd[0] } @cmd or POSIX::_exit(127);
	}
	close($lifeline_r);
	$self->{pid} = $pid;
	$self->{lifeline} = $lifeline_w;
	$live_stacks{$pid} = $self;

	my $timeout = $opts{timeout} // 60;
	my $deadline = time() + $timeout;
	until (-f $self->{ready_file})
	{
		if (waitpid($pid, WNOHANG) == $pid)
		{
			my $status = $?;
			delete $live_stacks{$pid};
			$self->{pid} = undef;
			croak "S3 stack exited (status $status) before it was ready:\n" . $self->stack_stderr;
		}
		if (time() >= $deadline)
		{
			$self->stop;
			croak "S3 stack not ready after ${timeout}s:\n" . $self->stack_stderr;
		}
		usleep(50_000);
	}
	my $ready = $json->decode(PostgreSQL::Test::Utils::slurp_file($self->{ready_file}));
	$self->{endpoint} = $ready->{proxy_url};
	$self->{s3rver_url} = $ready->{s3rver_url};
	$self->{proxy_port} = $ready->{proxy_port};
	$self->{s3rver_port} = $ready->{s3rver_port};
	$self->{http} = HTTP::Tiny->new(timeout => 60, keep_alive => 0);
	Test::More::note("S3 stack $name: endpoint $self->{endpoint}, s3rver $self->{s3rver_url}, pid $pid");
	return $self;
}

# Accessors, for tests that prefer methods to hash keys.
sub endpoint   { return $_[0]->{endpoint} }
sub s3rver_url { return $_[0]->{s3rver_url} }
sub bucket     { return $_[0]->{bucket} }

# key_of turns an s3:// location in the stack's bucket into its key.
sub key_of
{
	my ($self, $location) = @_;
	my $key = $location;
	$key =~ s{^s3://\Q$self->{bucket}\E/}{} or die "not in bucket $self->{bucket}: $location";
	return $key;
}
sub access_key { return $_[0]->{access_key} }
sub secret     { return $_[0]->{secret} }
sub region     { return $_[0]->{region} }
sub data_dir   { return $_[0]->{data_dir} }

# stack_stderr returns what the stack wrote to stderr so far.
sub stack_stderr
{
	my ($self) = @_;
	return '' unless -f $self->{stderr_file};
	return PostgreSQL::Test::Utils::slurp_file($self->{stderr_file});
}

# stop ends the stack: SIGTERM, SIGKILL after 10 s, always reaped. Returns
# the wait status (0 after a clean exit); a second call does nothing.
sub stop
{
	my ($self) = @_;
	my $pid = $self->{pid};
	return $self->{exit_status} unless $pid;
	close($self->{lifeline}) if $self->{lifeline};
	$self->{lifeline} = undef;
	kill('TERM', $pid);
	my $deadline = time() + 10;
	my $reaped = 0;
	while (time() < $deadline)
	{
		if (waitpid($pid, WNOHANG) == $pid) { $reaped = 1; last; }
		usleep(20_000);
	}
	if (!$reaped)
	{
		kill('KILL', $pid);
		waitpid($pid, 0);
	}
	$self->{exit_status} = $?;
	$self->{pid} = undef;
	delete $live_stacks{$pid};
	return $self->{exit_status};
}

sub DESTROY
{
	my ($self) = @_;
	local ($?, $@, $!);
	$self->stop if $$ == $owner_pid && $self->{pid};
}

END
{
	local $?;
	if ($$ == $owner_pid)
	{
		$_->stop for values %live_stacks;
	}
}

# control($method, $path, $body) calls the proxy's control API and returns
# the decoded JSON answer; dies on an HTTP error.
sub control
{
	my ($self, $method, $path, $body) = @_;
	my %req = (headers => { 'Content-Type' => 'application/json' });
	$req{content} = $json->encode($body) if defined $body;
	my $res = $self->{http}->request($method, "$self->{endpoint}$path", \%req);
	croak "S3 proxy $method $path: $res->{status} $res->{reason}: $res->{content}"
	  unless $res->{success};
	return $json->decode($res->{content});
}

# set_faults(\@rules) replaces the proxy's fault rules (format in
# test/s3/README.md) and returns them as installed.
sub set_faults
{
	my ($self, $rules) = @_;
	return $self->control('POST', '/__faults', $rules);
}

# add_faults(\@rules) appends rules after the installed ones.
sub add_faults
{
	my ($self, $rules) = @_;
	return $self->control('POST', '/__faults?append', $rules);
}

# clear_faults removes every rule.
sub clear_faults
{
	my ($self) = @_;
	return $self->control('DELETE', '/__faults');
}

# faults lists the installed rules with their matched/fired counters.
sub faults
{
	my ($self) = @_;
	return $self->control('GET', '/__faults');
}

# request_log(since => $seq) returns the proxy's log entries (hashes: seq,
# time, method, path, query, key, payload, signed_headers, lock_mode,
# lock_retain_until, content_md5, status, code, req_bytes, resp_bytes,
# fault, answered_by, ms), all or those after $seq.
sub request_log
{
	my ($self, %opts) = @_;
	my $since = $opts{since} // 0;
	return $self->control('GET', "/__log?since=$since");
}

# last_seq is the seq of the newest log entry (0 if none), to pass to
# request_log(since => ...) later.
sub last_seq
{
	my ($self) = @_;
	my $log = $self->request_log;
	return @$log ? $log->[-1]{seq} : 0;
}

# clear_log empties the request log.
sub clear_log
{
	my ($self) = @_;
	return $self->control('DELETE', '/__log');
}

# uploads lists the multipart uploads the proxy saw (upload_id, path,
# state open/completed/aborted, parts).
sub uploads
{
	my ($self) = @_;
	return $self->control('GET', '/__uploads');
}

# open_uploads lists the uploads neither completed nor aborted.
sub open_uploads
{
	my ($self) = @_;
	return [ grep { $_->{state} eq 'open' } @{ $self->uploads } ];
}

# aws([\%opts,] @args) runs /usr/bin/aws against the proxy in a clean
# environment holding only the key pair; returns (exit code, stdout,
# stderr). %opts: access_key, secret (to try wrong ones), env (extra
# variables, e.g. AWS_MAX_ATTEMPTS).
sub aws
{
	my ($self, @args) = @_;
	my $opts = ref($args[0]) eq 'HASH' ? shift(@args) : {};
	my @cmd = (
		$AWS_CLI, '--endpoint-url', $self->{endpoint},
		'--region', $self->{region}, '--no-cli-pager', @args);
	my ($out, $err) = ('', '');
	{
		local %ENV = (
			PATH => '/usr/bin:/bin',
			HOME => $self->{home},
			LANG => 'C.UTF-8',
			AWS_ACCESS_KEY_ID => $opts->{access_key} // $self->{access_key},
			AWS_SECRET_ACCESS_KEY => $opts->{secret} // $self->{secret},
			AWS_DEFAULT_REGION => $self->{region},
			AWS_CONFIG_FILE => '/dev/null',
			AWS_SHARED_CREDENTIALS_FILE => '/dev/null',
			AWS_EC2_METADATA_DISABLED => 'true',
			AWS_PAGER => '',
			AWS_RETRY_MODE => 'standard',
			AWS_MAX_ATTEMPTS => '3',
			%{ $opts->{env} // {} });
		IPC::Run::run(\@cmd, '<', \undef, '>', \$out, '2>', \$err);
	}
	return ($? >> 8, $out, $err);
}

# list_objects($prefix) lists the bucket's objects under $prefix (all if
# undef) through awscli: a list of { key, size, etag } sorted by key.
sub list_objects
{
	my ($self, $prefix) = @_;
	my @args = ('s3api', 'list-objects-v2', '--bucket', $self->{bucket}, '--output', 'json');
	push @args, '--prefix', $prefix if defined $prefix;
	my ($rc, $out, $err) = $self->aws(@args);
	croak "aws s3api list-objects-v2 failed ($rc): $err" if $rc != 0;
	return () if $out !~ /\S/;
	my $listing = $json->decode($out);
	return sort { $a->{key} cmp $b->{key} }
	  map { { key => $_->{Key}, size => $_->{Size}, etag => $_->{ETag} } }
	  @{ $listing->{Contents} // [] };
}

# download($key, $file) copies an object to a local file with awscli;
# returns (exit code, stderr).
sub download
{
	my ($self, $key, $file) = @_;
	my ($rc, $out, $err) = $self->aws('s3', 'cp', '--only-show-errors', "s3://$self->{bucket}/$key", $file);
	return ($rc, $err);
}

# uri_escape encodes with SigV4's rules: all but A-Z a-z 0-9 - _ . ~ (and
# "/" when $keep_slash).
sub uri_escape
{
	my ($text, $keep_slash) = @_;
	utf8::encode($text) if utf8::is_utf8($text);
	my $keep = $keep_slash ? 'A-Za-z0-9\-_.~/' : 'A-Za-z0-9\-_.~';
	$text =~ s/([^$keep])/sprintf('%%%02X', ord($1))/ge;
	return $text;
}

# signed_request(%args) sends one request signed here, in Perl (a third
# SigV4 implementation, from the AWS documentation), and returns the
# HTTP::Tiny response. Arguments: method, key (object key; path is then
# /bucket/key) or path (raw, already encoded), query ([name => value, ...]
# unencoded), body, headers ({ name => value }, all signed), access_key,
# secret, time (epoch seconds to sign with), and, to tamper: send_body (the
# body actually sent), payload_hash (the x-amz-content-sha256 sent and
# signed), send_headers (sent after signing, unsigned).
sub signed_request
{
	my ($self, %args) = @_;
	my $method = $args{method} // 'GET';
	my $path = $args{path}
	  // ('/' . uri_escape($self->{bucket}) . (defined $args{key} ? '/' . uri_escape($args{key}, 1) : ''));
	my $body = $args{body} // '';
	my @query = @{ $args{query} // [] };
	my @pairs;
	while (@query) { my ($n, $v) = splice(@query, 0, 2); push @pairs, [ uri_escape($n), uri_escape($v // '') ]; }
	my $raw_query = join('&', map { "$_->[0]=$_->[1]" } @pairs);
	my $canonical_query = join('&',
		map { "$_->[0]=$_->[1]" } sort { $a->[0] cmp $b->[0] || $a->[1] cmp $b->[1] } @pairs);

	my $when = $args{time} // time();
	my $amz_date = strftime('%Y%m%dT%H%M%SZ', gmtime($when));
	my $date = substr($amz_date, 0, 8);
	my $payload_hash = $args{payload_hash} // sha256_hex($body);
	my %headers = (
		host => "127.0.0.1:$self->{proxy_port}",
		'x-amz-date' => $amz_date,
		'x-amz-content-sha256' => $payload_hash,
		map { lc($_) => $args{headers}{$_} } keys %{ $args{headers} // {} });
	my @signed = sort keys %headers;
	my $canonical_request = join("\n",
		$method, $path, $canonical_query,
		(map { "$_:" . trim_value($headers{$_}) } @signed), '',
		join(';', @signed), $payload_hash);
	my $scope = "$date/$self->{region}/s3/aws4_request";
	my $string_to_sign = join("\n", 'AWS4-HMAC-SHA256', $amz_date, $scope, sha256_hex($canonical_request));
	my $secret = $args{secret} // $self->{secret};
	my $key = hmac_sha256($date, "AWS4$secret");
	$key = hmac_sha256($self->{region}, $key);
	$key = hmac_sha256('s3', $key);
	$key = hmac_sha256('aws4_request', $key);
	my $signature = hmac_sha256_hex($string_to_sign, $key);
	my $access_key = $args{access_key} // $self->{access_key};

	my %send = %headers;
	delete $send{host};    # HTTP::Tiny sends "host:port" itself
	$send{authorization} = "AWS4-HMAC-SHA256 Credential=$access_key/$scope, "
	  . 'SignedHeaders=' . join(';', @signed) . ", Signature=$signature";
	%send = (%send, %{ $args{send_headers} // {} });
	my $url = $self->{endpoint} . $path . ($raw_query eq '' ? '' : "?$raw_query");
	my $sent_body = $args{send_body} // $body;
	return $self->{http}->request($method, $url,
		{ headers => \%send, ($sent_body ne '' || $method eq 'PUT' ? (content => $sent_body) : ()) });
}

# trim_value folds a header value as SigV4's canonical form does.
sub trim_value
{
	my ($value) = @_;
	$value =~ s/^\s+|\s+$//g;
	$value =~ s/\s+/ /g;
	return $value;
}

# error_code extracts <Code> from an S3 error document ('' if none).
sub error_code
{
	my ($xml) = @_;
	return ($xml // '') =~ m{<Error>.*?<Code>([^<]*)</Code>}s ? $1 : '';
}

1;
