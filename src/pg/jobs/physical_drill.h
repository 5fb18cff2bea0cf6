// physical_drill.h: the restore drill of a base backup
// (pgbak_verify(base_id, true)): the proof that the cluster comes back
// from it and the WAL archive.
//
// In a scratch directory of the operation's own below the local storage
// (pgbak.local_path/.staging/<id>, outside the data directory; its free
// space is checked first against the base backup's unpacked size and 1 GB
// of WAL), the worker runs the same `pgbak restore-cluster` a user runs in
// a disaster (to the end of the archive, the storage's options and secrets
// in a 0600 file there, never on a command line), starts a scratch
// postmaster on it (see core/recovery/scratch_server.h: no TCP, its socket
// in the scratch directory, no archiving, no preloaded library), waits
// until it has recovered and accepts connections, checks that it left
// recovery, reads the time of the last transaction it replayed, runs the
// stock pg_amcheck on every database if it is installed, and stops it.
// restore_seconds (the measured RTO) runs from the start of the restore to
// the first connection; recovered_to is the replayed transaction time.
// The scratch server and directory are removed whatever happens: by the
// worker on any error, cancel or shutdown, and after a crash of the worker
// by the launcher's cleanup (CleanUpScratchCluster), which stops a server
// still running there (found from its postmaster.pid, only if it runs in
// that directory).
//
// Include after postgres.h.
#pragma once

#include <cstdint>
#include <string>

#include "pg/jobs/verify_job.h"

namespace pgbak {

// RunPhysicalDrill drills base backup source_id for verify operation id;
// records the outcome on both rows and marks the operation succeeded, or
// throws (the backup's row marked failed if the backup or its WAL did not
// hold).
void RunPhysicalDrill(int64_t id, int64_t source_id, const SourceInfo& source);

// RunRecover is pgbak_recover's operation id: base backup base_id
// restored and recovered, in a scratch cluster as a drill's, to the
// target_time of options_json (UTC, with its offset), then the recover
// options' tables copied from it into a new schema of the live database
// (RecoverTablesIntoSchema); the scratch cluster is removed whatever
// happens. Marks the operation succeeded with its time and recovered_to,
// or throws.
void RunRecover(int64_t id, int64_t base_id, const std::string& database,
                const std::string& options_json, const std::string& requested_by);

// CleanUpScratchCluster stops the scratch server of operation id if one
// still runs and removes its scratch cluster; returns what it did ("" if
// nothing was there).
std::string CleanUpScratchCluster(int64_t id);

}  // namespace pgbak
