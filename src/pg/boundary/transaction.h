// transaction.h: running SPI work in its own transaction from C++ code.
//
// Background workers have no surrounding transaction. RunInTransaction starts
// one, connects SPI and pushes a snapshot, runs the work (which calls
// PostgreSQL through PgCall), and commits; if anything fails, PostgreSQL error
// or C++ exception, it aborts the transaction and rethrows.
//
// Include after postgres.h and executor/spi.h, access/xact.h, utils/snapmgr.h.
#pragma once

#include "pg/boundary/boundary.h"

namespace pgbak {

template <typename Work>
void RunInTransaction(Work&& work) {
  PgCall([] {
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    if (SPI_connect() != SPI_OK_CONNECT)
      elog(ERROR, "SPI_connect failed");
    PushActiveSnapshot(GetTransactionSnapshot());
  });
  try {
    work();
    PgCall([] {
      if (SPI_finish() != SPI_OK_FINISH)
        elog(ERROR, "SPI_finish failed");
      PopActiveSnapshot();
      CommitTransactionCommand();
    });
  } catch (...) {
    PgCall([] { AbortCurrentTransaction(); });
    throw;
  }
}

}  // namespace pgbak
