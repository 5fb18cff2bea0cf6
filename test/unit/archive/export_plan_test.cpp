// export_plan_test.cpp: which tables a parallel export takes out of the
// archive, in which order, and how the streams share them.
#include "core/archive/export_plan.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "test_util.h"

namespace pgbak {
namespace {

ExportTable Table(const std::string& schema, const std::string& name, uint64_t bytes) {
  ExportTable table;
  table.schema = schema;
  table.table = name;
  table.bytes = bytes;
  return table;
}

std::vector<std::string> Names(const std::vector<ExportTable>& tables) {
  std::vector<std::string> names;
  for (const ExportTable& table : tables)
    names.push_back(table.schema + "." + table.table);
  return names;
}

TEST(ExportPlanTest, RelationFileBytesAddsTheSegmentsUpToTheFirstGap) {
  test::TempDir dir;
  EXPECT_EQ(RelationFileBytes(dir.Join("16385")), 0u);  // rewritten since: no file
  test::WriteFile(dir.Join("16385"), std::string(1000, 'a'));
  EXPECT_EQ(RelationFileBytes(dir.Join("16385")), 1000u);
  test::WriteFile(dir.Join("16385.1"), std::string(300, 'b'));
  test::WriteFile(dir.Join("16385.2"), std::string(20, 'c'));
  test::WriteFile(dir.Join("16385.4"), std::string(7, 'd'));     // after a gap: not counted
  test::WriteFile(dir.Join("16385_fsm"), std::string(50, 'e'));  // another fork
  EXPECT_EQ(RelationFileBytes(dir.Join("16385")), 1320u);
  EXPECT_EQ(RelationFileBytes(dir.path()), 0u);  // a directory is no relation
}

TEST(ExportPlanTest, OneJobKeepsEverythingInTheArchive) {
  EXPECT_TRUE(PlanSeparateTables({Table("public", "big", 1ull << 40)}, 1).empty());
  EXPECT_TRUE(PlanSeparateTables({Table("public", "big", 1ull << 40)}, 0).empty());
}

TEST(ExportPlanTest, LargestFirstAboveTheThreshold) {
  std::vector<ExportTable> plan = PlanSeparateTables(
      {Table("public", "small", 100), Table("public", "mid", 5000), Table("s", "Big One", 90000),
       Table("public", "edge", 1000), Table("a", "mid", 5000)},
      3, 1000);
  EXPECT_EQ(Names(plan),
            (std::vector<std::string>{"s.Big One", "a.mid", "public.mid", "public.edge"}));
}

TEST(ExportPlanTest, AtMostMaxTablesTheLargest) {
  std::vector<ExportTable> tables;
  for (int i = 0; i < 10; i++)
    tables.push_back(Table("public", "t" + std::to_string(i), 100 + i));
  std::vector<ExportTable> plan = PlanSeparateTables(tables, 2, 1, 3);
  EXPECT_EQ(Names(plan), (std::vector<std::string>{"public.t9", "public.t8", "public.t7"}));
}

TEST(ExportPlanTest, TwentyThousandSmallTablesStayInTheArchive) {
  std::vector<ExportTable> tables;
  for (int i = 0; i < 20000; i++)
    tables.push_back(Table("public", "t" + std::to_string(i), 8192));
  EXPECT_TRUE(PlanSeparateTables(tables, 4).empty());
}

ExportTable Heap(const std::string& name, uint64_t bytes, uint64_t heap_bytes) {
  ExportTable table = Table("public", name, bytes);
  table.heap_bytes = heap_bytes;
  table.splittable = true;
  return table;
}

TEST(ExportPlanTest, OnlySplittableTablesAreCutAndBlocksAreTheServers) {
  ExportTable forced = Heap("forced_rls", 1ull << 30, 1ull << 30);
  forced.splittable = false;  // its owner cannot read all of it
  std::vector<ExportTable> units = SplitIntoPieces({forced}, 4, 1 << 20);
  ASSERT_EQ(units.size(), 1u);
  EXPECT_EQ(units[0].pieces, 1);
  EXPECT_EQ(PieceCondition(units[0]), "");
  // 32 kB blocks: 4 MiB are 128 of them, cut in two at block 64.
  units = SplitIntoPieces({Heap("t", 4ull << 20, 4ull << 20)}, 2, 1 << 20, 32768);
  ASSERT_EQ(units.size(), 2u);
  EXPECT_EQ(units[0].end_block, 64u);
  EXPECT_EQ(units[1].first_block, 64u);
}

TEST(ExportPlanTest, ALargeTableIsCutIntoBlockRangesOnePerStream) {
  // 800 MiB (700 in the heap: 89600 blocks) with 3 jobs and 32 MiB pieces:
  // three pieces of a third of the blocks each, the last open-ended; the
  // 40 MiB table is one piece (two of 32 MiB do not fit), the 64 MiB one
  // two; largest first, a table's pieces in block order.
  std::vector<ExportTable> units = SplitIntoPieces(
      {Heap("big", 800ull << 20, 700ull << 20), Heap("mid", 64ull << 20, 64ull << 20),
       Heap("small", 40ull << 20, 40ull << 20)},
      3, 32ull << 20);
  ASSERT_EQ(units.size(), 6u);
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(units[i].table, "big");
    EXPECT_EQ(units[i].piece, i);
    EXPECT_EQ(units[i].pieces, 3);
  }
  EXPECT_EQ(units[0].first_block, 0u);
  EXPECT_EQ(units[0].end_block, 29866u);
  EXPECT_EQ(units[1].first_block, 29866u);
  EXPECT_EQ(units[1].end_block, 59733u);
  EXPECT_EQ(units[2].first_block, 59733u);
  EXPECT_EQ(units[2].end_block, 0u);
  EXPECT_EQ(units[3].table, "small");  // 40 MiB whole before 32 MiB pieces
  EXPECT_EQ(units[3].pieces, 1);
  EXPECT_EQ(units[4].table, "mid");
  EXPECT_EQ(units[4].piece, 0);
  EXPECT_EQ(units[5].table, "mid");
  EXPECT_EQ(units[5].piece, 1);
  EXPECT_EQ(units[5].pieces, 2);
}

TEST(ExportPlanTest, NoCutsWithOneJobOrATinyHeap) {
  EXPECT_EQ(SplitIntoPieces({Heap("big", 1ull << 30, 1ull << 30)}, 1, 1 << 20)[0].pieces, 1);
  // TOAST holds nearly all: the heap's one block cannot be cut.
  EXPECT_EQ(SplitIntoPieces({Heap("toasty", 1ull << 30, kPageBytes)}, 4, 1 << 20)[0].pieces, 1);
  std::vector<ExportTable> two = SplitIntoPieces({Heap("t", 1ull << 30, 2 * kPageBytes)}, 4, 1);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].end_block, 1u);
  EXPECT_EQ(two[1].first_block, 1u);
}

TEST(ExportPlanTest, PieceConditionsCoverEveryBlockOnce) {
  std::vector<ExportTable> units = SplitIntoPieces({Heap("t", 3ull << 20, 3ull << 20)}, 3, 1 << 20);
  ASSERT_EQ(units.size(), 3u);
  EXPECT_EQ(PieceCondition(units[0]), "ctid OPERATOR(pg_catalog.<) '(128,0)'::pg_catalog.tid");
  EXPECT_EQ(PieceCondition(units[1]),
            "ctid OPERATOR(pg_catalog.>=) '(128,0)'::pg_catalog.tid AND ctid "
            "OPERATOR(pg_catalog.<) '(256,0)'::pg_catalog.tid");
  EXPECT_EQ(PieceCondition(units[2]), "ctid OPERATOR(pg_catalog.>=) '(256,0)'::pg_catalog.tid");
  EXPECT_EQ(PieceCondition(Heap("whole", 1, 1)), "");
}

TEST(ExportPlanTest, StreamsTakeTheNextTableWhenFree) {
  // Largest first: 10 to stream 0, 6 to 1, 5 to 2; stream 2 is free first
  // (at 5) and takes 4; stream 1 (at 6) takes 3; streams 1 and 2 are both
  // free at 9, the first takes 2 and the other 1: 10, 11 and 10.
  std::vector<std::vector<size_t>> assigned = AssignToStreams({10, 6, 5, 4, 3, 2, 1}, 3);
  ASSERT_EQ(assigned.size(), 3u);
  EXPECT_EQ(assigned[0], (std::vector<size_t>{0}));
  EXPECT_EQ(assigned[1], (std::vector<size_t>{1, 4, 5}));
  EXPECT_EQ(assigned[2], (std::vector<size_t>{2, 3, 6}));
}

TEST(ExportPlanTest, OneLargeTableGoesAloneToOneStream) {
  std::vector<std::vector<size_t>> assigned = AssignToStreams({100, 1, 1, 1}, 2);
  EXPECT_EQ(assigned[0], (std::vector<size_t>{0}));
  EXPECT_EQ(assigned[1], (std::vector<size_t>{1, 2, 3}));
}

TEST(ExportPlanTest, ObjectNamesAreNumbered) {
  EXPECT_EQ(TableObjectName(0), "table-0001.copy.zst");
  EXPECT_EQ(TableObjectName(199, ".age"), "table-0200.copy.zst.age");
}

TEST(ExportPlanTest, QueueGivesEachTableOnceAcrossThreads) {
  TableQueue queue(1000);
  std::vector<std::vector<size_t>> taken(4);
  std::vector<std::thread> threads;
  for (auto& mine : taken)
    threads.emplace_back([&queue, &mine] {
      while (std::optional<size_t> next = queue.Next())
        mine.push_back(*next);
    });
  for (std::thread& thread : threads)
    thread.join();
  std::set<size_t> all;
  size_t count = 0;
  for (const auto& mine : taken) {
    for (size_t i = 1; i < mine.size(); i++)
      EXPECT_LT(mine[i - 1], mine[i]);  // each stream in plan order
    all.insert(mine.begin(), mine.end());
    count += mine.size();
  }
  EXPECT_EQ(count, 1000u);
  EXPECT_EQ(all.size(), 1000u);
}

TEST(ExportPlanTest, ClosedQueueGivesNothing) {
  TableQueue queue(5);
  EXPECT_EQ(queue.Next(), std::optional<size_t>(0));
  queue.Close();
  EXPECT_FALSE(queue.Next().has_value());
}

}  // namespace
}  // namespace pgbak
