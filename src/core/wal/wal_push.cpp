// wal_push.cpp: hash, look up, compress, encrypt and store one WAL file.
//
// The file is read twice: once to learn its checksum, which is part of the
// object's key and decides whether it is archived already, and once to
// stream it into the storage. The second read is hashed too and the object
// is abandoned unless both agree, so a key never names other content. WAL
// files are small (16 MiB by default) and the second read comes from the
// page cache.
#include "core/wal/wal_push.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <vector>

#include "core/base/error.h"
#include "core/base/unique_fd.h"
#include "core/pipeline/meter_sink.h"
#include "core/pipeline/zstd_sink.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

constexpr size_t kReadBlock = 1 << 20;

// ThrowIfCancelled stops a push that was asked to stop.
void ThrowIfCancelled(const std::function<bool()>& cancelled, const std::string& name) {
  if (cancelled && cancelled())
    throw Error(ErrorKind::kCancelled, "archiving of WAL file \"" + name + "\" was cancelled");
}

// ReadFileBlocks calls each(block, size) for every block of the file.
template <typename Each>
uint64_t ReadFileBlocks(const std::string& path, const std::function<bool()>& cancelled,
                        const std::string& name, Each&& each) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid())
    ThrowErrno("could not open file \"" + path + "\"", errno);
  std::vector<uint8_t> block(kReadBlock);
  uint64_t total = 0;
  for (;;) {
    ThrowIfCancelled(cancelled, name);
    ssize_t got = read(fd.get(), block.data(), block.size());
    if (got < 0) {
      if (errno == EINTR)
        continue;
      ThrowErrno("could not read file \"" + path + "\"", errno);
    }
    if (got == 0)
      break;
    each(block.data(), static_cast<size_t>(got));
    total += static_cast<uint64_t>(got);
  }
  return total;
}

// ListedKeys lists the keys below prefix.
std::vector<std::string> ListedKeys(Storage& storage, const std::string& prefix) {
  std::vector<std::string> keys;
  for (const ObjectInfo& info : storage.List(prefix))
    keys.push_back(info.key);
  return keys;
}

}  // namespace

ArchivedCheck CheckArchived(const std::vector<WalObject>& objects, const std::string& sha256_hex) {
  ArchivedCheck check;
  for (const WalObject& object : objects) {
    if (object.sha256 == sha256_hex) {
      check.state = ArchivedState::kSame;
      check.object = object;
      return check;
    }
    if (check.state == ArchivedState::kAbsent) {
      check.state = ArchivedState::kDifferent;
      check.object = object;
    }
  }
  return check;
}

std::string Sha256OfFile(const std::string& path, const std::function<bool()>& cancelled) {
  Sha256 sha;
  ReadFileBlocks(path, cancelled, path,
                 [&sha](const uint8_t* data, size_t size) { sha.Update(data, size); });
  return sha.HexDigest();
}

WalPushResult PushWalFile(Storage& storage, const WalPushSettings& settings,
                          const std::string& name, const std::string& path,
                          const std::function<bool()>& cancelled) {
  std::string prefix = WalObjectPrefix(settings.system_identifier, name);
  WalPushResult result;
  result.sha256 = Sha256OfFile(path, cancelled);
  ThrowIfCancelled(cancelled, name);

  ArchivedCheck check =
      CheckArchived(WalObjectsOf(ListedKeys(storage, prefix), name), result.sha256);
  if (check.state == ArchivedState::kSame) {
    result.already_archived = true;
    result.key = check.object.key;
    return result;
  }
  if (check.state == ArchivedState::kDifferent)
    throw Error(ErrorKind::kCorrupt,
                "WAL file \"" + name + "\" is already archived with different content",
                "SHA-256 of the archived file: " + check.object.sha256 + " (object " +
                    storage.Location(check.object.key) + "); SHA-256 of the file " +
                    "in pg_wal: " + result.sha256 + ".",
                "Another cluster with the same system identifier may be archiving to this "
                "storage (a copy of this data directory, a promoted standby). The archived "
                "file is kept and this one is not archived: find out which is right before "
                "removing either.");

  bool encrypted = !settings.recipients.empty();
  result.key = WalObjectKey(settings.system_identifier, name, result.sha256, encrypted);
  std::unique_ptr<ObjectWriter> writer = storage.Create(result.key);
  try {
    MeterSink stored(*writer, false);
    std::unique_ptr<AgeEncryptSink> age;
    if (encrypted)
      age = std::make_unique<AgeEncryptSink>(stored, settings.recipients);
    ZstdCompressSink zstd(encrypted ? static_cast<Sink&>(*age) : static_cast<Sink&>(stored),
                          settings.zstd_level, 0);
    Sha256 again;
    result.source_bytes =
        ReadFileBlocks(path, cancelled, name, [&](const uint8_t* data, size_t size) {
          again.Update(data, size);
          zstd.Write(data, size);
        });
    if (again.HexDigest() != result.sha256)
      throw Error(ErrorKind::kCorrupt, "WAL file \"" + name + "\" changed while it was archived",
                  "PostgreSQL does not change a file it asks to archive.");
    ThrowIfCancelled(cancelled, name);
    zstd.Finish();
    result.stored_bytes = stored.bytes();
  } catch (...) {
    writer->Abort();
    throw;
  }
  return result;
}

}  // namespace pgbak
