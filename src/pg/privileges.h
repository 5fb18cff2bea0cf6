// privileges.h: who may call what.
//
// The SQL functions are SECURITY DEFINER (they write backup_log and read
// secrets as the extension's owner), so the caller is GetOuterUserId(): the
// session's role, or the role set with SET ROLE. Three NOLOGIN roles, made
// by the extension and granted by the DBA, nest: pgbak_admin includes
// pgbak_operator, which includes pgbak_monitor. Superusers have them all. A
// database's owner may also back up (and follow, and cancel the backups of)
// that database without any of them.
//
// PostgreSQL-style functions: they raise errors with ereport (42501 for a
// missing privilege). Include after postgres.h.
#pragma once

namespace pgbak {

enum class PgbakRole { kMonitor, kOperator, kAdmin };

// CallerHas says whether the caller holds role (directly, through the
// nesting, or as a superuser).
bool CallerHas(PgbakRole role);

// CallerOwnsDatabase says whether the caller has the privileges of the
// owner of database (false if there is no such database).
bool CallerOwnsDatabase(const char* database);

// RequireRole raises 42501 unless the caller holds role; action completes
// "permission denied to ...".
void RequireRole(PgbakRole role, const char* action);

// RequireBackupRight raises 42501 unless the caller is an operator or owns
// database.
void RequireBackupRight(const char* database, const char* action);

// CallerName is the caller's role name (palloc'd), for requested_by.
const char* CallerName();

}  // namespace pgbak
