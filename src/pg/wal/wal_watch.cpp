// wal_watch.cpp: see wal_watch.h.
//
// The state (failing or not) is what was last announced: the newest row of
// pgbak_wal_event when the launcher starts (or the table is new), then what
// this launcher recorded and committed. The archiver's counters start again with the server; the
// announced state does not, so a failure that outlives a restart is not
// announced twice, and its recovery after the restart is announced.

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "access/xact.h"
}

#include <cstring>
#include <ctime>
#include <string>

#include "pg/boundary/boundary.h"
#include "pg/boundary/transaction.h"
#include "pg/catalog/catalog.h"
#include "pg/wal/wal_archive_status.h"
#include "pg/wal/wal_watch.h"

namespace pgbak {

namespace {

// kFailingSeconds is how long archiving fails before that is announced.
constexpr std::time_t kFailingSeconds = 30;

enum class Announced { kUnknown, kArchiving, kFailing };
Announced announced = Announced::kUnknown;
Oid announced_in = InvalidOid;  // the pgbak_wal_event it was read from or written to
std::time_t failing_since = 0;  // when this launcher first saw the failure (0: not failing)

// Record inserts an event, announces it on NOTIFY (while the queue has
// room, as status changes are) and in the server log.
void Record(const std::string& relation, const char* event, const std::string& file,
            const std::string& error) {
  std::string sql =
      "WITH e AS (INSERT INTO " + relation +
      " (event, wal_file, error_message, webhook_status) VALUES ($1, $2, nullif($3, ''), "
      "CASE WHEN current_setting('pgbak.webhook_url') <> '' THEN 'pending' END) "
      "RETURNING id, event, wal_file, error_message) "
      "SELECT pg_catalog.pg_notify('pgbak', json_build_object('event', e.event, 'id', e.id, "
      "'wal_file', e.wal_file, 'error', e.error_message)::text) FROM e WHERE "
      "pg_catalog.pg_notification_queue_usage() <= coalesce(nullif(current_setting("
      "'pgbak.notify_queue_limit', true), '')::float8, 0.5)";
  PgCall([&] {
    std::string valid_file = ValidText(file.c_str());
    std::string valid_error = ValidText(error.c_str());
    Oid types[3] = {TEXTOID, TEXTOID, TEXTOID};
    Datum values[3] = {CStringGetTextDatum(event), CStringGetTextDatum(valid_file.c_str()),
                       CStringGetTextDatum(valid_error.c_str())};
    if (SPI_execute_with_args(sql.c_str(), 3, types, values, nullptr, false, 0) != SPI_OK_SELECT)
      elog(ERROR, "could not record a WAL archive event");
    if (std::strcmp(event, "wal_archive_failing") == 0)
      ereport(WARNING,
              (errmsg("pgbak: WAL archiving is failing at \"%s\"", valid_file.c_str()),
               errdetail("%s", valid_error.c_str()),
               errhint("WAL is kept in pg_wal until it is archived; see pgbak_wal_status.")));
    else
      ereport(LOG, (errmsg("pgbak: WAL archiving recovered: \"%s\" archived", valid_file.c_str())));
  });
}

}  // namespace

void WatchWalArchive() {
  bool here = false;
  PgCall([&] { here = ArchivingThroughPgbak(); });
  if (!here)
    return;
  WalArchiveSnapshot wal;
  if (!ReadWalArchiveStatus(wal))
    return;
  bool failing = wal.last_failed_at != 0 && wal.last_failed_at > wal.last_archived_at;
  bool archiving = wal.last_archived_at != 0 && wal.last_archived_at >= wal.last_failed_at;
  if (!failing && !archiving)
    return;  // nothing tried since the server started
  // A failure is announced once it has lasted kFailingSeconds: PostgreSQL
  // retries a file three times a second apart, then again a minute later,
  // and one that goes through on a retry was a blip, not an outage.
  std::time_t now = std::time(nullptr);
  if (!failing)
    failing_since = 0;
  else if (failing_since == 0)
    failing_since = now;
  Announced next = announced;
  Oid table_oid = InvalidOid;
  RunInTransaction([&] {
    bool installed = false;
    PgCall([&] { installed = CatalogRelationExists("pgbak_wal_event"); });
    if (!installed)
      return;
    std::string relation = QuotedRelation("pgbak_wal_event");
    PgCall([&] {
      std::string sql = "SELECT '" + relation + "'::regclass::oid";
      if (SPI_execute(sql.c_str(), true, 1) != SPI_OK_SELECT || SPI_processed != 1)
        elog(ERROR, "could not find pgbak_wal_event");
      bool isnull = false;
      table_oid =
          DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    });
    // A new table (the extension created again) knows nothing announced.
    if (table_oid != announced_in)
      next = Announced::kUnknown;
    if (next == Announced::kUnknown) {
      std::string last;
      PgCall([&] {
        std::string sql = "SELECT event FROM " + relation + " ORDER BY id DESC LIMIT 1";
        if (SPI_execute(sql.c_str(), true, 1) != SPI_OK_SELECT)
          elog(ERROR, "could not read the last WAL archive event");
        if (SPI_processed > 0) {
          const char* value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
          last = value != nullptr ? value : "";
        }
      });
      next = last == "wal_archive_failing" ? Announced::kFailing : Announced::kArchiving;
    }
    if (failing && next != Announced::kFailing && now - failing_since >= kFailingSeconds) {
      Record(relation, "wal_archive_failing", wal.last_failed, wal.last_error);
      next = Announced::kFailing;
    } else if (archiving && next == Announced::kFailing) {
      Record(relation, "wal_archive_recovered", wal.last_archived, "");
      next = Announced::kArchiving;
    }
  });
  // Only what was committed counts as announced.
  if (table_oid != InvalidOid) {
    announced = next;
    announced_in = table_oid;
  }
}

}  // namespace pgbak
