// operation_cleanup.cpp: removing what a failed, crashed or expired backup
// left in storage.

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/snapmgr.h"
}

#include <algorithm>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/archive/set_layout.h"
#include "pg/boundary/boundary.h"
#include "pg/boundary/transaction.h"
#include "pg/catalog/catalog.h"
#include "pg/jobs/operation_cleanup.h"

namespace pgbak {

namespace {

// kObjectNames are the objects a backup set may contain.
const char* const kObjectNames[] = {kDataObjectCustom, kDataObjectPlain, kGlobalsObject,
                                    kTablesObject, kManifestObject};

bool IsOurObject(const std::string& name) {
  for (const char* object : kObjectNames)
    if (name == object || name == std::string(object) + kAgeSuffix)
      return true;
  return false;
}

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
                bool* tidied = nullptr) {
  std::string key = SetKeyAt(storage, id, location, error);
  if (key.empty())
    return false;
  try {
    std::vector<std::string> names;
    for (const ObjectInfo& object : storage.List(key + "/")) {
      std::string name = object.key.substr(key.size() + 1);
      if (IsOurObject(name))
        names.push_back(name);
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
                      StorageUse use, std::function<void()> interrupt_check) {
  if (location.empty())
    return true;
  std::string error;
  try {
    std::unique_ptr<Storage> storage;
    RunInTransaction([&] { storage = OpenStorage(storage_name, use, std::move(interrupt_check)); });
    // Unfinished multipart uploads hold stored (and billed) parts: a set
    // whose housekeeping failed is not clean yet.
    bool tidied = false;
    if (RemoveFrom(*storage, id, location, error, &tidied)) {
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

}  // namespace

int FinishPendingCleanups(int limit, const PassBudget& budget) {
  struct Pending {
    int64 id;
    std::string storage;
    std::string location;
  };
  std::vector<Pending> pending;
  RunInTransaction([&] {
    bool has = false;
    PgCall([&] { has = BackupLogHasColumn("cleanup_pending"); });
    if (!has)
      return;
    std::string sql = "SELECT id, storage_name, coalesce(location, '') FROM " +
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
      const char* storage = nullptr;
      const char* location = nullptr;
      PgCall([&] {
        bool isnull = false;
        id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
        storage = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
        location = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);
      });
      pending.push_back(
          {id, storage != nullptr ? storage : "local", location != nullptr ? location : ""});
    }
  });
  std::time_t now = std::time(nullptr);
  int finished = 0;
  for (const Pending& item : pending) {
    if (finished >= limit || budget.Spent())
      break;
    auto wait = cleanup_retry_after.find(item.id);
    if (wait != cleanup_retry_after.end() && wait->second > now)
      continue;
    if (!RemovePartialSet(item.id, item.storage, item.location, StorageUse::kLauncher,
                          BoundedWaitCheck(kLauncherItemSeconds))) {
      cleanup_retry_after[item.id] = now + kCleanupRetrySeconds;
      continue;
    }
    cleanup_retry_after.erase(item.id);
    finished++;
    RunInTransaction([&] {
      std::string sql =
          "UPDATE " + QuotedRelation("backup_log") + " SET cleanup_pending = false WHERE id = $1";
      PgCall([&] {
        Oid types[1] = {INT8OID};
        Datum values[1] = {Int64GetDatum(item.id)};
        if (SPI_execute_with_args(sql.c_str(), 1, types, values, nullptr, false, 0) !=
            SPI_OK_UPDATE)
          elog(ERROR, "could not clear cleanup_pending of " INT64_FORMAT, item.id);
        ereport(LOG,
                (errmsg("pgbak: removed what operation " INT64_FORMAT " left behind", item.id)));
      });
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
