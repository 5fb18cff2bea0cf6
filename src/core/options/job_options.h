// job_options.h: the options of a scheduled job, validated at pgbak_schedule.
//
// A job's options are the backup options of pgbak_run (format, tables,
// zstd_level, ...) plus what belongs to the job: where its backups go
// (storage), retention (keep_*, max_age) and verification (verify). Every key
// is checked here, so a typo is an error when the job is defined, not a
// silently ignored setting discovered when a restore is needed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/json.h"
#include "core/options/backup_options.h"
#include "core/schedule/retention.h"

namespace pgbak {

// JobOptions are the validated options of a job.
struct JobOptions {
  std::string storage = "local";
  // verify: "none" (default), "checksum" or "restore"; stored now, acted on
  // by the verification feature.
  std::string verify = "none";
  // verify_every: with verify "restore", every Nth scheduled backup gets a
  // restore drill and the others a checksum verification.
  int verify_every = 1;
  RetentionPolicy retention;
  BackupOptions backup;
  // backup_json is the normalized backup options (BackupOptions::ToJson),
  // passed to each run as pgbak_run's options.
  std::string backup_json;
  // rpo: the recovery point objective of the job's database, in seconds
  // (backup_status turns stale past it); 0 means pgbak.rpo.
  int64_t rpo_seconds = 0;
  // webhook_url and webhook_events ("failure" or "all") override the
  // pgbak.webhook_* settings for this job's runs; empty means the setting.
  std::string webhook_url;
  std::string webhook_events;
  // exclude_databases: for a job over every database ('*'), the databases it
  // leaves out, by exact name (each 1..63 bytes, no duplicates).
  std::vector<std::string> exclude_databases;
  // copy_to: storages each scheduled backup is copied to once it
  // succeeded (pgbak_copy), in this order; none of them the job's storage.
  std::vector<std::string> copy_to;
  // copy_retention: how long the copies are kept, per storage (the same
  // keys as the job's retention); with no key, the job's retention.
  std::optional<RetentionPolicy> copy_retention;
  // CopyRetention is the policy the copies follow.
  const RetentionPolicy& CopyRetention() const {
    return copy_retention ? *copy_retention : retention;
  }

  // ToJson is the normalized form stored with the job: backup options,
  // storage, verify and the retention keys as given (max_age as seconds).
  json::Value ToJson() const;
};

// ParseJobOptions validates a JSON object of job options; throws
// kInvalidParameter naming the offending key, with a hint listing the valid
// keys (backup option keys and job keys together). Whether the storages of
// copy_to exist, and differ from storage, is the caller's to check.
JobOptions ParseJobOptions(std::string_view json_text);

// kEveryDatabase is the database name of a job over every database.
constexpr const char* kEveryDatabase = "*";

// kMaxDatabaseNameBytes is the longest database name PostgreSQL keeps
// (NAMEDATALEN - 1); a longer one would be cut to another name.
constexpr size_t kMaxDatabaseNameBytes = 63;

// CheckJobScope throws kInvalidParameter if options make no sense for the
// job's database: exclude_databases on a job over one database, or a
// selection of tables or schemas (names checked in each database, which
// most databases would not have) on a job over every database.
void CheckJobScope(const JobOptions& options, bool every_database);

}  // namespace pgbak
