// operation_cleanup.h: removing what a failed, cancelled, crashed or expired
// backup left in storage, so that nothing half-written stays behind.
//
// A location comes from a backup_log row, so it is never trusted: only the
// set directory of this operation below the storage's root is touched
// (Storage::KeyOf, then IsSetKey), and in it only the objects a backup
// writes.
//
// What a failed operation may have left is recorded before anyone starts
// removing it (cleanup_pending, in the transaction that fails the row) and
// forgotten only once it is gone: a crash, a shutdown or a storage that
// does not answer in the middle of a cleanup leaves the flag for the
// launcher's next pass.
//
// Include after postgres.h.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "pg/catalog/storage_registry.h"

namespace pgbak {

// RemovePartialSet removes the objects (complete or temporary) of operation
// id's set at location in storage_name. It reads the storage definition in
// its own transaction, so call it outside one. interrupt_check, if given,
// runs while the storage waits and may throw to give up. Problems are
// logged, not raised, since cleanup runs on paths that are already failing;
// returns false if something may be left (an empty location, nothing
// written, is true). With keep_committed (base backups), a set that has
// its manifest.json is complete and is kept: a cluster restored from a
// base backup finds that backup's own row 'running' in its catalog.
bool RemovePartialSet(int64_t id, const std::string& storage_name, const std::string& location,
                      StorageUse use, std::function<void()> interrupt_check = {},
                      bool keep_committed = false);

// FailedOperation is a failed operation whose leftovers are to be removed:
// a backup's partial set; a verify's or restore's staging files and the
// databases it created or moved aside.
struct FailedOperation {
  int64_t id = 0;
  std::string kind;
  std::string storage;
  std::string location;
};

// CleanUpFailed removes, from the launcher, what op left behind (waiting at
// most kLauncherItemSeconds on a storage); returns true once nothing is
// left to do. For a verify or restore, CleanUpAbandoned does the work, and
// the catalog says afterwards whether it is done (LeftoversSettled). A
// failure is logged, and makes FinishPendingCleanups wait a minute before
// it tries op again. Outside a transaction.
bool CleanUpFailed(const FailedOperation& op);

// FlagCleanupPending sets cleanup_pending on row id (SPI connected; a
// schema without the column is left alone). Call it in the transaction
// that fails the row.
void FlagCleanupPending(int64_t id);

// ClearCleanupPending clears the flag of row id in a transaction of its
// own, once its cleanup is done.
void ClearCleanupPending(int64_t id);

// FinishPendingCleanups cleans up, from the launcher, after up to limit
// failed operations flagged cleanup_pending (a worker stopped before it
// could, or the launcher failed them and a crash or its budget came first),
// clearing the flag of each it finished, while budget is not spent; one
// whose cleanup failed is tried again a minute later. Outside a
// transaction.
int FinishPendingCleanups(int limit, const PassBudget& budget);

// RemoveSetObjects removes every object of operation id's set at location
// (manifest first, so that a set half removed never looks complete). Needs
// an open transaction with SPI (to read the storage definition).
// interrupt_check runs while the storage waits (OpenStorage). Returns false
// with the reason in error if the location is not that set's directory or
// anything could not be removed (or the check threw).
bool RemoveSetObjects(const std::string& storage_name, int64_t id, const std::string& location,
                      StorageUse use, std::string& error,
                      std::function<void()> interrupt_check = {});

// SetHasObjects says whether anything of the set at location is left
// (SPI connected; false if the location is not the set's).
bool SetHasObjects(const std::string& storage_name, int64_t id, const std::string& location);

}  // namespace pgbak
