# 018_secrets_notify.pl: secrets that never reach the server log, and NOTIFY
# that never makes a status change fail.
#
# The server logs every statement (log_statement = all) at log_min_messages
# = debug5. Secrets typed as SQL: an admin allowed to lower log_statement
# for its own session (GRANT SET ON PARAMETER) adds storages with a marker
# secret along every way pgbak_storage_add can fail: a NULL name or url, a
# bad option, a storage that needs server-file roles, a name taken by a
# concurrent add (before 1.3, a unique violation inside an INSERT), a lock
# timeout and a terminated session while waiting for that add. No marker
# is ever in the log. Secrets that are never SQL text: secret_access_key_file
# (a 0600 file on the server; pg_read_server_files), the server's AWS_*
# environment, and the AWS credentials and config files of its OS user
# (HOME, AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE, AWS_PROFILE). Each
# signs a real backup to S3 through the proxy that verifies every signature
# (one key pair per way, so that a backup succeeds only with the key it
# should use), and no key is in the log, backup_log or pgbak_storages.
#
# NOTIFY: anyone who can connect can send a forged pgbak notification; the
# row in backup_log tells it apart. A listener that never reads (a session
# idle in a transaction) holds the notification queue: above
# pgbak.notify_queue_limit a status change is logged instead of announced,
# and the backup still commits. PostgreSQL 15's queue is 8 GB; filling it
# took 45 s and 8 GB of disk on the development machine, so by default the
# limit is lowered to a few hundred pages of backlog instead. With
# PGBAK_TEST_FULL_NOTIFY_QUEUE=1 the queue is filled for real (PostgreSQL
# then refuses every NOTIFY) and a backup still succeeds at the default
# limit.

use strict;
use warnings;

use IPC::Run ();
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakS3;
use PgbakTest;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $json = JSON::PP->new->canonical;

# One key pair per way the server gets credentials; the stack accepts all.
my %pairs = map { $_ => [ 'AKIA' . uc($_) . PgbakS3::random_token(8), PgbakS3::random_token(40) ] }
  qw(file env home named config);
my $s3 = start_s3(name => 'secrets', extra_keys => { map { @$_ } values %pairs });
my $node = new_node('secrets', log_statement => "'all'", log_min_messages => 'debug5');
my $bucket = $s3->bucket;

$node->safe_psql('postgres', q{
  CREATE ROLE dba LOGIN IN ROLE pgbak_admin, pg_read_server_files;
  CREATE ROLE dba_nofiles LOGIN IN ROLE pgbak_admin;
  CREATE ROLE watcher LOGIN IN ROLE pgbak_monitor;
  CREATE ROLE mallory LOGIN;
  CREATE DATABASE small;
});
$node->safe_psql('small', q{CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g});

# psql_as runs SQL (statements sent one by one) as a login, with SQLSTATEs
# in the messages; returns (exit code, stdout, stderr).
sub psql_as
{
	my ($user, $sql) = @_;
	my ($stdout, $stderr);
	my $rc = $node->psql('postgres', $sql,
		stdout => \$stdout, stderr => \$stderr,
		extra_params => [ '-U', $user, '-v', 'VERBOSITY=verbose' ]);
	return ($rc, $stdout, $stderr);
}

# add_call is the SQL of a pgbak_storage_add call; undef is NULL.
sub add_call
{
	my ($name, $url, $options) = @_;
	return 'SELECT pgbak_storage_add('
	  . join(', ',
		map { defined $_ ? quote_literal($_) : 'NULL' }
		  ($name, $url, ref $options ? $json->encode($options) : $options))
	  . ')';
}

# hidden is SQL run with log_statement lowered first, as the README says
# an admin typing a secret must do.
sub hidden
{
	my ($sql) = @_;
	return "SET log_statement = 'none';\n$sql";
}

# start_psql_as starts psql as a login in the background, named by
# application_name, running a file of statements (files, not pipes: the
# harness needs no pumping while the test waits); returns the harness and
# the file its stderr goes to.
sub start_psql_as
{
	my ($user, $application, $sql) = @_;
	my $script = "$tmp/$application.sql";
	open(my $fh, '>', $script) or die "could not write $script: $!";
	print $fh $sql;
	close($fh);
	my $harness = IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'VERBOSITY=verbose', '-U', $user, '-f', $script,
		  '-d', $node->connstr('postgres') . " application_name=$application" ],
		'<', '/dev/null', '>', "$tmp/$application.out", '2>', "$tmp/$application.err");
	return ($harness, "$tmp/$application.err");
}

# wait_for_lock_wait polls until the session named application waits for
# a lock.
sub wait_for_lock_wait
{
	my ($application) = @_;
	return poll_until(60, sub {
		$node->safe_psql('postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE application_name = '$application' "
			  . "AND wait_event_type = 'Lock'") eq '1';
	});
}

# s3_backup backs up small to a storage and returns (id, status).
sub s3_backup
{
	my ($storage) = @_;
	my $id = $node->safe_psql('postgres', "SELECT pgbak_run('small', '$storage')");
	return ($id, wait_backup($node, $id, 120));
}

# ---------------------------------------------------------------------------
# Secrets typed as SQL: every error path hides the statement.
# ---------------------------------------------------------------------------
my ($rc, $out, $err) = psql_as('dba', "SET log_statement = 'none'");
like($err, qr/permission denied to set parameter "log_statement"/,
	'pgbak_admin alone cannot lower log_statement');
$node->safe_psql('postgres', 'GRANT SET ON PARAMETER log_statement TO dba, dba_nofiles');

my %markers = map { $_ => "MARKER${_}" . PgbakS3::random_token(24) }
  qw(nullname nullurl badoption nofiles twin timeout terminated);
sub marked
{
	my ($marker, %more) = @_;
	return { access_key_id => 'AKIAMARKED', secret_access_key => $markers{$marker}, %more };
}

($rc, $out, $err) = psql_as('dba', hidden(add_call(undef, "s3://$bucket/x", marked('nullname'))));
like($err, qr/22004: argument "name" must not be NULL/, 'a NULL name is refused (22004)');
($rc, $out, $err) = psql_as('dba', hidden(add_call('nullurl', undef, marked('nullurl'))));
like($err, qr/22004: argument "url" must not be NULL/, 'a NULL url is refused (22004)');
($rc, $out, $err) =
  psql_as('dba', hidden(add_call('bad', "s3://$bucket/x", marked('badoption', part_size => 1))));
like($err, qr/22023: storage option "part_size" is out of range/, 'a bad option is refused (22023)');
($rc, $out, $err) = psql_as('dba_nofiles',
	hidden(add_call('nofiles', "s3://$bucket/x", marked('nofiles', ca_file => '/etc/hostname'))));
like($err, qr/42501: permission denied to define a storage that uses the server's files/,
	'a storage reading server files needs pg_read_server_files (42501)');

# Two adds of one name at once: the second waits for the first, then fails.
my $holder = $node->background_psql('postgres', extra_params => [ '-U', 'dba' ]);
$holder->query_safe('BEGIN');
$holder->query_safe(add_call('twin', "s3://$bucket/first", {}));
my ($twin, $twin_err) = start_psql_as('dba', 'twin_waiter',
	hidden(add_call('twin', "s3://$bucket/second", marked('twin'))) . ";\n");
ok(wait_for_lock_wait('twin_waiter'), 'a second add of the same name waits for the first');
$holder->query_safe('COMMIT');
$twin->finish;
like(slurp_file($twin_err), qr/42710: storage "twin" already exists/,
	'and then fails with "already exists" (42710), not a unique violation')
  or diag(slurp_file($twin_err));
is($node->safe_psql('postgres', q{SELECT url FROM pgbak_storage WHERE name = 'twin'}),
	"s3://$bucket/first", 'the first definition stands');

# A lock timeout while waiting for a concurrent add.
$holder->query_safe('BEGIN');
$holder->query_safe(add_call('held', "s3://$bucket/first", {}));
($rc, $out, $err) = psql_as('dba',
	hidden("SET lock_timeout = '200ms';\n" . add_call('held', "s3://$bucket/x", marked('timeout'))));
like($err, qr/55P03: canceling statement due to lock timeout/,
	'a lock timeout while waiting for a concurrent add is an error (55P03)');

# A session terminated while it waits (FATAL, not an ERROR).
my ($victim, $victim_err) = start_psql_as('dba', 'victim',
	hidden(add_call('held', "s3://$bucket/x", marked('terminated'))) . ";\n");
ok(wait_for_lock_wait('victim'), 'another add waits for the uncommitted one');
$node->safe_psql('postgres',
	q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'victim'});
$victim->finish;
like(slurp_file($victim_err), qr/terminating connection due to administrator command/,
	'and is terminated while it waits');
$holder->query_safe('ROLLBACK');
$holder->quit;

ok(poll_until(30, sub { slurp_file($node->logfile) =~ /terminating connection due to administrator command/ }),
	'the termination is in the server log');
my $log = slurp_file($node->logfile);
like($log, qr/DEBUG:  /, 'the server log has debug messages (log_min_messages = debug5)');
like($log, qr/argument "name" must not be NULL/, 'the errors are in the server log');
like($log, qr/storage "twin" already exists/, 'including the concurrent add');
for my $marker (sort keys %markers)
{
	unlike($log, qr/\Q$markers{$marker}\E/, "the secret of the $marker path is not in the server log");
}

# ---------------------------------------------------------------------------
# Secrets that are never SQL text.
# ---------------------------------------------------------------------------

# write_secret writes text to a file with mode; returns its path.
sub write_secret
{
	my ($name, $text, $mode) = @_;
	my $path = "$tmp/$name";
	open(my $fh, '>', $path) or die "could not write $path: $!";
	print $fh $text;
	close($fh);
	chmod($mode // 0600, $path) or die "chmod $path: $!";
	return $path;
}

my $key_file = write_secret('s3-secret', "$pairs{file}[1]\n");
my $open_file = write_secret('s3-secret-open', "$pairs{file}[1]\n", 0640);
my %file_options = (endpoint => $s3->endpoint, access_key_id => $pairs{file}[0],
	secret_access_key_file => $key_file);

# Statements below are logged in full (log_statement = all): none holds a secret.
($rc, $out, $err) = psql_as('dba_nofiles', add_call('keyfile', "s3://$bucket/keyfile", \%file_options));
like($err, qr/42501: permission denied to define a storage that uses the server's files/,
	'secret_access_key_file needs pg_read_server_files');
($rc, $out, $err) = psql_as('dba',
	add_call('keyfile', "s3://$bucket/keyfile", { %file_options, secret_access_key_file => $open_file }));
like($err, qr/22023: storage option "secret_access_key_file": ".*" is accessible to other users/,
	'a key file others may read is refused (22023)');
($rc, $out, $err) = psql_as('dba', add_call('keyfile', "s3://$bucket/keyfile", \%file_options));
is($rc, 0, 'an admin with pg_read_server_files adds a storage whose key is in a file') or diag($err);
is($node->safe_psql('postgres', q{SELECT credentials FROM pgbak_storages WHERE name = 'keyfile'}),
	'file', 'pgbak_storages says its credentials come from a file');
my ($id, $status) = s3_backup('keyfile');
is($status, 'succeeded', 'a backup signed with the key from the file succeeds');

# The file is read at every use: a wrong key fails, and is not quoted.
write_secret('s3-secret', "WRONG" . PgbakS3::random_token(30) . "\n");
my $wrong = slurp_file($key_file);
chomp $wrong;
($id, $status) = s3_backup('keyfile');
is($status, 'failed', 'with a wrong key in the file the backup fails');
my $row = backup_row($node, $id);
like($row->{error_message}, qr/SignatureDoesNotMatch|403/, 'on the signature');
write_secret('s3-secret', "$pairs{file}[1]\n");

# The server's credentials, for a storage without its own.
$node->safe_psql('postgres', add_call('server', "s3://$bucket/server", { endpoint => $s3->endpoint }));
my $bogus = write_secret('bogus-credentials',
	"[default]\naws_access_key_id = AKIABOGUS\naws_secret_access_key = bogus\n");

# PostgreSQL itself writes its whole environment to the log when the
# postmaster starts at log_min_messages = debug3 or lower.
{
	local $ENV{PGBAK_TEST_ENVIRONMENT} = 'dumped';
	$node->restart;
}
like(slurp_file($node->logfile), qr/PostmasterMain: initial environment dump:.*PGBAK_TEST_ENVIRONMENT=dumped/s,
	'a postmaster started at debug3 or lower logs its environment');
# So keys in the environment need the postmaster started at debug2 or
# above; the backup below runs at debug5 again.
$node->append_conf('postgresql.conf', "log_min_messages = debug2\n");
{
	# The environment comes before any file.
	local $ENV{AWS_ACCESS_KEY_ID} = $pairs{env}[0];
	local $ENV{AWS_SECRET_ACCESS_KEY} = $pairs{env}[1];
	local $ENV{AWS_SHARED_CREDENTIALS_FILE} = $bogus;
	$node->restart;
}
$node->append_conf('postgresql.conf', "log_min_messages = debug5\n");
$node->reload;
ok(poll_until(30, sub { $node->safe_psql('postgres', 'SHOW log_min_messages') eq 'debug5' }),
	'back at log_min_messages = debug5');
is($node->safe_psql('postgres', q{SELECT credentials FROM pgbak_storages WHERE name = 'server'}),
	'environment', "pgbak_storages says the storage uses the server's credentials");
($id, $status) = s3_backup('server');
is($status, 'succeeded', 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY sign a backup');

my $home = "$tmp/home";
mkdir $home or die "mkdir $home: $!";
mkdir "$home/.aws" or die "mkdir $home/.aws: $!";
open(my $fh, '>', "$home/.aws/credentials") or die "could not write credentials: $!";
print $fh "# aws configure wrote this\n[default]\naws_access_key_id = $pairs{home}[0]\n"
  . "aws_secret_access_key = $pairs{home}[1]\n";
close($fh);
chmod(0600, "$home/.aws/credentials");
{
	local $ENV{HOME} = $home;
	$node->restart;
}
($id, $status) = s3_backup('server');
is($status, 'succeeded', '~/.aws/credentials of the server user signs a backup');

my $named = write_secret('named-credentials',
	"[default]\naws_access_key_id = AKIABOGUS\naws_secret_access_key = bogus\n\n"
	  . "[backup]\naws_access_key_id = $pairs{named}[0]\naws_secret_access_key = $pairs{named}[1]\n");
{
	local $ENV{HOME} = $home;
	local $ENV{AWS_SHARED_CREDENTIALS_FILE} = $named;
	local $ENV{AWS_PROFILE} = 'backup';
	$node->restart;
}
($id, $status) = s3_backup('server');
is($status, 'succeeded', 'AWS_SHARED_CREDENTIALS_FILE with AWS_PROFILE signs a backup');

my $config = write_secret('config',
	"[default]\nregion = us-east-1\n[profile cold]\naws_access_key_id = $pairs{config}[0]\n"
	  . "aws_secret_access_key = $pairs{config}[1]\n");
{
	local $ENV{HOME} = $home;
	local $ENV{AWS_SHARED_CREDENTIALS_FILE} = '/dev/null';
	local $ENV{AWS_CONFIG_FILE} = $config;
	local $ENV{AWS_PROFILE} = 'cold';
	$node->restart;
}
($id, $status) = s3_backup('server');
is($status, 'succeeded', 'a profile of AWS_CONFIG_FILE signs a backup');

{
	local $ENV{HOME} = $home;
	local $ENV{AWS_PROFILE} = 'typo';
	$node->restart;
}
($id, $status) = s3_backup('server');
is($status, 'failed', 'a profile that is nowhere fails the backup');
like(backup_row($node, $id)->{error_message}, qr/AWS profile "typo" \(AWS_PROFILE\)/,
	'and says which profile');
$node->restart;

$log = slurp_file($node->logfile);
my $visible = $node->safe_psql('postgres', q{
  SELECT string_agg(l::text, E'\n') FROM backup_log l
  UNION ALL SELECT string_agg(s::text, E'\n') FROM pgbak_storages s});
for my $way (sort keys %pairs)
{
	unlike($log, qr/\Q$pairs{$way}[1]\E/, "the $way secret is not in the server log");
	unlike($visible, qr/\Q$pairs{$way}[1]\E/, "nor in backup_log or pgbak_storages");
}
unlike($log, qr/\Q$wrong\E/, 'nor the wrong key of the file');

# ---------------------------------------------------------------------------
# NOTIFY: forged notifications, and a queue held by a listener that never
# reads.
# ---------------------------------------------------------------------------

# notifications returns the pgbak payloads a psql session has received.
sub notifications
{
	my ($session) = @_;
	my $text = $session->query('SELECT 1') . "\n" . ($session->{stderr} // '');
	$session->{stderr} = '';
	my @payloads;
	for my $line (split /\n/, $text)
	{
		push @payloads, JSON::PP::decode_json($1)
		  if $line =~ /Asynchronous notification "pgbak" with payload "(.*)" received/;
	}
	return @payloads;
}

# statuses_of lists the statuses announced for operation id.
sub statuses_of
{
	my ($id, @payloads) = @_;
	return [ map { $_->{status} } grep { $_->{id} == $id } @payloads ];
}

# announced returns the statuses a session has received for operation id,
# read up to a fence notification sent now: notifications arrive in commit
# order, so none of id's can still be on its way after the fence.
my $fences = 0;
sub announced
{
	my ($session, $id) = @_;
	my $fence = --$fences;    # no operation has a negative id
	$node->safe_psql('postgres', qq{NOTIFY pgbak, '{"id" : $fence, "status" : "fence"}'});
	my @payloads;
	poll_until(30, sub {
		push @payloads, notifications($session);
		return scalar grep { $_->{id} == $fence } @payloads;
	}) or diag('the fence notification never arrived');
	return statuses_of($id, @payloads);
}

my $watcher = $node->background_psql('postgres', extra_params => [ '-U', 'watcher' ]);
$watcher->set_query_timer_restart;    # a timeout per query, not for the session
$watcher->query_safe('LISTEN pgbak');
($rc, $out, $err) = psql_as('mallory',
	q{NOTIFY pgbak, '{"id" : 999999, "kind" : "backup", "database" : "small", "status" : "succeeded"}'});
is($rc, 0, 'anyone who can connect can NOTIFY pgbak (PostgreSQL has no channel privileges)');
is_deeply(announced($watcher, 999999), ['succeeded'], 'and listeners receive the forgery');
is($watcher->query_safe('SELECT count(*) FROM backup_log WHERE id = 999999'), '0',
	'the row in backup_log tells it apart');

# start_stalled_listener starts a session that listens and then stays idle
# in a transaction, where it reads nothing: the queue's tail stays behind
# it. Returns (harness, \stdin, \stdout, pid).
sub start_stalled_listener
{
	my ($in, $out, $err) = ("LISTEN flood_sink;\nBEGIN;\nSELECT pg_backend_pid();\n", '', '');
	my $harness = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres') ], '<', \$in, '>', \$out, '2>', \$err);
	$harness->pump until $out =~ /^(\d+)$/m;
	return ($harness, \$in, \$out, $1);
}

# flood queues count notifications of one page each (8 kB); returns psql's
# exit code and stderr.
sub flood
{
	my ($batch, $count) = @_;
	my ($stdout, $stderr);
	my $rc = $node->psql('postgres',
		"SELECT count(pg_notify('flood_sink', '$batch:' || g || repeat('x', 7990))) "
		  . "FROM generate_series(1, $count) g",
		stdout => \$stdout, stderr => \$stderr);
	return ($rc, $stderr);
}

sub queue_usage
{
	return $node->safe_psql('postgres', 'SELECT pg_notification_queue_usage()');
}

my ($stalled, $stalled_in, $stalled_out, $stalled_pid) = start_stalled_listener();
my ($flood_rc, $flood_err) = flood(0, 300);
is($flood_rc, 0, '300 pages of notifications queue up behind a stalled listener') or diag($flood_err);
cmp_ok(queue_usage(), '>', 0.0002, 'the queue holds them');

# At the default limit a backlog of 300 pages changes nothing.
my $announced;
($announced, $status) = s3_backup('keyfile');
is($status, 'succeeded', 'a backup succeeds with a backlog in the queue');
is_deeply(announced($watcher, $announced), [qw(queued running succeeded)],
	'and is announced at the default pgbak.notify_queue_limit');

$node->safe_psql('postgres', 'ALTER SYSTEM SET pgbak.notify_queue_limit = 0.0001');
$node->reload;
ok(poll_until(30, sub { $node->safe_psql('postgres', 'SHOW pgbak.notify_queue_limit') eq '0.0001' }),
	'pgbak.notify_queue_limit lowered below the backlog');
my $quiet;
($quiet, $status) = s3_backup('keyfile');
is($status, 'succeeded', 'a backup succeeds with the queue above the limit');
is_deeply(announced($watcher, $quiet), [], 'and is not announced');
$log = slurp_file($node->logfile);
for my $change (qw(queued running succeeded))
{
	like($log, qr/LOG:  pgbak: status change of operation $quiet to $change not announced: the NOTIFY queue is [0-9.]+% full/,
		"the server log says $change was not announced");
}
is($node->safe_psql('postgres', "SELECT status FROM backup_log WHERE id = $quiet"), 'succeeded',
	'backup_log has the status');

# Once the listener reads, the queue empties and announcements resume.
$$stalled_in .= "COMMIT;\n\\q\n";
$stalled->finish;
ok(poll_until(30, sub { queue_usage() == 0 }), 'the queue empties once the listener reads');
my $again;
($again, $status) = s3_backup('keyfile');
is_deeply(announced($watcher, $again), [qw(queued running succeeded)],
	'and status changes are announced again');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET pgbak.notify_queue_limit');
$node->reload;
ok(poll_until(30, sub { $node->safe_psql('postgres', 'SHOW pgbak.notify_queue_limit') eq '0.5' }),
	'pgbak.notify_queue_limit back at its default');

SKIP:
{
	skip 'set PGBAK_TEST_FULL_NOTIFY_QUEUE=1 to fill the 8 GB NOTIFY queue', 6
	  unless $ENV{PGBAK_TEST_FULL_NOTIFY_QUEUE};
	($stalled, $stalled_in, $stalled_out, $stalled_pid) = start_stalled_listener();
	my $batches = 0;
	for my $batch (1 .. 100)
	{
		my ($batch_rc, $batch_err) = flood($batch, 12800);
		$batches++;
		if ($batch_rc != 0)
		{
			like($batch_err, qr/too many notifications in the NOTIFY queue/,
				"the queue is full after $batches batches of 100 MB");
			last;
		}
	}
	($rc, $out, $err) = psql_as('mallory', q{NOTIFY pgbak, 'x'});
	like($err, qr/too many notifications in the NOTIFY queue/, 'PostgreSQL refuses any NOTIFY now');
	my $full;
	($full, $status) = s3_backup('keyfile');
	is($status, 'succeeded', 'a backup queued and run with the queue full succeeds');
	like(slurp_file($node->logfile),
		qr/pgbak: status change of operation $full to succeeded not announced: the NOTIFY queue is [0-9.]+% full/,
		'and its status changes are logged instead');
	$node->safe_psql('postgres', "SELECT pg_terminate_backend($stalled_pid)");
	$stalled->finish;
	my $after;
	($after, $status) = s3_backup('keyfile');
	is_deeply(announced($watcher, $after), [qw(queued running succeeded)],
		'once the listener is gone, status changes are announced again');
	# The other listener (the watcher) reads past the last, refused batch
	# only when a notification is committed after it: the one above.
	ok(poll_until(60, sub { queue_usage() == 0 }), 'and the queue is empty');
}

$watcher->quit;
$node->stop;
$s3->stop;
done_testing();
