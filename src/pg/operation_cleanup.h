// operation_cleanup.h: removing what a failed, cancelled or crashed backup
// left in storage, so that nothing half-written stays behind.
//
// Include after postgres.h.
#pragma once

#include <cstdint>
#include <string>

namespace pgbak {

// RemovePartialSet removes the objects (complete or temporary) of the set at
// location and its directory if empty. Only a local directory location is
// handled here; errors are logged, not raised, since cleanup runs on paths
// that are already failing.
void RemovePartialSet(int64_t id, const std::string& location);

// RemoveSetObjects removes every object of the set at location (manifest
// first, so that a set half removed never looks complete) and the directory.
// Returns false with the reason in error if anything could not be removed.
bool RemoveSetObjects(const std::string& location, std::string& error);

}  // namespace pgbak
