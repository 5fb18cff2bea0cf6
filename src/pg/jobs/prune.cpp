// prune.cpp: applying jobs' retention to backup_log and storage.

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
}

#include <ctime>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/options/base_backup_options.h"
#include "core/options/job_options.h"
#include "core/schedule/retention.h"
#include "core/storage/s3/object_lock.h"
#include "pg/boundary/boundary.h"
#include "pg/boundary/pg_time_zone.h"
#include "pg/boundary/transaction.h"
#include "pg/catalog/catalog.h"
#include "pg/jobs/dump_tools.h"
#include "pg/jobs/operation_cleanup.h"
#include "pg/jobs/prune.h"
#include "pg/runtime/settings.h"
#include "pg/runtime/worker_signals.h"

namespace pgbak {

namespace {

// Row is one SPI result row as strings (NULL as empty).
using Row = std::vector<std::string>;

// Query runs a statement (read-only unless read_only is false) with text
// parameters and returns its rows.
std::vector<Row> Query(const char* sql, const std::vector<std::string>& params,
                       bool read_only = true) {
  std::vector<Row> rows;
  int64 count = 0;
  int columns = 0;
  PgCall([&] {
    int nargs = static_cast<int>(params.size());
    Oid* types = static_cast<Oid*>(palloc0(sizeof(Oid) * Max(nargs, 1)));
    Datum* values = static_cast<Datum*>(palloc0(sizeof(Datum) * Max(nargs, 1)));
    for (int i = 0; i < nargs; i++) {
      types[i] = TEXTOID;
      values[i] = CStringGetTextDatum(params[i].c_str());
    }
    if (SPI_execute_with_args(sql, nargs, types, values, nullptr, read_only, 0) != SPI_OK_SELECT)
      elog(ERROR, "could not read the catalog: %s", sql);
    count = SPI_processed;
    columns = SPI_tuptable->tupdesc->natts;
  });
  for (int64 r = 0; r < count; r++) {
    Row row;
    for (int c = 1; c <= columns; c++) {
      const char* value = nullptr;
      PgCall([&] { value = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c); });
      row.emplace_back(value != nullptr ? value : "");
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

// SomethingLeft says whether a failed set still has objects to clean. Only
// local sets are looked at: planning runs on every prune, for every failed
// row of every job, and must not make a network request each time; a
// failed S3 backup removes its objects itself, and the launcher those of a
// worker that died.
bool SomethingLeft(const PruneItem& item) {
  if (item.storage != "local")
    return false;
  try {
    return SetHasObjects(item.storage, item.id, item.location);
  } catch (const std::exception&) {
    return false;
  }
}

// RetentionGuards are the sets that no retention deletes now.
struct RetentionGuards {
  // the newest succeeded backup of each database, and the newest base backup
  std::set<int64_t> newest_good;
  std::set<int64_t> in_use;  // sets that a queued or running operation reads

  bool Protects(int64_t id) const { return newest_good.count(id) > 0 || in_use.count(id) > 0; }
};

// ReadRetentionGuards reads them. A database is its OID (a database dropped
// and created again under its name is another one, whose newest backup is
// kept too); rows from before 1.3 have none and go by name.
RetentionGuards ReadRetentionGuards() {
  bool has_oid = false;
  PgCall([&] { has_oid = BackupLogHasColumn("database_oid"); });
  std::string database =
      has_oid ? "coalesce(database_oid::text, '-' || database_name)" : "database_name";
  std::string log = QuotedRelation("backup_log");
  // The cluster's base backups are one more group (no database).
  std::string newest_sql = "SELECT DISTINCT ON (kind, " + database + ") id::text FROM " + log +
                           " WHERE kind IN ('backup', 'base') AND status = 'succeeded' ORDER BY "
                           "kind, " +
                           database + ", finished_at DESC, id DESC";
  std::string in_use_sql = "SELECT DISTINCT source_id::text FROM " + log +
                           " WHERE source_id IS NOT NULL AND status IN ('queued', 'running')";
  RetentionGuards guards;
  for (const Row& row : Query(newest_sql.c_str(), {}))
    guards.newest_good.insert(std::stoll(row[0]));
  for (const Row& row : Query(in_use_sql.c_str(), {}))
    guards.in_use.insert(std::stoll(row[0]));
  return guards;
}

// PlanManualRetention lists the succeeded manual backups older than the
// retention of their storage: its manual_retention option (seconds, or
// "off"), else pgbak.manual_retention (0: off). Sets in a storage that is no
// longer defined are left alone: nothing could remove their objects.
std::vector<PruneItem> PlanManualRetention(const RetentionGuards& guards) {
  // Manual base backups follow it from version 1.7's catalog on (an update
  // of the library alone changes nothing that retention removes).
  bool with_bases = false;
  PgCall([&] {
    with_bases = CatalogRelationExists("pgbak_wal_status") &&
                 CatalogRelationHasColumn("pgbak_wal_status", "base_backups");
  });
  std::string kinds = with_bases ? "('backup', 'base')" : "('backup')";
  std::string sql =
      "SELECT id::text, coalesce(database_name, ''), "
      "floor(extract(epoch FROM finished_at))::bigint::text, "
      "coalesce(location, ''), storage_name, keep::text, own::text, kind FROM ("
      "SELECT b.*, coalesce(s.options -> 'manual_retention', to_jsonb($1::integer)) AS keep, "
      "coalesce(s.options ? 'manual_retention', false) AS own FROM " +
      QuotedRelation("backup_log") + " b LEFT JOIN " + QuotedRelation("pgbak_storage") +
      " s ON s.name = b.storage_name WHERE b.kind IN " + kinds +
      " AND b.trigger = 'manual' "
      "AND b.status = 'succeeded' AND b.finished_at IS NOT NULL "
      "AND (b.storage_name = 'local' OR s.name IS NOT NULL)) m "
      "WHERE jsonb_typeof(keep) = 'number' AND keep::numeric >= 1 "
      "AND finished_at < clock_timestamp() - make_interval(secs => keep::numeric::float8) "
      "ORDER BY finished_at, id";
  std::vector<PruneItem> items;
  for (const Row& row : Query(sql.c_str(), {std::to_string(setting_manual_retention_s)})) {
    PruneItem item;
    item.id = std::stoll(row[0]);
    if (guards.Protects(item.id))
      continue;
    item.database = row[1];
    item.finished_at = static_cast<std::time_t>(std::stoll(row[2]));
    item.location = row[3];
    item.storage = row[4];
    item.action = "delete";
    item.reason =
        std::string(row[7] == "base" ? "deleted: manual base backup older than "
                                     : "deleted: manual backup older than ") +
        std::string(row[6] == "true" ? "the manual_retention of storage \"" + item.storage + "\""
                                     : "pgbak.manual_retention") +
        " (" + DurationText(std::stoll(row[5])) + ")";
    items.push_back(std::move(item));
  }
  return items;
}

}  // namespace

// PlanPrune decides for every job with a retention policy.
std::vector<PruneItem> PlanPrune(const std::string& only_job, const std::string& only_database) {
  std::string jobs_sql = "SELECT job_name, options::text FROM " + QuotedRelation("pgbak_job") +
                         (only_job.empty() ? "" : " WHERE job_name = $1") + " ORDER BY job_name";
  std::vector<Row> jobs =
      Query(jobs_sql.c_str(), only_job.empty() ? std::vector<std::string>{} : Row{only_job});

  // The newest good backup of each database is never deleted, whatever a
  // job's policy says (it may not even be that job's backup), nor a set
  // that an operation is about to read or reading.
  RetentionGuards guards = ReadRetentionGuards();

  // kind is 'backup' or 'copy'. A copy is planned by the time of the set
  // it holds (its root backup's), so that copy_retention keeps the same
  // days and ages as the backups it follows; its own time stays for the
  // object lock its objects got when they were written.
  std::string log = QuotedRelation("backup_log");
  std::string history_sql =
      "SELECT l.id::text, l.status, floor(extract(epoch FROM coalesce((SELECT r.finished_at "
      "FROM " +
      log +
      " r WHERE l.kind = 'copy' AND r.id = (l.options ->> 'set_id')::bigint), "
      "l.finished_at)))::bigint::text, l.database_name, coalesce(l.location, ''), "
      "l.storage_name, floor(extract(epoch FROM l.finished_at))::bigint::text FROM " +
      log +
      " l WHERE l.job_name = $1 AND l.kind = $2 "
      "AND l.status IN ('succeeded', 'failed', 'cancelled') AND l.finished_at IS NOT NULL";
  PgTimeZone zone(setting_timezone);
  std::time_t now = std::time(nullptr);
  std::vector<PruneItem> items;
  // PlanGroup applies policy to one group of a job's sets (one database's
  // backups, or its copies in one storage). For copies, the group's newest
  // good copy is kept as the newest good backup of a database is.
  auto plan_group = [&](const std::string& job_name, const std::vector<const Row*>& rows,
                        const RetentionPolicy& policy, bool copies, bool base = false) {
    std::vector<BackupRecord> records;
    std::map<int64_t, const Row*> by_id;
    int64_t newest_good = 0;
    for (const Row* row : rows) {
      BackupRecord record;
      record.id = std::stoll((*row)[0]);
      record.status = (*row)[1];
      record.finished_at = static_cast<std::time_t>(std::stoll((*row)[2]));
      records.push_back(record);
      by_id[record.id] = row;
      if (record.status == "succeeded" && record.id > newest_good)
        newest_good = record.id;
    }
    for (const RetentionDecision& decision : PlanRetention(records, policy, now, zone)) {
      if (decision.action == RetentionAction::kKeep)
        continue;
      const Row& row = *by_id.at(decision.id);
      PruneItem item;
      item.id = decision.id;
      item.job_name = job_name;
      item.database = row[3];
      item.finished_at = static_cast<std::time_t>(std::stoll(row[6]));
      item.location = row[4];
      item.storage = row[5];
      item.reason = copies ? "copy " + decision.reason : decision.reason;
      if (decision.action == RetentionAction::kDelete) {
        if (guards.Protects(item.id) || (copies && item.id == newest_good))
          continue;
        item.action = "delete";
      } else {
        // A failed set normally removed its own objects; list it only if
        // something is actually left to clean. A failed base backup's
        // leftovers are its worker's or the launcher's to remove
        // (cleanup_pending): they keep a set that has its manifest.json, the
        // one a restored cluster finds still running.
        if (base || !SomethingLeft(item))
          continue;
        item.action = "clean";
      }
      items.push_back(std::move(item));
    }
  };
  for (const Row& job : jobs) {
    if (IsBaseJob(job[1])) {
      // A base backup job's sets are one group: the cluster's.
      BaseJobOptions options = ParseBaseJobOptions(job[1]);
      std::vector<Row> history = Query(history_sql.c_str(), {job[0], "base"});
      std::vector<const Row*> rows;
      for (const Row& row : history)
        rows.push_back(&row);
      if (only_database.empty() && !rows.empty())
        plan_group(job[0], rows, options.retention, false, true);
      continue;
    }
    JobOptions options = ParseJobOptions(job[1]);
    // A job's policy applies to each database on its own: a job over every
    // database keeps keep_last sets of each, not keep_last in all; its
    // copies, in each storage on its own, follow copy_retention.
    std::map<std::string, std::vector<const Row*>> by_database;
    std::vector<Row> history = Query(history_sql.c_str(), {job[0], "backup"});
    for (const Row& row : history)
      if (only_database.empty() || row[3] == only_database)
        by_database[row[3]].push_back(&row);
    for (const auto& [database, rows] : by_database)
      plan_group(job[0], rows, options.retention, false);
    std::map<std::pair<std::string, std::string>, std::vector<const Row*>> by_copy_place;
    std::vector<Row> copies = Query(history_sql.c_str(), {job[0], "copy"});
    for (const Row& row : copies)
      if (only_database.empty() || row[3] == only_database)
        by_copy_place[{row[5], row[3]}].push_back(&row);
    for (const auto& [place, rows] : by_copy_place)
      plan_group(job[0], rows, options.CopyRetention(), true);
  }
  if (only_job.empty()) {
    std::vector<PruneItem> manual = PlanManualRetention(guards);
    items.insert(items.end(), manual.begin(), manual.end());
  }
  HoldLockedSets(items, now);
  return items;
}

// HoldLockedSets reads each storage's lock once.
void HoldLockedSets(std::vector<PruneItem>& items, std::time_t now) {
  std::map<std::string, ObjectLock> locks;
  for (PruneItem& item : items) {
    if (item.action != "delete")
      continue;
    auto lock = locks.find(item.storage);
    if (lock == locks.end())
      lock = locks.emplace(item.storage, StorageObjectLock(item.storage)).first;
    if (!lock->second.enabled())
      continue;
    std::time_t until = RetainUntil(lock->second, item.finished_at) + kLockClockMarginSeconds;
    if (until <= now)
      continue;
    // "locked until <date> (retention: not selected by keep_last)"
    const std::string deleted = "deleted: ";
    std::string why = item.reason.compare(0, deleted.size(), deleted) == 0
                          ? item.reason.substr(deleted.size())
                          : item.reason;
    item.action = "locked";
    item.reason = "locked until " + Iso8601Utc(until) + " (retention: " + why + ")";
  }
}

namespace {

// RunUpdate runs one UPDATE of backup_log row id; returns the rows changed.
int64 RunUpdate(const std::string& sql, int64_t id) {
  int64 changed = 0;
  PgCall([&] {
    Oid types[1] = {INT8OID};
    Datum values[1] = {Int64GetDatum(id)};
    if (SPI_execute_with_args(sql.c_str(), 1, types, values, nullptr, false, 0) != SPI_OK_UPDATE)
      elog(ERROR, "could not update backup " INT64_FORMAT, static_cast<int64>(id));
    changed = SPI_processed;
  });
  return changed;
}

}  // namespace

// MarkExpiring records that item's set is about to go. The guards of
// planning are checked again in the update itself, where they hold whatever
// happened since the plan: a set is marked only while a newer succeeded
// backup of its database exists, so that the newest never goes (whoever
// plans, and however many prunes run at once), and while no queued or
// running operation reads it. A restore queued in a transaction that has
// not committed yet is not seen: its worker then finds the set 'expiring'
// and fails, as for any set that is gone.
bool MarkExpiring(const PruneItem& item) {
  std::string log = QuotedRelation("backup_log");
  return RunUpdate("UPDATE " + log +
                       " b SET status = 'expiring', expired_at = clock_timestamp() "
                       "WHERE b.id = $1 AND b.status = 'succeeded' "
                       "AND NOT EXISTS (SELECT FROM " +
                       log +
                       " r WHERE r.source_id = b.id AND r.status IN ('queued', 'running')) "
                       "AND EXISTS (SELECT FROM " +
                       log +
                       " n WHERE n.kind = CASE b.kind WHEN 'base' THEN 'base' ELSE 'backup' END "
                       "AND n.status = 'succeeded' AND n.id <> b.id "
                       "AND (n.database_oid = b.database_oid OR (b.database_oid IS NULL AND "
                       "n.database_oid IS NULL AND "
                       "n.database_name IS NOT DISTINCT FROM b.database_name)) "
                       "AND (n.finished_at, n.id) > (b.finished_at, b.id))",
                   item.id) == 1;
}

// FinishExpiring marks the row expired first, which holds its lock until
// this transaction ends, then removes the objects: a failure throws and
// rolls the row back to 'expiring', and nobody else works on the set
// meanwhile. The lock is taken with SKIP LOCKED in the update itself: a
// worker and the launcher never wait for each other (nor for a user's
// transaction) while the one that holds the row talks to the storage.
ExpiryOutcome FinishExpiring(int64_t id, const std::string& storage, const std::string& location,
                             StorageUse use, std::function<void()> interrupt_check) {
  std::string table = QuotedRelation("backup_log");
  if (RunUpdate("UPDATE " + table +
                    " SET status = 'expired', expired_at = clock_timestamp() "
                    "WHERE id = (SELECT id FROM " +
                    table + " WHERE id = $1 AND status = 'expiring' FOR UPDATE SKIP LOCKED)",
                id) == 0) {
    std::string status_sql = "SELECT status FROM " + table + " WHERE id = $1::bigint";
    std::vector<Row> rows = Query(status_sql.c_str(), {std::to_string(id)});
    return !rows.empty() && rows[0][0] == "expiring" ? ExpiryOutcome::kBusy
                                                     : ExpiryOutcome::kNotExpiring;
  }
  std::string error;
  if (!RemoveSetObjects(storage, id, location, use, error, std::move(interrupt_check)))
    throw Error(ErrorKind::kIo,
                "the objects of backup " + std::to_string(id) + " could not be removed: " + error);
  return ExpiryOutcome::kExpired;
}

// ExecutePruneItem cleans a failed set, or (schemas before 1.3) deletes.
void ExecutePruneItem(PruneItem& item, StorageUse use, std::function<void()> interrupt_check) {
  if (item.action == "locked")
    return;
  std::string error;
  if (!RemoveSetObjects(item.storage, item.id, item.location, use, error,
                        std::move(interrupt_check))) {
    item.reason += "; not removed: " + error;
    return;
  }
  if (item.action == "delete") {
    RunUpdate("UPDATE " + QuotedRelation("backup_log") +
                  " SET status = 'expired', expired_at = clock_timestamp() "
                  "WHERE id = $1 AND status = 'succeeded'",
              item.id);
  }
  item.done = true;
}

namespace {

// retry_after keeps, in the launcher, when each expiring set whose removal
// failed may be tried again.
std::map<int64_t, std::time_t> retry_after;
constexpr std::time_t kExpiringRetrySeconds = 60;

}  // namespace

// FinishExpiringSets finishes what earlier prunes started.
int FinishExpiringSets(int limit, const PassBudget& budget, int* bases) {
  std::vector<Row> rows;
  bool has13 = false;
  RunInTransaction([&] {
    PgCall([&] { has13 = CatalogHas13(); });
    if (!has13)
      return;
    // No lock here: FinishExpiring takes it, and passes over rows a worker
    // is finishing right now.
    std::string sql = "SELECT id::text, storage_name, coalesce(location, ''), kind FROM " +
                      QuotedRelation("backup_log") +
                      " WHERE status = 'expiring' ORDER BY id LIMIT $1::bigint";
    rows = Query(sql.c_str(), {std::to_string(limit * 4)});
  });
  std::time_t now = std::time(nullptr);
  int finished = 0;
  for (const Row& row : rows) {
    if (finished >= limit || budget.Spent())
      break;
    int64_t id = std::stoll(row[0]);
    auto wait = retry_after.find(id);
    if (wait != retry_after.end() && wait->second > now)
      continue;
    ExpiryOutcome outcome = ExpiryOutcome::kNotExpiring;
    Failure failure;
    CatchCore(failure, [&] {
      RunInTransaction([&] {
        outcome = FinishExpiring(id, row[1], row[2], StorageUse::kLauncher,
                                 BoundedWaitCheck(kLauncherItemSeconds));
      });
    });
    if (!failure.failed) {
      retry_after.erase(id);
      if (outcome != ExpiryOutcome::kExpired)
        continue;
      finished++;
      if (bases != nullptr && row[3] == "base")
        (*bases)++;
      PgCall([&] {
        ereport(LOG, (errmsg("pgbak: backup " INT64_FORMAT " expired", static_cast<int64>(id))));
      });
    } else {
      retry_after[id] = now + kExpiringRetrySeconds;
      PgCall([&] {
        ereport(WARNING,
                (errmsg("pgbak: backup " INT64_FORMAT " is expiring but its objects could not be "
                        "removed: %s",
                        static_cast<int64>(id), failure.message),
                 errhint("It is tried again in a minute.")));
      });
    }
  }
  return finished;
}

// ExpireManualBackups marks manual sets past their retention 'expiring', all
// in one transaction that commits before any object is touched; the
// launcher's FinishExpiringSets removes them like any other expiring set.
int ExpireManualBackups(int limit) {
  std::vector<PruneItem> marked;
  RunInTransaction([&] {
    bool has13 = false;
    PgCall([&] { has13 = CatalogHas13(); });
    if (!has13)
      return;  // no 'expiring' before 1.3: manual retention waits for the update
    std::vector<PruneItem> items = PlanManualRetention(ReadRetentionGuards());
    // A set an S3 Object Lock still holds is left alone until its date.
    HoldLockedSets(items, std::time(nullptr));
    for (PruneItem& item : items) {
      if (static_cast<int>(marked.size()) >= limit)
        break;
      if (item.action == "locked")
        continue;
      if (MarkExpiring(item))
        marked.push_back(std::move(item));
    }
  });
  for (const PruneItem& item : marked) {
    std::string line = "pgbak: manual backup " + std::to_string(item.id) +
                       (item.database.empty() ? std::string(" (a base backup)")
                                              : " of database \"" + item.database + "\"") +
                       " is expiring (" + item.reason + ")";
    PgCall([&] { ereport(LOG, (errmsg("%s", line.c_str()))); });
  }
  return static_cast<int>(marked.size());
}

// PruneJobInWorker applies one job's retention from a background worker.
void PruneJobInWorker(const std::string& job_name, const std::string& database) {
  Failure failure;
  CatchCore(failure, [&] {
    std::vector<PruneItem> items;
    bool has13 = false;
    RunInTransaction([&] {
      items = PlanPrune(job_name, database);
      PgCall([&] { has13 = CatalogHas13(); });
    });
    for (PruneItem& item : items) {
      if (has13 && item.action == "delete") {
        // Recorded and committed before anything goes.
        bool marked = false;
        RunInTransaction([&] { marked = MarkExpiring(item); });
        if (!marked)
          continue;  // no longer a succeeded backup
        ExpiryOutcome outcome = ExpiryOutcome::kNotExpiring;
        Failure removal;
        CatchCore(removal, [&] {
          RunInTransaction([&] {
            outcome = FinishExpiring(item.id, item.storage, item.location, StorageUse::kWorker,
                                     ThrowIfStopping);
          });
        });
        if (removal.failed) {
          // A stop request ends the worker's prune here; the row stays
          // 'expiring' and the launcher finishes it.
          item.reason +=
              std::string("; not removed yet (the launcher tries again): ") + removal.message;
          if (!StopReason().empty())
            throw Error(ErrorKind::kCancelled, removal.message);
        } else if (outcome == ExpiryOutcome::kBusy) {
          item.reason += "; the launcher is removing it";
        } else {
          item.done = true;  // expired, by this worker or (no longer expiring) the launcher
        }
      } else if (item.action == "locked") {
        PgCall([&] {
          ereport(DEBUG1, (errmsg("pgbak: job \"%s\": backup " INT64_FORMAT " kept (%s)",
                                  item.job_name.c_str(), static_cast<int64>(item.id),
                                  item.reason.c_str())));
        });
        continue;
      } else {
        RunInTransaction([&] { ExecutePruneItem(item, StorageUse::kWorker, ThrowIfStopping); });
        if (!item.done && !StopReason().empty())
          throw Error(ErrorKind::kCancelled, StopReason());
      }
      std::string line =
          "pgbak: job \"" + item.job_name + "\": backup " + std::to_string(item.id) + " " +
          (item.done ? (item.action == "delete" ? "expired" : "cleaned") : "NOT removed") + " (" +
          item.reason + ")";
      PgCall([&] { ereport(item.done ? LOG : WARNING, (errmsg("%s", line.c_str()))); });
    }
  });
  if (failure.failed) {
    PgCall([&] {
      ereport(WARNING, (errmsg("pgbak: retention of job \"%s\" failed: %s", job_name.c_str(),
                               failure.message),
                        failure.detail[0] ? errdetail("%s", failure.detail) : 0));
    });
  }
}

// TrimHistory deletes finished rows older than pgbak.log_retention.
int64_t TrimHistory() {
  if (setting_log_retention_min <= 0)
    return 0;
  std::string sql = "DELETE FROM " + QuotedRelation("backup_log") +
                    " WHERE status IN ('failed', 'cancelled', 'skipped', 'expired') "
                    "AND coalesce(expired_at, finished_at) < clock_timestamp() - "
                    "make_interval(mins => $1)";
  int64 deleted = 0;
  // A row whose leftovers are still to be removed is what the launcher
  // knows them by: it stays until they are gone.
  bool has_flag = false;
  PgCall([&] { has_flag = BackupLogHasColumn("cleanup_pending"); });
  if (has_flag)
    sql += " AND NOT cleanup_pending";
  PgCall([&] {
    Oid types[1] = {INT4OID};
    Datum values[1] = {Int32GetDatum(setting_log_retention_min)};
    if (SPI_execute_with_args(sql.c_str(), 1, types, values, nullptr, false, 0) != SPI_OK_DELETE)
      elog(ERROR, "could not trim backup_log");
    deleted = SPI_processed;
  });
  // The WAL archive's announced events go after the same time.
  bool has_events = false;
  PgCall([&] { has_events = CatalogRelationExists("pgbak_wal_event"); });
  if (has_events) {
    std::string events = "DELETE FROM " + QuotedRelation("pgbak_wal_event") +
                         " WHERE occurred_at < clock_timestamp() - make_interval(mins => $1) "
                         "AND coalesce(webhook_status, '') NOT IN ('pending', 'sending') "
                         // The newest says what was last announced.
                         "AND id < (SELECT max(id) FROM " +
                         QuotedRelation("pgbak_wal_event") + ")";
    PgCall([&] {
      Oid types[1] = {INT4OID};
      Datum values[1] = {Int32GetDatum(setting_log_retention_min)};
      if (SPI_execute_with_args(events.c_str(), 1, types, values, nullptr, false, 0) !=
          SPI_OK_DELETE)
        elog(ERROR, "could not trim pgbak_wal_event");
      deleted += SPI_processed;
    });
  }
  return deleted;
}

}  // namespace pgbak
