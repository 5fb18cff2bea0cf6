// wal_get.cpp: see wal_get.h.
#include "core/wal/wal_get.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <set>
#include <thread>

#include "core/archive/base_layout.h"
#include "core/base/error.h"
#include "core/base/signals_blocked.h"
#include "core/base/unique_fd.h"
#include "core/pipeline/meter_sink.h"
#include "core/pipeline/zstd_sink.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

constexpr size_t kReadChunk = 1 << 20;

// FdSink writes into an open file.
class FdSink : public Sink {
 public:
  FdSink(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  void Write(const uint8_t* data, size_t size) override {
    while (size > 0) {
      ssize_t wrote = ::write(fd_, data, size);
      if (wrote < 0) {
        if (errno == EINTR)
          continue;
        ThrowErrno("could not write \"" + path_ + "\"", errno);
      }
      data += wrote;
      size -= static_cast<size_t>(wrote);
    }
  }
  void Finish() override {
    if (fsync(fd_) != 0)
      ThrowErrno("could not fsync \"" + path_ + "\"", errno);
  }

 private:
  int fd_;
  std::string path_;
};

// DirectoryOf is the directory part of path ("." if none).
std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// SyncDirectory makes a rename in directory durable.
void SyncDirectory(const std::string& directory) {
  UniqueFd fd(open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid() || fsync(fd.get()) != 0)
    ThrowErrno("could not fsync directory \"" + directory + "\"", errno);
}

// HashFile is the SHA-256 of a file's content ("" if it cannot be read).
std::string HashFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid())
    return "";
  Sha256 sha;
  std::vector<uint8_t> block(kReadChunk);
  for (;;) {
    ssize_t got = read(fd.get(), block.data(), block.size());
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return "";
    if (got == 0)
      break;
    sha.Update(block.data(), static_cast<size_t>(got));
  }
  return sha.HexDigest();
}

// DecodeWalObject writes object's content, decrypted and decompressed, to
// out (finished), checked against the checksum its key carries; returns
// its size. The errors of RestoreWalFile.
uint64_t DecodeWalObject(Storage& storage, const WalObject& object,
                         const std::vector<AgeIdentity>& identities, Sink& out) {
  if (object.encrypted && identities.empty())
    throw Error(ErrorKind::kInvalidParameter,
                "WAL file \"" + object.name +
                    "\" is archived encrypted, and no age identity was "
                    "given to decrypt it");
  MeterSink content(out, true);
  ZstdDecompressSink decompress(content);
  std::unique_ptr<AgeDecryptSink> decrypt;
  if (object.encrypted)
    decrypt = std::make_unique<AgeDecryptSink>(decompress, identities);
  Sink& first = object.encrypted ? static_cast<Sink&>(*decrypt) : decompress;
  try {
    std::unique_ptr<ObjectReader> reader = storage.Open(object.key);
    std::vector<uint8_t> chunk(kReadChunk);
    while (size_t n = reader->Read(chunk.data(), chunk.size()))
      first.Write(chunk.data(), n);
    first.Finish();
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kCorrupt)
      throw;
    throw Error(ErrorKind::kCorrupt,
                "WAL file \"" + object.name + "\" cannot be read back: " + e.what(),
                "Object " + storage.Location(object.key) + ".",
                "The archived object is damaged: recovery must not go past it.");
  }
  if (content.sha256_hex() != object.sha256)
    throw Error(ErrorKind::kCorrupt,
                "WAL file \"" + object.name + "\": SHA-256 mismatch: its key says " +
                    object.sha256 + ", its content is " + content.sha256_hex(),
                "Object " + storage.Location(object.key) + ".",
                "The archived object is damaged: recovery must not go past it.");
  return content.bytes();
}

// BoundedStringSink collects a small file in memory, refusing more than
// limit bytes.
class BoundedStringSink : public Sink {
 public:
  BoundedStringSink(std::string name, size_t limit) : name_(std::move(name)), limit_(limit) {}
  void Write(const uint8_t* data, size_t size) override {
    if (size > limit_ - contents_.size())
      throw Error(ErrorKind::kCorrupt,
                  "WAL file \"" + name_ + "\" is larger than " + std::to_string(limit_) + " bytes");
    contents_.append(reinterpret_cast<const char*>(data), size);
  }
  void Finish() override {}
  const std::string& contents() const { return contents_; }

 private:
  std::string name_;
  size_t limit_;
  std::string contents_;
};

}  // namespace

bool SelectWalObject(const std::vector<WalObject>& objects, const std::string& name,
                     WalObject& chosen) {
  if (objects.empty())
    return false;
  for (const WalObject& object : objects)
    if (object.sha256 != objects[0].sha256)
      throw Error(ErrorKind::kCorrupt,
                  "WAL file \"" + Printable(name) + "\" is archived with two different contents",
                  "Objects " + Printable(objects[0].key) + " and " + Printable(object.key) + ".",
                  "Archiving never stores that: another cluster with the same system identifier "
                  "wrote to this archive. Find out which is right before recovering.");
  chosen = objects[0];
  return true;
}

bool FindWalObject(Storage& storage, const std::string& system_identifier, const std::string& name,
                   WalObject& chosen) {
  std::vector<std::string> keys;
  for (const ObjectInfo& info : storage.List(WalObjectPrefix(system_identifier, name)))
    keys.push_back(info.key);
  return SelectWalObject(WalObjectsOf(keys, name), name, chosen);
}

std::string ReadWalFile(Storage& storage, const WalObject& object,
                        const std::vector<AgeIdentity>& identities, size_t limit) {
  BoundedStringSink text(object.name, limit);
  DecodeWalObject(storage, object, identities, text);
  return text.contents();
}

uint64_t RestoreWalFile(Storage& storage, const WalObject& object,
                        const std::vector<AgeIdentity>& identities, const std::string& path) {
  if (object.encrypted && identities.empty())
    throw Error(ErrorKind::kInvalidParameter,
                "WAL file \"" + object.name +
                    "\" is archived encrypted, and no age identity was "
                    "given to decrypt it");
  std::string directory = DirectoryOf(path);
  std::string pattern = directory + "/.pgbak-wal-get-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  int raw_fd = mkstemp(buffer.data());
  if (raw_fd < 0)
    ThrowErrno("could not create a file in \"" + directory + "\"", errno);
  UniqueFd fd(raw_fd);
  std::string temporary = buffer.data();
  uint64_t size = 0;
  try {
    FdSink file(fd.get(), temporary);
    size = DecodeWalObject(storage, object, identities, file);
    fd.Reset();
    if (rename(temporary.c_str(), path.c_str()) != 0)
      ThrowErrno("could not rename \"" + temporary + "\" to \"" + path + "\"", errno);
  } catch (...) {
    (void)unlink(temporary.c_str());
    throw;
  }
  SyncDirectory(directory);
  return size;
}

bool IsWalSegmentSize(uint64_t size) {
  return size >= (1 << 20) && size <= (1ULL << 30) && (size & (size - 1)) == 0;
}

std::vector<std::string> NextSegmentNames(const std::string& segment, uint64_t segment_size,
                                          size_t count) {
  std::vector<std::string> names;
  if (segment.size() != 24 || !IsWalSegmentSize(segment_size) || !IsArchivableWalName(segment))
    return names;
  uint32_t timeline = static_cast<uint32_t>(std::stoul(segment.substr(0, 8), nullptr, 16));
  uint64_t log = std::stoull(segment.substr(8, 8), nullptr, 16);
  uint64_t seg = std::stoull(segment.substr(16, 8), nullptr, 16);
  uint64_t lsn = (log << 32) + seg * segment_size;
  for (size_t i = 1; i <= count; i++)
    names.push_back(WalSegmentName(timeline, lsn + i * segment_size, segment_size));
  return names;
}

WalPrefetchCache::WalPrefetchCache(std::string directory) : directory_(std::move(directory)) {}

std::vector<std::string> WalPrefetchCache::Entries() const {
  std::vector<std::string> entries;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(directory_.c_str()), closedir);
  if (!dir)
    return entries;
  while (struct dirent* entry = readdir(dir.get())) {
    std::string name = entry->d_name;
    if (name != "." && name != "..")
      entries.push_back(name);
  }
  return entries;
}

bool WalPrefetchCache::Take(const std::string& name, const std::string& path) {
  bool served = false;
  for (const std::string& entry : Entries()) {
    if (entry.size() != name.size() + 1 + 64 || entry.compare(0, name.size() + 1, name + "-") != 0)
      continue;
    std::string from = directory_ + "/" + entry;
    struct stat st;
    if (!served && lstat(from.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        HashFile(from) == entry.substr(name.size() + 1) &&
        rename(from.c_str(), path.c_str()) == 0) {
      SyncDirectory(DirectoryOf(path));
      served = true;
      continue;
    }
    (void)unlink(from.c_str());
  }
  return served;
}

size_t WalPrefetchCache::Cached(const std::vector<std::string>& names) const {
  std::set<std::string> wanted(names.begin(), names.end());
  size_t count = 0;
  for (const std::string& entry : Entries())
    if (entry.size() > 65 && wanted.count(entry.substr(0, entry.size() - 65)) > 0)
      count++;
  return count;
}

void WalPrefetchCache::Fill(const std::vector<std::string>& names, int threads,
                            const std::function<std::unique_ptr<Storage>()>& open_storage,
                            const std::string& system_identifier,
                            const std::vector<AgeIdentity>& identities) {
  if (mkdir(directory_.c_str(), 0700) != 0 && errno != EEXIST)
    return;
  std::set<std::string> wanted(names.begin(), names.end());
  std::set<std::string> present;
  for (const std::string& entry : Entries()) {
    std::string name = entry.size() > 65 ? entry.substr(0, entry.size() - 65) : "";
    if (wanted.count(name) > 0 && entry[entry.size() - 65] == '-')
      present.insert(name);
    else
      (void)unlink((directory_ + "/" + entry).c_str());  // another name, or a dead temporary
  }
  std::vector<std::string> missing;
  for (const std::string& name : names)
    if (present.count(name) == 0)
      missing.push_back(name);
  if (missing.empty())
    return;
  std::atomic<size_t> next{0};
  auto work = [&] {
    try {
      std::unique_ptr<Storage> storage = open_storage();
      for (size_t i = next++; i < missing.size(); i = next++) {
        try {
          WalObject object;
          if (!FindWalObject(*storage, system_identifier, missing[i], object))
            continue;
          RestoreWalFile(*storage, object, identities,
                         directory_ + "/" + missing[i] + "-" + object.sha256);
        } catch (...) {
          // Best effort: the call that needs the file reports why.
        }
      }
    } catch (...) {
    }
  };
  std::vector<std::thread> workers;
  {
    AllSignalsBlocked blocked;
    int count = std::max(1, std::min<int>(threads, static_cast<int>(missing.size())));
    for (int i = 0; i < count; i++)
      workers.emplace_back(work);
  }
  for (std::thread& worker : workers)
    worker.join();
}

}  // namespace pgbak
