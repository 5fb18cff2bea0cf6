// metrics.h: the Prometheus exposition of pgbak_ext.
//
// Include after postgres.h.
#pragma once

#include <string>

namespace pgbak {

// RenderMetrics builds the text exposition (format 0.0.4) from backup_status,
// backup_log and shared memory. Needs a transaction with SPI connected.
std::string RenderMetrics();

}  // namespace pgbak
