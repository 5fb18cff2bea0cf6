// error.h: the typed exception that core code throws.
//
// Core code never talks to PostgreSQL; it throws pgbak::Error and the
// PostgreSQL boundary (src/pg/) turns the kind into a SQLSTATE and the
// message, detail and hint into an ereport.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace pgbak {

// ErrorKind says what went wrong, so the boundary can pick a SQLSTATE.
enum class ErrorKind {
  kInvalidParameter,  // the user gave a bad value (22023)
  kLimitExceeded,     // the user gave more than a documented limit allows (54000)
  kUndefinedObject,   // the user named something that does not exist (42704)
  kNameTooLong,       // the user gave a name longer than PostgreSQL keeps (42622)
  kIo,                // file, pipe or network failure (58030)
  kDiskFull,          // a file system has no room left, or less than we must leave (53100)
  kChildFailed,       // pg_dump or another child process failed (XX000 with detail)
  kCorrupt,           // data read back does not match what was written (XX001)
  kCancelled,         // the operation was cancelled (57014)
  kPermissionDenied,  // the role lacks a right, checked when the work started (42501)
  kInternal,          // cannot happen (XX000)
};

// Error is a failure with a user-facing message and optional detail and hint.
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message, std::string detail = {}, std::string hint = {})
      : std::runtime_error(message),
        kind_(kind),
        detail_(std::move(detail)),
        hint_(std::move(hint)) {}

  ErrorKind kind() const { return kind_; }
  const std::string& detail() const { return detail_; }
  const std::string& hint() const { return hint_; }

 private:
  ErrorKind kind_;
  std::string detail_;
  std::string hint_;
};

// ThrowErrno throws an Error whose message ends with strerror(errnum): kDiskFull
// for ENOSPC and EDQUOT (a full file system or quota), kIo for the rest.
[[noreturn]] void ThrowErrno(const std::string& what, int errnum);

// Printable shows control bytes of user text as \xNN, so that a zero byte
// cannot cut a message short and a newline cannot forge a line in the
// server log.
std::string Printable(std::string_view text);

}  // namespace pgbak
