// storage_api.cpp: the SQL functions pgbak_storage_add and pgbak_storage_drop.
//
// The options of pgbak_storage_add may hold a secret: nothing reported while
// it runs (its own errors, a NULL argument, a lock timeout, a terminated
// session) carries the statement into the server log (RunHidingStatement),
// and no message ever quotes a secret value. Nothing here can hide the
// statement from log_statement, which logs it before the call: keys given in
// a server file or the server's environment never are SQL text at all.

extern "C" {
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(pgbak_storage_add);
PG_FUNCTION_INFO_V1(pgbak_storage_drop);
}

#include <string>

#include "core/storage/storage_definition.h"
#include "pg/api/privileges.h"
#include "pg/api/validation.h"
#include "pg/boundary/boundary.h"
#include "pg/catalog/catalog.h"

namespace pgbak {

namespace {

// CheckedDefinition is a validated definition in palloc'd strings, so no
// C++ object is alive when SPI raises an error.
struct CheckedDefinition {
  char* url;
  char* options;
  char* secrets;
  bool has_secrets;
};

CheckedDefinition CheckDefinition(const char* name, const char* url, const char* options) {
  CheckedDefinition checked{};
  Failure failure;
  CatchCore(failure, [&] {
    StorageDefinition definition = ParseStorageDefinition(name, url, options);
    PgCall([&] {
      checked.url = pstrdup(definition.url.c_str());
      checked.options = pstrdup(definition.public_options.c_str());
      checked.secrets = pstrdup(definition.secret_options.c_str());
      checked.has_secrets = definition.secret_options != "{}";
    });
  });
  ReportFailure(failure, true);
  return checked;
}

// CountRows runs a SELECT count(*) with one text parameter (read_only
// false for a query that locks rows).
int64 CountRows(const char* sql, const char* name, bool read_only = true) {
  Oid types[1] = {TEXTOID};
  Datum values[1] = {CStringGetTextDatum(name)};
  if (SPI_execute_with_args(sql, 1, types, values, nullptr, read_only, 1) != SPI_OK_SELECT ||
      SPI_processed != 1)
    elog(ERROR, "could not count the users of storage \"%s\"", name);
  bool isnull = false;
  return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

// AddStorage is pgbak_storage_add, run with the statement hidden. A
// definition of a name already taken is refused by ON CONFLICT: two adds of
// one name at the same moment get our error, not a unique violation raised
// inside the INSERT.
void AddStorage(void* argument) {
  FunctionCallInfo fcinfo = static_cast<FunctionCallInfo>(argument);
  RequireArgument(fcinfo, 0, "name");
  RequireArgument(fcinfo, 1, "url");
  RequireArgument(fcinfo, 2, "options");
  char* name = text_to_cstring(PG_GETARG_TEXT_PP(0));
  char* url = text_to_cstring(PG_GETARG_TEXT_PP(1));
  Jsonb* options = PG_GETARG_JSONB_P(2);
  Caller caller = EnterAsOwner();
  RequireRole(caller, PgbakRole::kAdmin, "define storages");
  const char* options_text = JsonbToCString(nullptr, &options->root, VARSIZE(options));
  // A directory storage writes where the server's user can, and the
  // server-side files are read as that user: as for COPY, that takes the
  // roles PostgreSQL has for it, checked before any file is touched.
  bool writes_files = false, reads_files = false;
  {
    Failure failure;
    CatchCore(failure, [&] {
      ServerFileUse use = StorageServerFileUse(url, options_text);
      writes_files = use.writes;
      reads_files = use.reads;
    });
    ReportFailure(failure, true);
  }
  if ((writes_files && !has_privs_of_role(caller.role, ROLE_PG_WRITE_SERVER_FILES)) ||
      (reads_files && !has_privs_of_role(caller.role, ROLE_PG_READ_SERVER_FILES)))
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("permission denied to define a storage that uses the server's files"),
                    errdetail("A file:// storage needs the privileges of pg_write_server_files; "
                              "age_identity_file, ca_file and secret_access_key_file need those "
                              "of pg_read_server_files."),
                    errhidestmt(true)));
  CheckedDefinition checked = CheckDefinition(name, url, options_text);

  if (SPI_connect() != SPI_OK_CONNECT)
    elog(ERROR, "SPI_connect failed");
  Oid types[4] = {TEXTOID, TEXTOID, TEXTOID, NAMEOID};
  Datum values[4] = {CStringGetTextDatum(name), CStringGetTextDatum(checked.url),
                     CStringGetTextDatum(checked.options),
                     DirectFunctionCall1(namein, CStringGetDatum(CallerName(caller)))};
  const char* insert = psprintf(
      "INSERT INTO %s (name, url, options, created_by) VALUES ($1, $2, $3::jsonb, $4) "
      "ON CONFLICT (name) DO NOTHING",
      SchemaQualified("pgbak_storage"));
  if (SPI_execute_with_args(insert, 4, types, values, nullptr, false, 0) != SPI_OK_INSERT)
    elog(ERROR, "could not save storage \"%s\"", name);
  if (SPI_processed == 0)
    ereport(ERROR,
            (errcode(ERRCODE_DUPLICATE_OBJECT), errmsg("storage \"%s\" already exists", name),
             errhint("Drop it first with pgbak_storage_drop('%s'); its backups stay "
                     "reachable once a storage of that name is defined again.",
                     name),
             errhidestmt(true)));
  if (checked.has_secrets) {
    Datum secret_values[2] = {CStringGetTextDatum(name), CStringGetTextDatum(checked.secrets)};
    const char* insert_secrets = psprintf("INSERT INTO %s (name, secrets) VALUES ($1, $2::jsonb)",
                                          SchemaQualified("pgbak_storage_secret"));
    if (SPI_execute_with_args(insert_secrets, 2, types, secret_values, nullptr, false, 0) !=
        SPI_OK_INSERT)
      elog(ERROR, "could not save the credentials of storage \"%s\"", name);
  }
  SPI_finish();
  LeaveAsOwner(caller);
}

}  // namespace

}  // namespace pgbak

using namespace pgbak;

// pgbak_storage_add defines a storage; its name must be new.
extern "C" Datum pgbak_storage_add(PG_FUNCTION_ARGS) {
  RunHidingStatement(AddStorage, fcinfo);
  PG_RETURN_VOID();
}

// pgbak_storage_drop forgets a storage; the objects in it are left alone.
extern "C" Datum pgbak_storage_drop(PG_FUNCTION_ARGS) {
  RequireArgument(fcinfo, 0, "name");
  char* name = text_to_cstring(PG_GETARG_TEXT_PP(0));
  Caller caller = EnterAsOwner();
  RequireRole(caller, PgbakRole::kAdmin, "drop storages");
  if (strcmp(name, "local") == 0)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("the storage named \"local\" is built in and cannot be dropped")));
  if (SPI_connect() != SPI_OK_CONNECT)
    elog(ERROR, "SPI_connect failed");
  const char* storage_table = SchemaQualified("pgbak_storage");
  const char* log = BackupLogName();
  // Lock the definition first, so no operation can be queued on it while
  // the checks below run.
  if (CountRows(psprintf("SELECT count(*) FROM (SELECT FROM %s WHERE name = $1 FOR UPDATE) s",
                         storage_table),
                name, false) == 0)
    ereport(ERROR,
            (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("storage \"%s\" does not exist", name),
             errhint("See SELECT name FROM pgbak_storages.")));
  int64 jobs = CountRows(psprintf("SELECT count(*) FROM %s WHERE options ->> 'storage' = $1 "
                                  "OR coalesce(options -> 'copy_to' ? $1, false)",
                                  SchemaQualified("pgbak_job")),
                         name);
  if (jobs > 0)
    ereport(ERROR, (errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
                    errmsg("storage \"%s\" is used by " INT64_FORMAT " scheduled job%s", name, jobs,
                           jobs == 1 ? "" : "s"),
                    errhint("Unschedule them, or schedule them again with another storage.")));
  // Copies read from their source's storage: those count too.
  int64 active = CountRows(psprintf("SELECT count(*) FROM %s l WHERE (l.storage_name = $1 OR "
                                    "(l.kind = 'copy' AND EXISTS (SELECT FROM %s s WHERE s.id = "
                                    "l.source_id AND s.storage_name = $1))) AND "
                                    "l.status IN ('queued', 'running')",
                                    log, log),
                           name);
  if (active > 0)
    ereport(ERROR, (errcode(ERRCODE_OBJECT_IN_USE),
                    errmsg("storage \"%s\" is in use by " INT64_FORMAT " queued or running "
                           "operation%s",
                           name, active, active == 1 ? "" : "s"),
                    errhint("Wait for them (pgbak_wait) or cancel them (pgbak_cancel).")));
  int64 sets = CountRows(psprintf("SELECT count(*) FROM %s WHERE storage_name = $1 AND "
                                  "kind IN ('backup', 'copy') AND status = 'succeeded'",
                                  log),
                         name);
  Oid types[1] = {TEXTOID};
  Datum values[1] = {CStringGetTextDatum(name)};
  if (SPI_execute_with_args(psprintf("DELETE FROM %s WHERE name = $1", storage_table), 1, types,
                            values, nullptr, false, 0) != SPI_OK_DELETE)
    elog(ERROR, "could not drop storage \"%s\"", name);
  SPI_finish();
  if (sets > 0)
    ereport(NOTICE,
            (errmsg(INT64_FORMAT " backup set%s in storage \"%s\" %s not removed", sets,
                    sets == 1 ? "" : "s", name, sets == 1 ? "was" : "were"),
             errhint("They cannot be verified, restored or pruned until a storage named \"%s\" "
                     "is defined again.",
                     name)));
  LeaveAsOwner(caller);
  PG_RETURN_VOID();
}
