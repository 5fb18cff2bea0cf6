// time_zone_test.cpp: wall-clock to UTC across DST changes, and the civil
// calendar helpers (src/core/time_zone.cpp).
#include "core/schedule/time_zone.h"

#include "test_zones.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <vector>

namespace pgbak {
namespace {

using test::UsEasternZone;
using test::Utc;

using Instants = std::vector<std::time_t>;

constexpr std::time_t kHour = 3600;

// FixedZone is a constant offset, such as India's +05:30.
class FixedZone : public TimeZone {
 public:
  explicit FixedZone(long offset) : offset_(offset) {}
  long OffsetAt(std::time_t) const override { return offset_; }

 private:
  long offset_;
};

// Local is a wall-clock time as local seconds.
std::time_t Local(int year, int month, int day, int hour, int minute = 0) {
  return Utc(year, month, day, hour, minute);
}

TEST(CivilTest, MatchesLibcOverFourCenturies) {
  // From 1700 to 2300, which crosses the 1900 and 2100 non-leap years and
  // the 2000 leap year, and dates before 1970.
  for (std::time_t day = -98000; day <= 121000; day += 1) {
    std::time_t instant = day * 86400;
    std::tm tm{};
    gmtime_r(&instant, &tm);
    CivilDay date = CivilFromDays(day);
    ASSERT_EQ(date.year, tm.tm_year + 1900) << day;
    ASSERT_EQ(date.month, tm.tm_mon + 1) << day;
    ASSERT_EQ(date.day, tm.tm_mday) << day;
    ASSERT_EQ(WeekdayFromDays(day), tm.tm_wday) << day;
    ASSERT_EQ(DaysFromCivil(date.year, date.month, date.day), day);
  }
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
}

TEST(CivilTest, FloorDivRoundsDown) {
  EXPECT_EQ(FloorDiv(7, 60), 0);
  EXPECT_EQ(FloorDiv(-1, 60), -1);
  EXPECT_EQ(FloorDiv(-60, 60), -1);
  EXPECT_EQ(FloorDiv(-61, 60), -2);
  EXPECT_EQ(FloorDiv(120, 60), 2);
}

TEST(TimeZoneTest, FixedOffsetsHaveOneInstantPerLocalTime) {
  UtcZone utc;
  EXPECT_EQ(LocalToUtc(utc, 1000), Instants{1000});
  EXPECT_EQ(ToLocal(utc, 1000), 1000);
  FixedZone india(5 * kHour + 1800);
  EXPECT_EQ(LocalToUtc(india, Local(2026, 1, 1, 5, 30)), Instants{Utc(2026, 1, 1)});
  EXPECT_EQ(ToLocal(india, Utc(2026, 1, 1)), Local(2026, 1, 1, 5, 30));
}

TEST(TimeZoneTest, EasternOrdinaryTimes) {
  UsEasternZone eastern;
  EXPECT_EQ(eastern.OffsetAt(Utc(2026, 1, 15, 12)), -5 * kHour);
  EXPECT_EQ(eastern.OffsetAt(Utc(2026, 7, 1, 12)), -4 * kHour);
  EXPECT_EQ(LocalToUtc(eastern, Local(2026, 1, 15, 12)), Instants{Utc(2026, 1, 15, 17)});
  EXPECT_EQ(LocalToUtc(eastern, Local(2026, 7, 1, 12)), Instants{Utc(2026, 7, 1, 16)});
}

TEST(TimeZoneTest, SpringForwardGap) {
  UsEasternZone eastern;
  // 2026-03-08: 02:00 EST (07:00Z) becomes 03:00 EDT; 02:00-02:59 never happen.
  EXPECT_EQ(LocalToUtc(eastern, Local(2026, 3, 8, 1, 59)), Instants{Utc(2026, 3, 8, 6, 59)});
  EXPECT_EQ(LocalToUtc(eastern, Local(2026, 3, 8, 2, 0)), Instants{});
  EXPECT_EQ(LocalToUtc(eastern, Local(2026, 3, 8, 2, 30)), Instants{});
  EXPECT_EQ(LocalToUtc(eastern, Local(2026, 3, 8, 2, 59)), Instants{});
  EXPECT_EQ(LocalToUtc(eastern, Local(2026, 3, 8, 3, 0)), Instants{Utc(2026, 3, 8, 7)});
  EXPECT_EQ(GapEnd(eastern, Local(2026, 3, 8, 2, 0)), Utc(2026, 3, 8, 7));
  EXPECT_EQ(GapEnd(eastern, Local(2026, 3, 8, 2, 30)), Utc(2026, 3, 8, 7));
  EXPECT_EQ(GapEnd(eastern, Local(2026, 3, 8, 2, 59) + 59), Utc(2026, 3, 8, 7));
  // Not in a gap: the time's own instant.
  EXPECT_EQ(GapEnd(eastern, Local(2026, 3, 8, 1, 30)), Utc(2026, 3, 8, 6, 30));
  EXPECT_EQ(GapEnd(eastern, Local(2026, 11, 1, 1, 30)), Utc(2026, 11, 1, 5, 30));
}

TEST(TimeZoneTest, FallBackOverlap) {
  UsEasternZone eastern;
  // 2026-11-01: 02:00 EDT (06:00Z) becomes 01:00 EST; 01:00-01:59 happen twice.
  EXPECT_EQ(LocalToUtc(eastern, Local(2026, 11, 1, 0, 59)), Instants{Utc(2026, 11, 1, 4, 59)});
  EXPECT_EQ(LocalToUtc(eastern, Local(2026, 11, 1, 1, 0)),
            (Instants{Utc(2026, 11, 1, 5), Utc(2026, 11, 1, 6)}));
  EXPECT_EQ(LocalToUtc(eastern, Local(2026, 11, 1, 1, 30)),
            (Instants{Utc(2026, 11, 1, 5, 30), Utc(2026, 11, 1, 6, 30)}));
  EXPECT_EQ(LocalToUtc(eastern, Local(2026, 11, 1, 2, 0)), Instants{Utc(2026, 11, 1, 7)});
}

TEST(TimeZoneTest, EveryMinuteOfBothTransitionDaysRoundTrips) {
  UsEasternZone eastern;
  for (std::time_t day_start : {Utc(2026, 3, 8, 0), Utc(2026, 11, 1, 0)}) {
    // Every instant is found from its wall clock...
    for (std::time_t utc = day_start; utc < day_start + 30 * kHour; utc += 60) {
      Instants instants = LocalToUtc(eastern, ToLocal(eastern, utc));
      EXPECT_NE(std::find(instants.begin(), instants.end(), utc), instants.end()) << utc;
    }
    // ...and every instant found reads that wall clock.
    int gaps = 0;
    int overlaps = 0;
    for (std::time_t local = day_start; local < day_start + 86400; local += 60) {
      Instants instants = LocalToUtc(eastern, local);
      for (std::time_t utc : instants) {
        EXPECT_EQ(ToLocal(eastern, utc), local);
      }
      gaps += instants.empty() ? 1 : 0;
      overlaps += instants.size() == 2 ? 1 : 0;
    }
    EXPECT_EQ(gaps + overlaps, 60) << "one transition per day, one hour long";
  }
}

}  // namespace
}  // namespace pgbak
