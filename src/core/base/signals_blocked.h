// signals_blocked.h: starting threads that never run a signal handler.
//
// Our threads live inside PostgreSQL processes whose handlers (SIGTERM,
// SIGHUP, latch wake-ups) must run on the main thread only; a thread inherits
// the signal mask of the thread that creates it, so every thread we (or a
// library such as libzstd) create is created while all signals are blocked.
#pragma once

#include <pthread.h>
#include <signal.h>

namespace pgbak {

// AllSignalsBlocked blocks every signal in the calling thread for its
// lifetime, so threads created meanwhile start with a fully blocked mask.
class AllSignalsBlocked {
 public:
  AllSignalsBlocked() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old_mask_);
  }
  ~AllSignalsBlocked() { pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr); }
  AllSignalsBlocked(const AllSignalsBlocked&) = delete;
  AllSignalsBlocked& operator=(const AllSignalsBlocked&) = delete;

 private:
  sigset_t old_mask_;
};

}  // namespace pgbak
