// recover_options.h: the options of pgbak_recover, validated before queueing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/base/json.h"
#include "core/options/backup_options.h"

namespace pgbak {

// RecoverOptions are the validated options of one point-in-time recovery
// of tables: which tables of the database, as they were at the target
// time, come back into which new schema of the live database.
struct RecoverOptions {
  std::vector<QualifiedName> tables;  // tables mode: at least one
  // into_schema: the new schema of the live database the tables are
  // created in (empty: pgbak_recovered_<operation id>).
  std::string into_schema;
  // target_database: the whole database as it was, as this new database
  // (instead of tables).
  std::string target_database;

  // ToJson is the normalized form stored in backup_log.options (with the
  // target time, which the caller adds).
  json::Value ToJson() const;
};

// DefaultRecoverSchema is the schema a recovery without into_schema uses.
std::string DefaultRecoverSchema(int64_t operation_id);

// ParseRecoverOptions validates a JSON object of recover options: either
// "tables" (an array of table names, "schema.table" or "table" of any
// schema, as for pgbak_restore) with "into_schema" (a new schema's name,
// not a system one), or "target_database" (a database name, 1 to 63
// bytes, for the whole database as a new one). "target_time" is the
// function's argument, not an option. Throws kInvalidParameter (and
// kNameTooLong for a name over 63 bytes) naming the key, with a hint
// listing the valid keys.
RecoverOptions ParseRecoverOptions(std::string_view json_text);

}  // namespace pgbak
