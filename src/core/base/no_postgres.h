// no_postgres.h: included last by every src/core/ source file.
//
// src/core/ must build and be unit-tested without a PostgreSQL server or its
// headers. If some include chain ever drags postgres.h into a core file, the
// build stops here instead of the core silently depending on the server.
#pragma once

#ifdef POSTGRES_H
static_assert(false, "src/core/ must not include postgres.h");
#endif
