// wal_layout.h: where archived WAL files live in a storage, and their names.
//
// Layout (DESIGN.md, capability 16), below the storage's root (a directory,
// or s3://bucket/prefix):
//
//   <system identifier>/wal/<timeline, 8 hex>/<file name>-<sha256>.zst[.age]
//
// <file name> is the name PostgreSQL archives (a segment, a .history, a
// .backup or a .partial file) and <sha256> the 64 lowercase hex digits of
// the SHA-256 of its uncompressed content. The checksum is part of the key,
// as pgBackRest does it, so that an object and its checksum appear together
// in one atomic write: there is no index to keep in step, and whether a
// name is already archived (and with what content) is one listing of the
// prefix "<...>/<file name>-". Base backups will sit beside it, under
// <system identifier>/base/.
#pragma once

#include <string>
#include <vector>

namespace pgbak {

// IsArchivableWalName says whether name is a file PostgreSQL archives:
// a segment (24 uppercase hex digits), a timeline history file (8 hex +
// ".history"), a backup history file (24 hex + "." + 8 hex + ".backup") or a
// partial segment (24 hex + ".partial").
bool IsArchivableWalName(const std::string& name);

// WalTimeline is the timeline part of an archivable name (its first 8 hex
// digits).
std::string WalTimeline(const std::string& name);

// WalDirectory is "<system identifier>/wal".
std::string WalDirectory(const std::string& system_identifier);

// WalObjectPrefix is the key prefix every object of name starts with:
// "<system identifier>/wal/<timeline>/<name>-". Throws kInvalidParameter
// for a name that is not archivable.
std::string WalObjectPrefix(const std::string& system_identifier, const std::string& name);

// WalObjectKey is the full key of name's object with content sha256_hex.
std::string WalObjectKey(const std::string& system_identifier, const std::string& name,
                         const std::string& sha256_hex, bool encrypted);

// WalObject is a key of the layout, taken apart.
struct WalObject {
  std::string key;
  std::string name;    // the WAL file's name
  std::string sha256;  // of the uncompressed content
  bool encrypted = false;
};

// ParseWalObjectKey takes a key below WalDirectory apart; false if key is
// not an archived WAL file's object (another object, a foreign file).
bool ParseWalObjectKey(const std::string& key, WalObject& object);

// WalObjectsOf keeps those of listed keys that are objects of name (the
// keys a listing of WalObjectPrefix returned).
std::vector<WalObject> WalObjectsOf(const std::vector<std::string>& listed_keys,
                                    const std::string& name);

}  // namespace pgbak
