// shared_state.h: what the launcher, the workers and SQL functions share.
//
// One segment of shared memory holds the launcher's latch (so committed
// requests wake it at once) and one progress slot per running operation,
// which backup_progress reads live and pgbak_cancel uses to reach a worker.
//
// Include after postgres.h.
#pragma once

#include <cstdint>

extern "C" {
#include "storage/latch.h"
#include "utils/timestamp.h"
}

namespace pgbak {

// Phase is what a running operation is doing now.
enum class Phase : int {
  kStarting = 0,
  kDumping,
  kGlobals,
  kManifest,
  kFinishing,
  kPruning,
  kVerifying,
  kRestoring,
  kCounting,
  kCopying,
  kRecovering,
  kChecking
};

// PhaseName is the text backup_progress shows for a phase.
const char* PhaseName(Phase phase);

// ProgressSnapshot is a consistent copy of one slot, for backup_progress.
struct ProgressSnapshot {
  int64_t id;
  int pid;
  char kind[16];
  char database[NAMEDATALEN];
  Phase phase;
  uint64_t bytes_read;
  uint64_t bytes_stored;
  TimestampTz started_at;
};

// RequestSharedState and InitSharedState are the shmem hooks (_PG_init).
void RequestSharedState();
void InitSharedState();

// SetLauncherLatch publishes (or, with nullptr, withdraws) the launcher's latch.
void SetLauncherLatch(Latch* latch);
// LauncherRunning says whether a launcher has published its latch.
bool LauncherRunning();
// WakeLauncher sets the launcher's latch if a launcher is running.
void WakeLauncher();
// WakeLauncherAtCommit wakes the launcher when this transaction commits, so
// it never looks for a row before the row is visible.
void WakeLauncherAtCommit();

// AnnounceFinishAtCommit wakes pgbak_wait callers when this transaction,
// which made an operation's row final, commits.
void AnnounceFinishAtCommit();
// WaitForFinish sleeps until an operation finished (see
// AnnounceFinishAtCommit) or timeout_ms passed; call it in a loop that
// checks the row each time (its first call returns at once), then
// StopWaitingForFinish.
void WaitForFinish(long timeout_ms);
void StopWaitingForFinish();

// ClaimSlot takes a progress slot for operation id in this worker; the slot
// is released automatically when the process exits. False if none is free.
bool ClaimSlot(int64_t id, const char* kind, const char* database);
// SetPhase, AddBytesRead and AddBytesStored update this worker's slot.
void SetPhase(Phase phase);
void AddBytesRead(uint64_t n);
void AddBytesStored(uint64_t n);
// CancelRequested is true once pgbak_cancel asked this worker to stop.
bool CancelRequested();

// RequestCancel flags operation id's worker to stop and wakes it; false if no
// worker runs it.
bool RequestCancel(int64_t id);
// OperationIsActive says whether some live worker holds a slot for id.
bool OperationIsActive(int64_t id);
// CopyProgress copies up to capacity active slots; returns how many.
int CopyProgress(ProgressSnapshot* out, int capacity);
// SlotCount is the number of slots (max_worker_processes).
int SlotCount();

}  // namespace pgbak
