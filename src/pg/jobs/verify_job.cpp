// verify_job.cpp: proving that a backup restores, and restoring it, in a
// worker.
//
// Both start the same way: every object of the set is read back from
// storage, its size and SHA-256 checked against manifest.json (and the data
// object's against backup_log), and decompressed; the data object lands in a
// staging file below the storage root (pg_restore -j needs a seekable file),
// which is removed whatever happens. A shallow verify then lists the archive
// with pg_restore; a deep one restores it into a scratch database, compares
// every table's row count with the manifest, times the restore (the measured
// RTO) and drops the scratch database, also when anything failed. A whole
// restore builds its database under a name of its own and renames it when
// complete. Custom sets are restored (by drills too) while they are read
// back, see stream_restore.h; plain sets and table or schema selections are
// applied to the staged copy afterwards, with psql or pg_restore.

extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "executor/spi.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
}

#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/archive/archive_scanner.h"
#include "core/archive/database_properties.h"
#include "core/archive/globals_script.h"
#include "core/archive/manifest.h"
#include "core/archive/set_layout.h"
#include "core/archive/superuser_code.h"
#include "core/archive/table_loads.h"
#include "core/archive/table_selection.h"
#include "core/crypto/age.h"
#include "core/options/backup_options.h"
#include "core/options/base_backup_options.h"
#include "core/options/job_options.h"
#include "core/options/restore_options.h"
#include "core/pipeline/meter_sink.h"
#include "core/pipeline/staging_file.h"
#include "core/pipeline/zstd_sink.h"
#include "core/storage/local/local_storage.h"
#include "pg/boundary/boundary.h"
#include "pg/boundary/transaction.h"
#include "pg/catalog/catalog.h"
#include "pg/catalog/storage_registry.h"
#include "pg/jobs/backup_job.h"
#include "pg/jobs/disk_space.h"
#include "pg/jobs/dump_tools.h"
#include "pg/jobs/operation_cleanup.h"
#include "pg/jobs/physical_drill.h"
#include "pg/jobs/stream_restore.h"
#include "pg/jobs/verify_job.h"
#include "pg/runtime/restore_session.h"
#include "pg/runtime/settings.h"
#include "pg/runtime/shared_state.h"
#include "pg/runtime/worker_signals.h"

namespace pgbak {

// StagingKey is operation id's staging directory below the local storage.
std::string StagingKey(int64_t id) {
  return ".staging/" + std::to_string(id);
}

namespace {

// Seconds returns the time since start in seconds.
double Seconds(const struct timeval& start) {
  struct timeval now;
  gettimeofday(&now, nullptr);
  return (now.tv_sec - start.tv_sec) + (now.tv_usec - start.tv_usec) / 1e6;
}

// WorkerProgress counts the bytes read from storage and honours a stop
// request.
void WorkerProgress(size_t bytes) {
  ThrowIfStopping();
  AddBytesRead(bytes);
}

// ReadBackSource is ReadBackSet (set_reader.h) of backup source_id as
// backup_log knows it, with the worker's progress, a staging copy that must
// fit (see disk_space.h) and a full disk named as the storage "local".
StagedSet ReadBackSource(SourceStorage& storage, LocalStorage& local, StagingArea& staging,
                         int64_t source_id, const SourceInfo& source, bool stage,
                         bool stage_required, StageObserver* observer = nullptr,
                         std::function<void(const Manifest&)> on_data = nullptr,
                         TableStaged on_table_staged = nullptr, bool stage_tables = false,
                         decltype(ReadBackOptions::stage_table) stage_table = nullptr) {
  SetExpectation expected;
  expected.backup_id = source.set_id;
  expected.database = source.database;
  expected.data_sha256 = source.checksum_sha256;
  expected.manifest_sha256 = source.manifest_sha256;
  ReadBackOptions options;
  options.stage = stage;
  options.stage_required = stage_required;
  options.observer = observer;
  // A whole restore (the observer's) loads the tables of a parallel export,
  // and so does a restore of selected tables or schemas.
  options.stage_tables = observer != nullptr || stage_tables;
  options.stage_table = std::move(stage_table);
  options.on_data = std::move(on_data);
  options.on_table_staged = std::move(on_table_staged);
  options.progress = WorkerProgress;
  options.check_space = [&](uint64_t bytes) { CheckStagingSpace(local.root(), source_id, bytes); };
  options.on_staging_error = [&](const Error& e) {
    if (e.kind() == ErrorKind::kDiskFull)
      ThrowNamingStorage(e, "local", local, "to stage backup " + std::to_string(source_id));
  };

  return ReadBackSet(storage, SetKey(*storage.storage, source.directory_id, source.location),
                     staging, expected, options);
}

// kMaxGlobalsBytes bounds the globals.sql a restore reads into memory.
constexpr uint64_t kMaxGlobalsBytes = 64 << 20;

// ApplyGlobals creates, for restore id, the roles of backup source_id's
// globals.sql that this server lacks, with their attributes (passwords
// too), settings, comments, and the memberships that involve them, in one
// transaction; roles that exist are left as they are. Every statement is
// one of pg_dumpall's lines, sent alone (a line cannot carry a second
// statement).
void ApplyGlobals(const ServerFacts& facts, SourceStorage& storage, int64_t id, int64_t source_id,
                  const SourceInfo& source) {
  std::string set_key = SetKey(*storage.storage, source.directory_id, source.location);
  Manifest manifest = ReadManifest(*storage.storage, set_key, source.manifest_sha256);
  const ManifestObject* globals = nullptr;
  for (const ManifestObject& object : manifest.objects)
    if (object.role == "globals")
      globals = &object;
  if (globals == nullptr)
    throw Error(ErrorKind::kCorrupt, "the set has no globals object");
  if (globals->raw_size > kMaxGlobalsBytes)
    throw Error(ErrorKind::kLimitExceeded,
                "globals.sql of backup " + std::to_string(source_id) + " is " +
                    std::to_string(globals->raw_size) +
                    " bytes, more than restore option "
                    "\"globals\" reads (" +
                    std::to_string(kMaxGlobalsBytes) + ")",
                "", "Apply it by hand (see \"Restore by hand\").");
  StringSink text;
  ReadBackObject(storage, set_key, *globals, "", text, true, WorkerProgress);
  std::vector<RoleStatement> statements = RoleStatements(text.contents());
  PgConnPtr conn = ConnectLocal(facts, setting_database);
  std::set<std::string> existing;
  PgResultPtr roles = ExecWithLatch(conn.get(), "SELECT rolname FROM pg_catalog.pg_roles");
  for (int i = 0; i < PQntuples(roles.get()); i++)
    existing.insert(PQgetvalue(roles.get(), i, 0));
  GlobalsPlan plan = PlanGlobals(statements, existing);
  if (plan.missing.empty())
    return;
  (void)ExecWithLatch(conn.get(), "BEGIN");
  // The statements carry password hashes: the server logs none of them,
  // not even one that fails, whatever its logging settings say.
  (void)ExecWithLatch(conn.get(), "SET LOCAL log_statement = 'none'");
  (void)ExecWithLatch(conn.get(), "SET LOCAL log_min_error_statement = 'panic'");
  (void)ExecWithLatch(conn.get(), "SET LOCAL log_min_duration_statement = -1");
  for (const GlobalsPlan::Statement& statement : plan.statements) {
    if (statement.required) {
      (void)ExecWithLatch(conn.get(), statement.sql);
      continue;
    }
    // A membership or a comment that cannot be applied (its grantor is not
    // on this server) is logged and left out.
    (void)ExecWithLatch(conn.get(), "SAVEPOINT pgbak_globals");
    try {
      (void)ExecWithLatch(conn.get(), statement.sql);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::kCancelled)
        throw;
      (void)ExecWithLatch(conn.get(), "ROLLBACK TO SAVEPOINT pgbak_globals");
      std::string detail = e.detail();
      PgCall([&] {
        ereport(WARNING, (errmsg("pgbak: operation " INT64_FORMAT
                                 ": left out a statement of the set's globals: %s",
                                 static_cast<int64>(id), detail.c_str())));
      });
    }
  }
  (void)ExecWithLatch(conn.get(), "COMMIT");
  std::string names;
  for (const std::string& name : plan.missing)
    names += (names.empty() ? "" : ", ") + name;
  PgCall([&] {
    ereport(LOG, (errmsg("pgbak: operation " INT64_FORMAT
                         ": created roles from the globals of backup " INT64_FORMAT ": %s",
                         static_cast<int64>(id), static_cast<int64>(source_id), names.c_str())));
  });
}

// SuperuserGate decides whether an operation that loads objects as their
// owners may load what it is given (see core/archive/superuser_code.h):
// code of a role that is no superuser, reached from objects a superuser
// owns, would run with superuser rights. allowed is the restore option
// allow_superuser_code of a requester still in pgbak_admin.
class SuperuserGate {
 public:
  SuperuserGate(const ServerFacts& facts, int64_t source_id, bool drill, bool allowed)
      : facts_(facts), source_id_(source_id), drill_(drill), allowed_(allowed) {
    // A dump role that is no superuser loads everything with its own
    // rights: there is nothing to lend.
    active_ = facts.dump_role_is_superuser && !allowed;
    if (!active_)
      return;
    PgConnPtr conn = ConnectLocal(facts, setting_database);
    PgResultPtr roles =
        ExecWithLatch(conn.get(), "SELECT rolname FROM pg_catalog.pg_roles WHERE rolsuper");
    for (int i = 0; i < PQntuples(roles.get()); i++)
      superusers_.insert(PQgetvalue(roles.get(), i, 0));
  }

  // CheckToc fails unless the entries of toc for which keep says true (all
  // if keep is empty) may be loaded as their owners. The walk goes through
  // every entry. With live_database, the code that superuser-owned entries
  // run is also looked up there (a restore into an existing database runs
  // the functions and domains of that name in it, whoever owns them now).
  void CheckToc(const std::vector<TocEntry>& toc,
                const std::function<bool(const TocEntry&)>& keep = nullptr,
                const std::string& live_database = "") const {
    if (!active_)
      return;
    std::set<int> restored;
    for (const TocEntry& entry : toc)
      if (!keep || keep(entry))
        restored.insert(entry.dump_id);
    std::vector<SuperuserCodeUse> uses =
        FindSuperuserCode(toc, superusers_, keep ? &restored : nullptr);
    if (uses.empty() && !live_database.empty())
      uses = LiveUses(toc, restored, live_database);
    if (uses.empty())
      return;
    Refuse("loading objects a superuser owns would run code of role \"" + uses[0].code_owner +
               "\" with superuser rights",
           DescribeSuperuserCode(uses) + ".",
           "Make one role own both (ALTER FUNCTION ... OWNER TO, ALTER TABLE ... OWNER TO) in "
           "the live database: the next backup can then be restored and drilled.");
  }

  // CheckScript fails unless the plain-format script at path hands objects
  // to superusers only: psql runs it in one session, as a superuser. Lines
  // are read in bounded pieces: a header longer than a piece is ambiguous.
  void CheckScript(const std::string& path) const {
    if (!active_)
      return;
    std::FILE* file = std::fopen(path.c_str(), "re");
    if (file == nullptr)
      ThrowErrno("could not open " + path, errno);
    PlainScriptOwners owners;
    std::vector<char> buffer(64 * 1024);
    bool line_start = true;
    while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), file) != nullptr) {
      size_t length = strlen(buffer.data());
      bool complete = length > 0 && buffer[length - 1] == '\n';
      if (line_start)
        owners.Line(std::string_view(buffer.data(), complete ? length - 1 : length), !complete);
      line_start = complete;
    }
    bool failed = std::ferror(file) != 0;
    std::fclose(file);
    if (failed)
      throw Error(ErrorKind::kIo, "could not read " + path);
    std::string others;
    for (const std::string& owner : owners.owners())
      if (superusers_.count(owner) == 0 && owner != "pg_database_owner")
        others += (others.empty() ? "\"" : ", \"") + owner + "\"";
    if (others.empty() && !owners.ambiguous())
      return;
    Refuse("a plain-format backup runs as one superuser session, and this one holds objects of " +
               (others.empty() ? std::string("roles it names ambiguously") : "role " + others),
           "psql would load their data and build their indexes, constraints and triggers with "
           "superuser rights, running their owners' code with them.",
           "Back up in custom format: its objects are loaded by their owners.");
  }

 private:
  // LiveUses checks, in live_database, the owners of the functions and
  // types that the restored superuser-owned entries of toc run.
  std::vector<SuperuserCodeUse> LiveUses(const std::vector<TocEntry>& toc,
                                         const std::set<int>& restored,
                                         const std::string& live_database) const {
    std::vector<SuperuserCodeUse> uses;
    std::vector<TocEntry> code = CodeRunAsSuperuser(toc, superusers_, &restored);
    if (code.empty())
      return uses;
    PgConnPtr conn = ConnectLocal(facts_, live_database);
    for (const TocEntry& entry : code) {
      bool routine =
          entry.desc == "FUNCTION" || entry.desc == "PROCEDURE" || entry.desc == "AGGREGATE";
      bool type = entry.desc == "TYPE" || entry.desc == "DOMAIN";
      if (!routine && !type)
        continue;
      const std::string& name = entry.tag;
      size_t paren = routine ? name.find('(') : std::string::npos;
      std::string qualified = QuoteIdentifier(entry.namespace_) + "." +
                              (paren == std::string::npos
                                   ? QuoteIdentifier(name)
                                   : QuoteIdentifier(name.substr(0, paren)) + name.substr(paren));
      PgResultPtr owner =
          ExecWithLatch(conn.get(),
                        routine ? "SELECT r.rolname, r.rolsuper FROM pg_catalog.pg_proc p "
                                  "JOIN pg_catalog.pg_roles r ON r.oid = p.proowner "
                                  "WHERE p.oid = pg_catalog.to_regprocedure($1)"
                                : "SELECT r.rolname, r.rolsuper FROM pg_catalog.pg_type t "
                                  "JOIN pg_catalog.pg_roles r ON r.oid = t.typowner "
                                  "WHERE t.oid = pg_catalog.to_regtype($1)",
                        {qualified});
      if (PQntuples(owner.get()) == 0 || std::string(PQgetvalue(owner.get(), 0, 1)) == "t")
        continue;
      uses.push_back({"the restored objects", "a superuser",
                      entry.desc + " " + entry.namespace_ + "." + entry.tag + " in database \"" +
                          live_database + "\"",
                      PQgetvalue(owner.get(), 0, 0)});
    }
    return uses;
  }

  [[noreturn]] void Refuse(const std::string& why, const std::string& detail,
                           const std::string& remedy) const {
    std::string hint =
        drill_ ? remedy + " Or restore it by hand (see \"Restore by hand\")."
               : remedy +
                     " A member of pgbak_admin may restore it anyway with restore option "
                     "\"allow_superuser_code\": true.";
    throw Error(ErrorKind::kPermissionDenied,
                std::string("backup ") + std::to_string(source_id_) + " cannot be " +
                    (drill_ ? "drilled" : "restored") + " safely: " + why,
                detail, hint);
  }

  const ServerFacts& facts_;
  int64_t source_id_;
  bool drill_;
  bool allowed_;
  bool active_ = false;
  std::set<std::string> superusers_;
};

// RequesterIsAdmin says whether requester is a superuser or has the
// privileges of pgbak_admin now.
bool RequesterIsAdmin(const std::string& requester) {
  bool admin = false;
  RunInTransaction([&] {
    PgCall([&] {
      Oid who = get_role_oid(requester.c_str(), true);
      Oid role = get_role_oid("pgbak_admin", true);
      admin = OidIsValid(who) &&
              (superuser_arg(who) || (OidIsValid(role) && has_privs_of_role(who, role)));
    });
  });
  return admin;
}

// RowsElsewhere are the tables of manifest that a parallel export stored in
// objects of their own (schema, table): they have rows, though not in the
// archive, and keys to or from them are not across data.
std::set<std::pair<std::string, std::string>> RowsElsewhere(const Manifest& manifest) {
  std::set<std::pair<std::string, std::string>> tables;
  for (const TableCount& table : manifest.tables)
    if (!table.object.empty())
      tables.insert({table.schema, table.table});
  return tables;
}

// KeysAcrossData is ForeignKeysAcrossData of toc as a set of dump ids to
// leave out; their names go to names.
std::set<int> KeysAcrossData(
    const std::vector<TocEntry>& toc, std::vector<std::string>& names,
    const std::set<std::pair<std::string, std::string>>& rows_elsewhere = {}) {
  std::set<int> ids;
  for (int id : ForeignKeysAcrossData(toc, {}, rows_elsewhere))
    ids.insert(id);
  for (const TocEntry& entry : toc)
    if (ids.count(entry.dump_id) > 0)
      names.push_back(entry.namespace_ + "." + entry.tag);
  return ids;
}

// LogKeysLeftOut says which foreign keys a restore of a tables or schemas
// backup did not create (see ForeignKeysAcrossData).
void LogKeysLeftOut(int64_t id, const std::string& database,
                    const std::vector<std::string>& names) {
  if (names.empty())
    return;
  std::string list;
  for (const std::string& name : names)
    list += (list.empty() ? "" : ", ") + name;
  PgCall([&] {
    ereport(LOG, (errmsg("pgbak: operation " INT64_FORMAT
                         ": restored \"%s\" without foreign keys to tables whose rows the "
                         "backup does not hold: %s",
                         static_cast<int64>(id), database.c_str(), list.c_str())));
  });
}

// ApplyDump restores a staged data file into database (whole, or one
// selection group), with pg_restore for custom and psql for plain, in
// restore sessions of restore_as (see OwnershipArgs).
void ApplyDump(const ServerFacts& facts, const std::string& data_path, const std::string& format,
               const std::string& database, int jobs, const std::vector<std::string>& selection,
               const std::string& restore_as, const std::set<int>& skip = {}) {
  std::string conninfo = "dbname=" + ConnInfoValue(database);
  if (format == "plain") {
    RunTool(facts, "psql",
            {"--no-psqlrc", "--quiet", "--no-password", "--set=ON_ERROR_STOP=1",
             "--dbname=" + conninfo, "--file=" + data_path},
            nullptr, restore_as);
    return;
  }
  std::vector<std::string> args = {
      "--exit-on-error", "--no-password", "--dbname=" + conninfo,
      "--use-list=" + WriteRestoreList(ListArchive(facts, data_path), data_path, skip)};
  if (jobs > 1)
    args.push_back("--jobs=" + std::to_string(jobs));
  for (const std::string& arg : OwnershipArgs(restore_as))
    args.push_back(arg);
  args.insert(args.end(), selection.begin(), selection.end());
  args.push_back(data_path);
  RunTool(facts, "pg_restore", args, nullptr, restore_as);
}

// WriteScratchText writes text into the staging file at path (thrown away
// after use: no fsync).
void WriteScratchText(const std::string& path, const std::string& text) {
  LocalStorage files(path.substr(0, path.rfind('/')), Durability::kScratch);
  std::unique_ptr<ObjectWriter> writer = files.Create(path.substr(path.rfind('/') + 1));
  WriteString(*writer, text);
  writer->Finish();
}

// kScriptsStaged is what CheckStagingSpace says ApplyWithTableRows stages.
constexpr const char* kScriptsStaged =
    "the SQL scripts pg_restore writes of the selection for psql (its definitions and the rows "
    "of its tables in the backup's data object)";

// ApplyWithTableRows restores into database, in one transaction and in
// restore sessions of restore_as, the entries of the staged custom archive
// that list (a --use-list file) and selection (pg_restore options) keep,
// together with the rows of loads, tables a parallel export stored in
// objects of their own: pg_restore writes the definitions (pre-data) and
// the rest (data, post-data) as scripts, and one psql session runs them
// with the tables' \copy between them (see table_loads.h), so that those
// rows are in before any index, key or trigger of the selection. The
// scripts are staged beside the archive: check_space is given their size
// (RestoreScriptBytes of the entries restored keeps) before they are
// written, and they are removed once psql ran them.
void ApplyWithTableRows(const ServerFacts& facts, const StagedSet& staged, const std::string& list,
                        const std::vector<std::string>& selection, const std::string& database,
                        const std::string& restore_as, const std::vector<SeparateTableLoad>& loads,
                        const std::function<bool(const TocEntry&)>& restored,
                        const std::function<void(uint64_t bytes)>& check_space) {
  const std::string& data_path = staged.data_path;
  check_space(RestoreScriptBytes(staged, restored));
  std::string key = NewRestrictKey();
  auto script = [&](const std::string& path, std::vector<std::string> args) {
    args.push_back("--file=" + path);
    args.push_back("--restrict-key=" + key);
    args.push_back("--use-list=" + list);
    for (const std::string& arg : OwnershipArgs(restore_as))
      args.push_back(arg);
    args.insert(args.end(), selection.begin(), selection.end());
    args.push_back(data_path);
    RunTool(facts, "pg_restore", args);
  };
  std::string before = data_path + ".pre-data.sql";
  std::string after = data_path + ".data.sql";
  std::string rows = data_path + ".rows.sql";
  script(before, {"--section=pre-data"});
  script(after, {"--section=data", "--section=post-data"});
  // Names from the archive are in these scripts: psql runs them only in its
  // restricted mode (see table_loads.h).
  CheckRestrictedScript(before, key);
  CheckRestrictedScript(after, key);
  WriteScratchText(rows,
                   TableLoadScript(loads, staged.client_encoding, restore_as == kRestoreAsOwners));
  RunTool(facts, "psql",
          {"--no-psqlrc", "--quiet", "--no-password", "--set=ON_ERROR_STOP=1",
           "--single-transaction", "--dbname=dbname=" + ConnInfoValue(database), "--file=" + before,
           "--file=" + rows, "--file=" + after},
          nullptr, restore_as);
  for (const std::string& path : {before, after, rows})
    (void)unlink(path.c_str());
}

// SelectedByArguments says whether pg_restore's --schema and --table
// options in args (RestoreOptions::SelectionArgumentGroups) select the
// TABLE entry entry: its schema among the --schema ones if any, its name
// among the --table ones if any.
bool SelectedByArguments(const TocEntry& entry, const std::vector<std::string>& args) {
  bool schema_given = false, schema_ok = false, table_given = false, table_ok = false;
  for (const std::string& arg : args) {
    if (arg.rfind("--schema=", 0) == 0) {
      schema_given = true;
      schema_ok = schema_ok || entry.namespace_ == arg.substr(9);
    } else if (arg.rfind("--table=", 0) == 0) {
      table_given = true;
      table_ok = table_ok || entry.tag == arg.substr(8);
    }
  }
  return (!schema_given || schema_ok) && (!table_given || table_ok);
}

// SelectionMayRestore says whether a partial restore with options may
// restore table (a table in an object of its own), by the archive's table
// of contents toc: a superset of what ApplyTables, the schemas' groups and
// RestoreIntoSchema then restore (each picks its tables again).
bool SelectionMayRestore(const RestoreOptions& options, const std::vector<TocEntry>& toc,
                         const TableCount& table) {
  const TocEntry* entry = nullptr;
  for (const TocEntry& candidate : toc)
    if (candidate.desc == "TABLE" && candidate.namespace_ == table.schema &&
        candidate.tag == table.table)
      entry = &candidate;
  if (entry == nullptr)
    return true;  // damage, which SeparateTableLoads reports
  for (const QualifiedName& schema : options.schemas)
    if (entry->namespace_ == schema.name)
      return true;
  for (const QualifiedName& name : options.tables)
    if (entry->tag == name.name && (name.schema.empty() || entry->namespace_ == name.schema))
      return true;
  if (options.tables.empty())
    return false;
  // A whole table brings its partitions (SelectTablesWhole).
  std::vector<SelectedTable> wanted;
  for (const QualifiedName& name : options.tables)
    wanted.push_back({name.schema, name.name});
  return SelectTablesWhole(toc, wanted).dump_ids.count(entry->dump_id) > 0;
}

// ApplyTables restores selected tables whole (see table_selection.h) from
// a staged custom archive into database, in one transaction, in restore
// sessions of restore_as; other tables' foreign keys to them are logged.
void ApplyTables(const ServerFacts& facts, int64_t id, const StagedSet& staged,
                 const std::vector<QualifiedName>& tables, const std::string& database,
                 const std::string& restore_as, const SuperuserGate& gate,
                 const std::function<void(uint64_t bytes)>& check_space) {
  if (staged.toc.empty())
    throw Error(ErrorKind::kCorrupt, "the archive's table of contents could not be read");
  std::vector<SelectedTable> wanted;
  for (const QualifiedName& table : tables)
    wanted.push_back({table.schema, table.name});
  TableSelection selection = SelectTablesWhole(staged.toc, wanted);
  if (!selection.missing.empty()) {
    std::string names;
    for (const std::string& name : selection.missing)
      names += (names.empty() ? "" : ", ") + name;
    throw Error(ErrorKind::kUndefinedObject, "the backup holds no table " + names,
                "Nothing was restored.");
  }
  // Foreign keys that other tables hold and that point at the restored
  // tables come back if those tables are there.
  std::string not_restored;
  {
    PgConnPtr conn = ConnectLocal(facts, database);
    for (const ForeignKeyTo& key : selection.referrers) {
      PgResultPtr found =
          ExecWithLatch(conn.get(),
                        "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                        "ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                        {key.schema, key.table});
      if (!key.table.empty() && PQntuples(found.get()) > 0)
        selection.dump_ids.insert(key.dump_id);
      else
        not_restored +=
            (not_restored.empty() ? "" : ", ") + key.name + " of " + key.schema + "." + key.table;
    }
  }
  if (restore_as == kRestoreAsOwners)
    gate.CheckToc(
        staged.toc,
        [&](const TocEntry& entry) { return selection.dump_ids.count(entry.dump_id) > 0; },
        database);
  std::set<int> skip;
  for (const TocEntry& entry : staged.toc)
    if (selection.dump_ids.count(entry.dump_id) == 0)
      skip.insert(entry.dump_id);
  std::string list = WriteRestoreList(ListArchive(facts, staged.data_path), staged.data_path, skip,
                                      ".tables.list");
  // The selected tables a parallel export stored in objects of their own.
  std::vector<SeparateTableLoad> loads = SeparateTableLoads(
      staged.manifest, staged.toc, staged.table_paths,
      [&](const TocEntry& entry) { return selection.dump_ids.count(entry.dump_id) > 0; });
  if (!loads.empty()) {
    ApplyWithTableRows(
        facts, staged, list, {}, database, restore_as, loads,
        [&](const TocEntry& entry) { return selection.dump_ids.count(entry.dump_id) > 0; },
        check_space);
  } else {
    std::vector<std::string> args = {"--exit-on-error", "--no-password", "--single-transaction",
                                     "--dbname=dbname=" + ConnInfoValue(database),
                                     "--use-list=" + list};
    for (const std::string& arg : OwnershipArgs(restore_as))
      args.push_back(arg);
    args.push_back(staged.data_path);
    RunTool(facts, "pg_restore", args, nullptr, restore_as);
  }
  if (!not_restored.empty()) {
    PgCall([&] {
      ereport(LOG, (errmsg("pgbak: operation " INT64_FORMAT
                           ": foreign keys that point at the restored tables from tables that "
                           "are not there were not re-created: %s",
                           static_cast<int64>(id), not_restored.c_str())));
    });
  }
}

// OwnersRestoreAs is what the sessions of a restore that builds a database
// of its own run as: each object as its owner, when the dump role is a
// superuser (a dump role that is none has no rights to lend).
std::string OwnersRestoreAs(const ServerFacts& facts) {
  return facts.dump_role_is_superuser ? kRestoreAsOwners : "";
}

// Admin runs one statement on the catalog database through libpq (CREATE and
// DROP DATABASE cannot run inside the worker's own transactions).
void Admin(const ServerFacts& facts, const std::string& sql, bool honor_stop = true) {
  PgConnPtr conn = ConnectLocal(facts, setting_database);
  try {
    ExecWithLatch(conn.get(), sql, {}, honor_stop);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kCancelled)
      throw;
    throw Error(ErrorKind::kIo, sql.substr(0, sql.find('"')) + "failed", e.detail());
  }
}

// DatabaseExists asks the catalog whether a database of that name exists.
bool DatabaseExists(const ServerFacts& facts, const std::string& name) {
  PgConnPtr conn = ConnectLocal(facts, setting_database);
  PgResultPtr result =
      ExecWithLatch(conn.get(), "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1", {name});
  return PQntuples(result.get()) > 0;
}

// DatabaseOid is the OID of the database called name, 0 if none.
Oid DatabaseOid(const ServerFacts& facts, const std::string& name) {
  PgConnPtr conn = ConnectLocal(facts, setting_database);
  PgResultPtr result = ExecWithLatch(
      conn.get(), "SELECT oid::text FROM pg_catalog.pg_database WHERE datname = $1", {name});
  return PQntuples(result.get()) > 0 ? static_cast<Oid>(std::stoul(PQgetvalue(result.get(), 0, 0)))
                                     : InvalidOid;
}

// DatabaseName is the name of the database with OID oid, "" if none.
std::string DatabaseName(const ServerFacts& facts, Oid oid) {
  PgConnPtr conn = ConnectLocal(facts, setting_database);
  PgResultPtr result = ExecWithLatch(
      conn.get(), "SELECT datname FROM pg_catalog.pg_database WHERE oid = $1::pg_catalog.oid",
      {std::to_string(oid)});
  return PQntuples(result.get()) > 0 ? PQgetvalue(result.get(), 0, 0) : "";
}

// FreeDatabaseName is base, or base_2, base_3... if a database of that name
// exists already: a user who creates pgbak_verify_<n> ahead of a drill
// makes it pick another name, not fail.
std::string FreeDatabaseName(const ServerFacts& facts, const std::string& base) {
  for (int n = 1; n <= 100; n++) {
    std::string name = n == 1 ? base : base + "_" + std::to_string(n);
    if (!DatabaseExists(facts, name))
      return name;
  }
  throw Error(ErrorKind::kIo, "no free name for a database beginning with \"" + base + "\"");
}

// RecordDatabase writes the OID of database name into column (scratch_database
// or replaced_database) of operation id, in a transaction of its own, so
// that a cleanup after a crash knows the databases by OID, not by name.
// Schemas before 1.3 have no such columns: nothing is recorded.
void RecordDatabase(int64_t id, const char* column, Oid oid) {
  RunInTransaction([&] {
    bool has = false;
    PgCall([&] { has = BackupLogHasColumn(column); });
    if (!has)
      return;
    std::string sql =
        "UPDATE " + QuotedRelation("backup_log") + " SET " + column + " = $2 WHERE id = $1";
    PgCall([&] {
      Oid types[2] = {INT8OID, OIDOID};
      Datum values[2] = {Int64GetDatum(id), ObjectIdGetDatum(oid)};
      if (SPI_execute_with_args(sql.c_str(), 2, types, values, nullptr, false, 0) != SPI_OK_UPDATE)
        elog(ERROR, "could not record a database of operation " INT64_FORMAT,
             static_cast<int64>(id));
    });
  });
}

// CreateOwnDatabase creates a database for operation id under a free name
// starting with base (with create_options: encoding and locale), records
// its OID in scratch_database, and returns the name.
std::string CreateOwnDatabase(const ServerFacts& facts, int64_t id, const std::string& base,
                              const std::string& create_options) {
  std::string name = FreeDatabaseName(facts, base);
  Admin(facts, "CREATE DATABASE " + QuoteIdentifier(name) + " TEMPLATE template0" + create_options);
  RecordDatabase(id, "scratch_database", DatabaseOid(facts, name));
  // Nobody but superusers (the restore's own sessions) connects while it is
  // being filled; GiveProperties sets the real limit when it is whole.
  Admin(facts, "ALTER DATABASE " + QuoteIdentifier(name) + " CONNECTION LIMIT 0");
  return name;
}

// RenameDatabase renames a database, ending the sessions connected to it
// first (a rename waits for nobody); a session that connects again in
// between gets it retried a few times.
void RenameDatabase(const ServerFacts& facts, const std::string& from, const std::string& to) {
  for (int attempt = 1;; attempt++) {
    PgConnPtr conn = ConnectLocal(facts, setting_database);
    (void)ExecWithLatch(conn.get(),
                        "SELECT pg_catalog.pg_terminate_backend(pid) FROM "
                        "pg_catalog.pg_stat_activity WHERE datname = $1 "
                        "AND pid <> pg_catalog.pg_backend_pid()",
                        {from}, false);
    try {
      Admin(facts, "ALTER DATABASE " + QuoteIdentifier(from) + " RENAME TO " + QuoteIdentifier(to),
            false);
      return;
    } catch (const Error& e) {
      if (attempt >= 10 || e.kind() == ErrorKind::kCancelled)
        throw;
    }
    std::vector<int> none, ready;
    WaitForInput(none, 200, ready);
  }
}

// SetProperties are the backed-up database's properties, as its manifest
// records them, if backup_log holds that manifest's SHA-256 (a set made
// before 1.3 has none: its manifest could say anything, so the database a
// restore builds stays the restoring superuser's, with default grants).
DatabaseProperties SetProperties(SourceStorage& storage, int64_t source_id,
                                 const SourceInfo& source) {
  DatabaseProperties properties;
  if (source.manifest_sha256.empty())
    return properties;
  Manifest manifest =
      ReadManifest(*storage.storage, SetKey(*storage.storage, source.directory_id, source.location),
                   source.manifest_sha256);
  if (!manifest.database_properties_json.empty())
    properties = DatabaseProperties::FromJson(manifest.database_properties_json);
  if (!manifest.database_owner.empty())
    properties.owner = manifest.database_owner;
  return properties;
}

// GiveToSetOwner makes the database a whole restore builds belong to the
// backed-up database's owner before anything is restored into it: its
// objects are then loaded by their owners into a database of their own
// (pg_dump's "ALTER SCHEMA public OWNER" needs that), and the restored
// database comes back with its owner.
void GiveToSetOwner(const ServerFacts& facts, const DatabaseProperties& properties,
                    const SourceInfo& source, const std::string& database) {
  const std::string& owner = properties.owner;
  if (owner.empty())
    return;
  PgConnPtr conn = ConnectLocal(facts, setting_database);
  PgResultPtr exists =
      ExecWithLatch(conn.get(), "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1", {owner});
  if (PQntuples(exists.get()) == 0)
    throw Error(ErrorKind::kUndefinedObject,
                "role \"" + owner + "\", the owner of database \"" + source.database +
                    "\" in the backup, does not exist on this server",
                "",
                "Create the role first; the set's globals.sql.zst holds every role of the "
                "server it came from.");
  Admin(facts,
        "ALTER DATABASE " + QuoteIdentifier(database) + " OWNER TO " + QuoteIdentifier(owner));
}

// SettingsAnyOwnerCouldMake keeps, of an imported set's database settings,
// those its owner could have made without a superuser: parameters every
// user may set (one known parameter, matched as PostgreSQL matches names,
// whatever their case, whose context is 'user'), for the whole database or
// for the owner itself when the owner is not a superuser here. An imported
// manifest is whatever its storage held: a setting only a superuser may
// make (session_preload_libraries, zero_damaged_pages, a custom parameter
// of a library not loaded yet) or one for another role (a search_path that
// steers that role into the restored schemas) would let whoever wrote the
// storage reach this server's superusers or other roles. What is left out
// is logged.
std::vector<DatabaseSetting> SettingsAnyOwnerCouldMake(const ServerFacts& facts,
                                                       const DatabaseProperties& properties,
                                                       const std::string& database) {
  std::vector<DatabaseSetting> kept;
  if (properties.settings.empty())
    return kept;
  PgConnPtr conn = ConnectLocal(facts, setting_database);
  bool owner_is_superuser = true;
  if (!properties.owner.empty()) {
    PgResultPtr owner =
        ExecWithLatch(conn.get(), "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = $1",
                      {properties.owner});
    owner_is_superuser =
        PQntuples(owner.get()) == 0 || std::string(PQgetvalue(owner.get(), 0, 0)) == "t";
  }
  for (const DatabaseSetting& setting : properties.settings) {
    PgResultPtr context = ExecWithLatch(
        conn.get(),
        "SELECT count(*) = 1 AND bool_and(context = 'user') FROM pg_catalog.pg_settings "
        "WHERE lower(name) = lower($1)",
        {setting.name});
    bool user_parameter = std::string(PQgetvalue(context.get(), 0, 0)) == "t";
    bool for_whom =
        setting.role.empty() || (!owner_is_superuser && setting.role == properties.owner);
    if (user_parameter && for_whom) {
      kept.push_back(setting);
      continue;
    }
    std::string what = setting.name + (setting.role.empty() ? "" : " for role " + setting.role);
    PgCall([&] {
      ereport(WARNING,
              (errmsg("pgbak: restored database \"%s\": left out the setting %s of an imported set",
                      database.c_str(), what.c_str()),
               errdetail("Its owner could not have made it without a superuser; the set's "
                         "manifest came from its storage."),
               errhint("Set it by hand if you trust the storage.")));
    });
  }
  return kept;
}

// GiveProperties gives a restored database the backed-up one's grants,
// settings, connection limit and comment.
// One that cannot be applied (a grant to a role this server does not have)
// is logged and skipped: the data is restored all the same.
void GiveProperties(const ServerFacts& facts, DatabaseProperties properties,
                    const std::string& database, bool imported) {
  if (imported)
    properties.settings = SettingsAnyOwnerCouldMake(facts, properties, database);
  for (const std::string& statement : properties.ApplyStatements(database)) {
    try {
      Admin(facts, statement);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::kCancelled)
        throw;
      std::string detail = e.detail();
      PgCall([&] {
        ereport(WARNING, (errmsg("pgbak: restored database \"%s\": could not apply \"%s\"",
                                 database.c_str(), statement.c_str()),
                          errdetail("%s", detail.c_str())));
      });
    }
  }
}

// RestoreWholeSet reads back and checks every object of backup source_id
// and restores it whole into database (existing and empty), for operation
// id: a custom set while it is read back (see stream_restore.h), a plain one
// afterwards with psql. Logs the timeline of a streamed restore.
StagedSet RestoreWholeSet(const ServerFacts& facts, SourceStorage& storage, LocalStorage& local,
                          StagingArea& staging, int64_t id, int64_t source_id,
                          const SourceInfo& source, const std::string& database, int jobs,
                          const DatabaseProperties& properties, const SuperuserGate& gate) {
  GiveToSetOwner(facts, properties, source, database);
  if (source.format != "custom") {
    StagedSet staged = ReadBackSource(storage, local, staging, source_id, source, true, true);
    gate.CheckScript(staged.data_path);
    SetPhase(Phase::kRestoring);
    ApplyDump(facts, staged.data_path, source.format, database, 1, {}, OwnersRestoreAs(facts));
    GiveProperties(facts, properties, database, source.imported);
    return staged;
  }
  StreamingRestore restore(facts, database, jobs, source.toc_sha256, OwnersRestoreAs(facts));
  std::vector<std::string> keys_left_out;
  // The tables a parallel export stored in objects of their own have rows
  // too, though not in the archive.
  std::set<std::pair<std::string, std::string>> separate;
  restore.SetTocCheck([&](const std::vector<TocEntry>& toc) {
    gate.CheckToc(toc);
    return KeysAcrossData(toc, keys_left_out, separate);
  });
  std::set<std::string> table_objects;
  StagedSet staged = ReadBackSource(
      storage, local, staging, source_id, source, true, true, &restore,
      [&](const Manifest& set) {
        std::vector<TableCount> pieces;
        for (const TableCount& table : set.tables)
          if (!table.object.empty()) {
            separate.insert({table.schema, table.table});
            table_objects.insert(table.object);
            pieces.push_back(table);
          }
        restore.SetSeparateTables(std::move(pieces));
      },
      [&](const ManifestObject& object, const std::string& path, uint64_t written, bool done) {
        if (table_objects.count(object.name) == 0)
          throw Error(ErrorKind::kCorrupt,
                      "object " + object.name + " holds no table the set lists");
        restore.OnSeparateTableStaged(object.name, path, written, done);
      });
  SetPhase(Phase::kRestoring);
  restore.Finish(staged.data_path, staged.patches);
  std::string timeline = restore.Timeline();
  PgCall([&] {
    ereport(LOG, (errmsg("pgbak: operation " INT64_FORMAT ": restored backup " INT64_FORMAT
                         " into \"%s\": %s",
                         static_cast<int64>(id), static_cast<int64>(source_id), database.c_str(),
                         timeline.c_str())));
  });
  GiveProperties(facts, properties, database, source.imported);
  LogKeysLeftOut(id, database, keys_left_out);
  return staged;
}

// RestoreBuildName is the database a whole-set restore fills before it
// takes the target's name.
std::string RestoreBuildName(int64_t id) {
  return "pgbak_restore_" + std::to_string(id);
}

// ScratchDatabase is a database created for a restore drill (under a free
// name starting with base, its OID recorded on the operation's row) and
// dropped (WITH (FORCE)) when it goes out of scope, whatever happened
// meanwhile.
class ScratchDatabase {
 public:
  ScratchDatabase(const ServerFacts& facts, int64_t id, const std::string& base,
                  const std::string& create_options)
      : facts_(facts) {
    name_ = CreateOwnDatabase(facts_, id, base, create_options);
    created_ = true;
  }
  ~ScratchDatabase() {
    if (!created_)
      return;
    try {
      // Also (above all) after a cancel: this drop must not be cancelled.
      Admin(facts_, "DROP DATABASE IF EXISTS " + QuoteIdentifier(name_) + " WITH (FORCE)", false);
    } catch (...) {
      // The launcher drops a leftover scratch database of a failed drill.
    }
  }
  ScratchDatabase(const ScratchDatabase&) = delete;
  ScratchDatabase& operator=(const ScratchDatabase&) = delete;
  const std::string& name() const { return name_; }

 private:
  const ServerFacts& facts_;
  std::string name_;
  bool created_ = false;
};

// CompareRowCounts counts every manifest table in database and describes
// the mismatches ("" if none).
std::string CompareRowCounts(const ServerFacts& facts, const std::string& database,
                             const Manifest& manifest) {
  // The session is a superuser's in a database its owner can reach: no
  // name is counted before it is locked and known to be a plain table (a
  // view or a foreign table put under a table's name would run its owner's
  // code as superuser when queried; once locked, nobody can swap it).
  PgConnPtr conn = ConnectLocal(facts, database);
  std::string mismatches;
  int shown = 0;
  for (const TableCount& table : RowsPerTable(manifest.tables)) {  // pieces summed
    ThrowIfStopping();
    std::string name = QuoteIdentifier(table.schema) + "." + QuoteIdentifier(table.table);
    std::string found;
    try {
      (void)ExecWithLatch(conn.get(), "BEGIN");
      (void)ExecWithLatch(conn.get(), "LOCK TABLE ONLY " + name + " IN ACCESS SHARE MODE");
      PgResultPtr kind = ExecWithLatch(
          conn.get(), "SELECT relkind::text FROM pg_catalog.pg_class WHERE oid = $1::regclass",
          {name});
      std::string relkind = PQntuples(kind.get()) > 0 ? PQgetvalue(kind.get(), 0, 0) : "";
      if (relkind != "r" && relkind != "p") {
        found = "not a table (relkind " + relkind + ")";
      } else {
        PgResultPtr result =
            ExecWithLatch(conn.get(), "SELECT pg_catalog.count(*) FROM ONLY " + name);
        if (std::stoll(PQgetvalue(result.get(), 0, 0)) != table.rows)
          found = PQgetvalue(result.get(), 0, 0);
      }
      (void)ExecWithLatch(conn.get(), "COMMIT");
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::kCancelled)
        throw;
      found = "missing (" + e.detail() + ")";
      PQclear(PQexec(conn.get(), "ROLLBACK"));
    }
    if (found.empty())
      continue;
    if (shown++ < 10)
      mismatches += (mismatches.empty() ? "" : "; ") + table.schema + "." + table.table +
                    ": manifest " + std::to_string(table.rows) + ", restored " + found;
  }
  if (shown > 10)
    mismatches += "; and " + std::to_string(shown - 10) + " more";
  return mismatches;
}

// SelectedInScratch is a relation a restore into_schema moves.
struct SelectedInScratch {
  std::string oid;
  std::string qualified;  // regclass text: schema-qualified, quoted
  std::string name;
  std::string relkind;
};

// MoveSelectionAside turns, in the scratch database a restore into_schema
// filled, the selection into schema into (owned by owner), and returns the
// roles that own something in it. Tables (with their indexes, constraints,
// triggers, policies, grants and owned sequences) are moved with SET
// SCHEMA, a schema is renamed; before that, every selected relation is
// detached from parents outside the selection and loses the foreign keys it
// holds on tables outside it, so that the copy neither joins the live
// partition or inheritance tree nor constrains or follows the live tables.
// A partitioned table's partitions go with it only if they are selected
// too. Runs no user code: these commands call no function of the objects,
// and the scratch database has no event triggers (RestoreIntoSchema leaves
// them out).
std::vector<std::string> MoveSelectionAside(PGconn* scratch, const RestoreOptions& options,
                                            const std::string& owner) {
  struct Borrowed {
    PGconn* conn;
    PGconn* get() const { return conn; }
  } conn{scratch};
  const std::string into = QuoteIdentifier(options.into_schema);
  PgResultPtr taken =
      ExecWithLatch(conn.get(), "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1",
                    {options.into_schema});
  if (PQntuples(taken.get()) > 0)
    throw Error(ErrorKind::kInvalidParameter,
                "restore option \"into_schema\" names \"" + options.into_schema +
                    "\", a schema of the backup itself",
                "The selection cannot be restored into a schema the backed-up database already "
                "had. Nothing was changed.",
                "Choose another name.");
  (void)ExecWithLatch(conn.get(), "BEGIN");
  const char* relation_query =
      "SELECT c.oid::text, c.oid::pg_catalog.regclass::text, c.relname, c.relkind::text "
      "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "WHERE ($2 = '' OR c.relname = $2) AND ($1 = '' OR n.nspname = $1) "
      "AND c.relkind IN ('r', 'p', 'm', 'v', 'S', 'f') "
      "AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' ORDER BY 2";
  std::vector<SelectedInScratch> selected;
  std::set<std::string> oids, names;
  std::vector<std::pair<std::string, std::string>> wanted;
  if (!options.schemas.empty())
    wanted.emplace_back(options.schemas[0].name, "");
  for (const QualifiedName& table : options.tables)
    wanted.emplace_back(table.schema, table.name);
  for (const auto& [schema, name] : wanted) {
    PgResultPtr found = ExecWithLatch(conn.get(), relation_query, {schema, name});
    for (int i = 0; i < PQntuples(found.get()); i++) {
      SelectedInScratch relation{PQgetvalue(found.get(), i, 0), PQgetvalue(found.get(), i, 1),
                                 PQgetvalue(found.get(), i, 2), PQgetvalue(found.get(), i, 3)};
      if (!oids.insert(relation.oid).second)
        continue;
      if (options.schemas.empty() && !names.insert(relation.name).second)
        throw Error(ErrorKind::kInvalidParameter,
                    "restore option \"into_schema\" would put two relations named \"" +
                        relation.name + "\" into schema \"" + options.into_schema + "\"",
                    "The selection names tables of the same name in different schemas.",
                    "Restore them into different schemas, one restore each.");
      selected.push_back(relation);
    }
  }
  std::string set = "{";
  for (const std::string& oid : oids)
    set += (set.size() > 1 ? "," : "") + oid;
  set += "}";
  for (const SelectedInScratch& relation : selected) {
    if (relation.relkind == "v" || relation.relkind == "S")
      continue;
    PgResultPtr parents = ExecWithLatch(
        conn.get(),
        "SELECT i.inhparent::pg_catalog.regclass::text, c.relispartition "
        "FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhrelid = $1::pg_catalog.oid "
        "AND NOT i.inhparent = ANY ($2::pg_catalog.oid[])",
        {relation.oid, set});
    for (int i = 0; i < PQntuples(parents.get()); i++) {
      std::string parent = PQgetvalue(parents.get(), i, 0);
      if (std::string(PQgetvalue(parents.get(), i, 1)) == "t")
        (void)ExecWithLatch(conn.get(),
                            "ALTER TABLE " + parent + " DETACH PARTITION " + relation.qualified);
      else
        (void)ExecWithLatch(conn.get(),
                            "ALTER TABLE " + relation.qualified + " NO INHERIT " + parent);
    }
    // A key's clones (on partitions, or to a referenced table's
    // partitions) go with it.
    PgResultPtr keys = ExecWithLatch(
        conn.get(),
        "SELECT conname FROM pg_catalog.pg_constraint WHERE conrelid = $1::pg_catalog.oid "
        "AND contype = 'f' AND conparentid = 0 AND NOT confrelid = ANY ($2::pg_catalog.oid[])",
        {relation.oid, set});
    for (int i = 0; i < PQntuples(keys.get()); i++)
      (void)ExecWithLatch(conn.get(), "ALTER TABLE " + relation.qualified +
                                          " DROP CONSTRAINT IF EXISTS " +
                                          QuoteIdentifier(PQgetvalue(keys.get(), i, 0)));
  }
  if (!options.schemas.empty()) {
    (void)ExecWithLatch(conn.get(), "ALTER SCHEMA " + QuoteIdentifier(options.schemas[0].name) +
                                        " RENAME TO " + into);
  } else {
    (void)ExecWithLatch(conn.get(),
                        "CREATE SCHEMA " + into + " AUTHORIZATION " + QuoteIdentifier(owner));
    for (const SelectedInScratch& relation : selected) {
      const char* kind = relation.relkind == "m"   ? "MATERIALIZED VIEW"
                         : relation.relkind == "v" ? "VIEW"
                         : relation.relkind == "S" ? "SEQUENCE"
                         : relation.relkind == "f" ? "FOREIGN TABLE"
                                                   : "TABLE";
      (void)ExecWithLatch(conn.get(), std::string("ALTER ") + kind + " " + relation.qualified +
                                          " SET SCHEMA " + into);
    }
  }
  PgResultPtr owners = ExecWithLatch(
      conn.get(),
      "SELECT DISTINCT pg_catalog.pg_get_userbyid(o) FROM ("
      " SELECT relowner FROM pg_catalog.pg_class WHERE relnamespace = $1::pg_catalog.regnamespace"
      " UNION SELECT proowner FROM pg_catalog.pg_proc WHERE pronamespace = "
      "   $1::pg_catalog.regnamespace"
      " UNION SELECT typowner FROM pg_catalog.pg_type WHERE typnamespace = "
      "   $1::pg_catalog.regnamespace) s(o) ORDER BY 1",
      {into});
  std::vector<std::string> roles;
  for (int i = 0; i < PQntuples(owners.get()); i++)
    roles.push_back(PQgetvalue(owners.get(), i, 0));
  (void)ExecWithLatch(conn.get(), "COMMIT");
  return roles;
}

std::string SchemaOwner(PGconn* conn, const std::string& name, const std::string& fallback);
void LoadIntoSchema(const ServerFacts& facts, int64_t id, const std::string& copy,
                    const std::string& into_schema, const std::string& target,
                    const std::string& schema_owner, const std::vector<std::string>& roles,
                    const std::string& restore_as);

// RestoreIntoSchema restores the selection of options from a staged
// custom archive into new schema options.into_schema of target (owned by
// target_owner; the scratch database is built as a whole restore builds a
// database, with properties), leaving
// the live objects alone: the archive's definitions and the selection's
// data go into a scratch database, the selection is moved into the new
// schema there (MoveSelectionAside), dumped, and restored into target in
// one transaction in sessions of restore_as. References to objects outside
// the selection (types, functions, sequences of other tables) stay
// references to target's.
void RestoreIntoSchema(const ServerFacts& facts, int64_t id, const StagedSet& staged,
                       const RestoreOptions& options, const std::string& target,
                       const std::string& target_owner, const std::string& restore_as,
                       const SourceInfo& source, const DatabaseProperties& properties,
                       const SuperuserGate& gate) {
  if (staged.toc.empty())
    throw Error(ErrorKind::kCorrupt, "the archive's table of contents could not be read");
  {
    PgConnPtr conn = ConnectLocal(facts, target);
    PgResultPtr taken =
        ExecWithLatch(conn.get(), "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1",
                      {options.into_schema});
    if (PQntuples(taken.get()) > 0)
      throw Error(
          ErrorKind::kInvalidParameter,
          "schema \"" + options.into_schema + "\" already exists in database \"" + target + "\"",
          "Restore option \"into_schema\" restores into a new schema. Nothing was changed.",
          "Choose another name, or drop that schema first.");
  }
  // What the scratch database needs: every definition, the selection's data.
  auto selected = [&](const TocEntry& entry) {
    if (!options.schemas.empty())
      return entry.namespace_ == options.schemas[0].name;
    for (const QualifiedName& table : options.tables)
      if (entry.tag == table.name && (table.schema.empty() || entry.namespace_ == table.schema))
        return true;
    return false;
  };
  std::set<int> skip;
  bool found = false;
  for (const TocEntry& entry : staged.toc) {
    bool definition =
        !options.schemas.empty()
            ? entry.desc == "SCHEMA" && entry.tag == options.schemas[0].name
            : (entry.desc == "TABLE" || entry.desc == "VIEW" || entry.desc == "MATERIALIZED VIEW" ||
               entry.desc == "SEQUENCE" || entry.desc == "FOREIGN TABLE") &&
                  selected(entry);
    found = found || definition;
    bool data = entry.desc == "TABLE DATA" || entry.desc == "MATERIALIZED VIEW DATA";
    if ((data && !selected(entry)) || entry.desc.rfind("BLOB", 0) == 0 ||
        entry.desc == "LARGE OBJECT" || entry.desc == "EVENT TRIGGER")
      skip.insert(entry.dump_id);
  }
  if (!found)
    throw Error(ErrorKind::kUndefinedObject,
                std::string("the backup holds no ") +
                    (options.schemas.empty() ? "table of restore option \"tables\""
                                             : "schema \"" + options.schemas[0].name + "\""),
                "Nothing was restored.");
  // The selected tables a parallel export stored in objects of their own
  // get their rows before their indexes and keys, each loaded by its owner:
  // keys to and from them are not across data.
  std::vector<SeparateTableLoad> loads =
      SeparateTableLoads(staged.manifest, staged.toc, staged.table_paths,
                         [&](const TocEntry& entry) { return selected(entry); });
  std::set<std::pair<std::string, std::string>> loaded;
  for (const SeparateTableLoad& load : loads)
    loaded.insert({load.schema, load.table});
  for (int key : ForeignKeysAcrossData(staged.toc, skip, loaded))
    skip.insert(key);
  gate.CheckToc(staged.toc, [&](const TocEntry& entry) { return skip.count(entry.dump_id) == 0; });
  ScratchDatabase scratch(facts, id, "pgbak_restore_" + std::to_string(id),
                          properties.CreateOptions());
  // Owned by the backed-up database's owner, as a whole restore's: its
  // objects' owners have the rights there they had (pg_database_owner's).
  GiveToSetOwner(facts, properties, source, scratch.name());
  std::string list = WriteRestoreList(ListArchive(facts, staged.data_path), staged.data_path, skip,
                                      ".scratch.list");
  std::string conninfo = "--dbname=dbname=" + ConnInfoValue(scratch.name());
  // As a whole restore does: definitions as pg_restore makes them (created,
  // then ALTER OWNER: no object's code runs), then data and indexes loaded
  // by each object's owner.
  RunTool(facts, "pg_restore",
          {"--exit-on-error", "--no-password", "--section=pre-data", conninfo, "--use-list=" + list,
           staged.data_path});
  std::string owners = OwnersRestoreAs(facts);
  if (!loads.empty()) {
    std::string rows = staged.data_path + ".scratch-rows.sql";
    WriteScratchText(rows,
                     TableLoadScript(loads, staged.client_encoding, owners == kRestoreAsOwners));
    RunTool(facts, "psql",
            {"--no-psqlrc", "--quiet", "--no-password", "--set=ON_ERROR_STOP=1",
             "--single-transaction", conninfo, "--file=" + rows},
            nullptr, owners);
  }
  std::vector<std::string> args = {"--exit-on-error",     "--no-password", "--section=data",
                                   "--section=post-data", conninfo,        "--use-list=" + list};
  if (options.jobs > 1)
    args.push_back("--jobs=" + std::to_string(options.jobs));
  for (const std::string& arg : OwnershipArgs(owners))
    args.push_back(arg);
  args.push_back(staged.data_path);
  RunTool(facts, "pg_restore", args, nullptr, owners);
  std::vector<std::string> roles;
  std::string schema_owner = target_owner;
  {
    PgConnPtr conn = ConnectLocal(facts, scratch.name());
    roles = MoveSelectionAside(conn.get(), options, target_owner);
    schema_owner = SchemaOwner(conn.get(), options.into_schema, target_owner);
  }
  std::string copy = staged.data_path + ".into.dump";
  RunTool(facts, "pg_dump",
          {"--format=custom", "--compress=0", "--no-password",
           "--schema=" + QuoteIdentifier(options.into_schema), "--file=" + copy, conninfo});
  LoadIntoSchema(facts, id, copy, options.into_schema, target, schema_owner, roles, restore_as);
}

// SchemaOwner is the owner of schema name in the database of conn
// (fallback if there is no such schema).
std::string SchemaOwner(PGconn* conn, const std::string& name, const std::string& fallback) {
  PgResultPtr found = ExecWithLatch(conn,
                                    "SELECT pg_catalog.pg_get_userbyid(nspowner) FROM "
                                    "pg_catalog.pg_namespace WHERE nspname = $1",
                                    {name});
  return PQntuples(found.get()) > 0 ? PQgetvalue(found.get(), 0, 0) : fallback;
}

// LoadIntoSchema restores the custom archive at copy, which holds schema
// into_schema (owned by schema_owner, with objects owned by roles), into
// target as a new schema, in one transaction, in sessions of restore_as;
// the schema is dropped again if the restore fails.
void LoadIntoSchema(const ServerFacts& facts, int64_t id, const std::string& copy,
                    const std::string& into_schema, const std::string& target,
                    const std::string& schema_owner, const std::vector<std::string>& roles,
                    const std::string& restore_as) {
  RestoreOptions options;
  options.into_schema = into_schema;
  std::vector<std::string> into = {"--exit-on-error", "--no-password", "--single-transaction",
                                   "--dbname=dbname=" + ConnInfoValue(target)};
  for (const std::string& arg : OwnershipArgs(restore_as))
    into.push_back(arg);
  bool created = false;
  if (restore_as == kRestoreAsOwners) {
    // Each object is created by its owner: the new schema is made first,
    // by the restore's superuser, and lets them (CREATE and USAGE, left in
    // place); the archive's own CREATE SCHEMA is left out.
    std::string listing = ListArchive(facts, copy);
    std::set<int> schema_entry;
    std::string marker = " SCHEMA - " + options.into_schema + " ";
    for (size_t start = 0; start < listing.size();) {
      size_t end = listing.find('\n', start);
      std::string line = listing.substr(start, end == std::string::npos ? end : end - start);
      start = end == std::string::npos ? listing.size() : end + 1;
      size_t semicolon = line.find("; ");
      if (semicolon != std::string::npos && line.find(marker) != std::string::npos &&
          line.find_first_not_of("0123456789") == semicolon)
        schema_entry.insert(std::stoi(line.substr(0, semicolon)));
    }
    into.push_back("--use-list=" + WriteRestoreList(listing, copy, schema_entry, ".into.list"));
    PgConnPtr conn = ConnectLocal(facts, target);
    (void)ExecWithLatch(conn.get(), "BEGIN");
    (void)ExecWithLatch(conn.get(), "CREATE SCHEMA " + QuoteIdentifier(options.into_schema) +
                                        " AUTHORIZATION " + QuoteIdentifier(schema_owner));
    for (const std::string& role : roles)
      if (role != schema_owner)
        (void)ExecWithLatch(conn.get(), "GRANT USAGE, CREATE ON SCHEMA " +
                                            QuoteIdentifier(options.into_schema) + " TO " +
                                            QuoteIdentifier(role));
    (void)ExecWithLatch(conn.get(), "COMMIT");
    created = true;
  }
  into.push_back(copy);
  try {
    RunTool(facts, "pg_restore", into, nullptr, restore_as);
  } catch (...) {
    if (created) {
      // Empty again: the restore was one transaction.
      try {
        PgConnPtr conn = ConnectLocal(facts, target);
        (void)ExecWithLatch(
            conn.get(), "DROP SCHEMA IF EXISTS " + QuoteIdentifier(options.into_schema), {}, false);
      } catch (...) {
      }
    }
    throw;
  }
  PgCall([&] {
    ereport(LOG, (errmsg("pgbak: operation " INT64_FORMAT
                         ": restored the selection into schema \"%s\" of database \"%s\"",
                         static_cast<int64>(id), options.into_schema.c_str(), target.c_str())));
  });
}

// VerifyBaseSet checks every object of base backup source_id: its manifest
// against backup_log's SHA-256 and its kind and id, then each object's size
// and SHA-256 (base.tar's against backup_log's checksum too) and, when the
// storage can decrypt it, its decryption, decompression and decompressed
// size. The outcome is recorded on the backup's row as for a logical set.
void VerifyBaseSet(int64_t id, int64_t source_id, const SourceInfo& source) {
  bool readable = true;
  try {
    PauseAt(id, "verify_start");
    SourceStorage storage = OpenSourceStorage(source);
    SetPhase(Phase::kVerifying);
    std::string key = SetKey(*storage.storage, source.directory_id, source.location);
    Manifest manifest = ReadManifest(*storage.storage, key, source.manifest_sha256);
    if (manifest.kind != "base" || manifest.backup_id != source_id)
      throw Error(ErrorKind::kCorrupt, "the manifest at " + source.location +
                                           " is not that of base backup " +
                                           std::to_string(source_id));
    if (manifest.objects.empty())
      throw Error(ErrorKind::kCorrupt,
                  "the manifest of base backup " + std::to_string(source_id) + " lists no objects");
    for (const ManifestObject& object : manifest.objects) {
      bool data = object.name.rfind("base.tar.", 0) == 0;
      NullSink sink;
      readable = ReadBackObject(storage, key, object, data ? source.checksum_sha256 : "", sink,
                                false, WorkerProgress) &&
                 readable;
    }
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kCorrupt) {
      std::string status = std::string("failed: ") + e.what();
      RunInTransaction([&] { PgCall([&] { RecordVerification(source_id, status.c_str(), -1); }); });
    }
    throw;
  }
  RunInTransaction([&] {
    PgCall([&] {
      RecordVerification(source_id,
                         readable ? "passed"
                                  : "passed (sizes and checksums; not decrypted: the storage "
                                    "has no age_identity_file)",
                         -1);
      FinishWithSeconds(id, -1);
    });
  });
}

}  // namespace

// OpenSourceStorage opens the storage of a source backup and reads its
// identity file, if it has one.
SourceStorage OpenSourceStorage(const SourceInfo& source) {
  StorageHandle handle;
  RunInTransaction(
      [&] { handle = OpenStorageHandle(source.storage, StorageUse::kWorker, ThrowIfStopping); });
  SourceStorage opened;
  opened.storage = std::move(handle.storage);
  opened.name = source.storage;
  opened.no_identity = "storage \"" + source.storage + "\" has no age_identity_file";
  opened.identity_hint =
      "Define the storage again with age_identity_file, a file on this server holding the "
      "secret key of one of the set's age_recipients.";
  if (!handle.encryption.identity_file.empty())
    opened.identities = ReadAgeIdentityFile(handle.encryption.identity_file);
  return opened;
}

// RunVerify verifies backup source_id; see verify_job.h.
void RunVerify(int64_t id, int64_t source_id, bool deep) {
  ServerFacts facts;
  SourceInfo source;
  RunInTransaction([&] { facts = GatherServerFacts(); });
  source = LoadSource(source_id);
  if (source.kind == "base") {
    if (deep)
      RunPhysicalDrill(id, source_id, source);
    else
      VerifyBaseSet(id, source_id, source);
    return;
  }
  LocalStorage local(LocalStorageRoot());
  double restore_seconds = -1;
  bool readable = true;
  try {
    PauseAt(id, "verify_start");
    SourceStorage storage = OpenSourceStorage(source);
    SetPhase(Phase::kVerifying);
    StagingArea staging(local, StagingKey(id));
    // A server holding only public keys checks what it can of an encrypted
    // set: sizes and SHA-256 of every object, not the archive inside.
    bool stage = deep || source.format == "custom";
    if (!deep) {
      StagedSet staged = ReadBackSource(storage, local, staging, source_id, source, stage, deep);
      readable = staged.all_read;
      if (source.format == "custom" && !staged.data_path.empty())
        RunTool(facts, "pg_restore", {"--list", staged.data_path});
    } else {
      // The drill restores as a restore does, while reading back; its time
      // (the measured RTO) runs from the first byte read to the restored
      // database. A staging copy that cannot fit fails it before the
      // scratch database is created.
      if (source.raw_bytes > 0)
        CheckStagingSpace(local.root(), source_id, static_cast<uint64_t>(source.raw_bytes));
      DatabaseProperties properties = SetProperties(storage, source_id, source);
      ScratchDatabase scratch(facts, id, "pgbak_verify_" + std::to_string(id),
                              properties.CreateOptions());
      struct timeval started;
      gettimeofday(&started, nullptr);
      SuperuserGate gate(facts, source_id, true, false);
      StagedSet staged = RestoreWholeSet(facts, storage, local, staging, id, source_id, source,
                                         scratch.name(), 2, properties, gate);
      restore_seconds = Seconds(started);
      SetPhase(Phase::kCounting);
      std::string mismatches = CompareRowCounts(facts, scratch.name(), staged.manifest);
      if (!mismatches.empty())
        throw Error(ErrorKind::kCorrupt, "row counts differ from the manifest: " + mismatches);
    }
  } catch (const Error& e) {
    // Only what says something about the backup is recorded on it: damage
    // found, or a restore that failed. A storage that could not be reached,
    // a full staging disk or a missing identity file fail this verify
    // operation, and leave the backup's verify_status as it was.
    if (e.kind() == ErrorKind::kCorrupt || e.kind() == ErrorKind::kChildFailed) {
      // The reason, with the last line of a tool's error output if any.
      std::string detail = e.detail();
      while (!detail.empty() && detail.back() == '\n')
        detail.pop_back();
      std::string last_line =
          detail.substr(detail.rfind('\n') == std::string::npos ? 0 : detail.rfind('\n') + 1);
      std::string status =
          std::string("failed: ") + e.what() + (last_line.empty() ? "" : " (" + last_line + ")");
      RunInTransaction([&] { PgCall([&] { RecordVerification(source_id, status.c_str(), -1); }); });
    }
    throw;
  }
  RunInTransaction([&] {
    PgCall([&] {
      RecordVerification(source_id,
                         deep       ? "passed (restore drill)"
                         : readable ? "passed"
                                    : "passed (sizes and checksums; not decrypted: the storage "
                                      "has no age_identity_file)",
                         restore_seconds);
      FinishWithSeconds(id, restore_seconds);
    });
  });
}

// TargetState is a restore's target database as it is when the restore
// runs, and what the role that asked for the restore may do to it.
struct TargetState {
  bool exists = false;
  std::string owner;
  bool may_write = false;  // requester is an admin or has the owner's privileges
  bool is_template = false;
  bool allows_connections = true;
  bool owner_is_superuser = false;
};

// ReadTargetState looks at target now; the rights of the requester may have
// changed since the call, and the database may have appeared.
TargetState ReadTargetState(const std::string& target, const std::string& requester) {
  TargetState state;
  RunInTransaction([&] {
    bool exists = false;
    bool may_write = false;
    bool is_template = false;
    bool allows_connections = true;
    bool owner_is_superuser = false;
    const char* owner_name = nullptr;
    PgCall([&] {
      Oid database = get_database_oid(target.c_str(), true);
      if (!OidIsValid(database))
        return;
      HeapTuple tuple = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(database));
      if (!HeapTupleIsValid(tuple))
        return;
      Form_pg_database form = (Form_pg_database)GETSTRUCT(tuple);
      Oid owner = form->datdba;
      is_template = form->datistemplate;
      allows_connections = form->datallowconn;
      ReleaseSysCache(tuple);
      exists = true;
      owner_name = GetUserNameFromId(owner, false);
      owner_is_superuser = superuser_arg(owner);
      Oid who = get_role_oid(requester.c_str(), true);
      Oid admin = get_role_oid("pgbak_admin", true);
      may_write = OidIsValid(who) &&
                  (superuser_arg(who) || (OidIsValid(admin) && has_privs_of_role(who, admin)) ||
                   has_privs_of_role(who, owner));
    });
    state.exists = exists;
    state.owner = owner_name != nullptr ? owner_name : "";
    state.may_write = may_write;
    state.is_template = is_template;
    state.allows_connections = allows_connections;
    state.owner_is_superuser = owner_is_superuser;
  });
  return state;
}

// RequireUsableTarget fails the restore if target is a template or does not
// accept connections now (pgbak_restore refused both; either may have changed
// since).
void RequireUsableTarget(const TargetState& state, const std::string& target) {
  if (state.is_template || target == "template0" || target == "template1")
    throw Error(ErrorKind::kInvalidParameter,
                "cannot restore into template database \"" + target + "\"",
                "CREATE DATABASE copies templates into new databases; a restore neither replaces a "
                "template nor adds to one. Nothing was changed.");
  if (state.exists && !state.allows_connections)
    throw Error(ErrorKind::kInvalidParameter,
                "cannot restore into database \"" + target + "\": it does not accept connections",
                "Its datallowconn is false. Nothing was changed.");
}

// RequireWriteRight fails the restore unless its requester may write into
// target as it is now.
void RequireWriteRight(const TargetState& state, const std::string& target,
                       const std::string& requester) {
  if (!state.exists || state.may_write)
    return;
  throw Error(ErrorKind::kPermissionDenied,
              "permission denied to restore into existing database \"" + target + "\"",
              "It belongs to \"" + state.owner + "\"; \"" + requester +
                  "\" is neither its owner nor a member of pgbak_admin (checked when the restore "
                  "started). Nothing was changed.");
}

// RunRestore restores backup source_id into target; see verify_job.h.
void RunRestore(int64_t id, int64_t source_id, const std::string& target,
                const std::string& options_json, const std::string& requested_by) {
  RestoreOptions options = ParseRestoreOptions(options_json);
  ServerFacts facts;
  RunInTransaction([&] { facts = GatherServerFacts(); });
  SourceInfo source = LoadSource(source_id);
  if (source.kind == "base")
    throw Error(ErrorKind::kInvalidParameter,
                "backup " + std::to_string(source_id) + " is a base backup: it cannot be restored");
  if (target == setting_database)
    throw Error(ErrorKind::kInvalidParameter, "cannot restore into the catalog database");
  // Before the target or anything else is created: a staging copy that
  // cannot fit fails the restore now (ReadBackSet checks again against the
  // manifest).
  if (source.raw_bytes > 0)
    CheckStagingSpace(LocalStorageRoot(), source_id, static_cast<uint64_t>(source.raw_bytes));
  SourceStorage storage = OpenSourceStorage(source);
  LocalStorage local(LocalStorageRoot());
  SetPhase(Phase::kVerifying);
  StagingArea staging(local, StagingKey(id));
  struct timeval started;
  gettimeofday(&started, nullptr);
  {
    TargetState state = ReadTargetState(target, requested_by);
    RequireUsableTarget(state, target);
    RequireWriteRight(state, target, requested_by);
  }
  if (options.allow_superuser_code && !RequesterIsAdmin(requested_by))
    throw Error(ErrorKind::kPermissionDenied,
                "permission denied for restore option \"allow_superuser_code\"",
                "\"" + requested_by +
                    "\" is no longer a member of pgbak_admin (checked when the restore started). "
                    "Nothing was changed.");
  if (options.globals && !RequesterIsAdmin(requested_by))
    throw Error(ErrorKind::kPermissionDenied, "permission denied for restore option \"globals\"",
                "\"" + requested_by +
                    "\" is no longer a member of pgbak_admin (checked when the restore started). "
                    "Nothing was changed.");
  if (options.globals)
    ApplyGlobals(facts, storage, id, source_id, source);
  SuperuserGate gate(facts, source_id, false, options.allow_superuser_code);
  if (options.partial()) {
    // With the tables a parallel export stored in objects of their own:
    // a selection that holds one loads its rows from there. Only those the
    // selection may restore are staged.
    StagedSet staged = ReadBackSource(
        storage, local, staging, source_id, source, true, true, nullptr, nullptr, nullptr, true,
        [&](const TableCount& table, const std::vector<TocEntry>& toc) {
          return SelectionMayRestore(options, toc, table);
        });
    SetPhase(Phase::kRestoring);
    // The scripts a restore through psql stages (see ApplyWithTableRows).
    auto check_scripts = [&](uint64_t bytes) {
      CheckStagingSpace(local.root(), source_id, bytes, kScriptsStaged);
    };
    // Checked again after the read-back: the owner may have changed. The
    // objects go into the database with its owner's rights, whoever asked:
    // code already in the database (a domain's CHECK, a trigger) runs as
    // that owner, never as a superuser on the owner's behalf.
    TargetState state = ReadTargetState(target, requested_by);
    if (!state.exists)
      throw Error(ErrorKind::kIo, "database \"" + target + "\" does not exist");
    RequireUsableTarget(state, target);
    RequireWriteRight(state, target, requested_by);
    // A database a superuser owns gives no rights to lend: its objects are
    // loaded as their archived owners instead, as a whole restore does.
    std::string restore_as = !facts.dump_role_is_superuser ? ""
                             : state.owner_is_superuser    ? kRestoreAsOwners
                                                           : state.owner;
    if (!options.into_schema.empty()) {
      if (source.format != "custom")
        throw Error(ErrorKind::kInvalidParameter,
                    "restore option \"into_schema\" needs a custom-format backup");
      RestoreIntoSchema(facts, id, staged, options, target, state.owner, restore_as, source,
                        SetProperties(storage, source_id, source), gate);
    } else if (source.format == "custom" && options.schemas.empty()) {
      // Tables come back whole: indexes, constraints, triggers, policies,
      // grants, owned sequences, partition attachment.
      ApplyTables(facts, id, staged, options.tables, target, restore_as, gate, check_scripts);
    } else {
      if (restore_as == kRestoreAsOwners)
        gate.CheckToc(
            staged.toc,
            [&](const TocEntry& entry) {
              for (const QualifiedName& schema : options.schemas)
                if (entry.namespace_ == schema.name ||
                    (entry.desc == "SCHEMA" && entry.tag == schema.name))
                  return true;
              return false;
            },
            target);
      // Keys to and from the tables in objects of their own stay: their
      // rows are loaded before the keys are made (ApplyWithTableRows), or
      // they are in the target already.
      std::vector<std::string> keys_left_out;
      std::set<int> skip =
          KeysAcrossData(staged.toc, keys_left_out, RowsElsewhere(staged.manifest));
      for (const std::vector<std::string>& group : options.SelectionArgumentGroups()) {
        // All or nothing in the user's database: one transaction per group.
        std::vector<SeparateTableLoad> loads;
        if (source.format == "custom")
          loads = SeparateTableLoads(
              staged.manifest, staged.toc, staged.table_paths, [&](const TocEntry& entry) {
                return SelectedByArguments(entry, group) && skip.count(entry.dump_id) == 0;
              });
        if (!loads.empty()) {
          ApplyWithTableRows(
              facts, staged,
              WriteRestoreList(ListArchive(facts, staged.data_path), staged.data_path, skip), group,
              target, restore_as, loads,
              [&](const TocEntry& entry) {
                return SelectedByArguments(entry, group) && skip.count(entry.dump_id) == 0;
              },
              check_scripts);
          continue;
        }
        std::vector<std::string> args = group;
        args.push_back("--single-transaction");
        ApplyDump(facts, staged.data_path, source.format, target, 1, args, restore_as, skip);
      }
      LogKeysLeftOut(id, target, keys_left_out);
    }
  } else {
    if (DatabaseExists(facts, target) && !options.clean)
      throw Error(ErrorKind::kIo, "database \"" + target + "\" already exists",
                  "It was created after the restore was queued; nothing was changed.");
    // The set is restored under a name of its own and renamed when complete:
    // the target never holds half a restore, and a database that clean
    // replaces is dropped only once its replacement is whole.
    DatabaseProperties properties = SetProperties(storage, source_id, source);
    std::string building =
        CreateOwnDatabase(facts, id, RestoreBuildName(id), properties.CreateOptions());
    bool renamed = false;
    try {
      RestoreWholeSet(facts, storage, local, staging, id, source_id, source, building, options.jobs,
                      properties, gate);
      TargetState state = ReadTargetState(target, requested_by);
      std::string aside;
      if (state.exists) {
        if (!options.clean)
          throw Error(ErrorKind::kIo, "database \"" + target + "\" already exists",
                      "It was created while the restore ran; nothing was changed.");
        RequireUsableTarget(state, target);
        RequireWriteRight(state, target, requested_by);
        // The swap: the old database is moved aside (its OID recorded
        // first), the new one takes its name, and only then is the old one
        // dropped. After a crash in between, the launcher puts the old one
        // back, or keeps it aside if the new one already took the name
        // (CleanUpAbandoned): a database is never lost.
        aside = FreeDatabaseName(facts, "pgbak_replaced_" + std::to_string(id));
        RecordDatabase(id, "replaced_database", DatabaseOid(facts, target));
        RenameDatabase(facts, target, aside);
        PauseAt(id, "restore_swap_aside");
      }
      try {
        RenameDatabase(facts, building, target);
      } catch (const Error& e) {
        if (!aside.empty()) {
          try {
            RenameDatabase(facts, aside, target);  // the old one, back where it was
            aside.clear();
          } catch (...) {
          }
        }
        if (aside.empty())
          throw;
        renamed = true;  // keep what was restored: the old database is aside
        throw Error(ErrorKind::kIo,
                    "the restored database could not be renamed to \"" + target +
                        "\"; it is kept as \"" + building + "\", the old one as \"" + aside + "\"",
                    e.detail(), "Rename them by hand.");
      }
      renamed = true;
      PauseAt(id, "restore_swap_renamed");
      if (!aside.empty())
        Admin(facts, "DROP DATABASE " + QuoteIdentifier(aside) + " WITH (FORCE)", false);
    } catch (...) {
      // A database this restore created and could not fill must not pass for
      // a restored one.
      if (!renamed) {
        try {
          Admin(facts, "DROP DATABASE IF EXISTS " + QuoteIdentifier(building) + " WITH (FORCE)",
                false);
        } catch (...) {
        }
      }
      throw;
    }
  }
  double seconds = Seconds(started);
  RunInTransaction([&] { PgCall([&] { FinishWithSeconds(id, seconds); }); });
}

// QueueScheduledVerification queues the verification a job asks for.
void QueueScheduledVerification(int64_t backup_id, const std::string& job_name) {
  bool queued = false;
  RunInTransaction([&] {
    std::string jobs = QuotedRelation("pgbak_job");
    std::string log = QuotedRelation("backup_log");
    const char* options_text = nullptr;
    int64 backups = 0;
    bool wal_archived = true;
    // Built before PgCall: no C++ object may be alive where PostgreSQL can
    // raise an error.
    // verify_every counts the job's backups of this backup's database: a
    // job over every database drills each database in its turn.
    // A base backup job counts its base backups (no database).
    std::string read_sql = "SELECT options::text, (SELECT count(*) FROM " + log +
                           " l, (SELECT kind, database_name FROM " + log +
                           " WHERE id = $2) b WHERE l.job_name = $1 AND l.kind = b.kind AND "
                           "l.status IN ('succeeded', 'expiring', 'expired') AND "
                           "l.database_name IS NOT DISTINCT FROM b.database_name), "
                           "(SELECT coalesce(wal_archived, true) FROM " +
                           log + " WHERE id = $2) FROM " + jobs + " WHERE job_name = $1";
    PgCall([&] {
      Oid types[2] = {TEXTOID, INT8OID};
      Datum values[2] = {CStringGetTextDatum(job_name.c_str()), Int64GetDatum(backup_id)};
      if (SPI_execute_with_args(read_sql.c_str(), 2, types, values, nullptr, true, 1) !=
          SPI_OK_SELECT)
        elog(ERROR, "could not read job \"%s\"", job_name.c_str());
      if (SPI_processed == 1) {
        options_text = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
        bool isnull = false;
        backups =
            DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
        // A base backup whose WAL was not archived cannot be drilled
        // (pgbak_verify refuses it): it gets the checksum verify.
        wal_archived =
            DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull)) ||
            isnull;
      }
    });
    if (options_text == nullptr)
      return;  // unscheduled meanwhile
    std::string verify;
    int verify_every = 1;
    if (IsBaseJob(options_text)) {
      BaseJobOptions options = ParseBaseJobOptions(options_text);
      verify = options.verify;
      verify_every = options.verify_every;
    } else {
      JobOptions options = ParseJobOptions(options_text);
      verify = options.verify;
      verify_every = options.verify_every;
    }
    if (verify == "none")
      return;
    bool deep = verify == "restore" && backups % verify_every == 0 && wal_archived;
    std::string sql =
        "INSERT INTO " + log +
        " (kind, source_id, database_name, storage_name, format, options, trigger, job_name, "
        "requested_by) SELECT 'verify', id, database_name, storage_name, format, $2::jsonb, "
        "'schedule', job_name, requested_by FROM " +
        log + " WHERE id = $1";
    std::string verify_options = deep ? "{\"deep\": true}" : "{\"deep\": false}";
    PgCall([&] {
      Oid types[2] = {INT8OID, TEXTOID};
      Datum values[2] = {Int64GetDatum(backup_id), CStringGetTextDatum(verify_options.c_str())};
      if (SPI_execute_with_args(sql.c_str(), 2, types, values, nullptr, false, 0) != SPI_OK_INSERT)
        elog(ERROR, "could not queue the verification of backup " INT64_FORMAT,
             static_cast<int64>(backup_id));
    });
    queued = true;
  });
  if (queued)
    WakeLauncher();
}

// AbandonedDatabases is what backup_log knows of the databases an operation
// created or moved aside.
struct AbandonedDatabases {
  bool known = false;  // the schema has the columns (1.3)
  Oid scratch = InvalidOid;
  Oid replaced = InvalidOid;
  std::string target;
};

// ReadAbandonedDatabases reads them from operation id's row.
AbandonedDatabases ReadAbandonedDatabases(int64_t id) {
  AbandonedDatabases found;
  RunInTransaction([&] {
    bool known = false;
    PgCall([&] { known = BackupLogHasColumn("scratch_database"); });
    if (!known)
      return;
    found.known = true;
    // A recovery's database is built for options' target_database, not
    // for database_name (the database of the past it copies).
    std::string sql =
        "SELECT coalesce(scratch_database, 0), coalesce(replaced_database, 0), "
        "CASE WHEN kind = 'recover' THEN coalesce(options ->> 'target_database', '') "
        "ELSE database_name::text END FROM " +
        QuotedRelation("backup_log") + " WHERE id = $1";
    Oid scratch = InvalidOid, replaced = InvalidOid;
    const char* target = nullptr;
    PgCall([&] {
      Oid types[1] = {INT8OID};
      Datum values[1] = {Int64GetDatum(id)};
      if (SPI_execute_with_args(sql.c_str(), 1, types, values, nullptr, true, 1) != SPI_OK_SELECT)
        elog(ERROR, "could not read operation " INT64_FORMAT, static_cast<int64>(id));
      if (SPI_processed != 1)
        return;
      bool isnull = false;
      scratch =
          DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
      replaced =
          DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
      target = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
    });
    found.scratch = scratch;
    found.replaced = replaced;
    found.target = target != nullptr ? target : "";
  });
  return found;
}

// CleanUpDatabases deals with the databases of a dead verify or restore,
// knowing them by OID: a scratch or half-built database is dropped; a clean
// restore that died in its swap gets the old database back under its name,
// or, if the restored one had already taken the name, keeps the old one
// aside and says so. Nothing a user created is ever dropped. Returns what
// it did, for the log.
std::string CleanUpDatabases(const ServerFacts& facts, int64_t id,
                             const AbandonedDatabases& known) {
  std::string built = known.scratch != InvalidOid ? DatabaseName(facts, known.scratch) : "";
  std::string old = known.replaced != InvalidOid ? DatabaseName(facts, known.replaced) : "";
  std::string done;
  if (!old.empty() && old != known.target) {
    // The swap had begun: the old database is aside.
    if (!built.empty() && built == known.target) {
      return "the restored database had taken the name \"" + known.target +
             "\" when the restore died; the database it replaced is kept as \"" + old +
             "\": drop it once the restored one is checked";
    }
    if (!DatabaseExists(facts, known.target)) {
      RenameDatabase(facts, old, known.target);
      done = "the database it was replacing is back as \"" + known.target + "\"";
    } else {
      done = "the database it was replacing is kept as \"" + old + "\" (\"" + known.target +
             "\" exists)";
    }
  }
  if (!built.empty() && built != known.target) {
    Admin(facts, "DROP DATABASE IF EXISTS " + QuoteIdentifier(built) + " WITH (FORCE)");
    done +=
        std::string(done.empty() ? "" : "; ") + "dropped \"" + built + "\", which it was filling";
  }
  return done;
}

// CleanUpAbandoned removes what a dead verify or restore left behind.
void CleanUpAbandoned(int64_t id, const std::string& kind) {
  Failure failure;
  std::string done;
  CatchCore(failure, [&] {
    LocalStorage local(LocalStorageRoot());
    // A physical drill's or recovery's scratch server is stopped before
    // its files go.
    if (kind == "verify" || kind == "recover")
      done = CleanUpScratchCluster(id);
    { StagingArea staging(local, StagingKey(id)); }  // its destructor removes the files
    if (kind != "verify" && kind != "restore" && kind != "recover")
      return;
    ServerFacts facts;
    RunInTransaction([&] { facts = GatherServerFacts(); });
    AbandonedDatabases known = ReadAbandonedDatabases(id);
    if (known.known) {
      std::string databases = CleanUpDatabases(facts, id, known);
      done += (done.empty() || databases.empty() ? "" : "; ") + databases;
      return;
    }
    // A schema before 1.3 records no OIDs: the database of this operation's
    // own name.
    std::string name =
        kind == "verify" ? "pgbak_verify_" + std::to_string(id) : RestoreBuildName(id);
    Admin(facts, "DROP DATABASE IF EXISTS " + QuoteIdentifier(name) + " WITH (FORCE)");
  });
  if (!done.empty()) {
    PgCall([&] {
      ereport(WARNING, (errmsg("pgbak: cleanup of operation " INT64_FORMAT ": %s",
                               static_cast<int64>(id), done.c_str())));
    });
  }
  if (failure.failed) {
    PgCall([&] {
      ereport(WARNING, (errmsg("pgbak: cleanup of operation " INT64_FORMAT ": %s",
                               static_cast<int64>(id), failure.message)));
    });
  }
}

// LoadSource reads the backup a verify or restore reads.
SourceInfo LoadSource(int64_t source_id) {
  SourceInfo source;
  bool found = false;
  RunInTransaction([&] {
    SourceRow row{};
    PgCall([&] { found = LoadSourceRow(source_id, &row); });
    if (!found)
      return;
    source.database = row.database != nullptr ? row.database : "";
    source.kind = row.kind != nullptr ? row.kind : "backup";
    source.location = row.location != nullptr ? row.location : "";
    source.checksum_sha256 = row.checksum_sha256 != nullptr ? row.checksum_sha256 : "";
    source.toc_sha256 = row.toc_sha256 != nullptr ? row.toc_sha256 : "";
    source.manifest_sha256 = row.manifest_sha256 != nullptr ? row.manifest_sha256 : "";
    source.format = row.format;
    source.storage = row.storage != nullptr ? row.storage : "local";
    source.raw_bytes = row.raw_bytes;
    source.set_id = row.set_id;
    source.directory_id = row.directory_id;
    source.imported = row.imported;
  });
  if (!found)
    throw Error(ErrorKind::kUndefinedObject,
                "backup " + std::to_string(source_id) + " is no longer a succeeded backup",
                "It was expired or removed after this operation was queued.");
  return source;
}

}  // namespace pgbak

namespace pgbak {

// ReadArchiveToc reads the table of contents of the custom archive at
// path: its header and TOC only, not the data after them.
std::vector<TocEntry> ReadArchiveToc(const std::string& path) {
  NullSink discard;
  ArchiveScanner scanner(discard);
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buffer(1 << 16);
  while (in && scanner.ok() && scanner.toc_sha256().empty()) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() > 0)
      scanner.Write(reinterpret_cast<const uint8_t*>(buffer.data()),
                    static_cast<size_t>(in.gcount()));
  }
  // An archive without data (--schema-only) ends with its TOC.
  if (scanner.ok() && scanner.toc_sha256().empty() && !in)
    scanner.Finish();
  if (!scanner.ok() || scanner.toc_sha256().empty())
    throw Error(ErrorKind::kIo, "pg_dump's archive of the recovered cluster could not be read",
                scanner.ok() ? "it ends before its table of contents" : scanner.problem());
  return scanner.toc();
}

// TablesOf names the tables whose data toc holds ("schema.table, ...").
std::string TablesOf(const std::vector<TocEntry>& toc) {
  std::string names;
  for (const TocEntry& entry : toc)
    if (entry.desc == "TABLE DATA")
      names += (names.empty() ? "" : ", ") + entry.namespace_ + "." + entry.tag;
  return names;
}

// OpenCopyDatabase connects to database of the recovered copy at conninfo
// (with dbname), checks that it is the live database's past (its OID is
// database_oid, unless that is InvalidOid), and disables its event
// triggers: nothing the drill's superuser sessions do there may run code
// of the copy's.
PgConnPtr OpenCopyDatabase(const std::string& conninfo, const std::string& database,
                           Oid database_oid) {
  PgConnPtr conn(PQconnectdb(conninfo.c_str()), PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK)
    throw Error(ErrorKind::kUndefinedObject,
                "database \"" + database + "\" could not be opened in the recovered cluster",
                TrimMessage(PQerrorMessage(conn.get())),
                "It may not have existed at the target time.");
  // Rights follow the database's OID, not its name: a database of that
  // name at the target time that was another one (dropped and made
  // again, renamed) is not this one's past.
  PgResultPtr which = ExecWithLatch(
      conn.get(), "SELECT oid::text FROM pg_catalog.pg_database WHERE datname = $1", {database});
  if (database_oid != InvalidOid &&
      (PQntuples(which.get()) != 1 ||
       std::strtoul(PQgetvalue(which.get(), 0, 0), nullptr, 10) != database_oid))
    throw Error(
        ErrorKind::kUndefinedObject,
        "database \"" + database + "\" did not exist at the target time",
        "A database of that name then was another one (OID " +
            std::string(PQntuples(which.get()) == 1 ? PQgetvalue(which.get(), 0, 0) : "none") +
            ", not " + std::to_string(database_oid) + "). Nothing was changed.");
  PgResultPtr triggers = ExecWithLatch(
      conn.get(), "SELECT evtname FROM pg_catalog.pg_event_trigger WHERE evtenabled <> 'D'");
  for (int i = 0; i < PQntuples(triggers.get()); i++)
    (void)ExecWithLatch(
        conn.get(),
        "ALTER EVENT TRIGGER " + QuoteIdentifier(PQgetvalue(triggers.get(), i, 0)) + " DISABLE");
  return conn;
}

// RecoverTargetState checks the live database a recovery adds a schema
// to, as it is now (the requester's rights may have changed since the
// call), and that the schema is new; returns the database's state.
TargetState RecoverTargetState(const ServerFacts& facts, const std::string& database,
                               const std::string& into_schema, const std::string& requested_by) {
  TargetState state = ReadTargetState(database, requested_by);
  if (!state.exists)
    throw Error(ErrorKind::kUndefinedObject, "database \"" + database + "\" does not exist",
                "The recovered tables go into a new schema of the live database.");
  RequireUsableTarget(state, database);
  RequireWriteRight(state, database, requested_by);
  PgConnPtr conn = ConnectLocal(facts, database);
  PgResultPtr taken = ExecWithLatch(
      conn.get(), "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", {into_schema});
  if (PQntuples(taken.get()) > 0)
    throw Error(ErrorKind::kInvalidParameter,
                "schema \"" + into_schema + "\" already exists in database \"" + database + "\"",
                "Recover option \"into_schema\" names a new schema. Nothing was changed.",
                "Choose another name, or drop that schema first.");
  return state;
}

// CheckRecoverTarget: see verify_job.h.
void CheckRecoverTarget(const ServerFacts& facts, const std::string& database,
                        const std::string& into_schema, const std::string& requested_by) {
  (void)RecoverTargetState(facts, database, into_schema, requested_by);
}

// RecoverTablesIntoSchema: see verify_job.h.
std::string RecoverTablesIntoSchema(const ServerFacts& facts, int64_t id, int64_t base_id,
                                    const std::string& scratch_conninfo,
                                    const std::string& database, Oid database_oid,
                                    const RestoreOptions& options, const std::string& requested_by,
                                    const std::string& work_dir) {
  TargetState state = RecoverTargetState(facts, database, options.into_schema, requested_by);
  std::string restore_as = !facts.dump_role_is_superuser ? ""
                           : state.owner_is_superuser    ? kRestoreAsOwners
                                                         : state.owner;
  SuperuserGate gate(facts, base_id, false, false);
  bool admin = RequesterIsAdmin(requested_by);

  // In the recovered copy, which nobody else uses and which is thrown
  // away: its event triggers off (nothing below may run code of the
  // copy's), the selection moved into the new schema as a restore
  // into_schema moves it.
  std::string conninfo = scratch_conninfo + " dbname=" + ConnInfoValue(database);
  std::vector<std::string> roles;
  std::string schema_owner;
  {
    PgConnPtr conn = OpenCopyDatabase(conninfo, database, database_oid);
    for (const QualifiedName& table : options.tables) {
      // Found as MoveSelectionAside finds them; one the requester could
      // not read then is not handed to them now (admins excepted).
      PgResultPtr found = ExecWithLatch(
          conn.get(),
          "SELECT c.oid::pg_catalog.regclass::text, "
          "CASE WHEN $3 = '' THEN true "
          "ELSE pg_catalog.has_table_privilege($3, c.oid, 'SELECT') END "
          "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
          "ON n.oid = c.relnamespace WHERE c.relname = $2 AND ($1 = '' OR n.nspname = $1) "
          "AND c.relkind IN ('r', 'p', 'm', 'v', 'S', 'f') "
          "AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'",
          {table.schema, table.name, admin ? "" : requested_by});
      if (PQntuples(found.get()) == 0)
        throw Error(ErrorKind::kUndefinedObject,
                    "table " + (table.schema.empty() ? "" : table.schema + ".") + table.name +
                        " did not exist in database \"" + database + "\" at the target time",
                    "Nothing was changed.");
      for (int i = 0; i < PQntuples(found.get()) && !admin; i++)
        if (std::strcmp(PQgetvalue(found.get(), i, 1), "t") != 0)
          throw Error(
              ErrorKind::kPermissionDenied,
              "permission denied to recover table " + std::string(PQgetvalue(found.get(), i, 0)),
              "\"" + requested_by +
                  "\" could not read it at the target time. Nothing was changed.");
    }
  }
  // What the copy's database holds, checked as a restore into_schema
  // checks a backup's: the moved tables' constraints, defaults and indexes
  // may use code in other schemas, which a dump of their schema alone
  // does not show.
  {
    std::string definitions = work_dir + "/definitions.dump";
    RunTool(facts, "pg_dump",
            {"--format=custom", "--compress=0", "--schema-only", "--no-password",
             "--file=" + definitions, "--dbname=" + conninfo});
    std::vector<TocEntry> toc = ReadArchiveToc(definitions);
    gate.CheckToc(
        toc,
        [](const TocEntry& entry) {
          return entry.desc != "EVENT TRIGGER" && entry.desc.rfind("BLOB", 0) != 0 &&
                 entry.desc != "LARGE OBJECT";
        },
        database);
    (void)unlink(definitions.c_str());
  }
  {
    PgConnPtr conn(PQconnectdb(conninfo.c_str()), PQfinish);
    if (PQstatus(conn.get()) != CONNECTION_OK)
      throw Error(ErrorKind::kIo, "could not connect to the recovered cluster",
                  TrimMessage(PQerrorMessage(conn.get())));
    roles = MoveSelectionAside(conn.get(), options, state.owner);
    schema_owner = SchemaOwner(conn.get(), options.into_schema, state.owner);
  }
  std::string copy = work_dir + "/recovered.dump";
  RunTool(facts, "pg_dump",
          {"--format=custom", "--compress=0", "--no-password",
           "--schema=" + QuoteIdentifier(options.into_schema), "--file=" + copy,
           "--dbname=" + conninfo});
  // What will be loaded as whom, checked as for any restore.
  std::vector<TocEntry> toc = ReadArchiveToc(copy);
  gate.CheckToc(toc, nullptr, database);
  SetPhase(Phase::kRestoring);
  LoadIntoSchema(facts, id, copy, options.into_schema, database, schema_owner, roles, restore_as);
  return TablesOf(toc);
}

// CheckNewDatabaseName fails if a database called target exists now.
void CheckNewDatabaseName(const ServerFacts& facts, const std::string& target) {
  if (target == setting_database)
    throw Error(ErrorKind::kInvalidParameter,
                "cannot recover into \"" + target + "\": it holds the catalog of pgbak_ext");
  if (DatabaseExists(facts, target))
    throw Error(ErrorKind::kInvalidParameter, "database \"" + target + "\" already exists",
                "Recover option \"target_database\" names a new database. Nothing was changed.",
                "Choose another name, or drop that database first.");
}

// RecoverDatabaseAsNew: see verify_job.h.
std::string RecoverDatabaseAsNew(const ServerFacts& facts, int64_t id, int64_t base_id,
                                 const std::string& scratch_conninfo, const std::string& database,
                                 Oid database_oid, const std::string& target,
                                 const std::string& work_dir) {
  CheckNewDatabaseName(facts, target);
  SuperuserGate gate(facts, base_id, false, false);
  std::string conninfo = scratch_conninfo + " dbname=" + ConnInfoValue(database);
  DatabaseProperties properties;
  {
    PgConnPtr conn = OpenCopyDatabase(conninfo, database, database_oid);
    // What pg_dump leaves out without --create, as a backup records it:
    // owner, encoding, locale, grants, settings, comment.
    PgResultPtr read = ExecWithLatch(conn.get(), kDatabasePropertiesQuery);
    if (PQntuples(read.get()) != 1)
      throw Error(ErrorKind::kUndefinedObject,
                  "database \"" + database + "\" did not exist at the target time");
    properties = DatabaseProperties::FromJson(PQgetvalue(read.get(), 0, 0));
  }
  // The database whole, as pg_dump sees it in the copy, checked as a
  // restore checks a backup before anything is loaded.
  std::string dump = work_dir + "/database.dump";
  RunTool(facts, "pg_dump",
          {"--format=custom", "--compress=0", "--no-password", "--file=" + dump,
           "--dbname=" + conninfo});
  std::vector<TocEntry> toc = ReadArchiveToc(dump);
  std::set<int> skip;
  for (const TocEntry& entry : toc)
    if (entry.desc == "EVENT TRIGGER")
      skip.insert(entry.dump_id);
  gate.CheckToc(toc, [&](const TocEntry& entry) { return skip.count(entry.dump_id) == 0; });
  SetPhase(Phase::kRestoring);
  // Built under a name of its own (its OID recorded for a crash's cleanup),
  // owned by the database's owner then, loaded as a whole restore loads:
  // definitions as pg_restore makes them, data and indexes by each
  // object's owner; renamed when whole.
  std::string name = CreateOwnDatabase(facts, id, "pgbak_recover_" + std::to_string(id),
                                       properties.CreateOptions());
  try {
    SourceInfo source;
    source.database = database;
    GiveToSetOwner(facts, properties, source, name);
    std::string list = WriteRestoreList(ListArchive(facts, dump), dump, skip, ".list");
    std::string into = "--dbname=dbname=" + ConnInfoValue(name);
    RunTool(facts, "pg_restore",
            {"--exit-on-error", "--no-password", "--section=pre-data", into, "--use-list=" + list,
             dump});
    std::vector<std::string> args = {
        "--exit-on-error",   "--no-password", "--section=data", "--section=post-data", into,
        "--use-list=" + list};
    std::string owners = OwnersRestoreAs(facts);
    for (const std::string& arg : OwnershipArgs(owners))
      args.push_back(arg);
    args.push_back(dump);
    RunTool(facts, "pg_restore", args, nullptr, owners);
    // The database's own grants, settings, connection limit and comment
    // (one that cannot be applied is logged and skipped).
    GiveProperties(facts, properties, name, false);
    CheckNewDatabaseName(facts, target);
    RenameDatabase(facts, name, target);
    // Renamed: no longer a scratch database a cleanup would drop.
    RunInTransaction([&] {
      PgCall([&] {
        if (!BackupLogHasColumn("scratch_database"))
          return;
        const char* sql =
            psprintf("UPDATE %s SET scratch_database = NULL WHERE id = $1", BackupLogName());
        Oid types[1] = {INT8OID};
        Datum values[1] = {Int64GetDatum(static_cast<int64>(id))};
        if (SPI_execute_with_args(sql, 1, types, values, nullptr, false, 0) != SPI_OK_UPDATE)
          elog(ERROR, "could not update operation " INT64_FORMAT, static_cast<int64>(id));
      });
    });
  } catch (...) {
    try {
      Admin(facts, "DROP DATABASE IF EXISTS " + QuoteIdentifier(name) + " WITH (FORCE)", false);
    } catch (...) {
      // The launcher drops it: its OID is on the row.
    }
    throw;
  }
  (void)unlink(dump.c_str());
  size_t tables = 0;
  for (const TocEntry& entry : toc)
    tables += entry.desc == "TABLE DATA" ? 1 : 0;
  return "database \"" + database + "\" (" + std::to_string(tables) + " tables)";
}

}  // namespace pgbak
