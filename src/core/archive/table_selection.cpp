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

std::string Qualified(const TocEntry& entry) {
  return entry.namespace_.empty() ? entry.tag : entry.namespace_ + "." + entry.tag;
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

  // depends_on says whether entry depends on one of ids.
  auto depends_on = [](const TocEntry& entry, const std::set<int>& ids) {
    for (int dependency : entry.dependencies)
      if (ids.count(dependency) != 0)
        return true;
    return false;
  };
  std::set<std::string> selected_tables;
  for (int id : table_ids)
    selected_tables.insert(Qualified(*by_id[id]));
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
      } else if (entry.desc == "TABLE ATTACH" || entry.desc == "INDEX ATTACH") {
        // Named after the partition (or its index): attaching a partition
        // that is not restored would fail.
        take = false;
        for (int dependency : entry.dependencies) {
          auto on = by_id.find(dependency);
          take = take || (selected.count(dependency) != 0 && on != by_id.end() &&
                          on->second->tag == entry.tag);
        }
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
  // A partition attached to a parent that has partitioned indexes gets its
  // copies of them from ATTACH PARTITION itself (the parent exists in the
  // target): its own CREATE INDEX and ALTER INDEX ... ATTACH would collide.
  std::set<int> attached_tables;
  for (int id : selected)
    if (by_id[id]->desc == "TABLE ATTACH")
      for (int dependency : by_id[id]->dependencies)
        if (by_id.count(dependency) != 0 && by_id[dependency]->tag == by_id[id]->tag)
          attached_tables.insert(dependency);
  std::set<int> made_by_attach;
  for (int id : selected) {
    const TocEntry& attach = *by_id[id];
    if (attach.desc != "INDEX ATTACH")
      continue;
    for (int dependency : attach.dependencies) {
      auto index = by_id.find(dependency);
      if (index == by_id.end() || index->second->tag != attach.tag)
        continue;
      if (depends_on(*index->second, attached_tables)) {
        made_by_attach.insert(id);
        made_by_attach.insert(dependency);
      }
    }
  }
  for (int id : made_by_attach)
    selected.erase(id);
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
    for (int parent : parents)
      child_parent.emplace_back(child, parent);
  }
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
