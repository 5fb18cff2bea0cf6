// table_selection_test.cpp: the entries that bring a table back whole, on
// tables of contents shaped as pg_dump 15 writes them.
#include "core/archive/table_selection.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace pgbak {
namespace {

TocEntry Entry(int id, const char* desc, const char* schema, const char* tag,
               std::vector<int> dependencies) {
  TocEntry entry;
  entry.dump_id = id;
  entry.desc = desc;
  entry.namespace_ = schema;
  entry.tag = tag;
  entry.dependencies = std::move(dependencies);
  entry.owner = "app";
  return entry;
}

// Toc is a database with users (serial id, index, check, RLS, policy,
// trigger, grant, comment), orders (a foreign key to users), a partitioned
// events table with one partition, and a view on users.
std::vector<TocEntry> Toc() {
  return {
      Entry(1, "SCHEMA", "", "app", {}),
      Entry(2, "FUNCTION", "app", "touch()", {1}),
      Entry(10, "TABLE", "app", "users", {1}),
      Entry(11, "SEQUENCE", "app", "users_id_seq", {1}),
      Entry(12, "SEQUENCE OWNED BY", "app", "users_id_seq", {10}),
      Entry(13, "DEFAULT", "app", "users id", {10}),
      Entry(14, "TABLE DATA", "app", "users", {10}),
      Entry(15, "SEQUENCE SET", "app", "users_id_seq", {11}),
      Entry(16, "CONSTRAINT", "app", "users users_pkey", {10}),
      Entry(17, "INDEX", "app", "users_email", {10}),
      Entry(18, "TRIGGER", "app", "users touch", {10, 2}),
      Entry(19, "POLICY", "app", "users own_rows", {10}),
      Entry(20, "ROW SECURITY", "app", "users", {10}),
      Entry(21, "ACL", "app", "TABLE users", {10}),
      Entry(22, "COMMENT", "app", "TABLE users", {10}),
      Entry(23, "COMMENT", "app", "INDEX users_email", {17}),
      Entry(24, "ACL", "app", "SEQUENCE users_id_seq", {11}),
      Entry(30, "TABLE", "app", "orders", {1}),
      Entry(31, "TABLE DATA", "app", "orders", {30}),
      Entry(32, "FK CONSTRAINT", "app", "orders orders_user_fkey", {30, 10, 16}),
      Entry(33, "INDEX", "app", "orders_user", {30}),
      Entry(40, "VIEW", "app", "active_users", {10}),
      Entry(50, "TABLE", "app", "events", {1}),
      Entry(51, "TABLE", "app", "events_2026", {1}),
      Entry(52, "TABLE ATTACH", "app", "events_2026", {50, 51}),
      Entry(53, "TABLE DATA", "app", "events_2026", {51}),
      Entry(54, "INDEX", "app", "events_at", {50}),
      Entry(55, "INDEX", "app", "events_2026_at", {51}),
      Entry(56, "INDEX ATTACH", "app", "events_2026_at", {54, 55}),
      Entry(60, "TABLE", "other", "users", {}),
      Entry(61, "TABLE", "pg_catalog", "users", {}),
  };
}

std::set<int> Ids(std::initializer_list<int> ids) {
  return std::set<int>(ids);
}

TEST(TableSelectionTest, ATableComesWithEverythingThatIsItsOwn) {
  TableSelection got = SelectTablesWhole(Toc(), {{"app", "users"}});
  EXPECT_EQ(got.dump_ids, Ids({10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24}));
  EXPECT_TRUE(got.missing.empty());
  ASSERT_EQ(got.referrers.size(), 1u);
  EXPECT_EQ(got.referrers[0].dump_id, 32);
  EXPECT_EQ(got.referrers[0].schema, "app");
  EXPECT_EQ(got.referrers[0].table, "orders");
  EXPECT_EQ(got.referrers[0].name, "orders_user_fkey");
}

TEST(TableSelectionTest, ItsOwnForeignKeysComeAlongNotOtherTables) {
  TableSelection got = SelectTablesWhole(Toc(), {{"app", "orders"}});
  EXPECT_EQ(got.dump_ids, Ids({30, 31, 32, 33}));
  EXPECT_TRUE(got.referrers.empty());
}

TEST(TableSelectionTest, APartitionIsAttachedAndGetsItsParentsIndexesFromThat) {
  // ATTACH PARTITION creates the partition's copy of the parent's index:
  // its own CREATE INDEX and INDEX ATTACH would collide with it.
  TableSelection got = SelectTablesWhole(Toc(), {{"app", "events_2026"}});
  EXPECT_EQ(got.dump_ids, Ids({51, 52, 53}));
}

TEST(TableSelectionTest, ATreeRestoredTogetherKeepsItsIndexes) {
  TableSelection got = SelectTablesWhole(Toc(), {{"app", "events"}, {"app", "events_2026"}});
  EXPECT_EQ(got.dump_ids, Ids({50, 51, 52, 53, 54}));
}

TEST(TableSelectionTest, AParentDoesNotPullItsPartitionsIn) {
  TableSelection got = SelectTablesWhole(Toc(), {{"app", "events"}});
  EXPECT_EQ(got.dump_ids, Ids({50, 54}));
}

TEST(TableSelectionTest, UnqualifiedNamesMatchUserSchemasOnly) {
  TableSelection got = SelectTablesWhole(Toc(), {{"", "users"}});
  EXPECT_EQ(got.dump_ids.count(10), 1u);
  EXPECT_EQ(got.dump_ids.count(60), 1u);
  EXPECT_EQ(got.dump_ids.count(61), 0u);
}

TEST(TableSelectionTest, MissingTablesAreReported) {
  TableSelection got = SelectTablesWhole(Toc(), {{"app", "nope"}, {"", "gone"}});
  EXPECT_TRUE(got.dump_ids.empty());
  EXPECT_EQ(got.missing, (std::vector<std::string>{"app.nope", "gone"}));
}

// Without some tables' data (a tables or schemas backup), a foreign key
// from a table with rows to one without cannot be created.
TEST(ForeignKeysAcrossDataTest, AWholeArchiveKeepsEveryKey) {
  std::vector<TocEntry> toc = Toc();
  EXPECT_TRUE(ForeignKeysAcrossData(toc).empty());
}

TEST(ForeignKeysAcrossDataTest, AKeyToATableWithoutRows) {
  std::vector<TocEntry> toc;
  for (const TocEntry& entry : Toc())
    if (entry.dump_id != 14)  // users' data is not in the set
      toc.push_back(entry);
  EXPECT_EQ(ForeignKeysAcrossData(toc), std::vector<int>{32});
  // The same when the restore leaves that data out.
  EXPECT_EQ(ForeignKeysAcrossData(Toc(), {14}), std::vector<int>{32});
  // Neither table with rows: the key holds on empty tables.
  std::vector<TocEntry> neither;
  for (const TocEntry& entry : toc)
    if (entry.dump_id != 31)
      neither.push_back(entry);
  EXPECT_TRUE(ForeignKeysAcrossData(neither).empty());
}

TEST(ForeignKeysAcrossDataTest, APartitionedTableHasItsPartitionsRows) {
  // orders refers to events (partitioned): its rows are events_2026's.
  std::vector<TocEntry> toc = Toc();
  toc.push_back(Entry(70, "FK CONSTRAINT", "app", "orders orders_event_fkey", {30, 50}));
  EXPECT_TRUE(ForeignKeysAcrossData(toc).empty());
  std::vector<TocEntry> without;
  for (const TocEntry& entry : toc)
    if (entry.dump_id != 53)
      without.push_back(entry);
  EXPECT_EQ(ForeignKeysAcrossData(without), std::vector<int>{70});
}

TEST(ForeignKeysAcrossDataTest, RowsInObjectsOfTheirOwnCount) {
  // A parallel export left users' data out of the archive for an object of
  // its own: the key stays.
  std::vector<TocEntry> toc;
  for (const TocEntry& entry : Toc())
    if (entry.dump_id != 14)
      toc.push_back(entry);
  EXPECT_TRUE(ForeignKeysAcrossData(toc, {}, {{"app", "users"}}).empty());
  EXPECT_EQ(ForeignKeysAcrossData(toc, {}, {{"other", "users"}}), std::vector<int>{32});
  // A partition's rows in an object of its own are its parent's too.
  std::vector<TocEntry> events = Toc();
  events.push_back(Entry(70, "FK CONSTRAINT", "app", "orders orders_event_fkey", {30, 50}));
  std::vector<TocEntry> without;
  for (const TocEntry& entry : events)
    if (entry.dump_id != 53)
      without.push_back(entry);
  EXPECT_TRUE(ForeignKeysAcrossData(without, {}, {{"app", "events_2026"}}).empty());
}

}  // namespace
}  // namespace pgbak
