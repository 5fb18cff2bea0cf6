// wal_storage_file.h: the storage definition the archiver reads without SQL.
//
// The archiver process has no database connection, and archiving must go on
// while pgbak.database is unreachable, being restored or dropped. The
// launcher therefore publishes the definition of the storage that
// pgbak.wal_storage names (URL, public options and secrets, as
// pgbak_storage and pgbak_storage_secret hold them) in one file in the data
// directory, mode 0600 like the rest of it, replaced atomically (temporary
// file, fsync, rename, fsync of the directory) whenever it changes. Nothing
// of it goes through SQL text, the log or argv on the way.
#pragma once

#include <string>

#include "core/storage/storage_definition.h"

namespace pgbak {

// kWalStorageFileName is the file's path in the data directory. It holds
// the storage's secrets, so it lives in pg_stat_tmp/, whose contents
// PostgreSQL's BASE_BACKUP (pg_basebackup, and our base backups) and
// pg_rewind leave out: no base backup carries it.
constexpr const char* kWalStorageFileName = "pg_stat_tmp/pgbak_wal_storage.json";

// SerializeWalStorage renders a definition as the file's contents:
// {"name": ..., "url": ..., "options": {...}, "secrets": {...}}.
std::string SerializeWalStorage(const StorageDefinition& definition);

// ParseWalStorage reads the file's contents back; throws kCorrupt (never
// quoting the text, which holds secrets) if they are not such an object.
StorageDefinition ParseWalStorage(const std::string& contents);

// ReadWalStorageFile reads the file in directory; returns false if there
// is none, throws kIo or kCorrupt if it cannot be read or parsed.
bool ReadWalStorageFile(const std::string& directory, StorageDefinition& definition);

// WriteWalStorageFile replaces the file in directory with definition,
// durably and atomically, unless it already holds exactly that; returns
// whether it wrote.
bool WriteWalStorageFile(const std::string& directory, const StorageDefinition& definition);

}  // namespace pgbak
