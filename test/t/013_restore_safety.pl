# 013_restore_safety.pl: restores and restore drills cannot be turned
# against the server (DESIGN.md, "Who may make the server run what").
#
# A user's code inside the objects a restore loads (CHECK and domain
# constraints, generated columns, defaults, triggers, index expressions) or
# already in the database a restore writes into runs with the rights of the
# role the restore chose for it, never with the worker's superuser rights:
# every attack function below tries to make its owner superuser, first
# plainly and then after trying to get the session's superuser back (SET
# SESSION AUTHORIZATION DEFAULT, RESET SESSION AUTHORIZATION, set_config,
# SET ROLE). And the right to overwrite a database is checked again when the
# restore starts, so a database created after the call is not dropped; a
# clean restore killed in the middle of its swap loses neither database;
# and databases are recognised by the OID their operation recorded, never
# by name.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use PgbakTest;

{
	no warnings 'redefine';
	my $psql = \&PostgreSQL::Test::Cluster::psql;
	*PostgreSQL::Test::Cluster::psql = sub {
		my ($self, $db, $sql, %params) = @_;
		$params{timeout} = 100 unless defined $params{timeout};
		return $psql->($self, $db, $sql, %params);
	};
}

my $node = new_node('safety', restart_after_crash => 'on');
# The bootstrap superuser (the OS user running the tests).
my $su = $node->safe_psql('postgres', 'SELECT current_user');

# as($role, $db, $sql): safe_psql as another role.
sub as
{
	my ($role, $db, $sql) = @_;
	return $node->safe_psql($db, $sql, extra_params => [ '-U', $role ]);
}

# call_as($role, $sql) runs a SELECT returning an operation id as $role;
# the id, or undef with a diag.
sub call_as
{
	my ($role, $sql) = @_;
	my ($ret, $out, $err) =
	  $node->psql('postgres', $sql, extra_params => [ '-U', $role ]);
	if ($ret != 0 || $out !~ /^\d+$/)
	{
		diag "call failed: $sql\n$err";
		return undef;
	}
	return $out;
}

sub wait_op
{
	my ($id) = @_;
	return 'no operation' unless defined $id;
	return $node->safe_psql('postgres', "SELECT pgbak_wait($id, 300)");
}

sub error_of
{
	my ($id) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(error_message, '') FROM backup_log WHERE id = $id");
}

sub is_superuser
{
	my ($role) = @_;
	return $node->safe_psql('postgres',
		"SELECT rolsuper FROM pg_roles WHERE rolname = '$role'");
}

# attack_function($name, $role, $returns, $value) is the SQL of a plpgsql
# function owned by whoever runs it that tries every way to make $role
# superuser, swallowing each failure so that the statement it runs in
# succeeds (the stealthy attacker), and returns $value.
sub attack_function
{
	my ($name, $role, $returns, $value, $volatility) = @_;
	$volatility = 'VOLATILE' unless defined $volatility;
	return <<"SQL";
CREATE FUNCTION public.$name(anyelement) RETURNS $returns LANGUAGE plpgsql $volatility AS \$f\$
BEGIN
  RAISE WARNING 'pgbak-attack $name ran as %', current_user;
  BEGIN EXECUTE 'ALTER ROLE $role SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
  BEGIN EXECUTE 'SET SESSION AUTHORIZATION DEFAULT'; EXECUTE 'ALTER ROLE $role SUPERUSER';
    EXCEPTION WHEN OTHERS THEN NULL; END;
  BEGIN EXECUTE 'RESET SESSION AUTHORIZATION'; EXECUTE 'ALTER ROLE $role SUPERUSER';
    EXCEPTION WHEN OTHERS THEN NULL; END;
  BEGIN PERFORM pg_catalog.set_config('session_authorization', '$su', false);
    EXECUTE 'ALTER ROLE $role SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
  BEGIN EXECUTE 'SET ROLE $su'; EXECUTE 'ALTER ROLE $role SUPERUSER';
    EXCEPTION WHEN OTHERS THEN NULL; END;
  RETURN $value;
END \$f\$;
SQL
}

# ---------------------------------------------------------------------------
# 1. An operator cannot become superuser through a table restore into a
#    database of its own holding a domain that runs its code.
# ---------------------------------------------------------------------------

$node->safe_psql(
	'postgres', q{
CREATE ROLE opcd LOGIN CREATEDB;
GRANT pgbak_operator TO opcd;
CREATE DATABASE feel;
});
$node->safe_psql(
	'feel', q{
CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE public.feelings (id integer PRIMARY KEY, how public.mood);
INSERT INTO public.feelings SELECT g, 'ok' FROM generate_series(1, 100) g;
});
my $feel_backup = queue_backup($node, 'feel');
is(wait_backup($node, $feel_backup), 'succeeded', 'backup of feel');

as('opcd', 'postgres', 'CREATE DATABASE mallorydb');
as('opcd', 'mallorydb',
	    attack_function('pwn', 'opcd', 'boolean', 'true')
	  . 'CREATE DOMAIN public.mood AS text CHECK (public.pwn(VALUE));');

my $table_restore = call_as('opcd',
	"SELECT pgbak_restore($feel_backup, 'mallorydb', '{\"tables\": [\"public.feelings\"]}')"
);
my $table_status = wait_op($table_restore);
is(is_superuser('opcd'), 'f',
	"the operator is not superuser after a table restore into its database ($table_status)");
if ($table_status eq 'succeeded')
{
	is( $node->safe_psql(
			'mallorydb',
			"SELECT tableowner FROM pg_tables WHERE tablename = 'feelings'"),
		'opcd',
		'the table restored into an existing database belongs to its owner');
}
else
{
	like(error_of($table_restore), qr/./,
		'a table restore that fails says why: ' . error_of($table_restore));
}

# ---------------------------------------------------------------------------
# 2. A restore drill (and a whole restore) runs the objects' code with
#    their owner's rights: CHECK, domain, generated column, default,
#    trigger, index expression and materialized view.
# ---------------------------------------------------------------------------

# make_shaped_db($db, $owner, $attack): a database of $owner with every kind
# of object that runs code during a restore; with $attack, the functions try
# to make $owner superuser, otherwise they only compute.
sub make_shaped_db
{
	my ($db, $owner, $attack) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db OWNER $owner");
	$node->safe_psql($db, "ALTER SCHEMA public OWNER TO $owner");
	my $body = sub {
		my ($name, $returns, $value, $volatility) = @_;
		return attack_function($name, $owner, $returns, $value, $volatility)
		  if $attack;
		$volatility = 'VOLATILE' unless defined $volatility;
		return
		  "CREATE FUNCTION public.$name(anyelement) RETURNS $returns LANGUAGE plpgsql $volatility AS \$f\$ BEGIN RETURN $value; END \$f\$;\n";
	};
	as( $owner, $db,
		    $body->('chk', 'boolean', 'true')
		  . $body->('dom', 'boolean', 'true')
		  . $body->('gen', 'integer', '1', 'IMMUTABLE')
		  . $body->('def', 'integer', '2')
		  . $body->('idx', 'integer', '3', 'IMMUTABLE')
		  . $body->('mv', 'integer', '4')
		  . q{
CREATE FUNCTION public.trg() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN PERFORM public.chk(1); RETURN NEW; END $f$;
CREATE DOMAIN public.checked_int AS integer CHECK (public.dom(VALUE));
CREATE TABLE public.things (
  id integer PRIMARY KEY,
  c integer CHECK (public.chk(c)),
  d public.checked_int,
  g integer GENERATED ALWAYS AS (public.gen(id)) STORED,
  f integer DEFAULT public.def(0));
CREATE INDEX things_expr ON public.things ((public.idx(id)));
CREATE TRIGGER things_trg BEFORE INSERT OR UPDATE ON public.things
  FOR EACH ROW EXECUTE FUNCTION public.trg();
INSERT INTO public.things (id, c, d) SELECT g, g, g FROM generate_series(1, 500) g;
CREATE MATERIALIZED VIEW public.things_mv AS SELECT id, public.mv(id) AS v FROM public.things;
});
}

$node->safe_psql('postgres', 'CREATE ROLE owner_evil LOGIN; CREATE ROLE owner_good LOGIN');
make_shaped_db('evildb', 'owner_evil', 1);
make_shaped_db('gooddb', 'owner_good', 0);
is(is_superuser('owner_evil'), 'f', 'the attack functions did nothing while being set up');

my $evil_backup = queue_backup($node, 'evildb');
is(wait_backup($node, $evil_backup), 'succeeded', 'backup of the attacking database');
my $good_backup = queue_backup($node, 'gooddb');
is(wait_backup($node, $good_backup), 'succeeded', 'backup of the benign database');

my $log_before_drill = -s $node->logfile;
my $evil_drill = call_as($su, "SELECT pgbak_verify($evil_backup, true)");
my $evil_drill_status = wait_op($evil_drill);
is(is_superuser('owner_evil'), 'f',
	"a restore drill does not run the owner's code as superuser ($evil_drill_status)");
my $drill_log = substr(slurp_file($node->logfile), $log_before_drill);
my %ran_as;
$ran_as{$1}{$2} = 1 while $drill_log =~ /pgbak-attack (\w+) ran as (\w+)/g;
is(join(',', map { "$_:" . join('/', sort keys %{ $ran_as{$_} }) } sort keys %ran_as),
	'chk:owner_evil,dom:owner_evil,gen:owner_evil,idx:owner_evil,mv:owner_evil',
	'each attack function ran during the drill, and only as the owner');
is($evil_drill_status, 'succeeded',
	'the drill of the attacking database still passes: its code ran as its owner');

my $good_drill = call_as($su, "SELECT pgbak_verify($good_backup, true)");
is(wait_op($good_drill), 'succeeded', 'the drill of a benign database of the same shape passes');
is( $node->safe_psql(
		'postgres', "SELECT verify_status FROM backup_log WHERE id = $good_backup"),
	'passed (restore drill)',
	'the benign backup is verified by its drill');

my $evil_restore =
  call_as($su, "SELECT pgbak_restore($evil_backup, 'evil_copy', '{\"jobs\": 2}')");
is(wait_op($evil_restore), 'succeeded', 'a whole restore of the attacking database succeeds');
is(is_superuser('owner_evil'), 'f', "a whole restore does not run the owner's code as superuser");
is( $node->safe_psql(
		'evil_copy',
		"SELECT count(*), count(DISTINCT g) FROM public.things; "
		  . "SELECT tableowner FROM pg_tables WHERE tablename = 'things'"),
	"500|1\nowner_evil",
	'the restored table has its rows, its generated column and its owner');

# ---------------------------------------------------------------------------
# 3. A clean restore does not drop a database that appeared after the call
#    and belongs to someone else.
# ---------------------------------------------------------------------------

$node->safe_psql(
	'postgres', q{
CREATE ROLE op3 LOGIN;
GRANT pgbak_operator TO op3;
CREATE ROLE victim LOGIN CREATEDB;
});
my $session = $node->background_psql('postgres', extra_params => [ '-U', 'op3' ]);
$session->query_safe('BEGIN');
my $late = $session->query_safe(
	"SELECT pgbak_restore($feel_backup, 'victimdb', '{\"clean\": true}')");
chomp $late;
like($late, qr/^\d+$/, 'the operator may queue a clean restore while victimdb does not exist');
as('victim', 'postgres', 'CREATE DATABASE victimdb');
as('victim', 'victimdb',
	"CREATE TABLE precious (x text); INSERT INTO precious VALUES ('keep me')");
$session->query_safe('COMMIT');
$session->quit;

is(wait_op($late), 'failed', 'the clean restore over a database created after the call fails');
like(error_of($late), qr/permission denied to restore into existing database "victimdb"/,
	'it says the right is missing now');
is($node->safe_psql('victimdb', 'SELECT x FROM precious'),
	'keep me', "the victim's database and data are untouched");
is( $node->safe_psql(
		'postgres', "SELECT count(*) FROM pg_database WHERE datname LIKE 'pgbak_restore_%'"),
	'0',
	'the restore left no database of its own behind');

# The owner of a database may still clean-restore into it.
my $owner_clean = call_as($su,
	"SELECT pgbak_restore($feel_backup, 'victimdb', '{\"clean\": true}')");
is(wait_op($owner_clean), 'succeeded', 'an admin may still clean-restore over it');

# ---------------------------------------------------------------------------
# 4. A clean restore killed in the middle of its swap (pgbak.fault_pause
#    holds the worker there): the data stays reachable.
# ---------------------------------------------------------------------------

# set_pause($point) makes workers pause at $point ('' for none).
sub set_pause
{
	my ($point) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET pgbak.fault_pause = '$point'");
	$node->reload;
}

# kill_paused_worker($id, $what) waits until operation $id's worker logs its
# pause, kills it with SIGKILL (the cluster restarts) and waits until the
# operation is failed and the launcher has cleaned up.
sub kill_paused_worker
{
	my ($id, $point) = @_;
	ok( poll_until(
			120,
			sub {
				slurp_file($node->logfile) =~ /operation $id pauses at $point/;
			}),
		"operation $id pauses at $point");
	my $pid = $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pgbak worker'");
	kill 'KILL', $pid;
	ok( poll_until(
			120,
			sub {
				my ($ret, $out) = $node->psql('postgres',
					"SELECT status FROM backup_log WHERE id = $id");
				$ret == 0 && $out eq 'failed';
			}),
		"operation $id is failed after the kill and the restart");
	# The launcher fails the row and cleans up in the same pass.
	ok( poll_until(
			60,
			sub {
				slurp_file($node->logfile) =~ /cleanup of operation $id|operation $id marked failed/;
			}),
		"the launcher dealt with operation $id");
}

sub databases_like
{
	my ($pattern) = @_;
	return $node->safe_psql('postgres',
		"SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE datname LIKE '$pattern'"
	);
}

$node->safe_psql('postgres', 'CREATE DATABASE swapdb');
$node->safe_psql('swapdb', "CREATE TABLE marker (v text); INSERT INTO marker VALUES ('backed up')");
my $swap_backup = queue_backup($node, 'swapdb');
is(wait_backup($node, $swap_backup), 'succeeded', 'backup of swapdb');
$node->safe_psql('swapdb', "UPDATE marker SET v = 'live'");

# 4a. Killed after the old database was moved aside: it comes back.
set_pause('restore_swap_aside');
my $swap1 = call_as($su, "SELECT pgbak_restore($swap_backup, 'swapdb', '{\"clean\": true}')");
kill_paused_worker($swap1, 'restore_swap_aside');
is($node->safe_psql('swapdb', 'SELECT v FROM marker'),
	'live', 'killed with the old database aside: it is back under its name, as it was');
is(databases_like('pgbak\_re%'), '', 'no restore or replaced database is left behind');

# 4b. Killed after the restored database took the name: both are kept.
set_pause('restore_swap_renamed');
my $swap2 = call_as($su, "SELECT pgbak_restore($swap_backup, 'swapdb', '{\"clean\": true}')");
kill_paused_worker($swap2, 'restore_swap_renamed');
is($node->safe_psql('swapdb', 'SELECT v FROM marker'),
	'backed up', 'killed after the rename: the restored database has the name');
my $aside = databases_like('pgbak\_replaced\_%');
like($aside, qr/^pgbak_replaced_$swap2$/, 'the database it replaced is kept aside');
is($node->safe_psql($aside, 'SELECT v FROM marker'), 'live', 'with its data');
like(slurp_file($node->logfile), qr/database it replaced is kept as "$aside"/,
	'the log says where the old database is');
$node->safe_psql('postgres', "DROP DATABASE $aside");

# 4c. A verify that dies drops no database it did not create, even one
#     named like its scratch database; a drill picks another name.
set_pause('verify_start');
my $next = $node->safe_psql('postgres', q{SELECT last_value + 1 FROM backup_log_id_seq});
$node->safe_psql('postgres', "CREATE DATABASE pgbak_verify_$next");
my $doomed = call_as($su, "SELECT pgbak_verify($swap_backup)");
is($doomed, $next, "the verify got the id $next");
kill_paused_worker($doomed, 'verify_start');
is(databases_like("pgbak\_verify\_$next"),
	"pgbak_verify_$next", "a user's database named pgbak_verify_$next survives the cleanup");
is( $node->safe_psql(
		'postgres',
		"SELECT excluded FROM backup_status WHERE database_name = 'pgbak_verify_$next'"),
	'f',
	'and backup_status does not hide it');
set_pause('');
$next = $node->safe_psql('postgres', q{SELECT last_value + 1 FROM backup_log_id_seq});
$node->safe_psql('postgres', "CREATE DATABASE pgbak_verify_$next");
my $drill = call_as($su, "SELECT pgbak_verify($swap_backup, true)");
is(wait_op($drill), 'succeeded', 'a drill whose scratch name is taken picks another and passes');
is( databases_like('pgbak\_verify\_%'),
	join(',', sort("pgbak_verify_$doomed", "pgbak_verify_$next")),
	"the users' databases are still there, the drill's is gone");

# ---------------------------------------------------------------------------
# 5. A dropped table restored with "tables" comes back whole: its indexes,
#    constraints, triggers, policies and row-level security, grants,
#    comment, owned sequence and place in a partition tree.
# ---------------------------------------------------------------------------

$node->safe_psql('postgres', q{
  CREATE ROLE shopowner LOGIN;
  CREATE ROLE reader;
  CREATE DATABASE shop OWNER shopowner;
});
as('shopowner', 'shop', q{
CREATE SCHEMA app;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN NEW.seen := now(); RETURN NEW; END $f$;
CREATE TABLE app.users (
  id serial PRIMARY KEY,
  email text NOT NULL UNIQUE,
  age integer CHECK (age >= 0),
  seen timestamptz);
CREATE INDEX users_lower_email ON app.users (lower(email));
CREATE TRIGGER users_touch BEFORE INSERT OR UPDATE ON app.users
  FOR EACH ROW EXECUTE FUNCTION app.touch();
ALTER TABLE app.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE app.users FORCE ROW LEVEL SECURITY;
CREATE POLICY adults ON app.users USING (age >= 18);
CREATE POLICY owner_all ON app.users TO shopowner USING (true);
GRANT USAGE ON SCHEMA app TO reader;
GRANT SELECT (id, email) ON app.users TO reader;
GRANT SELECT ON app.users TO reader;
COMMENT ON TABLE app.users IS 'the people';
INSERT INTO app.users (email, age) SELECT 'u' || g || '@x', g % 90 FROM generate_series(1, 300) g;
CREATE TABLE app.orders (id int PRIMARY KEY, user_id int REFERENCES app.users);
INSERT INTO app.orders SELECT g, g FROM generate_series(1, 50) g;
CREATE TABLE app.events (at date NOT NULL, what text) PARTITION BY RANGE (at);
CREATE TABLE app.events_2026 PARTITION OF app.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE INDEX events_at ON app.events (at);
INSERT INTO app.events SELECT date '2026-01-01' + g, 'e' || g FROM generate_series(0, 99) g;
});

# fingerprint($table) is what makes a table whole, as the catalogs say it.
sub fingerprint
{
	my ($table) = @_;
	return $node->safe_psql(
		'shop', qq{
SELECT 'index ' || indexname || ': ' || regexp_replace(indexdef, 'INDEX \\S+ ', 'INDEX ')
  FROM pg_indexes WHERE schemaname = 'app' AND tablename = '$table'
UNION ALL
SELECT 'constraint ' || conname || ': ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE conrelid = 'app.$table'::regclass
UNION ALL
SELECT 'trigger ' || tgname FROM pg_trigger WHERE tgrelid = 'app.$table'::regclass AND NOT tgisinternal
UNION ALL
SELECT 'policy ' || polname || ': ' || pg_get_expr(polqual, polrelid) || ' to ' || polroles::text
  FROM pg_policy WHERE polrelid = 'app.$table'::regclass
UNION ALL
SELECT 'table: acl ' || coalesce(relacl::text, '') || ', rls ' || relrowsecurity || ', force '
       || relforcerowsecurity || ', owner ' || pg_get_userbyid(relowner) || ', comment '
       || coalesce(obj_description(oid, 'pg_class'), '') || ', partition of '
       || coalesce((SELECT inhparent::regclass::text FROM pg_inherits WHERE inhrelid = c.oid), '')
  FROM pg_class c WHERE oid = 'app.$table'::regclass
UNION ALL
SELECT 'column acl ' || attname || ' ' || attacl::text FROM pg_attribute
  WHERE attrelid = 'app.$table'::regclass AND attacl IS NOT NULL
UNION ALL
SELECT 'rows ' || count(*) FROM app.$table
ORDER BY 1});
}

my $users_before = fingerprint('users');
my $part_before = fingerprint('events_2026');
my $seq_before = $node->safe_psql('shop', 'SELECT last_value FROM app.users_id_seq');
my $shop_backup = queue_backup($node, 'shop');
is(wait_backup($node, $shop_backup), 'succeeded', 'backup of shop');

$node->safe_psql('shop', 'DROP TABLE app.users CASCADE; DROP TABLE app.events_2026');
my $tables_restore = call_as($su,
	"SELECT pgbak_restore($shop_backup, 'shop', '{\"tables\": [\"app.users\", \"app.events_2026\"]}')"
);
is(wait_op($tables_restore), 'succeeded', 'the dropped tables are restored');
is(fingerprint('users'), $users_before,
	'users has exactly its indexes, constraints, trigger, policies, RLS, grants, comment and rows');
is(fingerprint('events_2026'), $part_before, 'the partition is back, attached to its parent');
is($node->safe_psql('shop', 'SELECT last_value FROM app.users_id_seq'),
	$seq_before, 'the owned sequence is back with its value');
is( $node->safe_psql(
		'shop',
		"SELECT pg_get_serial_sequence('app.users', 'id') = 'app.users_id_seq'"),
	't',
	'and still owned by its column');
is( $node->safe_psql(
		'shop',
		"SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'orders_user_id_fkey'"),
	'FOREIGN KEY (user_id) REFERENCES app.users(id)',
	'the foreign key orders held on users is re-created, orders being there');
is( $node->safe_psql('shop', q{SET ROLE reader; SELECT count(*) FROM app.users}),
	$node->safe_psql('shop', q{SELECT count(*) FROM app.users WHERE age >= 18}),
	'row-level security is on again: a reader sees only the rows its policy allows');

# ---------------------------------------------------------------------------
# 5b. A "tables" or "schemas" backup restores into an empty database: the
#     set carries every definition and the selection's data only.
# ---------------------------------------------------------------------------

my $tables_backup = queue_backup($node, 'shop', '{"tables": ["app.users", "app.events_2026"]}');
is(wait_backup($node, $tables_backup), 'succeeded', 'a tables backup of shop');
my $schema_backup = queue_backup($node, 'shop', '{"schemas": ["app"]}');
is(wait_backup($node, $schema_backup), 'succeeded', 'a schemas backup of shop');
my $into_new = call_as($su, "SELECT pgbak_restore($tables_backup, 'shop_tables')");
is(wait_op($into_new), 'succeeded', 'the tables backup restores into a new, empty database')
  or diag error_of($into_new);
is( $node->safe_psql(
		'shop_tables',
		q{SELECT (SELECT count(*) FROM app.users) || ' ' || (SELECT count(*) FROM app.orders) || ' '
		   || (SELECT count(*) FROM app.events) || ' '
		   || (SELECT inhparent::regclass::text FROM pg_inherits
		       WHERE inhrelid = 'app.events_2026'::regclass)}),
	'300 0 100 app.events',
	'with the selected tables\' rows, the other tables empty, the partition attached');
my $schema_new = call_as($su, "SELECT pgbak_restore($schema_backup, 'shop_schema')");
is(wait_op($schema_new), 'succeeded', 'the schemas backup restores into a new database')
  or diag error_of($schema_new);
is( $node->safe_psql('shop_schema',
		q{SELECT (SELECT count(*) FROM app.users) || ' ' || (SELECT count(*) FROM app.orders)}),
	'300 50', 'with the schema\'s rows');

# ---------------------------------------------------------------------------
# 5c. into_schema restores the selection into a new schema beside the live
#     tables, which it leaves alone.
# ---------------------------------------------------------------------------

my $backed_up_ages = $node->safe_psql('shop', 'SELECT sum(age) FROM app.users');
$node->safe_psql('shop', 'UPDATE app.users SET age = age + 1 WHERE id <= 10');
my $live_users = fingerprint('users');
my $live_events = $node->safe_psql('shop', 'SELECT count(*) FROM app.events');
my $into = call_as($su,
	"SELECT pgbak_restore($shop_backup, 'shop', "
	  . "'{\"tables\": [\"app.users\", \"app.events_2026\"], \"into_schema\": \"recovered\"}')");
is(wait_op($into), 'succeeded', 'tables restored into_schema') or diag error_of($into);
is(fingerprint('users'), $live_users, 'the live table is untouched');
is($node->safe_psql('shop', 'SELECT sum(age) FROM app.users'),
	$backed_up_ages + 10, 'its update kept');
is($node->safe_psql('shop', 'SELECT sum(age) FROM recovered.users'),
	$backed_up_ages, 'the copy holds the rows as backed up');
is( $node->safe_psql(
		'shop', q{
SELECT string_agg(x, ', ' ORDER BY x) FROM (
  SELECT 'index ' || indexname AS x FROM pg_indexes WHERE schemaname = 'recovered'
  UNION ALL SELECT 'policy ' || polname FROM pg_policy WHERE polrelid = 'recovered.users'::regclass
  UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger
    WHERE tgrelid = 'recovered.users'::regclass AND NOT tgisinternal
  UNION ALL SELECT 'rls ' || relrowsecurity || ' ' || relforcerowsecurity || ' '
    || pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'recovered.users'::regclass
  UNION ALL SELECT 'schema owner ' || pg_get_userbyid(nspowner) FROM pg_namespace
    WHERE nspname = 'recovered'
  UNION ALL SELECT 'default ' || pg_get_expr(adbin, adrelid) FROM pg_attrdef
    WHERE adrelid = 'recovered.users'::regclass) s}),
	'default nextval(\'recovered.users_id_seq\'::regclass), index events_2026_at_idx, '
	  . 'index users_email_key, index users_lower_email, index users_pkey, policy adults, '
	  . 'policy owner_all, rls true true shopowner, schema owner shopowner, trigger users_touch',
	'the copy has its indexes, policies, RLS, trigger and its own sequence, owned as the live one');
is( $node->safe_psql(
		'shop',
		q{SELECT count(*) FROM pg_inherits WHERE inhrelid = 'recovered.events_2026'::regclass}),
	'0', 'the copied partition is not attached to the live parent');
is($node->safe_psql('shop', 'SELECT count(*) FROM app.events'),
	$live_events, 'whose rows are the live ones only');
is($node->safe_psql('shop', 'SELECT count(*) FROM recovered.events_2026'),
	'100', 'the copied partition holds its rows');
my $again = call_as($su,
	"SELECT pgbak_restore($shop_backup, 'shop', "
	  . "'{\"tables\": [\"app.orders\"], \"into_schema\": \"recovered\"}')");
is(wait_op($again), 'failed', 'into_schema refuses an existing schema');
like(error_of($again), qr/schema "recovered" already exists in database "shop"/,
	'and says why');
is($node->safe_psql('shop', 'SELECT count(*) FROM pg_class WHERE relname = \'orders\''),
	'1', 'nothing was restored');
my $into_schema = call_as($su,
	"SELECT pgbak_restore($shop_backup, 'shop', "
	  . "'{\"schemas\": [\"app\"], \"into_schema\": \"app_then\"}')");
is(wait_op($into_schema), 'succeeded', 'a schema restored into_schema') or diag error_of($into_schema);
is( $node->safe_psql(
		'shop',
		q{SELECT (SELECT count(*) FROM app_then.orders) || ' ' || (SELECT sum(age) FROM app_then.users)
		   || ' ' || (SELECT count(*) FROM pg_proc WHERE pronamespace = 'app_then'::regnamespace)
		   || ' ' || pg_get_constraintdef((SELECT oid FROM pg_constraint
		                                   WHERE conrelid = 'app_then.orders'::regclass
		                                   AND contype = 'f'))}),
	"50 $backed_up_ages 1 FOREIGN KEY (user_id) REFERENCES app_then.users(id)",
	'with its rows, its function and its foreign keys within the copy');
is(fingerprint('users'), $live_users, 'the live schema is untouched');

# What ties a copy to live tables is cut: a schema's table that inherits
# from a table outside it, a foreign key to a table outside it (with ON
# DELETE CASCADE), a foreign key to a partitioned table; and a tables or
# schemas backup whose tables refer to tables it has no rows of restores.
$node->safe_psql('shop', 'ALTER TABLE app.events ADD PRIMARY KEY (at)');
as('shopowner', 'shop', q{
CREATE TABLE public.base (x int);
CREATE TABLE app.kid () INHERITS (public.base);
INSERT INTO app.kid SELECT generate_series(1, 7);
CREATE TABLE public.cust (id int PRIMARY KEY);
INSERT INTO public.cust SELECT generate_series(1, 5);
CREATE TABLE app.refs (cid int REFERENCES public.cust ON DELETE CASCADE);
INSERT INTO app.refs SELECT generate_series(1, 5);
CREATE TABLE app.evref (at date REFERENCES app.events (at));
INSERT INTO app.evref SELECT at FROM app.events LIMIT 10;
});
my $linked_backup = queue_backup($node, 'shop');
is(wait_backup($node, $linked_backup), 'succeeded', 'a backup of shop with links across schemas');
my $linked_schema = call_as($su,
	"SELECT pgbak_restore($linked_backup, 'shop', "
	  . "'{\"schemas\": [\"app\"], \"into_schema\": \"app_linked\"}')");
is(wait_op($linked_schema), 'succeeded', 'the schema with links restored into_schema')
  or diag error_of($linked_schema);
is( $node->safe_psql(
		'shop', q{
SELECT (SELECT count(*) FROM pg_inherits WHERE inhrelid = 'app_linked.kid'::regclass) || ' '
    || (SELECT count(*) FROM pg_constraint WHERE contype = 'f'
        AND connamespace = 'app_linked'::regnamespace
        AND confrelid NOT IN (SELECT oid FROM pg_class
                              WHERE relnamespace = 'app_linked'::regnamespace)) || ' '
    || (SELECT count(*) FROM public.base) || ' ' || (SELECT count(*) FROM app_linked.kid)}),
	'0 0 7 7',
	'the copy inherits from nothing live and refers to no live table; the live parent sees its own rows only'
);
$node->safe_psql('shop', 'DELETE FROM public.cust WHERE id = 1');
is($node->safe_psql('shop', 'SELECT count(*) FROM app_linked.refs'),
	'5', 'a live delete does not cascade into the copy');
my $linked_tables = call_as($su,
	"SELECT pgbak_restore($linked_backup, 'shop', "
	  . "'{\"tables\": [\"app.refs\", \"app.evref\", \"app.orders\"], \"into_schema\": \"linked2\"}')"
);
is(wait_op($linked_tables), 'succeeded',
	'tables with keys to a live, a partitioned and an unselected table restored into_schema')
  or diag error_of($linked_tables);
is( $node->safe_psql('shop',
		q{SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'linked2'::regnamespace}),
	'0', 'their keys to tables outside the copy are dropped');
my $orders_only = queue_backup($node, 'shop', '{"tables": ["app.orders", "app.evref"]}');
is(wait_backup($node, $orders_only), 'succeeded', 'a tables backup of tables with foreign keys');
my $orders_new = call_as($su, "SELECT pgbak_restore($orders_only, 'shop_orders')");
is(wait_op($orders_new), 'succeeded',
	'it restores into an empty database although the tables it refers to have no rows')
  or diag error_of($orders_new);
is( $node->safe_psql(
		'shop_orders',
		q{SELECT (SELECT count(*) FROM app.orders) || ' ' || (SELECT count(*) FROM app.evref) || ' '
		   || (SELECT count(*) FROM pg_constraint WHERE contype = 'f'
		       AND conrelid IN ('app.orders'::regclass, 'app.evref'::regclass)) || ' '
		   || (SELECT count(*) FROM pg_constraint WHERE contype = 'f'
		       AND conrelid = 'app.refs'::regclass)}),
	'50 10 0 1', 'with their rows, without those keys, with the key between two empty tables');
like(slurp_file($node->logfile),
	qr/restored "pgbak_restore_$orders_new" without foreign keys to tables whose rows the backup does not hold: .*app\.orders orders_user_id_fkey/,
	'the log names the keys left out');

# into_schema into a database a superuser owns, whose tables another role
# owns: each object is created by its owner in a schema made for them.
$node->safe_psql('postgres', 'CREATE ROLE tabowner LOGIN; CREATE DATABASE sutarget');
$node->safe_psql('sutarget', 'GRANT CREATE ON SCHEMA public TO tabowner');
as('tabowner', 'sutarget',
	q{CREATE TABLE public.items (id serial PRIMARY KEY, v text);
	  INSERT INTO public.items (v) SELECT 'v' || g FROM generate_series(1, 12) g});
my $su_items = queue_backup($node, 'sutarget');
is(wait_backup($node, $su_items), 'succeeded', 'a backup of a superuser\'s database');
my $su_into = call_as($su,
	"SELECT pgbak_restore($su_items, 'sutarget', "
	  . "'{\"tables\": [\"public.items\"], \"into_schema\": \"rec\"}')");
is(wait_op($su_into), 'succeeded', 'into_schema into a superuser\'s database')
  or diag error_of($su_into);
is( $node->safe_psql('sutarget',
		q{SELECT count(*) || ' ' || pg_get_userbyid((SELECT relowner FROM pg_class WHERE oid = 'rec.items'::regclass)) FROM rec.items}),
	'12 tabowner', 'the copy is its owner\'s, with its rows');

# ---------------------------------------------------------------------------
# 6. A database restored whole comes back as it was: owner, encoding and
#    locale, grants, settings, connection limit and comment, into a new
#    database and over itself with clean.
# ---------------------------------------------------------------------------

$node->safe_psql('postgres', q{
  CREATE ROLE propowner LOGIN;
  CREATE ROLE propreader LOGIN;
  CREATE DATABASE propdb OWNER propowner TEMPLATE template0 ENCODING 'LATIN1' LOCALE 'C';
  REVOKE ALL ON DATABASE propdb FROM PUBLIC;
  GRANT CONNECT ON DATABASE propdb TO propreader;
  ALTER DATABASE propdb SET default_transaction_read_only = on;
  ALTER DATABASE propdb SET search_path = app, "Odd Schema", public;
  ALTER ROLE propreader IN DATABASE propdb SET statement_timeout = '7s';
  ALTER DATABASE propdb CONNECTION LIMIT 42;
  COMMENT ON DATABASE propdb IS 'as it was';
});
$node->safe_psql('propdb',
	'SET default_transaction_read_only = off; CREATE TABLE t AS SELECT 1 AS x');

# properties($db) is what makes a database itself, as the catalogs say it.
sub properties
{
	my ($db) = @_;
	return $node->safe_psql(
		'postgres', qq{
SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, datconnlimit,
       datacl::text, shobj_description(oid, 'pg_database'),
       (SELECT string_agg(coalesce(pg_get_userbyid(nullif(setrole, 0)), '*') || ':'
                          || array_to_string(setconfig, ';'), ' ' ORDER BY setrole)
          FROM pg_db_role_setting WHERE setdatabase = d.oid)
FROM pg_database d WHERE datname = '$db'});
}

my $props_before = properties('propdb');
my $props_backup = queue_backup($node, 'propdb');
is(wait_backup($node, $props_backup), 'succeeded', 'backup of propdb');
my $props_new = call_as($su, "SELECT pgbak_restore($props_backup, 'propdb_copy')");
is(wait_op($props_new), 'succeeded', 'restore into a new database');
is(properties('propdb_copy'), $props_before,
	'the new database has the owner, encoding, grants, settings, limit and comment');
my $props_clean = call_as($su, "SELECT pgbak_restore($props_backup, 'propdb', '{\"clean\": true}')");
is(wait_op($props_clean), 'succeeded', 'clean restore over the database');
is(properties('propdb'), $props_before, 'and so does the database it replaced');
my $props_drill = call_as($su, "SELECT pgbak_verify($props_backup, true)");
is(wait_op($props_drill), 'succeeded', 'a drill of it passes');

# ---------------------------------------------------------------------------
# 7. History follows the database's OID: a new database that reuses a
#    dropped one's name inherits none of its rows or rights.
# ---------------------------------------------------------------------------

$node->safe_psql('postgres', q{
  CREATE ROLE reuse1 LOGIN;
  CREATE ROLE reuse2 LOGIN;
  CREATE DATABASE reuse OWNER reuse1;
});
my $old_backup = queue_backup($node, 'reuse');
is(wait_backup($node, $old_backup), 'succeeded', 'backup of the first "reuse"');
is(as('reuse1', 'postgres', "SELECT count(*) FROM backup_log WHERE id = $old_backup"),
	'1', 'its owner sees the row');
$node->safe_psql('postgres', 'DROP DATABASE reuse');
$node->safe_psql('postgres', 'CREATE DATABASE reuse OWNER reuse2');
is(as('reuse2', 'postgres', "SELECT count(*) FROM backup_log WHERE database_name = 'reuse'"),
	'0', 'the owner of the new "reuse" sees none of the old rows');
my ($reuse_ret, $reuse_out, $reuse_err) =
  $node->psql('postgres', "SELECT pgbak_wait($old_backup, 1)", extra_params => [ '-U', 'reuse2' ]);
like($reuse_err, qr/permission denied to wait for operation $old_backup/,
	'and has no rights over them');
is( $node->safe_psql(
		'postgres', "SELECT last_backup_id IS NULL FROM backup_status WHERE database_name = 'reuse'"),
	't',
	'backup_status does not count the old database\'s backup for the new one');

# ---------------------------------------------------------------------------
# 8. What the drill does after the restore runs no user code either: a table
#    the owner swaps for a view (from a materialized view's refresh during
#    the restore) is not counted as superuser.
# ---------------------------------------------------------------------------

$node->safe_psql('postgres', 'CREATE ROLE swapper LOGIN; CREATE DATABASE swapperdb OWNER swapper');
$node->safe_psql('swapperdb', 'ALTER SCHEMA public OWNER TO swapper');
as( 'swapper', 'swapperdb',
	attack_function('evil', 'swapper', 'integer', '1') . q{
CREATE TABLE public.t (x int);
INSERT INTO public.t VALUES (1), (2);
CREATE FUNCTION public.swap() RETURNS integer LANGUAGE plpgsql AS $f$
BEGIN
  IF current_database() LIKE 'pgbak\_verify%' THEN
    DROP TABLE public.t;
    CREATE VIEW public.t AS SELECT public.evil(1) AS x;
  END IF;
  RETURN 1;
END $f$;
CREATE MATERIALIZED VIEW public.zz_swap AS SELECT public.swap() AS s;
});
my $swap_set = queue_backup($node, 'swapperdb');
is(wait_backup($node, $swap_set), 'succeeded', 'backup of the swapping database');
my $swap_drill = call_as($su, "SELECT pgbak_verify($swap_set, true)");
wait_op($swap_drill);
is(is_superuser('swapper'), 'f', 'a table swapped for a view is not counted as superuser');
like(
	$node->safe_psql('postgres', "SELECT verify_status FROM backup_log WHERE id = $swap_set"),
	qr/not a table/, 'the drill reports it instead');

# ---------------------------------------------------------------------------
# 9. A table restore into a database a superuser owns loads each object as
#    its owner: a domain planted by a schema owner runs as that owner.
# ---------------------------------------------------------------------------

$node->safe_psql('postgres', q{
  CREATE ROLE planter LOGIN;
  CREATE ROLE restorer LOGIN IN ROLE pgbak_admin;
  CREATE DATABASE sudb;
});
$node->safe_psql('sudb', 'CREATE SCHEMA garden AUTHORIZATION planter');
as('planter', 'sudb', q{
CREATE FUNCTION garden.ok(text) RETURNS boolean LANGUAGE sql AS $f$ SELECT true $f$;
CREATE TABLE garden.plants (how text CHECK (garden.ok(how)));
INSERT INTO garden.plants VALUES ('ok');
});
my $su_backup = queue_backup($node, 'sudb');
is(wait_backup($node, $su_backup), 'succeeded', 'backup of a superuser-owned database');
# Later the planter turns the CHECK's function into an attack, and drops
# the table so that an admin restores it.
my $attack = attack_function('ok', 'planter', 'boolean', 'true');
$attack =~ s/CREATE FUNCTION public\.ok\(anyelement\)/CREATE OR REPLACE FUNCTION garden.ok(text)/;
as('planter', 'sudb', $attack . 'DROP TABLE garden.plants;');
my $su_restore = call_as('restorer',
	"SELECT pgbak_restore($su_backup, 'sudb', '{\"tables\": [\"garden.plants\"]}')");
is(wait_op($su_restore), 'succeeded', 'an admin restores a table into a superuser-owned database');
is(is_superuser('planter'), 'f',
	'the CHECK function ran as the table\'s owner, not as the superuser that owns the database');
is($node->safe_psql('sudb', "SELECT tableowner FROM pg_tables WHERE tablename = 'plants'"),
	'planter', 'the restored table belongs to its archived owner');

# ---------------------------------------------------------------------------
# 10. A manifest changed in storage is refused: what it says about the
#     database's owner, grants and settings is not applied.
# ---------------------------------------------------------------------------

my $tamper_location = $node->safe_psql('postgres',
	"SELECT location FROM backup_log WHERE id = $props_backup");
my $manifest_file = "$tamper_location/manifest.json";
my $manifest_text = slurp_file($manifest_file);
$manifest_text =~ s/"as it was"/"tampered"/;
chmod 0600, $manifest_file;
open(my $fh, '>', $manifest_file) or die "cannot write $manifest_file: $!";
print $fh $manifest_text;
close $fh;
my $tampered = call_as($su, "SELECT pgbak_restore($props_backup, 'propdb_tampered')");
is(wait_op($tampered), 'failed', 'a restore of a set whose manifest was changed fails');
like(error_of($tampered), qr/manifest\.json: SHA-256 mismatch with backup_log/,
	'it says the manifest is not the one the backup wrote');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_database WHERE datname = 'propdb_tampered'"),
	'0', 'and builds nothing');

# ---------------------------------------------------------------------------
# 11. A plain backup's row counts (taken as superuser) never reach a view
#     the owner swaps in for a table while the backup starts.
# ---------------------------------------------------------------------------

$node->safe_psql('postgres', 'CREATE ROLE plainswap LOGIN; CREATE DATABASE plaindb OWNER plainswap');
$node->safe_psql('plaindb', 'ALTER SCHEMA public OWNER TO plainswap');
as('plainswap', 'plaindb',
	attack_function('evil3', 'plainswap', 'integer', '1')
	  . 'CREATE TABLE public.t (x int); INSERT INTO public.t VALUES (1);');
my $swapping = $node->background_psql('plaindb', extra_params => [ '-U', 'plainswap' ]);
$swapping->query_safe('BEGIN');
$swapping->query_safe('DROP TABLE public.t');
$swapping->query_safe('CREATE VIEW public.t AS SELECT public.evil3(1) AS x');
my $plain_backup = as('plainswap', 'postgres',
	q{SELECT pgbak_run('plaindb', 'local', '{"format": "plain", "lock_wait_timeout": 20}')});
# The backup's snapshot still sees the table; let it start, then commit.
ok( poll_until(
		60,
		sub {
			$node->safe_psql('postgres',
				"SELECT status FROM backup_log WHERE id = $plain_backup") eq 'running';
		}),
	'the plain backup runs while the swap is pending');
sleep 2;
$swapping->query_safe('COMMIT');
$swapping->quit;
wait_backup($node, $plain_backup);
is(is_superuser('plainswap'), 'f', "the owner's view was not counted as superuser");
unlike(slurp_file($node->logfile), qr/pgbak-attack evil3 ran as \Q$su\E/,
	'its function never ran as the superuser');

# ---------------------------------------------------------------------------
# 12. Objects a superuser owns that use another role's code are not loaded
#     as that superuser unless a member of pgbak_admin says so; a plain
#     script that hands objects to other roles is not run as a superuser
#     either.
# ---------------------------------------------------------------------------

$node->safe_psql('postgres', 'CREATE ROLE alicefn LOGIN; CREATE DATABASE mixdb');
$node->safe_psql('mixdb', 'GRANT CREATE ON SCHEMA public TO alicefn');
as('alicefn', 'mixdb',
	q{CREATE FUNCTION public.mixok(anyelement) RETURNS boolean LANGUAGE plpgsql
	    AS $f$ BEGIN RETURN true; END $f$});
$node->safe_psql('mixdb',
	'CREATE TABLE public.mixed (x int CHECK (public.mixok(x))); '
	  . 'INSERT INTO public.mixed SELECT generate_series(1, 10)');
my $benign_mixed = queue_backup($node, 'mixdb');
is(wait_backup($node, $benign_mixed), 'succeeded', 'backup of a superuser\'s table using alicefn\'s function');
# alicefn turns her function into an attack; nobody inserts again, so only
# a restore would run it.
my $mix_attack = attack_function('mixok', 'alicefn', 'boolean', 'true');
$mix_attack =~ s/CREATE FUNCTION/CREATE OR REPLACE FUNCTION/;
as('alicefn', 'mixdb', $mix_attack);
my $attack_mixed = queue_backup($node, 'mixdb');
is(wait_backup($node, $attack_mixed), 'succeeded', 'backup after the function became an attack');

my $mixed_drill = call_as($su, "SELECT pgbak_verify($attack_mixed, true)");
is(wait_op($mixed_drill), 'failed', 'the drill refuses to load the superuser\'s table');
like(
	error_of($mixed_drill),
	qr/^backup $attack_mixed cannot be drilled safely: loading objects a superuser owns would run code of role "alicefn" with superuser rights/,
	'and says why');
like(
	$node->safe_psql('postgres', "SELECT error_detail FROM backup_log WHERE id = $mixed_drill"),
	qr/TABLE public\.mixed \(run as \Q$su\E\) uses FUNCTION public\.mixok\(anyelement\) of alicefn/,
	'naming the table and the function');
is(is_superuser('alicefn'), 'f', 'alicefn is not superuser after the drill');

my $mixed_restore = call_as($su, "SELECT pgbak_restore($attack_mixed, 'mix_restored')");
is(wait_op($mixed_restore), 'failed', 'a whole restore refuses it too');
is( $node->safe_psql('postgres',
		"SELECT error_sqlstate FROM backup_log WHERE id = $mixed_restore"),
	'42501', 'as a lack of privilege');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_database WHERE datname = 'mix_restored'"),
	'0', 'and creates no database');
is(is_superuser('alicefn'), 'f', 'alicefn is still not superuser');

my ($ret, $out, $err) = $node->psql('postgres',
	"SELECT pgbak_restore($benign_mixed, 'mix_op', '{\"allow_superuser_code\": true}')",
	extra_params => [ '-U', 'opcd', '-v', 'VERBOSITY=verbose' ]);
like($err, qr/42501: permission denied for restore option "allow_superuser_code"/,
	'an operator may not allow superuser code');
my $benign_refused = call_as($su, "SELECT pgbak_restore($benign_mixed, 'mix_benign')");
is(wait_op($benign_refused), 'failed',
	'the rule is about owners, not what the code does: the benign set is refused too');
my $allowed = call_as($su,
	"SELECT pgbak_restore($benign_mixed, 'mix_benign', '{\"allow_superuser_code\": true}')");
is(wait_op($allowed), 'succeeded', 'an admin who allows superuser code restores it')
  or diag error_of($allowed);
is($node->safe_psql('mix_benign', 'SELECT count(*) FROM public.mixed'), '10', 'with its rows');

# A table restore into a database a superuser owns walks the whole archive:
# the superuser's table's CHECK runs alicefn's function.
$node->safe_psql('mixdb', 'DROP TABLE public.mixed');
my $mixed_table = call_as($su,
	"SELECT pgbak_restore($attack_mixed, 'mixdb', '{\"tables\": [\"public.mixed\"]}')");
is(wait_op($mixed_table), 'failed', 'a table restore refuses it too');
like(error_of($mixed_table), qr/would run code of role "alicefn" with superuser rights/,
	'for the same reason');
is(is_superuser('alicefn'), 'f', 'alicefn is still not superuser');

# Pre-data is created by the restoring superuser: an aggregate whose state
# type is a domain runs the domain's CHECK when it is created.
$node->safe_psql('postgres', 'CREATE ROLE aggmal LOGIN; CREATE DATABASE aggdb OWNER aggmal');
$node->safe_psql('aggdb', 'ALTER SCHEMA public OWNER TO aggmal');
as('aggmal', 'aggdb',
	attack_function('aggchk', 'aggmal', 'boolean', 'true')
	  . q{CREATE DOMAIN public.d AS integer CHECK (public.aggchk(VALUE));
	      CREATE FUNCTION public.step(public.d, integer) RETURNS public.d LANGUAGE sql
	        AS 'SELECT $1';
	      CREATE AGGREGATE public.agg(integer) (sfunc = public.step, stype = public.d,
	        initcond = '1');});
my $agg_backup = queue_backup($node, 'aggdb');
is(wait_backup($node, $agg_backup), 'succeeded', 'backup of a database with such an aggregate');
my $agg_drill = call_as($su, "SELECT pgbak_verify($agg_backup, true)");
is(wait_op($agg_drill), 'failed', 'its drill refuses to create it as the superuser');
like(
	$node->safe_psql('postgres', "SELECT error_detail FROM backup_log WHERE id = $agg_drill"),
	qr/AGGREGATE public\.agg\(integer\) \(run as the restoring superuser\) uses DOMAIN public\.d of aggmal/,
	'naming the aggregate and the domain');
is(is_superuser('aggmal'), 'f', 'aggmal is not superuser');
unlike(slurp_file($node->logfile), qr/pgbak-attack aggchk ran as \Q$su\E/,
	'the domain\'s check never ran as the superuser');

# A plain script of a database whose objects other roles own.
my $plain_shop = queue_backup($node, 'shop', '{"format": "plain"}');
is(wait_backup($node, $plain_shop), 'succeeded', 'a plain backup of shop');
my $plain_drill = call_as($su, "SELECT pgbak_verify($plain_shop, true)");
is(wait_op($plain_drill), 'failed', 'its drill refuses to run it as a superuser');
like(error_of($plain_drill),
	qr/a plain-format backup runs as one superuser session, and this one holds objects of role "shopowner"/,
	'naming the owner');
my $plain_allowed = call_as($su,
	"SELECT pgbak_restore($plain_shop, 'shop_plain', '{\"allow_superuser_code\": true}')");
is(wait_op($plain_allowed), 'succeeded', 'an admin may restore it anyway')
  or diag error_of($plain_allowed);
is($node->safe_psql('shop_plain', 'SELECT count(*) FROM app.orders'), '50', 'with its rows');

# ---------------------------------------------------------------------------
# 13. Restore option globals creates the roles the set needs that this
#     server lacks, from the set's globals.sql, and leaves existing roles
#     alone (admins only).
# ---------------------------------------------------------------------------

$node->safe_psql('postgres', q{
  CREATE ROLE keeper LOGIN;
  CREATE ROLE goner LOGIN CREATEDB PASSWORD 'gone-secret';
  GRANT keeper TO goner;
  COMMENT ON ROLE goner IS 'gone soon';
  CREATE DATABASE gonedb OWNER goner;
});
as('goner', 'gonedb', 'CREATE TABLE public.g (x int); INSERT INTO public.g VALUES (1), (2)');
my $gone_backup = queue_backup($node, 'gonedb');
is(wait_backup($node, $gone_backup), 'succeeded', 'backup of a database whose owner goes away');
$node->safe_psql('postgres', 'DROP DATABASE gonedb; DROP ROLE goner; ALTER ROLE keeper CREATEROLE');

my $no_globals = call_as($su, "SELECT pgbak_restore($gone_backup, 'gonedb')");
is(wait_op($no_globals), 'failed', 'without its owner role the restore fails');
like(error_of($no_globals), qr/role "goner", the owner of database "gonedb" in the backup, does not exist/,
	'and says which role is missing');
($ret, $out, $err) = $node->psql('postgres',
	"SELECT pgbak_restore($gone_backup, 'gonedb', '{\"globals\": true}')",
	extra_params => [ '-U', 'opcd', '-v', 'VERBOSITY=verbose' ]);
like($err, qr/42501: permission denied for restore option "globals"/,
	'an operator may not create roles from a set');
my $with_globals = call_as($su, "SELECT pgbak_restore($gone_backup, 'gonedb', '{\"globals\": true}')");
is(wait_op($with_globals), 'succeeded', 'with globals the restore creates the role first')
  or diag error_of($with_globals);
is( $node->safe_psql(
		'postgres', q{
SELECT r.rolcanlogin || ' ' || r.rolcreatedb || ' ' || (r.rolpassword IS NOT NULL) || ' '
    || coalesce(shobj_description(r.oid, 'pg_authid'), '') || ' '
    || pg_has_role('goner', 'keeper', 'MEMBER') || ' '
    || (SELECT rolcreaterole FROM pg_authid WHERE rolname = 'keeper')
FROM pg_authid r WHERE r.rolname = 'goner'}),
	'true true true gone soon true true',
	'the role comes back with its attributes, password, comment and membership; keeper keeps what it has now'
);
is( $node->safe_psql('gonedb',
		q{SELECT count(*) || ' ' || pg_get_userbyid(relowner) FROM public.g, pg_class WHERE oid = 'public.g'::regclass GROUP BY relowner}),
	'2 goner', 'and the database its rows, owned by it');
unlike(slurp_file($node->logfile), qr/ALTER ROLE goner WITH/,
	'the role statements with their password hash never reach the server log');

$node->stop;
done_testing();
