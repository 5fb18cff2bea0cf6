// set_layout.cpp: the directory key of a backup set and UTC timestamps.
//
// Set directories sort by time within a database because the timestamp
// comes first and has a fixed width; the backup id after it keeps two sets
// started in the same second apart.
#include "core/archive/set_layout.h"

#include <time.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/storage/storage.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

// UtcFields breaks seconds down in UTC (gmtime_r: no shared static state).
struct tm UtcFields(std::time_t seconds) {
  struct tm fields;
  if (gmtime_r(&seconds, &fields) == nullptr) {
    throw Error(ErrorKind::kInternal, "could not convert time " + std::to_string(seconds));
  }
  return fields;
}

}  // namespace

// SetDirectory builds "<sysid>/<database>/<YYYYMMDDTHHMMSSZ>-<id>"; the
// system identifier must be digits, as pg_control_system() reports it.
std::string SetDirectory(const std::string& system_identifier, const std::string& database,
                         std::time_t started_utc, int64_t backup_id) {
  if (system_identifier.empty() ||
      system_identifier.find_first_not_of("0123456789") != std::string::npos) {
    throw Error(ErrorKind::kInternal, "invalid system identifier \"" + system_identifier + "\"");
  }
  struct tm fields = UtcFields(started_utc);
  char stamp[96];  // room for any int the compiler can imagine
  std::snprintf(stamp, sizeof(stamp), "%04d%02d%02dT%02d%02d%02dZ", fields.tm_year + 1900,
                fields.tm_mon + 1, fields.tm_mday, fields.tm_hour, fields.tm_min, fields.tm_sec);
  return system_identifier + "/" + PathComponent(database) + "/" + stamp + "-" +
         std::to_string(backup_id);
}

std::vector<std::string> SplitKey(const std::string& key) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= key.size()) {
    size_t slash = key.find('/', start);
    if (slash == std::string::npos)
      slash = key.size();
    parts.push_back(key.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

bool IsSetKey(int64_t backup_id, const std::string& key) {
  std::vector<std::string> parts = SplitKey(key);
  if (parts.size() != 3)
    return false;
  for (const std::string& part : parts)
    if (part.empty() || part == "." || part == "..")
      return false;
  std::string suffix = "-" + std::to_string(backup_id);
  const std::string& leaf = parts[2];
  return leaf.size() > suffix.size() &&
         leaf.compare(leaf.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// FormatUtcTimestamp renders milliseconds (truncated, never rounded up into
// the next second); out-of-range microseconds carry into the seconds.
std::string FormatUtcTimestamp(std::time_t seconds, long microseconds) {
  seconds += microseconds / 1000000;
  microseconds %= 1000000;
  if (microseconds < 0) {
    microseconds += 1000000;
    seconds -= 1;
  }
  struct tm fields = UtcFields(seconds);
  char text[96];
  std::snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", fields.tm_year + 1900,
                fields.tm_mon + 1, fields.tm_mday, fields.tm_hour, fields.tm_min, fields.tm_sec,
                microseconds / 1000);
  return text;
}

bool ParseUtcTimestamp(const std::string& text, int64_t* microseconds) {
  // 2026-11-22T01:02:03[.456]Z
  if (text.size() < 20 || text.size() > 27 || text[4] != '-' || text[7] != '-' || text[10] != 'T' ||
      text[13] != ':' || text[16] != ':' || text.back() != 'Z')
    return false;
  auto number = [&](size_t at, size_t width, int* out) {
    int value = 0;
    for (size_t i = at; i < at + width; i++) {
      if (text[i] < '0' || text[i] > '9')
        return false;
      value = value * 10 + (text[i] - '0');
    }
    *out = value;
    return true;
  };
  int year, month, day, hour, minute, second;
  if (!number(0, 4, &year) || !number(5, 2, &month) || !number(8, 2, &day) ||
      !number(11, 2, &hour) || !number(14, 2, &minute) || !number(17, 2, &second))
    return false;
  int64_t fraction = 0;
  size_t end = text.size() - 1;  // the 'Z'
  if (end > 19) {
    if (text[19] != '.' || end == 20)
      return false;
    int digit = 0;
    int64_t scale = 100000;
    for (size_t i = 20; i < end; i++, scale /= 10) {
      if (!number(i, 1, &digit))
        return false;
      fraction += digit * scale;
    }
  }
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (year < 1970 || month < 1 || month > 12 || day < 1 ||
      day > kDays[month - 1] + (month == 2 && leap ? 1 : 0) || hour > 23 || minute > 59 ||
      second > 59)
    return false;
  // Days since 1970-01-01 (civil calendar, no time zone involved).
  int64_t days = 0;
  for (int y = 1970; y < year; y++)
    days += ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 366 : 365;
  for (int m = 1; m < month; m++)
    days += kDays[m - 1] + (m == 2 && leap ? 1 : 0);
  days += day - 1;
  *microseconds = ((days * 24 + hour) * 60 + minute) * 60 * int64_t{1000000} +
                  int64_t{second} * 1000000 + fraction;
  return true;
}

bool IsSetObject(const std::string& name) {
  for (const char* object :
       {kDataObjectCustom, kDataObjectPlain, kGlobalsObject, kTablesObject, kManifestObject})
    if (name == object || name == std::string(object) + kAgeSuffix)
      return true;
  return IsTableObject(name);
}

bool IsTableObject(const std::string& name) {
  const std::string prefix = "table-", suffix = ".copy.zst";
  std::string rest = name;
  if (rest.size() > std::strlen(kAgeSuffix) &&
      rest.compare(rest.size() - std::strlen(kAgeSuffix), std::string::npos, kAgeSuffix) == 0)
    rest.resize(rest.size() - std::strlen(kAgeSuffix));
  if (rest.size() < prefix.size() + 4 + suffix.size() ||
      rest.compare(0, prefix.size(), prefix) != 0 ||
      rest.compare(rest.size() - suffix.size(), std::string::npos, suffix) != 0)
    return false;
  for (size_t i = prefix.size(); i < rest.size() - suffix.size(); i++)
    if (rest[i] < '0' || rest[i] > '9')
      return false;
  return true;
}

}  // namespace pgbak
