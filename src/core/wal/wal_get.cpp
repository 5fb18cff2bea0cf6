// wal_get.cpp: see wal_get.h.
#include "core/wal/wal_get.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <signal.h>

#include <atomic>
#include <cctype>
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

// kTemporaryPrefix starts the name of a file being written; the writer's
// process id follows, so that one left by a killed process can be told
// from one being written.
constexpr const char* kTemporaryPrefix = ".pgbak-wal-get-";

// MakeTemporary creates a temporary file in directory; its path in path.
UniqueFd MakeTemporary(const std::string& directory, std::string& path) {
  std::string pattern =
      directory + "/" + kTemporaryPrefix + std::to_string(static_cast<long>(getpid())) + "-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  int raw_fd = mkstemp(buffer.data());
  if (raw_fd < 0)
    ThrowErrno("could not create a file in \"" + directory + "\"", errno);
  path = buffer.data();
  return UniqueFd(raw_fd);
}

// IsCacheEntryName says whether entry is "<24 hex digits>-<64 hex digits>".
bool IsCacheEntryName(const std::string& entry) {
  if (entry.size() != 24 + 1 + 64 || entry[24] != '-')
    return false;
  for (size_t i = 0; i < entry.size(); i++)
    if (i != 24 && !std::isxdigit(static_cast<unsigned char>(entry[i])))
      return false;
  return true;
}

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

// CopyChecked copies from to path (a temporary file in path's directory,
// fsynced, renamed into place) if its content has the SHA-256 sha256;
// false, with nothing written, if it has not or cannot be read.
bool CopyChecked(const std::string& from, const std::string& path, const std::string& sha256) {
  UniqueFd in(open(from.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!in.valid())
    return false;
  std::string temporary;
  UniqueFd out = MakeTemporary(DirectoryOf(path), temporary);
  try {
    FdSink file(out.get(), temporary);
    Sha256 sha;
    std::vector<uint8_t> block(kReadChunk);
    for (;;) {
      ssize_t got = read(in.get(), block.data(), block.size());
      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0)
        ThrowErrno("could not read \"" + from + "\"", errno);
      if (got == 0)
        break;
      sha.Update(block.data(), static_cast<size_t>(got));
      file.Write(block.data(), static_cast<size_t>(got));
    }
    if (sha.HexDigest() != sha256) {
      (void)unlink(temporary.c_str());
      return false;
    }
    file.Finish();
    out.Reset();
    if (rename(temporary.c_str(), path.c_str()) != 0)
      ThrowErrno("could not rename \"" + temporary + "\" to \"" + path + "\"", errno);
  } catch (...) {
    (void)unlink(temporary.c_str());
    throw;
  }
  return true;
}

}  // namespace

void RemoveDeadTemporaries(const std::string& directory) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(directory.c_str()), closedir);
  if (!dir)
    return;
  const std::string prefix = kTemporaryPrefix;
  std::vector<std::string> dead;
  while (struct dirent* entry = readdir(dir.get())) {
    std::string name = entry->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0)
      continue;
    size_t dash = name.find('-', prefix.size());
    std::string digits = name.substr(prefix.size(), dash - prefix.size());
    if (dash == std::string::npos || digits.empty() || digits.size() > 9 ||
        digits.find_first_not_of("0123456789") != std::string::npos)
      continue;  // not ours to judge
    pid_t pid = static_cast<pid_t>(std::stol(digits));
    if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH)
      dead.push_back(directory + "/" + name);
  }
  for (const std::string& path : dead)
    (void)unlink(path.c_str());
}

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
  std::string temporary;
  UniqueFd fd = MakeTemporary(directory, temporary);
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

WalPrefetchCache::WalPrefetchCache(const std::string& directory,
                                   const std::string& system_identifier)
    : parent_(directory),
      directory_(directory + "/" + system_identifier),
      system_identifier_(system_identifier) {}

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
    std::string sha256 = entry.substr(name.size() + 1);
    struct stat st;
    if (!served && lstat(from.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        HashFile(from) == sha256) {
      if (rename(from.c_str(), path.c_str()) == 0) {
        SyncDirectory(DirectoryOf(path));
        served = true;
        continue;
      }
      // A cache on another file system than path: copied, checked again
      // while it is read.
      if (errno == EXDEV && CopyChecked(from, path, sha256)) {
        SyncDirectory(DirectoryOf(path));
        served = true;
      }
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
                            const std::vector<AgeIdentity>& identities) {
  if ((mkdir(parent_.c_str(), 0700) != 0 && errno != EEXIST) ||
      (mkdir(directory_.c_str(), 0700) != 0 && errno != EEXIST))
    return;
  RemoveDeadTemporaries(directory_);
  std::set<std::string> wanted(names.begin(), names.end());
  std::set<std::string> present;
  for (const std::string& entry : Entries()) {
    if (!IsCacheEntryName(entry))
      continue;  // a temporary being written, or not the cache's
    std::string name = entry.substr(0, 24);
    if (wanted.count(name) > 0)
      present.insert(name);
    else
      (void)unlink((directory_ + "/" + entry).c_str());  // bounded: only what comes next
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
          if (!FindWalObject(*storage, system_identifier_, missing[i], object))
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
