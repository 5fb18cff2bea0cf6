// globals_script.cpp: see globals_script.h.
#include "core/archive/globals_script.h"

#include <string>
#include <vector>

#include "core/base/no_postgres.h"

namespace pgbak {

size_t ParseIdentifier(std::string_view text, std::string& name) {
  name.clear();
  if (text.empty())
    return 0;
  if (text[0] == '"') {
    for (size_t i = 1; i < text.size(); i++) {
      if (text[i] != '"') {
        name += text[i];
        continue;
      }
      if (i + 1 < text.size() && text[i + 1] == '"') {
        name += '"';
        i++;
        continue;
      }
      return name.empty() ? 0 : i + 1;
    }
    return 0;  // unterminated
  }
  size_t i = 0;
  while (i < text.size() && ((text[i] >= 'a' && text[i] <= 'z') || text[i] == '_' ||
                             (i > 0 && ((text[i] >= '0' && text[i] <= '9') || text[i] == '$'))))
    name += text[i++];
  return i;
}

namespace {

// Starts says whether line starts with prefix; rest is what follows.
bool Starts(std::string_view line, std::string_view prefix, std::string_view& rest) {
  if (line.substr(0, prefix.size()) != prefix)
    return false;
  rest = line.substr(prefix.size());
  return true;
}

}  // namespace

std::vector<RoleStatement> RoleStatements(std::string_view script) {
  std::vector<RoleStatement> statements;
  size_t start = 0;
  while (start < script.size()) {
    size_t end = script.find('\n', start);
    std::string_view line =
        script.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    start = end == std::string_view::npos ? script.size() : end + 1;
    if (line.empty() || line.back() != ';')
      continue;
    std::string_view rest;
    RoleStatement statement{RoleStatement::Kind::kCreate, std::string(line), {}};
    std::string name;
    size_t length = 0;
    if (Starts(line, "CREATE ROLE ", rest)) {
      length = ParseIdentifier(rest, name);
      if (length == 0 || rest.substr(length) != ";")
        continue;
    } else if (Starts(line, "ALTER ROLE ", rest)) {
      statement.kind = RoleStatement::Kind::kAlter;
      length = ParseIdentifier(rest, name);
      if (length == 0 || rest.substr(length, 1) != " ")
        continue;
    } else if (Starts(line, "COMMENT ON ROLE ", rest)) {
      statement.kind = RoleStatement::Kind::kComment;
      length = ParseIdentifier(rest, name);
      if (length == 0 || rest.substr(length, 4) != " IS ")
        continue;
    } else if (Starts(line, "GRANT ", rest)) {
      statement.kind = RoleStatement::Kind::kGrant;
      length = ParseIdentifier(rest, name);
      if (length == 0 || rest.substr(length, 4) != " TO ")
        continue;
      statement.roles.push_back(name);
      rest = rest.substr(length + 4);
      length = ParseIdentifier(rest, name);
      if (length == 0 || (rest.substr(length, 1) != ";" && rest.substr(length, 1) != " "))
        continue;
    } else {
      continue;
    }
    statement.roles.push_back(name);
    statements.push_back(std::move(statement));
  }
  return statements;
}

GlobalsPlan PlanGlobals(const std::vector<RoleStatement>& statements,
                        const std::set<std::string>& existing) {
  GlobalsPlan plan;
  for (const RoleStatement& statement : statements)
    if (statement.kind == RoleStatement::Kind::kCreate && existing.count(statement.roles[0]) == 0)
      plan.missing.insert(statement.roles[0]);
  auto missing = [&](const std::string& role) { return plan.missing.count(role) > 0; };
  auto known = [&](const std::string& role) { return existing.count(role) > 0 || missing(role); };
  for (const RoleStatement& statement : statements) {
    bool take = statement.kind == RoleStatement::Kind::kGrant
                    ? (missing(statement.roles[0]) || missing(statement.roles[1])) &&
                          known(statement.roles[0]) && known(statement.roles[1])
                    : missing(statement.roles[0]);
    if (!take)
      continue;
    bool required = statement.kind == RoleStatement::Kind::kCreate ||
                    statement.kind == RoleStatement::Kind::kAlter;
    plan.statements.push_back({statement.sql, required});
  }
  return plan;
}

}  // namespace pgbak
