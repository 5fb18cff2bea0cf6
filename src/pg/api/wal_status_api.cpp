// wal_status_api.cpp: pgbak_wal_archive_status(), the archiver's status
// (archive_library = 'pgbak_ext') as one row, for pgbak_monitor.
//
// Declared by pgbak_ext--1.5--1.6.sql; the view pgbak_wal_status is built on
// it.

extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(pgbak_wal_archive_status);
}

#include "pg/api/privileges.h"
#include "pg/catalog/catalog.h"
#include "pg/wal/wal_archive_status.h"

using namespace pgbak;

// pgbak_wal_archive_status returns last_archived_wal, last_archived_time,
// archived_count, pushed_ahead_count, already_archived_count, failed_count,
// last_failed_wal, last_failed_time, last_error (NULLs where nothing
// happened yet), counted since the server started, and what waits to be
// archived now: waiting_files and waiting_since (the oldest .ready file's
// time; NULL if none).
extern "C" Datum pgbak_wal_archive_status(PG_FUNCTION_ARGS) {
  Caller caller = EnterAsOwner();
  RequireRole(caller, PgbakRole::kMonitor, "read the WAL archive's status");
  LeaveAsOwner(caller);
  TupleDesc descriptor;
  if (get_call_result_type(fcinfo, nullptr, &descriptor) != TYPEFUNC_COMPOSITE ||
      descriptor->natts != 11)
    elog(ERROR, "pgbak_wal_archive_status must be declared with 11 OUT columns");
  descriptor = BlessTupleDesc(descriptor);
  WalArchiveSnapshot wal;
  memset(&wal, 0, sizeof(wal));
  ReadWalArchiveStatus(wal);
  WalWaiting waiting = ReadWalWaiting();
  Datum values[11];
  bool nulls[11] = {false};
  bool archived = wal.last_archived_at != 0;
  bool failed = wal.last_failed_at != 0;
  values[0] = archived ? CStringGetTextDatum(wal.last_archived) : (nulls[0] = true, Datum(0));
  values[1] = archived ? TimestampTzGetDatum(wal.last_archived_at) : (nulls[1] = true, Datum(0));
  values[2] = Int64GetDatum(wal.archived_count);
  values[3] = Int64GetDatum(wal.pushed_ahead_count);
  values[4] = Int64GetDatum(wal.already_archived_count);
  values[5] = Int64GetDatum(wal.failed_count);
  values[6] = failed ? CStringGetTextDatum(wal.last_failed) : (nulls[6] = true, Datum(0));
  values[7] = failed ? TimestampTzGetDatum(wal.last_failed_at) : (nulls[7] = true, Datum(0));
  // Cut at a byte limit and partly the storage's own words: made valid text.
  values[8] = failed ? CStringGetTextDatum(ValidText(wal.last_error)) : (nulls[8] = true, Datum(0));
  values[9] = Int64GetDatum(waiting.files);
  values[10] = waiting.oldest_since != 0 ? TimestampTzGetDatum(waiting.oldest_since)
                                         : (nulls[10] = true, Datum(0));
  PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(descriptor, values, nulls)));
}
