// table_loads.cpp: the rows of tables in objects of their own, for
// restores that go through pg_restore and psql; see table_loads.h.

#include "core/archive/table_loads.h"

#include <cstring>

#include "core/archive/database_properties.h"
#include "core/base/error.h"
#include "core/options/backup_options.h"
#include "core/base/no_postgres.h"

namespace pgbak {

std::vector<SeparateTableLoad> SeparateTableLoads(
    const Manifest& manifest, const std::vector<TocEntry>& toc,
    const std::map<std::string, std::string>& table_paths,
    const std::function<bool(const TocEntry&)>& restored) {
  std::vector<SeparateTableLoad> loads;
  for (const TableCount& table : manifest.tables) {
    if (table.object.empty())
      continue;
    const TocEntry* entry = nullptr;
    for (const TocEntry& candidate : toc)
      if (candidate.desc == "TABLE" && candidate.namespace_ == table.schema &&
          candidate.tag == table.table)
        entry = &candidate;
    std::string name = "\"" + table.schema + "\".\"" + table.table + "\"";
    if (entry == nullptr)
      throw Error(ErrorKind::kCorrupt, "the set holds the rows of table " + name +
                                           " in an object of its own, but its archive does "
                                           "not define that table");
    if (restored && !restored(*entry))
      continue;
    auto staged = table_paths.find(table.object);
    if (staged == table_paths.end())
      throw Error(ErrorKind::kCorrupt,
                  "the rows of table " + name + " (object " + table.object + ") were not staged");
    loads.push_back({table.schema, table.table, entry->owner, table.columns, staged->second,
                     table.object, entry->dump_id});
  }
  return loads;
}

std::string FetchedTableName(const std::string& object) {
  std::string name = object;
  for (const char* suffix : {".age", ".zst"})
    if (name.size() > std::strlen(suffix) &&
        name.compare(name.size() - std::strlen(suffix), std::strlen(suffix), suffix) == 0)
      name.resize(name.size() - std::strlen(suffix));
  // table-NNNN.copy: digits only between the dash and the dot.
  bool ours = name.size() > 11 && name.compare(0, 6, "table-") == 0 &&
              name.compare(name.size() - 5, 5, ".copy") == 0 &&
              name.find_first_not_of("0123456789", 6) == name.size() - 5;
  if (!ours)
    throw Error(ErrorKind::kCorrupt, "object \"" + object + "\" is not named as a table object");
  return name;
}

std::string TableLoadScript(const std::vector<SeparateTableLoad>& tables,
                            const std::string& client_encoding, bool as_owners,
                            const std::string& into_schema) {
  if (client_encoding.empty())
    throw Error(ErrorKind::kCorrupt, "the archive names no encoding for its COPY text");
  // What pg_restore sets in its sessions (_doSetFixedOutputState): the COPY
  // text is in the archive's encoding, and no timeout may cut a long load.
  std::string script =
      "SET statement_timeout = 0;\nSET lock_timeout = 0;\n"
      "SET idle_in_transaction_session_timeout = 0;\n"
      "SET client_encoding = " +
      QuoteLiteral(client_encoding) +
      ";\nSET standard_conforming_strings = on;\n"
      "SELECT pg_catalog.set_config('search_path', '', false);\n"
      "SET row_security = off;\n";
  for (const SeparateTableLoad& table : tables) {
    // A \copy command is one line, taken as it is: a line break in a name
    // would end it and make the rest a command of psql's own.
    bool line_break = false;
    for (const std::string* part : {&table.schema, &table.table, &table.path, &into_schema})
      line_break = line_break || part->find_first_of("\n\r") != std::string::npos;
    for (const std::string& column : table.columns)
      line_break = line_break || column.find_first_of("\n\r") != std::string::npos;
    if (line_break)
      throw Error(ErrorKind::kInvalidParameter,
                  "table \"" + table.schema + "\".\"" + table.table +
                      "\", stored in an object of its own, cannot be loaded by psql: its "
                      "name, a column's or its staging path holds a line break",
                  "Nothing was restored.",
                  "Restore the set whole (pgbak_restore without \"tables\" or \"schemas\"), "
                  "which loads it without psql.");
    if (as_owners)
      script += table.owner.empty()
                    ? "RESET SESSION AUTHORIZATION;\n"
                    : "SET SESSION AUTHORIZATION " + QuoteIdentifier(table.owner) + ";\n";
    std::string columns;
    for (const std::string& column : table.columns)
      columns += (columns.empty() ? "" : ", ") + QuoteIdentifier(column);
    // \copy reads the file as psql's user; a quote in its name is doubled
    // (psql's quoting of a file name).
    std::string path;
    for (char c : table.path)
      path += c == '\'' ? std::string("''") : std::string(1, c);
    script += "\\copy " + QuoteIdentifier(into_schema.empty() ? table.schema : into_schema) + "." +
              QuoteIdentifier(table.table) + (columns.empty() ? "" : " (" + columns + ")") +
              " FROM '" + path + "'\n";
  }
  if (as_owners)
    script += "RESET SESSION AUTHORIZATION;\n";
  return script;
}

}  // namespace pgbak
