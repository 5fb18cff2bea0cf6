// dump_tools.cpp: running PostgreSQL's client tools from a worker.

extern "C" {
#include "postgres.h"

#include "access/xlog.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "utils/acl.h"
#include "utils/guc.h"
}

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "pg/boundary/boundary.h"
#include "pg/catalog/storage_registry.h"
#include "pg/jobs/dump_tools.h"
#include "pg/runtime/settings.h"
#include "pg/runtime/shared_state.h"
#include "pg/runtime/worker_signals.h"

namespace pgbak {

namespace {

constexpr size_t kReadChunk = 1 << 20;

}  // namespace

// GatherServerFacts reads paths, socket and identity; needs a transaction.
ServerFacts GatherServerFacts() {
  ServerFacts facts;
  const char* exec_path = nullptr;
  const char* sockets = nullptr;
  const char* version = nullptr;
  int port = 0;
  uint64 sysid = 0;
  PgCall([&] {
    exec_path = my_exec_path;
    sockets = Unix_socket_directories;
    version = GetConfigOption("server_version", false, false);
    port = PostPortNumber;
    sysid = GetSystemIdentifier();
  });
  facts.bin_dir = exec_path;
  facts.bin_dir = facts.bin_dir.substr(0, facts.bin_dir.rfind('/'));
  // The first Unix socket directory, or TCP on loopback without sockets.
  std::string first = sockets != nullptr ? sockets : "";
  first = first.substr(0, first.find(','));
  while (!first.empty() && first.front() == ' ')
    first.erase(0, 1);
  while (!first.empty() && first.back() == ' ')
    first.pop_back();
  facts.host = first.empty() ? "localhost" : first;
  facts.port = std::to_string(port);
  facts.system_identifier = std::to_string(sysid);
  facts.server_version = version;
  facts.dump_role = DumpRoleName();
  PgCall([&] {
    Oid role = get_role_oid(facts.dump_role.c_str(), true);
    facts.dump_role_is_superuser = OidIsValid(role) && superuser_arg(role);
  });
  facts.passfile = setting_passfile != nullptr ? setting_passfile : "";
  return facts;
}

// ChildEnvironment is the whole environment of pg_dump and pg_dumpall: only
// what they need to reach this server, nothing inherited by accident.
std::vector<std::string> ChildEnvironment(const ServerFacts& facts, const std::string& restore_as) {
  std::vector<std::string> env = {
      "PATH=/usr/bin:/bin",
      "LC_ALL=C",
      "TZ=UTC",
      "PGHOST=" + facts.host,
      "PGPORT=" + facts.port,
      "PGUSER=" + facts.dump_role,
      "PGAPPNAME=pgbak_ext",
      "PGCONNECT_TIMEOUT=30",
  };
  if (!facts.passfile.empty())
    env.push_back("PGPASSFILE=" + facts.passfile);
  if (!restore_as.empty())
    env.push_back("PGOPTIONS=" + RestoreAsOption(restore_as));
  if (const char* home = getenv("HOME"))
    env.push_back(std::string("HOME=") + home);
  return env;
}

// RestoreAsOption escapes as the server splits startup options: at
// whitespace, a backslash taking the next character literally.
std::string RestoreAsOption(const std::string& restore_as) {
  std::string option = "-cpgbak.restore_as=";
  for (char c : restore_as) {
    if (c == '\\' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v')
      option += '\\';
    option += c;
  }
  return option;
}

// ConnInfoValue quotes a value for a libpq connection string.
std::string ConnInfoValue(const std::string& value) {
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\')
      quoted += '\\';
    quoted += c;
  }
  return quoted + "'";
}

// ProgressSink::Write passes bytes on and counts them.
void ProgressSink::Write(const uint8_t* data, size_t size) {
  next_.Write(data, size);
  AddBytesStored(size);
}

// ThrowIfStopping throws if the operation was cancelled or terminated.
// It also serves what must not wait for the latch: the waits that call it
// (the network, long loops) absorb the barriers that DROP DATABASE and
// friends wait for in every backend, and notice the postmaster's death.
void ThrowIfStopping() {
  if (!ServeWhileWaiting())
    throw Error(ErrorKind::kCancelled, "the postmaster died");
  std::string reason = StopReason();
  if (!reason.empty())
    throw Error(ErrorKind::kCancelled, reason);
}

// StreamChild pumps a child's stdout into sink until it exits, waiting on the
// pipes, the latch and (if given) the row-count session together; then waits
// for the row counts. Throws as soon as the child fails or the operation must
// stop (the child is then stopped, and the session's destructor cancels its
// query).
void StreamChild(ChildProcess& child, Sink& sink, const char* what, SideChannel* session) {
  std::vector<uint8_t> buffer(kReadChunk);
  std::vector<int> fds, ready;
  // ServeSession handles a readable row-count session descriptor.
  auto serve_session = [&](int fd) {
    if (session != nullptr && fd == session->Socket())
      session->OnReadable();
  };
  try {
    while (child.stdout_fd() >= 0 || child.stderr_fd() >= 0) {
      ThrowIfStopping();
      fds.clear();
      if (child.stdout_fd() >= 0)
        fds.push_back(child.stdout_fd());
      if (child.stderr_fd() >= 0)
        fds.push_back(child.stderr_fd());
      if (session != nullptr && session->Socket() >= 0)
        fds.push_back(session->Socket());
      WaitForInput(fds, 1000, ready);
      ThrowIfStopping();
      for (int fd : ready) {
        if (fd == child.stdout_fd()) {
          // Read what is there, but come back to the latch now and then.
          for (int reads = 0; reads < 16; reads++) {
            ssize_t n = child.ReadStdout(buffer.data(), buffer.size());
            if (n <= 0)
              break;
            AddBytesRead(static_cast<uint64_t>(n));
            sink.Write(buffer.data(), static_cast<size_t>(n));
          }
        } else if (fd == child.stderr_fd()) {
          child.DrainStderr();
        } else {
          serve_session(fd);
        }
      }
    }
    // Both pipes are closed: the child is exiting. Judge it before waiting
    // for anything else, so a failed dump fails the backup at once.
    while (!child.TryReap()) {
      ThrowIfStopping();
      WaitForInput({}, 50, ready);
    }
  } catch (...) {
    child.Stop(setting_cancel_grace_ms);
    throw;
  }
  if (!child.Succeeded()) {
    // At a server shutdown the child's connection is cut at the same moment
    // as this worker is told to stop; give that signal a moment to arrive,
    // so the row says "terminated", not only that the child failed.
    std::vector<int> none;
    WaitForInput(none, 200, ready);
    ThrowIfStopping();
    std::string tail = child.stderr_tail();
    while (!tail.empty() && tail.back() == '\n')
      tail.pop_back();
    throw Error(ErrorKind::kChildFailed, std::string(what) + " failed: " + child.DescribeExit(),
                tail);
  }
  while (session != nullptr && !session->Done()) {
    ThrowIfStopping();
    fds.assign(1, session->Socket());
    WaitForInput(fds, 1000, ready);
    for (int fd : ready)
      serve_session(fd);
  }
}

// RunTool runs a client tool to completion.
void RunTool(const ServerFacts& facts, const char* tool, std::vector<std::string> args,
             Sink* output, const std::string& restore_as) {
  ChildSpec spec;
  spec.program = facts.bin_dir + "/" + tool;
  spec.args = std::move(args);
  spec.env = ChildEnvironment(facts, restore_as);
  ChildProcess child(spec);
  // DiscardSink drops what it is given.
  class DiscardSink : public Sink {
   public:
    void Write(const uint8_t*, size_t) override {}
    void Finish() override {}
  } discard;
  StreamChild(child, output != nullptr ? *output : discard, tool, nullptr);
}

namespace {

// Connect opens a libpq session on this server as pgbak.dump_role, a
// physical replication one (no database) if replication is set.
PgConnPtr Connect(const ServerFacts& facts, const std::string& database,
                  const std::string& restore_as, bool replication) {
  // The session runs as a superuser in databases whose owners may be
  // anyone: with an empty search_path no function or operator they create
  // (in public, or through ALTER DATABASE ... SET search_path) can stand in
  // for a built-in one in our queries. Client options override database
  // and role settings.
  std::string options = "-csearch_path=";
  if (!restore_as.empty())
    options += " " + RestoreAsOption(restore_as);
  std::vector<const char*> keys = {
      "host", "port", "dbname", "user", "options", "application_name", "connect_timeout"};
  std::vector<const char*> values = {facts.host.c_str(),
                                     facts.port.c_str(),
                                     database.c_str(),
                                     facts.dump_role.c_str(),
                                     options.c_str(),
                                     "pgbak_ext",
                                     "30"};
  if (!facts.passfile.empty()) {
    keys.push_back("passfile");
    values.push_back(facts.passfile.c_str());
  }
  if (replication) {
    keys.push_back("replication");
    values.push_back("true");
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PgConnPtr conn(PQconnectdbParams(keys.data(), values.data(), 0), PQfinish);
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    std::string why = conn ? PQerrorMessage(conn.get()) : "out of memory";
    if (replication)
      throw Error(ErrorKind::kIo, "could not open a replication connection to this server",
                  TrimMessage(why),
                  "A base backup reads the cluster over a local replication connection as "
                  "pgbak.dump_role: pg_hba.conf needs a \"local replication\" line for it, "
                  "max_wal_senders at least 1 and wal_level replica or logical.");
    throw Error(ErrorKind::kIo, "could not connect to database \"" + database + "\"",
                TrimMessage(why),
                "Check pgbak.dump_role, pgbak.passfile and pg_hba.conf for local connections.");
  }
  return conn;
}

}  // namespace

// ConnectLocal opens a libpq session to database on this server.
PgConnPtr ConnectLocal(const ServerFacts& facts, const std::string& database,
                       const std::string& restore_as) {
  return Connect(facts, database, restore_as, false);
}

// ConnectLocalReplication opens a physical replication session.
PgConnPtr ConnectLocalReplication(const ServerFacts& facts) {
  return Connect(facts, "", "", true);
}

// ExecWithLatch runs one statement while serving the latch.
PgResultPtr ExecWithLatch(PGconn* conn, const std::string& sql,
                          const std::vector<std::string>& params, bool honor_stop) {
  std::vector<const char*> values;
  for (const std::string& param : params)
    values.push_back(param.c_str());
  if (!PQsendQueryParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                         nullptr, nullptr, 0))
    throw Error(ErrorKind::kIo, "could not send a query", TrimMessage(PQerrorMessage(conn)));
  PgResultPtr last(nullptr, PQclear);
  std::vector<int> fds, ready;
  for (;;) {
    while (PQisBusy(conn)) {
      std::string reason = StopReason();
      if (!honor_stop && reason != "the postmaster died")
        reason.clear();
      if (!reason.empty()) {
        // Cancel the statement so that its backend does not run on.
        if (PGcancel* cancel = PQgetCancel(conn)) {
          char error[256];
          (void)PQcancel(cancel, error, sizeof(error));
          PQfreeCancel(cancel);
        }
        throw Error(ErrorKind::kCancelled, reason);
      }
      fds.assign(1, PQsocket(conn));
      WaitForInput(fds, 1000, ready);
      if (!PQconsumeInput(conn))
        throw Error(ErrorKind::kIo, "lost a connection", TrimMessage(PQerrorMessage(conn)));
    }
    PGresult* result = PQgetResult(conn);
    if (result == nullptr)
      break;
    last.reset(result);
  }
  ExecStatusType status = last ? PQresultStatus(last.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
    throw Error(ErrorKind::kIo, "query failed",
                TrimMessage(last ? PQresultErrorMessage(last.get()) : PQerrorMessage(conn)));
  return last;
}

// TrimMessage drops the trailing newlines libpq puts on its messages.
std::string TrimMessage(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  return text;
}

// PauseAt pauses while pgbak.fault_pause names point (see dump_tools.h).
void PauseAt(int64_t id, const char* point) {
  if (setting_fault_pause == nullptr || strcmp(setting_fault_pause, point) != 0)
    return;
  PgCall([&] {
    ereport(LOG, (errmsg("pgbak: operation " INT64_FORMAT " pauses at %s (pgbak.fault_pause)",
                         static_cast<int64>(id), point)));
  });
  // WaitForInput reloads the configuration on SIGHUP.
  std::vector<int> none, ready;
  auto names_another = [point] {
    return setting_fault_pause != nullptr && setting_fault_pause[0] != '\0' &&
           strcmp(setting_fault_pause, point) != 0;
  };
  for (int i = 0; i < 1500 && StopReason().empty() && !names_another(); i++)
    WaitForInput(none, 200, ready);
}

}  // namespace pgbak
