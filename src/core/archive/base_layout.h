// base_layout.h: where a physical base backup lives, what its objects are
// called, and the WAL it needs.
//
// Layout: <prefix>/<system identifier>/base/<UTC time>-<id>/ holding one tar
// per tablespace (base.tar.zst, <tablespace oid>.tar.zst), PostgreSQL's own
// backup_manifest.zst, each with ".age" when encrypted, and manifest.json,
// written last as the commit marker, as in a logical set (set_layout.h).
#pragma once

#include <cstdint>
#include <ctime>
#include <string>

namespace pgbak {

// kBaseDirectory is the component between the system identifier and the
// set's own directory.
constexpr const char* kBaseDirectory = "base";
// kBaseManifestObject is PostgreSQL's backup_manifest, compressed.
constexpr const char* kBaseManifestObject = "backup_manifest.zst";

// BaseSetDirectory is the key of a base backup's directory, e.g.
// "7301234567890123456/base/20261122T010203Z-42".
std::string BaseSetDirectory(const std::string& system_identifier, std::time_t started_utc,
                             int64_t backup_id);

// BaseArchiveObject is the stored name of the tar archive PostgreSQL calls
// archive_name ("base.tar", "16385.tar"), without the age suffix; throws
// kCorrupt for any other name, which the server never sends.
std::string BaseArchiveObject(const std::string& archive_name);

// IsBaseSetObject says whether name is one of the objects a base backup may
// hold (tars, backup_manifest, manifest; each also with the age suffix).
bool IsBaseSetObject(const std::string& name);

// ParseLsn reads PostgreSQL's text form of an LSN ("16/B374D848"); throws
// kCorrupt on anything else.
uint64_t ParseLsn(const std::string& text);

// FormatLsn renders an LSN as PostgreSQL does ("16/B374D848").
std::string FormatLsn(uint64_t lsn);

// WalSegmentName is the file name of the WAL segment on timeline that
// holds lsn, for segments of segment_size bytes (a power of two between
// 1 MB and 1 GB), as PostgreSQL's XLogFileName renders it.
std::string WalSegmentName(uint32_t timeline, uint64_t lsn, uint64_t segment_size);

// WalRange is the WAL a base backup needs to be consistent: every segment
// from the one holding start_lsn (on start_timeline) to the one holding the
// last byte before end_lsn (on end_timeline), PostgreSQL's own rule in
// do_pg_backup_stop. Throws kCorrupt unless end_lsn is after start_lsn.
struct WalRange {
  std::string first_segment;
  std::string last_segment;
};
WalRange BackupWalRange(uint32_t start_timeline, uint64_t start_lsn, uint32_t end_timeline,
                        uint64_t end_lsn, uint64_t segment_size);

// WalSegmentReached says whether archived, the name pg_stat_archiver
// reports as last archived (a segment, or a ".history", ".partial" or
// ".backup" file named after one), is at or past segment: the archiver
// archives segments in order, so everything up to it is archived.
bool WalSegmentReached(const std::string& archived, const std::string& segment);

}  // namespace pgbak
