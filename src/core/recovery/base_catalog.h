// base_catalog.h: what a storage holds for point-in-time recovery, per
// cluster: its complete base backups (from their manifests) and the WAL
// segments its archive holds, from one listing.
//
// A base set is <system identifier>/base/<UTC time>-<id>/ with a
// manifest.json of kind "base" (base_layout.h); one without a readable
// manifest, or whose manifest is not a base backup's, is left out and
// said so. WAL objects are those of wal_layout.h.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/archive/manifest.h"
#include "core/crypto/age.h"
#include "core/recovery/recovery_plan.h"
#include "core/storage/storage.h"

namespace pgbak {

// ClusterArchive is one cluster's base backups (oldest end LSN first) and
// WAL archive.
struct ClusterArchive {
  std::string system_identifier;
  std::vector<BaseBackupInfo> bases;
  std::vector<Manifest> manifests;  // of bases, in the same order
  ArchiveCoverage coverage;
  std::vector<std::string> history_files;  // timeline history files archived
  std::vector<std::string> problems;       // base sets left out, and why
};

// BaseInfoFromManifest describes the base set at key from its manifest;
// throws kCorrupt if the manifest is not a base backup's.
BaseBackupInfo BaseInfoFromManifest(const std::string& key, const Manifest& manifest);

// ReadClusterArchives lists the storage below "<system_identifier>/" (or
// all of it when system_identifier is empty) and reads every base set's
// manifest. Clusters with neither base sets nor WAL are absent.
std::map<std::string, ClusterArchive> ReadClusterArchives(Storage& storage,
                                                          const std::string& system_identifier);

// ReadTimelineHistories reads the timeline history files of
// cluster.history_files from the archive into cluster.coverage.histories,
// decrypted with identities. Throws kCorrupt for one that does not read
// back or parse (recovery would follow it), and the storage's errors.
void ReadTimelineHistories(Storage& storage, ClusterArchive& cluster,
                           const std::vector<AgeIdentity>& identities);

}  // namespace pgbak
