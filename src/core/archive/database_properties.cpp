// database_properties.cpp: reading a database's recorded properties and
// the SQL that gives them to a restored database; see database_properties.h.
#include "core/archive/database_properties.h"

#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/base/json.h"
#include "core/options/backup_options.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

[[noreturn]] void Corrupt(const std::string& what) {
  throw Error(ErrorKind::kCorrupt, "database_properties in manifest.json: " + what);
}

std::string Text(const json::Value& object, const char* key) {
  const json::Value* value = object.Find(key);
  if (value == nullptr || value->type() == json::Type::kNull)
    return "";
  if (value->type() != json::Type::kString)
    Corrupt(std::string("\"") + key + "\" must be a string");
  return value->AsString();
}

// ListParameters are the settings whose value is a list of names, which
// ALTER ... SET takes as separate literals (pg_dump's GUC_LIST_QUOTE).
bool IsListParameter(const std::string& name) {
  for (const char* list :
       {"search_path", "temp_tablespaces", "session_preload_libraries", "local_preload_libraries",
        "shared_preload_libraries", "unix_socket_directories"})
    if (name == list)
      return true;
  return false;
}

// SettingValue renders a stored setting value for ALTER ... SET name TO.
std::string SettingValue(const DatabaseSetting& setting) {
  if (!IsListParameter(setting.name))
    return QuoteLiteral(setting.value);
  // A list as the server stores it: names separated by commas, each maybe
  // double-quoted; each becomes a literal of its own.
  std::string out;
  std::string item;
  bool quoted = false;
  bool any = false;
  auto flush = [&] {
    size_t begin = item.find_first_not_of(' ');
    size_t end = item.find_last_not_of(' ');
    std::string trimmed = begin == std::string::npos ? "" : item.substr(begin, end - begin + 1);
    out += (any ? ", " : "") + QuoteLiteral(trimmed);
    any = true;
    item.clear();
  };
  for (size_t i = 0; i < setting.value.size(); i++) {
    char c = setting.value[i];
    if (c == '"') {
      if (quoted && i + 1 < setting.value.size() && setting.value[i + 1] == '"') {
        item += '"';
        i++;
      } else {
        quoted = !quoted;
      }
    } else if (c == ',' && !quoted) {
      flush();
    } else {
      item += c;
    }
  }
  flush();
  return out;
}

}  // namespace

std::string QuoteLiteral(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'')
      out += '\'';
    out += c;
  }
  return out + "'";
}

DatabaseProperties DatabaseProperties::FromJson(std::string_view text) {
  json::Value root;
  try {
    root = json::Parse(text);
  } catch (const std::exception& e) {
    Corrupt(e.what());
  }
  if (root.type() != json::Type::kObject)
    Corrupt("must be an object");
  DatabaseProperties properties;
  properties.owner = Text(root, "owner");
  properties.encoding = Text(root, "encoding");
  properties.lc_collate = Text(root, "lc_collate");
  properties.lc_ctype = Text(root, "lc_ctype");
  properties.locale_provider = Text(root, "locale_provider");
  properties.icu_locale = Text(root, "icu_locale");
  if (const json::Value* limit = root.Find("connection_limit")) {
    if (limit->type() != json::Type::kNumber)
      Corrupt("\"connection_limit\" must be a number");
    properties.connection_limit = limit->AsInt64();
  }
  const json::Value* acl = root.Find("acl");
  properties.default_acl = acl == nullptr || acl->type() == json::Type::kNull;
  if (!properties.default_acl) {
    if (acl->type() != json::Type::kArray)
      Corrupt("\"acl\" must be an array");
    for (const json::Value& item : acl->AsArray()) {
      if (item.type() != json::Type::kObject)
        Corrupt("\"acl\" items must be objects");
      DatabaseGrant grant;
      grant.grantee = Text(item, "grantee");
      grant.privilege = Text(item, "privilege");
      const json::Value* grantable = item.Find("grantable");
      grant.grantable =
          grantable != nullptr && grantable->type() == json::Type::kBool && grantable->AsBool();
      if (grant.privilege != "CONNECT" && grant.privilege != "CREATE" &&
          grant.privilege != "TEMPORARY")
        Corrupt("unknown database privilege \"" + grant.privilege + "\"");
      if (grant.grantee.empty())
        Corrupt("a grant has no grantee");
      properties.grants.push_back(grant);
    }
  }
  if (const json::Value* settings = root.Find("settings");
      settings != nullptr && settings->type() != json::Type::kNull) {
    if (settings->type() != json::Type::kArray)
      Corrupt("\"settings\" must be an array");
    for (const json::Value& item : settings->AsArray()) {
      if (item.type() != json::Type::kObject)
        Corrupt("\"settings\" items must be objects");
      std::string setting = Text(item, "setting");
      size_t equals = setting.find('=');
      if (equals == std::string::npos || equals == 0)
        Corrupt("a setting is not name=value");
      properties.settings.push_back(
          {Text(item, "role"), setting.substr(0, equals), setting.substr(equals + 1)});
    }
  }
  if (const json::Value* comment = root.Find("comment");
      comment != nullptr && comment->type() != json::Type::kNull) {
    properties.has_comment = true;
    properties.comment = Text(root, "comment");
  }
  return properties;
}

std::string DatabaseProperties::CreateOptions() const {
  std::string options;
  if (!encoding.empty())
    options += " ENCODING " + QuoteLiteral(encoding);
  if (locale_provider == "i") {
    options += " LOCALE_PROVIDER icu";
    if (!icu_locale.empty())
      options += " ICU_LOCALE " + QuoteLiteral(icu_locale);
  }
  if (!lc_collate.empty())
    options += " LC_COLLATE " + QuoteLiteral(lc_collate);
  if (!lc_ctype.empty())
    options += " LC_CTYPE " + QuoteLiteral(lc_ctype);
  return options;
}

std::vector<std::string> DatabaseProperties::ApplyStatements(const std::string& name) const {
  std::string database = QuoteIdentifier(name);
  std::vector<std::string> statements;
  if (!default_acl) {
    // From nothing to exactly the recorded grants.
    statements.push_back("REVOKE ALL ON DATABASE " + database + " FROM PUBLIC");
    if (!owner.empty())
      statements.push_back("REVOKE ALL ON DATABASE " + database + " FROM " +
                           QuoteIdentifier(owner));
    for (const DatabaseGrant& grant : grants)
      statements.push_back("GRANT " + grant.privilege + " ON DATABASE " + database + " TO " +
                           (grant.grantee == "PUBLIC" ? "PUBLIC" : QuoteIdentifier(grant.grantee)) +
                           (grant.grantable ? " WITH GRANT OPTION" : ""));
  }
  for (const DatabaseSetting& setting : settings)
    statements.push_back((setting.role.empty() ? "ALTER DATABASE " + database
                                               : "ALTER ROLE " + QuoteIdentifier(setting.role) +
                                                     " IN DATABASE " + database) +
                         " SET " + QuoteIdentifier(setting.name) + " TO " + SettingValue(setting));
  // Always: a restore builds its database with no connections allowed.
  statements.push_back("ALTER DATABASE " + database + " CONNECTION LIMIT " +
                       std::to_string(connection_limit));
  if (has_comment)
    statements.push_back("COMMENT ON DATABASE " + database + " IS " + QuoteLiteral(comment));
  return statements;
}

}  // namespace pgbak
