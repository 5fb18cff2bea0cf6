// pgbak_main.cpp: the pgbak program (see cli_args.h), built on the core of
// pgbak_ext: the same storage drivers, SigV4, age, zstd, manifest and set
// layout as the server's workers, and no PostgreSQL server library.
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/cli_args.h"
#include "cli/commands.h"
#include "cli/terminal.h"
#include "core/base/error.h"
#include "core/base/json.h"

#ifndef PGBAK_VERSION
#define PGBAK_VERSION "unknown"
#endif

namespace pgbak::cli {

namespace {

// ExitCodeOf maps a core error to pgbak's exit code.
int ExitCodeOf(const Error& error) {
  if (dynamic_cast<const CliFailure*>(&error) != nullptr)
    return kExitFailure;
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

// Report prints an error on stderr and, with --json, as a JSON object on
// stdout; returns code.
// Its text may come from a storage, a manifest or a tool: it reaches the
// terminal through TerminalText.
int Report(const Arguments& args, int code, const std::string& message,
           const std::string& detail = "", const std::string& hint = "") {
  std::fprintf(stderr, "pgbak: %s\n", TerminalText(message).c_str());
  if (!detail.empty())
    std::fprintf(stderr, "DETAIL: %s\n", TerminalText(detail).c_str());
  if (!hint.empty())
    std::fprintf(stderr, "HINT: %s\n", TerminalText(hint).c_str());
  if (args.json) {
    json::Value out = json::Value::Object();
    out.Set("error", json::Value::String(message));
    if (!detail.empty())
      out.Set("detail", json::Value::String(detail));
    if (!hint.empty())
      out.Set("hint", json::Value::String(hint));
    out.Set("exit_code", json::Value::Number(code));
    std::printf("%s\n", out.Serialize(2).c_str());
  }
  return code;
}

// RunWalGet runs pgbak wal-get, whose exit codes are restore_command's
// (cli_args.h): 1 only for a file the archive does not hold, above 125 for
// every failure, so that PostgreSQL stops recovery instead of ending it
// early. No signal handler: a SIGTERM from PostgreSQL stops it as a signal,
// which is what PostgreSQL expects of its restore_command. SIGPIPE is
// ignored: a storage connection or a stderr that went away is an error
// (exit code), not a death by a signal PostgreSQL reads as a failure.
int RunWalGet(const std::vector<std::string>& argv) {
  std::signal(SIGPIPE, SIG_IGN);
  Arguments args;
  try {
    args = Parse(argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "pgbak: %s\n", e.what());
    return kWalGetFailure;
  }
  if (args.command != "wal-get")
    return kWalGetFailure;
  try {
    return RunCommand(args);
  } catch (const Error& e) {
    int code = e.kind() == ErrorKind::kCorrupt ? kWalGetDamaged : kWalGetFailure;
    Report(args, code, e.what(), e.detail(), e.hint());
    return code;
  } catch (const std::exception& e) {
    return Report(args, kWalGetFailure, e.what());
  }
}

int Run(const std::vector<std::string>& argv) {
  bool help = false;
  for (const std::string& arg : argv)
    help = help || arg == "--help" || arg == "-h";
  if (!argv.empty() && argv[0] == "wal-get" && !help)
    return RunWalGet(argv);
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
  InstallSignalHandlers();
  try {
    return RunCommand(args);
  } catch (const Error& e) {
    return Report(args, ExitCodeOf(e), e.what(), e.detail(), e.hint());
  } catch (const std::exception& e) {
    return Report(args, kExitFailure, e.what());
  }
}

}  // namespace

}  // namespace pgbak::cli

int main(int argc, char** argv) {
  return pgbak::cli::Run(std::vector<std::string>(argv + 1, argv + argc));
}
