// base_layout_test.cpp: base backup directories, object names, LSNs and
// WAL segment names (src/core/archive/base_layout.cpp).
#include "core/archive/base_layout.h"

#include <gtest/gtest.h>

#include <string>

#include "core/archive/set_layout.h"
#include "core/base/error.h"

namespace pgbak {
namespace {

constexpr uint64_t k16MB = 16u << 20;
// kExample is 2026-11-22T01:02:03Z.
constexpr std::time_t kExample = 1795309323;

TEST(BaseLayoutTest, DirectoryIsASetDirectory) {
  std::string key = BaseSetDirectory("7301234567890123456", kExample, 42);
  EXPECT_EQ(key, "7301234567890123456/base/20261122T010203Z-42");
  // Cleanup checks a location by its shape before it removes anything.
  EXPECT_TRUE(IsSetKey(42, key));
  EXPECT_FALSE(IsSetKey(4, key));
}

TEST(BaseLayoutTest, ArchiveObjects) {
  EXPECT_EQ(BaseArchiveObject("base.tar"), "base.tar.zst");
  EXPECT_EQ(BaseArchiveObject("16385.tar"), "16385.tar.zst");
  EXPECT_THROW(BaseArchiveObject("../x.tar"), Error);
  EXPECT_THROW(BaseArchiveObject("base.tar.gz"), Error);
  EXPECT_THROW(BaseArchiveObject(".tar"), Error);
  EXPECT_THROW(BaseArchiveObject("pg_wal.tar"), Error);
  for (const char* name : {"base.tar.zst", "base.tar.zst.age", "16385.tar.zst", "16385.tar.zst.age",
                           "backup_manifest.zst", "backup_manifest.zst.age", "manifest.json"})
    EXPECT_TRUE(IsBaseSetObject(name)) << name;
  for (const char* name : {"manifest.json.age", "x.tar.zst", ".tar.zst", "base.tar",
                           "data.dump.zst", "backup_manifest", "16385.tar.zst.age.age", ""})
    EXPECT_FALSE(IsBaseSetObject(name)) << name;
}

TEST(BaseLayoutTest, Lsn) {
  EXPECT_EQ(ParseLsn("0/2000028"), 0x2000028u);
  EXPECT_EQ(ParseLsn("16/B374D848"), 0x16B374D848u);
  EXPECT_EQ(ParseLsn("16/b374d848"), 0x16B374D848u);
  EXPECT_EQ(ParseLsn("FFFFFFFF/FFFFFFFF"), UINT64_MAX);
  EXPECT_EQ(FormatLsn(0x16B374D848u), "16/B374D848");
  EXPECT_EQ(FormatLsn(0), "0/0");
  for (const char* bad : {"", "0", "/1", "1/", "1/2/3", "G/1", "123456789/0", " 0/1", "-1/0"})
    EXPECT_THROW(ParseLsn(bad), Error) << bad;
}

TEST(BaseLayoutTest, SegmentNames) {
  // As pg_walfile_name() names them.
  EXPECT_EQ(WalSegmentName(1, 0x2000028, k16MB), "000000010000000000000002");
  EXPECT_EQ(WalSegmentName(1, 0x16B374D848, k16MB), "0000000100000016000000B3");
  EXPECT_EQ(WalSegmentName(0x2A, 0xFFFFFFFF, k16MB), "0000002A00000000000000FF");
  // 1 GB segments: four per "xlogid".
  EXPECT_EQ(WalSegmentName(1, 0x16B374D848, 1u << 30), "000000010000001600000002");
  EXPECT_THROW(WalSegmentName(1, 0, 3u << 20), Error);
  EXPECT_THROW(WalSegmentName(1, 0, 0), Error);
}

TEST(BaseLayoutTest, WalRangeEndsBeforeTheEndLsn) {
  WalRange range = BackupWalRange(1, 0x2000028, 1, 0x2000100, k16MB);
  EXPECT_EQ(range.first_segment, "000000010000000000000002");
  EXPECT_EQ(range.last_segment, "000000010000000000000002");
  // An end exactly on a segment boundary needs nothing of that segment.
  range = BackupWalRange(1, 0x2000028, 1, 0x4000000, k16MB);
  EXPECT_EQ(range.last_segment, "000000010000000000000003");
  range = BackupWalRange(1, 0x2000028, 2, 0x4000001, k16MB);
  EXPECT_EQ(range.last_segment, "000000020000000000000004");
  EXPECT_THROW(BackupWalRange(1, 0x2000028, 1, 0x2000028, k16MB), Error);
}

TEST(BaseLayoutTest, SegmentReached) {
  const std::string needed = "000000010000000000000005";
  EXPECT_TRUE(WalSegmentReached("000000010000000000000005", needed));
  EXPECT_TRUE(WalSegmentReached("000000010000000000000006", needed));
  EXPECT_TRUE(WalSegmentReached("000000010000000000000005.00000028.backup", needed));
  EXPECT_TRUE(WalSegmentReached("000000010000000100000000", needed));
  EXPECT_FALSE(WalSegmentReached("000000010000000000000004", needed));
  EXPECT_FALSE(WalSegmentReached("000000010000000000000004.partial", needed));
  EXPECT_FALSE(WalSegmentReached("00000002.history", needed));
  EXPECT_FALSE(WalSegmentReached("", needed));
}

}  // namespace
}  // namespace pgbak
