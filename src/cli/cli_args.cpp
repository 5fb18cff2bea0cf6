// cli_args.cpp: see cli_args.h.
#include "cli/cli_args.h"

#include <set>
#include <string>
#include <vector>

namespace pgbak::cli {

namespace {

constexpr const char* kMainHelp =
    "pgbak reads the backup sets of pgbak_ext from a storage, without a server.\n"
    "\n"
    "Usage:\n"
    "  pgbak COMMAND --storage URL [--storage-options FILE] [OPTION...] [ARG...]\n"
    "  pgbak --help | pgbak COMMAND --help | pgbak --version\n"
    "\n"
    "Commands:\n"
    "  sets      list the sets the storage holds, from their manifests\n"
    "  verify    check every object of a set against its manifest and list the archive\n"
    "  fetch     write a set's archive and globals, decrypted and decompressed, to a directory\n"
    "  restore   restore a set into a running server with pg_restore\n"
    "  restore-cluster  unpack a base backup into a new data directory, set up to\n"
    "            recover from the WAL archive to a point in time\n"
    "  wal-get   restore one archived WAL file (PostgreSQL's restore_command)\n"
    "\n"
    "Storage:\n"
    "  --storage URL             s3://bucket[/prefix] or file:///path (as pgbak_storage_add)\n"
    "  --storage-options FILE    a JSON object with the options of pgbak_storage_add\n"
    "                            (endpoint, region, secret_access_key_file, ...)\n"
    "  --identity FILE           age identities (AGE-SECRET-KEY-1...) to decrypt with\n"
    "Secrets are never taken from the command line: give them in FILE (better:\n"
    "secret_access_key_file), or in the AWS_* environment or AWS credential files.\n"
    "\n"
    "A SET is named by its location as pgbak sets prints it, by its directory\n"
    "relative to the storage (CLUSTER/DATABASE/TIME-ID), by its backup id, or as\n"
    "\"latest\" (the newest complete set; with --database, of that database).\n"
    "\n"
    "Exit codes: 0 ok, 1 failure, 2 bad usage, 3 not found, 4 checksum mismatch,\n"
    "5 storage unreachable. wal-get has its own, for restore_command (see\n"
    "pgbak wal-get --help).\n";

constexpr const char* kSetsHelp =
    "pgbak sets: list the backup sets a storage holds, oldest first.\n"
    "\n"
    "Usage:\n"
    "  pgbak sets --storage URL [--storage-options FILE] [--database NAME]\n"
    "             [--cluster SYSTEM_ID] [--json]\n"
    "\n"
    "Every set directory is listed, from its manifest.json: time, cluster (system\n"
    "identifier), database, backup id, format, stored and raw sizes, encrypted or\n"
    "not. A set without a readable manifest is listed as incomplete, never as a\n"
    "backup. Nothing is checked against the manifest: that is pgbak verify's job.\n"
    "\n"
    "Options:\n"
    "  --database NAME     only sets of this database\n"
    "  --cluster ID        only sets of this cluster (its system identifier)\n"
    "  --json              one JSON array, for scripts\n";

constexpr const char* kVerifyHelp =
    "pgbak verify: check a set as the server's pgbak_verify does.\n"
    "\n"
    "Usage:\n"
    "  pgbak verify SET --storage URL [--storage-options FILE] [--identity FILE]\n"
    "               [--database NAME] [--cluster ID] [--work-dir DIR] [--json]\n"
    "\n"
    "Every object of the set is read back: its size and SHA-256 are checked\n"
    "against manifest.json, it is decrypted (with --identity) and decompressed,\n"
    "and its decompressed size is checked; a custom archive is then staged in\n"
    "--work-dir (default $TMPDIR, else /var/tmp) and listed with pg_restore\n"
    "--list, and the staged copy removed. Without --identity, an encrypted set\n"
    "is checked against its sizes and checksums only, and the output says so.\n"
    "A mismatch exits with code 4.\n"
    "\n"
    "Options:\n"
    "  --database NAME, --cluster ID   narrow down which set \"latest\" or an id names\n"
    "  --work-dir DIR      where the archive is staged for pg_restore --list\n"
    "  --json              one JSON object, for scripts\n";

constexpr const char* kFetchHelp =
    "pgbak fetch: write a set, decrypted and decompressed, to a directory.\n"
    "\n"
    "Usage:\n"
    "  pgbak fetch SET DIR --storage URL [--storage-options FILE] [--identity FILE]\n"
    "              [--database NAME] [--cluster ID] [--no-sync] [--json]\n"
    "\n"
    "DIR (created if missing, else it must be empty) receives data.dump (custom\n"
    "format, ready for pg_restore -j: its data offsets are filled in) or data.sql\n"
    "(plain format, for psql), globals.sql (pg_dumpall --globals-only) and\n"
    "manifest.json. Every object is checked against the manifest on the way; the\n"
    "files appear in DIR only once all of them were checked and synced to disk,\n"
    "so a DIR that holds them holds a good set.\n"
    "\n"
    "Options:\n"
    "  --no-sync           do not wait for the files to reach the disk (faster;\n"
    "                      after a crash they may be incomplete)\n"
    "  --json              one JSON object, for scripts\n";

constexpr const char* kRestoreHelp =
    "pgbak restore: restore a set into a running server.\n"
    "\n"
    "Usage:\n"
    "  pgbak restore SET --dbname CONNINFO --storage URL [--storage-options FILE]\n"
    "                [--identity FILE] [--jobs N] [--create] [--globals]\n"
    "                [--tables T[,T...]] [--database NAME] [--cluster ID]\n"
    "                [--work-dir DIR] [--json]\n"
    "\n"
    "The set is read back and checked against its manifest as pgbak verify does,\n"
    "staged in --work-dir (default $TMPDIR, else /var/tmp), and only then given to\n"
    "the stock pg_restore (custom sets) or psql (plain sets): a damaged set exits\n"
    "with code 4 before anything reaches the server. The staged copy is removed.\n"
    "\n"
    "Options:\n"
    "  --dbname CONNINFO   the database to restore into (a name, key=value pairs or\n"
    "                      a postgresql:// URI); with --create, the database to\n"
    "                      connect to first. No password here: use PGPASSWORD,\n"
    "                      PGPASSFILE or ~/.pgpass\n"
    "  --jobs N            pg_restore sessions (custom sets; default 1)\n"
    "  --create            create the set's database (CREATE DATABASE, with its\n"
    "                      properties), then restore into it (custom sets)\n"
    "  --globals           first create the roles of the set's globals.sql that\n"
    "                      the server lacks; existing roles are left as they are\n"
    "  --tables T,...      restore only these tables, whole (definition, data,\n"
    "                      indexes, constraints, triggers); T is table or\n"
    "                      schema.table; custom sets\n"
    "  --json              one JSON object, for scripts\n";

constexpr const char* kRestoreClusterHelp =
    "pgbak restore-cluster: a new data directory from a base backup, recovering\n"
    "from the WAL archive to a point in time.\n"
    "\n"
    "Usage:\n"
    "  pgbak restore-cluster --pgdata DIR --storage URL [--storage-options FILE]\n"
    "                [--identity FILE] [--cluster ID]\n"
    "                [--target-time T | --target-lsn L | --target-xid X | --target latest]\n"
    "                [--base SET] [--tablespace-map OLD=NEW]... [--no-archive]\n"
    "\n"
    "Picks the newest base backup of the storage that ended before the target\n"
    "(or --base), checks every object against manifest.json while it unpacks it\n"
    "into DIR (new or empty) and each tablespace into its directory, and writes\n"
    "recovery.signal and the recovery settings into DIR/postgresql.auto.conf:\n"
    "restore_command runs pgbak wal-get with this storage's URL and the paths of\n"
    "--storage-options and --identity (never a secret). Start PostgreSQL on DIR to\n"
    "recover. A target before the oldest base backup, an LSN past the archive, a\n"
    "time in the future, a non-empty DIR are refused before anything is written.\n"
    "\n"
    "Options:\n"
    "  --pgdata DIR          the new data directory\n"
    "  --target-time T       a time with its offset: \"2026-12-02 07:10:00+00\"\n"
    "  --target-lsn L        an LSN: 0/3000060\n"
    "  --target-xid X        a transaction id\n"
    "  --target latest       everything the archive holds (the default)\n"
    "  --base SET            this base backup (id, directory or location)\n"
    "  --tablespace-map OLD=NEW  put the tablespace at OLD (its path in the backup,\n"
    "                        or its OID) at NEW instead; repeatable\n"
    "  --cluster ID          the cluster (system identifier), when the storage holds\n"
    "                        several\n"
    "  --no-archive          also write archive_mode = off (see the README)\n";

constexpr const char* kWalGetHelp =
    "pgbak wal-get: restore one archived WAL file, as restore_command.\n"
    "\n"
    "Usage:\n"
    "  pgbak wal-get FILE PATH --storage URL [--storage-options FILE]\n"
    "                [--identity FILE] --cluster ID [--prefetch N] [--prefetch-dir DIR]\n"
    "\n"
    "  restore_command = 'pgbak wal-get %f %p --storage ... --cluster ...'\n"
    "\n"
    "Finds FILE (a segment or a .history file) in the cluster's WAL archive,\n"
    "decrypts, decompresses and checks it against the SHA-256 in its key, and\n"
    "writes it to PATH atomically. Then it fetches the next N segments (default 8)\n"
    "in parallel into --prefetch-dir (default: pgbak_prefetch beside PATH) for the\n"
    "next calls, which serve them only once their SHA-256 is checked again.\n"
    "\n"
    "Exit codes: 0 restored; 1 not in the archive (PostgreSQL ends recovery\n"
    "there); 254 the archived object is damaged, 255 any other failure: both\n"
    "above 125, which stops recovery instead of ending it early.\n";

// TakesValue says whether option name needs a value.
bool TakesValue(const std::string& name) {
  static const std::set<std::string> kNames = {
      "--storage",        "--storage-options", "--database",    "--cluster", "--identity",
      "--work-dir",       "--dbname",          "--jobs",        "--tables",  "--pgdata",
      "--target-time",    "--target-lsn",      "--target-xid",  "--target",  "--base",
      "--tablespace-map", "--prefetch",        "--prefetch-dir"};
  return kNames.count(name) > 0;
}

// Allowed is the options each command takes (besides --help).
const std::set<std::string>& Allowed(const std::string& command) {
  static const std::set<std::string> kSets = {"--storage", "--storage-options", "--database",
                                              "--cluster", "--json"};
  static const std::set<std::string> kVerify = {"--storage",  "--storage-options", "--identity",
                                                "--database", "--cluster",         "--work-dir",
                                                "--json"};
  static const std::set<std::string> kFetch = {"--storage",  "--storage-options", "--identity",
                                               "--database", "--cluster",         "--json",
                                               "--no-sync"};
  static const std::set<std::string> kRestore = {
      "--storage", "--storage-options", "--identity", "--database", "--cluster", "--work-dir",
      "--json",    "--dbname",          "--jobs",     "--create",   "--globals", "--tables"};
  static const std::set<std::string> kRestoreCluster = {
      "--storage",        "--storage-options", "--identity",   "--cluster", "--pgdata",
      "--target-time",    "--target-lsn",      "--target-xid", "--target",  "--base",
      "--tablespace-map", "--no-archive"};
  static const std::set<std::string> kWalGet = {"--storage", "--storage-options", "--identity",
                                                "--cluster", "--prefetch",        "--prefetch-dir"};
  if (command == "restore-cluster")
    return kRestoreCluster;
  if (command == "wal-get")
    return kWalGet;
  if (command == "sets")
    return kSets;
  if (command == "verify")
    return kVerify;
  if (command == "fetch")
    return kFetch;
  return kRestore;
}

// SplitTables reads a --tables value: names separated by commas.
void SplitTables(const std::string& value, std::vector<std::string>& tables) {
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    if (comma == std::string::npos)
      comma = value.size();
    std::string name = value.substr(start, comma - start);
    if (name.empty())
      throw UsageError("--tables takes names separated by commas, not \"" + value + "\"");
    tables.push_back(name);
    start = comma + 1;
  }
}

bool KnownCommand(const std::string& command) {
  return command == "sets" || command == "verify" || command == "fetch" || command == "restore" ||
         command == "restore-cluster" || command == "wal-get";
}

}  // namespace

Arguments Parse(const std::vector<std::string>& args) {
  Arguments parsed;
  bool help = false;
  std::vector<std::string> given;  // options, for the per-command check
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size(); i++) {
    std::string arg = args[i];
    std::string value;
    bool has_value = false;
    if (arg.rfind("--", 0) == 0) {
      size_t equals = arg.find('=');
      if (equals != std::string::npos) {
        value = arg.substr(equals + 1);
        arg = arg.substr(0, equals);
        has_value = true;
      }
    }
    if (arg == "--help" || arg == "-h") {
      help = true;
    } else if (arg == "--version") {
      parsed.command = "version";
    } else if (arg == "--json" || arg == "--create" || arg == "--globals" || arg == "--no-sync" ||
               arg == "--no-archive") {
      if (has_value)
        throw UsageError("option " + arg + " takes no value");
      given.push_back(arg);
      (arg == "--json"         ? parsed.json
       : arg == "--create"     ? parsed.create
       : arg == "--globals"    ? parsed.globals
       : arg == "--no-archive" ? parsed.no_archive
                               : parsed.no_sync) = true;
    } else if (TakesValue(arg)) {
      if (!has_value) {
        if (i + 1 >= args.size() || args[i + 1].rfind("--", 0) == 0)
          throw UsageError("option " + arg + " needs a value");
        value = args[++i];
      }
      if (value.empty())
        throw UsageError("option " + arg + " needs a value");
      given.push_back(arg);
      if (arg == "--storage")
        parsed.storage_url = value;
      else if (arg == "--storage-options")
        parsed.storage_options = value;
      else if (arg == "--database")
        parsed.database = value;
      else if (arg == "--cluster")
        parsed.cluster = value;
      else if (arg == "--identity")
        parsed.identity = value;
      else if (arg == "--work-dir")
        parsed.work_dir = value;
      else if (arg == "--dbname")
        parsed.dbname = value;
      else if (arg == "--tables")
        SplitTables(value, parsed.tables);
      else if (arg == "--pgdata")
        parsed.pgdata = value;
      else if (arg.rfind("--target", 0) == 0) {
        if (!parsed.target_kind.empty())
          throw UsageError(
              "give one target: --target-time, --target-lsn, --target-xid or "
              "--target latest");
        parsed.target_kind = arg == "--target" ? "latest" : arg.substr(9);
        parsed.target = value;
      } else if (arg == "--base")
        parsed.base = value;
      else if (arg == "--tablespace-map") {
        size_t equals = value.find('=');
        if (equals == std::string::npos || equals == 0 || equals + 1 == value.size())
          throw UsageError("--tablespace-map takes OLD=NEW, not \"" + value + "\"");
        parsed.tablespace_map.push_back(value);
      } else if (arg == "--prefetch-dir")
        parsed.prefetch_dir = value;
      else if (arg == "--prefetch") {
        if (value.find_first_not_of("0123456789") != std::string::npos || value.size() > 2 ||
            std::stoi(value) > kMaxPrefetch)
          throw UsageError("--prefetch takes a number from 0 to " + std::to_string(kMaxPrefetch) +
                           ", not \"" + value + "\"");
        parsed.prefetch = std::stoi(value);
      } else {
        if (value.find_first_not_of("0123456789") != std::string::npos || value.size() > 3 ||
            std::stoi(value) < 1 || std::stoi(value) > kMaxJobs)
          throw UsageError("--jobs takes a number from 1 to " + std::to_string(kMaxJobs) +
                           ", not \"" + value + "\"");
        parsed.jobs = std::stoi(value);
      }
    } else if (arg.rfind("-", 0) == 0 && arg.size() > 1) {
      throw UsageError("unknown option " + arg + " (see pgbak --help)");
    } else if (parsed.command.empty()) {
      parsed.command = arg;
    } else {
      positional.push_back(arg);
    }
  }
  if (help) {
    parsed.help_for = parsed.command == "version" ? "" : parsed.command;
    parsed.command = "help";
  }
  if (parsed.command.empty())
    throw UsageError("no command given (see pgbak --help)");
  if (parsed.command == "help") {
    if (!parsed.help_for.empty() && !KnownCommand(parsed.help_for))
      throw UsageError("unknown command \"" + parsed.help_for + "\" (see pgbak --help)");
    return parsed;
  }
  if (parsed.command == "version")
    return parsed;
  const std::string& command = parsed.command;
  if (!KnownCommand(command))
    throw UsageError("unknown command \"" + command + "\" (see pgbak --help)");
  for (const std::string& option : given)
    if (Allowed(command).count(option) == 0)
      throw UsageError("pgbak " + command + " takes no option " + option + " (see pgbak " +
                       command + " --help)");
  size_t wanted = command == "sets" || command == "restore-cluster" ? 0
                  : command == "fetch" || command == "wal-get"      ? 2
                                                                    : 1;
  if (positional.size() > wanted && wanted == 0)
    throw UsageError("pgbak " + command + " takes no argument, not \"" + positional[0] + "\"");
  if (command == "wal-get" && positional.size() != 2)
    throw UsageError("pgbak wal-get takes FILE PATH (restore_command's %f %p)");
  if (positional.size() > wanted)
    throw UsageError("pgbak " + command + " takes " +
                     (wanted == 1 ? "one set" : "a set and a directory") + ", not also \"" +
                     positional[wanted] + "\"");
  if (positional.size() < wanted)
    throw UsageError(wanted == 2 && positional.size() == 1
                         ? "pgbak fetch needs a directory after the set"
                         : "pgbak " + command + " needs a set (see pgbak " + command + " --help)");
  if (command == "wal-get") {
    parsed.wal_file = positional[0];
    parsed.wal_path = positional[1];
  } else {
    if (wanted >= 1)
      parsed.set = positional[0];
    if (wanted == 2)
      parsed.directory = positional[1];
  }
  if (parsed.storage_url.empty())
    throw UsageError("pgbak " + command + " needs --storage URL");
  if (command == "restore" && parsed.dbname.empty())
    throw UsageError("pgbak restore needs --dbname CONNINFO (the database to restore into)");
  if (command == "restore-cluster" && parsed.pgdata.empty())
    throw UsageError("pgbak restore-cluster needs --pgdata DIR (the new data directory)");
  if (command == "wal-get" && parsed.cluster.empty())
    throw UsageError("pgbak wal-get needs --cluster ID (the system identifier of the archive)");
  if (!parsed.cluster.empty() &&
      parsed.cluster.find_first_not_of("0123456789") != std::string::npos)
    throw UsageError("--cluster takes a system identifier (digits), not \"" + parsed.cluster +
                     "\"");
  return parsed;
}

std::string HelpText(const std::string& command) {
  if (command == "sets")
    return kSetsHelp;
  if (command == "verify")
    return kVerifyHelp;
  if (command == "fetch")
    return kFetchHelp;
  if (command == "restore")
    return kRestoreHelp;
  if (command == "restore-cluster")
    return kRestoreClusterHelp;
  if (command == "wal-get")
    return kWalGetHelp;
  return kMainHelp;
}

}  // namespace pgbak::cli
