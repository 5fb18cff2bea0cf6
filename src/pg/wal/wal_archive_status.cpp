// wal_archive_status.cpp: the archiver's status in shared memory.

extern "C" {
#include "postgres.h"

#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
}

#include <dirent.h>
#include <sys/stat.h>

#include <cstring>
#include <string>

#include "pg/wal/wal_archive_status.h"

namespace pgbak {

namespace {

struct WalArchiveShared {
  slock_t mutex;
  WalArchiveSnapshot status;
};

WalArchiveShared* shared = nullptr;

}  // namespace

size_t WalArchiveStatusSize() {
  return MAXALIGN(sizeof(WalArchiveShared));
}

void InitWalArchiveStatus() {
  bool found = false;
  shared = static_cast<WalArchiveShared*>(
      ShmemInitStruct("pgbak wal archive status", sizeof(WalArchiveShared), &found));
  if (!found) {
    memset(shared, 0, sizeof(*shared));
    SpinLockInit(&shared->mutex);
  }
}

void NoteWalArchived(const char* name, bool pushed_ahead, bool already_archived) {
  if (shared == nullptr)
    return;
  TimestampTz now = GetCurrentTimestamp();
  SpinLockAcquire(&shared->mutex);
  strlcpy(shared->status.last_archived, name, sizeof(shared->status.last_archived));
  shared->status.last_archived_at = now;
  shared->status.archived_count++;
  if (pushed_ahead)
    shared->status.pushed_ahead_count++;
  if (already_archived)
    shared->status.already_archived_count++;
  SpinLockRelease(&shared->mutex);
}

void NoteWalFailed(const char* name, const char* error) {
  if (shared == nullptr)
    return;
  TimestampTz now = GetCurrentTimestamp();
  SpinLockAcquire(&shared->mutex);
  strlcpy(shared->status.last_failed, name, sizeof(shared->status.last_failed));
  strlcpy(shared->status.last_error, error, sizeof(shared->status.last_error));
  shared->status.last_failed_at = now;
  shared->status.failed_count++;
  SpinLockRelease(&shared->mutex);
}

WalWaiting ReadWalWaiting() {
  WalWaiting waiting;
  const std::string directory = "pg_wal/archive_status";
  DIR* dir = opendir(directory.c_str());
  if (dir == nullptr)
    return waiting;
  time_t oldest = 0;
  while (struct dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    if (name.size() <= 6 || name.compare(name.size() - 6, 6, ".ready") != 0)
      continue;
    struct stat st;
    if (stat((directory + "/" + name).c_str(), &st) != 0)
      continue;  // archived meanwhile
    waiting.files++;
    if (oldest == 0 || st.st_mtime < oldest)
      oldest = st.st_mtime;
  }
  closedir(dir);
  if (oldest != 0)
    waiting.oldest_since = time_t_to_timestamptz(oldest);
  return waiting;
}

bool ReadWalArchiveStatus(WalArchiveSnapshot& snapshot) {
  if (shared == nullptr)
    return false;
  SpinLockAcquire(&shared->mutex);
  snapshot = shared->status;
  SpinLockRelease(&shared->mutex);
  return true;
}

bool ArchivingThroughPgbak() {
  const char* library = GetConfigOption("archive_library", true, false);
  const char* mode = GetConfigOption("archive_mode", true, false);
  return library != nullptr && std::strcmp(library, "pgbak_ext") == 0 && mode != nullptr &&
         std::strcmp(mode, "off") != 0;
}

}  // namespace pgbak
