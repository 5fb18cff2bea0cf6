// globals_script_test.cpp: the statements about roles in pg_dumpall's
// --globals-only output, as PostgreSQL 15 writes it.
#include "core/archive/globals_script.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pgbak {
namespace {

constexpr const char* kScript = R"(--
-- PostgreSQL database cluster dump
--

SET default_transaction_read_only = off;

--
-- Roles
--

CREATE ROLE alice;
ALTER ROLE alice WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:x=';
CREATE ROLE "Bob ""the"" Builder";
ALTER ROLE "Bob ""the"" Builder" WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;
ALTER ROLE alice SET search_path TO 'app';
COMMENT ON ROLE alice IS 'the app';
COMMENT ON ROLE alice IS 'a comment
over two lines';

--
-- Role memberships
--

GRANT "Bob ""the"" Builder" TO alice GRANTED BY postgres;
GRANT pg_read_all_data TO alice WITH ADMIN OPTION GRANTED BY postgres;
CREATE TABLESPACE fast OWNER postgres LOCATION '/fast';
CREATE ROLE "unterminated;
)";

TEST(GlobalsScriptTest, StatementsAboutRoles) {
  std::vector<RoleStatement> got = RoleStatements(kScript);
  ASSERT_EQ(got.size(), 8u);
  EXPECT_EQ(got[0].kind, RoleStatement::Kind::kCreate);
  EXPECT_EQ(got[0].roles, std::vector<std::string>{"alice"});
  EXPECT_EQ(got[0].sql, "CREATE ROLE alice;");
  EXPECT_EQ(got[1].kind, RoleStatement::Kind::kAlter);
  EXPECT_EQ(got[2].roles, std::vector<std::string>{"Bob \"the\" Builder"});
  EXPECT_EQ(got[3].roles, std::vector<std::string>{"Bob \"the\" Builder"});
  EXPECT_EQ(got[4].kind, RoleStatement::Kind::kAlter);  // SET search_path
  EXPECT_EQ(got[5].kind, RoleStatement::Kind::kComment);
  // The comment over two lines is not taken; grants name both roles.
  EXPECT_EQ(got[6].kind, RoleStatement::Kind::kGrant);
  EXPECT_EQ(got[6].roles, (std::vector<std::string>{"Bob \"the\" Builder", "alice"}));
  EXPECT_EQ(got[7].roles, (std::vector<std::string>{"pg_read_all_data", "alice"}));
}

TEST(GlobalsScriptTest, PlanCreatesOnlyMissingRoles) {
  std::vector<RoleStatement> statements = RoleStatements(
      "CREATE ROLE alice;\n"
      "ALTER ROLE alice WITH LOGIN PASSWORD 'SCRAM-SHA-256$x';\n"
      "CREATE ROLE postgres;\n"
      "ALTER ROLE postgres WITH SUPERUSER;\n"
      "COMMENT ON ROLE alice IS 'a';\n"
      "GRANT pg_read_all_data TO alice GRANTED BY postgres;\n"
      "GRANT alice TO postgres GRANTED BY postgres;\n"
      "GRANT ghost TO alice GRANTED BY postgres;\n"
      "GRANT pg_monitor TO postgres GRANTED BY postgres;\n");
  GlobalsPlan plan = PlanGlobals(statements, {"postgres", "pg_read_all_data", "pg_monitor"});
  EXPECT_EQ(plan.missing, std::set<std::string>{"alice"});
  ASSERT_EQ(plan.statements.size(), 5u);
  EXPECT_EQ(plan.statements[0].sql, "CREATE ROLE alice;");
  EXPECT_TRUE(plan.statements[0].required);
  EXPECT_TRUE(plan.statements[1].required);   // ALTER ROLE alice
  EXPECT_FALSE(plan.statements[2].required);  // COMMENT
  EXPECT_EQ(plan.statements[3].sql, "GRANT pg_read_all_data TO alice GRANTED BY postgres;");
  EXPECT_FALSE(plan.statements[3].required);
  EXPECT_EQ(plan.statements[4].sql, "GRANT alice TO postgres GRANTED BY postgres;");
  // Nothing about existing roles alone, nor grants of unknown roles.
  EXPECT_TRUE(PlanGlobals(statements, {"alice", "postgres"}).statements.empty());
}

TEST(GlobalsScriptTest, Identifiers) {
  std::string name;
  EXPECT_EQ(ParseIdentifier("abc_1$ x", name), 6u);
  EXPECT_EQ(name, "abc_1$");
  EXPECT_EQ(ParseIdentifier("\"A \"\"b\"\"\";", name), 9u);
  EXPECT_EQ(name, "A \"b\"");
  EXPECT_EQ(ParseIdentifier("\"open", name), 0u);
  EXPECT_EQ(ParseIdentifier("\"\"", name), 0u);
  EXPECT_EQ(ParseIdentifier("1abc", name), 0u);
  EXPECT_EQ(ParseIdentifier("Upper", name), 0u);
}

}  // namespace
}  // namespace pgbak
