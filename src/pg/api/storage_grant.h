// storage_grant.h: who may write backups to which storage (see
// storage_grant_api.cpp).
//
// PostgreSQL-style functions: they may raise errors with ereport. Need SPI
// connected. Include after postgres.h.
#pragma once

#include "pg/api/privileges.h"

namespace pgbak {

// CallerMayUseStorage says whether the caller may write backups to storage:
// 'local' always; every storage for pgbak_operator and pgbak_admin; else
// those granted to a role the caller has the privileges of, or to PUBLIC.
bool CallerMayUseStorage(const Caller& caller, const char* storage);

// RequireStorageUse raises 42501, with the grant to run in the hint, unless
// the caller may write backups to storage.
void RequireStorageUse(const Caller& caller, const char* storage);

}  // namespace pgbak
