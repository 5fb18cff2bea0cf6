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
// events table with one partition, and a view on users. As pg_dump 15
// writes them, a partition's TABLE entry depends on its parent's, and a
// partition's index on the parent's index it is attached to.
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
      Entry(51, "TABLE", "app", "events_2026", {1, 50}),
      Entry(52, "TABLE ATTACH", "app", "events_2026", {50, 51}),
      Entry(53, "TABLE DATA", "app", "events_2026", {51}),
      Entry(54, "INDEX", "app", "events_at", {50}),
      Entry(55, "INDEX", "app", "events_2026_at", {51, 54}),
      Entry(56, "INDEX ATTACH", "app", "events_2026_at", {55, 54, 51, 50}),
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
  // The parent's index is created ON ONLY the parent: the partition's own
  // index, attached to it, makes it valid.
  TableSelection got = SelectTablesWhole(Toc(), {{"app", "events"}, {"app", "events_2026"}});
  EXPECT_EQ(got.dump_ids, Ids({50, 51, 52, 53, 54, 55, 56}));
}

TEST(TableSelectionTest, AParentBringsItsPartitions) {
  TableSelection got = SelectTablesWhole(Toc(), {{"app", "events"}});
  EXPECT_EQ(got.dump_ids, Ids({50, 51, 52, 53, 54, 55, 56}));
  EXPECT_TRUE(got.missing.empty());
}

// PartitionToc is a partitioned table with a primary key, a plain index
// and two partitions (one with an index of its own), and a tree of two
// levels (sub, sub_a partitioned in turn, sub_a1), with the dependencies
// pg_dump 15 wrote for them.
std::vector<TocEntry> PartitionToc() {
  return {
      Entry(1, "SCHEMA", "", "app", {}),
      Entry(10, "TABLE", "app", "events", {1}),
      Entry(11, "TABLE", "app", "events_2025", {1, 10}),
      Entry(12, "TABLE", "app", "events_2026", {1, 10}),
      Entry(13, "TABLE ATTACH", "app", "events_2025", {11, 10}),
      Entry(14, "TABLE ATTACH", "app", "events_2026", {12, 10}),
      Entry(15, "TABLE DATA", "app", "events_2025", {11}),
      Entry(16, "TABLE DATA", "app", "events_2026", {12}),
      Entry(20, "CONSTRAINT", "app", "events events_pkey", {10, 10}),
      Entry(21, "CONSTRAINT", "app", "events_2025 events_2025_pkey", {11, 20, 11, 11}),
      Entry(22, "CONSTRAINT", "app", "events_2026 events_2026_pkey", {12, 20, 12, 12}),
      Entry(23, "INDEX", "app", "events_day_idx", {10}),
      Entry(24, "INDEX", "app", "events_2025_day_idx", {11, 11, 23}),
      Entry(25, "INDEX", "app", "events_2026_day_idx", {12, 23, 12}),
      Entry(26, "INDEX", "app", "events_2026_own", {12}),
      Entry(27, "INDEX ATTACH", "app", "events_2025_day_idx", {24, 23, 11, 10}),
      Entry(28, "INDEX ATTACH", "app", "events_2025_pkey", {21, 20, 11, 20, 11, 10}),
      Entry(29, "INDEX ATTACH", "app", "events_2026_day_idx", {25, 23, 12, 10}),
      Entry(30, "INDEX ATTACH", "app", "events_2026_pkey", {20, 12, 22, 20, 12, 10}),
      Entry(31, "COMMENT", "app", "INDEX events_2026_own", {26}),
      Entry(40, "TABLE", "app", "sub", {1}),
      Entry(41, "TABLE", "app", "sub_a", {40}),
      Entry(42, "TABLE", "app", "sub_a1", {41}),
      Entry(43, "TABLE ATTACH", "app", "sub_a", {41, 40}),
      Entry(44, "TABLE ATTACH", "app", "sub_a1", {42, 41}),
      Entry(45, "TABLE DATA", "app", "sub_a1", {42}),
      Entry(46, "INDEX", "app", "sub_id_idx", {40}),
      Entry(47, "INDEX", "app", "sub_a_id_idx", {46, 41, 41}),
      Entry(48, "INDEX", "app", "sub_a1_id_idx", {42, 47, 42}),
      Entry(49, "INDEX ATTACH", "app", "sub_a1_id_idx", {48, 47, 42, 41}),
      Entry(50, "INDEX ATTACH", "app", "sub_a_id_idx", {47, 46, 41, 40}),
  };
}

TEST(TableSelectionTest, APartitionedTableComesWithEveryPartition) {
  // Named alone or with some of its partitions: all of them, each with its
  // indexes and key attached to the parent's (which stay invalid without).
  std::set<int> tree =
      Ids({10, 11, 12, 13, 14, 15, 16, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31});
  EXPECT_EQ(SelectTablesWhole(PartitionToc(), {{"app", "events"}}).dump_ids, tree);
  EXPECT_EQ(SelectTablesWhole(PartitionToc(), {{"app", "events"}, {"app", "events_2025"}}).dump_ids,
            tree);
  EXPECT_EQ(SelectTablesWhole(PartitionToc(), {{"app", "events_2026"}, {"", "events"}}).dump_ids,
            tree);
}

TEST(TableSelectionTest, APartitionAloneLeavesWhatAttachingMakesOut) {
  // Its primary key and index come from the parent's when it is attached;
  // an index of its own stays, with its comment.
  EXPECT_EQ(SelectTablesWhole(PartitionToc(), {{"app", "events_2025"}}).dump_ids,
            Ids({11, 13, 15}));
  EXPECT_EQ(SelectTablesWhole(PartitionToc(), {{"app", "events_2026"}}).dump_ids,
            Ids({12, 14, 16, 26, 31}));
  EXPECT_EQ(
      SelectTablesWhole(PartitionToc(), {{"app", "events_2025"}, {"app", "events_2026"}}).dump_ids,
      Ids({11, 12, 13, 14, 15, 16, 26, 31}));
}

TEST(TableSelectionTest, ATreeOfTwoLevels) {
  EXPECT_EQ(SelectTablesWhole(PartitionToc(), {{"app", "sub"}}).dump_ids,
            Ids({40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50}));
  // A middle partition brings its own partitions; attaching it to sub
  // makes its index, and attaching sub_a1 to it then makes sub_a1's.
  EXPECT_EQ(SelectTablesWhole(PartitionToc(), {{"app", "sub_a"}}).dump_ids,
            Ids({41, 42, 43, 44, 45}));
  EXPECT_EQ(SelectTablesWhole(PartitionToc(), {{"app", "sub_a1"}}).dump_ids, Ids({42, 44, 45}));
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
