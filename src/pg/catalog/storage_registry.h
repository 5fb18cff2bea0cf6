// storage_registry.h: from a storage name to its driver.
//
// 'local' is the embedded directory storage (pgbak.local_path); every other
// name is a row of pgbak_storage, with its credentials in
// pgbak_storage_secret or, if it has none, in the server's AWS_* environment.
//
// Include after postgres.h.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/storage/storage.h"
#include "core/storage/storage_definition.h"

namespace pgbak {

// StorageUse says who waits on the storage: a worker may retry for minutes,
// the launcher (cleaning up after a dead worker) must not stall its loop.
enum class StorageUse { kWorker, kLauncher };

// OpenStorage returns the driver for storage name. Needs an open transaction
// with SPI connected; call through PgCall-aware code (it throws C++
// exceptions: kUndefinedObject for an unknown name). interrupt_check runs
// while a network call waits, and stops it by throwing; for kLauncher
// without one, it is BoundedWaitCheck(60).
std::unique_ptr<Storage> OpenStorage(const std::string& name, StorageUse use,
                                     std::function<void()> interrupt_check = {});

// StorageHandle is a storage's driver and how it encrypts.
struct StorageHandle {
  std::unique_ptr<Storage> storage;
  EncryptionSettings encryption;
};

// OpenStorageHandle is OpenStorage with the storage's encryption settings.
StorageHandle OpenStorageHandle(const std::string& name, StorageUse use,
                                std::function<void()> interrupt_check = {});

// LoadStorageDefinition reads the stored definition of name (not 'local')
// with its secrets, for the archiver's copy (wal_storage_publisher.h);
// false if there is none. Needs SPI connected; throws like OpenStorage.
bool LoadStorageDefinition(const std::string& name, StorageDefinition& definition);

// ServerEnvironment reads the server's environment (main thread only), as
// SettingsFromDefinition looks credentials up. HOME, if unset, is the
// server's OS user's home directory, where the AWS tools look too.
std::string ServerEnvironment(const std::string& name);

// StorageObjectLock is the object_lock of storage name: disabled for
// 'local', a file:// storage, one without the option, or a name not
// defined. Reads the definition only (no secret, no network); needs SPI
// connected; throws like OpenStorage.
ObjectLock StorageObjectLock(const std::string& name);

// ServeWhileWaiting does what a process waiting on a storage must not hold
// up: it absorbs the ProcSignalBarriers that CREATE and DROP DATABASE (and
// others) wait for in every process. Returns false if the postmaster died.
// Only the process's main thread calls PostgreSQL: elsewhere it does
// nothing (and returns true).
bool ServeWhileWaiting();

// BoundedWaitCheck is the interrupt check of a wait on a storage outside an
// operation's worker (the launcher; a backend in pgbak_prune): it serves the
// wait (ServeWhileWaiting), throws kCancelled when the postmaster died or
// the process is asked to stop (the launcher's SIGTERM; a backend's cancel
// or terminate, unless it holds interrupts on purpose, which it then
// receives at its next CHECK_FOR_INTERRUPTS), and kIo once seconds have
// passed since it was made.
std::function<void()> BoundedWaitCheck(int seconds);

// BackendWaitCheck is the interrupt check of a SQL function that waits on
// a storage in its caller's backend for as long as the work takes (a
// listing of many sets): BoundedWaitCheck without a deadline of its own,
// so that the session's cancel and statement_timeout end the wait.
std::function<void()> BackendWaitCheck();

// kLauncherItemSeconds is how long the launcher waits on a storage for one
// item (a set to expire, a failed operation's leftovers) before it leaves
// the item to a later pass.
constexpr int kLauncherItemSeconds = 10;

// PassBudget bounds the time one pass of the launcher's loop spends on
// storages: once take_until has passed it starts no new item (the item
// under way ends within kLauncherItemSeconds), so that scheduling, starting
// queued operations, metrics and webhooks never wait long.
struct PassBudget {
  std::chrono::steady_clock::time_point take_until;
  // Spent says whether the pass must start no new item: its time is up, or
  // the process must stop (shutdown, the postmaster's death).
  bool Spent() const;
};

// StorageIsDefined says whether name is 'local' or a defined storage, and
// locks the definition against pgbak_storage_drop until the transaction
// ends (PostgreSQL-style: may ereport).
bool StorageIsDefined(const char* name);

}  // namespace pgbak
