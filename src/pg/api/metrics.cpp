// metrics.cpp: pgbak_metrics(), the Prometheus text exposition of backup
// freshness, sizes, failures and running operations, also served over HTTP
// by the launcher (metrics_server.cpp).

extern "C" {
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(pgbak_metrics);
}

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/notify/prometheus.h"
#include "pg/api/metrics.h"
#include "pg/api/privileges.h"
#include "pg/boundary/boundary.h"
#include "pg/catalog/catalog.h"
#include "pg/runtime/shared_state.h"
#include "pg/wal/wal_archive_status.h"

namespace pgbak {

namespace {

// Rows runs a read-only query and returns its rows as strings ("" for NULL)
// plus, per row, which columns were NULL.
struct Rows {
  std::vector<std::vector<std::string>> values;
  std::vector<std::vector<bool>> nulls;
};

Rows Query(const std::string& sql) {
  Rows rows;
  int64 count = 0;
  int columns = 0;
  PgCall([&] {
    if (SPI_execute(sql.c_str(), true, 0) != SPI_OK_SELECT)
      elog(ERROR, "could not read backup_log for metrics");
    count = SPI_processed;
    columns = SPI_tuptable->tupdesc->natts;
  });
  for (int64 r = 0; r < count; r++) {
    std::vector<std::string> row;
    std::vector<bool> null_row;
    for (int c = 1; c <= columns; c++) {
      const char* value = nullptr;
      PgCall([&] { value = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c); });
      row.emplace_back(value != nullptr ? value : "");
      null_row.push_back(value == nullptr);
    }
    rows.values.push_back(std::move(row));
    rows.nulls.push_back(std::move(null_row));
  }
  return rows;
}

// PerDatabase adds one family with a sample per database row where the
// column is not NULL.
void PerDatabase(PrometheusText& text, const Rows& rows, int column, const char* name,
                 MetricType type, const char* help) {
  text.Family(name, type, help);
  for (size_t r = 0; r < rows.values.size(); r++) {
    if (rows.nulls[r][column])
      continue;
    text.Sample({{"database", rows.values[r][0]}},
                std::strtod(rows.values[r][column].c_str(), nullptr));
  }
}

}  // namespace

// RenderMetrics builds the exposition; needs a transaction with SPI connected.
// WalArchiveMetrics renders the archiver's status (archive_library =
// 'pgbak_ext'), from shared memory: counts since the server started.
void WalArchiveMetrics(PrometheusText& text) {
  WalArchiveSnapshot wal;
  if (!ReadWalArchiveStatus(wal))
    return;
  text.Family("pgbak_wal_archived_total", MetricType::kCounter,
              "WAL files archived by archive_library = 'pgbak_ext' since the server started.");
  text.Sample({}, static_cast<double>(wal.archived_count));
  text.Family("pgbak_wal_pushed_ahead_total", MetricType::kCounter,
              "Of those, files pushed ahead of PostgreSQL's asking by the archiver's threads.");
  text.Sample({}, static_cast<double>(wal.pushed_ahead_count));
  text.Family("pgbak_wal_already_archived_total", MetricType::kCounter,
              "Of those, files the storage held already with the same content.");
  text.Sample({}, static_cast<double>(wal.already_archived_count));
  text.Family("pgbak_wal_failures_total", MetricType::kCounter,
              "Attempts to archive a WAL file that failed (PostgreSQL retries the file).");
  text.Sample({}, static_cast<double>(wal.failed_count));
  WalWaiting waiting = ReadWalWaiting();
  text.Family("pgbak_wal_waiting_files", MetricType::kGauge,
              "WAL files PostgreSQL has marked ready that are not archived yet.");
  text.Sample({}, static_cast<double>(waiting.files));
  text.Family("pgbak_wal_archive_lag_seconds", MetricType::kGauge,
              "How long the oldest WAL file waiting to be archived has waited (0: none waits).");
  text.Sample({}, waiting.oldest_since == 0
                      ? 0.0
                      : static_cast<double>(
                            std::max<int64_t>(0, timestamptz_to_time_t(GetCurrentTimestamp()) -
                                                     timestamptz_to_time_t(waiting.oldest_since))));
  if (wal.last_archived_at != 0) {
    // No label with the file's name: each file would be a series of its
    // own (pgbak_wal_status names it).
    text.Family("pgbak_wal_last_archived_timestamp_seconds", MetricType::kGauge,
                "When the last WAL file was archived.");
    text.Sample({}, static_cast<double>(timestamptz_to_time_t(wal.last_archived_at)));
  }
  if (wal.last_failed_at != 0) {
    text.Family("pgbak_wal_last_failure_timestamp_seconds", MetricType::kGauge,
                "When archiving a WAL file failed last.");
    text.Sample({}, static_cast<double>(timestamptz_to_time_t(wal.last_failed_at)));
  }
}

std::string RenderMetrics() {
  std::string log = QuotedRelation("backup_log");
  std::string status = QuotedRelation("backup_status");
  // Coverage is known from version 1.5's backup_status on.
  bool has_coverage = false;
  PgCall([&] { has_coverage = CatalogRelationHasColumn("backup_status", "unprotected"); });
  // One row per database: freshness from backup_status, totals from the
  // history that backup_log still holds (see pgbak.log_retention).
  Rows databases = Query(
      "SELECT s.database_name, "
      "extract(epoch FROM s.last_success_at), "                 // 1
      "extract(epoch FROM s.last_duration), "                   // 2
      "s.last_stored_bytes, "                                   // 3
      "extract(epoch FROM s.age), "                             // 4
      "CASE WHEN s.stale THEN 1 ELSE 0 END, "                   // 5
      "extract(epoch FROM s.rpo), "                             // 6
      "CASE WHEN s.excluded THEN 1 ELSE 0 END, "                // 7
      "coalesce(t.failures, 0), coalesce(t.successes, 0), "     // 8, 9
      "coalesce(t.stored_total, 0), coalesce(t.retained, 0), "  // 10, 11
      "extract(epoch FROM s.last_failure_at), "                 // 12
      + std::string(has_coverage ? "CASE WHEN s.unprotected THEN 1 ELSE 0 END "
                                 : "NULL::integer ") +  // 13
      "FROM " +
      status +
      " s LEFT JOIN ("
      "  SELECT database_name, "
      "         count(*) FILTER (WHERE status = 'failed') AS failures, "
      "         count(*) FILTER (WHERE status IN ('succeeded', 'expiring', 'expired')) AS "
      "successes, "
      "         sum(coalesce(stored_bytes, 0) + coalesce(globals_bytes, 0)) "
      "           FILTER (WHERE status IN ('succeeded', 'expiring', 'expired')) AS stored_total, "
      "         sum(coalesce(stored_bytes, 0) + coalesce(globals_bytes, 0)) "
      "           FILTER (WHERE status IN ('succeeded', 'expiring')) AS retained "
      "  FROM " +
      log +
      // Imported sets (pgbak_import) are not this server's backups of
      // the database that now has their name, as in backup_status.
      " WHERE kind = 'backup' AND trigger <> 'import' GROUP BY database_name) t "
      "ON t.database_name = s.database_name ORDER BY 1");
  // What each storage holds, from pgbak_storages (1.5 onwards).
  bool has_usage = false;
  PgCall([&] { has_usage = CatalogRelationHasColumn("pgbak_storages", "used_bytes"); });
  Rows storages;
  if (has_usage)
    storages = Query("SELECT name, used_bytes, set_count FROM " + QuotedRelation("pgbak_storages") +
                     " ORDER BY name");
  Rows queue = Query(
      "SELECT count(*) FILTER (WHERE status = 'queued'), "
      "count(*) FILTER (WHERE webhook_status LIKE 'failed%') FROM " +
      log);

  PrometheusText text;
  text.Family("pgbak_launcher_up", MetricType::kGauge,
              "1 if the pgbak launcher is running, else 0.");
  text.Sample({}, LauncherRunning() ? 1 : 0);
  PerDatabase(text, databases, 1, "pgbak_last_success_timestamp_seconds", MetricType::kGauge,
              "When the newest succeeded backup of the database finished (Unix time).");
  PerDatabase(text, databases, 2, "pgbak_last_backup_duration_seconds", MetricType::kGauge,
              "How long the newest succeeded backup took.");
  PerDatabase(text, databases, 3, "pgbak_last_backup_size_bytes", MetricType::kGauge,
              "Stored size of the data object of the newest succeeded backup.");
  PerDatabase(text, databases, 4, "pgbak_last_backup_age_seconds", MetricType::kGauge,
              "Age of the newest succeeded backup.");
  PerDatabase(text, databases, 12, "pgbak_last_failure_timestamp_seconds", MetricType::kGauge,
              "When the newest failed backup of the database finished (Unix time).");
  PerDatabase(text, databases, 5, "pgbak_stale", MetricType::kGauge,
              "1 if the database has no succeeded backup younger than its RPO, else 0.");
  PerDatabase(text, databases, 6, "pgbak_rpo_seconds", MetricType::kGauge,
              "The recovery point objective of the database.");
  PerDatabase(text, databases, 7, "pgbak_excluded", MetricType::kGauge,
              "1 if the database is deliberately not backed up (template, "
              "pgbak.exclude_databases), else 0.");
  if (has_coverage)
    PerDatabase(text, databases, 13, "pgbak_database_unprotected", MetricType::kGauge,
                "1 if no job covers the database and it is not excluded (see backup_status."
                "covered_by), else 0.");
  PerDatabase(text, databases, 8, "pgbak_backup_failures_total", MetricType::kCounter,
              "Failed backups recorded in backup_log (history is trimmed after "
              "pgbak.log_retention).");
  PerDatabase(text, databases, 9, "pgbak_backup_successes_total", MetricType::kCounter,
              "Succeeded backups recorded in backup_log, expired ones included.");
  PerDatabase(text, databases, 10, "pgbak_stored_bytes_total", MetricType::kCounter,
              "Bytes stored by the succeeded backups recorded in backup_log, expired "
              "ones included.");
  PerDatabase(text, databases, 11, "pgbak_retained_bytes", MetricType::kGauge,
              "Bytes held in storage by the backups not yet expired.");

  if (has_usage) {
    const struct {
      int column;
      const char* name;
      const char* help;
    } kStorageFamilies[] = {
        {1, "pgbak_storage_used_bytes",
         "Bytes of the backup sets held in the storage (succeeded or expiring; data and globals "
         "objects), from backup_log."},
        {2, "pgbak_storage_sets", "Backup sets held in the storage (succeeded or expiring)."},
    };
    for (const auto& family : kStorageFamilies) {
      text.Family(family.name, MetricType::kGauge, family.help);
      for (const auto& row : storages.values)
        text.Sample({{"storage", row[0]}}, std::strtod(row[family.column].c_str(), nullptr));
    }
  }

  WalArchiveMetrics(text);

  // Base backups (version 1.6 on): how many are kept, and the newest.
  bool has_base = false;
  PgCall([&] { has_base = BackupLogHasColumn("wal_first_segment"); });
  if (has_base) {
    Rows base = Query("SELECT count(*), extract(epoch FROM max(finished_at)) FROM " + log +
                      " WHERE kind = 'base' AND status = 'succeeded'");
    text.Family("pgbak_base_backups", MetricType::kGauge,
                "Succeeded base backups of the cluster (kept by retention).");
    text.Sample({}, std::strtod(base.values[0][0].c_str(), nullptr));
    if (!base.nulls[0][1]) {
      text.Family("pgbak_base_backup_last_success_timestamp_seconds", MetricType::kGauge,
                  "When the newest succeeded base backup finished.");
      text.Sample({}, std::strtod(base.values[0][1].c_str(), nullptr));
    }
  }

  std::vector<ProgressSnapshot> running(std::max(SlotCount(), 1));
  int n = 0;
  PgCall([&] { n = CopyProgress(running.data(), static_cast<int>(running.size())); });
  std::map<std::string, int> by_kind = {{"backup", 0}, {"verify", 0}, {"restore", 0}};
  for (int i = 0; i < n; i++)
    by_kind[running[i].kind]++;
  text.Family("pgbak_running_operations", MetricType::kGauge, "Operations running now, by kind.");
  for (const auto& [kind, count] : by_kind)
    text.Sample({{"kind", kind}}, count);
  text.Family("pgbak_queued_operations", MetricType::kGauge, "Operations waiting for a worker.");
  text.Sample({}, std::strtod(queue.values.at(0).at(0).c_str(), nullptr));
  text.Family("pgbak_webhook_failures_total", MetricType::kCounter,
              "Webhook notifications that could not be delivered (in backup_log).");
  text.Sample({}, std::strtod(queue.values.at(0).at(1).c_str(), nullptr));
  return text.Text();
}

}  // namespace pgbak

using namespace pgbak;

// pgbak_metrics returns the Prometheus text exposition.
extern "C" Datum pgbak_metrics(PG_FUNCTION_ARGS) {
  Caller caller = EnterAsOwner();
  RequireRole(caller, PgbakRole::kMonitor, "read the metrics");
  if (SPI_connect() != SPI_OK_CONNECT)
    elog(ERROR, "SPI_connect failed");
  char* result = nullptr;
  Failure failure;
  CatchCore(failure, [&] {
    std::string text = RenderMetrics();
    PgCall([&] { result = static_cast<char*>(SPI_palloc(text.size() + 1)); });
    memcpy(result, text.c_str(), text.size() + 1);
  });
  SPI_finish();
  ReportFailure(failure);
  LeaveAsOwner(caller);
  PG_RETURN_TEXT_P(cstring_to_text(result));
}
