// archive_scanner.cpp: a byte-at-a-time parser of pg_dump's custom archive
// format (archive versions 1.12 to 1.14, no compression) that counts the rows
// of every table's data as the archive streams past.
//
// The layout, from PostgreSQL 15's pg_backup_archiver.c and
// pg_backup_custom.c, as pg_dump writes it to a pipe:
//
//   header   "PGDMP", vmaj, vmin, vrev, intSize, offSize, format (1 = custom)
//            bytes; Int compression; 7 Ints of creation time; Str database,
//            Str server version, Str pg_dump version
//   TOC      Int count, then per entry: Int dumpId, Int hadDumper, Str
//            tableoid, Str oid, Str tag, Str desc, Int section, Str defn,
//            Str dropStmt, Str copyStmt, Str namespace, Str tablespace, Str
//            tableam (1.14+), Str owner, Str "false" (WITH OIDS), Str
//            dependencies ended by a NULL Str, and the custom format's data
//            offset: a flag byte (1 not set, 2 set, 3 no data) and offSize
//            bytes, little-endian
//   data     until the end of the stream, one block per entry with data:
//            byte BLK_DATA (1), Int dumpId, chunks (Int length, bytes) ended
//            by an Int 0; or byte BLK_BLOBS (3), Int dumpId, then per large
//            object an Int oid and its chunks, ended by an Int oid of 0
//
// An Int is a sign byte (0 or 1) and intSize bytes of magnitude,
// little-endian; a Str is an Int length (-1 for NULL) and that many bytes.
// Without compression every WriteData call of pg_dump becomes one chunk, so
// a table's chunks are its COPY rows, one each, and then "\.\n\n\n": COPY's
// end-of-data line and two empty lines, which are not rows.
//
// Only what identifies a table and how to load it is kept (the tag, desc,
// namespace and owner of each TOC entry, cut at kMaxKept bytes; the COPY statement of
// TABLE DATA entries; the ENCODING and STDSTRINGS settings); every other
// string and every chunk is passed over as it arrives, newlines counted with
// memchr. The bytes before the first data block (header and TOC) are hashed.
//
// When coalescing, the parser also decides what to pass on: every field and
// body as it was read, except the chunk lengths and chunk bodies of BLK_DATA
// blocks, whose bodies are gathered and passed on in chunks of the coalesce
// size, each with its length, before the block's closing Int 0.
#include "core/archive/archive_scanner.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "core/base/error.h"
#include "core/base/unique_fd.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

constexpr int kFormatCustom = 1;  // archCustom in pg_backup.h
constexpr int kBlockData = 1;     // BLK_DATA in pg_backup_archiver.h
constexpr int kBlockBlobs = 3;    // BLK_BLOBS
constexpr int kOffsetNotSet = 1;  // K_OFFSET_POS_NOT_SET
constexpr int kOffsetSet = 2;     // K_OFFSET_POS_SET
constexpr int kOffsetNoData = 3;  // K_OFFSET_NO_DATA

constexpr int MakeVersion(int major, int minor, int revision) {
  return (major * 256 + minor) * 256 + revision;
}
// 1.12 is written by pg_dump 9.0 to 10, 1.13 (search_path) by 11 and by the
// 2018 minor releases of older branches, 1.14 (tableam) by 12 to 15; 16
// writes 1.15, whose header has a compression algorithm byte instead.
constexpr int kVersion1_12 = MakeVersion(1, 12, 0);
constexpr int kVersion1_14 = MakeVersion(1, 14, 0);
constexpr int kVersionMax = MakeVersion(1, 14, 255);

// kMaxKept bounds a kept string; table and schema names have at most 63
// bytes, longer tags (functions, comments) are cut, which is harmless.
constexpr size_t kMaxKept = 1024;
constexpr size_t kNoTable = static_cast<size_t>(-1);

// QuotedName renders schema and table as "schema"."table" for messages.
std::string QuotedName(const ArchiveTable& table) {
  return "\"" + table.schema + "\".\"" + table.table + "\"";
}

}  // namespace

ArchiveScanner::ArchiveScanner(Sink& next, size_t coalesce_to)
    : next_(next),
      coalesce_to_(coalesce_to),
      chunk_limit_(coalesce_to),
      current_table_(kNoTable),
      toc_hash_(std::make_unique<Sha256>()) {
  Expect(Step::kMagic);
}

// Write passes the bytes on first, so that the scanner has seen exactly
// what the next stage accepted, then parses them. Coalescing, the parser
// passes them on itself; what it did not get to after giving up passes
// unchanged, unless its output already differs from its input.
void ArchiveScanner::Write(const uint8_t* data, size_t size) {
  if (coalesce_to_ == 0) {
    next_.Write(data, size);
    if (ok_) {
      Consume(data, size);
    }
    return;
  }
  size_t used = ok_ ? Consume(data, size) : 0;
  if (!ok_) {
    ThrowIfRewritten();
    Emit(data + used, size - used);
  }
  FlushEmitted();
}

// Finish checks that the archive ended between data blocks and that the
// data of every entry that has some was there, then finishes the next stage.
void ArchiveScanner::Finish() {
  if (ok_ && offset_ == 0) {
    Fail("archive is empty");
  } else if (ok_ && (step_ != Step::kBlockType || field_size_ != 0)) {
    Fail("archive ended " + Where());
  }
  for (const ArchiveTable& table : tables_) {
    if (ok_ && !table.data_seen) {
      Fail("archive ended before the data of table " + QuotedName(table));
    }
  }
  for (const auto& [dump_id, entry] : by_dump_id_) {
    if (ok_ && !entry.started) {
      Fail("archive ended before the data block of dump id " + std::to_string(dump_id));
    }
  }
  complete_ = ok_;
  if (coalesce_to_ > 0 && !ok_) {
    ThrowIfRewritten();
  }
  FlushEmitted();
  next_.Finish();
}

std::vector<ArchiveTable> ArchiveScanner::tables() const {
  return tables_;
}

// OffsetPatches renders, for each entry with data, what pg_dump's
// _WriteExtraToc writes when it rewrites the TOC of a seekable file:
// WriteOffset(dataPos, K_OFFSET_POS_SET), dataPos being where _StartData or
// _StartBlobs found the file position, i.e. the block-type byte.
std::vector<OffsetPatch> ArchiveScanner::OffsetPatches() const {
  std::vector<OffsetPatch> patches;
  if (!ok_ || !complete_) {
    return patches;
  }
  for (const TocSlot& slot : toc_slots_) {
    if (!slot.has_data) {
      continue;
    }
    auto found = by_dump_id_.find(slot.dump_id);
    if (found == by_dump_id_.end() || !found->second.started) {
      continue;
    }
    uint64_t offset = found->second.block_offset;
    if (off_size_ < 8 && (offset >> (8 * off_size_)) != 0) {
      continue;
    }
    OffsetPatch patch;
    patch.slot_position = slot.position;
    patch.bytes.push_back(kOffsetSet);
    for (int i = 0; i < off_size_; i++) {
      patch.bytes.push_back(i < 8 ? static_cast<uint8_t>((offset >> (8 * i)) & 0xff) : 0);
    }
    patches.push_back(std::move(patch));
  }
  return patches;
}

std::map<int, uint64_t> ArchiveScanner::DataBlockOffsets() const {
  std::map<int, uint64_t> offsets;
  for (const auto& [dump_id, entry] : by_dump_id_)
    if (entry.started)
      offsets[dump_id] = entry.block_offset;
  return offsets;
}

// Consume feeds bytes to the parser: fixed-size fields are collected in
// field_, bodies (strings, chunks, offsets) are passed over or kept. When
// coalescing, each piece is passed on (or gathered) before it is acted on,
// so that offsets taken while acting are those of the output. Returns the
// bytes consumed: all of them, unless the parser gave up.
size_t ArchiveScanner::Consume(const uint8_t* data, size_t size) {
  size_t consumed = 0;
  while (size > 0 && ok_) {
    size_t used;
    bool held = Coalescing();
    if (in_body_) {
      used = body_left_ < size ? static_cast<size_t>(body_left_) : size;
      HashToc(data, used);
      if (held) {
        Coalesce(data, used);
      } else if (coalesce_to_ > 0) {
        Emit(data, used);
      }
      if (step_ == Step::kChunkBody) {
        if (current_table_ != kNoTable) {
          CountRows(data, used);
        }
      } else if (keep_ != nullptr) {
        size_t room = keep_limit_ - keep_->size();
        keep_->append(reinterpret_cast<const char*>(data), used < room ? used : room);
        keep_truncated_ = keep_truncated_ || used > room;
      }
      body_left_ -= used;
      offset_ += used;
      if (body_left_ == 0) {
        OnBodyEnd();
      }
    } else {
      used = field_need_ - field_size_ < size ? field_need_ - field_size_ : size;
      HashToc(data, used);
      if (!held && coalesce_to_ > 0) {
        Emit(data, used);
      }
      std::memcpy(field_ + field_size_, data, used);
      field_size_ += used;
      offset_ += used;
      if (field_size_ == field_need_) {
        OnField();
      }
    }
    data += used;
    size -= used;
    consumed += used;
  }
  return consumed;
}

// Coalescing is true while the parser is in the chunks of a BLK_DATA block
// whose framing it rewrites: such bytes are held back, not passed on.
bool ArchiveScanner::Coalescing() const {
  return coalesce_to_ > 0 && block_type_ == kBlockData &&
         (step_ == Step::kChunkLength || step_ == Step::kChunkBody);
}

// Emit passes bytes on to the next stage: small ones are gathered (see
// emitted_), large ones go at once, after what was gathered before them.
void ArchiveScanner::Emit(const uint8_t* data, size_t size) {
  if (size == 0) {
    return;
  }
  constexpr size_t kGatherBelow = 4096;
  if (size < kGatherBelow) {
    emitted_.insert(emitted_.end(), data, data + size);
  } else {
    FlushEmitted();
    next_.Write(data, size);
  }
  out_offset_ += size;
}

void ArchiveScanner::FlushEmitted() {
  if (emitted_.empty()) {
    return;
  }
  next_.Write(emitted_.data(), emitted_.size());
  emitted_.clear();
}

// EmitInt passes on a non-negative Int as pg_dump's WriteInt writes it.
void ArchiveScanner::EmitInt(uint64_t value) {
  uint8_t bytes[1 + 8] = {0};
  for (int i = 0; i < int_size_; i++) {
    bytes[1 + i] = static_cast<uint8_t>((value >> (8 * i)) & 0xff);
  }
  Emit(bytes, 1 + static_cast<size_t>(int_size_));
}

// Coalesce gathers chunk bytes, passing on a chunk each time one is full.
void ArchiveScanner::Coalesce(const uint8_t* data, size_t size) {
  while (size > 0) {
    size_t take = std::min(size, chunk_limit_ - pending_.size());
    pending_.insert(pending_.end(), data, data + take);
    data += take;
    size -= take;
    if (pending_.size() == chunk_limit_) {
      FlushCoalesced();
    }
  }
}

// FlushCoalesced passes on what was gathered as one chunk.
void ArchiveScanner::FlushCoalesced() {
  if (pending_.empty()) {
    return;
  }
  EmitInt(pending_.size());
  uint64_t offset = out_offset_;
  Emit(pending_.data(), pending_.size());
  size_t size = pending_.size();
  pending_.clear();
  if (listener_ != nullptr && current_table_ != kNoTable) {
    FlushEmitted();  // a listener hears of bytes the next stage has
    listener_->OnTableChunk(current_table_, offset, size);
  }
}

// HashToc adds bytes read before the end of the TOC to its hash.
void ArchiveScanner::HashToc(const uint8_t* data, size_t size) {
  if (toc_hash_ != nullptr) {
    toc_hash_->Update(data, size);
  }
}

// ThrowIfRewritten throws once a rewritten archive cannot be completed.
void ArchiveScanner::ThrowIfRewritten() const {
  if (rewriting_) {
    throw Error(ErrorKind::kCorrupt, "not a well-formed pg_dump archive: " + problem_);
  }
}

// Fail records the first problem; from then on bytes only pass through.
void ArchiveScanner::Fail(const std::string& why) {
  if (!ok_) {
    return;
  }
  ok_ = false;
  problem_ = why + " (archive byte " + std::to_string(offset_) + ")";
}

// Expect makes step's field the next one to read: a fixed number of bytes,
// an Int (also the length of a Str), or the offset bytes passed over.
void ArchiveScanner::Expect(Step step) {
  step_ = step;
  in_body_ = false;
  keep_ = nullptr;
  field_size_ = 0;
  switch (step) {
    case Step::kMagic:
      field_need_ = 5;
      break;
    case Step::kHeaderBytes:
      field_need_ = 6;
      break;
    case Step::kOffsetFlag:
    case Step::kBlockType:
      field_need_ = 1;
      break;
    case Step::kOffset:
      in_body_ = true;
      body_left_ = static_cast<uint64_t>(off_size_);
      break;
    default:
      field_need_ = 1 + static_cast<size_t>(int_size_);
      break;
  }
}

// OnField interprets a complete fixed-size field.
void ArchiveScanner::OnField() {
  switch (step_) {
    case Step::kMagic:
      if (std::memcmp(field_, "PGDMP", 5) != 0) {
        Fail("not a custom archive: it does not start with \"PGDMP\"");
        return;
      }
      Expect(Step::kHeaderBytes);
      return;
    case Step::kHeaderBytes: {
      version_ = std::to_string(field_[0]) + "." + std::to_string(field_[1]) + "." +
                 std::to_string(field_[2]);
      version_code_ = MakeVersion(field_[0], field_[1], field_[2]);
      int_size_ = field_[3];
      off_size_ = field_[4];
      // pg_restore reads an Int into a C int: chunk lengths stay below 2^31.
      if (int_size_ >= 1 && int_size_ < 4) {
        chunk_limit_ = std::min(chunk_limit_, (size_t{1} << (8 * int_size_ - 1)) - 1);
      }
      int format = field_[5];
      if (version_code_ < kVersion1_12 || version_code_ > kVersionMax) {
        Fail("unsupported archive version " + version_ +
             " (1.12 to 1.14, from pg_dump up to 15, are understood)");
      } else if (int_size_ < 1 || int_size_ > 8) {
        Fail("unsupported integer size " + std::to_string(int_size_) + " in archive header");
      } else if (off_size_ < 1 || off_size_ > 16) {
        Fail("unsupported offset size " + std::to_string(off_size_) + " in archive header");
      } else if (format != kFormatCustom) {
        Fail("not a custom archive: header says format " + std::to_string(format));
      } else {
        Expect(Step::kCompression);
      }
      return;
    }
    case Step::kOffsetFlag:
      entry_slot_ = OutputOffset() - 1;
      if (field_[0] < kOffsetNotSet || field_[0] > kOffsetNoData) {
        Fail("bad data offset flag " + std::to_string(field_[0]) + " in TOC entry " +
             std::to_string(entry_.dump_id));
        return;
      }
      Expect(Step::kOffset);
      return;
    case Step::kBlockType:
      block_start_ = OutputOffset() - 1;
      block_type_ = field_[0];
      if (block_type_ != kBlockData && block_type_ != kBlockBlobs) {
        Fail("unknown data block type " + std::to_string(block_type_));
        return;
      }
      Expect(Step::kBlockDumpId);
      return;
    default:
      break;
  }
  // Everything else is an Int: a sign byte, then the magnitude.
  if (field_[0] > 1) {
    Fail("bad sign byte " + std::to_string(field_[0]) + " in an integer");
    return;
  }
  uint64_t magnitude = 0;
  for (int i = 0; i < int_size_; i++) {
    magnitude |= static_cast<uint64_t>(field_[1 + i]) << (8 * i);
  }
  if (magnitude > static_cast<uint64_t>(INT64_MAX)) {
    Fail("integer out of range");
    return;
  }
  int64_t value = field_[0] ? -static_cast<int64_t>(magnitude) : static_cast<int64_t>(magnitude);
  switch (step_) {
    case Step::kDatabaseName:
    case Step::kRemoteVersion:
    case Step::kDumpVersion:
    case Step::kTableOid:
    case Step::kOid:
    case Step::kTag:
    case Step::kDesc:
    case Step::kDefinition:
    case Step::kDropStatement:
    case Step::kCopyStatement:
    case Step::kNamespace:
    case Step::kTablespace:
    case Step::kTableAm:
    case Step::kOwner:
    case Step::kWithOids:
    case Step::kDependency:
      OnStringLength(value);
      return;
    default:
      OnInt(value);
      return;
  }
}

// OnInt acts on an Int field that is not the length of a string.
void ArchiveScanner::OnInt(int64_t value) {
  switch (step_) {
    case Step::kCompression:
      // pg_dump -Fc without -Z writes -1 (Z_DEFAULT_COMPRESSION): compressed.
      if (value != 0) {
        Fail("archive is compressed (compression level " + std::to_string(value) +
             "); only archives made with --compress=0 can be scanned");
        return;
      }
      header_ints_left_ = 7;
      Expect(Step::kCreationTime);
      return;
    case Step::kCreationTime:
      Expect(--header_ints_left_ > 0 ? Step::kCreationTime : Step::kDatabaseName);
      return;
    case Step::kTocCount:
      if (value < 0) {
        Fail("negative TOC entry count " + std::to_string(value));
        return;
      }
      toc_entries_ = toc_entries_left_ = value;
      if (value > 0) {
        Expect(Step::kDumpId);
      } else {
        EndToc();
      }
      return;
    case Step::kDumpId:
      if (value <= 0 || value > INT_MAX) {
        Fail("TOC entry with dump id " + std::to_string(value) + " out of range");
        return;
      }
      entry_ = ArchiveTable();
      entry_.dump_id = static_cast<int>(value);
      entry_desc_.clear();
      entry_with_oids_.clear();
      entry_definition_.clear();
      entry_dependency_.clear();
      entry_dependencies_.clear();
      Expect(Step::kHadDumper);
      return;
    case Step::kHadDumper:
      entry_had_dumper_ = value != 0;
      Expect(Step::kTableOid);
      return;
    case Step::kSection:
      entry_section_ = static_cast<int>(value);
      Expect(Step::kDefinition);
      return;
    case Step::kBlockDumpId:
      StartBlock(value);
      return;
    case Step::kChunkLength:
      if (value < 0) {
        Fail("negative chunk length " + std::to_string(value) + " " + Where());
      } else if (value == 0) {
        EndChunks();
      } else {
        step_ = Step::kChunkBody;
        in_body_ = true;
        body_left_ = static_cast<uint64_t>(value);
      }
      return;
    case Step::kBlobOid:
      // OIDs above 2^31 arrive negative (pg_dump writes them with WriteInt).
      Expect(value == 0 ? Step::kBlockType : Step::kChunkLength);
      return;
    default:
      Fail("internal error: unexpected integer field");
      return;
  }
}

// OnStringLength starts a Str whose length was just read: NULL, empty, or a
// body to keep (tag, desc, a table's namespace) or to pass over.
void ArchiveScanner::OnStringLength(int64_t length) {
  if (length < -1) {
    Fail("negative string length " + std::to_string(length));
    return;
  }
  bool table_data = entry_desc_ == "TABLE DATA";
  if (step_ == Step::kCopyStatement && table_data && length <= 0) {
    // Without COPY (pg_dump --inserts) the data is SQL, not one line per row.
    Fail("table \"" + entry_.table + "\" has no COPY statement in the archive; its rows cannot" +
         " be counted");
    return;
  }
  if (length == -1) {
    OnString(true);
    return;
  }
  keep_truncated_ = false;
  keep_limit_ = kMaxKept;
  if (step_ == Step::kTag) {
    keep_ = &entry_.table;
  } else if (step_ == Step::kDesc) {
    keep_ = &entry_desc_;
  } else if (step_ == Step::kNamespace) {
    keep_ = &entry_.schema;
  } else if (step_ == Step::kCopyStatement && table_data) {
    keep_ = &entry_.copy_statement;
    keep_limit_ = kMaxCopyStatement;
  } else if (step_ == Step::kDefinition &&
             (entry_desc_ == "ENCODING" || entry_desc_ == "STDSTRINGS")) {
    keep_ = &entry_definition_;
  } else if (step_ == Step::kOwner) {
    keep_ = &entry_.owner;
  } else if (step_ == Step::kWithOids) {
    keep_ = &entry_with_oids_;
  } else if (step_ == Step::kDependency) {
    keep_ = &entry_dependency_;
  } else {
    keep_ = nullptr;
  }
  if (length == 0) {
    OnString(false);
    return;
  }
  in_body_ = true;
  body_left_ = static_cast<uint64_t>(length);
}

// OnString moves on after a complete Str (is_null: it was the NULL Str).
void ArchiveScanner::OnString(bool is_null) {
  bool truncated = keep_ != nullptr && keep_truncated_;
  switch (step_) {
    case Step::kDatabaseName:
      Expect(Step::kRemoteVersion);
      return;
    case Step::kRemoteVersion:
      Expect(Step::kDumpVersion);
      return;
    case Step::kDumpVersion:
      Expect(Step::kTocCount);
      return;
    case Step::kTableOid:
      Expect(Step::kOid);
      return;
    case Step::kOid:
      Expect(Step::kTag);
      return;
    case Step::kTag:
      entry_tag_truncated_ = truncated;
      Expect(Step::kDesc);
      return;
    case Step::kDesc:
      if (entry_desc_ == "TABLE DATA") {
        if (!entry_had_dumper_) {
          Fail("TABLE DATA entry " + std::to_string(entry_.dump_id) + " has no data");
          return;
        }
        if (entry_tag_truncated_) {
          Fail("TABLE DATA entry " + std::to_string(entry_.dump_id) + " has a tag longer than " +
               std::to_string(kMaxKept) + " bytes");
          return;
        }
      }
      Expect(Step::kSection);
      return;
    case Step::kDefinition:
      if (!truncated && (entry_desc_ == "ENCODING" || entry_desc_ == "STDSTRINGS")) {
        OnSetting(entry_definition_);
      }
      Expect(Step::kDropStatement);
      return;
    case Step::kDropStatement:
      Expect(Step::kCopyStatement);
      return;
    case Step::kCopyStatement:
      if (truncated) {
        entry_.copy_statement.clear();  // too long to load by hand; pg_restore can
      }
      Expect(Step::kNamespace);
      return;
    case Step::kNamespace:
      if (truncated) {
        Fail("TOC entry " + std::to_string(entry_.dump_id) + " has a namespace longer than " +
             std::to_string(kMaxKept) + " bytes");
        return;
      }
      Expect(Step::kTablespace);
      return;
    case Step::kTablespace:
      Expect(version_code_ >= kVersion1_14 ? Step::kTableAm : Step::kOwner);
      return;
    case Step::kTableAm:
      Expect(Step::kOwner);
      return;
    case Step::kOwner:
      if (truncated) {
        Fail("TOC entry " + std::to_string(entry_.dump_id) + " has an owner longer than " +
             std::to_string(kMaxKept) + " bytes");
        return;
      }
      Expect(Step::kWithOids);
      return;
    case Step::kWithOids:
      // Always "false" or "true": anything else means a field was missed or
      // read twice (such as tableam, which only 1.14 has).
      if (is_null || (entry_with_oids_ != "false" && entry_with_oids_ != "true")) {
        Fail("TOC entry " + std::to_string(entry_.dump_id) +
             " is not as expected: its WITH OIDS field is not \"false\"");
        return;
      }
      Expect(Step::kDependency);
      return;
    case Step::kDependency:
      if (!is_null) {
        // pg_dump writes dump ids as decimal ints; anything else (out of
        // range, not a number) is not its archive.
        int dependency = 0;
        const char* end = entry_dependency_.data() + entry_dependency_.size();
        auto parsed = std::from_chars(entry_dependency_.data(), end, dependency);
        if (parsed.ec != std::errc() || parsed.ptr != end) {
          Fail("TOC entry " + std::to_string(entry_.dump_id) + " has a dependency \"" +
               entry_dependency_.substr(0, 32) + "\" that is not a dump id");
          return;
        }
        entry_dependencies_.push_back(dependency);
        entry_dependency_.clear();
      }
      Expect(is_null ? Step::kOffsetFlag : Step::kDependency);
      return;
    default:
      Fail("internal error: unexpected string field");
      return;
  }
}

// OnBodyEnd moves on after the last byte of a string body, chunk or offset.
void ArchiveScanner::OnBodyEnd() {
  in_body_ = false;
  if (step_ == Step::kOffset) {
    EndTocEntry();
  } else if (step_ == Step::kChunkBody) {
    Expect(Step::kChunkLength);
  } else {
    OnString(false);
  }
}

// EndTocEntry files a complete TOC entry: entries with data are remembered
// by dump id, so that data blocks can be checked against the TOC.
void ArchiveScanner::EndTocEntry() {
  toc_slots_.push_back({entry_.dump_id, entry_had_dumper_, entry_slot_});
  toc_.push_back({entry_.dump_id, entry_desc_, entry_section_, std::move(entry_dependencies_),
                  entry_.owner, entry_.table, entry_.schema});
  entry_dependencies_.clear();
  if (entry_had_dumper_) {
    if (by_dump_id_.count(entry_.dump_id) != 0) {
      Fail("dump id " + std::to_string(entry_.dump_id) + " appears twice in the TOC");
      return;
    }
    if (entry_desc_ == "TABLE DATA") {
      by_dump_id_[entry_.dump_id] = {tables_.size(), false, 0};
      tables_.push_back(std::move(entry_));
    } else {
      by_dump_id_[entry_.dump_id] = {kNoTable, false, 0};
    }
  }
  if (--toc_entries_left_ > 0) {
    Expect(Step::kDumpId);
  } else {
    EndToc();
  }
}

// EndToc moves on to the data blocks: the header and TOC are complete, and
// their hash with them.
void ArchiveScanner::EndToc() {
  Expect(Step::kBlockType);
  toc_sha256_ = toc_hash_->HexDigest();
  toc_hash_.reset();
  if (listener_ != nullptr) {
    FlushEmitted();  // a listener hears of bytes the next stage has
    listener_->OnTocEnd(*this);
  }
}

// OnSetting reads the value of the session setting an ENCODING or
// STDSTRINGS entry makes, "SET name = 'value';", as pg_restore does.
void ArchiveScanner::OnSetting(const std::string& definition) {
  size_t open = definition.find('\'');
  size_t close = open == std::string::npos ? open : definition.find('\'', open + 1);
  if (close == std::string::npos) {
    return;
  }
  std::string value = definition.substr(open + 1, close - open - 1);
  if (entry_desc_ == "STDSTRINGS") {
    std_strings_ = value == "on";
    return;
  }
  bool name = !value.empty() && value.size() <= 64;
  for (char c : value) {
    name = name && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-');
  }
  client_encoding_ = name ? value : "";
}

// StartBlock checks a data block's dump id against the TOC and starts
// counting if the block is a table's data.
void ArchiveScanner::StartBlock(int64_t dump_id) {
  auto found = dump_id > 0 && dump_id <= INT_MAX ? by_dump_id_.find(static_cast<int>(dump_id))
                                                 : by_dump_id_.end();
  if (found == by_dump_id_.end()) {
    Fail("data block for dump id " + std::to_string(dump_id) +
         ", which the TOC lists with no data");
    return;
  }
  if (found->second.started) {
    Fail("second data block for dump id " + std::to_string(dump_id));
    return;
  }
  found->second.started = true;
  found->second.block_offset = block_start_;
  rewriting_ = rewriting_ || (coalesce_to_ > 0 && block_type_ == kBlockData);
  current_table_ = found->second.table;
  if (current_table_ != kNoTable) {
    ArchiveTable& table = tables_[current_table_];
    if (block_type_ != kBlockData) {
      Fail("data of table " + QuotedName(table) + " is a block of type " +
           std::to_string(block_type_));
      return;
    }
    table.data_offset = block_start_;
    line_ = Line::kStart;
  }
  Expect(block_type_ == kBlockBlobs ? Step::kBlobOid : Step::kChunkLength);
}

// EndChunks handles the Int 0 that ends a run of chunks: the end of a large
// object in a BLOBS block, or the end of a data block.
void ArchiveScanner::EndChunks() {
  if (block_type_ == kBlockBlobs) {
    Expect(Step::kBlobOid);
    return;
  }
  if (current_table_ != kNoTable && line_ != Line::kAfterEnd) {
    Fail("data of table " + QuotedName(tables_[current_table_]) +
         " ended without COPY's end-of-data line");
    return;
  }
  if (coalesce_to_ > 0) {
    FlushCoalesced();
    EmitInt(0);
  }
  Expect(Step::kBlockType);
  if (current_table_ != kNoTable) {
    size_t ended = current_table_;
    tables_[ended].data_seen = true;
    current_table_ = kNoTable;
    if (listener_ != nullptr) {
      FlushEmitted();  // a listener hears of bytes the next stage has
      listener_->OnTableEnd(ended);
    }
  }
}

// CountRows counts the rows in a piece of a table's COPY text: each line up
// to the line "\." that ends the data. A value's own newlines, backslashes
// and periods are escaped, so a data line is never exactly "\.", and an
// empty line is a row (a table without columns, or one empty text column).
void ArchiveScanner::CountRows(const uint8_t* data, size_t size) {
  const uint8_t* end = data + size;
  int64_t rows = 0;
  while (data < end && line_ != Line::kAfterEnd) {
    if (line_ == Line::kMiddle) {
      const void* newline = std::memchr(data, '\n', static_cast<size_t>(end - data));
      if (newline == nullptr) {
        break;
      }
      data = static_cast<const uint8_t*>(newline) + 1;
      rows++;
      line_ = Line::kStart;
      continue;
    }
    uint8_t byte = *data++;
    if (byte == '\n') {
      if (line_ == Line::kBackslashDot) {
        line_ = Line::kAfterEnd;  // the "\n\n" after it are not rows
      } else {
        rows++;
        line_ = Line::kStart;
      }
    } else if (line_ == Line::kStart && byte == '\\') {
      line_ = Line::kBackslash;
    } else if (line_ == Line::kBackslash && byte == '.') {
      line_ = Line::kBackslashDot;
    } else {
      line_ = Line::kMiddle;
    }
  }
  tables_[current_table_].rows += rows;
}

// Where says which part of the archive the parser is in, for messages.
std::string ArchiveScanner::Where() const {
  switch (step_) {
    case Step::kMagic:
    case Step::kHeaderBytes:
    case Step::kCompression:
    case Step::kCreationTime:
    case Step::kDatabaseName:
    case Step::kRemoteVersion:
    case Step::kDumpVersion:
      return "in its header";
    case Step::kBlockType:
    case Step::kBlockDumpId:
    case Step::kChunkLength:
    case Step::kChunkBody:
    case Step::kBlobOid:
      if (current_table_ != kNoTable) {
        return "in the data of table " + QuotedName(tables_[current_table_]);
      }
      return step_ == Step::kBlockType ? "between data blocks" : "in a data block";
    case Step::kTocCount:
      return "in its table of contents";
    default:
      return "in its table of contents (entry " +
             std::to_string(toc_entries_ - toc_entries_left_ + 1) + " of " +
             std::to_string(toc_entries_) + ")";
  }
}

// ApplyOffsetPatches pwrites each patch at its position. Patches must lie
// within the file: writing past its end would extend the wrong file.
void ApplyOffsetPatches(const std::string& path, const std::vector<OffsetPatch>& patches) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) {
    ThrowErrno("could not open archive \"" + path + "\" to fill in its data offsets", errno);
  }
  struct stat info;
  if (::fstat(fd.get(), &info) != 0) {
    ThrowErrno("could not stat archive \"" + path + "\"", errno);
  }
  uint64_t file_size = static_cast<uint64_t>(info.st_size);
  for (const OffsetPatch& patch : patches) {
    if (patch.slot_position > file_size || patch.bytes.size() > file_size - patch.slot_position) {
      throw Error(ErrorKind::kIo, "data offset slot at byte " +
                                      std::to_string(patch.slot_position) + " lies beyond the " +
                                      std::to_string(file_size) + " bytes of archive \"" + path +
                                      "\"");
    }
    size_t done = 0;
    while (done < patch.bytes.size()) {
      ssize_t written = ::pwrite(fd.get(), patch.bytes.data() + done, patch.bytes.size() - done,
                                 static_cast<off_t>(patch.slot_position + done));
      if (written < 0) {
        if (errno == EINTR) {
          continue;
        }
        ThrowErrno("could not write data offsets into archive \"" + path + "\"", errno);
      }
      if (written == 0) {
        throw Error(ErrorKind::kIo,
                    "could not write data offsets into archive \"" + path + "\": nothing written");
      }
      done += static_cast<size_t>(written);
    }
  }
  if (::close(fd.Release()) != 0) {
    ThrowErrno("could not close archive \"" + path + "\"", errno);
  }
}

}  // namespace pgbak
