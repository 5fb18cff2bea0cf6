// disk_space.cpp: free space checks of local storages against the file
// systems PostgreSQL writes to, and full-disk errors that name their storage.

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
}

#include <dirent.h>
#include <sys/stat.h>

#include <memory>
#include <string>

#include "core/storage/local/free_space.h"
#include "core/storage/local/local_storage.h"
#include "pg/boundary/boundary.h"
#include "pg/jobs/disk_space.h"
#include "pg/runtime/settings.h"

namespace pgbak {

namespace {

// PostgresPlace is one of the places PostgreSQL writes to.
struct PostgresPlace {
  std::string what;  // "the data directory", "pg_wal", "the tablespace with OID 16385"
  std::string path;
};

// SameDevice says whether path (symbolic links followed) is on device.
bool SameDevice(const std::string& path, uint64_t device) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_dev) == device;
}

// PostgresPlaceOn finds which of PostgreSQL's places is on device: the data
// directory, pg_wal (often a link to a disk of its own) or a tablespace.
// False if none is.
bool PostgresPlaceOn(uint64_t device, PostgresPlace& place) {
  std::string data_dir = DataDir;
  if (SameDevice(data_dir, device)) {
    place = {"the data directory", data_dir};
    return true;
  }
  if (SameDevice(data_dir + "/pg_wal", device)) {
    place = {"pg_wal", data_dir + "/pg_wal"};
    return true;
  }
  std::string tablespaces = data_dir + "/pg_tblspc";
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(tablespaces.c_str()), closedir);
  if (!dir)
    return false;
  while (struct dirent* entry = readdir(dir.get())) {
    std::string name = entry->d_name;
    if (name == "." || name == "..")
      continue;
    if (SameDevice(tablespaces + "/" + name, device)) {
      place = {"the tablespace with OID " + name, tablespaces + "/" + name};
      return true;
    }
  }
  return false;
}

// ReserveBytes is pgbak.local_reserve in bytes (the setting is in MB).
uint64_t ReserveBytes() {
  return static_cast<uint64_t>(setting_local_reserve_mb) * 1024 * 1024;
}

// DatabaseSize is pg_database_size(database); call in a transaction.
uint64_t DatabaseSize(const std::string& database) {
  int64 size = 0;
  PgCall([&] {
    Oid types[1] = {TEXTOID};
    Datum values[1] = {CStringGetTextDatum(database.c_str())};
    if (SPI_execute_with_args("SELECT pg_catalog.pg_database_size($1::pg_catalog.name)", 1, types,
                              values, nullptr, true, 1) != SPI_OK_SELECT ||
        SPI_processed != 1)
      elog(ERROR, "could not read the size of database \"%s\"", database.c_str());
    bool isnull = false;
    size = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  });
  return size > 0 ? static_cast<uint64_t>(size) : 0;
}

}  // namespace

namespace {

// GuardSpace is GuardBackupSpace and GuardCopySpace; estimate, if not
// given, is the database's size.
void GuardSpace(Storage& storage, const std::string& storage_name, int64_t id,
                const std::string& database, const uint64_t* given, const char* what) {
  auto* local = dynamic_cast<LocalStorage*>(&storage);
  if (local == nullptr || setting_local_reserve_mb < 0)
    return;
  FileSystemSpace space = SpaceAt(local->root());
  PostgresPlace place;
  if (!PostgresPlaceOn(space.device, place))
    return;
  uint64_t estimate = given != nullptr ? *given : DatabaseSize(database);
  uint64_t reserve = ReserveBytes();
  std::string shares = "Storage \"" + storage_name + "\" (" + local->root() +
                       ") is on the file system of " + place.what + " (" + place.path + ")";
  if (space.available < estimate || space.available - estimate < reserve)
    throw Error(ErrorKind::kDiskFull,
                "not enough free space on the file system of " + place.what + " for " + what + " " +
                    std::to_string(id) +
                    (database.empty() ? "" : " of database \"" + database + "\"") +
                    " in storage \"" + storage_name + "\"",
                shares + ": " + FormatBytes(space.available) + " available; " +
                    (database.empty()   ? "the cluster is "
                     : given != nullptr ? "the set is "
                                        : "the database is ") +
                    FormatBytes(estimate) + ", the estimate of what the " + what +
                    " may write; pgbak.local_reserve keeps " + FormatBytes(reserve) +
                    " free for PostgreSQL. Nothing was written.",
                "Put the storage on another file system (pgbak.local_path, or a file:// storage "
                "elsewhere), make room, or lower pgbak.local_reserve (-1 turns this check off).");
  // The estimate is not a promise (data that compresses badly, a database
  // that grows while it is dumped): the writes themselves stop at the
  // reserve.
  local->KeepFree(reserve, "pgbak.local_reserve keeps " + FormatBytes(reserve) +
                               " free on the file system of " + place.what + " (" + place.path +
                               "), which storage \"" + storage_name + "\" shares.");
}

}  // namespace

void GuardBackupSpace(Storage& storage, const std::string& storage_name, int64_t id,
                      const std::string& database) {
  GuardSpace(storage, storage_name, id, database, nullptr, "backup");
}

void GuardCopySpace(Storage& storage, const std::string& storage_name, int64_t id,
                    const std::string& database, uint64_t bytes) {
  GuardSpace(storage, storage_name, id, database, &bytes, "copy");
}

void GuardBaseBackupSpace(Storage& storage, const std::string& storage_name, int64_t id,
                          uint64_t cluster_bytes) {
  GuardSpace(storage, storage_name, id, "", &cluster_bytes, "base backup");
}

void CheckStagingSpace(const std::string& root, int64_t id, uint64_t bytes,
                       const std::string& what) {
  FileSystemSpace space = SpaceAt(root);
  PostgresPlace place;
  bool shared = setting_local_reserve_mb >= 0 && PostgresPlaceOn(space.device, place);
  uint64_t keep = shared ? ReserveBytes() : 0;
  uint64_t needed = bytes + bytes / 10 + keep;
  if (space.available >= needed)
    return;
  std::string detail = "The restore stages " + what + ", " + FormatBytes(bytes) +
                       ", below pgbak.local_path (" + root + "), with a tenth to spare";
  if (shared)
    detail += "; that is the file system of " + place.what + " (" + place.path +
              "), where pgbak.local_reserve keeps " + FormatBytes(keep) + " free for PostgreSQL";
  throw Error(ErrorKind::kDiskFull,
              "no space left in storage \"local\" to stage backup " + std::to_string(id) + ": " +
                  FormatBytes(needed) + " needed, " + FormatBytes(space.available) + " available",
              detail + ". Nothing was staged.",
              "Make room there, or point pgbak.local_path at a file system with more room (a "
              "reload is enough).");
}

void ThrowNamingStorage(const Error& cause, const std::string& storage_name, const Storage& storage,
                        const std::string& purpose) {
  std::string detail = cause.what();
  if (!cause.detail().empty())
    detail += ". " + cause.detail();
  // A cause with a detail of its own is a floor that KeepFree set (the
  // reserve), not a file system that is full.
  std::string hint =
      !cause.detail().empty()
          ? "Put the storage on another file system, make room, or lower pgbak.local_reserve."
      : storage_name == "local"
          ? "Make room below " + storage.Location("") +
                ", or point pgbak.local_path at a file system with more room."
          : "Make room below " + storage.Location("") + ", or use a storage with more room.";
  throw Error(ErrorKind::kDiskFull, "no space left in storage \"" + storage_name + "\" " + purpose,
              detail, hint);
}

}  // namespace pgbak
