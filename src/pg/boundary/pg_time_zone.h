// pg_time_zone.h: core's TimeZone implemented with PostgreSQL's time zone
// library, for pgbak.timezone.
//
// Include after postgres.h. Main thread only (pg_localtime has static state).
#pragma once

#include "core/schedule/time_zone.h"

namespace pgbak {

// PgTimeZone is a named zone from PostgreSQL's time zone database.
class PgTimeZone : public TimeZone {
 public:
  // The name must have passed pgbak.timezone's check; throws kInvalidParameter
  // if PostgreSQL does not know it.
  explicit PgTimeZone(const char* name);
  long OffsetAt(std::time_t utc) const override;

 private:
  const struct pg_tz* zone_;
};

// TimestampToUnix and UnixToTimestamp convert between TimestampTz and time_t
// (whole seconds, rounding towards the past).
std::time_t TimestampToUnix(TimestampTz timestamp);
TimestampTz UnixToTimestamp(std::time_t seconds);

}  // namespace pgbak
