// validation.h: checks shared by the SQL functions, each raising a precise
// error (SQLSTATE, message, hint) before anything is written.
//
// Include after postgres.h and fmgr.h.
#pragma once

namespace pgbak {

// RequireArgument raises 22004 if argument n (named name) is NULL.
void RequireArgument(FunctionCallInfo fcinfo, int n, const char* name);

// CheckDatabaseForBackup raises 3D000 if the database does not exist and
// 55000 if it does not accept connections.
void CheckDatabaseForBackup(const char* database);

// CheckStorageExists raises 42704 unless a storage of that name exists.
void CheckStorageExists(const char* storage);

// CheckJobName raises 22023 unless name is 1..63 bytes of letters, digits,
// '_', '-', '.' or ':' starting with a letter or digit.
void CheckJobName(const char* name);

}  // namespace pgbak
