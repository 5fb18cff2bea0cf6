// prune.h: applying jobs' retention to backup_log and storage.
//
// The decisions come from core's PlanRetention; this side reads the history,
// guards the newest good backup of every database once more, removes the
// objects of each set that goes and only then marks its row 'expired'.
//
// Include after postgres.h.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include "pg/catalog/storage_registry.h"

namespace pgbak {

// PruneItem is one backup that retention deletes or cleans.
struct PruneItem {
  int64_t id = 0;
  std::string job_name;
  std::string database;
  std::time_t finished_at = 0;
  std::string action;  // "delete" or "clean"
  std::string reason;
  std::string location;
  std::string storage;
  bool done = false;  // set by the executing side
};

// PlanPrune decides for every job with a retention policy (or only for
// only_job if not empty). Needs a transaction with SPI connected; calls
// PostgreSQL through PgCall.
std::vector<PruneItem> PlanPrune(const std::string& only_job);

// ExecutePruneItem removes the objects of item's set and marks the row
// expired (for a delete). Needs a transaction with SPI connected; the
// objects are gone before the row changes, and a failed removal leaves the
// row as it was, with the reason appended to item.reason.
void ExecutePruneItem(PruneItem& item, StorageUse use);

// PruneJobInWorker applies the retention of one job from a background worker
// (one transaction per removed set). Problems are logged, never thrown: a
// backup that succeeded stays succeeded whatever pruning does.
void PruneJobInWorker(const std::string& job_name);

// TrimHistory deletes finished rows older than pgbak.log_retention from
// backup_log; returns how many. Needs a transaction with SPI connected.
int64_t TrimHistory();

}  // namespace pgbak
