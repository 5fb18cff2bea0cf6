// commands.cpp: pgbak sets, verify, fetch and restore, built on the core
// the server's workers use (storage drivers, set_listing, set_reader,
// globals_script, table_selection), without any PostgreSQL server library.
#include "cli/commands.h"
#include "cli/terminal.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/archive/base_layout.h"
#include "core/archive/globals_script.h"
#include "core/archive/restore_list.h"
#include "core/archive/set_layout.h"
#include "core/archive/set_listing.h"
#include "core/archive/set_reader.h"
#include "core/archive/table_selection.h"
#include "core/base/child_process.h"
#include "core/base/error.h"
#include "core/base/json.h"
#include "core/base/unique_fd.h"
#include "core/pipeline/child_pump.h"
#include "core/recovery/base_catalog.h"
#include "core/recovery/recovery_plan.h"
#include "core/recovery/tar_extract.h"
#include "core/storage/local/free_space.h"
#include "core/storage/local/local_storage.h"
#include "core/storage/s3/s3_storage.h"
#include "core/storage/storage_definition.h"
#include "core/wal/wal_get.h"

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

// CliDefinition is the storage the command line names, checked as
// pgbak_storage_add checks a definition.
StorageDefinition CliDefinition(const Arguments& args) {
  std::string options = args.storage_options.empty()
                            ? "{}"
                            : ReadWholeFile(args.storage_options, "storage options file");
  return ParseStorageDefinition("cli", args.storage_url, options);
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

// IsDigits says whether text is a non-empty run of decimal digits.
bool IsDigits(const std::string& text) {
  return !text.empty() && text.size() <= 18 &&
         text.find_first_not_of("0123456789") == std::string::npos;
}

// ResolveSet finds the complete set args.set names (see pgbak --help).
SetSummary ResolveSet(Storage& storage, const Arguments& args) {
  std::vector<SetSummary> sets = ListSets(storage, {args.database, args.cluster});
  const std::string& name = args.set;
  std::vector<const SetSummary*> found;
  if (name == "latest") {
    for (const SetSummary& set : sets)  // oldest first
      if (set.complete)
        found = {&set};
    if (found.empty())
      throw Error(
          ErrorKind::kUndefinedObject,
          "the storage holds no complete set" +
              (args.database.empty() ? std::string()
                                     : " of database \"" + Printable(args.database) + "\""));
  } else if (IsDigits(name)) {
    int64_t id = std::stoll(name);
    // A copy's directory carries its own id: that is tried first.
    for (const SetSummary& set : sets)
      if (set.complete && set.directory_id == id)
        found.push_back(&set);
    if (found.empty())
      for (const SetSummary& set : sets)
        if (set.complete && set.backup_id == id)
          found.push_back(&set);
  } else {
    std::string key = storage.KeyOf(name);
    if (key.empty())
      key = name;
    while (!key.empty() && key.back() == '/')
      key.pop_back();
    for (const SetSummary& set : sets)
      if (set.key == key)
        found.push_back(&set);
    if (found.size() == 1 && !found[0]->complete)
      throw Error(ErrorKind::kUndefinedObject,
                  "set \"" + Printable(name) + "\" is not a complete backup: " + found[0]->problem);
  }
  if (found.empty())
    throw Error(
        ErrorKind::kUndefinedObject,
        "the storage holds no set \"" + Printable(name) + "\"" +
            (args.database.empty() ? "" : " of database \"" + Printable(args.database) + "\""),
        "", "pgbak sets lists the sets it holds.");
  if (found.size() > 1) {
    std::string locations;
    for (const SetSummary* set : found)
      locations += "\n  " + Printable(storage.Location(set->key));
    throw Error(ErrorKind::kInvalidParameter,
                "backup id " + name + " names " + std::to_string(found.size()) +
                    " sets (of different clusters)",
                "They are:" + locations, "Name the set by its location, or add --cluster.");
  }
  return *found[0];
}

// Progress is the progress line on a terminal: bytes, rate, time left.
class Progress {
 public:
  Progress(bool enabled, uint64_t total, std::string verb)
      : enabled_(enabled), total_(total), verb_(std::move(verb)) {
    gettimeofday(&start_, nullptr);
  }
  ~Progress() { Clear(); }
  void Add(size_t bytes) {
    ThrowIfStopped();
    done_ += bytes;
    if (!enabled_)
      return;
    double now = Elapsed();
    if (now - drawn_at_ < 0.25 && done_ < total_)
      return;
    drawn_at_ = now;
    double rate = now > 0 ? done_ / now : 0;
    std::string eta = "-";
    if (rate > 0 && total_ > done_) {
      long seconds = static_cast<long>((total_ - done_) / rate);
      char text[32];
      std::snprintf(text, sizeof text, "%ld:%02ld", seconds / 60, seconds % 60);
      eta = text;
    }
    std::fprintf(stderr, "\r%s %s of %s, %s/s, %s left   ", verb_.c_str(), Size(done_).c_str(),
                 Size(total_).c_str(), Size(static_cast<uint64_t>(rate)).c_str(), eta.c_str());
    std::fflush(stderr);
    shown_ = true;
  }
  void Clear() {
    if (shown_)
      std::fprintf(stderr, "\r%*s\r", 72, "");
    shown_ = false;
  }
  double Elapsed() const {
    struct timeval now;
    gettimeofday(&now, nullptr);
    return (now.tv_sec - start_.tv_sec) + (now.tv_usec - start_.tv_usec) / 1e6;
  }

 private:
  static std::string Size(uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1024 && unit < 4) {
      value /= 1024;
      unit++;
    }
    char text[32];
    std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
    return text;
  }

  bool enabled_;
  uint64_t total_;
  uint64_t done_ = 0;
  std::string verb_;
  struct timeval start_;
  double drawn_at_ = -1;
  bool shown_ = false;
};

// WorkDirectory is where verify and restore stage: --work-dir, $TMPDIR,
// /var/tmp.
std::string WorkDirectory(const Arguments& args) {
  if (!args.work_dir.empty())
    return args.work_dir;
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && tmp[0] == '/' ? tmp : "/var/tmp";
}

// CheckRoom refuses to stage bytes in directory unless they fit with a
// tenth to spare.
void CheckRoom(const std::string& directory, uint64_t bytes) {
  FileSystemSpace space = SpaceAt(directory);
  if (space.available < bytes + bytes / 10)
    throw Error(ErrorKind::kDiskFull,
                "not enough room in \"" + Printable(directory) + "\" to stage the set: it needs " +
                    FormatBytes(bytes) + ", " + FormatBytes(space.available) + " is free",
                "", "Give --work-dir a directory on a file system with more room.");
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

// RunTool runs a client tool to completion, its output into output (or
// nowhere); kChildFailed with its error output if it fails.
void RunTool(const std::string& tool, std::vector<std::string> args, Sink* output = nullptr) {
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

// CountEntries counts the entries of a pg_restore --list listing.
int CountEntries(const std::string& listing) {
  int entries = 0;
  size_t start = 0;
  while (start < listing.size()) {
    if (listing[start] >= '0' && listing[start] <= '9')
      entries++;
    size_t end = listing.find('\n', start);
    start = end == std::string::npos ? listing.size() : end + 1;
  }
  return entries;
}

// SetJson describes a set in the JSON output.
json::Value SetJson(const SetSummary& set, Storage& storage) {
  json::Value object = json::Value::Object();
  object.Set("location", json::Value::String(storage.Location(set.key)));
  object.Set("complete", json::Value::Bool(set.complete));
  if (!set.problem.empty())
    object.Set("problem", json::Value::String(set.problem));
  object.Set("cluster", json::Value::String(set.system_identifier));
  object.Set("database", json::Value::String(set.database));
  object.Set("directory_id", json::Value::Number(set.directory_id));
  if (set.complete) {
    object.Set("backup_id", json::Value::Number(set.backup_id));
    object.Set("format", json::Value::String(set.dump_format));
    object.Set("started_at", json::Value::String(set.started_at));
    object.Set("finished_at", json::Value::String(set.finished_at));
    object.Set("raw_bytes", json::Value::Number(static_cast<int64_t>(set.raw_bytes)));
    object.Set("encrypted", json::Value::Bool(set.encrypted));
  }
  object.Set("stored_bytes", json::Value::Number(static_cast<int64_t>(set.stored_bytes)));
  return object;
}

// Seconds renders a duration for JSON.
json::Value Seconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", seconds);
  return json::Value::NumberLexeme(text);
}

// Stopwatch measures a command's wall time.
class Stopwatch {
 public:
  Stopwatch() { gettimeofday(&start_, nullptr); }
  double Seconds() const {
    struct timeval now;
    gettimeofday(&now, nullptr);
    return (now.tv_sec - start_.tv_sec) + (now.tv_usec - start_.tv_usec) / 1e6;
  }

 private:
  struct timeval start_;
};

// ResultJson starts the JSON output of a command on set.
json::Value ResultJson(const SetSummary& set, Storage& storage) {
  json::Value out = json::Value::Object();
  out.Set("set", SetJson(set, storage));
  return out;
}

// PrintJson prints a command's JSON output with its time.
void PrintJson(json::Value out, const Stopwatch& watch) {
  out.Set("seconds", Seconds(watch.Seconds()));
  std::printf("%s\n", out.Serialize(2).c_str());
}

// ListArchive is pg_restore --list of a staged custom archive.
std::string ListArchive(const std::string& path) {
  StringSink listing;
  RunTool("pg_restore", {"--list", path}, &listing);
  return listing.contents();
}

// SetName is how output names a set.
std::string SetName(const SetSummary& set, Storage& storage) {
  return "backup " + std::to_string(set.backup_id) + " of database \"" + Printable(set.database) +
         "\" (" + Printable(storage.Location(set.key)) + ")";
}

int RunSets(const Arguments& args) {
  std::unique_ptr<Storage> storage = OpenCliStorage(args);
  std::vector<SetSummary> sets = ListSets(*storage, {args.database, args.cluster});
  if (args.json) {
    json::Value list = json::Value::Array();
    for (const SetSummary& set : sets)
      list.Append(SetJson(set, *storage));
    std::printf("%s\n", list.Serialize(2).c_str());
    return kExitOk;
  }
  std::printf("%-24s  %-20s  %-20s  %8s  %-6s  %12s  %-9s  %s\n", "started at", "cluster",
              "database", "backup", "format", "stored bytes", "state", "location");
  for (const SetSummary& set : sets) {
    std::string state = !set.complete ? "INCOMPLETE" : set.encrypted ? "encrypted" : "ok";
    std::string id = set.complete ? std::to_string(set.backup_id) : "-";
    if (set.complete && set.directory_id != set.backup_id)
      id += " (copy " + std::to_string(set.directory_id) + ")";
    // What a storage holds is printed as text that cannot steer the
    // terminal (a tampered manifest may name anything).
    std::printf("%-24s  %-20s  %-20s  %8s  %-6s  %12llu  %-9s  %s\n",
                set.complete ? Printable(set.started_at).c_str() : "-",
                Printable(set.system_identifier).c_str(), Printable(set.database).c_str(),
                id.c_str(), set.complete ? Printable(set.dump_format).c_str() : "-",
                static_cast<unsigned long long>(set.stored_bytes), state.c_str(),
                Printable(storage->Location(set.key)).c_str());
  }
  return kExitOk;
}

// Staging is a directory of the command's own below a local directory.
// OnThisMachine runs a step that works on local files: its I/O errors are
// this machine's, not the storage's (exit 1, not 5).
template <typename Step>
auto OnThisMachine(Step step) {
  try {
    return step();
  } catch (const CliFailure&) {
    throw;
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kIo)
      throw CliFailure(e);
    throw;
  }
}

// NewPrivateDirectory creates a directory of its own (0700, a random name
// starting with prefix) in directory: no other user can have made it
// first or swap what it holds. Returns its name.
std::string NewPrivateDirectory(const std::string& directory, const std::string& prefix) {
  std::string pattern = directory + "/" + prefix + "XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr)
    throw CliFailure(ErrorKind::kIo,
                     "could not create a directory in \"" + Printable(directory) + "\"",
                     std::strerror(errno), "Give --work-dir a directory this user may write.");
  std::string path = buffer.data();
  return path.substr(path.rfind('/') + 1);
}

// Staging is a private directory of the command's own below a local
// directory, removed with what it holds at the end.
struct Staging {
  Staging(const std::string& directory, const std::string& prefix)
      : local(directory, Durability::kScratch),
        area(local, NewPrivateDirectory(directory, prefix)) {}
  LocalStorage local;
  StagingArea area;
};

// ReadBack reads back and checks set, staging what options ask for, with a
// progress line on a terminal.
StagedSet ReadBack(SourceStorage& source, const SetSummary& set, StagingArea& staging,
                   ReadBackOptions options, const Arguments& args, const char* verb,
                   const std::string& room_in) {
  Progress progress(!args.json && isatty(STDERR_FILENO) != 0, set.stored_bytes, verb);
  options.progress = [&](size_t bytes) { progress.Add(bytes); };
  if (!room_in.empty())
    options.check_space = [&](uint64_t bytes) {
      OnThisMachine([&] { CheckRoom(room_in, bytes); });
    };
  options.on_staging_error = [](const Error& e) {
    if (e.kind() == ErrorKind::kIo)
      throw CliFailure(e);
  };
  SetExpectation expected;
  expected.backup_id = set.backup_id;
  expected.database = set.database;
  return ReadBackSet(source, set.key, staging, expected, options);
}

int RunVerify(const Arguments& args) {
  SourceStorage source = OpenSource(args);
  SetSummary set = ResolveSet(*source.storage, args);
  std::string work = WorkDirectory(args);
  Staging staging(work, "pgbak-verify-");
  Stopwatch watch;
  ReadBackOptions options;
  options.stage = set.dump_format == "custom";
  StagedSet staged = ReadBack(source, set, staging.area, options, args, "verifying", work);
  int entries = -1;
  if (!staged.data_path.empty()) {
    entries = CountEntries(ListArchive(staged.data_path));
  }
  if (args.json) {
    json::Value out = ResultJson(set, *source.storage);
    out.Set("verified", json::Value::Bool(true));
    out.Set("decrypted", json::Value::Bool(staged.all_read));
    out.Set("objects", json::Value::Number(static_cast<int64_t>(staged.manifest.objects.size())));
    if (entries >= 0)
      out.Set("archive_entries", json::Value::Number(entries));
    PrintJson(std::move(out), watch);
    return kExitOk;
  }
  std::printf("%s: verified\n", SetName(set, *source.storage).c_str());
  std::printf("  %zu objects: sizes and SHA-256 match the manifest",
              staged.manifest.objects.size());
  if (staged.all_read)
    std::printf(", decompressed sizes too\n");
  else
    std::printf("; not decrypted (no --identity): contents not read\n");
  if (entries >= 0)
    std::printf("  pg_restore --list reads the archive: %d entries\n", entries);
  return kExitOk;
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

// EmptyDirectory creates directory (0700) if missing; an existing one must
// be empty.
void EmptyDirectory(const std::string& directory) {
  if (mkdir(directory.c_str(), 0700) == 0)
    return;
  if (errno != EEXIST)
    ThrowErrno("could not create directory \"" + Printable(directory) + "\"", errno);
  struct stat st;
  if (stat(directory.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw Error(ErrorKind::kInvalidParameter,
                "\"" + Printable(directory) + "\" is not a directory");
  RequireEmpty(directory, "directory", "Fetch into a new or empty directory.");
}

int RunFetch(const Arguments& args) {
  SourceStorage source = OpenSource(args);
  SetSummary set = ResolveSet(*source.storage, args);
  OnThisMachine([&] { EmptyDirectory(args.directory); });
  // Everything is staged in a directory of its own inside DIR and moved
  // into DIR only when every object was checked.
  Staging staging(args.directory, ".pgbak-fetch-");
  ReadBackOptions options;
  options.stage = true;
  options.stage_required = true;
  options.stage_globals = true;
  Stopwatch watch;
  StagedSet staged = ReadBack(source, set, staging.area, options, args, "fetching", args.directory);
  // The manifest written is the one the objects were checked against.
  const std::string& manifest_text = staged.manifest_text;
  std::vector<std::string> files;
  // manifest.json goes last: a DIR that holds it holds the whole set.
  auto place = [&](const std::string& from, const std::string& name) {
    std::string to = args.directory + "/" + name;
    if (!args.no_sync)
      SyncFile(from);
    if (rename(from.c_str(), to.c_str()) != 0)
      ThrowErrno("could not move \"" + from + "\" to \"" + to + "\"", errno);
    files.push_back(to);
  };
  OnThisMachine([&] {
    place(staged.data_path, staged.data_path.substr(staged.data_path.rfind('/') + 1));
    if (!staged.globals_path.empty())
      place(staged.globals_path, "globals.sql");
    std::string path = staging.area.Path("manifest.json");
    StagingFile file(path, manifest_text.size());
    file.Write(reinterpret_cast<const uint8_t*>(manifest_text.data()), manifest_text.size());
    file.Finish();
    place(path, "manifest.json");
    if (!args.no_sync)
      SyncFile(args.directory);
  });
  if (args.json) {
    json::Value out = ResultJson(set, *source.storage);
    json::Value list = json::Value::Array();
    for (const std::string& file : files)
      list.Append(json::Value::String(file));
    out.Set("files", std::move(list));
    PrintJson(std::move(out), watch);
    return kExitOk;
  }
  std::printf("%s: fetched and checked\n", SetName(set, *source.storage).c_str());
  for (const std::string& file : files)
    std::printf("  %s\n", Printable(file).c_str());
  if (set.dump_format == "custom")
    std::printf("Restore with: pg_restore -j 4 -d DBNAME %s/data.dump\n",
                Printable(args.directory).c_str());
  else
    std::printf("Restore with: psql -v ON_ERROR_STOP=1 -d DBNAME -f %s/data.sql\n",
                Printable(args.directory).c_str());
  return kExitOk;
}

// ConnInfoHasPassword says whether a --dbname carries a password (which
// would be visible in argv).
bool ConnInfoHasPassword(const std::string& conninfo) {
  bool structured = conninfo.find('=') != std::string::npos ||
                    conninfo.rfind("postgresql://", 0) == 0 ||
                    conninfo.rfind("postgres://", 0) == 0;
  if (!structured)
    return false;
  char* message = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &message);
  if (options == nullptr) {
    std::string text = message != nullptr ? message : "out of memory";
    PQfreemem(message);
    while (!text.empty() && text.back() == '\n')
      text.pop_back();
    throw Error(ErrorKind::kInvalidParameter, "--dbname is not a valid connection string",
                Printable(text));
  }
  bool has = false;
  for (PQconninfoOption* option = options; option->keyword != nullptr; option++)
    if ((std::strcmp(option->keyword, "password") == 0 ||
         std::strcmp(option->keyword, "sslpassword") == 0) &&
        option->val != nullptr && option->val[0] != '\0')
      has = true;
  PQconninfoFree(options);
  return has;
}

// PgConnection is a libpq session to --dbname.
class PgConnection {
 public:
  explicit PgConnection(const std::string& conninfo) {
    const char* keys[] = {"dbname", "application_name", nullptr};
    const char* values[] = {conninfo.c_str(), "pgbak", nullptr};
    conn_ = PQconnectdbParams(keys, values, 1);
    if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK)
      throw CliFailure(ErrorKind::kIo, "could not connect to the server",
                       conn_ != nullptr ? Printable(PQerrorMessage(conn_)) : "out of memory");
  }
  ~PgConnection() { PQfinish(conn_); }
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;
  // Exec runs sql; returns its error message, "" on success.
  std::string Exec(const std::string& sql, std::vector<std::string>* column = nullptr) {
    PGresult* result = PQexec(conn_, sql.c_str());
    ExecStatusType status = PQresultStatus(result);
    std::string error;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
      error = PQresultErrorMessage(result);
    else if (column != nullptr)
      for (int row = 0; row < PQntuples(result); row++)
        column->push_back(PQgetvalue(result, row, 0));
    PQclear(result);
    while (!error.empty() && error.back() == '\n')
      error.pop_back();
    return error;
  }
  void MustExec(const std::string& sql, std::vector<std::string>* column = nullptr) {
    std::string error = Exec(sql, column);
    if (!error.empty())
      throw CliFailure(ErrorKind::kChildFailed, "the server refused a statement", error);
  }

 private:
  PGconn* conn_ = nullptr;
};

// kMaxGlobalsBytes bounds the globals.sql --globals reads into memory (as
// the server's restore option does).
constexpr uint64_t kMaxGlobalsBytes = 64 << 20;

// ApplyGlobals creates the roles of globals.sql the server lacks (see
// PlanGlobals), in one transaction that the server logs none of (the
// statements carry password hashes); returns their names.
std::set<std::string> ApplyGlobals(const std::string& conninfo, const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) > kMaxGlobalsBytes)
    throw CliFailure(ErrorKind::kLimitExceeded,
                     "the set's globals.sql is " + std::to_string(st.st_size) +
                         " bytes, more than --globals reads (" + std::to_string(kMaxGlobalsBytes) +
                         ")",
                     "", "Fetch the set (pgbak fetch) and apply its globals.sql by hand.");
  std::vector<RoleStatement> statements =
      RoleStatements(ReadWholeFile(path, "the set's globals.sql"));
  PgConnection conn(conninfo);
  std::vector<std::string> roles;
  conn.MustExec("SELECT rolname FROM pg_catalog.pg_roles", &roles);
  GlobalsPlan plan = PlanGlobals(statements, std::set<std::string>(roles.begin(), roles.end()));
  if (plan.missing.empty())
    return {};
  conn.MustExec("BEGIN");
  conn.MustExec("SET LOCAL log_statement = 'none'");
  conn.MustExec("SET LOCAL log_min_error_statement = 'panic'");
  conn.MustExec("SET LOCAL log_min_duration_statement = -1");
  for (const GlobalsPlan::Statement& statement : plan.statements) {
    if (statement.required) {
      conn.MustExec(statement.sql);
      continue;
    }
    // A membership or a comment that cannot be applied (its grantor is
    // not on this server) is left out, and said so.
    conn.MustExec("SAVEPOINT pgbak_globals");
    std::string error = conn.Exec(statement.sql);
    if (!error.empty()) {
      conn.MustExec("ROLLBACK TO SAVEPOINT pgbak_globals");
      std::fprintf(stderr, "pgbak: left out a statement of the set's globals: %s\n",
                   Printable(error).c_str());
    }
  }
  conn.MustExec("COMMIT");
  return plan.missing;
}

// SplitTableName reads schema.table (or table).
SelectedTable SplitTableName(const std::string& name) {
  size_t dot = name.find('.');
  if (dot == std::string::npos)
    return {"", name};
  if (dot == 0 || dot + 1 == name.size())
    throw Error(ErrorKind::kInvalidParameter,
                "--tables: \"" + Printable(name) + "\" is not a table or schema.table");
  return {name.substr(0, dot), name.substr(dot + 1)};
}

int RunRestore(const Arguments& args) {
  if (ConnInfoHasPassword(args.dbname))
    throw Error(ErrorKind::kInvalidParameter,
                "--dbname carries a password, which every user of this machine could read", "",
                "Give it in PGPASSWORD, a PGPASSFILE or ~/.pgpass instead.");
  SourceStorage source = OpenSource(args);
  SetSummary set = ResolveSet(*source.storage, args);
  bool custom = set.dump_format == "custom";
  if (!custom && (args.jobs > 1 || args.create || !args.tables.empty()))
    throw Error(ErrorKind::kInvalidParameter,
                "--jobs, --create and --tables work with custom sets; this set is plain", "",
                "A plain set is a SQL script, run by psql in one session into an existing "
                "database.");
  std::vector<SelectedTable> wanted;
  for (const std::string& name : args.tables)
    wanted.push_back(SplitTableName(name));
  std::string work = WorkDirectory(args);
  Staging staging(work, "pgbak-restore-");
  Stopwatch watch;
  ReadBackOptions options;
  options.stage = true;
  options.stage_required = true;
  options.stage_globals = args.globals;
  StagedSet staged = ReadBack(source, set, staging.area, options, args, "reading", work);
  // What to restore is settled before anything reaches the server.
  std::string left_out;
  std::vector<std::string> tool_args;
  if (custom) {
    std::string listing = ListArchive(staged.data_path);
    std::set<int> skip;
    if (!wanted.empty()) {
      if (!staged.toc_complete)
        throw Error(ErrorKind::kCorrupt, "the archive's table of contents could not be read");
      TableSelection selection = SelectTablesWhole(staged.toc, wanted);
      if (!selection.missing.empty()) {
        std::string names;
        for (const std::string& name : selection.missing)
          names += (names.empty() ? "" : ", ") + name;
        throw Error(ErrorKind::kUndefinedObject, "the set holds no table " + Printable(names),
                    "Nothing was restored.");
      }
      for (const ForeignKeyTo& key : selection.referrers)
        left_out +=
            (left_out.empty() ? "" : ", ") + key.name + " of " + key.schema + "." + key.table;
      for (const TocEntry& entry : staged.toc)
        if (selection.dump_ids.count(entry.dump_id) == 0)
          skip.insert(entry.dump_id);
    }
    tool_args = {"--exit-on-error", "--no-password", "--dbname=" + args.dbname,
                 "--use-list=" + OnThisMachine([&] {
                   return WriteRestoreList(listing, staged.data_path, skip);
                 })};
    // One session restores in one transaction: a failure leaves nothing
    // behind. Several cannot (nor can --create, whose database is new).
    if (args.jobs > 1)
      tool_args.push_back("--jobs=" + std::to_string(args.jobs));
    else if (!args.create)
      tool_args.push_back("--single-transaction");
    if (args.create)
      tool_args.push_back("--create");
    tool_args.push_back(staged.data_path);
  } else {
    tool_args = {"-X",
                 "-q",
                 "--no-password",
                 "-v",
                 "ON_ERROR_STOP=1",
                 "--single-transaction",
                 "--dbname=" + args.dbname,
                 "--file=" + staged.data_path};
  }
  // Everything was checked: now the server is touched. The roles are
  // committed before the restore runs (its objects need them) and stay if
  // it fails.
  std::set<std::string> created;
  if (args.globals) {
    if (staged.globals_path.empty())
      throw Error(ErrorKind::kCorrupt, "the set has no globals object");
    created = ApplyGlobals(args.dbname, staged.globals_path);
  }
  if (!args.json && isatty(STDERR_FILENO) != 0)
    std::fprintf(stderr, "restoring with %s...\n",
                 custom ? ("pg_restore -j " + std::to_string(args.jobs)).c_str() : "psql");
  RunTool(custom ? "pg_restore" : "psql", tool_args);
  if (args.json) {
    json::Value out = ResultJson(set, *source.storage);
    out.Set("restored", json::Value::Bool(true));
    json::Value roles = json::Value::Array();
    for (const std::string& role : created)
      roles.Append(json::Value::String(role));
    out.Set("roles_created", std::move(roles));
    if (!left_out.empty())
      out.Set("foreign_keys_left_out", json::Value::String(left_out));
    PrintJson(std::move(out), watch);
    return kExitOk;
  }
  std::printf("%s: restored in %.1f s\n", SetName(set, *source.storage).c_str(), watch.Seconds());
  if (!created.empty()) {
    std::string names;
    for (const std::string& role : created)
      names += (names.empty() ? "" : ", ") + role;
    std::printf("  roles created: %s\n", Printable(names).c_str());
  }
  if (!left_out.empty())
    std::printf("  foreign keys of other tables left out: %s\n", Printable(left_out).c_str());
  return kExitOk;
}

// ---------------------------------------------------------------------------
// Point-in-time recovery: wal-get and restore-cluster.
// ---------------------------------------------------------------------------

// DirectoryOf is the directory part of path ("." if none).
std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// RunWalGet restores one WAL file for restore_command (see wal_get.h);
// returns kWalGetNotFound when the archive lacks it. The storage opened
// here, on the main thread, initializes libcurl before any prefetch
// thread opens its own.
int RunWalGet(const Arguments& args) {
  const std::string& name = args.wal_file;
  if (!IsArchivableWalName(name))
    throw Error(ErrorKind::kInvalidParameter,
                "\"" + Printable(name) + "\" is not the name of a WAL file PostgreSQL archives");
  SourceStorage source = OpenSource(args);
  bool segment = name.size() == 24;
  bool prefetch = segment && args.prefetch > 0;
  std::string cache_dir = args.prefetch_dir.empty()
                              ? DirectoryOf(args.wal_path) + "/" + kWalPrefetchDirectory
                              : args.prefetch_dir;
  WalPrefetchCache cache(cache_dir);
  uint64_t size = 0;
  struct stat st;
  if (prefetch && cache.Take(name, args.wal_path) && stat(args.wal_path.c_str(), &st) == 0) {
    size = static_cast<uint64_t>(st.st_size);
  } else {
    WalObject object;
    if (!FindWalObject(*source.storage, args.cluster, name, object)) {
      std::fprintf(stderr, "pgbak: WAL file \"%s\" is not in the archive of cluster %s\n",
                   name.c_str(), args.cluster.c_str());
      return kWalGetNotFound;
    }
    size = RestoreWalFile(*source.storage, object, source.identities, args.wal_path);
  }
  if (prefetch && IsWalSegmentSize(size)) {
    std::vector<std::string> next =
        NextSegmentNames(name, size, static_cast<size_t>(args.prefetch));
    // Topped up in batches, when half of what lies ahead was used.
    if (cache.Cached(next) <= next.size() / 2)
      cache.Fill(
          next, std::min(args.prefetch, 4), [&] { return OpenCliStorage(args); }, args.cluster,
          source.identities);
  }
  return kExitOk;
}

// RemoveTree removes path and everything below it, links not followed.
void RemoveTree(const std::string& path) {
  nftw(
      path.c_str(),
      [](const char* entry, const struct stat*, int, struct FTW*) { return ::remove(entry); }, 16,
      FTW_DEPTH | FTW_PHYS);
}

// MustBeEmptyOrMissing says whether directory does not exist (false: it
// exists and is empty); throws kInvalidParameter if it holds anything or
// is no directory.
bool MustBeEmptyOrMissing(const std::string& directory, const std::string& what) {
  struct stat st;
  if (lstat(directory.c_str(), &st) != 0) {
    if (errno == ENOENT)
      return true;
    ThrowErrno("could not look at \"" + Printable(directory) + "\"", errno);
  }
  if (!S_ISDIR(st.st_mode))
    throw Error(ErrorKind::kInvalidParameter,
                what + " \"" + Printable(directory) + "\" is not a directory");
  RequireEmpty(directory, what, "Restore into a new or empty directory; nothing was written.");
  return false;
}

// AbsolutePath makes a path given on the command line absolute (the
// server runs restore_command in its data directory).
std::string AbsolutePath(const std::string& path) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr)
    throw Error(ErrorKind::kUndefinedObject, "could not find \"" + Printable(path) + "\"",
                std::strerror(errno));
  return resolved;
}

// WriteNewFile writes a small file durably (replacing one there).
void WriteNewFile(const std::string& path, const std::string& text, bool append) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0600);
  if (fd < 0)
    ThrowErrno("could not open \"" + Printable(path) + "\"", errno);
  UniqueFd owner(fd);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      ThrowErrno("could not write \"" + Printable(path) + "\"", errno);
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0)
    ThrowErrno("could not fsync \"" + Printable(path) + "\"", errno);
}

// LocalSink passes bytes on to a sink that writes local files; their I/O
// errors are this machine's (exit 1), not the storage's.
class LocalSink : public Sink {
 public:
  explicit LocalSink(Sink& next) : next_(next) {}
  void Write(const uint8_t* data, size_t size) override {
    OnThisMachine([&] { next_.Write(data, size); });
  }
  void Finish() override {
    OnThisMachine([&] { next_.Finish(); });
  }

 private:
  Sink& next_;
};

// TargetOf reads the target options (latest if none).
RecoveryTarget TargetOf(const Arguments& args) {
  if (args.target_kind.empty() || args.target_kind == "latest")
    return ParseRecoveryTarget(RecoveryTargetKind::kLatest,
                               args.target_kind.empty() ? "latest" : args.target);
  if (args.target_kind == "time")
    return ParseRecoveryTarget(RecoveryTargetKind::kTime, args.target);
  if (args.target_kind == "lsn")
    return ParseRecoveryTarget(RecoveryTargetKind::kLsn, args.target);
  if (args.target_kind == "xid")
    return ParseRecoveryTarget(RecoveryTargetKind::kXid, args.target);
  throw Error(ErrorKind::kInvalidParameter, "unknown target option --target-" + args.target_kind);
}

// NowMicroseconds is the current time.
int64_t NowMicroseconds() {
  struct timeval now;
  gettimeofday(&now, nullptr);
  return static_cast<int64_t>(now.tv_sec) * 1000000 + now.tv_usec;
}

// SelfPath is this program's absolute path, for restore_command.
std::string SelfPath() {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0)
    return "pgbak";
  return std::string(self, static_cast<size_t>(n));
}

// RunRestoreCluster makes a new data directory from the base backup that
// fits the target, set up to recover to it (README, "Point-in-time
// recovery").
int RunRestoreCluster(const Arguments& args) {
  RecoveryTarget target = TargetOf(args);
  const std::string pgdata = args.pgdata;
  bool create_pgdata = OnThisMachine([&] { return MustBeEmptyOrMissing(pgdata, "--pgdata"); });
  std::map<std::string, std::string> remap;  // OLD (path or OID) -> NEW
  for (const std::string& entry : args.tablespace_map) {
    size_t equals = entry.find('=');
    std::string to = entry.substr(equals + 1);
    if (to[0] != '/')
      throw Error(ErrorKind::kInvalidParameter,
                  "--tablespace-map: the new place \"" + Printable(to) + "\" must be absolute");
    remap[entry.substr(0, equals)] = to;
  }
  SourceStorage source = OpenSource(args);
  Storage& storage = *source.storage;
  std::map<std::string, ClusterArchive> clusters = ReadClusterArchives(storage, args.cluster);
  std::vector<std::string> with_bases;
  for (const auto& [sysid, cluster] : clusters)
    if (!cluster.bases.empty() || !cluster.problems.empty())
      with_bases.push_back(sysid);
  if (with_bases.empty())
    throw Error(ErrorKind::kUndefinedObject,
                "the storage holds no base backup" +
                    (args.cluster.empty() ? std::string() : " of cluster " + args.cluster),
                "", "Take one with pgbak_base_backup() on a server that archives its WAL.");
  if (with_bases.size() > 1) {
    std::string list;
    for (const std::string& sysid : with_bases)
      list += (list.empty() ? "" : ", ") + sysid;
    throw Error(ErrorKind::kInvalidParameter,
                "the storage holds base backups of several clusters: " + list, "",
                "Name one with --cluster.");
  }
  const ClusterArchive& cluster = clusters[with_bases[0]];
  for (const std::string& problem : cluster.problems)
    std::fprintf(stderr, "pgbak: left out: %s\n", TerminalText(problem).c_str());
  int base_index = -1;
  if (!args.base.empty()) {
    std::string key = storage.KeyOf(args.base);
    base_index = FindBase(cluster.bases, key.empty() ? args.base : key);
    if (base_index < 0)
      throw Error(ErrorKind::kUndefinedObject,
                  "the storage holds no base backup \"" + Printable(args.base) + "\"");
  }
  uint64_t segment_size = DeduceSegmentSize(cluster.bases);
  RecoveryPlan plan = PlanRecovery(cluster.bases, cluster.coverage, segment_size, target,
                                   base_index, NowMicroseconds());
  const BaseBackupInfo& base = cluster.bases[plan.base];
  const Manifest& manifest = cluster.manifests[plan.base];
  if (!manifest.age_recipients.empty() && source.identities.empty())
    throw Error(ErrorKind::kInvalidParameter,
                "base backup " + std::to_string(base.backup_id) +
                    " is encrypted, and no identity was given to decrypt it",
                "Nothing was written.", source.identity_hint);
  std::printf("base backup %lld (%s): ended at LSN %s, finished %s\n",
              static_cast<long long>(base.backup_id),
              TerminalText(storage.Location(base.key)).c_str(), FormatLsn(base.end_lsn).c_str(),
              TerminalText(base.finished_at).c_str());
  std::printf("  %s\n", TerminalText(plan.coverage).c_str());
  std::fflush(stdout);

  // The tablespaces' new places are known once base.tar gave
  // tablespace_map; everything written is removed if anything fails.
  std::vector<std::string> created;  // directories to remove on failure
  std::vector<std::string> emptied;  // existing empty directories to empty again
  auto clean_up = [&] {
    for (const std::string& dir : created)
      RemoveTree(dir);
    for (const std::string& dir : emptied) {
      std::unique_ptr<DIR, int (*)(DIR*)> handle(opendir(dir.c_str()), closedir);
      while (handle)
        if (struct dirent* entry = readdir(handle.get())) {
          std::string name = entry->d_name;
          if (name != "." && name != "..")
            RemoveTree(dir + "/" + name);
        } else {
          break;
        }
    }
  };
  uint64_t total = 0;
  for (const ManifestObject& object : manifest.objects)
    total += object.size;
  std::map<std::string, std::string> tablespaces;  // OID -> new place
  uint64_t files = 0;
  bool verified = false;
  try {
    OnThisMachine([&] {
      if (create_pgdata) {
        if (mkdir(pgdata.c_str(), 0700) != 0)
          ThrowErrno("could not create directory \"" + Printable(pgdata) + "\"", errno);
        created.push_back(pgdata);
      } else {
        emptied.push_back(pgdata);
        if (chmod(pgdata.c_str(), 0700) != 0)
          ThrowErrno("could not set the mode of \"" + Printable(pgdata) + "\"", errno);
      }
    });
    Progress progress(isatty(STDERR_FILENO) != 0, total, "restoring");
    auto read = [&](const ManifestObject& object, Sink& sink) {
      LocalSink local(sink);
      ReadBackObject(source, base.key, object, "", local, true,
                     [&](size_t bytes) { progress.Add(bytes); });
    };
    const ManifestObject* base_object = nullptr;
    for (const ManifestObject& object : manifest.objects)
      if (object.role == "base")
        base_object = &object;
    if (base_object == nullptr)
      throw Error(ErrorKind::kCorrupt, "the base backup's manifest.json lists no base.tar");
    TarExtractSink base_tar(pgdata);
    read(*base_object, base_tar);
    files += base_tar.files();
    std::map<std::string, std::string> old_map;
    std::string map_path = pgdata + "/tablespace_map";
    if (access(map_path.c_str(), F_OK) == 0)
      old_map = ParseTablespaceMap(ReadWholeFile(map_path, "the backup's tablespace_map"));
    std::set<std::string> used;
    for (const ManifestObject& object : manifest.objects) {
      if (object.role == "backup_manifest") {
        OnThisMachine([&] {
          StagingFile file(pgdata + "/backup_manifest", object.raw_size);
          read(object, file);
          SyncFile(pgdata + "/backup_manifest");
        });
        continue;
      }
      if (object.role != "tablespace")
        continue;
      std::string oid = object.name.substr(0, object.name.find('.'));
      auto old_place = old_map.find(oid);
      if (oid.empty() || oid.find_first_not_of("0123456789") != std::string::npos ||
          old_place == old_map.end())
        throw Error(ErrorKind::kCorrupt, "the base backup holds tablespace object " +
                                             Printable(object.name) +
                                             " that its tablespace_map does not name");
      std::string place = old_place->second;
      if (remap.count(oid) > 0) {
        place = remap[oid];
        used.insert(oid);
      } else if (remap.count(old_place->second) > 0) {
        place = remap[old_place->second];
        used.insert(old_place->second);
      }
      OnThisMachine([&] {
        bool missing = MustBeEmptyOrMissing(place, "tablespace directory");
        if (missing) {
          if (mkdir(place.c_str(), 0700) != 0)
            ThrowErrno("could not create tablespace directory \"" + Printable(place) + "\"", errno);
          created.push_back(place);
        } else {
          emptied.push_back(place);
        }
      });
      TarExtractSink tablespace_tar(place);
      read(object, tablespace_tar);
      files += tablespace_tar.files();
      tablespaces[oid] = place;
    }
    for (const auto& [from, to] : remap)
      if (used.count(from) == 0)
        throw Error(ErrorKind::kInvalidParameter,
                    "--tablespace-map " + Printable(from) + "=" + Printable(to) +
                        ": the base backup has no tablespace " + Printable(from));
    progress.Clear();
    // pg_tblspc's links (PostgreSQL makes them again from tablespace_map at
    // startup) let the stock pg_verifybackup check the whole directory
    // against PostgreSQL's own backup_manifest, before anything in it is
    // changed.
    OnThisMachine([&] {
      for (const auto& [oid, place] : tablespaces) {
        std::string link = pgdata + "/pg_tblspc/" + oid;
        (void)unlink(link.c_str());
        if (symlink(place.c_str(), link.c_str()) != 0)
          ThrowErrno("could not link \"" + Printable(link) + "\"", errno);
      }
    });
    std::string verifier;
    try {
      verifier = ToolPath("pg_verifybackup");
    } catch (const Error&) {
      std::fprintf(stderr,
                   "pgbak: pg_verifybackup was not found: the restored files were "
                   "checked against manifest.json only\n");
    }
    if (!verifier.empty()) {
      try {
        RunTool("pg_verifybackup", {"--no-parse-wal", "--quiet", pgdata});
      } catch (const Error& e) {
        throw Error(ErrorKind::kCorrupt, "pg_verifybackup finds the restored directory damaged",
                    e.detail().empty() ? e.what() : e.detail());
      }
      verified = true;
    }
    OnThisMachine([&] {
      // tablespace_map names the new places.
      if (!tablespaces.empty())
        WriteNewFile(map_path, FormatTablespaceMap(tablespaces), false);
      std::vector<std::string> restore_argv = {SelfPath(), "wal-get",   "%f",
                                               "%p",       "--storage", args.storage_url};
      if (!args.storage_options.empty()) {
        restore_argv.push_back("--storage-options");
        restore_argv.push_back(AbsolutePath(args.storage_options));
      }
      if (!args.identity.empty()) {
        restore_argv.push_back("--identity");
        restore_argv.push_back(AbsolutePath(args.identity));
      }
      restore_argv.push_back("--cluster");
      restore_argv.push_back(cluster.system_identifier);
      std::string comment =
          "pgbak restore-cluster: recovery from base backup " + std::to_string(base.backup_id) +
          " to " +
          (target.kind == RecoveryTargetKind::kLatest ? "the end of the archive" : target.text);
      WriteNewFile(pgdata + "/postgresql.auto.conf",
                   RecoverySettings(restore_argv, target, args.no_archive, comment), true);
      WriteNewFile(pgdata + "/recovery.signal", "", false);
      SyncFile(pgdata);
    });
  } catch (...) {
    clean_up();
    throw;
  }
  std::printf("restored into %s: %llu files", TerminalText(pgdata).c_str(),
              static_cast<unsigned long long>(files));
  for (const auto& [oid, place] : tablespaces)
    std::printf(", tablespace %s at %s", oid.c_str(), TerminalText(place).c_str());
  std::printf("\n%s",
              verified ? "pg_verifybackup: the files match PostgreSQL's backup_manifest\n" : "");
  std::printf("recovery to %s written to %s/postgresql.auto.conf, with recovery.signal\n",
              target.kind == RecoveryTargetKind::kLatest ? "the end of the archive"
                                                         : TerminalText(target.text).c_str(),
              TerminalText(pgdata).c_str());
  if (!args.no_archive)
    std::printf(
        "Before starting it: the restored postgresql.conf may archive to the same storage "
        "(archive_mode); set archive_mode = off for a copy beside the source.\n");
  if (!IsLocalUrl(args.storage_url) && args.storage_options.empty())
    std::printf(
        "Note: restore_command reads the storage's credentials from the server's AWS_* "
        "environment or AWS files; give --storage-options FILE to name them.\n");
  std::printf("Start it with: pg_ctl -D %s start\n", TerminalText(pgdata).c_str());
  return kExitOk;
}
}  // namespace

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

int RunCommand(const Arguments& args) {
  if (args.command == "sets")
    return RunSets(args);
  if (args.command == "verify")
    return RunVerify(args);
  if (args.command == "fetch")
    return RunFetch(args);
  if (args.command == "wal-get")
    return RunWalGet(args);
  if (args.command == "restore-cluster")
    return RunRestoreCluster(args);
  return RunRestore(args);
}

}  // namespace pgbak::cli
