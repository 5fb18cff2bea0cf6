// error_test.cpp: ThrowErrno's kinds (src/core/base/error.cpp).
#include "core/base/error.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

namespace pgbak {
namespace {

ErrorKind KindOf(int errnum, std::string* message = nullptr) {
  try {
    ThrowErrno("could not write file \"x\"", errnum);
  } catch (const Error& error) {
    if (message != nullptr)
      *message = error.what();
    return error.kind();
  }
  return ErrorKind::kInternal;
}

// A full file system or quota is a disk-full error (SQLSTATE 53100 at the
// boundary), so that a failure can say which storage filled up; other
// errors stay I/O errors.
TEST(ErrorTest, FullDisksAreTheirOwnKind) {
  std::string message;
  EXPECT_EQ(KindOf(ENOSPC, &message), ErrorKind::kDiskFull);
  EXPECT_EQ(message, "could not write file \"x\": No space left on device");
  EXPECT_EQ(KindOf(EDQUOT), ErrorKind::kDiskFull);
  EXPECT_EQ(KindOf(EIO), ErrorKind::kIo);
  EXPECT_EQ(KindOf(EACCES), ErrorKind::kIo);
  EXPECT_EQ(KindOf(EFBIG), ErrorKind::kIo);
}

}  // namespace
}  // namespace pgbak
