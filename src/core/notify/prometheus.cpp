// prometheus.cpp: rendering metric families in the Prometheus text format 0.0.4.
//
// Names are checked rather than escaped (the format has no escaping for
// them), so a bad name is a programming error; label values and HELP text are
// escaped, because they carry user data such as database names.
#include "core/notify/prometheus.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

#include "core/base/error.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

// IsNameChar says whether c may appear in a name; colon only in metric names.
bool IsNameChar(char c, bool first, bool allow_colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
    return true;
  }
  if (c == ':') {
    return allow_colon;
  }
  return !first && c >= '0' && c <= '9';
}

// IsValidName checks [a-zA-Z_:][a-zA-Z0-9_:]* (without ':' for labels).
bool IsValidName(const std::string& name, bool allow_colon) {
  if (name.empty()) {
    return false;
  }
  for (size_t i = 0; i < name.size(); i++) {
    if (!IsNameChar(name[i], i == 0, allow_colon)) {
      return false;
    }
  }
  return true;
}

// EscapeHelp escapes what HELP text must: backslash and newline (not quotes).
std::string EscapeHelp(const std::string& help) {
  std::string escaped;
  escaped.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      escaped += "\\\\";
    } else if (c == '\n') {
      escaped += "\\n";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

// FormatValue writes integers up to 2^53 without exponent or fraction, other
// finite values in the shortest form that reads back exactly.
std::string FormatValue(double value) {
  if (std::isnan(value)) {
    return "NaN";
  }
  if (std::isinf(value)) {
    return value > 0 ? "+Inf" : "-Inf";
  }
  char buffer[64];
  std::to_chars_result result;
  if (value == std::trunc(value) && std::fabs(value) <= 9007199254740992.0) {
    // Through int64 so that -0.0 prints as "0".
    result = std::to_chars(buffer, buffer + sizeof(buffer), static_cast<long long>(value));
  } else {
    result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  }
  if (result.ec != std::errc()) {
    throw Error(ErrorKind::kInternal, "could not format a metric value");
  }
  return std::string(buffer, result.ptr);
}

}  // namespace

// EscapeLabelValue escapes backslash, double quote and newline, the three
// characters the format reserves inside a quoted label value.
std::string PrometheusText::EscapeLabelValue(const std::string& value) {
  std::string escaped;
  escaped.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        escaped += "\\\\";
        break;
      case '"':
        escaped += "\\\"";
        break;
      case '\n':
        escaped += "\\n";
        break;
      default:
        escaped += c;
    }
  }
  return escaped;
}

// Family writes HELP and TYPE at once, so a family without samples is still
// announced.
void PrometheusText::Family(const std::string& name, MetricType type, const std::string& help) {
  if (!IsValidName(name, true)) {
    throw Error(ErrorKind::kInternal, "invalid Prometheus metric name \"" + name + "\"");
  }
  if (std::find(families_.begin(), families_.end(), name) != families_.end()) {
    throw Error(ErrorKind::kInternal, "Prometheus metric family \"" + name + "\" begun twice");
  }
  families_.push_back(name);
  current_ = name;
  text_ += "# HELP " + name + " " + EscapeHelp(help) + "\n";
  text_ += "# TYPE " + name + (type == MetricType::kCounter ? " counter\n" : " gauge\n");
}

// Sample appends one line to the current family; it checks every label name
// before writing anything, so a failed call leaves the text as it was.
void PrometheusText::Sample(const Labels& labels, double value) {
  if (current_.empty()) {
    throw Error(ErrorKind::kInternal, "Prometheus sample added before any family");
  }
  for (size_t i = 0; i < labels.size(); i++) {
    const std::string& label = labels[i].first;
    if (!IsValidName(label, false)) {
      throw Error(ErrorKind::kInternal, "invalid Prometheus label name \"" + label + "\"");
    }
    for (size_t j = 0; j < i; j++) {
      if (labels[j].first == label) {
        throw Error(ErrorKind::kInternal, "duplicate Prometheus label \"" + label + "\"");
      }
    }
  }
  std::string line = current_;
  if (!labels.empty()) {
    line += '{';
    for (size_t i = 0; i < labels.size(); i++) {
      if (i > 0) {
        line += ',';
      }
      line += labels[i].first + "=\"" + EscapeLabelValue(labels[i].second) + "\"";
    }
    line += '}';
  }
  line += ' ' + FormatValue(value) + '\n';
  text_ += line;
}

}  // namespace pgbak
