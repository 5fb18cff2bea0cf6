// wal_get.h: restoring one archived WAL file for PostgreSQL's
// restore_command (pgbak wal-get), and fetching the next ones ahead.
//
// The object of a name is found by one listing of its prefix (its
// checksum is in its key, wal_layout.h); it is decrypted, decompressed and
// checked against that checksum while it is written to a temporary file
// beside the destination, which is fsynced and renamed into place only
// when it matched: PostgreSQL never sees a partial or damaged file under
// the name it asked for.
//
// Prefetch: PostgreSQL asks for one file at a time and waits for it. After
// a segment, the next ones on its timeline are fetched in parallel threads
// into a cache directory (a subdirectory per system identifier, so that
// no other cluster's entry is served), bounded in entries, named
// <file>-<sha256>; the next call takes its file from there, after hashing
// it again against the checksum its name carries (a stale, damaged or
// half-written entry is removed, never served).
//
// Temporary files are named .pgbak-wal-get-<pid>-XXXXXX: one whose
// process no longer runs (killed while writing) is removed by the next
// call (RemoveDeadTemporaries), never one another process is writing.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/crypto/age.h"
#include "core/storage/storage.h"
#include "core/wal/wal_layout.h"

namespace pgbak {

// SelectWalObject picks the object to restore name from among the objects
// stored under it (WalObjectsOf): false if there is none; one of them if
// all hold the same content (an encrypted and a plain copy); kCorrupt if
// they hold different contents, which archiving never stores (another
// cluster with the same system identifier wrote to this archive).
bool SelectWalObject(const std::vector<WalObject>& objects, const std::string& name,
                     WalObject& chosen);

// FindWalObject lists name's prefix in the archive of system_identifier and
// selects its object (see SelectWalObject).
bool FindWalObject(Storage& storage, const std::string& system_identifier, const std::string& name,
                   WalObject& chosen);

// RemoveDeadTemporaries removes from directory the temporary files of
// processes that no longer run.
void RemoveDeadTemporaries(const std::string& directory);

// RestoreWalFile writes object's content, decrypted with identities and
// decompressed, to path atomically (a temporary file in path's directory,
// fsync, rename, fsync of the directory); returns its size. Throws kCorrupt
// (naming the file and the object) when the object does not decrypt,
// decompress or match its checksum, kInvalidParameter when it is encrypted
// and no identity opens it, and the storage's and the file system's errors.
uint64_t RestoreWalFile(Storage& storage, const WalObject& object,
                        const std::vector<AgeIdentity>& identities, const std::string& path);

// ReadWalFile is object's content (a small file: a timeline history),
// decrypted, decompressed and checked as RestoreWalFile does; kCorrupt if
// it is longer than limit bytes.
std::string ReadWalFile(Storage& storage, const WalObject& object,
                        const std::vector<AgeIdentity>& identities, size_t limit);

// NextSegmentNames lists the count segments after segment (a 24-hex-digit
// name) on its timeline, for segments of segment_size bytes.
std::vector<std::string> NextSegmentNames(const std::string& segment, uint64_t segment_size,
                                          size_t count);

// IsWalSegmentSize says whether size can be a WAL segment's (a power of two
// from 1 MiB to 1 GiB).
bool IsWalSegmentSize(uint64_t size);

// kWalPrefetchDirectory is where wal-get caches by default: this directory
// beside the path PostgreSQL asks for (pg_wal/pgbak_prefetch).
constexpr const char* kWalPrefetchDirectory = "pgbak_prefetch";

// WalPrefetchCache is the cache directory of prefetched WAL files.
class WalPrefetchCache {
 public:
  // The entries of system_identifier's archive are in
  // directory/system_identifier, created (0700) when first filled.
  WalPrefetchCache(const std::string& directory, const std::string& system_identifier);
  // Take moves name's entry to path if its content still has the SHA-256
  // its name carries (on another file system, copies it, checked again);
  // a damaged or stale entry is removed. False if nothing was served.
  bool Take(const std::string& name, const std::string& path);
  // Cached is how many of names have an entry.
  size_t Cached(const std::vector<std::string>& names) const;
  // Fill removes every entry not of names and dead processes'
  // temporaries, then fetches those of names without one, in up to threads
  // threads (all signals blocked), each with a storage of its own from
  // open_storage. Best effort: a file that is missing or fails is left out
  // (the call that needs it fetches it and reports why).
  void Fill(const std::vector<std::string>& names, int threads,
            const std::function<std::unique_ptr<Storage>()>& open_storage,
            const std::vector<AgeIdentity>& identities);

 private:
  std::vector<std::string> Entries() const;
  std::string parent_;
  std::string directory_;
  std::string system_identifier_;
};

}  // namespace pgbak
