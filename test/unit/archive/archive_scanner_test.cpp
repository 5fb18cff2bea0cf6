// archive_scanner_test.cpp: row counting in pg_dump custom archives
// (src/core/archive_scanner.cpp), on archives made by the real pg_dump 15
// (test/unit/archive/data/, made by make_archive_fixtures.sh) and on small archives
// built here to reach what pg_dump 15 does not write.
#include "core/archive/archive_scanner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/pipeline/zstd_sink.h"
#include "test_util.h"

namespace pgbak {
namespace {

using test::Bytes;

// ExpectedTable is what the fixture's database held, from count(*) at
// fixture time, and where pg_dump itself put the data (the "Data Pos" that
// pg_restore --verbose shows for the file-written seekable.dump).
struct ExpectedTable {
  int dump_id;
  const char* schema;
  const char* table;
  int64_t rows;
  uint64_t data_offset;
};

// In TOC order, which is pg_dump's: by schema, then name.
const std::vector<ExpectedTable> kFixtureTables = {
    {3388, "odd.schema name", "MixedCase", 3, 6895},
    {3393, "public", "big", 300000, 6937},
    {3386, "public", "edge_lines", 5, 3873956},
    {3385, "public", "empty_table", 0, 3874021},
    {3383, "public", "ints", 1000, 3874042},
    {3389, "public", "measurements_2023", 365, 3882956},
    {3390, "public", "measurements_2024", 136, 3890167},
    {3387, "public", "no_columns", 2, 3892908},
    {3384, "public", "texts", 9, 3892941},
};
constexpr uint64_t kFixtureSize = 3893180;

// Fixture returns a decompressed file from test/unit/archive/data/.
std::string Fixture(const std::string& name) {
  std::string source = __FILE__;
  std::string path = source.substr(0, source.rfind('/')) + "/data/" + name + ".zst";
  std::string compressed = test::ReadFile(path);
  StringSink plain;
  ZstdDecompressSink decompress(plain);
  decompress.Write(Bytes(compressed), compressed.size());
  decompress.Finish();
  return plain.contents();
}

// CustomDump is custom.dump: pg_dump --format=custom --compress=0 | cat.
const std::string& CustomDump() {
  static const std::string dump = Fixture("custom.dump");
  return dump;
}

// ScanResult is what a scan saw and passed on.
struct ScanResult {
  bool ok = false;
  bool complete = false;
  std::string problem;
  std::string version;
  std::vector<ArchiveTable> tables;
  std::string output;
  bool output_finished = false;
  std::vector<OffsetPatch> patches;
};

// Scan feeds archive to a scanner in pieces whose sizes come from next_size;
// coalesce_to is the scanner's.
template <typename NextSize>
ScanResult Scan(const std::string& archive, NextSize next_size, size_t coalesce_to = 0) {
  StringSink out;
  ArchiveScanner scanner(out, coalesce_to);
  size_t offset = 0;
  while (offset < archive.size()) {
    size_t size = std::min(next_size(), archive.size() - offset);
    scanner.Write(Bytes(archive) + offset, size);
    offset += size;
  }
  scanner.Finish();
  return {scanner.ok(),     scanner.complete(), scanner.problem(), scanner.version(),
          scanner.tables(), out.contents(),     out.finished(),    scanner.OffsetPatches()};
}

ScanResult ScanWhole(const std::string& archive, size_t coalesce_to = 0) {
  return Scan(
      archive, [&] { return archive.size(); }, coalesce_to);
}

// ExpectFixtureCounts checks a scan of custom.dump against the database
// (and against pg_dump's data offsets, unless the scan rewrote the archive).
void ExpectFixtureCounts(const ScanResult& scan, bool pg_dump_offsets = true) {
  EXPECT_TRUE(scan.ok) << scan.problem;
  EXPECT_TRUE(scan.complete);
  EXPECT_EQ(scan.problem, "");
  EXPECT_EQ(scan.version, "1.14.0");
  ASSERT_EQ(scan.tables.size(), kFixtureTables.size());
  for (size_t i = 0; i < kFixtureTables.size(); i++) {
    const ExpectedTable& expected = kFixtureTables[i];
    const ArchiveTable& table = scan.tables[i];
    EXPECT_EQ(table.dump_id, expected.dump_id) << expected.table;
    EXPECT_EQ(table.schema, expected.schema) << expected.table;
    EXPECT_EQ(table.table, expected.table);
    EXPECT_EQ(table.rows, expected.rows) << expected.table;
    if (pg_dump_offsets) {
      EXPECT_EQ(table.data_offset, expected.data_offset) << expected.table;
    }
    EXPECT_TRUE(table.data_seen) << expected.table;
  }
}

// ExpectRejected checks a scan that gave up: the bytes still all passed.
void ExpectRejected(const ScanResult& scan, const std::string& archive,
                    const std::string& problem_part) {
  EXPECT_FALSE(scan.ok);
  EXPECT_FALSE(scan.complete);
  EXPECT_TRUE(scan.patches.empty());
  EXPECT_NE(scan.problem.find(problem_part), std::string::npos) << scan.problem;
  EXPECT_TRUE(scan.output == archive);
  EXPECT_TRUE(scan.output_finished);
}

TEST(ArchiveScannerTest, CountsRowsOfWholeArchive) {
  const std::string& dump = CustomDump();
  ASSERT_EQ(dump.size(), kFixtureSize);
  ScanResult scan = ScanWhole(dump);
  ExpectFixtureCounts(scan);
  EXPECT_TRUE(scan.output == dump);
  EXPECT_TRUE(scan.output_finished);
}

// PatchedCopy applies patches to archive in memory, as ApplyOffsetPatches
// does to a file.
std::string PatchedCopy(std::string archive, const std::vector<OffsetPatch>& patches) {
  for (const OffsetPatch& patch : patches) {
    EXPECT_LE(patch.slot_position + patch.bytes.size(), archive.size());
    std::copy(patch.bytes.begin(), patch.bytes.end(), archive.begin() + patch.slot_position);
  }
  return archive;
}

// FirstDifference says where two archives first differ, for failure messages.
std::string FirstDifference(const std::string& a, const std::string& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) {
    i++;
  }
  if (i == a.size() && i == b.size()) {
    return "identical";
  }
  return "first difference at byte " + std::to_string(i) + " of " + std::to_string(a.size()) +
         " and " + std::to_string(b.size());
}

TEST(ArchiveScannerTest, CountsRowsOneByteAtATime) {
  const std::string& dump = CustomDump();
  ScanResult scan = Scan(dump, [] { return size_t{1}; });
  ExpectFixtureCounts(scan);
  EXPECT_TRUE(scan.output == dump);
  // Offsets and slots too are found wherever the stream is split.
  ScanResult whole = ScanWhole(dump);
  ASSERT_EQ(scan.patches.size(), whole.patches.size());
  for (size_t i = 0; i < scan.patches.size(); i++) {
    EXPECT_EQ(scan.patches[i].slot_position, whole.patches[i].slot_position);
    EXPECT_EQ(scan.patches[i].bytes, whole.patches[i].bytes);
  }
}

TEST(ArchiveScannerTest, CountsRowsInRandomPieces) {
  const std::string& dump = CustomDump();
  for (uint32_t seed : {1u, 2u, 20240601u}) {
    SCOPED_TRACE(seed);
    std::mt19937 random(seed);
    // Mostly small pieces, so that every field is split somewhere, with
    // large ones in between.
    std::uniform_int_distribution<size_t> small(1, 13);
    std::uniform_int_distribution<size_t> large(1, 200000);
    std::bernoulli_distribution pick_large(0.01);
    ScanResult scan =
        Scan(dump, [&] { return pick_large(random) ? large(random) : small(random); });
    ExpectFixtureCounts(scan);
    EXPECT_TRUE(scan.output == dump);
  }
}

TEST(ArchiveScannerTest, DataOffsetsPointAtTheirDataBlocks) {
  const std::string& dump = CustomDump();
  ScanResult scan = ScanWhole(dump);
  ASSERT_TRUE(scan.ok) << scan.problem;
  for (const ArchiveTable& table : scan.tables) {
    ASSERT_LT(table.data_offset + 5, dump.size());
    EXPECT_EQ(dump[table.data_offset], 1) << table.table;  // BLK_DATA
    // Then the dump id as an Int: sign byte and 4 bytes, little-endian.
    const auto* id = Bytes(dump) + table.data_offset + 1;
    EXPECT_EQ(id[0], 0);
    EXPECT_EQ(id[1] | id[2] << 8 | id[3] << 16 | id[4] << 24, table.dump_id) << table.table;
  }
}

TEST(ArchiveScannerTest, DataOffsetsAreThoseOfAFileWrittenDump) {
  // Written to a file, pg_dump goes back and fills in the TOC's data
  // offsets; they must be where the scanner saw the blocks start.
  std::string seekable = Fixture("seekable.dump");
  ScanResult scan = ScanWhole(seekable);
  ExpectFixtureCounts(scan);
  EXPECT_TRUE(scan.output == seekable);
}

TEST(ArchiveScannerTest, OffsetPatchesMakeThePipedDumpTheFileWrittenOne) {
  // The two fixtures are the same database dumped twice, through a pipe and
  // to a file; pg_dump 15 wrote them identically (header and creation time
  // included) except for the 10 data offset slots it filled in at the end
  // for the file: 9 TABLE DATA entries and BLOBS. So the whole file is
  // compared, with no part left out.
  const std::string& piped = CustomDump();
  std::string seekable = Fixture("seekable.dump");
  ASSERT_EQ(piped.size(), seekable.size());
  ASSERT_FALSE(piped == seekable);
  ScanResult scan = ScanWhole(piped);
  ASSERT_TRUE(scan.ok) << scan.problem;
  ASSERT_TRUE(scan.complete);
  ASSERT_EQ(scan.patches.size(), kFixtureTables.size() + 1);
  for (const OffsetPatch& patch : scan.patches) {
    ASSERT_EQ(patch.bytes.size(), 9u);         // flag and offSize 8
    EXPECT_EQ(piped[patch.slot_position], 1);  // K_OFFSET_POS_NOT_SET
    EXPECT_EQ(patch.bytes[0], 2);              // K_OFFSET_POS_SET
  }

  test::TempDir dir;
  std::string path = dir.Join("staged.dump");
  test::WriteFile(path, piped);
  ApplyOffsetPatches(path, scan.patches);
  std::string patched = test::ReadFile(path);
  EXPECT_TRUE(patched == seekable) << FirstDifference(patched, seekable);

  // A file-written dump needs nothing else: its patches rewrite what is there.
  ScanResult again = ScanWhole(seekable);
  ASSERT_TRUE(again.ok) << again.problem;
  EXPECT_TRUE(PatchedCopy(seekable, again.patches) == seekable);
}

TEST(ArchiveScannerTest, NoOffsetPatchesUnlessWholeAndWellFormed) {
  // Not ok: the archive ended in the middle of a table's data.
  std::string cut = CustomDump().substr(0, kFixtureTables[1].data_offset + 1000);
  ScanResult truncated = ScanWhole(cut);
  EXPECT_FALSE(truncated.ok);
  EXPECT_TRUE(truncated.patches.empty());
  // Not ok: a corrupt block type after every block of the fixture but one.
  std::string corrupt = CustomDump();
  corrupt[3893127] = 7;  // the BLOBS block's type byte
  ScanResult bad = ScanWhole(corrupt);
  EXPECT_FALSE(bad.ok);
  EXPECT_TRUE(bad.patches.empty());
  // Ok so far but not finished: every block seen, Finish not yet called.
  StringSink out;
  ArchiveScanner scanner(out);
  scanner.Write(Bytes(CustomDump()), CustomDump().size());
  EXPECT_TRUE(scanner.ok());
  EXPECT_FALSE(scanner.complete());
  EXPECT_TRUE(scanner.OffsetPatches().empty());
  scanner.Finish();
  EXPECT_EQ(scanner.OffsetPatches().size(), kFixtureTables.size() + 1);
}

TEST(ArchiveScannerTest, ApplyOffsetPatchesFailures) {
  test::TempDir dir;
  std::vector<OffsetPatch> patches = {{2, {2, 1, 0, 0, 0, 0, 0, 0, 0}}};
  try {
    ApplyOffsetPatches(dir.Join("missing.dump"), patches);
    ADD_FAILURE() << "no error for a missing file";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(error.what()).find("missing.dump"), std::string::npos) << error.what();
  }
  // A file shorter than the scanned archive is not written to, or extended.
  std::string path = dir.Join("short.dump");
  test::WriteFile(path, "PGDMP12345");
  try {
    ApplyOffsetPatches(path, patches);
    ADD_FAILURE() << "no error for a patch beyond the end";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(error.what()).find("beyond"), std::string::npos) << error.what();
  }
  EXPECT_EQ(test::ReadFile(path), "PGDMP12345");
  // Within the file: written in place, nothing else touched.
  test::WriteFile(path, "PGDMP1234567890");
  ApplyOffsetPatches(path, patches);
  EXPECT_EQ(test::ReadFile(path),
            "PG" + std::string(patches[0].bytes.begin(), patches[0].bytes.end()) + "7890");
}

TEST(ArchiveScannerTest, RejectsPlainFormat) {
  std::string plain = Fixture("plain.sql");
  ScanResult scan = ScanWhole(plain);
  ExpectRejected(scan, plain, "not a custom archive");
  EXPECT_TRUE(scan.tables.empty());
}

TEST(ArchiveScannerTest, RejectsCorruptedMagic) {
  std::string dump = CustomDump();
  dump[2] = 'X';
  ExpectRejected(ScanWhole(dump), dump, "not a custom archive");
}

TEST(ArchiveScannerTest, RejectsCompressedArchive) {
  std::string compressed = Fixture("compressed.dump");
  ScanResult scan = ScanWhole(compressed);
  ExpectRejected(scan, compressed, "compress");
  EXPECT_NE(scan.problem.find("level 1"), std::string::npos) << scan.problem;
}

TEST(ArchiveScannerTest, RejectsDefaultCompression) {
  // pg_dump -Fc without -Z writes compression -1 (Z_DEFAULT_COMPRESSION).
  std::string dump = CustomDump();
  ASSERT_EQ(dump.substr(11, 5), std::string(5, '\0'));
  dump[11] = 1;  // sign
  dump[12] = 1;
  ExpectRejected(ScanWhole(dump), dump, "compression level -1");
}

TEST(ArchiveScannerTest, RejectsVersionsOutsideElevenToFifteen) {
  for (int minor : {11, 15}) {
    std::string dump = CustomDump();
    dump[6] = static_cast<char>(minor);
    ScanResult scan = ScanWhole(dump);
    ExpectRejected(scan, dump, "unsupported archive version 1." + std::to_string(minor) + ".0");
    EXPECT_EQ(scan.version, "1." + std::to_string(minor) + ".0");
  }
}

TEST(ArchiveScannerTest, RejectsOtherFormatCode) {
  std::string dump = CustomDump();
  dump[10] = 3;  // archTar
  ExpectRejected(ScanWhole(dump), dump, "not a custom archive: header says format 3");
}

TEST(ArchiveScannerTest, TruncatedInTableOfContents) {
  std::string cut = CustomDump().substr(0, 3000);
  ScanResult scan = ScanWhole(cut);
  ExpectRejected(scan, cut, "archive ended in its table of contents (entry ");
}

TEST(ArchiveScannerTest, TruncatedInHeader) {
  std::string cut = CustomDump().substr(0, 40);
  ExpectRejected(ScanWhole(cut), cut, "archive ended in its header");
}

TEST(ArchiveScannerTest, TruncatedInDataBlock) {
  // 1000 bytes into the 300000 rows of "big".
  std::string cut = CustomDump().substr(0, kFixtureTables[1].data_offset + 1000);
  ScanResult scan = ScanWhole(cut);
  ExpectRejected(scan, cut, "archive ended in the data of table \"public\".\"big\"");
  ASSERT_EQ(scan.tables.size(), kFixtureTables.size());
  EXPECT_TRUE(scan.tables[0].data_seen);
  EXPECT_FALSE(scan.tables[1].data_seen);
}

TEST(ArchiveScannerTest, TruncatedBetweenDataBlocks) {
  // Right where the data of "texts", the last table, would start.
  std::string cut = CustomDump().substr(0, kFixtureTables.back().data_offset);
  ExpectRejected(ScanWhole(cut), cut,
                 "archive ended before the data of table \"public\".\"texts\"");
  // Right before the BLOBS block, which ends the archive: every table is
  // there, but the archive is not whole.
  std::string without_blobs = CustomDump().substr(0, 3893127);
  ASSERT_EQ(without_blobs.back(), 0);
  ASSERT_EQ(CustomDump()[3893127], 3);  // BLK_BLOBS
  ExpectRejected(ScanWhole(without_blobs), without_blobs,
                 "archive ended before the data block of dump id 3395");
}

TEST(ArchiveScannerTest, RejectsEmptyStream) {
  ExpectRejected(ScanWhole(""), "", "archive is empty");
}

// Builder writes small custom archives the way pg_dump's WriteHead,
// WriteToc and the custom format's data functions do.
class Builder {
 public:
  explicit Builder(int minor = 14) : minor_(minor) {
    archive_ = "PGDMP";
    for (int byte : {1, minor, 0, 4, 8, 1}) {
      archive_.push_back(static_cast<char>(byte));
    }
    Int(0);  // compression
    for (int i = 0; i < 7; i++) {
      Int(i);
    }
    Str("db");
    Str("15.0");
    Str("15.0");
  }

  // Int appends a sign byte and four bytes, as WriteInt with intSize 4.
  Builder& Int(int64_t value) {
    archive_.push_back(value < 0 ? 1 : 0);
    uint64_t magnitude = value < 0 ? -value : value;
    for (int i = 0; i < 4; i++) {
      archive_.push_back(static_cast<char>((magnitude >> (8 * i)) & 0xff));
    }
    return *this;
  }
  Builder& Str(const char* text) {
    if (text == nullptr) {
      return Int(-1);
    }
    Int(static_cast<int64_t>(std::string(text).size()));
    archive_ += text;
    return *this;
  }
  Builder& Byte(int byte) {
    archive_.push_back(static_cast<char>(byte));
    return *this;
  }

  // Entry appends a TOC entry with dump_id % 3 dependencies and an unset
  // data offset.
  Builder& Entry(int dump_id, bool had_dumper, const char* tag, const char* desc,
                 const char* schema, const char* copy_stmt) {
    Int(dump_id).Int(had_dumper ? 1 : 0).Str("0").Str("0").Str(tag).Str(desc).Int(2);
    Str("").Str("").Str(copy_stmt).Str(schema).Str("");
    if (minor_ >= 14) {
      Str("heap");
    }
    Str("owner").Str("false");
    for (int i = 1; i <= dump_id % 3; i++) {
      Str(std::to_string(i).c_str());
    }
    Str(nullptr);
    Byte(had_dumper ? 1 : 3);
    for (int i = 0; i < 8; i++) {
      Byte(0);
    }
    return *this;
  }
  Builder& Table(int dump_id, const char* name) {
    return Entry(dump_id, true, name, "TABLE DATA", "public", "COPY t FROM stdin;\n");
  }

  // Data appends a BLK_DATA block with one chunk per piece.
  Builder& Data(int dump_id, const std::vector<std::string>& chunks) {
    Byte(1).Int(dump_id);
    for (const std::string& chunk : chunks) {
      Int(static_cast<int64_t>(chunk.size()));
      archive_ += chunk;
    }
    return Int(0);
  }

  const std::string& archive() const { return archive_; }

 private:
  int minor_;
  std::string archive_;
};

TEST(ArchiveScannerTest, BuilderMatchesPgDump) {
  // The header Builder writes has the layout of the real one: after it, both
  // have the TOC count.
  Builder built;
  EXPECT_EQ(CustomDump().substr(0, 16), built.archive().substr(0, 16));
  // An archive without entries is complete after its TOC count.
  built.Int(0);
  ScanResult scan = ScanWhole(built.archive());
  EXPECT_TRUE(scan.ok) << scan.problem;
  EXPECT_TRUE(scan.complete);
}

TEST(ArchiveScannerTest, ReadsVersionsWithoutTableAccessMethod) {
  for (int minor : {12, 13, 14}) {
    SCOPED_TRACE(minor);
    Builder archive(minor);
    archive.Int(3).Table(6, "a").Table(7, "b").Table(8, "c");
    archive.Data(6, {"1\n", "2\n", "\\.\n\n\n"}).Data(7, {"\\.\n\n\n"});
    archive.Data(8, {"3\n", "\\.\n\n\n"});
    ScanResult scan = Scan(archive.archive(), [] { return size_t{1}; });
    ASSERT_TRUE(scan.ok) << scan.problem;
    EXPECT_TRUE(scan.complete);
    EXPECT_EQ(scan.version, "1." + std::to_string(minor) + ".0");
    ASSERT_EQ(scan.tables.size(), 3u);
    EXPECT_EQ(scan.tables[0].rows, 2);
    EXPECT_EQ(scan.tables[1].rows, 0);
    EXPECT_EQ(scan.tables[2].table, "c");
    EXPECT_EQ(scan.tables[2].rows, 1);
  }
}

TEST(ArchiveScannerTest, CountsRowsSplitAcrossChunks) {
  // pg_dump writes one chunk per row when it does not compress, but nothing
  // in the format says so: rows and the end line may straddle chunks.
  Builder archive;
  archive.Int(1).Table(5, "t");
  archive.Data(5, {"1\tab", "c\n2", "\t\\\\.\n", "\n3\n\\", ".", "\n\n", "\n"});
  ScanResult scan = ScanWhole(archive.archive());
  ASSERT_TRUE(scan.ok) << scan.problem;
  ASSERT_EQ(scan.tables.size(), 1u);
  EXPECT_EQ(scan.tables[0].rows, 4);  // "1\tabc", "2\t\\\\.", "", "3"
}

TEST(ArchiveScannerTest, PassesOverLargeObjectsAndOtherData) {
  // A BLOBS block with an OID above 2^31 (written negative by WriteInt) and
  // data with newlines, and data of an entry that is not a table.
  Builder archive;
  archive.Int(3).Entry(3, true, "BLOBS", "BLOBS", nullptr, nullptr).Table(4, "t");
  archive.Entry(6, false, "s", "SEQUENCE SET", "public", nullptr);
  archive.Byte(3).Int(3);
  archive.Int(-1294967296).Str("a\nb").Int(0);  // oid, one chunk, end of object
  archive.Int(16411).Str("\n").Int(0);
  archive.Int(0);
  archive.Data(4, {"x\n", "\\.\n\n\n"});
  ScanResult scan = ScanWhole(archive.archive());
  ASSERT_TRUE(scan.ok) << scan.problem;
  ASSERT_EQ(scan.tables.size(), 1u);
  EXPECT_EQ(scan.tables[0].table, "t");
  EXPECT_EQ(scan.tables[0].rows, 1);
}

TEST(ArchiveScannerTest, RejectsDataWithoutCopy) {
  // pg_dump --inserts: TABLE DATA is INSERT statements, lines are not rows.
  Builder archive;
  archive.Int(1).Entry(5, true, "t", "TABLE DATA", "public", nullptr);
  ExpectRejected(ScanWhole(archive.archive()), archive.archive(), "no COPY statement");
}

TEST(ArchiveScannerTest, RejectsDataWithoutEndLine) {
  Builder archive;
  archive.Int(1).Table(5, "t").Data(5, {"1\n", "2\n"});
  ExpectRejected(ScanWhole(archive.archive()), archive.archive(), "without COPY's end-of-data");
}

TEST(ArchiveScannerTest, RejectsBlockOfUnknownEntry) {
  Builder archive;
  archive.Int(2).Table(5, "t").Entry(6, false, "u", "TABLE", "public", nullptr);
  archive.Data(5, {"\\.\n\n\n"});
  std::string valid = archive.archive();
  archive.Data(6, {"\\.\n\n\n"});
  ExpectRejected(ScanWhole(archive.archive()), archive.archive(), "data block for dump id 6");
  EXPECT_TRUE(ScanWhole(valid).ok);
}

TEST(ArchiveScannerTest, RejectsSecondBlockOfTable) {
  Builder archive;
  archive.Int(1).Table(5, "t").Data(5, {"\\.\n\n\n"}).Data(5, {"\\.\n\n\n"});
  ExpectRejected(ScanWhole(archive.archive()), archive.archive(),
                 "second data block for dump id 5");
}

TEST(ArchiveScannerTest, RejectsNegativeLengths) {
  Builder chunk;
  chunk.Int(1).Table(5, "t").Byte(1).Int(5).Int(-3);
  ExpectRejected(ScanWhole(chunk.archive()), chunk.archive(), "negative chunk length -3");
  Builder string;
  string.Int(1).Int(5).Int(1).Int(-2);
  ExpectRejected(ScanWhole(string.archive()), string.archive(), "negative string length -2");
}

TEST(ArchiveScannerTest, RejectsUnknownBlockType) {
  Builder archive;
  archive.Int(1).Table(5, "t").Byte(2).Int(5);  // BLK_BLOB, older than 1.12
  ExpectRejected(ScanWhole(archive.archive()), archive.archive(), "unknown data block type 2");
}

TEST(ArchiveScannerTest, OffsetPatchesCoverBlobsAndSkipEntriesWithoutData) {
  Builder archive;
  archive.Int(3).Entry(3, true, "BLOBS", "BLOBS", nullptr, nullptr).Table(4, "t");
  archive.Entry(6, false, "s", "SEQUENCE SET", "public", nullptr);
  std::string toc = archive.archive();
  uint64_t blobs_block = toc.size();
  archive.Byte(3).Int(3).Int(16411).Str("lo").Int(0).Int(0);
  uint64_t table_block = archive.archive().size();
  archive.Data(4, {"x\n", "\\.\n\n\n"});
  const std::string& built = archive.archive();
  ScanResult scan = Scan(built, [] { return size_t{3}; });
  ASSERT_TRUE(scan.ok) << scan.problem;
  ASSERT_EQ(scan.patches.size(), 2u);
  // Each TOC entry ends with its 9-byte slot; the last one (dump id 6, no
  // data) is left alone.
  uint64_t last_slot = toc.size() - 9;
  ASSERT_EQ(built[last_slot], 3);  // K_OFFSET_NO_DATA
  EXPECT_LT(scan.patches[0].slot_position, scan.patches[1].slot_position);
  EXPECT_LT(scan.patches[1].slot_position, last_slot);
  for (size_t i = 0; i < 2; i++) {
    EXPECT_EQ(built[scan.patches[i].slot_position], 1);
    EXPECT_EQ(built.substr(scan.patches[i].slot_position + 1, 8), std::string(8, '\0'));
  }
  std::vector<uint8_t> blobs = {2, 0, 0, 0, 0, 0, 0, 0, 0};
  std::vector<uint8_t> table = blobs;
  for (int i = 0; i < 8; i++) {
    blobs[1 + i] = static_cast<uint8_t>(blobs_block >> (8 * i));
    table[1 + i] = static_cast<uint8_t>(table_block >> (8 * i));
  }
  EXPECT_EQ(scan.patches[0].bytes, blobs);
  EXPECT_EQ(scan.patches[1].bytes, table);
  // The patched archive still scans, to the same patches.
  std::string patched = PatchedCopy(built, scan.patches);
  ScanResult again = ScanWhole(patched);
  ASSERT_TRUE(again.ok) << again.problem;
  ASSERT_EQ(again.patches.size(), 2u);
  EXPECT_EQ(again.patches[1].bytes, table);
}

// ChunkSizes lists, block by block, the chunk lengths of an archive's
// BLK_DATA blocks, reading the framing the way pg_restore does: Int dump id,
// then Int length and body until an Int 0 (intSize 4). data_offsets are the
// blocks' type bytes, in order.
std::vector<std::vector<uint32_t>> ChunkSizes(const std::string& archive,
                                              const std::vector<uint64_t>& data_offsets) {
  auto read_int = [&](uint64_t& at) {
    const auto* bytes = Bytes(archive) + at;
    at += 5;
    return static_cast<uint32_t>(bytes[1] | bytes[2] << 8 | bytes[3] << 16 | bytes[4] << 24);
  };
  std::vector<std::vector<uint32_t>> blocks;
  for (uint64_t at : data_offsets) {
    EXPECT_EQ(archive[at], 1);  // BLK_DATA
    at += 1;
    read_int(at);  // dump id
    std::vector<uint32_t> sizes;
    while (uint32_t size = read_int(at)) {
      sizes.push_back(size);
      at += size;
    }
    blocks.push_back(sizes);
  }
  return blocks;
}

std::vector<uint64_t> DataOffsets(const ScanResult& scan) {
  std::vector<uint64_t> offsets;
  for (const ArchiveTable& table : scan.tables) {
    offsets.push_back(table.data_offset);
  }
  return offsets;
}

TEST(ArchiveScannerTest, CoalescesChunksOfTableData) {
  // custom.dump has one chunk per row (300,000 for "big"); coalesced, every
  // table's COPY text is the same, in chunks of the coalesce size.
  const std::string& dump = CustomDump();
  const size_t chunk = 4096;
  ScanResult coalesced = ScanWhole(dump, chunk);
  ExpectFixtureCounts(coalesced, false);
  EXPECT_TRUE(coalesced.output_finished);
  EXPECT_LT(coalesced.output.size(), dump.size());
  // The header and TOC pass unchanged, up to the first data block.
  uint64_t toc_end = kFixtureTables[0].data_offset;
  EXPECT_TRUE(coalesced.output.substr(0, toc_end) == dump.substr(0, toc_end));
  EXPECT_EQ(coalesced.tables[0].data_offset, toc_end);

  // Read back verbatim, the output is an archive of the same tables and rows,
  // and the scanner's offsets are where its blocks are.
  ScanResult again = ScanWhole(coalesced.output);
  ExpectFixtureCounts(again, false);
  EXPECT_EQ(DataOffsets(again), DataOffsets(coalesced));
  std::vector<std::vector<uint32_t>> sizes = ChunkSizes(coalesced.output, DataOffsets(coalesced));
  std::vector<std::vector<uint32_t>> original = ChunkSizes(dump, DataOffsets(ScanWhole(dump)));
  ASSERT_EQ(sizes.size(), original.size());
  for (size_t i = 0; i < sizes.size(); i++) {
    SCOPED_TRACE(kFixtureTables[i].table);
    uint64_t total = 0;
    for (uint32_t size : original[i]) {
      total += size;
    }
    ASSERT_FALSE(sizes[i].empty());
    for (size_t j = 0; j + 1 < sizes[i].size(); j++) {
      EXPECT_EQ(sizes[i][j], chunk);
    }
    EXPECT_GT(sizes[i].back(), 0u);
    EXPECT_LE(sizes[i].back(), chunk);
    EXPECT_EQ((sizes[i].size() - 1) * chunk + sizes[i].back(), total);
  }
  EXPECT_GT(original[1].size(), 100 * sizes[1].size());

  // Patched, the TOC points at the rewritten blocks.
  std::string patched = PatchedCopy(coalesced.output, coalesced.patches);
  ASSERT_EQ(coalesced.patches.size(), kFixtureTables.size() + 1);
  ScanResult reread = ScanWhole(patched);
  ExpectFixtureCounts(reread, false);
  EXPECT_EQ(DataOffsets(reread), DataOffsets(coalesced));
}

TEST(ArchiveScannerTest, CoalescesTheSameWhereverTheStreamIsSplit) {
  const std::string& dump = CustomDump();
  ScanResult whole = ScanWhole(dump, 1000);
  for (uint32_t seed : {1u, 7u}) {
    SCOPED_TRACE(seed);
    std::mt19937 random(seed);
    std::uniform_int_distribution<size_t> small(1, 13);
    std::uniform_int_distribution<size_t> large(1, 200000);
    std::bernoulli_distribution pick_large(0.01);
    ScanResult pieces = Scan(
        dump, [&] { return pick_large(random) ? large(random) : small(random); }, 1000);
    ExpectFixtureCounts(pieces, false);
    EXPECT_TRUE(pieces.output == whole.output) << FirstDifference(pieces.output, whole.output);
    EXPECT_EQ(DataOffsets(pieces), DataOffsets(whole));
  }
}

TEST(ArchiveScannerTest, CoalescingLeavesLargeObjectsAlone) {
  Builder archive;
  archive.Int(3).Entry(3, true, "BLOBS", "BLOBS", nullptr, nullptr).Table(4, "t");
  archive.Entry(6, false, "s", "SEQUENCE SET", "public", nullptr);
  archive.Byte(3).Int(3).Int(16411).Str("lo").Str("b").Int(0).Int(0);
  std::string before_table = archive.archive();
  archive.Data(4, {"x\n", "y\n", "\\.\n\n\n"});
  ScanResult scan = Scan(
      archive.archive(), [] { return size_t{2}; }, 64);
  ASSERT_TRUE(scan.ok) << scan.problem;
  EXPECT_TRUE(scan.complete);
  Builder expected;
  expected.Data(4, {"x\ny\n\\.\n\n\n"});
  std::string header = Builder().archive();
  EXPECT_TRUE(scan.output == before_table + expected.archive().substr(header.size()));
  ASSERT_EQ(scan.tables.size(), 1u);
  EXPECT_EQ(scan.tables[0].rows, 2);
  EXPECT_EQ(scan.tables[0].data_offset, before_table.size());
}

TEST(ArchiveScannerTest, CoalescingPassesWhatItCannotReadBeforeTheData) {
  // Given up on in the header or TOC, the archive passes unchanged, as
  // without coalescing: nothing was rewritten yet.
  std::string plain = Fixture("plain.sql");
  ExpectRejected(ScanWhole(plain, 4096), plain, "does not start with");
  Builder archive;
  archive.Int(1).Entry(5, true, "t", "TABLE DATA", "public", nullptr);
  archive.Data(5, {"INSERT INTO t VALUES (1);\n"});
  ExpectRejected(Scan(
                     archive.archive(), [] { return size_t{3}; }, 8),
                 archive.archive(), "no COPY statement");
}

TEST(ArchiveScannerTest, CoalescingFailsLoudlyOnceItRewrote) {
  // Past the first rewritten block, what was passed on cannot be completed
  // into a readable archive: the scanner throws instead of passing garbage.
  auto expect_corrupt = [](const std::string& archive, const std::string& problem_part) {
    StringSink out;
    ArchiveScanner scanner(out, 16);
    try {
      scanner.Write(Bytes(archive), archive.size());
      scanner.Finish();
      ADD_FAILURE() << "no error for " << problem_part;
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kCorrupt);
      EXPECT_NE(std::string(error.what()).find(problem_part), std::string::npos) << error.what();
    }
    EXPECT_FALSE(out.finished());
  };
  std::string cut = CustomDump().substr(0, kFixtureTables[1].data_offset + 1000);
  expect_corrupt(cut, "archive ended in the data of table \"public\".\"big\"");
  Builder negative;
  negative.Int(1).Table(5, "t").Byte(1).Int(5).Str("1\n").Int(-3);
  expect_corrupt(negative.archive(), "negative chunk length -3");
  Builder no_end;
  no_end.Int(1).Table(5, "t").Data(5, {"1\n", "2\n"});
  expect_corrupt(no_end.archive(), "without COPY's end-of-data");
}

// Recorder is an ArchiveListener that notes what it hears, and checks that
// every piece it is told of has been passed on already.
class Recorder : public ArchiveListener {
 public:
  explicit Recorder(const StringSink& out) : out_(out) {}
  void OnTocEnd(const ArchiveScanner& scanner) override {
    toc_ends++;
    toc_sha256 = scanner.toc_sha256();
    toc_end_output = out_.contents().size();
    tables_at_toc_end = scanner.tables().size();
    texts.resize(tables_at_toc_end);
    ended.assign(tables_at_toc_end, false);
  }
  void OnTableChunk(size_t table, uint64_t offset, size_t size) override {
    ASSERT_LT(table, texts.size());
    EXPECT_FALSE(ended[table]);
    ASSERT_LE(offset + size, out_.contents().size());
    texts[table] += out_.contents().substr(offset, size);
    chunks++;
  }
  void OnTableEnd(size_t table) override {
    ASSERT_LT(table, ended.size());
    EXPECT_FALSE(ended[table]);
    ended[table] = true;
  }

  int toc_ends = 0;
  std::string toc_sha256;
  size_t toc_end_output = 0;
  size_t tables_at_toc_end = 0;
  std::vector<std::string> texts;  // each table's COPY text, as heard
  std::vector<bool> ended;
  size_t chunks = 0;

 private:
  const StringSink& out_;
};

// CopyTexts reads every table's COPY text out of an archive, chunk by chunk
// (intSize 4), from the blocks at data_offsets.
std::vector<std::string> CopyTexts(const std::string& archive,
                                   const std::vector<uint64_t>& data_offsets) {
  std::vector<std::string> texts;
  std::vector<std::vector<uint32_t>> sizes = ChunkSizes(archive, data_offsets);
  for (size_t i = 0; i < data_offsets.size(); i++) {
    uint64_t at = data_offsets[i] + 1 + 5;
    std::string text;
    for (uint32_t size : sizes[i]) {
      text += archive.substr(at + 5, size);
      at += 5 + size;
    }
    texts.push_back(text);
  }
  return texts;
}

std::string HashOf(const std::string& bytes) {
  Sha256 sha;
  sha.Update(Bytes(bytes), bytes.size());
  return sha.HexDigest();
}

TEST(ArchiveScannerTest, ListenerHearsTheTocAndWhereEveryTableChunkWent) {
  const std::string& dump = CustomDump();
  std::vector<std::string> original = CopyTexts(dump, DataOffsets(ScanWhole(dump)));
  uint64_t toc_end = kFixtureTables[0].data_offset;
  for (size_t piece : {size_t{1} << 20, size_t{7}}) {
    SCOPED_TRACE(piece);
    StringSink out;
    Recorder recorder(out);
    ArchiveScanner scanner(out, 4096);
    scanner.SetListener(&recorder);
    for (size_t at = 0; at < dump.size(); at += piece) {
      scanner.Write(Bytes(dump) + at, std::min(piece, dump.size() - at));
      if (recorder.toc_ends == 0) {
        EXPECT_EQ(scanner.toc_sha256(), "");
      }
    }
    scanner.Finish();
    ASSERT_TRUE(scanner.ok()) << scanner.problem();
    // The TOC ended once, before any data, with its hash: that of the bytes
    // before the first block, which passed unchanged.
    EXPECT_EQ(recorder.toc_ends, 1);
    EXPECT_EQ(recorder.tables_at_toc_end, kFixtureTables.size());
    EXPECT_LE(recorder.toc_end_output, toc_end);
    EXPECT_EQ(recorder.toc_sha256, HashOf(dump.substr(0, toc_end)));
    EXPECT_EQ(scanner.toc_sha256(), recorder.toc_sha256);
    // Every table's COPY text, gathered from where the listener was told it
    // went, is the original text, and every table ended.
    ASSERT_EQ(recorder.texts.size(), original.size());
    for (size_t i = 0; i < original.size(); i++) {
      SCOPED_TRACE(kFixtureTables[i].table);
      EXPECT_TRUE(recorder.texts[i] == original[i]);
      EXPECT_TRUE(recorder.ended[i]);
    }
    EXPECT_GT(recorder.chunks, original.size());
  }
}

TEST(ArchiveScannerTest, TocHashIsTheSameWithoutCoalescing) {
  const std::string& dump = CustomDump();
  StringSink out;
  ArchiveScanner scanner(out);
  scanner.Write(Bytes(dump), dump.size());
  scanner.Finish();
  EXPECT_EQ(scanner.toc_sha256(), HashOf(dump.substr(0, kFixtureTables[0].data_offset)));
  // Any changed byte of the TOC changes it.
  std::string changed = dump;
  changed[kFixtureTables[0].data_offset - 20] ^= 1;
  StringSink out2;
  ArchiveScanner scanner2(out2);
  scanner2.Write(Bytes(changed), changed.size());
  EXPECT_NE(scanner2.toc_sha256(), scanner.toc_sha256());
}

TEST(ArchiveScannerTest, KeepsCopyStatementsAndSessionSettings) {
  const std::string& dump = CustomDump();
  StringSink out;
  ArchiveScanner scanner(out);
  scanner.Write(Bytes(dump), dump.size());
  scanner.Finish();
  ASSERT_TRUE(scanner.ok()) << scanner.problem();
  EXPECT_EQ(scanner.client_encoding(), "UTF8");
  EXPECT_TRUE(scanner.standard_conforming_strings());
  std::vector<ArchiveTable> tables = scanner.tables();
  ASSERT_EQ(tables.size(), kFixtureTables.size());
  EXPECT_EQ(tables[0].copy_statement.rfind("COPY \"odd.schema name\".\"MixedCase\" (", 0), 0u)
      << tables[0].copy_statement;
  EXPECT_EQ(tables[7].copy_statement, "COPY public.no_columns  FROM stdin;\n");
  for (const ArchiveTable& table : tables) {
    const std::string suffix = " FROM stdin;\n";
    ASSERT_GT(table.copy_statement.size(), suffix.size());
    EXPECT_EQ(table.copy_statement.substr(table.copy_statement.size() - suffix.size()), suffix);
  }
}

TEST(ArchiveScannerTest, KeepsEveryTocEntryWithSectionAndDependencies) {
  const std::string& dump = CustomDump();
  StringSink out;
  ArchiveScanner scanner(out);
  scanner.Write(Bytes(dump), dump.size());
  scanner.Finish();
  ASSERT_TRUE(scanner.ok()) << scanner.problem();
  const std::vector<TocEntry>& toc = scanner.toc();
  std::map<int, const TocEntry*> by_id;
  for (const TocEntry& entry : toc) {
    by_id[entry.dump_id] = &entry;
  }
  // pg_restore --list of the fixture: 10 tables (one of them partitioned,
  // without data of its own), 9 with data, a materialized view and its
  // data, and more.
  size_t tables = 0, data = 0, view_data = 0;
  for (const TocEntry& entry : toc) {
    if (entry.desc == "TABLE") {
      tables++;
      EXPECT_EQ(entry.section, kSectionPreData);
      EXPECT_EQ(entry.owner, "postgres");  // make_archive_fixtures.sh dumps as postgres
    } else if (entry.desc == "TABLE DATA") {
      data++;
      EXPECT_EQ(entry.section, kSectionData);
      EXPECT_EQ(entry.owner, "postgres");
      // Each table's data depends on its table.
      bool on_table = false;
      for (int dependency : entry.dependencies) {
        on_table = on_table || (by_id.count(dependency) && by_id[dependency]->desc == "TABLE");
      }
      EXPECT_TRUE(on_table) << entry.dump_id;
    } else if (entry.desc == "MATERIALIZED VIEW DATA") {
      view_data++;
      EXPECT_EQ(entry.section, kSectionPostData);
      EXPECT_FALSE(entry.dependencies.empty());
    }
  }
  EXPECT_EQ(tables, 10u);
  EXPECT_EQ(data, kFixtureTables.size());
  EXPECT_EQ(view_data, 1u);
  EXPECT_EQ(toc.front().desc, "ENCODING");
  EXPECT_EQ(toc.front().owner, "");
  for (const ArchiveTable& table : scanner.tables()) {
    EXPECT_EQ(table.owner, "postgres") << table.table;
  }
}

TEST(ArchiveScannerTest, RefusesDependenciesThatAreNotDumpIds) {
  for (const char* bad : {"99999999999", "-", "1x", ""}) {
    Builder built;
    built.Int(1).Table(1, "t").Data(1, {"a\n", "\\.\n"});
    std::string dump = built.archive();
    // Table(1, ...) has one dependency, the Str "1", then the NULL Str that
    // ends the list: replace the "1".
    size_t at =
        dump.find(std::string("\0\x01\0\0\0"
                              "1\x01\x01\0\0\0",
                              11));
    ASSERT_NE(at, std::string::npos);
    std::string value = bad;
    std::string replacement = std::string(1, 0) + std::string(1, static_cast<char>(value.size())) +
                              std::string(3, 0) + value;
    dump.replace(at, 6, replacement);
    StringSink out;
    ArchiveScanner scanner(out);
    scanner.Write(Bytes(dump), dump.size());
    scanner.Finish();
    EXPECT_FALSE(scanner.ok()) << bad;
    EXPECT_NE(scanner.problem().find("not a dump id"), std::string::npos)
        << bad << ": " << scanner.problem();
  }
}

TEST(ArchiveScannerTest, KeepsOwnersAndRefusesOverlongOnes) {
  Builder built;
  built.Int(1).Table(1, "t").Data(1, {"a\n", "\\.\n"});
  std::string dump = built.archive();
  StringSink out;
  ArchiveScanner scanner(out);
  scanner.Write(Bytes(dump), dump.size());
  scanner.Finish();
  ASSERT_TRUE(scanner.ok()) << scanner.problem();
  ASSERT_EQ(scanner.tables().size(), 1u);
  EXPECT_EQ(scanner.tables()[0].owner, "owner");
  EXPECT_EQ(scanner.toc().back().owner, "owner");

  // A role name is at most 63 bytes: a longer owner is not pg_dump's.
  std::string overlong = dump;
  std::string field = std::string("\x05\0\0\0owner", 9);
  size_t at = overlong.find(field);
  ASSERT_NE(at, std::string::npos);
  std::string name(2000, 'o');
  std::string replacement = std::string(1, 0) + std::string("\xd0\x07\0\0", 4) + name;
  overlong.replace(at - 1, field.size() + 1, replacement);
  StringSink out2;
  ArchiveScanner rejecting(out2);
  rejecting.Write(Bytes(overlong), overlong.size());
  rejecting.Finish();
  EXPECT_FALSE(rejecting.ok());
  EXPECT_NE(rejecting.problem().find("owner longer than"), std::string::npos)
      << rejecting.problem();
}

TEST(ArchiveScannerTest, OverlongCopyStatementIsDroppedNotFatal) {
  std::string long_copy = "COPY t (" + std::string(kMaxCopyStatement, 'a') + ") FROM stdin;\n";
  Builder built;
  built.Int(2).Table(5, "short");
  built.Entry(6, true, "long", "TABLE DATA", "public", long_copy.c_str());
  built.Data(5, {"1\n", "\\.\n\n\n"}).Data(6, {"2\n", "\\.\n\n\n"});
  StringSink out;
  ArchiveScanner scanner(out, 64);
  scanner.Write(Bytes(built.archive()), built.archive().size());
  scanner.Finish();
  ASSERT_TRUE(scanner.ok()) << scanner.problem();
  ASSERT_EQ(scanner.tables().size(), 2u);
  EXPECT_EQ(scanner.table(0).copy_statement, "COPY t FROM stdin;\n");
  EXPECT_EQ(scanner.table(1).copy_statement, "");
  EXPECT_EQ(scanner.table(1).rows, 1);
  EXPECT_EQ(scanner.client_encoding(), "");
  EXPECT_FALSE(scanner.standard_conforming_strings());
}

}  // namespace
}  // namespace pgbak
