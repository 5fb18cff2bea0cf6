// scratch_server.h: a throwaway PostgreSQL server on a restored data
// directory, as a physical restore drill runs one (pgbak_verify(base_id,
// true)).
//
// The drill restores a base backup of the live cluster into a scratch
// directory beside it and starts a postmaster there that must not touch
// anything the live cluster uses: no TCP (listen_addresses = ''), its Unix
// socket in the scratch directory (mode 0700: only this OS user reaches
// it), no archiving, no preloaded library (the copy's own
// shared_preload_libraries would start another pgbak_ext launcher on the
// source's catalog), a configuration file, pg_hba.conf and pg_ident.conf of
// its own (the copy's may name certificates, include files or
// authentication that do not exist here), small shared memory, no hot
// standby (connections only once it has recovered and opened: no check of
// the source's max_connections and friends), its log in the scratch
// directory. Settings on the command line win over the restored
// postgresql.auto.conf, where restore-cluster wrote restore_command and
// the target.
//
// What is left of a drill whose worker died is found again from the data
// directory's postmaster.pid: its process is stopped only if it still runs
// in that directory (its working directory, /proc/PID/cwd), so that a
// reused PID is never signalled.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace pgbak {

// ScratchServerLayout is where a scratch server keeps what is its own.
struct ScratchServerLayout {
  std::string data_dir;     // the restored data directory
  std::string socket_dir;   // mode 0700, outside data_dir
  std::string config_file;  // postgresql.conf written for the drill
  std::string hba_file;
  std::string ident_file;
  std::string log_dir;  // the logging collector's directory
  int port = 5432;      // only names the socket file: there is no TCP
  std::string cluster_name;
  // The live cluster's values: recovery replays prepared transactions
  // (and their locks) into slots of these sizes.
  std::string max_prepared_transactions = "0";
  std::string max_locks_per_transaction = "64";
};

// ScratchServerArguments is the postgres command line (without the program)
// that starts a scratch server on layout (see above).
std::vector<std::string> ScratchServerArguments(const ScratchServerLayout& layout);

// ScratchConfigFile is the text of the scratch server's postgresql.conf:
// nothing of the copy's own, only a comment (every setting that matters is
// on the command line, which postgresql.auto.conf cannot override).
std::string ScratchConfigFile();

// ScratchHbaFile is the text of its pg_hba.conf: local connections of any
// role by trust (the socket directory lets only this OS user in), nothing
// else.
std::string ScratchHbaFile();

// PostmasterPidFile is what a postmaster.pid says.
struct PostmasterPidFile {
  pid_t pid = 0;
  std::string data_dir;
  std::string status;  // "starting", "ready", "stopping", "standby" ("" before it says)
  long shm_key = -1;   // the System V segment PostgreSQL keeps (-1: none)
  long shm_id = -1;
};

// ParsePostmasterPid reads postmaster.pid as PostgreSQL 15 writes it (PID,
// data directory, start time, port, socket directory, listen address,
// "shm key shm id", status); false if it is not one.
bool ParsePostmasterPid(const std::string& text, PostmasterPidFile& pid_file);

// StopLeftoverServer stops the postmaster that postmaster.pid in data_dir
// names, if it is alive and runs in data_dir (immediate shutdown, then
// SIGKILL after grace_ms), and removes its System V segment once nothing
// is attached. Returns what it did ("" if nothing ran there).
std::string StopLeftoverServer(const std::string& data_dir, int grace_ms);

// kScratchSocketPrefix starts the name of a scratch server's socket
// directory: a Unix socket path is at most 107 bytes, which a data
// directory's path may pass, so the socket lives in a private directory
// made with mkdtemp below /tmp, whose path the scratch directory records.
constexpr const char* kScratchSocketPrefix = "/tmp/pgbak-drill-";

// MakeScratchSocketDirectory creates one (mode 0700); throws kIo.
std::string MakeScratchSocketDirectory();

// IsScratchSocketDirectory says whether path is one such directory
// (nothing else is ever removed as one).
bool IsScratchSocketDirectory(const std::string& path);

// kScratchSessionOptions are the startup options of every session the
// drill opens in the copy: settings its database owners may have made
// with ALTER DATABASE or ALTER ROLE that would steer what a superuser's
// session runs (search_path) or make the checks fail (read-only
// transactions, timeouts) are overridden, as client options are applied
// after them.
constexpr const char* kScratchSessionOptions =
    "-csearch_path= -cdefault_transaction_read_only=off -cstatement_timeout=0 -clock_timeout=0 "
    "-cidle_in_transaction_session_timeout=0 -csession_replication_role=replica "
    "-csession_preload_libraries= -clocal_preload_libraries=";

// RemoveDirectoryTree removes path and everything below it, links not
// followed; a missing path is no error. Returns false if something could
// not be removed.
bool RemoveDirectoryTree(const std::string& path);

// MergeJsonObjects is the JSON object with the members of first and then
// second (second's win): a storage's public options and its secrets, as
// one options file of the pgbak command. Throws kInvalidParameter if either
// is not an object.
std::string MergeJsonObjects(const std::string& first, const std::string& second);

}  // namespace pgbak
