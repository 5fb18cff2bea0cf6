// wal_retention_test.cpp: which archived WAL files no kept base backup
// needs, across timelines, with history, backup history and partial files
// and keys that are not WAL objects.
#include "core/wal/wal_retention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/wal/wal_layout.h"

namespace pgbak {
namespace {

const std::string kSha(64, 'a');

std::string Key(const std::string& name) {
  return WalObjectKey("7301", name, kSha, false);
}

std::vector<std::string> Names(const std::vector<WalObject>& objects) {
  std::vector<std::string> names;
  for (const WalObject& object : objects)
    names.push_back(object.name);
  std::sort(names.begin(), names.end());
  return names;
}

TEST(WalRetentionTest, SegmentPart) {
  EXPECT_EQ(WalSegmentPart("000000010000000A000000FF"), "0000000A000000FF");
  EXPECT_EQ(WalSegmentPart("000000020000000000000003.partial"), "0000000000000003");
  EXPECT_EQ(WalSegmentPart("000000010000000000000003.00000028.backup"), "0000000000000003");
  EXPECT_EQ(WalSegmentPart("00000002.history"), "");
  EXPECT_EQ(WalSegmentPart("not a wal file"), "");
}

TEST(WalRetentionTest, ExpiresWhatComesBeforeTheEarliestKeptBaseBackup) {
  std::vector<std::string> keys = {
      Key("000000010000000000000001"), Key("000000010000000000000002"),
      Key("000000010000000000000002.00000028.backup"), Key("000000010000000000000003"),
      Key("000000010000000000000004"),
      // A promotion at segment 4: timeline 2 goes on from there.
      Key("000000010000000000000004.partial"), Key("00000002.history"),
      Key("000000020000000000000004"), Key("000000020000000000000005"),
      Key("000000020000000100000000"),  // a later "log": after segment 00000000FF
      "7301/wal/00000001/not-an-object.txt",
      "7301/wal/00000001/000000010000000000000001",  // no checksum: not ours
  };
  // Two kept base backups: the earliest started in segment 3 (timeline 1).
  EXPECT_EQ(
      Names(WalObjectsToExpire(keys, {"000000020000000000000005", "000000010000000000000003"})),
      (std::vector<std::string>{"000000010000000000000001", "000000010000000000000002",
                                "000000010000000000000002.00000028.backup"}));
  // The earliest on timeline 2 at segment 5: timeline 1's 4 and its partial
  // go, timeline 2's history stays.
  EXPECT_EQ(
      Names(WalObjectsToExpire(keys, {"000000020000000000000005"})),
      (std::vector<std::string>{"000000010000000000000001", "000000010000000000000002",
                                "000000010000000000000002.00000028.backup",
                                "000000010000000000000003", "000000010000000000000004",
                                "000000010000000000000004.partial", "000000020000000000000004"}));
  // A base backup in the later log keeps only it and the history.
  std::vector<std::string> late = Names(WalObjectsToExpire(keys, {"000000020000000100000000"}));
  EXPECT_EQ(late.size(), 8u);
  EXPECT_EQ(std::count(late.begin(), late.end(), "00000002.history"), 0);
  EXPECT_EQ(std::count(late.begin(), late.end(), "000000020000000100000000"), 0);
}

TEST(WalRetentionTest, AnotherWriterShowsInTheListing) {
  std::vector<std::string> ours = {Key("000000010000000000000001"), Key("00000002.history"),
                                   Key("000000010000000000000004.partial"),
                                   Key("000000020000000000000004"),
                                   Key("000000020000000000000005")};
  // This server writes segment 5 of timeline 2: everything listed is its own.
  EXPECT_EQ(AnotherWriter(ours, "000000020000000000000005"), "");
  EXPECT_EQ(AnotherWriter(ours, "000000020000000100000000"), "");
  // A copy restored from a base backup and promoted to timeline 3 archives here.
  std::vector<std::string> promoted = ours;
  promoted.push_back(Key("00000003.history"));
  EXPECT_NE(AnotherWriter(promoted, "000000020000000000000005").find("00000003.history"),
            std::string::npos);
  // The source goes on on timeline 2 while this copy, restored to an earlier
  // point, writes segment 4 of it... (its own timeline is then above).
  EXPECT_NE(AnotherWriter(ours, "000000020000000000000004").find("000000020000000000000005"),
            std::string::npos);
  // A lower timeline's later segments are the past of this one's history.
  EXPECT_EQ(AnotherWriter({Key("000000010000000000000009")}, "000000020000000000000005"), "");
  EXPECT_THROW(AnotherWriter(ours, "00000002.history"), Error);
}

TEST(WalRetentionTest, NothingWithoutAKeptBaseBackupAndBadNamesRefused) {
  std::vector<std::string> keys = {Key("000000010000000000000001")};
  EXPECT_TRUE(WalObjectsToExpire(keys, {}).empty());
  EXPECT_THROW(WalObjectsToExpire(keys, {"00000002.history"}), Error);
  EXPECT_THROW(WalObjectsToExpire(keys, {"000000010000000000000003.partial"}), Error);
  EXPECT_THROW(WalObjectsToExpire(keys, {"zz"}), Error);
}

}  // namespace
}  // namespace pgbak
