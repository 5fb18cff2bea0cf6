// superuser_code.cpp: see superuser_code.h.
#include "core/archive/superuser_code.h"

#include <map>
#include <string>
#include <vector>

#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

// LoadRunsCode says whether loading an entry of this kind (its data, its
// index build, its refresh) can run code with its owner's rights.
bool LoadRunsCode(const std::string& desc) {
  static const std::set<std::string> kinds = {
      "TABLE",   "TABLE DATA", "MATERIALIZED VIEW", "MATERIALIZED VIEW DATA",
      "INDEX",   "CONSTRAINT", "FK CONSTRAINT",     "CHECK CONSTRAINT",
      "TRIGGER", "DEFAULT"};
  return kinds.count(desc) > 0;
}

// CreateRunsCode says whether creating an entry of this kind (pre-data,
// which the restoring superuser runs, whoever owns it) can run code: an
// aggregate's initial value goes through its state type's input (a
// domain's CHECK), a partition's bounds through its key's type.
bool CreateRunsCode(const std::string& desc) {
  return desc == "AGGREGATE" || desc == "TABLE ATTACH";
}

// IsCode says whether an entry is, or carries, code that another entry
// can run as whoever runs that entry: functions and what calls them
// (operators, their classes and families, casts, types and domains, views,
// text search objects, conversions).
bool IsCode(const std::string& desc) {
  static const std::set<std::string> kinds = {"FUNCTION",
                                              "PROCEDURE",
                                              "AGGREGATE",
                                              "OPERATOR",
                                              "OPERATOR CLASS",
                                              "OPERATOR FAMILY",
                                              "TYPE",
                                              "DOMAIN",
                                              "CAST",
                                              "VIEW",
                                              "MATERIALIZED VIEW",
                                              "TEXT SEARCH CONFIGURATION",
                                              "TEXT SEARCH DICTIONARY",
                                              "TEXT SEARCH PARSER",
                                              "TEXT SEARCH TEMPLATE",
                                              "CONVERSION"};
  return kinds.count(desc) > 0;
}

std::string Describe(const TocEntry& entry) {
  return entry.desc + " " + (entry.namespace_.empty() ? "" : entry.namespace_ + ".") + entry.tag;
}

// Walker follows dependencies through code.
class Walker {
 public:
  Walker(const std::vector<TocEntry>& toc, const std::set<std::string>& superusers)
      : superusers_(superusers) {
    for (const TocEntry& entry : toc)
      by_id_[entry.dump_id] = &entry;
  }

  // FirstForeign returns the first code entry owned by a role that is no
  // superuser reached from dependencies, following code a superuser owns
  // further; with domains_only, only domains are entered at first, through
  // tables (what creating an aggregate or attaching a partition runs).
  const TocEntry* FirstForeign(const std::vector<int>& dependencies, bool domains_only) const {
    std::set<int> seen;
    std::vector<std::pair<int, bool>> pending;
    for (int id : dependencies)
      pending.emplace_back(id, domains_only);
    while (!pending.empty()) {
      auto [id, restricted] = pending.back();
      pending.pop_back();
      if (!seen.insert(id * 2 + (restricted ? 1 : 0)).second)
        continue;
      auto it = by_id_.find(id);
      if (it == by_id_.end())
        continue;
      const TocEntry& entry = *it->second;
      if (restricted) {
        if (entry.desc == "TABLE") {
          for (int next : entry.dependencies)
            pending.emplace_back(next, true);
          continue;
        }
        if (entry.desc != "DOMAIN")
          continue;
      } else if (!IsCode(entry.desc)) {
        continue;
      }
      if (!entry.owner.empty() && superusers_.count(entry.owner) == 0)
        return &entry;
      for (int next : entry.dependencies)
        pending.emplace_back(next, false);
    }
    return nullptr;
  }

  // Reached lists every code entry reached from dependencies (following
  // code of any owner) into reached, by dump id.
  void Reached(const std::vector<int>& dependencies, std::set<int>& reached) const {
    std::vector<int> pending = dependencies;
    while (!pending.empty()) {
      int id = pending.back();
      pending.pop_back();
      auto it = by_id_.find(id);
      if (it == by_id_.end() || !IsCode(it->second->desc) || !reached.insert(id).second)
        continue;
      pending.insert(pending.end(), it->second->dependencies.begin(),
                     it->second->dependencies.end());
    }
  }

  // DependenciesOf lists the dependencies of entry id (none if unknown).
  std::vector<int> DependenciesOf(int id) const {
    auto it = by_id_.find(id);
    return it != by_id_.end() ? it->second->dependencies : std::vector<int>();
  }

 private:
  const std::set<std::string>& superusers_;
  std::map<int, const TocEntry*> by_id_;
};

}  // namespace

std::vector<SuperuserCodeUse> FindSuperuserCode(const std::vector<TocEntry>& toc,
                                                const std::set<std::string>& superusers,
                                                const std::set<int>* restored) {
  Walker walker(toc, superusers);
  std::vector<SuperuserCodeUse> uses;
  for (const TocEntry& entry : toc) {
    if (restored != nullptr && restored->count(entry.dump_id) == 0)
      continue;
    const TocEntry* found = nullptr;
    std::string runner;
    if (LoadRunsCode(entry.desc) && superusers.count(entry.owner) > 0) {
      // Loading a table's rows runs what its definition uses.
      std::vector<int> start = entry.dependencies;
      if (entry.desc == "TABLE DATA" || entry.desc == "MATERIALIZED VIEW DATA")
        for (int id : entry.dependencies)
          for (int next : walker.DependenciesOf(id))
            start.push_back(next);
      found = walker.FirstForeign(start, false);
      runner = entry.owner;
    }
    if (found == nullptr && CreateRunsCode(entry.desc)) {
      found = walker.FirstForeign(entry.dependencies, true);
      runner = "the restoring superuser";
    }
    if (found != nullptr)
      uses.push_back({Describe(entry), runner, Describe(*found), found->owner});
  }
  return uses;
}

std::vector<TocEntry> CodeRunAsSuperuser(const std::vector<TocEntry>& toc,
                                         const std::set<std::string>& superusers,
                                         const std::set<int>* restored) {
  Walker walker(toc, superusers);
  std::set<int> reached;
  for (const TocEntry& entry : toc) {
    if (restored != nullptr && restored->count(entry.dump_id) == 0)
      continue;
    if (!LoadRunsCode(entry.desc) || superusers.count(entry.owner) == 0)
      continue;
    std::vector<int> start = entry.dependencies;
    for (int id : entry.dependencies)
      for (int next : walker.DependenciesOf(id))
        start.push_back(next);
    walker.Reached(start, reached);
  }
  std::vector<TocEntry> code;
  for (const TocEntry& entry : toc)
    if (reached.count(entry.dump_id) > 0)
      code.push_back(entry);
  return code;
}

std::string DescribeSuperuserCode(const std::vector<SuperuserCodeUse>& uses) {
  std::string text;
  size_t shown = 0;
  for (const SuperuserCodeUse& use : uses) {
    if (shown == 5)
      break;
    text += (text.empty() ? "" : "; ") + use.object + " (run as " + use.object_owner + ") uses " +
            use.code + " of " + use.code_owner;
    shown++;
  }
  if (uses.size() > shown)
    text += " (and " + std::to_string(uses.size() - shown) + " more)";
  return text;
}

void PlainScriptOwners::Line(std::string_view line, bool truncated) {
  if (line.rfind("-- Name: ", 0) != 0 && line.rfind("-- Data for Name: ", 0) != 0)
    return;
  if (truncated) {
    ambiguous_ = true;
    return;
  }
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
