// validation.h: checks shared by the SQL functions, each raising a precise
// error (SQLSTATE, message, hint) before anything is written.
//
// Include after postgres.h and fmgr.h.
#pragma once

#include <string>
#include <vector>

#include "core/options/backup_options.h"

namespace pgbak {

// RequireArgument raises 22004 if argument n (named name) is NULL.
void RequireArgument(FunctionCallInfo fcinfo, int n, const char* name);

// DatabaseNameArgument returns argument n, a database name, however the SQL
// function declares it. Declared text (pgbak_ext 1.5 on), a name longer than
// 63 bytes (NAMEDATALEN - 1, counted in bytes) raises 42622 instead of
// reaching another database's name; declared name (up to 1.4, until ALTER
// EXTENSION UPDATE), the type's input has already cut it to 63 bytes, unseen.
// what names the argument in the error.
Name DatabaseNameArgument(FunctionCallInfo fcinfo, int n, const char* what);

// CheckDatabaseForBackup raises 3D000 if the database does not exist and
// 55000 if it does not accept connections.
void CheckDatabaseForBackup(const char* database);

// CheckStorageExists raises 42704 unless a storage of that name exists.
void CheckStorageExists(const char* storage);

// RefuseCatalogNames throws a core Error (kInvalidParameter; call it inside
// CatchCore) if an unqualified name in names is that of a relation in
// pg_catalog, the same in every database of the cluster; option is e.g.
// "backup option \"tables\"".
void RefuseCatalogNames(const std::vector<QualifiedName>& names, const std::string& option);

// CheckJobName raises 22023 unless name is 1..63 bytes of letters, digits,
// '_', '-', '.' or ':' starting with a letter or digit.
void CheckJobName(const char* name);

}  // namespace pgbak
