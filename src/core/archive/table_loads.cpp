// table_loads.cpp: the rows of tables in objects of their own, for
// restores that go through pg_restore and psql; see table_loads.h.

#include "core/archive/table_loads.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
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

std::vector<std::string> FetchedTableNames(const std::vector<SeparateTableLoad>& tables) {
  std::vector<std::string> names;
  std::map<std::string, const SeparateTableLoad*> taken;
  for (const SeparateTableLoad& table : tables) {
    std::string name = FetchedTableName(table.object);
    auto [other, fresh] = taken.emplace(name, &table);
    if (!fresh)
      throw Error(ErrorKind::kCorrupt,
                  "the set's manifest puts the rows of two tables in one file \"" + name +
                      "\": object \"" + other->second->object + "\" (table \"" +
                      other->second->schema + "\".\"" + other->second->table + "\") and object \"" +
                      table.object + "\" (table \"" + table.schema + "\".\"" + table.table + "\")",
                  "Nothing was fetched.");
    names.push_back(name);
  }
  return names;
}

namespace {

// SafeOnPsqlLine says whether text may stand, quoted, in a psql
// backslash command line. psql splits such a line by characters of the
// client encoding, taking a multibyte character's length from its first
// byte: a lead byte before a quote would swallow the quote and let the rest
// of the line (FROM PROGRAM '...') be psql's. So: printable ASCII, or, with
// UTF8, well-formed UTF-8 without control characters; nothing else (a NUL
// would end the line early, a line break would end the command).
bool SafeOnPsqlLine(const std::string& text, bool utf8) {
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7F) {
      i++;
      continue;
    }
    if (!utf8 || c < 0xC2 || c > 0xF4)
      return false;
    size_t length = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (i + length > text.size())
      return false;
    for (size_t k = 1; k < length; k++) {
      unsigned char next = static_cast<unsigned char>(text[i + k]);
      if (next < 0x80 || next > 0xBF)
        return false;
    }
    i += length;
  }
  return true;
}

}  // namespace

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
    // A \copy command is one line, split by psql as it is; the names come
    // from the set's manifest, which a storage may have written: see
    // SafeOnPsqlLine.
    bool utf8 = client_encoding == "UTF8";
    bool safe = true;
    for (const std::string* part :
         {&table.schema, &table.table, &table.path, &into_schema, &table.owner})
      safe = safe && SafeOnPsqlLine(*part, utf8);
    for (const std::string& column : table.columns)
      safe = safe && SafeOnPsqlLine(column, utf8);
    if (!safe)
      throw Error(ErrorKind::kInvalidParameter,
                  "a table stored in an object of its own cannot be loaded by psql: its name, a "
                  "column's, its owner's or its staging path holds a line break, a control "
                  "character, or bytes that are not printable ASCII or (in a UTF8 archive) "
                  "well-formed UTF-8",
                  "Nothing was restored.",
                  "Restore the set whole (pgbak_restore without \"tables\" or \"schemas\"), "
                  "which loads it without psql.");
    // Loaded as its owner: a table without one would be loaded as the
    // superuser the session is.
    if (as_owners && table.owner.empty())
      throw Error(ErrorKind::kCorrupt, "table \"" + table.schema + "\".\"" + table.table +
                                           "\" has no owner in the set's archive");
    if (as_owners)
      script += "SET SESSION AUTHORIZATION " + QuoteIdentifier(table.owner) + ";\n";
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

uint64_t RestoreScriptBytes(const StagedSet& staged,
                            const std::function<bool(const TocEntry&)>& restored) {
  constexpr uint64_t kPerEntry = 256;
  uint64_t bytes = staged.toc_bytes + kPerEntry * staged.toc.size();
  if (staged.data_bytes.empty() && staged.toc_bytes == 0) {
    struct stat st;
    if (!staged.data_path.empty() && stat(staged.data_path.c_str(), &st) == 0)
      bytes += static_cast<uint64_t>(st.st_size);
    return bytes;
  }
  for (const TocEntry& entry : staged.toc) {
    auto block = staged.data_bytes.find(entry.dump_id);
    if (block == staged.data_bytes.end() || (restored && !restored(entry)))
      continue;
    bytes += entry.desc == "TABLE DATA" ? block->second : 3 * block->second;
  }
  return bytes;
}

namespace {

// kRestrictNeeded is what a script without psql's restricted mode is
// refused with: the version of pg_restore that writes it.
constexpr const char* kRestrictNeeded =
    "pg_restore from PostgreSQL 15.14 or later (or 16.10, 17.6, 18 and later) is needed: it "
    "writes \\restrict at the start of its scripts, so that names in an archive cannot run "
    "psql meta-commands (CVE-2025-8714)";

// ScriptLines splits text into lines (without their line break).
std::vector<std::string> ScriptLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// IsScriptComment says whether line is empty or a "--" comment, which
// pg_restore writes before \restrict and after \unrestrict.
bool IsScriptComment(const std::string& line) {
  return line.empty() || line.compare(0, 2, "--") == 0;
}

// KeyAfter is the key of a "<command> KEY" line (KEY: letters and digits,
// as pg_dump requires of one), "" if line is not one.
std::string KeyAfter(const std::string& line, const std::string& command) {
  if (line.compare(0, command.size() + 1, command + " ") != 0)
    return "";
  std::string key = line.substr(command.size() + 1);
  for (char c : key)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
      return "";
  return key;
}

}  // namespace

std::string RestrictedScriptKey(const std::string& head, const std::string& tail,
                                const std::string& script) {
  std::string key;
  for (const std::string& line : ScriptLines(head)) {
    if (IsScriptComment(line))
      continue;
    key = KeyAfter(line, "\\restrict");
    break;
  }
  if (key.empty())
    throw Error(ErrorKind::kChildFailed,
                "pg_restore wrote a script that does not begin with \\restrict, which pgbak does "
                "not run through psql",
                std::string(kRestrictNeeded) + ". Nothing was restored. Script: " + script + ".",
                "Install the current minor release of the PostgreSQL client tools (pg_restore "
                "and psql) next to the server.");
  std::vector<std::string> lines = ScriptLines(tail);
  auto last = lines.rbegin();
  while (last != lines.rend() && IsScriptComment(*last))
    ++last;
  if (last == lines.rend() || KeyAfter(*last, "\\unrestrict") != key)
    throw Error(ErrorKind::kChildFailed,
                "pg_restore wrote a script that does not end with \\unrestrict and its "
                "\\restrict key, which pgbak does not run through psql",
                std::string(kRestrictNeeded) + ". Nothing was restored. Script: " + script + ".");
  return key;
}

std::string NewRestrictKey() {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string key;
  while (key.size() < 32) {
    unsigned char bytes[64];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1)
      throw Error(ErrorKind::kInternal, "the system's random number generator failed");
    for (unsigned char byte : bytes)
      if (byte < 248 && key.size() < 32)  // 248 = 4 x 62: no letter more likely
        key.push_back(kAlphabet[byte % 62]);
  }
  return key;
}

void CheckRestrictedScript(const std::string& path, const std::string& key) {
  constexpr size_t kPiece = 64 << 10;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    ThrowErrno("could not open \"" + path + "\"", errno);
  auto read_at = [&](off_t offset, size_t size) {
    std::string text(size, '\0');
    size_t done = 0;
    while (done < size) {
      ssize_t n = pread(fd, &text[done], size - done, offset + static_cast<off_t>(done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0) {
        int saved = errno;
        close(fd);
        ThrowErrno("could not read \"" + path + "\"", saved);
      }
      if (n == 0)
        break;
      done += static_cast<size_t>(n);
    }
    text.resize(done);
    return text;
  };
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int saved = errno;
    close(fd);
    ThrowErrno("could not stat \"" + path + "\"", saved);
  }
  size_t size = static_cast<size_t>(st.st_size);
  std::string head = read_at(0, std::min(size, kPiece));
  std::string tail = size <= kPiece ? head : read_at(static_cast<off_t>(size - kPiece), kPiece);
  close(fd);
  // A piece cut inside a line: the head's last line and the tail's first
  // one may be partial, which neither check reads as a whole line.
  if (size > kPiece) {
    head.resize(head.rfind('\n') == std::string::npos ? 0 : head.rfind('\n') + 1);
    tail = tail.find('\n') == std::string::npos ? "" : tail.substr(tail.find('\n') + 1);
  }
  if (RestrictedScriptKey(head, tail, path) != key)
    throw Error(ErrorKind::kChildFailed,
                "pg_restore wrote a script restricted with another key than the one pgbak gave "
                "it, which pgbak does not run through psql",
                std::string(kRestrictNeeded) + ". Nothing was restored. Script: " + path + ".");
}

}  // namespace pgbak
