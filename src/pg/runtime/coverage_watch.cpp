// coverage_watch.cpp: the launcher's look-out for new databases that no job
// covers.
//
// backup_status says at any time which databases no job covers; this adds
// the moment one appears, so that a database created for a new application
// is not found unprotected only at the next audit. A database is judged
// once, after it has existed for kGraceSeconds, and remembered by OID in
// pgbak_database_seen whatever the verdict: the event says "a new database
// appeared unprotected", not "a database is unprotected" (that is
// backup_status.unprotected and the metric pgbak_database_unprotected).
// Databases that exist when the extension is installed or updated were never
// new. One that appears excluded (a template, a restore's target being
// built) is recorded as such and not announced.

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
#include <string>
#include <vector>

#include "pg/boundary/boundary.h"
#include "pg/boundary/transaction.h"
#include "pg/catalog/catalog.h"
#include "pg/runtime/coverage_watch.h"

namespace pgbak {

namespace {

// How long a new database exists before it is judged: a restore drill or a
// restore records the OID of the database it created in the statement after
// CREATE DATABASE, and must not be mistaken for a user's new database.
constexpr std::time_t kGraceSeconds = 2;

// first_seen keeps when this launcher first saw each database not yet in
// pgbak_database_seen.
std::map<Oid, std::time_t> first_seen;

// Exec runs one statement with parameters or raises; returns the rows.
int64 Exec(const std::string& sql, int expected, int nargs, Oid* types, Datum* values) {
  int64 count = 0;
  PgCall([&] {
    int rc = SPI_execute_with_args(sql.c_str(), nargs, types, values, nullptr, false, 0);
    if (rc != expected)
      elog(ERROR, "SPI_execute failed (%d): %s", rc, sql.c_str());
    count = SPI_processed;
  });
  return count;
}

}  // namespace

// WatchNewDatabases judges the databases that appeared since the last look.
long WatchNewDatabases() {
  long wait_ms = kNoLookNeeded;
  RunInTransaction([&] {
    bool installed = false;
    PgCall([&] { installed = CatalogRelationExists("pgbak_database_seen"); });
    if (!installed)
      return;
    std::string seen = QuotedRelation("pgbak_database_seen");
    std::string status = QuotedRelation("backup_status");
    // A dropped database's row goes once its webhook is settled.
    Exec("DELETE FROM " + seen +
             " s WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database d "
             "WHERE d.oid = s.database_oid) "
             "AND coalesce(s.webhook_status, '') NOT IN ('pending', 'sending')",
         SPI_OK_DELETE, 0, nullptr, nullptr);
    int64 count = Exec(
        "SELECT d.oid FROM pg_catalog.pg_database d WHERE NOT EXISTS "
        "(SELECT FROM " +
            seen + " s WHERE s.database_oid = d.oid)",
        SPI_OK_SELECT, 0, nullptr, nullptr);
    std::vector<Oid> fresh;
    PgCall([&] {
      for (int64 i = 0; i < count; i++) {
        bool isnull = false;
        fresh.push_back(DatumGetObjectId(
            SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)));
      }
    });
    std::time_t now = std::time(nullptr);
    std::map<Oid, std::time_t> still_new;
    for (Oid oid : fresh) {
      auto known = first_seen.find(oid);
      std::time_t since = known != first_seen.end() ? known->second : now;
      if (now - since < kGraceSeconds) {
        still_new[oid] = since;
        long until_ms = static_cast<long>(since + kGraceSeconds - now) * 1000;
        if (wait_ms == kNoLookNeeded || until_ms < wait_ms)
          wait_ms = until_ms;
        continue;
      }
      // backup_status decides, so that the event and the view agree.
      std::string judge = "INSERT INTO " + seen +
                          " (database_oid, database_name, unprotected, webhook_status) "
                          "SELECT d.oid, d.datname, s.unprotected, "
                          "CASE WHEN s.unprotected AND current_setting('pgbak.webhook_url') <> '' "
                          "THEN 'pending' END FROM pg_catalog.pg_database d JOIN " +
                          status +
                          " s ON s.database_name = d.datname WHERE d.oid = $1 "
                          "ON CONFLICT (database_oid) DO NOTHING "
                          "RETURNING database_name::text, unprotected";
      Oid types[1] = {OIDOID};
      Datum values[1] = {ObjectIdGetDatum(oid)};
      if (Exec(judge, SPI_OK_INSERT_RETURNING, 1, types, values) != 1)
        continue;  // dropped meanwhile
      const char* name_text = nullptr;
      bool unprotected = false;
      PgCall([&] {
        bool isnull = false;
        name_text = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
        unprotected =
            DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
      });
      std::string name = name_text != nullptr ? name_text : "";
      if (!unprotected)
        continue;
      // Announced like a status change: only while the NOTIFY queue has
      // room (see pgbak_state_change), else in the server log.
      std::string notify =
          "SELECT pg_catalog.pg_notify('pgbak', json_build_object('event', "
          "'database_unprotected', 'database', d.datname, 'database_oid', d.oid)::text) "
          "FROM pg_catalog.pg_database d WHERE d.oid = $1 AND "
          "pg_catalog.pg_notification_queue_usage() <= coalesce(nullif(current_setting("
          "'pgbak.notify_queue_limit', true), '')::float8, 0.5)";
      Exec(notify, SPI_OK_SELECT, 1, types, values);
      PgCall([&] {
        ereport(LOG, (errmsg("pgbak: new database \"%s\" is not covered by any backup job",
                             name.c_str()),
                      errhint("Schedule a job for it, or one over every database with "
                              "pgbak_schedule(job, '*', ...); list it in "
                              "pgbak.exclude_databases if it needs no backup.")));
      });
    }
    first_seen = std::move(still_new);
  });
  return wait_ms;
}

}  // namespace pgbak
