// cron.h: schedules: five-field cron, @aliases and "N seconds" intervals.
//
// Cron follows Vixie cron: lists, ranges, steps, month and day names, 0 or 7
// for Sunday, and the day rule: when both day-of-month and day-of-week are
// restricted (neither starts with '*'), a day matches if either does.
// Evaluated in a TimeZone. Across DST changes every wall-clock time fires at
// most once: a time skipped by a spring-forward gap fires once, at the end of
// the gap; a time repeated by a fall-back overlap fires once, at its first
// occurrence.
#pragma once

#include <bitset>
#include <ctime>
#include <string>
#include <string_view>

#include "core/schedule/time_zone.h"

namespace pgbak {

// CronSchedule is a parsed schedule.
class CronSchedule {
 public:
  // Parse reads "m h dom mon dow", "@hourly", "@daily"/"@midnight",
  // "@weekly", "@monthly", "@yearly"/"@annually", or "N seconds" (N 1..59,
  // "1 second" too). Surrounding whitespace is ignored, fields are separated
  // by runs of spaces or tabs. Throws kInvalidParameter whose message names
  // the bad field, e.g. `invalid cron field 3 (day of month) "32": 32 is out
  // of range 1-31`, with a hint showing the expected form. Text longer than
  // kMaxTextBytes throws kLimitExceeded before it is read.
  static CronSchedule Parse(std::string_view text);

  // kMaxTextBytes bounds a schedule's text: five fields that list every
  // value they can take fit in 400 bytes.
  static constexpr size_t kMaxTextBytes = 1024;

  bool is_interval() const { return interval_seconds_ > 0; }
  int interval_seconds() const { return interval_seconds_; }

  // NextAfter returns the first fire time strictly after `after` (UTC).
  // For intervals that is after + N. Searches at most 8 years ahead and
  // throws kInvalidParameter if nothing matches (e.g. "0 0 31 2 *").
  std::time_t NextAfter(std::time_t after, const TimeZone& zone) const;

  // MatchesLocal says whether a local wall-clock minute matches the cron
  // fields; an interval schedule matches nothing.
  bool MatchesLocal(std::time_t local_seconds) const;

 private:
  int interval_seconds_ = 0;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;  // 1..31
  std::bitset<13> months_;         // 1..12
  std::bitset<7> days_of_week_;    // 0..6, Sunday = 0
  bool dom_star_ = false;
  bool dow_star_ = false;
  bool hour_star_ = false;  // frequent jobs also fire in a repeated hour
};

}  // namespace pgbak
