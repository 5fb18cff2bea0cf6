// wal_storage_publisher.cpp: the launcher keeps the archiver's copy of the
// WAL storage's definition current.

extern "C" {
#include "postgres.h"

#include "miscadmin.h"
}

#include <unistd.h>

#include <string>

#include "core/wal/wal_storage_file.h"
#include "pg/boundary/boundary.h"
#include "pg/catalog/storage_registry.h"
#include "pg/runtime/settings.h"
#include "pg/wal/wal_storage_publisher.h"

namespace pgbak {

namespace {

// missing_reported is the undefined storage name last logged.
std::string missing_reported;

}  // namespace

void PublishWalStorage() {
  std::string name = setting_wal_storage != nullptr ? setting_wal_storage : "";
  if (name.empty() || name == "local") {
    // No storage of its own: a definition published before (with its
    // secrets) has no business staying on disk.
    std::string data_dir;
    PgCall([&] { data_dir = DataDir; });
    std::string path = data_dir + "/" + kWalStorageFileName;
    if (unlink(path.c_str()) == 0)
      PgCall([&] {
        ereport(LOG, (errmsg("pgbak: removed the archiver's WAL storage file: pgbak.wal_storage "
                             "names no storage of its own")));
      });
    return;
  }
  StorageDefinition definition;
  if (!LoadStorageDefinition(name, definition)) {
    if (missing_reported != name) {
      missing_reported = name;
      PgCall([&] {
        ereport(WARNING, (errmsg("pgbak.wal_storage names storage \"%s\", which does not exist",
                                 name.c_str()),
                          errhint("Define it with pgbak_storage_add(), or set pgbak.wal_storage to "
                                  "'local' or to a defined storage.")));
      });
    }
    return;
  }
  missing_reported.clear();
  std::string data_dir;
  PgCall([&] { data_dir = DataDir; });
  if (WriteWalStorageFile(data_dir, definition))
    PgCall([&] {
      ereport(LOG, (errmsg("pgbak: published the definition of WAL storage \"%s\" for the "
                           "archiver",
                           name.c_str())));
    });
}

}  // namespace pgbak
