// superuser_code_test.cpp: superuser-owned entries that reach another
// role's code, on tables of contents shaped as pg_dump 15 writes them, and
// the owners a plain script's headers name.
#include "core/archive/superuser_code.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace pgbak {
namespace {

TocEntry Entry(int id, const char* desc, const char* tag, const char* owner,
               std::vector<int> dependencies) {
  TocEntry entry;
  entry.dump_id = id;
  entry.desc = desc;
  entry.namespace_ = "public";
  entry.tag = tag;
  entry.owner = owner;
  entry.dependencies = std::move(dependencies);
  return entry;
}

const std::set<std::string> kSuperusers = {"postgres", "admin2"};

TEST(SuperuserCodeTest, AllOneOwnerIsFine) {
  std::vector<TocEntry> toc = {
      Entry(1, "FUNCTION", "f(integer)", "postgres", {}), Entry(2, "TABLE", "t", "postgres", {1}),
      Entry(3, "TABLE DATA", "t", "postgres", {2}), Entry(4, "INDEX", "t_f", "postgres", {2, 1})};
  EXPECT_TRUE(FindSuperuserCode(toc, kSuperusers).empty());
  // Owners that are no superusers run their own code with their own rights.
  for (TocEntry& entry : toc)
    entry.owner = "alice";
  EXPECT_TRUE(FindSuperuserCode(toc, kSuperusers).empty());
}

TEST(SuperuserCodeTest, ASuperusersTableUsingAnotherRolesFunction) {
  std::vector<TocEntry> toc = {
      Entry(1, "FUNCTION", "check_it(integer)", "alice", {}),
      Entry(2, "TABLE", "t", "postgres", {1}), Entry(3, "TABLE DATA", "t", "postgres", {2}),
      Entry(4, "FUNCTION", "trg()", "bob", {}), Entry(5, "TRIGGER", "t t_trg", "admin2", {2, 4})};
  std::vector<SuperuserCodeUse> uses = FindSuperuserCode(toc, kSuperusers);
  ASSERT_EQ(uses.size(), 2u);
  EXPECT_EQ(uses[0].object, "TABLE public.t");
  EXPECT_EQ(uses[0].code, "FUNCTION public.check_it(integer)");
  EXPECT_EQ(uses[0].code_owner, "alice");
  EXPECT_EQ(uses[1].object, "TRIGGER public.t t_trg");
  EXPECT_EQ(uses[1].code_owner, "bob");
  EXPECT_EQ(DescribeSuperuserCode(uses),
            "TABLE public.t (owner postgres) uses FUNCTION public.check_it(integer) of alice; "
            "TRIGGER public.t t_trg (owner admin2) uses FUNCTION public.trg() of bob");
}

TEST(SuperuserCodeTest, ThroughASuperusersDomain) {
  // The table's column is of a superuser's domain whose CHECK calls
  // alice's function: found through the domain.
  std::vector<TocEntry> toc = {Entry(1, "FUNCTION", "ok(text)", "alice", {}),
                               Entry(2, "DOMAIN", "mood", "postgres", {1}),
                               Entry(3, "TABLE", "feelings", "postgres", {2})};
  std::vector<SuperuserCodeUse> uses = FindSuperuserCode(toc, kSuperusers);
  ASSERT_EQ(uses.size(), 1u);
  EXPECT_EQ(uses[0].code, "FUNCTION public.ok(text)");
}

TEST(SuperuserCodeTest, OtherDependenciesAreNotCode) {
  // A schema, a sequence or another table of alice's runs nothing.
  std::vector<TocEntry> toc = {
      Entry(1, "SCHEMA", "app", "alice", {}), Entry(2, "TABLE", "parent", "alice", {1}),
      Entry(3, "SEQUENCE", "s", "alice", {1}), Entry(4, "TABLE", "t", "postgres", {1, 2, 3}),
      Entry(5, "FK CONSTRAINT", "t t_fk", "postgres", {4, 2})};
  EXPECT_TRUE(FindSuperuserCode(toc, kSuperusers).empty());
}

TEST(SuperuserCodeTest, CyclesAndMissingIdsEnd) {
  std::vector<TocEntry> toc = {Entry(1, "FUNCTION", "a()", "postgres", {2, 99}),
                               Entry(2, "FUNCTION", "b()", "postgres", {1}),
                               Entry(3, "TABLE", "t", "postgres", {1})};
  EXPECT_TRUE(FindSuperuserCode(toc, kSuperusers).empty());
}

TEST(SuperuserCodeTest, ManyAreCut) {
  std::vector<TocEntry> toc = {Entry(1, "FUNCTION", "f()", "alice", {})};
  for (int i = 0; i < 8; i++)
    toc.push_back(Entry(10 + i, "INDEX", "i", "postgres", {1}));
  std::string text = DescribeSuperuserCode(FindSuperuserCode(toc, kSuperusers));
  EXPECT_NE(text.find("(and 3 more)"), std::string::npos) << text;
}

TEST(PlainScriptOwnersTest, HeadersNameOwners) {
  PlainScriptOwners owners;
  for (const char* line : {
           "-- Name: public; Type: SCHEMA; Schema: -; Owner: pg_database_owner",
           "CREATE TABLE public.t (id integer);",
           "-- Name: t; Type: TABLE; Schema: public; Owner: alice",
           "-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: alice",
           "-- Name: TABLE t; Type: ACL; Schema: public; Owner: -",
           "  -- Name: x; Type: TABLE; Schema: public; Owner: mallory (not a header)",
           "-- Name: f(); Type: FUNCTION; Schema: public; Owner: Bob Smith",
       })
    owners.Line(line);
  EXPECT_EQ(owners.owners(), (std::set<std::string>{"pg_database_owner", "alice", "Bob Smith"}));
  EXPECT_FALSE(owners.ambiguous());
}

TEST(PlainScriptOwnersTest, ANameThatNamesAnOwnerIsAmbiguous) {
  PlainScriptOwners owners;
  owners.Line("-- Name: x; Owner: postgres; Type: TABLE; Schema: public; Owner: alice");
  EXPECT_EQ(owners.owners(), (std::set<std::string>{"alice"}));
  EXPECT_TRUE(owners.ambiguous());
}

}  // namespace
}  // namespace pgbak
