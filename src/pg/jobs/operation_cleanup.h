// operation_cleanup.h: removing what a failed, cancelled, crashed or expired
// backup left in storage, so that nothing half-written stays behind.
//
// A location comes from a backup_log row, so it is never trusted: only the
// set directory of this operation below the storage's root is touched
// (Storage::KeyOf, then IsSetKey), and in it only the objects a backup
// writes.
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
// written, is true).
bool RemovePartialSet(int64_t id, const std::string& storage_name, const std::string& location,
                      StorageUse use, std::function<void()> interrupt_check = {});

// FinishPendingCleanups removes, from the launcher, the sets of up to limit
// failed operations flagged cleanup_pending (a worker stopped before it
// could), clearing the flag of each it removed, while budget is not spent
// and within kLauncherItemSeconds each; a set whose storage does not answer
// is tried again a minute later. Outside a transaction.
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
