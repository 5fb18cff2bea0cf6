# 014_limits.pl: what a backup selects and how long it may wait, once a
# worker runs it. Unqualified table names select tables of user schemas only,
# never a system catalog or an information_schema table of the same name.

use strict;
use warnings;

use File::Temp ();
use IPC::Run ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakTest;

my $node = new_node('limits');
$node->safe_psql('postgres', 'CREATE DATABASE limdb');
$node->safe_psql('limdb', q{
  CREATE TABLE public.sql_features (id int);
  INSERT INTO public.sql_features SELECT generate_series(1, 3);
  CREATE TABLE big (id int);
  INSERT INTO big SELECT generate_series(1, 1000);
});
my $tmp = File::Temp->newdir();

# toc_entries($id) lists "<type> <schema> <name>" of the TABLE and TABLE DATA
# entries of a custom-format backup, read with the stock zstd and pg_restore.
sub toc_entries
{
	my ($id) = @_;
	my $row = backup_row($node, $id);
	my $dump = "$tmp/toc.$id";
	decompress_file("$row->{location}/data.dump.zst", $dump);
	my ($out, $err);
	IPC::Run::run([ 'pg_restore', '-l', $dump ], '>', \$out, '2>', \$err)
	  or die "pg_restore -l failed: $err";
	my @entries;
	for my $line (split /\n/, $out)
	{
		next if $line =~ /^;/;
		push @entries, "$1 $2 $3"
		  if $line =~ /^\d+; \d+ \d+ (TABLE DATA|TABLE) (\S+) (\S+) /;
	}
	return join(', ', sort @entries);
}

# ---------------------------------------------------------------------------
# Unqualified names resolve in user schemas only.
# ---------------------------------------------------------------------------
my ($id, $status) = run_backup($node, 'limdb', '{"tables": ["sql_features"]}');
is($status, 'succeeded', 'a backup of an unqualified name shared with information_schema succeeds');
is(toc_entries($id), 'TABLE DATA public sql_features, TABLE public sql_features',
	'it holds the user table only, not information_schema.sql_features');

($id, $status) = run_backup($node, 'limdb', '{"tables": ["sql_parts"]}');
is($status, 'failed', 'a name found only in information_schema fails the backup');
my $row = backup_row($node, $id);
is( $row->{error_message},
	'backup option "tables" names "sql_parts", which is in no user schema of database "limdb"',
	'the error names the table and the database');
is(set_leftovers($row->{location}), '', 'no file of the failed backup is left');

($id, $status) = run_backup($node, 'limdb', '{"tables": ["big", "nowhere", "sql_parts"]}');
like(backup_row($node, $id)->{error_message},
	qr/names "nowhere" \(and 1 more\), which is in no user schema/,
	'every missing name counts, the first is named');

done_testing();
