// notifier.cpp: the launcher's webhook deliveries.
//
// The backup_log trigger marks a row 'pending' when it reaches a final state
// that the configured webhook wants. The launcher picks pending rows up,
// marks them 'sending', hands them to a WebhookSender (its own thread, no
// PostgreSQL calls) and records each outcome when it comes back. A dead or
// slow receiver therefore never blocks or fails a backup, nor the launcher.
// A launcher that restarts sends the rows it left 'sending' again: delivery is
// at least once. The same goes for the event tables: pgbak_database_seen,
// whose rows announce a new database that no job covers (coverage_watch.cpp),
// and pgbak_wal_event, whose rows say that WAL archiving started failing or
// recovered (wal_watch.cpp).

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
}

#include <memory>
#include <string>
#include <vector>

#include "core/base/json.h"
#include "core/notify/webhook.h"
#include "pg/boundary/boundary.h"
#include "pg/boundary/transaction.h"
#include "pg/catalog/catalog.h"
#include "pg/runtime/notifier.h"
#include "pg/runtime/settings.h"

namespace pgbak {

namespace {

// How many pending rows one pass hands over at most.
constexpr int kBatch = 20;

// What a webhook request's id is: a backup_log id, or the key of a row of an
// event table (its index in kEventTables plus one).
constexpr int kOperationTopic = 0;

// EventTable is a table of events announced by webhook, each row once.
struct EventTable {
  const char* relation;
  const char* key;  // its key column, and the key's SQL type
  const char* key_type;
  const char* columns;   // what Body reads after the key, in order
  const char* order_by;  // oldest first
  const char* what;      // a row, in the log: "<what> <key>"
  std::string (*body)(const std::vector<std::string>& row);
};

// DatabaseBody announces a new database that no job covers.
std::string DatabaseBody(const std::vector<std::string>& row) {
  json::Value body = json::Value::Object();
  body.Set("text", json::Value::String("pgbak: new database \"" + row[1] +
                                       "\" is not covered by any backup job"));
  body.Set("event", json::Value::String("database_unprotected"));
  body.Set("database", json::Value::String(row[1]));
  body.Set("database_oid", json::Value::NumberLexeme(row[0]));
  body.Set("seen_at", json::Value::String(row[2]));
  return body.Serialize();
}

// WalBody announces that WAL archiving started failing, or recovered.
std::string WalBody(const std::vector<std::string>& row) {
  const std::string& event = row[1];
  bool failing = event == "wal_archive_failing";
  std::string text = failing ? "pgbak: WAL archiving is failing at " + row[2] +
                                   (row[3].empty() ? "" : ": " + row[3])
                             : "pgbak: WAL archiving recovered, " + row[2] + " archived";
  json::Value body = json::Value::Object();
  body.Set("text", json::Value::String(text));
  body.Set("event", json::Value::String(event));
  body.Set("id", json::Value::NumberLexeme(row[0]));
  body.Set("wal_file", row[2].empty() ? json::Value() : json::Value::String(row[2]));
  body.Set("error", row[3].empty() ? json::Value() : json::Value::String(row[3]));
  body.Set("occurred_at", json::Value::String(row[4]));
  return body.Serialize();
}

const EventTable kEventTables[] = {
    {"pgbak_database_seen", "database_oid", "oid", "database_name::text, seen_at::text", "seen_at",
     "new database OID", DatabaseBody},
    {"pgbak_wal_event", "id", "bigint", "event, wal_file, error_message, occurred_at::text", "id",
     "WAL archive event", WalBody},
};

// TopicOf is the webhook topic of event table t.
int TopicOf(size_t t) {
  return static_cast<int>(t) + 1;
}

std::unique_ptr<WebhookSender> sender;

// Exec runs one statement with text parameters (NULL for empty) or raises.
void Exec(const std::string& sql, int expected, const std::vector<std::string>& params) {
  PgCall([&] {
    int nargs = static_cast<int>(params.size());
    Oid types[8];
    Datum values[8];
    char nulls[8];
    for (int i = 0; i < nargs && i < 8; i++) {
      types[i] = TEXTOID;
      values[i] = CStringGetTextDatum(params[i].c_str());
      nulls[i] = ' ';
    }
    int rc = SPI_execute_with_args(sql.c_str(), nargs, types, values, nulls, false, 0);
    if (rc != expected)
      elog(ERROR, "SPI_execute failed (%d): %s", rc, sql.c_str());
  });
}

// Column reads column c of row r of the last result ("" for NULL).
std::string Column(int64 r, int c) {
  const char* value = nullptr;
  PgCall([&] { value = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c); });
  return value != nullptr ? value : "";
}

// Payload is the JSON body for one row: the fields a script wants, plus a
// "text" line that Slack-compatible receivers display as the message.
std::string Payload(const std::vector<std::string>& row) {
  const std::string& id = row[0];
  const std::string& kind = row[1];
  const std::string& database = row[2];
  const std::string& status = row[3];
  const std::string& error = row[6];
  std::string text = "pgbak: " + kind + " " + id + " of database \"" + database + "\" " + status;
  if (!error.empty())
    text += ": " + error;
  json::Value body = json::Value::Object();
  body.Set("text", json::Value::String(text));
  body.Set("id", json::Value::NumberLexeme(id));
  body.Set("kind", json::Value::String(kind));
  body.Set("database", json::Value::String(database));
  body.Set("status", json::Value::String(status));
  body.Set("trigger", json::Value::String(row[4]));
  body.Set("job_name", row[5].empty() ? json::Value() : json::Value::String(row[5]));
  body.Set("error", error.empty() ? json::Value() : json::Value::String(error));
  body.Set("started_at", row[7].empty() ? json::Value() : json::Value::String(row[7]));
  body.Set("finished_at", row[8].empty() ? json::Value() : json::Value::String(row[8]));
  body.Set("location", row[9].empty() ? json::Value() : json::Value::String(row[9]));
  body.Set("stored_bytes", row[10].empty() ? json::Value() : json::Value::NumberLexeme(row[10]));
  return body.Serialize();
}

// RecordResults writes the outcomes that came back since the last pass.
void RecordResults(const std::string& log) {
  if (!sender)
    return;
  std::vector<WebhookResult> results = sender->TakeResults();
  if (results.empty())
    return;
  std::string sql = "UPDATE " + log +
                    " SET webhook_status = $2, webhook_attempts = $3::integer "
                    "WHERE id = $1::bigint";
  std::vector<std::string> event_sql;
  RunInTransaction([&] {
    for (const EventTable& table : kEventTables)
      event_sql.push_back("UPDATE " + QuotedRelation(table.relation) +
                          " SET webhook_status = $2, webhook_attempts = $3::integer WHERE " +
                          table.key + " = $1::" + table.key_type);
  });
  RunInTransaction([&] {
    for (const WebhookResult& result : results) {
      std::string status = result.delivered ? "delivered" : "failed: " + result.error;
      Exec(result.topic == kOperationTopic ? sql : event_sql[result.topic - 1], SPI_OK_UPDATE,
           {std::to_string(result.id), status, std::to_string(result.attempts)});
    }
  });
  for (const WebhookResult& result : results) {
    if (result.delivered)
      continue;
    std::string line =
        (result.topic == kOperationTopic
             ? std::string("pgbak: webhook for operation ")
             : std::string("pgbak: webhook for ") + kEventTables[result.topic - 1].what + " ") +
        std::to_string(result.id) + " not delivered after " + std::to_string(result.attempts) +
        " attempts: " + result.error;
    PgCall([&] { ereport(WARNING, (errmsg("%s", line.c_str()))); });
  }
}

// DeliverEventWebhooks hands over the pending rows of an event table; they
// go to pgbak.webhook_url.
void DeliverEventWebhooks(size_t t) {
  const EventTable& table = kEventTables[t];
  std::vector<std::vector<std::string>> rows;
  std::string url = setting_webhook_url != nullptr ? setting_webhook_url : "";
  std::string relation;
  RunInTransaction([&] {
    bool exists = false;
    PgCall([&] { exists = CatalogRelationExists(table.relation); });
    if (!exists)
      return;
    relation = QuotedRelation(table.relation);
    std::string sql = std::string("SELECT ") + table.key + "::text, " + table.columns + " FROM " +
                      relation + " WHERE webhook_status = 'pending' ORDER BY " + table.order_by +
                      " LIMIT " + std::to_string(kBatch) + " FOR UPDATE SKIP LOCKED";
    int64 count = 0;
    int columns = 0;
    PgCall([&] {
      if (SPI_execute(sql.c_str(), false, 0) != SPI_OK_SELECT)
        elog(ERROR, "could not read pending webhooks");
      count = SPI_processed;
      columns = SPI_tuptable->tupdesc->natts;
    });
    for (int64 r = 0; r < count; r++) {
      std::vector<std::string> row;
      for (int c = 1; c <= columns; c++)
        row.push_back(Column(r, c));
      rows.push_back(std::move(row));
    }
    std::string mark = "UPDATE " + relation + " SET webhook_status = $2 WHERE " + table.key +
                       " = $1::" + table.key_type;
    for (const std::vector<std::string>& row : rows)
      Exec(mark, SPI_OK_UPDATE,
           {row[0], url.empty() ? "not sent: no webhook configured any more" : "sending"});
  });
  if (url.empty())
    return;
  for (const std::vector<std::string>& row : rows) {
    if (!sender)
      sender = std::make_unique<WebhookSender>();
    WebhookRequest request;
    request.id = std::stoll(row[0]);
    request.topic = TopicOf(t);
    request.url = url;
    request.body = table.body(row);
    if (!sender->Enqueue(std::move(request))) {
      std::string sql = "UPDATE " + relation +
                        " SET webhook_status = 'failed: delivery queue full' WHERE " + table.key +
                        " = $1::" + table.key_type;
      RunInTransaction([&] { Exec(sql, SPI_OK_UPDATE, {row[0]}); });
    }
  }
}

}  // namespace

// ResendInterrupted makes rows a previous launcher left 'sending' pending.
void ResendInterrupted() {
  RunInTransaction([&] {
    std::string sql = "UPDATE " + QuotedRelation("backup_log") +
                      " SET webhook_status = 'pending' WHERE webhook_status = 'sending'";
    Exec(sql, SPI_OK_UPDATE, {});
    for (const EventTable& table : kEventTables) {
      bool exists = false;
      PgCall([&] { exists = CatalogRelationExists(table.relation); });
      if (!exists)
        continue;
      Exec("UPDATE " + QuotedRelation(table.relation) +
               " SET webhook_status = 'pending' WHERE webhook_status = 'sending'",
           SPI_OK_UPDATE, {});
    }
  });
}

// DeliverWebhooks records finished deliveries and hands over pending rows.
void DeliverWebhooks() {
  // Names are looked up inside a transaction (the catalog needs one).
  std::string log, jobs;
  RunInTransaction([&] {
    log = QuotedRelation("backup_log");
    jobs = QuotedRelation("pgbak_job");
  });
  RecordResults(log);

  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> urls;
  RunInTransaction([&] {
    std::string sql =
        "SELECT l.id, l.kind, l.database_name, l.status, l.trigger, l.job_name, "
        "l.error_message, l.started_at, l.finished_at, l.location, l.stored_bytes, "
        "j.options ->> 'webhook_url' FROM " +
        log + " l LEFT JOIN " + jobs +
        " j ON j.job_name = l.job_name WHERE l.webhook_status = 'pending' ORDER BY l.id LIMIT " +
        std::to_string(kBatch) + " FOR UPDATE OF l SKIP LOCKED";
    int64 count = 0;
    PgCall([&] {
      if (SPI_execute(sql.c_str(), false, 0) != SPI_OK_SELECT)
        elog(ERROR, "could not read pending webhooks");
      count = SPI_processed;
    });
    for (int64 r = 0; r < count; r++) {
      std::vector<std::string> row;
      for (int c = 1; c <= 12; c++)
        row.push_back(Column(r, c));
      rows.push_back(std::move(row));
    }
    std::string mark = "UPDATE " + log + " SET webhook_status = $2 WHERE id = $1::bigint";
    for (const std::vector<std::string>& row : rows) {
      std::string url =
          !row[11].empty() ? row[11] : (setting_webhook_url != nullptr ? setting_webhook_url : "");
      if (url.empty()) {
        Exec(mark, SPI_OK_UPDATE, {row[0], "not sent: no webhook configured any more"});
        urls.emplace_back();
        continue;
      }
      Exec(mark, SPI_OK_UPDATE, {row[0], "sending"});
      urls.push_back(url);
    }
  });
  for (size_t i = 0; i < rows.size(); i++) {
    if (urls[i].empty())
      continue;
    if (!sender)
      sender = std::make_unique<WebhookSender>();
    WebhookRequest request;
    request.id = std::stoll(rows[i][0]);
    request.topic = kOperationTopic;
    request.url = urls[i];
    request.body = Payload(rows[i]);
    if (!sender->Enqueue(std::move(request))) {
      std::string sql = "UPDATE " + log +
                        " SET webhook_status = 'failed: delivery queue full' WHERE id = $1::bigint";
      RunInTransaction([&] { Exec(sql, SPI_OK_UPDATE, {rows[i][0]}); });
    }
  }
  for (size_t t = 0; t < sizeof kEventTables / sizeof kEventTables[0]; t++)
    DeliverEventWebhooks(t);
}

// WebhooksInFlight says whether deliveries are still under way.
bool WebhooksInFlight() {
  return sender && sender->Pending() > 0;
}

// StopWebhooks stops the delivery thread (at launcher exit).
void StopWebhooks() {
  sender.reset();
}

}  // namespace pgbak
