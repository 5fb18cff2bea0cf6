// error.cpp: ThrowErrno, the one way core code reports a failed system call.
#include "core/base/error.h"

#include <cerrno>
#include <cstring>
#include <string>

#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

// ErrnoText returns strerror(errnum) without the thread-unsafety of strerror:
// libzstd and the S3 driver run threads, and strerror may use a static buffer.
std::string ErrnoText(int errnum) {
  char buffer[256];
  // GNU strerror_r may return a static string instead of filling buffer.
  const char* text = strerror_r(errnum, buffer, sizeof(buffer));
  return text != nullptr ? std::string(text) : "unknown error " + std::to_string(errnum);
}

}  // namespace

// ThrowErrno throws "what: strerror(errnum)"; a full disk is a kind of its
// own, so that callers can say which storage filled up and PostgreSQL's
// disk_full SQLSTATE reaches the user.
void ThrowErrno(const std::string& what, int errnum) {
  bool full = errnum == ENOSPC || errnum == EDQUOT;
  throw Error(full ? ErrorKind::kDiskFull : ErrorKind::kIo, what + ": " + ErrnoText(errnum));
}

// Printable shows control bytes as \xNN.
std::string Printable(std::string_view text) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

}  // namespace pgbak
