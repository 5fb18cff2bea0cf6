# 004_observability.pl: knowing at a glance that backups are fresh, and
# hearing about it when they are not: backup_status, backup_progress, NOTIFY,
# webhooks (a live and a dead receiver), and the Prometheus exposition
# checked with promtool, from SQL and over HTTP.

use strict;
use warnings;

use IO::Socket::INET;
use JSON::PP;
use PgbakTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = new_node('observe', 'pgbak.exclude_databases' => "'skipme'");
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('postgres', 'CREATE DATABASE skipme');
$node->safe_psql('fresh',
	'CREATE TABLE t (id int PRIMARY KEY, body text);'
	  . " INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g;");

# status($db) returns backup_status's row for a database as a hashref.
sub status
{
	my ($db) = @_;
	my $json = $node->safe_psql('postgres',
		"SELECT row_to_json(s)::text FROM backup_status s WHERE database_name = '$db'");
	return $json eq '' ? undef : decode_json($json);
}

# --- backup_status ---------------------------------------------------------

my $s = status('fresh');
ok(defined $s, 'a database never backed up is listed');
ok($s->{stale}, 'and it is stale');
ok(!defined $s->{last_backup_id}, 'with no last backup');
is(status('template1')->{excluded_reason}, 'template', 'template1 is marked excluded, not hidden');
is(status('skipme')->{excluded_reason}, 'pgbak.exclude_databases', 'pgbak.exclude_databases is honoured');
ok(!status('skipme')->{stale}, 'an excluded database is never stale');

# --- NOTIFY: listen, then back up ----------------------------------------

my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN pgbak');
my ($id, $status) = run_backup($node, 'fresh');
is($status, 'succeeded', 'backup of fresh succeeds');
$s = status('fresh');
ok(!$s->{stale}, 'after a backup the database is fresh');
is($s->{last_backup_id}, $id, 'backup_status shows the backup');

# psql prints notifications that arrived when it next talks to the server.
my $notes = $listener->query_safe('SELECT 1');
my @payloads;
for my $line (split /\n/, $notes . "\n" . ($listener->{stderr} // ''))
{
	push @payloads, decode_json($1) if $line =~ /Asynchronous notification "pgbak" with payload "(.*)" received/;
}
my @mine = grep { $_->{id} == $id } @payloads;
is_deeply([ map { $_->{status} } @mine ], [qw(queued running succeeded)],
	'LISTEN pgbak receives queued, running, succeeded in order');
is($mine[0]->{database}, 'fresh', 'the payload names the database');
is($mine[0]->{kind}, 'backup', 'and the kind');

# A tiny RPO makes it stale again.
$node->safe_psql('postgres', "ALTER SYSTEM SET pgbak.rpo = '1s'; SELECT pg_reload_conf()");
ok(poll_until(30, sub { status('fresh')->{stale} }), 'with a tiny RPO it turns stale');
$node->safe_psql('postgres', "ALTER SYSTEM RESET pgbak.rpo; SELECT pg_reload_conf()");
ok(poll_until(30, sub { !status('fresh')->{stale} }), 'and fresh again with the default RPO');
# A job's own RPO counts for its database.
$node->safe_psql('postgres',
	q{SELECT pgbak_schedule('fresh-rpo', 'fresh', '@yearly', '{"rpo": "1 second"}')});
ok(poll_until(30, sub { status('fresh')->{stale} }), "a job's rpo option applies to backup_status");
ok(defined status('fresh')->{next_scheduled_run}, 'backup_status shows the next scheduled run');
$node->safe_psql('postgres', q{SELECT pgbak_unschedule('fresh-rpo')});

# --- backup_progress while a backup runs ---------------------------------

$node->safe_psql('postgres', 'CREATE DATABASE slow');
$node->safe_psql('slow',
	'CREATE TABLE noise (id int, a text, b text, c text);'
	  . ' INSERT INTO noise SELECT g, md5(g::text), md5((g * 7)::text), md5((g * 13)::text)'
	  . ' FROM generate_series(1, 600000) g;');
my $slow = queue_backup($node, 'slow', '{"zstd_level": 19}');
my @samples;
poll_until(
	120,
	sub {
		my $row = $node->safe_psql('postgres',
			"SELECT bytes_read || '|' || phase || '|' || coalesce(eta::text, '') FROM backup_progress WHERE id = $slow");
		my $final = $node->safe_psql('postgres', "SELECT status FROM backup_log WHERE id = $slow");
		if ($row ne '')
		{
			my ($bytes, $phase, $eta) = split /\|/, $row;
			push @samples, { bytes => $bytes, phase => $phase, eta => $eta }
			  if $phase eq 'dumping' && $bytes > 0;
		}
		return (@samples >= 3 && $samples[-1]{bytes} > $samples[0]{bytes}) || $final !~ /queued|running/;
	});
ok(@samples >= 2, 'backup_progress shows the running backup') or diag scalar(@samples) . ' samples';
ok(@samples >= 2 && $samples[-1]{bytes} > $samples[0]{bytes}, 'with increasing bytes_read');
ok(scalar(grep { $_->{eta} ne '' } @samples) > 0, 'and an ETA');
# No need to wait for zstd level 19 to finish: cancel it.
is($node->safe_psql('postgres', "SELECT pgbak_cancel($slow)"), 't', 'the slow backup is cancelled');
is(wait_backup($node, $slow, 60), 'cancelled', 'and ends cancelled');

# --- Webhooks ----------------------------------------------------------------

# A receiver: a child process that accepts connections, answers 200 and
# appends each request body to a file.
my $hooks = "${PostgreSQL::Test::Utils::tmp_check}/hooks.txt";
my ($receiver, $port) = webhook_receiver($hooks);

$node->safe_psql('postgres',
	"ALTER SYSTEM SET pgbak.webhook_url = 'http://127.0.0.1:$port/hook/secret-token'; SELECT pg_reload_conf()");
ok(poll_until(10, sub { $node->safe_psql('postgres', 'SHOW pgbak.webhook_url') =~ /$port/ }),
	'the webhook URL is set');
my ($bad, $bad_status) = run_backup($node, 'fresh', '{"tables": ["no_such_table"]}');
is($bad_status, 'failed', 'a backup of a missing table fails');
ok( poll_until(30,
		sub { $node->safe_psql('postgres', "SELECT webhook_status FROM backup_log WHERE id = $bad") eq 'delivered' }),
	'the failure is delivered to the webhook');
my @bodies = map { decode_json($_) } grep { /\S/ } split /\n/, slurp_file($hooks);
my ($hook) = grep { $_->{id} == $bad } @bodies;
ok(defined $hook, 'the receiver got a JSON POST for the failed backup');
is($hook->{status}, 'failed', 'with its status');
like($hook->{text}, qr/backup $bad of database "fresh" failed/, 'and a text line for chat tools');
ok(!grep({ $_->{status} eq 'succeeded' } @bodies), 'successes are not sent by default');

# A dead receiver does not fail a backup, and the failure is recorded.
kill 'KILL', $receiver;
waitpid($receiver, 0);
$node->safe_psql('postgres',
	"ALTER SYSTEM SET pgbak.webhook_events = 'all'; SELECT pg_reload_conf()");
ok(poll_until(10, sub { $node->safe_psql('postgres', 'SHOW pgbak.webhook_events') eq 'all' }),
	'webhook_events is all');
my ($good, $good_status) = run_backup($node, 'fresh');
is($good_status, 'succeeded', 'a backup succeeds while the webhook receiver is dead');
ok( poll_until(60,
		sub { $node->safe_psql('postgres', "SELECT webhook_status FROM backup_log WHERE id = $good") =~ /^failed/ }),
	'the undeliverable webhook is recorded as failed');
my $recorded = $node->safe_psql('postgres', "SELECT webhook_status FROM backup_log WHERE id = $good");
unlike($recorded, qr/secret-token/, 'the recorded failure does not reveal the webhook URL');
# (log_statement = all in test clusters logs our own ALTER SYSTEM, and the
# server itself logs "parameter ... changed to" on reload; only the
# extension's own lines are its responsibility.)
my @own_lines = grep { /pgbak/ && !/statement:|STATEMENT:|parameter "pgbak\.webhook_url" changed/ }
  split /\n/, slurp_file($node->logfile);
ok(!grep({ /secret-token/ } @own_lines), 'nor do the extension\'s lines in the server log');
$node->safe_psql('postgres',
	"ALTER SYSTEM RESET pgbak.webhook_url; ALTER SYSTEM RESET pgbak.webhook_events; SELECT pg_reload_conf()");

# --- Metrics -----------------------------------------------------------------

my $metrics = $node->safe_psql('postgres', 'SELECT pgbak_metrics()');
like($metrics, qr/^pgbak_last_success_timestamp_seconds\{database="fresh"\} \d+/m,
	'pgbak_metrics() has the last success of fresh');
like($metrics, qr/^pgbak_stale\{database="fresh"\} 0$/m, 'fresh is not stale');
like($metrics, qr/^pgbak_backup_failures_total\{database="fresh"\} [1-9]/m, 'the failure is counted');
my $promtool = '/usr/bin/promtool';
my ($out, $err) = ('', '');
my $ok = IPC::Run::run([ $promtool, 'check', 'metrics' ], '<', \$metrics, '>', \$out, '2>', \$err);
ok($ok, 'promtool check metrics accepts pgbak_metrics()') or diag "$out\n$err";

# The same over HTTP, served by the launcher.
my $probe = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die;
my $metrics_port = $probe->sockport;
close $probe;
$node->safe_psql('postgres',
	"ALTER SYSTEM SET pgbak.metrics_listen = '127.0.0.1:$metrics_port'; SELECT pg_reload_conf()");
my $http = '';
ok( poll_until(30,
		sub {
			$http = `curl -s -f http://127.0.0.1:$metrics_port/metrics`;
			$? == 0 && $http =~ /pgbak_launcher_up 1/;
		}),
	'the launcher serves /metrics over HTTP');
($out, $err) = ('', '');
$ok = IPC::Run::run([ $promtool, 'check', 'metrics' ], '<', \$http, '>', \$out, '2>', \$err);
ok($ok, 'promtool check metrics accepts the HTTP endpoint') or diag "$out\n$err";
my $code = `curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$metrics_port/other`;
is($code, '404', 'other paths are not found');
$node->safe_psql('postgres', "ALTER SYSTEM RESET pgbak.metrics_listen; SELECT pg_reload_conf()");

# --- The server log has one line per backup, with duration and size -------
like(slurp_file($node->logfile), qr/pgbak: backup $id of database "fresh" succeeded in [\d.]+ s: \d+ bytes from pg_dump, \d+ stored/,
	'the server log has a concise line per backup');

$listener->quit;
$node->stop;
done_testing();
