// storage_registry.cpp: opening the driver of a named storage.

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "postmaster/interrupt.h"
#include "storage/pmsignal.h"
#include "storage/procsignal.h"
#include "utils/builtins.h"
}

#include <sys/syscall.h>
#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/storage/local/local_storage.h"
#include "core/storage/s3/s3_storage.h"
#include "core/storage/storage_definition.h"
#include "pg/boundary/boundary.h"
#include "pg/catalog/catalog.h"
#include "pg/catalog/storage_registry.h"
#include "pg/runtime/settings.h"

namespace pgbak {

namespace {

constexpr int kLauncherDeadlineS = 60;

// StoredDefinition is a pgbak_storage row with its secrets.
struct StoredDefinition {
  bool found = false;
  std::string url;
  std::string options;
  std::string secrets;
};

// LoadDefinition reads the pgbak_storage row of name. The PostgreSQL part
// only collects pointers into SPI's memory: a std::string that cannot grow
// must not throw from inside PgCall, and nothing with a destructor may live
// across calls that can raise an error.
StoredDefinition LoadDefinition(const std::string& name) {
  StoredDefinition definition;
  const char* columns[3] = {nullptr, nullptr, nullptr};
  bool found = false;
  PgCall([&] {
    const char* sql = psprintf(
        "SELECT s.url, s.options::text, coalesce(x.secrets::text, '{}') FROM %s s "
        "LEFT JOIN %s x ON x.name = s.name WHERE s.name = $1",
        SchemaQualified("pgbak_storage"), SchemaQualified("pgbak_storage_secret"));
    Oid types[1] = {TEXTOID};
    Datum values[1] = {CStringGetTextDatum(name.c_str())};
    if (SPI_execute_with_args(sql, 1, types, values, nullptr, true, 1) != SPI_OK_SELECT)
      elog(ERROR, "could not read storage definitions");
    if (SPI_processed == 0)
      return;
    found = true;
    for (int c = 0; c < 3; c++)
      columns[c] = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, c + 1);
  });
  definition.found = found;
  definition.url = columns[0] != nullptr ? columns[0] : "";
  definition.options = columns[1] != nullptr ? columns[1] : "{}";
  definition.secrets = columns[2] != nullptr ? columns[2] : "{}";
  return definition;
}

}  // namespace

std::string ServerEnvironment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value != nullptr)
    return value;
  if (name == "HOME") {
    struct passwd entry;
    struct passwd* found = nullptr;
    char buffer[4096];
    if (getpwuid_r(geteuid(), &entry, buffer, sizeof(buffer), &found) == 0 && found != nullptr &&
        found->pw_dir != nullptr)
      return found->pw_dir;
  }
  return "";
}

namespace {

// Environment is ServerEnvironment, as a definition's environment lookup.
std::string Environment(const std::string& name) {
  return ServerEnvironment(name);
}

}  // namespace

bool LoadStorageDefinition(const std::string& name, StorageDefinition& definition) {
  StoredDefinition stored = LoadDefinition(name);
  if (!stored.found)
    return false;
  definition.name = name;
  definition.url = stored.url;
  definition.public_options = stored.options;
  definition.secret_options = stored.secrets;
  return true;
}

std::unique_ptr<Storage> OpenStorage(const std::string& name, StorageUse use,
                                     std::function<void()> interrupt_check) {
  return OpenStorageHandle(name, use, std::move(interrupt_check)).storage;
}

StorageHandle OpenStorageHandle(const std::string& name, StorageUse use,
                                std::function<void()> interrupt_check) {
  StorageHandle handle;
  if (name == "local") {
    handle.storage = std::make_unique<LocalStorage>(LocalStorageRoot());
    return handle;
  }
  StoredDefinition definition = LoadDefinition(name);
  if (!definition.found)
    throw Error(ErrorKind::kUndefinedObject, "storage \"" + name + "\" does not exist",
                "It was dropped after this operation was queued.",
                "Define it again with pgbak_storage_add() to reach the sets stored in it.");
  handle.encryption = EncryptionFromDefinition(definition.options);
  if (IsLocalUrl(definition.url)) {
    handle.storage = std::make_unique<LocalStorage>(LocalPathFromUrl(definition.url));
    return handle;
  }
  S3Settings settings =
      SettingsFromDefinition(definition.url, definition.options, definition.secrets, Environment);
  if (use == StorageUse::kLauncher) {
    settings.retry.max_attempts = 2;
    settings.retry.low_speed_time_s = 10;
    settings.retry.connect_timeout_ms = 5000;
    // The launcher's (or a backend's) cleanup gives up after a bounded
    // time, and says so.
    if (!interrupt_check)
      interrupt_check = BoundedWaitCheck(kLauncherDeadlineS);
  }
  auto storage = std::make_unique<S3Storage>(std::move(settings));
  storage->SetInterruptCheck(std::move(interrupt_check));
  handle.storage = std::move(storage);
  return handle;
}

ObjectLock StorageObjectLock(const std::string& name) {
  if (name == "local")
    return ObjectLock();
  StoredDefinition definition = LoadDefinition(name);
  if (!definition.found || IsLocalUrl(definition.url))
    return ObjectLock();
  return ObjectLockFromDefinition(definition.options);
}

bool ServeWhileWaiting() {
  // The main thread's id is the process id.
  if (syscall(SYS_gettid) != getpid())
    return true;
  bool alive = true;
  PgCall([&] {
    if (ProcSignalBarrierPending)
      ProcessProcSignalBarrier();
    alive = PostmasterIsAlive();
  });
  return alive;
}

namespace {

// ThrowIfInterrupted serves the wait (ServeWhileWaiting) and throws
// kCancelled when the postmaster died or the process is asked to stop.
void ThrowIfInterrupted() {
  if (!ServeWhileWaiting())
    throw Error(ErrorKind::kCancelled, "the postmaster died");
  if (ShutdownRequestPending)
    throw Error(ErrorKind::kCancelled, "the server is shutting down");
  // The flags stay set: the backend's next CHECK_FOR_INTERRUPTS raises
  // the cancel or the terminate as usual.
  if ((QueryCancelPending || ProcDiePending) && INTERRUPTS_CAN_BE_PROCESSED())
    throw Error(ErrorKind::kCancelled, "canceled by a request to stop");
}

}  // namespace

std::function<void()> BoundedWaitCheck(int seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  return [deadline, seconds] {
    ThrowIfInterrupted();
    if (std::chrono::steady_clock::now() > deadline)
      throw Error(ErrorKind::kIo, "gave up after " + std::to_string(seconds) +
                                      " s: the storage does not answer in time");
  };
}

std::function<void()> BackendWaitCheck() {
  return ThrowIfInterrupted;
}

bool PassBudget::Spent() const {
  return std::chrono::steady_clock::now() >= take_until || ShutdownRequestPending ||
         !PostmasterIsAlive();
}

bool StorageIsDefined(const char* name) {
  if (strcmp(name, "local") == 0)
    return true;
  if (SPI_connect() != SPI_OK_CONNECT)
    elog(ERROR, "SPI_connect failed");
  // FOR KEY SHARE until the transaction ends: pgbak_storage_drop takes FOR
  // UPDATE, so it waits for an operation being queued on the storage and
  // then sees it, instead of dropping the storage under it.
  const char* sql =
      psprintf("SELECT 1 FROM %s WHERE name = $1 FOR KEY SHARE", SchemaQualified("pgbak_storage"));
  Oid types[1] = {TEXTOID};
  Datum values[1] = {CStringGetTextDatum(name)};
  if (SPI_execute_with_args(sql, 1, types, values, nullptr, false, 1) != SPI_OK_SELECT)
    elog(ERROR, "could not read storage definitions");
  bool found = SPI_processed > 0;
  SPI_finish();
  return found;
}

}  // namespace pgbak
