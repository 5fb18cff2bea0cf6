// load_queue.h: which table a streaming restore's loaders take next.
//
// A streaming restore (pg/jobs/stream_restore.cpp) loads tables while the
// archive is still arriving: a free loader takes, of the tables whose data
// has started to arrive and that nobody loads yet, the one with the most
// data, as pg_restore -j starts with the largest table. A dump can hold tens
// of thousands of tables (partitions, one schema per customer); looking at
// every table for every claim made a restore quadratic in their number.
// LoadQueue keeps the candidates ordered by size: registering, growing,
// claiming and withdrawing a table each cost O(log n), and the counts a
// restore asks for are kept, not counted.
//
// Not thread-safe: the restore calls it under its own mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <utility>
#include <vector>

namespace pgbak {

class LoadQueue {
 public:
  // Add makes table (an index into the restore's tables) one the loaders
  // will take once its first data arrives. Adding a table twice throws
  // kInternal.
  void Add(size_t table);
  // Grow notes that size more bytes of table's data arrived; true if this
  // was its first data, which makes it claimable. Tables not added, and
  // tables claimed or withdrawn already, are ignored (false).
  bool Grow(size_t table, uint64_t size);
  // Claim takes the claimable table with the most data (the lowest index
  // among equals); nullopt if none is claimable now.
  std::optional<size_t> Claim();
  // Withdraw takes a table that nobody claimed off the queue (the restore
  // leaves it to pg_restore); false if it was claimed or never added.
  bool Withdraw(size_t table);

  // waiting is how many tables were added and have no data yet.
  size_t waiting() const { return waiting_; }
  // unclaimed is how many tables were added and are neither claimed nor
  // withdrawn.
  size_t unclaimed() const { return waiting_ + ready_.size(); }
  // claimed is how many tables Claim handed out.
  size_t claimed() const { return claimed_; }

 private:
  enum class State : uint8_t { kAbsent, kWaiting, kReady, kClaimed, kWithdrawn };
  // Most data first, then the lowest index.
  struct Larger {
    bool operator()(const std::pair<uint64_t, size_t>& a,
                    const std::pair<uint64_t, size_t>& b) const {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    }
  };
  State& StateOf(size_t table);

  std::vector<State> states_;
  std::vector<uint64_t> bytes_;
  std::set<std::pair<uint64_t, size_t>, Larger> ready_;  // (bytes, table)
  size_t waiting_ = 0;
  size_t claimed_ = 0;
};

}  // namespace pgbak
