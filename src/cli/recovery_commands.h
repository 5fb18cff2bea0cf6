// recovery_commands.h: pgbak restore-cluster and pgbak wal-get, point-in-time
// recovery from the command line (README, "Point-in-time recovery").
#pragma once

#include "cli/cli_args.h"

namespace pgbak::cli {

// RunWalGet restores one WAL file for restore_command; its exit codes are
// WalGetExitCode's (cli_args.h): it returns kWalGetNotFound when the
// archive lacks the file, and throws for the caller to map the rest.
int RunWalGet(const Arguments& args);

// RunRestoreCluster makes a new data directory from the base backup that
// fits the target, set up to recover to it.
int RunRestoreCluster(const Arguments& args);

}  // namespace pgbak::cli
