// prometheus.h: writing the Prometheus text exposition format (0.0.4).
//
// Metric families are written whole, in the order they are begun: HELP and
// TYPE once, then every sample. Label values are escaped as the format
// requires (backslash, double quote, newline), so a database named with
// quotes or newlines cannot break the output.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace pgbak {

// MetricType is the TYPE of a family.
enum class MetricType { kGauge, kCounter };

// PrometheusText accumulates families and renders them.
class PrometheusText {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  // Family begins a metric family; name must match [a-zA-Z_:][a-zA-Z0-9_:]*
  // (counters should end in _total); throws kInternal otherwise or if the
  // family was begun before.
  void Family(const std::string& name, MetricType type, const std::string& help);
  // Sample adds a sample to the family begun last; label names must match
  // [a-zA-Z_][a-zA-Z0-9_]*. NaN and infinities are written as Prometheus
  // spells them (NaN, +Inf, -Inf); integers without an exponent.
  void Sample(const Labels& labels, double value);

  // Text is the exposition, ending with a newline.
  const std::string& Text() const { return text_; }

  // EscapeLabelValue escapes \, " and newline.
  static std::string EscapeLabelValue(const std::string& value);

 private:
  std::string text_;
  std::string current_;
  std::vector<std::string> families_;
};

}  // namespace pgbak
