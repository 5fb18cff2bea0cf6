// backup_job.cpp: one backup, from snapshot to manifest, in a worker.
//
// The worker opens a libpq session to the database being dumped (a
// background worker is bound to pgbak.database, and a snapshot can only be
// imported in its own database), exports a snapshot there, and runs the
// server's own pg_dump with --snapshot so that the dump and the manifest's
// row counts (queried on that session while pg_dump runs) see the same data.
// pg_dump's stdout streams through zstd and SHA-256 into the storage; the
// objects, then manifest.json as the commit marker, then the backup_log row.

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
}

#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>

#include <ctime>
#include <memory>
#include <set>
#include <string>
#include <sys/time.h>
#include <vector>

#include "core/archive/archive_scanner.h"
#include "core/archive/export_plan.h"
#include "core/archive/manifest.h"
#include "core/archive/set_layout.h"
#include "core/base/child_process.h"
#include "core/base/error.h"
#include "core/base/json.h"
#include "core/crypto/age.h"
#include "core/options/backup_options.h"
#include "core/pipeline/meter_sink.h"
#include "core/pipeline/zstd_sink.h"
#include "pg/boundary/transaction.h"
#include "pg/catalog/catalog.h"
#include "pg/catalog/storage_registry.h"
#include "pg/jobs/backup_job.h"
#include "pg/jobs/disk_space.h"
#include "pg/jobs/dump_tools.h"
#include "pg/jobs/parallel_export.h"
#include "pg/runtime/settings.h"
#include "pg/runtime/shared_state.h"
#include "pg/runtime/worker_signals.h"

namespace pgbak {

// kDatabasePropertiesQuery: see backup_job.h.
const char* const kDatabasePropertiesQuery =
    "SELECT pg_catalog.json_build_object("
    " 'owner', pg_catalog.pg_get_userbyid(d.datdba),"
    " 'encoding', pg_catalog.pg_encoding_to_char(d.encoding),"
    " 'lc_collate', d.datcollate, 'lc_ctype', d.datctype,"
    " 'locale_provider', d.datlocprovider::text, 'icu_locale', d.daticulocale,"
    " 'connection_limit', d.datconnlimit,"
    " 'acl', (SELECT pg_catalog.json_agg(pg_catalog.json_build_object("
    "   'grantee', CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC' "
    "              ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END,"
    "   'privilege', a.privilege_type, 'grantable', a.is_grantable))"
    "   FROM pg_catalog.aclexplode(d.datacl) a),"
    " 'settings', (SELECT pg_catalog.json_agg(pg_catalog.json_build_object("
    "   'role', CASE WHEN s.setrole OPERATOR(pg_catalog.=) 0 THEN NULL "
    "           ELSE pg_catalog.pg_get_userbyid(s.setrole)::text END, 'setting', c))"
    "   FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) c"
    "   WHERE s.setdatabase OPERATOR(pg_catalog.=) d.oid),"
    " 'comment', pg_catalog.shobj_description(d.oid, 'pg_database'))::text "
    "FROM pg_catalog.pg_database d "
    "WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()";

namespace {

constexpr int kPipeSize = 1 << 20;
constexpr size_t kTablesPerCountQuery = 100;
constexpr const char* kVersionTag = "pgbak_ext 1.0";

using PgResultPtr = std::unique_ptr<PGresult, void (*)(PGresult*)>;

// kDumpedTables is the FROM and WHERE of the tables whose data pg_dump
// dumps by default (not those of extensions).
constexpr const char* kDumpedTables =
    "FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind OPERATOR(pg_catalog.=) 'r' AND c.relpersistence IN ('p', 'u') "
    "AND n.nspname OPERATOR(pg_catalog.<>) 'information_schema' "
    "AND n.nspname OPERATOR(pg_catalog.!~) '^pg_' "
    "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d "
    "  WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass "
    "  AND d.objid = c.oid AND d.deptype = 'e') ";

// SnapshotSession is the libpq session that exports the dump's snapshot,
// holds it open while pg_dump imports it, and counts rows in it.
class SnapshotSession : public SideChannel {
 public:
  // lock_timeout_ms bounds each wait of the row counts for a table's lock (0:
  // none), whatever the database's or role's own lock_timeout says.
  SnapshotSession(const ServerFacts& facts, const std::string& database, int64_t lock_timeout_ms)
      : conn_(nullptr, PQfinish) {
    conn_ = ConnectLocal(facts, database);
    Exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    Exec(("SET LOCAL lock_timeout = " + std::to_string(lock_timeout_ms)).c_str());
    PgResultPtr result = Exec(
        "SELECT pg_catalog.pg_export_snapshot(), "
        "pg_catalog.pg_current_wal_lsn()::text, "
        "(SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_catalog.pg_database "
        " WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database())");
    snapshot_ = PQgetvalue(result.get(), 0, 0);
    lsn_ = PQgetvalue(result.get(), 0, 1);
    owner_ = PQgetvalue(result.get(), 0, 2);
    // What pg_dump leaves out without --create: the database itself.
    PgResultPtr properties = Exec(kDatabasePropertiesQuery);
    properties_ = PQgetvalue(properties.get(), 0, 0);
  }

  // A query still running when the session goes away (a failure, a cancel)
  // is cancelled: closing the socket alone would leave its backend counting,
  // or waiting for a lock, while holding the snapshot back.
  ~SnapshotSession() {
    if (busy_)
      CancelQuery();
  }
  SnapshotSession(const SnapshotSession&) = delete;
  SnapshotSession& operator=(const SnapshotSession&) = delete;

  const std::string& snapshot() const { return snapshot_; }
  const std::string& lsn() const { return lsn_; }
  // owner is the database's owner in the snapshot (a restore builds the
  // database as that role's).
  const std::string& owner() const { return owner_; }
  // properties is the database's encoding, locale, grants, settings and
  // comment as JSON (see core/archive/database_properties.h).
  const std::string& properties() const { return properties_; }

  // ListTables returns the tables whose data pg_dump dumps by default.
  std::vector<std::pair<std::string, std::string>> ListTables() {
    PgResultPtr result =
        Exec(std::string("SELECT n.nspname, c.relname ") + kDumpedTables + "ORDER BY 1, 2");
    std::vector<std::pair<std::string, std::string>> tables;
    for (int i = 0; i < PQntuples(result.get()); i++)
      tables.emplace_back(PQgetvalue(result.get(), i, 0), PQgetvalue(result.get(), i, 1));
    return tables;
  }

  // ListTableSizes returns the tables of ListTables with their OIDs and
  // sizes (the main forks of the heap and of its TOAST table: what COPY
  // reads), for a parallel export's plan. The sizes are the files' in the
  // data directory (RelationFileBytes at the paths the snapshot's catalog
  // gives), not pg_relation_size, which opens every relation in the
  // session's backend: 1.8 to 2.5 s for 20,000 tables on a busy machine,
  // against 0.3 s for their paths, a cost a database with nothing to split
  // would pay for nothing. A file rewritten since the snapshot (a TRUNCATE
  // or VACUUM FULL meanwhile) counts as empty: the size only orders the
  // plan, and the stream COPYs what the snapshot sees.
  // Also each table's owner, and whether the owner can read all of it (no
  // forced row security, SELECT on it, USAGE on its schema), which a table
  // cut into pieces needs (see ExportTable::splittable).
  std::vector<ExportTable> ListTableSizes() {
    PgResultPtr result = Exec(
        std::string("SELECT c.oid, n.nspname, c.relname, pg_catalog.pg_relation_filepath(c.oid), "
                    "CASE WHEN c.reltoastrelid OPERATOR(pg_catalog.<>) 0 "
                    "THEN pg_catalog.pg_relation_filepath(c.reltoastrelid) END, "
                    "pg_catalog.pg_get_userbyid(c.relowner), "
                    "NOT c.relforcerowsecurity AND "
                    "pg_catalog.has_table_privilege(c.relowner, c.oid, 'SELECT') AND "
                    "pg_catalog.has_schema_privilege(c.relowner, c.relnamespace, 'USAGE'), "
                    "c.relowner ") +
        kDumpedTables + "ORDER BY 2, 3");
    std::string data_directory = DataDir;
    auto bytes_at = [&](int row, int column) -> uint64_t {
      if (PQgetisnull(result.get(), row, column))
        return 0;
      return RelationFileBytes(data_directory + "/" + PQgetvalue(result.get(), row, column));
    };
    std::vector<ExportTable> tables;
    for (int i = 0; i < PQntuples(result.get()); i++) {
      ExportTable table;
      table.oid = static_cast<uint32_t>(std::stoul(PQgetvalue(result.get(), i, 0)));
      table.schema = PQgetvalue(result.get(), i, 1);
      table.table = PQgetvalue(result.get(), i, 2);
      table.heap_bytes = bytes_at(i, 3);
      table.bytes = table.heap_bytes + bytes_at(i, 4);
      table.owner = PQgetvalue(result.get(), i, 5);
      table.splittable = strcmp(PQgetvalue(result.get(), i, 6), "t") == 0;
      table.owner_oid = static_cast<uint32_t>(std::stoul(PQgetvalue(result.get(), i, 7)));
      tables.push_back(std::move(table));
    }
    return tables;
  }

  // BlockSize is the server's block size in bytes.
  uint64_t BlockSize() {
    PgResultPtr result = Exec("SELECT pg_catalog.current_setting('block_size')");
    return std::stoull(PQgetvalue(result.get(), 0, 0));
  }

  // LockTables takes ACCESS SHARE locks on tables (schema, name) for the rest
  // of the snapshot's transaction, as pg_dump does for its own: no DDL can
  // change them until every stream has read them.
  void LockTables(const std::vector<ExportTable>& tables) {
    std::string names;
    for (const ExportTable& table : tables)
      if (table.piece == 0)  // a table cut into pieces once
        names += (names.empty() ? "" : ", ") + Escaped(table.schema, true) + "." +
                 Escaped(table.table, true);
    // Waits with the latch: a cancel is seen while a lock is waited for.
    ExecWithLatch(conn_.get(), "LOCK TABLE ONLY " + names + " IN ACCESS SHARE MODE");
  }

  // ListDataRelations returns the relations whose data pg_dump dumps by
  // default: the tables of ListTables and materialized views.
  std::vector<std::pair<std::string, std::string>> ListDataRelations() {
    PgResultPtr result = Exec(
        "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE (c.relkind OPERATOR(pg_catalog.=) 'm' OR (c.relkind OPERATOR(pg_catalog.=) 'r' "
        "  AND c.relpersistence IN ('p', 'u'))) "
        "AND n.nspname OPERATOR(pg_catalog.<>) 'information_schema' "
        "AND n.nspname OPERATOR(pg_catalog.!~) '^pg_' "
        "ORDER BY 1, 2");
    std::vector<std::pair<std::string, std::string>> relations;
    for (int i = 0; i < PQntuples(result.get()); i++)
      relations.emplace_back(PQgetvalue(result.get(), i, 0), PQgetvalue(result.get(), i, 1));
    return relations;
  }

  // SchemasWithSequences returns the user schemas that hold a sequence.
  std::set<std::string> SchemasWithSequences() {
    PgResultPtr result = Exec(
        "SELECT DISTINCT n.nspname FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind OPERATOR(pg_catalog.=) 'S' "
        "AND n.nspname OPERATOR(pg_catalog.<>) 'information_schema' "
        "AND n.nspname OPERATOR(pg_catalog.!~) '^pg_'");
    std::set<std::string> schemas;
    for (int i = 0; i < PQntuples(result.get()); i++)
      schemas.insert(PQgetvalue(result.get(), i, 0));
    return schemas;
  }

  // MissingRelations returns the names (in their order) for which no
  // relation pg_dump's --table selects (table, view, sequence, ...) exists in
  // a user schema, as the snapshot sees them: in the named schema, or for an
  // unqualified name in any user schema.
  std::vector<QualifiedName> MissingRelations(const std::vector<QualifiedName>& names) {
    std::vector<std::string> schemas, relations;
    for (const QualifiedName& name : names) {
      schemas.push_back(name.schema);
      relations.push_back(name.name);
    }
    std::vector<size_t> missing = MissingIndexes(
        "SELECT u.n FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), "
        "pg_catalog.unnest($2::pg_catalog.text[])) WITH ORDINALITY AS u(s, name, n) "
        "WHERE NOT EXISTS ("
        "  SELECT FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace s "
        "  ON s.oid OPERATOR(pg_catalog.=) c.relnamespace "
        "  WHERE c.relname OPERATOR(pg_catalog.=) u.name::pg_catalog.name "
        "  AND (u.s OPERATOR(pg_catalog.=) '' "
        "       OR s.nspname OPERATOR(pg_catalog.=) u.s::pg_catalog.name) "
        "  AND c.relkind IN ('r', 'S', 'v', 'm', 'f', 'p') "
        "  AND s.nspname OPERATOR(pg_catalog.!~) '^pg_' "
        "  AND s.nspname OPERATOR(pg_catalog.<>) 'information_schema') "
        "ORDER BY u.n",
        {schemas, relations});
    std::vector<QualifiedName> result;
    for (size_t index : missing)
      result.push_back(names[index]);
    return result;
  }

  // MissingSchemas returns the names (in their order) that are no schema in
  // the snapshot.
  std::vector<std::string> MissingSchemas(const std::vector<std::string>& names) {
    std::vector<size_t> missing = MissingIndexes(
        "SELECT u.n FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS u(name, n) "
        "WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_namespace s "
        "  WHERE s.nspname OPERATOR(pg_catalog.=) u.name::pg_catalog.name) "
        "ORDER BY u.n",
        {names});
    std::vector<std::string> result;
    for (size_t index : missing)
      result.push_back(names[index]);
    return result;
  }

  // StartCounting begins counting rows of tables, a batch at a time,
  // without blocking: Socket() and OnReadable() drive it from the main loop.
  void StartCounting(std::vector<std::pair<std::string, std::string>> tables) {
    pending_ = std::move(tables);
    next_ = 0;
    SendNextBatch();
  }
  // Socket is the descriptor to wait on while counting, or -1 when done.
  int Socket() const override { return busy_ ? PQsocket(conn_.get()) : -1; }
  bool Done() const override { return !busy_ && next_ >= pending_.size(); }
  bool CountingDone() const { return Done(); }
  const std::vector<TableCount>& counts() const { return counts_; }

  // OnReadable consumes what arrived for the running count query.
  void OnReadable() override {
    if (!PQconsumeInput(conn_.get()))
      throw Error(ErrorKind::kIo, "lost the snapshot session while counting rows",
                  Trim(PQerrorMessage(conn_.get())));
    while (busy_ && !PQisBusy(conn_.get())) {
      PgResultPtr result(PQgetResult(conn_.get()), PQclear);
      if (!result) {
        busy_ = false;
        if (checking_)
          SendCounts();
        else
          SendNextBatch();
        return;
      }
      ExecStatusType status = PQresultStatus(result.get());
      if (checking_ && status == PGRES_COMMAND_OK)
        continue;  // the LOCK
      if (status != PGRES_TUPLES_OK)
        throw Error(ErrorKind::kIo, "could not count rows in the dump's snapshot",
                    Trim(PQresultErrorMessage(result.get())));
      if (checking_) {
        if (PQntuples(result.get()) > 0)
          throw Error(ErrorKind::kIo,
                      std::string("relation ") + PQgetvalue(result.get(), 0, 0) +
                          " is no longer the table the backup's snapshot holds",
                      "It was dropped or replaced while the backup ran; its rows were not "
                      "counted.");
        continue;
      }
      for (int i = 0; i < PQntuples(result.get()); i++) {
        TableCount count;
        count.schema = PQgetvalue(result.get(), i, 0);
        count.table = PQgetvalue(result.get(), i, 1);
        count.rows = std::stoll(PQgetvalue(result.get(), i, 2));
        counts_.push_back(count);
      }
    }
  }

  // Commit ends the snapshot transaction.
  void Commit() { Exec("COMMIT"); }

 private:
  // TextArray renders values as a text[] literal.
  static std::string TextArray(const std::vector<std::string>& values) {
    std::string array = "{";
    for (const std::string& value : values) {
      if (array.size() > 1)
        array += ',';
      array += '"';
      for (char c : value) {
        if (c == '"' || c == '\\')
          array += '\\';
        array += c;
      }
      array += '"';
    }
    return array + '}';
  }

  // MissingIndexes runs query, whose parameters are arrays, and returns
  // the 1-based ordinals it yields as 0-based indexes.
  std::vector<size_t> MissingIndexes(const char* query,
                                     const std::vector<std::vector<std::string>>& arrays) {
    std::vector<std::string> texts;
    std::vector<const char*> values;
    for (const std::vector<std::string>& array : arrays)
      texts.push_back(TextArray(array));
    for (const std::string& text : texts)
      values.push_back(text.c_str());
    PgResultPtr result(PQexecParams(conn_.get(), query, static_cast<int>(values.size()), nullptr,
                                    values.data(), nullptr, nullptr, 0),
                       PQclear);
    if (!result || PQresultStatus(result.get()) != PGRES_TUPLES_OK)
      throw Error(ErrorKind::kIo, "snapshot session query failed",
                  Trim(PQerrorMessage(conn_.get())));
    std::vector<size_t> indexes;
    for (int i = 0; i < PQntuples(result.get()); i++)
      indexes.push_back(std::stoul(PQgetvalue(result.get(), i, 0)) - 1);
    return indexes;
  }

  // CancelQuery asks the server to cancel the running query, best effort.
  void CancelQuery() noexcept {
    PGcancel* cancel = PQgetCancel(conn_.get());
    if (cancel == nullptr)
      return;
    char error[256];
    (void)PQcancel(cancel, error, sizeof(error));
    PQfreeCancel(cancel);
    busy_ = false;
  }

  static std::string Trim(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
      text.pop_back();
    return text;
  }

  PgResultPtr Exec(const std::string& sql) { return Exec(sql.c_str()); }
  PgResultPtr Exec(const char* sql) {
    PgResultPtr result(PQexec(conn_.get(), sql), PQclear);
    ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
      throw Error(ErrorKind::kIo, "snapshot session query failed",
                  Trim(PQerrorMessage(conn_.get())));
    return result;
  }

  std::string Escaped(const std::string& text, bool identifier) {
    char* escaped = identifier ? PQescapeIdentifier(conn_.get(), text.data(), text.size())
                               : PQescapeLiteral(conn_.get(), text.data(), text.size());
    if (escaped == nullptr)
      throw Error(ErrorKind::kInternal, "could not quote a name",
                  Trim(PQerrorMessage(conn_.get())));
    std::string result = escaped;
    PQfreemem(escaped);
    return result;
  }

  // SendNextBatch sends the next batch of tables: first a statement that
  // locks them and returns those whose name no longer leads to the table the
  // snapshot sees (the session is a superuser's: a view put under a table's
  // name would run its owner's code when counted; once locked, nothing can
  // be swapped), then, when that came back empty, their counts.
  void SendNextBatch() {
    if (next_ >= pending_.size())
      return;
    size_t end = std::min(pending_.size(), next_ + kTablesPerCountQuery);
    std::string names;
    std::string literals;
    for (size_t i = next_; i < end; i++) {
      const auto& [schema, table] = pending_[i];
      std::string name = Escaped(schema, true) + "." + Escaped(table, true);
      names += (names.empty() ? "" : ", ") + name;
      literals += (literals.empty() ? "" : ", ") + Escaped(name, false);
    }
    batch_begin_ = next_;
    batch_end_ = end;
    next_ = end;
    checking_ = true;
    // The SELECT is analyzed only after the LOCK has run (one statement at
    // a time); pg_class is read in the snapshot, so a relation created
    // after it, under whatever name, is not a table here.
    std::string sql = "LOCK TABLE ONLY " + names +
                      " IN ACCESS SHARE MODE; SELECT u.name FROM pg_catalog.unnest("
                      "ARRAY[" +
                      literals +
                      "]::pg_catalog.text[]) AS u(name) WHERE NOT EXISTS ("
                      "SELECT FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) "
                      "pg_catalog.to_regclass(u.name) AND c.relkind OPERATOR(pg_catalog.=) 'r')";
    Send(sql);
  }

  // SendCounts counts the rows of the batch just checked.
  void SendCounts() {
    std::string sql;
    for (size_t i = batch_begin_; i < batch_end_; i++) {
      const auto& [schema, table] = pending_[i];
      if (!sql.empty())
        sql += " UNION ALL ";
      sql += "SELECT " + Escaped(schema, false) + ", " + Escaped(table, false) +
             ", pg_catalog.count(*) FROM ONLY " + Escaped(schema, true) + "." +
             Escaped(table, true);
    }
    checking_ = false;
    Send(sql);
  }

  void Send(const std::string& sql) {
    if (!PQsendQuery(conn_.get(), sql.c_str()))
      throw Error(ErrorKind::kIo, "could not send the row count query",
                  Trim(PQerrorMessage(conn_.get())));
    busy_ = true;
  }

  PgConnPtr conn_;
  std::string snapshot_;
  std::string lsn_;
  std::string owner_;
  std::string properties_;
  std::vector<std::pair<std::string, std::string>> pending_;
  size_t next_ = 0;
  size_t batch_begin_ = 0;
  size_t batch_end_ = 0;
  bool checking_ = false;  // the batch's lock and check, not its counts, is running
  bool busy_ = false;
  std::vector<TableCount> counts_;
};

// ObjectResult is what the pipeline measured of one stored object.
struct ObjectResult {
  uint64_t raw_bytes = 0;
  uint64_t stored_bytes = 0;
  std::string sha256;
};

// ScanResult is what an ArchiveScanner read from a custom-format dump.
struct ScanResult {
  bool ok = false;
  std::string problem;
  std::vector<TableCount> counts;
  // SHA-256 of the archive's header and TOC, recorded in backup_log so that
  // a restore can trust the TOC before the whole object has been read.
  std::string toc_sha256;
};

// StoreChildOutput runs a child and stores its stdout, zstd-compressed, as
// one object; the object exists under its key only if everything succeeded.
// With scan set, the stream also passes an ArchiveScanner that counts rows
// per table on the way (custom format only). With side set (the COPY
// streams of a parallel export), that is served instead of session, whose
// counting must then have nothing to do.
ObjectResult StoreChildOutput(Storage& storage, const std::string& key, const ChildSpec& spec,
                              const char* what, int zstd_level,
                              const std::vector<AgeRecipient>& recipients, SnapshotSession* session,
                              std::vector<std::pair<std::string, std::string>> count_tables,
                              ScanResult* scan, SideChannel* side = nullptr) {
  std::unique_ptr<ObjectWriter> writer = storage.Create(key);
  ProgressSink progress(*writer);
  MeterSink stored(progress, true);
  // Encryption comes after compression (ciphertext does not compress) and
  // before the hash: the SHA-256 in the manifest is of what is stored.
  std::unique_ptr<AgeEncryptSink> encrypt;
  if (!recipients.empty())
    encrypt = std::make_unique<AgeEncryptSink>(stored, recipients);
  ZstdCompressSink compress(encrypt ? static_cast<Sink&>(*encrypt) : static_cast<Sink&>(stored),
                            zstd_level, setting_zstd_threads);
  compress.SetInterruptCheck(ThrowIfStopping);
  MeterSink raw(compress, false);
  // pg_dump writing uncompressed to a pipe puts every COPY row in a chunk
  // of its own, which pg_restore sends to the server as one message each;
  // the stored archive gets the same COPY text in large chunks, so that
  // every restore (by hand too) is as fast as of a file pg_dump -Fc wrote.
  ArchiveScanner scanner(raw, kRestoreChunkSize);
  Sink& head = scan != nullptr ? static_cast<Sink&>(scanner) : static_cast<Sink&>(raw);

  ChildProcess child(spec);
  // A larger pipe means fewer wake-ups per megabyte; best effort.
  if (child.stdout_fd() >= 0)
    (void)fcntl(child.stdout_fd(), F_SETPIPE_SZ, kPipeSize);
  if (session != nullptr)
    session->StartCounting(std::move(count_tables));
  StreamChild(child, head, what, side != nullptr ? side : session);
  ThrowIfStopping();
  head.Finish();  // ends the zstd frame and commits the object
  if (scan != nullptr) {
    scan->ok = scanner.ok() && scanner.complete();
    scan->problem = scanner.problem();
    if (scan->ok)
      scan->toc_sha256 = scanner.toc_sha256();
    for (const ArchiveTable& table : scanner.tables())
      scan->counts.push_back({table.schema, table.table, table.rows});
  }
  return {raw.bytes(), stored.bytes(), stored.sha256_hex()};
}

// RequireSelection fails the backup if a name of option "tables" or
// "schemas" is not in the database, as its snapshot sees it (pg_dump's
// --strict-names, for a selection that is no pg_dump pattern; see
// BackupOptions::SelectsData). An unqualified table name must be in a user
// schema: a catalog of that name does not count.
void RequireSelection(SnapshotSession& session, const BackupOptions& options,
                      const std::string& database) {
  auto others = [](size_t count) {
    return count > 1 ? " (and " + std::to_string(count - 1) + " more)" : std::string();
  };
  std::vector<QualifiedName> tables = session.MissingRelations(options.tables);
  if (!tables.empty()) {
    const QualifiedName& first = tables[0];
    std::string where = first.schema.empty()
                            ? "is in no user schema of database \"" + database + "\""
                            : "is not in database \"" + database + "\"";
    std::string shown = first.schema.empty() ? first.name : first.schema + "." + first.name;
    throw Error(ErrorKind::kUndefinedObject,
                "backup option \"tables\" names \"" + Printable(shown) + "\"" +
                    others(tables.size()) + ", which " + where,
                "Unqualified table names are looked up in user schemas only, never in pg_catalog, "
                "information_schema or another system schema.",
                "Check the name, or qualify it with its schema.");
  }
  std::vector<std::string> names;
  for (const QualifiedName& schema : options.schemas)
    names.push_back(schema.name);
  std::vector<std::string> schemas = session.MissingSchemas(names);
  if (!schemas.empty())
    throw Error(ErrorKind::kUndefinedObject,
                "backup option \"schemas\" names \"" + Printable(schemas[0]) + "\"" +
                    others(schemas.size()) + ", which is no schema of database \"" + database +
                    "\"",
                std::string(), "Check the name; names are exact (quote capitals).");
}

// FormatMilliseconds renders a timeout the way PostgreSQL shows one: "5min",
// "30s", "1500ms".
std::string FormatMilliseconds(int64_t ms) {
  if (ms % 60000 == 0)
    return std::to_string(ms / 60000) + "min";
  if (ms % 1000 == 0)
    return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

// LockTimeoutTable returns the table pg_dump gave up locking, from its error
// output, or "" if it failed otherwise. pg_dump 15 says:
//   pg_dump: error: query failed: ERROR:  canceling statement due to
//   statement timeout
//   pg_dump: detail: Query was: LOCK TABLE public.big IN ACCESS SHARE MODE
std::string LockTimeoutTable(const std::string& output) {
  if (output.find("canceling statement due to statement timeout") == std::string::npos)
    return "";
  const std::string start = "Query was: LOCK TABLE ";
  const std::string end = " IN ACCESS SHARE MODE";
  size_t from = output.find(start);
  if (from == std::string::npos)
    return "";
  from += start.size();
  size_t to = output.find(end, from);
  if (to == std::string::npos || output.find('\n', from) < to)
    return "";
  return output.substr(from, to - from);
}

// WaitForCounts counts rows of tables in the snapshot session now, waiting
// on its socket together with the latch.
std::vector<TableCount> WaitForCounts(SnapshotSession& session,
                                      std::vector<std::pair<std::string, std::string>> tables) {
  std::vector<int> fds, ready;
  session.StartCounting(std::move(tables));
  while (!session.CountingDone()) {
    ThrowIfStopping();
    fds.assign(1, session.Socket());
    WaitForInput(fds, 1000, ready);
    for (int fd : ready)
      if (fd == session.Socket())
        session.OnReadable();
  }
  return session.counts();
}

// NowUtc returns the current time as seconds and microseconds.
struct timeval NowUtc() {
  struct timeval now;
  gettimeofday(&now, nullptr);
  return now;
}

}  // namespace

// RunBackup takes backup id of database; see backup_job.h.
void RunBackup(int64_t id, const std::string& database, const std::string& storage_name,
               const std::string& options_json, std::string& location) {
  BackupOptions options = ParseBackupOptions(options_json);
  int zstd_level = options.zstd_level.value_or(setting_zstd_level);
  struct timeval started = NowUtc();

  ServerFacts facts;
  std::string set_key;
  StorageHandle handle;
  RunInTransaction([&] {
    facts = GatherServerFacts();
    handle = OpenStorageHandle(storage_name, StorageUse::kWorker, ThrowIfStopping);
  });
  Storage& storage = *handle.storage;
  std::vector<AgeRecipient> recipients;
  for (const std::string& recipient : handle.encryption.recipients)
    recipients.push_back(AgeRecipient::Parse(recipient));
  // An encrypted object's name says so, as age's own tools name files.
  std::string suffix = recipients.empty() ? "" : kAgeSuffix;
  std::string encryption = recipients.empty() ? "none" : "age";
  // Before anything is written: a local storage on the file system of the
  // data directory must leave PostgreSQL its reserve (see disk_space.h).
  RunInTransaction([&] { GuardBackupSpace(storage, storage_name, id, database); });
  // A full disk fails the backup naming the storage that filled up.
  auto naming_storage = [&](auto&& write) {
    try {
      return write();
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kDiskFull)
        throw;
      ThrowNamingStorage(e, storage_name, storage, "for backup " + std::to_string(id));
    }
  };
  set_key = SetDirectory(facts.system_identifier, database, started.tv_sec, id);
  location = storage.Location(set_key);
  std::string data_name =
      std::string(options.format == "plain" ? kDataObjectPlain : kDataObjectCustom) + suffix;
  std::string globals_name = std::string(kGlobalsObject) + suffix;
  RunInTransaction(
      [&] { PgCall([&] { SetLocation(id, location.c_str(), options.format.c_str()); }); });

  // pg_dump takes an ACCESS SHARE lock on every table it dumps before it
  // reads any: behind a session that holds (or waits for) a conflicting
  // lock it would wait for ever, holding its snapshot, and with it the
  // cluster's xmin horizon, and a worker slot. The row counts of a plain
  // dump wait for the same locks at the same time: they give up later, so
  // that pg_dump, whose error names the table, gives up first.
  int64_t lock_wait_ms = options.lock_wait_timeout_seconds
                             ? static_cast<int64_t>(*options.lock_wait_timeout_seconds) * 1000
                             : setting_lock_wait_timeout_ms;

  SetPhase(Phase::kDumping);
  SnapshotSession session(facts, database, 2 * lock_wait_ms);
  PauseAt(id, "backup_snapshot");  // tests write here: nothing of it may be in the set
  // Row counts for the manifest. A custom-format dump is counted as it
  // streams past (exact, and no second read of every table); a plain dump
  // is counted with count(*) in the exported snapshot while pg_dump runs.
  bool scan_archive = options.format == "custom";
  auto tables_in_dump = [&] {
    std::vector<std::pair<std::string, std::string>> tables;
    if (!options.schema_only)
      for (auto& table : session.ListTables())
        if (options.IncludesTableData(table.first, table.second))
          tables.push_back(table);
    return tables;
  };
  std::vector<std::pair<std::string, std::string>> count_tables;
  if (!scan_archive)
    count_tables = tables_in_dump();
  RequireSelection(session, options, database);

  ChildSpec dump;
  dump.program = facts.bin_dir + "/pg_dump";
  dump.args = options.DumpArguments();
  for (std::string& arg : options.ExcludedDataArguments(
           options.SelectsData() ? session.ListDataRelations()
                                 : std::vector<std::pair<std::string, std::string>>(),
           options.SelectsData() ? session.SchemasWithSequences() : std::set<std::string>()))
    dump.args.push_back(std::move(arg));
  if (!options.SelectsData() && (!options.tables.empty() || !options.schemas.empty()))
    dump.args.push_back("--strict-names");
  dump.args.push_back("--compress=0");
  dump.args.push_back("--no-password");
  if (lock_wait_ms > 0)
    dump.args.push_back("--lock-wait-timeout=" + std::to_string(lock_wait_ms) + "ms");
  dump.args.push_back("--snapshot=" + session.snapshot());
  dump.env = ChildEnvironment(facts);
  dump.env.push_back("PGDATABASE=" + database);

  // With jobs > 1, the largest tables leave pg_dump's archive for objects of
  // their own, each COPYed by one of `jobs` streams in the same snapshot
  // while pg_dump writes the rest (see parallel_export.h).
  int jobs = options.jobs.value_or(setting_dump_jobs);
  std::vector<ExportTable> separate;
  if (jobs > 1 && scan_archive && !options.schema_only && !options.data_only) {
    std::vector<ExportTable> candidates;
    for (ExportTable& table : session.ListTableSizes())
      if (options.IncludesTableData(table.schema, table.table))
        candidates.push_back(std::move(table));
    uint64_t min_bytes = static_cast<uint64_t>(setting_separate_table_min_kb) * 1024;
    separate = PlanSeparateTables(std::move(candidates), jobs, min_bytes);
    // A table much larger than the others is cut into pieces (ranges of
    // its blocks), so that it runs on every stream: at least 4 x the
    // separate table minimum each (32MB by default). Its pieces are read
    // as its owner, which only a superuser's session can become.
    if (facts.dump_role_is_superuser)
      separate = SplitIntoPieces(std::move(separate), jobs, 4 * min_bytes, session.BlockSize());
  }
  std::unique_ptr<ParallelExport> streams;
  if (!separate.empty()) {
    // pg_dump releases its locks when it exits, maybe before a stream has
    // read its table: the snapshot session holds them until the end.
    session.LockTables(separate);
    for (const ExportTable& table : separate)
      if (table.piece == 0)
        dump.args.push_back("--exclude-table-data=" + ExactPattern({table.schema, table.table}));
    ExportSettings settings;
    settings.set_key = set_key;
    settings.suffix = suffix;
    settings.zstd_level = zstd_level;
    settings.zstd_threads = setting_zstd_threads > 0 ? 1 : 0;
    settings.recipients = recipients;
    settings.lock_timeout_ms = lock_wait_ms;
    settings.pause_in_copy =
        setting_fault_pause != nullptr && strcmp(setting_fault_pause, "backup_copy") == 0;
    settings.operation_id = id;
    // One storage handle per stream: a handle is not shared between
    // threads, and its waits must not call into PostgreSQL (a stream that
    // must stop is told by its cancelled COPY).
    std::vector<std::unique_ptr<Storage>> storages;
    size_t stream_count = std::min(separate.size(), static_cast<size_t>(jobs));
    RunInTransaction([&] {
      for (size_t i = 0; i < stream_count; i++) {
        storages.push_back(OpenStorageHandle(storage_name, StorageUse::kWorker, [] {}).storage);
        // The same floor as the data object's (pgbak.local_reserve).
        GuardBackupSpace(*storages.back(), storage_name, id, database);
      }
    });
    streams = std::make_unique<ParallelExport>(facts, database, session.snapshot(), separate,
                                               std::move(storages), std::move(settings));
    streams->Start();
    PauseAt(id, "backup_streams");  // tests kill the worker here
  }
  ScanResult scan;
  ObjectResult data = naming_storage([&]() -> ObjectResult {
    try {
      return StoreChildOutput(storage, set_key + "/" + data_name, dump, "pg_dump", zstd_level,
                              recipients, &session, std::move(count_tables),
                              scan_archive ? &scan : nullptr, streams.get());
    } catch (const Error& e) {
      std::string table = e.kind() == ErrorKind::kChildFailed ? LockTimeoutTable(e.detail()) : "";
      if (table.empty())
        throw;
      throw Error(ErrorKind::kChildFailed,
                  "pg_dump waited longer than lock_wait_timeout (" +
                      FormatMilliseconds(lock_wait_ms) + ") for a lock on table " + table,
                  "Another session holds, or waits for, a lock on it that conflicts with "
                  "pg_dump's ACCESS SHARE lock (LOCK TABLE, ALTER TABLE, DROP TABLE, TRUNCATE, "
                  "VACUUM FULL, CLUSTER, REINDEX). The backup stopped rather than hold its "
                  "snapshot, and with it the cluster's xmin horizon, while it waited.\n" +
                      e.detail(),
                  "Find the session in pg_locks and pg_stat_activity, or let pg_dump wait longer "
                  "with the backup option \"lock_wait_timeout\" or pgbak.lock_wait_timeout.");
    }
  });
  std::vector<TableCount> table_counts;
  if (!scan_archive) {
    table_counts = session.counts();
  } else if (scan.ok) {
    table_counts = std::move(scan.counts);
  } else {
    // The dump is fine; only reading it on the way failed (a pg_dump whose
    // archive version this code does not know). Count in the snapshot,
    // which is still held open.
    std::string problem = scan.problem;
    PgCall([&] {
      ereport(WARNING, (errmsg("pgbak: operation " INT64_FORMAT
                               ": counting rows in the snapshot instead of the dump",
                               static_cast<int64>(id)),
                        errdetail("%s", problem.c_str())));
    });
    std::vector<std::pair<std::string, std::string>> in_archive;
    for (auto& table : tables_in_dump()) {
      bool elsewhere = false;
      for (const ExportTable& other : separate)
        elsewhere = elsewhere || (other.schema == table.first && other.table == table.second);
      if (!elsewhere)
        in_archive.push_back(std::move(table));
    }
    table_counts = WaitForCounts(session, std::move(in_archive));
  }
  std::vector<ExportedTable> exported;
  if (streams) {
    exported = streams->Results();
    streams.reset();
    for (const ExportedTable& table : exported)
      table_counts.push_back(
          {table.table.schema, table.table.table, table.rows, table.object.name, table.columns});
  }
  session.Commit();

  SetPhase(Phase::kGlobals);
  ChildSpec globals;
  globals.program = facts.bin_dir + "/pg_dumpall";
  globals.args = {"--globals-only", "--no-password",
                  "--dbname=dbname=" + ConnInfoValue(setting_database)};
  // Only a superuser can read pg_authid; a least-privilege dump role gets
  // the roles without their passwords rather than no globals at all.
  if (!facts.dump_role_is_superuser)
    globals.args.push_back("--no-role-passwords");
  globals.env = ChildEnvironment(facts);
  ObjectResult globals_result = naming_storage([&] {
    return StoreChildOutput(storage, set_key + "/" + globals_name, globals, "pg_dumpall",
                            zstd_level, recipients, nullptr, {}, nullptr);
  });

  ThrowIfStopping();
  SetPhase(Phase::kManifest);
  struct timeval finished = NowUtc();
  Manifest manifest;
  manifest.tool = kVersionTag;
  manifest.backup_id = id;
  manifest.database = database;
  manifest.system_identifier = facts.system_identifier;
  manifest.server_version = facts.server_version;
  manifest.dump_format = options.format;
  manifest.started_at = FormatUtcTimestamp(started.tv_sec, started.tv_usec);
  manifest.finished_at = FormatUtcTimestamp(finished.tv_sec, finished.tv_usec);
  manifest.snapshot_lsn = session.lsn();
  manifest.database_owner = session.owner();
  manifest.database_properties_json = session.properties();
  if (!recipients.empty() && !manifest.database_properties_json.empty()) {
    // Grants, settings and the comment name roles and say things about the
    // data: an encrypted set's plaintext manifest keeps only the encoding,
    // locale and connection limit.
    json::Value all = json::Parse(manifest.database_properties_json);
    json::Value kept = json::Value::Object();
    for (const auto& [key, value] : all.AsObject())
      if (key != "acl" && key != "settings" && key != "comment")
        kept.Set(key, value);
    manifest.database_properties_json = kept.Serialize();
  }
  {
    // Table and schema names are data too: an encrypted set's plaintext
    // manifest keeps the options without the names they select.
    json::Value options_json = options.ToJson();
    if (!recipients.empty()) {
      json::Value kept = json::Value::Object();
      for (const auto& [key, value] : options_json.AsObject())
        if (key != "tables" && key != "exclude_tables" && key != "schemas" &&
            key != "exclude_schemas")
          kept.Set(key, value);
      options_json = kept;
    }
    manifest.options_json = options_json.Serialize();
  }
  manifest.objects.push_back(
      {data_name, "data", data.stored_bytes, data.raw_bytes, data.sha256, "zstd", encryption});
  for (const ExportedTable& table : exported)
    manifest.objects.push_back(table.object);
  manifest.objects.push_back({globals_name, "globals", globals_result.stored_bytes,
                              globals_result.raw_bytes, globals_result.sha256, "zstd", encryption});
  manifest.age_recipients = handle.encryption.recipients;
  // Every table counted, those of a parallel export's objects too, whether
  // the manifest lists them or (encrypted) tables.json.age does.
  size_t tables_counted = RowsPerTable(table_counts).size();
  manifest.format_version = FormatVersionFor(table_counts);
  // What every reader will check: a set it would refuse is no success.
  CheckTablePieces(table_counts, manifest.format_version);
  if (recipients.empty()) {
    manifest.tables = std::move(table_counts);
  } else {
    // Table names are data too: an encrypted set keeps its row counts in
    // an encrypted object of their own, and its manifest lists none.
    std::string tables_name = std::string(kTablesObject) + kAgeSuffix;
    std::string text = TablesToJson(table_counts);
    naming_storage([&] {
      std::unique_ptr<ObjectWriter> writer = storage.Create(set_key + "/" + tables_name);
      MeterSink stored(*writer, true);
      AgeEncryptSink encrypt(stored, recipients);
      WriteString(encrypt, text);
      encrypt.Finish();
      // Before the data: a restore learns from it which tables the
      // objects of a parallel export hold before it reads the archive.
      manifest.objects.insert(
          exported.empty() ? manifest.objects.end() : manifest.objects.begin(),
          {tables_name, "tables", stored.bytes(), text.size(), stored.sha256_hex(), "none", "age"});
    });
  }
  std::string manifest_sha256;
  naming_storage([&] {
    // Its SHA-256 goes to backup_log: restores trust what it records (the
    // database's owner, grants, settings) only if it is this manifest.
    std::unique_ptr<ObjectWriter> writer = storage.Create(set_key + "/" + kManifestObject);
    MeterSink meter(*writer, true);
    WriteString(meter, manifest.ToJson());
    meter.Finish();
    manifest_sha256 = meter.sha256_hex();
  });

  SetPhase(Phase::kFinishing);
  // A parallel export's table objects are part of the data.
  uint64_t data_raw = data.raw_bytes, data_stored = data.stored_bytes;
  for (const ExportedTable& table : exported) {
    data_raw += table.object.raw_size;
    data_stored += table.object.size;
  }
  std::string lsn = session.lsn();
  RunInTransaction([&] {
    BackupOutcome outcome;
    outcome.raw_bytes = static_cast<int64>(data_raw);
    outcome.stored_bytes = static_cast<int64>(data_stored);
    outcome.globals_bytes = static_cast<int64>(globals_result.stored_bytes);
    outcome.checksum_sha256 = data.sha256.c_str();
    outcome.toc_sha256 = scan.toc_sha256.empty() ? nullptr : scan.toc_sha256.c_str();
    outcome.manifest_sha256 = manifest_sha256.c_str();
    outcome.snapshot_lsn = lsn.c_str();
    outcome.table_count = static_cast<int>(tables_counted);
    PgCall([&] { FinishSucceeded(id, outcome); });
  });
  // One concise line per backup in the server log, with what a DBA scans for.
  struct timeval done = NowUtc();
  double seconds = (done.tv_sec - started.tv_sec) + (done.tv_usec - started.tv_usec) / 1e6;
  char line[512];
  snprintf(line, sizeof(line),
           "pgbak: backup %lld of database \"%s\" succeeded in %.1f s: %llu bytes from "
           "pg_dump, %llu stored (zstd level %d), %zu tables counted, %zu in objects of their "
           "own",
           static_cast<long long>(id), database.c_str(), seconds,
           static_cast<unsigned long long>(data.raw_bytes),
           static_cast<unsigned long long>(data_stored + globals_result.stored_bytes), zstd_level,
           tables_counted, exported.size());
  PgCall([&] { ereport(LOG, (errmsg("%s", line))); });
}

}  // namespace pgbak
