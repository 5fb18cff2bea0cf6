// commands.cpp: pgbak sets, verify, fetch and restore, built on the core
// the server's workers use (storage drivers, set_listing, set_reader,
// globals_script, table_selection), without any PostgreSQL server library;
// and the dispatch to every command (restore-cluster and wal-get are in
// recovery_commands.cpp).
#include "cli/commands.h"
#include "cli/command_support.h"
#include "cli/recovery_commands.h"
#include "cli/terminal.h"

#include <dirent.h>
#include <fcntl.h>
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
#include <functional>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/archive/globals_script.h"
#include "core/archive/restore_list.h"
#include "core/archive/set_layout.h"
#include "core/archive/set_listing.h"
#include "core/archive/set_reader.h"
#include "core/archive/table_loads.h"
#include "core/archive/table_selection.h"
#include "core/base/error.h"
#include "core/base/json.h"
#include "core/storage/local/free_space.h"
#include "core/storage/local/local_storage.h"
#include "core/storage/storage_definition.h"

namespace pgbak::cli {

namespace {

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

// WorkDirectory is where verify and restore stage: --work-dir, $TMPDIR,
// /var/tmp.
std::string WorkDirectory(const Arguments& args) {
  if (!args.work_dir.empty())
    return args.work_dir;
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && tmp[0] == '/' ? tmp : "/var/tmp";
}

// CheckRoom refuses to stage bytes of what in directory unless they fit
// with a tenth to spare.
void CheckRoom(const std::string& directory, uint64_t bytes, const std::string& what = "the set") {
  FileSystemSpace space = SpaceAt(directory);
  if (space.available < bytes + bytes / 10)
    throw Error(ErrorKind::kDiskFull,
                "not enough room in \"" + Printable(directory) + "\" to stage " + what +
                    ": it needs " + FormatBytes(bytes) + ", " + FormatBytes(space.available) +
                    " is free",
                "", "Give --work-dir a directory on a file system with more room.");
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
  options.stage_tables = true;
  Stopwatch watch;
  StagedSet staged = ReadBack(source, set, staging.area, options, args, "fetching", args.directory);
  // The tables a parallel export stored in objects of their own: each one's
  // COPY text, and a psql script that loads them all from where they are.
  std::vector<SeparateTableLoad> loads;
  std::vector<std::string> load_names;  // each one's file in DIR
  std::string load_script;
  if (!staged.table_paths.empty()) {
    loads = SeparateTableLoads(staged.manifest, staged.toc, staged.table_paths);
    load_names = FetchedTableNames(loads);
    std::string absolute = OnThisMachine([&] {
      char resolved[PATH_MAX];
      if (realpath(args.directory.c_str(), resolved) == nullptr)
        ThrowErrno("could not resolve \"" + Printable(args.directory) + "\"", errno);
      return std::string(resolved);
    });
    std::vector<SeparateTableLoad> fetched = loads;
    for (size_t i = 0; i < fetched.size(); i++)
      fetched[i].path = absolute + "/" + load_names[i];
    load_script = TableLoadScript(fetched, staged.client_encoding, false);
  }
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
    for (size_t i = 0; i < loads.size(); i++)
      place(loads[i].path, load_names[i]);
    if (!load_script.empty()) {
      std::string script = staging.area.Path("tables.sql");
      StagingFile file(script, load_script.size());
      file.Write(reinterpret_cast<const uint8_t*>(load_script.data()), load_script.size());
      file.Finish();
      place(script, "tables.sql");
    }
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
  std::string dir = Printable(args.directory);
  if (!loads.empty())
    std::printf(
        "Restore with (%zu files of table rows, loaded by tables.sql):\n"
        "  pg_restore --section=pre-data -d DBNAME %s/data.dump\n"
        "  psql -X -v ON_ERROR_STOP=1 -1 -d DBNAME -f %s/tables.sql\n"
        "  pg_restore --section=data --section=post-data -j 4 -d DBNAME %s/data.dump\n",
        loads.size(), dir.c_str(), dir.c_str(), dir.c_str());
  else if (set.dump_format == "custom")
    std::printf("Restore with: pg_restore -j 4 -d DBNAME %s/data.dump\n", dir.c_str());
  else
    std::printf("Restore with: psql -v ON_ERROR_STOP=1 -d DBNAME -f %s/data.sql\n", dir.c_str());
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

// ConnInfoWithDatabase is conninfo (a --dbname) with its database replaced
// by database, as key=value pairs (the database pg_restore --create made).
std::string ConnInfoWithDatabase(const std::string& conninfo, const std::string& database) {
  auto quoted = [](const std::string& value) {
    std::string out = "'";
    for (char c : value) {
      if (c == '\'' || c == '\\')
        out.push_back('\\');
      out.push_back(c);
    }
    return out + "'";
  };
  std::string result;
  bool structured = conninfo.find('=') != std::string::npos ||
                    conninfo.rfind("postgresql://", 0) == 0 ||
                    conninfo.rfind("postgres://", 0) == 0;
  if (structured) {
    char* message = nullptr;
    PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &message);
    if (options == nullptr) {
      PQfreemem(message);
      throw Error(ErrorKind::kInvalidParameter, "--dbname is not a valid connection string");
    }
    for (PQconninfoOption* option = options; option->keyword != nullptr; option++)
      if (option->val != nullptr && option->val[0] != '\0' &&
          std::strcmp(option->keyword, "dbname") != 0)
        result += std::string(option->keyword) + "=" + quoted(option->val) + " ";
    PQconninfoFree(options);
  }
  return result + "dbname=" + quoted(database);
}

// ToolStep is one tool a restore runs, with the scripts pg_restore wrote
// that it hands to psql: each is checked (CheckRestrictedScript) first.
struct ToolStep {
  std::string tool;
  std::vector<std::string> args;
  std::vector<std::string> scripts;  // pg_restore's, which psql runs: checked first
  std::string restrict_key;          // the key those scripts must use
  bool offline = false;              // writes a file, touches no server
};

// StepsWithTableRows are the tools that restore a custom set (pg_restore
// with restore, its arguments, the archive last) together with loads, the
// rows of tables in objects of their own, between the definitions and the
// rest. In one session without --create, all in one transaction:
// pg_restore writes the sections as scripts, and psql runs them around the
// loads, once they were found restricted (CheckRestrictedScript); the
// scripts are staged in work (RestoreScriptBytes of the entries restored
// keeps must fit there first). Otherwise pre-data (and --create), the
// loads, and the rest with --jobs, each a step of its own.
std::vector<ToolStep> StepsWithTableRows(const Arguments& args, const StagedSet& staged,
                                         const std::vector<std::string>& restore,
                                         const std::vector<SeparateTableLoad>& loads,
                                         StagingArea& staging, const std::string& work,
                                         const std::function<bool(const TocEntry&)>& restored) {
  std::string rows = staging.Path("tables.sql");
  OnThisMachine([&] {
    std::string script = TableLoadScript(loads, staged.client_encoding, false);
    StagingFile file(rows, script.size());
    file.Write(reinterpret_cast<const uint8_t*>(script.data()), script.size());
    file.Finish();
  });
  // restore without the archive, --jobs, --single-transaction and --create.
  std::vector<std::string> common;
  for (size_t i = 0; i + 1 < restore.size(); i++)
    if (restore[i].rfind("--jobs=", 0) != 0 && restore[i] != "--single-transaction" &&
        restore[i] != "--create")
      common.push_back(restore[i]);
  auto with = [&](std::vector<std::string> base, const std::vector<std::string>& more) {
    base.insert(base.end(), more.begin(), more.end());
    base.push_back(staged.data_path);
    return base;
  };
  std::vector<std::string> psql = {
      "-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", "--single-transaction"};
  std::vector<ToolStep> steps;
  if (args.jobs == 1 && !args.create) {
    std::vector<std::string> script_args;
    for (const std::string& arg : common)
      if (arg.rfind("--dbname=", 0) != 0 && arg != "--exit-on-error" && arg != "--no-password")
        script_args.push_back(arg);
    OnThisMachine([&] {
      CheckRoom(work, RestoreScriptBytes(staged, restored),
                "the SQL scripts pg_restore writes for psql");
    });
    std::string before = staging.Path("pre-data.sql");
    std::string after = staging.Path("data.sql");
    std::string key = NewRestrictKey();
    steps.push_back(
        {"pg_restore",
         with(script_args, {"--section=pre-data", "--file=" + before, "--restrict-key=" + key}),
         {},
         "",
         true});
    // The last script in one transaction of its own (BEGIN ... COMMIT
    // around all of it): without, pg_restore puts a BEGIN/COMMIT of its own
    // around large objects, whose COMMIT would end psql's one transaction
    // there and leave the rest (post-data) to autocommit. Its COMMIT is the
    // end of the run: psql's own then has nothing left to commit.
    steps.push_back(
        {"pg_restore",
         with(script_args, {"--section=data", "--section=post-data", "--single-transaction",
                            "--file=" + after, "--restrict-key=" + key}),
         {},
         "",
         true});
    psql.insert(psql.end(), {"--dbname=" + args.dbname, "--file=" + before, "--file=" + rows,
                             "--file=" + after});
    steps.push_back({"psql", psql, {before, after}, key, false});
    return steps;
  }
  std::string target = args.dbname;
  std::vector<std::string> into = common;
  if (args.create) {
    std::string database;
    for (const TocEntry& entry : staged.toc)
      if (entry.desc == "DATABASE")
        database = entry.tag;
    if (database.empty())
      throw Error(ErrorKind::kCorrupt, "the archive has no DATABASE entry for --create");
    target = ConnInfoWithDatabase(args.dbname, database);
    for (std::string& arg : into)
      if (arg.rfind("--dbname=", 0) == 0)
        arg = "--dbname=" + target;
  }
  std::vector<std::string> first = {"--section=pre-data"};
  if (args.create)
    first.push_back("--create");
  steps.push_back({"pg_restore", with(common, first), {}});
  psql.insert(psql.end(), {"--dbname=" + target, "--file=" + rows});
  steps.push_back({"psql", psql, {}});
  std::vector<std::string> rest = {"--section=data", "--section=post-data"};
  if (args.jobs > 1)
    rest.push_back("--jobs=" + std::to_string(args.jobs));
  steps.push_back({"pg_restore", with(into, rest), {}});
  return steps;
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
  options.stage_tables = true;
  if (!wanted.empty()) {
    // Only the tables --tables restores (a table brings its partitions).
    options.stage_table = [&wanted](const TableCount& table, const std::vector<TocEntry>& toc) {
      std::set<int> restored = SelectTablesWhole(toc, wanted).dump_ids;
      for (const TocEntry& entry : toc)
        if (entry.desc == "TABLE" && entry.namespace_ == table.schema && entry.tag == table.table)
          return restored.count(entry.dump_id) > 0;
      return true;  // damage, which SeparateTableLoads reports
    };
  }
  StagedSet staged = ReadBack(source, set, staging.area, options, args, "reading", work);
  // What to restore is settled before anything reaches the server.
  std::string left_out;
  std::vector<std::string> tool_args;
  // The tools to run, in order (one, unless tables in objects of their own
  // are to be loaded).
  std::vector<ToolStep> steps;
  std::vector<SeparateTableLoad> loads;
  if (custom) {
    std::string listing = ListArchive(staged.data_path);
    std::set<int> skip;
    std::set<int> selected;
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
      selected = selection.dump_ids;
    }
    // The restored tables that a parallel export stored in objects of their
    // own: their rows are loaded from their files, after the definitions
    // and before the indexes and keys.
    loads = SeparateTableLoads(
        staged.manifest, staged.toc, staged.table_paths,
        [&](const TocEntry& entry) { return wanted.empty() || selected.count(entry.dump_id) > 0; });
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
    if (!loads.empty())
      steps =
          StepsWithTableRows(args, staged, tool_args, loads, staging.area, work,
                             [&](const TocEntry& entry) { return skip.count(entry.dump_id) == 0; });
    else
      steps.push_back({"pg_restore", tool_args, {}});
  } else {
    tool_args = {"-X",
                 "-q",
                 "--no-password",
                 "-v",
                 "ON_ERROR_STOP=1",
                 "--single-transaction",
                 "--dbname=" + args.dbname,
                 "--file=" + staged.data_path};
    steps.push_back({"psql", tool_args, {}});
  }
  // Steps that only write files run first, and every script pg_restore
  // wrote is checked: a refused one leaves the server untouched.
  size_t first_online = 0;
  for (; first_online < steps.size() && steps[first_online].offline; first_online++)
    RunTool(steps[first_online].tool, steps[first_online].args);
  for (const ToolStep& step : steps)
    for (const std::string& script : step.scripts)
      OnThisMachine([&] { CheckRestrictedScript(script, step.restrict_key); });
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
  for (size_t i = first_online; i < steps.size(); i++)
    RunTool(steps[i].tool, steps[i].args);
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

}  // namespace

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
