// operation_cleanup.h: removing what a failed, cancelled, crashed or expired
// backup left in storage, so that nothing half-written stays behind.
//
// A location comes from a backup_log row, so it is never trusted as a path:
// only a set directory of this operation below the local storage root is
// touched, and in it only the files a backup writes.
//
// Include after postgres.h.
#pragma once

#include <cstdint>
#include <string>

namespace pgbak {

// RemovePartialSet removes the objects (complete or temporary) of operation
// id's set at location and the directory if then empty. Problems are logged,
// not raised, since cleanup runs on paths that are already failing; an empty
// location (nothing was written) is not a problem.
void RemovePartialSet(int64_t id, const std::string& location);

// RemoveSetObjects removes every object of operation id's set at location
// (manifest first, so that a set half removed never looks complete) and the
// directory. Returns false with the reason in error if the location is not
// that set's directory or anything could not be removed.
bool RemoveSetObjects(int64_t id, const std::string& location, std::string& error);

// IsSetLocation says whether location is the directory of operation id's set
// below the local storage root: <root>/<sysid>/<database>/<stamp>-<id>.
bool IsSetLocation(int64_t id, const std::string& location);

}  // namespace pgbak
