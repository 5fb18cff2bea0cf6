// local_storage_test.cpp: the local-directory storage driver
// (src/core/local_storage.cpp): atomic visibility, permissions, listing and
// cleanup after crashes.
#include "core/storage/local/local_storage.h"

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/storage/local/free_space.h"
#include "test_util.h"

namespace pgbak {
namespace {

using test::Bytes;
using test::TempDir;

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// RegularFiles lists every regular file below dir (hidden ones included).
std::vector<std::string> RegularFiles(const std::string& dir) {
  std::vector<std::string> files;
  std::unique_ptr<DIR, int (*)(DIR*)> handle(opendir(dir.c_str()), closedir);
  if (!handle) {
    return files;
  }
  while (struct dirent* entry = readdir(handle.get())) {
    std::string name = entry->d_name;
    if (name == "." || name == "..") {
      continue;
    }
    std::string path = dir + "/" + name;
    struct stat st;
    lstat(path.c_str(), &st);
    if (S_ISDIR(st.st_mode)) {
      for (const std::string& file : RegularFiles(path)) {
        files.push_back(file);
      }
    } else {
      files.push_back(path);
    }
  }
  return files;
}

std::vector<std::string> Keys(const std::vector<ObjectInfo>& objects) {
  std::vector<std::string> keys;
  for (const ObjectInfo& object : objects) {
    keys.push_back(object.key);
  }
  return keys;
}

void Store(Storage& storage, const std::string& key, const std::string& contents) {
  std::unique_ptr<ObjectWriter> writer = storage.Create(key);
  WriteString(*writer, contents);
  writer->Finish();
}

std::string Load(Storage& storage, const std::string& key) {
  std::unique_ptr<ObjectReader> reader = storage.Open(key);
  std::string contents;
  uint8_t buffer[1000];
  while (size_t got = reader->Read(buffer, sizeof(buffer))) {
    contents.append(reinterpret_cast<char*>(buffer), got);
  }
  return contents;
}

// DeadPid returns the pid of a process that has exited and been reaped.
pid_t DeadPid() {
  pid_t pid = fork();
  if (pid == 0) {
    _exit(0);
  }
  int status;
  waitpid(pid, &status, 0);
  return pid;
}

TEST(LocalStorageTest, ObjectIsInvisibleUntilFinish) {
  TempDir dir;
  std::string root = dir.Join("root");
  LocalStorage storage(root);
  std::unique_ptr<ObjectWriter> writer = storage.Create("sys/db/set/data.dump.zst");
  WriteString(*writer, std::string(3 << 20, 'x'));  // more than the write buffer
  WriteString(*writer, "tail");
  std::string final_path = root + "/sys/db/set/data.dump.zst";
  EXPECT_FALSE(Exists(final_path));
  EXPECT_TRUE(storage.List("").empty());
  EXPECT_TRUE(storage.List("sys/db/set/").empty());
  EXPECT_TRUE(Exists(root + "/sys/db/set/.data.dump.zst.partial-" + std::to_string(getpid())));

  writer->Finish();
  EXPECT_TRUE(Exists(final_path));
  EXPECT_EQ(test::ReadFile(final_path), std::string(3 << 20, 'x') + "tail");
  EXPECT_EQ(RegularFiles(root), std::vector<std::string>{final_path});
  std::vector<ObjectInfo> listed = storage.List("");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].key, "sys/db/set/data.dump.zst");
  EXPECT_EQ(listed[0].size, (3u << 20) + 4);
  EXPECT_THROW(WriteString(*writer, "more"), Error);
}

// A scratch storage (a restore's staging copy) skips the fsyncs but keeps
// every other promise: invisible until Finish, then whole, 0600.
TEST(LocalStorageTest, ScratchObjectsBehaveTheSameButForDurability) {
  TempDir dir;
  std::string root = dir.Join("scratch");
  LocalStorage storage(root, Durability::kScratch);
  std::unique_ptr<ObjectWriter> writer = storage.Create(".staging/7/data.dump");
  WriteString(*writer, std::string(2 << 20, 'y'));
  std::string final_path = root + "/.staging/7/data.dump";
  EXPECT_FALSE(Exists(final_path));
  writer->Finish();
  EXPECT_EQ(test::ReadFile(final_path), std::string(2 << 20, 'y'));
  struct stat info;
  ASSERT_EQ(stat(final_path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  std::unique_ptr<ObjectWriter> dropped = storage.Create(".staging/7/other");
  WriteString(*dropped, "partial");
  dropped.reset();
  EXPECT_EQ(RegularFiles(root), std::vector<std::string>{final_path});
}

TEST(LocalStorageTest, WriterDestroyedWithoutFinishLeavesNothing) {
  TempDir dir;
  LocalStorage storage(dir.path());
  {
    std::unique_ptr<ObjectWriter> writer = storage.Create("a/b/obj");
    WriteString(*writer, "partial data");
  }
  EXPECT_TRUE(RegularFiles(dir.path()).empty());
  EXPECT_TRUE(storage.List("").empty());

  std::unique_ptr<ObjectWriter> aborted = storage.Create("a/b/obj");
  WriteString(*aborted, "partial data");
  aborted->Abort();
  aborted->Abort();
  EXPECT_THROW(WriteString(*aborted, "x"), Error);
  EXPECT_THROW(aborted->Finish(), Error);
  aborted.reset();
  EXPECT_TRUE(RegularFiles(dir.path()).empty());
}

TEST(LocalStorageTest, FilesAre0600AndNewDirectories0700WhateverTheUmask) {
  TempDir dir;
  std::string root = dir.Join("backups/root");
  mode_t old_umask = umask(0277);  // would make files 0400 and directories 0500
  {
    LocalStorage storage(root);
    Store(storage, "one/two/obj", "data");
  }
  umask(old_umask);
  EXPECT_EQ(ModeOf(root + "/one/two/obj"), 0600);
  for (const std::string& created : {dir.Join("backups"), root, root + "/one", root + "/one/two"}) {
    EXPECT_EQ(ModeOf(created), 0700) << created;
  }
  EXPECT_EQ(ModeOf(dir.path()), 0700);  // mkdtemp's own, untouched
}

TEST(LocalStorageTest, ExistingDirectoriesKeepTheirMode) {
  TempDir dir;
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  LocalStorage storage(dir.path());
  Store(storage, "obj", "x");
  EXPECT_EQ(ModeOf(dir.path()), 0755);
}

TEST(LocalStorageTest, InvalidKeysAreRejected) {
  TempDir dir;
  LocalStorage storage(dir.path());
  for (const char* key : {"..", "/abs", "a//b", ".", "../escape", "a/../../b"}) {
    EXPECT_THROW(storage.Create(key), Error) << key;
    EXPECT_THROW(storage.Open(key), Error) << key;
    EXPECT_THROW(storage.Remove(key), Error) << key;
  }
  EXPECT_THROW(storage.List("../"), Error);
  EXPECT_TRUE(RegularFiles(dir.path()).empty());
}

TEST(LocalStorageTest, ReadBackRemoveAndOverwrite) {
  TempDir dir;
  LocalStorage storage(dir.path());
  Store(storage, "k/obj", "first");
  EXPECT_EQ(Load(storage, "k/obj"), "first");
  Store(storage, "k/obj", "second version");
  EXPECT_EQ(Load(storage, "k/obj"), "second version");
  storage.Remove("k/obj");
  EXPECT_FALSE(Exists(dir.Join("k/obj")));
  EXPECT_NO_THROW(storage.Remove("k/obj"));  // missing is fine
  try {
    storage.Open("k/obj");
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(error.what()).find("could not open file"), std::string::npos);
  }
}

TEST(LocalStorageTest, ListIsRecursiveSortedAndFilteredByPrefix) {
  TempDir dir;
  LocalStorage storage(dir.path());
  for (const char* key : {"y/1", "x/2", "x10/a", "x/1", "x/sub/deep", "top"}) {
    Store(storage, key, key);
  }
  std::unique_ptr<ObjectWriter> pending = storage.Create("x/3");  // not finished
  EXPECT_EQ(Keys(storage.List("")),
            (std::vector<std::string>{"top", "x/1", "x/2", "x/sub/deep", "x10/a", "y/1"}));
  EXPECT_EQ(Keys(storage.List("x/")), (std::vector<std::string>{"x/1", "x/2", "x/sub/deep"}));
  EXPECT_EQ(Keys(storage.List("x")),
            (std::vector<std::string>{"x/1", "x/2", "x/sub/deep", "x10/a"}));
  EXPECT_EQ(Keys(storage.List("x/s")), (std::vector<std::string>{"x/sub/deep"}));
  EXPECT_TRUE(storage.List("nothing/").empty());
  EXPECT_TRUE(LocalStorage(dir.Join("missing")).List("").empty());
  EXPECT_EQ(storage.List("x/1")[0].size, 3u);
}

TEST(LocalStorageTest, LocationIsAbsolute) {
  TempDir dir;
  LocalStorage absolute(dir.path() + "/");
  EXPECT_EQ(absolute.Location("a/b"), dir.path() + "/a/b");
  EXPECT_EQ(absolute.Location(""), dir.path());
  EXPECT_EQ(absolute.root(), dir.path());
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  LocalStorage relative("rel/dir");
  EXPECT_EQ(relative.Location("k"), std::string(cwd) + "/rel/dir/k");
  EXPECT_THROW(LocalStorage(""), Error);
}

TEST(LocalStorageTest, RemoveEmptyDirectoriesStopsAtNonEmptyOnes) {
  TempDir dir;
  LocalStorage storage(dir.path());
  Store(storage, "sys/db/set1/data", "1");
  Store(storage, "sys/db/set2/data", "2");
  storage.Remove("sys/db/set1/data");
  storage.RemoveEmptyDirectories("sys/db/set1/data");
  EXPECT_FALSE(Exists(dir.Join("sys/db/set1")));
  EXPECT_TRUE(Exists(dir.Join("sys/db/set2/data")));
  storage.Remove("sys/db/set2/data");
  storage.RemoveEmptyDirectories("sys/db/set2");  // a directory key works too
  EXPECT_FALSE(Exists(dir.Join("sys")));
  EXPECT_TRUE(Exists(dir.path()));
}

TEST(LocalStorageTest, RemoveStaleTemporariesRemovesOnlyDeadWriters) {
  TempDir dir;
  LocalStorage storage(dir.path());
  Store(storage, "set/data", "kept");
  std::string stale = dir.Join("set/.manifest.json.partial-" + std::to_string(DeadPid()));
  test::WriteFile(stale, "left by a crash");
  std::unique_ptr<ObjectWriter> live = storage.Create("set/globals");
  EXPECT_EQ(storage.RemoveStaleTemporaries("set"), 1);
  EXPECT_FALSE(Exists(stale));
  EXPECT_TRUE(Exists(dir.Join("set/.globals.partial-" + std::to_string(getpid()))));
  EXPECT_TRUE(Exists(dir.Join("set/data")));
  WriteString(*live, "still writing");
  live->Finish();
  EXPECT_EQ(Load(storage, "set/globals"), "still writing");
  EXPECT_EQ(storage.RemoveStaleTemporaries(""), 0);
  EXPECT_EQ(storage.RemoveStaleTemporaries("missing"), 0);
}

// A write that fails half way (here at the file size limit, as a full disk
// would fail it) leaves neither the object nor its temporary file.
TEST(LocalStorageTest, FailedWriteLeavesNoTemporaryFile) {
  TempDir dir;
  LocalStorage storage(dir.path());
  std::unique_ptr<ObjectWriter> writer = storage.Create("set/data.dump.zst");
  struct rlimit old_limit;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct rlimit small = old_limit;
  small.rlim_cur = 1 << 20;
  struct sigaction ignore {
  }, old_action{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGXFSZ, &ignore, &old_action), 0);  // EFBIG instead of a signal
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  bool threw = false;
  try {
    WriteString(*writer, std::string(3 << 20, 'z'));
    writer->Finish();
  } catch (const Error& error) {
    threw = true;
    EXPECT_NE(std::string(error.what()).find(".data.dump.zst.partial-"), std::string::npos)
        << error.what();
  }
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  ASSERT_EQ(sigaction(SIGXFSZ, &old_action, nullptr), 0);
  EXPECT_TRUE(threw);
  EXPECT_THROW(writer->Finish(), Error);  // a failed writer cannot commit
  writer.reset();
  EXPECT_TRUE(RegularFiles(dir.path()).empty());
  EXPECT_TRUE(storage.List("").empty());
}

// KeepFree: a writer refuses, as a full disk (kDiskFull), a write that would
// leave less than the floor free, and then leaves nothing behind; below the
// floor's reach it writes as usual.
TEST(LocalStorageTest, KeepFreeRefusesWritesThatWouldCrossTheFloor) {
  TempDir dir;
  LocalStorage storage(dir.path());
  FileSystemSpace space = SpaceAt(dir.path());
  storage.KeepFree(space.available + (1ull << 30), "keep it free, says the test");
  std::unique_ptr<ObjectWriter> writer = storage.Create("set/data.dump.zst");
  try {
    WriteString(*writer, std::string(2 << 20, 'a'));  // more than the buffer: written at once
    writer->Finish();
    ADD_FAILURE() << "a write below the floor went through";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kDiskFull);
    EXPECT_NE(std::string(error.what()).find("would leave less than"), std::string::npos)
        << error.what();
    EXPECT_EQ(error.detail(), "keep it free, says the test");
  }
  writer.reset();
  EXPECT_TRUE(RegularFiles(dir.path()).empty());

  // Small writes are buffered: the floor is checked when they go out.
  writer = storage.Create("set/manifest.json");
  WriteString(*writer, "{}");
  EXPECT_THROW(writer->Finish(), Error);
  writer.reset();
  EXPECT_TRUE(RegularFiles(dir.path()).empty());

  storage.KeepFree(1, "one byte");
  Store(storage, "set/data.dump.zst", std::string(2 << 20, 'b'));
  storage.KeepFree(0, "");
  Store(storage, "set/manifest.json", "{}");
  EXPECT_EQ(Keys(storage.List("")),
            (std::vector<std::string>{"set/data.dump.zst", "set/manifest.json"}));
}

// SpaceAt of a directory that does not exist yet is that of its nearest
// existing ancestor, where it will be created.
TEST(FreeSpaceTest, MissingPathsAreMeasuredAtTheirExistingAncestor) {
  TempDir dir;
  FileSystemSpace here = SpaceAt(dir.path());
  EXPECT_EQ(here.probed, dir.path());
  FileSystemSpace later = SpaceAt(dir.Join("not/yet/there"));
  EXPECT_EQ(later.probed, dir.path());
  EXPECT_EQ(later.device, here.device);
  EXPECT_GT(later.size, 0u);
  struct stat st;
  ASSERT_EQ(stat(dir.path().c_str(), &st), 0);
  EXPECT_EQ(here.device, static_cast<uint64_t>(st.st_dev));
  struct statvfs info;
  ASSERT_EQ(statvfs(dir.path().c_str(), &info), 0);
  EXPECT_EQ(here.size, static_cast<uint64_t>(info.f_blocks) * info.f_frsize);
  // A file in the way is not a directory to climb out of.
  test::WriteFile(dir.Join("file"), "x");
  EXPECT_THROW(SpaceAt(dir.Join("file/below")), Error);
  EXPECT_THROW(SpaceAt("relative/path"), Error);
}

TEST(FreeSpaceTest, FormatBytesUsesPostgresUnits) {
  EXPECT_EQ(FormatBytes(0), "0 bytes");
  EXPECT_EQ(FormatBytes(1023), "1023 bytes");
  EXPECT_EQ(FormatBytes(1536), "1536 bytes (1.5 kB)");
  EXPECT_EQ(FormatBytes(1ull << 30), "1073741824 bytes (1.0 GB)");
}

}  // namespace
}  // namespace pgbak
