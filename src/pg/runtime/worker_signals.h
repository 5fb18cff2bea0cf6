// worker_signals.h: how a running operation learns that it must stop, and
// how it waits for input without missing that.
//
// Include after postgres.h.
#pragma once

#include <string>
#include <vector>

namespace pgbak {

// InstallWorkerSignalHandlers replaces the default SIGTERM handler (which
// would longjmp out of C++ code) with one that sets a flag and the latch, and
// makes SIGINT from pg_cancel_backend a cancel of the operation, while the
// SIGINT that PostgreSQL's lock_timeout and statement_timeout send still ends
// the wait with their error.
void InstallWorkerSignalHandlers();

// StopReason says why an operation must stop now: "" if it need not, else a
// message (cancelled by pgbak_cancel, terminated, postmaster died).
std::string StopReason();
// StopIsCancel is true if the stop was asked for with pgbak_cancel.
bool StopIsCancel();

// WaitForInput sleeps until one of fds is readable (or at end of file), the
// latch is set, or timeout_ms passes (-1: no timeout); ready gets the
// readable fds. Postmaster death is noted for StopReason.
void WaitForInput(const std::vector<int>& fds, long timeout_ms, std::vector<int>& ready);

}  // namespace pgbak
