// restore_session.cpp: pgbak.restore_as and the utility hook that keeps a
// restore session at the rights chosen for it; see restore_session.h.

extern "C" {
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/guc.h"
}

#include <cstdlib>
#include <cstring>

#include "pg/runtime/restore_session.h"

namespace pgbak {

namespace {

char* setting_restore_as = nullptr;
ProcessUtility_hook_type previous_utility_hook = nullptr;

// The state of this backend: whether it is a restore session, and of which
// kind. Plain statics, out of reach of SQL.
bool engaged = false;
bool owners_mode = false;

// RestoreAsExtra is what the check hook found out about the value.
struct RestoreAsExtra {
  bool owners;
  Oid role;
  bool role_is_superuser;
};

// CheckRestoreAs accepts pgbak.restore_as only at the start of a session
// authenticated as a superuser, never a change afterwards.
bool CheckRestoreAs(char** newval, void** extra, GucSource source) {
  const char* value = *newval != nullptr ? *newval : "";
  const char* current = setting_restore_as != nullptr ? setting_restore_as : "";
  if (engaged) {
    if (strcmp(value, current) == 0)
      return true;
    GUC_check_errdetail("A restore session keeps pgbak.restore_as for its whole life.");
    return false;
  }
  if (value[0] == '\0')
    return true;
  if (source != PGC_S_CLIENT && !InitializingParallelWorker) {
    GUC_check_errdetail(
        "pgbak.restore_as can only be given when a session starts (the options connection "
        "parameter or PGOPTIONS).");
    return false;
  }
  if (!superuser_arg(GetAuthenticatedUserId())) {
    GUC_check_errdetail("Only a session authenticated as a superuser can be a restore session.");
    return false;
  }
  RestoreAsExtra found = {true, InvalidOid, false};
  if (strcmp(value, kRestoreAsOwners) != 0) {
    if (!IsTransactionState()) {
      GUC_check_errdetail("The role of a restore session is looked up when the session starts.");
      return false;
    }
    found.owners = false;
    found.role = get_role_oid(value, true);
    if (!OidIsValid(found.role)) {
      GUC_check_errdetail("Role \"%s\" does not exist.", value);
      return false;
    }
    found.role_is_superuser = superuser_arg(found.role);
  }
  auto* kept = static_cast<RestoreAsExtra*>(malloc(sizeof(RestoreAsExtra)));
  if (kept == nullptr)
    return false;
  *kept = found;
  *extra = kept;
  return true;
}

// AssignRestoreAs turns the session into a restore session: the chosen role
// for a role name, and in every case the flag that forbids any later change
// of role or session authorization but the client's own (see GuardUtility).
void AssignRestoreAs(const char* newval, void* extra) {
  if (engaged || extra == nullptr || newval == nullptr || newval[0] == '\0')
    return;
  const auto* chosen = static_cast<const RestoreAsExtra*>(extra);
  engaged = true;
  owners_mode = chosen->owners;
  // A parallel worker receives its leader's user and security context
  // (flag included) right after its settings.
  if (InitializingParallelWorker)
    return;
  if (!chosen->owners)
    SetSessionAuthorization(chosen->role, chosen->role_is_superuser);
  Oid user;
  int context;
  GetUserIdAndSecContext(&user, &context);
  SetUserIdAndSecContext(user, context | SECURITY_LOCAL_USERID_CHANGE);
}

// RunUtility hands a statement to the next hook or to PostgreSQL.
void RunUtility(PlannedStmt* statement, const char* query, bool read_only_tree,
                ProcessUtilityContext context, ParamListInfo params, QueryEnvironment* environment,
                DestReceiver* dest, QueryCompletion* completion) {
  if (previous_utility_hook != nullptr)
    previous_utility_hook(statement, query, read_only_tree, context, params, environment, dest,
                          completion);
  else
    standard_ProcessUtility(statement, query, read_only_tree, context, params, environment, dest,
                            completion);
}

// GuardUtility lets the client of an owners-mode restore session switch
// between object owners with top-level SET/RESET SESSION AUTHORIZATION, and
// refuses every other change of role or session authorization in a restore
// session (PostgreSQL refuses them too while the flag is set; this says why).
// Statements run by functions, DO blocks or procedures are never top-level.
void GuardUtility(PlannedStmt* statement, const char* query, bool read_only_tree,
                  ProcessUtilityContext context, ParamListInfo params,
                  QueryEnvironment* environment, DestReceiver* dest, QueryCompletion* completion) {
  Node* tree = statement->utilityStmt;
  const char* name = nullptr;
  if (engaged && tree != nullptr && IsA(tree, VariableSetStmt))
    name = castNode(VariableSetStmt, tree)->name;
  bool authorization = name != nullptr && strcmp(name, "session_authorization") == 0;
  bool role = name != nullptr && strcmp(name, "role") == 0;
  if (!authorization && !role) {
    RunUtility(statement, query, read_only_tree, context, params, environment, dest, completion);
    return;
  }
  if (role || !owners_mode || context != PROCESS_UTILITY_TOPLEVEL)
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
             errmsg("a pgbak restore session cannot change its %s",
                    role ? "role" : "session authorization"),
             errdetail("The restore loads each object with the rights it chose for that object; "
                       "code inside the objects cannot take other rights.")));
  Oid user;
  int saved;
  GetUserIdAndSecContext(&user, &saved);
  SetUserIdAndSecContext(user, saved & ~SECURITY_LOCAL_USERID_CHANGE);
  PG_TRY();
  { RunUtility(statement, query, read_only_tree, context, params, environment, dest, completion); }
  PG_CATCH();
  {
    SetUserIdAndSecContext(user, saved);
    PG_RE_THROW();
  }
  PG_END_TRY();
  int now;
  GetUserIdAndSecContext(&user, &now);
  SetUserIdAndSecContext(user, now | SECURITY_LOCAL_USERID_CHANGE);
}

}  // namespace

// DefineRestoreSessionGuard registers pgbak.restore_as and the hook.
void DefineRestoreSessionGuard() {
  DefineCustomStringVariable(
      "pgbak.restore_as", "Makes this session a pgbak restore session (internal).",
      "'*' loads each object as its owner, a role name runs the whole session as that role. "
      "Given only in the startup packet of the sessions a restore opens.",
      &setting_restore_as, "", PGC_SUSET, GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE, CheckRestoreAs,
      AssignRestoreAs, nullptr);
  previous_utility_hook = ProcessUtility_hook;
  ProcessUtility_hook = GuardUtility;
}

}  // namespace pgbak
