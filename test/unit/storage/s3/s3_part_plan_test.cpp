// s3_part_plan_test.cpp: the memory budget of streaming multipart uploads
// (PartPlan in src/core/storage/s3/s3_part_plan.h), over whole synthetic
// uploads of several terabytes: whatever the object's size, the part being
// filled plus the earlier parts still held never exceed upload_memory, every
// part obeys S3's limits, and an object too large for the budget fails at
// part 10,001 with a hint naming the option to raise.
#include "core/storage/s3/s3_part_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/base/error.h"

namespace pgbak {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;
constexpr uint64_t kTiB = 1ull << 40;

// UploadWalk is what a synthetic upload of an object through a plan held.
struct UploadWalk {
  int parts = 0;
  uint64_t peak_bytes = 0;  // the most bytes held at once
  uint64_t largest_part = 0;
  int fewest_held = 1 << 30;  // the fewest earlier parts allowed while filling one
};

// WalkUpload plans every part of an object of object_size bytes and checks,
// at every part, S3's limits and the budget: while part n is filled the
// writer holds it plus up to MaxHeldParts(n) of the latest earlier parts
// (the worst case: those are the largest); between submitting part n and
// starting part n + 1 it holds one more of them and no part being filled.
UploadWalk WalkUpload(const PartPlan& plan, uint64_t object_size) {
  UploadWalk walk;
  std::vector<uint64_t> sizes;
  uint64_t stored = 0;
  int previous_held = 0;
  while (stored < object_size) {
    int number = static_cast<int>(sizes.size()) + 1;
    uint64_t size = plan.PartSize(number);
    EXPECT_LE(number, kMaxParts);
    EXPECT_GE(size, kMinPartSize) << "part " << number;
    EXPECT_LE(size, kMaxPartSize) << "part " << number;
    if (!sizes.empty()) {
      EXPECT_GE(size, sizes.back()) << "part " << number;
    }
    int held = plan.MaxHeldParts(number);
    EXPECT_GE(held, 1) << "part " << number << ": nothing could upload while it is filled";
    EXPECT_LE(held, plan.concurrency) << "part " << number;

    uint64_t between = 0;  // after submitting the previous part
    for (int back = 1; back <= previous_held + 1 && back <= static_cast<int>(sizes.size()); back++)
      between += sizes[sizes.size() - back];
    uint64_t filling = size;
    for (int back = 1; back <= held && back <= static_cast<int>(sizes.size()); back++)
      filling += sizes[sizes.size() - back];
    EXPECT_LE(between, plan.memory_budget) << "before part " << number;
    EXPECT_LE(filling, plan.memory_budget) << "part " << number;
    EXPECT_LE(filling, plan.PeakBytes(number)) << "part " << number;
    EXPECT_LE(plan.PeakBytes(number), plan.memory_budget) << "part " << number;

    walk.peak_bytes = std::max({walk.peak_bytes, between, filling});
    walk.largest_part = std::max(walk.largest_part, size);
    walk.fewest_held = std::min(walk.fewest_held, held);
    sizes.push_back(size);
    stored += size;
    previous_held = held;
  }
  walk.parts = static_cast<int>(sizes.size());
  return walk;
}

TEST(PartPlanTest, DefaultBudgetAndItsLargestObject) {
  PartPlan plan = MakePartPlan(kDefaultPartSize, kDefaultConcurrency, 0);
  EXPECT_EQ(plan.memory_budget, kDefaultUploadMemory);
  EXPECT_EQ(plan.memory_budget, 512 * kMiB);
  EXPECT_EQ(plan.first_part_size, kDefaultPartSize);
  EXPECT_EQ(plan.max_part_size, 256 * kMiB);
  // 1000 parts each of 16, 32, 64 and 128 MiB, then 6000 of 256 MiB.
  EXPECT_EQ(plan.MaxObjectSize(), (16'000 + 32'000 + 64'000 + 128'000 + 6'000 * 256) * kMiB);
  EXPECT_GT(plan.MaxObjectSize(), 1 * kTiB + 600 * kGiB);
  // Small objects keep today's parallelism: four 16 MiB parts in flight.
  EXPECT_EQ(plan.MaxHeldParts(1), 4);
  EXPECT_EQ(plan.PeakBytes(1), 80 * kMiB);
}

TEST(PartPlanTest, OneTebibyteStaysWithinTheDefaultBudget) {
  PartPlan plan = MakePartPlan(kDefaultPartSize, kDefaultConcurrency, 0);
  UploadWalk walk = WalkUpload(plan, 1 * kTiB);
  EXPECT_LE(walk.peak_bytes, 512 * kMiB);
  EXPECT_EQ(walk.peak_bytes, 512 * kMiB);  // the budget is used, not wasted
  EXPECT_EQ(walk.largest_part, 256 * kMiB);
  EXPECT_EQ(walk.fewest_held, 1);  // concurrency shrank as parts grew
  EXPECT_LE(walk.parts, kMaxParts);
}

TEST(PartPlanTest, FourTebibytesStayWithinARaisedBudget) {
  // Without a size hint, 4 TiB needs 2 GiB (parts reach 1 GiB)...
  PartPlan plan = MakePartPlan(kDefaultPartSize, kDefaultConcurrency, 2 * kGiB);
  EXPECT_GE(plan.MaxObjectSize(), 4 * kTiB);
  UploadWalk walk = WalkUpload(plan, 4 * kTiB);
  EXPECT_LE(walk.peak_bytes, 2 * kGiB);
  EXPECT_EQ(walk.largest_part, 1 * kGiB);
  // ...with one, 1 GiB: every part is 420 MiB from the start.
  PartPlan hinted = MakePartPlan(kDefaultPartSize, kDefaultConcurrency, 1 * kGiB, 4 * kTiB);
  EXPECT_EQ(hinted.first_part_size, 420 * kMiB);
  EXPECT_GE(hinted.MaxObjectSize(), 4 * kTiB);
  UploadWalk hinted_walk = WalkUpload(hinted, 4 * kTiB);
  EXPECT_LE(hinted_walk.peak_bytes, 1 * kGiB);
  EXPECT_LE(hinted_walk.parts, kMaxParts);
}

TEST(PartPlanTest, PeakDoesNotDependOnTheObjectSize) {
  for (uint64_t budget :
       {kMinUploadMemory, 64 * kMiB, uint64_t{0}, 3 * kGiB + 7, kMaxUploadMemory}) {
    for (int concurrency : {1, 4, 32}) {
      PartPlan plan = MakePartPlan(kDefaultPartSize, concurrency, budget);
      uint64_t effective = EffectiveUploadMemory(budget, kDefaultPartSize);
      ASSERT_EQ(plan.memory_budget, effective);
      // The largest object the plan holds, and more than S3's 5 TiB.
      uint64_t object = std::min(plan.MaxObjectSize(), 6 * kTiB);
      UploadWalk walk = WalkUpload(plan, object);
      EXPECT_LE(walk.peak_bytes, effective)
          << "budget " << budget << ", concurrency " << concurrency;
      for (int part : {1, 1000, 1001, 5000, kMaxParts}) {
        EXPECT_LE(plan.PeakBytes(part), effective) << "budget " << budget << ", part " << part;
      }
    }
  }
}

TEST(PartPlanTest, InFlightPartsShrinkAsPartsGrow) {
  PartPlan plan = MakePartPlan(kDefaultPartSize, 8, 256 * kMiB);
  EXPECT_EQ(plan.PartSize(1), 16 * kMiB);
  EXPECT_EQ(plan.MaxHeldParts(1), 8);  // concurrency bounds it: 144 MiB
  EXPECT_EQ(plan.PartSize(2001), 64 * kMiB);
  EXPECT_EQ(plan.MaxHeldParts(2001), 3);  // the budget bounds it: 4 x 64 MiB
  EXPECT_EQ(plan.PartSize(3001), 128 * kMiB);
  EXPECT_EQ(plan.MaxHeldParts(3001), 1);
  EXPECT_EQ(plan.PartSize(kMaxParts), 128 * kMiB);  // capped at half the budget
}

TEST(PartPlanTest, PartTenThousandAndOneNamesUploadMemory) {
  PartPlan plan = MakePartPlan(kDefaultPartSize, kDefaultConcurrency, 0);
  EXPECT_NO_THROW(plan.PartSize(kMaxParts));
  EXPECT_LT(plan.MaxObjectSize(), 4 * kTiB);
  try {
    plan.PartSize(kMaxParts + 1);
    ADD_FAILURE() << "part 10,001 was planned";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kIo);
    std::string message = error.what();
    EXPECT_NE(message.find("1.69 TiB"), std::string::npos) << message;
    EXPECT_NE(message.find("upload_memory of 512 MiB"), std::string::npos) << message;
    EXPECT_NE(error.hint().find("upload_memory"), std::string::npos) << error.hint();
  }
  try {
    plan.PartSize(0);
    ADD_FAILURE() << "part 0 was planned";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInternal);
  }
}

TEST(PartPlanTest, BudgetDefaultsAndBounds) {
  // Unset: the default, or twice part_size for definitions with large parts.
  EXPECT_EQ(EffectiveUploadMemory(0, kDefaultPartSize), kDefaultUploadMemory);
  EXPECT_EQ(EffectiveUploadMemory(0, 1 * kGiB), 2 * kGiB);
  EXPECT_EQ(EffectiveUploadMemory(0, 100 * kGiB), 2 * kMaxPartSize);
  // Set: as given, but at least a filling part and one in flight.
  EXPECT_EQ(EffectiveUploadMemory(100 * kMiB, kDefaultPartSize), 100 * kMiB);
  EXPECT_EQ(EffectiveUploadMemory(1, kDefaultPartSize), kMinUploadMemory);
  // A part_size over half the budget is lowered to fit it.
  PartPlan plan = MakePartPlan(64 * kMiB, 4, 100 * kMiB);
  EXPECT_EQ(plan.first_part_size, 50 * kMiB);
  EXPECT_EQ(plan.MaxHeldParts(1), 1);
  PartPlan smallest = MakePartPlan(kDefaultPartSize, 4, kMinUploadMemory);
  EXPECT_EQ(smallest.PartSize(1), kMinPartSize);
  EXPECT_EQ(smallest.PartSize(kMaxParts), kMinPartSize);
  EXPECT_EQ(smallest.MaxHeldParts(1), 1);
  // Large budgets stop at S3's 5 GiB parts.
  EXPECT_EQ(MakePartPlan(kDefaultPartSize, 4, kMaxUploadMemory).max_part_size, kMaxPartSize);
}

TEST(PartPlanTest, SizeHintStartsWithLargerParts) {
  // Unknown or small: the storage's part_size.
  EXPECT_EQ(MakePartPlan(kDefaultPartSize, 4, 0, 0).first_part_size, kDefaultPartSize);
  EXPECT_EQ(MakePartPlan(kDefaultPartSize, 4, 0, 10 * kGiB).first_part_size, kDefaultPartSize);
  // 1 TiB / 10,000 is 104.9 MiB: parts of 105 MiB, three held while one fills.
  PartPlan tebibyte = MakePartPlan(kDefaultPartSize, 4, 0, 1 * kTiB);
  EXPECT_EQ(tebibyte.first_part_size, 105 * kMiB);
  EXPECT_EQ(tebibyte.MaxHeldParts(1), 3);
  EXPECT_GE(tebibyte.MaxObjectSize(), 1 * kTiB);
  // More than the budget allows: the largest part it allows.
  EXPECT_EQ(MakePartPlan(kDefaultPartSize, 4, 0, 100 * kTiB).first_part_size, 256 * kMiB);
  EXPECT_EQ(MakePartPlan(kDefaultPartSize, 4, 0, ~uint64_t{0}).first_part_size, 256 * kMiB);
}

}  // namespace
}  // namespace pgbak
