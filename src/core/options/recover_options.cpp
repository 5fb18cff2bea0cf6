// recover_options.cpp: parsing and normalizing pgbak_recover's options.
#include "core/options/recover_options.h"

#include <string>

#include "core/base/error.h"
#include "core/options/restore_options.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

constexpr const char* kValidKeysHint =
    "Valid recover options are: tables (an array of table names, at least one) with "
    "into_schema (a new schema of the database; default pgbak_recovered_<operation id>), or "
    "target_database (the whole database as a new database of that name).";

[[noreturn]] void Refuse(const std::string& message, const std::string& hint = kValidKeysHint) {
  throw Error(ErrorKind::kInvalidParameter, message, std::string(), hint);
}

}  // namespace

std::string DefaultRecoverSchema(int64_t operation_id) {
  return "pgbak_recovered_" + std::to_string(operation_id);
}

json::Value RecoverOptions::ToJson() const {
  if (!target_database.empty()) {
    json::Value object = json::Value::Object();
    object.Set("target_database", json::Value::String(target_database));
    return object;
  }
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
  std::string target_database;
  for (const auto& [key, value] : root.AsObject()) {
    if (key == "tables" || key == "into_schema") {
      selection.Set(key, value);
    } else if (key == "target_database") {
      if (value.type() != json::Type::kString || value.AsString().empty() ||
          value.AsString().find('\0') != std::string::npos)
        Refuse("recover option \"target_database\" must be a database name, not " +
               value.Serialize());
      if (value.AsString().size() > 63)
        throw Error(ErrorKind::kNameTooLong,
                    "recover option \"target_database\" is longer than 63 bytes", std::string(),
                    "PostgreSQL keeps 63 bytes of a database name.");
      target_database = value.AsString();
    } else if (key == "target_time") {
      Refuse("\"target_time\" is pgbak_recover's second argument, not an option");
    } else {
      Refuse("unknown recover option " + json::Quote(key));
    }
  }
  if (!target_database.empty()) {
    if (selection.Find("tables") != nullptr || selection.Find("into_schema") != nullptr)
      Refuse("recover option \"target_database\" excludes \"tables\" and \"into_schema\"");
    RecoverOptions whole;
    whole.target_database = target_database;
    return whole;
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
