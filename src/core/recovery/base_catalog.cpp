// base_catalog.cpp: see base_catalog.h.
#include "core/recovery/base_catalog.h"

#include <algorithm>

#include "core/archive/base_layout.h"
#include "core/archive/set_layout.h"
#include "core/archive/set_reader.h"
#include "core/base/error.h"
#include "core/wal/wal_get.h"
#include "core/wal/wal_layout.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

// IsSetDirectoryName says whether leaf is "<YYYYMMDD>T<HHMMSS>Z-<digits>".
bool IsSetDirectoryName(const std::string& leaf, int64_t& id) {
  if (leaf.size() < 18 || leaf.size() > 16 + 19 || leaf[8] != 'T' || leaf[15] != 'Z' ||
      leaf[16] != '-')
    return false;
  std::string digits = leaf.substr(17);
  if (digits.find_first_not_of("0123456789") != std::string::npos)
    return false;
  id = std::stoll(digits);
  return true;
}

}  // namespace

BaseBackupInfo BaseInfoFromManifest(const std::string& key, const Manifest& manifest) {
  if (manifest.kind != "base")
    throw Error(ErrorKind::kCorrupt, "its manifest.json is not a base backup's");
  BaseBackupInfo info;
  info.key = key;
  info.system_identifier = manifest.system_identifier;
  info.backup_id = manifest.backup_id;
  std::vector<std::string> parts = SplitKey(key);
  if (parts.empty() || !IsSetDirectoryName(parts.back(), info.directory_id))
    info.directory_id = manifest.backup_id;
  if (manifest.base.timeline < 1 || manifest.base.timeline > 0xFFFFFFFFLL)
    throw Error(ErrorKind::kCorrupt, "its manifest.json gives no timeline");
  info.timeline = static_cast<uint32_t>(manifest.base.timeline);
  info.start_lsn = ParseLsn(manifest.base.start_lsn);
  info.end_lsn = ParseLsn(manifest.base.end_lsn);
  info.finished_at = manifest.finished_at;
  if (!ParseUtcTime(manifest.finished_at, info.finished_us))
    throw Error(ErrorKind::kCorrupt, "its manifest.json's finished_at is not a time: " +
                                         Printable(manifest.finished_at));
  info.wal_first_segment = manifest.base.wal_first_segment;
  info.wal_last_segment = manifest.base.wal_last_segment;
  info.wal_archived = manifest.base.wal_archived;
  return info;
}

std::map<std::string, ClusterArchive> ReadClusterArchives(Storage& storage,
                                                          const std::string& system_identifier) {
  std::map<std::string, ClusterArchive> clusters;
  std::vector<ObjectInfo> listed =
      storage.List(system_identifier.empty() ? "" : system_identifier + "/");
  for (const ObjectInfo& object : listed) {
    std::vector<std::string> parts = SplitKey(object.key);
    WalObject wal;
    if (parts.size() == 4 && parts[1] == kBaseDirectory && parts[3] == kManifestObject) {
      int64_t id = 0;
      if (!IsSetDirectoryName(parts[2], id))
        continue;
      std::string key = parts[0] + "/" + parts[1] + "/" + parts[2];
      ClusterArchive& cluster = clusters[parts[0]];
      cluster.system_identifier = parts[0];
      try {
        if (object.size > kMaxManifestBytes)
          throw Error(ErrorKind::kCorrupt, "manifest.json is too large to be a manifest");
        Manifest manifest = Manifest::FromJson(ReadManifestText(storage, object.key));
        // A logical set of a database named "base" lives here too.
        if (manifest.kind.empty() && manifest.database == kBaseDirectory)
          continue;
        BaseBackupInfo info = BaseInfoFromManifest(key, manifest);
        if (info.system_identifier != parts[0])
          throw Error(ErrorKind::kCorrupt,
                      "its manifest.json names cluster " + Printable(info.system_identifier));
        cluster.bases.push_back(info);
        cluster.manifests.push_back(std::move(manifest));
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::kCorrupt && e.kind() != ErrorKind::kInvalidParameter)
          throw;
        cluster.problems.push_back(storage.Location(key) + ": " + e.what());
      }
    } else if (parts.size() == 4 && parts[1] == "wal" && ParseWalObjectKey(object.key, wal)) {
      ClusterArchive& cluster = clusters[parts[0]];
      cluster.system_identifier = parts[0];
      if (wal.name.size() == 24)
        cluster.coverage
            .segments[static_cast<uint32_t>(std::stoul(wal.name.substr(0, 8), nullptr, 16))]
            .insert(wal.name);
      else if (wal.name.size() == 16)
        cluster.history_files.push_back(wal.name);
    }
  }
  for (auto& [sysid, cluster] : clusters) {
    // Oldest end first, manifests along.
    std::vector<size_t> order(cluster.bases.size());
    for (size_t i = 0; i < order.size(); i++)
      order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return cluster.bases[a].end_lsn != cluster.bases[b].end_lsn
                 ? cluster.bases[a].end_lsn < cluster.bases[b].end_lsn
                 : cluster.bases[a].directory_id < cluster.bases[b].directory_id;
    });
    std::vector<BaseBackupInfo> bases;
    std::vector<Manifest> manifests;
    for (size_t i : order) {
      bases.push_back(cluster.bases[i]);
      manifests.push_back(std::move(cluster.manifests[i]));
    }
    cluster.bases = std::move(bases);
    cluster.manifests = std::move(manifests);
  }
  return clusters;
}

void ReadTimelineHistories(Storage& storage, ClusterArchive& cluster,
                           const std::vector<AgeIdentity>& identities) {
  // A history file holds a line per ancestor timeline: small.
  constexpr size_t kMaxHistoryBytes = 1 << 20;
  for (const std::string& name : cluster.history_files) {
    WalObject object;
    if (!FindWalObject(storage, cluster.system_identifier, name, object))
      continue;
    uint32_t timeline = static_cast<uint32_t>(std::stoul(name.substr(0, 8), nullptr, 16));
    try {
      cluster.coverage.histories[timeline] =
          ParseTimelineHistory(ReadWalFile(storage, object, identities, kMaxHistoryBytes));
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kCorrupt)
        throw;
      throw Error(ErrorKind::kCorrupt, "timeline history file " + name + ": " + e.what(),
                  "Object " + storage.Location(object.key) + ".");
    }
  }
}

}  // namespace pgbak
