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

}  // namespace pgbak
