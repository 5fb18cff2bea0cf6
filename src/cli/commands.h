// commands.h: the commands of pgbak (see cli_args.h for the command line).
#pragma once

#include <string>

#include "cli/cli_args.h"
#include "core/base/error.h"

namespace pgbak::cli {

// CliFailure is an error of this machine or of the target server, not of
// the storage: it exits 1 ("any other failure") whatever its kind.
class CliFailure : public Error {
 public:
  explicit CliFailure(const Error& cause) : Error(cause) {}
  using Error::Error;
};

// RunCommand runs a parsed command (not help or version) and returns its
// exit code; throws pgbak::Error for the caller to report.
int RunCommand(const Arguments& args);

// InstallSignalHandlers makes SIGINT, SIGTERM and SIGHUP stop the command
// cleanly: a read in progress throws kCancelled (the staging files are
// removed as the error unwinds), and a running pg_restore or psql is
// stopped.
void InstallSignalHandlers();

}  // namespace pgbak::cli
