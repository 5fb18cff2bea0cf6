// base_backup_options.h: the options of one base backup, validated before
// it is queued.
//
// pgbak_base_backup(storage, options jsonb) arrives here as JSON text, and
// so do the options of a job with {"kind": "base"}. Unknown keys and wrong
// types are refused with a message naming the key.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/base/json.h"
#include "core/schedule/retention.h"

namespace pgbak {

// kDefaultWalArchiveTimeoutS is how long a base backup waits, by default,
// for the WAL it needs to be archived before it fails.
constexpr int kDefaultWalArchiveTimeoutS = 600;
constexpr int kMaxWalArchiveTimeoutS = 86400;

// BaseBackupOptions are the validated options.
struct BaseBackupOptions {
  std::optional<int> zstd_level;  // unset: pgbak.zstd_level
  bool fast_checkpoint = true;    // CHECKPOINT 'fast' rather than a spread one
  bool verify_checksums = true;   // VERIFY_CHECKSUMS (with data checksums on)
  int wal_archive_timeout_s = kDefaultWalArchiveTimeoutS;

  // ToJson is the normalized form stored in backup_log.options.
  json::Value ToJson() const;
};

// ParseBaseBackupOptions validates options; with allow_kind, the key
// "kind" (a job's options) is accepted if it is "base". Throws
// kInvalidParameter (or kLimitExceeded for oversized text).
BaseBackupOptions ParseBaseBackupOptions(std::string_view json_text, bool allow_kind = false);

// BaseJobOptions are the options of a job with {"kind": "base"}: the
// storage (default "local"), the base backup options each run gets, and
// the retention of its sets (the keep rules of logical jobs: keep_last,
// keep_daily, ..., max_age).
struct BaseJobOptions {
  std::string storage = "local";
  BaseBackupOptions backup;
  RetentionPolicy retention;
  // verify: "none" (default), "checksum" (pgbak_verify(id) of each base
  // backup the job takes) or "restore" (a restore drill, pgbak_verify(id,
  // true), of every verify_every-th one, a checksum verify of the others).
  std::string verify = "none";
  int verify_every = 1;

  // ToJson is the normalized form stored with the job ("kind" included;
  // verify and verify_every only when they are not the defaults).
  json::Value ToJson() const;
};

// IsBaseJob says whether json_text is an object whose "kind" is "base"
// (anything else, even invalid JSON, is left to the logical job parser).
bool IsBaseJob(std::string_view json_text);

// ParseBaseJobOptions validates a base backup job's options; throws
// kInvalidParameter naming the key.
BaseJobOptions ParseBaseJobOptions(std::string_view json_text);

}  // namespace pgbak
