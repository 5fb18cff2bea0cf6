// set_reader_test.cpp: reading a set back and checking it against its
// manifest, on a real local storage with objects compressed by zstd and
// encrypted by age as a backup writes them: a good set, each kind of
// damage (the age header and the decompressed contents too), an encrypted
// set with and without the identity, and staging (a custom archive ready
// for pg_restore, globals, a removed staging directory).
#include "core/archive/set_reader.h"

#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/archive/manifest.h"
#include "core/archive/set_layout.h"
#include "core/base/error.h"
#include "core/crypto/age.h"
#include "core/pipeline/meter_sink.h"
#include "core/pipeline/zstd_sink.h"
#include "core/storage/local/local_storage.h"
#include "test_util.h"

namespace pgbak {
namespace {

constexpr int64_t kId = 42;

// SetWriter writes objects into a set directory as a backup does and
// collects their manifest entries.
struct SetWriter {
  SetWriter(Storage& storage, const AgeIdentity* identity)
      : storage(storage), identity(identity), dir(SetDirectory("7301", "app", 1764547200, kId)) {}

  void Add(const std::string& base, const std::string& role, const std::string& contents) {
    AddStored(base, role, contents, Stored(contents), contents.size());
  }

  // Stored is contents as a backup stores them: zstd, then age.
  std::string Stored(const std::string& contents) {
    StringSink stored;
    std::unique_ptr<AgeEncryptSink> encrypt;
    if (identity != nullptr)
      encrypt = std::make_unique<AgeEncryptSink>(stored,
                                                 std::vector<AgeRecipient>{identity->Recipient()});
    Sink& into = encrypt ? static_cast<Sink&>(*encrypt) : static_cast<Sink&>(stored);
    ZstdCompressSink compress(into, 3, 0);
    compress.Write(reinterpret_cast<const uint8_t*>(contents.data()), contents.size());
    compress.Finish();
    return stored.contents();
  }

  // AddStored stores bytes as an object whose manifest entry says raw_size.
  void AddStored(const std::string& base, const std::string& role, const std::string& contents,
                 const std::string& bytes, uint64_t raw_size) {
    (void)contents;
    std::string name = base + (identity != nullptr ? kAgeSuffix : "");
    std::unique_ptr<ObjectWriter> writer = storage.Create(dir + "/" + name);
    writer->Write(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    writer->Finish();
    Sha256 hash;
    hash.Update(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    objects.push_back({name, role, bytes.size(), raw_size, hash.HexDigest(), "zstd",
                       identity != nullptr ? "age" : "none"});
  }

  void Finish(const std::string& format = "plain", std::vector<TableCount> tables = {}) {
    Manifest manifest;
    manifest.tool = "pgbak_ext test";
    manifest.backup_id = kId;
    manifest.database = "app";
    manifest.system_identifier = "7301";
    manifest.server_version = "15.20";
    manifest.dump_format = format;
    manifest.started_at = "2025-12-01T00:00:00Z";
    manifest.finished_at = "2025-12-01T00:00:05Z";
    manifest.snapshot_lsn = "0/1000000";
    manifest.options_json = "{}";
    manifest.objects = objects;
    manifest.tables = std::move(tables);
    if (identity != nullptr)
      manifest.age_recipients = {identity->Recipient().ToString()};
    std::string text = manifest.ToJson();
    std::unique_ptr<ObjectWriter> writer = storage.Create(dir + "/" + kManifestObject);
    writer->Write(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    writer->Finish();
  }

  Storage& storage;
  const AgeIdentity* identity;
  std::string dir;
  std::vector<ManifestObject> objects;
};

const std::string kScript = "CREATE TABLE t (x int);\nCOPY t FROM stdin;\n1\n2\n\\.\n";
const std::string kGlobals = "CREATE ROLE alice;\n";

class SetReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage_root = dir.path() + "/storage";
    work_root = dir.path() + "/work";
    source.storage = std::make_unique<LocalStorage>(storage_root);
    source.name = "test";
    source.identity_hint = "give an identity";
  }
  LocalStorage& Storage() { return static_cast<LocalStorage&>(*source.storage); }

  test::TempDir dir;
  std::string storage_root, work_root;
  SourceStorage source;
};

TEST_F(SetReaderTest, AGoodSetIsReadAndStaged) {
  SetWriter set(*source.storage, nullptr);
  set.Add(kDataObjectPlain, "data", kScript);
  set.Add(kGlobalsObject, "globals", kGlobals);
  set.Finish();
  LocalStorage work(work_root, Durability::kScratch);
  std::string data_path, globals_path;
  uint64_t read = 0, room_asked = 0;
  {
    StagingArea staging(work, "stage-1");
    ReadBackOptions options;
    options.stage = true;
    options.stage_globals = true;
    options.progress = [&](size_t bytes) { read += bytes; };
    options.check_space = [&](uint64_t bytes) { room_asked = bytes; };
    SetExpectation expected;
    expected.backup_id = kId;
    expected.database = "app";
    StagedSet staged = ReadBackSet(source, set.dir, staging, expected, options);
    EXPECT_TRUE(staged.all_read);
    data_path = staged.data_path;
    globals_path = staged.globals_path;
    EXPECT_EQ(test::ReadFile(data_path), kScript);
    EXPECT_EQ(test::ReadFile(globals_path), kGlobals);
    EXPECT_EQ(read, set.objects[0].size + set.objects[1].size);
    EXPECT_EQ(room_asked, kScript.size());
  }
  // The staging directory goes with everything in it.
  struct stat st;
  EXPECT_NE(stat(data_path.c_str(), &st), 0);
  EXPECT_NE(stat((work_root + "/stage-1").c_str(), &st), 0);
}

// A parallel export's set: tables in objects of their own, which a restore
// stages and follows as they grow, a verify checks, and a restore that
// cannot load them refuses.
TEST_F(SetReaderTest, TableObjectsAreStagedAndFollowed) {
  const std::string rows_a(300000, 'a'), rows_b = "1\tx\n2\ty\n";
  SetWriter set(*source.storage, nullptr);
  set.Add(kDataObjectPlain, "data", kScript);
  set.Add("table-0001.copy.zst", kTableDataRole, rows_a);
  set.Add("table-0002.copy.zst", kTableDataRole, rows_b);
  set.Add(kGlobalsObject, "globals", kGlobals);
  set.Finish("plain", {{"public", "a", 2, "table-0001.copy.zst", {"v"}},
                       {"public", "plain", 5, "", {}},
                       {"Sales Co", "b \"q\"", 2, "table-0002.copy.zst", {"id", "x"}}});
  LocalStorage work(work_root, Durability::kScratch);
  auto read_back = [&](ReadBackOptions options) {
    StagingArea staging(work, "stage");
    return ReadBackSet(source, set.dir, staging, SetExpectation(), options);
  };
  ReadBackOptions options;
  options.stage = true;
  options.stage_required = true;
  options.stage_tables = true;
  size_t tables_known = 0;
  std::vector<std::string> events;
  std::map<std::string, std::string> contents;
  options.on_data = [&](const Manifest& manifest) { tables_known = manifest.tables.size(); };
  options.on_table_staged = [&](const ManifestObject& object, const std::string& path,
                                uint64_t written, bool done) {
    EXPECT_EQ(tables_known, 3u) << "the tables are known before the first table object";
    EXPECT_LE(written, object.raw_size);
    if (done) {
      events.push_back(object.name);
      contents[object.name] = test::ReadFile(path);
    }
  };
  EXPECT_TRUE(read_back(options).all_read);
  EXPECT_EQ(events, (std::vector<std::string>{"table-0001.copy.zst", "table-0002.copy.zst"}));
  EXPECT_EQ(contents["table-0001.copy.zst"], rows_a);
  EXPECT_EQ(contents["table-0002.copy.zst"], rows_b);

  // A verify (nothing staged for a restore) reads and checks them too.
  ReadBackOptions verify;
  verify.stage = true;
  EXPECT_TRUE(read_back(verify).all_read);
  // A restore that cannot load them refuses, rather than restore them empty.
  ReadBackOptions blind;
  blind.stage = true;
  blind.stage_required = true;
  try {
    read_back(blind);
    ADD_FAILURE() << "a restore without the table objects went on";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidParameter);
    EXPECT_NE(std::string(e.what()).find("tables in objects of their own"), std::string::npos);
  }
}

TEST_F(SetReaderTest, ATableObjectNoTableNamesIsCorrupt) {
  SetWriter set(*source.storage, nullptr);
  set.Add(kDataObjectPlain, "data", kScript);
  set.Add("table-0001.copy.zst", kTableDataRole, "1\n");
  set.Finish("plain", {{"public", "a", 1, "", {}}});
  LocalStorage work(work_root, Durability::kScratch);
  StagingArea staging(work, "stage");
  ReadBackOptions options;
  options.stage = true;
  options.stage_required = true;
  options.stage_tables = true;
  try {
    ReadBackSet(source, set.dir, staging, SetExpectation(), options);
    ADD_FAILURE() << "read back";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorrupt);
    EXPECT_EQ(std::string(e.what()), "object table-0001.copy.zst holds no table the set lists");
  }
}

TEST_F(SetReaderTest, EveryKindOfDamageIsCorrupt) {
  SetWriter set(*source.storage, nullptr);
  set.Add(kDataObjectPlain, "data", kScript);
  set.Add(kGlobalsObject, "globals", kGlobals);
  set.Finish();
  LocalStorage work(work_root, Durability::kScratch);
  auto read_back = [&](const SetExpectation& expected) {
    StagingArea staging(work, "stage");
    ReadBackOptions options;
    options.stage = true;
    try {
      ReadBackSet(source, set.dir, staging, expected, options);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kCorrupt) << e.what();
      return std::string(e.what());
    }
    return std::string("(read back)");
  };
  SetExpectation expected;
  EXPECT_EQ(read_back(expected), "(read back)");
  // Another backup's or database's manifest.
  expected.backup_id = 7;
  EXPECT_EQ(read_back(expected),
            "manifest.json describes backup 42 of database \"app\", not this one");
  expected = {};
  expected.data_sha256 = std::string(64, '0');
  EXPECT_NE(read_back(expected).find("SHA-256 mismatch with backup_log"), std::string::npos);
  expected = {};
  expected.manifest_sha256 = std::string(64, '0');
  EXPECT_NE(read_back(expected).find("manifest.json: SHA-256 mismatch"), std::string::npos);
  // A flipped byte in the data object: same size, other SHA-256.
  std::string path = storage_root + "/" + set.dir + "/" + kDataObjectPlain;
  std::string bytes = test::ReadFile(path);
  std::string flipped = bytes;
  flipped[flipped.size() / 2] ^= 1;
  test::WriteFile(path, flipped);
  EXPECT_NE(read_back({}).find("data.sql.zst: SHA-256 mismatch: the manifest says"),
            std::string::npos);
  // Truncated: the size differs.
  test::WriteFile(path, bytes.substr(0, bytes.size() - 1));
  EXPECT_NE(read_back({}).find("data.sql.zst: size mismatch"), std::string::npos);
  // Gone.
  Storage().Remove(set.dir + "/" + kDataObjectPlain);
  EXPECT_EQ(read_back({}), "object data.sql.zst is missing from the set");
  // No manifest: not a complete set.
  Storage().Remove(set.dir + "/" + kManifestObject);
  EXPECT_EQ(read_back({}), "manifest.json is missing: the set is not complete");
}

TEST_F(SetReaderTest, AnEncryptedSetWithAndWithoutTheIdentity) {
  AgeIdentity identity = AgeIdentity::Generate();
  SetWriter set(*source.storage, &identity);
  set.Add(kDataObjectPlain, "data", kScript);
  set.Add(kGlobalsObject, "globals", kGlobals);
  set.Finish();
  LocalStorage work(work_root, Durability::kScratch);
  int round = 0;
  // Each read stages in a directory of its own, as each operation does.
  auto read_back = [&](const ReadBackOptions& options, std::string* data = nullptr) {
    StagingArea staging(work, "stage-" + std::to_string(++round));
    StagedSet staged = ReadBackSet(source, set.dir, staging, {}, options);
    if (data != nullptr)
      *data = test::ReadFile(staged.data_path);
    return staged;
  };
  ReadBackOptions check;
  check.stage = true;  // a check stages what it can decrypt
  // Without the identity: sizes and checksums only.
  StagedSet checked = read_back(check);
  EXPECT_FALSE(checked.all_read);
  EXPECT_TRUE(checked.data_path.empty());
  // A restore needs the contents: the error names the way in.
  ReadBackOptions restore;
  restore.stage = true;
  restore.stage_required = true;
  try {
    read_back(restore);
    ADD_FAILURE() << "read without an identity";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidParameter);
    EXPECT_EQ(std::string(e.what()),
              "data.sql.zst.age is encrypted, and no age identity was given to decrypt it");
    EXPECT_EQ(e.hint(), "give an identity");
  }
  // With it, everything is read.
  source.identities = {identity};
  std::string data;
  EXPECT_TRUE(read_back(restore, &data).all_read);
  EXPECT_EQ(data, kScript);
  // Another key does not open it, and that is not damage of the set.
  source.identities = {AgeIdentity::Generate()};
  try {
    read_back(restore);
    ADD_FAILURE() << "read with another key";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidParameter) << e.what();
  }
}

// Fixture returns a decompressed archive from test/unit/archive/data/.
std::string Fixture(const std::string& name) {
  std::string source = __FILE__;
  std::string compressed =
      test::ReadFile(source.substr(0, source.rfind('/')) + "/data/" + name + ".zst");
  StringSink plain;
  ZstdDecompressSink decompress(plain);
  decompress.Write(reinterpret_cast<const uint8_t*>(compressed.data()), compressed.size());
  decompress.Finish();
  return plain.contents();
}

TEST_F(SetReaderTest, ACustomArchiveIsStagedReadyForPgRestore) {
  // pg_dump --format=custom through a pipe: no data offsets in its TOC.
  std::string dump = Fixture("custom.dump");
  SetWriter set(*source.storage, nullptr);
  set.Add(kDataObjectCustom, "data", dump);
  set.Add(kGlobalsObject, "globals", kGlobals);
  set.Finish("custom");
  LocalStorage work(work_root, Durability::kScratch);
  StagingArea staging(work, "stage");
  ReadBackOptions options;
  options.stage = true;
  StagedSet staged = ReadBackSet(source, set.dir, staging, {}, options);
  EXPECT_TRUE(staged.toc_complete);
  EXPECT_FALSE(staged.toc.empty());
  EXPECT_TRUE(staged.patches.empty());  // no observer: already in the file
  EXPECT_EQ(staged.data_path.substr(staged.data_path.rfind('/') + 1), "data.dump");
  // The staged copy is the same archive with its offsets filled in and its
  // COPY text rechunked: as long or longer, never a byte of data lost.
  std::string staged_bytes = test::ReadFile(staged.data_path);
  EXPECT_EQ(staged_bytes.substr(0, 5), "PGDMP");
  EXPECT_NE(staged_bytes, dump);
  // Where each entry's data lies in it (RestoreScriptBytes): the header and
  // TOC, then the data blocks end to end, the last to the end of the file.
  EXPECT_GT(staged.toc_bytes, 0u);
  uint64_t blocks = 0;
  for (const auto& [dump_id, bytes] : staged.data_bytes)
    blocks += bytes;
  EXPECT_EQ(staged.toc_bytes + blocks, staged_bytes.size());
  for (const TocEntry& entry : staged.toc) {
    if (entry.desc == "TABLE DATA") {
      EXPECT_GT(staged.data_bytes.count(entry.dump_id), 0u) << entry.tag;
    }
  }
  EXPECT_EQ(staged.manifest_text, test::ReadFile(storage_root + "/" + set.dir + "/manifest.json"));
}

// A restore of a few tables stages only their objects; the others are read
// back and checked all the same (a damaged one still fails the restore).
TEST_F(SetReaderTest, StageTableChoosesTheTableObjectsStaged) {
  std::string dump = Fixture("custom.dump");
  SetWriter set(*source.storage, nullptr);
  set.Add(kDataObjectCustom, "data", dump);
  set.Add("table-0001.copy.zst", kTableDataRole, "1\n2\n");
  set.Add("table-0002.copy.zst", kTableDataRole, "1\tx\n");
  set.Add(kGlobalsObject, "globals", kGlobals);
  set.Finish("custom", {{"public", "ints", 2, "table-0001.copy.zst", {"i"}},
                        {"public", "texts", 1, "table-0002.copy.zst", {"id", "body"}}});
  LocalStorage work(work_root, Durability::kScratch);
  ReadBackOptions options;
  options.stage = true;
  options.stage_required = true;
  options.stage_tables = true;
  std::vector<std::string> asked;
  options.stage_table = [&](const TableCount& table, const std::vector<TocEntry>& toc) {
    EXPECT_FALSE(toc.empty()) << "the archive's TOC is known before the table objects";
    asked.push_back(table.table);
    return table.table == "texts";
  };
  {
    StagingArea staging(work, "stage");
    StagedSet staged = ReadBackSet(source, set.dir, staging, {}, options);
    EXPECT_EQ(asked, (std::vector<std::string>{"ints", "texts"}));
    ASSERT_EQ(staged.table_paths.size(), 1u);
    EXPECT_EQ(test::ReadFile(staged.table_paths.at("table-0002.copy.zst")), "1\tx\n");
    EXPECT_FALSE(staged.client_encoding.empty());
  }
  // The object not staged is checked: damage in it fails the read.
  std::string path = storage_root + "/" + set.dir + "/table-0001.copy.zst";
  std::string bytes = test::ReadFile(path);
  bytes[bytes.size() / 2] ^= 0x40;
  test::WriteFile(path, bytes);
  StagingArea staging(work, "stage-damaged");
  try {
    ReadBackSet(source, set.dir, staging, {}, options);
    ADD_FAILURE() << "a damaged table object that is not staged went unnoticed";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorrupt) << e.what();
    EXPECT_NE(std::string(e.what()).find("table-0001.copy.zst"), std::string::npos) << e.what();
  }
}

TEST_F(SetReaderTest, DamageTheChecksumsCannotSee) {
  LocalStorage work(work_root, Durability::kScratch);
  int round = 0;
  auto read_back = [&](SetWriter& set, const SetExpectation& expected) -> std::string {
    StagingArea staging(work, "stage-" + std::to_string(++round));
    ReadBackOptions options;
    options.stage = true;
    options.stage_required = true;
    try {
      ReadBackSet(source, set.dir, staging, expected, options);
    } catch (const Error& e) {
      return std::to_string(static_cast<int>(e.kind())) + ": " + e.what();
    }
    return "(read back)";
  };
  const std::string corrupt = std::to_string(static_cast<int>(ErrorKind::kCorrupt)) + ": ";
  {
    // The manifest's own numbers disagree with the stored bytes.
    SetWriter set(*source.storage, nullptr);
    set.AddStored(kDataObjectPlain, "data", kScript, set.Stored(kScript), kScript.size() + 1);
    set.Finish();
    EXPECT_EQ(read_back(set, {}).rfind(corrupt + "data.sql.zst: decompressed size mismatch", 0),
              0u);
    // Another database's set.
    SetExpectation other;
    other.database = "other";
    EXPECT_EQ(read_back(set, other),
              corrupt + "manifest.json describes backup 42 of database \"app\", not this one");
  }
  test::TempDir second;
  source.storage = std::make_unique<LocalStorage>(second.path());
  storage_root = second.path();
  {
    // Bytes that match their SHA-256 but are no zstd frame: written so.
    SetWriter set(*source.storage, nullptr);
    set.AddStored(kDataObjectPlain, "data", kScript, "not a zstd frame", kScript.size());
    set.Finish();
    std::string got = read_back(set, {});
    EXPECT_EQ(got.rfind(corrupt + "data.sql.zst: cannot be read back: ", 0), 0u) << got;
  }
  test::TempDir third;
  source.storage = std::make_unique<LocalStorage>(third.path());
  storage_root = third.path();
  {
    // A name that leads out of the set.
    SetWriter set(*source.storage, nullptr);
    set.Add(kDataObjectPlain, "data", kScript);
    set.objects[0].name = "../escape";
    set.Finish();
    EXPECT_EQ(read_back(set, {}),
              corrupt + "manifest.json names an object \"../escape\" that cannot be in a set");
  }
}

TEST_F(SetReaderTest, ADamagedAgeHeaderIsDamageAWrongKeyIsNot) {
  AgeIdentity identity = AgeIdentity::Generate();
  SetWriter set(*source.storage, &identity);
  set.Add(kDataObjectPlain, "data", kScript);
  set.Finish();
  LocalStorage work(work_root, Durability::kScratch);
  int round = 0;
  auto read_back = [&]() -> Error {
    StagingArea staging(work, "stage-" + std::to_string(++round));
    ReadBackOptions options;
    options.stage = true;
    options.stage_required = true;
    try {
      ReadBackSet(source, set.dir, staging, {}, options);
    } catch (const Error& e) {
      return e;
    }
    return Error(ErrorKind::kInternal, "(read back)");
  };
  // Another key: the bytes are the backup's, the key is the caller's matter.
  source.identities = {AgeIdentity::Generate()};
  EXPECT_EQ(read_back().kind(), ErrorKind::kInvalidParameter);
  // A flipped byte in the X25519 stanza of the header: a checksum mismatch.
  source.identities = {identity};
  std::string path = storage_root + "/" + set.dir + "/" + kDataObjectPlain + kAgeSuffix;
  std::string bytes = test::ReadFile(path);
  size_t stanza = bytes.find("-> X25519 ");
  ASSERT_NE(stanza, std::string::npos);
  bytes[stanza + 12] ^= 1;
  test::WriteFile(path, bytes);
  Error damaged = read_back();
  EXPECT_EQ(damaged.kind(), ErrorKind::kCorrupt);
  EXPECT_NE(std::string(damaged.what()).find("SHA-256 mismatch"), std::string::npos)
      << damaged.what();
}

TEST_F(SetReaderTest, SetKeyAndManifestLimits) {
  EXPECT_EQ(SetKey(*source.storage, kId,
                   storage_root + "/" + SetDirectory("7301", "app", 1764547200, kId)),
            SetDirectory("7301", "app", 1764547200, kId));
  EXPECT_THROW(SetKey(*source.storage, 43,
                      storage_root + "/" + SetDirectory("7301", "app", 1764547200, kId)),
               Error);
  EXPECT_THROW(SetKey(*source.storage, kId, "/elsewhere/x"), Error);
  // A sparse file over the limit: its listed size alone refuses it.
  std::unique_ptr<ObjectWriter> writer = source.storage->Create("big/manifest.json");
  writer->Finish();
  ASSERT_EQ(truncate((storage_root + "/big/manifest.json").c_str(), kMaxManifestBytes + 1), 0);
  try {
    ReadManifest(*source.storage, "big", "");
    ADD_FAILURE() << "read a manifest over the limit";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "manifest.json is too large to be a manifest");
  }
}

}  // namespace
}  // namespace pgbak
