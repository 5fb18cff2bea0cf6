# 007_scheduled_verify.pl: a job's "verify" option verifies its backups on
# its own (checksums after each, a restore drill every Nth), and
# backup_status says when the newest backup has gone unverified too long.

use strict;
use warnings;

use PgbakTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_node('verify');
$node->safe_psql('postgres', 'CREATE DATABASE shop');
$node->safe_psql('shop',
	'CREATE TABLE orders (id int PRIMARY KEY, total numeric);'
	  . ' INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(1, 3000) g;');

# An unverified backup makes verification overdue once pgbak.verify_within
# has passed.
my ($first, $status) = run_backup($node, 'shop');
is($status, 'succeeded', 'a manual backup succeeds');
$node->safe_psql('postgres', "ALTER SYSTEM SET pgbak.verify_within = '1s'; SELECT pg_reload_conf()");
ok( poll_until(30,
		sub {
			$node->safe_psql('postgres',
				q{SELECT verification_overdue FROM backup_status WHERE database_name = 'shop'}) eq 't';
		}),
	'an unverified backup older than pgbak.verify_within is flagged');

# A job that verifies: checksums after every backup, a drill every 2nd.
$node->safe_psql('postgres',
	q{SELECT pgbak_schedule('shop-verified', 'shop', '4 seconds', '{"verify": "restore", "verify_every": 2}')});
my $done = poll_until(
	120,
	sub {
		$node->safe_psql('postgres',
			q{SELECT count(*) FROM backup_log WHERE job_name = 'shop-verified' AND kind = 'verify'
			  AND status = 'succeeded'}) >= 2;
	});
ok($done, 'the job queued verifications that succeeded');
$node->safe_psql('postgres', q{SELECT pgbak_unschedule('shop-verified')});
ok( poll_until(120,
		sub {
			$node->safe_psql('postgres',
				q{SELECT count(*) FROM backup_log WHERE job_name = 'shop-verified'
				  AND status IN ('queued', 'running')}) eq '0';
		}),
	'everything the job queued has finished');

my @rows = split /\n/, $node->safe_psql('postgres',
	q{SELECT b.id || '|' || coalesce(b.verify_status, '') || '|' || v.trigger || '|' || (v.options ->> 'deep')
	  FROM backup_log b JOIN backup_log v ON v.source_id = b.id AND v.kind = 'verify'
	  WHERE b.job_name = 'shop-verified' AND b.kind = 'backup' ORDER BY b.id});
ok(@rows >= 2, 'each scheduled backup got a verification') or diag join("\n", @rows);
my @deep = grep { (split /\|/)[3] eq 'true' } @rows;
my @shallow = grep { (split /\|/)[3] eq 'false' } @rows;
ok(@deep >= 1, 'some got a restore drill');
ok(@shallow >= 1, 'the others a checksum verification');
ok(!grep({ (split /\|/)[2] ne 'schedule' } @rows), "the verifications have trigger = 'schedule'");
for my $row (@rows)
{
	my ($id, $verify_status, undef, $deep) = split /\|/, $row;
	is($verify_status, $deep eq 'true' ? 'passed (restore drill)' : 'passed',
		"backup $id carries its verification outcome");
}
is($node->safe_psql('postgres',
		q{SELECT verification_overdue FROM backup_status WHERE database_name = 'shop'}),
	'f', 'a verified newest backup is not overdue');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname LIKE 'pgbak_verify_%'}),
	'0', 'no scratch database is left');

$node->stop;
done_testing();
