// storage_grant_api.cpp: who may write to which storage:
// pgbak_storage_grant, pgbak_storage_revoke, and the check pgbak_run makes.
//
// Members of pgbak_operator and pgbak_admin may use every storage. A
// database owner without those roles backs up to 'local', and to the
// storages an admin granted it or PUBLIC (pgbak_storage_user), so that a
// manual backup cannot be pointed at an admin's bucket and fill it.

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(pgbak_storage_grant);
PG_FUNCTION_INFO_V1(pgbak_storage_revoke);
}

#include "pg/api/privileges.h"
#include "pg/api/storage_grant.h"
#include "pg/api/validation.h"
#include "pg/boundary/boundary.h"
#include "pg/catalog/catalog.h"

namespace pgbak {

namespace {

// GranteeOid is the role named role, or 0 for "public" (any case); raises
// 42704 for a role that does not exist.
Oid GranteeOid(const char* role) {
  if (pg_strcasecmp(role, "public") == 0)
    return InvalidOid;
  return get_role_oid(role, false);
}

// RequireStorageRow raises 42704 unless storage is a defined storage other
// than 'local' (which every database owner may use anyway).
void RequireStorageRow(const char* storage) {
  if (strcmp(storage, "local") == 0)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("every database owner may back up to storage \"local\""),
                    errhint("Grants are for the storages pgbak_storage_add defined.")));
  CheckStorageExists(storage);
}

}  // namespace

// CallerMayUseStorage says whether the caller may write backups to storage.
bool CallerMayUseStorage(const Caller& caller, const char* storage) {
  if (strcmp(storage, "local") == 0 || CallerHas(caller, PgbakRole::kOperator))
    return true;
  if (!CatalogRelationExists("pgbak_storage_user"))
    return false;
  const char* sql = psprintf("SELECT grantee FROM %s WHERE storage_name = $1",
                             SchemaQualified("pgbak_storage_user"));
  Oid types[1] = {TEXTOID};
  Datum values[1] = {CStringGetTextDatum(storage)};
  if (SPI_execute_with_args(sql, 1, types, values, nullptr, true, 0) != SPI_OK_SELECT)
    elog(ERROR, "could not read pgbak_storage_user");
  for (uint64 i = 0; i < SPI_processed; i++) {
    bool isnull = false;
    Oid grantee =
        DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
    if (!OidIsValid(grantee) || has_privs_of_role(caller.role, grantee))
      return true;
  }
  return false;
}

// RequireStorageUse raises 42501 unless the caller may write to storage.
void RequireStorageUse(const Caller& caller, const char* storage) {
  if (CallerMayUseStorage(caller, storage))
    return;
  ereport(
      ERROR,
      (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
       errmsg("permission denied to back up to storage \"%s\"", storage),
       errdetail("Database owners back up to 'local' and to the storages granted to them."),
       errhint("An admin can run: SELECT pgbak_storage_grant(%s, %s);", quote_literal_cstr(storage),
               quote_literal_cstr(GetUserNameFromId(caller.role, false)))));
}

}  // namespace pgbak

using namespace pgbak;

// pgbak_storage_grant lets a role (or PUBLIC) back up to a storage.
extern "C" Datum pgbak_storage_grant(PG_FUNCTION_ARGS) {
  RequireArgument(fcinfo, 0, "storage");
  RequireArgument(fcinfo, 1, "role");
  char* storage = text_to_cstring(PG_GETARG_TEXT_PP(0));
  Name role = PG_GETARG_NAME(1);
  Caller caller = EnterAsOwner();
  RequireRole(caller, PgbakRole::kAdmin, "grant the use of storages");
  RequireStorageRow(storage);
  Oid grantee = GranteeOid(NameStr(*role));
  if (SPI_connect() != SPI_OK_CONNECT)
    elog(ERROR, "SPI_connect failed");
  const char* sql = psprintf(
      "INSERT INTO %s (storage_name, grantee, granted_by) VALUES ($1, $2, $3) "
      "ON CONFLICT (storage_name, grantee) DO NOTHING",
      SchemaQualified("pgbak_storage_user"));
  Oid types[3] = {TEXTOID, OIDOID, NAMEOID};
  NameData granted_by;
  namestrcpy(&granted_by, CallerName(caller));
  Datum values[3] = {CStringGetTextDatum(storage), ObjectIdGetDatum(grantee),
                     NameGetDatum(&granted_by)};
  if (SPI_execute_with_args(sql, 3, types, values, nullptr, false, 0) != SPI_OK_INSERT)
    elog(ERROR, "could not record the grant");
  SPI_finish();
  LeaveAsOwner(caller);
  PG_RETURN_VOID();
}

// pgbak_storage_revoke takes a grant back; true if there was one.
extern "C" Datum pgbak_storage_revoke(PG_FUNCTION_ARGS) {
  RequireArgument(fcinfo, 0, "storage");
  RequireArgument(fcinfo, 1, "role");
  char* storage = text_to_cstring(PG_GETARG_TEXT_PP(0));
  Name role = PG_GETARG_NAME(1);
  Caller caller = EnterAsOwner();
  RequireRole(caller, PgbakRole::kAdmin, "revoke the use of storages");
  RequireStorageRow(storage);
  Oid grantee = GranteeOid(NameStr(*role));
  if (SPI_connect() != SPI_OK_CONNECT)
    elog(ERROR, "SPI_connect failed");
  const char* sql = psprintf("DELETE FROM %s WHERE storage_name = $1 AND grantee = $2",
                             SchemaQualified("pgbak_storage_user"));
  Oid types[2] = {TEXTOID, OIDOID};
  Datum values[2] = {CStringGetTextDatum(storage), ObjectIdGetDatum(grantee)};
  if (SPI_execute_with_args(sql, 2, types, values, nullptr, false, 0) != SPI_OK_DELETE)
    elog(ERROR, "could not remove the grant");
  bool removed = SPI_processed > 0;
  SPI_finish();
  LeaveAsOwner(caller);
  PG_RETURN_BOOL(removed);
}
