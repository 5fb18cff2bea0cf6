// cron_test.cpp: cron parsing, matching and next fire times, including
// across DST changes (src/core/cron.cpp).
#include "core/schedule/cron.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "test_zones.h"
#include "core/schedule/time_zone.h"

namespace pgbak {
namespace {

using test::UsEasternZone;
using test::Utc;

using Values = std::vector<int>;
using Instants = std::vector<std::time_t>;

constexpr std::time_t kHour = 3600;
constexpr std::time_t kDay = 86400;

// Local is a wall-clock time as local seconds.
std::time_t Local(int year, int month, int day, int hour = 0, int minute = 0) {
  return Utc(year, month, day, hour, minute);
}

// Iso renders an instant for readable failures: 2026-03-08T07:00:00Z.
std::string Iso(std::time_t instant) {
  std::tm tm{};
  gmtime_r(&instant, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

// CronError returns the error Parse throws for text.
Error CronError(const std::string& text) {
  try {
    CronSchedule::Parse(text);
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidParameter) << text;
    EXPECT_FALSE(error.hint().empty()) << text;
    return error;
  }
  ADD_FAILURE() << "accepted " << text;
  return Error(ErrorKind::kInternal, "");
}

// Message is CronError's message.
std::string Message(const std::string& text) {
  return CronError(text).what();
}

// MinutesOf lists the minutes of an hour that a minute field selects.
Values MinutesOf(const std::string& field) {
  CronSchedule schedule = CronSchedule::Parse(field + " * * * *");
  Values minutes;
  for (int minute = 0; minute < 60; minute++) {
    if (schedule.MatchesLocal(Local(2026, 5, 1, 10, minute))) {
      minutes.push_back(minute);
    }
  }
  return minutes;
}

// HoursOf lists the hours of a day that an hour field selects.
Values HoursOf(const std::string& field) {
  CronSchedule schedule = CronSchedule::Parse("0 " + field + " * * *");
  Values hours;
  for (int hour = 0; hour < 24; hour++) {
    if (schedule.MatchesLocal(Local(2026, 5, 1, hour))) {
      hours.push_back(hour);
    }
  }
  return hours;
}

// DaysOf lists the days of May 2026 that a day-of-month field selects.
Values DaysOf(const std::string& field) {
  CronSchedule schedule = CronSchedule::Parse("0 0 " + field + " * *");
  Values days;
  for (int day = 1; day <= 31; day++) {
    if (schedule.MatchesLocal(Local(2026, 5, day))) {
      days.push_back(day);
    }
  }
  return days;
}

// MonthsOf lists the months of 2026 that a month field selects.
Values MonthsOf(const std::string& field) {
  CronSchedule schedule = CronSchedule::Parse("0 0 1 " + field + " *");
  Values months;
  for (int month = 1; month <= 12; month++) {
    if (schedule.MatchesLocal(Local(2026, month, 1))) {
      months.push_back(month);
    }
  }
  return months;
}

// WeekdaysOf lists the weekdays (0 = Sunday) a day-of-week field selects,
// over the week starting Sunday 2026-03-01.
Values WeekdaysOf(const std::string& field) {
  CronSchedule schedule = CronSchedule::Parse("0 0 * * " + field);
  Values weekdays;
  for (int weekday = 0; weekday < 7; weekday++) {
    if (schedule.MatchesLocal(Local(2026, 3, 1 + weekday))) {
      weekdays.push_back(weekday);
    }
  }
  return weekdays;
}

// Fires lists the fire times in (from, to) by calling NextAfter repeatedly.
Instants Fires(const CronSchedule& schedule, const TimeZone& zone, std::time_t from,
               std::time_t to) {
  Instants fires;
  for (std::time_t next = schedule.NextAfter(from, zone); next < to;
       next = schedule.NextAfter(next, zone)) {
    fires.push_back(next);
    if (fires.size() > 100000) {
      ADD_FAILURE() << "runaway";
      break;
    }
  }
  return fires;
}

// ReferenceFires is the header's contract applied by brute force, minute by
// minute in UTC: an instant fires if its wall clock matches and is read for
// the first time (or again, for a schedule whose hour field is a wildcard),
// or if it ends a gap that skipped a matching wall-clock minute.
Instants ReferenceFires(const CronSchedule& schedule, const TimeZone& zone, std::time_t from,
                        std::time_t to, bool hour_wildcard) {
  Instants fires;
  std::time_t first = from - from % 60 + 60;
  std::set<std::time_t> wall_clock_read;  // from three hours before, to see repeats
  for (std::time_t instant = first - 3 * kHour; instant < to; instant += 60) {
    std::time_t local = ToLocal(zone, instant);
    bool first_reading = wall_clock_read.insert(local).second;
    if (instant < first) {
      continue;
    }
    bool fires_now = (first_reading || hour_wildcard) && schedule.MatchesLocal(local);
    for (std::time_t skipped = ToLocal(zone, instant - 60) + 60; skipped < local; skipped += 60) {
      fires_now = fires_now || schedule.MatchesLocal(skipped);
    }
    if (fires_now) {
      fires.push_back(instant);
    }
  }
  return fires;
}

TEST(CronParseTest, FieldForms) {
  EXPECT_EQ(MinutesOf("*").size(), 60u);
  EXPECT_EQ(MinutesOf("5"), Values{5});
  EXPECT_EQ(MinutesOf("0"), Values{0});
  EXPECT_EQ(MinutesOf("59"), Values{59});
  EXPECT_EQ(MinutesOf("10-13"), (Values{10, 11, 12, 13}));
  EXPECT_EQ(MinutesOf("*/15"), (Values{0, 15, 30, 45}));
  EXPECT_EQ(MinutesOf("10-30/10"), (Values{10, 20, 30}));
  EXPECT_EQ(MinutesOf("10-31/10"), (Values{10, 20, 30}));
  EXPECT_EQ(MinutesOf("50/5"), (Values{50, 55}));  // N/S is N-59/S
  EXPECT_EQ(MinutesOf("1,2,5-6,58/1"), (Values{1, 2, 5, 6, 58, 59}));
  EXPECT_EQ(MinutesOf("7,7,7"), Values{7});
  EXPECT_EQ(MinutesOf("*/59"), (Values{0, 59}));
  EXPECT_EQ(HoursOf("9-17"), (Values{9, 10, 11, 12, 13, 14, 15, 16, 17}));
  EXPECT_EQ(HoursOf("*/6"), (Values{0, 6, 12, 18}));
  EXPECT_EQ(HoursOf("23"), Values{23});
  EXPECT_EQ(DaysOf("1,15,31"), (Values{1, 15, 31}));
  EXPECT_EQ(DaysOf("*/10"), (Values{1, 11, 21, 31}));
  EXPECT_EQ(DaysOf("25/3"), (Values{25, 28, 31}));
  EXPECT_EQ(MonthsOf("1"), Values{1});
  EXPECT_EQ(MonthsOf("JAN"), Values{1});
  EXPECT_EQ(MonthsOf("dec"), Values{12});
  EXPECT_EQ(MonthsOf("Mar-May"), (Values{3, 4, 5}));
  EXPECT_EQ(MonthsOf("jan-dec/3"), (Values{1, 4, 7, 10}));
  EXPECT_EQ(MonthsOf("FEB,aug"), (Values{2, 8}));
  EXPECT_EQ(MonthsOf("*/6"), (Values{1, 7}));
  EXPECT_EQ(WeekdaysOf("0"), Values{0});
  EXPECT_EQ(WeekdaysOf("7"), Values{0});
  EXPECT_EQ(WeekdaysOf("SUN"), Values{0});
  EXPECT_EQ(WeekdaysOf("1-5"), (Values{1, 2, 3, 4, 5}));
  EXPECT_EQ(WeekdaysOf("MON-FRI"), (Values{1, 2, 3, 4, 5}));
  EXPECT_EQ(WeekdaysOf("mon-wed,Fri"), (Values{1, 2, 3, 5}));
  EXPECT_EQ(WeekdaysOf("5-7"), (Values{0, 5, 6}));
  EXPECT_EQ(WeekdaysOf("FRI-SUN"), (Values{0, 5, 6}));
  EXPECT_EQ(WeekdaysOf("MON-SUN").size(), 7u);
  EXPECT_EQ(WeekdaysOf("SUN-SAT").size(), 7u);
  EXPECT_EQ(WeekdaysOf("*/2"), (Values{0, 2, 4, 6}));
  EXPECT_EQ(WeekdaysOf("sat"), Values{6});
}

TEST(CronParseTest, WhitespaceAliasesAndIntervals) {
  EXPECT_EQ(MinutesOf(" \t5"), Values{5});
  CronSchedule spaced = CronSchedule::Parse("  0\t 9-17  * *\t1-5 \n");
  EXPECT_TRUE(spaced.MatchesLocal(Local(2026, 5, 1, 9)));      // a Friday
  EXPECT_FALSE(spaced.MatchesLocal(Local(2026, 5, 2, 9)));     // a Saturday
  EXPECT_FALSE(spaced.MatchesLocal(Local(2026, 5, 1, 9, 1)));  // minute 1

  EXPECT_TRUE(CronSchedule::Parse("@hourly").MatchesLocal(Local(2026, 5, 1, 13, 0)));
  EXPECT_FALSE(CronSchedule::Parse("@hourly").MatchesLocal(Local(2026, 5, 1, 13, 1)));
  for (const char* daily : {"@daily", "@midnight", "@DAILY", " @daily "}) {
    CronSchedule schedule = CronSchedule::Parse(daily);
    EXPECT_TRUE(schedule.MatchesLocal(Local(2026, 5, 1, 0))) << daily;
    EXPECT_FALSE(schedule.MatchesLocal(Local(2026, 5, 1, 1))) << daily;
  }
  EXPECT_TRUE(CronSchedule::Parse("@weekly").MatchesLocal(Local(2026, 5, 3, 0)));  // Sunday
  EXPECT_FALSE(CronSchedule::Parse("@weekly").MatchesLocal(Local(2026, 5, 4, 0)));
  EXPECT_TRUE(CronSchedule::Parse("@monthly").MatchesLocal(Local(2026, 5, 1, 0)));
  EXPECT_FALSE(CronSchedule::Parse("@monthly").MatchesLocal(Local(2026, 5, 2, 0)));
  for (const char* yearly : {"@yearly", "@annually"}) {
    EXPECT_TRUE(CronSchedule::Parse(yearly).MatchesLocal(Local(2027, 1, 1, 0)));
    EXPECT_FALSE(CronSchedule::Parse(yearly).MatchesLocal(Local(2027, 2, 1, 0)));
  }

  for (const char* text : {"5 seconds", "5 second", " 5\tSECONDS "}) {
    CronSchedule interval = CronSchedule::Parse(text);
    EXPECT_TRUE(interval.is_interval()) << text;
    EXPECT_EQ(interval.interval_seconds(), 5) << text;
  }
  EXPECT_EQ(CronSchedule::Parse("1 second").interval_seconds(), 1);
  EXPECT_EQ(CronSchedule::Parse("59 seconds").interval_seconds(), 59);
  EXPECT_FALSE(CronSchedule::Parse("* * * * *").is_interval());
  EXPECT_EQ(CronSchedule::Parse("* * * * *").interval_seconds(), 0);
}

TEST(CronParseTest, WrongShapeIsRejected) {
  EXPECT_EQ(Message(""), "cron schedule cannot be empty");
  EXPECT_EQ(Message(" \t "), "cron schedule cannot be empty");
  EXPECT_EQ(Message("* * * *"),
            "cron expression must have 5 fields (minute hour day-of-month month day-of-week), "
            "not 4");
  EXPECT_EQ(Message("0 0 * * * 2026"),
            "cron expression must have 5 fields (minute hour day-of-month month day-of-week), "
            "not 6");
  EXPECT_EQ(Message("daily"),
            "cron expression must have 5 fields (minute hour day-of-month month day-of-week), "
            "not 1");
  EXPECT_NE(CronError("* * * *").hint().find("minute 0-59"), std::string::npos);
}

// A schedule that lists every value of every field is about 400 bytes; a
// 200 KB one (valid, by repeating values) was stored as it was.
TEST(CronParseTest, LongTextIsRefused) {
  std::string every;
  for (int minute = 0; minute < 60; minute++) {
    every += (minute > 0 ? "," : "") + std::to_string(minute);
  }
  every +=
      " 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23 * "
      "jan,feb,mar,apr,may,jun,jul,aug,sep,oct,nov,dec sun,mon,tue,wed,thu,fri,sat";
  EXPECT_LT(every.size(), 400u);
  EXPECT_FALSE(CronSchedule::Parse(every).is_interval());
  std::string repeated = "0";
  while (repeated.size() < 200 * 1024) {
    repeated += ",0";
  }
  repeated += " * * * *";
  try {
    CronSchedule::Parse(repeated);
    ADD_FAILURE() << "accepted " << repeated.size() << " bytes";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kLimitExceeded);
    EXPECT_EQ(std::string(error.what()),
              "cron schedule is too long: " + std::to_string(repeated.size()) + " bytes");
    EXPECT_NE(error.hint().find("at most 1024 bytes"), std::string::npos);
  }
  std::string longest = "0 0 * * *" + std::string(CronSchedule::kMaxTextBytes - 9, ' ');
  EXPECT_FALSE(CronSchedule::Parse(longest).is_interval());
  EXPECT_THROW(CronSchedule::Parse(longest + " "), Error);
}

TEST(CronParseTest, BadFieldsNameTheField) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"60 * * * *", "invalid cron field 1 (minute) \"60\": 60 is out of range 0-59"},
      {"0 24 * * *", "invalid cron field 2 (hour) \"24\": 24 is out of range 0-23"},
      {"0 0 32 * *", "invalid cron field 3 (day of month) \"32\": 32 is out of range 1-31"},
      {"0 0 0 * *", "invalid cron field 3 (day of month) \"0\": 0 is out of range 1-31"},
      {"0 0 * 13 *", "invalid cron field 4 (month) \"13\": 13 is out of range 1-12"},
      {"0 0 * 0 *", "invalid cron field 4 (month) \"0\": 0 is out of range 1-12"},
      {"0 0 * * 8", "invalid cron field 5 (day of week) \"8\": 8 is out of range 0-7"},
      {"1,99999999999999999999 * * * *",
       "invalid cron field 1 (minute) \"1,99999999999999999999\": 99999999999999999999 is out "
       "of range 0-59"},
      {"0-60 * * * *", "invalid cron field 1 (minute) \"0-60\": 60 is out of range 0-59"},
      {"5-1 * * * *", "invalid cron field 1 (minute) \"5-1\": range 5-1 is reversed"},
      {"0 0 * * FRI-MON",
       "invalid cron field 5 (day of week) \"FRI-MON\": range FRI-MON is reversed"},
      {"0 0 * DEC-JAN/2 *",
       "invalid cron field 4 (month) \"DEC-JAN/2\": range DEC-JAN is reversed"},
      {"*/0 * * * *", "invalid cron field 1 (minute) \"*/0\": step 0 is out of range 1-59"},
      {"0 1-5/0 * * *", "invalid cron field 2 (hour) \"1-5/0\": step 0 is out of range 1-23"},
      {"*/60 * * * *", "invalid cron field 1 (minute) \"*/60\": step 60 is out of range 1-59"},
      {"1,,2 * * * *", "invalid cron field 1 (minute) \"1,,2\": empty list element"},
      {"0 0 1, * *", "invalid cron field 3 (day of month) \"1,\": empty list element"},
      {"0 0 * ,1 *", "invalid cron field 4 (month) \",1\": empty list element"},
      {"1x * * * *", "invalid cron field 1 (minute) \"1x\": unexpected character \"x\""},
      {"? * * * *", "invalid cron field 1 (minute) \"?\": unexpected character \"?\""},
      {"*-5 * * * *", "invalid cron field 1 (minute) \"*-5\": unexpected character \"-\""},
      {"-5 * * * *", "invalid cron field 1 (minute) \"-5\": unexpected character \"-\""},
      {"** * * * *", "invalid cron field 1 (minute) \"**\": unexpected character \"*\""},
      {"1-2-3 * * * *", "invalid cron field 1 (minute) \"1-2-3\": unexpected character \"-\""},
      {"*/5/2 * * * *", "invalid cron field 1 (minute) \"*/5/2\": unexpected character \"/\""},
      {"*/x * * * *", "invalid cron field 1 (minute) \"*/x\": unexpected character \"x\""},
      {"1.5 * * * *", "invalid cron field 1 (minute) \"1.5\": unexpected character \".\""},
      {"1- * * * *", "invalid cron field 1 (minute) \"1-\": missing value after \"-\""},
      {"*/ * * * *", "invalid cron field 1 (minute) \"*/\": missing step after \"/\""},
      {"a * * * *", "invalid cron field 1 (minute) \"a\": \"a\" is not a number"},
      {"0 0 L * *", "invalid cron field 3 (day of month) \"L\": \"L\" is not a number"},
      {"0 0 * FOO *",
       "invalid cron field 4 (month) \"FOO\": \"FOO\" is not a month name (JAN-DEC)"},
      {"0 0 * January *",
       "invalid cron field 4 (month) \"January\": \"January\" is not a month name (JAN-DEC)"},
      {"0 0 * * MONDAY",
       "invalid cron field 5 (day of week) \"MONDAY\": \"MONDAY\" is not a day name (SUN-SAT)"},
      {"0 0 * * MON-", "invalid cron field 5 (day of week) \"MON-\": missing value after \"-\""},
      {"0 0 * * 1#2", "invalid cron field 5 (day of week) \"1#2\": unexpected character \"#\""},
      {"1\x01 * * * *", "invalid cron field 1 (minute) \"1\\x01\": unexpected character \"\\x01\""},
  };
  for (const Case& c : cases) {
    Error error = CronError(c.text);
    EXPECT_STREQ(error.what(), c.message) << c.text;
    EXPECT_NE(error.hint().find("minute hour day-of-month month day-of-week"), std::string::npos);
  }
}

TEST(CronParseTest, BadAliasesAndIntervals) {
  Error reboot = CronError("@reboot");
  EXPECT_STREQ(reboot.what(), "@reboot is not supported");
  EXPECT_NE(reboot.hint().find("@daily"), std::string::npos);
  Error unknown = CronError("@often");
  EXPECT_STREQ(unknown.what(), "unknown cron alias \"@often\"");
  EXPECT_NE(unknown.hint().find("@hourly, @daily"), std::string::npos);
  EXPECT_STREQ(CronError("@daily 5").what(), "unknown cron alias \"@daily 5\"");

  for (const char* text : {"0 seconds", "60 seconds", "3600 seconds", "99999999999999 seconds"}) {
    Error error = CronError(text);
    EXPECT_EQ(std::string(error.what()),
              "invalid interval \"" + std::string(text) + "\": it must be 1 to 59 seconds");
    EXPECT_NE(error.hint().find("use a cron expression for longer periods"), std::string::npos);
  }
  EXPECT_STREQ(CronError("-5 seconds").what(),
               "invalid interval \"-5 seconds\": \"-5\" is not a whole number of seconds");
  EXPECT_STREQ(CronError("1.5 seconds").what(),
               "invalid interval \"1.5 seconds\": \"1.5\" is not a whole number of seconds");
  Error minutes = CronError("5 minutes");
  EXPECT_STREQ(minutes.what(), "unsupported interval unit \"minutes\"");
  EXPECT_NE(minutes.hint().find("*/5 * * * *"), std::string::npos);
  EXPECT_STREQ(CronError("5 seconds later").what(),
               "cron expression must have 5 fields (minute hour day-of-month month day-of-week), "
               "not 3");
}

TEST(CronNextTest, EveryFifteenMinutes) {
  UtcZone utc;
  CronSchedule schedule = CronSchedule::Parse("*/15 * * * *");
  EXPECT_EQ(Iso(schedule.NextAfter(Utc(2026, 5, 1, 10, 7, 30), utc)), "2026-05-01T10:15:00Z");
  EXPECT_EQ(Iso(schedule.NextAfter(Utc(2026, 5, 1, 10, 14, 59), utc)), "2026-05-01T10:15:00Z");
  // Strictly after: a fire time is not its own successor.
  EXPECT_EQ(Iso(schedule.NextAfter(Utc(2026, 5, 1, 10, 15), utc)), "2026-05-01T10:30:00Z");
  EXPECT_EQ(Iso(schedule.NextAfter(Utc(2026, 5, 1, 23, 50), utc)), "2026-05-02T00:00:00Z");
  EXPECT_EQ(Iso(schedule.NextAfter(Utc(2026, 12, 31, 23, 45), utc)), "2027-01-01T00:00:00Z");
  EXPECT_EQ(Fires(schedule, utc, Utc(2026, 5, 1) - 1, Utc(2026, 5, 2)).size(), 96u);
}

TEST(CronNextTest, WorkingHours) {
  UtcZone utc;
  CronSchedule schedule = CronSchedule::Parse("0 9-17 * * 1-5");
  // Friday 2026-05-01 17:00 is the last of the week; next is Monday 09:00.
  EXPECT_EQ(Iso(schedule.NextAfter(Utc(2026, 5, 1, 17), utc)), "2026-05-04T09:00:00Z");
  EXPECT_EQ(Iso(schedule.NextAfter(Utc(2026, 5, 4, 8, 59, 59), utc)), "2026-05-04T09:00:00Z");
  EXPECT_EQ(Iso(schedule.NextAfter(Utc(2026, 5, 4, 9), utc)), "2026-05-04T10:00:00Z");
  EXPECT_EQ(Fires(schedule, utc, Utc(2026, 5, 3), Utc(2026, 5, 10)).size(), 45u);
}

TEST(CronNextTest, WeekdayNames) {
  UtcZone utc;
  CronSchedule schedule = CronSchedule::Parse("0 0 * * MON-FRI");
  EXPECT_EQ(Iso(schedule.NextAfter(Utc(2026, 5, 1, 0), utc)), "2026-05-04T00:00:00Z");
  EXPECT_EQ(Iso(schedule.NextAfter(Utc(2026, 5, 4, 0), utc)), "2026-05-05T00:00:00Z");
  EXPECT_EQ(Fires(schedule, utc, Utc(2026, 1, 1) - 1, Utc(2027, 1, 1)).size(), 261u);
}

TEST(CronNextTest, DailyAtTwoThirty) {
  UtcZone utc;
  CronSchedule schedule = CronSchedule::Parse("30 2 * * *");
  EXPECT_EQ(Iso(schedule.NextAfter(Utc(2026, 5, 1, 2, 30), utc)), "2026-05-02T02:30:00Z");
  EXPECT_EQ(Iso(schedule.NextAfter(Utc(2026, 5, 1, 2, 29, 59), utc)), "2026-05-01T02:30:00Z");
  EXPECT_EQ(Fires(schedule, utc, Utc(2026, 1, 1), Utc(2027, 1, 1)).size(), 365u);
}

TEST(CronNextTest, BothDayFieldsMeanEither) {
  UtcZone utc;
  // Vixie's rule: the 13th of every month, and every Friday.
  Instants either =
      Fires(CronSchedule::Parse("0 0 13 * 5"), utc, Utc(2026, 1, 1) - 1, Utc(2027, 1, 1));
  // A day-of-month or day-of-week starting with '*' makes both required.
  Instants both =
      Fires(CronSchedule::Parse("0 0 */2 * 5"), utc, Utc(2026, 1, 1) - 1, Utc(2027, 1, 1));
  Instants expected_either;
  Instants expected_both;
  for (std::time_t day = Utc(2026, 1, 1); day < Utc(2027, 1, 1); day += kDay) {
    std::tm tm{};
    gmtime_r(&day, &tm);
    if (tm.tm_mday == 13 || tm.tm_wday == 5) {
      expected_either.push_back(day);
    }
    if (tm.tm_mday % 2 == 1 && tm.tm_wday == 5) {
      expected_both.push_back(day);
    }
  }
  EXPECT_EQ(either, expected_either);
  EXPECT_EQ(either.size(), 61u);  // 52 Fridays and 12 13ths, 3 of them Fridays
  EXPECT_EQ(both, expected_both);
  EXPECT_EQ(Iso(CronSchedule::Parse("0 0 13 * 5").NextAfter(Utc(2026, 2, 6), utc)),
            "2026-02-13T00:00:00Z");
}

TEST(CronNextTest, LeapDayIsFound) {
  UtcZone utc;
  CronSchedule schedule = CronSchedule::Parse("0 0 29 2 *");
  EXPECT_EQ(Iso(schedule.NextAfter(Utc(2025, 3, 1), utc)), "2028-02-29T00:00:00Z");
  EXPECT_EQ(Iso(schedule.NextAfter(Utc(2028, 2, 29), utc)), "2032-02-29T00:00:00Z");
}

TEST(CronNextTest, ImpossibleDatesNeverFire) {
  UtcZone utc;
  for (const char* text : {"0 0 30 2 *", "0 0 31 2 *", "0 0 31 4,6,9,11 *"}) {
    CronSchedule schedule = CronSchedule::Parse(text);
    try {
      schedule.NextAfter(Utc(2026, 1, 1), utc);
      ADD_FAILURE() << text << " fired";
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kInvalidParameter);
      EXPECT_STREQ(error.what(), "cron expression never fires");
      EXPECT_EQ(error.detail(), "No minute in the eight years after 2026-01-01 matches it.");
    }
  }
  // With both day fields restricted, the day of the week still fires: the
  // Mondays of February.
  EXPECT_EQ(Iso(CronSchedule::Parse("0 0 30 2 1").NextAfter(Utc(2026, 5, 1), utc)),
            "2027-02-01T00:00:00Z");
}

TEST(CronNextTest, Aliases) {
  UtcZone utc;
  // Wednesday 2026-05-06; @weekly is Sunday midnight.
  EXPECT_EQ(Iso(CronSchedule::Parse("@weekly").NextAfter(Utc(2026, 5, 6, 12), utc)),
            "2026-05-10T00:00:00Z");
  EXPECT_EQ(Iso(CronSchedule::Parse("@weekly").NextAfter(Utc(2026, 5, 10), utc)),
            "2026-05-17T00:00:00Z");
  EXPECT_EQ(Iso(CronSchedule::Parse("@hourly").NextAfter(Utc(2026, 5, 6, 12, 1), utc)),
            "2026-05-06T13:00:00Z");
  EXPECT_EQ(Iso(CronSchedule::Parse("@daily").NextAfter(Utc(2026, 5, 6, 12), utc)),
            "2026-05-07T00:00:00Z");
  EXPECT_EQ(Iso(CronSchedule::Parse("@monthly").NextAfter(Utc(2026, 5, 6, 12), utc)),
            "2026-06-01T00:00:00Z");
  EXPECT_EQ(Iso(CronSchedule::Parse("@yearly").NextAfter(Utc(2026, 5, 6, 12), utc)),
            "2027-01-01T00:00:00Z");
}

TEST(CronNextTest, IntervalIsAfterPlusN) {
  UtcZone utc;
  UsEasternZone eastern;
  CronSchedule schedule = CronSchedule::Parse("5 seconds");
  EXPECT_EQ(schedule.NextAfter(1000, utc), 1005);
  EXPECT_EQ(schedule.NextAfter(Utc(2026, 11, 1, 5, 59, 58), eastern), Utc(2026, 11, 1, 6, 0, 3));
  EXPECT_FALSE(schedule.MatchesLocal(Local(2026, 5, 1)));
}

TEST(CronNextTest, AgreesWithBruteForceInUtc) {
  UtcZone utc;
  for (const char* text :
       {"*/7 * * * *", "0 */5 * * *", "15 3 1-7 * MON", "15 3 1-7 * *", "0 12 1,15 * *",
        "59 23 31 * *", "0 0 1 JAN,JUL *", "30 4 * * 6,0", "5,10 0-2 */3 * SUN"}) {
    CronSchedule schedule = CronSchedule::Parse(text);
    std::time_t from = Utc(2026, 1, 1) - 1;
    std::time_t to = Utc(2026, 3, 1);
    Instants expected;
    for (std::time_t minute = Utc(2026, 1, 1); minute < to; minute += 60) {
      if (schedule.MatchesLocal(minute)) {
        expected.push_back(minute);
      }
    }
    EXPECT_EQ(Fires(schedule, utc, from, to), expected) << text;
    EXPECT_FALSE(expected.empty()) << text;
  }
}

// US DST in 2026: spring forward on Sunday 2026-03-08 at 02:00 EST (07:00Z),
// fall back on Sunday 2026-11-01 at 02:00 EDT (06:00Z).

TEST(CronDstTest, SkippedTimeFiresOnceAtTheEndOfTheGap) {
  UsEasternZone eastern;
  CronSchedule schedule = CronSchedule::Parse("30 2 * * *");
  Instants fires = Fires(schedule, eastern, Utc(2026, 3, 7, 5), Utc(2026, 3, 10, 4));
  EXPECT_EQ(fires, (Instants{Utc(2026, 3, 7, 7, 30),    // 02:30 EST
                             Utc(2026, 3, 8, 7, 0),     // 03:00 EDT, end of the gap
                             Utc(2026, 3, 9, 6, 30)}))  // 02:30 EDT
      << Iso(fires.at(1));
  // From inside the gap's day, before it: still the end of the gap.
  EXPECT_EQ(schedule.NextAfter(Utc(2026, 3, 8, 6, 59), eastern), Utc(2026, 3, 8, 7));
  // Just after firing there, the next is the next day's 02:30.
  EXPECT_EQ(schedule.NextAfter(Utc(2026, 3, 8, 7), eastern), Utc(2026, 3, 9, 6, 30));
  // A time just after the gap is not affected.
  EXPECT_EQ(CronSchedule::Parse("30 3 * * *").NextAfter(Utc(2026, 3, 8, 5), eastern),
            Utc(2026, 3, 8, 7, 30));
}

TEST(CronDstTest, RepeatedTimeFiresOnceAtItsFirstOccurrence) {
  UsEasternZone eastern;
  CronSchedule schedule = CronSchedule::Parse("30 1 * * *");
  // Local days 2026-10-31 .. 2026-11-02.
  Instants fires = Fires(schedule, eastern, Utc(2026, 10, 31, 4), Utc(2026, 11, 3, 5));
  EXPECT_EQ(fires, (Instants{Utc(2026, 10, 31, 5, 30),    // 01:30 EDT
                             Utc(2026, 11, 1, 5, 30),     // 01:30 EDT, the first of two
                             Utc(2026, 11, 2, 6, 30)}));  // 01:30 EST
  // From between the two 01:30s, the second one is skipped.
  EXPECT_EQ(schedule.NextAfter(Utc(2026, 11, 1, 5, 30), eastern), Utc(2026, 11, 2, 6, 30));
  EXPECT_EQ(schedule.NextAfter(Utc(2026, 11, 1, 6, 10), eastern), Utc(2026, 11, 2, 6, 30));
  // 02:30 is not repeated in a US fall-back: it fires once, in EST.
  EXPECT_EQ(
      Fires(CronSchedule::Parse("30 2 * * *"), eastern, Utc(2026, 11, 1, 4), Utc(2026, 11, 2, 5)),
      Instants{Utc(2026, 11, 1, 7, 30)});
}

TEST(CronDstTest, HalfHourlyAcrossFallBack) {
  UsEasternZone eastern;
  CronSchedule schedule = CronSchedule::Parse("*/30 * * * *");
  // The whole local day 2026-11-01: 25 hours, 00:00 EDT (04:00Z) to 24:00 EST (05:00Z).
  std::time_t day_start = Utc(2026, 11, 1, 4);
  std::time_t day_end = Utc(2026, 11, 2, 5);
  Instants fires = Fires(schedule, eastern, day_start - 1, day_end);
  ASSERT_FALSE(fires.empty());
  std::set<std::time_t> wall_clock;
  for (size_t i = 0; i < fires.size(); i++) {
    if (i > 0) {
      EXPECT_LT(fires[i - 1], fires[i]) << Iso(fires[i]);
    }
    wall_clock.insert(ToLocal(eastern, fires[i]));
  }
  // A frequent job keeps its rhythm through the repeated hour: every half
  // hour of real time, so the wall-clock 01:00 and 01:30 fire twice.
  EXPECT_EQ(fires.size(), 50u);
  EXPECT_EQ(wall_clock.size(), 48u);
  for (size_t i = 1; i < fires.size(); i++)
    EXPECT_EQ(fires[i] - fires[i - 1], 30 * 60);
  EXPECT_EQ(fires.front(), day_start);
  EXPECT_EQ(fires.back(), Utc(2026, 11, 2, 4, 30));  // 23:30 EST
  // From 01:30 EDT the next is 01:00 EST, the second pass.
  EXPECT_EQ(schedule.NextAfter(Utc(2026, 11, 1, 5, 30), eastern), Utc(2026, 11, 1, 6));
  EXPECT_EQ(fires, ReferenceFires(schedule, eastern, day_start - 1, day_end, true));
}

TEST(CronDstTest, HalfHourlyAcrossSpringForward) {
  UsEasternZone eastern;
  CronSchedule schedule = CronSchedule::Parse("*/30 * * * *");
  // The whole local day 2026-03-08: 23 hours, 00:00 EST (05:00Z) to 24:00 EDT (04:00Z).
  std::time_t day_start = Utc(2026, 3, 8, 5);
  std::time_t day_end = Utc(2026, 3, 9, 4);
  Instants fires = Fires(schedule, eastern, day_start - 1, day_end);
  for (size_t i = 1; i < fires.size(); i++) {
    EXPECT_LT(fires[i - 1], fires[i]) << Iso(fires[i]);
  }
  // 02:00 and 02:30 do not exist and fire at 07:00Z, together with 03:00.
  EXPECT_EQ(fires.size(), 46u);
  EXPECT_EQ(std::count(fires.begin(), fires.end(), Utc(2026, 3, 8, 7)), 1);
  EXPECT_EQ(fires, ReferenceFires(schedule, eastern, day_start - 1, day_end, true));
}

TEST(CronDstTest, AgreesWithTheContractByBruteForce) {
  UsEasternZone eastern;
  for (const char* text : {"30 2 * * *", "30 1 * * *", "0 2 * * *", "0 3 * * *", "59 1 * * *",
                           "15,45 1-3 * * *", "*/20 * * * *", "0 * * * *", "* 2 * * *", "0 0 * * *",
                           "0 2 8 3 *", "30 1 1 11 *", "0 1-2 * * SUN"}) {
    CronSchedule schedule = CronSchedule::Parse(text);
    for (std::time_t from : {Utc(2026, 3, 7, 12), Utc(2026, 10, 31, 12)}) {
      std::time_t to = from + 2 * kDay;
      bool hour_wildcard = std::string(text).find(' ') + 1 < std::strlen(text) &&
                           text[std::string(text).find(' ') + 1] == '*';
      EXPECT_EQ(Fires(schedule, eastern, from, to),
                ReferenceFires(schedule, eastern, from, to, hour_wildcard))
          << text << " from " << Iso(from);
    }
  }
}

TEST(CronDstTest, EveryDstDayFiresDailyJobsExactlyOnce) {
  UsEasternZone eastern;
  // Each wall-clock minute of the day used as a daily schedule fires exactly
  // once on each transition day.
  for (std::time_t day_start : {Utc(2026, 3, 8, 5), Utc(2026, 11, 1, 4)}) {
    std::time_t day_end = day_start + (day_start == Utc(2026, 3, 8, 5) ? 23 : 25) * kHour;
    for (int hour = 0; hour < 24; hour++) {
      for (int minute = 0; minute < 60; minute += 15) {
        std::string text = std::to_string(minute) + " " + std::to_string(hour) + " * * *";
        CronSchedule schedule = CronSchedule::Parse(text);
        EXPECT_EQ(Fires(schedule, eastern, day_start - 1, day_end).size(), 1u)
            << text << " on " << Iso(day_start);
      }
    }
  }
}

}  // namespace
}  // namespace pgbak
