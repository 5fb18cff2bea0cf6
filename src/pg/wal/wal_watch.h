// wal_watch.h: the launcher's look-out for WAL archiving that starts
// failing, and for its recovery.
//
// Include after postgres.h.
#pragma once

namespace pgbak {

// WatchWalArchive compares the archiver's status (shared memory) with what
// was last announced, and when archiving started failing (the last attempt
// failed, after one that did not, and nothing went through for 30 s since
// this launcher saw it) or recovered (a file was archived after a
// failure), records the event in pgbak_wal_event, announces it on NOTIFY
// pgbak ({"event": "wal_archive_failing" | "wal_archive_recovered", ...})
// and, with pgbak.webhook_url, leaves a pending webhook. Does nothing unless
// archive_library is pgbak_ext, or before version 1.6's schema. Opens its
// own transaction.
void WatchWalArchive();

}  // namespace pgbak
