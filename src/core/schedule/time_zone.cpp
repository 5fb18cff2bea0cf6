// time_zone.cpp: from wall-clock time back to instants, across DST changes.
//
// A TimeZone only answers "which offset is in force at this instant", which
// is all PostgreSQL's tz library and a test's fixed rules both give cheaply.
// Going the other way relies on two facts true of every real zone: offsets
// are well under a day, and transitions are more than a day apart, so the
// offsets a day before and a day after a local time are the only candidates.
#include "core/schedule/time_zone.h"

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <vector>

#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

// kDay is the distance at which the offsets on either side of any one
// transition are found.
constexpr std::time_t kDay = 86400;

}  // namespace

// DaysFromCivil is Howard Hinnant's days_from_civil: eras of 400 years make
// the leap rules exact without loops or tables.
int64_t DaysFromCivil(int64_t year, int month, int day) {
  year -= month <= 2 ? 1 : 0;
  int64_t era = FloorDiv(year, 400);
  int64_t year_of_era = year - era * 400;                                          // [0, 399]
  int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;  // [0, 365]
  int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

// CivilFromDays is Howard Hinnant's civil_from_days, the inverse of the above.
CivilDay CivilFromDays(int64_t days) {
  days += 719468;
  int64_t era = FloorDiv(days, 146097);
  int64_t day_of_era = days - era * 146097;  // [0, 146096]
  int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  int64_t month_index = (5 * day_of_year + 2) / 153;  // [0, 11], March first
  CivilDay date;
  date.day = static_cast<int>(day_of_year - (153 * month_index + 2) / 5 + 1);
  date.month = static_cast<int>(month_index < 10 ? month_index + 3 : month_index - 9);
  date.year = year_of_era + era * 400 + (date.month <= 2 ? 1 : 0);
  return date;
}

// WeekdayFromDays counts from 1970-01-01, a Thursday.
int WeekdayFromDays(int64_t days) {
  return static_cast<int>(days - FloorDiv(days + 4, 7) * 7 + 4);
}

// LocalToUtc tries the offsets in force around local and keeps those that
// map back to it: two in an overlap, none in a gap.
std::vector<std::time_t> LocalToUtc(const TimeZone& zone, std::time_t local) {
  std::vector<std::time_t> instants;
  for (std::time_t probe : {local - kDay, local, local + kDay}) {
    std::time_t candidate = local - zone.OffsetAt(probe);
    if (ToLocal(zone, candidate) == local) {
      instants.push_back(candidate);
    }
  }
  std::sort(instants.begin(), instants.end());
  instants.erase(std::unique(instants.begin(), instants.end()), instants.end());
  return instants;
}

// GapEnd finds the transition by bisection: every instant before it has the
// old offset, and the local times of the gap lie between the two offsets'
// readings of it. A local time that is not in a gap gets its first instant,
// so a caller racing a tz data change still gets a sensible answer.
std::time_t GapEnd(const TimeZone& zone, std::time_t local) {
  long offset_before = zone.OffsetAt(local - kDay);
  long offset_after = zone.OffsetAt(local + kDay);
  // The transition T lies in (local - offset_after, local - offset_before].
  std::time_t low = local - offset_after;
  std::time_t high = local - offset_before;
  if (offset_after <= offset_before || zone.OffsetAt(low) != offset_before ||
      zone.OffsetAt(high) == offset_before) {
    std::vector<std::time_t> instants = LocalToUtc(zone, local);
    return instants.empty() ? local - zone.OffsetAt(local) : instants.front();
  }
  // Invariant: OffsetAt(low) is the old offset, OffsetAt(high) is not.
  while (high - low > 1) {
    std::time_t middle = low + (high - low) / 2;
    if (zone.OffsetAt(middle) == offset_before) {
      low = middle;
    } else {
      high = middle;
    }
  }
  return high;
}

}  // namespace pgbak
