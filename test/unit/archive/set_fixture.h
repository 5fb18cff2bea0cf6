// set_fixture.h: backup sets written to a real storage for the unit tests
// of the listing and of imports.
#pragma once

#include <ctime>
#include <memory>
#include <string>

#include "core/archive/manifest.h"
#include "core/archive/set_layout.h"
#include "core/storage/storage.h"

namespace pgbak::test {

// Put stores bytes as the object key.
inline void Put(Storage& storage, const std::string& key, const std::string& bytes) {
  std::unique_ptr<ObjectWriter> writer = storage.Create(key);
  writer->Write(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  writer->Finish();
}

// WriteSet writes a set with a data and a globals object (and a manifest
// unless complete is false); returns its directory.
inline std::string WriteSet(Storage& storage, const std::string& cluster,
                            const std::string& database, std::time_t started, int64_t id,
                            bool complete, bool encrypted = false) {
  std::string dir = SetDirectory(cluster, database, started, id);
  std::string suffix = encrypted ? kAgeSuffix : "";
  Put(storage, dir + "/" + kDataObjectCustom + suffix, std::string(100, 'd'));
  Put(storage, dir + "/" + kGlobalsObject + suffix, std::string(10, 'g'));
  if (!complete)
    return dir;
  Manifest manifest;
  manifest.tool = "pgbak_ext 1.5";
  manifest.backup_id = id;
  manifest.database = database;
  manifest.system_identifier = cluster;
  manifest.server_version = "15.20";
  manifest.dump_format = "custom";
  manifest.started_at = FormatUtcTimestamp(started, 0);
  manifest.finished_at = FormatUtcTimestamp(started + 5, 0);
  manifest.snapshot_lsn = "0/1000000";
  manifest.options_json = R"({"format":"custom"})";
  std::string sha(64, 'a');
  manifest.objects = {{std::string(kDataObjectCustom) + suffix, "data", 100, 1000, sha, "zstd",
                       encrypted ? "age" : "none"},
                      {std::string(kGlobalsObject) + suffix, "globals", 10, 50, sha, "zstd",
                       encrypted ? "age" : "none"}};
  if (encrypted)
    manifest.age_recipients = {"age1qqqq"};
  Put(storage, dir + "/" + kManifestObject, manifest.ToJson());
  return dir;
}

}  // namespace pgbak::test
