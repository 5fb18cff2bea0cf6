// restore_options.cpp: validation and normal form of pgbak_restore's options.
#include "core/options/restore_options.h"

#include <map>
#include <string>

#include "core/base/error.h"
#include "core/base/json.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

constexpr const char* kValidKeysHint =
    "Valid restore options are: clean, tables, schemas, into_schema, jobs, allow_superuser_code, "
    "globals.";

// NameList reads an array of non-empty SQL names for key.
std::vector<QualifiedName> NameList(const std::string& key, const json::Value& value,
                                    bool allow_schema) {
  if (value.type() != json::Type::kArray)
    throw Error(
        ErrorKind::kInvalidParameter,
        "restore option \"" + key + "\" must be an array of names, not " + value.TypeName());
  std::vector<QualifiedName> names;
  for (const json::Value& item : value.AsArray()) {
    if (item.type() != json::Type::kString || item.AsString().empty())
      throw Error(ErrorKind::kInvalidParameter,
                  "restore option \"" + key + "\" must contain only non-empty names");
    try {
      names.push_back(ParseQualifiedName(item.AsString(), allow_schema));
    } catch (const Error& e) {
      throw Error(
          ErrorKind::kInvalidParameter,
          "invalid name " + json::Quote(item.AsString()) + " in restore option \"" + key + "\"",
          e.detail().empty() ? e.what() : e.detail());
    }
    CheckNotSystem(names.back(), !allow_schema, "restore option \"" + key + "\"");
  }
  if (names.empty())
    throw Error(ErrorKind::kInvalidParameter, "restore option \"" + key +
                                                  "\" must name at least one " +
                                                  (allow_schema ? "table" : "schema"));
  return names;
}

// RenderName renders a name the way a user writes it, quoting when needed.
std::string RenderName(const std::string& part) {
  bool plain = !part.empty() && !(part[0] >= '0' && part[0] <= '9');
  for (char c : part)
    plain = plain && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
  if (plain)
    return part;
  std::string quoted = "\"";
  for (char c : part) {
    if (c == '"')
      quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

}  // namespace

// ToJson is the normalized form: every option, names as written in SQL.
json::Value RestoreOptions::ToJson() const {
  json::Value object = json::Value::Object();
  object.Set("clean", json::Value::Bool(clean));
  if (!tables.empty()) {
    json::Value list = json::Value::Array();
    for (const QualifiedName& name : tables)
      list.Append(json::Value::String(name.schema.empty()
                                          ? RenderName(name.name)
                                          : RenderName(name.schema) + "." + RenderName(name.name)));
    object.Set("tables", list);
  }
  if (!schemas.empty()) {
    json::Value list = json::Value::Array();
    for (const QualifiedName& name : schemas)
      list.Append(json::Value::String(RenderName(name.name)));
    object.Set("schemas", list);
  }
  if (!into_schema.empty())
    object.Set("into_schema", json::Value::String(RenderName(into_schema)));
  object.Set("jobs", json::Value::Number(jobs));
  if (allow_superuser_code)
    object.Set("allow_superuser_code", json::Value::Bool(true));
  if (globals)
    object.Set("globals", json::Value::Bool(true));
  return object;
}

// SelectionArgumentGroups groups tables by schema for pg_restore.
std::vector<std::vector<std::string>> RestoreOptions::SelectionArgumentGroups() const {
  std::vector<std::vector<std::string>> groups;
  if (!schemas.empty()) {
    std::vector<std::string> group;
    for (const QualifiedName& name : schemas)
      group.push_back("--schema=" + name.name);
    groups.push_back(group);
  }
  std::map<std::string, std::vector<std::string>> by_schema;
  for (const QualifiedName& name : tables)
    by_schema[name.schema].push_back(name.name);
  for (const auto& [schema, names] : by_schema) {
    std::vector<std::string> group;
    if (!schema.empty())
      group.push_back("--schema=" + schema);
    for (const std::string& table : names)
      group.push_back("--table=" + table);
    groups.push_back(group);
  }
  return groups;
}

// ParseRestoreOptions validates every key before anything is queued.
RestoreOptions ParseRestoreOptions(std::string_view json_text) {
  CheckOptionsSize(json_text, "restore");
  json::Value root;
  try {
    root = json::Parse(json_text);
  } catch (const Error& error) {
    throw Error(ErrorKind::kInvalidParameter, "invalid restore options", error.what());
  }
  if (root.type() != json::Type::kObject)
    throw Error(ErrorKind::kInvalidParameter,
                std::string("restore options must be a JSON object, not ") + root.TypeName(),
                std::string(), kValidKeysHint);
  RestoreOptions options;
  for (const auto& [key, value] : root.AsObject()) {
    if (key == "clean") {
      if (value.type() != json::Type::kBool)
        throw Error(
            ErrorKind::kInvalidParameter,
            std::string("restore option \"clean\" must be a boolean, not ") + value.TypeName());
      options.clean = value.AsBool();
    } else if (key == "tables") {
      options.tables = NameList(key, value, true);
    } else if (key == "schemas") {
      options.schemas = NameList(key, value, false);
    } else if (key == "allow_superuser_code" || key == "globals") {
      if (value.type() != json::Type::kBool)
        throw Error(
            ErrorKind::kInvalidParameter,
            "restore option " + json::Quote(key) + " must be a boolean, not " + value.TypeName());
      (key == "globals" ? options.globals : options.allow_superuser_code) = value.AsBool();
    } else if (key == "into_schema") {
      if (value.type() != json::Type::kString || value.AsString().empty())
        throw Error(
            ErrorKind::kInvalidParameter,
            "restore option \"into_schema\" must be a schema name, not " + value.Serialize());
      QualifiedName name;
      try {
        name = ParseQualifiedName(value.AsString(), false);
      } catch (const Error& e) {
        throw Error(
            ErrorKind::kInvalidParameter,
            "invalid name " + json::Quote(value.AsString()) + " in restore option \"into_schema\"",
            e.detail().empty() ? e.what() : e.detail());
      }
      CheckNotSystem(name, true, "restore option \"into_schema\"");
      options.into_schema = name.name;
    } else if (key == "jobs") {
      options.jobs = ParseJobs(value, "restore", kMaxRestoreJobs);
    } else {
      throw Error(ErrorKind::kInvalidParameter, "unknown restore option " + json::Quote(key),
                  std::string(), kValidKeysHint);
    }
  }
  CheckSelectedNameCount(options.tables.size() + options.schemas.size(), "restore",
                         "tables and schemas");
  if (options.clean && options.partial())
    throw Error(ErrorKind::kInvalidParameter,
                "restore option \"clean\" cannot be combined with \"tables\" or \"schemas\"",
                "\"clean\" drops and recreates the whole target database.",
                "Restore tables into an existing database without \"clean\".");
  if (!options.into_schema.empty()) {
    if (!options.partial())
      throw Error(ErrorKind::kInvalidParameter,
                  "restore option \"into_schema\" needs \"tables\" or \"schemas\"",
                  "It restores a selection into a new schema of an existing database.");
    if (!options.schemas.empty() && (options.schemas.size() > 1 || !options.tables.empty()))
      throw Error(ErrorKind::kInvalidParameter,
                  "restore option \"into_schema\" takes one schema, or tables",
                  "A schema restored into another one becomes that schema; two would mix.",
                  "Restore each schema into a schema of its own, one restore each.");
  }
  return options;
}

}  // namespace pgbak
