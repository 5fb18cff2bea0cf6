// set_reader.cpp: reading a backup set back and checking it (set_reader.h).
#include "core/archive/set_reader.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <iterator>
#include <map>
#include <set>

#include "core/archive/set_layout.h"
#include "core/base/error.h"
#include "core/pipeline/meter_sink.h"
#include "core/pipeline/zstd_sink.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

constexpr size_t kReadChunk = 1 << 20;

// GuardSink passes bytes on until the next stage fails; then it keeps the
// error and swallows the rest, so that the stages before it can finish and
// the stored bytes are checked against their SHA-256 first: damage to an
// object (its age header included) is then reported as what it is.
class GuardSink : public Sink {
 public:
  explicit GuardSink(Sink& next) : next_(next) {}
  void Write(const uint8_t* data, size_t size) override {
    if (!failed())
      Guarded([&] { next_.Write(data, size); });
  }
  void Finish() override {
    if (!failed())
      Guarded([&] { next_.Finish(); });
  }
  bool failed() const { return error_ != nullptr; }
  const Error& error() const { return *error_; }

 private:
  template <typename Step>
  void Guarded(Step step) {
    try {
      step();
    } catch (const Error& e) {
      // What reading the contents finds (damaged input, kCorrupt; an age
      // header no identity opens, kInvalidParameter) is kept; a full disk
      // while staging is not the backup's fault and goes on at once.
      if (e.kind() != ErrorKind::kCorrupt && e.kind() != ErrorKind::kInvalidParameter)
        throw;
      error_ = std::make_unique<Error>(e);
    }
  }

  Sink& next_;
  std::unique_ptr<Error> error_;
};

// HookedSink passes bytes to a staging file and hands its errors to the
// caller's hook (which may throw another error instead).
class HookedSink : public Sink {
 public:
  HookedSink(Sink& next, const std::function<void(const Error&)>& hook)
      : next_(next), hook_(hook) {}
  void Write(const uint8_t* data, size_t size) override {
    Hooked([&] { next_.Write(data, size); });
  }
  void Finish() override {
    Hooked([&] { next_.Finish(); });
  }

 private:
  template <typename Step>
  void Hooked(Step step) {
    try {
      step();
    } catch (const Error& e) {
      if (hook_)
        hook_(e);
      throw;
    }
  }

  Sink& next_;
  const std::function<void(const Error&)>& hook_;
};

// IsObjectName says whether a manifest's object name can be an object of a
// set: one plain file name, nothing that leads elsewhere.
bool IsObjectName(const std::string& name) {
  if (name.empty() || name.size() > 255 || name[0] == '.')
    return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
      return false;
  return true;
}

// BaseName is an object's name without the suffix of encryption.
std::string BaseName(const std::string& name) {
  std::string suffix = kAgeSuffix;
  if (name.size() > suffix.size() &&
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
    return name.substr(0, name.size() - suffix.size());
  return name;
}

// MakeDirectory creates one directory unless it exists.
void MakeDirectory(const std::string& path) {
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
    ThrowErrno("could not create directory \"" + path + "\"", errno);
}

// ObservedSink passes bytes to the staging file and then tells the
// observer.
class ObservedSink : public Sink {
 public:
  ObservedSink(Sink& file, StageObserver& observer) : file_(file), observer_(observer) {}
  void Write(const uint8_t* data, size_t size) override {
    file_.Write(data, size);
    observer_.OnStaged();
  }
  void Finish() override {
    file_.Finish();
    observer_.OnStaged();
  }

 private:
  Sink& file_;
  StageObserver& observer_;
};

// GrowingSink tells grown(written) each time the staging file behind it
// has more bytes that other readers see.
class GrowingSink : public Sink {
 public:
  GrowingSink(Sink& next, const StagingFile& file, std::function<void(uint64_t)> grown)
      : next_(next), file_(file), grown_(std::move(grown)) {}
  void Write(const uint8_t* data, size_t size) override {
    next_.Write(data, size);
    if (file_.written() != reported_ && grown_)
      grown_(reported_ = file_.written());
  }
  void Finish() override { next_.Finish(); }

 private:
  Sink& next_;
  const StagingFile& file_;
  std::function<void(uint64_t)> grown_;
  uint64_t reported_ = 0;
};

}  // namespace

std::string SetKey(const Storage& storage, int64_t backup_id, const std::string& location) {
  std::string key = storage.KeyOf(location);
  if (key.empty() || !IsSetKey(backup_id, key))
    throw Error(ErrorKind::kCorrupt,
                "the location of backup " + std::to_string(backup_id) +
                    " is not a set directory of its storage",
                location + " is not below " + storage.Location("") + ".");
  return key;
}

std::string ReadManifestText(Storage& storage, const std::string& key) {
  std::unique_ptr<ObjectReader> reader = storage.Open(key);
  std::string text;
  std::vector<uint8_t> buffer(64 << 10);
  while (size_t n = reader->Read(buffer.data(), buffer.size())) {
    text.append(reinterpret_cast<const char*>(buffer.data()), n);
    if (text.size() > kMaxManifestBytes)
      throw Error(ErrorKind::kCorrupt, "manifest.json is too large to be a manifest");
  }
  return text;
}

Manifest ReadManifest(Storage& storage, const std::string& set_key,
                      const std::string& expected_sha256, std::string* text_out) {
  std::vector<ObjectInfo> present = storage.List(set_key + "/" + kManifestObject);
  if (present.empty() || present[0].key != set_key + "/" + kManifestObject)
    throw Error(ErrorKind::kCorrupt, "manifest.json is missing: the set is not complete",
                storage.Location(set_key));
  if (present[0].size > kMaxManifestBytes)
    throw Error(ErrorKind::kCorrupt, "manifest.json is too large to be a manifest");
  std::string text = ReadManifestText(storage, set_key + "/" + kManifestObject);
  if (!expected_sha256.empty()) {
    Sha256 hash;
    hash.Update(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    std::string got = hash.HexDigest();
    if (got != expected_sha256)
      throw Error(ErrorKind::kCorrupt,
                  "manifest.json: SHA-256 mismatch with backup_log: " + expected_sha256 +
                      " recorded, " + got + " stored",
                  "The manifest is not the one the backup wrote.");
  }
  Manifest manifest = Manifest::FromJson(text);
  if (text_out != nullptr)
    *text_out = std::move(text);
  return manifest;
}

StagingArea::StagingArea(LocalStorage& storage, std::string key)
    : storage_(storage), key_(std::move(key)) {}

StagingArea::~StagingArea() {
  // Never throw from here: this runs while an error unwinds.
  try {
    for (const ObjectInfo& object : storage_.List(key_ + "/"))
      storage_.Remove(object.key);
    storage_.RemoveStaleTemporaries(key_);
  } catch (...) {
  }
  (void)rmdir(storage_.Location(key_).c_str());
  size_t slash = key_.rfind('/');
  if (slash != std::string::npos)  // the parent, only if empty
    (void)rmdir(storage_.Location(key_.substr(0, slash)).c_str());
}

void StagingArea::Prepare() {
  std::string path = storage_.Location(key_);
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1))
    MakeDirectory(path.substr(0, slash));
  MakeDirectory(path);
}

bool ReadBackObject(SourceStorage& source_storage, const std::string& set_key,
                    const ManifestObject& object, const std::string& expected_sha256, Sink& sink,
                    bool contents_needed, const ReadProgress& progress) {
  Storage& storage = *source_storage.storage;
  if (!IsObjectName(object.name))
    throw Error(ErrorKind::kCorrupt,
                "manifest.json names an object \"" + object.name + "\" that cannot be in a set");
  std::string key = set_key + "/" + object.name;
  std::vector<ObjectInfo> present = storage.List(key);
  if (present.empty() || present[0].key != key)
    throw Error(ErrorKind::kCorrupt, "object " + object.name + " is missing from the set",
                storage.Location(key));
  if (present[0].size != object.size)
    throw Error(ErrorKind::kCorrupt, object.name + ": size mismatch: the manifest says " +
                                         std::to_string(object.size) + " bytes, storage holds " +
                                         std::to_string(present[0].size));
  bool encrypted = object.encryption == "age";
  bool compressed = object.compression == "zstd";
  if ((!compressed && object.compression != "none") || (object.encryption != "none" && !encrypted))
    throw Error(ErrorKind::kCorrupt, object.name + ": compression \"" + object.compression +
                                         "\" with encryption \"" + object.encryption +
                                         "\" is not supported by this version");
  // Without the identity, an encrypted object can still be checked against
  // its size and SHA-256 (a server that only holds public keys); reading
  // its contents needs the identity.
  bool decrypt = encrypted && !source_storage.identities.empty();
  if (encrypted && !decrypt && contents_needed)
    throw Error(ErrorKind::kInvalidParameter,
                object.name + " is encrypted, and " + source_storage.no_identity + " to decrypt it",
                "", source_storage.identity_hint);
  MeterSink raw(sink, false);
  ZstdDecompressSink decompress(raw);
  std::unique_ptr<AgeDecryptSink> decryptor;
  Sink& plain = compressed ? static_cast<Sink&>(decompress) : static_cast<Sink&>(raw);
  if (decrypt)
    decryptor = std::make_unique<AgeDecryptSink>(plain, source_storage.identities);
  NullSink skip;
  Sink& contents = encrypted && !decrypt ? static_cast<Sink&>(skip)
                   : decrypt             ? static_cast<Sink&>(*decryptor)
                                         : plain;
  // The hash sees every stored byte even after decryption or decompression
  // has failed, so a damaged object is reported as what it is: a checksum
  // mismatch.
  GuardSink guard(contents);
  MeterSink stored(guard, true);
  std::unique_ptr<ObjectReader> reader = storage.Open(key);
  std::vector<uint8_t> buffer(kReadChunk);
  while (size_t n = reader->Read(buffer.data(), buffer.size())) {
    if (progress)
      progress(n);
    stored.Write(buffer.data(), n);
  }
  stored.Finish();
  if (stored.sha256_hex() != object.sha256)
    throw Error(ErrorKind::kCorrupt, object.name + ": SHA-256 mismatch: the manifest says " +
                                         object.sha256 + ", storage holds " + stored.sha256_hex());
  if (!expected_sha256.empty() && stored.sha256_hex() != expected_sha256)
    throw Error(ErrorKind::kCorrupt, object.name +
                                         ": SHA-256 mismatch with backup_log: " + expected_sha256 +
                                         " recorded, " + stored.sha256_hex() + " stored");
  if (guard.failed()) {
    // The bytes are the ones the backup wrote: an identity that does not
    // open them is the caller's matter, not damage.
    if (guard.error().kind() != ErrorKind::kCorrupt)
      throw guard.error();
    throw Error(ErrorKind::kCorrupt, object.name + ": cannot be read back: " + guard.error().what(),
                "The stored bytes match their SHA-256, so they were written like this.");
  }
  if (encrypted && !decrypt)
    return false;
  if (raw.bytes() != object.raw_size)
    throw Error(ErrorKind::kCorrupt,
                object.name + ": decompressed size mismatch: the manifest says " +
                    std::to_string(object.raw_size) + " bytes, got " + std::to_string(raw.bytes()));
  return true;
}

StagedSet ReadBackSet(SourceStorage& source, const std::string& set_key, StagingArea& staging,
                      const SetExpectation& expected, const ReadBackOptions& options) {
  Storage& storage = *source.storage;
  StagedSet staged;
  staged.manifest = ReadManifest(storage, set_key, expected.manifest_sha256, &staged.manifest_text);
  const Manifest& manifest = staged.manifest;
  if ((expected.backup_id != 0 && manifest.backup_id != expected.backup_id) ||
      (!expected.database.empty() && manifest.database != expected.database))
    throw Error(ErrorKind::kCorrupt, "manifest.json describes backup " +
                                         std::to_string(manifest.backup_id) + " of database \"" +
                                         manifest.database + "\", not this one");
  // Errors of the staging files go to the caller's hook.
  auto staging_step = [&](auto&& step) {
    try {
      return step();
    } catch (const Error& e) {
      if (options.on_staging_error)
        options.on_staging_error(e);
      throw;
    }
  };
  bool saw_data = false;
  std::map<std::string, std::string> staged_tables;  // object name -> staged path
  std::set<std::string> checked_tables;              // read back, not staged (stage_table)
  for (const ManifestObject& object : manifest.objects) {
    bool is_data = object.role == "data";
    saw_data = saw_data || is_data;
    bool can_read = object.encryption != "age" || !source.identities.empty();
    if (object.role == kTableDataRole && options.stage_required && !options.stage_tables)
      throw Error(ErrorKind::kInvalidParameter,
                  "the set holds tables in objects of their own (a backup with jobs > 1), "
                  "which this restore cannot load",
                  "Its data object alone would restore those tables empty.",
                  "pgbak_restore and pgbak restore load them; by hand, README.md's \"Restore by "
                  "hand\" says how.");
    if (is_data && options.on_data)
      options.on_data(staged.manifest);
    bool stage_this_table = object.role == kTableDataRole && options.stage_tables &&
                            (can_read || options.stage_required);
    if (stage_this_table && options.stage_table && !staged.toc.empty()) {
      for (const TableCount& table : staged.manifest.tables)
        if (table.object == object.name && !options.stage_table(table, staged.toc)) {
          stage_this_table = false;
          checked_tables.insert(object.name);
        }
    }
    if (checked_tables.count(object.name) != 0) {
      NullSink sink;
      ReadBackObject(source, set_key, object, "", sink, true, options.progress);
    } else if (stage_this_table) {
      if (options.check_space)
        options.check_space(object.raw_size);
      std::string path =
          staging.Path("table-" + std::to_string(staged_tables.size() + 1) + ".copy");
      std::unique_ptr<StagingFile> file = staging_step([&] {
        staging.Prepare();
        return std::make_unique<StagingFile>(path, object.raw_size);
      });
      HookedSink hooked(*file, options.on_staging_error);
      GrowingSink growing(hooked, *file, [&](uint64_t written) {
        if (options.on_table_staged)
          options.on_table_staged(object, file->path(), written, false);
      });
      ReadBackObject(source, set_key, object, "", growing, true, options.progress);
      staged_tables[object.name] = file->path();
      if (options.on_table_staged)
        options.on_table_staged(object, file->path(), file->written(), true);
    } else if (object.role == "tables") {
      // The row counts of an encrypted set: read them if we can decrypt.
      StringSink text;
      if (ReadBackObject(source, set_key, object, "", text, false, options.progress)) {
        staged.manifest.tables = TablesFromJson(text.contents());
        CheckTablePieces(staged.manifest.tables, staged.manifest.format_version);
      } else
        staged.all_read = false;
    } else if (object.role == "globals" && options.stage_globals) {
      std::unique_ptr<StagingFile> file = staging_step([&] {
        staging.Prepare();
        return std::make_unique<StagingFile>(staging.Path("globals.sql"), object.raw_size);
      });
      HookedSink hooked(*file, options.on_staging_error);
      ReadBackObject(source, set_key, object, "", hooked, true, options.progress);
      staged.globals_path = file->path();
    } else if (is_data && options.stage && (can_read || options.stage_required)) {
      // Fails early and clearly where the copy cannot fit; its space is then
      // reserved up front (see staging_file.h), so a full disk is found
      // before the restore has started, not half way.
      if (options.check_space)
        options.check_space(object.raw_size);
      // The staging copy is thrown away after use: no fsync.
      std::string path =
          staging.Path(BaseName(object.name) == kDataObjectPlain ? "data.sql" : "data.dump");
      std::unique_ptr<StagingFile> reserved = staging_step([&] {
        staging.Prepare();
        return std::make_unique<StagingFile>(path, object.raw_size);
      });
      StagingFile& file = *reserved;
      HookedSink hooked(file, options.on_staging_error);
      // pg_dump could not fill in its table of contents with the position of
      // each table's data (it wrote to a pipe); the scanner sees where every
      // block starts, and the staged copy gets those positions, as a file
      // written by pg_dump itself would have them: pg_restore -j then seeks
      // instead of searching. And uncompressed, pg_dump wrote one chunk per
      // row, which pg_restore would send to the server as one message each
      // (measured 40% slower than restoring a pg_dump -Fc file): the staged
      // copy gets the same COPY text in large chunks.
      bool custom = BaseName(object.name) == kDataObjectCustom;
      if (options.observer != nullptr && !custom)
        throw Error(ErrorKind::kInternal, "a streaming restore of a set that is not custom");
      std::unique_ptr<ObservedSink> observed;
      if (options.observer != nullptr) {
        observed = std::make_unique<ObservedSink>(hooked, *options.observer);
        options.observer->Attach(file);
      }
      ArchiveScanner scanner(observed ? static_cast<Sink&>(*observed) : static_cast<Sink&>(hooked),
                             kRestoreChunkSize);
      scanner.SetListener(options.observer);
      ReadBackObject(source, set_key, object, expected.data_sha256,
                     custom ? static_cast<Sink&>(scanner) : static_cast<Sink&>(hooked), true,
                     options.progress);
      staged.data_path = file.path();
      if (custom && scanner.ok()) {
        staged.toc = scanner.toc();
        staged.client_encoding = scanner.client_encoding();
      }
      if (custom && scanner.ok() && scanner.complete()) {
        staged.toc_complete = true;
        // Each block runs to the next one (in file order), the last to the end.
        std::map<uint64_t, int> by_offset;
        for (const auto& [dump_id, offset] : scanner.DataBlockOffsets())
          by_offset[offset] = dump_id;
        staged.toc_bytes = by_offset.empty() ? file.written() : by_offset.begin()->first;
        for (auto block = by_offset.begin(); block != by_offset.end(); ++block) {
          auto next = std::next(block);
          uint64_t end = next == by_offset.end() ? file.written() : next->first;
          staged.data_bytes[block->second] = end > block->first ? end - block->first : 0;
        }
        if (options.observer != nullptr)
          staged.patches = scanner.OffsetPatches();
        else
          ApplyOffsetPatches(staged.data_path, scanner.OffsetPatches());
      }
    } else {
      NullSink sink;
      if (!ReadBackObject(source, set_key, object, is_data ? expected.data_sha256 : "", sink, false,
                          options.progress))
        staged.all_read = false;
    }
  }
  if (!saw_data)
    throw Error(ErrorKind::kCorrupt, "manifest.json lists no data object");
  staged.table_paths = staged_tables;
  for (const std::string& name : checked_tables)
    staged_tables[name] = "(checked)";
  if (!staged_tables.empty()) {
    // Each object holds one table's rows, as the row counts say.
    for (const TableCount& count : staged.manifest.tables) {
      if (count.object.empty())
        continue;
      auto found = staged_tables.find(count.object);
      if (found == staged_tables.end() || found->second.empty())
        throw Error(ErrorKind::kCorrupt, "table \"" + count.schema + "\".\"" + count.table +
                                             "\" is in object " + count.object +
                                             ", which the manifest does not list (twice)");
      found->second.clear();
    }
    for (const auto& [name, path] : staged_tables)
      if (!path.empty())
        throw Error(ErrorKind::kCorrupt, "object " + name + " holds no table the set lists");
  }
  return staged;
}

}  // namespace pgbak
