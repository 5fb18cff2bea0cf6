// wal_expiry.h: removing archived WAL that no kept base backup needs.
//
// The WAL a base backup needs starts at its first segment
// (backup_log.wal_first_segment); point-in-time recovery can start from no
// earlier than the oldest kept base backup. So once retention has expired
// base backups, the archived files before the first segment of the oldest
// one still kept (or running) can go (core/wal/wal_retention.h decides;
// history files always stay). Logical sets are not touched: they live in
// other directories, and the listing is of "<system identifier>/wal/" only.
//
// Include after postgres.h.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "pg/catalog/storage_registry.h"

namespace pgbak {

// WalExpiry is what one call did.
struct WalExpiry {
  int64_t removed = 0;
  std::string kept_from;  // the earliest needed segment ("" if nothing was looked at)
  std::string skipped;    // why nothing was removed ("" if it ran)
  bool complete = true;   // false: out_of_time stopped it before every file went
};

// ExpireArchivedWal removes, from pgbak.wal_storage, the archived WAL files
// of this cluster (its system identifier) whose segment comes before the
// first segment of every base backup of this cluster that is succeeded,
// queued or running, and before the segment being written now (so that a
// base backup starting meanwhile loses nothing). It removes nothing, and
// says why in skipped:
//   - unless this server archives through pgbak_ext into pgbak.wal_storage
//     (archive_mode on, archive_library 'pgbak_ext'), or during recovery;
//   - while a base backup has started without its first segment recorded
//     yet, or a succeeded one has none;
//   - without any kept base backup of this cluster;
//   - when the listing shows WAL this server cannot have written (a copy
//     restored from one of its base backups archiving into the same place:
//     AnotherWriter in wal_retention.h).
// It reads the catalog and opens the storage in a short transaction of its
// own, then lists and removes outside it: call it outside a transaction.
// interrupt_check runs while the storage waits and before each removal;
// out_of_time (if given) is asked before each removal.
WalExpiry ExpireArchivedWal(StorageUse use, std::function<void()> interrupt_check,
                            std::function<bool()> out_of_time = {});

// ExpireArchivedWalInWorker runs it after a base backup with
// interrupt_check (the worker's stop check); what it did, and why it did
// nothing when that changes, is logged; problems are logged, never thrown.
void ExpireArchivedWalInWorker(std::function<void()> interrupt_check);

// ExpireArchivedWalInLauncher runs it from the launcher (after base
// backups expired there), within budget and kLauncherItemSeconds of waiting
// on the storage; what it could not finish is left to the next base
// backup's worker, and logged.
void ExpireArchivedWalInLauncher(const PassBudget& budget);

}  // namespace pgbak
