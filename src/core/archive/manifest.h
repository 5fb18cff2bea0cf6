// manifest.h: the manifest.json of a backup set, its commit marker.
//
// The manifest is written last: a set without one is incomplete by
// definition. It records what a restore needs to trust the set without this
// extension: each object's size, SHA-256, compression and encryption, and the
// per-table row counts taken in the dump's own snapshot.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pgbak {

// ManifestObject is one stored object of the set.
struct ManifestObject {
  std::string name;         // relative to the set, e.g. "data.dump.zst"
  std::string role;         // "data", "globals", "tables" or "table_data"
  uint64_t size = 0;        // stored bytes
  uint64_t raw_size = 0;    // bytes before compression and encryption
  std::string sha256;       // of the stored bytes, lowercase hex
  std::string compression;  // "zstd"
  std::string encryption;   // "none" or "age"
};

// TableCount is one table's row count in the dump's snapshot.
struct TableCount {
  std::string schema;
  std::string table;
  int64_t rows = 0;
  // object names the "table_data" object that holds this table's COPY text
  // (a backup with jobs > 1); empty: its data is in the data object.
  std::string object;
  // columns are, for a table with an object, the columns of its COPY text
  // in their order, as the backup's snapshot had them (not quoted): a
  // restored table may order its columns otherwise (an inheritance child
  // whose parent gained a column), so its rows are loaded with this list.
  std::vector<std::string> columns;
};

// BaseBackupFacts is what the manifest of a physical base backup says
// about the WAL it needs (see base_layout.h); a logical set has none.
struct BaseBackupFacts {
  std::string start_lsn;  // "0/2000028"
  std::string end_lsn;
  int64_t timeline = 0;
  std::string wal_first_segment;
  std::string wal_last_segment;
  bool wal_archived = false;  // false: archive_mode was off
  uint64_t bad_checksums = 0;
};

// Manifest is the whole document.
struct Manifest {
  static constexpr int kFormatVersion = 1;
  // kPiecesFormatVersion is the format of a set in which one table's rows
  // are in several objects (a parallel export's pieces, see
  // export_plan.h): a reader that knows only format 1 would load one piece
  // and call the table restored, so it refuses the set instead.
  static constexpr int kPiecesFormatVersion = 2;
  int format_version = kFormatVersion;
  std::string tool;  // "pgbak_ext 1.0"
  int64_t backup_id = 0;
  std::string database;
  std::string system_identifier;
  std::string server_version;
  std::string dump_format;  // "custom" or "plain"
  std::string started_at;   // ISO 8601 UTC, e.g. 2026-11-22T01:02:03.456Z
  std::string finished_at;
  std::string snapshot_lsn;  // pg_current_wal_lsn() in the dump's snapshot
  // The database's owner when it was dumped; "" in sets made before 1.3.
  std::string database_owner;
  // The database's encoding, locale, grants, settings and comment as a JSON
  // object (see database_properties.h); "" in sets made before 1.3.
  std::string database_properties_json;
  std::string options_json;  // the normalized backup options, as JSON
  std::vector<ManifestObject> objects;
  std::vector<TableCount> tables;
  // age_recipients are the public keys the objects are encrypted to (empty
  // if they are not): which identity a restore needs. Never a secret.
  std::vector<std::string> age_recipients;
  // kind is "base" for a physical base backup (database "", dump_format
  // "tar", base set), "" for a logical set, whose manifest has no "kind"
  // (as before 1.6).
  std::string kind;
  BaseBackupFacts base;

  // ToJson serializes with stable key order and two-space indentation.
  std::string ToJson() const;
  // FromJson parses and validates; throws kCorrupt naming what is wrong.
  static Manifest FromJson(std::string_view text);
};

// FormatVersionFor is the format_version of a manifest whose tables (in
// the manifest or in tables.json.age) are these: kPiecesFormatVersion if a
// table is listed more than once, else kFormatVersion.
int FormatVersionFor(const std::vector<TableCount>& tables);

// CheckTablePieces throws kCorrupt unless every table listed more than once
// has its rows in an object each time (pieces, never rows in the archive
// as well) and format_version allows pieces, and no object is named by two
// entries.
void CheckTablePieces(const std::vector<TableCount>& tables, int format_version);

// RowsPerTable is tables with a table's pieces summed into one entry (in
// the order of first appearance; object and columns are the first
// piece's): what a restored table must hold.
std::vector<TableCount> RowsPerTable(const std::vector<TableCount>& tables);

// TablesToJson and TablesFromJson are the row counts as a document of their
// own: an encrypted set stores them encrypted (tables.json.age), since
// table names are data too, and its manifest's "tables" is then empty.
std::string TablesToJson(const std::vector<TableCount>& tables);
std::vector<TableCount> TablesFromJson(std::string_view text);

}  // namespace pgbak
