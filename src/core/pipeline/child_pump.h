// child_pump.h: running a child process into a sink without a latch.
//
// The PostgreSQL side waits on a child together with its latch (see
// pg/jobs/dump_tools.h); tools and tests outside PostgreSQL use this instead.
#pragma once

#include "core/base/child_process.h"
#include "core/pipeline/sink.h"

namespace pgbak {

// PumpChild runs a child to completion with poll(), writing its stdout into
// stdout_sink; for tests and tools outside PostgreSQL, which have no latch.
// Returns normally only if the child succeeded; otherwise throws kChildFailed
// with the stderr tail as detail. It does not Finish() the sink: committing
// is the caller's decision.
void PumpChild(ChildProcess& child, Sink& stdout_sink);

}  // namespace pgbak
