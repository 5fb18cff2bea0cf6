// disk_space.h: a local storage never fills the disk PostgreSQL needs, and a
// full disk says which storage it was.
//
// A local storage (pgbak.local_path, or a file:// storage) may live on a
// file system PostgreSQL writes to: the default pgbak.local_path sits beside
// the data directory. There, a backup is refused before it starts unless the
// file system keeps pgbak.local_reserve free after taking the database's
// size (pg_database_size: more than a compressed dump needs, never less
// than a plain one of data that does not compress), and its writes stop at
// that reserve whatever the estimate said. A restore's staging copy, below
// pgbak.local_path, is checked in the same way before anything is created.
//
// Include after postgres.h.
#pragma once

#include <cstdint>
#include <string>

#include "core/base/error.h"
#include "core/storage/storage.h"

namespace pgbak {

// GuardBackupSpace prepares storage (storage_name's driver) for backup id
// of database: a storage that is not local, or not on one of PostgreSQL's
// file systems, or with pgbak.local_reserve at -1, is left alone; otherwise
// the backup is refused (kDiskFull, with detail and hint) unless it fits
// with the reserve to spare, and the storage's writers are told to keep the
// reserve free. Call in a transaction.
void GuardBackupSpace(Storage& storage, const std::string& storage_name, int64_t id,
                      const std::string& database);

// GuardCopySpace is GuardBackupSpace for copy id of a set of database that
// stores bytes: the estimate is the set's size.
void GuardCopySpace(Storage& storage, const std::string& storage_name, int64_t id,
                    const std::string& database, uint64_t bytes);

// GuardBaseBackupSpace is GuardBackupSpace for base backup id of the whole
// cluster: the estimate is the cluster's size, cluster_bytes.
void GuardBaseBackupSpace(Storage& storage, const std::string& storage_name, int64_t id,
                          uint64_t cluster_bytes);

// CheckStagingSpace refuses (kDiskFull, naming the storage "local") to stage
// bytes of what (for the detail) below root (pgbak.local_path) for backup
// id unless they fit with a tenth to spare, and, on one of PostgreSQL's file
// systems, with pgbak.local_reserve to spare.
void CheckStagingSpace(const std::string& root, int64_t id, uint64_t bytes,
                       const std::string& what = "the backup's data object decompressed");

// ThrowNamingStorage throws cause, a kDiskFull error of writes to
// storage_name, as one that names the storage ("no space left in storage
// \"x\" " + purpose, e.g. "for backup 7") and says what to do; the cause
// becomes the detail.
[[noreturn]] void ThrowNamingStorage(const Error& cause, const std::string& storage_name,
                                     const Storage& storage, const std::string& purpose);

}  // namespace pgbak
