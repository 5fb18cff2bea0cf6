// time_zone.h: the little that schedules and retention need of a time zone.
//
// Core code does not read tz data itself: the PostgreSQL side implements
// TimeZone with PostgreSQL's own time zone library (pgbak.timezone), tests
// implement it with fixed rules. Local times are "local seconds": the
// seconds since 1970-01-01 00:00 of the wall clock, as if it were UTC.
#pragma once

#include <cstdint>
#include <ctime>
#include <vector>

namespace pgbak {

// TimeZone gives the UTC offset in force at an instant.
class TimeZone {
 public:
  virtual ~TimeZone() = default;
  // OffsetAt returns seconds east of UTC in force at utc.
  virtual long OffsetAt(std::time_t utc) const = 0;
};

// UtcZone is UTC.
class UtcZone : public TimeZone {
 public:
  long OffsetAt(std::time_t) const override { return 0; }
};

// ToLocal converts an instant to local seconds.
inline std::time_t ToLocal(const TimeZone& zone, std::time_t utc) {
  return utc + zone.OffsetAt(utc);
}

// LocalToUtc returns the instants whose wall clock reads local, earliest
// first: one normally, two in a fall-back overlap, none in a spring-forward
// gap.
std::vector<std::time_t> LocalToUtc(const TimeZone& zone, std::time_t local);

// GapEnd returns, for a local time in a spring-forward gap, the instant at
// which the gap ends (the first instant after the skipped wall-clock times).
std::time_t GapEnd(const TimeZone& zone, std::time_t local);

// CivilDay is a date of the proleptic Gregorian calendar.
struct CivilDay {
  int64_t year = 1970;
  int month = 1;  // 1..12
  int day = 1;    // 1..31
};

// DaysFromCivil returns the days since 1970-01-01 of a date (negative before).
int64_t DaysFromCivil(int64_t year, int month, int day);

// CivilFromDays is the date of a day number from DaysFromCivil.
CivilDay CivilFromDays(int64_t days);

// WeekdayFromDays returns the day of the week, 0 = Sunday .. 6 = Saturday.
int WeekdayFromDays(int64_t days);

// FloorDiv divides rounding towards minus infinity (divisor > 0), so that
// local seconds before 1970 still fall into the right day and minute.
inline int64_t FloorDiv(int64_t dividend, int64_t divisor) {
  int64_t quotient = dividend / divisor;
  return (dividend % divisor < 0) ? quotient - 1 : quotient;
}

}  // namespace pgbak
