// recover_options_test.cpp: pgbak_recover's options.
#include "core/options/recover_options.h"

#include <gtest/gtest.h>

#include <string>

#include "core/base/error.h"

namespace pgbak {
namespace {

std::string MessageOf(const std::string& json) {
  try {
    ParseRecoverOptions(json);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidParameter);
    return e.what();
  }
  return "(accepted)";
}

TEST(RecoverOptionsTest, TablesAndSchema) {
  RecoverOptions options = ParseRecoverOptions(
      R"({"tables": ["public.pgbench_accounts", "Branches", "\"Mixed\".\"T\""], "into_schema": "back"})");
  ASSERT_EQ(options.tables.size(), 3u);
  EXPECT_EQ(options.tables[0].schema, "public");
  EXPECT_EQ(options.tables[0].name, "pgbench_accounts");
  EXPECT_EQ(options.tables[1].name, "branches");
  EXPECT_EQ(options.tables[2].schema, "Mixed");
  EXPECT_EQ(options.tables[2].name, "T");
  EXPECT_EQ(options.into_schema, "back");
  // The stored form reads back as itself.
  std::string stored = options.ToJson().Serialize();
  EXPECT_EQ(ParseRecoverOptions(stored).ToJson().Serialize(), stored);
  EXPECT_EQ(ParseRecoverOptions(R"({"tables": ["t"]})").into_schema, "");
  EXPECT_EQ(DefaultRecoverSchema(42), "pgbak_recovered_42");
}

TEST(RecoverOptionsTest, WholeDatabase) {
  RecoverOptions options = ParseRecoverOptions(R"({"target_database": "myapp_at_1430"})");
  EXPECT_EQ(options.target_database, "myapp_at_1430");
  EXPECT_TRUE(options.tables.empty());
  std::string stored = options.ToJson().Serialize();
  EXPECT_EQ(stored, R"({"target_database":"myapp_at_1430"})");
  EXPECT_EQ(ParseRecoverOptions(stored).target_database, "myapp_at_1430");
  try {
    ParseRecoverOptions("{\"target_database\": \"" + std::string(64, 'x') + "\"}");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNameTooLong);
  }
}

TEST(RecoverOptionsTest, Refused) {
  EXPECT_EQ(MessageOf("{}"), "recover option \"tables\" must name at least one table");
  EXPECT_EQ(MessageOf(R"({"tables": []})"),
            "recover option \"tables\" must name at least one table");
  EXPECT_EQ(MessageOf(R"({"tables": "t"})"),
            "recover option \"tables\" must name at least one table");
  EXPECT_EQ(MessageOf(R"({"tables": ["t"], "clean": true})"), "unknown recover option \"clean\"");
  EXPECT_EQ(MessageOf(R"({"tables": ["t"], "target_database": "x"})"),
            "recover option \"target_database\" excludes \"tables\" and \"into_schema\"");
  EXPECT_EQ(MessageOf(R"({"target_database": ""})"),
            "recover option \"target_database\" must be a database name, not \"\"");
  EXPECT_EQ(MessageOf(R"({"target_database": 5})"),
            "recover option \"target_database\" must be a database name, not 5");
  EXPECT_EQ(MessageOf(R"({"tables": ["t"], "target_time": "now"})"),
            "\"target_time\" is pgbak_recover's second argument, not an option");
  EXPECT_NE(MessageOf(R"({"tables": ["a.b.c"]})").find("recover option"), std::string::npos);
  EXPECT_NE(MessageOf(R"({"tables": ["t"], "into_schema": "pg_catalog"})"), "(accepted)");
  EXPECT_EQ(MessageOf("[]"), "recover options must be a JSON object, not array");
  EXPECT_EQ(MessageOf("nope"), "invalid recover options");
}

}  // namespace
}  // namespace pgbak
