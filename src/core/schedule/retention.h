// retention.h: which backups a job keeps, as a pure function.
//
// Grandfather-father-son in the manner of restic and borg: keep_last keeps
// the newest N; keep_daily keeps the newest backup of each of the newest N
// days that have one; likewise keep_weekly (ISO weeks, Monday first),
// keep_monthly and keep_yearly, with buckets in the given time zone. A backup
// is kept if any rule keeps it. max_age deletes what is older, whatever the
// keep rules say; with max_age alone, everything younger is kept. Only
// succeeded backups are ever keepers, and the newest succeeded backup is
// never deleted, whatever the policy. Failed and cancelled backups are never
// "kept" but are only cleaned (their leftover objects removed). With no rule
// at all, nothing is deleted.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "core/base/json.h"
#include "core/schedule/time_zone.h"

namespace pgbak {

// RetentionPolicy is a job's retention options.
struct RetentionPolicy {
  std::optional<int> keep_last;
  std::optional<int> keep_daily;
  std::optional<int> keep_weekly;
  std::optional<int> keep_monthly;
  std::optional<int> keep_yearly;
  std::optional<int64_t> max_age_seconds;

  bool empty() const {
    return !keep_last && !keep_daily && !keep_weekly && !keep_monthly && !keep_yearly &&
           !max_age_seconds;
  }
};

// BackupRecord is one backup as retention sees it.
struct BackupRecord {
  int64_t id = 0;
  std::string status;           // "succeeded", "failed", "cancelled" (others are ignored)
  std::time_t finished_at = 0;  // UTC
};

// RetentionAction is what happens to one backup.
enum class RetentionAction {
  kKeep,    // stays
  kDelete,  // objects removed, row marked expired
  kClean,   // failed or cancelled: leftover objects removed, row stays
};

// RetentionDecision is the plan for one backup with the reason a user sees,
// e.g. "kept: newest succeeded backup", "kept: daily 2026-11-21",
// "deleted: not selected by keep_last 2, keep_daily 7",
// "deleted: older than max_age".
struct RetentionDecision {
  int64_t id = 0;
  RetentionAction action = RetentionAction::kKeep;
  std::string reason;
};

// PlanRetention decides for every succeeded, failed or cancelled record of
// one job (any order; other statuses get no decision); returns the decisions
// ordered newest first (by finished_at, then id).
std::vector<RetentionDecision> PlanRetention(const std::vector<BackupRecord>& records,
                                             const RetentionPolicy& policy, std::time_t now,
                                             const TimeZone& zone);

// ParseRetentionOptions reads keep_last, keep_daily, keep_weekly,
// keep_monthly, keep_yearly (integers >= 1) and max_age (an interval string such as "30 days", "12
// hours", "2 weeks", "1 year" — units: seconds, minutes, hours, days, weeks, months (30 days),
// years (365 days), singular or plural, or a plain number of seconds as a JSON integer) from a
// job's options object, ignoring other keys. Keep counts must be integers >= 1; max_age must be
// positive. Throws kInvalidParameter naming the key on a wrong type or value.
RetentionPolicy ParseRetentionOptions(const json::Value& options);

// IsRetentionKey says whether key is one of the keys above.
bool IsRetentionKey(const std::string& key);

// SetRetentionKeys sets in object the keys of policy that are set (max_age
// as seconds): the normalized form a job's options are stored in.
void SetRetentionKeys(json::Value& object, const RetentionPolicy& policy);

// kMaxDurationSeconds bounds rpo and max_age: 100 years of 365 days.
constexpr int64_t kMaxDurationSeconds = 100LL * 365 * 86400;

// ParseDurationOption reads a duration-valued job option (max_age, rpo): a
// string "N unit" (the units of max_age above) or a JSON integer of seconds;
// returns seconds (1..kMaxDurationSeconds) or throws kInvalidParameter naming
// key.
int64_t ParseDurationOption(const char* key, const json::Value& value);

// ParseDurationText reads "N unit" (the units of max_age above, white space
// around the parts allowed); returns seconds, or 0 if the text is not such a
// duration, is not positive or does not fit in 64 bits.
int64_t ParseDurationText(const std::string& text);

// DurationValueSeconds reads a duration given in JSON: a string "N unit"
// (as ParseDurationText) or a number of whole seconds. It returns the
// seconds as given (0 for a text that is no duration or a number that is
// not whole; a number may be negative), nullopt for a value of another
// type, and sets shown to the value as JSON text, for messages. It throws
// nothing: the caller says what it accepts.
std::optional<int64_t> DurationValueSeconds(const json::Value& value, std::string& shown);

// DurationText writes seconds (> 0) in the largest of the units above that
// divides them: "7 days", "1 year", "90 minutes", "3601 seconds".
std::string DurationText(int64_t seconds);

}  // namespace pgbak
