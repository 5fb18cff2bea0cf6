// recovery_plan.cpp: see recovery_plan.h.
#include "core/recovery/recovery_plan.h"

#include <cctype>
#include <cstdio>
#include <ctime>

#include "core/archive/base_layout.h"
#include "core/base/error.h"
#include "core/wal/wal_get.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

constexpr uint64_t kDefaultSegmentSize = 16 << 20;

// Digits reads count decimal digits at text[at]; false if they are not.
bool Digits(const std::string& text, size_t at, size_t count, int& value) {
  if (text.size() < at + count)
    return false;
  value = 0;
  for (size_t i = at; i < at + count; i++) {
    if (!std::isdigit(static_cast<unsigned char>(text[i])))
      return false;
    value = value * 10 + (text[i] - '0');
  }
  return true;
}

// IsSegmentName says whether name is 24 uppercase hex digits.
bool IsSegmentName(const std::string& name) {
  if (name.size() != 24)
    return false;
  for (char c : name)
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
      return false;
  return true;
}

// SegmentNumber is a segment name's number (log * segments per log + seg).
uint64_t SegmentNumber(const std::string& name, uint64_t segment_size) {
  uint64_t log = std::stoull(name.substr(8, 8), nullptr, 16);
  uint64_t seg = std::stoull(name.substr(16, 8), nullptr, 16);
  return log * (0x100000000ULL / segment_size) + seg;
}

// SegmentName is the name of segment number on timeline.
std::string SegmentName(uint32_t timeline, uint64_t number, uint64_t segment_size) {
  return WalSegmentName(timeline, number * segment_size, segment_size);
}

// Describe names a base set for messages.
std::string Describe(const BaseBackupInfo& base) {
  return "base backup " + std::to_string(base.backup_id) + " (" + base.key + ", ended at LSN " +
         FormatLsn(base.end_lsn) + ", finished " + base.finished_at + ")";
}

}  // namespace

bool ParseUtcTime(const std::string& text, int64_t& time_us) {
  int year, month, day, hour, minute, second;
  if (!Digits(text, 0, 4, year) || text.size() < 19 || text[4] != '-' ||
      !Digits(text, 5, 2, month) || text[7] != '-' || !Digits(text, 8, 2, day) ||
      (text[10] != 'T' && text[10] != ' ') || !Digits(text, 11, 2, hour) || text[13] != ':' ||
      !Digits(text, 14, 2, minute) || text[16] != ':' || !Digits(text, 17, 2, second))
    return false;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
    return false;
  size_t at = 19;
  int64_t micros = 0;
  if (at < text.size() && text[at] == '.') {
    at++;
    int places = 0;
    while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at]))) {
      if (places < 6) {
        micros = micros * 10 + (text[at] - '0');
        places++;
      }
      at++;
    }
    if (places == 0)
      return false;
    for (; places < 6; places++)
      micros *= 10;
  }
  std::string zone = text.substr(at);
  int offset_minutes = 0;
  if (zone == "Z" || zone == " UTC" || zone == "UTC") {
    offset_minutes = 0;
  } else if (zone.size() >= 3 && (zone[0] == '+' || zone[0] == '-')) {
    int hours = 0, minutes = 0;
    if (!Digits(zone, 1, 2, hours))
      return false;
    if (zone.size() == 6 && zone[3] == ':') {
      if (!Digits(zone, 4, 2, minutes))
        return false;
    } else if (zone.size() == 5) {
      if (!Digits(zone, 3, 2, minutes))
        return false;
    } else if (zone.size() != 3) {
      return false;
    }
    if (hours > 15 || minutes > 59)
      return false;
    offset_minutes = (zone[0] == '-' ? -1 : 1) * (hours * 60 + minutes);
  } else {
    return false;
  }
  struct tm parts = {};
  parts.tm_year = year - 1900;
  parts.tm_mon = month - 1;
  parts.tm_mday = day;
  parts.tm_hour = hour;
  parts.tm_min = minute;
  time_t seconds = timegm(&parts);
  // timegm carries a day past the month's end (February 31st) into the
  // next month: such a date is no date. The seconds (60 for a leap
  // second) are added afterwards.
  struct tm back;
  if (gmtime_r(&seconds, &back) == nullptr || back.tm_year != year - 1900 ||
      back.tm_mon != month - 1 || back.tm_mday != day)
    return false;
  time_us = (static_cast<int64_t>(seconds) + second - offset_minutes * 60LL) * 1000000 + micros;
  return true;
}

std::string FormatUtcTime(int64_t time_us) {
  time_t seconds = static_cast<time_t>(time_us / 1000000);
  int64_t micros = time_us % 1000000;
  if (micros < 0) {
    micros += 1000000;
    seconds--;
  }
  struct tm parts;
  gmtime_r(&seconds, &parts);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02d %02d:%02d:%02d.%06lld+00", parts.tm_year + 1900,
                parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                static_cast<long long>(micros));
  return text;
}

RecoveryTarget ParseRecoveryTarget(RecoveryTargetKind kind, const std::string& text) {
  RecoveryTarget target;
  target.kind = kind;
  target.text = text;
  switch (kind) {
    case RecoveryTargetKind::kLatest:
      if (text != "latest")
        throw Error(ErrorKind::kInvalidParameter,
                    "--target takes \"latest\", not \"" + Printable(text) + "\"", "",
                    "For a point in time, give --target-time, --target-lsn or --target-xid.");
      break;
    case RecoveryTargetKind::kTime:
      if (!ParseUtcTime(text, target.time_us))
        throw Error(ErrorKind::kInvalidParameter,
                    "--target-time \"" + Printable(text) + "\" is not a time with its offset", "",
                    "Give it as 2026-12-02 07:10:00+00 (or with T, fractions of a second, Z or "
                    "+HH:MM), so that pgbak and PostgreSQL read the same moment.");
      break;
    case RecoveryTargetKind::kLsn:
      try {
        target.lsn = ParseLsn(text);
      } catch (const Error&) {
        throw Error(ErrorKind::kInvalidParameter,
                    "--target-lsn \"" + Printable(text) + "\" is not an LSN (such as 0/3000060)");
      }
      break;
    case RecoveryTargetKind::kXid:
      if (text.empty() || text.size() > 19 ||
          text.find_first_not_of("0123456789") != std::string::npos || std::stoull(text) < 3)
        throw Error(ErrorKind::kInvalidParameter,
                    "--target-xid \"" + Printable(text) + "\" is not a transaction id");
      break;
  }
  return target;
}

uint64_t DeduceSegmentSize(const std::vector<BaseBackupInfo>& bases) {
  std::vector<uint64_t> fitting;
  for (uint64_t size = 1 << 20; size <= (1ULL << 30); size <<= 1) {
    bool fits = !bases.empty();
    for (const BaseBackupInfo& base : bases) {
      if (base.end_lsn <= base.start_lsn || !IsSegmentName(base.wal_first_segment) ||
          !IsSegmentName(base.wal_last_segment) ||
          WalSegmentName(base.timeline, base.start_lsn, size) != base.wal_first_segment ||
          WalSegmentName(base.timeline, base.end_lsn - 1, size) != base.wal_last_segment) {
        fits = false;
        break;
      }
    }
    if (fits)
      fitting.push_back(size);
  }
  for (uint64_t size : fitting)
    if (size == kDefaultSegmentSize)
      return size;
  return fitting.size() == 1 ? fitting[0] : 0;
}

int FindBase(const std::vector<BaseBackupInfo>& bases, const std::string& name) {
  std::vector<int> found;
  bool digits = !name.empty() && name.size() <= 18 &&
                name.find_first_not_of("0123456789") == std::string::npos;
  if (digits) {
    int64_t id = std::stoll(name);
    for (size_t i = 0; i < bases.size(); i++)
      if (bases[i].directory_id == id)
        found.push_back(static_cast<int>(i));
    if (found.empty())
      for (size_t i = 0; i < bases.size(); i++)
        if (bases[i].backup_id == id)
          found.push_back(static_cast<int>(i));
  } else {
    std::string key = name;
    while (!key.empty() && key.back() == '/')
      key.pop_back();
    for (size_t i = 0; i < bases.size(); i++)
      if (bases[i].key == key)
        found.push_back(static_cast<int>(i));
  }
  if (found.size() > 1)
    throw Error(ErrorKind::kInvalidParameter,
                "--base " + Printable(name) + " names " + std::to_string(found.size()) +
                    " base backups (of different clusters)",
                "", "Name the base backup by its location, or add --cluster.");
  return found.empty() ? -1 : found[0];
}

RecoveryPlan PlanRecovery(const std::vector<BaseBackupInfo>& bases, const ArchiveCoverage& coverage,
                          uint64_t segment_size, const RecoveryTarget& target, int base_index,
                          int64_t now_us) {
  std::vector<size_t> usable;
  for (size_t i = 0; i < bases.size(); i++)
    if (bases[i].wal_archived && bases[i].end_lsn > bases[i].start_lsn)
      usable.push_back(i);
  if (usable.empty())
    throw Error(ErrorKind::kUndefinedObject,
                bases.empty() ? "the storage holds no base backup"
                              : "the storage holds no base backup whose WAL was archived",
                "", "Take one with pgbak_base_backup() on a server that archives its WAL.");
  // Oldest and newest by end LSN, for messages.
  size_t oldest = usable[0], newest = usable[0];
  for (size_t i : usable) {
    if (bases[i].end_lsn < bases[oldest].end_lsn)
      oldest = i;
    if (bases[i].end_lsn > bases[newest].end_lsn)
      newest = i;
  }
  auto ended_before = [&](const BaseBackupInfo& base) {
    switch (target.kind) {
      case RecoveryTargetKind::kTime:
        return base.finished_us <= target.time_us;
      case RecoveryTargetKind::kLsn:
        return base.end_lsn <= target.lsn;
      default:
        return true;
    }
  };
  if (target.kind == RecoveryTargetKind::kTime && target.time_us > now_us)
    throw Error(
        ErrorKind::kUndefinedObject,
        "--target-time " + target.text + " is in the future (now: " + FormatUtcTime(now_us) + ")",
        "", "Use --target latest to recover everything the archive holds.");
  size_t chosen;
  if (base_index >= 0) {
    chosen = static_cast<size_t>(base_index);
    if (chosen >= bases.size())
      throw Error(ErrorKind::kInternal, "base index out of range");
    const BaseBackupInfo& base = bases[chosen];
    if (!base.wal_archived)
      throw Error(ErrorKind::kInvalidParameter,
                  Describe(base) + " cannot be recovered from: its WAL was not archived");
    if (!ended_before(base))
      throw Error(ErrorKind::kInvalidParameter,
                  "the target " + target.text + " is before the end of " + Describe(base), "",
                  "Give an older --base, or leave --base out to take the newest one that fits.");
  } else {
    bool found = false;
    chosen = 0;
    for (size_t i : usable)
      if (ended_before(bases[i]) && (!found || bases[i].end_lsn > bases[chosen].end_lsn)) {
        chosen = i;
        found = true;
      }
    if (!found)
      throw Error(ErrorKind::kUndefinedObject,
                  "the target " + target.text + " is before the end of the oldest base backup",
                  "The oldest is " + Describe(bases[oldest]) + "; the newest is " +
                      Describe(bases[newest]) + ".",
                  "No recovery can reach a moment before a base backup ended.");
  }
  const BaseBackupInfo& base = bases[chosen];
  RecoveryPlan plan;
  plan.base = chosen;
  // The path of timelines recovery follows: the newest timeline whose
  // history descends from the base's timeline at or after its end.
  std::vector<TimelineSwitch> path;  // switches out of the base's timeline, and on
  std::string not_followed;
  plan.timeline = base.timeline;
  for (auto it = coverage.histories.rbegin(); it != coverage.histories.rend(); ++it) {
    const auto& [timeline, history] = *it;
    if (timeline <= base.timeline)
      break;
    size_t from = 0;
    while (from < history.size() && history[from].timeline != base.timeline)
      from++;
    if (from == history.size())
      continue;  // another branch
    bool valid = history.back().timeline < timeline;
    for (size_t i = from; i < history.size(); i++)
      if (history[i].switch_lsn < base.end_lsn ||
          (i > from && history[i].switch_lsn < history[i - 1].switch_lsn))
        valid = false;
    if (!valid) {
      if (not_followed.empty())
        not_followed = "; timeline " + std::to_string(timeline) +
                       (history[from].switch_lsn < base.end_lsn
                            ? " branched off at LSN " + FormatLsn(history[from].switch_lsn) +
                                  ", before the base backup ended,"
                            : "'s history file does not fit the base backup's timeline,") +
                       " and is not followed";
      continue;
    }
    path.assign(history.begin() + static_cast<std::ptrdiff_t>(from), history.end());
    plan.timeline = timeline;
    break;
  }
  if (segment_size == 0) {
    plan.coverage = "from " + Describe(base) +
                    "; the WAL segment size could not be told from the base backups, so the "
                    "archive's gaps and end were not checked";
    return plan;
  }
  // The base's own WAL, every segment of it, then on without a gap.
  static const std::set<std::string> kNone;
  auto names_of = [&](uint32_t timeline) -> const std::set<std::string>& {
    auto found = coverage.segments.find(timeline);
    return found == coverage.segments.end() ? kNone : found->second;
  };
  uint64_t first = SegmentNumber(base.wal_first_segment, segment_size);
  uint64_t last = SegmentNumber(base.wal_last_segment, segment_size);
  for (uint64_t n = first; n <= last; n++) {
    std::string name = SegmentName(base.timeline, n, segment_size);
    if (names_of(base.timeline).count(name) == 0)
      throw Error(ErrorKind::kUndefinedObject,
                  "the WAL archive lacks segment " + name + ", which " + Describe(base) + " needs",
                  "", "Give another --base, or restore the missing segment into the archive.");
  }
  // Each timeline of the path from its first segment (the one holding the
  // switch point into it, which recovery reads from the newer timeline) to
  // the one before the next switch point; the last one as far as it goes.
  uint64_t n = first;
  uint32_t timeline = base.timeline;
  std::string gap;
  bool gap_before_newer = false;
  std::string history_text;
  for (size_t leg = 0; leg <= path.size(); leg++) {
    if (leg > 0) {
      timeline = leg < path.size() ? path[leg].timeline : plan.timeline;
      history_text +=
          (history_text.empty() ? ", following timeline " + std::to_string(base.timeline)
                                : std::string()) +
          " to " + std::to_string(timeline) + " (at LSN " + FormatLsn(path[leg - 1].switch_lsn) +
          ")";
    }
    const std::set<std::string>& names = names_of(timeline);
    bool last_leg = leg == path.size();
    uint64_t until = last_leg ? UINT64_MAX : path[leg].switch_lsn / segment_size;
    for (; n < until; n++) {
      std::string name = SegmentName(timeline, n, segment_size);
      if (names.count(name) == 0) {
        if (!last_leg || (!names.empty() && *names.rbegin() > name)) {
          gap = name;
          gap_before_newer = true;
        }
        break;
      }
      plan.covered_to_segment = name;
    }
    if (n < until)
      break;
  }
  plan.covered_to_lsn = n * segment_size;
  plan.coverage =
      "the archive covers " + Describe(base) + " up to segment " + plan.covered_to_segment +
      " (LSN " + FormatLsn(plan.covered_to_lsn) + ")" + history_text +
      (gap_before_newer ? "; segment " + gap + " is missing, and newer ones cannot be reached"
                        : "") +
      not_followed;
  // Recovery to the latest would stop at the gap and open there, as if
  // nothing came after it.
  if (target.kind == RecoveryTargetKind::kLatest && gap_before_newer)
    throw Error(ErrorKind::kUndefinedObject,
                "the WAL archive has a gap: segment " + gap + " is missing", plan.coverage + ".",
                "Restore the missing segment into the archive, or give a target before it "
                "(--target-lsn below " +
                    FormatLsn(plan.covered_to_lsn) + ").");
  // A record that starts at the end of the coverage is not in it: the
  // target must be below (recovery stops once it replayed past the target).
  if (target.kind == RecoveryTargetKind::kLsn && target.lsn >= plan.covered_to_lsn)
    throw Error(ErrorKind::kUndefinedObject,
                "--target-lsn " + target.text + " is past the end of the WAL archive",
                plan.coverage + ".",
                "Wait until the server archived that far (pg_switch_wal() closes the current "
                "segment), or give an earlier target.");
  return plan;
}

std::vector<TimelineSwitch> ParseTimelineHistory(const std::string& text) {
  std::vector<TimelineSwitch> history;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos)
      end = text.size();
    std::string line = text.substr(at, end - at);
    at = end + 1;
    size_t begin = line.find_first_not_of(" \t\r");
    if (begin == std::string::npos || line[begin] == '#')
      continue;
    size_t digits = line.find_first_not_of("0123456789", begin);
    size_t lsn_at = digits == std::string::npos ? digits : line.find_first_not_of(" \t", digits);
    size_t lsn_end = lsn_at == std::string::npos ? lsn_at : line.find_first_of(" \t\r", lsn_at);
    TimelineSwitch entry;
    try {
      if (digits == begin || digits - begin > 10 || lsn_at == std::string::npos || lsn_at == digits)
        throw Error(ErrorKind::kCorrupt, "");
      uint64_t timeline = std::stoull(line.substr(begin, digits - begin));
      if (timeline < 1 || timeline > 0xFFFFFFFFULL)
        throw Error(ErrorKind::kCorrupt, "");
      entry.timeline = static_cast<uint32_t>(timeline);
      entry.switch_lsn = ParseLsn(line.substr(lsn_at, lsn_end - lsn_at));
    } catch (const Error&) {
      throw Error(
          ErrorKind::kCorrupt,
          "a timeline history file has a line that is not \"<timeline>\\t<LSN>\\t<reason>\": " +
              Printable(line));
    }
    if (!history.empty() && entry.timeline <= history.back().timeline)
      throw Error(ErrorKind::kCorrupt,
                  "a timeline history file's timelines do not increase: " + Printable(line));
    history.push_back(entry);
  }
  return history;
}

std::string ShellQuote(const std::string& arg) {
  bool plain = !arg.empty();
  for (char c : arg)
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string("/._-=:%+,@").find(c) == std::string::npos)
      plain = false;
  if (plain)
    return arg;
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

std::string ConfQuote(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'')
      out += "''";
    else if (c == '\\')
      out += "\\\\";
    else
      out += c;
  }
  return out + "'";
}

std::string RecoverySettings(const std::vector<std::string>& restore_argv,
                             const RecoveryTarget& target, bool archive_off,
                             const std::string& comment, uint32_t timeline) {
  std::string command;
  for (const std::string& arg : restore_argv) {
    if (arg.find_first_of("\n\r") != std::string::npos)
      throw Error(ErrorKind::kInvalidParameter,
                  "restore_command cannot hold a line break (in \"" + Printable(arg) + "\")");
    // PostgreSQL replaces %f, %p, %r and %% anywhere in restore_command:
    // a % of a path or URL is doubled, and only the arguments that are
    // exactly %f and %p are left for it.
    std::string literal;
    for (char c : arg)
      literal += c == '%' && arg != "%f" && arg != "%p" ? "%%" : std::string(1, c);
    command += (command.empty() ? "" : " ") + ShellQuote(literal);
  }
  std::string out = "\n# " + comment + "\n";
  out += "restore_command = " + ConfQuote(command) + "\n";
  out +=
      "recovery_end_command = " + ConfQuote(std::string("rm -rf pg_wal/") + kWalPrefetchDirectory) +
      "\n";
  // The copied postgresql.auto.conf may hold another recovery's target
  // (ALTER SYSTEM keeps it in a cluster that was itself restored): every
  // kind is reset first, because the last line of a setting is the one
  // PostgreSQL applies, and its assign hooks refuse two non-empty kinds
  // (and a reset after a set one); the chosen target comes last.
  out += "recovery_target = ''\n";
  out += "recovery_target_name = ''\n";
  out += "recovery_target_time = ''\n";
  out += "recovery_target_xid = ''\n";
  out += "recovery_target_lsn = ''\n";
  out += "recovery_target_inclusive = on\n";
  out += "recovery_target_action = 'promote'\n";
  switch (target.kind) {
    case RecoveryTargetKind::kTime:
      out += "recovery_target_time = " + ConfQuote(target.text) + "\n";
      break;
    case RecoveryTargetKind::kLsn:
      out += "recovery_target_lsn = " + ConfQuote(target.text) + "\n";
      break;
    case RecoveryTargetKind::kXid:
      out += "recovery_target_xid = " + ConfQuote(target.text) + "\n";
      break;
    case RecoveryTargetKind::kLatest:
      break;
  }
  out += "recovery_target_timeline = " +
         (timeline == 0 ? std::string("'latest'") : ConfQuote(std::to_string(timeline))) + "\n";
  // The catalog is a copy of the source's: its launcher runs none of the
  // source's schedules, retention or cleanup until someone decides that
  // this cluster lives on as its own (ALTER SYSTEM SET pgbak.paused = off).
  out += "pgbak.paused = on\n";
  if (archive_off)
    out += "archive_mode = off\n";
  return out;
}

std::map<std::string, std::string> ParseTablespaceMap(const std::string& text) {
  std::map<std::string, std::string> map;
  size_t at = 0;
  while (at < text.size()) {
    // A line ends at a newline that no backslash escapes.
    std::string line;
    bool ended = false;
    for (; at < text.size(); at++) {
      char c = text[at];
      if (c == '\\' && at + 1 < text.size()) {
        line += text[++at];
        continue;
      }
      if (c == '\n') {
        at++;
        ended = true;
        break;
      }
      line += c;
    }
    (void)ended;
    if (line.empty())
      continue;
    size_t space = line.find(' ');
    std::string oid = line.substr(0, space);
    if (space == std::string::npos || oid.empty() ||
        oid.find_first_not_of("0123456789") != std::string::npos || space + 1 >= line.size())
      throw Error(ErrorKind::kCorrupt,
                  "tablespace_map has a line that is not \"<oid> <path>\": " + Printable(line));
    std::string path = line.substr(space + 1);
    if (path[0] != '/')
      throw Error(ErrorKind::kCorrupt, "tablespace_map gives tablespace " + oid +
                                           " a path that is not absolute: " + Printable(path));
    map[oid] = path;
  }
  return map;
}

void MatchTablespaceObjects(const std::map<std::string, std::string>& map,
                            const std::vector<std::string>& object_oids) {
  std::set<std::string> objects(object_oids.begin(), object_oids.end());
  for (const std::string& oid : object_oids)
    if (oid.empty() || oid.find_first_not_of("0123456789") != std::string::npos ||
        map.count(oid) == 0)
      throw Error(ErrorKind::kCorrupt, "the base backup holds tablespace object " + Printable(oid) +
                                           ".tar that its tablespace_map does not name");
  for (const auto& [oid, path] : map)
    if (objects.count(oid) == 0)
      throw Error(ErrorKind::kCorrupt, "the base backup's tablespace_map names tablespace " + oid +
                                           " (" + Printable(path) +
                                           "), but the backup holds no files of it");
}

std::string FormatTablespaceMap(const std::map<std::string, std::string>& map) {
  std::string out;
  for (const auto& [oid, path] : map) {
    out += oid + " ";
    for (char c : path) {
      if (c == '\n' || c == '\r' || c == '\\')
        out += '\\';
      out += c;
    }
    out += "\n";
  }
  return out;
}

}  // namespace pgbak
