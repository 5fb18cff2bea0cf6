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
  EXPECT_EQ(Refusal(f, Target(RecoveryTargetKind::kLsn, "0/D000000")), "");
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
  // A later timeline is followed to its newest segment.
  f.coverage.segments[2].insert("000000020000000000000014");
  plan = PlanRecovery(f.bases, f.coverage, kSeg, Target(RecoveryTargetKind::kLatest, "latest"), 0,
                      f.now);
  EXPECT_EQ(plan.covered_to_segment, "000000020000000000000014");
  EXPECT_EQ(plan.covered_to_lsn, 0x15 * kSeg);
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
  EXPECT_EQ(text.find("recovery_target_"), text.find("recovery_target_timeline"));
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

}  // namespace
}  // namespace pgbak
