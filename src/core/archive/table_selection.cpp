// table_selection.cpp: the entries that bring a table back whole; see
// table_selection.h.
#include "core/archive/table_selection.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

// kBelonging are the kinds of entries that belong to what they depend on.
const std::set<std::string>& Belonging() {
  static const std::set<std::string> kinds = {
      "TABLE DATA",        "INDEX",      "CONSTRAINT",     "CHECK CONSTRAINT",
      "FK CONSTRAINT",     "TRIGGER",    "RULE",           "POLICY",
      "ROW SECURITY",      "DEFAULT",    "TABLE ATTACH",   "INDEX ATTACH",
      "COMMENT",           "ACL",        "SECURITY LABEL", "SEQUENCE SET",
      "SEQUENCE OWNED BY", "STATISTICS", "SEQUENCE"};
  return kinds;
}

bool IsSystemSchema(const std::string& schema) {
  return schema == "information_schema" || schema.rfind("pg_", 0) == 0;
}

// PartitionsOf pairs each partition's TABLE entry with its parent's, from
// the TABLE ATTACH entries: named after the partition, they depend on it and
// on its parent.
std::vector<std::pair<int, int>> PartitionsOf(const std::vector<TocEntry>& toc,
                                              const std::map<int, const TocEntry*>& by_id) {
  std::vector<std::pair<int, int>> child_parent;
  for (const TocEntry& entry : toc) {
    if (entry.desc != "TABLE ATTACH")
      continue;
    int child = 0;
    std::vector<int> parents;
    for (int id : entry.dependencies) {
      auto it = by_id.find(id);
      if (it == by_id.end() || it->second->desc != "TABLE")
        continue;
      if (it->second->tag == entry.tag && it->second->namespace_ == entry.namespace_)
        child = id;
      else
        parents.push_back(id);
    }
    if (child == 0)
      continue;
    for (int parent : parents)
      if (parent != child)
        child_parent.emplace_back(child, parent);
  }
  return child_parent;
}

// IsIndexEntry says whether entry makes an index: an INDEX, or a
// constraint that has one (primary key, unique, exclusion).
bool IsIndexEntry(const TocEntry& entry) {
  return entry.desc == "INDEX" || entry.desc == "CONSTRAINT";
}

// AttachedIndex says whether index is the entry whose index attach attaches
// to its parent's: the one named as attach is (a constraint's tag is its
// table's name, a space, and its own).
bool AttachedIndex(const TocEntry& attach, const TocEntry& index) {
  if (!IsIndexEntry(index) || index.namespace_ != attach.namespace_)
    return false;
  if (index.desc == "INDEX")
    return index.tag == attach.tag;
  return index.tag.size() > attach.tag.size() &&
         index.tag.compare(index.tag.size() - attach.tag.size(), attach.tag.size(), attach.tag) ==
             0 &&
         index.tag[index.tag.size() - attach.tag.size() - 1] == ' ';
}

}  // namespace

TableSelection SelectTablesWhole(const std::vector<TocEntry>& toc,
                                 const std::vector<SelectedTable>& tables) {
  TableSelection result;
  std::map<int, const TocEntry*> by_id;
  for (const TocEntry& entry : toc)
    by_id[entry.dump_id] = &entry;

  std::set<int>& selected = result.dump_ids;
  std::set<int> table_ids;  // the TABLE entries selected
  for (const SelectedTable& wanted : tables) {
    bool found = false;
    for (const TocEntry& entry : toc) {
      if (entry.desc != "TABLE" || entry.tag != wanted.name)
        continue;
      if (wanted.schema.empty() ? IsSystemSchema(entry.namespace_)
                                : entry.namespace_ != wanted.schema)
        continue;
      selected.insert(entry.dump_id);
      table_ids.insert(entry.dump_id);
      found = true;
    }
    if (!found)
      result.missing.push_back(wanted.schema.empty() ? wanted.name
                                                     : wanted.schema + "." + wanted.name);
  }
  // A partitioned table comes back whole with its partitions, and theirs:
  // without them it would hold no rows, and its indexes would stay invalid
  // (pg_dump creates them ON ONLY the parent, and attaches each
  // partition's).
  std::vector<std::pair<int, int>> child_parent = PartitionsOf(toc, by_id);
  for (bool changed = true; changed;) {
    changed = false;
    for (const auto& [child, parent] : child_parent)
      if (table_ids.count(parent) > 0 && table_ids.insert(child).second) {
        selected.insert(child);
        changed = true;
      }
  }

  // depends_on says whether entry depends on one of ids.
  auto depends_on = [](const TocEntry& entry, const std::set<int>& ids) {
    for (int dependency : entry.dependencies)
      if (ids.count(dependency) != 0)
        return true;
    return false;
  };
  std::set<int> referrers;

  for (bool changed = true; changed;) {
    changed = false;
    for (const TocEntry& entry : toc) {
      if (selected.count(entry.dump_id) != 0 || Belonging().count(entry.desc) == 0 ||
          !depends_on(entry, selected))
        continue;
      bool take = true;
      if (entry.desc == "FK CONSTRAINT") {
        // A foreign key belongs to the table that holds it, the one whose
        // name begins its tag; one that only points at a selected table
        // belongs to another table.
        take = false;
        for (int id : table_ids)
          take = take || (by_id[id]->namespace_ == entry.namespace_ &&
                          entry.tag.rfind(by_id[id]->tag + " ", 0) == 0);
        if (!take)
          referrers.insert(entry.dump_id);
      } else if (entry.desc == "TABLE ATTACH") {
        // Named after the partition: attaching a partition that is not
        // restored would fail.
        take = false;
        for (int dependency : entry.dependencies) {
          auto on = by_id.find(dependency);
          take = take || (selected.count(dependency) != 0 && on != by_id.end() &&
                          on->second->tag == entry.tag);
        }
      } else if (entry.desc == "INDEX ATTACH") {
        take = false;  // settled below, once the indexes are
      } else if (entry.desc == "INDEX" || entry.desc == "CONSTRAINT" ||
                 entry.desc == "CHECK CONSTRAINT") {
        // A partition's index depends on its parent's too: it belongs to
        // the partition only.
        take = depends_on(entry, table_ids);
      } else if (entry.desc == "SEQUENCE") {
        // An identity column's sequence depends on its table; any other
        // sequence comes in through SEQUENCE OWNED BY.
        take = depends_on(entry, table_ids);
      } else if (entry.desc == "TABLE DATA") {
        take = depends_on(entry, table_ids);
      }
      if (!take)
        continue;
      selected.insert(entry.dump_id);
      changed = true;
      if (entry.desc == "SEQUENCE OWNED BY") {
        // The sequence a selected table owns (a serial column) comes along:
        // the entry is named after it (and depends on the table).
        for (const TocEntry& sequence : toc)
          if (sequence.desc == "SEQUENCE" && sequence.tag == entry.tag &&
              sequence.namespace_ == entry.namespace_)
            selected.insert(sequence.dump_id);
      }
    }
  }
  // A partition restored without its parent is attached to the parent in
  // the target, and ATTACH PARTITION itself gives it (and its own
  // partitions) its copies of the parent's indexes and of their
  // constraints: its own CREATE INDEX or ADD CONSTRAINT would collide with
  // them. Such an index is one attached to an index that is not restored,
  // or to one that is left out for that reason in turn.
  for (bool changed = true; changed;) {
    changed = false;
    for (const TocEntry& attach : toc) {
      if (attach.desc != "INDEX ATTACH")
        continue;
      int index = 0;
      bool parent_restored = true;
      for (int dependency : attach.dependencies) {
        auto on = by_id.find(dependency);
        if (on == by_id.end() || !IsIndexEntry(*on->second))
          continue;
        if (AttachedIndex(attach, *on->second))
          index = dependency;
        else if (selected.count(dependency) == 0)
          parent_restored = false;
      }
      if (index != 0 && !parent_restored && selected.erase(index) > 0)
        changed = true;
    }
  }
  // An index attaches to its parent's when both are restored.
  for (const TocEntry& attach : toc) {
    if (attach.desc != "INDEX ATTACH")
      continue;
    bool both = false, all = true;
    for (int dependency : attach.dependencies) {
      auto on = by_id.find(dependency);
      if (on == by_id.end() || !IsIndexEntry(*on->second))
        continue;
      both = both || AttachedIndex(attach, *on->second);
      all = all && selected.count(dependency) > 0;
    }
    if (both && all)
      selected.insert(attach.dump_id);
  }
  for (int id : referrers) {
    const TocEntry& key = *by_id[id];
    ForeignKeyTo to;
    to.dump_id = id;
    to.schema = key.namespace_;
    // The holder is the table the key depends on whose name begins its tag.
    for (int dependency : key.dependencies) {
      auto on = by_id.find(dependency);
      if (on != by_id.end() && on->second->desc == "TABLE" &&
          key.tag.rfind(on->second->tag + " ", 0) == 0) {
        to.schema = on->second->namespace_;
        to.table = on->second->tag;
        to.name = key.tag.substr(on->second->tag.size() + 1);
      }
    }
    if (to.table.empty())
      to.name = key.tag;
    result.referrers.push_back(to);
  }
  return result;
}

std::vector<int> ForeignKeysAcrossData(
    const std::vector<TocEntry>& toc, const std::set<int>& left_out,
    const std::set<std::pair<std::string, std::string>>& rows_elsewhere) {
  std::map<int, const TocEntry*> by_id;
  std::set<std::pair<std::string, std::string>> with_data = rows_elsewhere;
  for (const TocEntry& entry : toc) {
    by_id[entry.dump_id] = &entry;
    if (entry.desc == "TABLE DATA" && left_out.count(entry.dump_id) == 0)
      with_data.insert({entry.namespace_, entry.tag});
  }
  std::set<int> has_rows;
  for (const TocEntry& entry : toc)
    if (entry.desc == "TABLE" && with_data.count({entry.namespace_, entry.tag}) > 0)
      has_rows.insert(entry.dump_id);
  // A partition's rows are its parent's too, up the tree.
  std::vector<std::pair<int, int>> child_parent = PartitionsOf(toc, by_id);
  for (bool changed = true; changed;) {
    changed = false;
    for (const auto& [child, parent] : child_parent)
      if (has_rows.count(child) > 0 && has_rows.insert(parent).second)
        changed = true;
  }
  std::vector<int> keys;
  for (const TocEntry& entry : toc) {
    if (entry.desc != "FK CONSTRAINT")
      continue;
    bool with = false, without = false;
    for (int id : entry.dependencies) {
      auto it = by_id.find(id);
      if (it == by_id.end() || it->second->desc != "TABLE")
        continue;
      (has_rows.count(id) > 0 ? with : without) = true;
    }
    if (with && without)
      keys.push_back(entry.dump_id);
  }
  return keys;
}

}  // namespace pgbak
