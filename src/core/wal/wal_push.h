// wal_push.h: storing one WAL file, as archive_library's callback must.
//
// A file is read from pg_wal, hashed, compressed with zstd and, when the
// storage has recipients, encrypted with age, into the object the layout
// names (wal_layout.h). PushWalFile returns only once the storage says the
// object is durable (local: fsynced and renamed; S3: the PUT or the
// CompleteMultipartUpload answered 200), which is when PostgreSQL may be
// told that the file is archived. A file already archived with the same
// content succeeds without a write; a file already archived with other
// content fails, naming both checksums, and keeps failing: nothing
// archived is ever overwritten.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/crypto/age.h"
#include "core/storage/storage.h"
#include "core/wal/wal_layout.h"

namespace pgbak {

// WalPushSettings is what every push of one archiver shares.
struct WalPushSettings {
  std::string system_identifier;
  std::vector<AgeRecipient> recipients;  // none: not encrypted
  int zstd_level = 3;
};

// ArchivedState is what a storage already holds under a WAL file's name.
enum class ArchivedState { kAbsent, kSame, kDifferent };

// ArchivedCheck is CheckArchived's verdict, with the object that decided it.
struct ArchivedCheck {
  ArchivedState state = ArchivedState::kAbsent;
  WalObject object;  // the matching object (kSame) or a conflicting one
};

// CheckArchived decides from the objects stored under a name (WalObjectsOf)
// whether content with sha256_hex is absent, already there (any object with
// that checksum, encrypted or not), or conflicts with another content.
ArchivedCheck CheckArchived(const std::vector<WalObject>& objects, const std::string& sha256_hex);

// WalPushResult says what a push did.
struct WalPushResult {
  bool already_archived = false;  // identical content was stored before
  std::string key;
  std::string sha256;
  uint64_t source_bytes = 0;
  uint64_t stored_bytes = 0;  // 0 when already archived
};

// Sha256OfFile hashes a whole file; throws kIo naming the path.
// cancelled (if set) is polled between blocks and stops with kCancelled.
std::string Sha256OfFile(const std::string& path, const std::function<bool()>& cancelled = {});

// PushWalFile archives the file at path under name (its name in pg_wal).
// Throws kInvalidParameter for a name PostgreSQL would not archive, kCorrupt
// when another content is archived under name (message naming the file,
// detail giving both checksums) or when the file changed while it was read,
// kCancelled when cancelled returned true, and the storage's errors. Nothing
// is stored under name unless the whole object was written.
WalPushResult PushWalFile(Storage& storage, const WalPushSettings& settings,
                          const std::string& name, const std::string& path,
                          const std::function<bool()>& cancelled = {});

}  // namespace pgbak
