// wal_archive_status.h: what the archiver tells the rest of the server.
//
// A small shared-memory struct, written by the archiver's main thread after
// each file and read by pgbak_metrics(): the last file archived and when,
// how many files were archived and pushed ahead, how many attempts failed,
// and the last failure with its message. pg_stat_archiver holds the same
// counts as PostgreSQL sees them; this adds why the last attempt failed.
//
// Include after postgres.h.
#pragma once

#include <cstdint>

extern "C" {
#include "utils/timestamp.h"
}

namespace pgbak {

// WalArchiveSnapshot is a consistent copy of the status.
struct WalArchiveSnapshot {
  char last_archived[64];
  TimestampTz last_archived_at;  // 0: never
  int64_t archived_count;
  int64_t pushed_ahead_count;      // of archived_count, answered from a push ahead
  int64_t already_archived_count;  // identical content was stored before
  int64_t failed_count;
  char last_failed[64];
  TimestampTz last_failed_at;  // 0: never
  char last_error[512];
};

// WalArchiveStatusSize and InitWalArchiveStatus are called from the
// shared memory hooks.
size_t WalArchiveStatusSize();
void InitWalArchiveStatus();

// NoteWalArchived and NoteWalFailed record an outcome (archiver, main thread).
void NoteWalArchived(const char* name, bool pushed_ahead, bool already_archived);
void NoteWalFailed(const char* name, const char* error);

// ReadWalArchiveStatus copies the status; false if shared memory has none.
bool ReadWalArchiveStatus(WalArchiveSnapshot& snapshot);

// WalWaiting is what waits to be archived now: the .ready files of
// pg_wal/archive_status and when the oldest of them was marked ready (its
// modification time; 0 if none), read from the data directory (a backend's
// working directory).
struct WalWaiting {
  int64_t files = 0;
  TimestampTz oldest_since = 0;
};
WalWaiting ReadWalWaiting();

// ArchivingThroughPgbak says whether this server archives its WAL through
// pgbak_ext (archive_mode not off, archive_library 'pgbak_ext').
bool ArchivingThroughPgbak();

}  // namespace pgbak
