// superuser_code.cpp: see superuser_code.h.
#include "core/archive/superuser_code.h"

#include <map>
#include <string>
#include <vector>

#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

// LoadRunsCode says whether restoring an entry of this kind can run code
// with its owner's rights.
bool LoadRunsCode(const std::string& desc) {
  static const std::set<std::string> kinds = {
      "TABLE",   "TABLE DATA", "MATERIALIZED VIEW", "MATERIALIZED VIEW DATA",
      "INDEX",   "CONSTRAINT", "FK CONSTRAINT",     "CHECK CONSTRAINT",
      "TRIGGER", "DEFAULT"};
  return kinds.count(desc) > 0;
}

// IsCode says whether an entry is code another entry can run.
bool IsCode(const std::string& desc) {
  static const std::set<std::string> kinds = {"FUNCTION", "PROCEDURE", "AGGREGATE", "OPERATOR",
                                              "TYPE",     "DOMAIN",    "CAST"};
  return kinds.count(desc) > 0;
}

std::string Describe(const TocEntry& entry) {
  return entry.desc + " " + (entry.namespace_.empty() ? "" : entry.namespace_ + ".") + entry.tag;
}

}  // namespace

std::vector<SuperuserCodeUse> FindSuperuserCode(const std::vector<TocEntry>& toc,
                                                const std::set<std::string>& superusers) {
  std::map<int, const TocEntry*> by_id;
  for (const TocEntry& entry : toc)
    by_id[entry.dump_id] = &entry;
  std::vector<SuperuserCodeUse> uses;
  for (const TocEntry& entry : toc) {
    if (!LoadRunsCode(entry.desc) || superusers.count(entry.owner) == 0)
      continue;
    // Walk the code this entry depends on; code a superuser owns is
    // followed further (a superuser's domain using alice's function), code
    // of another role is a finding.
    std::set<int> seen;
    std::vector<int> pending = entry.dependencies;
    const TocEntry* found = nullptr;
    while (!pending.empty() && found == nullptr) {
      int id = pending.back();
      pending.pop_back();
      if (!seen.insert(id).second)
        continue;
      auto it = by_id.find(id);
      if (it == by_id.end() || !IsCode(it->second->desc))
        continue;
      const TocEntry& code = *it->second;
      if (!code.owner.empty() && superusers.count(code.owner) == 0) {
        found = &code;
        break;
      }
      pending.insert(pending.end(), code.dependencies.begin(), code.dependencies.end());
    }
    if (found != nullptr)
      uses.push_back({Describe(entry), entry.owner, Describe(*found), found->owner});
  }
  return uses;
}

std::string DescribeSuperuserCode(const std::vector<SuperuserCodeUse>& uses) {
  std::string text;
  size_t shown = 0;
  for (const SuperuserCodeUse& use : uses) {
    if (shown == 5)
      break;
    text += (text.empty() ? "" : "; ") + use.object + " (owner " + use.object_owner + ") uses " +
            use.code + " of " + use.code_owner;
    shown++;
  }
  if (uses.size() > shown)
    text += " (and " + std::to_string(uses.size() - shown) + " more)";
  return text;
}

void PlainScriptOwners::Line(std::string_view line) {
  if (line.rfind("-- Name: ", 0) != 0 && line.rfind("-- Data for Name: ", 0) != 0)
    return;
  constexpr std::string_view kOwner = "; Owner: ";
  size_t last = line.rfind(kOwner);
  if (last == std::string_view::npos)
    return;
  if (line.find(kOwner) != last)
    ambiguous_ = true;
  std::string_view owner = line.substr(last + kOwner.size());
  if (!owner.empty() && owner != "-")
    owners_.insert(std::string(owner));
}

}  // namespace pgbak
