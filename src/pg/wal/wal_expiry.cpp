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
// when one has started without it, or none exists.
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
  // storage's root: a row copied from another cluster is not this one's.
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
    if (status != "succeeded" && first.empty()) {
      why = "a base backup is starting (its first WAL segment is not known yet)";
      return false;
    }
    if (status == "succeeded" && location.find(marker) == std::string::npos)
      continue;
    if (!first.empty())
      needed.push_back(first);
  }
  if (needed.empty()) {
    why = "no base backup of this cluster is kept: only a kept one says which WAL is needed";
    return false;
  }
  return true;
}

// kWalExpiryInterval is how often the launcher looks.
constexpr std::chrono::minutes kWalExpiryInterval(10);
std::chrono::steady_clock::time_point next_wal_expiry;

// Report logs what a run removed.
void Report(const WalExpiry& expiry, const std::string& storage) {
  if (expiry.removed == 0)
    return;
  std::string line = "pgbak: removed " + std::to_string(expiry.removed) +
                     " archived WAL file(s) from storage \"" + storage + "\" before segment " +
                     expiry.kept_from + " (needed by no kept base backup)" +
                     (expiry.complete ? "" : "; more at the next pass");
  PgCall([&] { ereport(LOG, (errmsg("%s", line.c_str()))); });
}

}  // namespace

WalExpiry ExpireArchivedWal(StorageUse use, std::function<void()> interrupt_check,
                            std::function<bool()> out_of_time) {
  WalExpiry expiry;
  std::string storage_name = setting_wal_storage != nullptr ? setting_wal_storage : "";
  bool in_recovery = false;
  bool has_columns = false;
  std::string system_identifier;
  PgCall([&] {
    in_recovery = RecoveryInProgress();
    has_columns = BackupLogHasColumn("wal_first_segment");
    system_identifier = std::to_string(GetSystemIdentifier());
  });
  if (!ArchivingThroughPgbak() || storage_name.empty()) {
    expiry.skipped = "this server does not archive its WAL through pgbak_ext";
    return expiry;
  }
  if (in_recovery) {
    expiry.skipped = "the server is in recovery";
    return expiry;
  }
  if (!has_columns) {
    expiry.skipped = "the catalog predates base backups (ALTER EXTENSION pgbak_ext UPDATE)";
    return expiry;
  }
  std::vector<std::string> needed;
  if (!NeededSegments(system_identifier, needed, expiry.skipped))
    return expiry;
  // The segment being written: a base backup that starts after the read
  // above starts there or later (on a timeline restored to an earlier
  // point, that can be below a kept backup's start).
  PgCall([&] {
    char name[MAXFNAMELEN];
    XLogSegNo segment = 0;
    XLByteToSeg(GetXLogInsertRecPtr(), segment, wal_segment_size);
    XLogFileName(name, GetWALInsertionTimeLine(), segment, wal_segment_size);
    needed.emplace_back(name);
  });
  std::unique_ptr<Storage> storage = OpenStorage(storage_name, use, std::move(interrupt_check));
  std::vector<std::string> keys;
  for (const ObjectInfo& object : storage->List(WalDirectory(system_identifier) + "/"))
    keys.push_back(object.key);
  std::vector<WalObject> expired = WalObjectsToExpire(keys, needed);
  expiry.kept_from = needed.front();
  for (const std::string& name : needed)
    if (WalSegmentPart(name) < WalSegmentPart(expiry.kept_from))
      expiry.kept_from = name;
  for (const WalObject& object : expired) {
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
  CatchCore(failure, [&] {
    RunInTransaction(
        [&] { expiry = ExpireArchivedWal(StorageUse::kWorker, std::move(interrupt_check)); });
  });
  std::string storage = setting_wal_storage != nullptr ? setting_wal_storage : "";
  if (failure.failed) {
    PgCall([&] {
      ereport(WARNING, (errmsg("pgbak: could not remove archived WAL that no base backup needs: %s",
                               failure.message),
                        errhint("The launcher tries again within ten minutes.")));
    });
    return;
  }
  if (!expiry.skipped.empty()) {
    PgCall(
        [&] { ereport(DEBUG1, (errmsg("pgbak: archived WAL kept: %s", expiry.skipped.c_str()))); });
  }
  Report(expiry, storage);
}

void MaybeExpireArchivedWal(bool now, const PassBudget& budget) {
  auto clock = std::chrono::steady_clock::now();
  if (!now && clock < next_wal_expiry)
    return;
  next_wal_expiry = clock + kWalExpiryInterval;
  if (!ArchivingThroughPgbak() || budget.Spent())
    return;
  // Removals stop a little before the storage's wait bound would throw.
  auto stop_at = clock + std::chrono::seconds(kLauncherItemSeconds - 2);
  WalExpiry expiry;
  RunInTransaction([&] {
    expiry = ExpireArchivedWal(
        StorageUse::kLauncher, BoundedWaitCheck(kLauncherItemSeconds), [&budget, stop_at] {
          return budget.Spent() || std::chrono::steady_clock::now() > stop_at;
        });
  });
  if (!expiry.complete)
    next_wal_expiry = clock;
  Report(expiry, setting_wal_storage != nullptr ? setting_wal_storage : "");
}

}  // namespace pgbak
