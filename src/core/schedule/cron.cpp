// cron.cpp: parsing cron schedules and finding their next fire time.
//
// The syntax is Vixie cron's (as in cronie and pg_cron), so a crontab line a
// DBA already trusts means the same here. Matching is done on the wall clock
// of the job's time zone; the DST rules are in the header. The next fire time
// is found a day at a time (a month at a time for months that cannot match),
// so a schedule that fires once every four years is as cheap as a minutely
// one.
#include "core/schedule/cron.h"

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"
#include "core/schedule/time_zone.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

constexpr std::time_t kMinute = 60;
constexpr std::time_t kHour = 3600;
constexpr std::time_t kDay = 86400;

// kSearchDays bounds NextAfter to eight years, which covers the longest gap
// between two matching days of any schedule that can fire at all (Feb 29
// across a century year that is not a leap year, such as 2096 to 2104).
constexpr int64_t kSearchDays = 8 * 366;

constexpr int kMaxIntervalSeconds = 59;

constexpr const char* kCronHint =
    "A cron expression is \"minute hour day-of-month month day-of-week\": minute 0-59, hour 0-23, "
    "day of month 1-31, month 1-12 or JAN-DEC, day of week 0-7 or SUN-SAT (0 and 7 are Sunday). "
    "Each field is *, a value, a range such as 1-5, a step such as */15 or 1-30/5, or a "
    "comma-separated list of these.";

constexpr const char* kAliasHint =
    "Supported aliases are @hourly, @daily, @midnight, @weekly, @monthly, @yearly and @annually.";

constexpr const char* kIntervalHint =
    "An interval is \"N seconds\" with N from 1 to 59; use a cron expression for longer periods, "
    "e.g. \"*/5 * * * *\" for every five minutes.";

const char* const kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                   "jul", "aug", "sep", "oct", "nov", "dec"};
const char* const kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

// FieldSpec describes one of the five fields.
struct FieldSpec {
  int number;  // 1-based position, as the user counts
  const char* name;
  int min;
  int max;
  const char* const* names;  // three-letter names, or nullptr
  int name_count;
  int first_name_value;  // the value of names[0]
  const char* names_description;
};

const FieldSpec kFields[] = {
    {1, "minute", 0, 59, nullptr, 0, 0, nullptr},
    {2, "hour", 0, 23, nullptr, 0, 0, nullptr},
    {3, "day of month", 1, 31, nullptr, 0, 0, nullptr},
    {4, "month", 1, 12, kMonthNames, 12, 1, "a month name (JAN-DEC)"},
    {5, "day of week", 0, 7, kDayNames, 7, 0, "a day name (SUN-SAT)"},
};

// IsSpace is isspace() for the C locale, whatever the process locale is.
bool IsSpace(char c) {
  return c == ' ' || (c >= '\t' && c <= '\r');
}

// IsDigit is isdigit() for the C locale.
bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

// IsAlpha is isalpha() for the C locale.
bool IsAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Lower folds ASCII letters only, so the result does not depend on the locale.
std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

// Trim drops surrounding white space.
std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && IsSpace(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

// SplitFields splits on runs of spaces and tabs, as cron does.
std::vector<std::string_view> SplitFields(std::string_view text) {
  std::vector<std::string_view> fields;
  size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) {
      pos++;
    }
    size_t start = pos;
    while (pos < text.size() && text[pos] != ' ' && text[pos] != '\t') {
      pos++;
    }
    if (pos > start) {
      fields.push_back(text.substr(start, pos - start));
    }
  }
  return fields;
}

// FieldParser reads one field into the set of values it selects.
class FieldParser {
 public:
  FieldParser(const FieldSpec& spec, std::string_view text) : spec_(spec), text_(text) {}

  // Parse returns bit v set for every selected value v (min..max).
  std::vector<bool> Parse() {
    std::vector<bool> selected(spec_.max + 1, false);
    size_t start = 0;
    while (true) {
      size_t comma = text_.find(',', start);
      std::string_view element = text_.substr(
          start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
      ParseElement(element, selected);
      if (comma == std::string_view::npos) {
        break;
      }
      start = comma + 1;
    }
    return selected;
  }

 private:
  // Fail throws the error naming this field, its text and the problem.
  [[noreturn]] void Fail(const std::string& problem) const {
    throw Error(ErrorKind::kInvalidParameter,
                "invalid cron field " + std::to_string(spec_.number) + " (" + spec_.name + ") \"" +
                    Printable(text_) + "\": " + problem,
                std::string(), kCronHint);
  }

  // UnexpectedCharacter fails on the character at pos of element.
  [[noreturn]] void UnexpectedCharacter(std::string_view element, size_t pos) const {
    Fail("unexpected character \"" + Printable(element.substr(pos, 1)) + "\"");
  }

  // ReadValue reads a number or, in the month and day-of-week fields, a
  // three-letter name, starting at pos; after names what precedes it, for the
  // message when the value is missing.
  int ReadValue(std::string_view element, size_t& pos, const char* after) const {
    if (pos >= element.size()) {
      Fail(std::string("missing value after \"") + after + "\"");
    }
    if (IsDigit(element[pos])) {
      int64_t value = 0;
      size_t start = pos;
      while (pos < element.size() && IsDigit(element[pos])) {
        if (value <= 1000000) {
          value = value * 10 + (element[pos] - '0');
        }
        pos++;
      }
      if (value < spec_.min || value > spec_.max) {
        Fail(std::string(element.substr(start, pos - start)) + " is out of range " +
             std::to_string(spec_.min) + "-" + std::to_string(spec_.max));
      }
      return static_cast<int>(value);
    }
    if (IsAlpha(element[pos])) {
      size_t start = pos;
      while (pos < element.size() && IsAlpha(element[pos])) {
        pos++;
      }
      std::string word(element.substr(start, pos - start));
      if (spec_.names == nullptr) {
        Fail("\"" + word + "\" is not a number");
      }
      std::string lower = Lower(word);
      for (int i = 0; i < spec_.name_count; i++) {
        if (lower == spec_.names[i]) {
          return spec_.first_name_value + i;
        }
      }
      Fail("\"" + word + "\" is not " + spec_.names_description);
    }
    UnexpectedCharacter(element, pos);
  }

  // ParseElement reads `*`, `N`, `N-M`, each optionally followed by `/S`.
  void ParseElement(std::string_view element, std::vector<bool>& selected) const {
    if (element.empty()) {
      Fail("empty list element");
    }
    size_t pos = 0;
    int first = spec_.min;
    int last = spec_.max;
    if (element[0] == '*') {
      pos = 1;
    } else {
      first = ReadValue(element, pos, "");
      last = first;
      if (pos < element.size() && element[pos] == '-') {
        pos++;
        bool end_is_name = pos < element.size() && IsAlpha(element[pos]);
        last = ReadValue(element, pos, "-");
        // MON-SUN means Monday through Sunday: SUN ends a range as 7.
        if (spec_.number == 5 && end_is_name && last == 0 && first > 0) {
          last = 7;
        }
        if (first > last) {
          Fail("range " + std::string(element.substr(0, pos)) + " is reversed");
        }
      } else if (pos < element.size() && element[pos] == '/') {
        last = spec_.max;  // N/S is N-max/S, as in cronie
      }
    }
    int step = 1;
    if (pos < element.size() && element[pos] == '/') {
      pos++;
      if (pos >= element.size()) {
        Fail("missing step after \"/\"");
      }
      if (!IsDigit(element[pos])) {
        UnexpectedCharacter(element, pos);
      }
      size_t start = pos;
      int64_t value = 0;
      while (pos < element.size() && IsDigit(element[pos])) {
        if (value <= 1000000) {
          value = value * 10 + (element[pos] - '0');
        }
        pos++;
      }
      if (value < 1 || value > spec_.max) {
        Fail("step " + std::string(element.substr(start, pos - start)) + " is out of range 1-" +
             std::to_string(spec_.max));
      }
      step = static_cast<int>(value);
    }
    if (pos < element.size()) {
      UnexpectedCharacter(element, pos);
    }
    for (int value = first; value <= last; value += step) {
      selected[value] = true;
    }
  }

  const FieldSpec& spec_;
  std::string_view text_;
};

// ToBits copies the selected values of a field into a bitset.
template <size_t N>
std::bitset<N> ToBits(const std::vector<bool>& selected) {
  std::bitset<N> bits;
  for (size_t value = 0; value < N && value < selected.size(); value++) {
    bits[value] = selected[value];
  }
  return bits;
}

// ExpandAlias returns the five fields an alias stands for, or throws.
std::string ExpandAlias(const std::string& alias) {
  std::string lower = Lower(alias);
  if (lower == "@hourly") {
    return "0 * * * *";
  }
  if (lower == "@daily" || lower == "@midnight") {
    return "0 0 * * *";
  }
  if (lower == "@weekly") {
    return "0 0 * * 0";
  }
  if (lower == "@monthly") {
    return "0 0 1 * *";
  }
  if (lower == "@yearly" || lower == "@annually") {
    return "0 0 1 1 *";
  }
  if (lower == "@reboot") {
    throw Error(ErrorKind::kInvalidParameter, "@reboot is not supported", std::string(),
                "A job runs on a schedule of wall-clock times, not at server start. " +
                    std::string(kAliasHint));
  }
  throw Error(ErrorKind::kInvalidParameter, "unknown cron alias \"" + Printable(alias) + "\"",
              std::string(), kAliasHint);
}

// ParseInterval reads "N seconds" (fields already split in two).
int ParseInterval(std::string_view text, std::string_view count) {
  int64_t value = 0;
  for (char c : count) {
    if (!IsDigit(c)) {
      throw Error(ErrorKind::kInvalidParameter,
                  "invalid interval \"" + Printable(text) + "\": \"" + Printable(count) +
                      "\" is not a whole number of seconds",
                  std::string(), kIntervalHint);
    }
    if (value <= 1000000) {
      value = value * 10 + (c - '0');
    }
  }
  if (value < 1 || value > kMaxIntervalSeconds) {
    throw Error(ErrorKind::kInvalidParameter,
                "invalid interval \"" + Printable(text) + "\": it must be 1 to 59 seconds",
                std::string(), kIntervalHint);
  }
  return static_cast<int>(value);
}

// DayMatches is Vixie cron's day rule: if either day field starts with '*'
// both must match, otherwise either may ("0 0 13 * 5" fires on the 13th and
// on Fridays).
bool DayMatches(bool dom_matches, bool dow_matches, bool dom_star, bool dow_star) {
  return (dom_star || dow_star) ? (dom_matches && dow_matches) : (dom_matches || dow_matches);
}

// FormatDate renders a day number as YYYY-MM-DD.
std::string FormatDate(int64_t days) {
  CivilDay date = CivilFromDays(days);
  char buffer[48];
  std::snprintf(buffer, sizeof(buffer), "%04lld-%02d-%02d", static_cast<long long>(date.year),
                date.month, date.day);
  return buffer;
}

}  // namespace

// Parse recognizes aliases and intervals first; everything else must be five
// cron fields, each checked on its own so the error can name the field.
CronSchedule CronSchedule::Parse(std::string_view text) {
  if (text.size() > kMaxTextBytes) {
    throw Error(ErrorKind::kLimitExceeded,
                "cron schedule is too long: " + std::to_string(text.size()) + " bytes",
                std::string(),
                "A schedule is at most " + std::to_string(kMaxTextBytes) +
                    " bytes; five fields that list every value they can take fit in 400.");
  }
  std::string_view trimmed = Trim(text);
  if (trimmed.empty()) {
    throw Error(ErrorKind::kInvalidParameter, "cron schedule cannot be empty", std::string(),
                kCronHint);
  }
  if (trimmed.front() == '@') {
    return Parse(ExpandAlias(std::string(trimmed)));
  }
  std::vector<std::string_view> fields = SplitFields(trimmed);
  if (fields.size() == 2) {
    std::string unit = Lower(fields[1]);
    if (unit == "second" || unit == "seconds") {
      CronSchedule schedule;
      schedule.interval_seconds_ = ParseInterval(trimmed, fields[0]);
      return schedule;
    }
    bool count_is_number = !fields[0].empty();
    for (char c : fields[0]) {
      count_is_number = count_is_number && IsDigit(c);
    }
    if (count_is_number && IsAlpha(fields[1][0])) {
      throw Error(ErrorKind::kInvalidParameter,
                  "unsupported interval unit \"" + Printable(fields[1]) + "\"", std::string(),
                  kIntervalHint);
    }
  }
  if (fields.size() != 5) {
    throw Error(ErrorKind::kInvalidParameter,
                "cron expression must have 5 fields (minute hour day-of-month month "
                "day-of-week), not " +
                    std::to_string(fields.size()),
                std::string(), kCronHint);
  }
  CronSchedule schedule;
  schedule.minutes_ = ToBits<60>(FieldParser(kFields[0], fields[0]).Parse());
  schedule.hours_ = ToBits<24>(FieldParser(kFields[1], fields[1]).Parse());
  schedule.days_of_month_ = ToBits<32>(FieldParser(kFields[2], fields[2]).Parse());
  schedule.months_ = ToBits<13>(FieldParser(kFields[3], fields[3]).Parse());
  std::vector<bool> days_of_week = FieldParser(kFields[4], fields[4]).Parse();
  if (days_of_week[7]) {
    days_of_week[0] = true;  // 7 is Sunday too
  }
  schedule.days_of_week_ = ToBits<7>(days_of_week);
  // Vixie's rule looks at the text, not the values: "*/2" is still a star.
  schedule.dom_star_ = fields[2][0] == '*';
  schedule.dow_star_ = fields[4][0] == '*';
  schedule.hour_star_ = fields[1][0] == '*';
  return schedule;
}

// NextAfter walks the wall-clock minutes that match, in order, resolves each
// to its instants and returns the earliest instant after `after`. A time in a
// spring-forward gap resolves to the end of the gap. A time repeated by a
// fall-back overlap fires at its first occurrence only, unless the hour field
// is a wildcard ("*", "*/2"): a frequent job keeps its rhythm through the
// repeated hour instead of pausing for it, as cronie does. Because a repeated
// hour's second pass has earlier wall-clock times than the instant before it,
// the walk starts kTransitionSlack before `after` and, once it has a
// candidate, goes on until the wall clock is kTransitionSlack past it.
std::time_t CronSchedule::NextAfter(std::time_t after, const TimeZone& zone) const {
  if (is_interval()) {
    return after + interval_seconds_;
  }
  constexpr std::time_t kTransitionSlack = 3 * kHour;
  std::time_t start_local = FloorDiv(ToLocal(zone, after), kMinute) * kMinute - kTransitionSlack;
  int64_t first_day = FloorDiv(start_local, kDay);
  int64_t day = first_day;
  bool found = false;
  std::time_t best = 0;
  std::time_t stop_local = 0;
  while (day <= first_day + kSearchDays) {
    if (found && day * kDay > stop_local) {
      return best;
    }
    CivilDay date = CivilFromDays(day);
    if (!months_[date.month]) {
      int next_month = date.month == 12 ? 1 : date.month + 1;
      day = DaysFromCivil(date.month == 12 ? date.year + 1 : date.year, next_month, 1);
      continue;
    }
    if (DayMatches(days_of_month_[date.day], days_of_week_[WeekdayFromDays(day)], dom_star_,
                   dow_star_)) {
      for (int hour = 0; hour < 24; hour++) {
        if (!hours_[hour] || day * kDay + (hour + 1) * kHour <= start_local) {
          continue;
        }
        for (int minute = 0; minute < 60; minute++) {
          std::time_t local = day * kDay + hour * kHour + minute * kMinute;
          if (!minutes_[minute] || local < start_local) {
            continue;
          }
          if (found && local > stop_local) {
            return best;
          }
          std::vector<std::time_t> instants = LocalToUtc(zone, local);
          if (instants.empty()) {
            instants.push_back(GapEnd(zone, local));
          } else if (!hour_star_) {
            instants.resize(1);
          }
          for (std::time_t instant : instants) {
            if (instant > after && (!found || instant < best)) {
              found = true;
              best = instant;
              stop_local = ToLocal(zone, best) + kTransitionSlack;
            }
          }
        }
      }
    }
    day++;
  }
  if (found) {
    return best;
  }
  throw Error(ErrorKind::kInvalidParameter, "cron expression never fires",
              "No minute in the eight years after " +
                  FormatDate(FloorDiv(ToLocal(zone, after), kDay)) + " matches it.",
              kCronHint);
}

// MatchesLocal applies the same field and day rules as NextAfter to one
// wall-clock time (seconds ignored); an interval schedule has no fields and
// matches nothing.
bool CronSchedule::MatchesLocal(std::time_t local_seconds) const {
  if (is_interval()) {
    return false;
  }
  int64_t day = FloorDiv(local_seconds, kDay);
  std::time_t second_of_day = local_seconds - day * kDay;
  CivilDay date = CivilFromDays(day);
  if (!minutes_[second_of_day % kHour / kMinute] || !hours_[second_of_day / kHour] ||
      !months_[date.month]) {
    return false;
  }
  return DayMatches(days_of_month_[date.day], days_of_week_[WeekdayFromDays(day)], dom_star_,
                    dow_star_);
}

}  // namespace pgbak
