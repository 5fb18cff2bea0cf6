// restore_options.h: the options of pgbak_restore, validated before queueing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/base/json.h"
#include "core/options/backup_options.h"

namespace pgbak {

// RestoreOptions are the validated options of one restore.
struct RestoreOptions {
  // clean: drop and recreate the target database if it exists (whole-set
  // restores only).
  bool clean = false;
  // tables and schemas: restore only these into an existing database.
  std::vector<QualifiedName> tables;
  std::vector<QualifiedName> schemas;  // only .name is used
  // jobs: parallel pg_restore workers (custom format only).
  int jobs = 1;
  // into_schema: restore the selection into this new schema of the target
  // database instead of its own (empty: where it was). With "schemas", one
  // schema only.
  std::string into_schema;
  // allow_superuser_code: load objects a superuser owns even when their
  // constraints, defaults, indexes or triggers use another role's code,
  // which then runs with superuser rights (pgbak_admin only; see
  // core/archive/superuser_code.h). Also lets a plain-format script that
  // hands objects to other roles run as the superuser it runs as.
  bool allow_superuser_code = false;
  // globals: first create the roles of the set's globals.sql that this
  // server lacks, with their attributes, settings, comments and
  // memberships (pgbak_admin only); existing roles are left as they are.
  bool globals = false;

  // partial says whether only some tables or schemas are restored.
  bool partial() const { return !tables.empty() || !schemas.empty(); }
  // ToJson is the normalized form stored in backup_log.options.
  json::Value ToJson() const;
  // SelectionArguments are pg_restore's selection arguments for one schema
  // group: "--schema=S" and "--table=T" (pg_restore matches names exactly).
  // Tables are grouped by schema because pg_restore ANDs -n with -t;
  // unqualified tables form the group with an empty schema.
  std::vector<std::vector<std::string>> SelectionArgumentGroups() const;
};

// kMaxRestoreJobs bounds "jobs".
constexpr int kMaxRestoreJobs = 32;

// ParseRestoreOptions validates a JSON object of restore options; throws
// kInvalidParameter naming the offending key, with a hint listing the valid
// keys. "clean" cannot be combined with "tables" or "schemas" (it would drop
// the database the tables are restored into); "into_schema" needs "tables"
// or exactly one of "schemas", not both.
RestoreOptions ParseRestoreOptions(std::string_view json_text);

}  // namespace pgbak
