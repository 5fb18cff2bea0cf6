// load_queue_test.cpp: the order in which a streaming restore's loaders take
// tables (src/core/archive/load_queue.cpp), checked against the plain scan
// it replaces, and at the scale of a dump with many partitions.
#include "core/archive/load_queue.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <random>
#include <vector>

#include "core/base/error.h"

namespace pgbak {
namespace {

TEST(LoadQueueTest, TakesTheLargestStartedTableFirst) {
  LoadQueue queue;
  for (size_t table = 0; table < 4; table++) {
    queue.Add(table);
  }
  EXPECT_EQ(queue.waiting(), 4u);
  EXPECT_EQ(queue.Claim(), std::nullopt);  // nothing has arrived yet
  EXPECT_TRUE(queue.Grow(1, 100));
  EXPECT_TRUE(queue.Grow(2, 300));
  EXPECT_TRUE(queue.Grow(0, 200));
  EXPECT_FALSE(queue.Grow(0, 100));  // not its first data: 300, as much as table 2
  EXPECT_EQ(queue.waiting(), 1u);
  EXPECT_EQ(queue.unclaimed(), 4u);
  EXPECT_EQ(queue.Claim(), 0u);  // the lowest index among equals
  EXPECT_EQ(queue.Claim(), 2u);
  EXPECT_FALSE(queue.Grow(2, 1000));  // claimed: its size no longer matters
  EXPECT_EQ(queue.Claim(), 1u);
  EXPECT_EQ(queue.Claim(), std::nullopt);  // table 3 has no data yet
  EXPECT_EQ(queue.unclaimed(), 1u);
  EXPECT_EQ(queue.claimed(), 3u);
}

TEST(LoadQueueTest, AnEmptyFirstChunkMakesATableClaimable) {
  LoadQueue queue;
  queue.Add(5);
  EXPECT_TRUE(queue.Grow(5, 0));
  EXPECT_EQ(queue.waiting(), 0u);
  EXPECT_EQ(queue.Claim(), 5u);
}

TEST(LoadQueueTest, WithdrawnTablesAreNeverClaimed) {
  LoadQueue queue;
  queue.Add(0);
  queue.Add(1);
  queue.Add(2);
  queue.Grow(1, 10);
  queue.Grow(2, 5);
  EXPECT_TRUE(queue.Withdraw(0));  // waiting
  EXPECT_TRUE(queue.Withdraw(1));  // ready
  EXPECT_FALSE(queue.Withdraw(1));
  EXPECT_FALSE(queue.Grow(1, 100));
  EXPECT_EQ(queue.waiting(), 0u);
  EXPECT_EQ(queue.unclaimed(), 1u);
  EXPECT_EQ(queue.Claim(), 2u);
  EXPECT_FALSE(queue.Withdraw(2));  // claimed
  EXPECT_EQ(queue.Claim(), std::nullopt);
}

TEST(LoadQueueTest, TablesNotAddedAreIgnoredAndAddingTwiceThrows) {
  LoadQueue queue;
  queue.Add(3);
  EXPECT_FALSE(queue.Grow(1, 10));    // below an added one
  EXPECT_FALSE(queue.Grow(100, 10));  // beyond every added one
  EXPECT_FALSE(queue.Withdraw(100));
  EXPECT_EQ(queue.Claim(), std::nullopt);
  EXPECT_THROW(queue.Add(3), Error);
}

// Scan is the plain scan over every table that LoadQueue replaces (what
// stream_restore.cpp's ClaimTable did).
struct Scan {
  struct Table {
    bool loadable = false;
    bool started = false;
    bool claimed = false;
    uint64_t bytes = 0;
  };
  std::vector<Table> tables;

  std::optional<size_t> Claim() {
    std::optional<size_t> best;
    for (size_t i = 0; i < tables.size(); i++) {
      const Table& table = tables[i];
      if (!table.loadable || table.claimed || !table.started) {
        continue;
      }
      if (!best || table.bytes > tables[*best].bytes) {
        best = i;
      }
    }
    if (best) {
      tables[*best].claimed = true;
    }
    return best;
  }
  size_t Waiting() const {
    size_t count = 0;
    for (const Table& table : tables) {
      count += table.loadable && !table.claimed && !table.started ? 1 : 0;
    }
    return count;
  }
};

TEST(LoadQueueTest, ClaimsInTheOrderOfThePlainScan) {
  std::mt19937 random(20261201);
  for (int round = 0; round < 200; round++) {
    size_t count = 1 + random() % 40;
    Scan scan;
    scan.tables.resize(count);
    LoadQueue queue;
    for (size_t i = 0; i < count; i++) {
      if (random() % 4 != 0) {
        scan.tables[i].loadable = true;
        queue.Add(i);
      }
    }
    for (int step = 0; step < 200; step++) {
      if (random() % 3 == 0) {
        ASSERT_EQ(queue.Claim(), scan.Claim()) << "round " << round << " step " << step;
      } else {
        size_t table = random() % count;
        uint64_t size = random() % 4 == 0 ? 0 : random() % 1000;
        Scan::Table& scanned = scan.tables[table];
        bool first = scanned.loadable && !scanned.claimed && !scanned.started;
        if (scanned.loadable && !scanned.claimed) {
          scanned.started = true;
          scanned.bytes += size;
        }
        ASSERT_EQ(queue.Grow(table, size), first) << "round " << round << " step " << step;
      }
      ASSERT_EQ(queue.waiting(), scan.Waiting());
    }
  }
}

TEST(LoadQueueTest, HundredsOfThousandsOfTables) {
  // The archive brings tables one after the other, several chunks each,
  // while loaders keep claiming: with a scan per claim this took hours.
  constexpr size_t kTables = 300000;
  LoadQueue queue;
  for (size_t table = 0; table < kTables; table++) {
    queue.Add(table);
  }
  auto start = std::chrono::steady_clock::now();
  size_t claimed = 0;
  for (size_t table = 0; table < kTables; table++) {
    for (int chunk = 0; chunk < 3; chunk++) {
      queue.Grow(table, 1000 + table % 7);
    }
    if (table % 2 == 1) {
      while (queue.Claim()) {
        claimed++;
      }
    }
  }
  while (queue.Claim()) {
    claimed++;
  }
  EXPECT_EQ(claimed, kTables);
  EXPECT_EQ(queue.unclaimed(), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace pgbak
