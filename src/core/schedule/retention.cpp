// retention.cpp: the retention plan of a job and the options that set it.
//
// The rules are restic's and borg's, so their documentation explains ours:
// walking the succeeded backups newest first, keep_last keeps the first N and
// each keep_<period> rule keeps the first backup it meets in each new period
// until it has used N periods. Periods are taken on the wall clock of the
// job's time zone, since "one backup per day" means the user's day.
//
// Records whose status is none of succeeded, failed and cancelled (queued,
// running, already expired) get no decision at all: they are not finished,
// or already gone, and are neither keepers nor anything to clean. The result
// therefore has fewer entries than the input when such records are passed.
#include "core/schedule/retention.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <set>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/schedule/time_zone.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

constexpr int64_t kDay = 86400;

constexpr const char* kMaxAgeHint =
    "Units are seconds, minutes, hours, days, weeks, months (30 days) and years (365 days), "
    "singular or plural; a JSON integer is a number of seconds.";

constexpr const char* kTooLongHint =
    "rpo and max_age are at most 100 years (3153600000 seconds). To stop tracking a database, "
    "list it in pgbak.exclude_databases.";

// DayKey is YYYY-MM-DD.
std::string DayKey(int64_t days) {
  CivilDay date = CivilFromDays(days);
  char buffer[48];
  std::snprintf(buffer, sizeof(buffer), "%04lld-%02d-%02d", static_cast<long long>(date.year),
                date.month, date.day);
  return buffer;
}

// WeekKey is the ISO 8601 week, YYYY-Www: weeks start on Monday and belong
// to the year that holds their Thursday.
std::string WeekKey(int64_t days) {
  int days_since_monday = (WeekdayFromDays(days) + 6) % 7;
  int64_t thursday = days - days_since_monday + 3;
  int64_t year = CivilFromDays(thursday).year;
  int64_t week = (thursday - DaysFromCivil(year, 1, 1)) / 7 + 1;
  char buffer[48];
  std::snprintf(buffer, sizeof(buffer), "%04lld-W%02lld", static_cast<long long>(year),
                static_cast<long long>(week));
  return buffer;
}

// MonthKey is YYYY-MM.
std::string MonthKey(int64_t days) {
  CivilDay date = CivilFromDays(days);
  char buffer[48];
  std::snprintf(buffer, sizeof(buffer), "%04lld-%02d", static_cast<long long>(date.year),
                date.month);
  return buffer;
}

// YearKey is YYYY.
std::string YearKey(int64_t days) {
  char buffer[48];
  std::snprintf(buffer, sizeof(buffer), "%04lld", static_cast<long long>(CivilFromDays(days).year));
  return buffer;
}

// PeriodRule is one keep_<period> rule and the periods it has used so far.
struct PeriodRule {
  const char* option;  // "keep_daily"
  const char* label;   // "daily", as in "kept: daily 2026-11-21"
  int count;
  std::string (*key)(int64_t days);
  std::set<std::string> used;
};

// IsNewer orders records newest first, by finish time and then id.
bool IsNewer(const BackupRecord* a, const BackupRecord* b) {
  if (a->finished_at != b->finished_at) {
    return a->finished_at > b->finished_at;
  }
  return a->id > b->id;
}

// Join joins with ", ".
std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& part : parts) {
    if (!out.empty()) {
      out += ", ";
    }
    out += part;
  }
  return out;
}

// ParseKeepCount reads one keep_* option.
int ParseKeepCount(const char* key, const json::Value& value) {
  std::string expected = "job option \"" + std::string(key) + "\" must be an integer >= 1, not ";
  if (value.type() != json::Type::kNumber) {
    throw Error(ErrorKind::kInvalidParameter, expected + value.TypeName());
  }
  int64_t count = 0;
  try {
    count = value.AsInt64();
  } catch (const Error&) {
    throw Error(ErrorKind::kInvalidParameter, expected + value.Serialize());
  }
  if (count < 1) {
    throw Error(ErrorKind::kInvalidParameter, expected + value.Serialize());
  }
  if (count > INT_MAX) {
    throw Error(ErrorKind::kInvalidParameter, "job option \"" + std::string(key) +
                                                  "\" must be at most " + std::to_string(INT_MAX) +
                                                  ", not " + value.Serialize());
  }
  return static_cast<int>(count);
}

// UnitSeconds returns the length of an interval unit, or 0 if unknown.
int64_t UnitSeconds(const std::string& unit) {
  static const struct {
    const char* name;
    int64_t seconds;
  } kUnits[] = {
      {"second", 1},      {"minute", 60},       {"hour", 3600},       {"day", kDay},
      {"week", 7 * kDay}, {"month", 30 * kDay}, {"year", 365 * kDay},
  };
  for (const auto& entry : kUnits) {
    std::string singular = entry.name;
    if (unit == singular || unit == singular + "s") {
      return entry.seconds;
    }
  }
  return 0;
}

}  // namespace

// ParseDurationText reads "N unit"; returns 0 if the text is not one or is
// not positive, or too large to count in seconds.
int64_t ParseDurationText(const std::string& text) {
  size_t pos = 0;
  auto skip_space = [&]() {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) {
      pos++;
    }
  };
  skip_space();
  int64_t count = 0;
  size_t digits_start = pos;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    if (count > INT64_MAX / 10) {
      return 0;
    }
    count = count * 10 + (text[pos] - '0');
    pos++;
  }
  if (pos == digits_start) {
    return 0;
  }
  skip_space();
  std::string unit;
  while (pos < text.size() &&
         ((text[pos] >= 'a' && text[pos] <= 'z') || (text[pos] >= 'A' && text[pos] <= 'Z'))) {
    char c = text[pos++];
    unit.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  skip_space();
  int64_t unit_seconds = UnitSeconds(unit);
  if (pos != text.size() || unit_seconds == 0 || count < 1 || count > INT64_MAX / unit_seconds) {
    return 0;
  }
  return count * unit_seconds;
}

// DurationText picks the largest unit that divides seconds exactly.
std::string DurationText(int64_t seconds) {
  static const struct {
    const char* name;
    int64_t seconds;
  } kUnits[] = {
      {"year", 365 * kDay}, {"week", 7 * kDay}, {"day", kDay}, {"hour", 3600}, {"minute", 60},
  };
  for (const auto& unit : kUnits) {
    if (seconds >= unit.seconds && seconds % unit.seconds == 0) {
      int64_t count = seconds / unit.seconds;
      return std::to_string(count) + " " + unit.name + (count == 1 ? "" : "s");
    }
  }
  return std::to_string(seconds) + (seconds == 1 ? " second" : " seconds");
}

// DurationValueSeconds reads a string with ParseDurationText, a number as
// whole seconds.
std::optional<int64_t> DurationValueSeconds(const json::Value& value, std::string& shown) {
  if (value.type() == json::Type::kString) {
    shown = json::Quote(value.AsString());
    return ParseDurationText(value.AsString());
  }
  if (value.type() != json::Type::kNumber) {
    return std::nullopt;
  }
  shown = value.Serialize();
  try {
    return value.AsInt64();
  } catch (const Error&) {
    return 0;
  }
}

// ParseDurationOption reads a duration option: an interval string or a JSON
// integer of seconds.
int64_t ParseDurationOption(const char* key, const json::Value& value) {
  const std::string expected =
      std::string("job option \"") + key + "\" must be an interval such as \"30 days\", not ";
  std::string shown;
  std::optional<int64_t> given = DurationValueSeconds(value, shown);
  if (!given) {
    throw Error(ErrorKind::kInvalidParameter, expected + value.TypeName(), std::string(),
                kMaxAgeHint);
  }
  int64_t seconds = *given;
  if (seconds < 1) {
    throw Error(ErrorKind::kInvalidParameter, expected + shown, std::string(), kMaxAgeHint);
  }
  // The SQL side turns these into intervals (make_interval(secs => ...)):
  // past PostgreSQL's range they wrap, and a stale check compares against a
  // negative interval.
  if (seconds > kMaxDurationSeconds) {
    throw Error(ErrorKind::kInvalidParameter,
                std::string("job option \"") + key + "\" must be at most 100 years, not " + shown,
                std::string(), kTooLongHint);
  }
  return seconds;
}

// PlanRetention decides keep rules first and max_age last, so that max_age
// wins over them, and the newest succeeded backup is protected last of all:
// a job whose backups all fail must not be left with nothing to restore.
std::vector<RetentionDecision> PlanRetention(const std::vector<BackupRecord>& records,
                                             const RetentionPolicy& policy, std::time_t now,
                                             const TimeZone& zone) {
  std::vector<const BackupRecord*> ordered;
  for (const BackupRecord& record : records) {
    if (record.status == "succeeded" || record.status == "failed" || record.status == "cancelled") {
      ordered.push_back(&record);
    }
  }
  std::sort(ordered.begin(), ordered.end(), IsNewer);

  std::vector<PeriodRule> period_rules;
  if (policy.keep_daily) {
    period_rules.push_back({"keep_daily", "daily", *policy.keep_daily, DayKey, {}});
  }
  if (policy.keep_weekly) {
    period_rules.push_back({"keep_weekly", "weekly", *policy.keep_weekly, WeekKey, {}});
  }
  if (policy.keep_monthly) {
    period_rules.push_back({"keep_monthly", "monthly", *policy.keep_monthly, MonthKey, {}});
  }
  if (policy.keep_yearly) {
    period_rules.push_back({"keep_yearly", "yearly", *policy.keep_yearly, YearKey, {}});
  }
  std::vector<std::string> rules_in_force;
  if (policy.keep_last) {
    rules_in_force.push_back("keep_last " + std::to_string(*policy.keep_last));
  }
  for (const PeriodRule& rule : period_rules) {
    rules_in_force.push_back(std::string(rule.option) + " " + std::to_string(rule.count));
  }

  std::vector<RetentionDecision> decisions;
  int succeeded_seen = 0;
  for (const BackupRecord* record : ordered) {
    RetentionDecision decision;
    decision.id = record->id;
    if (record->status != "succeeded") {
      decision.action = RetentionAction::kClean;
      decision.reason =
          "cleaned: " + std::string(record->status == "failed" ? "failed" : "cancelled") +
          " backup";
      decisions.push_back(std::move(decision));
      continue;
    }
    bool is_newest = succeeded_seen == 0;
    std::vector<std::string> kept_by;
    if (policy.keep_last && succeeded_seen < *policy.keep_last) {
      kept_by.push_back("keep_last " + std::to_string(*policy.keep_last));
    }
    succeeded_seen++;
    int64_t local_day = FloorDiv(ToLocal(zone, record->finished_at), kDay);
    for (PeriodRule& rule : period_rules) {
      std::string key = rule.key(local_day);
      if (rule.used.count(key) == 0 && static_cast<int64_t>(rule.used.size()) < rule.count) {
        rule.used.insert(key);
        kept_by.push_back(std::string(rule.label) + " " + key);
      }
    }
    bool too_old = policy.max_age_seconds &&
                   static_cast<int64_t>(now) - static_cast<int64_t>(record->finished_at) >
                       *policy.max_age_seconds;
    if (too_old) {
      decision.action = is_newest ? RetentionAction::kKeep : RetentionAction::kDelete;
      decision.reason = is_newest ? "kept: newest succeeded backup" : "deleted: older than max_age";
    } else if (!kept_by.empty()) {
      decision.action = RetentionAction::kKeep;
      decision.reason = "kept: " + Join(kept_by);
    } else if (rules_in_force.empty()) {
      decision.action = RetentionAction::kKeep;
      decision.reason = policy.max_age_seconds ? "kept: within max_age" : "kept: no retention rule";
    } else if (is_newest) {
      // Only reachable with a count below 1, which ParseRetentionOptions rejects.
      decision.action = RetentionAction::kKeep;
      decision.reason = "kept: newest succeeded backup";
    } else {
      decision.action = RetentionAction::kDelete;
      decision.reason = "deleted: not selected by " + Join(rules_in_force);
    }
    decisions.push_back(std::move(decision));
  }
  return decisions;
}

// ParseRetentionOptions reads only the retention keys, so it can be given the
// whole options object of a job; ParseJobOptions checks the other keys.
RetentionPolicy ParseRetentionOptions(const json::Value& options) {
  if (options.type() != json::Type::kObject) {
    throw Error(ErrorKind::kInvalidParameter,
                std::string("job options must be a JSON object, not ") + options.TypeName());
  }
  RetentionPolicy policy;
  struct {
    const char* key;
    std::optional<int> RetentionPolicy::*member;
  } const kKeepOptions[] = {
      {"keep_last", &RetentionPolicy::keep_last},
      {"keep_daily", &RetentionPolicy::keep_daily},
      {"keep_weekly", &RetentionPolicy::keep_weekly},
      {"keep_monthly", &RetentionPolicy::keep_monthly},
      {"keep_yearly", &RetentionPolicy::keep_yearly},
  };
  for (const auto& option : kKeepOptions) {
    if (const json::Value* value = options.Find(option.key)) {
      policy.*option.member = ParseKeepCount(option.key, *value);
    }
  }
  if (const json::Value* value = options.Find("max_age")) {
    policy.max_age_seconds = ParseDurationOption("max_age", *value);
  }
  return policy;
}

bool IsRetentionKey(const std::string& key) {
  for (const char* known :
       {"keep_last", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly", "max_age"})
    if (key == known)
      return true;
  return false;
}

void SetRetentionKeys(json::Value& object, const RetentionPolicy& policy) {
  if (policy.keep_last)
    object.Set("keep_last", json::Value::Number(*policy.keep_last));
  if (policy.keep_daily)
    object.Set("keep_daily", json::Value::Number(*policy.keep_daily));
  if (policy.keep_weekly)
    object.Set("keep_weekly", json::Value::Number(*policy.keep_weekly));
  if (policy.keep_monthly)
    object.Set("keep_monthly", json::Value::Number(*policy.keep_monthly));
  if (policy.keep_yearly)
    object.Set("keep_yearly", json::Value::Number(*policy.keep_yearly));
  if (policy.max_age_seconds)
    object.Set("max_age", json::Value::Number(*policy.max_age_seconds));
}

}  // namespace pgbak
