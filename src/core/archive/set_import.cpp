// set_import.cpp: checking a set before it is imported (set_import.h).
#include "core/archive/set_import.h"

#include <cctype>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/archive/set_layout.h"
#include "core/base/error.h"
#include "core/base/json.h"
#include "core/options/job_options.h"
#include "core/pipeline/meter_sink.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

[[noreturn]] void Refuse(const std::string& why) {
  throw Error(ErrorKind::kCorrupt, why);
}

// IsLsn accepts PostgreSQL's text form of an LSN: 1 to 8 hex digits, '/',
// 1 to 8 hex digits.
bool IsLsn(const std::string& text) {
  size_t slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash > 8 || text.size() - slash - 1 == 0 ||
      text.size() - slash - 1 > 8)
    return false;
  for (size_t i = 0; i < text.size(); i++)
    if (i != slash && !std::isxdigit(static_cast<unsigned char>(text[i])))
      return false;
  return true;
}

}  // namespace

ImportRecord CheckSetForImport(const SetSummary& set, const Manifest& manifest,
                               const std::string& manifest_text,
                               const std::vector<ObjectInfo>& objects) {
  ImportRecord record;
  record.key = set.key;
  record.directory_id = set.directory_id;
  if (set.directory_id <= 0 || !IsSetKey(set.directory_id, set.key))
    Refuse("its directory is not a set directory");
  std::vector<std::string> parts = SplitKey(set.key);
  if (manifest.system_identifier != parts[0] || PathComponent(manifest.database) != parts[1])
    Refuse("manifest.json describes database \"" + Printable(manifest.database) + "\" of cluster " +
           Printable(manifest.system_identifier) + ", not the one its directory is named for");
  if (manifest.backup_id <= 0)
    Refuse("manifest.json names no backup id");
  if (manifest.database.empty() || manifest.database.size() > kMaxDatabaseNameBytes ||
      manifest.database.find('\0') != std::string::npos)
    Refuse("manifest.json names no database PostgreSQL can hold");
  if (manifest.dump_format != "custom" && manifest.dump_format != "plain")
    Refuse("manifest.json: unknown dump format \"" + Printable(manifest.dump_format) + "\"");
  if (!ParseUtcTimestamp(manifest.started_at, &record.started_us) ||
      !ParseUtcTimestamp(manifest.finished_at, &record.finished_us))
    Refuse("manifest.json: started_at and finished_at must be UTC timestamps");
  if (!manifest.snapshot_lsn.empty() && !IsLsn(manifest.snapshot_lsn))
    Refuse("manifest.json: snapshot_lsn \"" + Printable(manifest.snapshot_lsn) +
           "\" is not an LSN");

  // Every object the manifest lists is there, with its size.
  std::map<std::string, uint64_t> present;
  for (const ObjectInfo& object : objects)
    present[object.key] = object.size;
  std::string data_name = manifest.dump_format == "custom" ? kDataObjectCustom : kDataObjectPlain;
  int data_objects = 0;
  bool tables_encrypted = false;
  for (const ManifestObject& object : manifest.objects) {
    if (!IsSetObject(object.name) || object.name == kManifestObject)
      Refuse("manifest.json lists an object \"" + Printable(object.name) +
             "\" that is not one of a set's");
    auto found = present.find(set.key + "/" + object.name);
    if (found == present.end())
      Refuse("object " + object.name + " is missing from the set");
    if (found->second != object.size)
      Refuse(object.name + ": size mismatch: the manifest says " + std::to_string(object.size) +
             " bytes, storage holds " + std::to_string(found->second));
    if (object.role == "data") {
      data_objects++;
      if (object.name != data_name && object.name != data_name + kAgeSuffix)
        Refuse("manifest.json: data object " + object.name + " in a " + manifest.dump_format +
               "-format set");
      record.data_sha256 = object.sha256;
      record.raw_bytes += object.raw_size;
      record.stored_bytes += object.size;
    } else if (object.role == kTableDataRole) {
      // A parallel export's tables are part of the data, as the backup
      // recorded it.
      if (!IsTableObject(object.name))
        Refuse("manifest.json: table object " + object.name + " is not named as one");
      record.raw_bytes += object.raw_size;
      record.stored_bytes += object.size;
    } else if (object.role == "globals") {
      record.globals_bytes += object.size;
    } else if (object.role == "tables") {
      tables_encrypted = true;
    }
  }
  if (data_objects != 1)
    Refuse("manifest.json lists " + std::to_string(data_objects) + " data objects, not one");
  if (record.raw_bytes > static_cast<uint64_t>(INT64_MAX) ||
      record.stored_bytes > static_cast<uint64_t>(INT64_MAX) ||
      record.globals_bytes > static_cast<uint64_t>(INT64_MAX))
    Refuse("manifest.json: object sizes beyond what backup_log can hold");
  record.table_count =
      tables_encrypted ? -1 : static_cast<int64_t>(RowsPerTable(manifest.tables).size());
  record.backup_id = manifest.backup_id;
  record.system_identifier = manifest.system_identifier;
  record.database = manifest.database;
  record.format = manifest.dump_format;
  record.snapshot_lsn = manifest.snapshot_lsn;
  Sha256 hash;
  hash.Update(reinterpret_cast<const uint8_t*>(manifest_text.data()), manifest_text.size());
  record.manifest_sha256 = hash.HexDigest();

  json::Value options =
      manifest.options_json.empty() ? json::Value::Object() : json::Parse(manifest.options_json);
  if (options.type() != json::Type::kObject)
    Refuse("manifest.json: options must be an object");
  json::Value import = json::Value::Object();
  import.Set("directory_id", json::Value::Number(record.directory_id));
  import.Set("backup_id", json::Value::Number(record.backup_id));
  import.Set("cluster", json::Value::String(record.system_identifier));
  options.Set("import", std::move(import));
  record.options_json = options.Serialize();
  return record;
}

std::string ImportKey(const Storage& storage, const std::string& location) {
  std::string key = storage.KeyOf(location);
  std::vector<std::string> parts = SplitKey(key);
  if (key.empty() || parts.size() != 3)
    return "";
  size_t dash = parts[2].rfind('-');
  if (dash == std::string::npos || dash + 1 >= parts[2].size() || dash + 19 < parts[2].size() ||
      parts[2].find_first_not_of("0123456789", dash + 1) != std::string::npos)
    return "";
  return IsSetKey(std::stoll(parts[2].substr(dash + 1)), key) ? key : "";
}

}  // namespace pgbak
