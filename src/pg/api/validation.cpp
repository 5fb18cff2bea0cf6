// validation.cpp: argument checks shared by the SQL functions.

extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_database.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

#include <cctype>
#include <cstring>

#include "core/base/error.h"
#include "pg/api/validation.h"
#include "pg/boundary/boundary.h"
#include "pg/catalog/storage_registry.h"

namespace pgbak {

// RequireArgument raises a clear error for a NULL argument.
void RequireArgument(FunctionCallInfo fcinfo, int n, const char* name) {
  if (PG_ARGISNULL(n))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                    errmsg("argument \"%s\" must not be NULL", name)));
}

// DatabaseNameArgument reads a name argument whichever type declares it, so
// that one library serves the SQL functions of every installed version.
Name DatabaseNameArgument(FunctionCallInfo fcinfo, int n, const char* what) {
  Oid type = get_fn_expr_argtype(fcinfo->flinfo, n);
  if (!OidIsValid(type)) {
    // Called without a call expression: the catalog says.
    Oid* types = nullptr;
    int nargs = 0;
    (void)get_func_signature(fcinfo->flinfo->fn_oid, &types, &nargs);
    type = n < nargs ? types[n] : InvalidOid;
  }
  if (type == NAMEOID)
    return PG_GETARG_NAME(n);
  if (type != TEXTOID)
    elog(ERROR, "argument \"%s\" must be declared name or text", what);
  char* value = text_to_cstring(PG_GETARG_TEXT_PP(n));
  int length = static_cast<int>(strlen(value));
  // The message gives the length, not the value, which may be any size; the
  // detail shows the 63 bytes PostgreSQL would have kept.
  if (length >= NAMEDATALEN)
    ereport(ERROR, (errcode(ERRCODE_NAME_TOO_LONG),
                    errmsg("argument \"%s\" is %d bytes long, longer than a database name can be",
                           what, length),
                    errdetail("PostgreSQL would cut it to \"%s\", another name.",
                              pnstrdup(value, pg_mbcliplen(value, length, NAMEDATALEN - 1))),
                    errhint("Database names are at most %d bytes; a multibyte character counts as "
                            "several.",
                            NAMEDATALEN - 1)));
  Name name = static_cast<Name>(palloc0(NAMEDATALEN));
  namestrcpy(name, value);
  return name;
}

// CheckDatabaseForBackup checks that pg_dump can connect to database.
void CheckDatabaseForBackup(const char* database) {
  Oid oid = get_database_oid(database, true);
  HeapTuple tuple = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(oid));
  if (!HeapTupleIsValid(tuple))
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_DATABASE),
                    errmsg("database \"%s\" does not exist", database),
                    errhint("See SELECT datname FROM pg_database.")));
  bool allow_connections = ((Form_pg_database)GETSTRUCT(tuple))->datallowconn;
  ReleaseSysCache(tuple);
  if (!allow_connections)
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("database \"%s\" does not accept connections", database),
                    errdetail("pg_dump cannot connect to a database with datallowconn = false.")));
}

// CheckStorageExists accepts 'local' and the storages of pgbak_storage.
void CheckStorageExists(const char* storage) {
  if (!StorageIsDefined(storage))
    ereport(ERROR,
            (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("storage \"%s\" does not exist", storage),
             errhint("See SELECT name FROM pgbak_storages; define one with pgbak_storage_add().")));
}

// RefuseCatalogNames: an unqualified name selects tables of user schemas
// only (see BackupOptions::DumpArguments), so "pg_authid" would quietly
// select nothing; it almost certainly meant the catalog, which is never
// selected: say so at the call.
void RefuseCatalogNames(const std::vector<QualifiedName>& names, const std::string& option) {
  for (const QualifiedName& name : names) {
    if (!name.schema.empty())
      continue;
    bool is_catalog = false;
    PgCall([&] {
      is_catalog = OidIsValid(get_relname_relid(name.name.c_str(), PG_CATALOG_NAMESPACE));
    });
    if (is_catalog)
      throw Error(ErrorKind::kInvalidParameter,
                  option + " cannot name \"" + Printable(name.name) + "\": it is a system catalog",
                  "Unqualified table names are looked up in user schemas only; system catalogs "
                  "are never backed up or restored.",
                  "To select a table of your own by that name, qualify it with its schema, such as "
                  "\"public." +
                      Printable(name.name) + "\".");
  }
}

// CheckJobName accepts names that are safe in logs, URLs and file names.
void CheckJobName(const char* name) {
  size_t length = strlen(name);
  bool ok = length >= 1 && length <= 63 && isalnum(static_cast<unsigned char>(name[0]));
  for (size_t i = 0; ok && i < length; i++) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    ok = c < 128 && (isalnum(c) || c == '_' || c == '-' || c == '.' || c == ':');
  }
  if (!ok)
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("invalid job name \"%s\"", name),
             errdetail("A job name is 1 to 63 letters, digits, '_', '-', '.' or ':', "
                       "starting with a letter or digit."),
             errhint("For example 'nightly-myapp'.")));
}

}  // namespace pgbak
