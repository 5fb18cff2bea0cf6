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
  EXPECT_EQ(UsageMessage({"restore"}), "unknown command \"restore\" (see pgbak --help)");
  EXPECT_EQ(UsageMessage({"restore", "--help"}), "unknown command \"restore\" (see pgbak --help)");
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
}

}  // namespace
}  // namespace pgbak::cli
