// recovery_commands.cpp: see recovery_commands.h. Built on the core's
// recovery pieces (base_catalog, recovery_plan, tar_extract, wal_get) and
// the same set reader, storage drivers and progress line as the other
// commands.
#include "cli/recovery_commands.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cli/command_support.h"
#include "cli/terminal.h"
#include "core/archive/base_layout.h"
#include "core/base/error.h"
#include "core/base/unique_fd.h"
#include "core/pipeline/staging_file.h"
#include "core/recovery/base_catalog.h"
#include "core/recovery/recovery_plan.h"
#include "core/recovery/tar_extract.h"
#include "core/storage/storage_definition.h"
#include "core/wal/wal_get.h"

namespace pgbak::cli {

namespace {

// DirectoryOf is the directory part of path ("." if none).
std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
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

}  // namespace

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
  WalPrefetchCache cache(cache_dir, args.cluster);
  // Temporaries of a wal-get killed while writing (PostgreSQL's shutdown).
  RemoveDeadTemporaries(DirectoryOf(args.wal_path));
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
          next, std::min(args.prefetch, 4), [&] { return OpenCliStorage(args); },
          source.identities);
  }
  return kExitOk;
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
  ClusterArchive& cluster = clusters[with_bases[0]];
  ReadTimelineHistories(storage, cluster, source.identities);
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
    std::vector<std::string> tablespace_oids;
    for (const ManifestObject& object : manifest.objects)
      if (object.role == "tablespace")
        tablespace_oids.push_back(object.name.substr(0, object.name.find('.')));
    MatchTablespaceObjects(old_map, tablespace_oids);
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
                   RecoverySettings(restore_argv, target, args.no_archive, comment, plan.timeline),
                   true);
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
  std::printf(
      "pgbak.paused = on: its launcher runs none of the source's schedules, retention or "
      "cleanup; ALTER SYSTEM SET pgbak.paused = off once it lives on as a cluster of its own.\n");
  if (!IsLocalUrl(args.storage_url) && args.storage_options.empty())
    std::printf(
        "Note: restore_command reads the storage's credentials from the server's AWS_* "
        "environment or AWS files; give --storage-options FILE to name them.\n");
  std::printf("Start it with: pg_ctl -D %s start\n", TerminalText(pgdata).c_str());
  return kExitOk;
}

}  // namespace pgbak::cli
