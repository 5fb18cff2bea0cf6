// recover_options.cpp: parsing and normalizing pgbak_recover's options.
#include "core/options/recover_options.h"

#include <string>

#include "core/base/error.h"
#include "core/options/restore_options.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

constexpr const char* kValidKeysHint =
    "Valid recover options are: tables (an array of table names, at least one) and "
    "into_schema (a new schema of the database; default pgbak_recovered_<operation id>).";

[[noreturn]] void Refuse(const std::string& message, const std::string& hint = kValidKeysHint) {
  throw Error(ErrorKind::kInvalidParameter, message, std::string(), hint);
}

}  // namespace

std::string DefaultRecoverSchema(int64_t operation_id) {
  return "pgbak_recovered_" + std::to_string(operation_id);
}

json::Value RecoverOptions::ToJson() const {
  RestoreOptions restore;
  restore.tables = tables;
  restore.into_schema = into_schema;
  json::Value normalized = restore.ToJson();
  json::Value object = json::Value::Object();
  for (const char* key : {"tables", "into_schema"})
    if (const json::Value* value = normalized.Find(key))
      object.Set(key, *value);
  return object;
}

RecoverOptions ParseRecoverOptions(std::string_view json_text) {
  CheckOptionsSize(json_text, "recover");
  json::Value root;
  try {
    root = json::Parse(json_text);
  } catch (const Error& error) {
    throw Error(ErrorKind::kInvalidParameter, "invalid recover options", error.what(),
                kValidKeysHint);
  }
  if (root.type() != json::Type::kObject)
    Refuse(std::string("recover options must be a JSON object, not ") + root.TypeName());
  json::Value selection = json::Value::Object();
  for (const auto& [key, value] : root.AsObject()) {
    if (key == "tables" || key == "into_schema") {
      selection.Set(key, value);
    } else if (key == "target_database") {
      Refuse("recover option \"target_database\" is not available in this version",
             "Recover the tables you need with \"tables\", or the whole cluster with pgbak "
             "restore-cluster (README, \"Point-in-time recovery\") and copy the database from "
             "it with pg_dump.");
    } else if (key == "target_time") {
      Refuse("\"target_time\" is pgbak_recover's second argument, not an option");
    } else {
      Refuse("unknown recover option " + json::Quote(key));
    }
  }
  const json::Value* tables = selection.Find("tables");
  if (tables == nullptr || tables->type() != json::Type::kArray || tables->AsArray().empty())
    Refuse("recover option \"tables\" must name at least one table");
  // The names are read as pgbak_restore reads them.
  RestoreOptions restore;
  try {
    restore = ParseRestoreOptions(selection.Serialize());
  } catch (const Error& e) {
    std::string message = e.what();
    size_t at = message.find("restore option");
    if (at != std::string::npos)
      message.replace(at, 14, "recover option");
    throw Error(ErrorKind::kInvalidParameter, message, e.detail(), kValidKeysHint);
  }
  RecoverOptions options;
  options.tables = restore.tables;
  options.into_schema = restore.into_schema;
  return options;
}

}  // namespace pgbak
