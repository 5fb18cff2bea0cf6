// privileges.h: who may call what, and running as the extension's owner.
//
// The SQL functions are SECURITY INVOKER: their caller is GetUserId(), the
// role PostgreSQL itself checks privileges for (the owner of a SECURITY
// DEFINER function that calls ours, the table owner during ANALYZE or an
// index build, the role set with SET ROLE). Each function checks that
// caller, then switches to the extension's owner for its catalog work, as
// SECURITY DEFINER would, with EnterAsOwner/LeaveAsOwner; an error on the
// way is undone by the transaction abort, which restores the user.
//
// Three NOLOGIN roles, made by the extension and granted by the DBA, nest:
// pgbak_admin includes pgbak_operator, which includes pgbak_monitor.
// Superusers have them all. A database's owner may also back up (and
// follow, and cancel the backups of) that database without any of them.
//
// PostgreSQL-style functions: they raise errors with ereport (42501 for a
// missing privilege). Include after postgres.h.
#pragma once

namespace pgbak {

enum class PgbakRole { kMonitor, kOperator, kAdmin };

// Caller is who called a SQL function, and the user to go back to.
struct Caller {
  Oid role;
  Oid saved_user;
  int saved_context;
};

// EnterAsOwner records the caller and makes the extension's owner the
// current user; LeaveAsOwner goes back (call it before returning).
Caller EnterAsOwner();
void LeaveAsOwner(const Caller& caller);

// CallerHas says whether the caller holds role (directly, through the
// nesting, or as a superuser).
bool CallerHas(const Caller& caller, PgbakRole role);

// CallerOwnsDatabase says whether the caller has the privileges of the
// owner of database (false if there is no such database).
bool CallerOwnsDatabase(const Caller& caller, const char* database);

// CallerOwnsDatabaseOid is the same for the database with OID oid: rights
// over history follow a database's OID, not its name.
bool CallerOwnsDatabaseOid(const Caller& caller, Oid oid);

// RequireRole raises 42501 unless the caller holds role; action completes
// "permission denied to ...".
void RequireRole(const Caller& caller, PgbakRole role, const char* action);

// RequireBackupRight raises 42501 unless the caller is an operator or owns
// database.
void RequireBackupRight(const Caller& caller, const char* database, const char* action);

// CallerName is the caller's role name (palloc'd), for requested_by.
const char* CallerName(const Caller& caller);

}  // namespace pgbak
