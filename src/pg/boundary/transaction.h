// transaction.h: running SPI work in its own transaction from C++ code.
//
// Background workers have no surrounding transaction. RunInTransaction starts
// one, connects SPI and pushes a snapshot, runs the work (which calls
// PostgreSQL through PgCall), and commits; if anything fails, PostgreSQL error
// or C++ exception, it aborts the transaction and rethrows.
//
// Include after postgres.h and executor/spi.h, access/xact.h, utils/snapmgr.h
// (and utils/memutils.h, or anything that declares MemoryContextSwitchTo).
#pragma once

#include "pg/boundary/boundary.h"

namespace pgbak {

template <typename Work>
void RunInTransaction(Work&& work) {
  // The caller's context outlives the transaction: the commit and the abort
  // run from it (SPI_finish deletes the context the work ran in, and an
  // error at commit, from a deferred trigger say, is caught by PgCall, which
  // returns to the context current when it was called), and the caller gets
  // it back afterwards instead of TopMemoryContext, where whatever it
  // allocated next would stay for the life of the process.
  MemoryContext caller_context = CurrentMemoryContext;
  PgCall([] {
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    if (SPI_connect() != SPI_OK_CONNECT)
      elog(ERROR, "SPI_connect failed");
    PushActiveSnapshot(GetTransactionSnapshot());
  });
  try {
    work();
    MemoryContextSwitchTo(caller_context);
    PgCall([] {
      if (SPI_finish() != SPI_OK_FINISH)
        elog(ERROR, "SPI_finish failed");
      PopActiveSnapshot();
      CommitTransactionCommand();
    });
  } catch (...) {
    MemoryContextSwitchTo(caller_context);
    PgCall([] { AbortCurrentTransaction(); });
    MemoryContextSwitchTo(caller_context);
    throw;
  }
  MemoryContextSwitchTo(caller_context);
}

}  // namespace pgbak
