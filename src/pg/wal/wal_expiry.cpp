// wal_expiry.cpp: see wal_expiry.h.

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
}

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/storage/storage.h"
#include "core/wal/wal_layout.h"
#include "core/wal/wal_retention.h"
#include "pg/boundary/boundary.h"
#include "pg/boundary/transaction.h"
#include "pg/catalog/catalog.h"
#include "pg/runtime/settings.h"
#include "pg/wal/wal_archive_status.h"
#include "pg/wal/wal_expiry.h"

namespace pgbak {

namespace {

// NeededSegments reads the first segment of every base backup of this
// cluster that is succeeded, queued or running; returns false (with why)
// when one has started without it, a succeeded one has none, or none
// exists.
bool NeededSegments(const std::string& system_identifier, std::vector<std::string>& needed,
                    std::string& why) {
  std::string sql = "SELECT status, coalesce(wal_first_segment, ''), coalesce(location, '') FROM " +
                    QuotedRelation("backup_log") +
                    " WHERE kind = 'base' AND status IN ('succeeded', 'queued', 'running')";
  uint64 rows = 0;
  PgCall([&] {
    if (SPI_execute(sql.c_str(), true, 0) != SPI_OK_SELECT)
      elog(ERROR, "could not read the base backups");
    rows = SPI_processed;
  });
  // The set directory is "<system identifier>/base/<time>-<id>" below the
  // storage's root: a succeeded row of another cluster's (a catalog that
  // came from elsewhere) is not this one's.
  std::string marker = system_identifier + "/base/";
  for (uint64 r = 0; r < rows; r++) {
    std::string status, first, location;
    PgCall([&] {
      char* value = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
      status = value != nullptr ? value : "";
      value = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);
      first = value != nullptr ? value : "";
      value = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3);
      location = value != nullptr ? value : "";
    });
    if (status == "succeeded" && location.find(marker) == std::string::npos)
      continue;
    if (first.empty()) {
      why = status == "succeeded"
                ? "a succeeded base backup has no first WAL segment recorded"
                : "a base backup is starting (its first WAL segment is not known yet)";
      return false;
    }
    needed.push_back(first);
  }
  if (needed.empty()) {
    why = "no base backup of this cluster is kept: only a kept one says which WAL is needed";
    return false;
  }
  return true;
}

// last_skipped is the reason this process last logged for doing nothing.
std::string last_skipped;

// Report logs what a run removed, and why it did nothing when that changed.
void Report(const WalExpiry& expiry) {
  std::string storage = setting_wal_storage != nullptr ? setting_wal_storage : "";
  if (!expiry.skipped.empty()) {
    if (expiry.skipped != last_skipped) {
      PgCall([&] {
        ereport(LOG, (errmsg("pgbak: archived WAL in storage \"%s\" kept whole: %s",
                             storage.c_str(), expiry.skipped.c_str())));
      });
    }
    last_skipped = expiry.skipped;
    return;
  }
  last_skipped.clear();
  if (expiry.removed == 0 && expiry.complete)
    return;
  std::string line = "pgbak: removed " + std::to_string(expiry.removed) +
                     " archived WAL file(s) from storage \"" + storage + "\" before segment " +
                     expiry.kept_from + " (needed by no kept base backup)" +
                     (expiry.complete ? "" : "; the rest at the next base backup");
  PgCall([&] { ereport(LOG, (errmsg("%s", line.c_str()))); });
}

}  // namespace

WalExpiry ExpireArchivedWal(StorageUse use, std::function<void()> interrupt_check,
                            std::function<bool()> out_of_time) {
  WalExpiry expiry;
  std::string storage_name = setting_wal_storage != nullptr ? setting_wal_storage : "";
  if (!ArchivingThroughPgbak() || storage_name.empty()) {
    expiry.skipped = "this server does not archive its WAL through pgbak_ext";
    return expiry;
  }
  // The segment being written, read before the catalog's snapshot: a base
  // backup that the snapshot does not see starts there or later (on a
  // timeline restored to an earlier point, that can be below a kept
  // backup's start).
  bool in_recovery = false;
  std::string current;
  std::string system_identifier;
  PgCall([&] {
    in_recovery = RecoveryInProgress();
    system_identifier = std::to_string(GetSystemIdentifier());
    if (in_recovery)
      return;
    char name[MAXFNAMELEN];
    XLogSegNo segment = 0;
    XLByteToSeg(GetXLogInsertRecPtr(), segment, wal_segment_size);
    XLogFileName(name, GetWALInsertionTimeLine(), segment, wal_segment_size);
    current = name;
  });
  if (in_recovery) {
    expiry.skipped = "the server is in recovery";
    return expiry;
  }
  std::vector<std::string> needed;
  std::unique_ptr<Storage> storage;
  RunInTransaction([&] {
    bool has_columns = false;
    PgCall([&] { has_columns = BackupLogHasColumn("wal_first_segment"); });
    if (!has_columns) {
      expiry.skipped = "the catalog predates base backups (ALTER EXTENSION pgbak_ext UPDATE)";
      return;
    }
    if (!NeededSegments(system_identifier, needed, expiry.skipped))
      return;
    storage = OpenStorage(storage_name, use, interrupt_check);
  });
  if (!expiry.skipped.empty())
    return expiry;
  needed.push_back(current);
  std::vector<std::string> keys;
  for (const ObjectInfo& object : storage->List(WalDirectory(system_identifier) + "/"))
    keys.push_back(object.key);
  std::string other = AnotherWriter(keys, current);
  if (!other.empty()) {
    expiry.skipped = "another cluster with this system identifier archives there (" + other +
                     "): its base backups are not in this catalog";
    return expiry;
  }
  std::vector<WalObject> expired = WalObjectsToExpire(keys, needed);
  expiry.kept_from = needed.front();
  for (const std::string& name : needed)
    if (WalSegmentPart(name) < WalSegmentPart(expiry.kept_from))
      expiry.kept_from = name;
  for (const WalObject& object : expired) {
    if (interrupt_check)
      interrupt_check();
    if (out_of_time && out_of_time()) {
      expiry.complete = false;
      break;
    }
    storage->Remove(object.key);
    expiry.removed++;
  }
  return expiry;
}

void ExpireArchivedWalInWorker(std::function<void()> interrupt_check) {
  Failure failure;
  WalExpiry expiry;
  CatchCore(failure,
            [&] { expiry = ExpireArchivedWal(StorageUse::kWorker, std::move(interrupt_check)); });
  if (failure.failed) {
    PgCall([&] {
      ereport(WARNING, (errmsg("pgbak: could not remove archived WAL that no base backup needs: %s",
                               failure.message),
                        errhint("The next base backup's worker tries again.")));
    });
    return;
  }
  Report(expiry);
}

void ExpireArchivedWalInLauncher(const PassBudget& budget) {
  if (!ArchivingThroughPgbak() || budget.Spent())
    return;
  // Removals stop a little before the storage's wait bound would throw.
  auto stop_at = std::chrono::steady_clock::now() + std::chrono::seconds(kLauncherItemSeconds - 2);
  Failure failure;
  WalExpiry expiry;
  CatchCore(failure, [&] {
    expiry = ExpireArchivedWal(
        StorageUse::kLauncher, BoundedWaitCheck(kLauncherItemSeconds), [&budget, stop_at] {
          return budget.Spent() || std::chrono::steady_clock::now() > stop_at;
        });
  });
  if (failure.failed) {
    PgCall([&] {
      ereport(LOG, (errmsg("pgbak: archived WAL that no base backup needs is left to the next "
                           "base backup's worker: %s",
                           failure.message)));
    });
    return;
  }
  Report(expiry);
}

}  // namespace pgbak
