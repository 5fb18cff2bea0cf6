# 006_restore_by_hand.pl: the "Restore by hand" commands of README.md, taken
# from the README text itself and run as they stand against a fresh cluster
# (as after losing the server), so that the README cannot drift from what
# works. Only the environment is the test's own: $SET, PGHOST/PGPORT/PGUSER
# of the new cluster, and PATH with the PostgreSQL 15 client tools first.
# The one textual change to the commands is the dump file: /tmp/myapp.dump
# becomes a file in this test's temporary directory, so that concurrent runs
# and other users of /tmp do not collide.
#
# This file is saved as UTF-8 without "use utf8": text with non-ASCII
# letters is byte strings here, as psql sends and returns them.

use strict;
use warnings;

use IPC::Run ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakTest;

my $tmp = PostgreSQL::Test::Utils::tempdir;

# ---------------------------------------------------------------------------
# The commands, from the README: the first ```sh block of the section
# "## Restore by hand" (and within it: a block of a later section is never
# taken for it).
# ---------------------------------------------------------------------------
my ($block, $block_first_line) = readme_block('## Restore by hand');
ok(defined $block,
	'README.md has a ```sh block in its section "## Restore by hand"')
  or do { done_testing(); exit 1; };
note "README.md lines $block_first_line..: \n$block";

# readme_line($regex): "README.md line N" of the first block line matching.
sub readme_line
{
	my ($re) = @_;
	my @lines = split /\n/, $block;
	for my $i (0 .. $#lines)
	{
		return 'README.md line ' . ($block_first_line + $i) if $lines[$i] =~ $re;
	}
	return 'README.md (no such line)';
}

# The database the README restores into: its createdb line.
my ($restored_db) = $block =~ /^\s*createdb\s+(\S+)\s*$/m;
ok(defined $restored_db, 'the README block creates the database to restore into (createdb)')
  or do { done_testing(); exit 1; };

# The one textual change (see the header).
my $dump_file = "$tmp/myapp.dump";
my $script = $block;
my $replaced = ($script =~ s{/tmp/myapp\.dump}{$dump_file}g) || 0;
ok($replaced > 0, "the README block writes /tmp/myapp.dump ($replaced uses moved to the test's tmp dir)");
my $script_file = "$tmp/restore_by_hand.sh";
open(my $fh, '>', $script_file) or die "could not write $script_file: $!";
print $fh $script;
close($fh);

# ---------------------------------------------------------------------------
# The server that is lost: myapp with a users table, unicode text, NULLs,
# and a table owned by a role that only the globals will recreate.
# ---------------------------------------------------------------------------
my $node = new_node('live');
$node->safe_psql('postgres', q{
  CREATE ROLE myapp_owner LOGIN CONNECTION LIMIT 5;
  CREATE DATABASE myapp;
});
$node->safe_psql('myapp', q{
  CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, email text, bio text);
  INSERT INTO users VALUES
    (1, 'Zoë Ångström', 'zoe@example.org', 'unicode: ü é ß 中文 😀 ∑ ﬁ'),
    (2, 'Nobody', NULL, NULL),
    (3, $$O'Brien "quoted"$$, 'ob@example.org', E'tab\there\nnew line \\N');
  INSERT INTO users SELECT g, 'user ' || g, 'u' || g || '@example.org',
                           CASE WHEN g % 3 = 0 THEN NULL ELSE repeat('x', g % 50) END
    FROM generate_series(10, 2000) g;

  CREATE TABLE orders (id bigint PRIMARY KEY, user_id int REFERENCES users,
                       total numeric(12,2), note text);
  INSERT INTO orders SELECT g, 10 + g % 1990, g * 1.25,
                            CASE WHEN g % 5 = 0 THEN NULL ELSE 'order ' || g END
    FROM generate_series(1, 5000) g;

  CREATE TABLE settings (key text PRIMARY KEY, value jsonb);
  INSERT INTO settings VALUES ('theme', '{"name": "dunkel", "ü": true}'),
                              ('empty', NULL);
  ALTER TABLE settings OWNER TO myapp_owner;
});
my $source_prints = table_fingerprints($node, 'myapp');
is_deeply([ sort keys %$source_prints ],
	[ 'public.orders', 'public.settings', 'public.users' ],
	'the source database has its tables');

my ($id, $status) = run_backup($node, 'myapp');
is($status, 'succeeded', 'the backup of myapp succeeds');
my $row = backup_row($node, $id);
my $set = $row->{location};
ok(defined $set && -d $set, 'backup_log gives the set directory') or diag explain $row;

# ---------------------------------------------------------------------------
# A new cluster, and the README commands run against it with bash -e (and
# pipefail, so that a failing zstd is not hidden by the psql after it).
# The ERR trap names the README line of the command that failed.
# ---------------------------------------------------------------------------
my $node2 = plain_node('new');
my $superuser = $node2->safe_psql('postgres', 'SELECT current_user');

my ($ok, $out, $err, $failure) = run_readme_block(
	$script_file,
	$block_first_line,
	{
		SET => $set,
		PGHOST => $node2->host,
		PGPORT => $node2->port,
		PGUSER => $superuser,
		PATH => "/usr/lib/postgresql/15/bin:$ENV{PATH}"
	});
note "stdout:\n$out";
note "stderr:\n$err";
ok($ok, 'every command of the README block succeeds under bash -e -o pipefail')
  or diag(($failure ne '' ? $failure : "bash exited $?\n")
	  . "(bash -e stopped there: the commands after it did not run)\n"
	  . "stderr of the block:\n$err");

# ---------------------------------------------------------------------------
# What the commands did.
# ---------------------------------------------------------------------------

# 1. sha256sum printed the checksum that backup_log and the manifest hold,
# and the grep showed the manifest entry with the same checksum.
my $sha = $row->{checksum_sha256};
like($out, qr/^\Q$sha\E  \Q$set\E\/data\.dump\.zst$/m,
	readme_line(qr/^\s*sha256sum\b/)
	  . ': sha256sum ran and printed the checksum in backup_log');
is(sha256_of_file("$set/data.dump.zst"), $sha, 'which is the checksum of data.dump.zst');
like($out, qr/"data\.dump\.zst"(?s:.*)\Q$sha\E/,
	readme_line(qr/\bgrep\b.*manifest\.json/)
	  . ': the manifest lines it prints include the sha256 of data.dump.zst');

# 2. the globals made the role on the new cluster.
is($node2->safe_psql('postgres',
		q{SELECT rolcanlogin || ' ' || rolconnlimit FROM pg_roles WHERE rolname = 'myapp_owner'}),
	'true 5', 'the role from the globals exists on the new cluster');
my @global_errors = grep { /ERROR/ } split /\n/, $err;
ok(!grep({ !/role "[^"]+" already exists/ } @global_errors),
	'the only psql errors are about roles that already exist')
  or diag join("\n", @global_errors);

# 3. the restored database has every table with the same rows, and the owner.
is($node2->safe_psql('postgres',
		'SELECT count(*) FROM pg_database WHERE datname = ' . quote_literal($restored_db)),
	'1', "the database $restored_db exists on the new cluster");
is_deeply(table_fingerprints($node2, $restored_db), $source_prints,
	"every table of myapp has identical rows in $restored_db");
is($node2->safe_psql($restored_db,
		q{SELECT tableowner FROM pg_tables WHERE tablename = 'settings'}),
	'myapp_owner', 'the table keeps its owner, the role from the globals');
is($node2->safe_psql($restored_db, q{SELECT bio FROM users WHERE id = 1}),
	'unicode: ü é ß 中文 😀 ∑ ﬁ', 'unicode text survives byte for byte');
ok(-s $dump_file, 'the dump was decompressed into the file the block names');

$node2->stop;
$node->stop;
done_testing();
