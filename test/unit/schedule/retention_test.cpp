// retention_test.cpp: retention plans and retention options
// (src/core/retention.cpp).
#include "core/schedule/retention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/base/json.h"
#include "core/schedule/time_zone.h"
#include "test_zones.h"

namespace pgbak {
namespace {

using test::Utc;

using Ids = std::set<int64_t>;

constexpr std::time_t kHour = 3600;
constexpr std::time_t kDay = 86400;

// Strftime formats an instant's UTC calendar with libc, for expected buckets.
std::string Strftime(const char* format, std::time_t instant) {
  std::tm tm{};
  gmtime_r(&instant, &tm);
  char buffer[64];
  std::strftime(buffer, sizeof(buffer), format, &tm);
  return buffer;
}

// FixedZone is a constant offset from UTC.
class FixedZone : public TimeZone {
 public:
  explicit FixedZone(long offset) : offset_(offset) {}
  long OffsetAt(std::time_t) const override { return offset_; }

 private:
  long offset_;
};

BackupRecord Record(int64_t id, const char* status, std::time_t finished_at) {
  BackupRecord record;
  record.id = id;
  record.status = status;
  record.finished_at = finished_at;
  return record;
}

// Kept lists the ids a plan keeps.
Ids Kept(const std::vector<RetentionDecision>& decisions) {
  Ids ids;
  for (const RetentionDecision& decision : decisions) {
    if (decision.action == RetentionAction::kKeep) {
      ids.insert(decision.id);
    }
  }
  return ids;
}

// Find returns the decision for an id; fails the test if there is none.
const RetentionDecision& Find(const std::vector<RetentionDecision>& decisions, int64_t id) {
  for (const RetentionDecision& decision : decisions) {
    if (decision.id == id) {
      return decision;
    }
  }
  ADD_FAILURE() << "no decision for " << id;
  static const RetentionDecision kNone;
  return kNone;
}

// PolicyError returns the message ParseRetentionOptions throws for a JSON text.
std::string PolicyError(const std::string& text) {
  try {
    ParseRetentionOptions(json::Parse(text));
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidParameter) << text;
    return error.what();
  }
  ADD_FAILURE() << "accepted " << text;
  return {};
}

// A year of nightly backups, 2025-03-01 to 2026-02-28 at 02:00 UTC, ids 1 to
// 365, with failures and records retention must ignore mixed in.
class YearOfBackupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 365; i++) {
      std::time_t finished_at = Utc(2025, 3, 1, 2) + i * kDay;
      records_.push_back(Record(i + 1, "succeeded", finished_at));
      if (i % 10 == 0) {
        records_.push_back(Record(1000 + i, "failed", finished_at + kHour));
      }
    }
    // Newer than every success, on a day of its own: must not use a bucket.
    records_.push_back(Record(2000, "failed", Utc(2026, 3, 1, 1)));
    records_.push_back(Record(2001, "cancelled", Utc(2026, 2, 27, 5)));
    records_.push_back(Record(2002, "running", Utc(2026, 3, 1, 2)));
    records_.push_back(Record(2003, "queued", 0));
    records_.push_back(Record(2004, "expired", Utc(2025, 1, 1)));
    std::reverse(records_.begin() + 100, records_.end());  // any order is accepted
  }

  // ExpectedByPeriod keeps, straightforwardly, the newest success of each of
  // the newest `count` periods, periods named by strftime(format).
  Ids ExpectedByPeriod(const char* format, int count) const {
    std::map<std::string, const BackupRecord*> newest_in_period;
    for (const BackupRecord& record : records_) {
      if (record.status != "succeeded") {
        continue;
      }
      const BackupRecord*& newest = newest_in_period[Strftime(format, record.finished_at)];
      if (newest == nullptr || record.finished_at > newest->finished_at) {
        newest = &record;
      }
    }
    Ids ids;
    // Period names sort chronologically; take the last `count`.
    for (auto it = newest_in_period.rbegin(); it != newest_in_period.rend() && count > 0;
         ++it, --count) {
      ids.insert(it->second->id);
    }
    return ids;
  }

  std::vector<BackupRecord> records_;
  std::time_t now_ = Utc(2026, 3, 1, 12);
};

TEST_F(YearOfBackupsTest, GrandfatherFatherSon) {
  RetentionPolicy policy;
  policy.keep_daily = 7;
  policy.keep_weekly = 4;
  policy.keep_monthly = 12;
  policy.keep_yearly = 2;
  std::vector<RetentionDecision> plan = PlanRetention(records_, policy, now_, UtcZone());

  Ids expected;
  for (const Ids& ids : {ExpectedByPeriod("%Y-%m-%d", 7), ExpectedByPeriod("%G-W%V", 4),
                         ExpectedByPeriod("%Y-%m", 12), ExpectedByPeriod("%Y", 2)}) {
    expected.insert(ids.begin(), ids.end());
  }
  EXPECT_EQ(Kept(plan), expected);
  // Feb 22-28 daily, Feb 15 and 8 weekly, the last day of Mar 2025 to Jan
  // 2026 monthly; the yearly ones (Feb 28, Dec 31) are kept already.
  EXPECT_EQ(Kept(plan).size(), 20u);

  // One decision per succeeded, failed and cancelled record, newest first.
  EXPECT_EQ(plan.size(), 365u + 37u + 1u + 1u);
  EXPECT_EQ(plan.front().id, 2000);
  for (size_t i = 1; i < plan.size(); i++) {
    EXPECT_NE(plan[i].id, 2002);
    EXPECT_NE(plan[i].id, 2003);
    EXPECT_NE(plan[i].id, 2004);
  }
  std::map<int64_t, std::time_t> finished;
  for (const BackupRecord& record : records_) {
    finished[record.id] = record.finished_at;
  }
  for (size_t i = 1; i < plan.size(); i++) {
    EXPECT_GE(finished[plan[i - 1].id], finished[plan[i].id]);
  }

  EXPECT_EQ(Find(plan, 365).reason,
            "kept: daily 2026-02-28, weekly 2026-W09, monthly 2026-02, yearly 2026");
  EXPECT_EQ(Find(plan, 359).reason, "kept: daily 2026-02-22, weekly 2026-W08");
  EXPECT_EQ(Find(plan, 352).reason, "kept: weekly 2026-W07");
  EXPECT_EQ(Find(plan, 306).reason, "kept: monthly 2025-12, yearly 2025");
  EXPECT_EQ(Find(plan, 31).reason, "kept: monthly 2025-03");
  EXPECT_EQ(Find(plan, 358).action, RetentionAction::kDelete);
  EXPECT_EQ(Find(plan, 358).reason,
            "deleted: not selected by keep_daily 7, keep_weekly 4, keep_monthly 12, keep_yearly 2");
  EXPECT_EQ(Find(plan, 2000).action, RetentionAction::kClean);
  EXPECT_EQ(Find(plan, 2000).reason, "cleaned: failed backup");
  EXPECT_EQ(Find(plan, 1000).reason, "cleaned: failed backup");
  EXPECT_EQ(Find(plan, 2001).action, RetentionAction::kClean);
  EXPECT_EQ(Find(plan, 2001).reason, "cleaned: cancelled backup");
  for (const RetentionDecision& decision : plan) {
    bool succeeded = decision.id <= 365;
    EXPECT_EQ(decision.action == RetentionAction::kClean, !succeeded) << decision.id;
  }
}

TEST_F(YearOfBackupsTest, EachRuleAlone) {
  struct Case {
    const char* format;
    std::optional<int> RetentionPolicy::*rule;
    int count;
    size_t expected_size;
  };
  const Case cases[] = {
      {"%Y-%m-%d", &RetentionPolicy::keep_daily, 10, 10},
      {"%G-W%V", &RetentionPolicy::keep_weekly, 60, 53},  // 2025-W09 .. 2026-W09
      {"%Y-%m", &RetentionPolicy::keep_monthly, 6, 6},
      {"%Y", &RetentionPolicy::keep_yearly, 5, 2},
  };
  for (const Case& c : cases) {
    RetentionPolicy policy;
    policy.*c.rule = c.count;
    Ids kept = Kept(PlanRetention(records_, policy, now_, UtcZone()));
    EXPECT_EQ(kept, ExpectedByPeriod(c.format, c.count)) << c.format;
    EXPECT_EQ(kept.size(), c.expected_size) << c.format;
  }
}

TEST_F(YearOfBackupsTest, KeepLast) {
  RetentionPolicy policy;
  policy.keep_last = 2;
  std::vector<RetentionDecision> plan = PlanRetention(records_, policy, now_, UtcZone());
  EXPECT_EQ(Kept(plan), (Ids{364, 365}));
  EXPECT_EQ(Find(plan, 365).reason, "kept: keep_last 2");
  EXPECT_EQ(Find(plan, 364).reason, "kept: keep_last 2");
  EXPECT_EQ(Find(plan, 363).reason, "deleted: not selected by keep_last 2");
  EXPECT_EQ(Find(plan, 1).action, RetentionAction::kDelete);
}

TEST_F(YearOfBackupsTest, EmptyPolicyKeepsEverySuccessAndCleansFailures) {
  std::vector<RetentionDecision> plan = PlanRetention(records_, RetentionPolicy(), now_, UtcZone());
  EXPECT_EQ(Kept(plan).size(), 365u);
  EXPECT_EQ(Find(plan, 1).reason, "kept: no retention rule");
  EXPECT_EQ(Find(plan, 1000).action, RetentionAction::kClean);
  EXPECT_EQ(Find(plan, 2001).reason, "cleaned: cancelled backup");
}

TEST_F(YearOfBackupsTest, MaxAgeAlone) {
  RetentionPolicy policy;
  policy.max_age_seconds = 30 * kDay;
  std::vector<RetentionDecision> plan = PlanRetention(records_, policy, now_, UtcZone());
  // now is 2026-03-01 12:00; 30 days back is 2026-01-30 12:00.
  Ids expected;
  for (int64_t id = 1; id <= 365; id++) {
    if (Utc(2025, 3, 1, 2) + (id - 1) * kDay >= Utc(2026, 1, 30, 12)) {
      expected.insert(id);
    }
  }
  EXPECT_EQ(Kept(plan), expected);
  EXPECT_EQ(expected.size(), 29u);  // 2026-01-31 to 2026-02-28
  EXPECT_EQ(Find(plan, 365).reason, "kept: within max_age");
  EXPECT_EQ(Find(plan, 1).reason, "deleted: older than max_age");
  EXPECT_EQ(Find(plan, 1000).reason, "cleaned: failed backup");
}

TEST(RetentionTest, MaxAgeBoundaryIsKept) {
  RetentionPolicy policy;
  policy.max_age_seconds = kDay;
  std::time_t now = Utc(2026, 5, 2);
  std::vector<BackupRecord> records = {Record(1, "succeeded", now - kDay - 1),
                                       Record(2, "succeeded", now - kDay),
                                       Record(3, "succeeded", now)};
  std::vector<RetentionDecision> plan = PlanRetention(records, policy, now, UtcZone());
  EXPECT_EQ(Kept(plan), (Ids{2, 3}));
}

TEST(RetentionTest, MaxAgeOverridesKeepRules) {
  std::time_t now = Utc(2026, 5, 10, 12);
  std::vector<BackupRecord> records;
  for (int i = 1; i <= 9; i++) {
    records.push_back(Record(i, "succeeded", Utc(2026, 5, i, 2)));
  }
  // keep_last 5 would keep 5 to 9; max_age (cut-off 2026-05-07 12:00) wins.
  RetentionPolicy policy;
  policy.keep_last = 5;
  policy.max_age_seconds = 3 * kDay;
  std::vector<RetentionDecision> plan = PlanRetention(records, policy, now, UtcZone());
  EXPECT_EQ(Kept(plan), (Ids{8, 9}));
  EXPECT_EQ(Find(plan, 9).reason, "kept: keep_last 5");
  EXPECT_EQ(Find(plan, 7).reason, "deleted: older than max_age");
  EXPECT_EQ(Find(plan, 1).reason, "deleted: older than max_age");

  // Young enough but not selected: the keep rules decide.
  policy.keep_last = 2;
  policy.max_age_seconds = 5 * kDay;
  plan = PlanRetention(records, policy, now, UtcZone());
  EXPECT_EQ(Kept(plan), (Ids{8, 9}));
  EXPECT_EQ(Find(plan, 6).reason, "deleted: not selected by keep_last 2");
  EXPECT_EQ(Find(plan, 5).reason, "deleted: older than max_age");
}

TEST(RetentionTest, NewestSuccessIsNeverDeleted) {
  std::time_t now = Utc(2026, 5, 10);
  std::vector<BackupRecord> records = {
      Record(1, "succeeded", Utc(2026, 1, 1)), Record(2, "succeeded", Utc(2026, 1, 2)),
      Record(3, "failed", Utc(2026, 5, 9)),  // newer, but not a keeper
  };
  RetentionPolicy policy;
  policy.max_age_seconds = 7 * kDay;
  std::vector<RetentionDecision> plan = PlanRetention(records, policy, now, UtcZone());
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0].id, 3);
  EXPECT_EQ(plan[0].action, RetentionAction::kClean);
  EXPECT_EQ(plan[1].id, 2);
  EXPECT_EQ(plan[1].action, RetentionAction::kKeep);
  EXPECT_EQ(plan[1].reason, "kept: newest succeeded backup");
  EXPECT_EQ(plan[2].id, 1);
  EXPECT_EQ(plan[2].action, RetentionAction::kDelete);
  EXPECT_EQ(plan[2].reason, "deleted: older than max_age");

  policy.keep_daily = 3;
  plan = PlanRetention(records, policy, now, UtcZone());
  EXPECT_EQ(Kept(plan), Ids{2});
  EXPECT_EQ(Find(plan, 2).reason, "kept: newest succeeded backup");
}

TEST(RetentionTest, SeveralRulesAreListed) {
  std::time_t now = Utc(2026, 11, 22);
  std::vector<BackupRecord> records = {Record(7, "succeeded", Utc(2026, 11, 21, 2)),
                                       Record(6, "succeeded", Utc(2026, 11, 21, 1)),
                                       Record(5, "succeeded", Utc(2026, 11, 20, 2))};
  RetentionPolicy policy;
  policy.keep_last = 1;
  policy.keep_daily = 7;
  std::vector<RetentionDecision> plan = PlanRetention(records, policy, now, UtcZone());
  EXPECT_EQ(Find(plan, 7).reason, "kept: keep_last 1, daily 2026-11-21");
  EXPECT_EQ(Find(plan, 6).reason, "deleted: not selected by keep_last 1, keep_daily 7");
  EXPECT_EQ(Find(plan, 5).reason, "kept: daily 2026-11-20");
}

TEST(RetentionTest, TiesAreOrderedById) {
  std::time_t at = Utc(2026, 5, 1);
  std::vector<BackupRecord> records = {Record(1, "succeeded", at), Record(3, "succeeded", at),
                                       Record(2, "succeeded", at)};
  RetentionPolicy policy;
  policy.keep_last = 1;
  std::vector<RetentionDecision> plan = PlanRetention(records, policy, at, UtcZone());
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0].id, 3);
  EXPECT_EQ(plan[1].id, 2);
  EXPECT_EQ(plan[2].id, 1);
  EXPECT_EQ(Kept(plan), Ids{3});
}

TEST(RetentionTest, PeriodsFollowTheTimeZone) {
  // 03:00Z on the 21st is 22:00 on the 20th at UTC-5.
  std::vector<BackupRecord> records = {Record(2, "succeeded", Utc(2026, 11, 21, 12)),
                                       Record(1, "succeeded", Utc(2026, 11, 21, 3))};
  RetentionPolicy policy;
  policy.keep_daily = 2;
  std::time_t now = Utc(2026, 11, 22);
  std::vector<RetentionDecision> new_york =
      PlanRetention(records, policy, now, FixedZone(-5 * kHour));
  EXPECT_EQ(Kept(new_york), (Ids{1, 2}));
  EXPECT_EQ(Find(new_york, 1).reason, "kept: daily 2026-11-20");
  std::vector<RetentionDecision> utc = PlanRetention(records, policy, now, UtcZone());
  EXPECT_EQ(Kept(utc), Ids{2});
}

TEST(RetentionTest, IsoWeeksCrossYears) {
  RetentionPolicy policy;
  policy.keep_weekly = 10;
  std::vector<BackupRecord> records = {
      Record(1, "succeeded", Utc(2024, 12, 30)), Record(2, "succeeded", Utc(2025, 12, 31)),
      Record(3, "succeeded", Utc(2027, 1, 1)), Record(4, "succeeded", Utc(2027, 1, 4))};
  std::vector<RetentionDecision> plan = PlanRetention(records, policy, Utc(2027, 2, 1), UtcZone());
  EXPECT_EQ(Find(plan, 1).reason, "kept: weekly 2025-W01");
  EXPECT_EQ(Find(plan, 2).reason, "kept: weekly 2026-W01");
  EXPECT_EQ(Find(plan, 3).reason, "kept: weekly 2026-W53");
  EXPECT_EQ(Find(plan, 4).reason, "kept: weekly 2027-W01");
}

TEST(RetentionTest, OnlyFailuresAndNothing) {
  EXPECT_TRUE(PlanRetention({}, RetentionPolicy(), 0, UtcZone()).empty());
  RetentionPolicy policy;
  policy.keep_last = 1;
  std::vector<RetentionDecision> plan =
      PlanRetention({Record(1, "failed", 10), Record(2, "running", 20)}, policy, 100, UtcZone());
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].action, RetentionAction::kClean);
}

TEST(RetentionOptionsTest, ValidOptions) {
  RetentionPolicy empty = ParseRetentionOptions(json::Parse(R"({"format":"plain","foo":1})"));
  EXPECT_TRUE(empty.empty());
  RetentionPolicy policy = ParseRetentionOptions(json::Parse(
      R"({"keep_last":3,"keep_daily":7,"keep_weekly":4,"keep_monthly":12,"keep_yearly":2,)"
      R"("max_age":"30 days"})"));
  EXPECT_FALSE(policy.empty());
  EXPECT_EQ(policy.keep_last, 3);
  EXPECT_EQ(policy.keep_daily, 7);
  EXPECT_EQ(policy.keep_weekly, 4);
  EXPECT_EQ(policy.keep_monthly, 12);
  EXPECT_EQ(policy.keep_yearly, 2);
  EXPECT_EQ(policy.max_age_seconds, 30 * kDay);
  EXPECT_EQ(ParseRetentionOptions(json::Parse(R"({"keep_last":1.0})")).keep_last, 1);

  struct Case {
    const char* max_age;
    int64_t seconds;
  };
  const Case cases[] = {
      {R"("90 seconds")", 90},
      {R"("1 second")", 1},
      {R"("1 minute")", 60},
      {R"("5 minutes")", 300},
      {R"("12 hours")", 43200},
      {R"("1 day")", kDay},
      {R"("2 weeks")", 14 * kDay},
      {R"("1 month")", 30 * kDay},
      {R"("1 year")", 365 * kDay},
      {R"("3 years")", 3 * 365 * kDay},
      {R"(" 30  Days ")", 30 * kDay},
      {R"("30days")", 30 * kDay},
      {"86400", kDay},
      {"1", 1},
  };
  for (const Case& c : cases) {
    RetentionPolicy parsed =
        ParseRetentionOptions(json::Parse(std::string(R"({"max_age":)") + c.max_age + "}"));
    EXPECT_EQ(parsed.max_age_seconds, c.seconds) << c.max_age;
  }
}

TEST(RetentionOptionsTest, BadKeepCounts) {
  EXPECT_EQ(PolicyError(R"({"keep_last":-2})"),
            "job option \"keep_last\" must be an integer >= 1, not -2");
  EXPECT_EQ(PolicyError(R"({"keep_daily":0})"),
            "job option \"keep_daily\" must be an integer >= 1, not 0");
  EXPECT_EQ(PolicyError(R"({"keep_weekly":2.5})"),
            "job option \"keep_weekly\" must be an integer >= 1, not 2.5");
  EXPECT_EQ(PolicyError(R"({"keep_monthly":"3"})"),
            "job option \"keep_monthly\" must be an integer >= 1, not string");
  EXPECT_EQ(PolicyError(R"({"keep_yearly":null})"),
            "job option \"keep_yearly\" must be an integer >= 1, not null");
  EXPECT_EQ(PolicyError(R"({"keep_yearly":-1e300})"),
            "job option \"keep_yearly\" must be an integer >= 1, not -1e300");
  EXPECT_EQ(PolicyError(R"({"keep_last":3000000000})"),
            "job option \"keep_last\" must be at most 2147483647, not 3000000000");
}

TEST(RetentionOptionsTest, BadMaxAge) {
  for (const char* text :
       {R"("soon")", R"("0 days")", R"("-1 days")", R"("30")", R"("days")", R"("1 day 2 hours")",
        R"("1.5 days")", R"("30 fortnights")", R"("")", R"("99999999999999999 years")",
        R"("99999999999999999999999 seconds")"}) {
    EXPECT_EQ(
        PolicyError(std::string(R"({"max_age":)") + text + "}"),
        std::string("job option \"max_age\" must be an interval such as \"30 days\", not ") + text);
  }
  for (const char* text : {"0", "-5", "1.5"}) {
    EXPECT_EQ(
        PolicyError(std::string(R"({"max_age":)") + text + "}"),
        std::string("job option \"max_age\" must be an interval such as \"30 days\", not ") + text);
  }
  EXPECT_EQ(PolicyError(R"({"max_age":true})"),
            "job option \"max_age\" must be an interval such as \"30 days\", not boolean");
  try {
    ParseRetentionOptions(json::Parse(R"({"max_age":"soon"})"));
  } catch (const Error& error) {
    EXPECT_NE(error.hint().find("months (30 days)"), std::string::npos);
  }
  EXPECT_EQ(PolicyError("[]"), "job options must be a JSON object, not array");
}

// Durations fit PostgreSQL's intervals with room to spare: beyond 100 years
// make_interval wrapped around and backup_status compared ages with a
// negative rpo.
TEST(RetentionOptionsTest, DurationsAreAtMostOneHundredYears) {
  RetentionPolicy longest = ParseRetentionOptions(json::Parse(R"({"max_age":"100 years"})"));
  EXPECT_EQ(longest.max_age_seconds, kMaxDurationSeconds);
  EXPECT_EQ(ParseRetentionOptions(json::Parse(R"({"max_age":3153600000})")).max_age_seconds,
            kMaxDurationSeconds);
  for (const char* text :
       {R"("101 years")", R"("100000000000 years")", "3153600001", R"("5300 weeks")"}) {
    try {
      ParseRetentionOptions(json::Parse(std::string(R"({"max_age":)") + text + "}"));
      ADD_FAILURE() << text << " was accepted";
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kInvalidParameter);
      EXPECT_EQ(std::string(error.what()),
                std::string("job option \"max_age\" must be at most 100 years, not ") + text);
      EXPECT_NE(error.hint().find("3153600000 seconds"), std::string::npos);
    }
  }
}

TEST(RetentionOptionsTest, DurationText) {
  EXPECT_EQ(ParseDurationText("5 minutes"), 300);
  EXPECT_EQ(ParseDurationText(" 2 Hours "), 7200);
  EXPECT_EQ(ParseDurationText("0 seconds"), 0);
  EXPECT_EQ(ParseDurationText("5"), 0);
  EXPECT_EQ(ParseDurationText("5 ms"), 0);
  EXPECT_EQ(ParseDurationText("99999999999999999 years"), 0);
}

TEST(RetentionOptionsTest, DurationTextWritesTheLargestUnit) {
  EXPECT_EQ(DurationText(604800), "1 week");
  EXPECT_EQ(DurationText(7 * 86400 * 2), "2 weeks");
  EXPECT_EQ(DurationText(86400 * 3), "3 days");
  EXPECT_EQ(DurationText(365 * 86400), "1 year");
  EXPECT_EQ(DurationText(5400), "90 minutes");
  EXPECT_EQ(DurationText(3601), "3601 seconds");
  EXPECT_EQ(DurationText(1), "1 second");
  // What it writes reads back as the same number of seconds.
  for (int64_t seconds : {1LL, 59LL, 60LL, 3600LL, 90000LL, 604800LL, 31536000LL, 3153600000LL})
    EXPECT_EQ(ParseDurationText(DurationText(seconds)), seconds) << seconds;
}

}  // namespace
}  // namespace pgbak
