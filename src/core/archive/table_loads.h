// table_loads.h: loading the tables that a parallel export (backup option
// "jobs" > 1) stored in objects of their own, for restores that apply the
// archive with pg_restore and psql: selected tables and schemas in the
// server, and the pgbak command.
//
// Such a table's definition is in the archive, its rows are not: they are
// the COPY text of a "table_data" object, which the manifest's tables name
// (with the columns of that text, in order). A restore that restores the
// table must load that text into it after the definitions (pre-data) and
// before the indexes and constraints (post-data), or it restores the table
// empty. TableLoadScript writes that step as a psql script of \copy
// commands, which psql runs between the two scripts pg_restore writes for
// the sections before and after it, in the same session: with
// --single-transaction, all of it or nothing. Nothing here needs a server.
//
// psql runs those scripts, and names in an archive end up in them: before
// PostgreSQL 15.14 (CVE-2025-8714) a name could end a line and start a psql
// meta-command (\! runs a shell). pg_restore 15.14 and later put the script
// in psql's restricted mode (\restrict KEY ... \unrestrict KEY, KEY random
// per script), where psql runs no meta-command; CheckRestrictedScript
// refuses a script without it before psql sees any. The \copy script runs
// between two restricted scripts, after one's \unrestrict and before the
// next one's \restrict.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/archive/archive_scanner.h"
#include "core/archive/manifest.h"
#include "core/archive/set_reader.h"

namespace pgbak {

// SeparateTableLoad is one table whose rows a restore loads from a staged
// table object.
struct SeparateTableLoad {
  std::string schema;
  std::string table;
  std::string owner;                 // the TABLE entry's owner ("" if none)
  std::vector<std::string> columns;  // of the COPY text, in order ("" list: all)
  std::string path;                  // the staged, decompressed COPY text
  std::string object;                // the table object's name in the set
  int table_id = 0;                  // the TABLE entry's dump id
};

// SeparateTableLoads are the tables of manifest stored in objects of their
// own whose TABLE entry in toc passes restored (all when null), in the
// manifest's order, with their staged files from table_paths (object name
// -> path, StagedSet::table_paths). A table whose TABLE entry is not in toc,
// or whose object was not staged, is damage (kCorrupt).
std::vector<SeparateTableLoad> SeparateTableLoads(
    const Manifest& manifest, const std::vector<TocEntry>& toc,
    const std::map<std::string, std::string>& table_paths,
    const std::function<bool(const TocEntry&)>& restored = nullptr);

// FetchedTableName is the name of table object's decompressed (and
// decrypted) COPY text in a fetched set: "table-0001.copy" for
// "table-0001.copy.zst[.age]"; an object not named that way is damage
// (kCorrupt).
std::string FetchedTableName(const std::string& object);

// FetchedTableNames are the FetchedTableName of each of tables, in order.
// Two tables whose COPY text would land in one file ("table-0001.copy.zst"
// and "table-0001.copy.zst.age", or one object named by two tables: a
// manifest no backup writes) are damage (kCorrupt): one would overwrite the
// other.
std::vector<std::string> FetchedTableNames(const std::vector<SeparateTableLoad>& tables);

// TableLoadScript is the psql script that loads tables: the session
// settings pg_restore gives its own sessions (client_encoding is the
// archive's, that of the COPY text), then per table a \copy of its file
// with its column list, as its owner (SET SESSION AUTHORIZATION) when
// as_owners, and RESET SESSION AUTHORIZATION at the end. into_schema, if
// not empty, replaces every table's schema. A path psql could not read
// back as written (a line break in a name or a path) is refused
// (kInvalidParameter).
std::string TableLoadScript(const std::vector<SeparateTableLoad>& tables,
                            const std::string& client_encoding, bool as_owners,
                            const std::string& into_schema = "");

// RestoreScriptBytes estimates the bytes of the scripts pg_restore writes
// (--file) of the entries of staged's archive that restored keeps (all
// when null), which are staged beside the archive and must fit as it did:
// the archive's table of contents bounds every definition (with 256 bytes
// for the comment and settings pg_restore writes around each entry), each
// kept entry's data block bounds its COPY text, and large objects (BLOBS)
// are written as hex, so thrice theirs. An archive whose blocks are not
// known (its table of contents was not read whole) counts whole, once.
uint64_t RestoreScriptBytes(const StagedSet& staged,
                            const std::function<bool(const TocEntry&)>& restored = nullptr);

// RestrictedScriptKey checks the text of a script pg_restore wrote
// (--file): head, its beginning, must have as its first line other than
// empty lines and "--" comments "\restrict KEY" (KEY: letters and digits),
// and tail, its end, "\unrestrict KEY" with the same key as its last such
// line, so that psql runs all of it restricted and leaves it unrestricted
// (for the \copy script that may follow). Returns KEY; throws kChildFailed,
// naming script (the file) and the pg_restore version needed, otherwise.
std::string RestrictedScriptKey(const std::string& head, const std::string& tail,
                                const std::string& script);

// NewRestrictKey is a key for pg_restore --restrict-key: 32 random letters
// and digits from the system's CSPRNG. A key of our own, not one pg_restore
// chose: a pg_restore older than 15.14 would print an archive's version
// strings, which its maker chose, above its first statement (where a
// "\restrict KEY" of theirs would pass a check of the first line), and it
// does not know the option, so it fails instead of writing a script.
std::string NewRestrictKey();

// CheckRestrictedScript is RestrictedScriptKey on the file at path (its
// first and last 64 KiB), which must find key (NewRestrictKey, given to the
// pg_restore that wrote it), to be called on every script pg_restore wrote
// before psql runs it; kIo if the file cannot be read.
void CheckRestrictedScript(const std::string& path, const std::string& key);

}  // namespace pgbak
