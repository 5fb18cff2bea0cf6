// operation_cleanup.cpp: removing what a failed, crashed or expired
// operation left behind: a backup's objects in storage, a dead verify's or
// restore's databases (through CleanUpAbandoned).

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/snapmgr.h"
}

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/archive/base_layout.h"
#include "core/archive/set_layout.h"
#include "core/storage/local/local_storage.h"
#include "pg/boundary/boundary.h"
#include "pg/boundary/transaction.h"
#include "pg/catalog/catalog.h"
#include "pg/jobs/operation_cleanup.h"
#include "pg/jobs/verify_job.h"
#include "pg/runtime/settings.h"

namespace pgbak {

namespace {

// SetKeyAt is the set's key in storage, or "" (with error set) if location
// is not operation id's set directory there.
std::string SetKeyAt(const Storage& storage, int64_t id, const std::string& location,
                     std::string& error) {
  std::string key = storage.KeyOf(location);
  if (key.empty() || !IsSetKey(id, key)) {
    error = "refusing to touch \"" + location + "\": not the set directory of operation " +
            std::to_string(id) + " in storage " + storage.Location("");
    return "";
  }
  return key;
}

// RemoveFrom removes the set's objects from an open storage; tidied (if
// given) says whether the housekeeping after it (temporaries, unfinished
// multipart uploads) succeeded too.
bool RemoveFrom(Storage& storage, int64_t id, const std::string& location, std::string& error,
                bool* tidied = nullptr, bool keep_committed = false) {
  std::string key = SetKeyAt(storage, id, location, error);
  if (key.empty())
    return false;
  try {
    std::vector<std::string> names;
    for (const ObjectInfo& object : storage.List(key + "/")) {
      std::string name = object.key.substr(key.size() + 1);
      if (IsSetObject(name) || IsBaseSetObject(name))
        names.push_back(name);
    }
    if (keep_committed && std::find(names.begin(), names.end(), kManifestObject) != names.end()) {
      if (tidied != nullptr)
        *tidied = true;
      PgCall([&] {
        ereport(LOG, (errmsg("pgbak: base backup %lld at \"%s\" has its manifest.json: kept",
                             static_cast<long long>(id), location.c_str()),
                      errdetail("A complete base backup is never removed as a failed one: this "
                                "cluster may have been restored from it, and its catalog still "
                                "shows it running.")));
      });
      return true;
    }
    // The manifest goes first: once it is gone the set no longer looks
    // complete, even if removing the rest fails half way.
    std::stable_partition(names.begin(), names.end(),
                          [](const std::string& name) { return name == kManifestObject; });
    for (const std::string& name : names)
      storage.Remove(key + "/" + name);
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
  // The objects are gone: what Tidy does (temporaries, unfinished uploads,
  // the empty directory) is housekeeping that must not make a removed set
  // look kept.
  if (tidied != nullptr)
    *tidied = false;
  try {
    storage.Tidy(key);
    if (tidied != nullptr)
      *tidied = true;
  } catch (const std::exception& e) {
    PgCall([&] {
      ereport(WARNING, (errmsg("pgbak: housekeeping of \"%s\" after removing set %lld: %s",
                               location.c_str(), static_cast<long long>(id), e.what())));
    });
  }
  return true;
}

}  // namespace

bool RemovePartialSet(int64_t id, const std::string& storage_name, const std::string& location,
                      StorageUse use, std::function<void()> interrupt_check, bool keep_committed) {
  if (location.empty())
    return true;
  std::string error;
  try {
    std::unique_ptr<Storage> storage;
    RunInTransaction([&] { storage = OpenStorage(storage_name, use, std::move(interrupt_check)); });
    // Unfinished multipart uploads hold stored (and billed) parts: a set
    // whose housekeeping failed is not clean yet.
    bool tidied = false;
    if (RemoveFrom(*storage, id, location, error, &tidied, keep_committed)) {
      if (tidied)
        return true;
      error = "its housekeeping (unfinished uploads, temporaries) is not done";
    }
  } catch (const std::exception& e) {
    error = e.what();
  }
  PgCall([&] {
    ereport(WARNING,
            (errmsg("pgbak: cleanup of operation " INT64_FORMAT ": %s", id, error.c_str())));
  });
  return false;
}

namespace {

// cleanup_retry_after keeps, in the launcher, when each pending cleanup that
// failed may be tried again.
std::map<int64_t, std::time_t> cleanup_retry_after;
constexpr std::time_t kCleanupRetrySeconds = 60;

// SetCleanupPending writes cleanup_pending of row id (SPI connected).
void SetCleanupPending(int64_t id, bool pending) {
  std::string sql =
      "UPDATE " + QuotedRelation("backup_log") + " SET cleanup_pending = $2 WHERE id = $1";
  PgCall([&] {
    if (!BackupLogHasColumn("cleanup_pending"))
      return;
    Oid types[2] = {INT8OID, BOOLOID};
    Datum values[2] = {Int64GetDatum(static_cast<int64>(id)), BoolGetDatum(pending)};
    if (SPI_execute_with_args(sql.c_str(), 2, types, values, nullptr, false, 0) != SPI_OK_UPDATE)
      elog(ERROR, "could not set cleanup_pending of " INT64_FORMAT, static_cast<int64>(id));
  });
}

// LeftoversSettled says whether a verify or restore whose worker died has
// nothing left for CleanUpAbandoned to do, judged from the catalog and the
// disk, not from what it said: its staging directory is gone, the database
// it created (scratch_database) is gone or has become the target, and the
// database a clean restore moved aside (replaced_database) is gone, back
// under the target's name, or kept aside because the target's name is
// taken (by the restored database, or by a database created since), which
// CleanUpAbandoned reports for an admin to decide. A schema before 1.3
// records no OIDs: nothing to judge. Outside a transaction.
bool LeftoversSettled(int64_t id) {
  struct stat st;
  std::string staging = LocalStorage(LocalStorageRoot()).Location(".staging/" + std::to_string(id));
  if (stat(staging.c_str(), &st) == 0)
    return false;
  bool settled = true;
  RunInTransaction([&] {
    std::string sql =
        "SELECT (SELECT datname::text FROM pg_catalog.pg_database WHERE oid = l.scratch_database), "
        "(SELECT datname::text FROM pg_catalog.pg_database WHERE oid = l.replaced_database), "
        "t.name, EXISTS (SELECT 1 FROM pg_catalog.pg_database d WHERE d.datname = t.name) "
        "FROM " +
        QuotedRelation("backup_log") +
        " l, LATERAL (SELECT CASE WHEN l.kind = 'recover' "
        "THEN coalesce(l.options ->> 'target_database', '') ELSE l.database_name::text END) "
        "t(name) WHERE l.id = $1";
    PgCall([&] {
      if (!BackupLogHasColumn("scratch_database"))
        return;
      Oid types[1] = {INT8OID};
      Datum values[1] = {Int64GetDatum(static_cast<int64>(id))};
      if (SPI_execute_with_args(sql.c_str(), 1, types, values, nullptr, true, 1) != SPI_OK_SELECT)
        elog(ERROR, "could not read operation " INT64_FORMAT, static_cast<int64>(id));
      if (SPI_processed != 1)
        return;
      HeapTuple tuple = SPI_tuptable->vals[0];
      TupleDesc desc = SPI_tuptable->tupdesc;
      const char* scratch = SPI_getvalue(tuple, desc, 1);
      const char* replaced = SPI_getvalue(tuple, desc, 2);
      const char* target = SPI_getvalue(tuple, desc, 3);
      bool isnull = false;
      bool target_exists = DatumGetBool(SPI_getbinval(tuple, desc, 4, &isnull));
      if (scratch != nullptr && strcmp(scratch, target) != 0)
        settled = false;
      if (replaced != nullptr && strcmp(replaced, target) != 0 && !target_exists)
        settled = false;
    });
  });
  return settled;
}

}  // namespace

bool CleanUpFailed(const FailedOperation& op) {
  bool clean = false;
  if (op.kind == "backup" || op.kind == "copy" || op.kind == "base") {
    clean = RemovePartialSet(op.id, op.storage, op.location, StorageUse::kLauncher,
                             BoundedWaitCheck(kLauncherItemSeconds), op.kind == "base");
  } else {
    CleanUpAbandoned(op.id, op.kind);
    Failure failure;
    CatchCore(failure, [&] { clean = LeftoversSettled(op.id); });
    if (!clean) {
      PgCall([&] {
        ereport(WARNING,
                (errmsg("pgbak: cleanup of operation " INT64_FORMAT " is not done%s%s",
                        static_cast<int64>(op.id), failure.failed ? ": " : "", failure.message),
                 errhint("The launcher tries again in a minute.")));
      });
    }
  }
  if (clean)
    cleanup_retry_after.erase(op.id);
  else
    cleanup_retry_after[op.id] = std::time(nullptr) + kCleanupRetrySeconds;
  return clean;
}

void FlagCleanupPending(int64_t id) {
  SetCleanupPending(id, true);
}

void ClearCleanupPending(int64_t id) {
  RunInTransaction([&] { SetCleanupPending(id, false); });
}

int FinishPendingCleanups(int limit, const PassBudget& budget) {
  std::vector<FailedOperation> pending;
  RunInTransaction([&] {
    bool has = false;
    PgCall([&] { has = BackupLogHasColumn("cleanup_pending"); });
    if (!has)
      return;
    std::string sql = "SELECT id, kind, storage_name, coalesce(location, '') FROM " +
                      QuotedRelation("backup_log") +
                      " WHERE cleanup_pending AND status IN ('failed', 'cancelled') "
                      "ORDER BY id LIMIT $1";
    int64 count = 0;
    PgCall([&] {
      Oid types[1] = {INT8OID};
      Datum values[1] = {Int64GetDatum(static_cast<int64>(limit) * 4)};
      if (SPI_execute_with_args(sql.c_str(), 1, types, values, nullptr, true, 0) != SPI_OK_SELECT)
        elog(ERROR, "could not read pending cleanups");
      count = SPI_processed;
    });
    for (int64 i = 0; i < count; i++) {
      int64 id = 0;
      const char* kind = nullptr;
      const char* storage = nullptr;
      const char* location = nullptr;
      PgCall([&] {
        bool isnull = false;
        id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
        kind = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
        storage = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);
        location = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 4);
      });
      FailedOperation op;
      op.id = id;
      op.kind = kind != nullptr ? kind : "";
      op.storage = storage != nullptr ? storage : "local";
      op.location = location != nullptr ? location : "";
      pending.push_back(std::move(op));
    }
  });
  std::time_t now = std::time(nullptr);
  int finished = 0;
  for (const FailedOperation& op : pending) {
    if (finished >= limit || budget.Spent())
      break;
    auto wait = cleanup_retry_after.find(op.id);
    if (wait != cleanup_retry_after.end() && wait->second > now)
      continue;
    if (!CleanUpFailed(op))
      continue;
    finished++;
    ClearCleanupPending(op.id);
    PgCall([&] {
      ereport(LOG, (errmsg("pgbak: removed what operation " INT64_FORMAT " left behind",
                           static_cast<int64>(op.id))));
    });
  }
  return finished;
}

bool RemoveSetObjects(const std::string& storage_name, int64_t id, const std::string& location,
                      StorageUse use, std::string& error, std::function<void()> interrupt_check) {
  try {
    std::unique_ptr<Storage> storage = OpenStorage(storage_name, use, std::move(interrupt_check));
    return RemoveFrom(*storage, id, location, error);
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
}

bool SetHasObjects(const std::string& storage_name, int64_t id, const std::string& location) {
  if (location.empty())
    return false;
  std::unique_ptr<Storage> storage = OpenStorage(storage_name, StorageUse::kWorker);
  std::string error;
  std::string key = SetKeyAt(*storage, id, location, error);
  return !key.empty() && !storage->List(key + "/").empty();
}

}  // namespace pgbak
