// table_loads_test.cpp: which tables in objects of their own a selective
// restore loads, and the psql script that loads them.
#include "core/archive/table_loads.h"

#include <gtest/gtest.h>

#include <cctype>

#include "core/base/error.h"
#include "test_util.h"

namespace pgbak {
namespace {

TocEntry Entry(int id, const std::string& desc, const std::string& schema, const std::string& tag,
               const std::string& owner = "app") {
  TocEntry entry;
  entry.dump_id = id;
  entry.desc = desc;
  entry.namespace_ = schema;
  entry.tag = tag;
  entry.owner = owner;
  return entry;
}

Manifest TwoSeparateTables() {
  Manifest manifest;
  TableCount big;
  big.schema = "public";
  big.table = "big";
  big.rows = 10;
  big.object = "table-0001.copy.zst";
  big.columns = {"id", "Body"};
  TableCount small;
  small.schema = "public";
  small.table = "small";
  small.rows = 1;
  TableCount quoted;
  quoted.schema = "Sales Co";
  quoted.table = "Line \"Items\"";
  quoted.object = "table-0002.copy.zst";
  manifest.tables = {big, small, quoted};
  return manifest;
}

const std::vector<TocEntry> kToc = {Entry(10, "TABLE", "public", "big"),
                                    Entry(11, "TABLE", "public", "small"),
                                    Entry(12, "TABLE DATA", "public", "small"),
                                    Entry(13, "TABLE", "Sales Co", "Line \"Items\"", "bob")};

const std::map<std::string, std::string> kPaths = {{"table-0001.copy.zst", "/s/table-1.copy"},
                                                   {"table-0002.copy.zst", "/s/it's/table-2.copy"}};

TEST(TableLoadsTest, OnlyTheRestoredTablesWithObjects) {
  std::vector<SeparateTableLoad> all = SeparateTableLoads(TwoSeparateTables(), kToc, kPaths);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].table, "big");
  EXPECT_EQ(all[0].table_id, 10);
  EXPECT_EQ(all[0].path, "/s/table-1.copy");
  EXPECT_EQ(all[1].owner, "bob");
  std::vector<SeparateTableLoad> some =
      SeparateTableLoads(TwoSeparateTables(), kToc, kPaths,
                         [](const TocEntry& entry) { return entry.namespace_ == "Sales Co"; });
  ASSERT_EQ(some.size(), 1u);
  EXPECT_EQ(some[0].schema, "Sales Co");
  EXPECT_TRUE(SeparateTableLoads(TwoSeparateTables(), kToc, kPaths, [](const TocEntry&) {
                return false;
              }).empty());
}

TEST(TableLoadsTest, ATableNotDefinedOrNotStagedIsDamage) {
  std::vector<TocEntry> toc = {kToc[1], kToc[3]};
  EXPECT_THROW(SeparateTableLoads(TwoSeparateTables(), toc, kPaths), Error);
  EXPECT_THROW(SeparateTableLoads(TwoSeparateTables(), kToc, {}), Error);
}

TEST(TableLoadsTest, ScriptCopiesEachTableWithItsColumnsAsItsOwner) {
  std::vector<SeparateTableLoad> loads = SeparateTableLoads(TwoSeparateTables(), kToc, kPaths);
  std::string script = TableLoadScript(loads, "UTF8", true);
  EXPECT_NE(script.find("SET client_encoding = 'UTF8';\n"), std::string::npos);
  EXPECT_NE(script.find("SET SESSION AUTHORIZATION \"app\";\n"
                        "\\copy \"public\".\"big\" (\"id\", \"Body\") FROM '/s/table-1.copy'\n"),
            std::string::npos);
  EXPECT_NE(script.find("SET SESSION AUTHORIZATION \"bob\";\n"
                        "\\copy \"Sales Co\".\"Line \"\"Items\"\"\" FROM '/s/it''s/table-2.copy'\n"
                        "RESET SESSION AUTHORIZATION;\n"),
            std::string::npos);
  std::string plain = TableLoadScript(loads, "LATIN1", false, "recovered");
  EXPECT_EQ(plain.find("SESSION AUTHORIZATION"), std::string::npos);
  EXPECT_NE(plain.find("\\copy \"recovered\".\"big\""), std::string::npos);
  EXPECT_NE(plain.find("'LATIN1'"), std::string::npos);
}

TEST(TableLoadsTest, ALineBreakInANameIsRefused) {
  std::vector<SeparateTableLoad> loads = SeparateTableLoads(TwoSeparateTables(), kToc, kPaths);
  loads[1].table = "x\n\\! touch /tmp/owned";
  EXPECT_THROW(TableLoadScript(loads, "UTF8", false), Error);
  loads = SeparateTableLoads(TwoSeparateTables(), kToc, kPaths);
  loads[0].columns.push_back("a\rb");
  EXPECT_THROW(TableLoadScript(loads, "UTF8", false), Error);
  EXPECT_THROW(TableLoadScript({}, "", false), Error);
}

TEST(TableLoadsTest, NamesThatPsqlWouldSplitElsewhereAreRefused) {
  // A lone UTF-8 lead byte before a closing quote: psql would take the
  // quote as part of the character and run FROM PROGRAM.
  std::vector<SeparateTableLoad> loads = SeparateTableLoads(TwoSeparateTables(), kToc, kPaths);
  loads[0].columns = {"\xC3", ") FROM PROGRAM 'touch /tmp/owned' --"};
  EXPECT_THROW(TableLoadScript(loads, "UTF8", false), Error);
  // A NUL would end psql's line early.
  loads = SeparateTableLoads(TwoSeparateTables(), kToc, kPaths);
  loads[0].table = std::string("big\0x", 5);
  EXPECT_THROW(TableLoadScript(loads, "UTF8", false), Error);
  // Control characters, DEL, a truncated or overlong sequence.
  for (const char* bad : {"a\tb", "a\x7f", "a\xE2\x82", "\xC0\xAF", "\xF5\x80\x80\x80"}) {
    loads = SeparateTableLoads(TwoSeparateTables(), kToc, kPaths);
    loads[0].table = bad;
    EXPECT_THROW(TableLoadScript(loads, "UTF8", false), Error) << bad;
  }
  // Non-ASCII in an encoding whose characters psql cannot be trusted to
  // split as the server does (EUC_JP: any high byte starts two bytes).
  loads = SeparateTableLoads(TwoSeparateTables(), kToc, kPaths);
  loads[0].table = "caf\xC3\xA9";
  EXPECT_NO_THROW(TableLoadScript(loads, "UTF8", false));
  EXPECT_THROW(TableLoadScript(loads, "EUC_JP", false), Error);
  // The owner is checked too, and a table without one is not loaded as
  // the session's superuser.
  loads = SeparateTableLoads(TwoSeparateTables(), kToc, kPaths);
  loads[0].owner = "\xC3";
  EXPECT_THROW(TableLoadScript(loads, "UTF8", true), Error);
  loads[0].owner = "";
  EXPECT_THROW(TableLoadScript(loads, "UTF8", true), Error);
  EXPECT_NO_THROW(TableLoadScript(loads, "UTF8", false));
}

TEST(TableLoadsTest, FetchedTableNamesAreTheObjectsWithoutTheirSuffixes) {
  EXPECT_EQ(FetchedTableName("table-0001.copy.zst"), "table-0001.copy");
  EXPECT_EQ(FetchedTableName("table-0042.copy.zst.age"), "table-0042.copy");
  EXPECT_THROW(FetchedTableName("../table-0001.copy.zst"), Error);
  EXPECT_THROW(FetchedTableName("table-00x1.copy.zst"), Error);
  EXPECT_THROW(FetchedTableName("table-.copy.zst"), Error);
  EXPECT_THROW(FetchedTableName("data.dump.zst"), Error);
}

TEST(TableLoadsTest, FetchedTableNamesRefuseTwoTablesInOneFile) {
  SeparateTableLoad one;
  one.schema = "public";
  one.table = "a";
  one.object = "table-0001.copy.zst";
  SeparateTableLoad two = one;
  two.table = "b";
  two.object = "table-0002.copy.zst.age";
  EXPECT_EQ(FetchedTableNames({one, two}),
            (std::vector<std::string>{"table-0001.copy", "table-0002.copy"}));
  EXPECT_TRUE(FetchedTableNames({}).empty());
  // The same number encrypted and not, or one object twice: one file.
  two.object = "table-0001.copy.zst.age";
  try {
    FetchedTableNames({one, two});
    ADD_FAILURE() << "two tables fetched into one file";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("table-0001.copy"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("table-0001.copy.zst.age"), std::string::npos) << e.what();
  }
  two.object = one.object;
  EXPECT_THROW(FetchedTableNames({one, two}), Error);
  two.object = "table-0001.copy";
  EXPECT_THROW(FetchedTableNames({one, two}), Error);
}

TEST(TableLoadsTest, RestoreScriptBytesCountTheTocAndTheRestoredData) {
  StagedSet staged;
  staged.toc = {Entry(1, "TABLE", "public", "a"), Entry(2, "TABLE DATA", "public", "a"),
                Entry(3, "TABLE DATA", "public", "b"), Entry(4, "BLOBS", "", "BLOBS"),
                Entry(5, "INDEX", "public", "a_pkey")};
  staged.toc_bytes = 1000;
  staged.data_bytes = {{2, 5000}, {3, 7000}, {4, 100}};
  uint64_t definitions = 1000 + 5 * 256;
  // All of it: large objects are written as hex.
  EXPECT_EQ(RestoreScriptBytes(staged), definitions + 5000 + 7000 + 3 * 100);
  // A selection: only its rows (the definitions are bounded by the TOC).
  EXPECT_EQ(RestoreScriptBytes(staged, [](const TocEntry& entry) { return entry.tag == "a"; }),
            definitions + 5000);
  // Blocks not known: the staged archive, whole.
  test::TempDir dir;
  staged.data_path = dir.Join("data.dump");
  test::WriteFile(staged.data_path, std::string(12345, 'x'));
  staged.toc_bytes = 0;
  staged.data_bytes.clear();
  EXPECT_EQ(RestoreScriptBytes(staged), 5 * 256 + 12345u);
}

// kScriptHead and kScriptTail are how pg_restore 15.20 begins and ends a
// script it writes with --file (--section=pre-data of a one-table dump).
const std::string kKey = "m8jM3b6oueyUCxHHU49JhgbAYpKCBepteTck4ckwCdF3Mzh36EIILU6QQOcX252";
const std::string kScriptHead =
    "--\n-- PostgreSQL database dump\n--\n\n\\restrict " + kKey +
    "\n\n-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)\n"
    "-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)\n\n"
    "SET statement_timeout = 0;\nSET lock_timeout = 0;\n";
const std::string kScriptTail =
    "ALTER TABLE public.t OWNER TO app;\n\n--\n-- PostgreSQL database dump complete\n--\n\n"
    "\\unrestrict " +
    kKey + "\n\n";

TEST(TableLoadsTest, RestrictedScriptsPass) {
  EXPECT_EQ(RestrictedScriptKey(kScriptHead, kScriptTail, "s.sql"), kKey);
  std::string whole = kScriptHead + "CREATE TABLE public.t (a integer);\n" + kScriptTail;
  EXPECT_EQ(RestrictedScriptKey(whole, whole, "s.sql"), kKey);
}

TEST(TableLoadsTest, ScriptsWithoutRestrictAreRefused) {
  // What pg_restore before 15.14 wrote: no \restrict at all.
  std::string old =
      "--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 15.13\n\n"
      "SET statement_timeout = 0;\n\n--\n-- PostgreSQL database dump complete\n--\n\n";
  try {
    RestrictedScriptKey(old, old, "/staging/pre-data.sql");
    ADD_FAILURE() << "a script without \\restrict passed";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kChildFailed);
    EXPECT_NE(std::string(e.what()).find("\\restrict"), std::string::npos) << e.what();
    EXPECT_NE(e.detail().find("15.14"), std::string::npos) << e.detail();
    EXPECT_NE(e.detail().find("/staging/pre-data.sql"), std::string::npos) << e.detail();
  }
  const std::vector<std::string> bad_heads = {
      "",
      "--\n-- only comments\n--\n",
      // A statement (or a meta-command) before \restrict runs unrestricted.
      "SET a = 1;\n\\restrict " + kKey + "\n",
      "\\! id\n\\restrict " + kKey + "\n",
      // Not a key pg_dump makes: letters and digits only, at least one.
      "\\restrict\n",
      "\\restrict \n",
      "\\restrict abc \\! id\n",
      "\\restrict abc;\n",
      " \\restrict " + kKey + "\n",
      "\\restrictx " + kKey + "\n",
  };
  for (const std::string& head : bad_heads)
    EXPECT_THROW(RestrictedScriptKey(head, kScriptTail, "s.sql"), Error) << head;
  // Restricted to its end, so that a \copy script after it runs: the
  // \unrestrict of the same key is its last line but comments.
  const std::vector<std::string> bad_tails = {
      "",
      "SELECT 1;\n",
      "\\unrestrict " + kKey + "\nSELECT 1;\n",
      "\\unrestrict abc\n",
      "\\unrestrict " + kKey + "x\n",
      "\\restrict " + kKey + "\n",
  };
  for (const std::string& tail : bad_tails)
    EXPECT_THROW(RestrictedScriptKey(kScriptHead, tail, "s.sql"), Error) << tail;
}

TEST(TableLoadsTest, OnlyOurOwnKeyPasses) {
  test::TempDir dir;
  std::string path = dir.Join("pre-data.sql");
  test::WriteFile(path, kScriptHead + kScriptTail);
  EXPECT_NO_THROW(CheckRestrictedScript(path, kKey));
  // A script restricted with a key we did not give (an old pg_restore
  // printing an archive's forged version string, which reads as a
  // \restrict line) is refused.
  EXPECT_THROW(CheckRestrictedScript(path, NewRestrictKey()), Error);
  std::string a = NewRestrictKey(), b = NewRestrictKey();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  for (char c : a + b)
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << c;
}

TEST(TableLoadsTest, CheckRestrictedScriptReadsBothEndsOfTheFile) {
  test::TempDir dir;
  std::string path = dir.Join("data.sql");
  // Larger than what is read of each end, lines cut at the pieces' edges.
  std::string body;
  while (body.size() < (200 << 10))
    body += "1\tsome row text that is long enough\n";
  test::WriteFile(path, kScriptHead + body + kScriptTail);
  EXPECT_NO_THROW(CheckRestrictedScript(path, kKey));
  test::WriteFile(path, kScriptHead + body);
  EXPECT_THROW(CheckRestrictedScript(path, kKey), Error);
  test::WriteFile(path, "SET a = 1;\n" + body + kScriptTail);
  EXPECT_THROW(CheckRestrictedScript(path, kKey), Error);
  // \restrict far from the start is not where psql must meet it first.
  test::WriteFile(path, body + kScriptHead + kScriptTail);
  EXPECT_THROW(CheckRestrictedScript(path, kKey), Error);
  test::WriteFile(path, kScriptHead + kScriptTail);
  EXPECT_NO_THROW(CheckRestrictedScript(path, kKey));
  try {
    CheckRestrictedScript(dir.Join("missing.sql"), kKey);
    ADD_FAILURE() << "a missing script passed";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
  }
}

}  // namespace
}  // namespace pgbak
