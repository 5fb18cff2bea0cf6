# 010_security.pl: least privilege and secrets, with real logins.
#
# Roles: a monitor login cannot start backups, read secrets or see other
# owners' rows; an operator cannot add storages; a plain database owner
# backs up its own database and not another's. Secrets: during and after a
# backup to S3 with a marker secret, the secret appears nowhere in
# backup_log, the server log (at debug level), pg_stat_activity, or the
# argv and titles of processes (ps) captured while the backup runs. A
# least-privilege dump role (pg_read_all_data) takes a restorable backup.

use strict;
use warnings;

use IPC::Run ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use PgbakS3;
use PgbakTest;

my $s3 = start_s3(name => 'security');
my $node = new_node('security', log_min_messages => 'debug1');
my $tmp = PostgreSQL::Test::Utils::tempdir;

$node->safe_psql('postgres', q{
  CREATE ROLE mon LOGIN IN ROLE pgbak_monitor;
  CREATE ROLE ops LOGIN IN ROLE pgbak_operator;
  CREATE ROLE alice LOGIN;
  CREATE ROLE bob LOGIN;
  CREATE DATABASE alicedb OWNER alice;
  CREATE DATABASE bobdb OWNER bob;
});
for my $db ('alicedb', 'bobdb')
{
	$node->safe_psql($db, qq{
	  CREATE TABLE t (id int PRIMARY KEY, note text);
	  INSERT INTO t SELECT g, 'row ' || g || ' of $db' FROM generate_series(1, 5000) g;
	});
}

# psql_as runs SQL as a login; returns (exit code, stdout, stderr).
sub psql_as
{
	my ($user, $sql) = @_;
	my ($stdout, $stderr);
	my $rc = $node->psql('postgres', $sql,
		stdout => \$stdout, stderr => \$stderr,
		connstr => $node->connstr('postgres') . " user=$user");
	return ($rc, $stdout, $stderr);
}

# ---------------------------------------------------------------------------
# Roles, with real logins.
# ---------------------------------------------------------------------------
my ($rc, $out, $err) = psql_as('alice', q{SELECT pgbak_run('alicedb')});
is($rc, 0, 'the owner of a database backs it up without any role') or diag($err);
my $alice_backup = $out;
($rc, $out, $err) = psql_as('alice', "SELECT pgbak_wait($alice_backup, 120)");
is($out, 'succeeded', 'and follows its backup to the end');
($rc, $out, $err) = psql_as('alice', q{SELECT pgbak_run('bobdb')});
isnt($rc, 0, 'the owner of one database cannot back up another');
like($err, qr/permission denied to back up/, 'with a permission error');

($rc, $out, $err) = psql_as('bob', q{SELECT pgbak_run('bobdb')});
my $bob_backup = $out;
like($bob_backup, qr/^\d+$/, 'another owner backs up its own database') or diag($err);
($rc, $out, $err) = psql_as('bob', "SELECT pgbak_wait($bob_backup, 120)");
is($out, 'succeeded', 'and it succeeds');
($rc, $out, $err) = psql_as('alice', q{SELECT string_agg(DISTINCT database_name, ',') FROM backup_log});
is($out, 'alicedb', "an owner sees only its own databases' rows");
($rc, $out, $err) = psql_as('alice', "SELECT pgbak_cancel($bob_backup)");
like($err, qr/permission denied to cancel operation $bob_backup/,
	"an owner cannot cancel another owner's operations");

($rc, $out, $err) = psql_as('mon', q{SELECT pgbak_run('alicedb')});
isnt($rc, 0, 'a monitor cannot start backups');
like($err, qr/permission denied/, 'monitor: permission denied');
($rc, $out, $err) = psql_as('mon', q{SELECT count(*) FROM backup_log});
cmp_ok($out, '>=', 2, 'a monitor sees every row');
($rc, $out, $err) = psql_as('mon', q{SELECT * FROM pgbak_storage_secret});
like($err, qr/permission denied for table pgbak_storage_secret/, 'a monitor cannot read secrets');

($rc, $out, $err) = psql_as('ops',
	q{SELECT pgbak_storage_add('x', 's3://some-bucket', '{"access_key_id": "A", "secret_access_key": "B"}')});
like($err, qr/permission denied for function pgbak_storage_add/, 'an operator cannot add storages');
($rc, $out, $err) = psql_as('ops', q{SELECT pgbak_run('bobdb')});
($rc, $out, $err) = psql_as('ops', "SELECT pgbak_wait($out, 120)");
is($out, 'succeeded', 'an operator backs up any database') or diag($err);

# ---------------------------------------------------------------------------
# Secrets: a backup to S3 with a marker secret, watched from outside.
# ---------------------------------------------------------------------------
my $secret = $s3->secret;
like($secret, qr/^\S{16,}$/, 'the stack has a random secret to look for');
$node->safe_psql('postgres',
	"SET log_statement = 'none';\n"
	  . 'SELECT pgbak_storage_add('
	  . quote_literal('vault') . ', '
	  . quote_literal('s3://' . $s3->bucket . '/security') . ', '
	  . quote_literal(JSON::PP->new->encode({
			endpoint => $s3->endpoint, access_key_id => $s3->access_key,
			secret_access_key => $secret, part_size => 5242880,
			max_upload_rate => 1048576 })) . ')');
$node->safe_psql('alicedb',
	q{INSERT INTO t SELECT g, md5(g::text) || md5(random()::text) FROM generate_series(5001, 200000) g});

my $id = $node->safe_psql('postgres', q{SELECT pgbak_run('alicedb', 'vault')});
my ($ps_seen, $activity_seen, $samples) = ('', '', 0);
for (1 .. 600)
{
	my $ps = '';
	IPC::Run::run([ 'ps', '-eo', 'pid,args' ], '>', \$ps);
	$ps_seen .= $ps;
	$activity_seen .= $node->safe_psql('postgres',
		q{SELECT string_agg(coalesce(query, '') || ' ' || coalesce(application_name, ''), E'\n')
		  FROM pg_stat_activity});
	$samples++;
	my $status = $node->safe_psql('postgres', "SELECT status FROM backup_log WHERE id = $id");
	last if $status ne 'queued' && $status ne 'running';
	usleep(100_000);
}
is(wait_backup($node, $id, 120), 'succeeded', 'the backup to S3 succeeds');
cmp_ok($samples, '>=', 3, "ps and pg_stat_activity sampled $samples times during the run");
like($ps_seen, qr/pgbak worker for operation $id/, 'the samples caught the worker');
unlike($ps_seen, qr/\Q$secret\E/, 'the secret is in no argv or process title');
unlike($activity_seen, qr/\Q$secret\E/, 'the secret is nowhere in pg_stat_activity');
my $log_rows = $node->safe_psql('postgres', q{SELECT string_agg(l::text, E'\n') FROM backup_log l});
unlike($log_rows, qr/\Q$secret\E/, 'the secret is nowhere in backup_log');
unlike(slurp_file($node->logfile), qr/\Q$secret\E/,
	'the secret is nowhere in the server log (log_min_messages = debug1)');

# ---------------------------------------------------------------------------
# A least-privilege dump role.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', q{CREATE ROLE pgbak_dump LOGIN IN ROLE pg_read_all_data});
$node->append_conf('postgresql.conf', "pgbak.dump_role = 'pgbak_dump'\n");
$node->reload;
my ($dump_id, $dump_status) = run_backup($node, 'bobdb');
is($dump_status, 'succeeded', 'a pg_read_all_data dump role takes a backup');
my $row = backup_row($node, $dump_id);
decompress_file("$row->{location}/globals.sql.zst", "$tmp/globals.sql");
my $globals = slurp_file("$tmp/globals.sql");
like($globals, qr/CREATE ROLE alice;/, 'its globals hold the roles');
unlike($globals, qr/PASSWORD 'SCRAM|PASSWORD 'md5/, 'without passwords');
decompress_file("$row->{location}/data.dump.zst", "$tmp/bob.dump");
$node->safe_psql('postgres', 'CREATE DATABASE bob_copy');
my ($ok, $restore_err) = restore_custom($node, 'bob_copy', "$tmp/bob.dump");
ok($ok, 'and it restores') or diag($restore_err);
is_deeply(table_fingerprints($node, 'bob_copy'), table_fingerprints($node, 'bobdb'),
	'with the same contents');

$node->stop;
$s3->stop;
done_testing();
