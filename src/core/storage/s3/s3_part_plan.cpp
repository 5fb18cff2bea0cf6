// s3_part_plan.cpp: part sizes and the memory budget of multipart uploads.
#include "core/storage/s3/s3_part_plan.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include "core/base/error.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

constexpr int kPartsPerDoubling = 1000;

// SizeText shows a byte count the way the options are usually given.
std::string SizeText(uint64_t bytes) {
  char text[64];
  if (bytes >= (1ull << 40))
    std::snprintf(text, sizeof(text), "%.2f TiB", static_cast<double>(bytes) / (1ull << 40));
  else if (bytes >= (1ull << 30))
    std::snprintf(text, sizeof(text), "%.2f GiB", static_cast<double>(bytes) / (1ull << 30));
  else
    std::snprintf(text, sizeof(text), "%.0f MiB", static_cast<double>(bytes) / (1ull << 20));
  return text;
}

void CheckPartNumber(int part_number) {
  if (part_number < 1)
    throw Error(ErrorKind::kInternal, "invalid part number " + std::to_string(part_number));
}

}  // namespace

uint64_t PartSize(uint64_t first_part_size, int part_number) {
  CheckPartNumber(part_number);
  if (part_number > kMaxParts)
    throw Error(
        ErrorKind::kIo,
        "the object is too large for a multipart upload of " + std::to_string(kMaxParts) + " parts",
        "", "Raise the storage's part_size.");
  uint64_t size = std::max(first_part_size, kMinPartSize);
  for (int tier = (part_number - 1) / kPartsPerDoubling; tier > 0 && size < kMaxPartSize; tier--)
    size *= 2;
  return std::min(size, kMaxPartSize);
}

uint64_t EffectiveUploadMemory(uint64_t upload_memory, uint64_t part_size) {
  if (upload_memory == 0) {
    uint64_t part = std::min(std::max(part_size, kMinPartSize), kMaxPartSize);
    return std::max(kDefaultUploadMemory, 2 * part);
  }
  return std::max(upload_memory, kMinUploadMemory);
}

uint64_t PartPlan::PartSize(int part_number) const {
  CheckPartNumber(part_number);
  if (part_number > kMaxParts)
    throw Error(ErrorKind::kIo,
                "the object is larger than the " + SizeText(MaxObjectSize()) +
                    " that a multipart upload of " + std::to_string(kMaxParts) +
                    " parts holds with upload_memory of " + SizeText(memory_budget),
                "Parts are kept in memory until S3 has them, and at most half of upload_memory "
                "each (" +
                    SizeText(max_part_size) + ").",
                "Raise the storage's upload_memory option (pgbak_storage_add): twice as much "
                "holds about twice as large an object.");
  return std::min(pgbak::PartSize(first_part_size, part_number), max_part_size);
}

int PartPlan::MaxHeldParts(int part_number) const {
  uint64_t size = PartSize(part_number);
  uint64_t fit = memory_budget / size - 1;  // size <= budget / 2: at least 1
  return static_cast<int>(std::max<uint64_t>(1, std::min<uint64_t>(concurrency, fit)));
}

uint64_t PartPlan::PeakBytes(int part_number) const {
  return PartSize(part_number) * (1 + static_cast<uint64_t>(MaxHeldParts(part_number)));
}

uint64_t PartPlan::MaxObjectSize() const {
  uint64_t total = 0;
  for (int part = 1; part <= kMaxParts; part++)
    total += std::min(pgbak::PartSize(first_part_size, part), max_part_size);
  return total;
}

PartPlan MakePartPlan(uint64_t part_size, int concurrency, uint64_t upload_memory,
                      uint64_t expected_size) {
  PartPlan plan;
  plan.memory_budget = EffectiveUploadMemory(upload_memory, part_size);
  plan.max_part_size = std::min(kMaxPartSize, plan.memory_budget / 2);
  plan.concurrency = std::max(1, concurrency);
  uint64_t first = std::max(part_size, kMinPartSize);
  if (expected_size > 0) {
    // The smallest part, rounded up to a whole MiB, of which 10,000 hold it.
    uint64_t needed = expected_size / kMaxParts + (expected_size % kMaxParts != 0 ? 1 : 0);
    needed = (needed + (1ull << 20) - 1) & ~((1ull << 20) - 1);
    first = std::max(first, needed);
  }
  plan.first_part_size = std::min(first, plan.max_part_size);
  return plan;
}

}  // namespace pgbak
