// s3_part_size_test.cpp: the part size schedule of streaming multipart
// uploads before any memory budget (PartSize in
// src/core/storage/s3/s3_part_plan.cpp): 10,000 parts of growing size hold
// an object of at least 5 TB whose size is not known in advance, within S3's
// limits of 5 MiB to 5 GiB per part. s3_part_plan_test.cpp caps it.
#include "core/storage/s3/s3_part_plan.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "core/base/error.h"

namespace pgbak {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

// TotalCapacity is the most an upload with this first part size can hold.
uint64_t TotalCapacity(uint64_t first_part_size) {
  uint64_t total = 0;
  for (int part = 1; part <= kMaxParts; part++) {
    total += PartSize(first_part_size, part);
  }
  return total;
}

TEST(PartSizeTest, SmallestFirstPartStillHoldsFiveTerabytes) {
  EXPECT_GE(TotalCapacity(kMinPartSize), 5'000'000'000'000ull);
  EXPECT_GE(TotalCapacity(kDefaultPartSize), 5'000'000'000'000ull);
  EXPECT_GE(TotalCapacity(1 * kGiB), 5'000'000'000'000ull);
}

TEST(PartSizeTest, DoublesEveryThousandParts) {
  EXPECT_EQ(PartSize(5 * kMiB, 1), 5 * kMiB);
  EXPECT_EQ(PartSize(5 * kMiB, 1000), 5 * kMiB);
  EXPECT_EQ(PartSize(5 * kMiB, 1001), 10 * kMiB);
  EXPECT_EQ(PartSize(5 * kMiB, 2000), 10 * kMiB);
  EXPECT_EQ(PartSize(5 * kMiB, 2001), 20 * kMiB);
  EXPECT_EQ(PartSize(5 * kMiB, 9001), 5 * kMiB * 512);
  EXPECT_EQ(PartSize(5 * kMiB, 10000), 5 * kMiB * 512);
  EXPECT_EQ(PartSize(16 * kMiB, 1), 16 * kMiB);
  EXPECT_EQ(PartSize(16 * kMiB, 3001), 128 * kMiB);
}

TEST(PartSizeTest, EveryPartIsWithinS3Limits) {
  for (uint64_t first : {uint64_t{0}, uint64_t{1}, kMinPartSize - 1, kMinPartSize, kDefaultPartSize,
                         100 * kMiB + 7, kGiB, kMaxPartSize, 8 * kGiB}) {
    uint64_t previous = 0;
    for (int part = 1; part <= kMaxParts; part++) {
      uint64_t size = PartSize(first, part);
      ASSERT_GE(size, kMinPartSize) << "first " << first << ", part " << part;
      ASSERT_LE(size, kMaxPartSize) << "first " << first << ", part " << part;
      ASSERT_GE(size, previous) << "first " << first << ", part " << part;
      previous = size;
    }
  }
}

TEST(PartSizeTest, FirstPartBelowMinimumIsRaised) {
  EXPECT_EQ(PartSize(0, 1), kMinPartSize);
  EXPECT_EQ(PartSize(1, 1), kMinPartSize);
  EXPECT_EQ(PartSize(kMinPartSize - 1, 1), kMinPartSize);
  EXPECT_EQ(PartSize(1, 1001), 2 * kMinPartSize);
}

TEST(PartSizeTest, CappedAtFiveGibibytes) {
  EXPECT_EQ(PartSize(kMaxPartSize, 1), kMaxPartSize);
  EXPECT_EQ(PartSize(kMaxPartSize + 1, 1), kMaxPartSize);
  EXPECT_EQ(PartSize(8 * kGiB, 1), kMaxPartSize);
  EXPECT_EQ(PartSize(~uint64_t{0}, 1), kMaxPartSize);
  EXPECT_EQ(PartSize(~uint64_t{0}, kMaxParts), kMaxPartSize);
  EXPECT_EQ(PartSize(kGiB, 2001), 4 * kGiB);
  EXPECT_EQ(PartSize(kGiB, 3001), kMaxPartSize);  // 8 GiB, capped
  EXPECT_EQ(PartSize(kGiB, kMaxParts), kMaxPartSize);
  // 16 MiB first parts reach 4 GiB in the 9th thousand and the cap in the 10th.
  EXPECT_EQ(PartSize(16 * kMiB, 8001), 4 * kGiB);
  EXPECT_EQ(PartSize(16 * kMiB, 9001), kMaxPartSize);
}

TEST(PartSizeTest, RefusesPartNumbersOutsideOneToTenThousand) {
  for (int part : {kMaxParts + 1, 1 << 30}) {
    try {
      PartSize(kDefaultPartSize, part);
      ADD_FAILURE() << "part " << part << " was accepted";
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kIo) << "part " << part;
      EXPECT_NE(error.hint(), "") << "part " << part;
    }
  }
  // Part numbers below 1 are a bug of the caller, not a size problem.
  for (int part : {0, -1}) {
    try {
      PartSize(kDefaultPartSize, part);
      ADD_FAILURE() << "part " << part << " was accepted";
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kInternal) << "part " << part;
    }
  }
  EXPECT_NO_THROW(PartSize(kDefaultPartSize, 1));
  EXPECT_NO_THROW(PartSize(kDefaultPartSize, kMaxParts));
}

}  // namespace
}  // namespace pgbak
