// cli_args.h: the command line of pgbak, the program that reads backup sets
// without a server (recovery after the server that holds backup_log is
// gone).
//
//   pgbak [--help | --version]
//   pgbak COMMAND --storage URL [--storage-options FILE] [options] [ARGS]
//
// Secrets never come from the command line (argv is visible to every user
// of the machine): they come from --storage-options FILE (the JSON keys of
// pgbak_storage_add, e.g. secret_access_key_file), the standard AWS_*
// environment or the AWS credential files.
#pragma once

#include <string>
#include <vector>

namespace pgbak::cli {

// Exit codes of pgbak, documented in the README ("The pgbak command").
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,      // anything not listed below
  kExitUsage = 2,        // bad command line
  kExitNotFound = 3,     // no such set, database or file
  kExitChecksum = 4,     // an object does not match its manifest
  kExitUnreachable = 5,  // the storage could not be reached or read
};

// Exit codes of pgbak wal-get, for PostgreSQL's restore_command, which
// takes any exit status from 1 to 125 for "not in the archive" (recovery
// then ends there) and one above 125 for a failure that stops recovery
// (the startup process exits FATAL).
enum WalGetExitCode : int {
  kWalGetNotFound = 1,   // the archive holds no such file
  kWalGetDamaged = 254,  // the archived object is damaged: recovery must not go past it
  kWalGetFailure = 255,  // anything else (storage unreachable, no identity, bad command line)
};

// Arguments is a parsed command line.
struct Arguments {
  std::string command;          // "sets", "verify", "fetch", "restore", "restore-cluster",
                                // "wal-get", "help", "version"
  std::string help_for;         // with "help": the command asked about ("" for all)
  std::string storage_url;      // --storage
  std::string storage_options;  // --storage-options FILE
  std::string identity;         // --identity FILE: age identities to decrypt with
  std::string database;         // --database: only sets of this database
  std::string cluster;          // --cluster: only sets of this system identifier
  std::string work_dir;         // --work-dir: where verify and restore stage ("" default)
  bool json = false;            // --json: machine-readable output
  bool no_sync = false;         // fetch --no-sync: no fsync of what it writes
  // restore
  std::string dbname;               // --dbname CONNINFO
  int jobs = 1;                     // --jobs N
  bool create = false;              // --create
  bool globals = false;             // --globals
  std::vector<std::string> tables;  // --tables a,b (and repeated)
  // The set (verify, fetch, restore) and fetch's directory.
  std::string set;
  std::string directory;
  // restore-cluster
  std::string pgdata;                       // --pgdata DIR
  std::string target_kind;                  // "time", "lsn", "xid", "latest" ("" none given)
  std::string target;                       // its value
  std::string base;                         // --base SET
  std::vector<std::string> tablespace_map;  // --tablespace-map OLD=NEW, as given
  bool no_archive = false;                  // --no-archive: archive_mode = off
  // wal-get FILE PATH
  std::string wal_file;
  std::string wal_path;
  int prefetch = 8;          // --prefetch N (0: none)
  std::string prefetch_dir;  // --prefetch-dir DIR
};

// kMaxPrefetch bounds --prefetch.
constexpr int kMaxPrefetch = 64;

// kMaxJobs bounds --jobs (pg_restore sessions).
constexpr int kMaxJobs = 64;

// UsageError is a command line pgbak cannot run; its message names what is
// wrong, for "pgbak: <message>" and exit code kExitUsage.
class UsageError : public std::exception {
 public:
  explicit UsageError(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

// Parse reads argv (without the program name); throws UsageError.
Arguments Parse(const std::vector<std::string>& args);

// HelpText is the text of pgbak --help (command empty) or of pgbak COMMAND
// --help.
std::string HelpText(const std::string& command);

}  // namespace pgbak::cli
