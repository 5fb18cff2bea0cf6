// set_layout.h: where the objects of a backup set live, and their names.
//
// Layout (DESIGN.md): <prefix>/<system identifier>/<database>/<UTC time>-<id>/
// holding data.dump.zst, globals.sql.zst and manifest.json (written last).
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

namespace pgbak {

constexpr const char* kDataObjectCustom = "data.dump.zst";
constexpr const char* kDataObjectPlain = "data.sql.zst";
constexpr const char* kGlobalsObject = "globals.sql.zst";
constexpr const char* kManifestObject = "manifest.json";
// kTablesObject holds the row counts of an encrypted set (encrypted).
constexpr const char* kTablesObject = "tables.json";
// kTableDataRole is the manifest role of a table's COPY text stored as an
// object of its own (backup option "jobs" > 1; see export_plan.h).
constexpr const char* kTableDataRole = "table_data";
// kAgeSuffix ends the name of an object encrypted with age.
constexpr const char* kAgeSuffix = ".age";

// SetDirectory is the key of a set's directory (no trailing slash), e.g.
// "7301234567890123456/myapp/20261122T010203Z-42". The database name is
// encoded with PathComponent so any name is one safe component.
std::string SetDirectory(const std::string& system_identifier, const std::string& database,
                         std::time_t started_utc, int64_t backup_id);

// IsSetKey says whether key is the directory of backup_id's set, as
// SetDirectory makes it: three components, none empty, "." or "..", the
// last ending in "-<backup_id>". A location read back from backup_log is
// checked with it before anything is read or removed there.
bool IsSetKey(int64_t backup_id, const std::string& key);

// SplitKey cuts a storage key into its '/'-separated parts ("a//b" has an
// empty middle part).
std::vector<std::string> SplitKey(const std::string& key);

// IsSetObject says whether name is one of the objects a set may hold
// (data, globals, tables, manifest, the table objects of a parallel export;
// each also with the age suffix).
bool IsSetObject(const std::string& name);

// IsTableObject says whether name is a table object's: "table-", at least
// four digits, ".copy.zst", optionally the age suffix (see TableObjectName
// in export_plan.h).
bool IsTableObject(const std::string& name);

// FormatUtcTimestamp renders seconds+microseconds as ISO 8601 UTC with
// milliseconds ("2026-11-22T01:02:03.456Z").
std::string FormatUtcTimestamp(std::time_t seconds, long microseconds);

// ParseUtcTimestamp reads what FormatUtcTimestamp writes, strictly
// ("YYYY-MM-DDTHH:MM:SS", an optional fraction of 1 to 6 digits, "Z"; a
// real calendar date) into microseconds since the Unix epoch; false for
// anything else (a manifest is read, not trusted).
bool ParseUtcTimestamp(const std::string& text, int64_t* microseconds);

}  // namespace pgbak
