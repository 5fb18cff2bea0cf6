// s3_part_plan.h: how a streaming multipart upload sizes its parts and how
// many it keeps in flight, so that its memory is bounded by a byte budget.
//
// The object's size is not known in advance (it is pg_dump's compressed
// output), S3 allows 10,000 parts of 5 MiB to 5 GiB, and every part is kept
// in memory until S3 has acknowledged it, so that a failed part is re-sent
// from its own bytes. Parts therefore start small (many in flight, fast for
// the usual object) and double every 1000 parts, but never beyond half the
// budget; the number of earlier parts a writer may hold while it fills the
// next one shrinks as they grow, down to one. The plan is pure so that the
// bound can be checked over a whole 10,000-part upload without uploading.
#pragma once

#include <cstdint>

namespace pgbak {

constexpr uint64_t kMinPartSize = 5ull << 20;  // S3's minimum for all parts but the last
constexpr uint64_t kMaxPartSize = 5ull << 30;  // S3's maximum part size
constexpr int kMaxParts = 10000;               // S3's maximum part count
constexpr uint64_t kDefaultPartSize = 16ull << 20;
constexpr int kDefaultConcurrency = 4;
// upload_memory: the default holds objects up to about 1.7 TiB with the
// default part_size; the bounds are a filling part plus one in flight of
// S3's smallest parts, and far more than 32 uploaders of 5 GiB parts need.
constexpr uint64_t kDefaultUploadMemory = 512ull << 20;
constexpr uint64_t kMinUploadMemory = 2 * kMinPartSize;
constexpr uint64_t kMaxUploadMemory = 64ull << 30;

// PartSize is the size of part part_number (1-based) of an upload whose first
// parts are first_part_size, before any memory budget: it doubles after
// every 1000 parts (capped at 5 GiB), so 10,000 parts hold at least 5 TB.
// Throws once part_number exceeds 10,000. Writers use PartPlan.
uint64_t PartSize(uint64_t first_part_size, int part_number);

// EffectiveUploadMemory is the budget of one upload: upload_memory (0: the
// storage did not set it) raised to at least two of S3's smallest parts;
// unset, it is the default or twice part_size, whichever is more, so that
// definitions made before the option existed keep their part size.
uint64_t EffectiveUploadMemory(uint64_t upload_memory, uint64_t part_size);

// PartPlan bounds what one upload holds. While part n is filled the writer
// holds that part's buffer (PartSize(n) bytes) and at most MaxHeldParts(n)
// buffers of earlier parts, in flight or kept for reuse, none larger than
// PartSize(n): at most PeakBytes(n) <= memory_budget, whatever the object's
// size. An object larger than MaxObjectSize() fails at part 10,001.
struct PartPlan {
  uint64_t memory_budget = 0;    // the effective budget, in bytes
  uint64_t first_part_size = 0;  // from 5 MiB to max_part_size
  uint64_t max_part_size = 0;    // min(5 GiB, memory_budget / 2)
  int concurrency = 1;           // uploader threads

  // PartSize is the size of part part_number: the doubling schedule, capped
  // at max_part_size. Past 10,000 it throws kIo with a hint to raise
  // upload_memory.
  uint64_t PartSize(int part_number) const;
  // MaxHeldParts is how many buffers of earlier parts may be held while
  // part part_number is filled: min(concurrency, budget / size - 1), >= 1.
  int MaxHeldParts(int part_number) const;
  // PeakBytes is the most bytes held while part part_number is filled.
  uint64_t PeakBytes(int part_number) const;
  // MaxObjectSize is what 10,000 parts of this plan hold.
  uint64_t MaxObjectSize() const;
};

// MakePartPlan builds the plan of one upload from the storage's part_size,
// concurrency and upload_memory (0: unset). expected_size (0: unknown) is a
// hint, such as the database's size: the first parts are then large enough
// that 10,000 of them hold it, within the budget.
PartPlan MakePartPlan(uint64_t part_size, int concurrency, uint64_t upload_memory,
                      uint64_t expected_size = 0);

}  // namespace pgbak
