// cli_args_test.cpp: the command line of pgbak, and every usage error.
#include "cli/cli_args.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pgbak::cli {
namespace {

using Args = std::vector<std::string>;

std::string UsageMessage(const Args& args) {
  try {
    Parse(args);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(CliArgsTest, Sets) {
  Arguments a = Parse({"sets", "--storage", "s3://bucket/prefix", "--storage-options=/etc/o.json",
                       "--database", "app", "--cluster=7301", "--json"});
  EXPECT_EQ(a.command, "sets");
  EXPECT_EQ(a.storage_url, "s3://bucket/prefix");
  EXPECT_EQ(a.storage_options, "/etc/o.json");
  EXPECT_EQ(a.database, "app");
  EXPECT_EQ(a.cluster, "7301");
  EXPECT_TRUE(a.json);
  // Options may come before the command.
  EXPECT_EQ(Parse({"--storage=file:///b", "sets"}).storage_url, "file:///b");
}

TEST(CliArgsTest, HelpAndVersion) {
  EXPECT_EQ(Parse({"--help"}).command, "help");
  EXPECT_EQ(Parse({"--help"}).help_for, "");
  EXPECT_EQ(Parse({"sets", "--help"}).help_for, "sets");
  EXPECT_EQ(Parse({"-h", "sets"}).help_for, "sets");
  EXPECT_EQ(Parse({"--version"}).command, "version");
  EXPECT_NE(HelpText("").find("Exit codes: 0 ok, 1 failure, 2 bad usage, 3 not found"),
            std::string::npos);
  EXPECT_NE(HelpText("sets").find("pgbak sets --storage URL"), std::string::npos);
}

TEST(CliArgsTest, EveryUsageError) {
  EXPECT_EQ(UsageMessage({}), "no command given (see pgbak --help)");
  EXPECT_EQ(UsageMessage({"drop"}), "unknown command \"drop\" (see pgbak --help)");
  EXPECT_EQ(UsageMessage({"drop", "--help"}), "unknown command \"drop\" (see pgbak --help)");
  EXPECT_EQ(UsageMessage({"sets"}), "pgbak sets needs --storage URL");
  EXPECT_EQ(UsageMessage({"sets", "--storage"}), "option --storage needs a value");
  EXPECT_EQ(UsageMessage({"sets", "--storage", "--json"}), "option --storage needs a value");
  EXPECT_EQ(UsageMessage({"sets", "--storage="}), "option --storage needs a value");
  EXPECT_EQ(UsageMessage({"sets", "--storage", "x", "extra"}),
            "pgbak sets takes no argument, not \"extra\"");
  EXPECT_EQ(UsageMessage({"sets", "--storage", "x", "--bogus"}),
            "unknown option --bogus (see pgbak --help)");
  EXPECT_EQ(UsageMessage({"sets", "--storage", "x", "-x"}), "unknown option -x (see pgbak --help)");
  EXPECT_EQ(UsageMessage({"sets", "--storage", "x", "--json=yes"}), "option --json takes no value");
  EXPECT_EQ(UsageMessage({"sets", "--storage", "x", "--cluster", "abc"}),
            "--cluster takes a system identifier (digits), not \"abc\"");
  // Options of other commands are refused, by name.
  EXPECT_EQ(UsageMessage({"sets", "--storage", "x", "--identity", "k"}),
            "pgbak sets takes no option --identity (see pgbak sets --help)");
  EXPECT_EQ(UsageMessage({"verify", "s", "--storage", "x", "--dbname", "d"}),
            "pgbak verify takes no option --dbname (see pgbak verify --help)");
  EXPECT_EQ(UsageMessage({"fetch", "s", "d", "--storage", "x", "--work-dir", "w"}),
            "pgbak fetch takes no option --work-dir (see pgbak fetch --help)");
  EXPECT_EQ(UsageMessage({"restore", "s", "--storage", "x", "--dbname", "d", "--no-sync"}),
            "pgbak restore takes no option --no-sync (see pgbak restore --help)");
  EXPECT_EQ(UsageMessage({"verify", "s", "--storage", "x", "--create"}),
            "pgbak verify takes no option --create (see pgbak verify --help)");
  // Arguments.
  EXPECT_EQ(UsageMessage({"verify", "--storage", "x"}),
            "pgbak verify needs a set (see pgbak verify --help)");
  EXPECT_EQ(UsageMessage({"verify", "a", "b", "--storage", "x"}),
            "pgbak verify takes one set, not also \"b\"");
  EXPECT_EQ(UsageMessage({"fetch", "a", "--storage", "x"}),
            "pgbak fetch needs a directory after the set");
  EXPECT_EQ(UsageMessage({"fetch", "--storage", "x"}),
            "pgbak fetch needs a set (see pgbak fetch --help)");
  EXPECT_EQ(UsageMessage({"fetch", "a", "b", "c", "--storage", "x"}),
            "pgbak fetch takes a set and a directory, not also \"c\"");
  EXPECT_EQ(UsageMessage({"verify", "a"}), "pgbak verify needs --storage URL");
  EXPECT_EQ(UsageMessage({"restore", "a", "--storage", "x"}),
            "pgbak restore needs --dbname CONNINFO (the database to restore into)");
  // Values.
  for (const char* jobs : {"0", "65", "-1", "x", "1.5", "99999"})
    EXPECT_EQ(UsageMessage({"restore", "a", "--storage", "x", "--dbname", "d", "--jobs", jobs}),
              std::string("--jobs takes a number from 1 to 64, not \"") + jobs + "\"")
        << jobs;
  EXPECT_EQ(UsageMessage({"restore", "a", "--storage", "x", "--dbname", "d", "--tables", "a,,b"}),
            "--tables takes names separated by commas, not \"a,,b\"");
  EXPECT_EQ(UsageMessage({"restore", "a", "--storage", "x", "--dbname", "d", "--tables="}),
            "option --tables needs a value");
  EXPECT_EQ(UsageMessage({"restore", "a", "--storage", "x", "--dbname", "d", "--create=yes"}),
            "option --create takes no value");
  EXPECT_EQ(UsageMessage({"restore", "a", "--storage", "x", "--dbname", "d", "--globals=1"}),
            "option --globals takes no value");
}

TEST(CliArgsTest, VerifyFetchRestore) {
  Arguments v = Parse({"verify", "latest", "--storage", "s3://b", "--identity", "/k", "--database",
                       "app", "--work-dir=/w", "--json"});
  EXPECT_EQ(v.command, "verify");
  EXPECT_EQ(v.set, "latest");
  EXPECT_EQ(v.identity, "/k");
  EXPECT_EQ(v.work_dir, "/w");
  EXPECT_TRUE(v.json);
  Arguments f = Parse({"fetch", "42", "/out", "--storage", "file:///b", "--no-sync"});
  EXPECT_TRUE(f.no_sync);
  EXPECT_EQ(f.set, "42");
  EXPECT_EQ(f.directory, "/out");
  Arguments r = Parse({"restore", "7301/app/20261201T000000Z-42", "--storage", "s3://b", "--dbname",
                       "host=h dbname=app", "--jobs", "4", "--create", "--globals", "--tables",
                       "public.a,b", "--tables=s.c"});
  EXPECT_EQ(r.set, "7301/app/20261201T000000Z-42");
  EXPECT_EQ(r.dbname, "host=h dbname=app");
  EXPECT_EQ(r.jobs, 4);
  EXPECT_TRUE(r.create);
  EXPECT_TRUE(r.globals);
  EXPECT_EQ(r.tables, (std::vector<std::string>{"public.a", "b", "s.c"}));
  EXPECT_EQ(Parse({"restore", "1", "--storage", "x", "--dbname", "d"}).jobs, 1);
  for (const char* command : {"sets", "verify", "fetch", "restore"}) {
    EXPECT_EQ(Parse({command, "--help"}).help_for, command);
    EXPECT_NE(HelpText(command).find(std::string("pgbak ") + command + " "), std::string::npos)
        << command;
  }
  EXPECT_NE(HelpText("restore").find("No password here"), std::string::npos);
}

}  // namespace
}  // namespace pgbak::cli

namespace pgbak::cli {
namespace {

TEST(CliArgsTest, RestoreClusterAndWalGet) {
  Arguments a =
      Parse({"restore-cluster", "--pgdata", "/srv/new", "--storage", "file:///b", "--target-time",
             "2026-12-02 07:10:00+00", "--base", "42", "--tablespace-map", "/old=/new",
             "--tablespace-map=16385=/other", "--no-archive", "--cluster", "7301"});
  EXPECT_EQ(a.command, "restore-cluster");
  EXPECT_EQ(a.pgdata, "/srv/new");
  EXPECT_EQ(a.target_kind, "time");
  EXPECT_EQ(a.target, "2026-12-02 07:10:00+00");
  EXPECT_EQ(a.base, "42");
  EXPECT_EQ(a.tablespace_map, (Args{"/old=/new", "16385=/other"}));
  EXPECT_TRUE(a.no_archive);
  EXPECT_EQ(Parse({"restore-cluster", "--pgdata=/d", "--storage=file:///b", "--target=latest"})
                .target_kind,
            "latest");
  EXPECT_EQ(Parse({"restore-cluster", "--pgdata=/d", "--storage=file:///b"}).target_kind, "");
  EXPECT_EQ(UsageMessage({"restore-cluster", "--storage=file:///b"}),
            "pgbak restore-cluster needs --pgdata DIR (the new data directory)");
  EXPECT_EQ(UsageMessage({"restore-cluster", "--pgdata=/d", "--storage=file:///b",
                          "--target-lsn=0/1", "--target-xid=5"}),
            "give one target: --target-time, --target-lsn, --target-xid or --target latest");
  EXPECT_EQ(UsageMessage(
                {"restore-cluster", "--pgdata=/d", "--storage=file:///b", "--tablespace-map=/old"}),
            "--tablespace-map takes OLD=NEW, not \"/old\"");
  EXPECT_EQ(UsageMessage({"restore-cluster", "x", "--pgdata=/d", "--storage=file:///b"}),
            "pgbak restore-cluster takes no argument, not \"x\"");
  EXPECT_EQ(UsageMessage({"restore-cluster", "--pgdata=/d", "--storage=file:///b", "--jobs=2"}),
            "pgbak restore-cluster takes no option --jobs (see pgbak restore-cluster --help)");

  Arguments w = Parse({"wal-get", "000000010000000000000003", "pg_wal/RECOVERYXLOG", "--storage",
                       "file:///b", "--cluster", "7301", "--prefetch", "0"});
  EXPECT_EQ(w.wal_file, "000000010000000000000003");
  EXPECT_EQ(w.wal_path, "pg_wal/RECOVERYXLOG");
  EXPECT_EQ(w.prefetch, 0);
  EXPECT_EQ(Parse({"wal-get", "f", "p", "--storage=file:///b", "--cluster=1"}).prefetch, 8);
  EXPECT_EQ(UsageMessage({"wal-get", "f", "p", "--storage=file:///b"}),
            "pgbak wal-get needs --cluster ID (the system identifier of the archive)");
  EXPECT_EQ(UsageMessage({"wal-get", "f", "--storage=file:///b", "--cluster=1"}),
            "pgbak wal-get takes FILE PATH (restore_command's %f %p)");
  EXPECT_EQ(
      UsageMessage({"wal-get", "f", "p", "--storage=file:///b", "--cluster=1", "--prefetch=65"}),
      "--prefetch takes a number from 0 to 64, not \"65\"");
  EXPECT_NE(HelpText("wal-get").find("254 the archived object is damaged"), std::string::npos);
  EXPECT_NE(HelpText("").find("restore-cluster"), std::string::npos);
}

}  // namespace
}  // namespace pgbak::cli
