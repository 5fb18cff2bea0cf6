// module.cpp: loading pgbak_ext: _PG_init, the shared memory hooks and the
// launcher's registration.

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "storage/lwlock.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

PGDLLEXPORT void _PG_init(void);
}

#include "pg/runtime/restore_session.h"
#include "pg/runtime/settings.h"
#include "pg/runtime/shared_state.h"
#include "pg/wal/wal_archive_status.h"

namespace {

shmem_request_hook_type previous_shmem_request_hook = nullptr;
shmem_startup_hook_type previous_shmem_startup_hook = nullptr;

// RequestShmem chains to the previous hook and requests our segment.
void RequestShmem() {
  if (previous_shmem_request_hook != nullptr)
    previous_shmem_request_hook();
  pgbak::RequestSharedState();
  RequestAddinShmemSpace(pgbak::WalArchiveStatusSize());
}

// StartupShmem chains to the previous hook and initializes our segment.
void StartupShmem() {
  if (previous_shmem_startup_hook != nullptr)
    previous_shmem_startup_hook();
  pgbak::InitSharedState();
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  pgbak::InitWalArchiveStatus();
  LWLockRelease(AddinShmemInitLock);
}

// RegisterLauncher registers the launcher background worker at server start.
void RegisterLauncher() {
  BackgroundWorker worker;
  memset(&worker, 0, sizeof(worker));
  worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  worker.bgw_restart_time = 5;
  strlcpy(worker.bgw_library_name, "pgbak_ext", BGW_MAXLEN);
  strlcpy(worker.bgw_function_name, "pgbak_launcher_main", BGW_MAXLEN);
  strlcpy(worker.bgw_name, "pgbak launcher", BGW_MAXLEN);
  strlcpy(worker.bgw_type, "pgbak launcher", BGW_MAXLEN);
  RegisterBackgroundWorker(&worker);
}

}  // namespace

// _PG_init refuses to load outside shared_preload_libraries, then defines the
// settings and the restore session guard, requests shared memory and
// registers the launcher.
extern "C" void _PG_init(void) {
  if (!process_shared_preload_libraries_in_progress) {
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("pgbak_ext must be loaded via shared_preload_libraries"),
                    errhint("Add pgbak_ext to shared_preload_libraries in postgresql.conf "
                            "and restart the server.")));
  }
  pgbak::DefineRestoreSessionGuard();
  pgbak::DefineSettings();
  previous_shmem_request_hook = shmem_request_hook;
  shmem_request_hook = RequestShmem;
  previous_shmem_startup_hook = shmem_startup_hook;
  shmem_startup_hook = StartupShmem;
  RegisterLauncher();
}
