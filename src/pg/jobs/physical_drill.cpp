// physical_drill.cpp: see physical_drill.h.
extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
}

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/archive/manifest.h"
#include "core/archive/set_reader.h"
#include "core/base/child_process.h"
#include "core/base/error.h"
#include "core/base/json.h"
#include "core/options/backup_options.h"
#include "core/options/recover_options.h"
#include "core/options/restore_options.h"
#include "core/base/unique_fd.h"
#include "core/recovery/scratch_server.h"
#include "core/storage/local/local_storage.h"
#include "core/storage/storage_definition.h"
#include "pg/boundary/boundary.h"
#include "pg/boundary/transaction.h"
#include "pg/catalog/catalog.h"
#include "pg/catalog/storage_registry.h"
#include "pg/jobs/disk_space.h"
#include "pg/jobs/dump_tools.h"
#include "pg/jobs/physical_drill.h"
#include "pg/runtime/settings.h"
#include "pg/runtime/shared_state.h"
#include "pg/runtime/worker_signals.h"

extern char** environ;

namespace pgbak {

namespace {

// kWalAllowance is the room the scratch server's pg_wal needs besides the
// unpacked base backup (its max_wal_size).
constexpr uint64_t kWalAllowance = 1024ull * 1024 * 1024;

// kOpenWaitMs is how often the drill looks whether the scratch server has
// opened.
constexpr long kOpenWaitMs = 200;

// kStopGraceMs is how long a scratch server gets to shut down.
constexpr int kStopGraceMs = 10000;

// SecondsSince is the time since start, in seconds.
double SecondsSince(const struct timeval& start) {
  struct timeval now;
  gettimeofday(&now, nullptr);
  return static_cast<double>(now.tv_sec - start.tv_sec) +
         static_cast<double>(now.tv_usec - start.tv_usec) / 1e6;
}

// WritePrivateFile writes a small file, mode 0600, that must not exist.
void WritePrivateFile(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    ThrowErrno("could not create \"" + path + "\"", errno);
  UniqueFd owner(fd);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      ThrowErrno("could not write \"" + path + "\"", errno);
    done += static_cast<size_t>(n);
  }
}

// WriteSmallFile is WritePrivateFile under the name the scratch cluster
// uses for its records.
void WriteSmallFile(const std::string& path, const std::string& text) {
  WritePrivateFile(path, text);
}

// FileTail is the last bytes of a file ("" if it cannot be read).
std::string FileTail(const std::string& path, size_t bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return "";
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  std::streamoff from = size > static_cast<std::streamoff>(bytes) ? size - bytes : 0;
  in.seekg(from);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text;
}

// LastLineWith is the last line of text that contains one of the marks
// ("" if none).
std::string LastLineWith(const std::string& text, const std::vector<std::string>& marks) {
  std::string found;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    std::string line = text.substr(start, end - start);
    for (const std::string& mark : marks)
      if (line.find(mark) != std::string::npos)
        found = line;
    start = end + 1;
  }
  return found;
}

// DrillEnvironment is what the restore and the scratch server run with: a
// plain PATH, the C locale, UTC, HOME, and the server's AWS_* variables (a
// storage whose credentials come from the environment); nothing that
// points at the live server.
std::vector<std::string> DrillEnvironment() {
  std::vector<std::string> env = {"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"};
  std::string home = ServerEnvironment("HOME");
  if (!home.empty())
    env.push_back("HOME=" + home);
  for (char** entry = environ; *entry != nullptr; entry++)
    if (std::strncmp(*entry, "AWS_", 4) == 0)
      env.push_back(*entry);
  return env;
}

// ScratchCluster owns operation id's scratch directory and the server
// running in it: both are gone when it goes out of scope, whatever
// happened.
class ScratchCluster {
 public:
  explicit ScratchCluster(std::string directory) : directory_(std::move(directory)) {
    // The local storage's root may not exist yet (nothing was stored there).
    std::string parent = directory_.substr(0, directory_.rfind('/'));
    for (size_t slash = parent.find('/', 1);; slash = parent.find('/', slash + 1)) {
      std::string step = slash == std::string::npos ? parent : parent.substr(0, slash);
      if (mkdir(step.c_str(), 0700) != 0 && errno != EEXIST)
        ThrowErrno("could not create directory \"" + step + "\"", errno);
      if (slash == std::string::npos)
        break;
    }
    if (mkdir(directory_.c_str(), 0700) != 0) {
      if (errno != EEXIST)
        ThrowErrno("could not create directory \"" + directory_ + "\"", errno);
      // A dead attempt's leftovers (the launcher cleans up before a retry).
      StopLeftoverServer(DataDir(), kStopGraceMs);
      RemoveDirectoryTree(directory_);
      if (mkdir(directory_.c_str(), 0700) != 0)
        ThrowErrno("could not create directory \"" + directory_ + "\"", errno);
    }
    if (mkdir(LogDir().c_str(), 0700) != 0)
      ThrowErrno("could not create directory \"" + LogDir() + "\"", errno);
    // The socket's directory, recorded first: a cleanup after a crash
    // finds it there.
    socket_dir_ = MakeScratchSocketDirectory();
    WriteSmallFile(SocketRecord(), socket_dir_);
  }
  ~ScratchCluster() {
    try {
      StopServer();
    } catch (...) {
    }
    StopLeftoverServer(DataDir(), kStopGraceMs);
    if (IsScratchSocketDirectory(socket_dir_))
      RemoveDirectoryTree(socket_dir_);
    RemoveDirectoryTree(directory_);
    (void)rmdir(directory_.substr(0, directory_.rfind('/')).c_str());  // .staging, if empty
  }
  ScratchCluster(const ScratchCluster&) = delete;
  ScratchCluster& operator=(const ScratchCluster&) = delete;

  const std::string& directory() const { return directory_; }
  const std::string& socket_dir() const { return socket_dir_; }
  std::string SocketRecord() const { return directory_ + "/socket_directory"; }
  std::string DataDir() const { return directory_ + "/data"; }
  std::string LogDir() const { return directory_ + "/log"; }
  std::string LogFile() const { return LogDir() + "/postgresql.log"; }

  // Start starts the scratch server.
  void Start(const ChildSpec& spec) { server_ = std::make_unique<ChildProcess>(spec); }
  ChildProcess* server() { return server_.get(); }

  // StopServer shuts the server down (fast: a checkpoint is not worth
  // waiting for, the directory goes), immediately if that takes too long,
  // SIGKILL as the last resort; waits for it.
  void StopServer() {
    if (!server_)
      return;
    std::vector<int> ready;
    auto wait_for_exit = [&](int grace_ms) {
      for (int waited = 0; waited < grace_ms; waited += 50) {
        server_->DrainStderr();
        if (server_->TryReap())
          return true;
        WaitForInput({}, 50, ready);
      }
      return server_->TryReap();
    };
    if (!server_->TryReap()) {
      server_->Signal(SIGINT);
      if (!wait_for_exit(kStopGraceMs)) {
        server_->Signal(SIGQUIT);
        if (!wait_for_exit(kStopGraceMs))
          server_->Stop(0);
      }
    }
    server_.reset();
  }

  // ServerFailure is why the server stopped or did not open: the last
  // FATAL or PANIC of its log or of its output.
  std::string ServerFailure() {
    if (server_)
      server_->DrainStderr();
    std::string log = FileTail(LogFile(), 16384);
    std::string line = LastLineWith(log, {"FATAL:", "PANIC:"});
    if (line.empty() && server_)
      line = LastLineWith(server_->stderr_tail(), {"FATAL:", "PANIC:", "ERROR:"});
    if (line.empty())
      line = LastLineWith(log, {"ERROR:", "LOG:"});
    return line;
  }

 private:
  std::string directory_;
  std::string socket_dir_;
  std::unique_ptr<ChildProcess> server_;
};

// BoundedText keeps the first bytes written into it.
class BoundedText : public Sink {
 public:
  void Write(const uint8_t* data, size_t size) override {
    size_t room = kLimit > text_.size() ? kLimit - text_.size() : 0;
    text_.append(reinterpret_cast<const char*>(data), size < room ? size : room);
  }
  void Finish() override {}
  const std::string& text() const { return text_; }

 private:
  static constexpr size_t kLimit = 16384;
  std::string text_;
};

// RunDrillChild runs program to completion with the drill's environment;
// its stdout goes to output. Throws as StreamChild.
void RunDrillChild(const std::string& program, std::vector<std::string> args, const char* what,
                   Sink& output) {
  ChildSpec spec;
  spec.program = program;
  spec.args = std::move(args);
  spec.env = DrillEnvironment();
  ChildProcess child(spec);
  StreamChild(child, output, what, nullptr);
}

// CliFailure is the error a failed pgbak command reported (its "pgbak: "
// line, else its last line).
std::string CliFailure(const std::string& stderr_text) {
  std::string line = LastLineWith(stderr_text, {"pgbak: "});
  if (line.rfind("pgbak: ", 0) == 0)
    return line.substr(7);
  std::string tail = stderr_text;
  while (!tail.empty() && tail.back() == '\n')
    tail.pop_back();
  return tail.substr(tail.rfind('\n') == std::string::npos ? 0 : tail.rfind('\n') + 1);
}

// DrillStorage is how the restore reaches the base backup's storage: its
// URL and, for a defined storage, an options file with its options and
// secrets (0600, in the scratch directory).
struct DrillStorage {
  std::string url;
  std::string options_file;  // "" for none
};

DrillStorage PrepareStorage(const std::string& storage_name, const std::string& directory) {
  DrillStorage drill;
  if (storage_name == "local") {
    drill.url = "file://" + LocalStorageRoot();
    return drill;
  }
  StorageDefinition definition;
  bool found = false;
  RunInTransaction([&] { found = LoadStorageDefinition(storage_name, definition); });
  if (!found)
    throw Error(ErrorKind::kUndefinedObject,
                "storage \"" + storage_name + "\" is no longer defined");
  drill.url = definition.url;
  drill.options_file = directory + "/storage.json";
  WritePrivateFile(drill.options_file,
                   MergeJsonObjects(definition.public_options, definition.secret_options));
  return drill;
}

// LiveFacts is what the scratch server takes from the live cluster.
struct LiveFacts {
  std::string superuser;  // the role with OID 10: the copy has it too
  std::string max_prepared_transactions;
  std::string max_locks_per_transaction;
  bool amcheck_available = false;  // the amcheck extension is installed on this machine
};

LiveFacts ReadLiveFacts() {
  LiveFacts facts;
  RunInTransaction([&] {
    PgCall([&] {
      if (SPI_execute("SELECT (SELECT rolname::text FROM pg_catalog.pg_authid WHERE oid = 10), "
                      "pg_catalog.current_setting('max_prepared_transactions'), "
                      "pg_catalog.current_setting('max_locks_per_transaction'), "
                      "EXISTS (SELECT FROM pg_catalog.pg_available_extensions "
                      "WHERE name = 'amcheck')",
                      true, 1) == SPI_OK_SELECT &&
          SPI_processed == 1) {
        auto text = [](int column) {
          const char* value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, column);
          return std::string(value != nullptr ? value : "");
        };
        facts.superuser = text(1);
        facts.max_prepared_transactions = text(2);
        facts.max_locks_per_transaction = text(3);
        facts.amcheck_available = text(4) == "t";
      }
    });
  });
  if (facts.superuser.empty())
    throw Error(ErrorKind::kUndefinedObject, "could not read the name of the bootstrap superuser");
  return facts;
}

// ScratchServerConnInfo reaches the scratch server as user (libpq
// keywords, no database).
std::string ScratchServerConnInfo(const ScratchServerLayout& layout, const std::string& user) {
  return "host=" + ConnInfoValue(layout.socket_dir) + " port=" + std::to_string(layout.port) +
         " user=" + ConnInfoValue(user) + " connect_timeout=10 application_name=pgbak_drill" +
         " options=" + ConnInfoValue(kScratchSessionOptions);
}

// ScratchConnInfo connects to database of the scratch server as user.
std::string ScratchConnInfo(const ScratchServerLayout& layout, const std::string& user,
                            const std::string& database) {
  return ScratchServerConnInfo(layout, user) + " dbname=" + ConnInfoValue(database);
}

// WaitUntilOpen waits until the scratch server accepts connections;
// throws kCorrupt with the server's last FATAL if it stops first.
void WaitUntilOpen(ScratchCluster& cluster) {
  std::vector<int> fds, ready;
  for (;;) {
    ThrowIfStopping();
    ChildProcess* server = cluster.server();
    if (server->TryReap()) {
      // Whose fault: what a server on this machine lacked (disk, memory,
      // a socket) fails the drill only; anything else (WAL that does not
      // replay, a timeline, damaged pages) says the backup does not hold.
      std::string failure = cluster.ServerFailure();
      bool local = failure.find("No space left") != std::string::npos ||
                   failure.find("could not create shared memory") != std::string::npos ||
                   failure.find("could not map anonymous shared memory") != std::string::npos ||
                   failure.find("socket") != std::string::npos ||
                   failure.find("Cannot allocate memory") != std::string::npos ||
                   failure.find("out of memory") != std::string::npos;
      throw Error(local ? ErrorKind::kIo : ErrorKind::kCorrupt,
                  "the restored cluster did not recover: its server " + server->DescribeExit(),
                  failure);
    }
    // As pg_ctl waits: the status line of postmaster.pid says "ready" once
    // recovery ended and connections are accepted (no connection attempt
    // is made before: each would be refused and logged).
    std::ifstream in(cluster.DataDir() + "/postmaster.pid");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    PostmasterPidFile pid_file;
    if (ParsePostmasterPid(text, pid_file) && pid_file.pid == server->pid() &&
        pid_file.status == "ready")
      return;
    fds.clear();
    if (server->stderr_fd() >= 0)
      fds.push_back(server->stderr_fd());
    WaitForInput(fds, kOpenWaitMs, ready);
    server->DrainStderr();
  }
}

// OpenFacts is what the opened scratch server says of its recovery.
struct OpenFacts {
  std::string recovered_to;  // the last replayed transaction's time ("" if none)
  std::string timeline;
  std::vector<std::string> databases;
};

OpenFacts ReadOpenFacts(const std::string& conninfo) {
  PgConnPtr conn(PQconnectdb(conninfo.c_str()), PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK)
    throw Error(ErrorKind::kCorrupt, "could not connect to the restored cluster",
                TrimMessage(PQerrorMessage(conn.get())));
  PgResultPtr result = ExecWithLatch(
      conn.get(),
      "SELECT pg_catalog.pg_is_in_recovery(), pg_catalog.pg_last_xact_replay_timestamp()::text, "
      "(SELECT timeline_id::text FROM pg_catalog.pg_control_checkpoint())");
  if (PQntuples(result.get()) != 1)
    throw Error(ErrorKind::kCorrupt, "the restored cluster did not say how it recovered");
  if (std::strcmp(PQgetvalue(result.get(), 0, 0), "t") == 0)
    throw Error(ErrorKind::kCorrupt,
                "the restored cluster accepts connections but is still in recovery");
  OpenFacts facts;
  if (!PQgetisnull(result.get(), 0, 1))
    facts.recovered_to = PQgetvalue(result.get(), 0, 1);
  facts.timeline = PQgetvalue(result.get(), 0, 2);
  PgResultPtr databases = ExecWithLatch(
      conn.get(), "SELECT datname::text FROM pg_catalog.pg_database WHERE datallowconn ORDER BY 1");
  for (int row = 0; row < PQntuples(databases.get()); row++)
    facts.databases.push_back(PQgetvalue(databases.get(), row, 0));
  return facts;
}

// SecureForChecks prepares database of the copy for pg_amcheck: event
// triggers disabled, amcheck (if installed) moved into pg_catalog.
void SecureForChecks(const std::string& conninfo) {
  PgConnPtr conn(PQconnectdb(conninfo.c_str()), PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK)
    throw Error(ErrorKind::kCorrupt, "could not connect to a database of the restored cluster",
                TrimMessage(PQerrorMessage(conn.get())));
  PgResultPtr triggers = ExecWithLatch(
      conn.get(), "SELECT evtname FROM pg_catalog.pg_event_trigger WHERE evtenabled <> 'D'");
  for (int i = 0; i < PQntuples(triggers.get()); i++)
    (void)ExecWithLatch(
        conn.get(),
        "ALTER EVENT TRIGGER " + QuoteIdentifier(PQgetvalue(triggers.get(), i, 0)) + " DISABLE");
  PgResultPtr placed = ExecWithLatch(
      conn.get(),
      "SELECT n.nspname <> 'pg_catalog' FROM pg_catalog.pg_extension e "
      "JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'amcheck'");
  if (PQntuples(placed.get()) > 0 && std::strcmp(PQgetvalue(placed.get(), 0, 0), "t") == 0)
    (void)ExecWithLatch(conn.get(), "ALTER EXTENSION amcheck SET SCHEMA pg_catalog");
}

// RecordRecoveredTo writes recovered_to onto the operation's and the
// backup's rows (a schema before 1.8 has no such column).
void RecordRecoveredTo(int64_t id, int64_t source_id, const std::string& recovered_to) {
  if (recovered_to.empty())
    return;
  RunInTransaction([&] {
    PgCall([&] {
      if (!BackupLogHasColumn("recovered_to"))
        return;
      const char* sql = psprintf(
          "UPDATE %s SET recovered_to = $2::timestamptz WHERE id IN ($1, $3)", BackupLogName());
      Oid types[3] = {INT8OID, TEXTOID, INT8OID};
      Datum values[3] = {Int64GetDatum(static_cast<int64>(id)),
                         CStringGetTextDatum(recovered_to.c_str()),
                         Int64GetDatum(static_cast<int64>(source_id))};
      if (SPI_execute_with_args(sql, 3, types, values, nullptr, false, 0) != SPI_OK_UPDATE)
        elog(ERROR, "could not record recovered_to of operation " INT64_FORMAT,
             static_cast<int64>(id));
    });
  });
}

// ScratchRecovery is a base backup restored into operation id's scratch
// directory and recovered there to a target, open: what a drill checks and
// what pgbak_recover copies tables from.
struct ScratchRecovery {
  std::unique_ptr<ScratchCluster> cluster;
  ScratchServerLayout layout;
  std::string superuser;
  std::string base_finished_at;
  std::string key;  // the base set's directory in its storage
  double restore_seconds = -1;
  std::string max_prepared_transactions = "0";
  std::string max_locks_per_transaction = "64";
  bool amcheck_available = false;

  // Conninfo is how to reach database of the scratch server.
  std::string Conninfo(const std::string& database) const {
    return ScratchConnInfo(layout, superuser, database);
  }
};

// RecoverInScratch checks base backup source_id's manifest and the free
// space, restores it with pgbak restore-cluster (target_args: "--target
// latest" or "--target-time T") into operation id's scratch directory,
// starts the scratch server there and waits until it has recovered and
// opened; restore_seconds runs from the start of the restore. what names
// the operation in messages ("a restore drill").
void RecoverInScratch(ScratchRecovery& recovery, const ServerFacts& facts, int64_t id,
                      int64_t source_id, const SourceInfo& source,
                      const std::vector<std::string>& target_args, const std::string& what,
                      const std::string& cluster_name) {
  LocalStorage local(LocalStorageRoot());
  SourceStorage storage = OpenSourceStorage(source);
  SetPhase(Phase::kVerifying);
  recovery.key = SetKey(*storage.storage, source.directory_id, source.location);
  Manifest manifest = ReadManifest(*storage.storage, recovery.key, source.manifest_sha256);
  if (manifest.kind != "base" || manifest.backup_id != source_id ||
      manifest.system_identifier.empty())
    throw Error(ErrorKind::kCorrupt, "the manifest at " + source.location +
                                         " is not that of base backup " +
                                         std::to_string(source_id));
  recovery.base_finished_at = manifest.finished_at;
  if (!manifest.age_recipients.empty() && storage.identities.empty())
    throw Error(ErrorKind::kInvalidParameter,
                what + " of base backup " + std::to_string(source_id) +
                    " needs to decrypt it, and " + storage.no_identity,
                "", storage.identity_hint);
  uint64_t unpacked = 0;
  for (const ManifestObject& object : manifest.objects)
    unpacked += object.raw_size > 0 ? object.raw_size : object.size;
  CheckStagingSpace(local.root(), id, unpacked + kWalAllowance);

  recovery.cluster = std::make_unique<ScratchCluster>(local.Location(StagingKey(id)));
  ScratchCluster& cluster = *recovery.cluster;
  ScratchServerLayout& layout = recovery.layout;
  layout.data_dir = cluster.DataDir();
  layout.socket_dir = cluster.socket_dir();
  layout.max_prepared_transactions = recovery.max_prepared_transactions;
  layout.max_locks_per_transaction = recovery.max_locks_per_transaction;
  layout.config_file = cluster.directory() + "/postgresql.conf";
  layout.hba_file = cluster.directory() + "/pg_hba.conf";
  layout.ident_file = cluster.directory() + "/pg_ident.conf";
  layout.log_dir = cluster.LogDir();
  layout.port = 50000 + static_cast<int>(id % 10000);
  layout.cluster_name = cluster_name;
  WritePrivateFile(layout.hba_file, ScratchHbaFile());
  WritePrivateFile(layout.config_file, ScratchConfigFile());
  WritePrivateFile(layout.ident_file, "");
  DrillStorage drill_storage = PrepareStorage(source.storage, cluster.directory());

  struct timeval started;
  gettimeofday(&started, nullptr);
  SetPhase(Phase::kRestoring);
  std::vector<std::string> restore_args = {"restore-cluster", "--pgdata", layout.data_dir,
                                           "--storage", drill_storage.url};
  if (!drill_storage.options_file.empty()) {
    restore_args.push_back("--storage-options");
    restore_args.push_back(drill_storage.options_file);
  }
  for (const std::string& arg : {std::string("--base"), recovery.key, std::string("--cluster"),
                                 manifest.system_identifier, std::string("--no-archive")})
    restore_args.push_back(arg);
  for (const std::string& arg : target_args)
    restore_args.push_back(arg);
  // Tablespaces go into the scratch directory too: their own places are
  // the live cluster's.
  std::string tablespaces = cluster.directory() + "/tablespaces";
  for (const ManifestObject& object : manifest.objects) {
    if (object.role != "tablespace")
      continue;
    std::string oid = object.name.substr(0, object.name.find('.'));
    if (oid.empty() || oid.find_first_not_of("0123456789") != std::string::npos)
      throw Error(ErrorKind::kCorrupt, "base backup " + std::to_string(source_id) +
                                           " holds tablespace object " + object.name +
                                           " whose name is no OID");
    if (mkdir(tablespaces.c_str(), 0700) != 0 && errno != EEXIST)
      ThrowErrno("could not create directory \"" + tablespaces + "\"", errno);
    restore_args.push_back("--tablespace-map");
    restore_args.push_back(oid + "=" + tablespaces + "/" + oid);
  }
  BoundedText restore_output;
  try {
    RunDrillChild(facts.bin_dir + "/pgbak", restore_args, "pgbak restore-cluster", restore_output);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kChildFailed)
      throw;
    // The command's exit code says whose fault it was: the storage could
    // not be reached (5), or the backup or its WAL do not hold (3:
    // missing, 4: damaged); anything else happened on this machine, or
    // was asked wrong (2).
    std::string reason = CliFailure(e.detail());
    std::string message = "the restore of base backup " + std::to_string(source_id) +
                          " failed: " + (reason.empty() ? e.what() : reason);
    std::string how = e.what();
    ErrorKind kind = ErrorKind::kIo;
    if (how.find("status 3") != std::string::npos || how.find("status 4") != std::string::npos)
      kind = ErrorKind::kCorrupt;
    else if (how.find("status 2") != std::string::npos)
      kind = ErrorKind::kInvalidParameter;
    throw Error(kind, message, e.detail());
  }

  SetPhase(Phase::kRecovering);
  ChildSpec server;
  server.program = facts.bin_dir + "/postgres";
  server.args = ScratchServerArguments(layout);
  server.env = DrillEnvironment();
  cluster.Start(server);
  WaitUntilOpen(cluster);
  recovery.restore_seconds = SecondsSince(started);
}

}  // namespace

void RunPhysicalDrill(int64_t id, int64_t source_id, const SourceInfo& source) {
  ServerFacts facts;
  RunInTransaction([&] { facts = GatherServerFacts(); });
  ScratchRecovery recovery;
  LiveFacts live = ReadLiveFacts();
  recovery.superuser = live.superuser;
  recovery.max_prepared_transactions = live.max_prepared_transactions;
  recovery.max_locks_per_transaction = live.max_locks_per_transaction;
  recovery.amcheck_available = live.amcheck_available;
  double restore_seconds = -1;
  OpenFacts opened;
  bool amchecked = false;
  try {
    PauseAt(id, "verify_start");
    RecoverInScratch(recovery, facts, id, source_id, source, {"--target", "latest"},
                     "a restore drill", "pgbak drill " + std::to_string(id));
    restore_seconds = recovery.restore_seconds;
    const ScratchServerLayout& layout = recovery.layout;
    const std::string& superuser = recovery.superuser;
    std::string conninfo = recovery.Conninfo(setting_database);
    PauseAt(id, "drill_open");
    opened = ReadOpenFacts(conninfo);

    // Every database's tables and B-tree indexes, with the stock tool.
    SetPhase(Phase::kChecking);
    std::string amcheck = facts.bin_dir + "/pg_amcheck";
    if (recovery.amcheck_available && access(amcheck.c_str(), X_OK) == 0 &&
        !opened.databases.empty()) {
      // pg_amcheck calls amcheck's functions in the schema the extension
      // is in; in one its database owner can write to, an overload of
      // theirs would run as the superuser it connects as. Every copy's
      // amcheck goes to pg_catalog (where pg_amcheck --install-missing
      // puts a missing one), with its event triggers off first.
      for (const std::string& database : opened.databases)
        SecureForChecks(recovery.Conninfo(database));
      BoundedText report;
      try {
        ChildSpec spec;
        spec.program = amcheck;
        spec.args = {"--host",     layout.socket_dir,
                     "--port",     std::to_string(layout.port),
                     "--username", superuser,
                     "--all",      "--install-missing",
                     "--jobs",     "2"};
        spec.env = DrillEnvironment();
        spec.env.push_back(std::string("PGOPTIONS=") + kScratchSessionOptions);
        ChildProcess child(spec);
        StreamChild(child, report, "pg_amcheck", nullptr);
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::kChildFailed)
          throw;
        // Exit status 2 is pg_amcheck's "corruption found"; anything else
        // is a failure to check (fails the drill only).
        std::string how = e.what();
        std::string found = report.text();
        while (!found.empty() && found.back() == '\n')
          found.pop_back();
        if (how.find("exited with status 2") == std::string::npos)
          throw Error(ErrorKind::kIo, "pg_amcheck could not check the restored cluster: " + how,
                      found.empty() ? e.detail() : found);
        throw Error(ErrorKind::kCorrupt, "pg_amcheck finds damage in the restored cluster",
                    found.empty() ? e.detail() : found);
      }
      amchecked = true;
    }
    SetPhase(Phase::kFinishing);
    recovery.cluster.reset();  // stopped and removed before the outcome is told
  } catch (const Error& e) {
    // As for a logical drill: what says something about the backup (damage,
    // WAL missing, a cluster that did not recover) is recorded on it.
    if (e.kind() == ErrorKind::kCorrupt || e.kind() == ErrorKind::kChildFailed) {
      std::string detail = e.detail();
      while (!detail.empty() && detail.back() == '\n')
        detail.pop_back();
      std::string last_line =
          detail.substr(detail.rfind('\n') == std::string::npos ? 0 : detail.rfind('\n') + 1);
      std::string status =
          std::string("failed: ") + e.what() +
          (last_line.empty() || e.kind() != ErrorKind::kCorrupt ? "" : " (" + last_line + ")");
      RunInTransaction([&] { PgCall([&] { RecordVerification(source_id, status.c_str(), -1); }); });
    }
    throw;
  }
  // Recovery that replayed no transaction after the base backup brought the
  // cluster back to the backup's end.
  bool replayed = !opened.recovered_to.empty();
  if (!replayed)
    opened.recovered_to = recovery.base_finished_at;
  RecordRecoveredTo(id, source_id, opened.recovered_to);
  std::string status = amchecked ? "passed (restore drill, pg_amcheck)"
                                 : "passed (restore drill; pg_amcheck is not installed)";
  RunInTransaction([&] {
    PgCall([&] {
      RecordVerification(source_id, status.c_str(), restore_seconds);
      FinishWithSeconds(id, restore_seconds);
      ereport(LOG, (errmsg("pgbak: restore drill of base backup " INT64_FORMAT
                           " recovered to %s%s on timeline %s in %.1f s",
                           static_cast<int64>(source_id), opened.recovered_to.c_str(),
                           replayed ? "" : " (the backup's end: no transaction replayed)",
                           opened.timeline.c_str(), restore_seconds)));
    });
  });
}

// RecoverDatabaseOid is the database OID recorded on operation id's row
// (InvalidOid if none).
Oid RecoverDatabaseOid(int64_t id) {
  Oid oid = InvalidOid;
  RunInTransaction([&] {
    PgCall([&] {
      const char* sql = psprintf("SELECT database_oid FROM %s WHERE id = $1", BackupLogName());
      Oid types[1] = {INT8OID};
      Datum values[1] = {Int64GetDatum(static_cast<int64>(id))};
      if (SPI_execute_with_args(sql, 1, types, values, nullptr, true, 1) == SPI_OK_SELECT &&
          SPI_processed == 1) {
        bool isnull = true;
        Datum value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
        if (!isnull)
          oid = DatumGetObjectId(value);
      }
    });
  });
  return oid;
}

// ArchiveThrough makes sure the archive holds what recovery to
// target_time needs. PostgreSQL stops a recovery to a time at the first
// commit after it, and fails one that meets none before the archive ends
// ("recovery ended before configured recovery target was reached"); on a
// quiet server the archive may hold none yet. So a transaction is
// committed now (after the target), its segment switched and waited for
// (at most a minute): one segment switch per recovery.
void ArchiveThrough() {
  // A transaction id makes the commit write a commit record.
  RunInTransaction([&] {
    PgCall([&] {
      if (SPI_execute("SELECT pg_catalog.txid_current()", false, 1) != SPI_OK_SELECT)
        elog(ERROR, "could not start a transaction");
    });
  });
  std::string segment;
  RunInTransaction([&] {
    PgCall([&] {
      if (SPI_execute("SELECT pg_catalog.pg_walfile_name(pg_catalog.pg_switch_wal())", false, 1) ==
              SPI_OK_SELECT &&
          SPI_processed == 1) {
        const char* value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
        segment = value != nullptr ? value : "";
      }
    });
  });
  if (segment.empty())
    return;
  std::vector<int> none, ready;
  for (int waited = 0; waited < 60000; waited += 500) {
    std::string last;
    RunInTransaction([&] {
      PgCall([&] {
        if (SPI_execute("SELECT last_archived_wal FROM pg_catalog.pg_stat_archiver", true, 1) ==
                SPI_OK_SELECT &&
            SPI_processed == 1) {
          const char* value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
          last = value != nullptr ? value : "";
        }
      });
    });
    if (last.size() >= 24 && last.substr(0, 24) >= segment)
      return;
    ThrowIfStopping();
    WaitForInput(none, 500, ready);
  }
}

void RunRecover(int64_t id, int64_t base_id, const std::string& database,
                const std::string& options_json, const std::string& requested_by) {
  // The stored options: the recover options and the target time.
  std::string target_time;
  json::Value stored = json::Parse(options_json);
  json::Value rest = json::Value::Object();
  for (const auto& [key, value] : stored.AsObject()) {
    if (key == "target_time")
      target_time = value.AsString();
    else
      rest.Set(key, value);
  }
  if (target_time.empty())
    throw Error(ErrorKind::kInvalidParameter, "the recovery has no target time");
  RecoverOptions parsed = ParseRecoverOptions(rest.Serialize());
  RestoreOptions options;
  options.tables = parsed.tables;
  options.into_schema = parsed.into_schema.empty() ? DefaultRecoverSchema(id) : parsed.into_schema;
  bool whole = !parsed.target_database.empty();

  ServerFacts facts;
  RunInTransaction([&] { facts = GatherServerFacts(); });
  SourceInfo source = LoadSource(base_id);
  if (source.kind != "base")
    throw Error(ErrorKind::kInvalidParameter,
                "backup " + std::to_string(base_id) + " is not a base backup");
  ScratchRecovery recovery;
  LiveFacts live = ReadLiveFacts();
  recovery.superuser = live.superuser;
  recovery.max_prepared_transactions = live.max_prepared_transactions;
  recovery.max_locks_per_transaction = live.max_locks_per_transaction;
  recovery.amcheck_available = live.amcheck_available;
  struct timeval started;
  gettimeofday(&started, nullptr);
  PauseAt(id, "recover_start");
  // What is cheap to check is checked before the cluster is restored.
  if (whole)
    CheckNewDatabaseName(facts, parsed.target_database);
  else
    CheckRecoverTarget(facts, database, options.into_schema, requested_by);
  Oid database_oid = RecoverDatabaseOid(id);
  ArchiveThrough();
  try {
    RecoverInScratch(recovery, facts, id, base_id, source, {"--target-time", target_time},
                     "a recovery", "pgbak recover " + std::to_string(id));
  } catch (const Error& e) {
    // Recovery that ran out of archive before the target: the archive
    // does not reach it (yet), which is no damage.
    if (std::string(e.detail())
            .find("recovery ended before configured recovery target was "
                  "reached") != std::string::npos)
      throw Error(ErrorKind::kInvalidParameter,
                  "the WAL archive does not reach " + target_time + " yet", e.detail(),
                  "Wait until the WAL of that moment is archived (pg_stat_archiver), or give an "
                  "earlier target_time.");
    throw;
  }
  PauseAt(id, "recover_open");
  OpenFacts opened = ReadOpenFacts(recovery.Conninfo(setting_database));
  SetPhase(Phase::kCopying);
  std::string scratch_conninfo = ScratchServerConnInfo(recovery.layout, recovery.superuser);
  std::string recovered =
      whole ? RecoverDatabaseAsNew(facts, id, base_id, scratch_conninfo, database, database_oid,
                                   parsed.target_database, recovery.cluster->directory())
            : RecoverTablesIntoSchema(facts, id, base_id, scratch_conninfo, database, database_oid,
                                      options, requested_by, recovery.cluster->directory());
  SetPhase(Phase::kFinishing);
  recovery.cluster.reset();  // stopped and removed before the outcome is told
  double seconds = SecondsSince(started);
  if (opened.recovered_to.empty())
    opened.recovered_to = recovery.base_finished_at;
  RecordRecoveredTo(id, id, opened.recovered_to);
  std::string into =
      whole ? "new database \"" + parsed.target_database + "\""
            : "schema \"" + options.into_schema + "\" of database \"" + database + "\"";
  RunInTransaction([&] {
    PgCall([&] {
      FinishWithSeconds(id, seconds);
      ereport(LOG, (errmsg("pgbak: operation " INT64_FORMAT
                           ": recovered %s as of %s from base backup " INT64_FORMAT " into %s "
                           "in %.1f s (cluster restored and recovered in %.1f s)",
                           static_cast<int64>(id), recovered.c_str(), target_time.c_str(),
                           static_cast<int64>(base_id), into.c_str(), seconds,
                           recovery.restore_seconds)));
    });
  });
}

std::string CleanUpScratchCluster(int64_t id) {
  LocalStorage local(LocalStorageRoot());
  std::string directory = local.Location(StagingKey(id));
  // A drill's directory holds the scratch server's own pg_hba.conf (written
  // first) and its data directory; a logical verify's staging area neither.
  struct stat st;
  if (lstat((directory + "/pg_hba.conf").c_str(), &st) != 0 &&
      lstat((directory + "/data").c_str(), &st) != 0)
    return "";
  std::string done = StopLeftoverServer(directory + "/data", kStopGraceMs);
  std::string socket_dir = FileTail(directory + "/socket_directory", 256);
  if (IsScratchSocketDirectory(socket_dir) && !RemoveDirectoryTree(socket_dir))
    done += std::string(done.empty() ? "" : ", ") + "could not remove " + socket_dir;
  if (!RemoveDirectoryTree(directory))
    return done + (done.empty() ? "" : ", ") + "could not remove all of " + directory;
  return done + (done.empty() ? "" : ", ") + "removed its scratch cluster";
}

}  // namespace pgbak
