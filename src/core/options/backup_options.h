// backup_options.h: the options of one backup, validated before queueing.
//
// pgbak_run(..., options jsonb) arrives here as JSON text. Unknown keys and
// wrong types are rejected with a message naming the key, so nothing is
// queued with an option that would be silently ignored.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/json.h"

namespace pgbak {

// QualifiedName is a table or schema name as PostgreSQL stores it (case and
// punctuation exact); schema is empty for an unqualified table name.
struct QualifiedName {
  std::string schema;
  std::string name;
  bool operator==(const QualifiedName& other) const {
    return schema == other.schema && name == other.name;
  }
};

// ParseQualifiedName reads SQL identifier syntax: "a.b", "\"My.Table\"",
// "Public.\"x\"\"y\"". Unquoted parts are folded to lower case (ASCII), quoted
// parts are exact with "" as an escaped quote. With allow_schema false the text
// must be a single identifier. Throws kInvalidParameter on empty parts, stray
// quotes, more than two parts or parts longer than 63 bytes.
QualifiedName ParseQualifiedName(std::string_view text, bool allow_schema);

// ExactPattern renders a name as a pg_dump pattern that matches exactly that
// name: every part double-quoted, so '*', '?', '.' and capitals are literal.
// An unqualified table matches that table name in every schema ("*"."name");
// DumpArguments excludes the system schemas' tables again.
std::string ExactPattern(const QualifiedName& name);

// IsSystemSchema says whether a schema belongs to PostgreSQL: pg_catalog,
// pg_toast, the other pg_ schemas (CREATE SCHEMA refuses that prefix) and
// information_schema. Selections never reach into them.
bool IsSystemSchema(const std::string& schema);

// CheckNotSystem throws kInvalidParameter if name is in (or, for a schema
// list, is) a system schema; option is e.g. "backup option \"tables\"".
void CheckNotSystem(const QualifiedName& name, bool schema_list, const std::string& option);

// QuoteIdentifier double-quotes one SQL name part ("a""b" for a"b), as SQL
// sent to the server needs it whatever the name is.
std::string QuoteIdentifier(const std::string& part);

// BackupOptions are the validated options of pgbak_run.
struct BackupOptions {
  std::string format = "custom";  // "custom" or "plain"
  bool schema_only = false;
  bool data_only = false;
  std::vector<QualifiedName> tables;
  std::vector<QualifiedName> exclude_tables;
  std::vector<QualifiedName> schemas;  // only .name is used
  std::vector<QualifiedName> exclude_schemas;
  std::optional<int> zstd_level;  // default: the pgbak.zstd_level setting
  // lock_wait_timeout_seconds: how long pg_dump may wait for each table's
  // lock (0: as long as it takes); default: pgbak.lock_wait_timeout.
  std::optional<int> lock_wait_timeout_seconds;
  // jobs: how many streams export the data in one snapshot (see
  // core/archive/export_plan.h); default: pgbak.dump_jobs. More than one
  // applies to custom-format backups with data only.
  std::optional<int> jobs;

  // ToJson is the normalized form stored in backup_log.options.
  json::Value ToJson() const;
  // SelectsData says whether "tables" or "schemas" choose which tables'
  // data the set holds. Such a set still carries the definitions of the
  // whole database (every schema, type, function, table, ...), so that it
  // restores into an empty database: the selection only leaves out other
  // tables' data (ExcludedDataArguments) and large objects. A data-only
  // backup has no definitions to carry and selects with -t/-n.
  bool SelectsData() const { return !data_only && (!tables.empty() || !schemas.empty()); }
  // DumpArguments are pg_dump's selection and format arguments for these
  // options (-Fc or -Fp, --schema-only, -T/-N with exact patterns, and -t/-n
  // for a data-only selection). With -t, every table of a system schema is
  // excluded again, so that an unqualified name selects tables of user
  // schemas only.
  std::vector<std::string> DumpArguments() const;
  // ExcludedDataArguments are the --exclude-table-data arguments that keep
  // out the data of every relation of relations (the tables and
  // materialized views whose data pg_dump would dump, as schema and name)
  // that IncludesTableData leaves out; empty unless SelectsData(). A schema
  // none of whose relations is included is excluded as one pattern
  // ("s".*), which keeps the command line short, unless it is in
  // schemas_with_sequences: the pattern would leave out its sequences'
  // values, which a selected table may draw from.
  std::vector<std::string> ExcludedDataArguments(
      const std::vector<std::pair<std::string, std::string>>& relations,
      const std::set<std::string>& schemas_with_sequences = {}) const;
  // IncludesTableData says whether a table's data is in the dump, mirroring the
  // arguments above; used to pick the tables whose rows the manifest counts.
  bool IncludesTableData(const std::string& schema, const std::string& table) const;
};

// ParseBackupOptions validates a JSON object of options; throws
// kInvalidParameter naming the offending key, with a hint listing valid keys,
// and kLimitExceeded past the limits below.
BackupOptions ParseBackupOptions(std::string_view json_text);

// Limits of one request, checked before anything is queued. pg_dump 15 takes
// its table and schema selection only as arguments (a file of patterns,
// --filter, is PostgreSQL 17), and the kernel refuses to start a program
// whose arguments and environment pass ARG_MAX (at least 128 KiB): with
// these limits every pg_dump and pg_restore command line of a valid request
// stays under 100 KiB (backup_options_test.cpp checks the worst case).
//
// kMaxOptionsBytes bounds the options object as JSON text (backup, job and
// restore options).
constexpr size_t kMaxOptionsBytes = 64 * 1024;
// kMaxSelectedNames bounds the names of one request: tables,
// exclude_tables, schemas and exclude_schemas together.
constexpr size_t kMaxSelectedNames = 1000;

// CheckOptionsSize throws kLimitExceeded if json_text is longer than
// kMaxOptionsBytes; what is "backup", "job" or "restore".
void CheckOptionsSize(std::string_view json_text, const char* what);

// CheckSelectedNameCount throws kLimitExceeded if count names are more than
// kMaxSelectedNames; what is "backup" or "restore", lists names the options
// that were counted.
void CheckSelectedNameCount(size_t count, const char* what, const char* lists);

// kMaxLockWaitTimeoutSeconds bounds lock_wait_timeout (one day; pg_dump
// sets it as statement_timeout, in milliseconds of an int).
constexpr int kMaxLockWaitTimeoutSeconds = 86400;

// ParseJobs reads option "jobs" (of what: "backup", "restore"), an
// integer 1..max; throws kInvalidParameter naming it otherwise.
int ParseJobs(const json::Value& value, const char* what, int max);

// kMaxDumpJobs bounds "jobs" (and pgbak.dump_jobs): each stream is a
// server backend and a thread of the worker.
constexpr int kMaxDumpJobs = 32;

// kMinZstdLevel..kMaxZstdLevel is the accepted zstd_level range.
constexpr int kMinZstdLevel = 1;
constexpr int kMaxZstdLevel = 19;

}  // namespace pgbak
