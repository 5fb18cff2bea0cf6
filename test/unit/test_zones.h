// test_zones.h: calendar helpers and a fixed-rule time zone shared by the
// cron, time zone and retention tests. Dates come from libc (timegm), not
// from the code under test.
#pragma once

#include <ctime>

#include "core/schedule/time_zone.h"

namespace pgbak::test {

// Utc is timegm() of a UTC date and time.
inline std::time_t Utc(int year, int month, int day, int hour = 0, int minute = 0, int second = 0) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return timegm(&tm);
}

// UsEasternZone is America/New_York since 2007: UTC-5, and UTC-4 from 02:00
// local on the second Sunday of March to 02:00 local on the first Sunday of
// November.
class UsEasternZone : public TimeZone {
 public:
  long OffsetAt(std::time_t utc) const override {
    constexpr std::time_t kHourSeconds = 3600;
    std::time_t standard = utc - 5 * kHourSeconds;
    std::tm tm{};
    gmtime_r(&standard, &tm);
    int year = tm.tm_year + 1900;
    std::time_t start = NthSunday(year, 3, 2) + 7 * kHourSeconds;  // 02:00 EST
    std::time_t end = NthSunday(year, 11, 1) + 6 * kHourSeconds;   // 02:00 EDT
    return (utc >= start && utc < end) ? -4 * kHourSeconds : -5 * kHourSeconds;
  }

 private:
  // NthSunday is 00:00 UTC of the date of the nth Sunday of a month.
  static std::time_t NthSunday(int year, int month, int n) {
    std::time_t first = Utc(year, month, 1);
    std::tm tm{};
    gmtime_r(&first, &tm);
    int first_sunday = 1 + (7 - tm.tm_wday) % 7;
    return first + (first_sunday - 1 + 7 * (n - 1)) * 86400;
  }
};

}  // namespace pgbak::test
