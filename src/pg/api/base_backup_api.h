// base_backup_api.h: what pgbak_schedule hands over to base backups.
//
// Include after postgres.h and fmgr.h.
#pragma once

namespace pgbak {

// ScheduleBaseJob is pgbak_schedule(job_name, NULL, schedule, options) for
// options with {"kind": "base"}: a job whose runs are base backups of the
// cluster. Validates everything before writing; returns the job's id.
Datum ScheduleBaseJob(FunctionCallInfo fcinfo, const char* options_text);

}  // namespace pgbak
