// base_backup_job.h: running one physical base backup in a worker.
//
// Include after postgres.h.
#pragma once

#include <cstdint>
#include <string>

namespace pgbak {

// RunBaseBackup takes a base backup of the whole cluster into a new base
// set in storage_name (base_layout.h) and marks backup_log row id
// succeeded once the WAL it needs is archived (or at once, saying the WAL
// is not archived, when archive_mode is off). location is set (and recorded
// in the row) before the first object is written, so that the caller can
// remove the partial set if RunBaseBackup throws; on a throw the row is
// still 'running'.
void RunBaseBackup(int64_t id, const std::string& storage_name, const std::string& options_json,
                   std::string& location);

}  // namespace pgbak
