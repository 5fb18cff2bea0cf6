// set_import.h: checking a set found in a storage before a server registers
// it in backup_log (pgbak_import), typically a new server after a total
// loss, whose cluster is not the one that wrote the set.
//
// What is checked is what a listing can check without reading the
// objects: the manifest names the set its directory says it is (cluster and
// database; the directory's id may be a copy's own), lists one data object
// of its format and only objects a set holds, and every object it lists is
// there with the size it says. The SHA-256 of each object is left to
// pgbak_verify, which reads everything back; the manifest's own SHA-256 is
// recorded, so that every later verify and restore checks that the
// manifest is still the one imported.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/archive/manifest.h"
#include "core/archive/set_listing.h"
#include "core/storage/storage.h"

namespace pgbak {

// ImportRecord is what backup_log records of an imported set.
struct ImportRecord {
  std::string key;           // the set directory
  int64_t directory_id = 0;  // the id its name ends with
  int64_t backup_id = 0;     // the backup its manifest describes
  std::string system_identifier;
  std::string database;
  std::string format;      // "custom" or "plain"
  int64_t started_us = 0;  // microseconds since the Unix epoch
  int64_t finished_us = 0;
  std::string snapshot_lsn;     // "X/X", or "" if the manifest has none
  std::string data_sha256;      // of the stored data object
  uint64_t raw_bytes = 0;       // the data object decompressed
  uint64_t stored_bytes = 0;    // the data object as stored
  uint64_t globals_bytes = 0;   // the globals object as stored
  int64_t table_count = -1;     // tables counted; -1: unknown (encrypted)
  std::string manifest_sha256;  // of manifest.json as read
  // The manifest's backup options, with "import": {"directory_id",
  // "backup_id", "cluster"} added: how the server finds the set again.
  std::string options_json;
};

// CheckSetForImport checks a complete set as ListSets showed it to a
// SetVisitor (its manifest, the manifest's bytes and the objects of its
// directory) and returns what to record; throws kCorrupt naming the first
// thing that does not hold (a missing object, a size that differs, a
// manifest of another set).
ImportRecord CheckSetForImport(const SetSummary& set, const Manifest& manifest,
                               const std::string& manifest_text,
                               const std::vector<ObjectInfo>& objects);

// ImportKey is the set directory that location names in storage, or ""
// if location is not one (not below the storage's root, or not
// <cluster>/<database>/<time>-<id> below it).
std::string ImportKey(const Storage& storage, const std::string& location);

}  // namespace pgbak
