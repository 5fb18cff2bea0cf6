// load_queue.cpp: which table a streaming restore's loaders take next; see
// load_queue.h.
#include "core/archive/load_queue.h"

#include <string>

#include "core/base/error.h"
#include "core/base/no_postgres.h"

namespace pgbak {

// StateOf is the state of table, growing the tables as needed.
LoadQueue::State& LoadQueue::StateOf(size_t table) {
  if (table >= states_.size()) {
    states_.resize(table + 1, State::kAbsent);
    bytes_.resize(table + 1, 0);
  }
  return states_[table];
}

void LoadQueue::Add(size_t table) {
  State& state = StateOf(table);
  if (state != State::kAbsent) {
    throw Error(ErrorKind::kInternal,
                "table " + std::to_string(table) + " was added to the load queue twice");
  }
  state = State::kWaiting;
  waiting_++;
}

bool LoadQueue::Grow(size_t table, uint64_t size) {
  if (table >= states_.size()) {
    return false;
  }
  State& state = states_[table];
  if (state == State::kWaiting) {
    state = State::kReady;
    waiting_--;
    bytes_[table] = size;
    ready_.emplace(size, table);
    return true;
  }
  if (state == State::kReady && size > 0) {
    ready_.erase({bytes_[table], table});
    bytes_[table] += size;
    ready_.emplace(bytes_[table], table);
  }
  return false;
}

std::optional<size_t> LoadQueue::Claim() {
  if (ready_.empty()) {
    return std::nullopt;
  }
  size_t table = ready_.begin()->second;
  ready_.erase(ready_.begin());
  states_[table] = State::kClaimed;
  claimed_++;
  return table;
}

bool LoadQueue::Withdraw(size_t table) {
  if (table >= states_.size()) {
    return false;
  }
  State& state = states_[table];
  if (state == State::kWaiting) {
    waiting_--;
  } else if (state == State::kReady) {
    ready_.erase({bytes_[table], table});
  } else {
    return false;
  }
  state = State::kWithdrawn;
  return true;
}

}  // namespace pgbak
