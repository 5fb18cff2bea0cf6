// database_properties.h: what a database is besides its objects, so that a
// restore brings it back as it was.
//
// pg_dump without --create leaves out the database itself: its encoding and
// locale, its grants (REVOKE CONNECT ... FROM PUBLIC), its ALTER DATABASE
// ... SET settings and its comment, so a restored database came back open
// to PUBLIC and without its settings. A backup records them in the
// manifest (database_properties, read in the dump's snapshot), and a
// restore creates its database with the same encoding and locale and gives
// it the same grants, settings, connection limit and comment before it
// takes the target's name.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pgbak {

// DatabaseGrant is one privilege of the database's ACL.
struct DatabaseGrant {
  std::string grantee;    // a role, or "PUBLIC"
  std::string privilege;  // CONNECT, CREATE or TEMPORARY
  bool grantable = false;
};

// DatabaseSetting is one ALTER DATABASE (or ALTER ROLE ... IN DATABASE) SET.
struct DatabaseSetting {
  std::string role;  // "" for every role
  std::string name;
  std::string value;  // as pg_db_role_setting keeps it
};

// DatabaseProperties are a database's properties as a backup recorded them.
struct DatabaseProperties {
  std::string owner;
  std::string encoding;  // e.g. "UTF8"
  std::string lc_collate;
  std::string lc_ctype;
  std::string locale_provider;  // "c" (libc) or "i" (ICU)
  std::string icu_locale;
  int64_t connection_limit = -1;
  bool default_acl = true;  // datacl was NULL: the default privileges
  std::vector<DatabaseGrant> grants;
  std::vector<DatabaseSetting> settings;
  bool has_comment = false;
  std::string comment;

  // FromJson reads the object a backup wrote (see backup_job.cpp); throws
  // kCorrupt for anything else.
  static DatabaseProperties FromJson(std::string_view text);
  // CreateOptions are the options of CREATE DATABASE ... TEMPLATE template0
  // that give a new database this encoding and locale (" ENCODING ...").
  std::string CreateOptions() const;
  // ApplyStatements give database name these grants, settings, connection
  // limit (always set: -1 when none was recorded) and comment (the owner is
  // given before the restore, see verify_job.cpp).
  std::vector<std::string> ApplyStatements(const std::string& name) const;
};

// QuoteLiteral renders a string as an SQL literal ('it''s'; E'' never
// needed with standard_conforming_strings, which PostgreSQL 15 has on).
std::string QuoteLiteral(const std::string& value);

}  // namespace pgbak
