// wal_layout_test.cpp: the keys of archived WAL files (src/core/wal/wal_layout.cpp).
#include "core/wal/wal_layout.h"

#include <gtest/gtest.h>

#include "core/base/error.h"

namespace pgbak {
namespace {

const std::string kSha(64, 'a');

TEST(WalLayout, ArchivableNames) {
  EXPECT_TRUE(IsArchivableWalName("000000010000000000000001"));
  EXPECT_TRUE(IsArchivableWalName("0000000A00000003000000FF"));
  EXPECT_TRUE(IsArchivableWalName("00000002.history"));
  EXPECT_TRUE(IsArchivableWalName("000000010000000000000002.00000028.backup"));
  EXPECT_TRUE(IsArchivableWalName("000000010000000000000005.partial"));

  EXPECT_FALSE(IsArchivableWalName(""));
  EXPECT_FALSE(IsArchivableWalName("00000001000000000000001"));    // 23 digits
  EXPECT_FALSE(IsArchivableWalName("0000000100000000000000011"));  // 25 digits
  EXPECT_FALSE(IsArchivableWalName("00000001000000000000000a"));   // lowercase
  EXPECT_FALSE(IsArchivableWalName("0000000G0000000000000001"));   // not hex
  EXPECT_FALSE(IsArchivableWalName("0000002.history"));
  EXPECT_FALSE(IsArchivableWalName("000000010000000000000002.0028.backup"));
  EXPECT_FALSE(IsArchivableWalName("000000010000000000000002.backup"));
  EXPECT_FALSE(IsArchivableWalName("../00000001000000000000001"));
  EXPECT_FALSE(IsArchivableWalName("000000010000000000000001/x"));
}

TEST(WalLayout, KeysByTimeline) {
  EXPECT_EQ(WalObjectKey("7301", "000000010000000000000001", kSha, false),
            "7301/wal/00000001/000000010000000000000001-" + kSha + ".zst");
  EXPECT_EQ(WalObjectKey("7301", "0000000200000000000000A1", kSha, true),
            "7301/wal/00000002/0000000200000000000000A1-" + kSha + ".zst.age");
  EXPECT_EQ(WalObjectPrefix("7301", "00000003.history"), "7301/wal/00000003/00000003.history-");
  EXPECT_EQ(WalObjectPrefix("7301", "000000010000000000000002.00000028.backup"),
            "7301/wal/00000001/000000010000000000000002.00000028.backup-");
  EXPECT_EQ(WalDirectory("7301"), "7301/wal");
  EXPECT_THROW(WalObjectPrefix("7301", "../../etc"), Error);
}

TEST(WalLayout, ParseRoundTrip) {
  for (bool encrypted : {false, true}) {
    for (std::string name :
         {"000000010000000000000001", "00000002.history",
          "000000010000000000000002.00000028.backup", "000000010000000000000005.partial"}) {
      WalObject object;
      std::string key = WalObjectKey("42", name, kSha, encrypted);
      ASSERT_TRUE(ParseWalObjectKey(key, object)) << key;
      EXPECT_EQ(object.key, key);
      EXPECT_EQ(object.name, name);
      EXPECT_EQ(object.sha256, kSha);
      EXPECT_EQ(object.encrypted, encrypted);
    }
  }
}

TEST(WalLayout, ParseRejectsOtherKeys) {
  WalObject object;
  EXPECT_FALSE(ParseWalObjectKey("42/wal/00000001/000000010000000000000001.zst", object));
  EXPECT_FALSE(ParseWalObjectKey("42/wal/00000001/000000010000000000000001-abc.zst", object));
  EXPECT_FALSE(
      ParseWalObjectKey("42/wal/00000001/000000010000000000000001-" + kSha + ".gz", object));
  // The timeline directory must be the file's own.
  EXPECT_FALSE(
      ParseWalObjectKey("42/wal/00000002/000000010000000000000001-" + kSha + ".zst", object));
  EXPECT_FALSE(
      ParseWalObjectKey("42/db/00000001/000000010000000000000001-" + kSha + ".zst", object));
  EXPECT_FALSE(ParseWalObjectKey("42/wal/20261122T010203Z-7/manifest.json", object));
  std::string upper(64, 'A');
  EXPECT_FALSE(
      ParseWalObjectKey("42/wal/00000001/000000010000000000000001-" + upper + ".zst", object));
}

TEST(WalLayout, ObjectsOfOneName) {
  std::string a = WalObjectKey("42", "000000010000000000000001", kSha, false);
  std::string b = WalObjectKey("42", "000000010000000000000001.partial", kSha, false);
  std::string c = WalObjectKey("42", "000000010000000000000001", std::string(64, 'b'), true);
  std::vector<WalObject> objects =
      WalObjectsOf({a, b, c, "42/wal/junk"}, "000000010000000000000001");
  ASSERT_EQ(objects.size(), 2u);
  EXPECT_EQ(objects[0].key, a);
  EXPECT_EQ(objects[1].key, c);
}

}  // namespace
}  // namespace pgbak
