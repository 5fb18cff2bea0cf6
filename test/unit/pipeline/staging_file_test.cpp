// staging_file_test.cpp: the restore's scratch copy (src/core/staging_file.cpp).
#include "core/pipeline/staging_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "core/base/error.h"
#include "test_util.h"

namespace pgbak {
namespace {

TEST(StagingFileTest, WritesEverythingInPrivateFile) {
  test::TempDir dir;
  std::string path = dir.Join("data.dump");
  // More than one buffer, in uneven pieces, with a reservation that is too
  // small: it is not a limit.
  std::string expected;
  for (int i = 0; expected.size() < (9u << 20); i++) {
    expected += std::to_string(i) + (i % 7 == 0 ? std::string(40000, 'x') : "\n");
  }
  StagingFile file(path, 1000);
  EXPECT_EQ(file.path(), path);
  size_t offset = 0;
  for (size_t piece = 1; offset < expected.size(); piece = piece * 3 % 1000003) {
    size_t size = std::min(piece, expected.size() - offset);
    file.Write(test::Bytes(expected) + offset, size);
    offset += size;
  }
  EXPECT_EQ(file.bytes(), expected.size());
  file.Finish();
  EXPECT_TRUE(test::ReadFile(path) == expected);
  struct stat info;
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(static_cast<uint64_t>(info.st_size), expected.size());
  EXPECT_THROW(file.Write(test::Bytes(expected), 1), Error);
}

TEST(StagingFileTest, ReservedSpaceDoesNotShowAsContent) {
  test::TempDir dir;
  std::string path = dir.Join("data.dump");
  StagingFile file(path, 64 << 20);
  file.Write(test::Bytes(std::string("PGDMP")), 5);
  file.Finish();
  EXPECT_EQ(test::ReadFile(path), "PGDMP");
}

TEST(StagingFileTest, RefusesAnExistingFile) {
  test::TempDir dir;
  std::string path = dir.Join("data.dump");
  test::WriteFile(path, "keep");
  try {
    StagingFile file(path, 0);
    ADD_FAILURE() << "an existing file was reused";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(error.what()).find(path), std::string::npos) << error.what();
  }
  EXPECT_EQ(test::ReadFile(path), "keep");
}

}  // namespace
}  // namespace pgbak
