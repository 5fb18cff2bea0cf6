// shared_state.cpp: the shared memory segment of pgbak_ext.

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
}

#include <cstring>

#include "pg/runtime/shared_state.h"

namespace pgbak {

namespace {

// Slot is one running operation; fields other than the counters are
// protected by the segment's mutex.
struct Slot {
  bool in_use;
  int64 id;
  int pid;
  char kind[16];
  char database[NAMEDATALEN];
  int phase;
  TimestampTz started_at;
  bool cancel_requested;
  Latch* latch;
  pg_atomic_uint64 bytes_read;
  pg_atomic_uint64 bytes_stored;
};

struct SharedState {
  slock_t mutex;
  Latch* launcher_latch;
  ConditionVariable finished;  // broadcast when an operation's row is final
  int slot_count;
  Slot slots[FLEXIBLE_ARRAY_MEMBER];
};

SharedState* shared = nullptr;
Slot* my_slot = nullptr;
bool wake_at_commit = false;
bool announce_at_commit = false;
bool xact_callback_registered = false;

Size SharedStateSize() {
  return add_size(offsetof(SharedState, slots), mul_size(max_worker_processes, sizeof(Slot)));
}

// ReleaseSlot frees this process's slot at exit, whatever the exit path.
void ReleaseSlot(int code, Datum arg) {
  if (my_slot == nullptr)
    return;
  SpinLockAcquire(&shared->mutex);
  my_slot->in_use = false;
  my_slot->latch = nullptr;
  SpinLockRelease(&shared->mutex);
  my_slot = nullptr;
}

// WakeOnCommit is the transaction callback behind WakeLauncherAtCommit.
void WakeOnCommit(XactEvent event, void* arg) {
  if (event == XACT_EVENT_COMMIT && wake_at_commit)
    WakeLauncher();
  if (event == XACT_EVENT_COMMIT && announce_at_commit && shared != nullptr)
    ConditionVariableBroadcast(&shared->finished);
  if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
      event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT) {
    wake_at_commit = false;
    announce_at_commit = false;
  }
}

}  // namespace

// PhaseName is the text backup_progress shows for a phase.
const char* PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kStarting:
      return "starting";
    case Phase::kDumping:
      return "dumping";
    case Phase::kGlobals:
      return "dumping globals";
    case Phase::kManifest:
      return "writing manifest";
    case Phase::kFinishing:
      return "finishing";
    case Phase::kPruning:
      return "pruning";
    case Phase::kVerifying:
      return "verifying";
    case Phase::kRestoring:
      return "restoring";
    case Phase::kCounting:
      return "counting rows";
    case Phase::kCopying:
      return "copying";
    case Phase::kRecovering:
      return "recovering";
    case Phase::kChecking:
      return "checking";
  }
  return "unknown";
}

// RequestSharedState asks for the segment (shmem_request_hook).
void RequestSharedState() {
  RequestAddinShmemSpace(SharedStateSize());
}

// InitSharedState creates or attaches the segment (shmem_startup_hook).
void InitSharedState() {
  bool found = false;
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  shared = static_cast<SharedState*>(ShmemInitStruct("pgbak_ext", SharedStateSize(), &found));
  if (!found) {
    std::memset(static_cast<void*>(shared), 0, SharedStateSize());
    SpinLockInit(&shared->mutex);
    ConditionVariableInit(&shared->finished);
    shared->slot_count = max_worker_processes;
    for (int i = 0; i < shared->slot_count; i++) {
      pg_atomic_init_u64(&shared->slots[i].bytes_read, 0);
      pg_atomic_init_u64(&shared->slots[i].bytes_stored, 0);
    }
  }
  LWLockRelease(AddinShmemInitLock);
}

// SetLauncherLatch publishes the launcher's latch.
void SetLauncherLatch(Latch* latch) {
  SpinLockAcquire(&shared->mutex);
  shared->launcher_latch = latch;
  SpinLockRelease(&shared->mutex);
}

// LauncherRunning says whether a launcher has published its latch.
bool LauncherRunning() {
  if (shared == nullptr)
    return false;
  SpinLockAcquire(&shared->mutex);
  bool running = shared->launcher_latch != nullptr;
  SpinLockRelease(&shared->mutex);
  return running;
}

// WakeLauncher sets the launcher's latch if a launcher is running.
void WakeLauncher() {
  if (shared == nullptr)
    return;
  SpinLockAcquire(&shared->mutex);
  Latch* latch = shared->launcher_latch;
  SpinLockRelease(&shared->mutex);
  if (latch != nullptr)
    SetLatch(latch);
}

// RegisterCallback registers WakeOnCommit once per process.
static void RegisterCallback() {
  if (!xact_callback_registered) {
    RegisterXactCallback(WakeOnCommit, nullptr);
    xact_callback_registered = true;
  }
}

// WakeLauncherAtCommit wakes the launcher when this transaction commits.
void WakeLauncherAtCommit() {
  RegisterCallback();
  wake_at_commit = true;
}

// AnnounceFinishAtCommit wakes the waiters of WaitForFinish when this
// transaction commits.
void AnnounceFinishAtCommit() {
  RegisterCallback();
  announce_at_commit = true;
}

// WaitForFinish sleeps until some operation's row became final or
// timeout_ms passed (the first call of a wait only gets ready to sleep).
void WaitForFinish(long timeout_ms) {
  (void)ConditionVariableTimedSleep(&shared->finished, timeout_ms, PG_WAIT_EXTENSION);
}

// StopWaitingForFinish ends a wait of WaitForFinish.
void StopWaitingForFinish() {
  ConditionVariableCancelSleep();
}

// ClaimSlot takes a progress slot for operation id in this worker.
bool ClaimSlot(int64_t id, const char* kind, const char* database) {
  SpinLockAcquire(&shared->mutex);
  Slot* free_slot = nullptr;
  for (int i = 0; i < shared->slot_count; i++) {
    if (!shared->slots[i].in_use) {
      free_slot = &shared->slots[i];
      break;
    }
  }
  if (free_slot != nullptr) {
    free_slot->in_use = true;
    free_slot->id = id;
    free_slot->pid = MyProcPid;
    strlcpy(free_slot->kind, kind, sizeof(free_slot->kind));
    strlcpy(free_slot->database, database, sizeof(free_slot->database));
    free_slot->phase = static_cast<int>(Phase::kStarting);
    free_slot->started_at = GetCurrentTimestamp();
    free_slot->cancel_requested = false;
    free_slot->latch = MyLatch;
    pg_atomic_write_u64(&free_slot->bytes_read, 0);
    pg_atomic_write_u64(&free_slot->bytes_stored, 0);
  }
  SpinLockRelease(&shared->mutex);
  if (free_slot == nullptr)
    return false;
  my_slot = free_slot;
  before_shmem_exit(ReleaseSlot, 0);
  return true;
}

// SetPhase updates this worker's phase.
void SetPhase(Phase phase) {
  if (my_slot == nullptr)
    return;
  SpinLockAcquire(&shared->mutex);
  my_slot->phase = static_cast<int>(phase);
  SpinLockRelease(&shared->mutex);
}

// AddBytesRead counts bytes read from the dump.
void AddBytesRead(uint64_t n) {
  if (my_slot != nullptr)
    pg_atomic_fetch_add_u64(&my_slot->bytes_read, n);
}

// AddBytesStored counts bytes handed to storage.
void AddBytesStored(uint64_t n) {
  if (my_slot != nullptr)
    pg_atomic_fetch_add_u64(&my_slot->bytes_stored, n);
}

// CancelRequested is true once pgbak_cancel asked this worker to stop.
bool CancelRequested() {
  if (my_slot == nullptr)
    return false;
  SpinLockAcquire(&shared->mutex);
  bool requested = my_slot->cancel_requested;
  SpinLockRelease(&shared->mutex);
  return requested;
}

// RequestCancel flags operation id's worker to stop and wakes it.
bool RequestCancel(int64_t id) {
  Latch* latch = nullptr;
  bool found = false;
  SpinLockAcquire(&shared->mutex);
  for (int i = 0; i < shared->slot_count; i++) {
    Slot& slot = shared->slots[i];
    if (slot.in_use && slot.id == id) {
      slot.cancel_requested = true;
      latch = slot.latch;
      found = true;
    }
  }
  SpinLockRelease(&shared->mutex);
  if (latch != nullptr)
    SetLatch(latch);
  return found;
}

// OperationIsActive says whether some live worker holds a slot for id.
bool OperationIsActive(int64_t id) {
  bool found = false;
  SpinLockAcquire(&shared->mutex);
  for (int i = 0; i < shared->slot_count; i++) {
    if (shared->slots[i].in_use && shared->slots[i].id == id)
      found = true;
  }
  SpinLockRelease(&shared->mutex);
  return found;
}

// CopyProgress copies up to capacity active slots; returns how many.
int CopyProgress(ProgressSnapshot* out, int capacity) {
  int n = 0;
  SpinLockAcquire(&shared->mutex);
  for (int i = 0; i < shared->slot_count && n < capacity; i++) {
    Slot& slot = shared->slots[i];
    if (!slot.in_use)
      continue;
    ProgressSnapshot& snap = out[n++];
    snap.id = slot.id;
    snap.pid = slot.pid;
    memcpy(snap.kind, slot.kind, sizeof(snap.kind));
    memcpy(snap.database, slot.database, sizeof(snap.database));
    snap.phase = static_cast<Phase>(slot.phase);
    snap.started_at = slot.started_at;
    snap.bytes_read = pg_atomic_read_u64(&slot.bytes_read);
    snap.bytes_stored = pg_atomic_read_u64(&slot.bytes_stored);
  }
  SpinLockRelease(&shared->mutex);
  return n;
}

// SlotCount is the number of slots.
int SlotCount() {
  return shared == nullptr ? 0 : shared->slot_count;
}

}  // namespace pgbak
