// wal_archiver.cpp: archive_library = 'pgbak_ext', PostgreSQL 15's archive
// module interface (postmaster/pgarch.h).
//
// The callbacks run in the archiver process, which has no database
// connection: the storage comes from pgbak.wal_storage and, for a defined
// storage, from the definition the launcher publishes in the data directory
// (wal_storage_publisher.h), so archiving goes on while pgbak.database is
// unreachable or gone. Files are pushed by a WalPushQueue whose threads also
// push the files waiting in pg_wal/archive_status ahead of time; PostgreSQL
// is told a file is archived only once its object is durable.
//
// In PostgreSQL 15 an ERROR escaping the callback ends the archiver, so the
// callback lets nothing out: C++ work runs under CatchCore, PostgreSQL calls
// under PgCall, and a failure is logged as a WARNING and answered false,
// which makes PostgreSQL retry the file later. No WAL is ever skipped.

extern "C" {
#include "postgres.h"

#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "miscadmin.h"
#include "postmaster/interrupt.h"
#include "postmaster/pgarch.h"
#include "storage/pmsignal.h"
#include "utils/pidfile.h"

PGDLLEXPORT void _PG_archive_module_init(ArchiveModuleCallbacks* callbacks);
}

#include <dirent.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/http/http_client.h"
#include "core/storage/local/local_storage.h"
#include "core/storage/s3/s3_storage.h"
#include "core/storage/storage_definition.h"
#include "core/wal/wal_push.h"
#include "core/wal/wal_push_queue.h"
#include "core/wal/wal_storage_file.h"
#include "pg/boundary/boundary.h"
#include "pg/catalog/storage_registry.h"
#include "pg/runtime/settings.h"
#include "pg/wal/wal_archive_status.h"

namespace pgbak {

namespace {

// kReadySuffix ends the status file of a WAL file waiting to be archived.
constexpr const char* kReadySuffix = ".ready";
// kPushDeadlineSeconds bounds one push over S3 (its listing and its upload,
// each retried within ArchiverRetry): then the callback answers false and
// PostgreSQL tries the file again later.
constexpr int kPushDeadlineSeconds = 40;
// kStoppingWaitSeconds bounds the archiver's waits on storages once the
// server shuts down.
constexpr int kStoppingWaitSeconds = 3;
// kAheadPerWorker bounds the files pushed ahead (or remembered) per thread.
constexpr size_t kAheadPerWorker = 4;

// ArchiverRetry bounds one S3 request: a few attempts with backoff, so that
// a file fails within well under a minute and PostgreSQL retries it later.
S3RetryPolicy ArchiverRetry() {
  S3RetryPolicy retry;
  retry.max_attempts = 4;
  retry.initial_backoff_ms = 200;
  retry.max_backoff_ms = 2000;
  retry.connect_timeout_ms = 5000;
  retry.low_speed_time_s = 10;
  return retry;
}

// Target is where and how WAL files go, as the settings say now.
struct Target {
  std::string fingerprint;  // everything below, to notice a change
  WalPushSettings push;
  std::string local_root;  // a local storage's directory, or
  S3Settings s3;           // an S3 storage's settings
  bool is_s3 = false;
  size_t workers = 1;
};

// Archiver is the process's pushing machinery, rebuilt when the target
// changes. Heap-allocated and never destroyed at exit: its threads are
// stopped by the shutdown callback.
struct Archiver {
  std::string fingerprint;
  std::unique_ptr<WalPushQueue> queue;
};
Archiver* archiver = nullptr;

// ResolveTarget reads pgbak.wal_storage and, for a defined storage, the
// published definition.
Target ResolveTarget() {
  Target target;
  std::string name = setting_wal_storage != nullptr ? setting_wal_storage : "";
  uint64 sysid = 0;
  std::string data_dir;
  PgCall([&] {
    sysid = GetSystemIdentifier();
    data_dir = DataDir;
  });
  target.push.system_identifier = std::to_string(sysid);
  target.push.zstd_level = setting_zstd_level;
  target.workers = static_cast<size_t>(std::max(1, setting_wal_push_workers));
  std::string definition_text;
  if (name.empty()) {
    throw Error(ErrorKind::kInvalidParameter, "pgbak.wal_storage is not set", "",
                "Set pgbak.wal_storage to 'local' or to a storage's name.");
  } else if (name == "local") {
    target.local_root = LocalStorageRoot();
  } else {
    StorageDefinition definition;
    if (!ReadWalStorageFile(data_dir, definition))
      throw Error(ErrorKind::kUndefinedObject,
                  "the definition of storage \"" + name + "\" has not been published yet",
                  std::string("The pgbak launcher writes ") + kWalStorageFileName +
                      " in the data directory once pgbak.database has the extension.",
                  "Check that the storage exists (pgbak_storages) and that the launcher runs.");
    if (definition.name != name)
      throw Error(ErrorKind::kUndefinedObject,
                  "the published storage is \"" + definition.name + "\", not \"" + name + "\"",
                  "pgbak.wal_storage changed; the launcher publishes the new storage's "
                  "definition at its next pass (within seconds).",
                  "Check that the storage exists (pgbak_storages) and that the launcher runs.");
    EncryptionSettings encryption = EncryptionFromDefinition(definition.public_options);
    for (const std::string& recipient : encryption.recipients)
      target.push.recipients.push_back(AgeRecipient::Parse(recipient));
    if (IsLocalUrl(definition.url)) {
      target.local_root = LocalPathFromUrl(definition.url);
    } else {
      target.is_s3 = true;
      target.s3 = SettingsFromDefinition(definition.url, definition.public_options,
                                         definition.secret_options, ServerEnvironment);
      target.s3.retry = ArchiverRetry();
      // One file is one object of about a segment: no room for more parts.
      target.s3.concurrency = 1;
    }
    definition_text = SerializeWalStorage(definition);
  }
  target.fingerprint = name + "\n" + definition_text + "\n" + target.local_root + "\n" +
                       target.push.system_identifier + "\n" +
                       std::to_string(target.push.zstd_level) + "\n" +
                       std::to_string(target.workers);
  return target;
}

// WorkerSlot is what one push thread keeps: its storage driver (an S3
// driver holds one HTTP connection) and the deadline of its current push.
// Only that thread touches it.
struct WorkerSlot {
  std::unique_ptr<Storage> storage;
  std::chrono::steady_clock::time_point deadline;
};

// MakeQueue starts the threads for target. They call no PostgreSQL function.
std::unique_ptr<WalPushQueue> MakeQueue(const Target& target, const std::string& wal_directory) {
  auto shared_target = std::make_shared<const Target>(target);
  auto slots = std::make_shared<std::vector<WorkerSlot>>(target.workers);
  auto push = [shared_target, slots, wal_directory](
                  size_t worker, const std::string& name,
                  const std::function<bool()>& cancelled) -> std::string {
    WorkerSlot& slot = (*slots)[worker];
    slot.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kPushDeadlineSeconds);
    if (!slot.storage) {
      if (shared_target->is_s3) {
        auto s3 = std::make_unique<S3Storage>(shared_target->s3);
        // Runs on this thread while a request waits: a stopping archiver,
        // or a push past its deadline, gives up.
        s3->SetInterruptCheck([cancelled, &slot] {
          if (cancelled())
            throw Error(ErrorKind::kCancelled, "the archiver is stopping");
          if (std::chrono::steady_clock::now() > slot.deadline)
            throw Error(ErrorKind::kIo, "gave up after " + std::to_string(kPushDeadlineSeconds) +
                                            " s: the storage does not answer in time");
        });
        slot.storage = std::move(s3);
      } else {
        slot.storage = std::make_unique<LocalStorage>(shared_target->local_root);
      }
    }
    WalPushResult result = PushWalFile(*slot.storage, shared_target->push, name,
                                       wal_directory + "/" + name, cancelled);
    return result.already_archived ? "already archived as " + slot.storage->Location(result.key)
                                   : "archived as " + slot.storage->Location(result.key);
  };
  return std::make_unique<WalPushQueue>(target.workers, target.workers * kAheadPerWorker,
                                        std::move(push));
}

// WaitingFiles lists the files pg_wal/archive_status says are waiting, in
// the order the archiver takes them: timeline history files first, then by
// name (oldest first).
std::vector<std::string> WaitingFiles(const std::string& status_directory) {
  std::vector<std::string> names;
  std::unique_ptr<DIR, int (*)(DIR*)> directory(opendir(status_directory.c_str()), closedir);
  if (!directory)
    return names;
  std::string suffix = kReadySuffix;
  while (struct dirent* entry = readdir(directory.get())) {
    std::string file = entry->d_name;
    if (file.size() <= suffix.size() ||
        file.compare(file.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    std::string name = file.substr(0, file.size() - suffix.size());
    if (IsArchivableWalName(name))
      names.push_back(name);
  }
  auto is_history = [](const std::string& name) {
    return name.size() > 8 && name.compare(name.size() - 8, 8, ".history") == 0;
  };
  std::sort(names.begin(), names.end(), [&](const std::string& a, const std::string& b) {
    if (is_history(a) != is_history(b))
      return is_history(a);
    return a < b;
  });
  return names;
}

// ServerStopping says whether the postmaster is in its shutdown sequence,
// as it records in postmaster.pid (what pg_ctl reads). The archiver is
// then asked to archive what is left before the postmaster can exit.
bool ServerStopping(const std::string& data_dir) {
  std::ifstream pid_file(data_dir + "/postmaster.pid");
  std::string line;
  for (int number = 1; number <= LOCK_FILE_LINE_PM_STATUS && std::getline(pid_file, line); number++)
    if (number == LOCK_FILE_LINE_PM_STATUS)
      return line.rfind(PM_STATUS_STOPPING, 0) == 0;
  return false;
}

// stopping_noticed is when KeepWaiting first saw the server shutting down.
std::chrono::steady_clock::time_point stopping_noticed;
bool stopping_seen = false;

// KeepWaiting serves what must not wait for the archiver (ProcSignalBarriers
// of CREATE and DROP DATABASE) and says whether to keep waiting for a push:
// not once the archiver is told to stop or the postmaster died, and, once
// the server shuts down, for kStoppingWaitSeconds in all (PostgreSQL tries
// each file three times, and again in its last pass), so that a storage
// that does not answer delays a shutdown by seconds, not minutes.
bool KeepWaiting(const std::string& data_dir) {
  if (!ServeWhileWaiting() || ShutdownRequestPending)
    return false;
  if (!stopping_seen) {
    if (!ServerStopping(data_dir))
      return true;
    stopping_seen = true;
    stopping_noticed = std::chrono::steady_clock::now();
  }
  return std::chrono::steady_clock::now() - stopping_noticed <
         std::chrono::seconds(kStoppingWaitSeconds);
}

// Outcome of one callback, in plain storage (no destructor runs after an
// ereport).
struct ArchiveOutcome {
  bool pushed_ahead = false;
  bool already_archived = false;
  char note[1024] = {0};
};

// ArchiveOne archives file through the queue; throws on failure.
void ArchiveOne(const char* file, ArchiveOutcome& result) {
  if (!IsArchivableWalName(file))
    throw Error(ErrorKind::kInvalidParameter, std::string("\"") + Printable(file) +
                                                  "\" is not a WAL file name pgbak_ext archives");
  Target target = ResolveTarget();
  std::string data_dir;
  PgCall([&] { data_dir = DataDir; });
  std::string wal_directory = data_dir + "/" + XLOGDIR;
  if (archiver == nullptr)
    archiver = new Archiver();
  if (!archiver->queue || archiver->fingerprint != target.fingerprint) {
    if (archiver->queue)
      archiver->queue->Stop();
    archiver->queue.reset();
    // libcurl's global set-up must happen on the main thread, before the
    // push threads make their connections.
    if (target.is_s3)
      InitCurlOnce();
    archiver->queue = MakeQueue(target, wal_directory);
    archiver->fingerprint = target.fingerprint;
  }
  archiver->queue->Offer(WaitingFiles(wal_directory + "/archive_status"));
  WalPushQueue::Outcome outcome;
  if (!archiver->queue->Await(
          file, [&data_dir] { return KeepWaiting(data_dir); }, outcome))
    throw Error(ErrorKind::kCancelled,
                std::string("archiving of WAL file \"") + file + "\" was interrupted",
                "The server is shutting down and the storage did not answer in time; PostgreSQL "
                "archives the file after the next start.");
  if (!outcome.ok)
    throw Error(ErrorKind::kIo, outcome.message, outcome.detail, outcome.hint);
  result.pushed_ahead = outcome.pushed_ahead;
  result.already_archived = outcome.message.rfind("already archived", 0) == 0;
  strlcpy(result.note, outcome.message.c_str(), sizeof(result.note));
}

// CheckConfigured tells PostgreSQL whether archiving is set up: without
// pgbak.wal_storage it logs "archive_mode enabled, yet archiving is not
// configured" and waits.
bool CheckConfigured() {
  return setting_wal_storage != nullptr && setting_wal_storage[0] != '\0';
}

// ArchiveFile is archive_file_cb: true once file is durable in the storage.
bool ArchiveFile(const char* file, const char* path) {
  Failure failure;
  ArchiveOutcome outcome;
  CatchCore(failure, [&] { ArchiveOne(file, outcome); });
  if (failure.failed) {
    NoteWalFailed(file, failure.message);
    ereport(WARNING, (errmsg("pgbak could not archive WAL file \"%s\": %s", file, failure.message),
                      failure.detail[0] ? errdetail("%s", failure.detail) : 0,
                      failure.hint[0] ? errhint("%s", failure.hint) : 0));
    return false;
  }
  NoteWalArchived(file, outcome.pushed_ahead, outcome.already_archived);
  ereport(DEBUG1, (errmsg("pgbak: WAL file \"%s\" %s%s", file, outcome.note,
                          outcome.pushed_ahead ? " (pushed ahead)" : "")));
  return true;
}

// Shutdown is shutdown_cb: stops the threads (a push under way gives up at
// its next check; its object never appears half-written).
void Shutdown() {
  Failure failure;
  CatchCore(failure, [] {
    if (archiver != nullptr && archiver->queue)
      archiver->queue->Stop();
  });
}

}  // namespace

}  // namespace pgbak

// _PG_archive_module_init hands PostgreSQL the archive module's callbacks.
extern "C" void _PG_archive_module_init(ArchiveModuleCallbacks* callbacks) {
  callbacks->check_configured_cb = pgbak::CheckConfigured;
  callbacks->archive_file_cb = pgbak::ArchiveFile;
  callbacks->shutdown_cb = pgbak::Shutdown;
}
