// set_reader.h: reading a backup set back from its storage and checking it,
// shared by the server's verify and restore and by the pgbak command.
//
// Every object of a set is read back from storage, its size and SHA-256
// checked against manifest.json (and the data object's against what the
// caller recorded, backup_log's checksum), decrypted when the caller holds
// an age identity, and decompressed; the decompressed size is checked too.
// The data object can be staged in a file (pg_restore -j needs a seekable
// one): a custom archive gets its data offsets filled in, as a file
// pg_dump wrote itself would have them, and its COPY text in large chunks.
// Nothing here needs a server.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/archive/archive_scanner.h"
#include "core/archive/manifest.h"
#include "core/base/error.h"
#include "core/crypto/age.h"
#include "core/pipeline/sink.h"
#include "core/pipeline/staging_file.h"
#include "core/storage/local/local_storage.h"
#include "core/storage/storage.h"

namespace pgbak {

// kMaxManifestBytes bounds what is read as a manifest: a manifest is small,
// anything bigger is not one of ours.
constexpr uint64_t kMaxManifestBytes = 256 << 20;

// SourceStorage is the storage a set is read from, with what decrypts its
// objects.
struct SourceStorage {
  std::unique_ptr<Storage> storage;
  std::string name;                     // for messages ("local", a storage's name)
  std::vector<AgeIdentity> identities;  // empty: encrypted objects are only checksummed
  // For the error an encrypted object gives without an identity: what is
  // missing ("... is encrypted, and <no_identity> to decrypt it") and how
  // to give it.
  std::string no_identity = "no age identity was given";
  std::string identity_hint;
};

// SetKey is the storage key of backup backup_id's set from its location,
// which must be that set's directory below the storage's root (kCorrupt if
// not).
std::string SetKey(const Storage& storage, int64_t backup_id, const std::string& location);

// ReadManifestText reads the object at key whole, as a manifest (kCorrupt
// beyond kMaxManifestBytes).
std::string ReadManifestText(Storage& storage, const std::string& key);

// ReadManifest reads and parses the manifest of the set at set_key; with
// expected_sha256 (backup_log's manifest_sha256), one that is not the
// manifest the backup wrote is damage (kCorrupt). Its bytes go to text if
// given.
Manifest ReadManifest(Storage& storage, const std::string& set_key,
                      const std::string& expected_sha256, std::string* text = nullptr);

// ReadProgress is told of every chunk read from storage (its size): the
// server counts bytes and honours a stop request there, the command draws
// its progress line. It may throw to stop the read.
using ReadProgress = std::function<void(size_t bytes)>;

// ReadBackObject streams one object of the set at set_key through SHA-256,
// age and zstd into sink and checks its stored size, its SHA-256 and its
// decompressed size against the manifest (and, if not empty,
// expected_sha256). Without an identity, an encrypted object is only
// checked against its size and SHA-256 and false is returned; with
// contents_needed that is an error instead (kInvalidParameter). Damage is
// kCorrupt.
bool ReadBackObject(SourceStorage& source, const std::string& set_key, const ManifestObject& object,
                    const std::string& expected_sha256, Sink& sink, bool contents_needed,
                    const ReadProgress& progress = nullptr);

// StagingArea is a directory below a local root for one operation's staged
// files, removed with everything in it when it goes out of scope, however
// the operation ends.
class StagingArea {
 public:
  // key is the directory relative to root, e.g. ".staging/42"; its parent
  // is removed too when it is left empty.
  StagingArea(LocalStorage& storage, std::string key);
  ~StagingArea();
  StagingArea(const StagingArea&) = delete;
  StagingArea& operator=(const StagingArea&) = delete;
  std::string Key(const std::string& name) const { return key_ + "/" + name; }
  std::string Path(const std::string& name) const { return storage_.Location(Key(name)); }
  // Prepare creates the directory (0700, with parents, as the storage does)
  // for files written into it directly rather than as storage objects.
  void Prepare();

 private:
  LocalStorage& storage_;
  std::string key_;
};

// StageObserver follows a custom archive while it is staged (the server's
// streaming restore): it hears of the TOC and the table data from the
// scanner, is given the staging file before the first byte, and is told
// each time bytes were handed to the file.
class StageObserver : public ArchiveListener {
 public:
  virtual void Attach(StagingFile& file) = 0;
  virtual void OnStaged() = 0;
};

// SetExpectation is what the reader of a set knows of it beforehand; empty
// members are not checked.
struct SetExpectation {
  int64_t backup_id = 0;        // the id the manifest must name (0: any)
  std::string database;         // the database the manifest must name
  std::string data_sha256;      // of the stored data object (backup_log's)
  std::string manifest_sha256;  // of manifest.json (backup_log's)
};

// TableStaged follows a table object as it is staged (see
// ReadBackOptions::on_table_staged).
using TableStaged = std::function<void(const ManifestObject& object, const std::string& path,
                                       uint64_t written, bool done)>;

// ReadBackOptions says what ReadBackSet does besides checking.
struct ReadBackOptions {
  // stage puts the data object into staging ("data.dump" or "data.sql"):
  // always when it can be decrypted, and when it cannot, an error with
  // stage_required (a restore), where a check settles for checksums.
  bool stage = false;
  bool stage_required = false;
  // stage_globals puts globals.sql into staging too (pgbak fetch).
  bool stage_globals = false;
  // stage_tables puts the tables a parallel export stored in objects of
  // their own (role "table_data") into staging too, decompressed
  // ("table-0001.copy"); a set that has such objects cannot be staged for
  // a restore (stage_required) without them (kInvalidParameter).
  bool stage_tables = false;
  // stage_table, if set, chooses which of those tables are staged, given
  // the table's entry in the row counts and the archive's table of contents
  // (read by then: the data object comes first); the others are read back
  // and checked (decrypted, decompressed) but not staged, so that a restore
  // of a few tables needs no room for the others.
  std::function<bool(const TableCount& table, const std::vector<TocEntry>& toc)> stage_table;
  StageObserver* observer = nullptr;  // custom sets only
  // on_data is told the manifest (with the row counts of an encrypted set,
  // when they could be read) before the data object is read.
  std::function<void(const Manifest& manifest)> on_data;
  // on_table_staged follows each table object as it is staged: its
  // manifest entry, the staged file, how many bytes other readers of the
  // file can see, and done once the object was read whole and checked
  // (called each time the file grew, and then once with done).
  TableStaged on_table_staged;
  ReadProgress progress;
  // check_space is called with the data object's decompressed size before
  // it is staged (may throw kDiskFull); on_staging_error is given every
  // error of creating or writing a staging file, and may throw another one
  // instead (the server names its storage on a full disk).
  std::function<void(uint64_t bytes)> check_space;
  std::function<void(const Error& cause)> on_staging_error;
};

// StagedSet is a set read back and checked.
struct StagedSet {
  Manifest manifest;
  std::string manifest_text;  // the manifest's bytes, as read and checked
  std::string data_path;      // empty if the data object was only checked
  std::string globals_path;   // with stage_globals
  bool all_read = true;       // false: an encrypted object was only checksummed
  // With an observer: the data offsets, which the observer fills in; without
  // one they are already in the staged file.
  std::vector<OffsetPatch> patches;
  // A custom archive's table of contents, as the scanner read it.
  std::vector<TocEntry> toc;
  bool toc_complete = false;    // the scanner read the whole archive
  std::string client_encoding;  // the archive's ENCODING (its COPY text's)
  // With toc_complete: the staged archive's bytes before its first data
  // block (header and TOC, every definition), and the bytes of each data
  // block, by dump id (what a restore of a selection writes as a script).
  uint64_t toc_bytes = 0;
  std::map<int, uint64_t> data_bytes;
  // With stage_tables: the staged file of each table object (decompressed
  // COPY text), by object name.
  std::map<std::string, std::string> table_paths;
};

// ReadBackSet reads back and checks every object of the set at set_key
// (see above), staging what options ask for in staging.
StagedSet ReadBackSet(SourceStorage& source, const std::string& set_key, StagingArea& staging,
                      const SetExpectation& expected, const ReadBackOptions& options);

}  // namespace pgbak
