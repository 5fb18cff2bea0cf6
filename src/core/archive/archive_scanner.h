// archive_scanner.h: reading pg_dump's custom archive format as it streams
// past, to count every table's rows without touching the database again.
//
// pg_dump writes its custom format to a pipe as: a header, the table of
// contents (one entry per object, with the schema and name of each TABLE
// DATA entry), then one data block per entry with data, as length-prefixed
// chunks of COPY text: one line per row. ArchiveScanner follows that
// structure byte by byte, with memory bounded by its largest field, and
// passes every byte on unchanged. The counts are exact and come from the
// dump itself, so they are by construction those of the dump's snapshot.
//
// Each table's data ends with pg_dump's "\." end-of-copy line (and two
// empty lines); rows are the lines before it, empty lines included (a table
// without columns has empty rows).
//
// Format reference: PostgreSQL 15 src/bin/pg_dump/pg_backup_archiver.c
// (WriteHead, WriteToc) and pg_backup_custom.c; archive versions 1.12 to
// 1.14 (pg_dump 9.0 to 15) with compression 0 are understood. Anything else
// makes the scanner give up quietly (ok() turns false): the backup itself is
// unaffected and the caller counts rows another way.
//
// Written to a pipe, pg_dump cannot go back to fill in the TOC's data offsets
// (each entry's flag stays K_OFFSET_POS_NOT_SET), which slows pg_restore -j.
// The scanner notes where each entry's offset slot is and where each data
// block starts, so OffsetPatches and ApplyOffsetPatches can fill them into a
// copy of the archive as pg_dump does when its output is seekable.
//
// Uncompressed, pg_dump writes one chunk per COPY row, and pg_restore hands
// each chunk to the server as its own CopyData message: on a table of short
// rows that costs pg_restore and the server more than gunzip costs on a
// pg_dump -Fc file. A scanner made with a coalesce size rewrites each
// table's chunks into chunks of that size as they pass (the COPY text is
// unchanged, only its framing), for a copy that pg_restore reads fast.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/pipeline/meter_sink.h"
#include "core/pipeline/sink.h"

namespace pgbak {

// ArchiveTable is one TABLE DATA entry and what the scanner saw of it.
struct ArchiveTable {
  int dump_id = 0;
  std::string schema;
  std::string table;
  int64_t rows = 0;
  uint64_t data_offset = 0;  // offset of the entry's data block in the output
  bool data_seen = false;    // its data block has been read to its end
  // The entry's COPY statement ("COPY s.t (a, b) FROM stdin;\n"), or empty
  // if it is longer than the scanner keeps (kMaxCopyStatement).
  std::string copy_statement;
  std::string owner;  // the table's owner (a restore loads it as that role)
};

// kMaxCopyStatement bounds a kept COPY statement: 1600 columns of 63-byte
// names, each quoted and doubled quotes included, fit.
constexpr size_t kMaxCopyStatement = 256 << 10;

// TocEntry is what the scanner keeps of every TOC entry: enough to know
// which entries depend on which, and whose they are.
struct TocEntry {
  int dump_id = 0;
  std::string desc;  // "TABLE", "TABLE DATA", "INDEX", ...
  int section = 0;   // kSectionPreData etc.
  std::vector<int> dependencies;
  std::string owner;       // empty for entries without one (ENCODING, ...)
  std::string tag;         // e.g. the table's or the index's name; cut at 1024 bytes
  std::string namespace_;  // the schema, empty for entries outside one
};

// The sections of pg_dump's teSection.
constexpr int kSectionNone = 1;
constexpr int kSectionPreData = 2;
constexpr int kSectionData = 3;
constexpr int kSectionPostData = 4;

class ArchiveScanner;

// ArchiveListener follows, as the stream passes, what a restore that loads
// tables while the archive is still arriving needs to know: when the header
// and table of contents have passed, and where a coalescing scanner put each
// piece of a table's COPY text in its output. Calls come from inside
// ArchiveScanner::Write and Finish, after the bytes concerned were passed on.
class ArchiveListener {
 public:
  virtual ~ArchiveListener() = default;
  // OnTocEnd: the header and TOC have passed; tables(), toc_sha256() and the
  // session settings are known.
  virtual void OnTocEnd(const ArchiveScanner& scanner) = 0;
  // OnTableChunk: size bytes of the COPY text of tables()[table] start at
  // output offset offset (coalescing scanners only).
  virtual void OnTableChunk(size_t table, uint64_t offset, size_t size) = 0;
  // OnTableEnd: tables()[table]'s COPY text is complete, end-of-data line
  // included.
  virtual void OnTableEnd(size_t table) = 0;
};

// OffsetPatch is the bytes to write at one TOC entry's data offset slot:
// the flag K_OFFSET_POS_SET (2) and the offset of the entry's data block (of
// its block-type byte), offSize bytes little-endian, as pg_dump's WriteOffset.
struct OffsetPatch {
  uint64_t slot_position = 0;  // archive offset of the slot's flag byte
  std::vector<uint8_t> bytes;  // 1 + offSize bytes
};

// kRestoreChunkSize is the chunk size of a staged copy for pg_restore: large
// enough that per-message costs vanish, small enough to keep the server and
// pg_restore working side by side on one table.
constexpr size_t kRestoreChunkSize = 256 << 10;

// ArchiveScanner counts rows per table in a custom-format archive stream.
class ArchiveScanner : public Sink {
 public:
  // With coalesce_to 0 the scanner passes every byte on unchanged. With
  // coalesce_to > 0 it passes on the same archive with the chunks of every
  // BLK_DATA block rewritten into chunks of coalesce_to bytes (a block's last
  // one shorter), holding at most coalesce_to bytes; the header, TOC and
  // BLOBS blocks pass unchanged. Offsets (OffsetPatches, data_offset) are
  // then those of the rewritten archive. If the archive stops making sense
  // before the first BLK_DATA block, the rest passes unchanged as in the
  // first mode; after it, Write or Finish throws a kCorrupt Error, because
  // what was passed on could not be completed into a readable archive.
  explicit ArchiveScanner(Sink& next, size_t coalesce_to = 0);
  void Write(const uint8_t* data, size_t size) override;
  void Finish() override;

  // ok is false once the stream stopped making sense as a custom archive
  // (or its version or compression is not understood); from then on the
  // scanner only passes bytes through.
  bool ok() const { return ok_; }
  // problem says why ok() turned false.
  const std::string& problem() const { return problem_; }
  // complete is true once Finish() was called on a well-formed archive whose
  // data blocks all ended.
  bool complete() const { return complete_; }
  // tables lists the TABLE DATA entries in table-of-contents order.
  std::vector<ArchiveTable> tables() const;
  // toc lists every TOC entry, in TOC order, as far as read.
  const std::vector<TocEntry>& toc() const { return toc_; }
  // table is tables()[index], without the copy.
  const ArchiveTable& table(size_t index) const { return tables_[index]; }
  // version is the archive version, e.g. "1.14.0" (after the header).
  const std::string& version() const { return version_; }
  // SetListener makes listener hear of the TOC and of table data as they
  // pass (nullptr: nobody).
  void SetListener(ArchiveListener* listener) { listener_ = listener; }
  // toc_sha256 is the SHA-256 (64 hex digits) of the archive's header and
  // TOC, every byte before its first data block, which pass any scanner
  // unchanged; empty until they have passed.
  const std::string& toc_sha256() const { return toc_sha256_; }
  // client_encoding is the encoding the archive's ENCODING entry sets (such
  // as "UTF8"), empty if there was none or it did not look like a name;
  // standard_conforming_strings is what its STDSTRINGS entry sets (false
  // without one, as pg_restore assumes).
  const std::string& client_encoding() const { return client_encoding_; }
  bool standard_conforming_strings() const { return std_strings_; }
  // OffsetPatches gives, in TOC order, the patch of every entry with data
  // (TABLE DATA, BLOBS) whose data block the scanner saw: written into a
  // file holding exactly the scanned archive, they make its TOC what
  // pg_dump writes to a seekable file. Entries without data keep
  // their slot (K_OFFSET_NO_DATA). Empty unless ok() && complete(). An
  // offset that does not fit in the archive's offSize (only possible when
  // offSize < 8) is left unset, which pg_restore accepts.
  std::vector<OffsetPatch> OffsetPatches() const;
  // DataBlockOffsets gives the output offset of every entry's data block
  // (TABLE DATA, BLOBS) the scanner saw, by dump id: each block runs to the
  // next one's offset, the last one to the end of the archive.
  std::map<int, uint64_t> DataBlockOffsets() const;

 private:
  // Step names the archive field the parser reads next.
  enum class Step : uint8_t {
    kMagic,
    kHeaderBytes,
    kCompression,
    kCreationTime,
    kDatabaseName,
    kRemoteVersion,
    kDumpVersion,
    kTocCount,
    kDumpId,
    kHadDumper,
    kTableOid,
    kOid,
    kTag,
    kDesc,
    kSection,
    kDefinition,
    kDropStatement,
    kCopyStatement,
    kNamespace,
    kTablespace,
    kTableAm,
    kOwner,
    kWithOids,
    kDependency,
    kOffsetFlag,
    kOffset,
    kBlockType,
    kBlockDumpId,
    kChunkLength,
    kChunkBody,
    kBlobOid,
  };
  // DataEntry is a TOC entry with data: its table, if any, and whether its
  // data block has started.
  struct DataEntry {
    size_t table;
    bool started;
    uint64_t block_offset;  // archive offset of its block's type byte, once started
  };
  // TocSlot is where a TOC entry's data offset slot is.
  struct TocSlot {
    int dump_id;
    bool has_data;
    uint64_t position;  // archive offset of the flag byte
  };
  // Line is where a table's COPY text stands relative to its current line.
  enum class Line : uint8_t { kStart, kBackslash, kBackslashDot, kMiddle, kAfterEnd };

  size_t Consume(const uint8_t* data, size_t size);
  bool Coalescing() const;
  void Emit(const uint8_t* data, size_t size);
  void FlushEmitted();
  void EmitInt(uint64_t value);
  void Coalesce(const uint8_t* data, size_t size);
  void FlushCoalesced();
  void HashToc(const uint8_t* data, size_t size);
  void ThrowIfRewritten() const;
  uint64_t OutputOffset() const { return coalesce_to_ > 0 ? out_offset_ : offset_; }
  void Fail(const std::string& why);
  void Expect(Step step);
  void OnField();
  void OnInt(int64_t value);
  void OnStringLength(int64_t length);
  void OnString(bool is_null);
  void OnBodyEnd();
  void EndTocEntry();
  void StartBlock(int64_t dump_id);
  void EndToc();
  void OnSetting(const std::string& definition);
  void EndChunks();
  void CountRows(const uint8_t* data, size_t size);
  std::string Where() const;

  Sink& next_;
  bool ok_ = true;
  bool complete_ = false;
  std::string problem_;
  std::string version_;
  uint64_t offset_ = 0;  // bytes consumed so far

  // Coalescing (coalesce_to_ > 0): see the constructor.
  size_t coalesce_to_ = 0;
  size_t chunk_limit_ = 0;        // coalesce_to_, or less if intSize cannot hold it
  uint64_t out_offset_ = 0;       // bytes passed on so far
  bool rewriting_ = false;        // a BLK_DATA block has started: output differs
  std::vector<uint8_t> pending_;  // COPY text of the chunk being gathered
  // Small pieces passed on (fields of the TOC, chunk lengths), gathered and
  // handed to the next stage together at the end of each Write: a TOC of
  // 20,000 tables is millions of fields, and one call of the next stage
  // (a zstd step that blocks signals) per field cost more than pg_dump.
  std::vector<uint8_t> emitted_;

  // Parser state: see archive_scanner.cpp.
  Step step_ = Step::kMagic;
  uint8_t field_[16] = {};       // a fixed-size field (magic, header bytes, Int)
  size_t field_size_ = 0;        // bytes of it collected so far
  size_t field_need_ = 5;        // bytes it has in total
  bool in_body_ = false;         // passing a string body, chunk or offset
  uint64_t body_left_ = 0;       // bytes of that body still to come
  std::string* keep_ = nullptr;  // where a kept string body goes
  bool keep_truncated_ = false;  // it was longer than keep_limit_
  size_t keep_limit_ = 0;        // bytes of it that are kept
  int int_size_ = 4;
  int off_size_ = 8;
  int version_code_ = 0;  // (major * 256 + minor) * 256 + revision
  int64_t header_ints_left_ = 0;
  int64_t toc_entries_ = 0;
  int64_t toc_entries_left_ = 0;
  // The TOC entry being read; only what identifies a table's data is kept.
  ArchiveTable entry_;
  std::string entry_desc_;
  std::string entry_with_oids_;  // "false" ("true" up to pg_dump 11): checks the field order
  bool entry_had_dumper_ = false;
  bool entry_tag_truncated_ = false;
  uint64_t entry_slot_ = 0;  // archive offset of its data offset flag byte
  int block_type_ = 0;
  uint64_t block_start_ = 0;  // archive offset of the current block's type byte
  size_t current_table_ = 0;  // index into tables_ of the current block, or kNoTable
  Line line_ = Line::kStart;
  std::vector<ArchiveTable> tables_;
  std::map<int, DataEntry> by_dump_id_;  // every entry with data, by dump id
  std::vector<TocSlot> toc_slots_;       // every TOC entry, in TOC order
  std::string entry_definition_;         // of ENCODING and STDSTRINGS entries only
  int entry_section_ = 0;
  std::string entry_dependency_;
  std::vector<int> entry_dependencies_;
  std::vector<TocEntry> toc_;

  ArchiveListener* listener_ = nullptr;
  std::unique_ptr<Sha256> toc_hash_;  // of the bytes so far, until the TOC ends
  std::string toc_sha256_;
  std::string client_encoding_;
  bool std_strings_ = false;
};

// ApplyOffsetPatches writes patches (from ArchiveScanner::OffsetPatches)
// into the file at path in place: no truncation, no fsync. It throws a kIo
// Error if the file cannot be opened or written, or if a patch does not lie
// within the file (it is not the scanned archive).
void ApplyOffsetPatches(const std::string& path, const std::vector<OffsetPatch>& patches);

}  // namespace pgbak
