// backup_job.h: running one backup in a worker.
//
// Include after postgres.h.
#pragma once

#include <cstdint>
#include <string>

namespace pgbak {

// kDatabasePropertiesQuery reads, in a session of a database, what pg_dump
// leaves out without --create: the database itself (owner, encoding,
// locale, connection limit, grants, settings, comment), as one JSON object
// DatabaseProperties::FromJson reads.
extern const char* const kDatabasePropertiesQuery;

// RunBackup dumps database into a new set in storage_name and marks
// backup_log row id succeeded. location is set (and recorded in the row) as
// soon as it is known, so that the caller can remove the partial set if
// RunBackup throws; on a throw the row is still 'running'.
void RunBackup(int64_t id, const std::string& database, const std::string& storage_name,
               const std::string& options_json, std::string& location);

}  // namespace pgbak
