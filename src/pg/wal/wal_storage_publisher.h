// wal_storage_publisher.h: the launcher's side of the archiver's storage
// file (core/wal/wal_storage_file.h).
//
// Include after postgres.h.
#pragma once

namespace pgbak {

// PublishWalStorage writes the definition of the storage pgbak.wal_storage
// names (with its secrets) to pg_stat_tmp/pgbak_wal_storage.json in the data directory
// when it differs from what is there. Nothing for '' or 'local'. A storage
// that is not defined leaves the file as it is (the archiver then refuses
// to use a file naming another storage) and is logged once per name.
// Runs in the launcher, in a transaction with SPI connected.
void PublishWalStorage();

}  // namespace pgbak
