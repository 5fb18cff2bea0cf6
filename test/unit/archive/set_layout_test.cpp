// set_layout_test.cpp: set directory keys and timestamps
// (src/core/set_layout.cpp).
#include "core/archive/set_layout.h"

#include <gtest/gtest.h>

#include <string>

#include "core/base/error.h"
#include "core/storage/storage.h"

namespace pgbak {
namespace {

// kExample is 2026-11-22T01:02:03Z.
constexpr std::time_t kExample = 1795309323;

TEST(SetLayoutTest, SetDirectory) {
  EXPECT_EQ(SetDirectory("7301234567890123456", "myapp", kExample, 42),
            "7301234567890123456/myapp/20261122T010203Z-42");
  EXPECT_EQ(SetDirectory("1", "my/db", 0, 7), "1/my%2Fdb/19700101T000000Z-7");
  EXPECT_EQ(SetDirectory("1", "..", kExample, 1), "1/%2E%2E/20261122T010203Z-1");
  EXPECT_NO_THROW(ValidateKey(SetDirectory("1", "../../etc", kExample, 1)));
  EXPECT_THROW(SetDirectory("../x", "db", kExample, 1), Error);
  EXPECT_THROW(SetDirectory("", "db", kExample, 1), Error);
}

TEST(SetLayoutTest, SetDirectoriesSortByTime) {
  EXPECT_LT(SetDirectory("1", "db", kExample, 99), SetDirectory("1", "db", kExample + 1, 100));
  EXPECT_LT(SetDirectory("1", "db", kExample - 86400 * 365, 9),
            SetDirectory("1", "db", kExample, 10));
}

TEST(SetLayoutTest, FormatUtcTimestamp) {
  EXPECT_EQ(FormatUtcTimestamp(kExample, 456789), "2026-11-22T01:02:03.456Z");
  EXPECT_EQ(FormatUtcTimestamp(0, 0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatUtcTimestamp(kExample, 999999), "2026-11-22T01:02:03.999Z");
  EXPECT_EQ(FormatUtcTimestamp(kExample, 1000000), "2026-11-22T01:02:04.000Z");
  EXPECT_EQ(FormatUtcTimestamp(kExample, -1000), "2026-11-22T01:02:02.999Z");
  EXPECT_EQ(FormatUtcTimestamp(951782400, 0), "2000-02-29T00:00:00.000Z");
}

TEST(SetLayoutTest, TableObjectsAreSetObjects) {
  EXPECT_TRUE(IsSetObject("table-0001.copy.zst"));
  EXPECT_TRUE(IsSetObject("table-0200.copy.zst.age"));
  EXPECT_TRUE(IsTableObject("table-12345.copy.zst"));
  for (const char* name :
       {"table-001.copy.zst", "table-00a1.copy.zst", "table-0001.copy", "table-0001.copy.zst.tmp",
        "../table-0001.copy.zst", "x/table-0001.copy.zst", "table-.copy.zst"})
    EXPECT_FALSE(IsSetObject(name)) << name;
}

}  // namespace
}  // namespace pgbak
