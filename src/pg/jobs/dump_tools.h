// dump_tools.h: what every operation that runs PostgreSQL's client tools
// (pg_dump, pg_dumpall, pg_restore, psql) shares: how to reach this server,
// the children's clean environment, and pumping a child's output with the
// latch.
//
// Include after postgres.h.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/base/child_process.h"
#include "core/pipeline/sink.h"

namespace pgbak {

// ServerFacts are what a worker needs to know about its own server.
struct ServerFacts {
  std::string bin_dir;
  std::string host;
  std::string port;
  std::string system_identifier;
  std::string server_version;
  std::string dump_role;
  bool dump_role_is_superuser = true;  // false: it cannot read role passwords
  std::string passfile;
};

// GatherServerFacts reads paths, socket and identity; needs a transaction.
ServerFacts GatherServerFacts();

// ChildEnvironment is the whole environment of a client tool: only what it
// needs to reach this server, nothing inherited by accident. With
// restore_as, the tool's sessions are restore sessions (PGOPTIONS, see
// pg/runtime/restore_session.h).
std::vector<std::string> ChildEnvironment(const ServerFacts& facts,
                                          const std::string& restore_as = "");

// RestoreAsOption is the startup option "-c pgbak.restore_as=..." escaped
// for libpq's options parameter and PGOPTIONS.
std::string RestoreAsOption(const std::string& restore_as);

// ConnInfoValue quotes a value for a libpq connection string.
std::string ConnInfoValue(const std::string& value);

// ProgressSink reports the bytes that pass to backup_progress's bytes_stored.
class ProgressSink : public Sink {
 public:
  explicit ProgressSink(Sink& next) : next_(next) {}
  void Write(const uint8_t* data, size_t size) override;
  void Finish() override { next_.Finish(); }

 private:
  Sink& next_;
};

// ThrowIfStopping throws kCancelled if the operation was cancelled or
// terminated.
void ThrowIfStopping();

// SideChannel is a second descriptor to serve while a child runs (the row
// count queries of a backup).
class SideChannel {
 public:
  virtual ~SideChannel() = default;
  // Socket is the descriptor to wait on, or -1 when nothing is pending.
  virtual int Socket() const = 0;
  virtual void OnReadable() = 0;
  virtual bool Done() const = 0;
};

// PgConnPtr owns a libpq connection.
using PgConnPtr = std::unique_ptr<PGconn, void (*)(PGconn*)>;

// ConnectLocal opens a libpq session to database on this server as
// pgbak.dump_role, over the local socket, a restore session if restore_as
// is given; throws kIo with the server's reason.
PgConnPtr ConnectLocal(const ServerFacts& facts, const std::string& database,
                       const std::string& restore_as = "");

// ConnectLocalReplication opens a physical replication session (the
// walsender protocol, for BASE_BACKUP) to this server as pgbak.dump_role
// over the local socket; throws kIo with the server's reason and what a
// replication connection needs.
PgConnPtr ConnectLocalReplication(const ServerFacts& facts);

// PgResultPtr owns a libpq result.
using PgResultPtr = std::unique_ptr<PGresult, void (*)(PGresult*)>;

// ExecWithLatch runs one statement (with text parameters) on conn without
// blocking the worker: it waits on the socket together with the latch, so
// the worker keeps absorbing the barriers that CREATE/DROP DATABASE and
// others wait for (even its own DROP DATABASE), and sees cancels. Returns
// the last result; throws kIo with the server's message on failure.
// With honor_stop false (cleanup that must run after a cancel, such as
// dropping a scratch database) it ignores stop requests but still serves the
// latch and stops on postmaster death.
PgResultPtr ExecWithLatch(PGconn* conn, const std::string& sql,
                          const std::vector<std::string>& params = {}, bool honor_stop = true);

// TrimMessage drops the trailing newlines libpq puts on its messages.
std::string TrimMessage(std::string text);

// RunTool runs one of the server's client tools (tool: "pg_restore") to
// completion, its stdout into output (or discarded), its sessions restore
// sessions if restore_as is given; throws as StreamChild.
void RunTool(const ServerFacts& facts, const char* tool, std::vector<std::string> args,
             Sink* output = nullptr, const std::string& restore_as = "");

// StreamChild pumps a child's stdout into sink until it exits (counting the
// bytes as read in backup_progress), serving side (if given) meanwhile and
// until it is done. Throws as soon as the child fails (kChildFailed, with its
// stderr tail as detail) or the operation must stop (the child is stopped).
void StreamChild(ChildProcess& child, Sink& sink, const char* what, SideChannel* side);

// PauseAt stops a worker at point for a while when pgbak.fault_pause names
// it: tests use it to act at a precise moment of an operation (kill its
// worker, write meanwhile). It ends at a stop request, when the setting
// names another point (after a reload; 'none' names no point), or after
// five minutes. A reset (empty) setting does not end it: tests reset the
// setting so that no later operation pauses, and then act on the paused
// one.
void PauseAt(int64_t id, const char* point);

}  // namespace pgbak
