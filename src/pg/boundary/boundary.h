// boundary.h: the one place where C++ exceptions and PostgreSQL errors meet.
//
// Two rules keep the boundary safe. A PostgreSQL error must never longjmp
// over a live C++ object, so C++ code calls PostgreSQL through PgCall, which
// catches the error with PG_TRY and rethrows it as a C++ PgError. A C++
// exception must never escape into PostgreSQL, so every extern "C" entry
// point runs its C++ work through CatchCore, which records the failure in a
// plain struct that ReportFailure turns into an ereport once every C++
// object of the work is gone.
//
// Include after postgres.h.
#pragma once

#include <exception>
#include <string>

#include "core/base/error.h"

namespace pgbak {

// PgError is a PostgreSQL error caught by PgCall and carried as C++.
class PgError : public std::exception {
 public:
  PgError(int sqlerrcode, std::string message, std::string detail, std::string hint)
      : sqlerrcode_(sqlerrcode),
        message_(std::move(message)),
        detail_(std::move(detail)),
        hint_(std::move(hint)) {}
  const char* what() const noexcept override { return message_.c_str(); }
  int sqlerrcode() const { return sqlerrcode_; }
  const std::string& detail() const { return detail_; }
  const std::string& hint() const { return hint_; }

 private:
  int sqlerrcode_;
  std::string message_;
  std::string detail_;
  std::string hint_;
};

// Failure is a caught error in plain storage, safe to keep across an ereport.
struct Failure {
  bool failed = false;
  int sqlerrcode = 0;
  char message[2048] = {0};
  char detail[4096] = {0};
  char hint[1024] = {0};
};

// SqlStateFor maps a core ErrorKind to the SQLSTATE users see.
int SqlStateFor(ErrorKind kind);

// RecordException fills failure from the exception being handled now.
void RecordException(Failure& failure) noexcept;

// CatchCore runs C++ work and records any exception instead of letting it out.
template <typename Work>
void CatchCore(Failure& failure, Work&& work) noexcept {
  try {
    work();
  } catch (...) {
    RecordException(failure);
  }
}

// ReportFailure raises failure as a PostgreSQL ERROR (at elevel ERROR) if set.
// hide_statement keeps the statement out of the server log, for calls whose
// arguments may hold a secret.
void ReportFailure(const Failure& failure, bool hide_statement = false);

// RunHidingStatement runs work(argument), a plain function of PostgreSQL
// calls that may raise errors, so that nothing reported while it runs carries the
// statement into the server log, for SQL functions whose arguments may hold
// a secret. An ERROR is re-raised with errhidestmt; a FATAL (a terminated
// session) or any message while log_min_error_statement is lowered finds no
// statement to print, because debug_query_string is cleared meanwhile (and
// put back on the way out). PostgreSQL logs the statement itself before the
// call when log_statement or a debug level asks for it; that cannot be
// hidden from here.
void RunHidingStatement(void (*work)(void* argument), void* argument);

// CapturePgError is called inside PG_CATCH: copies the current PostgreSQL
// error into TopMemoryContext (never into a context the failed call may have
// deleted, such as SPI's at commit), flushes the error state and switches
// back to context. Only PostgreSQL work: nothing here throws.
ErrorData* CapturePgError(MemoryContext context);
// ThrowPgError frees a captured error and throws it as a PgError.
[[noreturn]] void ThrowPgError(ErrorData* error);

// PgCall runs a PostgreSQL call from C++: a PostgreSQL error becomes a
// PgError. The callable must itself hold no C++ object with a destructor
// across the calls that can raise an error. A C++ exception thrown by the
// callable (a std::string that cannot grow, say) is caught inside PG_TRY and
// rethrown once PG_END_TRY has restored PostgreSQL's error handler, which it
// would otherwise leave pointing into this dead frame. If a transaction is
// open when an error happens, the caller's cleanup (RunInTransaction) aborts
// it.
template <typename Call>
void PgCall(Call&& call) {
  ErrorData* volatile caught = nullptr;  // set after the longjmp
  std::exception_ptr thrown;
  MemoryContext context = CurrentMemoryContext;
  PG_TRY();
  {
    try {
      call();
    } catch (...) {
      thrown = std::current_exception();
    }
  }
  PG_CATCH();
  { caught = CapturePgError(context); }
  PG_END_TRY();
  if (thrown)
    std::rethrow_exception(thrown);
  if (caught != nullptr)
    ThrowPgError(caught);
}

}  // namespace pgbak
