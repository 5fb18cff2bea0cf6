// set_import_test.cpp: what pgbak_import checks of a set before it is
// registered (src/core/archive/set_import.cpp), on sets listed from a real
// local storage, and the strict reading of a manifest's timestamps.
#include "core/archive/set_import.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "archive/set_fixture.h"
#include "core/archive/set_layout.h"
#include "core/archive/set_listing.h"
#include "core/base/error.h"
#include "core/base/json.h"
#include "core/pipeline/meter_sink.h"
#include "core/storage/local/local_storage.h"
#include "test_util.h"

namespace pgbak {
namespace {

using test::Put;
using test::WriteSet;

constexpr std::time_t kT0 = 1800000000;

// Outcome is CheckSetForImport's record or refusal for each complete set.
struct Outcome {
  bool ok = false;
  ImportRecord record;
  std::string refusal;
};

std::map<std::string, Outcome> CheckAll(Storage& storage, const std::string& key = "") {
  std::map<std::string, Outcome> outcomes;
  auto visit = [&](const SetSummary& set, const Manifest& manifest, const std::string& text,
                   const std::vector<ObjectInfo>& objects) {
    Outcome& outcome = outcomes[set.key];
    try {
      outcome.record = CheckSetForImport(set, manifest, text, objects);
      outcome.ok = true;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kCorrupt);
      outcome.refusal = e.what();
    }
  };
  if (key.empty())
    ListSets(storage, {}, visit);
  else
    ListSetAt(storage, key, visit);
  return outcomes;
}

std::string Read(Storage& storage, const std::string& key) {
  std::unique_ptr<ObjectReader> reader = storage.Open(key);
  std::string bytes;
  uint8_t buffer[4096];
  while (size_t n = reader->Read(buffer, sizeof buffer))
    bytes.append(reinterpret_cast<const char*>(buffer), n);
  return bytes;
}

TEST(SetImportTest, ACompleteSetIsRecordedFromItsManifest) {
  test::TempDir dir;
  LocalStorage storage(dir.path());
  std::string set = WriteSet(storage, "7301", "app", kT0, 12, true);
  WriteSet(storage, "7301", "app", kT0 + 60, 13, false);  // incomplete: never visited
  std::map<std::string, Outcome> outcomes = CheckAll(storage);
  ASSERT_EQ(outcomes.size(), 1u);
  const Outcome& outcome = outcomes.at(set);
  ASSERT_TRUE(outcome.ok) << outcome.refusal;
  const ImportRecord& record = outcome.record;
  EXPECT_EQ(record.key, set);
  EXPECT_EQ(record.directory_id, 12);
  EXPECT_EQ(record.backup_id, 12);
  EXPECT_EQ(record.system_identifier, "7301");
  EXPECT_EQ(record.database, "app");
  EXPECT_EQ(record.format, "custom");
  EXPECT_EQ(record.started_us, int64_t{kT0} * 1000000);
  EXPECT_EQ(record.finished_us, int64_t{kT0 + 5} * 1000000);
  EXPECT_EQ(record.snapshot_lsn, "0/1000000");
  EXPECT_EQ(record.data_sha256, std::string(64, 'a'));
  EXPECT_EQ(record.stored_bytes, 100u);
  EXPECT_EQ(record.raw_bytes, 1000u);
  EXPECT_EQ(record.globals_bytes, 10u);
  EXPECT_EQ(record.table_count, 0);
  std::string text = Read(storage, set + "/" + kManifestObject);
  Sha256 hash;
  hash.Update(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  EXPECT_EQ(record.manifest_sha256, hash.HexDigest());
  json::Value options = json::Parse(record.options_json);
  EXPECT_EQ(options.Find("format")->AsString(), "custom");
  const json::Value* import = options.Find("import");
  ASSERT_NE(import, nullptr);
  EXPECT_EQ(import->Find("directory_id")->AsInt64(), 12);
  EXPECT_EQ(import->Find("backup_id")->AsInt64(), 12);
  EXPECT_EQ(import->Find("cluster")->AsString(), "7301");
}

TEST(SetImportTest, ACopyKeepsItsDirectoryIdAndAnEncryptedSetHasNoCount) {
  test::TempDir dir;
  LocalStorage storage(dir.path());
  std::string set = WriteSet(storage, "7301", "app", kT0, 40, true, true);
  std::string copy = set.substr(0, set.rfind('-') + 1) + "41";
  for (const std::string& name :
       {std::string(kDataObjectCustom) + kAgeSuffix, std::string(kGlobalsObject) + kAgeSuffix,
        std::string(kManifestObject)})
    Put(storage, copy + "/" + name, Read(storage, set + "/" + name));
  std::map<std::string, Outcome> outcomes = CheckAll(storage);
  ASSERT_TRUE(outcomes.at(copy).ok) << outcomes.at(copy).refusal;
  EXPECT_EQ(outcomes.at(copy).record.directory_id, 41);
  EXPECT_EQ(outcomes.at(copy).record.backup_id, 40);
  // The fixture's encrypted sets list no tables object: a count of zero.
  EXPECT_EQ(outcomes.at(copy).record.table_count, 0);
  // Only that set, when asked for by its key.
  EXPECT_EQ(CheckAll(storage, copy).size(), 1u);
  EXPECT_EQ(ListSetAt(storage, copy).size(), 1u);
  EXPECT_TRUE(ListSetAt(storage, copy + "9").empty());
}

TEST(SetImportTest, MissingAndTruncatedObjectsAreRefusedWithTheReason) {
  test::TempDir dir;
  LocalStorage storage(dir.path());
  std::string missing = WriteSet(storage, "7301", "app", kT0, 1, true);
  storage.Remove(missing + "/" + kGlobalsObject);
  std::string truncated = WriteSet(storage, "7301", "app", kT0 + 1, 2, true);
  Put(storage, truncated + "/" + kDataObjectCustom, std::string(99, 'd'));
  std::map<std::string, Outcome> outcomes = CheckAll(storage);
  EXPECT_FALSE(outcomes.at(missing).ok);
  EXPECT_EQ(outcomes.at(missing).refusal, "object globals.sql.zst is missing from the set");
  EXPECT_FALSE(outcomes.at(truncated).ok);
  EXPECT_EQ(outcomes.at(truncated).refusal,
            "data.dump.zst: size mismatch: the manifest says 100 bytes, storage holds 99");
}

TEST(SetImportTest, AManifestOfAnotherSetIsRefused) {
  test::TempDir dir;
  LocalStorage storage(dir.path());
  std::string app = WriteSet(storage, "7301", "app", kT0, 1, true);
  // Its manifest moved to another database's directory, and to another
  // cluster's.
  std::string other = SetDirectory("7301", "other", kT0, 2);
  std::string foreign = SetDirectory("9999", "app", kT0, 3);
  for (const std::string& target : {other, foreign})
    for (const char* name : {kDataObjectCustom, kGlobalsObject, kManifestObject})
      Put(storage, target + "/" + name, Read(storage, app + "/" + name));
  std::map<std::string, Outcome> outcomes = CheckAll(storage);
  EXPECT_TRUE(outcomes.at(app).ok);
  for (const std::string& target : {other, foreign}) {
    EXPECT_FALSE(outcomes.at(target).ok);
    EXPECT_NE(outcomes.at(target).refusal.find("not the one its directory is named for"),
              std::string::npos)
        << outcomes.at(target).refusal;
  }
}

TEST(SetImportTest, BadManifestValuesAreRefused) {
  test::TempDir dir;
  LocalStorage storage(dir.path());
  std::string set = WriteSet(storage, "7301", "app", kT0, 1, true);
  std::string text = Read(storage, set + "/" + kManifestObject);
  auto with = [&](const std::string& from, const std::string& to) {
    std::string changed = text;
    size_t at = changed.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    changed.replace(at, from.size(), to);
    Put(storage, set + "/" + kManifestObject, changed);
    return CheckAll(storage).at(set);
  };
  EXPECT_NE(with("\"custom\"", "\"tar\"").refusal.find("unknown dump format"), std::string::npos);
  EXPECT_NE(with("\"custom\"", "\"plain\"").refusal.find("data object data.dump.zst in a plain"),
            std::string::npos);
  EXPECT_NE(with("T08:00:05.000Z", "yesterday").refusal.find("UTC timestamps"), std::string::npos);
  EXPECT_NE(with("0/1000000", "0/1000000; DROP").refusal.find("is not an LSN"), std::string::npos);
  EXPECT_NE(with("\"role\": \"data\"", "\"role\": \"other\"").refusal.find("0 data objects"),
            std::string::npos);
  EXPECT_NE(with("\"globals.sql.zst\"", "\"../../etc/passwd\"").refusal.find("not one of a set's"),
            std::string::npos);
  Put(storage, set + "/" + kManifestObject, text);
  EXPECT_TRUE(CheckAll(storage).at(set).ok);
}

TEST(SetImportTest, ImportKeyAcceptsOnlySetDirectories) {
  test::TempDir dir;
  LocalStorage storage(dir.path());
  std::string set = SetDirectory("7301", "app", kT0, 12);
  EXPECT_EQ(ImportKey(storage, storage.Location(set)), set);
  EXPECT_EQ(ImportKey(storage, storage.Location("7301/app")), "");
  EXPECT_EQ(ImportKey(storage, storage.Location(set + "/manifest.json")), "");
  EXPECT_EQ(ImportKey(storage, storage.Location("7301/app/20260101T000000Z-x")), "");
  EXPECT_EQ(ImportKey(storage, "/elsewhere/" + set), "");
  EXPECT_EQ(ImportKey(storage, dir.path() + "/7301/../20260101T000000Z-1"), "");
  EXPECT_EQ(ImportKey(storage, ""), "");
}

TEST(SetImportTest, ParseUtcTimestamp) {
  int64_t us = 0;
  ASSERT_TRUE(ParseUtcTimestamp("2026-11-22T01:02:03.456Z", &us));
  EXPECT_EQ(us, int64_t{1795309323} * 1000000 + 456000);
  ASSERT_TRUE(ParseUtcTimestamp("1970-01-01T00:00:00Z", &us));
  EXPECT_EQ(us, 0);
  ASSERT_TRUE(ParseUtcTimestamp("2000-02-29T23:59:59.999999Z", &us));
  EXPECT_EQ(us, int64_t{951868799} * 1000000 + 999999);
  // What FormatUtcTimestamp writes reads back.
  ASSERT_TRUE(ParseUtcTimestamp(FormatUtcTimestamp(kT0, 123000), &us));
  EXPECT_EQ(us, int64_t{kT0} * 1000000 + 123000);
  for (const char* bad :
       {"", "2026-11-22 01:02:03Z", "2026-11-22T01:02:03", "2026-11-22T01:02:03.Z",
        "2026-11-22T01:02:03.1234567Z", "2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z",
        "2026-11-22T24:00:00Z", "1969-12-31T23:59:59Z", "2026-11-22T01:02:03+01:00",
        "2026-1a-22T01:02:03Z"})
    EXPECT_FALSE(ParseUtcTimestamp(bad, &us)) << bad;
}

}  // namespace
}  // namespace pgbak
