// scratch_server_test.cpp: the scratch server of a physical restore drill:
// its command line, postmaster.pid, and the stop of a leftover one.
#include "core/recovery/scratch_server.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/base/error.h"

namespace pgbak {
namespace {

// ValueOf is the value of setting name on the command line ("" if absent;
// "<twice>" if it is given twice).
std::string ValueOf(const std::vector<std::string>& args, const std::string& name) {
  std::string found;
  int seen = 0;
  for (size_t i = 0; i + 1 < args.size(); i++)
    if (args[i] == "-c" && args[i + 1].rfind(name + "=", 0) == 0) {
      found = args[i + 1].substr(name.size() + 1);
      seen++;
    }
  return seen > 1 ? "<twice>" : (seen == 0 ? "<absent>" : found);
}

TEST(ScratchServerArguments, NothingOfTheLiveClusterIsShared) {
  ScratchServerLayout layout;
  layout.data_dir = "/var/tmp/x/.staging/7/data";
  layout.socket_dir = "/var/tmp/x/.staging/7";
  layout.config_file = "/var/tmp/x/.staging/7/postgresql.conf";
  layout.hba_file = "/var/tmp/x/.staging/7/pg_hba.conf";
  layout.ident_file = "/var/tmp/x/.staging/7/pg_ident.conf";
  layout.log_dir = "/var/tmp/x/.staging/7/log";
  layout.port = 50007;
  layout.cluster_name = "pgbak drill 7";
  std::vector<std::string> args = ScratchServerArguments(layout);
  ASSERT_GE(args.size(), 2u);
  EXPECT_EQ(args[0], "-D");
  EXPECT_EQ(args[1], layout.data_dir);
  // No TCP; the socket only where only this OS user reaches it.
  EXPECT_EQ(ValueOf(args, "listen_addresses"), "");
  EXPECT_EQ(ValueOf(args, "unix_socket_directories"), layout.socket_dir);
  EXPECT_EQ(ValueOf(args, "unix_socket_permissions"), "0700");
  EXPECT_EQ(ValueOf(args, "port"), "50007");
  // Nothing archived, no library of the copy's loaded, no replication.
  EXPECT_EQ(ValueOf(args, "archive_mode"), "off");
  EXPECT_EQ(ValueOf(args, "shared_preload_libraries"), "");
  EXPECT_EQ(ValueOf(args, "session_preload_libraries"), "");
  EXPECT_EQ(ValueOf(args, "local_preload_libraries"), "");
  EXPECT_EQ(ValueOf(args, "primary_conninfo"), "");
  EXPECT_EQ(ValueOf(args, "hot_standby"), "off");
  // Files of its own, not the copy's.
  EXPECT_EQ(ValueOf(args, "config_file"), layout.config_file);
  EXPECT_EQ(ValueOf(args, "hba_file"), layout.hba_file);
  EXPECT_EQ(ValueOf(args, "ident_file"), layout.ident_file);
  EXPECT_EQ(ValueOf(args, "log_directory"), layout.log_dir);
  EXPECT_EQ(ValueOf(args, "ssl"), "off");
  EXPECT_EQ(ValueOf(args, "shared_buffers"), "64MB");
  EXPECT_EQ(ScratchHbaFile().find("host"), std::string::npos);
  // What the copy's postgresql.auto.conf could say that reaches outside
  // the scratch directory or stops the drill.
  EXPECT_EQ(ValueOf(args, "synchronous_standby_names"), "");
  EXPECT_EQ(ValueOf(args, "archive_cleanup_command"), "");
  EXPECT_EQ(ValueOf(args, "external_pid_file"), "");
  EXPECT_EQ(ValueOf(args, "max_logical_replication_workers"), "0");
  EXPECT_EQ(ValueOf(args, "recovery_min_apply_delay"), "0");
  // Prepared transactions in the replayed WAL fit as on the live cluster.
  EXPECT_EQ(ValueOf(args, "max_prepared_transactions"), "0");
  layout.max_prepared_transactions = "20";
  layout.max_locks_per_transaction = "128";
  args = ScratchServerArguments(layout);
  EXPECT_EQ(ValueOf(args, "max_prepared_transactions"), "20");
  EXPECT_EQ(ValueOf(args, "max_locks_per_transaction"), "128");
  // No setting is given twice (the last would silently win).
  for (const char* name : {"port", "archive_mode", "shared_preload_libraries", "hot_standby"})
    EXPECT_NE(ValueOf(args, name), "<twice>") << name;
}

TEST(ScratchSocketDirectory, PrivateAndRecognised) {
  std::string dir = MakeScratchSocketDirectory();
  struct stat st;
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_TRUE(IsScratchSocketDirectory(dir));
  EXPECT_LT(dir.size() + std::string("/.s.PGSQL.59999").size(), 108u);
  EXPECT_FALSE(IsScratchSocketDirectory("/tmp"));
  EXPECT_FALSE(IsScratchSocketDirectory("/tmp/pgbak-drill-"));
  EXPECT_FALSE(IsScratchSocketDirectory("/tmp/pgbak-drill-abcdef/x"));
  EXPECT_FALSE(IsScratchSocketDirectory("/var/pgbak-drill-abcdef"));
  EXPECT_TRUE(RemoveDirectoryTree(dir));
}

TEST(ParsePostmasterPid, AsPostgres15WritesIt) {
  PostmasterPidFile pid_file;
  ASSERT_TRUE(ParsePostmasterPid(
      "4242\n/var/tmp/d/data\n1764600000\n50007\n/var/tmp/d\n\n 50007001     32769\nready   \n",
      pid_file));
  EXPECT_EQ(pid_file.status, "ready");
  EXPECT_EQ(pid_file.pid, 4242);
  EXPECT_EQ(pid_file.data_dir, "/var/tmp/d/data");
  EXPECT_EQ(pid_file.shm_key, 50007001);
  EXPECT_EQ(pid_file.shm_id, 32769);
  // Still starting: no segment line yet.
  ASSERT_TRUE(ParsePostmasterPid("4242\n/var/tmp/d/data\n", pid_file));
  EXPECT_EQ(pid_file.shm_id, -1);
  EXPECT_FALSE(ParsePostmasterPid("", pid_file));
  EXPECT_FALSE(ParsePostmasterPid("-5\n/d\n", pid_file));
  EXPECT_FALSE(ParsePostmasterPid("1\n/d\n", pid_file));
  EXPECT_FALSE(ParsePostmasterPid("42x\n/d\n", pid_file));
  EXPECT_FALSE(ParsePostmasterPid("42\nrelative\n", pid_file));
}

// TempDir is a directory removed at the end of a test.
class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/pgbak_scratch_test.XXXXXX";
    path_ = mkdtemp(name);
  }
  ~TempDir() { RemoveDirectoryTree(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

TEST(StopLeftoverServer, StopsOnlyAProcessRunningInTheDirectory) {
  TempDir dir;
  std::string data = dir.path() + "/data";
  ASSERT_EQ(mkdir(data.c_str(), 0700), 0);
  // A "postmaster" that sits in data, and another process elsewhere.
  pid_t inside = fork();
  if (inside == 0) {
    if (chdir(data.c_str()) != 0)
      _exit(1);
    pause();
    _exit(0);
  }
  pid_t outside = fork();
  if (outside == 0) {
    pause();
    _exit(0);
  }
  // Let the first child reach its directory.
  for (int i = 0; i < 200; i++) {
    char link[64], target[4096];
    std::snprintf(link, sizeof link, "/proc/%d/cwd", inside);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n > 0 && std::string(target, n) == data)
      break;
    usleep(10000);
  }
  // A PID file naming the process elsewhere: it is left alone.
  WriteFile(data + "/postmaster.pid", std::to_string(outside) + "\n" + data + "\n");
  EXPECT_EQ(StopLeftoverServer(data, 200), "");
  EXPECT_EQ(kill(outside, 0), 0);
  // The one that runs there is stopped.
  WriteFile(data + "/postmaster.pid", std::to_string(inside) + "\n" + data + "\n");
  std::string done = StopLeftoverServer(data, 2000);
  EXPECT_NE(done.find(std::to_string(inside)), std::string::npos) << done;
  int status = 0;
  EXPECT_EQ(waitpid(inside, &status, 0), inside);
  EXPECT_TRUE(WIFSIGNALED(status));
  kill(outside, SIGKILL);
  waitpid(outside, &status, 0);
  // No PID file: nothing to do.
  unlink((data + "/postmaster.pid").c_str());
  EXPECT_EQ(StopLeftoverServer(data, 200), "");
}

TEST(RemoveDirectoryTree, RemovesEverythingButFollowsNoLink) {
  TempDir dir;
  TempDir outside;
  std::string tree = dir.path() + "/tree";
  ASSERT_EQ(mkdir(tree.c_str(), 0700), 0);
  ASSERT_EQ(mkdir((tree + "/base").c_str(), 0700), 0);
  WriteFile(tree + "/base/1", "x");
  WriteFile(outside.path() + "/keep", "y");
  ASSERT_EQ(symlink(outside.path().c_str(), (tree + "/link").c_str()), 0);
  EXPECT_TRUE(RemoveDirectoryTree(tree));
  struct stat st;
  EXPECT_NE(lstat(tree.c_str(), &st), 0);
  EXPECT_EQ(stat((outside.path() + "/keep").c_str(), &st), 0);
  EXPECT_TRUE(RemoveDirectoryTree(tree));  // gone already
}

TEST(MergeJsonObjects, SecretsJoinTheOptions) {
  EXPECT_EQ(MergeJsonObjects(R"({"endpoint":"http://h:1","access_key_id":"A"})",
                             R"({"secret_access_key":"S"})"),
            R"({"endpoint":"http://h:1","access_key_id":"A","secret_access_key":"S"})");
  EXPECT_EQ(MergeJsonObjects("{}", "{}"), "{}");
  EXPECT_THROW(MergeJsonObjects("[]", "{}"), Error);
}

}  // namespace
}  // namespace pgbak
