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
  ASSERT_EQ(uses.size(), 3u);
  EXPECT_EQ(uses[0].object, "TABLE public.t");
  EXPECT_EQ(uses[0].code, "FUNCTION public.check_it(integer)");
  EXPECT_EQ(uses[0].code_owner, "alice");
  // Its rows are loaded through the table's definition.
  EXPECT_EQ(uses[1].object, "TABLE DATA public.t");
  EXPECT_EQ(uses[2].object, "TRIGGER public.t t_trg");
  EXPECT_EQ(uses[2].code_owner, "bob");
  EXPECT_EQ(DescribeSuperuserCode({uses[0], uses[2]}),
            "TABLE public.t (run as postgres) uses FUNCTION public.check_it(integer) of alice; "
            "TRIGGER public.t t_trg (run as admin2) uses FUNCTION public.trg() of bob");
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

TEST(SuperuserCodeTest, ThroughAnotherRolesView) {
  // A superuser's materialized view over alice's view: the refresh runs
  // the view's functions as the superuser.
  std::vector<TocEntry> toc = {Entry(1, "FUNCTION", "f()", "postgres", {}),
                               Entry(2, "VIEW", "v", "alice", {1}),
                               Entry(3, "MATERIALIZED VIEW", "mv", "postgres", {2}),
                               Entry(4, "MATERIALIZED VIEW DATA", "mv", "postgres", {3})};
  std::vector<SuperuserCodeUse> uses = FindSuperuserCode(toc, kSuperusers);
  ASSERT_EQ(uses.size(), 2u);
  EXPECT_EQ(uses[0].code, "VIEW public.v");
}

TEST(SuperuserCodeTest, PreDataThatRunsCodeWhoeverOwnsIt) {
  // Pre-data is created by the restoring superuser: mallory's aggregate
  // whose state type is her domain, and a partition of a table whose key
  // is a domain using her function, run her code as the superuser.
  std::vector<TocEntry> toc = {
      Entry(1, "FUNCTION", "evil(integer)", "mallory", {}), Entry(2, "DOMAIN", "d", "mallory", {1}),
      Entry(3, "FUNCTION", "step(d, integer)", "mallory", {2}),
      Entry(4, "AGGREGATE", "agg(integer)", "mallory", {2, 3}),
      Entry(5, "DOMAIN", "k", "postgres", {1}), Entry(6, "TABLE", "parent", "mallory", {5}),
      Entry(7, "TABLE", "child", "mallory", {5}),
      Entry(8, "TABLE ATTACH", "child", "mallory", {6, 7}),
      // An aggregate of mallory's over a plain type
      // runs nothing of hers when created.
      Entry(9, "AGGREGATE", "plain(integer)", "mallory", {3})};
  std::vector<SuperuserCodeUse> uses = FindSuperuserCode(toc, kSuperusers);
  ASSERT_EQ(uses.size(), 2u);
  EXPECT_EQ(uses[0].object, "AGGREGATE public.agg(integer)");
  EXPECT_EQ(uses[0].object_owner, "the restoring superuser");
  EXPECT_EQ(uses[0].code, "DOMAIN public.d");
  EXPECT_EQ(uses[1].object, "TABLE ATTACH public.child");
  EXPECT_EQ(uses[1].code, "FUNCTION public.evil(integer)");
}

TEST(SuperuserCodeTest, ARestoredSubsetIsWalkedThroughEverything) {
  // A table restore selects the table's entries only; the functions its
  // CHECK uses are found all the same.
  std::vector<TocEntry> toc = {Entry(1, "FUNCTION", "check_it(integer)", "alice", {}),
                               Entry(2, "TABLE", "t", "postgres", {1}),
                               Entry(3, "TABLE DATA", "t", "postgres", {2}),
                               Entry(4, "TABLE", "u", "postgres", {1})};
  std::set<int> restored = {2, 3};
  std::vector<SuperuserCodeUse> uses = FindSuperuserCode(toc, kSuperusers, &restored);
  ASSERT_EQ(uses.size(), 2u);
  EXPECT_EQ(uses[1].object, "TABLE DATA public.t");
  // Its data alone, too (through the table's definition).
  std::set<int> data = {3};
  EXPECT_EQ(FindSuperuserCode(toc, kSuperusers, &data).size(), 1u);
  std::set<int> other = {4};
  EXPECT_EQ(FindSuperuserCode(toc, kSuperusers, &other).size(), 1u);
  std::set<int> none;
  EXPECT_TRUE(FindSuperuserCode(toc, kSuperusers, &none).empty());
}

TEST(SuperuserCodeTest, CodeRunAsSuperuserWhoeverOwnsIt) {
  std::vector<TocEntry> toc = {Entry(1, "FUNCTION", "inner()", "postgres", {}),
                               Entry(2, "FUNCTION", "check_it(integer)", "postgres", {1}),
                               Entry(3, "TABLE", "t", "postgres", {2}),
                               Entry(4, "TABLE DATA", "t", "postgres", {3}),
                               Entry(5, "FUNCTION", "other()", "postgres", {}),
                               Entry(6, "TABLE", "u", "alice", {5})};
  std::set<int> restored = {4};
  std::vector<TocEntry> code = CodeRunAsSuperuser(toc, kSuperusers, &restored);
  ASSERT_EQ(code.size(), 2u);
  EXPECT_EQ(code[0].tag, "inner()");
  EXPECT_EQ(code[1].tag, "check_it(integer)");
  // Alice's table runs its code as alice.
  std::set<int> hers = {6};
  EXPECT_TRUE(CodeRunAsSuperuser(toc, kSuperusers, &hers).empty());
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

TEST(PlainScriptOwnersTest, AHeaderTooLongToReadIsAmbiguous) {
  PlainScriptOwners owners;
  owners.Line(std::string(70000, 'x'), true);  // a long data line: not a header
  EXPECT_FALSE(owners.ambiguous());
  owners.Line("-- Name: f(integer, integer, ", true);
  EXPECT_TRUE(owners.ambiguous());
  EXPECT_TRUE(owners.owners().empty());
}

}  // namespace
}  // namespace pgbak
