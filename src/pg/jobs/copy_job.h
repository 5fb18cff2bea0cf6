// copy_job.h: copying a backup set to another storage in a worker.
//
// Include after postgres.h.
#pragma once

#include <cstdint>
#include <string>

namespace pgbak {

// RunCopy copies the set of backup (or copy) source_id to storage for
// operation id: every object streamed from the source storage to storage,
// its size and SHA-256 checked against the manifest on the way (nothing is
// staged locally), the manifest written last, byte for byte; then marks id
// succeeded with the source's sizes and checksums. location is set (and
// recorded on the row) before the first object is written, so that a
// failed copy's objects are removed like a failed backup's.
void RunCopy(int64_t id, int64_t source_id, const std::string& storage, std::string& location);

// QueueScheduledCopies queues the copies job job_name asks for (copy_to)
// of its backup backup_id, once that backup has succeeded.
void QueueScheduledCopies(int64_t backup_id, const std::string& job_name);

}  // namespace pgbak
