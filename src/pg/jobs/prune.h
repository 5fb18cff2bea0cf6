// prune.h: applying jobs' retention to backup_log and storage.
//
// The decisions come from core's PlanRetention; this side reads the history
// and guards the newest good backup of every database once more. A set that
// goes is first marked 'expiring' in a transaction of its own, then its
// objects are removed, then it is marked 'expired': whenever a crash, a
// cancel or a shutdown strikes, its row says what is true (an 'expiring'
// set may be partly gone and is never restored), and the launcher finishes
// every 'expiring' set it finds (FinishExpiring).
//
// Include after postgres.h.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
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
  // "delete", "clean", or "locked": a delete held back by the storage's S3
  // Object Lock, which nothing executes (its reason says until when).
  std::string action;
  std::string reason;
  std::string location;
  std::string storage;
  bool done = false;  // set by the executing side
};

// PlanPrune decides for every job with a retention policy (or only for
// only_job if not empty), each database of a job on its own (only
// only_database's if not empty), and, with no only_job, for manual backups
// past their retention (PruneItem.job_name empty). Needs a transaction with
// SPI connected; calls PostgreSQL through PgCall. A set that retention
// would delete while its storage's object_lock still holds it comes back
// as "locked" (HoldLockedSets).
std::vector<PruneItem> PlanPrune(const std::string& only_job,
                                 const std::string& only_database = std::string());

// HoldLockedSets turns each "delete" of items whose storage has an
// object_lock into "locked" while now is before the set's lock date: its
// finish time plus the lock's days (every object's retain-until date is at
// most that, since each was uploaded before the set finished) plus
// kLockClockMarginSeconds. A locked set is never marked 'expiring'.
// Needs SPI connected.
void HoldLockedSets(std::vector<PruneItem>& items, std::time_t now);

// kLockClockMarginSeconds: S3 accepts requests from a clock up to 15
// minutes off its own, so a set is held that much past its date, and a
// server whose clock runs ahead never deletes before S3's date.
constexpr std::time_t kLockClockMarginSeconds = 15 * 60;

// MarkExpiring marks item's row 'expiring' (a delete whose row is still
// 'succeeded'); false if it no longer is, if no newer succeeded backup of
// its database exists (it is the newest good one), or if a queued or
// running operation reads it (source_id). Needs a transaction with SPI; the
// caller commits it before anything is removed. Version 1.3 schema only.
bool MarkExpiring(const PruneItem& item);

// ExpiryOutcome is what FinishExpiring did.
enum class ExpiryOutcome {
  kExpired,      // it removed the objects and marked the row 'expired'
  kNotExpiring,  // the row is no longer 'expiring': someone finished it
  kBusy,         // someone else (a worker, the launcher) holds the row now
};

// FinishExpiring marks an 'expiring' set 'expired' and removes its objects
// in the current transaction (SPI connected), holding the row's lock while
// it works; a removal that fails throws (kIo), so that the transaction's
// abort leaves the row 'expiring', to be tried again. It takes the lock
// without waiting, in the transaction of the update: a row someone else
// holds is theirs to finish. interrupt_check runs while the storage waits
// (a worker's ThrowIfStopping; the launcher's BoundedWaitCheck).
ExpiryOutcome FinishExpiring(int64_t id, const std::string& storage, const std::string& location,
                             StorageUse use, std::function<void()> interrupt_check);

// ExecutePruneItem applies one item in the current transaction: a clean
// removes a failed set's leftovers; a delete removes the objects and marks
// the row expired in one go, which only a schema before 1.3 (no 'expiring')
// still does; a locked item is left alone. A failed removal leaves the row as it was, with the
// reason appended to item.reason. interrupt_check as for FinishExpiring (none: OpenStorage's
// default for use).
void ExecutePruneItem(PruneItem& item, StorageUse use, std::function<void()> interrupt_check = {});

// FinishExpiringSets finishes up to limit 'expiring' sets (from the
// launcher: those of a cancelled, crashed or SQL-started prune), each in a
// transaction of its own and within kLauncherItemSeconds, while budget is
// not spent, skipping those whose last try failed less than a minute ago
// and those someone else holds. Returns how many it finished; of them,
// base backups are counted in *bases too, if given.
int FinishExpiringSets(int limit, const PassBudget& budget, int* bases = nullptr);

// ExpireManualBackups applies manual retention from the launcher: it marks
// up to limit succeeded manual backups older than their storage's
// manual_retention (else pgbak.manual_retention) 'expiring', in a
// transaction of its own, and leaves their objects to FinishExpiringSets.
// As for jobs, the newest succeeded backup of a database and sets that a
// queued or running operation reads are never marked. Returns how many.
int ExpireManualBackups(int limit);

// PruneJobInWorker applies the retention of one job to the sets of one
// database from a background worker (one transaction per removed set).
// Problems are logged, never thrown: a backup that succeeded stays
// succeeded whatever pruning does.
void PruneJobInWorker(const std::string& job_name, const std::string& database);

// TrimHistory deletes finished rows older than pgbak.log_retention from
// backup_log, except those whose cleanup is pending; returns how many.
// Needs a transaction with SPI connected.
int64_t TrimHistory();

}  // namespace pgbak
