// pg_time_zone.cpp: core's TimeZone on PostgreSQL's time zone library.

extern "C" {
#include "postgres.h"

#include "pgtime.h"
#include "utils/timestamp.h"
}

#include <string>

#include "core/base/error.h"
#include "pg/boundary/pg_time_zone.h"

namespace pgbak {

// PgTimeZone looks the zone up once.
PgTimeZone::PgTimeZone(const char* name) : zone_(pg_tzset(name)) {
  if (zone_ == nullptr)
    throw Error(ErrorKind::kInvalidParameter, std::string("unknown time zone \"") + name + "\"");
}

// OffsetAt returns seconds east of UTC in force at utc.
long PgTimeZone::OffsetAt(std::time_t utc) const {
  pg_time_t t = static_cast<pg_time_t>(utc);
  struct pg_tm* tm = pg_localtime(&t, zone_);
  return tm != nullptr ? tm->tm_gmtoff : 0;
}

// TimestampToUnix converts a TimestampTz to seconds since the Unix epoch.
std::time_t TimestampToUnix(TimestampTz timestamp) {
  int64 micros = timestamp + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
  int64 seconds = micros / USECS_PER_SEC;
  if (micros % USECS_PER_SEC < 0)
    seconds--;
  return static_cast<std::time_t>(seconds);
}

// UnixToTimestamp converts seconds since the Unix epoch to a TimestampTz.
TimestampTz UnixToTimestamp(std::time_t seconds) {
  return static_cast<TimestampTz>(seconds) * USECS_PER_SEC -
         (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
}

}  // namespace pgbak
