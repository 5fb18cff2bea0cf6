// prometheus_test.cpp: the text exposition format (src/core/prometheus.cpp),
// checked byte for byte and, where installed, by promtool.
#include "core/notify/prometheus.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "core/base/error.h"
#include "test_util.h"

namespace pgbak {
namespace {

TEST(PrometheusTextTest, GaugeWithoutLabels) {
  PrometheusText text;
  text.Family("pgbak_workers", MetricType::kGauge, "Backup workers running.");
  text.Sample({}, 2);
  EXPECT_EQ(text.Text(),
            "# HELP pgbak_workers Backup workers running.\n"
            "# TYPE pgbak_workers gauge\n"
            "pgbak_workers 2\n");
}

TEST(PrometheusTextTest, CounterWithLabels) {
  PrometheusText text;
  text.Family("pgbak_backups_total", MetricType::kCounter, "Backups finished.");
  text.Sample({{"job", "nightly"}, {"status", "succeeded"}}, 12);
  text.Sample({{"job", "nightly"}, {"status", "failed"}}, 0);
  EXPECT_EQ(text.Text(),
            "# HELP pgbak_backups_total Backups finished.\n"
            "# TYPE pgbak_backups_total counter\n"
            "pgbak_backups_total{job=\"nightly\",status=\"succeeded\"} 12\n"
            "pgbak_backups_total{job=\"nightly\",status=\"failed\"} 0\n");
}

TEST(PrometheusTextTest, FamiliesKeepTheirOrderAndEmptyFamiliesAreAnnounced) {
  PrometheusText text;
  text.Family("b_gauge_value", MetricType::kGauge, "B.");
  text.Family("a_events_total", MetricType::kCounter, "A.");
  text.Sample({{"x", "1"}}, 1);
  EXPECT_EQ(text.Text(),
            "# HELP b_gauge_value B.\n"
            "# TYPE b_gauge_value gauge\n"
            "# HELP a_events_total A.\n"
            "# TYPE a_events_total counter\n"
            "a_events_total{x=\"1\"} 1\n");
}

TEST(PrometheusTextTest, LabelValuesAreEscaped) {
  EXPECT_EQ(PrometheusText::EscapeLabelValue(R"(a\b"c)"
                                             "\nd"),
            R"(a\\b\"c\nd)");
  PrometheusText text;
  text.Family("pgbak_database_size_bytes", MetricType::kGauge, "Size.");
  text.Sample({{"database", "we\"ird\\db\nname"}}, 1);
  EXPECT_EQ(text.Text(),
            "# HELP pgbak_database_size_bytes Size.\n"
            "# TYPE pgbak_database_size_bytes gauge\n"
            "pgbak_database_size_bytes{database=\"we\\\"ird\\\\db\\nname\"} 1\n");
}

TEST(PrometheusTextTest, HelpEscapesBackslashAndNewlineButNotQuotes) {
  PrometheusText text;
  text.Family("pgbak_x", MetricType::kGauge, "a \"quoted\" C:\\path\nsecond line");
  EXPECT_EQ(text.Text(),
            "# HELP pgbak_x a \"quoted\" C:\\\\path\\nsecond line\n"
            "# TYPE pgbak_x gauge\n");
}

TEST(PrometheusTextTest, ValuesAreFormattedAsPrometheusReadsThem) {
  PrometheusText text;
  text.Family("v", MetricType::kGauge, "h");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  for (double value : {0.0, -0.0, 123.0, -7.0, 1700000000.0, 9007199254740992.0, 0.5, 0.1,
                       1.0 / 3.0, 1e20, 2.5e-7, nan, inf, -inf}) {
    text.Sample({}, value);
  }
  EXPECT_EQ(text.Text(),
            "# HELP v h\n"
            "# TYPE v gauge\n"
            "v 0\n"
            "v 0\n"
            "v 123\n"
            "v -7\n"
            "v 1700000000\n"
            "v 9007199254740992\n"
            "v 0.5\n"
            "v 0.1\n"
            "v 0.3333333333333333\n"
            "v 1e+20\n"
            "v 2.5e-07\n"
            "v NaN\n"
            "v +Inf\n"
            "v -Inf\n");
}

TEST(PrometheusTextTest, InvalidNamesAreRejected) {
  PrometheusText text;
  for (const char* name : {"", "1abc", "a-b", "a b", "a.b", "é"}) {
    EXPECT_THROW(text.Family(name, MetricType::kGauge, "h"), Error) << name;
  }
  text.Family("ok:recorded_name_1", MetricType::kGauge, "h");
  for (const char* label : {"", "1a", "a:b", "a-b", "a b"}) {
    EXPECT_THROW(text.Sample({{label, "v"}}, 1), Error) << label;
  }
  EXPECT_THROW(text.Sample({{"a", "1"}, {"a", "2"}}, 1), Error);
  text.Sample({{"_a1", "v"}}, 1);
  EXPECT_EQ(text.Text(),
            "# HELP ok:recorded_name_1 h\n"
            "# TYPE ok:recorded_name_1 gauge\n"
            "ok:recorded_name_1{_a1=\"v\"} 1\n");
  try {
    text.Family("bad name", MetricType::kGauge, "h");
    FAIL() << "no exception";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInternal);
  }
}

TEST(PrometheusTextTest, DuplicateFamilyIsRejected) {
  PrometheusText text;
  text.Family("pgbak_a", MetricType::kGauge, "h");
  text.Family("pgbak_b", MetricType::kGauge, "h");
  EXPECT_THROW(text.Family("pgbak_a", MetricType::kCounter, "h"), Error);
}

TEST(PrometheusTextTest, SampleWithoutFamilyIsRejected) {
  PrometheusText text;
  EXPECT_THROW(text.Sample({}, 1), Error);
}

// RealisticExposition is what a scrape of a busy installation looks like.
std::string RealisticExposition() {
  PrometheusText text;
  text.Family("pgbak_backups_total", MetricType::kCounter, "Backups finished, by job and status.");
  text.Sample({{"job", "nightly"}, {"status", "succeeded"}}, 41);
  text.Sample({{"job", "nightly"}, {"status", "failed"}}, 2);
  text.Sample({{"job", "odd \"name\" with \\ and\nnewline"}, {"status", "succeeded"}}, 1);
  text.Family("pgbak_last_backup_size_bytes", MetricType::kGauge,
              "Size of the last successful backup.\nSecond line with a \\ backslash.");
  text.Sample({{"job", "nightly"}, {"database", "app"}}, 123456789012.0);
  text.Sample({{"job", "nightly"}, {"database", "we\"ird"}}, 0);
  text.Family("pgbak_last_backup_duration_seconds", MetricType::kGauge,
              "Duration of the last successful backup.");
  text.Sample({{"job", "nightly"}}, 12.345);
  text.Sample({{"job", "never_ran"}}, std::numeric_limits<double>::quiet_NaN());
  text.Family("pgbak_last_success_timestamp_seconds", MetricType::kGauge,
              "Unix time of the last successful backup.");
  text.Sample({{"job", "nightly"}}, 1700000000);
  text.Family("pgbak_webhook_failures_total", MetricType::kCounter, "Webhooks not delivered.");
  text.Family("pgbak_queue_depth", MetricType::kGauge, "Requests waiting.");
  text.Sample({}, std::numeric_limits<double>::infinity());
  return text.Text();
}

TEST(PrometheusTextTest, PromtoolAcceptsRealisticOutput) {
  int status = -1;
  test::RunShell("command -v promtool >/dev/null 2>&1", &status);
  if (status != 0) {
    GTEST_SKIP() << "promtool not installed (apt-get install prometheus)";
  }
  test::TempDir dir;
  std::string path = dir.Join("metrics.prom");
  test::WriteFile(path, RealisticExposition());
  std::string output = test::RunShell("promtool check metrics < '" + path + "' 2>&1", &status);
  EXPECT_EQ(status, 0) << output << "\n" << RealisticExposition();
}

TEST(PrometheusTextTest, PromtoolRejectsBrokenOutput) {
  // Shows that the check above can fail: an unescaped quote is a parse error.
  int status = -1;
  test::RunShell("command -v promtool >/dev/null 2>&1", &status);
  if (status != 0) {
    GTEST_SKIP() << "promtool not installed (apt-get install prometheus)";
  }
  test::TempDir dir;
  std::string path = dir.Join("metrics.prom");
  test::WriteFile(path,
                  "# HELP pgbak_x_total h\n# TYPE pgbak_x_total counter\n"
                  "pgbak_x_total{job=\"a\"b\"} 1\n");
  test::RunShell("promtool check metrics < '" + path + "' >/dev/null 2>&1", &status);
  EXPECT_NE(status, 0);
}

}  // namespace
}  // namespace pgbak
