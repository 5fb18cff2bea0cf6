// coverage_watch.h: the launcher's look-out for new databases that no job
// covers.
//
// Include after postgres.h.
#pragma once

namespace pgbak {

// kNoLookNeeded is what WatchNewDatabases returns when no database waits to
// be judged.
constexpr long kNoLookNeeded = -1;

// WatchNewDatabases records in pgbak_database_seen each database that has
// appeared since the last look and has existed for a short grace period
// (a restore drill records its scratch database's OID right after creating
// it), and announces those that no job covers and that are not excluded:
// NOTIFY pgbak with {"event": "database_unprotected", ...}, and a pending
// webhook when pgbak.webhook_url is set. Rows of dropped databases are
// forgotten. Returns the milliseconds until a database waiting out its
// grace period should be looked at, or kNoLookNeeded. Opens its own
// transaction; does nothing before version 1.5's schema.
long WatchNewDatabases();

}  // namespace pgbak
