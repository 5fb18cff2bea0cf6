// operation_cleanup.cpp: removing what a failed, crashed or expired backup
// left in storage.

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "utils/snapmgr.h"
}

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/archive/set_layout.h"
#include "pg/boundary/boundary.h"
#include "pg/boundary/transaction.h"
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

// RemoveFrom removes the set's objects from an open storage.
bool RemoveFrom(Storage& storage, int64_t id, const std::string& location, std::string& error) {
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
  try {
    storage.Tidy(key);
  } catch (const std::exception& e) {
    PgCall([&] {
      ereport(WARNING, (errmsg("pgbak: housekeeping of \"%s\" after removing set %lld: %s",
                               location.c_str(), static_cast<long long>(id), e.what())));
    });
  }
  return true;
}

}  // namespace

void RemovePartialSet(int64_t id, const std::string& storage_name, const std::string& location,
                      StorageUse use) {
  if (location.empty())
    return;
  std::string error;
  try {
    std::unique_ptr<Storage> storage;
    RunInTransaction([&] { storage = OpenStorage(storage_name, use); });
    if (RemoveFrom(*storage, id, location, error))
      return;
  } catch (const std::exception& e) {
    error = e.what();
  }
  PgCall([&] {
    ereport(WARNING,
            (errmsg("pgbak: cleanup of operation " INT64_FORMAT ": %s", id, error.c_str())));
  });
}

bool RemoveSetObjects(const std::string& storage_name, int64_t id, const std::string& location,
                      StorageUse use, std::string& error) {
  try {
    std::unique_ptr<Storage> storage = OpenStorage(storage_name, use);
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
