// set_listing_test.cpp: listing the sets of a storage from their manifests:
// complete, incomplete, encrypted, foreign-cluster and damaged sets, on a
// real local storage.
#include "core/archive/set_listing.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/archive/base_layout.h"
#include "core/archive/manifest.h"
#include "core/archive/set_layout.h"
#include "core/base/error.h"
#include "core/storage/local/local_storage.h"
#include "archive/set_fixture.h"
#include "test_util.h"

namespace pgbak {
namespace {

using test::Put;
using test::WriteSet;

TEST(SetListingTest, CompleteIncompleteEncryptedAndForeign) {
  test::TempDir dir;
  LocalStorage storage(dir.path());
  std::time_t t0 = 1800000000;
  WriteSet(storage, "7301", "app", t0 + 60, 12, true);
  WriteSet(storage, "7301", "app", t0, 7, true, true);
  WriteSet(storage, "7301", "my db", t0 + 120, 13, false);
  WriteSet(storage, "9999", "app", t0 + 30, 3, true);
  // Not sets: an object outside a set directory, a stray name inside one.
  Put(storage, "README", "x");
  Put(storage, "7301/app/notaset/data.dump.zst", "x");

  std::vector<SetSummary> sets = ListSets(storage);
  ASSERT_EQ(sets.size(), 4u);
  EXPECT_EQ(sets[0].directory_id, 7);  // oldest first
  EXPECT_TRUE(sets[0].complete);
  EXPECT_TRUE(sets[0].encrypted);
  EXPECT_EQ(sets[0].stored_bytes, 110u);
  EXPECT_EQ(sets[0].raw_bytes, 1050u);
  EXPECT_EQ(sets[1].system_identifier, "9999");
  EXPECT_EQ(sets[2].backup_id, 12);
  EXPECT_FALSE(sets[2].encrypted);
  EXPECT_EQ(sets[2].dump_format, "custom");
  EXPECT_EQ(sets[2].started_at, FormatUtcTimestamp(t0 + 60, 0));
  // The set without a manifest is listed, as incomplete, named from its path.
  EXPECT_FALSE(sets[3].complete);
  EXPECT_EQ(sets[3].database, "my db");
  EXPECT_EQ(sets[3].backup_id, 0);
  EXPECT_EQ(sets[3].problem, "no manifest.json: the backup did not finish");

  EXPECT_EQ(ListSets(storage, {"app", ""}).size(), 3u);
  EXPECT_EQ(ListSets(storage, {"", "9999"}).size(), 1u);
  EXPECT_EQ(ListSets(storage, {"app", "7301"}).size(), 2u);
  EXPECT_TRUE(ListSets(storage, {"nothere", ""}).empty());
}

TEST(SetListingTest, ADamagedManifestIsIncomplete) {
  test::TempDir dir;
  LocalStorage storage(dir.path());
  std::string set = WriteSet(storage, "7301", "app", 1800000000, 5, false);
  Put(storage, set + "/" + kManifestObject, "{not a manifest");
  std::vector<SetSummary> sets = ListSets(storage);
  ASSERT_EQ(sets.size(), 1u);
  EXPECT_FALSE(sets[0].complete);
  EXPECT_NE(sets[0].problem.find("manifest.json cannot be read"), std::string::npos)
      << sets[0].problem;
}

TEST(SetListingTest, ACopyKeepsItsOwnDirectoryId) {
  test::TempDir dir;
  LocalStorage storage(dir.path());
  // A copy (set_layout: the set's path, ending in the copy's id) holds the
  // manifest of the backup it copies.
  std::string set = WriteSet(storage, "7301", "app", 1800000000, 40, true);
  std::string copy = set.substr(0, set.rfind('-') + 1) + "41";
  for (const char* name : {kDataObjectCustom, kGlobalsObject, kManifestObject}) {
    std::unique_ptr<ObjectReader> reader = storage.Open(set + "/" + name);
    std::string bytes;
    uint8_t buffer[4096];
    while (size_t n = reader->Read(buffer, sizeof buffer))
      bytes.append(reinterpret_cast<const char*>(buffer), n);
    Put(storage, copy + "/" + name, bytes);
  }
  std::vector<SetSummary> sets = ListSets(storage);
  ASSERT_EQ(sets.size(), 2u);
  EXPECT_EQ(sets[1].directory_id, 41);
  EXPECT_EQ(sets[1].backup_id, 40);
}

// FailingStorage is a local storage whose objects cannot be read.
class FailingStorage : public LocalStorage {
 public:
  using LocalStorage::LocalStorage;
  std::unique_ptr<ObjectReader> Open(const std::string& key) override {
    throw Error(ErrorKind::kIo, "could not read " + key);
  }
};

TEST(SetListingTest, AStorageThatCannotBeReadFailsTheListing) {
  test::TempDir dir;
  {
    LocalStorage storage(dir.path());
    WriteSet(storage, "7301", "app", 1800000000, 5, true);
  }
  // Not "incomplete": a read failure says nothing about the set.
  FailingStorage failing(dir.path());
  try {
    ListSets(failing);
    ADD_FAILURE() << "the listing succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
  }
}

TEST(SetListingTest, NamesThatAreNoSetDirectories) {
  test::TempDir dir;
  LocalStorage storage(dir.path());
  Put(storage, "7301/app/20260101T000000Z-0/data.dump.zst", "x");      // id 0
  Put(storage, "7301/app/2026-01-01-5/data.dump.zst", "x");            // no time
  Put(storage, "7301/app/20260101T000000Z-5x/data.dump.zst", "x");     // not digits
  Put(storage, "7301/My%20DB/20260101T000000Z-6/data.dump.zst", "x");  // escaped name
  std::vector<SetSummary> sets = ListSets(storage);
  ASSERT_EQ(sets.size(), 1u);
  EXPECT_EQ(sets[0].database, "My DB");
  EXPECT_EQ(ListSets(storage, {"My DB", ""}).size(), 1u);
}

TEST(SetListingTest, BaseBackupsAreNoLogicalSets) {
  // A base backup (#17) beside a logical set of a database named "base":
  // only the logical set is listed (and so imported).
  test::TempDir dir;
  LocalStorage storage(dir.path());
  std::time_t t0 = 1795309323;
  std::string logical = WriteSet(storage, "7301", "base", t0, 4, true);
  std::string base = BaseSetDirectory("7301", t0 + 60, 5);
  Put(storage, base + "/base.tar.zst", "x");
  Put(storage, base + "/backup_manifest.zst", "x");
  Manifest manifest;
  manifest.tool = "pgbak_ext 1.6";
  manifest.kind = "base";
  manifest.backup_id = 5;
  manifest.system_identifier = "7301";
  manifest.server_version = "15.20";
  manifest.dump_format = "tar";
  manifest.started_at = FormatUtcTimestamp(t0 + 60, 0);
  manifest.finished_at = manifest.started_at;
  manifest.snapshot_lsn = manifest.base.start_lsn = "0/2000028";
  manifest.base.end_lsn = "0/2000100";
  manifest.base.timeline = 1;
  manifest.base.wal_first_segment = manifest.base.wal_last_segment = "000000010000000000000002";
  manifest.objects.push_back({"base.tar.zst", "base", 1, 10, std::string(64, 'a'), "zstd", "none"});
  Put(storage, base + "/" + kManifestObject, manifest.ToJson());
  std::vector<SetSummary> sets = ListSets(storage);
  ASSERT_EQ(sets.size(), 1u);
  EXPECT_EQ(sets[0].key, logical);
}

}  // namespace
}  // namespace pgbak
