// pgbak_main.cpp: the pgbak program (see cli_args.h), built on the core of
// pgbak_ext: the same storage drivers, SigV4, manifest and set layout as
// the server's workers, and no PostgreSQL server library.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_args.h"
#include "core/archive/set_listing.h"
#include "core/base/error.h"
#include "core/base/json.h"
#include "core/storage/local/local_storage.h"
#include "core/storage/s3/s3_storage.h"
#include "core/storage/storage_definition.h"

#ifndef PGBAK_VERSION
#define PGBAK_VERSION "unknown"
#endif

namespace pgbak::cli {

namespace {

// ExitCodeOf maps a core error to pgbak's exit code.
int ExitCodeOf(const Error& error) {
  switch (error.kind()) {
    case ErrorKind::kUndefinedObject:
      return kExitNotFound;
    case ErrorKind::kCorrupt:
      return kExitChecksum;
    case ErrorKind::kIo:
      return kExitUnreachable;
    case ErrorKind::kInvalidParameter:
    case ErrorKind::kLimitExceeded:
      return kExitUsage;
    default:
      return kExitFailure;
  }
}

// ReadFile reads the --storage-options file.
std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(ErrorKind::kUndefinedObject,
                "could not read storage options file \"" + path + "\"");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// OpenCliStorage opens the storage the command line names.
std::unique_ptr<Storage> OpenCliStorage(const Arguments& args) {
  std::string options = args.storage_options.empty() ? "{}" : ReadFile(args.storage_options);
  StorageDefinition definition = ParseStorageDefinition("cli", args.storage_url, options);
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

// PrintSets writes the listing as a table or JSON.
void PrintSets(const std::vector<SetSummary>& sets, Storage& storage, bool json) {
  if (json) {
    json::Value list = json::Value::Array();
    for (const SetSummary& set : sets) {
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
      list.Append(std::move(object));
    }
    std::printf("%s\n", list.Serialize(2).c_str());
    return;
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
                Printable(storage.Location(set.key)).c_str());
  }
}

int Run(const std::vector<std::string>& argv) {
  Arguments args;
  try {
    args = Parse(argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "pgbak: %s\n", e.what());
    return kExitUsage;
  }
  if (args.command == "help") {
    std::fputs(HelpText(args.help_for).c_str(), stdout);
    return kExitOk;
  }
  if (args.command == "version") {
    std::printf("pgbak (pgbak_ext) %s\n", PGBAK_VERSION);
    return kExitOk;
  }
  try {
    std::unique_ptr<Storage> storage = OpenCliStorage(args);
    std::vector<SetSummary> sets = ListSets(*storage, {args.database, args.cluster});
    PrintSets(sets, *storage, args.json);
    return kExitOk;
  } catch (const Error& e) {
    std::fprintf(stderr, "pgbak: %s\n", e.what());
    if (!e.detail().empty())
      std::fprintf(stderr, "DETAIL: %s\n", e.detail().c_str());
    if (!e.hint().empty())
      std::fprintf(stderr, "HINT: %s\n", e.hint().c_str());
    return ExitCodeOf(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pgbak: %s\n", e.what());
    return kExitFailure;
  }
}

}  // namespace

}  // namespace pgbak::cli

int main(int argc, char** argv) {
  return pgbak::cli::Run(std::vector<std::string>(argv + 1, argv + argc));
}
