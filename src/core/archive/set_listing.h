// set_listing.h: the backup sets a storage holds, from their manifests,
// without a server (pgbak sets, pgbak_storage_sets).
//
// A set is a directory <system identifier>/<database>/<UTC time>-<id>
// below the storage's root (set_layout.h). It is complete when its
// manifest.json is there and reads as a manifest: the manifest is written
// last, so a set without one is a backup that never finished (or is being
// written), listed as incomplete and never as a backup. Nothing here
// trusts a manifest beyond reading it: checking objects against it is a
// verification's job.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/archive/manifest.h"
#include "core/storage/storage.h"

namespace pgbak {

// SetSummary is one set directory as the listing sees it.
struct SetSummary {
  std::string key;           // the set directory, relative to the root
  int64_t directory_id = 0;  // the id its name ends with (a copy's own)
  bool complete = false;     // its manifest is there and reads
  std::string problem;       // why it is not complete
  // From the manifest (complete sets only).
  int64_t backup_id = 0;  // the backup it describes
  std::string system_identifier;
  std::string database;
  std::string dump_format;  // "custom" or "plain"
  std::string started_at;   // ISO 8601 UTC
  std::string finished_at;
  uint64_t stored_bytes = 0;  // every object but the manifest
  uint64_t raw_bytes = 0;     // decompressed
  bool encrypted = false;
};

// SetFilter narrows a listing; an empty member matches everything.
struct SetFilter {
  std::string database;
  std::string system_identifier;
};

// SetVisitor is shown every complete set that passes the filter, with its
// manifest as read (and its bytes) and the objects its directory holds, so
// that a caller checks a set further (pgbak_import) without reading its
// manifest or listing its directory again. It may throw to stop the
// listing.
using SetVisitor =
    std::function<void(const SetSummary& set, const Manifest& manifest,
                       const std::string& manifest_text, const std::vector<ObjectInfo>& objects)>;

// ListSets lists the set directories below storage's root, oldest first
// (by the time in their names), complete or not, that match filter. A
// set's database and cluster come from its path when it has no manifest.
// With a cluster in filter, only that cluster's directory is listed.
// visit, if given, sees each complete set (see SetVisitor).
std::vector<SetSummary> ListSets(Storage& storage, const SetFilter& filter = {},
                                 const SetVisitor& visit = nullptr);

// ListSetAt is ListSets of the one set directory key (as SetSummary.key):
// only its objects are listed. Empty if it holds no set object.
std::vector<SetSummary> ListSetAt(Storage& storage, const std::string& key,
                                  const SetVisitor& visit = nullptr);

}  // namespace pgbak
