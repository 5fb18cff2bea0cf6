// privileges.cpp: the privilege checks of the SQL functions, and running
// their catalog work as the extension's owner.

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

#include "pg/api/privileges.h"
#include "pg/catalog/catalog.h"

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

Caller EnterAsOwner() {
  Caller caller;
  GetUserIdAndSecContext(&caller.saved_user, &caller.saved_context);
  caller.role = caller.saved_user;
  SetUserIdAndSecContext(ExtensionOwner(), caller.saved_context | SECURITY_LOCAL_USERID_CHANGE);
  return caller;
}

void LeaveAsOwner(const Caller& caller) {
  SetUserIdAndSecContext(caller.saved_user, caller.saved_context);
}

bool CallerHas(const Caller& caller, PgbakRole role) {
  if (superuser_arg(caller.role))
    return true;
  Oid role_oid = get_role_oid(RoleName(role), true);
  return OidIsValid(role_oid) && has_privs_of_role(caller.role, role_oid);
}

bool CallerOwnsDatabase(const Caller& caller, const char* database) {
  // A base backup's row has no database (NULL): nobody owns it.
  if (database == nullptr)
    return false;
  return CallerOwnsDatabaseOid(caller, get_database_oid(database, true));
}

bool CallerOwnsDatabaseOid(const Caller& caller, Oid oid) {
  if (!OidIsValid(oid))
    return false;
  HeapTuple tuple = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(oid));
  if (!HeapTupleIsValid(tuple))
    return false;
  Oid owner = ((Form_pg_database)GETSTRUCT(tuple))->datdba;
  ReleaseSysCache(tuple);
  return has_privs_of_role(caller.role, owner);
}

void RequireRole(const Caller& caller, PgbakRole role, const char* action) {
  if (CallerHas(caller, role))
    return;
  ereport(ERROR,
          (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE), errmsg("permission denied to %s", action),
           errdetail("Only members of %s may do this.", RoleName(role)),
           errhint("A superuser can run: GRANT %s TO %s;", RoleName(role),
                   quote_identifier(CallerName(caller)))));
}

void RequireBackupRight(const Caller& caller, const char* database, const char* action) {
  if (CallerHas(caller, PgbakRole::kOperator) || CallerOwnsDatabase(caller, database))
    return;
  ereport(ERROR,
          (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE), errmsg("permission denied to %s", action),
           errdetail("Only members of pgbak_operator and the owner of database \"%s\" may "
                     "do this.",
                     database),
           errhint("A superuser can run: GRANT pgbak_operator TO %s;",
                   quote_identifier(CallerName(caller)))));
}

const char* CallerName(const Caller& caller) {
  return GetUserNameFromId(caller.role, false);
}

}  // namespace pgbak
