# 003_schedule.pl: scheduled backups happen on time, never overlap, keep
# only what retention says, stop when unscheduled and survive a restart.

use strict;
use warnings;

use PgbakTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = new_node('sched');
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app',
	'CREATE TABLE items (id int PRIMARY KEY, note text);'
	  . " INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 2000) g;");

# job_rows($job) returns the job's backup_log rows, oldest first, as
# hashrefs with epoch timestamps.
sub job_rows
{
	my ($job) = @_;
	my $out = $node->safe_psql('postgres',
		qq{SELECT id, status, trigger, coalesce(location, ''),
		          extract(epoch FROM queued_at), coalesce(error_message, '')
		   FROM backup_log WHERE job_name = '$job' ORDER BY id});
	my @rows;
	for my $line (split /\n/, $out)
	{
		my ($id, $status, $trigger, $location, $queued, $error) = split /\|/, $line, 6;
		push @rows,
		  {
			id => $id,
			status => $status,
			trigger => $trigger,
			location => $location,
			queued => $queued,
			error => $error
		  };
	}
	return @rows;
}

# count_status($job, $status) counts the job's rows in a status.
sub count_status
{
	my ($job, $status) = @_;
	return scalar grep { $_->{status} eq $status } job_rows($job);
}

# wait_job_idle($job) waits until the job has no queued or running row.
sub wait_job_idle
{
	my ($job) = @_;
	return poll_until(120,
		sub {
			!grep { $_->{status} =~ /^(queued|running)$/ } job_rows($job);
		});
}

# --- A '5 seconds' job with keep_last = 2 --------------------------------

my $job_id = $node->safe_psql('postgres',
	q{SELECT pgbak_schedule('every5', 'app', '5 seconds', '{"keep_last": 2}')});
ok($job_id > 0, 'pgbak_schedule returns a job id');
is($node->safe_psql('postgres',
		q{SELECT next_run_at > now() AND next_run_at <= now() + interval '6 seconds' FROM pgbak_jobs WHERE job_name = 'every5'}),
	't', 'the next run is due within the interval');

# One snapshot of the rows: two queries could count a backup twice, as
# succeeded in the first and expired (by retention, meanwhile) in the
# second.
ok( poll_until(
		120,
		sub {
			scalar(grep { $_->{status} =~ /^(succeeded|expired)$/ } job_rows('every5')) >= 4;
		}),
	'the job produced four backups');

my @rows = grep { $_->{status} =~ /^(succeeded|expired)$/ } job_rows('every5');
is(scalar(grep { $_->{trigger} ne 'schedule' } @rows), 0, "every run has trigger = 'schedule'");
my @gaps = map { $rows[$_]->{queued} - $rows[ $_ - 1 ]->{queued} } 1 .. $#rows;
ok(!grep({ $_ < 4.5 } @gaps), 'runs are not queued more often than every 5 seconds')
  or diag("gaps: @gaps");
ok(!grep({ $_ > 15 } @gaps), 'runs follow each other on schedule')
  or diag("gaps: @gaps");
is($node->safe_psql('postgres',
		q{SELECT last_run_id = (SELECT max(id) FROM backup_log WHERE job_name = 'every5') FROM pgbak_jobs WHERE job_name = 'every5'}),
	't', 'pgbak_jobs shows the last run');

# --- Unschedule stops it; retention leaves exactly two sets ---------------

is($node->safe_psql('postgres', q{SELECT pgbak_unschedule('every5')}), 't', 'pgbak_unschedule returns true');
ok(wait_job_idle('every5'), 'the run in progress finishes');
my $max_id = $node->safe_psql('postgres', q{SELECT max(id) FROM backup_log WHERE job_name = 'every5'});

@rows = job_rows('every5');
my @kept = grep { $_->{status} eq 'succeeded' } @rows;
my @expired = grep { $_->{status} eq 'expired' } @rows;
is(scalar @kept, 2, 'keep_last = 2 leaves exactly two succeeded backups');
ok(scalar @expired >= 2, 'the older backups are expired');
my @newest = (sort { $b->{id} <=> $a->{id} } grep { $_->{status} =~ /^(succeeded|expired)$/ } @rows)[ 0, 1 ];
is_deeply([ sort map { $_->{id} } @kept ], [ sort map { $_->{id} } @newest ], 'the two kept are the two newest');
for my $row (@kept)
{
	ok(-f "$row->{location}/manifest.json", "kept set $row->{id} is complete on disk");
}
for my $row (@expired)
{
	ok(!-e $row->{location}, "expired set $row->{id} is gone from disk");
}
# The storage holds exactly the two kept sets of this database.
my ($some_location) = map { $_->{location} } @kept;
(my $db_dir = $some_location) =~ s{/[^/]+$}{};
opendir(my $dh, $db_dir) or die "cannot open $db_dir: $!";
my @sets = grep { !/^\./ } readdir $dh;
closedir $dh;
is(scalar @sets, 2, 'exactly two set directories remain on disk');

# Nothing fires once unscheduled (two intervals and more pass).
my $deadline = time + 12;
usleep(200_000) while time < $deadline;
is($node->safe_psql('postgres', q{SELECT count(*) FROM backup_log WHERE job_name = 'every5' AND id > } . $max_id),
	'0', 'no run after pgbak_unschedule');

# pgbak_prune now has nothing left to do for this job (its job is gone).
is($node->safe_psql('postgres', q{SELECT count(*) FROM pgbak_prune()}), '0', 'nothing left to prune');

# --- A run that is still running makes the next one a recorded skip -------

my $session = $node->background_psql('app');
$session->query_safe('BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE;');
$node->safe_psql('postgres', q{SELECT pgbak_schedule('blocked', 'app', '5 seconds')});
ok(poll_until(60, sub { count_status('blocked', 'skipped') >= 1 }),
	'a run due while the previous one is blocked is recorded as skipped');
my ($skip) = grep { $_->{status} eq 'skipped' } job_rows('blocked');
like($skip->{error}, qr/skipped: the previous run \(id \d+\) was still/, 'the skip says why');
is(count_status('blocked', 'running'), 1, 'only one run of the job is running');
$node->safe_psql('postgres', q{SELECT pgbak_unschedule('blocked')});
$session->query_safe('COMMIT;');
$session->quit;
ok(wait_job_idle('blocked'), 'the blocked run finishes once the lock is gone');
is(count_status('blocked', 'succeeded'), 1, 'and succeeds');

# --- A restart resumes schedules, with at most one catch-up run -----------

$node->safe_psql('postgres', q{SELECT pgbak_schedule('survivor', 'app', '5 seconds')});
ok(poll_until(60, sub { count_status('survivor', 'succeeded') >= 1 }), 'the job runs before the restart');
$node->stop('fast');
# Stay down for more than two intervals, so that runs are missed.
$deadline = time + 12;
usleep(200_000) while time < $deadline;
my $restarted_at = time;
$node->start;
ok( poll_until(90,
		sub {
			grep { $_->{status} eq 'succeeded' && $_->{queued} > $restarted_at } job_rows('survivor');
		}),
	'the schedule resumes after a restart');
my @after = grep { $_->{queued} > $restarted_at && $_->{queued} < $restarted_at + 4 } job_rows('survivor');
ok(scalar @after <= 1, 'missed runs are not replayed in a burst') or diag(scalar(@after) . ' runs');
$node->safe_psql('postgres', q{SELECT pgbak_unschedule('survivor')});
ok(wait_job_idle('survivor'), 'the last run finishes');

is($node->safe_psql('postgres', q{SELECT count(*) FROM backup_log WHERE status IN ('queued', 'running')}),
	'0', 'nothing is left queued or running');

$node->stop;
done_testing();
