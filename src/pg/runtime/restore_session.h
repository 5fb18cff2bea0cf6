// restore_session.h: sessions in which a restore loads a user's objects
// without lending them a superuser's rights.
//
// A restore connects as pgbak.dump_role (a superuser), and the objects it
// loads carry code: CHECK and domain constraints, generated columns,
// defaults, index expressions, triggers. SET SESSION AUTHORIZATION alone
// does not contain that code: a session authenticated as a superuser may
// always switch back (SET SESSION AUTHORIZATION DEFAULT, set_config()), so
// the user's function would simply do that first.
//
// A restore session is started with the option pgbak.restore_as (in the
// startup packet, so it is in force before any statement runs; only a
// superuser may give it, and it can never be changed or reset afterwards):
//
//   - a role name: the session becomes that role for its whole life (a
//     restore into an existing database runs with its owner's rights);
//   - '*': objects are loaded as their owners. The client's own top-level
//     SET/RESET SESSION AUTHORIZATION statements (pg_restore
//     --use-set-session-authorization, our table loaders) switch between
//     owners; nothing else can.
//
// Either way the session runs with SECURITY_LOCAL_USERID_CHANGE set, the
// flag PostgreSQL sets inside SECURITY DEFINER functions: while it is set,
// no statement or function can change role or session_authorization. Code
// in an object therefore runs with the rights of the role the restore chose
// for it, and cannot take the superuser's.
//
// Include after postgres.h.
#pragma once

namespace pgbak {

// kRestoreAsOwners is the pgbak.restore_as value for "each object as its
// owner".
constexpr const char* kRestoreAsOwners = "*";

// DefineRestoreSessionGuard registers pgbak.restore_as and the utility hook
// that keeps restore sessions at the rights chosen for them (from _PG_init,
// before DefineSettings reserves the prefix).
void DefineRestoreSessionGuard();

}  // namespace pgbak
