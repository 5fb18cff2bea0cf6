// launcher.cpp: the launcher background worker.
//
// One latch loop, in the idiom of pg_cron: check for shutdown and config
// reloads, then look at backup_log: fail operations whose worker vanished,
// start queued operations in dynamic background workers (at most
// pgbak.max_workers at once, one backup per database at a time), and sleep
// until a SQL function, a worker's exit or a timeout wakes it. It starts only
// once recovery has finished, so a standby runs nothing.

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

PGDLLEXPORT void pgbak_launcher_main(Datum main_arg);
}

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "pg/boundary/transaction.h"
#include "pg/catalog/catalog.h"
#include "pg/catalog/storage_registry.h"
#include "pg/jobs/operation_cleanup.h"
#include "pg/jobs/prune.h"
#include "pg/runtime/coverage_watch.h"
#include "pg/wal/wal_watch.h"
#include "pg/runtime/metrics_server.h"
#include "pg/runtime/notifier.h"
#include "pg/runtime/scheduler.h"
#include "pg/runtime/settings.h"
#include "pg/wal/wal_expiry.h"
#include "pg/wal/wal_storage_publisher.h"
#include "pg/runtime/shared_state.h"

namespace pgbak {

namespace {

// HoldsDatabase says whether an operation of kind keeps others of its
// database waiting: verifications and copies only read sets, and wait for
// nobody.
bool HoldsDatabase(const std::string& kind) {
  return kind != "verify" && kind != "copy";
}

// How long the launcher sleeps when nothing wakes it: a safety net only,
// since commits of new requests and worker exits set its latch.
constexpr long kIdleSleepMs = 5000;
// How long it waits before looking again for the extension when it is not
// installed yet.
constexpr long kNoExtensionSleepMs = 10000;
// How soon it tries again after a stage failed (a lock held by a user, say).
constexpr long kRetrySleepMs = 2000;
// How often it looks for webhook outcomes while deliveries are under way.
constexpr long kWebhookPollMs = 250;
// How many expiring sets (and failed operations' cleanups) one pass of the
// loop finishes at most.
constexpr int kExpiringPerPass = 10;
// How often manual retention looks for manual backups past their age (and
// right after a reload), and how many it marks 'expiring' in one go.
constexpr auto kManualRetentionInterval = std::chrono::seconds(60);
constexpr int kManualExpiriesPerPass = 100;
// After this long in a pass, the launcher starts no new wait on a storage
// (each of which ends within kLauncherItemSeconds); the rest waits for the
// next pass.
constexpr int kStoragePassSeconds = 5;

// StartedWorker is a dynamic worker this launcher started and still watches.
struct StartedWorker {
  int64 id;
  BackgroundWorkerHandle* handle;
};

std::vector<StartedWorker> started_workers;

// QueuedOperation is a row waiting for a worker.
struct QueuedOperation {
  int64 id;
  std::string kind;
  std::string database;
};

// StartWorker registers a dynamic worker for operation id; nullptr if the
// postmaster has no free background worker slot.
BackgroundWorkerHandle* StartWorker(int64 id) {
  BackgroundWorker worker;
  memset(&worker, 0, sizeof(worker));
  worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  worker.bgw_restart_time = BGW_NEVER_RESTART;
  strlcpy(worker.bgw_library_name, "pgbak_ext", BGW_MAXLEN);
  strlcpy(worker.bgw_function_name, "pgbak_worker_main", BGW_MAXLEN);
  snprintf(worker.bgw_name, BGW_MAXLEN, "pgbak worker for operation " INT64_FORMAT, id);
  strlcpy(worker.bgw_type, "pgbak worker", BGW_MAXLEN);
  worker.bgw_main_arg = Int64GetDatum(id);
  worker.bgw_notify_pid = MyProcPid;
  BackgroundWorkerHandle* handle = nullptr;
  if (!RegisterDynamicBackgroundWorker(&worker, &handle))
    return nullptr;
  return handle;
}

// ExecOrFail runs a statement through SPI and raises an error if it fails.
void ExecOrFail(const char* sql, int expected, int nargs, Oid* types, Datum* values) {
  int rc = SPI_execute_with_args(sql, nargs, types, values, nullptr, false, 0);
  if (rc != expected)
    elog(ERROR, "SPI_execute failed (%d): %s", rc, sql);
}

// FailAbandoned marks running rows that no live worker holds as failed and
// cleans up after them; at startup reason says why they died. The rows are
// flagged cleanup_pending in the transaction that fails them, and the flag
// is cleared only once the cleanup is done: a crash or a shutdown in the
// middle, a storage that does not answer or a cleanup that fails leaves
// the rest to FinishPendingCleanups. Cleanups start only while budget is
// not spent; a schema without the flag (before 1.3) has no later pass, so
// there every cleanup is tried at once.
void FailAbandoned(const char* reason, const PassBudget& budget) {
  std::vector<FailedOperation> candidates;
  bool flagged = false;
  RunInTransaction([&] {
    int64 count = 0;
    PgCall([&] {
      const char* sql = psprintf(
          "SELECT id, location, kind, storage_name FROM %s WHERE status = 'running' "
          "ORDER BY id",
          BackupLogName());
      ExecOrFail(sql, SPI_OK_SELECT, 0, nullptr, nullptr);
      count = SPI_processed;
    });
    for (int64 i = 0; i < count; i++) {
      int64 id = 0;
      const char* location = nullptr;
      const char* kind = nullptr;
      const char* storage = nullptr;
      PgCall([&] {
        bool isnull = false;
        id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
        location = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
        kind = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);
        storage = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 4);
      });
      bool watched = false;
      for (const StartedWorker& w : started_workers)
        watched = watched || w.id == id;
      if (watched || OperationIsActive(id))
        continue;
      FailedOperation op;
      op.id = id;
      op.kind = kind;
      op.location = location != nullptr ? location : "";
      op.storage = storage != nullptr ? storage : "local";
      candidates.push_back(std::move(op));
    }
    PgCall([&] { flagged = BackupLogHasColumn("cleanup_pending"); });
    // A row that is no longer running (its worker recorded an outcome after
    // all) is not touched, nor are its objects.
    std::vector<FailedOperation> failed;
    for (FailedOperation& op : candidates) {
      bool changed = false;
      PgCall([&] { changed = FinishFailed(op.id, "failed", reason, nullptr); });
      if (!changed)
        continue;
      FlagCleanupPending(op.id);
      failed.push_back(std::move(op));
    }
    candidates = std::move(failed);
  });
  for (const FailedOperation& op : candidates) {
    bool later = flagged && budget.Spent();
    if (!later && CleanUpFailed(op) && flagged)
      ClearCleanupPending(op.id);
    PgCall([&] {
      ereport(LOG, (errmsg("pgbak: operation " INT64_FORMAT " marked failed: %s%s", op.id, reason,
                           later ? " (its cleanup is left for a later pass)" : "")));
    });
  }
}

// ReapWorkers forgets workers that have stopped; FailAbandoned then catches
// any of them whose row is still running.
void ReapWorkers() {
  for (size_t i = 0; i < started_workers.size();) {
    pid_t pid = 0;
    BgwHandleStatus status = BGWH_STARTED;
    PgCall([&] { status = GetBackgroundWorkerPid(started_workers[i].handle, &pid); });
    if (status == BGWH_STOPPED) {
      PgCall([&] { pfree(started_workers[i].handle); });
      started_workers.erase(started_workers.begin() + i);
    } else {
      i++;
    }
  }
}

// StartQueued starts workers for queued rows, oldest first, within the
// limits; rows that cannot start now stay queued.
void StartQueued() {
  std::vector<QueuedOperation> queued;
  std::vector<std::string> busy_databases;
  int running = 0;
  RunInTransaction([&] {
    int64 count = 0;
    PgCall([&] {
      const char* sql = psprintf(
          "SELECT id, kind, database_name, status FROM %s "
          "WHERE status IN ('queued', 'running') ORDER BY id",
          BackupLogName());
      ExecOrFail(sql, SPI_OK_SELECT, 0, nullptr, nullptr);
      count = SPI_processed;
    });
    for (int64 i = 0; i < count; i++) {
      int64 id = 0;
      const char *kind = nullptr, *database = nullptr, *status = nullptr;
      PgCall([&] {
        bool isnull = false;
        HeapTuple tuple = SPI_tuptable->vals[i];
        TupleDesc desc = SPI_tuptable->tupdesc;
        id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
        kind = SPI_getvalue(tuple, desc, 2);
        database = SPI_getvalue(tuple, desc, 3);
        status = SPI_getvalue(tuple, desc, 4);
      });
      // A base backup (database_name NULL) holds the cluster's "": one at
      // a time.
      if (database == nullptr)
        database = "";
      if (std::string(status) == "running") {
        running++;
        if (HoldsDatabase(kind))
          busy_databases.push_back(database);
      } else {
        queued.push_back({id, kind, database});
      }
    }
  });

  for (const QueuedOperation& op : queued) {
    if (running >= setting_max_workers)
      break;
    bool busy = false;
    for (const std::string& db : busy_databases)
      busy = busy || db == op.database;
    // One backup per database at a time: a second request waits its turn.
    if (HoldsDatabase(op.kind) && busy)
      continue;

    bool claimed = false;
    RunInTransaction([&] {
      PgCall([&] {
        const char* sql = psprintf(
            "UPDATE %s SET status = 'running', started_at = clock_timestamp(), "
            "worker_pid = NULL WHERE id = (SELECT id FROM %s WHERE id = $1 "
            "AND status = 'queued' FOR UPDATE SKIP LOCKED)",
            BackupLogName(), BackupLogName());
        Oid types[1] = {INT8OID};
        Datum values[1] = {Int64GetDatum(op.id)};
        ExecOrFail(sql, SPI_OK_UPDATE, 1, types, values);
        claimed = SPI_processed == 1;
      });
    });
    if (!claimed)
      continue;  // cancelled meanwhile

    BackgroundWorkerHandle* handle = nullptr;
    // The handle outlives every transaction and loop iteration.
    PgCall([&] {
      MemoryContext previous = MemoryContextSwitchTo(TopMemoryContext);
      handle = StartWorker(op.id);
      MemoryContextSwitchTo(previous);
    });
    if (handle == nullptr) {
      // No background worker slot: put the row back and try after a wake-up
      // (a worker exit) rather than spinning.
      RunInTransaction([&] {
        PgCall([&] {
          const char* sql = psprintf(
              "UPDATE %s SET status = 'queued', started_at = NULL WHERE id = $1 "
              "AND status = 'running'",
              BackupLogName());
          Oid types[1] = {INT8OID};
          Datum values[1] = {Int64GetDatum(op.id)};
          ExecOrFail(sql, SPI_OK_UPDATE, 1, types, values);
          ereport(LOG, (errmsg("pgbak: no free background worker slot for operation " INT64_FORMAT
                               "; it stays queued",
                               op.id),
                        errhint("Raise max_worker_processes.")));
        });
      });
      break;
    }
    started_workers.push_back({op.id, handle});
    running++;
    if (HoldsDatabase(op.kind))
      busy_databases.push_back(op.database);
  }
}

// announced_paused is the pgbak.paused this launcher last logged.
bool announced_paused = false;

// next_manual_retention is when MaybeExpireManualBackups looks next.
std::chrono::steady_clock::time_point next_manual_retention;

// MaybeExpireManualBackups applies manual retention once a minute, at once
// if now (the settings were reloaded), and again at the next pass while
// there are more sets than one go marks.
void MaybeExpireManualBackups(bool now) {
  auto clock = std::chrono::steady_clock::now();
  if (!now && clock < next_manual_retention)
    return;
  next_manual_retention = clock + kManualRetentionInterval;
  if (ExpireManualBackups(kManualExpiriesPerPass) >= kManualExpiriesPerPass)
    next_manual_retention = clock;
}

// ExtensionReady says whether the catalog exists in pgbak.database yet.
bool ExtensionReady() {
  bool installed = false;
  RunInTransaction([&] { PgCall([&] { installed = ExtensionInstalled(); }); });
  return installed;
}

// RunStage runs one stage of the loop; a failure (a lock timeout, say) is
// logged and makes the launcher back off, but does not keep the other stages
// from running.
template <typename Stage>
bool RunStage(const char* name, Stage&& stage) {
  Failure failure;
  CatchCore(failure, stage);
  if (!failure.failed)
    return true;
  PgCall([&] {
    ereport(WARNING, (errmsg("pgbak launcher: %s: %s", name, failure.message),
                      failure.detail[0] ? errdetail("%s", failure.detail) : 0));
  });
  return false;
}

// WaitForWork sleeps until the latch is set, one of sockets is ready (for
// reading, or for writing if it asks so) or timeout_ms passes; returns the
// ready descriptors. Exits on postmaster death.
std::vector<int> WaitForWork(const std::vector<MetricsSocket>& sockets, long timeout_ms) {
  std::vector<int> ready;
  constexpr int kMaxEvents = 32;
  WaitEvent events[kMaxEvents];
  int count = 0;
  int nfds = std::min(static_cast<int>(sockets.size()), kMaxEvents - 2);
  PgCall([&] {
    pgstat_report_activity(STATE_IDLE, nullptr);
    WaitEventSet* set = CreateWaitEventSet(CurrentMemoryContext, nfds + 2);
    AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, nullptr);
    AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, nullptr, nullptr);
    for (int i = 0; i < nfds; i++)
      AddWaitEventToSet(set, sockets[i].writable ? WL_SOCKET_WRITEABLE : WL_SOCKET_READABLE,
                        sockets[i].fd, nullptr, nullptr);
    count = WaitEventSetWait(set, timeout_ms, events, kMaxEvents, PG_WAIT_EXTENSION);
    FreeWaitEventSet(set);
    ResetLatch(MyLatch);
  });
  for (int i = 0; i < count; i++)
    if (events[i].events & (WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE))
      ready.push_back(events[i].fd);
  return ready;
}

// LauncherLoop is the body of the launcher; returns on shutdown.
void LauncherLoop() {
  bool recovered = false;
  bool webhooks_reset = false;
  MetricsServer metrics;
  MemoryContext loop_context = nullptr;
  PgCall([&] {
    loop_context =
        AllocSetContextCreate(TopMemoryContext, "pgbak launcher loop", ALLOCSET_DEFAULT_SIZES);
  });
  for (;;) {
    long sleep_ms = kIdleSleepMs;
    bool reloaded = false;
    PgCall([&] {
      CHECK_FOR_INTERRUPTS();
      if (ConfigReloadPending) {
        ConfigReloadPending = false;
        ProcessConfigFile(PGC_SIGHUP);
        reloaded = true;
      }
      MemoryContextReset(loop_context);
      MemoryContextSwitchTo(loop_context);
    });
    if (ShutdownRequestPending)
      return;

    bool ready = false;
    if (setting_paused != announced_paused) {
      announced_paused = setting_paused;
      PgCall([&] {
        if (announced_paused)
          ereport(LOG, (errmsg("pgbak: paused (pgbak.paused = on): no schedules, operations, "
                               "retention or cleanup run"),
                        errhint("ALTER SYSTEM SET pgbak.paused = off; SELECT pg_reload_conf(); "
                                "once this cluster's catalog is its own.")));
        else
          ereport(LOG, (errmsg("pgbak: resumed (pgbak.paused = off)")));
      });
    }
    if (!RunStage("checking for the extension", [&] { ready = ExtensionReady(); }) || !ready) {
      sleep_ms = kNoExtensionSleepMs;
    } else if (setting_paused) {
      // Only what archiving needs (the storage's definition for the
      // archiver, the watch on its status): the catalog may be a copy of
      // another cluster's, whose sets, rows and WAL are not this one's.
      RunStage("publishing the WAL storage", [] { RunInTransaction([] { PublishWalStorage(); }); });
      RunStage("watching the WAL archive", [] { WatchWalArchive(); });
      sleep_ms = kNoExtensionSleepMs;
    } else {
      // What this pass may spend waiting on storages.
      PassBudget budget{std::chrono::steady_clock::now() +
                        std::chrono::seconds(kStoragePassSeconds)};
      // First: the archiver's copy of the WAL storage's definition
      // (archiving goes on from it while this database is unreachable).
      bool ok = RunStage("publishing the WAL storage",
                         [] { RunInTransaction([] { PublishWalStorage(); }); });
      ok = RunStage("reaping workers", [] { ReapWorkers(); }) && ok;
      // Rows left running by a crash or restart are failed at the first
      // look; later, a running row that no live worker holds lost its
      // worker (killed, or exited before recording an outcome).
      const char* reason = recovered
                               ? "the worker exited without recording an outcome"
                               : "the server restarted or crashed while the operation was running";
      if (RunStage("failing abandoned operations", [&] { FailAbandoned(reason, budget); }))
        recovered = true;
      else
        ok = false;
      long until_due_ms = kNoJobDue;
      ok = RunStage("scheduling", [&] { until_due_ms = RunScheduler(); }) && ok;
      if (until_due_ms != kNoJobDue && until_due_ms < sleep_ms)
        sleep_ms = std::max(until_due_ms, 10L);
      ok = RunStage("starting queued operations", [] { StartQueued(); }) && ok;
      long until_look_ms = kNoLookNeeded;
      ok = RunStage("watching for new databases", [&] { until_look_ms = WatchNewDatabases(); }) &&
           ok;
      if (until_look_ms != kNoLookNeeded && until_look_ms < sleep_ms)
        sleep_ms = std::max(until_look_ms, 10L);
      ok = RunStage("watching the WAL archive", [] { WatchWalArchive(); }) && ok;
      ok = RunStage("trimming history", [] { MaybeTrimHistory(); }) && ok;
      // Manual backups past their retention are marked 'expiring' (only the
      // catalog: their objects go in the next stage, as any expiring set's).
      ok = RunStage("expiring manual backups", [&] { MaybeExpireManualBackups(reloaded); }) && ok;
      // Sets a prune marked 'expiring' (pgbak_prune(false), manual
      // retention, or a worker stopped in the middle) lose their objects
      // here, a few per pass.
      int bases_expired = 0;
      ok = RunStage("finishing expirations",
                    [&] { FinishExpiringSets(kExpiringPerPass, budget, &bases_expired); }) &&
           ok;
      // Archived WAL that no kept base backup needs any more, once base
      // backups expired here (a job's worker trims it after its own).
      if (bases_expired > 0)
        ok = RunStage("expiring archived WAL", [&] { ExpireArchivedWalInLauncher(budget); }) && ok;
      // What failed operations left and nobody could remove yet (a stopping
      // worker, a crash in the middle of a cleanup, a storage that did not
      // answer).
      ok = RunStage("finishing cleanups",
                    [&] { FinishPendingCleanups(kExpiringPerPass, budget); }) &&
           ok;
      if (!webhooks_reset)
        webhooks_reset = RunStage("resuming webhooks", [] { ResendInterrupted(); });
      ok = RunStage("delivering webhooks", [] { DeliverWebhooks(); }) && ok;
      // Outcomes of deliveries are collected by polling the sender thread.
      if (WebhooksInFlight())
        sleep_ms = std::min(sleep_ms, kWebhookPollMs);
      // Back off a little after a failure instead of retrying in a loop.
      if (!ok)
        sleep_ms = std::min(sleep_ms, kRetrySleepMs);
    }

    RunStage("configuring the metrics endpoint", [&] {
      metrics.Configure(setting_metrics_listen != nullptr ? setting_metrics_listen : "");
    });
    std::vector<MetricsSocket> sockets;
    metrics.CollectSockets(sockets);
    long until_deadline_ms = metrics.MillisUntilDeadline();
    if (until_deadline_ms >= 0)
      sleep_ms = std::min(sleep_ms, until_deadline_ms);
    for (int fd : WaitForWork(sockets, sleep_ms))
      RunStage("serving metrics", [&] { metrics.HandleReady(fd); });
    metrics.DropExpiredClients();
  }
}

}  // namespace

}  // namespace pgbak

// pgbak_launcher_main is the entry point of the launcher background worker.
extern "C" void pgbak_launcher_main(Datum main_arg) {
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnection(pgbak::setting_database, nullptr, 0);
  // A user transaction holding a backup_log row must not stall the launcher
  // for everyone: it skips locked rows, and waits at most this long for any
  // other lock before it backs off and tries again.
  SetConfigOption("lock_timeout", "2000", PGC_SUSET, PGC_S_OVERRIDE);
  pgbak::SetLauncherLatch(MyLatch);
  ereport(LOG, (errmsg("pgbak launcher started in database \"%s\"", pgbak::setting_database)));

  pgbak::Failure failure;
  pgbak::CatchCore(failure, [] { pgbak::LauncherLoop(); });
  pgbak::SetLauncherLatch(nullptr);
  pgbak::StopWebhooks();
  // An error that escaped the loop ends the launcher; the postmaster restarts
  // it after bgw_restart_time.
  pgbak::ReportFailure(failure);
  // Exit status 1: if the launcher is terminated on its own (not at server
  // shutdown), the postmaster starts it again after bgw_restart_time.
  proc_exit(1);
}
