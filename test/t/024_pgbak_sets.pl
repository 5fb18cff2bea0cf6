# 024_pgbak_sets.pl: the pgbak command lists the sets of a storage without
# the server: backups of two databases (custom and plain), a set that never
# finished, filters, JSON, --version, and the exit codes of bad usage, of a
# storage options file and of a storage directory that are not there.

use strict;
use warnings;

use IPC::Run ();
use JSON::PP ();
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakTest;

my $node = new_node('pgbaksets');
my $tmp = PostgreSQL::Test::Utils::tempdir;
$node->safe_psql('postgres', 'CREATE DATABASE app; CREATE DATABASE "other db"');
$node->safe_psql('app', 'CREATE TABLE t (x int); INSERT INTO t SELECT generate_series(1, 100)');
my $cluster = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');

# pgbak runs the installed program (found in PATH, next to pg_dump).
sub pgbak
{
	my (@args) = @_;
	my ($out, $err);
	IPC::Run::run([ 'pgbak', @args ], '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

my $local = $node->safe_psql('postgres', 'SELECT pgbak_local_path()');
my $app = queue_backup($node, 'app');
is(wait_backup($node, $app), 'succeeded', 'a backup of app');
my $other = queue_backup($node, 'other db', '{"format": "plain"}');
is(wait_backup($node, $other), 'succeeded', 'a plain backup of "other db"');
# A set that never finished: objects, no manifest.
my $unfinished = "$local/$cluster/app/20260101T000000Z-999";
make_path($unfinished);
PostgreSQL::Test::Utils::append_to_file("$unfinished/data.dump.zst", 'partial');

my ($rc, $out, $err) = pgbak('sets', '--storage', "file://$local", '--json');
is($rc, 0, 'pgbak sets exits 0') or diag $err;
my $sets = JSON::PP->new->decode($out);
is(scalar(@$sets), 3, 'it lists the three set directories');
my ($incomplete) = grep { !$_->{complete} } @$sets;
is($incomplete->{directory_id}, 999, 'the unfinished one');
is($incomplete->{problem}, 'no manifest.json: the backup did not finish', 'as incomplete');
ok(!defined $incomplete->{backup_id}, 'never as a backup');
my ($app_set) = grep { $_->{complete} && $_->{database} eq 'app' } @$sets;
is($app_set->{backup_id}, $app, 'app\'s set carries its backup id');
is($app_set->{cluster}, $cluster, 'and the cluster\'s system identifier');
is($app_set->{format}, 'custom', 'and its format');
is($app_set->{stored_bytes}, backup_row($node, $app)->{stored_bytes}
	  + backup_row($node, $app)->{globals_bytes}, 'and its stored size');
is($app_set->{location}, backup_row($node, $app)->{location}, 'at the location backup_log has');
my ($other_set) = grep { $_->{complete} && $_->{database} eq 'other db' } @$sets;
is($other_set->{format}, 'plain', '"other db" is listed by its name, plain');

($rc, $out) = pgbak('sets', '--storage', "file://$local", '--database', 'other db', '--json');
is($rc, 0, 'with --database it exits 0');
is(scalar(@{ JSON::PP->new->decode($out) }), 1, '--database keeps that database\'s sets');
($rc, $out) = pgbak('sets', '--storage', "file://$local", '--cluster', '1', '--json');
is($rc, 0, 'with --cluster too');
is_deeply(JSON::PP->new->decode($out), [], '--cluster of another cluster lists none');
($rc, $out) = pgbak('sets', '--storage', "file://$local");
is($rc, 0, 'as a table');
like($out, qr/INCOMPLETE/, 'the table marks the unfinished set');
like($out, qr/\Q$local\E\/\Q$cluster\E\/app\/\d{8}T\d{6}Z-$app\n/, 'and shows each location');

($rc, $out, $err) = pgbak('sets');
is($rc, 2, 'a command line without --storage exits 2');
like($err, qr/^pgbak: pgbak sets needs --storage URL$/m, 'saying what is missing');
($rc, $out, $err) = pgbak('frobnicate', '--storage', 'file:///x');
is($rc, 2, 'an unknown command exits 2');
($rc, $out, $err) =
  pgbak('sets', '--storage', 's3://bucket', '--storage-options', "$tmp/missing.json");
is($rc, 3, 'a storage options file that is not there exits 3');
like($err, qr/could not read storage options file/, 'and says so');
($rc, $out, $err) = pgbak('sets', '--storage', "file://$tmp/no-such-dir");
is($rc, 3, 'a storage directory that is not there exits 3');
like($err, qr/storage directory ".*no-such-dir" does not exist/, 'and says so');
($rc, $out) = pgbak('--version');
like($out, qr/^pgbak \(pgbak_ext\) \d+\.\d+$/m, 'pgbak --version names the version');
($rc, $out, $err) = pgbak('--help');
is($rc, 0, 'pgbak --help exits 0');
like($out, qr/Exit codes: 0 ok, 1 failure, 2 bad usage, 3 not found, 4 checksum mismatch,/,
	'and documents the exit codes');

$node->stop;
done_testing();
