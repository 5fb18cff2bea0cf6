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
  std::string skipped;    // why nothing was looked at ("" if it ran)
  bool complete = true;   // false: out_of_time stopped it before every file went
};

// ExpireArchivedWal removes, from pgbak.wal_storage, the archived WAL files
// of this cluster (its system identifier) whose segment comes before the
// first segment of every base backup of this cluster that is succeeded,
// queued or running. It does nothing (and says why in skipped) unless this
// server archives through pgbak_ext (archive_mode on, archive_library
// 'pgbak_ext') into pgbak.wal_storage: a copy restored from a base backup
// shares the system identifier and must not trim the source's archive;
// nor while a base backup has started without its first segment recorded
// yet, nor during recovery, nor without any such base backup. The segment
// being written now counts as needed too, so a base backup that starts
// while this runs never loses its WAL. Needs a transaction with SPI
// connected (it reads backup_log and the storage's definition); no row
// changes. interrupt_check as for OpenStorage; out_of_time (if given) is
// asked before each removal.
WalExpiry ExpireArchivedWal(StorageUse use, std::function<void()> interrupt_check,
                            std::function<bool()> out_of_time = {});

// ExpireArchivedWalInWorker runs it after a base backup, in a transaction
// of its own, with interrupt_check (the worker's stop check); problems are
// logged, never thrown.
void ExpireArchivedWalInWorker(std::function<void()> interrupt_check);

// MaybeExpireArchivedWal runs it from the launcher every ten minutes, and
// at the next pass if now (sets just expired) or if the last run ran out of
// budget. Opens its own transaction.
void MaybeExpireArchivedWal(bool now, const PassBudget& budget);

}  // namespace pgbak
