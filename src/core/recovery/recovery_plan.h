// recovery_plan.h: which base backup a point-in-time recovery starts from,
// checked against what the WAL archive holds (pgbak restore-cluster).
//
// Pure functions of what a storage listing and the base sets' manifests
// say, so that every rule is unit-tested: a base backup is usable when
// its manifest says its WAL was archived, and it fits a target when it
// ended before it (time: its manifest's finished_at, which is at or after
// the backup's real end, so the rule errs on the safe side; LSN: its end
// LSN). The archive's coverage from a base backup is its own WAL and then
// every segment after it without a gap, on its timeline or, when a later
// timeline's history file says it branched off after the base ended (a
// promotion), along that history up to the later timeline's newest
// segment; recovery_target_timeline names the timeline checked.
//
// What is checked, exactly (README, "Point-in-time recovery"):
//   - an LSN target: after the chosen base's end and before the end of
//     the archive's coverage (a record there is not in the archive);
//   - a time target: after the chosen base's finished_at and not in the
//     future; WAL holds commit times that only PostgreSQL reads, so
//     whether the archive reaches it is PostgreSQL's to say (it stops with
//     "recovery ended before configured recovery target was reached");
//   - an xid target: nothing beyond the base (no transaction can be placed
//     without reading WAL); the newest base is taken unless --base says.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace pgbak {

// RecoveryTargetKind is what a recovery stops at.
enum class RecoveryTargetKind { kLatest, kTime, kLsn, kXid };

// RecoveryTarget is a parsed --target-* option.
struct RecoveryTarget {
  RecoveryTargetKind kind = RecoveryTargetKind::kLatest;
  std::string text;     // as PostgreSQL will be given it
  int64_t time_us = 0;  // kTime: microseconds since 1970 UTC
  uint64_t lsn = 0;     // kLsn
};

// ParseRecoveryTarget reads --target-time (an ISO 8601 time with an explicit
// offset or Z, e.g. "2026-12-02 07:10:00.123+00", which pgbak and
// PostgreSQL then read as the same moment whatever the restored server's
// timezone), --target-lsn ("0/3000060"), --target-xid (a number) or
// --target latest. Throws kInvalidParameter naming what is wrong.
RecoveryTarget ParseRecoveryTarget(RecoveryTargetKind kind, const std::string& text);

// ParseUtcTime reads an ISO 8601 time with an offset ("2026-11-22T01:02:03.456Z",
// "2026-11-22 01:02:03+01:00") into microseconds since 1970; false if it is
// not one.
bool ParseUtcTime(const std::string& text, int64_t& time_us);

// FormatUtcTime renders microseconds since 1970 as "2026-11-22 01:02:03.456789+00".
std::string FormatUtcTime(int64_t time_us);

// BaseBackupInfo is one complete base set as its manifest describes it.
struct BaseBackupInfo {
  std::string key;  // the set directory
  std::string system_identifier;
  int64_t backup_id = 0;
  int64_t directory_id = 0;
  uint32_t timeline = 0;
  uint64_t start_lsn = 0;
  uint64_t end_lsn = 0;
  std::string finished_at;  // as the manifest says it
  int64_t finished_us = 0;
  std::string wal_first_segment;
  std::string wal_last_segment;
  bool wal_archived = false;
};

// TimelineSwitch is one line of a timeline history file: timeline ended
// at switch_lsn, where the next timeline of the history began.
struct TimelineSwitch {
  uint32_t timeline = 0;
  uint64_t switch_lsn = 0;
};

// ParseTimelineHistory reads a timeline history file as PostgreSQL writes
// it ("<parent TLI>\t<switch point LSN>\t<reason>" lines; blank lines and
// # comments skipped), oldest first; throws kCorrupt on a line that is not
// one or timelines that do not increase.
std::vector<TimelineSwitch> ParseTimelineHistory(const std::string& text);

// ArchiveCoverage is what the WAL archive of one cluster holds: the
// segment names (24 hex digits; no .partial, .backup or .history) per
// timeline, and the parsed history file of each timeline that has one.
struct ArchiveCoverage {
  std::map<uint32_t, std::set<std::string>> segments;
  std::map<uint32_t, std::vector<TimelineSwitch>> histories;
};

// DeduceSegmentSize finds the WAL segment size from the base backups'
// LSNs and segment names (a power of two from 1 MiB to 1 GiB): 16 MiB if
// it fits them all, else the only size that does; 0 if none or several.
uint64_t DeduceSegmentSize(const std::vector<BaseBackupInfo>& bases);

// FindBase finds the base set name names: a directory id or backup id
// (digits), or a set directory key; -1 if none. Throws kInvalidParameter
// when an id names several sets.
int FindBase(const std::vector<BaseBackupInfo>& bases, const std::string& name);

// RecoveryPlan is where a recovery starts and what the archive covers.
struct RecoveryPlan {
  size_t base = 0;                 // index into the bases given
  uint32_t timeline = 0;           // recovery_target_timeline: the base's, or a later one
  std::string covered_to_segment;  // the last segment recovery can reach ("" if unknown)
  uint64_t covered_to_lsn = 0;     // its end (0 if unknown)
  std::string coverage;            // one sentence for the user
};

// PlanRecovery picks the base for target: the one at base_index if >= 0,
// else the newest usable one (by end LSN) that ended before the target.
// The timeline recovered to is the newest whose history file descends
// from the base's timeline at or after the base's end (a promotion after
// the base backup), else the base's own: a timeline that branched off
// before the base ended, or has no history file, is not followed. The
// archive must then hold, without a gap, each timeline's segments from
// the base's first one to the next switch point, and on the last
// timeline up to its newest segment (for --target latest).
// segment_size 0 means unknown: gaps and LSN targets are then not checked
// against the archive (the coverage sentence says so). now_us is the
// current time. Throws kUndefinedObject when no base fits (the target is
// before the oldest usable base's end, or none is usable) or the target is
// past the archive's coverage or in the future, and kInvalidParameter for a
// given base that ended after the target; each message says what the
// storage holds.
RecoveryPlan PlanRecovery(const std::vector<BaseBackupInfo>& bases, const ArchiveCoverage& coverage,
                          uint64_t segment_size, const RecoveryTarget& target, int base_index,
                          int64_t now_us);

// RecoverySettings is what restore-cluster appends to postgresql.auto.conf:
// restore_command (given as argv, quoted for sh and for the configuration
// file; every % doubled but in the arguments that are exactly %f and %p), recovery_end_command
// removing wal-get's prefetch cache (pg_wal/pgbak_prefetch, whatever recovery did not use), every
// recovery target kind reset to '' (a copied postgresql.auto.conf may hold
// another recovery's target), recovery_target_inclusive = on,
// recovery_target_action = 'promote', then the target itself,
// recovery_target_timeline (timeline, or 'latest' if 0),
// pgbak.paused = on (the restored catalog is the source's: its launcher
// must not run the source's schedules, retention and cleanup); with
// archive_off, archive_mode = off.
std::string RecoverySettings(const std::vector<std::string>& restore_argv,
                             const RecoveryTarget& target, bool archive_off,
                             const std::string& comment, uint32_t timeline = 0);

// ShellQuote quotes one argument for sh ('...' with '\'' for quotes).
std::string ShellQuote(const std::string& arg);

// ConfQuote quotes a value for postgresql.conf ('...' with quotes doubled
// and backslashes doubled).
std::string ConfQuote(const std::string& value);

// ParseTablespaceMap reads a tablespace_map file ("<oid> <path>\n" lines,
// PostgreSQL 15 escaping \\, \n and \r in paths with a backslash) into
// oid -> path; throws kCorrupt on a line that is not one, or whose path is
// not absolute (the file comes from the backup: a relative path would
// land wherever restore-cluster runs).
std::map<std::string, std::string> ParseTablespaceMap(const std::string& text);

// MatchTablespaceObjects checks that the base backup's tablespace objects
// (their OIDs, from "<oid>.tar" names) and its tablespace_map name the
// same tablespaces; throws kCorrupt naming the first one without the
// other (a tablespace without its files would start as an empty
// directory, or not at all).
void MatchTablespaceObjects(const std::map<std::string, std::string>& map,
                            const std::vector<std::string>& object_oids);

// FormatTablespaceMap renders oid -> path as a tablespace_map file.
std::string FormatTablespaceMap(const std::map<std::string, std::string>& map);

}  // namespace pgbak
