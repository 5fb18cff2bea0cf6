// backup_options.cpp: validation of pgbak_run's options and their pg_dump
// arguments.
//
// Names from the user become pg_dump patterns that match exactly one name,
// never a wildcard: "tables": ["Orders*"] selects the table literally named
// Orders*, as a DBA reading the option would expect, and a name cannot smuggle
// a pattern or an option into pg_dump's argv.
#include "core/options/backup_options.h"

#include <string>

#include "core/base/error.h"
#include "core/schedule/retention.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

// kMaxIdentifierBytes is NAMEDATALEN - 1: longer names PostgreSQL truncates,
// so they could never match what the user meant.
constexpr size_t kMaxIdentifierBytes = 63;

constexpr const char* kValidKeysHint =
    "Valid backup options are: format, schema_only, data_only, tables, exclude_tables, schemas, "
    "exclude_schemas, zstd_level, lock_wait_timeout, jobs.";

// InvalidName throws the error for a name that is not valid identifier syntax.
[[noreturn]] void InvalidName(std::string_view text, const std::string& detail) {
  throw Error(ErrorKind::kInvalidParameter, "invalid name \"" + Printable(text) + "\"", detail);
}

// IsSpace is isspace() for the C locale, whatever the process locale is.
bool IsSpace(unsigned char c) {
  return c == ' ' || (c >= '\t' && c <= '\r');
}

// NeedsNoQuotes says whether a part reads back unchanged without quotes.
bool NeedsNoQuotes(const std::string& part) {
  if (part.empty() || !((part[0] >= 'a' && part[0] <= 'z') || part[0] == '_')) {
    return false;
  }
  for (char c : part) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '$';
    if (!plain) {
      return false;
    }
  }
  return true;
}

// DisplayName renders a name in the syntax ParseQualifiedName reads back,
// quoting only the parts that need it, for the normalized options.
std::string DisplayName(const QualifiedName& name) {
  auto part = [](const std::string& text) {
    return NeedsNoQuotes(text) ? text : QuoteIdentifier(text);
  };
  return name.schema.empty() ? part(name.name) : part(name.schema) + "." + part(name.name);
}

// TypeMismatch is the error for an option given with the wrong JSON type.
[[noreturn]] void TypeMismatch(const std::string& key, const char* expected,
                               const json::Value& value) {
  throw Error(ErrorKind::kInvalidParameter,
              "backup option \"" + key + "\" must be " + expected + ", not " + value.TypeName());
}

// ParseNameList reads an array of names; schemas lists allow no qualifier.
std::vector<QualifiedName> ParseNameList(const std::string& key, const json::Value& value,
                                         bool allow_schema) {
  if (value.type() != json::Type::kArray) {
    TypeMismatch(key, "an array of strings", value);
  }
  std::vector<QualifiedName> names;
  for (const json::Value& item : value.AsArray()) {
    if (item.type() != json::Type::kString) {
      throw Error(
          ErrorKind::kInvalidParameter,
          "backup option \"" + key + "\" must contain only strings, not " + item.TypeName());
    }
    if (item.AsString().empty()) {
      throw Error(ErrorKind::kInvalidParameter,
                  "backup option \"" + key + "\" cannot contain an empty name");
    }
    try {
      names.push_back(ParseQualifiedName(item.AsString(), allow_schema));
    } catch (const Error& error) {
      throw Error(ErrorKind::kInvalidParameter,
                  std::string(error.what()) + " in backup option \"" + key + "\"", error.detail(),
                  error.hint());
    }
    CheckNotSystem(names.back(), !allow_schema, "backup option \"" + key + "\"");
  }
  return names;
}

// ParseLockWaitTimeout reads lock_wait_timeout: an interval such as
// "30 seconds" or "5 minutes", or a JSON integer of seconds, 0 meaning no
// limit.
int ParseLockWaitTimeout(const json::Value& value) {
  const std::string expected =
      "backup option \"lock_wait_timeout\" must be an interval such as \"2 minutes\" or a "
      "number of seconds from 0 to " +
      std::to_string(kMaxLockWaitTimeoutSeconds) + ", not ";
  const char* hint =
      "Units are seconds, minutes and hours; 0 waits as long as it takes. "
      "pgbak.lock_wait_timeout is the default.";
  int64_t seconds = -1;
  std::string shown;
  if (value.type() == json::Type::kString) {
    shown = json::Quote(value.AsString());
    seconds = ParseDurationText(value.AsString());
    if (seconds == 0) {
      seconds = -1;
    }
  } else if (value.type() == json::Type::kNumber) {
    shown = value.Serialize();
    try {
      seconds = value.AsInt64();
    } catch (const Error&) {
      seconds = -1;
    }
  } else {
    shown = value.TypeName();
  }
  if (seconds < 0 || seconds > kMaxLockWaitTimeoutSeconds) {
    throw Error(ErrorKind::kInvalidParameter, expected + shown, std::string(), hint);
  }
  return static_cast<int>(seconds);
}

// NameArray renders names for ToJson.
json::Value NameArray(const std::vector<QualifiedName>& names) {
  json::Value array = json::Value::Array();
  for (const QualifiedName& name : names) {
    array.Append(json::Value::String(DisplayName(name)));
  }
  return array;
}

// MatchesTable says whether an entry of tables/exclude_tables names a table;
// an unqualified entry matches in every schema, like its pg_dump pattern.
bool MatchesTable(const std::vector<QualifiedName>& entries, const std::string& schema,
                  const std::string& table) {
  for (const QualifiedName& entry : entries) {
    if (entry.name == table && (entry.schema.empty() || entry.schema == schema)) {
      return true;
    }
  }
  return false;
}

// MatchesSchema says whether a schema is in a schemas/exclude_schemas list.
bool MatchesSchema(const std::vector<QualifiedName>& entries, const std::string& schema) {
  for (const QualifiedName& entry : entries) {
    if (entry.name == schema) {
      return true;
    }
  }
  return false;
}

}  // namespace

// CheckOptionsSize refuses options text past kMaxOptionsBytes before it is
// parsed at all.
void CheckOptionsSize(std::string_view json_text, const char* what) {
  if (json_text.size() <= kMaxOptionsBytes) {
    return;
  }
  throw Error(
      ErrorKind::kLimitExceeded,
      std::string(what) + " options are too large: " + std::to_string(json_text.size()) + " bytes",
      std::string(),
      "Options are at most " + std::to_string(kMaxOptionsBytes) +
          " bytes of JSON (64 KiB) and name at most " + std::to_string(kMaxSelectedNames) +
          " tables and schemas. Select whole schemas rather than many of their tables.");
}

// CheckSelectedNameCount refuses more names than pg_dump's argv can carry.
void CheckSelectedNameCount(size_t count, const char* what, const char* lists) {
  if (count <= kMaxSelectedNames) {
    return;
  }
  throw Error(
      ErrorKind::kLimitExceeded,
      std::string(what) + " options name too many tables and schemas: " + std::to_string(count),
      "pg_dump and pg_restore take each name as a command-line argument.",
      "At most " + std::to_string(kMaxSelectedNames) + " names in all (" + lists +
          " together). Select whole schemas rather than many of their tables.");
}

// QuoteIdentifier quotes one name part; see backup_options.h.
std::string QuoteIdentifier(const std::string& part) {
  std::string out = "\"";
  for (char c : part) {
    if (c == '"') {
      out.push_back('"');
    }
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// ParseQualifiedName follows PostgreSQL's identifier rules, but rejects what
// PostgreSQL would silently change (over-long names) or guess at.
QualifiedName ParseQualifiedName(std::string_view text, bool allow_schema) {
  if (text.empty()) {
    InvalidName(text, "A name cannot be empty.");
  }
  if (IsSpace(static_cast<unsigned char>(text.front())) ||
      IsSpace(static_cast<unsigned char>(text.back()))) {
    InvalidName(text, "A name cannot begin or end with white space.");
  }
  std::vector<std::string> parts;
  size_t pos = 0;
  while (true) {
    std::string part;
    if (pos < text.size() && text[pos] == '"') {
      pos++;
      while (true) {
        if (pos >= text.size()) {
          InvalidName(text, "Unterminated quoted identifier.");
        }
        if (text[pos] == '"') {
          if (pos + 1 < text.size() && text[pos + 1] == '"') {
            part.push_back('"');
            pos += 2;
            continue;
          }
          pos++;
          break;
        }
        if (text[pos] == '\0') {
          InvalidName(text, "A name cannot contain a zero byte.");
        }
        part.push_back(text[pos++]);
      }
      if (part.empty()) {
        InvalidName(text, "Zero-length quoted identifier.");
      }
      if (pos < text.size() && text[pos] != '.') {
        InvalidName(text, "Only a dot may follow a closing quote.");
      }
    } else {
      while (pos < text.size() && text[pos] != '.') {
        unsigned char c = static_cast<unsigned char>(text[pos]);
        if (c == '"') {
          InvalidName(text, "A quote may only begin an identifier.");
        }
        if (IsSpace(c) || c < 0x20 || c == 0x7f) {
          InvalidName(text,
                      "Unquoted identifiers cannot contain white space or control "
                      "characters; use double quotes.");
        }
        part.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a')
                                            : static_cast<char>(c));
        pos++;
      }
      if (part.empty()) {
        InvalidName(text, "Zero-length identifier.");
      }
    }
    if (part.size() > kMaxIdentifierBytes) {
      InvalidName(text, "Identifier \"" + part + "\" is longer than " +
                            std::to_string(kMaxIdentifierBytes) + " bytes.");
    }
    parts.push_back(std::move(part));
    if (pos >= text.size()) {
      break;
    }
    pos++;  // the dot
    if (pos >= text.size()) {
      InvalidName(text, "Zero-length identifier after the last dot.");
    }
  }
  if (!allow_schema && parts.size() > 1) {
    InvalidName(text, "A schema name cannot be qualified.");
  }
  if (parts.size() > 2) {
    InvalidName(text, "Too many dotted names; use schema.table.");
  }
  QualifiedName name;
  if (parts.size() == 2) {
    name.schema = std::move(parts[0]);
    name.name = std::move(parts[1]);
  } else {
    name.name = std::move(parts[0]);
  }
  return name;
}

// IsSystemSchema: see backup_options.h.
bool IsSystemSchema(const std::string& schema) {
  return schema.compare(0, 3, "pg_") == 0 || schema == "information_schema";
}

// CheckNotSystem refuses what would reach into PostgreSQL's own schemas:
// pg_dump dumps whatever -t or -n names, pg_catalog.pg_authid and its
// password hashes too.
void CheckNotSystem(const QualifiedName& name, bool schema_list, const std::string& option) {
  const std::string& schema = schema_list ? name.name : name.schema;
  if (!IsSystemSchema(schema)) {
    return;
  }
  std::string shown =
      schema_list ? "schema \"" + schema + "\"" : "table \"" + schema + "." + name.name + "\"";
  throw Error(ErrorKind::kInvalidParameter,
              option + " cannot name " + shown + ": \"" + schema + "\" is a system schema",
              "pg_catalog, information_schema, pg_toast and the other pg_ schemas belong to "
              "PostgreSQL; their tables are never selected by name.",
              "Name tables and schemas of your own; unqualified table names are looked up in "
              "those only.");
}

// ExactPattern quotes every part so pg_dump's pattern characters are literal.
std::string ExactPattern(const QualifiedName& name) {
  if (name.schema.empty()) {
    return "*." + QuoteIdentifier(name.name);
  }
  return QuoteIdentifier(name.schema) + "." + QuoteIdentifier(name.name);
}

// ToJson emits format always and every other member only if not the default.
json::Value BackupOptions::ToJson() const {
  json::Value object = json::Value::Object();
  object.Set("format", json::Value::String(format));
  if (schema_only) {
    object.Set("schema_only", json::Value::Bool(true));
  }
  if (data_only) {
    object.Set("data_only", json::Value::Bool(true));
  }
  if (!tables.empty()) {
    object.Set("tables", NameArray(tables));
  }
  if (!exclude_tables.empty()) {
    object.Set("exclude_tables", NameArray(exclude_tables));
  }
  if (!schemas.empty()) {
    object.Set("schemas", NameArray(schemas));
  }
  if (!exclude_schemas.empty()) {
    object.Set("exclude_schemas", NameArray(exclude_schemas));
  }
  if (zstd_level) {
    object.Set("zstd_level", json::Value::Number(*zstd_level));
  }
  if (lock_wait_timeout_seconds) {
    object.Set("lock_wait_timeout", json::Value::Number(*lock_wait_timeout_seconds));
  }
  if (jobs) {
    object.Set("jobs", json::Value::Number(*jobs));
  }
  return object;
}

// DumpArguments renders the options as pg_dump long options, one argv entry
// each, so no value is ever split or interpreted by a shell.
std::vector<std::string> BackupOptions::DumpArguments() const {
  std::vector<std::string> args;
  args.push_back(format == "plain" ? "--format=plain" : "--format=custom");
  if (schema_only) {
    args.push_back("--schema-only");
  }
  if (data_only) {
    args.push_back("--data-only");
  }
  if (SelectsData()) {
    // The definitions of everything come along; other tables' data is left
    // out by ExcludedDataArguments, large objects here (a selection of
    // tables or schemas never held them).
    args.push_back("--no-blobs");
  } else {
    for (const QualifiedName& name : tables) {
      args.push_back("--table=" + ExactPattern(name));
    }
    if (!tables.empty()) {
      // "*"."name" also matches pg_catalog.name, and pg_dump dumps a catalog
      // that -t selects. Exclusions win over -t (and need not match
      // anything, even with --strict-names); these are pg_dump patterns,
      // not quoted.
      args.push_back("--exclude-table=pg_*.*");
      args.push_back("--exclude-table=information_schema.*");
    }
    for (const QualifiedName& name : schemas) {
      args.push_back("--schema=" + QuoteIdentifier(name.name));
    }
  }
  for (const QualifiedName& name : exclude_tables) {
    args.push_back("--exclude-table=" + ExactPattern(name));
  }
  for (const QualifiedName& name : exclude_schemas) {
    args.push_back("--exclude-schema=" + QuoteIdentifier(name.name));
  }
  return args;
}

// ExcludedDataArguments names each left-out relation exactly.
std::vector<std::string> BackupOptions::ExcludedDataArguments(
    const std::vector<std::pair<std::string, std::string>>& relations,
    const std::set<std::string>& schemas_with_sequences) const {
  std::vector<std::string> args;
  if (!SelectsData()) {
    return args;
  }
  std::set<std::string> partly;  // schemas with an included relation
  for (const auto& [schema, name] : relations) {
    if (IncludesTableData(schema, name)) {
      partly.insert(schema);
    }
  }
  std::set<std::string> whole;
  for (const auto& [schema, name] : relations) {
    if (IncludesTableData(schema, name)) {
      continue;
    }
    if (partly.count(schema) == 0 && schemas_with_sequences.count(schema) == 0) {
      if (whole.insert(schema).second) {
        args.push_back("--exclude-table-data=" + QuoteIdentifier(schema) + ".*");
      }
      continue;
    }
    args.push_back("--exclude-table-data=" + ExactPattern({schema, name}));
  }
  return args;
}

// IncludesTableData applies the same selection pg_dump applies to the
// arguments above; exclusions win over inclusions, as in pg_dump.
bool BackupOptions::IncludesTableData(const std::string& schema, const std::string& table) const {
  if (schema_only) {
    return false;
  }
  if (!tables.empty() && !MatchesTable(tables, schema, table)) {
    return false;
  }
  if (!schemas.empty() && !MatchesSchema(schemas, schema)) {
    return false;
  }
  if (MatchesTable(exclude_tables, schema, table) || MatchesSchema(exclude_schemas, schema)) {
    return false;
  }
  return true;
}

// ParseBackupOptions checks every key before anything is queued, so a typo
// fails loudly instead of producing a backup of the wrong thing.
int ParseJobs(const json::Value& value, const char* what, int max) {
  int64_t jobs = 0;
  bool integral = value.type() == json::Type::kNumber;
  if (integral) {
    try {
      jobs = value.AsInt64();
    } catch (const Error&) {
      integral = false;
    }
  }
  if (!integral || jobs < 1 || jobs > max)
    throw Error(ErrorKind::kInvalidParameter,
                std::string(what) + " option \"jobs\" must be an integer between 1 and " +
                    std::to_string(max) + ", not " + value.Serialize());
  return static_cast<int>(jobs);
}

BackupOptions ParseBackupOptions(std::string_view json_text) {
  CheckOptionsSize(json_text, "backup");
  json::Value root;
  try {
    root = json::Parse(json_text);
  } catch (const Error& error) {
    throw Error(ErrorKind::kInvalidParameter, "invalid backup options", error.what());
  }
  if (root.type() != json::Type::kObject) {
    throw Error(ErrorKind::kInvalidParameter,
                std::string("backup options must be a JSON object, not ") + root.TypeName(),
                std::string(), kValidKeysHint);
  }
  BackupOptions options;
  for (const auto& [key, value] : root.AsObject()) {
    if (key == "format") {
      if (value.type() != json::Type::kString) {
        TypeMismatch(key, "a string", value);
      }
      if (value.AsString() != "custom" && value.AsString() != "plain") {
        throw Error(ErrorKind::kInvalidParameter,
                    "backup option \"format\" must be \"custom\" or \"plain\", not " +
                        json::Quote(value.AsString()));
      }
      options.format = value.AsString();
    } else if (key == "schema_only" || key == "data_only") {
      if (value.type() != json::Type::kBool) {
        TypeMismatch(key, "a boolean", value);
      }
      (key == "schema_only" ? options.schema_only : options.data_only) = value.AsBool();
    } else if (key == "tables") {
      options.tables = ParseNameList(key, value, true);
    } else if (key == "exclude_tables") {
      options.exclude_tables = ParseNameList(key, value, true);
    } else if (key == "schemas") {
      options.schemas = ParseNameList(key, value, false);
    } else if (key == "exclude_schemas") {
      options.exclude_schemas = ParseNameList(key, value, false);
    } else if (key == "zstd_level") {
      std::string range = "an integer between " + std::to_string(kMinZstdLevel) + " and " +
                          std::to_string(kMaxZstdLevel);
      if (value.type() != json::Type::kNumber) {
        TypeMismatch(key, range.c_str(), value);
      }
      int64_t level = 0;
      try {
        level = value.AsInt64();
      } catch (const Error&) {
        throw Error(ErrorKind::kInvalidParameter,
                    "backup option \"zstd_level\" must be " + range + ", not " + value.Serialize());
      }
      if (level < kMinZstdLevel || level > kMaxZstdLevel) {
        throw Error(ErrorKind::kInvalidParameter,
                    "backup option \"zstd_level\" must be " + range + ", not " + value.Serialize());
      }
      options.zstd_level = static_cast<int>(level);
    } else if (key == "lock_wait_timeout") {
      options.lock_wait_timeout_seconds = ParseLockWaitTimeout(value);
    } else if (key == "jobs") {
      options.jobs = ParseJobs(value, "backup", kMaxDumpJobs);
    } else {
      throw Error(ErrorKind::kInvalidParameter, "unknown backup option " + json::Quote(key),
                  std::string(), kValidKeysHint);
    }
  }
  CheckSelectedNameCount(options.tables.size() + options.exclude_tables.size() +
                             options.schemas.size() + options.exclude_schemas.size(),
                         "backup", "tables, exclude_tables, schemas and exclude_schemas");
  if (options.schema_only && options.data_only) {
    throw Error(ErrorKind::kInvalidParameter,
                "backup options \"schema_only\" and \"data_only\" cannot be used together");
  }
  if (options.jobs.value_or(1) > 1 &&
      (options.format != "custom" || options.schema_only || options.data_only)) {
    throw Error(ErrorKind::kInvalidParameter,
                "backup option \"jobs\" above 1 needs a custom-format backup of definitions and "
                "data",
                "Several streams export the tables' data beside pg_dump's custom archive.",
                "Leave out \"jobs\", or \"format\", \"schema_only\" and \"data_only\".");
  }
  if (!options.tables.empty() && !options.schemas.empty()) {
    throw Error(ErrorKind::kInvalidParameter,
                "backup options \"tables\" and \"schemas\" cannot be used together", std::string(),
                "Use one of them: \"tables\" accepts schema-qualified names such as "
                "\"myschema.mytable\".");
  }
  return options;
}

}  // namespace pgbak
