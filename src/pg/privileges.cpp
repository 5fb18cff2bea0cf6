// privileges.cpp: the privilege checks of the SQL functions.

extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/syscache.h"
}

#include "pg/privileges.h"

namespace pgbak {

namespace {

const char* RoleName(PgbakRole role) {
  switch (role) {
    case PgbakRole::kMonitor:
      return "pgbak_monitor";
    case PgbakRole::kOperator:
      return "pgbak_operator";
    case PgbakRole::kAdmin:
      return "pgbak_admin";
  }
  return "pgbak_admin";
}

}  // namespace

bool CallerHas(PgbakRole role) {
  Oid caller = GetOuterUserId();
  if (superuser_arg(caller))
    return true;
  Oid role_oid = get_role_oid(RoleName(role), true);
  return OidIsValid(role_oid) && has_privs_of_role(caller, role_oid);
}

bool CallerOwnsDatabase(const char* database) {
  Oid oid = get_database_oid(database, true);
  if (!OidIsValid(oid))
    return false;
  HeapTuple tuple = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(oid));
  if (!HeapTupleIsValid(tuple))
    return false;
  Oid owner = ((Form_pg_database)GETSTRUCT(tuple))->datdba;
  ReleaseSysCache(tuple);
  return has_privs_of_role(GetOuterUserId(), owner);
}

void RequireRole(PgbakRole role, const char* action) {
  if (CallerHas(role))
    return;
  ereport(ERROR,
          (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE), errmsg("permission denied to %s", action),
           errdetail("Only members of %s may do this.", RoleName(role)),
           errhint("A superuser can run: GRANT %s TO %s;", RoleName(role),
                   quote_identifier(CallerName()))));
}

void RequireBackupRight(const char* database, const char* action) {
  if (CallerHas(PgbakRole::kOperator) || CallerOwnsDatabase(database))
    return;
  ereport(ERROR,
          (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE), errmsg("permission denied to %s", action),
           errdetail("Only members of pgbak_operator and the owner of database \"%s\" may "
                     "do this.",
                     database),
           errhint("A superuser can run: GRANT pgbak_operator TO %s;",
                   quote_identifier(CallerName()))));
}

const char* CallerName() {
  return GetUserNameFromId(GetOuterUserId(), false);
}

}  // namespace pgbak
