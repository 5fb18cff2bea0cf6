// manifest_test.cpp: manifest.json writing and strict reading
// (src/core/manifest.cpp).
#include "core/archive/manifest.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/base/json.h"

namespace pgbak {
namespace {

Manifest Sample() {
  Manifest manifest;
  manifest.tool = "pgbak_ext 1.0";
  manifest.backup_id = 42;
  manifest.database = "my \"app\" db";
  manifest.system_identifier = "7301234567890123456";
  manifest.server_version = "15.8";
  manifest.dump_format = "custom";
  manifest.started_at = "2026-11-22T01:02:03.456Z";
  manifest.finished_at = "2026-11-22T01:05:00.000Z";
  manifest.snapshot_lsn = "0/1A2B3C4";
  manifest.options_json = R"({"format":"custom","tables":["orders"]})";
  manifest.objects.push_back({"data.dump.zst", "data", std::numeric_limits<uint64_t>::max(),
                              123456789012345ULL, std::string(64, 'a'), "zstd", "none"});
  manifest.objects.push_back(
      {"globals.sql.zst", "globals", 10, 20, std::string(64, '0'), "zstd", "age"});
  manifest.tables.push_back({"public", "orders", 1000, "", {}});
  manifest.tables.push_back({"Sales", "Line \"Items\"", 0, "", {}});
  return manifest;
}

// Without rebuilds a manifest JSON text without one member of an object.
std::string Without(const std::string& text, const std::string& key,
                    const std::string& inside = "") {
  json::Value root = json::Parse(text);
  auto strip = [&key](const json::Value& object) {
    json::Value copy = json::Value::Object();
    for (const auto& [name, value] : object.AsObject()) {
      if (name != key) {
        copy.Set(name, value);
      }
    }
    return copy;
  };
  if (inside.empty()) {
    return strip(root).Serialize();
  }
  json::Value copy = json::Value::Object();
  for (const auto& [name, value] : root.AsObject()) {
    if (name == inside) {
      json::Value list = json::Value::Array();
      for (const json::Value& item : value.AsArray()) {
        list.Append(strip(item));
      }
      copy.Set(name, list);
    } else {
      copy.Set(name, value);
    }
  }
  return copy.Serialize();
}

// Replace rebuilds a manifest JSON text with one top-level member replaced.
std::string Replace(const std::string& text, const std::string& key, json::Value value) {
  json::Value root = json::Parse(text);
  root.Set(key, std::move(value));
  return root.Serialize();
}

void ExpectCorrupt(const std::string& text, const std::string& expected_fragment) {
  try {
    Manifest::FromJson(text);
    ADD_FAILURE() << "accepted " << text;
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kCorrupt);
    EXPECT_NE(std::string(error.what()).find(expected_fragment), std::string::npos) << error.what();
  }
}

TEST(ManifestTest, RoundTrip) {
  Manifest original = Sample();
  std::string text = original.ToJson();
  Manifest read = Manifest::FromJson(text);
  EXPECT_EQ(read.format_version, 1);
  EXPECT_EQ(read.tool, original.tool);
  EXPECT_EQ(read.backup_id, 42);
  EXPECT_EQ(read.database, original.database);
  EXPECT_EQ(read.system_identifier, original.system_identifier);
  EXPECT_EQ(read.server_version, original.server_version);
  EXPECT_EQ(read.dump_format, "custom");
  EXPECT_EQ(read.started_at, original.started_at);
  EXPECT_EQ(read.finished_at, original.finished_at);
  EXPECT_EQ(read.snapshot_lsn, original.snapshot_lsn);
  EXPECT_EQ(read.options_json, original.options_json);
  ASSERT_EQ(read.objects.size(), 2u);
  EXPECT_EQ(read.objects[0].name, "data.dump.zst");
  EXPECT_EQ(read.objects[0].role, "data");
  EXPECT_EQ(read.objects[0].size, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(read.objects[0].raw_size, 123456789012345ULL);
  EXPECT_EQ(read.objects[0].sha256, std::string(64, 'a'));
  EXPECT_EQ(read.objects[1].encryption, "age");
  ASSERT_EQ(read.tables.size(), 2u);
  EXPECT_EQ(read.tables[1].schema, "Sales");
  EXPECT_EQ(read.tables[1].table, "Line \"Items\"");
  EXPECT_EQ(read.tables[0].rows, 1000);
  EXPECT_EQ(read.ToJson(), text);
}

TEST(ManifestTest, TablesInObjectsOfTheirOwnRoundTrip) {
  Manifest original = Sample();
  original.objects.insert(
      original.objects.begin() + 1,
      {"table-0001.copy.zst", "table_data", 50, 900, std::string(64, 'b'), "zstd", "none"});
  original.tables.push_back(
      {"public", "Big \"One\"", 12345, "table-0001.copy.zst", {"id", "Note \"N\"", "c"}});
  std::string text = original.ToJson();
  EXPECT_NE(text.find(R"("object": "table-0001.copy.zst")"), std::string::npos) << text;
  Manifest read = Manifest::FromJson(text);
  ASSERT_EQ(read.tables.size(), 3u);
  EXPECT_EQ(read.tables[0].object, "");
  EXPECT_EQ(read.tables[2].object, "table-0001.copy.zst");
  EXPECT_EQ(read.tables[2].rows, 12345);
  EXPECT_EQ(read.tables[2].columns, (std::vector<std::string>{"id", "Note \"N\"", "c"}));
  EXPECT_TRUE(read.tables[0].columns.empty());
  EXPECT_EQ(read.objects[1].role, "table_data");
  EXPECT_EQ(read.ToJson(), text);
  // The encrypted set's tables.json keeps the object too.
  EXPECT_EQ(TablesFromJson(TablesToJson(original.tables))[2].object, "table-0001.copy.zst");
  EXPECT_EQ(TablesFromJson(TablesToJson(original.tables))[2].columns, read.tables[2].columns);
  // A table without its object says nothing about one.
  EXPECT_EQ(std::string(TablesToJson(Sample().tables)).find("object"), std::string::npos);
  // A table with an object and no column list is damage: its rows could
  // not be loaded into the right columns.
  std::string no_columns = text;
  size_t at = no_columns.find(R"("columns")");
  ASSERT_NE(at, std::string::npos);
  no_columns.replace(at, std::string(R"("columns")").size(), R"("kolumns")");
  EXPECT_THROW(Manifest::FromJson(no_columns), Error);
}

TEST(ManifestTest, PiecesOfATableNeedFormatTwoAndObjectsOfTheirOwn) {
  Manifest original = Sample();
  const std::string table = original.tables[0].table;
  original.tables.push_back({"public", "big", 10, "table-0001.copy.zst", {"id"}});
  EXPECT_EQ(FormatVersionFor(original.tables), 1);
  original.tables.push_back({"public", "big", 7, "table-0002.copy.zst", {"id"}});
  EXPECT_EQ(FormatVersionFor(original.tables), 2);
  // Written as format 1, a reader of format 1 would load one piece: damage.
  ExpectCorrupt(original.ToJson(), "listed more than once in a set of format version 1");
  original.format_version = FormatVersionFor(original.tables);
  Manifest read = Manifest::FromJson(original.ToJson());
  EXPECT_EQ(read.format_version, 2);
  std::vector<TableCount> per_table = RowsPerTable(read.tables);
  ASSERT_EQ(per_table.size(), read.tables.size() - 1);
  EXPECT_EQ(per_table.back().table, "big");
  EXPECT_EQ(per_table.back().rows, 17);
  EXPECT_EQ(per_table.back().object, "table-0001.copy.zst");
  // A piece whose rows are in the archive as well, or one object twice.
  Manifest twice = original;
  twice.tables.push_back({"public", table, 3, "table-0003.copy.zst", {"id"}});
  ExpectCorrupt(twice.ToJson(), "once with its rows in the archive");
  Manifest same = original;
  same.tables.back().object = "table-0001.copy.zst";
  ExpectCorrupt(same.ToJson(), "object table-0001.copy.zst is listed twice");
  EXPECT_THROW(CheckTablePieces(twice.tables, 2), Error);
  // Two tables naming one object, in any format.
  std::vector<TableCount> shared = {{"public", "a", 1, "table-0001.copy.zst", {"x"}},
                                    {"public", "b", 1, "table-0001.copy.zst", {"x"}}};
  EXPECT_THROW(CheckTablePieces(shared, 1), Error);
  EXPECT_NO_THROW(CheckTablePieces(original.tables, 2));
}

TEST(ManifestTest, BaseBackupRoundTrip) {
  Manifest original = Sample();
  original.kind = "base";
  original.database = "";
  original.dump_format = "tar";
  original.tables.clear();
  original.base.start_lsn = "0/2000028";
  original.base.end_lsn = "0/2000138";
  original.base.timeline = 1;
  original.base.wal_first_segment = "000000010000000000000002";
  original.base.wal_last_segment = "000000010000000000000002";
  original.base.wal_archived = true;
  original.base.bad_checksums = 3;
  std::string text = original.ToJson();
  EXPECT_NE(text.find("\"kind\": \"base\""), std::string::npos);
  Manifest read = Manifest::FromJson(text);
  EXPECT_EQ(read.kind, "base");
  EXPECT_EQ(read.base.end_lsn, "0/2000138");
  EXPECT_EQ(read.base.timeline, 1);
  EXPECT_EQ(read.base.wal_last_segment, "000000010000000000000002");
  EXPECT_TRUE(read.base.wal_archived);
  EXPECT_EQ(read.base.bad_checksums, 3u);
  EXPECT_EQ(read.ToJson(), text);
  // A logical set's manifest says nothing of a kind, as before 1.6.
  EXPECT_EQ(Sample().ToJson().find("\"kind\""), std::string::npos);
  EXPECT_EQ(Manifest::FromJson(Sample().ToJson()).kind, "");
  ExpectCorrupt(Replace(text, "kind", json::Value::String("incremental")), "unknown kind");
  json::Value root = json::Parse(text);
  json::Value without = json::Value::Object();
  for (const auto& [key, value] : root.AsObject())
    if (key != "base_backup")
      without.Set(key, value);
  ExpectCorrupt(without.Serialize(), "base_backup");
}

TEST(ManifestTest, DatabaseOwnerIsOptional) {
  Manifest original = Sample();
  EXPECT_EQ(original.ToJson().find("database_owner"), std::string::npos);
  EXPECT_EQ(Manifest::FromJson(original.ToJson()).database_owner, "");
  original.database_owner = "app owner";
  std::string text = original.ToJson();
  Manifest read = Manifest::FromJson(text);
  EXPECT_EQ(read.database_owner, "app owner");
  EXPECT_EQ(read.ToJson(), text);
  ExpectCorrupt(Replace(text, "database_owner", json::Value::Number(7)),
                "\"database_owner\" must be a string, not a number");
}

TEST(ManifestTest, KeyOrderIsStableAndOptionsAreEmbedded) {
  std::string text = Sample().ToJson();
  size_t previous = 0;
  for (const char* key : {"\"format_version\"",
                          "\"tool\"",
                          "\"backup_id\"",
                          "\"database\"",
                          "\"system_identifier\"",
                          "\"server_version\"",
                          "\"dump_format\"",
                          "\"started_at\"",
                          "\"finished_at\"",
                          "\"snapshot_lsn\"",
                          "\"options\"",
                          "\"objects\"",
                          "\"name\"",
                          "\"role\"",
                          "\"size\"",
                          "\"raw_size\"",
                          "\"sha256\"",
                          "\"compression\"",
                          "\"encryption\"",
                          "\"tables\"",
                          "\"schema\"",
                          "\"table\"",
                          "\"rows\""}) {
    size_t position = text.find(key, previous);
    ASSERT_NE(position, std::string::npos) << key;
    previous = position;
  }
  EXPECT_EQ(text.rfind("{\n  \"format_version\": 1,\n", 0), 0u);
  EXPECT_NE(text.find("\"options\": {\n    \"format\": \"custom\""), std::string::npos);
  EXPECT_EQ(text.back(), '\n');
  Manifest empty_options = Sample();
  empty_options.options_json.clear();
  EXPECT_NE(empty_options.ToJson().find("\"options\": {},"), std::string::npos);
}

TEST(ManifestTest, MissingKeysAreCorrupt) {
  std::string text = Sample().ToJson();
  for (const char* key : {"format_version", "tool", "backup_id", "database", "system_identifier",
                          "server_version", "dump_format", "started_at", "finished_at",
                          "snapshot_lsn", "options", "objects", "tables"}) {
    ExpectCorrupt(Without(text, key), std::string("missing key \"") + key + "\"");
  }
  for (const char* key :
       {"name", "role", "size", "raw_size", "sha256", "compression", "encryption"}) {
    ExpectCorrupt(Without(text, key, "objects"),
                  std::string("missing key \"") + key + "\" in objects[0]");
  }
  for (const char* key : {"schema", "table", "rows"}) {
    ExpectCorrupt(Without(text, key, "tables"),
                  std::string("missing key \"") + key + "\" in tables[0]");
  }
}

TEST(ManifestTest, WrongTypesAndValuesAreCorrupt) {
  std::string text = Sample().ToJson();
  ExpectCorrupt(Replace(text, "backup_id", json::Value::String("42")),
                "\"backup_id\" must be a number, not a string");
  ExpectCorrupt(Replace(text, "database", json::Value::Number(1)),
                "\"database\" must be a string, not a number");
  ExpectCorrupt(Replace(text, "options", json::Value::String("{}")),
                "\"options\" must be an object");
  ExpectCorrupt(Replace(text, "objects", json::Value::Object()), "\"objects\" must be an array");
  ExpectCorrupt(Replace(text, "format_version", json::Value::Number(3)),
                "unsupported format version 3");
  ExpectCorrupt(Replace(text, "backup_id", json::Value::NumberLexeme("4.5")), "must be an integer");
  json::Value bad_objects = json::Value::Array();
  bad_objects.Append(json::Value::String("data.dump.zst"));
  ExpectCorrupt(Replace(text, "objects", bad_objects), "objects[0] must be an object");
  std::string bad_sha = text;
  bad_sha.replace(bad_sha.find(std::string(64, 'a')), 64, std::string(64, 'A'));
  ExpectCorrupt(bad_sha, "not 64 lowercase hex digits");
  std::string negative = text;
  negative.replace(negative.find("18446744073709551615"), 20, "-1");
  ExpectCorrupt(negative, "\"size\" in objects[0] must be a non-negative integer");
  ExpectCorrupt("[]", "top level must be an object");
  ExpectCorrupt("{\"tool\": ", "invalid JSON at offset");
  ExpectCorrupt(text.substr(0, text.size() / 2), "invalid JSON");
}

TEST(ManifestTest, NamesInADatabaseEncodingRoundTrip) {
  // A LATIN1 database's names are LATIN1 bytes in its manifest and table
  // list; a verify or restore must read them back exactly.
  Manifest original = Sample();
  original.database = "caf\xe9";
  original.tables.push_back({"Gr\xfcn", "\xe9t\xe9", 7, "", {}});
  Manifest read = Manifest::FromJson(original.ToJson());
  EXPECT_EQ(read.database, "caf\xe9");
  ASSERT_EQ(read.tables.size(), 3u);
  EXPECT_EQ(read.tables[2].schema, "Gr\xfcn");
  EXPECT_EQ(read.tables[2].table, "\xe9t\xe9");
  EXPECT_EQ(TablesFromJson(TablesToJson(original.tables))[2].table, "\xe9t\xe9");
}

TEST(ManifestTest, UnknownKeysAreIgnored) {
  std::string text = Replace(Sample().ToJson(), "written_by_a_newer_minor", json::Value());
  EXPECT_EQ(Manifest::FromJson(text).backup_id, 42);
}

}  // namespace
}  // namespace pgbak
