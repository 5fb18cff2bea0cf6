// wal_get_test.cpp: restoring archived WAL files (src/core/wal/wal_get.cpp)
// from a real local storage written by PushWalFile: which object a name
// selects (none, one, the same content twice, two contents), a plain and
// an encrypted segment restored byte for byte, damage refused without a
// file left behind, and the prefetch cache (filled in parallel, a damaged
// or stale entry never served, nor another cluster's; copied from another
// file system); temporaries of dead processes removed, live ones kept.
#include "core/wal/wal_get.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "core/base/error.h"
#include "core/crypto/age.h"
#include "core/storage/local/local_storage.h"
#include "core/wal/wal_push.h"
#include "test_util.h"

namespace pgbak {
namespace {

using test::ReadFile;
using test::TempDir;
using test::WriteFile;

constexpr uint64_t kSegmentSize = 1 << 20;

std::string SegmentBytes(unsigned seed) {
  std::mt19937 random(seed);
  std::string bytes(kSegmentSize, '\0');
  for (size_t i = 0; i < bytes.size(); i++)
    bytes[i] = (i % 2 == 0) ? static_cast<char>(random() & 0xff) : 'x';
  return bytes;
}

// Push archives contents under name as the archiver does.
WalPushResult Push(Storage& storage, const TempDir& dir, const std::string& name,
                   const std::string& contents, const std::vector<AgeRecipient>& recipients = {}) {
  WriteFile(dir.Join(name), contents);
  WalPushSettings settings{"7301", recipients, 3};
  return PushWalFile(storage, settings, name, dir.Join(name));
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

TEST(SelectWalObject, NoneOneSameTwoContents) {
  const std::string name = "000000010000000000000003";
  const std::string a(64, 'a'), b(64, 'b');
  WalObject chosen;
  EXPECT_FALSE(SelectWalObject({}, name, chosen));
  std::vector<std::string> keys = {"7301/wal/00000001/" + name + "-" + a + ".zst",
                                   "7301/wal/00000001/" + name + "-" + a + ".zst.age",
                                   "7301/wal/00000001/" + name + ".partial-" + b + ".zst"};
  std::vector<WalObject> objects = WalObjectsOf(keys, name);
  ASSERT_EQ(objects.size(), 2u) << "the .partial is another name";
  ASSERT_TRUE(SelectWalObject(objects, name, chosen));
  EXPECT_EQ(chosen.sha256, a);
  keys.push_back("7301/wal/00000001/" + name + "-" + b + ".zst");
  try {
    SelectWalObject(WalObjectsOf(keys, name), name, chosen);
    ADD_FAILURE() << "two contents were accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("two different contents"), std::string::npos);
  }
  // A history file asked for by its name.
  EXPECT_EQ(
      WalObjectsOf({"7301/wal/00000002/00000002.history-" + a + ".zst"}, "00000002.history").size(),
      1u);
}

TEST(RestoreWalFile, PlainAndEncrypted) {
  TempDir dir;
  LocalStorage storage(dir.Join("store"));
  std::string bytes = SegmentBytes(1);
  Push(storage, dir, "000000010000000000000003", bytes);
  WalObject object;
  ASSERT_TRUE(FindWalObject(storage, "7301", "000000010000000000000003", object));
  mkdir(dir.Join("pg_wal").c_str(), 0700);
  EXPECT_EQ(RestoreWalFile(storage, object, {}, dir.Join("pg_wal/RECOVERYXLOG")), kSegmentSize);
  EXPECT_EQ(ReadFile(dir.Join("pg_wal/RECOVERYXLOG")), bytes);
  EXPECT_FALSE(FindWalObject(storage, "7301", "000000010000000000000004", object));

  AgeKeyPair pair = AgeGenerateIdentity();
  std::vector<AgeIdentity> identities = ParseAgeIdentities(pair.identity + "\n");
  Push(storage, dir, "00000002.history", "1\t0/3000000\tbefore\n",
       {AgeRecipient::Parse(pair.recipient)});
  ASSERT_TRUE(FindWalObject(storage, "7301", "00000002.history", object));
  EXPECT_TRUE(object.encrypted);
  EXPECT_THROW(RestoreWalFile(storage, object, {}, dir.Join("pg_wal/RECOVERYHISTORY")), Error);
  RestoreWalFile(storage, object, identities, dir.Join("pg_wal/RECOVERYHISTORY"));
  EXPECT_EQ(ReadFile(dir.Join("pg_wal/RECOVERYHISTORY")), "1\t0/3000000\tbefore\n");
  // A wrong identity opens nothing, and says so.
  try {
    RestoreWalFile(storage, object, ParseAgeIdentities(AgeGenerateIdentity().identity + "\n"),
                   dir.Join("pg_wal/other"));
    ADD_FAILURE() << "a wrong identity was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidParameter) << e.what();
  }
  EXPECT_FALSE(Exists(dir.Join("pg_wal/other")));
}

TEST(RestoreWalFile, DamageIsRefusedAndLeavesNothing) {
  TempDir dir;
  LocalStorage storage(dir.Join("store"));
  WalPushResult pushed = Push(storage, dir, "000000010000000000000005", SegmentBytes(2));
  std::string stored = dir.Join("store/" + pushed.key);
  mkdir(dir.Join("pg_wal").c_str(), 0700);
  WalObject object;
  ASSERT_TRUE(FindWalObject(storage, "7301", "000000010000000000000005", object));
  // Another valid zstd frame under the key: its content's SHA-256 is not
  // the one in the key.
  WalPushResult other = Push(storage, dir, "000000010000000000000006", SegmentBytes(3));
  WriteFile(stored, ReadFile(dir.Join("store/" + other.key)));
  try {
    RestoreWalFile(storage, object, {}, dir.Join("pg_wal/RECOVERYXLOG"));
    ADD_FAILURE() << "other content was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("SHA-256 mismatch"), std::string::npos) << e.what();
  }
  // Bytes that are no zstd frame.
  std::string damaged = ReadFile(dir.Join("store/" + other.key));
  damaged[damaged.size() / 2] ^= 0x55;
  damaged.resize(damaged.size() - 10);
  WriteFile(stored, damaged);
  try {
    RestoreWalFile(storage, object, {}, dir.Join("pg_wal/RECOVERYXLOG"));
    ADD_FAILURE() << "damaged bytes were accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorrupt) << e.what();
  }
  EXPECT_FALSE(Exists(dir.Join("pg_wal/RECOVERYXLOG")));
  EXPECT_EQ(test::RunShell("ls -A " + dir.Join("pg_wal")), "") << "no temporary file is left";
}

TEST(NextSegmentNames, WrapsTheLogNumber) {
  std::vector<std::string> next = NextSegmentNames("0000000100000000000000FE", 16 << 20, 3);
  ASSERT_EQ(next.size(), 3u);
  EXPECT_EQ(next[0], "0000000100000000000000FF");
  EXPECT_EQ(next[1], "000000010000000100000000");
  EXPECT_EQ(next[2], "000000010000000100000001");
  EXPECT_TRUE(NextSegmentNames("00000002.history", 16 << 20, 3).empty());
  EXPECT_TRUE(NextSegmentNames("000000010000000000000003", 12345, 3).empty());
}

TEST(WalPrefetchCache, FillsInParallelAndServesOnlyCheckedEntries) {
  TempDir dir;
  std::string root = dir.Join("store");
  LocalStorage storage(root);
  std::vector<std::string> names;
  for (unsigned i = 4; i <= 9; i++) {
    char name[32];
    std::snprintf(name, sizeof name, "0000000100000000000000%02X", i);
    names.push_back(name);
    if (i != 8)  // a gap: left out of the cache, no error
      Push(storage, dir, name, SegmentBytes(i));
  }
  std::string cache_dir = dir.Join("pg_wal/pgbak_prefetch/7301");
  mkdir(dir.Join("pg_wal").c_str(), 0700);
  WalPrefetchCache cache(dir.Join("pg_wal/pgbak_prefetch"), "7301");
  WriteFile(dir.Join("pg_wal/unrelated"), "x");
  cache.Fill(names, 3, [&] { return std::make_unique<LocalStorage>(root); }, {});
  EXPECT_EQ(cache.Cached(names), 5u);
  ASSERT_TRUE(cache.Take(names[0], dir.Join("pg_wal/RECOVERYXLOG")));
  EXPECT_EQ(ReadFile(dir.Join("pg_wal/RECOVERYXLOG")), SegmentBytes(4));
  EXPECT_FALSE(cache.Take(names[0], dir.Join("pg_wal/RECOVERYXLOG2"))) << "taken once";
  EXPECT_FALSE(cache.Take(names[4], dir.Join("pg_wal/RECOVERYXLOG2"))) << "the gap";
  // A damaged entry is removed, never served.
  std::string entry =
      test::RunShell("ls " + cache_dir + " | grep ^" + names[1] + "- | tr -d '\\n'");
  ASSERT_FALSE(entry.empty());
  std::string bytes = ReadFile(cache_dir + "/" + entry);
  bytes[100] ^= 1;
  WriteFile(cache_dir + "/" + entry, bytes);
  EXPECT_FALSE(cache.Take(names[1], dir.Join("pg_wal/RECOVERYXLOG2")));
  EXPECT_FALSE(Exists(cache_dir + "/" + entry));
  EXPECT_FALSE(Exists(dir.Join("pg_wal/RECOVERYXLOG2")));
  // Filling for other names drops what is not among them (bounded).
  cache.Fill({names[3]}, 2, [&] { return std::make_unique<LocalStorage>(root); }, {});
  EXPECT_EQ(cache.Cached(names), 1u);
  EXPECT_EQ(test::RunShell("ls -A " + cache_dir + " | wc -l | tr -d ' \\n'"), "1");
}

// Fixture of a storage holding segments 4 and 5 of cluster 7301.
struct TwoSegments {
  TempDir dir;
  std::string root = dir.Join("store");
  LocalStorage storage{root};
  std::vector<std::string> names = {"000000010000000000000004", "000000010000000000000005"};
  TwoSegments() {
    for (unsigned i = 0; i < names.size(); i++)
      Push(storage, dir, names[i], SegmentBytes(4 + i));
    mkdir(dir.Join("pg_wal").c_str(), 0700);
  }
  void Fill(WalPrefetchCache& cache) {
    cache.Fill(names, 2, [&] { return std::make_unique<LocalStorage>(root); }, {});
  }
};

TEST(WalPrefetchCache, NeverServesAnotherClustersEntries) {
  // Two clusters recovering with one --prefetch-dir: same file names,
  // other contents (each entry matches the SHA-256 its name carries).
  TwoSegments f;
  WalPrefetchCache mine(f.dir.Join("cache"), "7301");
  f.Fill(mine);
  ASSERT_EQ(mine.Cached(f.names), 2u);
  WalPrefetchCache other(f.dir.Join("cache"), "7302");
  EXPECT_EQ(other.Cached(f.names), 0u);
  EXPECT_FALSE(other.Take(f.names[0], f.dir.Join("pg_wal/RECOVERYXLOG")));
  EXPECT_FALSE(Exists(f.dir.Join("pg_wal/RECOVERYXLOG")));
  other.Fill({}, 1, [&] { return std::make_unique<LocalStorage>(f.root); }, {});
  EXPECT_EQ(mine.Cached(f.names), 2u) << "filling one cluster's cache leaves the other's alone";
}

TEST(WalPrefetchCache, CopiesFromAnotherFileSystem) {
  TwoSegments f;
  struct stat here, shm;
  if (stat(f.dir.path().c_str(), &here) != 0 || stat("/dev/shm", &shm) != 0 ||
      here.st_dev == shm.st_dev || access("/dev/shm", W_OK) != 0)
    GTEST_SKIP() << "needs /dev/shm writable on another file system than the temporary directory";
  TempDir elsewhere("/dev/shm");
  WalPrefetchCache cache(elsewhere.Join("cache"), "7301");
  f.Fill(cache);
  ASSERT_TRUE(cache.Take(f.names[0], f.dir.Join("pg_wal/RECOVERYXLOG")))
      << "rename fails with EXDEV: the entry is copied";
  EXPECT_EQ(ReadFile(f.dir.Join("pg_wal/RECOVERYXLOG")), SegmentBytes(4));
  EXPECT_EQ(cache.Cached(f.names), 1u) << "and leaves the cache";
  EXPECT_EQ(test::RunShell("ls -A " + f.dir.Join("pg_wal") + " | grep -c pgbak-wal-get"), "0\n");
}

// DeadPid is the id of a process that ended.
pid_t DeadPid() {
  pid_t pid = fork();
  if (pid == 0)
    _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

TEST(RemoveDeadTemporaries, OnlyThoseOfProcessesThatEnded) {
  TempDir dir;
  std::string dead = dir.Join(".pgbak-wal-get-" + std::to_string(DeadPid()) + "-AbC123");
  std::string live = dir.Join(".pgbak-wal-get-" + std::to_string(getpid()) + "-AbC123");
  std::string unknown = dir.Join(".pgbak-wal-get-AbC123");
  std::string segment = dir.Join("000000010000000000000004");
  for (const std::string& path : {dead, live, unknown, segment})
    WriteFile(path, "x");
  RemoveDeadTemporaries(dir.path());
  EXPECT_FALSE(Exists(dead));
  EXPECT_TRUE(Exists(live)) << "another process may be writing it";
  EXPECT_TRUE(Exists(unknown));
  EXPECT_TRUE(Exists(segment));
  // Filling the cache removes dead temporaries in it, and keeps live ones.
  TwoSegments f;
  WalPrefetchCache cache(f.dir.Join("cache"), "7301");
  f.Fill(cache);
  std::string cache_dir = f.dir.Join("cache/7301");
  dead = cache_dir + "/.pgbak-wal-get-" + std::to_string(DeadPid()) + "-XyZ789";
  live = cache_dir + "/.pgbak-wal-get-" + std::to_string(getpid()) + "-XyZ789";
  WriteFile(dead, "x");
  WriteFile(live, "x");
  f.Fill(cache);
  EXPECT_FALSE(Exists(dead));
  EXPECT_TRUE(Exists(live));
  EXPECT_EQ(cache.Cached(f.names), 2u);
}

}  // namespace
}  // namespace pgbak
