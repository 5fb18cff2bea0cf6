// child_process.h: spawning pg_dump and friends safely.
//
// No shell: argv is a vector. The child gets a clean, explicit environment,
// default signal dispositions, an empty signal mask, /dev/null as stdin, pipes
// as stdout and stderr, and no other inherited descriptor; it leads a process
// group of its own, so that signals meant for its parent's group (a
// backend's timeouts, pg_cancel_backend) do not reach it. The parent reads
// the pipes non-blocking, so the PostgreSQL side can wait on them together
// with its latch. A child that is still running when its owner goes away is
// killed and reaped: no orphans, no zombies; if the owner's process dies
// without that (SIGKILL), the kernel kills the child (Linux).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pgbak {

// ChildSpec is what to run: program is an absolute path, args excludes argv[0]
// (argv[0] is set to program), env is the whole environment as NAME=value.
struct ChildSpec {
  std::string program;
  std::vector<std::string> args;
  std::vector<std::string> env;
};

// ChildProcess is a running child with non-blocking stdout/stderr pipes.
class ChildProcess {
 public:
  // Spawn starts the child; throws kIo (with the exec errno) if it cannot.
  explicit ChildProcess(const ChildSpec& spec);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // program is the absolute path that was executed, for messages.
  const std::string& program() const { return program_; }
  // The pipe descriptors, or -1 once that pipe reached end of file.
  int stdout_fd() const { return stdout_fd_; }
  int stderr_fd() const { return stderr_fd_; }

  // ReadStdout reads what is available: >0 bytes read, 0 at end of file
  // (the descriptor is then closed), -1 if nothing is available right now.
  ssize_t ReadStdout(uint8_t* buffer, size_t capacity);
  // DrainStderr reads what is available on stderr into a bounded tail
  // (the last 8 KiB); returns false once stderr reached end of file.
  bool DrainStderr();
  const std::string& stderr_tail() const { return stderr_tail_; }

  // TryReap reaps the child without blocking; true once it has exited.
  bool TryReap();
  // Wait blocks until the child exits (use after both pipes hit EOF).
  void Wait();
  bool exited() const { return reaped_; }
  // Succeeded is true if the child exited normally with status 0.
  bool Succeeded() const;
  // DescribeExit says how it ended: "exited with status 1", "killed by signal 9".
  std::string DescribeExit() const;

  // Signal sends sig to the child's process group (the child and what it
  // started) if the child has not been reaped yet.
  void Signal(int sig);
  // Stop sends SIGTERM, waits up to grace_ms for the exit, then SIGKILLs; reaps.
  // Both go to the whole group.
  void Stop(int grace_ms);

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  bool reaped_ = false;
  int wait_status_ = 0;
  std::string stderr_tail_;
  std::string program_;  // for messages
};

}  // namespace pgbak
