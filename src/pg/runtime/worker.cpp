// worker.cpp: the dynamic background worker that runs one operation.
//
// The launcher marks a row 'running' and starts this worker with the row's
// id. The worker claims the row and a progress slot, runs the operation,
// and records the outcome itself; whatever goes wrong, it removes partial
// objects and marks the row failed (or cancelled) before it exits. If it
// cannot (kill -9, crash), the launcher does it.

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "utils/snapmgr.h"

PGDLLEXPORT void pgbak_worker_main(Datum main_arg);
}

#include <chrono>
#include <functional>
#include <string>

#include "pg/boundary/transaction.h"
#include "pg/catalog/catalog.h"
#include "pg/catalog/storage_registry.h"
#include "pg/jobs/backup_job.h"
#include "pg/jobs/base_backup_job.h"
#include "pg/jobs/operation_cleanup.h"
#include "pg/jobs/copy_job.h"
#include "pg/jobs/dump_tools.h"
#include "pg/jobs/prune.h"
#include "pg/jobs/physical_drill.h"
#include "pg/jobs/verify_job.h"
#include "pg/runtime/settings.h"
#include "pg/runtime/shared_state.h"
#include "pg/runtime/worker_signals.h"
#include "pg/wal/wal_expiry.h"

namespace pgbak {

namespace {

// kStoppingCleanupS bounds the cleanup of a worker told to stop.
constexpr int kStoppingCleanupS = 5;

// LoadedOperation is the row this worker runs.
struct LoadedOperation {
  bool claimed = false;
  std::string kind;
  std::string database;
  std::string storage;
  std::string options_json;
  std::string job_name;
  std::string requested_by;
  int64_t source_id = 0;
};

// ClaimAndLoad reads row id and claims it if the launcher handed it over.
LoadedOperation ClaimAndLoad(int64_t id) {
  LoadedOperation loaded;
  RunInTransaction([&] {
    Operation op{};
    bool found = false;
    PgCall([&] {
      found = LoadOperation(id, &op);
      if (found && strcmp(op.status, "running") == 0)
        loaded.claimed = ClaimOperation(id);
    });
    if (!found || !loaded.claimed)
      return;
    loaded.kind = op.kind;
    loaded.database = op.database != nullptr ? op.database : "";  // NULL for kind 'base'
    loaded.storage = op.storage != nullptr ? op.storage : "local";
    loaded.options_json = op.options_json;
    loaded.job_name = op.job_name != nullptr ? op.job_name : "";
    loaded.source_id = op.source_id;
    loaded.requested_by = op.requested_by != nullptr ? op.requested_by : "";
  });
  return loaded;
}

// RecordFailure marks row id failed or cancelled with the failure's text,
// and flags it cleanup_pending if its objects may not all be gone.
void RecordFailure(int64_t id, const Failure& failure, bool cancelled, bool cleanup_pending) {
  const char* status = cancelled ? "cancelled" : "failed";
  RunInTransaction([&] {
    // Catalog names are looked up inside the transaction.
    std::string flag_sql =
        "UPDATE " + QuotedRelation("backup_log") + " SET cleanup_pending = true WHERE id = $1";
    PgCall([&] {
      FinishFailed(id, status, failure.message, failure.detail,
                   failure.sqlerrcode != 0 ? unpack_sql_state(failure.sqlerrcode) : nullptr,
                   failure.hint);
      if (cleanup_pending && BackupLogHasColumn("cleanup_pending")) {
        Oid types[1] = {INT8OID};
        Datum values[1] = {Int64GetDatum(id)};
        if (SPI_execute_with_args(flag_sql.c_str(), 1, types, values, nullptr, false, 0) !=
            SPI_OK_UPDATE)
          elog(ERROR, "could not flag operation " INT64_FORMAT " for cleanup", id);
      }
    });
  });
  // The log line carries the error's SQLSTATE (%e in log_line_prefix) and
  // hint, as the row does.
  PgCall([&] {
    ereport(LOG, (errcode(failure.sqlerrcode != 0 ? failure.sqlerrcode : ERRCODE_INTERNAL_ERROR),
                  errmsg("pgbak: operation " INT64_FORMAT " %s: %s", id, status, failure.message),
                  failure.detail[0] ? errdetail("%s", failure.detail) : 0,
                  failure.hint[0] ? errhint("%s", failure.hint) : 0));
  });
}

// RunOperation runs operation id to its end, recording the outcome.
void RunOperation(int64_t id) {
  LoadedOperation op = ClaimAndLoad(id);
  if (!op.claimed) {
    PgCall([&] {
      ereport(LOG,
              (errmsg("pgbak: operation " INT64_FORMAT " is no longer waiting for a worker", id)));
    });
    return;
  }
  bool slot = false;
  PgCall([&] { slot = ClaimSlot(id, op.kind.c_str(), op.database.c_str()); });
  if (!slot)
    throw Error(ErrorKind::kInternal, "no free progress slot");
  PgCall([&] {
    if (op.kind == "base")
      ereport(LOG, (errmsg("pgbak: operation " INT64_FORMAT " started: base backup of the cluster",
                           id)));
    else
      ereport(LOG, (errmsg("pgbak: operation " INT64_FORMAT " started: %s of database \"%s\"", id,
                           op.kind.c_str(), op.database.c_str())));
  });

  std::string location;
  Failure failure;
  CatchCore(failure, [&] {
    if (op.kind == "backup") {
      RunBackup(id, op.database, op.storage, op.options_json, location);
    } else if (op.kind == "verify") {
      RunVerify(id, op.source_id, op.options_json.find("\"deep\": true") != std::string::npos);
    } else if (op.kind == "restore") {
      RunRestore(id, op.source_id, op.database, op.options_json, op.requested_by);
    } else if (op.kind == "recover") {
      RunRecover(id, op.source_id, op.database, op.options_json, op.requested_by);
    } else if (op.kind == "copy") {
      RunCopy(id, op.source_id, op.storage, location);
    } else if (op.kind == "base") {
      RunBaseBackup(id, op.storage, op.options_json, location);
    } else {
      throw Error(ErrorKind::kInvalidParameter,
                  "operation kind \"" + op.kind + "\" is not supported by this version");
    }
  });
  if (!failure.failed) {
    // Retention runs after every scheduled backup of a job, over the job's
    // sets of this database; it never removes this backup, the newest good
    // one.
    if (!op.job_name.empty() && op.kind == "backup") {
      Failure verify_failure;
      CatchCore(verify_failure, [&] { QueueScheduledVerification(id, op.job_name); });
      if (verify_failure.failed) {
        PgCall([&] {
          ereport(WARNING,
                  (errmsg("pgbak: could not queue the verification of backup " INT64_FORMAT ": %s",
                          static_cast<int64>(id), verify_failure.message)));
        });
      }
      Failure copy_failure;
      CatchCore(copy_failure, [&] { QueueScheduledCopies(id, op.job_name); });
      if (copy_failure.failed) {
        PgCall([&] {
          ereport(WARNING,
                  (errmsg("pgbak: could not queue the copies of backup " INT64_FORMAT ": %s",
                          static_cast<int64>(id), copy_failure.message)));
        });
      }
      SetPhase(Phase::kPruning);
      PruneJobInWorker(op.job_name, op.database);
    } else if (op.kind == "base") {
      // The job's verification, its retention, then the archived WAL that
      // the base backups still kept no longer need (manual ones' retention
      // is the launcher's; it trims the WAL too).
      if (!op.job_name.empty()) {
        Failure verify_failure;
        CatchCore(verify_failure, [&] { QueueScheduledVerification(id, op.job_name); });
        if (verify_failure.failed) {
          PgCall([&] {
            ereport(WARNING,
                    (errmsg("pgbak: could not queue the verification of base backup " INT64_FORMAT
                            ": %s",
                            static_cast<int64>(id), verify_failure.message)));
          });
        }
      }
      SetPhase(Phase::kPruning);
      if (!op.job_name.empty())
        PruneJobInWorker(op.job_name, "");
      ExpireArchivedWalInWorker(ThrowIfStopping);
    }
    return;
  }
  bool cancelled = StopIsCancel();
  // A worker told to stop (a fast shutdown waits for it) cleans up for a
  // few seconds only, with the launcher's short retry policy; one that is
  // not stops cleaning as soon as it is told to. What is left is flagged,
  // and the launcher removes it later. Either way its waits absorb the
  // barriers that CREATE and DROP DATABASE wait for.
  std::function<void()> check;
  if (!StopReason().empty()) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kStoppingCleanupS);
    check = [deadline] {
      if (!ServeWhileWaiting() || std::chrono::steady_clock::now() > deadline)
        throw Error(ErrorKind::kIo, "the worker is stopping: cleanup left to the launcher");
    };
  } else {
    check = [] {
      std::string reason = ServeWhileWaiting() ? StopReason() : "the postmaster died";
      if (!reason.empty())
        throw Error(ErrorKind::kCancelled, reason + ": cleanup left to the launcher");
    };
  }
  bool removed = RemovePartialSet(
      id, op.storage, location, StopReason().empty() ? StorageUse::kWorker : StorageUse::kLauncher,
      check, op.kind == "base");
  RecordFailure(id, failure, cancelled, !removed);
}

}  // namespace

}  // namespace pgbak

// pgbak_worker_main is the entry point of an operation's background worker.
extern "C" void pgbak_worker_main(Datum main_arg) {
  int64 id = DatumGetInt64(main_arg);
  pgbak::InstallWorkerSignalHandlers();
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnection(pgbak::setting_database, nullptr, 0);
  pgstat_report_appname("pgbak worker");

  pgbak::Failure failure;
  pgbak::CatchCore(failure, [id] { pgbak::RunOperation(id); });
  // Only a failure to record the outcome lands here; the launcher will mark
  // the row failed once this process is gone.
  pgbak::ReportFailure(failure);
  proc_exit(0);
}
