// command_support.cpp: see command_support.h.
#include "cli/command_support.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/base/child_process.h"
#include "core/base/error.h"
#include "core/pipeline/child_pump.h"
#include "core/storage/local/local_storage.h"
#include "core/storage/s3/s3_storage.h"
#include "core/storage/storage_definition.h"

extern char** environ;

namespace pgbak::cli {

namespace {

// The signal that asked the command to stop (0: none), and the process
// group of the tool running now (0: none), which the handler stops.
volatile sig_atomic_t g_stop_signal = 0;
volatile sig_atomic_t g_child_group = 0;

void OnStopSignal(int sig) {
  // A second signal does not wait for the tool to stop.
  bool again = g_stop_signal != 0;
  g_stop_signal = sig;
  if (g_child_group > 0)
    (void)kill(-static_cast<pid_t>(g_child_group), again ? SIGKILL : SIGTERM);
}

// CliDefinition is the storage the command line names, checked as
// pgbak_storage_add checks a definition.
StorageDefinition CliDefinition(const Arguments& args) {
  std::string options = args.storage_options.empty()
                            ? "{}"
                            : ReadWholeFile(args.storage_options, "storage options file");
  return ParseStorageDefinition("cli", args.storage_url, options);
}

// ToolEnvironment is pgbak's environment without the storage's secrets:
// what libpq reads (PGHOST, PGPASSWORD, PGPASSFILE...) goes on to the tools.
std::vector<std::string> ToolEnvironment() {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; entry++) {
    std::string text = *entry;
    if (text.rfind("AWS_", 0) == 0)
      continue;
    env.push_back(text);
  }
  return env;
}

}  // namespace

// ThrowIfStopped ends the command once a stop signal came.
void ThrowIfStopped() {
  if (g_stop_signal != 0)
    throw Error(ErrorKind::kCancelled, "stopped by signal " + std::to_string(g_stop_signal));
}

// ReadWholeFile reads a small file named on the command line.
std::string ReadWholeFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(ErrorKind::kUndefinedObject,
                "could not read " + what + " \"" + Printable(path) + "\"");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// OpenCliStorage opens the storage the command line names.
std::unique_ptr<Storage> OpenCliStorage(const Arguments& args) {
  StorageDefinition definition = CliDefinition(args);
  if (IsLocalUrl(definition.url)) {
    std::string root = LocalPathFromUrl(definition.url);
    struct stat st;
    if (stat(root.c_str(), &st) != 0)
      throw Error(ErrorKind::kUndefinedObject, "storage directory \"" + root + "\" does not exist");
    if (!S_ISDIR(st.st_mode))
      throw Error(ErrorKind::kUndefinedObject, "\"" + root + "\" is not a directory");
    return std::make_unique<LocalStorage>(root);
  }
  auto environment = [](const std::string& name) {
    const char* value = std::getenv(name.c_str());
    return std::string(value != nullptr ? value : "");
  };
  return std::make_unique<S3Storage>(SettingsFromDefinition(
      definition.url, definition.public_options, definition.secret_options, environment));
}

// OpenSource opens the storage with the identities of --identity.
SourceStorage OpenSource(const Arguments& args) {
  SourceStorage source;
  source.storage = OpenCliStorage(args);
  source.name = args.storage_url;
  source.no_identity = "no identity was given";
  source.identity_hint =
      "Give pgbak --identity FILE, a file holding the secret key (AGE-SECRET-KEY-1...) of one "
      "of the set's age_recipients.";
  // --identity, else the options file's age_identity_file.
  std::string identity = args.identity;
  if (identity.empty())
    identity = EncryptionFromDefinition(CliDefinition(args).public_options).identity_file;
  if (!identity.empty()) {
    if (access(identity.c_str(), R_OK) != 0)
      throw Error(ErrorKind::kUndefinedObject,
                  "could not read identity file \"" + Printable(identity) + "\"",
                  std::strerror(errno));
    source.identities = ReadAgeIdentityFile(identity);
  }
  return source;
}

// ToolPath finds a PostgreSQL client program: beside pgbak (which is
// installed into PostgreSQL's bin directory), else in PATH.
std::string ToolPath(const std::string& tool) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string dir(self, static_cast<size_t>(n));
    dir = dir.substr(0, dir.rfind('/'));
    if (access((dir + "/" + tool).c_str(), X_OK) == 0)
      return dir + "/" + tool;
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t colon = dirs.find(':', start);
    if (colon == std::string::npos)
      colon = dirs.size();
    std::string candidate = dirs.substr(start, colon - start) + "/" + tool;
    if (colon > start && candidate[0] == '/' && access(candidate.c_str(), X_OK) == 0)
      return candidate;
    start = colon + 1;
  }
  throw Error(ErrorKind::kUndefinedObject, tool + " was found neither beside pgbak nor in PATH");
}

// RunTool runs a client tool to completion, its output into output (or
// nowhere); kChildFailed with its error output if it fails.
void RunTool(const std::string& tool, std::vector<std::string> args, Sink* output) {
  ChildSpec spec;
  spec.program = ToolPath(tool);
  spec.args = std::move(args);
  spec.env = ToolEnvironment();
  ThrowIfStopped();
  ChildProcess child(spec);
  g_child_group = child.pid();
  // A signal that came while the tool started found no group to stop.
  if (g_stop_signal != 0)
    (void)kill(-child.pid(), SIGTERM);
  class Discard : public Sink {
   public:
    void Write(const uint8_t*, size_t) override {}
    void Finish() override {}
  } discard;
  try {
    PumpChild(child, output != nullptr ? *output : discard);
  } catch (...) {
    g_child_group = 0;
    ThrowIfStopped();
    throw;
  }
  g_child_group = 0;
  ThrowIfStopped();
}

// SyncFile makes a written file durable.
void SyncFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) != 0) {
    int saved = errno;
    if (fd >= 0)
      close(fd);
    ThrowErrno("could not fsync \"" + Printable(path) + "\"", saved);
  }
  close(fd);
}

// RequireEmpty throws kInvalidParameter ("<what> \"<directory>\" is not
// empty", with hint) if the existing directory holds anything.
void RequireEmpty(const std::string& directory, const std::string& what, const std::string& hint) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(directory.c_str()), closedir);
  if (!dir)
    ThrowErrno("could not open directory \"" + Printable(directory) + "\"", errno);
  while (struct dirent* entry = readdir(dir.get())) {
    std::string name = entry->d_name;
    if (name != "." && name != "..")
      throw Error(ErrorKind::kInvalidParameter,
                  what + " \"" + Printable(directory) + "\" is not empty", "", hint);
  }
}

void InstallSignalHandlers() {
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP})
    sigaction(sig, &action, nullptr);
  // A reader that goes away (pgbak sets | head) is not an error worth a
  // signal's death.
  signal(SIGPIPE, SIG_IGN);
}

}  // namespace pgbak::cli
