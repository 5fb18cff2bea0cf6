// manifest.cpp: manifest.json serialization and validation.
//
// The key order is fixed so two manifests diff cleanly and a person reading
// one by hand finds the identity of the set first and the details after.
// Reading is strict about what a restore relies on (types, sizes, checksum
// syntax) and lenient about extra keys, so a newer minor writer stays
// readable.
#include "core/archive/manifest.h"

#include <charconv>
#include <map>
#include <set>
#include <string>

#include "core/base/error.h"
#include "core/base/json.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

// Unsigned renders a uint64 as a JSON number without going through int64.
json::Value Unsigned(uint64_t n) {
  return json::Value::NumberLexeme(std::to_string(n));
}

// Corrupt is the error for a manifest that does not say what it must.
[[noreturn]] void Corrupt(const std::string& why) {
  throw Error(ErrorKind::kCorrupt, "invalid backup manifest: " + why);
}

// Member returns a required member of the given type.
const json::Value& Member(const json::Value& object, const std::string& where,
                          const std::string& key, json::Type type, const char* type_name) {
  const json::Value* value = object.Find(key);
  if (value == nullptr) {
    Corrupt("missing key \"" + key + "\"" + where);
  }
  if (value->type() != type) {
    Corrupt("key \"" + key + "\"" + where + " must be " + type_name + ", not " +
            value->TypeNameWithArticle());
  }
  return *value;
}

// StringMember returns a required string member.
std::string StringMember(const json::Value& object, const std::string& where,
                         const std::string& key) {
  return Member(object, where, key, json::Type::kString, "a string").AsString();
}

// IntegerMember returns a required integer member that fits int64.
int64_t IntegerMember(const json::Value& object, const std::string& where, const std::string& key) {
  const json::Value& value = Member(object, where, key, json::Type::kNumber, "a number");
  try {
    return value.AsInt64();
  } catch (const Error&) {
    Corrupt("key \"" + key + "\"" + where + " must be an integer, not " + value.Serialize());
  }
}

// UnsignedMember reads the lexeme directly, so sizes above 2^63 stay exact.
uint64_t UnsignedMember(const json::Value& object, const std::string& where,
                        const std::string& key) {
  const json::Value& value = Member(object, where, key, json::Type::kNumber, "a number");
  std::string lexeme = value.Serialize();
  uint64_t result = 0;
  auto [ptr, ec] = std::from_chars(lexeme.data(), lexeme.data() + lexeme.size(), result);
  if (ec != std::errc() || ptr != lexeme.data() + lexeme.size()) {
    Corrupt("key \"" + key + "\"" + where + " must be a non-negative integer, not " + lexeme);
  }
  return result;
}

// IsSha256Hex checks for 64 lowercase hex digits.
bool IsSha256Hex(const std::string& text) {
  if (text.size() != 64) {
    return false;
  }
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

// TableList renders row counts as a JSON array of {schema, table, rows},
// with "object" for a table stored in an object of its own.
json::Value TableList(const std::vector<TableCount>& tables) {
  json::Value table_list = json::Value::Array();
  for (const TableCount& count : tables) {
    json::Value entry = json::Value::Object();
    entry.Set("schema", json::Value::String(count.schema));
    entry.Set("table", json::Value::String(count.table));
    entry.Set("rows", json::Value::Number(count.rows));
    if (!count.object.empty()) {
      entry.Set("object", json::Value::String(count.object));
      json::Value columns = json::Value::Array();
      for (const std::string& column : count.columns)
        columns.Append(json::Value::String(column));
      entry.Set("columns", std::move(columns));
    }
    table_list.Append(std::move(entry));
  }
  return table_list;
}

// ParseTableList reads what TableList wrote; throws kCorrupt.
std::vector<TableCount> ParseTableList(const json::Value& tables) {
  std::vector<TableCount> result;
  for (size_t i = 0; i < tables.AsArray().size(); i++) {
    const json::Value& entry = tables.AsArray()[i];
    std::string where = " in tables[" + std::to_string(i) + "]";
    if (entry.type() != json::Type::kObject) {
      Corrupt("tables[" + std::to_string(i) + "] must be an object, not " +
              entry.TypeNameWithArticle());
    }
    TableCount count;
    count.schema = StringMember(entry, where, "schema");
    count.table = StringMember(entry, where, "table");
    count.rows = IntegerMember(entry, where, "rows");
    if (entry.Find("object") != nullptr) {
      count.object = StringMember(entry, where, "object");
      const json::Value* columns = entry.Find("columns");
      if (columns == nullptr || columns->type() != json::Type::kArray)
        Corrupt("\"columns\"" + where + " must be an array of column names");
      for (const json::Value& column : columns->AsArray()) {
        if (column.type() != json::Type::kString || column.AsString().empty())
          Corrupt("\"columns\"" + where + " must hold column names, not " + column.Serialize());
        count.columns.push_back(column.AsString());
      }
    }
    result.push_back(std::move(count));
  }
  return result;
}

}  // namespace

// ToJson writes the manifest with a fixed key order and two-space indent.
std::string Manifest::ToJson() const {
  json::Value root = json::Value::Object();
  root.Set("format_version", json::Value::Number(format_version));
  root.Set("tool", json::Value::String(tool));
  root.Set("backup_id", json::Value::Number(backup_id));
  root.Set("database", json::Value::String(database));
  root.Set("system_identifier", json::Value::String(system_identifier));
  root.Set("server_version", json::Value::String(server_version));
  root.Set("dump_format", json::Value::String(dump_format));
  root.Set("started_at", json::Value::String(started_at));
  root.Set("finished_at", json::Value::String(finished_at));
  root.Set("snapshot_lsn", json::Value::String(snapshot_lsn));
  if (!database_owner.empty()) {
    root.Set("database_owner", json::Value::String(database_owner));
  }
  if (!database_properties_json.empty()) {
    root.Set("database_properties", json::Parse(database_properties_json));
  }
  json::Value options = options_json.empty() ? json::Value::Object() : json::Parse(options_json);
  if (options.type() != json::Type::kObject) {
    throw Error(ErrorKind::kInternal, "manifest options must be a JSON object");
  }
  root.Set("options", std::move(options));
  json::Value object_list = json::Value::Array();
  for (const ManifestObject& object : objects) {
    json::Value entry = json::Value::Object();
    entry.Set("name", json::Value::String(object.name));
    entry.Set("role", json::Value::String(object.role));
    entry.Set("size", Unsigned(object.size));
    entry.Set("raw_size", Unsigned(object.raw_size));
    entry.Set("sha256", json::Value::String(object.sha256));
    entry.Set("compression", json::Value::String(object.compression));
    entry.Set("encryption", json::Value::String(object.encryption));
    object_list.Append(std::move(entry));
  }
  root.Set("objects", std::move(object_list));
  json::Value table_list = TableList(tables);
  root.Set("tables", std::move(table_list));
  if (kind == "base") {
    root.Set("kind", json::Value::String(kind));
    json::Value facts = json::Value::Object();
    facts.Set("start_lsn", json::Value::String(base.start_lsn));
    facts.Set("end_lsn", json::Value::String(base.end_lsn));
    facts.Set("timeline", json::Value::Number(base.timeline));
    facts.Set("wal_first_segment", json::Value::String(base.wal_first_segment));
    facts.Set("wal_last_segment", json::Value::String(base.wal_last_segment));
    facts.Set("wal_archived", json::Value::Bool(base.wal_archived));
    facts.Set("bad_checksums", Unsigned(base.bad_checksums));
    root.Set("base_backup", std::move(facts));
  } else if (!kind.empty()) {
    throw Error(ErrorKind::kInternal, "unknown manifest kind \"" + kind + "\"");
  }
  if (!age_recipients.empty()) {
    json::Value recipients = json::Value::Array();
    for (const std::string& recipient : age_recipients)
      recipients.Append(json::Value::String(recipient));
    root.Set("age_recipients", std::move(recipients));
  }
  return root.Serialize(2) + "\n";
}

int FormatVersionFor(const std::vector<TableCount>& tables) {
  std::set<std::pair<std::string, std::string>> seen;
  for (const TableCount& table : tables)
    if (!seen.insert({table.schema, table.table}).second)
      return Manifest::kPiecesFormatVersion;
  return Manifest::kFormatVersion;
}

void CheckTablePieces(const std::vector<TableCount>& tables, int format_version) {
  std::map<std::pair<std::string, std::string>, int> listed;
  for (const TableCount& table : tables)
    listed[{table.schema, table.table}]++;
  std::set<std::string> objects;
  for (const TableCount& table : tables) {
    // One object holds the rows of one table (or piece), whatever the
    // format: named twice, it would be loaded twice.
    if (!table.object.empty() && !objects.insert(table.object).second)
      Corrupt("object " + table.object + " is listed twice");
    if (listed[{table.schema, table.table}] < 2)
      continue;
    std::string name = "\"" + table.schema + "\".\"" + table.table + "\"";
    if (format_version < Manifest::kPiecesFormatVersion)
      Corrupt("table " + name + " is listed more than once in a set of format version " +
              std::to_string(format_version));
    if (table.object.empty())
      Corrupt("table " + name + " is listed more than once, once with its rows in the archive");
  }
}

std::vector<TableCount> RowsPerTable(const std::vector<TableCount>& tables) {
  std::vector<TableCount> result;
  std::map<std::pair<std::string, std::string>, size_t> index;
  for (const TableCount& table : tables) {
    auto [found, added] = index.insert({{table.schema, table.table}, result.size()});
    if (added)
      result.push_back(table);
    else
      result[found->second].rows += table.rows;
  }
  return result;
}

std::string TablesToJson(const std::vector<TableCount>& tables) {
  return TableList(tables).Serialize(2) + "\n";
}

std::vector<TableCount> TablesFromJson(std::string_view text) {
  json::Value root;
  try {
    root = json::Parse(text);
  } catch (const Error& e) {
    Corrupt(std::string("the table list is not valid JSON: ") + e.what());
  }
  if (root.type() != json::Type::kArray)
    Corrupt("the table list must be an array");
  return ParseTableList(root);
}

// FromJson validates everything a restore or verify will rely on.
Manifest Manifest::FromJson(std::string_view text) {
  json::Value root;
  try {
    root = json::Parse(text);
  } catch (const Error& error) {
    Corrupt(error.what());
  }
  if (root.type() != json::Type::kObject) {
    Corrupt(std::string("top level must be an object, not ") + root.TypeNameWithArticle());
  }
  Manifest manifest;
  const std::string top;
  int64_t version = IntegerMember(root, top, "format_version");
  if (version != kFormatVersion && version != kPiecesFormatVersion) {
    Corrupt("unsupported format version " + std::to_string(version));
  }
  manifest.format_version = static_cast<int>(version);
  manifest.tool = StringMember(root, top, "tool");
  manifest.backup_id = IntegerMember(root, top, "backup_id");
  manifest.database = StringMember(root, top, "database");
  manifest.system_identifier = StringMember(root, top, "system_identifier");
  manifest.server_version = StringMember(root, top, "server_version");
  manifest.dump_format = StringMember(root, top, "dump_format");
  manifest.started_at = StringMember(root, top, "started_at");
  manifest.finished_at = StringMember(root, top, "finished_at");
  manifest.snapshot_lsn = StringMember(root, top, "snapshot_lsn");
  // Optional: sets made before version 1.3 have no database_owner.
  if (root.Find("database_owner") != nullptr) {
    manifest.database_owner = StringMember(root, top, "database_owner");
  }
  if (root.Find("database_properties") != nullptr) {
    manifest.database_properties_json =
        Member(root, top, "database_properties", json::Type::kObject, "an object").Serialize();
  }
  manifest.options_json =
      Member(root, top, "options", json::Type::kObject, "an object").Serialize();

  const json::Value& objects = Member(root, top, "objects", json::Type::kArray, "an array");
  for (size_t i = 0; i < objects.AsArray().size(); i++) {
    const json::Value& entry = objects.AsArray()[i];
    std::string where = " in objects[" + std::to_string(i) + "]";
    if (entry.type() != json::Type::kObject) {
      Corrupt("objects[" + std::to_string(i) + "] must be an object, not " +
              entry.TypeNameWithArticle());
    }
    ManifestObject object;
    object.name = StringMember(entry, where, "name");
    object.role = StringMember(entry, where, "role");
    object.size = UnsignedMember(entry, where, "size");
    object.raw_size = UnsignedMember(entry, where, "raw_size");
    object.sha256 = StringMember(entry, where, "sha256");
    if (!IsSha256Hex(object.sha256)) {
      Corrupt("key \"sha256\"" + where + " is not 64 lowercase hex digits");
    }
    object.compression = StringMember(entry, where, "compression");
    object.encryption = StringMember(entry, where, "encryption");
    manifest.objects.push_back(std::move(object));
  }

  manifest.tables = ParseTableList(Member(root, top, "tables", json::Type::kArray, "an array"));
  CheckTablePieces(manifest.tables, manifest.format_version);
  // Optional: only sets whose objects are encrypted have it.
  if (const json::Value* recipients = root.Find("age_recipients")) {
    if (recipients->type() != json::Type::kArray)
      Corrupt("key \"age_recipients\" must be an array");
    for (const json::Value& recipient : recipients->AsArray()) {
      if (recipient.type() != json::Type::kString)
        Corrupt("age_recipients must hold strings");
      manifest.age_recipients.push_back(recipient.AsString());
    }
  }
  // Optional: only base backups (1.6) have a kind.
  if (root.Find("kind") != nullptr) {
    manifest.kind = StringMember(root, top, "kind");
    if (manifest.kind != "base")
      Corrupt("unknown kind \"" + manifest.kind + "\"");
    const json::Value& facts = Member(root, top, "base_backup", json::Type::kObject, "an object");
    const std::string where = " in base_backup";
    manifest.base.start_lsn = StringMember(facts, where, "start_lsn");
    manifest.base.end_lsn = StringMember(facts, where, "end_lsn");
    manifest.base.timeline = IntegerMember(facts, where, "timeline");
    manifest.base.wal_first_segment = StringMember(facts, where, "wal_first_segment");
    manifest.base.wal_last_segment = StringMember(facts, where, "wal_last_segment");
    manifest.base.wal_archived =
        Member(facts, where, "wal_archived", json::Type::kBool, "a boolean").AsBool();
    manifest.base.bad_checksums = UnsignedMember(facts, where, "bad_checksums");
  }
  return manifest;
}

}  // namespace pgbak
