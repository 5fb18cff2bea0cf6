# PgbakTest.pm: shared helpers of the pgbak_ext TAP tests.
#
# Nodes are PostgreSQL::Test::Cluster instances with pgbak_ext preloaded and
# the extension created in postgres. Backups are read back only with stock
# tools (zstd, sha256sum, pg_restore, psql), never with the extension itself,
# so the tests check what a user restoring by hand would get.

package PgbakTest;

use strict;
use warnings;

use Exporter 'import';
use File::Basename qw(dirname);
use File::Spec;
use File::Temp ();
use IO::Socket::INET;
use IPC::Run ();
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

our @EXPORT = qw(
  new_node plain_node quote_literal quote_ident
  queue_backup wait_backup run_backup backup_row backup_files set_leftovers
  read_manifest table_fingerprints user_tables sha256_of_file decompress_file
  restore_custom restore_plain run_psql_file
  poll_until wait_for_status wait_for_running children_of process_alive
  pgbak_sessions webhook_receiver age_keygen readme_block run_readme_block storage_add
  wal_segments
);

# Cluster->init runs "$PG_REGRESS --config-auth"; scripts/run-tests.sh sets
# it, and a by-hand prove run finds it next to the PGXS makefile.
if (!$ENV{PG_REGRESS})
{
	my $pgxs = `pg_config --pgxs`;
	chomp $pgxs;
	my $candidate = $pgxs;
	$candidate =~ s{/src/makefiles/pgxs\.mk$}{/src/test/regress/pg_regress};
	$ENV{PG_REGRESS} = $candidate if -x $candidate;
}

# Every node uses UTF8 so that names and text with non-ASCII letters survive.
my @INITDB_EXTRA = ('--encoding=UTF8', '--locale=C');

# age_keygen($file) makes an age identity with the stock age-keygen, mode
# 0600, and returns its recipient (the public key on its comment line).
sub age_keygen
{
	my ($file) = @_;
	my ($out, $err);
	IPC::Run::run([ 'age-keygen', '-o', $file ], '>', \$out, '2>', \$err)
	  or die "age-keygen failed: $err";
	chmod 0600, $file;
	my ($recipient) = slurp_file($file) =~ /public key: (age1[0-9a-z]+)/;
	die "no public key in $file" unless $recipient;
	return $recipient;
}

# readme_block($heading) returns the first ```sh block of the README
# section whose heading line is $heading (e.g. "## Restore by hand"), and
# the README line number of its first line; a block of a later section is
# never taken for it. Returns () if there is none.
sub readme_block
{
	my ($heading) = @_;
	my $readme =
	  defined $ENV{PGBAK_SOURCE_DIR} && $ENV{PGBAK_SOURCE_DIR} ne ''
	  ? "$ENV{PGBAK_SOURCE_DIR}/README.md"
	  : File::Spec->rel2abs(dirname(__FILE__) . '/../../README.md');
	my @lines = split /\n/, slurp_file($readme), -1;
	my ($level) = $heading =~ /^(#+) /;
	my ($in_section, $first, @block) = (0);
	for my $i (0 .. $#lines)
	{
		my $line = $lines[$i];
		if (!$in_section)
		{
			$in_section = 1 if $line =~ /^\Q$heading\E\s*$/;
			next;
		}
		if (!defined $first)
		{
			# The next section at this level or above: no block.
			return () if $line =~ /^#{1,${\ length($level)}} /;
			$first = $i + 2 if $line =~ /^```sh\s*$/;    # 1-based, after the fence
			next;
		}
		return (join("\n", @block) . "\n", $first) if $line =~ /^```\s*$/;
		push @block, $line;
	}
	return ();
}

# run_readme_block($script_file, $first_line, $env, $timeout) runs a README
# block saved in $script_file with bash -e -o pipefail, with %$env added to
# the environment (an undef value removes that variable; libpq's variables
# that would steer it elsewhere are removed); an ERR trap names the README line of the command that failed.
# Returns ($ok, $stdout, $stderr, $failure).
sub run_readme_block
{
	my ($script_file, $first_line, $env, $timeout) = @_;
	my $wrapper =
	    q{trap 'echo "README.md line $((LINENO + }
	  . ($first_line - 1)
	  . q{)): exit status $?: $BASH_COMMAND" >&3' ERR; . "$1"};
	my ($out, $err, $failure) = ('', '', '');
	local %ENV = %ENV;
	delete $ENV{$_} for qw(PGDATABASE PGSERVICE PGOPTIONS PGPASSWORD PGHOSTADDR);
	defined $env->{$_} ? ($ENV{$_} = $env->{$_}) : delete $ENV{$_} for keys %$env;
	my $ok = IPC::Run::run(
		[ 'bash', '-e', '-o', 'pipefail', '-c', $wrapper, 'bash', $script_file ],
		'<', \'', '>', \$out, '2>', \$err, '3>', \$failure,
		IPC::Run::timeout($timeout // 120));
	return ($ok, $out, $err, $failure);
}

# quote_literal renders a Perl string as an SQL string literal
# (standard_conforming_strings is on in every supported server).
sub quote_literal
{
	my ($text) = @_;
	$text =~ s/'/''/g;
	return "'$text'";
}

# quote_ident renders a Perl string as a quoted SQL identifier.
sub quote_ident
{
	my ($name) = @_;
	$name =~ s/"/""/g;
	return "\"$name\"";
}

# plain_node($name) inits and starts a node without pgbak_ext.
sub plain_node
{
	my ($name) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(extra => [@INITDB_EXTRA]);
	$node->start;
	return $node;
}

# new_node($name, %extra_conf) inits a node with pgbak_ext preloaded, sets
# the extra postgresql.conf parameters, starts it and creates the extension
# in postgres.
sub new_node
{
	my ($name, %extra_conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(extra => [@INITDB_EXTRA]);
	my %conf = (
		shared_preload_libraries => "'pgbak_ext'",
		'pgbak.database' => "'postgres'",
		max_worker_processes => 16,
		'pgbak.zstd_threads' => 1,
		%extra_conf);
	$node->append_conf('postgresql.conf',
		join('', map { "$_ = $conf{$_}\n" } sort keys %conf));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION pgbak_ext');
	return $node;
}

# storage_add($node, $name, $url, %options) defines a storage, with the
# statement kept out of the server log (log_statement = 'none' for the
# call, as the README says to do when options hold a secret).
sub storage_add
{
	my ($node, $name, $url, %options) = @_;
	$node->safe_psql('postgres',
		    "SET log_statement = 'none';\n"
		  . 'SELECT pgbak_storage_add('
		  . quote_literal($name) . ', '
		  . quote_literal($url) . ', '
		  . quote_literal(JSON::PP->new->canonical->encode(\%options)) . ')');
}

# queue_backup($node, $db, $options_json) queues a backup and returns its id.
sub queue_backup
{
	my ($node, $db, $options) = @_;
	$options = '{}' unless defined $options;
	return $node->safe_psql('postgres',
		    'SELECT pgbak_run('
		  . quote_literal($db)
		  . ", 'local', "
		  . quote_literal($options)
		  . '::jsonb)');
}

# wait_backup($node, $id, $timeout_s) waits in a later transaction and
# returns the final status.
sub wait_backup
{
	my ($node, $id, $timeout) = @_;
	$timeout = 120 unless defined $timeout;
	return $node->safe_psql('postgres', "SELECT pgbak_wait($id, $timeout)");
}

# run_backup($node, $db, $options_json) -> ($id, $status): queue, then wait.
sub run_backup
{
	my ($node, $db, $options, $timeout) = @_;
	my $id = queue_backup($node, $db, $options);
	my $status = wait_backup($node, $id, $timeout);
	return wantarray ? ($id, $status) : $id;
}

# backup_row($node, $id) returns the backup_log row as a hashref (NULL is
# undef; timestamps as epoch seconds in *_epoch keys too).
sub backup_row
{
	my ($node, $id) = @_;
	my $json = $node->safe_psql('postgres',
		qq{SELECT row_to_json(r)::text FROM (
		     SELECT l.*,
		            extract(epoch FROM l.queued_at) AS queued_epoch,
		            extract(epoch FROM l.started_at) AS started_epoch,
		            extract(epoch FROM l.finished_at) AS finished_epoch
		     FROM backup_log l WHERE id = $id) r});
	return undef if $json eq '';
	return JSON::PP->new->utf8(0)->decode($json);
}

# backup_files($row) lists the names in the set directory of a row, or an
# empty list if the directory does not exist.
sub backup_files
{
	my ($location) = @_;
	return () unless defined $location && -d $location;
	opendir(my $dh, $location) or die "could not open $location: $!";
	my @names = sort grep { $_ ne '.' && $_ ne '..' } readdir($dh);
	closedir($dh);
	return @names;
}

# set_leftovers($location) is a description of what remains of a set that
# should be gone: '' if the directory is absent or empty.
sub set_leftovers
{
	my ($location) = @_;
	return 'no location recorded' unless defined $location && $location ne '';
	my @names = backup_files($location);
	return join(', ', @names);
}

# read_manifest($location) parses manifest.json with JSON::PP.
sub read_manifest
{
	my ($location) = @_;
	my $text = slurp_file("$location/manifest.json");
	return JSON::PP->new->utf8->decode($text);
}

# sha256_of_file runs the stock sha256sum.
sub sha256_of_file
{
	my ($path) = @_;
	my ($out, $err);
	IPC::Run::run([ 'sha256sum', '--', $path ], '>', \$out, '2>', \$err)
	  or die "sha256sum $path failed: $err";
	my ($hex) = split /\s+/, $out;
	return $hex;
}

# decompress_file($zst, $out) runs zstd -dc $zst > $out and returns the
# size of the output.
sub decompress_file
{
	my ($zst, $out) = @_;
	my $err;
	IPC::Run::run([ 'zstd', '-q', '-dc', '--', $zst ], '>', $out, '2>', \$err)
	  or die "zstd -dc $zst failed: $err";
	return -s $out;
}

# run_psql_file($node, $db, $file, %opts) runs psql -f on a node; returns
# (exit code, stdout, stderr).
sub run_psql_file
{
	my ($node, $db, $file, %opts) = @_;
	my @cmd = ('psql', '-X', '-q', '-d', $node->connstr($db));
	push @cmd, '-v', 'ON_ERROR_STOP=1' if $opts{on_error_stop};
	push @cmd, '-f', $file;
	my ($out, $err) = ('', '');
	local %ENV = %ENV;
	$ENV{PGHOST} = $node->host;
	$ENV{PGPORT} = $node->port;
	IPC::Run::run(\@cmd, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

# restore_custom($node, $db, $dump_file): pg_restore --exit-on-error into
# an existing database; returns (ok, stderr).
sub restore_custom
{
	my ($node, $db, $file, @extra) = @_;
	my ($out, $err) = ('', '');
	local %ENV = %ENV;
	$ENV{PGHOST} = $node->host;
	$ENV{PGPORT} = $node->port;
	my $ok = IPC::Run::run(
		[
			'pg_restore', '--exit-on-error', '--no-password',
			'-d', $node->connstr($db), @extra, $file
		],
		'>', \$out, '2>', \$err);
	return ($ok, $err);
}

# restore_plain($node, $db, $sql_file): psql -v ON_ERROR_STOP=1 -f.
sub restore_plain
{
	my ($node, $db, $file) = @_;
	my ($rc, $out, $err) = run_psql_file($node, $db, $file, on_error_stop => 1);
	return ($rc == 0, $err);
}

# user_tables($node, $db) lists "schema.table" => relkind of every table
# and partitioned table outside the system schemas.
sub user_tables
{
	my ($node, $db) = @_;
	my $out = $node->safe_psql($db,
		q{SELECT n.nspname || '.' || c.relname, c.relkind
		  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		  WHERE c.relkind IN ('r', 'p')
		    AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
		  ORDER BY 1},
		extra_params => [ '-F', "\t" ]);
	my %tables;
	for my $line (split /\n/, $out)
	{
		my ($name, $kind) = split /\t/, $line;
		$tables{$name} = $kind;
	}
	return \%tables;
}

# table_fingerprints($node, $db) maps "schema.table" of every user table
# (leaf and partitioned) to "<count>:<md5 of all rows as jsonb text, sorted>"
# (jsonb orders keys by name: a restored table whose columns come in
# another order, an inheritance child, prints the same).
sub table_fingerprints
{
	my ($node, $db, $role) = @_;
	# As $role if given (a table whose index predicates run its owner's code).
	my $as = defined $role ? "SET ROLE \"$role\";\n" : '';
	my $list = $node->safe_psql($db,
		q{SELECT format('SELECT %L, count(*) || '':'' || '
		         'md5(coalesce(string_agg(to_jsonb(t)::text, E''\n'' '
		         'ORDER BY to_jsonb(t)::text), '''')) '
		         'FROM %I.%I t', n.nspname || '.' || c.relname, n.nspname, c.relname)
		  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		  WHERE c.relkind IN ('r', 'p')
		    AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
		  ORDER BY n.nspname, c.relname});
	my %prints;
	return \%prints if $list eq '';
	my $sql = join("\nUNION ALL\n", split(/\n/, $list));
	my $out = $node->safe_psql($db, $as . $sql, extra_params => [ '-F', "\t" ]);
	for my $line (split /\n/, $out)
	{
		my ($name, $print) = split /\t/, $line;
		$prints{$name} = $print;
	}
	return \%prints;
}

# poll_until($timeout_s, $sub) calls $sub every 0.1 s until it returns true;
# returns its last value.
sub poll_until
{
	my ($timeout, $check) = @_;
	my $deadline = time() + $timeout;
	while (1)
	{
		my $value = eval { $check->() };
		return $value if $value;
		return $value if time() >= $deadline;
		usleep(100_000);
	}
}

# wait_for_status($node, $id, $regex, $timeout) polls backup_log until the
# status of $id matches; returns the status seen last.
sub wait_for_status
{
	my ($node, $id, $want, $timeout) = @_;
	$timeout = 60 unless defined $timeout;
	my $status = '';
	poll_until(
		$timeout,
		sub {
			$status = $node->safe_psql('postgres',
				"SELECT status FROM backup_log WHERE id = $id");
			return $status =~ $want;
		});
	return $status;
}

# wait_for_running($node, $id, $timeout) waits until $id is running and
# listed in backup_progress; returns the worker pid (undef on timeout).
sub wait_for_running
{
	my ($node, $id, $timeout) = @_;
	$timeout = 60 unless defined $timeout;
	my $pid;
	poll_until(
		$timeout,
		sub {
			$pid = $node->safe_psql('postgres',
				qq{SELECT p.pid FROM backup_progress p JOIN backup_log l USING (id)
				   WHERE id = $id AND l.status = 'running'});
			return $pid ne '';
		});
	return $pid eq '' ? undef : $pid;
}

# children_of($pid) lists [pid, command name] of the live child processes
# of a process, from /proc.
sub children_of
{
	my ($parent) = @_;
	my @children;
	opendir(my $dh, '/proc') or die "no /proc: $!";
	for my $pid (grep { /^\d+$/ } readdir($dh))
	{
		open(my $fh, '<', "/proc/$pid/stat") or next;
		my $stat = <$fh>;
		close($fh);
		next unless defined $stat && $stat =~ /^\d+ \((.*)\) (\S) (\d+) /s;
		my ($comm, $state, $ppid) = ($1, $2, $3);
		push @children, [ $pid, $comm ] if $ppid == $parent && $state ne 'Z';
	}
	closedir($dh);
	return @children;
}

# process_alive($pid) is true if the process exists and is not a zombie.
sub process_alive
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return 0;
	my $stat = <$fh>;
	close($fh);
	return 0 unless defined $stat && $stat =~ /^\d+ \(.*\) (\S) /s;
	return $1 ne 'Z';
}

# pgbak_sessions($node, $db) lists "pid query" of the sessions the
# extension opened to a database (pg_dump and its snapshot session).
sub pgbak_sessions
{
	my ($node, $db) = @_;
	return $node->safe_psql('postgres',
		q{SELECT pid || ' ' || coalesce(left(query, 60), '') FROM pg_stat_activity
		  WHERE application_name = 'pgbak_ext' AND datname = }
		  . quote_literal($db)
		  . ' ORDER BY pid');
}

# webhook_receiver($file) forks a receiver on a free loopback port that
# answers every request 200 and appends its body, one line each, to $file;
# returns ($pid, $port). Kill the pid when done.
sub webhook_receiver
{
	my ($file) = @_;
	my $server = IO::Socket::INET->new(
		LocalAddr => '127.0.0.1',
		LocalPort => 0,
		Listen => 5,
		ReuseAddr => 1) or die "cannot listen: $!";
	my $port = $server->sockport;
	my $pid = fork();
	die "fork failed: $!" unless defined $pid;
	if ($pid == 0)
	{
		while (my $client = $server->accept)
		{
			my ($length, $line) = (0, '');
			while (defined($line = <$client>) && $line ne "\r\n")
			{
				$length = $1 if $line =~ /^Content-Length:\s*(\d+)/i;
			}
			my $body = '';
			read($client, $body, $length) if $length;
			open(my $fh, '>>', $file) or die;
			print $fh "$body\n";
			close $fh;
			print $client "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
			close $client;
		}
		exit 0;
	}
	close $server;
	return ($pid, $port);
}

# wal_segments($first, $last) lists the WAL segment names from $first to
# $last on $first's timeline (16 MB segments: 256 per "log" number).
sub wal_segments
{
	my ($first, $last) = @_;
	my ($tli, $log, $seg) = map { hex } unpack('A8 A8 A8', $first);
	my @names;
	while (1)
	{
		my $name = sprintf('%08X%08X%08X', $tli, $log, $seg);
		push @names, $name;
		last if $name ge $last || @names > 100000;
		$seg++;
		if ($seg > 0xFF) { $seg = 0; $log++; }
	}
	return @names;
}

1;
