# 015_liveness.pl: nothing a client or a user's session does can stall the
# launcher or pin a worker forever.
#   - Slow readers of the metrics endpoint (a small receive window, a few
#     hundred bytes taken now and then, just often enough that a per-send()
#     timeout never fires) do not keep the launcher from starting backups,
#     and each is cut once its answer's deadline has passed; a normal scrape
#     still gets the whole answer.
#   - A worker waiting for a lock that a user's session holds gives up after
#     lock_timeout, as any session does, instead of waiting until the lock
#     is released (and then calling itself cancelled).

use strict;
use warnings;

use IO::Socket::INET;
use POSIX ();
use PostgreSQL::Test::Utils;
use Socket qw(PF_INET SOCK_STREAM IPPROTO_TCP SOL_SOCKET SO_RCVBUF TCP_MAXSEG
  pack_sockaddr_in inet_aton);
use Test::More;
use Time::HiRes qw(time usleep);

use PgbakTest;

my $probe = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die;
my $port = $probe->sockport;
close $probe;
my $node = new_node('liveness', 'pgbak.metrics_listen' => "'127.0.0.1:$port'");
my $tmp = PostgreSQL::Test::Utils::tempdir();

$node->safe_psql('postgres', 'CREATE DATABASE livedb');
$node->safe_psql('livedb', 'CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 100)');

# ---------------------------------------------------------------------------
# Slow readers of /metrics.
# ---------------------------------------------------------------------------

# An answer of a few hundred KiB: one sample per database and family, and
# the longest names a database can have.
$node->safe_psql('postgres',
	join('', map { sprintf("CREATE DATABASE \"liveness_%054d\";\n", $_) } 1 .. 250));
my $body = '';
ok( poll_until(
		30,
		sub {
			$body = `curl -s -f http://127.0.0.1:$port/metrics`;
			$? == 0 && $body =~ /liveness_0{51}250/;
		}),
	'the endpoint serves the metrics of every database');
cmp_ok(length($body), '>', 150_000, 'the answer is large (' . length($body) . ' bytes)');
like($body, qr/\npgbak_webhook_failures_total \d+\n$/, 'a normal scrape gets the whole answer');

# slow_reader($file) forks a client that asks for /metrics and then reads
# 256 bytes every 1.5 s through a small window. It writes "first <time>"
# when the answer starts to arrive, and at the end "end <how> <bytes>
# <time>" (how: eof, error or limit, after 90 s). Returns its pid.
sub slow_reader
{
	my ($file) = @_;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	return $pid if $pid;
	my $how = 'limit';
	my $bytes = 0;
	eval {
		socket(my $sock, PF_INET, SOCK_STREAM, IPPROTO_TCP) or die "socket: $!";
		# Set before connecting: the window and segment size are agreed on
		# in the handshake, and they keep the server's send buffer small.
		setsockopt($sock, SOL_SOCKET, SO_RCVBUF, pack('i', 1)) or die "SO_RCVBUF: $!";
		setsockopt($sock, IPPROTO_TCP, TCP_MAXSEG, pack('i', 88)) or die "TCP_MAXSEG: $!";
		connect($sock, pack_sockaddr_in($port, inet_aton('127.0.0.1'))) or die "connect: $!";
		syswrite($sock, "GET /metrics HTTP/1.0\r\n\r\n") or die "write: $!";
		my $started = time();
		while (time() - $started < 90)
		{
			my $n = sysread($sock, my $chunk, 256);
			if (!defined $n) { $how = 'error'; last; }
			if ($n == 0) { $how = 'eof'; last; }
			if ($bytes == 0)
			{
				open(my $fh, '>>', $file) or die;
				printf $fh "first %.3f\n", time();
				close $fh;
			}
			$bytes += $n;
			usleep(1_500_000);
		}
	};
	$how = "failed: $@" if $@;
	open(my $fh, '>>', $file) or POSIX::_exit(1);
	printf $fh "end %s %d %.3f\n", $how, $bytes, time();
	close $fh;
	POSIX::_exit(0);
}

# reader_state($file) -> hashref with first, how, bytes, end (as written).
sub reader_state
{
	my ($file) = @_;
	my %state;
	open(my $fh, '<', $file) or return \%state;
	while (my $line = <$fh>)
	{
		$state{first} = $1 if $line =~ /^first (\S+)/;
		@state{qw(how bytes end)} = ($1, $2, $3) if $line =~ /^end (\S+) (\d+) (\S+)/;
	}
	close $fh;
	return \%state;
}

my @readers;
for my $i (1 .. 8)
{
	my $file = "$tmp/reader$i";
	push @readers, { file => $file, pid => slow_reader($file) };
}
ok( poll_until(30, sub { grep { defined reader_state($_->{file})->{first} } @readers }),
	'the slow readers get the start of their answers');

# The launcher still starts (and the worker finishes) a backup while the
# slow readers are connected.
my $started = time();
my ($id, $status) = run_backup($node, 'livedb', '{}', 40);
my $took = time() - $started;
is($status, 'succeeded', 'a backup queued while slow readers are connected succeeds');
cmp_ok($took, '<', 30, sprintf('and it does not wait for the slow readers (%.1f s)', $took));

# Each slow reader is cut once its answer's deadline (10 s) has passed: it
# sees the connection end long before it could have read the whole answer.
for my $reader (@readers)
{
	waitpid($reader->{pid}, 0);
	$reader->{state} = reader_state($reader->{file});
}
my @cut = grep {
	my $s = $_->{state};
	defined $s->{first}
	  && defined $s->{how}
	  && $s->{how} =~ /^(eof|error)$/
	  && $s->{bytes} < length($body)
	  && $s->{end} - $s->{first} < 30
} @readers;
is(scalar(@cut), scalar(@readers), 'every slow reader is cut soon after the deadline')
  or diag explain [ map { $_->{state} } @readers ];

# The endpoint still answers afterwards.
my $again = `curl -s -f -m 10 http://127.0.0.1:$port/metrics`;
like($again, qr/^pgbak_launcher_up 1$/m, 'the endpoint answers a scrape after the slow readers');

# ---------------------------------------------------------------------------
# lock_timeout holds in a worker.
# ---------------------------------------------------------------------------

# PostgreSQL ends a lock wait that outlasts lock_timeout by sending the
# backend SIGINT, the signal pg_cancel_backend sends: a worker must tell the
# two apart, and keep a user's pg_cancel_backend a cancel of the operation.
$node->safe_psql('postgres',
	"SELECT pgbak_storage_add('elsewhere', " . quote_literal("file://$tmp/elsewhere") . ')');
$node->safe_psql('postgres', "ALTER DATABASE postgres SET lock_timeout = '1s'");
# The worker reads the storage's secrets; pgbak_run only checks that the
# storage exists, so it can still queue the backup.
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN');
$locker->query_safe('LOCK TABLE pgbak_storage_secret IN ACCESS EXCLUSIVE MODE');
my $lock_id = $node->safe_psql('postgres', "SELECT pgbak_run('livedb', 'elsewhere')");
my $lock_status = wait_for_status($node, $lock_id, qr/^(succeeded|failed|cancelled)$/, 30);
is($lock_status, 'failed', 'a worker waiting for a lock gives up after lock_timeout');
like(backup_row($node, $lock_id)->{error_message},
	qr/lock timeout/, 'and says it was the lock timeout');
$locker->query_safe('COMMIT');
$locker->quit;
$node->safe_psql('postgres', 'ALTER DATABASE postgres RESET lock_timeout');
is((run_backup($node, 'livedb', '{}', 60))[1], 'succeeded', 'backups run again once the lock is gone');

$node->stop;
done_testing();
