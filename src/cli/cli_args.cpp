// cli_args.cpp: see cli_args.h.
#include "cli/cli_args.h"

#include <string>
#include <vector>

namespace pgbak::cli {

namespace {

constexpr const char* kMainHelp =
    "pgbak reads the backup sets of pgbak_ext from a storage, without a server.\n"
    "\n"
    "Usage:\n"
    "  pgbak COMMAND --storage URL [--storage-options FILE] [OPTION...]\n"
    "  pgbak --help | pgbak COMMAND --help | pgbak --version\n"
    "\n"
    "Commands:\n"
    "  sets      list the sets the storage holds, from their manifests\n"
    "\n"
    "Storage:\n"
    "  --storage URL             s3://bucket[/prefix] or file:///path (as pgbak_storage_add)\n"
    "  --storage-options FILE    a JSON object with the options of pgbak_storage_add\n"
    "                            (endpoint, region, secret_access_key_file, ...)\n"
    "Secrets are never taken from the command line: give them in FILE (better:\n"
    "secret_access_key_file), or in the AWS_* environment or AWS credential files.\n"
    "\n"
    "Exit codes: 0 ok, 1 failure, 2 bad usage, 3 not found, 4 checksum mismatch,\n"
    "5 storage unreachable.\n";

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

// TakesValue says whether option name needs a value.
bool TakesValue(const std::string& name) {
  return name == "--storage" || name == "--storage-options" || name == "--database" ||
         name == "--cluster";
}

}  // namespace

Arguments Parse(const std::vector<std::string>& args) {
  Arguments parsed;
  bool help = false;
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
    } else if (arg == "--json") {
      if (has_value)
        throw UsageError("option --json takes no value");
      parsed.json = true;
    } else if (TakesValue(arg)) {
      if (!has_value) {
        if (i + 1 >= args.size() || args[i + 1].rfind("--", 0) == 0)
          throw UsageError("option " + arg + " needs a value");
        value = args[++i];
      }
      if (value.empty())
        throw UsageError("option " + arg + " needs a value");
      if (arg == "--storage")
        parsed.storage_url = value;
      else if (arg == "--storage-options")
        parsed.storage_options = value;
      else if (arg == "--database")
        parsed.database = value;
      else
        parsed.cluster = value;
    } else if (arg.rfind("-", 0) == 0 && arg.size() > 1) {
      throw UsageError("unknown option " + arg + " (see pgbak --help)");
    } else if (parsed.command.empty()) {
      parsed.command = arg;
    } else {
      parsed.positional.push_back(arg);
    }
  }
  if (help) {
    parsed.help_for = parsed.command == "version" ? "" : parsed.command;
    parsed.command = "help";
  }
  if (parsed.command.empty())
    throw UsageError("no command given (see pgbak --help)");
  if (parsed.command == "help") {
    if (!parsed.help_for.empty() && parsed.help_for != "sets")
      throw UsageError("unknown command \"" + parsed.help_for + "\" (see pgbak --help)");
    return parsed;
  }
  if (parsed.command == "version")
    return parsed;
  if (parsed.command != "sets")
    throw UsageError("unknown command \"" + parsed.command + "\" (see pgbak --help)");
  if (!parsed.positional.empty())
    throw UsageError("pgbak sets takes no argument, not \"" + parsed.positional[0] + "\"");
  if (parsed.storage_url.empty())
    throw UsageError("pgbak " + parsed.command + " needs --storage URL");
  if (!parsed.cluster.empty() &&
      parsed.cluster.find_first_not_of("0123456789") != std::string::npos)
    throw UsageError("--cluster takes a system identifier (digits), not \"" + parsed.cluster +
                     "\"");
  return parsed;
}

std::string HelpText(const std::string& command) {
  return command == "sets" ? kSetsHelp : kMainHelp;
}

}  // namespace pgbak::cli
