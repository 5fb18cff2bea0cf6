// worker_signals.cpp: stop requests and waiting in an operation worker.

extern "C" {
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "storage/procsignal.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/timeout.h"
#include "utils/wait_event.h"
}

#include <csignal>

#include "pg/boundary/boundary.h"
#include "pg/runtime/shared_state.h"
#include "pg/runtime/worker_signals.h"

namespace pgbak {

namespace {

volatile sig_atomic_t terminate_requested = false;
volatile sig_atomic_t cancel_signal_received = false;
bool postmaster_died = false;

// HandleSigterm notes the request and wakes the main loop; the loop stops
// the child, removes partial objects and records the outcome itself.
void HandleSigterm(SIGNAL_ARGS) {
  int save_errno = errno;
  terminate_requested = true;
  SetLatch(MyLatch);
  errno = save_errno;
}

// HandleSigint turns pg_cancel_backend into a cancel of the operation. The
// default handler would instead make the next transaction fail, losing the
// outcome (or a complete backup) while the row stays 'running'. But
// PostgreSQL's own lock_timeout and statement_timeout also end a wait by
// sending the backend SIGINT, after marking which timeout fired: that one
// goes to PostgreSQL's handler, so that the wait ends in its usual error
// ("canceling statement due to lock timeout") instead of going on until the
// lock is free and then passing for a cancel. The operation's children run
// in process groups of their own, so neither signal reaches them: only the
// worker decides how they stop.
void HandleSigint(SIGNAL_ARGS) {
  if (get_timeout_indicator(LOCK_TIMEOUT, false) ||
      get_timeout_indicator(STATEMENT_TIMEOUT, false)) {
    StatementCancelHandler(postgres_signal_arg);
    return;
  }
  int save_errno = errno;
  cancel_signal_received = true;
  SetLatch(MyLatch);
  errno = save_errno;
}

}  // namespace

// InstallWorkerSignalHandlers sets SIGTERM, SIGINT and SIGHUP handling.
void InstallWorkerSignalHandlers() {
  pqsignal(SIGTERM, HandleSigterm);
  pqsignal(SIGINT, HandleSigint);
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
}

// StopReason says why an operation must stop now, or "".
std::string StopReason() {
  if (postmaster_died)
    return "the postmaster died";
  if (terminate_requested)
    return "the worker was terminated (server shutdown or pg_terminate_backend)";
  if (CancelRequested())
    return "cancelled by pgbak_cancel";
  if (cancel_signal_received)
    return "cancelled by pg_cancel_backend";
  return "";
}

// StopIsCancel is true if the stop was asked for with pgbak_cancel or
// pg_cancel_backend.
bool StopIsCancel() {
  return !postmaster_died && !terminate_requested && (CancelRequested() || cancel_signal_received);
}

// WaitForInput sleeps until input, a latch set or a timeout.
void WaitForInput(const std::vector<int>& fds, long timeout_ms, std::vector<int>& ready) {
  ready.clear();
  constexpr int kMaxEvents = 8;
  WaitEvent events[kMaxEvents];
  int count = 0;
  int nfds = static_cast<int>(fds.size());
  if (nfds > kMaxEvents - 2)
    throw Error(ErrorKind::kInternal, "too many descriptors to wait on");
  PgCall([&] {
    WaitEventSet* set = CreateWaitEventSet(CurrentMemoryContext, nfds + 2);
    AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, nullptr);
    AddWaitEventToSet(set, WL_POSTMASTER_DEATH, PGINVALID_SOCKET, nullptr, nullptr);
    for (int i = 0; i < nfds; i++)
      if (fds[i] >= 0)
        AddWaitEventToSet(set, WL_SOCKET_READABLE, fds[i], nullptr, nullptr);
    count = WaitEventSetWait(set, timeout_ms, events, kMaxEvents, PG_WAIT_EXTENSION);
    FreeWaitEventSet(set);
  });
  for (int i = 0; i < count; i++) {
    if (events[i].events & WL_LATCH_SET) {
      PgCall([] {
        ResetLatch(MyLatch);
        // DROP DATABASE and friends wait for every backend to absorb a
        // barrier; a long backup must not hold them up.
        if (ProcSignalBarrierPending)
          ProcessProcSignalBarrier();
        if (ConfigReloadPending) {
          ConfigReloadPending = false;
          ProcessConfigFile(PGC_SIGHUP);
        }
      });
    }
    if (events[i].events & WL_POSTMASTER_DEATH)
      postmaster_died = true;
    if (events[i].events & WL_SOCKET_READABLE)
      ready.push_back(events[i].fd);
  }
}

}  // namespace pgbak
