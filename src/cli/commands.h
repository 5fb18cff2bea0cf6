// commands.h: the commands of pgbak (see cli_args.h for the command line).
#pragma once

#include "cli/cli_args.h"

namespace pgbak::cli {

// RunCommand runs a parsed command (not help or version) and returns its
// exit code; throws pgbak::Error for the caller to report.
int RunCommand(const Arguments& args);

// InstallSignalHandlers makes SIGINT, SIGTERM and SIGHUP stop the command
// cleanly: a read in progress throws kCancelled (the staging files are
// removed as the error unwinds), and a running pg_restore or psql is
// stopped.
void InstallSignalHandlers();

}  // namespace pgbak::cli
