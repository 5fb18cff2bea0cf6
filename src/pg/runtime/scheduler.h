// scheduler.h: the launcher's scheduling pass.
//
// Include after postgres.h.
#pragma once

namespace pgbak {

// kNoJobDue is what RunScheduler returns when no job exists.
constexpr long kNoJobDue = -1;

// RunScheduler queues a run of every due job (or records it as skipped while
// its previous run is active) and computes next run times; returns the
// milliseconds until the next job is due, or kNoJobDue. Opens its own
// transaction.
long RunScheduler();

// MaybeTrimHistory applies pgbak.log_retention to backup_log, at most hourly.
void MaybeTrimHistory();

}  // namespace pgbak
