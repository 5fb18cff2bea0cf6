// boundary.cpp: converting between C++ exceptions and PostgreSQL errors.

extern "C" {
#include "postgres.h"

#include "tcop/tcopprot.h"
#include "utils/elog.h"
#include "utils/memutils.h"
}

#include <cstring>
#include <exception>

#include "pg/boundary/boundary.h"

namespace pgbak {

namespace {

// CopyText copies a C++ string into a fixed buffer, truncating safely.
void CopyText(char* target, size_t capacity, const std::string& text) {
  size_t n = std::min(text.size(), capacity - 1);
  std::memcpy(target, text.data(), n);
  target[n] = '\0';
}

// CopyTail copies the end of a C++ string into a fixed buffer: for a child's
// stderr the last lines hold the actual error.
void CopyTail(char* target, size_t capacity, const std::string& text) {
  size_t n = std::min(text.size(), capacity - 1);
  std::memcpy(target, text.data() + (text.size() - n), n);
  target[n] = '\0';
}

}  // namespace

// SqlStateFor maps a core ErrorKind to the SQLSTATE users see.
int SqlStateFor(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidParameter:
      return ERRCODE_INVALID_PARAMETER_VALUE;
    case ErrorKind::kLimitExceeded:
      return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
    case ErrorKind::kUndefinedObject:
      return ERRCODE_UNDEFINED_OBJECT;
    case ErrorKind::kNameTooLong:
      return ERRCODE_NAME_TOO_LONG;
    case ErrorKind::kIo:
      return ERRCODE_IO_ERROR;
    case ErrorKind::kDiskFull:
      return ERRCODE_DISK_FULL;
    case ErrorKind::kChildFailed:
      return ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
    case ErrorKind::kCorrupt:
      return ERRCODE_DATA_CORRUPTED;
    case ErrorKind::kCancelled:
      return ERRCODE_QUERY_CANCELED;
    case ErrorKind::kPermissionDenied:
      return ERRCODE_INSUFFICIENT_PRIVILEGE;
    case ErrorKind::kInternal:
      return ERRCODE_INTERNAL_ERROR;
  }
  return ERRCODE_INTERNAL_ERROR;
}

// RecordException fills failure from the exception being handled now.
void RecordException(Failure& failure) noexcept {
  failure.failed = true;
  try {
    throw;
  } catch (const PgError& e) {
    failure.sqlerrcode = e.sqlerrcode();
    CopyText(failure.message, sizeof(failure.message), e.what());
    CopyText(failure.detail, sizeof(failure.detail), e.detail());
    CopyText(failure.hint, sizeof(failure.hint), e.hint());
  } catch (const Error& e) {
    failure.sqlerrcode = SqlStateFor(e.kind());
    CopyText(failure.message, sizeof(failure.message), e.what());
    CopyTail(failure.detail, sizeof(failure.detail), e.detail());
    CopyText(failure.hint, sizeof(failure.hint), e.hint());
  } catch (const std::bad_alloc&) {
    failure.sqlerrcode = ERRCODE_OUT_OF_MEMORY;
    CopyText(failure.message, sizeof(failure.message), "out of memory");
  } catch (const std::exception& e) {
    failure.sqlerrcode = ERRCODE_INTERNAL_ERROR;
    CopyText(failure.message, sizeof(failure.message), e.what());
  } catch (...) {
    failure.sqlerrcode = ERRCODE_INTERNAL_ERROR;
    CopyText(failure.message, sizeof(failure.message), "unknown C++ exception");
  }
}

// ReportFailure raises failure as a PostgreSQL ERROR if set.
void ReportFailure(const Failure& failure, bool hide_statement) {
  if (!failure.failed)
    return;
  ereport(ERROR, (errcode(failure.sqlerrcode), errmsg("%s", failure.message),
                  failure.detail[0] ? errdetail("%s", failure.detail) : 0,
                  failure.hint[0] ? errhint("%s", failure.hint) : 0, errhidestmt(hide_statement)));
}

// RunHidingStatement runs work with the statement kept out of the log.
void RunHidingStatement(void (*work)(void* argument), void* argument) {
  const char* volatile statement = debug_query_string;
  MemoryContext context = CurrentMemoryContext;
  debug_query_string = nullptr;
  PG_TRY();
  { work(argument); }
  PG_CATCH();
  {
    // Put back for the rest of the statement (a PL/pgSQL block may catch
    // this error and go on); this error is marked instead.
    debug_query_string = statement;
    MemoryContextSwitchTo(context);
    ErrorData* error = CopyErrorData();
    FlushErrorState();
    error->hide_stmt = true;
    ReThrowError(error);
  }
  PG_END_TRY();
  debug_query_string = statement;
}

// CapturePgError copies the current PostgreSQL error and flushes it.
ErrorData* CapturePgError(MemoryContext context) {
  MemoryContextSwitchTo(TopMemoryContext);
  ErrorData* error = CopyErrorData();
  FlushErrorState();
  MemoryContextSwitchTo(context);
  return error;
}

// ThrowPgError converts a captured error to C++ and frees it, also when the
// conversion itself runs out of memory.
void ThrowPgError(ErrorData* error) {
  int sqlerrcode = error->sqlerrcode;
  std::string message, detail, hint;
  try {
    message = error->message != nullptr ? error->message : "unknown error";
    detail = error->detail != nullptr ? error->detail : "";
    hint = error->hint != nullptr ? error->hint : "";
  } catch (...) {
    FreeErrorData(error);
    throw;
  }
  FreeErrorData(error);
  throw PgError(sqlerrcode, std::move(message), std::move(detail), std::move(hint));
}

}  // namespace pgbak
