// wal_retention.h: which archived WAL files no kept base backup needs.
//
// A base backup needs the WAL from the segment its start LSN is in onwards,
// on its timeline and on the timelines that followed it (after a
// promotion, later segments are on the new timeline). So a WAL file may go
// once its segment (the 16 hex digits after the timeline: log and segment
// number) comes before the start segment of every kept base backup, on
// whatever timeline. Timeline history files are never expired (they are
// tiny, and recovery to any timeline reads them). With no kept base backup,
// nothing is expired: only a kept base backup says where the need starts.
#pragma once

#include <string>
#include <vector>

#include "core/wal/wal_layout.h"

namespace pgbak {

// WalSegmentPart is the segment part of an archived name (the 16 hex
// digits after its timeline), or "" for a timeline history file.
std::string WalSegmentPart(const std::string& name);

// The caller must pass the start segment of every base backup that is kept
// or still running, on every timeline: a base backup being taken on a new
// timeline after a failover may start below a kept one's start.
//
// WalObjectsToExpire keeps, of the listed keys (below a WAL directory),
// the objects whose segment comes before the earliest of
// needed_start_segments (segment file names, e.g. a base backup's start
// WAL file). Keys that are not archived WAL objects, history files and
// everything from the earliest needed segment on are kept. Empty when
// needed_start_segments is empty. Throws kInvalidParameter for a needed
// name that is not a segment.
std::vector<WalObject> WalObjectsToExpire(const std::vector<std::string>& listed_keys,
                                          const std::vector<std::string>& needed_start_segments);

// AnotherWriter says why the listed keys show WAL this server cannot have
// written, or "" if they show none: a file (or timeline history) of a
// timeline above current_timeline, or a segment of current_timeline past
// the segment being written now (current_segment, a segment file name).
// Such files come from another cluster with the same system identifier (a
// copy restored from a base backup that archives into the same storage),
// whose base backups this server's catalog does not know: nothing may be
// expired then. Throws kInvalidParameter for a current_segment that is not
// a segment name.
std::string AnotherWriter(const std::vector<std::string>& listed_keys,
                          const std::string& current_segment);

}  // namespace pgbak
