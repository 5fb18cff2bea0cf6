// scratch_server.cpp: see scratch_server.h.
#include "core/recovery/scratch_server.h"

#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/base/error.h"
#include "core/base/json.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

// Setting is one "-c name=value" pair of the command line.
void Setting(std::vector<std::string>& args, const std::string& name, const std::string& value) {
  args.push_back("-c");
  args.push_back(name + "=" + value);
}

// ProcessDirectory is the working directory of process pid ("" if it is
// gone or not ours to read).
std::string ProcessDirectory(pid_t pid) {
  char link[64];
  std::snprintf(link, sizeof link, "/proc/%ld/cwd", static_cast<long>(pid));
  char target[PATH_MAX];
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n <= 0)
    return "";
  return std::string(target, static_cast<size_t>(n));
}

// Alive says whether pid still exists (a zombie counts as gone).
bool Alive(pid_t pid) {
  if (kill(pid, 0) != 0 && errno != EPERM)
    return false;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%ld/stat", static_cast<long>(pid));
  std::ifstream stat_file(path);
  std::string text((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  size_t close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() || text[close + 2] != 'Z';
}

// SleepMs sleeps for ms milliseconds.
void SleepMs(int ms) {
  struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&pause, nullptr);
}

}  // namespace

std::vector<std::string> ScratchServerArguments(const ScratchServerLayout& layout) {
  std::vector<std::string> args = {"-D", layout.data_dir};
  Setting(args, "config_file", layout.config_file);
  Setting(args, "hba_file", layout.hba_file);
  Setting(args, "ident_file", layout.ident_file);
  Setting(args, "port", std::to_string(layout.port));
  Setting(args, "listen_addresses", "");
  Setting(args, "unix_socket_directories", layout.socket_dir);
  Setting(args, "unix_socket_permissions", "0700");
  Setting(args, "unix_socket_group", "");
  Setting(args, "ssl", "off");
  Setting(args, "shared_buffers", "64MB");
  Setting(args, "max_connections", "10");
  Setting(args, "superuser_reserved_connections", "3");
  Setting(args, "max_wal_senders", "0");
  Setting(args, "max_replication_slots", "0");
  Setting(args, "max_worker_processes", "8");
  Setting(args, "max_parallel_workers", "2");
  Setting(args, "max_wal_size", "1GB");
  Setting(args, "hot_standby", "off");
  Setting(args, "archive_mode", "off");
  Setting(args, "archive_command", "");
  Setting(args, "archive_library", "");
  Setting(args, "shared_preload_libraries", "");
  Setting(args, "session_preload_libraries", "");
  Setting(args, "local_preload_libraries", "");
  Setting(args, "autovacuum", "off");
  Setting(args, "jit", "off");
  Setting(args, "huge_pages", "off");
  Setting(args, "primary_conninfo", "");
  Setting(args, "primary_slot_name", "");
  Setting(args, "logging_collector", "on");
  Setting(args, "log_destination", "stderr");
  Setting(args, "log_directory", layout.log_dir);
  Setting(args, "log_filename", "postgresql.log");
  Setting(args, "log_min_messages", "warning");
  Setting(args, "log_connections", "off");
  Setting(args, "log_disconnections", "off");
  Setting(args, "log_statement", "none");
  Setting(args, "cluster_name", layout.cluster_name);
  // What the copy's own postgresql.auto.conf may say that would reach
  // beyond the scratch directory or stop the drill: commits waiting for a
  // standby, commands run at restartpoints, the live server's pid file,
  // subscriptions applying from (and advancing the slots of) the real
  // publishers, a replay delay.
  Setting(args, "synchronous_standby_names", "");
  Setting(args, "archive_cleanup_command", "");
  Setting(args, "external_pid_file", "");
  Setting(args, "max_logical_replication_workers", "0");
  Setting(args, "max_sync_workers_per_subscription", "0");
  Setting(args, "recovery_min_apply_delay", "0");
  Setting(args, "bonjour", "off");
  Setting(args, "max_prepared_transactions", layout.max_prepared_transactions);
  Setting(args, "max_locks_per_transaction", layout.max_locks_per_transaction);
  return args;
}

std::string ScratchConfigFile() {
  return "# pgbak_ext restore drill: every setting is on the postgres command line.\n";
}

std::string ScratchHbaFile() {
  return "# pgbak_ext restore drill: the socket directory admits only its OS user.\n"
         "local all all trust\n";
}

bool ParsePostmasterPid(const std::string& text, PostmasterPidFile& pid_file) {
  std::istringstream lines(text);
  std::vector<std::string> line;
  std::string one;
  while (std::getline(lines, one))
    line.push_back(one);
  if (line.size() < 2)
    return false;
  char* end = nullptr;
  errno = 0;
  long pid = std::strtol(line[0].c_str(), &end, 10);
  if (errno != 0 || end == line[0].c_str() || *end != '\0' || pid <= 1 || pid > INT_MAX)
    return false;
  if (line[1].empty() || line[1][0] != '/')
    return false;
  pid_file = PostmasterPidFile();
  pid_file.pid = static_cast<pid_t>(pid);
  pid_file.data_dir = line[1];
  if (line.size() >= 8) {
    std::string status = line[7];
    while (!status.empty() && status.back() == ' ')
      status.pop_back();
    pid_file.status = status;
  }
  if (line.size() >= 7) {
    long key = -1, id = -1;
    if (std::sscanf(line[6].c_str(), "%ld %ld", &key, &id) == 2 && key > 0 && id >= 0) {
      pid_file.shm_key = key;
      pid_file.shm_id = id;
    }
  }
  return true;
}

std::string StopLeftoverServer(const std::string& data_dir, int grace_ms) {
  std::ifstream in(data_dir + "/postmaster.pid");
  if (!in)
    return "";
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  PostmasterPidFile pid_file;
  if (!ParsePostmasterPid(text, pid_file))
    return "";
  char resolved[PATH_MAX];
  std::string directory = realpath(data_dir.c_str(), resolved) != nullptr ? resolved : data_dir;
  std::string done;
  if (Alive(pid_file.pid) && ProcessDirectory(pid_file.pid) == directory) {
    (void)kill(pid_file.pid, SIGQUIT);  // immediate shutdown: nothing of it is kept
    int waited = 0;
    while (Alive(pid_file.pid) && waited < grace_ms) {
      SleepMs(50);
      waited += 50;
    }
    if (Alive(pid_file.pid) && ProcessDirectory(pid_file.pid) == directory) {
      (void)kill(pid_file.pid, SIGKILL);
      done = "killed its server (PID " + std::to_string(pid_file.pid) + ")";
    } else {
      done = "stopped its server (PID " + std::to_string(pid_file.pid) + ")";
    }
  }
  // The segment outlives a postmaster that was killed; only one with the
  // key the file names and nothing attached goes.
  if (pid_file.shm_id >= 0) {
    struct shmid_ds info;
    if (shmctl(static_cast<int>(pid_file.shm_id), IPC_STAT, &info) == 0 &&
        static_cast<long>(info.shm_perm.__key) == pid_file.shm_key && info.shm_nattch == 0 &&
        info.shm_perm.uid == geteuid() &&
        shmctl(static_cast<int>(pid_file.shm_id), IPC_RMID, nullptr) == 0)
      done += std::string(done.empty() ? "" : ", ") + "removed its shared memory segment";
  }
  return done;
}

std::string MakeScratchSocketDirectory() {
  std::string pattern = std::string(kScratchSocketPrefix) + "XXXXXX";
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  if (mkdtemp(name.data()) == nullptr)
    ThrowErrno("could not create a socket directory below /tmp", errno);
  return name.data();
}

bool IsScratchSocketDirectory(const std::string& path) {
  std::string prefix = kScratchSocketPrefix;
  return path.size() == prefix.size() + 6 && path.compare(0, prefix.size(), prefix) == 0 &&
         path.find('/', prefix.size()) == std::string::npos;
}

bool RemoveDirectoryTree(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0)
    return errno == ENOENT;
  static thread_local bool failed;
  failed = false;
  nftw(
      path.c_str(),
      [](const char* entry, const struct stat*, int, struct FTW*) {
        if (::remove(entry) != 0 && errno != ENOENT)
          failed = true;
        return 0;
      },
      16, FTW_DEPTH | FTW_PHYS);
  return !failed && lstat(path.c_str(), &st) != 0;
}

std::string MergeJsonObjects(const std::string& first, const std::string& second) {
  json::Value merged = json::Parse(first);
  json::Value more = json::Parse(second);
  if (merged.type() != json::Type::kObject || more.type() != json::Type::kObject)
    throw Error(ErrorKind::kInvalidParameter, "storage options are not JSON objects");
  for (const auto& [key, value] : more.AsObject())
    merged.Set(key, value);
  return merged.Serialize();
}

}  // namespace pgbak
