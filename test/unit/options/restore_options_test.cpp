// restore_options_test.cpp: pgbak_restore's options are validated and
// normalized before anything is queued.
#include "core/options/restore_options.h"

#include <gtest/gtest.h>

#include "core/base/error.h"

namespace pgbak {
namespace {

TEST(RestoreOptionsTest, DefaultsRestoreWhole) {
  RestoreOptions options = ParseRestoreOptions("{}");
  EXPECT_FALSE(options.clean);
  EXPECT_FALSE(options.partial());
  EXPECT_EQ(options.jobs, 1);
  EXPECT_EQ(options.ToJson().Serialize(), R"({"clean":false,"jobs":1})");
  EXPECT_TRUE(options.SelectionArgumentGroups().empty());
}

TEST(RestoreOptionsTest, TablesAreGroupedBySchema) {
  RestoreOptions options = ParseRestoreOptions(
      R"({"tables": ["public.users", "Billing.\"Invoices\"", "public.orders", "loose"],
          "jobs": 4})");
  EXPECT_TRUE(options.partial());
  EXPECT_EQ(options.jobs, 4);
  std::vector<std::vector<std::string>> groups = options.SelectionArgumentGroups();
  ASSERT_EQ(groups.size(), 3u);
  // Unqualified names form their own group, without --schema.
  EXPECT_EQ(groups[0], (std::vector<std::string>{"--table=loose"}));
  EXPECT_EQ(groups[1], (std::vector<std::string>{"--schema=billing", "--table=Invoices"}));
  EXPECT_EQ(groups[2],
            (std::vector<std::string>{"--schema=public", "--table=users", "--table=orders"}));
  EXPECT_EQ(options.ToJson().Find("tables")->Serialize(),
            R"(["public.users","billing.\"Invoices\"","public.orders","loose"])");
}

TEST(RestoreOptionsTest, SchemasSelectWholeSchemas) {
  RestoreOptions options = ParseRestoreOptions(R"({"schemas": ["sales", "\"Odd Name\""]})");
  std::vector<std::vector<std::string>> groups = options.SelectionArgumentGroups();
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0], (std::vector<std::string>{"--schema=sales", "--schema=Odd Name"}));
}

TEST(RestoreOptionsTest, IntoSchemaTakesASelection) {
  RestoreOptions tables =
      ParseRestoreOptions(R"({"tables": ["app.users", "orders"], "into_schema": "Recovered"})");
  EXPECT_EQ(tables.into_schema, "recovered");
  EXPECT_EQ(
      tables.ToJson().Serialize(),
      R"({"clean":false,"tables":["app.users","orders"],"into_schema":"recovered","jobs":1})");
  RestoreOptions schema =
      ParseRestoreOptions(R"({"schemas": ["app"], "into_schema": "\"Old App\""})");
  EXPECT_EQ(schema.into_schema, "Old App");
  EXPECT_EQ(schema.ToJson().Serialize(),
            R"({"clean":false,"schemas":["app"],"into_schema":"\"Old App\"","jobs":1})");
}

TEST(RestoreOptionsTest, AllowSuperuserCodeIsShownWhenSet) {
  EXPECT_FALSE(ParseRestoreOptions("{}").allow_superuser_code);
  RestoreOptions allowed = ParseRestoreOptions(R"({"allow_superuser_code": true})");
  EXPECT_TRUE(allowed.allow_superuser_code);
  EXPECT_EQ(allowed.ToJson().Serialize(),
            R"({"clean":false,"jobs":1,"allow_superuser_code":true})");
  EXPECT_EQ(ParseRestoreOptions(R"({"allow_superuser_code": false})").ToJson().Serialize(),
            R"({"clean":false,"jobs":1})");
  EXPECT_EQ(ParseRestoreOptions(R"({"globals": true})").ToJson().Serialize(),
            R"({"clean":false,"jobs":1,"globals":true})");
}

TEST(RestoreOptionsTest, LimitsAreThoseOfBackups) {
  auto limit_error = [](const std::string& text) {
    try {
      ParseRestoreOptions(text);
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kLimitExceeded);
      return std::string(error.what());
    }
    ADD_FAILURE() << "accepted " << text.size() << " bytes";
    return std::string();
  };
  std::string tables = "{\"tables\": [\"t0\"";
  for (size_t i = 1; i < kMaxSelectedNames; i++) {
    tables += ", \"t" + std::to_string(i) + "\"";
  }
  EXPECT_EQ(ParseRestoreOptions(tables + "]}").tables.size(), kMaxSelectedNames);
  EXPECT_EQ(limit_error(tables + "], \"schemas\": [\"s\"]}"),
            "restore options name too many tables and schemas: 1001");
  EXPECT_EQ(limit_error("{\"tables\": [\"" + std::string(kMaxOptionsBytes, 't') + "\"]}"),
            "restore options are too large: 65552 bytes");
}

TEST(RestoreOptionsTest, BadInputIsRefusedWithTheKeyNamed) {
  struct Case {
    const char* json;
    const char* message_part;
  };
  for (const Case& c :
       {Case{"[]", "must be a JSON object"},
        Case{"{\"clena\": true}", "clena"},
        Case{"{\"clean\": 1}", "\"clean\""},
        Case{"{\"jobs\": 0}", "\"jobs\""},
        Case{"{\"jobs\": 33}", "\"jobs\""},
        Case{"{\"jobs\": 2.5}", "\"jobs\""},
        Case{"{\"tables\": []}", "at least one"},
        Case{"{\"tables\": [\"\"]}", "non-empty"},
        Case{"{\"tables\": \"users\"}", "array"},
        Case{"{\"schemas\": [\"a.b\"]}", "\"schemas\""},
        Case{"{\"clean\": true, \"tables\": [\"t\"]}", "cannot be combined"},
        Case{"{\"tables\": [\"pg_catalog.pg_authid\"]}", "\"pg_catalog\" is a system schema"},
        Case{"{\"schemas\": [\"information_schema\"]}", "is a system schema"},
        Case{"{\"into_schema\": \"copy\"}", "needs \"tables\" or \"schemas\""},
        Case{"{\"tables\": [\"t\"], \"into_schema\": \"\"}", "must be a schema name"},
        Case{"{\"tables\": [\"t\"], \"into_schema\": 1}", "must be a schema name"},
        Case{"{\"tables\": [\"t\"], \"into_schema\": \"a.b\"}", "\"into_schema\""},
        Case{"{\"tables\": [\"t\"], \"into_schema\": \"pg_copy\"}", "is a system schema"},
        Case{"{\"schemas\": [\"a\", \"b\"], \"into_schema\": \"c\"}", "takes one schema"},
        Case{"{\"schemas\": [\"a\"], \"tables\": [\"t\"], \"into_schema\": \"c\"}",
             "takes one schema"},
        Case{"{\"allow_superuser_code\": 1}", "must be a boolean"},
        Case{"{\"globals\": \"yes\"}", "\"globals\" must be a boolean"},
        Case{"{not json", "invalid restore options"}}) {
    try {
      ParseRestoreOptions(c.json);
      ADD_FAILURE() << c.json << " was accepted";
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kInvalidParameter) << c.json;
      EXPECT_NE(std::string(error.what()).find(c.message_part), std::string::npos)
          << c.json << ": " << error.what();
    }
  }
}

}  // namespace
}  // namespace pgbak
