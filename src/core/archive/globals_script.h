// globals_script.h: the statements about roles in a set's globals.sql
// (pg_dumpall --globals-only), for a restore that creates the roles its
// database needs.
//
// pg_dumpall writes one statement a line for roles: "CREATE ROLE r;",
// "ALTER ROLE r WITH LOGIN ... PASSWORD '...';", "ALTER ROLE r SET ...;",
// "COMMENT ON ROLE r IS '...';" and "GRANT a TO b GRANTED BY c;". Names
// are quoted as SQL identifiers where needed. A restore runs the statements
// about roles that do not exist yet and leaves every existing role as it is
// (its password, attributes and memberships are this server's). Lines that
// do not parse exactly (a statement over several lines) are not taken.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace pgbak {

// RoleStatement is one statement of the script and the roles it is about:
// the role of CREATE, ALTER and COMMENT; the granted role and the member of
// GRANT.
struct RoleStatement {
  enum class Kind { kCreate, kAlter, kComment, kGrant };
  Kind kind;
  std::string sql;  // the line, as written
  std::vector<std::string> roles;
};

// RoleStatements lists the statements about roles in script, in order.
std::vector<RoleStatement> RoleStatements(std::string_view script);

// GlobalsPlan is what a restore applies of a globals script: the roles the
// server lacks, and the statements about them, in the script's order.
// Required statements (CREATE and ALTER ROLE) must succeed; the others
// (memberships, comments) may fail, when their grantor is not on the
// server, and are then left out.
struct GlobalsPlan {
  struct Statement {
    std::string sql;
    bool required = false;
  };
  std::set<std::string> missing;
  std::vector<Statement> statements;
};

// PlanGlobals plans the statements that create the roles of statements
// that are not in existing: their CREATE and ALTER statements and
// comments, and the memberships that involve one of them and otherwise
// only roles that exist or are created.
GlobalsPlan PlanGlobals(const std::vector<RoleStatement>& statements,
                        const std::set<std::string>& existing);

// ParseIdentifier reads one SQL identifier at the start of text (quoted,
// with "" for a quote, or unquoted: lower-case letters, digits, _ and $,
// not starting with a digit or $); returns its length in text, 0 if there
// is none, and the name in name.
size_t ParseIdentifier(std::string_view text, std::string& name);

}  // namespace pgbak
