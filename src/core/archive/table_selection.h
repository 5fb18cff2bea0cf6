// table_selection.h: which entries of a custom archive bring a table back
// whole.
//
// pg_restore -t restores a table's definition and data only: no primary
// key, indexes, constraints, triggers, row-level security, policies, grants,
// comments or owned sequences, and a partition comes back detached. A
// restore of "the users table someone dropped" needs all of that. The
// archive's table of contents says what belongs to a table: every entry
// that depends on it (indexes, constraints, its own foreign keys, triggers,
// rules, policies, ROW SECURITY, column defaults, partition attachment,
// comments, grants, security labels), what depends on those in turn
// (comments and grants of an index or a constraint, attached partition
// indexes), and the sequences it owns (SEQUENCE OWNED BY) with their values
// and grants. A partitioned table brings its partitions, down the tree, each
// whole (its indexes attached to the parent's). A partition selected without
// its parent is attached to the parent in the target, and ATTACH PARTITION
// makes its copies of the parent's indexes and index constraints there: its
// own entries for those (and their INDEX ATTACH) are left out, its other
// indexes and constraints kept. Other tables, views and functions are
// never pulled in, and
// foreign keys that other tables hold and that point at a selected table are
// listed apart (their tables may not exist in the target). A foreign key's
// entry depends on both tables; it is held by the one it is named after
// (its tag is "table constraint").
#pragma once

#include <set>
#include <string>
#include <vector>

#include "core/archive/archive_scanner.h"

namespace pgbak {

// SelectedTable names a table to restore; an empty schema matches the table
// in any schema that is not a system one.
struct SelectedTable {
  std::string schema;
  std::string name;
};

// ForeignKeyTo is a foreign key that another table holds and that points at
// a selected table: restorable if that table exists in the target.
struct ForeignKeyTo {
  int dump_id = 0;
  std::string schema;  // of the table that holds it
  std::string table;
  std::string name;  // the constraint's
};

// TableSelection is what SelectTablesWhole found.
struct TableSelection {
  std::set<int> dump_ids;               // the entries to restore
  std::vector<std::string> missing;     // selected tables not in the archive
  std::vector<ForeignKeyTo> referrers;  // other tables' foreign keys to them
};

// SelectTablesWhole picks the entries of toc that restore tables whole.
TableSelection SelectTablesWhole(const std::vector<TocEntry>& toc,
                                 const std::vector<SelectedTable>& tables);

// ForeignKeysAcrossData lists the foreign keys (FK CONSTRAINT entries) of
// toc that tie a table whose rows the archive holds to one whose rows it
// does not: a tables or schemas backup carries every definition but the
// data of its selection only, and such a key cannot be created on a
// restore of it (its rows would refer to rows that are not there). A table
// holds rows if the archive has its TABLE DATA, a partitioned table if one
// of its partitions does (TABLE ATTACH entries say which). A restore that
// leaves out entries of the archive (left_out) has the rows of the TABLE
// DATA entries it keeps, and a set with tables in objects of their own (a
// parallel export) has the rows of rows_elsewhere (schema, table) too.
std::vector<int> ForeignKeysAcrossData(
    const std::vector<TocEntry>& toc, const std::set<int>& left_out = {},
    const std::set<std::pair<std::string, std::string>>& rows_elsewhere = {});

}  // namespace pgbak
