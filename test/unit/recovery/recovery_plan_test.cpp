// recovery_plan_test.cpp: which base backup a point-in-time recovery
// starts from: the newest that ended before the target, or the one
// --base names; refusals for a target before the oldest base, past the
// archive's end, in the future, a base whose WAL is missing or was never
// archived, a gap before the newest segment; and the settings written for
// PostgreSQL.
#include "core/recovery/recovery_plan.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/archive/base_layout.h"
#include "core/base/error.h"

namespace pgbak {
namespace {

constexpr uint64_t kSeg = 16 << 20;

int64_t Time(const std::string& text) {
  int64_t us = 0;
  EXPECT_TRUE(ParseUtcTime(text, us)) << text;
  return us;
}

// Base is a base backup on timeline 1 from start to end.
BaseBackupInfo Base(int64_t id, const std::string& start, const std::string& end,
                    const std::string& finished) {
  BaseBackupInfo base;
  base.key = "7301/base/20261201T000000Z-" + std::to_string(id);
  base.system_identifier = "7301";
  base.backup_id = base.directory_id = id;
  base.timeline = 1;
  base.start_lsn = ParseLsn(start);
  base.end_lsn = ParseLsn(end);
  base.finished_at = finished;
  base.finished_us = Time(finished);
  base.wal_first_segment = WalSegmentName(1, base.start_lsn, kSeg);
  base.wal_last_segment = WalSegmentName(1, base.end_lsn - 1, kSeg);
  base.wal_archived = true;
  return base;
}

// Archive holds segments first..last (numbers) of timeline 1.
ArchiveCoverage Archive(uint64_t first, uint64_t last) {
  ArchiveCoverage coverage;
  for (uint64_t n = first; n <= last; n++)
    coverage.segments[1].insert(WalSegmentName(1, n * kSeg, kSeg));
  return coverage;
}

struct Fixture {
  // Base 10 covers segments 2..3, base 20 segments 8..8; the archive 2..12.
  std::vector<BaseBackupInfo> bases = {
      Base(10, "0/2000028", "0/3000100", "2026-12-01T10:00:00.000Z"),
      Base(20, "0/8000028", "0/8000200", "2026-12-01T12:00:00.000Z")};
  ArchiveCoverage coverage = Archive(2, 12);
  int64_t now = Time("2026-12-01T15:00:00Z");
};

RecoveryTarget Target(RecoveryTargetKind kind, const std::string& text) {
  return ParseRecoveryTarget(kind, text);
}

// Refusal is the message of a refused plan ("" if it was not refused).
std::string Refusal(const Fixture& f, const RecoveryTarget& target, int base = -1,
                    ErrorKind kind = ErrorKind::kUndefinedObject) {
  try {
    PlanRecovery(f.bases, f.coverage, kSeg, target, base, f.now);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    return std::string(e.what()) + " | " + e.detail();
  }
  return "";
}

TEST(ParseRecoveryTarget, Forms) {
  EXPECT_EQ(Target(RecoveryTargetKind::kLsn, "0/3000060").lsn, 0x3000060u);
  EXPECT_EQ(Target(RecoveryTargetKind::kTime, "2026-12-01 10:00:00+01").time_us,
            Time("2026-12-01T09:00:00Z"));
  EXPECT_EQ(Target(RecoveryTargetKind::kTime, "2026-12-01T10:00:00.5-02:30").time_us,
            Time("2026-12-01 12:30:00.500000+00"));
  EXPECT_EQ(Target(RecoveryTargetKind::kXid, "1234").text, "1234");
  EXPECT_THROW(Target(RecoveryTargetKind::kTime, "2026-12-01 10:00:00"), Error);  // no offset
  EXPECT_THROW(Target(RecoveryTargetKind::kTime, "yesterday"), Error);
  EXPECT_THROW(Target(RecoveryTargetKind::kLsn, "3000060"), Error);
  EXPECT_THROW(Target(RecoveryTargetKind::kXid, "12a"), Error);
  EXPECT_THROW(Target(RecoveryTargetKind::kLatest, "newest"), Error);
  EXPECT_EQ(FormatUtcTime(Time("2026-12-01T10:00:00.25Z")), "2026-12-01 10:00:00.250000+00");
}

TEST(ParseUtcTime, RefusesDaysPastTheMonthsEnd) {
  int64_t us = 0;
  EXPECT_FALSE(ParseUtcTime("2026-02-31 10:00:00+00", us));
  EXPECT_FALSE(ParseUtcTime("2026-02-29 10:00:00+00", us));
  EXPECT_FALSE(ParseUtcTime("2026-04-31T10:00:00Z", us));
  EXPECT_TRUE(ParseUtcTime("2028-02-29 10:00:00+00", us));
  EXPECT_EQ(FormatUtcTime(us), "2028-02-29 10:00:00.000000+00");
  EXPECT_TRUE(ParseUtcTime("2026-12-31 23:59:60+00", us)) << "a leap second";
  EXPECT_EQ(FormatUtcTime(us), "2027-01-01 00:00:00.000000+00");
  EXPECT_THROW(ParseRecoveryTarget(RecoveryTargetKind::kTime, "2026-02-31 10:00:00+00"), Error);
}

TEST(DeduceSegmentSize, FromTheBases) {
  Fixture f;
  EXPECT_EQ(DeduceSegmentSize(f.bases), kSeg);
  BaseBackupInfo odd = f.bases[0];
  odd.wal_first_segment = WalSegmentName(1, odd.start_lsn, 64 << 20);
  odd.wal_last_segment = WalSegmentName(1, odd.end_lsn - 1, 64 << 20);
  EXPECT_EQ(DeduceSegmentSize({odd}), 0u) << "several sizes fit segment 0";
  odd = Base(1, "1/2000028", "1/4000100", "2026-12-01T10:00:00Z");
  odd.wal_first_segment = WalSegmentName(1, odd.start_lsn, 1 << 20);
  odd.wal_last_segment = WalSegmentName(1, odd.end_lsn - 1, 1 << 20);
  EXPECT_EQ(DeduceSegmentSize({odd}), 1u << 20);
  EXPECT_EQ(DeduceSegmentSize({}), 0u);
}

TEST(PlanRecovery, PicksTheNewestBaseBeforeTheTarget) {
  Fixture f;
  EXPECT_EQ(PlanRecovery(f.bases, f.coverage, kSeg, Target(RecoveryTargetKind::kLatest, "latest"),
                         -1, f.now)
                .base,
            1u);
  EXPECT_EQ(PlanRecovery(f.bases, f.coverage, kSeg,
                         Target(RecoveryTargetKind::kTime, "2026-12-01 11:00:00+00"), -1, f.now)
                .base,
            0u);
  EXPECT_EQ(PlanRecovery(f.bases, f.coverage, kSeg,
                         Target(RecoveryTargetKind::kTime, "2026-12-01 12:00:00+00"), -1, f.now)
                .base,
            1u);
  EXPECT_EQ(PlanRecovery(f.bases, f.coverage, kSeg, Target(RecoveryTargetKind::kLsn, "0/5000000"),
                         -1, f.now)
                .base,
            0u);
  RecoveryPlan plan = PlanRecovery(f.bases, f.coverage, kSeg,
                                   Target(RecoveryTargetKind::kLsn, "0/9000000"), -1, f.now);
  EXPECT_EQ(plan.base, 1u);
  EXPECT_EQ(plan.covered_to_segment, "00000001000000000000000C");
  EXPECT_EQ(plan.covered_to_lsn, 13 * kSeg);
  EXPECT_NE(plan.coverage.find("base backup 20"), std::string::npos) << plan.coverage;
  // An xid: the newest base (nothing places it without reading WAL).
  EXPECT_EQ(
      PlanRecovery(f.bases, f.coverage, kSeg, Target(RecoveryTargetKind::kXid, "900"), -1, f.now)
          .base,
      1u);
}

TEST(PlanRecovery, BaseGiven) {
  Fixture f;
  EXPECT_EQ(PlanRecovery(f.bases, f.coverage, kSeg, Target(RecoveryTargetKind::kLatest, "latest"),
                         0, f.now)
                .base,
            0u);
  std::string refused =
      Refusal(f, Target(RecoveryTargetKind::kLsn, "0/5000000"), 1, ErrorKind::kInvalidParameter);
  EXPECT_NE(refused.find("before the end of base backup 20"), std::string::npos) << refused;
  EXPECT_EQ(FindBase(f.bases, "20"), 1);
  EXPECT_EQ(FindBase(f.bases, "7301/base/20261201T000000Z-10/"), 0);
  EXPECT_EQ(FindBase(f.bases, "30"), -1);
  f.bases[1].backup_id = 10;  // a copy: its directory id is its own
  f.bases[1].directory_id = 11;
  EXPECT_EQ(FindBase(f.bases, "11"), 1);
  f.bases[1].directory_id = 10;
  EXPECT_THROW(FindBase(f.bases, "10"), Error);
}

TEST(PlanRecovery, RefusesTargetsBeforeTheOldestBase) {
  Fixture f;
  std::string refused = Refusal(f, Target(RecoveryTargetKind::kTime, "2026-12-01 09:59:59+00"));
  EXPECT_NE(refused.find("before the end of the oldest base backup"), std::string::npos) << refused;
  EXPECT_NE(refused.find("base backup 10"), std::string::npos) << refused;
  refused = Refusal(f, Target(RecoveryTargetKind::kLsn, "0/3000000"));
  EXPECT_NE(refused.find("before the end of the oldest"), std::string::npos) << refused;
  // A base whose WAL was never archived does not count.
  f.bases[0].wal_archived = false;
  refused = Refusal(f, Target(RecoveryTargetKind::kLsn, "0/5000000"));
  EXPECT_NE(refused.find("oldest"), std::string::npos) << refused;
  f.bases[1].wal_archived = false;
  refused = Refusal(f, Target(RecoveryTargetKind::kLatest, "latest"));
  EXPECT_NE(refused.find("no base backup whose WAL was archived"), std::string::npos) << refused;
}

TEST(PlanRecovery, RefusesTargetsPastTheArchive) {
  Fixture f;
  std::string refused = Refusal(f, Target(RecoveryTargetKind::kLsn, "0/D000001"));
  EXPECT_NE(refused.find("past the end of the WAL archive"), std::string::npos) << refused;
  EXPECT_NE(refused.find("up to segment 00000001000000000000000C"), std::string::npos) << refused;
  // Exactly the end of the archive: the record there is not in it, and
  // recovery would end FATAL before reaching the target.
  refused = Refusal(f, Target(RecoveryTargetKind::kLsn, "0/D000000"));
  EXPECT_NE(refused.find("past the end of the WAL archive"), std::string::npos) << refused;
  EXPECT_EQ(Refusal(f, Target(RecoveryTargetKind::kLsn, "0/CFFFFFF")), "");
  refused = Refusal(f, Target(RecoveryTargetKind::kTime, "2026-12-01 15:00:01+00"));
  EXPECT_NE(refused.find("in the future"), std::string::npos) << refused;
}

TEST(PlanRecovery, GapsAndMissingWal) {
  Fixture f;
  f.coverage.segments[1].erase("000000010000000000000008");
  std::string refused = Refusal(f, Target(RecoveryTargetKind::kLatest, "latest"));
  EXPECT_NE(refused.find("lacks segment 000000010000000000000008"), std::string::npos) << refused;
  // With base 10, segment 8 is a gap: latest would stop there.
  refused = Refusal(f, Target(RecoveryTargetKind::kLatest, "latest"), 0);
  EXPECT_NE(refused.find("gap: segment 000000010000000000000008"), std::string::npos) << refused;
  RecoveryPlan plan = PlanRecovery(f.bases, f.coverage, kSeg,
                                   Target(RecoveryTargetKind::kLsn, "0/6000000"), -1, f.now);
  EXPECT_EQ(plan.covered_to_segment, "000000010000000000000007");
  refused = Refusal(f, Target(RecoveryTargetKind::kLsn, "0/8000001"));
  EXPECT_NE(refused.find("past the end"), std::string::npos) << refused;
  // A later timeline without a history file is no continuation: the gap
  // still stops recovery to the latest.
  f.coverage.segments[2].insert("000000020000000000000014");
  refused = Refusal(f, Target(RecoveryTargetKind::kLatest, "latest"), 0);
  EXPECT_NE(refused.find("gap: segment 000000010000000000000008"), std::string::npos) << refused;
  // Nor is one whose history says it branched off before base 10 ended.
  f.coverage.histories[2] = ParseTimelineHistory("1\t0/3000000\tno recovery target specified\n");
  refused = Refusal(f, Target(RecoveryTargetKind::kLatest, "latest"), 0);
  EXPECT_NE(refused.find("gap: segment 000000010000000000000008"), std::string::npos) << refused;
  // One that branched off after it is followed, and must hold its WAL
  // from the switch point on.
  f.coverage.histories[2] = ParseTimelineHistory("1\t0/4000000\tno recovery target specified\n");
  refused = Refusal(f, Target(RecoveryTargetKind::kLatest, "latest"), 0);
  EXPECT_NE(refused.find("gap: segment 000000020000000000000004"), std::string::npos) << refused;
}

// Timelines is the fixture's archive with timeline 2 branching off
// timeline 1 at switch_lsn and holding segments first..last.
Fixture Timelines(const std::string& switch_lsn, uint64_t first, uint64_t last) {
  Fixture f;
  f.coverage.histories[2] =
      ParseTimelineHistory("1\t" + switch_lsn + "\tno recovery target specified\n");
  for (uint64_t n = first; n <= last; n++)
    f.coverage.segments[2].insert(WalSegmentName(2, n * kSeg, kSeg));
  return f;
}

TEST(PlanRecovery, FollowsATimelineThatBranchedAfterTheBase) {
  // Timeline 1 holds 2..12; timeline 2 began at 0/A000100 (in segment 10).
  Fixture f = Timelines("0/A000100", 10, 20);
  RecoveryPlan plan = PlanRecovery(f.bases, f.coverage, kSeg,
                                   Target(RecoveryTargetKind::kLatest, "latest"), -1, f.now);
  EXPECT_EQ(plan.base, 1u);
  EXPECT_EQ(plan.timeline, 2u);
  EXPECT_EQ(plan.covered_to_segment, "000000020000000000000014");
  EXPECT_EQ(plan.covered_to_lsn, 0x15 * kSeg);
  EXPECT_NE(plan.coverage.find("following timeline 1 to 2 (at LSN 0/A000100)"), std::string::npos)
      << plan.coverage;
  // From the older base too; segments 10..12 of timeline 1 are not needed.
  f.coverage.segments[1].erase("00000001000000000000000B");
  plan = PlanRecovery(f.bases, f.coverage, kSeg, Target(RecoveryTargetKind::kLatest, "latest"), 0,
                      f.now);
  EXPECT_EQ(plan.timeline, 2u);
  EXPECT_EQ(plan.covered_to_segment, "000000020000000000000014");
  EXPECT_EQ(Refusal(f, Target(RecoveryTargetKind::kLsn, "0/14000000")), "");
  // A branch exactly at the base's end is after it.
  f = Timelines("0/8000200", 8, 9);
  plan = PlanRecovery(f.bases, f.coverage, kSeg, Target(RecoveryTargetKind::kLatest, "latest"), -1,
                      f.now);
  EXPECT_EQ(plan.timeline, 2u);
  EXPECT_EQ(plan.covered_to_segment, "000000020000000000000009");
}

TEST(PlanRecovery, IgnoresATimelineThatBranchedBeforeTheBaseEnded) {
  // Timeline 2 began at 0/8000100, before base 20 ended (0/8000200).
  Fixture f = Timelines("0/8000100", 8, 20);
  RecoveryPlan plan = PlanRecovery(f.bases, f.coverage, kSeg,
                                   Target(RecoveryTargetKind::kLatest, "latest"), -1, f.now);
  EXPECT_EQ(plan.base, 1u);
  EXPECT_EQ(plan.timeline, 1u) << "pinned to the base's timeline, not 'latest'";
  EXPECT_EQ(plan.covered_to_segment, "00000001000000000000000C");
  EXPECT_NE(plan.coverage.find("timeline 2 branched off at LSN 0/8000100"), std::string::npos)
      << plan.coverage;
  std::string refused = Refusal(f, Target(RecoveryTargetKind::kLsn, "0/E000000"));
  EXPECT_NE(refused.find("past the end"), std::string::npos) << refused;
  // From base 10 it is a valid branch.
  plan = PlanRecovery(f.bases, f.coverage, kSeg, Target(RecoveryTargetKind::kLatest, "latest"), 0,
                      f.now);
  EXPECT_EQ(plan.timeline, 2u);
  EXPECT_EQ(plan.covered_to_segment, "000000020000000000000014");
  // A history whose switch points go backwards fits nothing.
  f = Timelines("0/A000100", 10, 20);
  f.coverage.histories[3] = ParseTimelineHistory("1\t0/A000100\tx\n2\t0/9000000\tx\n");
  f.coverage.segments[3].insert("000000030000000000000015");
  plan = PlanRecovery(f.bases, f.coverage, kSeg, Target(RecoveryTargetKind::kLatest, "latest"), -1,
                      f.now);
  EXPECT_EQ(plan.timeline, 2u);
  EXPECT_NE(plan.coverage.find("timeline 3's history file does not fit"), std::string::npos)
      << plan.coverage;
  // Without any later timeline, the base's own.
  f = Fixture();
  EXPECT_EQ(PlanRecovery(f.bases, f.coverage, kSeg, Target(RecoveryTargetKind::kLatest, "latest"),
                         -1, f.now)
                .timeline,
            1u);
}

TEST(PlanRecovery, RefusesAGapBeforeTheSwitchPoint) {
  Fixture f = Timelines("0/A000100", 10, 20);
  f.coverage.segments[1].erase("000000010000000000000009");
  std::string refused = Refusal(f, Target(RecoveryTargetKind::kLatest, "latest"));
  EXPECT_NE(refused.find("gap: segment 000000010000000000000009 is missing"), std::string::npos)
      << refused;
  EXPECT_NE(refused.find("up to segment 000000010000000000000008"), std::string::npos) << refused;
  refused = Refusal(f, Target(RecoveryTargetKind::kLsn, "0/C000000"));
  EXPECT_NE(refused.find("past the end"), std::string::npos) << refused;
  EXPECT_EQ(Refusal(f, Target(RecoveryTargetKind::kLsn, "0/8FFFFFF")), "");
  // A gap on the later timeline, before its newest segment.
  f = Timelines("0/A000100", 10, 20);
  f.coverage.segments[2].erase("00000002000000000000000F");
  refused = Refusal(f, Target(RecoveryTargetKind::kLatest, "latest"));
  EXPECT_NE(refused.find("gap: segment 00000002000000000000000F"), std::string::npos) << refused;
  // Timeline 2's first segment is read from timeline 2: timeline 1's is
  // not enough.
  f = Timelines("0/A000100", 11, 20);
  refused = Refusal(f, Target(RecoveryTargetKind::kLatest, "latest"));
  EXPECT_NE(refused.find("gap: segment 00000002000000000000000A"), std::string::npos) << refused;
}

TEST(ParseTimelineHistory, AsPostgreSQLWritesIt) {
  std::vector<TimelineSwitch> history = ParseTimelineHistory(
      "1\t0/3000158\tno recovery target specified\n\n# comment\n"
      "2\t1/A0000000\tat restore point \"x\"\n");
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].timeline, 1u);
  EXPECT_EQ(history[0].switch_lsn, 0x3000158u);
  EXPECT_EQ(history[1].timeline, 2u);
  EXPECT_EQ(history[1].switch_lsn, 0x1A0000000u);
  EXPECT_TRUE(ParseTimelineHistory("").empty());
  EXPECT_THROW(ParseTimelineHistory("x\t0/1\n"), Error);
  EXPECT_THROW(ParseTimelineHistory("1\tnot-an-lsn\n"), Error);
  EXPECT_THROW(ParseTimelineHistory("1\n"), Error);
  EXPECT_THROW(ParseTimelineHistory("2\t0/1\tx\n1\t0/2\tx\n"), Error);
}

TEST(RecoverySettings, DoublesPercentSigns) {
  // PostgreSQL would replace %p in the path and %r in the URL.
  std::string text = RecoverySettings(
      {"/opt/100%pg/pgbak", "wal-get", "%f", "%p", "--storage", "s3://b/a%20b%r%%", "--x", "%f%p"},
      Target(RecoveryTargetKind::kLatest, "latest"), false, "x");
  EXPECT_NE(text.find("restore_command = '/opt/100%%pg/pgbak wal-get %f %p --storage "
                      "s3://b/a%%20b%%r%%%% --x %%f%%p'\n"),
            std::string::npos)
      << text;
}

TEST(RecoverySettings, PinsTheTimeline) {
  std::string text =
      RecoverySettings({"pgbak"}, Target(RecoveryTargetKind::kLatest, "latest"), false, "x", 3);
  EXPECT_NE(text.find("recovery_target_timeline = '3'\n"), std::string::npos) << text;
}

TEST(RecoverySettings, QuotedForShellAndConfig) {
  std::string text = RecoverySettings(
      {"/usr/bin/pgbak", "wal-get", "%f", "%p", "--storage", "file:///b k/o'k"},
      Target(RecoveryTargetKind::kTime, "2026-12-01 11:00:00+00"), false, "by pgbak");
  EXPECT_NE(text.find("restore_command = '/usr/bin/pgbak wal-get %f %p --storage ''file:///b "
                      "k/o''\\\\''''k'''\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("recovery_target_time = '2026-12-01 11:00:00+00'\n"), std::string::npos);
  EXPECT_NE(text.find("recovery_end_command = 'rm -rf pg_wal/pgbak_prefetch'\n"),
            std::string::npos);
  EXPECT_NE(text.find("recovery_target_action = 'promote'\n"), std::string::npos);
  EXPECT_EQ(text.find("archive_mode"), std::string::npos);
  EXPECT_NE(text.find("pgbak.paused = on\n"), std::string::npos);
  text = RecoverySettings({"pgbak"}, Target(RecoveryTargetKind::kLatest, "latest"), true, "x");
  EXPECT_NE(text.find("archive_mode = off\n"), std::string::npos);
  EXPECT_THROW(RecoverySettings({"a\nb"}, Target(RecoveryTargetKind::kLatest, "latest"), false, ""),
               Error);
}

// Lines of text that set name, in order.
std::vector<std::string> Settings(const std::string& text, const std::string& name) {
  std::vector<std::string> values;
  size_t at = 0;
  while ((at = text.find("\n" + name + " = ", at)) != std::string::npos) {
    at += name.size() + 4;
    values.push_back(text.substr(at, text.find('\n', at) - at));
  }
  return values;
}

TEST(RecoverySettings, ResetsEveryTargetKindBeforeTheChosenOne) {
  // A copied postgresql.auto.conf may set another recovery's target: every
  // kind is reset (the last line wins), and the chosen one is set after
  // all resets (PostgreSQL refuses a reset after another kind was set).
  const char* kinds[] = {"recovery_target", "recovery_target_name", "recovery_target_time",
                         "recovery_target_xid", "recovery_target_lsn"};
  std::string text =
      RecoverySettings({"pgbak"}, Target(RecoveryTargetKind::kLsn, "0/3000060"), false, "x");
  for (const char* kind : kinds) {
    ASSERT_FALSE(Settings(text, kind).empty()) << kind << " in\n" << text;
    EXPECT_EQ(Settings(text, kind).front(), "''") << kind << " in\n" << text;
  }
  EXPECT_EQ(Settings(text, "recovery_target_lsn"), (std::vector<std::string>{"''", "'0/3000060'"}));
  EXPECT_GT(text.find("recovery_target_lsn = '0/3000060'"), text.find("recovery_target_xid = ''"));
  EXPECT_EQ(Settings(text, "recovery_target_inclusive"), (std::vector<std::string>{"on"}));
  EXPECT_EQ(Settings(text, "recovery_target_action"), (std::vector<std::string>{"'promote'"}));
  text = RecoverySettings({"pgbak"}, Target(RecoveryTargetKind::kLatest, "latest"), false, "x");
  for (const char* kind : kinds)
    EXPECT_EQ(Settings(text, kind), (std::vector<std::string>{"''"})) << kind << " in\n" << text;
  text = RecoverySettings({"pgbak"}, Target(RecoveryTargetKind::kXid, "900"), false, "x");
  EXPECT_EQ(Settings(text, "recovery_target_xid"), (std::vector<std::string>{"''", "'900'"}));
  EXPECT_GT(text.find("recovery_target_xid = '900'"), text.find("recovery_target_lsn = ''"));
  text = RecoverySettings({"pgbak"}, Target(RecoveryTargetKind::kTime, "2026-12-01 11:00:00+00"),
                          false, "x");
  EXPECT_EQ(Settings(text, "recovery_target_time"),
            (std::vector<std::string>{"''", "'2026-12-01 11:00:00+00'"}));
  EXPECT_GT(text.find("recovery_target_time = '2026"), text.find("recovery_target_lsn = ''"));
}

TEST(RecoverySettings, ArchiveOffAndLineBreaks) {
  std::string text =
      RecoverySettings({"pgbak"}, Target(RecoveryTargetKind::kLatest, "latest"), true, "x");
  EXPECT_NE(text.find("archive_mode = off\n"), std::string::npos);
  EXPECT_THROW(RecoverySettings({"a\nb"}, Target(RecoveryTargetKind::kLatest, "latest"), false, ""),
               Error);
}

TEST(TablespaceMap, RoundTripWithEscapes) {
  std::map<std::string, std::string> map = {{"16385", "/srv/ts one"}, {"16386", "/srv/a\nb\\c"}};
  std::string text = FormatTablespaceMap(map);
  EXPECT_EQ(text, "16385 /srv/ts one\n16386 /srv/a\\\nb\\\\c\n");
  EXPECT_EQ(ParseTablespaceMap(text), map);
  EXPECT_THROW(ParseTablespaceMap("x /srv\n"), Error);
  EXPECT_TRUE(ParseTablespaceMap("").empty());
}

TEST(TablespaceMap, PathsMustBeAbsolute) {
  // From the (untrusted) backup: a relative path would be resolved
  // wherever restore-cluster runs.
  for (const char* text : {"16385 srv/ts\n", "16385 ../../etc\n", "16385 pg_tblspc/16385\n"}) {
    try {
      ParseTablespaceMap(text);
      ADD_FAILURE() << "accepted " << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kCorrupt);
      EXPECT_NE(std::string(e.what()).find("not absolute"), std::string::npos) << e.what();
    }
  }
}

TEST(TablespaceMap, EveryEntryHasItsObjectAndEveryObjectItsEntry) {
  std::map<std::string, std::string> map = {{"16385", "/srv/a"}, {"16386", "/srv/b"}};
  EXPECT_NO_THROW(MatchTablespaceObjects(map, {"16386", "16385"}));
  EXPECT_NO_THROW(MatchTablespaceObjects({}, {}));
  try {
    MatchTablespaceObjects(map, {"16385"});
    ADD_FAILURE() << "a map entry without its object was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("tablespace 16386 (/srv/b)"), std::string::npos)
        << e.what();
  }
  try {
    MatchTablespaceObjects(map, {"16385", "16386", "16387"});
    ADD_FAILURE() << "an object without its map entry was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("16387.tar"), std::string::npos) << e.what();
  }
  EXPECT_THROW(MatchTablespaceObjects(map, {"16385", "16386", "x"}), Error);
}

}  // namespace
}  // namespace pgbak
