// wal_push_test.cpp: storing one WAL file (src/core/wal/wal_push.cpp) into a
// real local storage, read back with the stock zstd and age tools; the
// duplicate check (same content succeeds, other content fails and keeps
// failing); the storage file of the archiver (wal_storage_file.cpp).
#include "core/wal/wal_push.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "core/archive/set_listing.h"
#include "core/base/error.h"
#include "core/crypto/age.h"
#include "core/storage/local/local_storage.h"
#include "core/wal/wal_storage_file.h"
#include "test_util.h"

namespace pgbak {
namespace {

using test::ReadFile;
using test::RunShell;
using test::TempDir;
using test::WriteFile;

const char* kSegment = "000000010000000000000003";

// SegmentBytes is 1 MiB of half-compressible content, distinct per seed.
std::string SegmentBytes(unsigned seed) {
  std::mt19937 random(seed);
  std::string bytes(1 << 20, '\0');
  for (size_t i = 0; i < bytes.size(); i++)
    bytes[i] = (i % 2 == 0) ? static_cast<char>(random() & 0xff) : 'x';
  return bytes;
}

TEST(CheckArchived, Verdicts) {
  std::string same(64, 'a'), other(64, 'b');
  WalObject a{"k1", kSegment, same, false};
  WalObject b{"k2", kSegment, other, true};
  EXPECT_EQ(CheckArchived({}, same).state, ArchivedState::kAbsent);
  EXPECT_EQ(CheckArchived({a}, same).state, ArchivedState::kSame);
  EXPECT_EQ(CheckArchived({b}, same).state, ArchivedState::kDifferent);
  EXPECT_EQ(CheckArchived({b}, same).object.sha256, other);
  // Whatever else is there, the same content stored once is enough.
  ArchivedCheck both = CheckArchived({b, a}, same);
  EXPECT_EQ(both.state, ArchivedState::kSame);
  EXPECT_EQ(both.object.key, "k1");
}

TEST(PushWalFile, StoresCompressedAndDeduplicates) {
  TempDir dir;
  std::string wal = dir.Join(kSegment);
  std::string content = SegmentBytes(1);
  WriteFile(wal, content);
  LocalStorage storage(dir.Join("store"));
  WalPushSettings settings{"7301", {}, 3};

  WalPushResult first = PushWalFile(storage, settings, kSegment, wal);
  EXPECT_FALSE(first.already_archived);
  EXPECT_EQ(first.sha256, test::Sha256Sum(wal));
  EXPECT_EQ(first.key, "7301/wal/00000001/" + std::string(kSegment) + "-" + first.sha256 + ".zst");
  EXPECT_EQ(first.source_bytes, content.size());
  EXPECT_GT(first.stored_bytes, 0u);
  EXPECT_LT(first.stored_bytes, content.size());
  std::string object = dir.Join("store/" + first.key);
  struct stat info;
  ASSERT_EQ(stat(object.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(static_cast<uint64_t>(info.st_size), first.stored_bytes);
  int status = -1;
  RunShell("zstd -q -d -c '" + object + "' > '" + dir.Join("back") + "'", &status);
  ASSERT_EQ(status, 0);
  EXPECT_EQ(ReadFile(dir.Join("back")), content);

  // The same file again: success, nothing written.
  WalPushResult again = PushWalFile(storage, settings, kSegment, wal);
  EXPECT_TRUE(again.already_archived);
  EXPECT_EQ(again.key, first.key);
  EXPECT_EQ(storage.List("7301/wal/").size(), 1u);

  // Another content under the same name: a loud failure naming both
  // checksums, every time, and the archived object untouched.
  WriteFile(wal, SegmentBytes(2));
  std::string other_sha = test::Sha256Sum(wal);
  for (int attempt = 0; attempt < 2; attempt++) {
    try {
      PushWalFile(storage, settings, kSegment, wal);
      ADD_FAILURE() << "a different file under an archived name was accepted";
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kCorrupt);
      EXPECT_NE(std::string(error.what()).find(kSegment), std::string::npos) << error.what();
      EXPECT_NE(error.detail().find(first.sha256), std::string::npos) << error.detail();
      EXPECT_NE(error.detail().find(other_sha), std::string::npos) << error.detail();
    }
  }
  EXPECT_EQ(storage.List("7301/wal/").size(), 1u);
  EXPECT_EQ(ReadFile(object).size(), first.stored_bytes);
}

TEST(PushWalFile, EncryptsForTheStockAgeTool) {
  if (RunShell("command -v age").empty())
    GTEST_SKIP() << "the age tool is not installed";
  TempDir dir;
  AgeKeyPair pair = AgeGenerateIdentity();
  WriteFile(dir.Join("identity"), pair.identity + "\n");
  std::string wal = dir.Join("00000002.history");
  WriteFile(wal, "1\t0/3000000\tno recovery target specified\n");
  LocalStorage storage(dir.Join("store"));
  WalPushSettings settings{"99", {AgeRecipient::Parse(pair.recipient)}, 3};
  WalPushResult result = PushWalFile(storage, settings, "00000002.history", wal);
  EXPECT_EQ(result.key, "99/wal/00000002/00000002.history-" + result.sha256 + ".zst.age");
  int status = -1;
  RunShell("age -d -i '" + dir.Join("identity") + "' '" + dir.Join("store/" + result.key) +
               "' | zstd -q -d -c > '" + dir.Join("back") + "'",
           &status);
  ASSERT_EQ(status, 0);
  EXPECT_EQ(ReadFile(dir.Join("back")), ReadFile(wal));
  // The same content is found again whether or not it was encrypted.
  WalPushSettings clear{"99", {}, 3};
  EXPECT_TRUE(PushWalFile(storage, clear, "00000002.history", wal).already_archived);
}

// A partial segment's name holds the local driver's temporary marker
// (".partial-"): its object must still be listed, and found again.
TEST(PushWalFile, PartialSegmentIsFoundAgain) {
  TempDir dir;
  std::string name = "000000010000000000000005.partial";
  WriteFile(dir.Join(name), SegmentBytes(4));
  LocalStorage storage(dir.Join("store"));
  WalPushSettings settings{"1", {}, 3};
  WalPushResult first = PushWalFile(storage, settings, name, dir.Join(name));
  EXPECT_FALSE(first.already_archived);
  ASSERT_EQ(storage.List("1/wal/").size(), 1u);
  EXPECT_TRUE(PushWalFile(storage, settings, name, dir.Join(name)).already_archived);
}

// WAL sits beside the sets of the same cluster (<sysid>/wal/ beside
// <sysid>/<database>/): listing the sets, even of a database named "wal",
// never takes WAL objects for a set.
TEST(PushWalFile, WalObjectsAreNoSets) {
  TempDir dir;
  WriteFile(dir.Join(kSegment), SegmentBytes(5));
  LocalStorage storage(dir.Join("store"));
  WalPushSettings settings{"7301", {}, 3};
  PushWalFile(storage, settings, kSegment, dir.Join(kSegment));
  EXPECT_TRUE(ListSets(storage, SetFilter{}).empty());
  EXPECT_TRUE(ListSets(storage, SetFilter{"wal", "7301"}).empty());
}

TEST(PushWalFile, RefusesBadNamesAndMissingFiles) {
  TempDir dir;
  LocalStorage storage(dir.Join("store"));
  WalPushSettings settings{"1", {}, 3};
  WriteFile(dir.Join("f"), "x");
  EXPECT_THROW(PushWalFile(storage, settings, "../../f", dir.Join("f")), Error);
  try {
    PushWalFile(storage, settings, kSegment, dir.Join("missing"));
    ADD_FAILURE() << "a missing file was archived";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kIo);
  }
  EXPECT_TRUE(storage.List("").empty());
}

TEST(PushWalFile, CancelledLeavesNothing) {
  TempDir dir;
  std::string wal = dir.Join(kSegment);
  WriteFile(wal, SegmentBytes(3));
  LocalStorage storage(dir.Join("store"));
  WalPushSettings settings{"1", {}, 3};
  int polls = 0;
  // Cancelled once the hash is known, while the object is being written.
  auto cancelled = [&polls] { return ++polls > 4; };
  try {
    PushWalFile(storage, settings, kSegment, wal, cancelled);
    ADD_FAILURE() << "not cancelled";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kCancelled);
  }
  EXPECT_TRUE(storage.List("").empty());
  EXPECT_TRUE(test::RunShell("ls -A '" + dir.Join("store/1/wal/00000001") + "'").empty());
}

TEST(WalStorageFile, RoundTripAndPermissions) {
  TempDir dir;
  StorageDefinition definition{"offsite", "s3://bucket/prefix",
                               R"({"endpoint": "http://127.0.0.1:9000", "age_recipients": []})",
                               R"({"secret_access_key": "s3cr3t"})"};
  StorageDefinition read;
  EXPECT_FALSE(ReadWalStorageFile(dir.path(), read));
  EXPECT_TRUE(WriteWalStorageFile(dir.path(), definition));
  EXPECT_FALSE(WriteWalStorageFile(dir.path(), definition));  // unchanged: not rewritten
  struct stat info;
  ASSERT_EQ(stat(dir.Join(kWalStorageFileName).c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  ASSERT_TRUE(ReadWalStorageFile(dir.path(), read));
  EXPECT_EQ(read.name, "offsite");
  EXPECT_EQ(read.url, "s3://bucket/prefix");
  EXPECT_EQ(read.secret_options, R"({"secret_access_key":"s3cr3t"})");
  definition.secret_options = R"({"secret_access_key": "rotated"})";
  EXPECT_TRUE(WriteWalStorageFile(dir.path(), definition));
  ASSERT_TRUE(ReadWalStorageFile(dir.path(), read));
  EXPECT_EQ(read.secret_options, R"({"secret_access_key":"rotated"})");

  // A damaged file is an error that does not quote it.
  WriteFile(dir.Join(kWalStorageFileName), R"({"name": "x", "secrets": "s3cr3t)");
  try {
    ReadWalStorageFile(dir.path(), read);
    ADD_FAILURE() << "a damaged file was read";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kCorrupt);
    EXPECT_EQ(std::string(error.what()).find("s3cr3t"), std::string::npos);
  }
}

}  // namespace
}  // namespace pgbak
