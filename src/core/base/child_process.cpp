// child_process.cpp: fork and exec of pg_dump and friends, without a shell.
//
// Everything the child needs (argv, envp, descriptors, the default signal
// action) is prepared before fork, because a child of a process that may run
// threads (libzstd, the S3 uploader) may only make async-signal-safe calls
// until it execs. An exec failure travels back to the parent through a
// close-on-exec pipe, so the constructor can throw with the real errno
// instead of the caller discovering an anonymous exit status 127 later.
//
// fork runs with every signal blocked, so that no handler of the parent (a
// PostgreSQL backend's) runs in the child before its dispositions are reset.
// The child leads a process group of its own: a backend signals its whole
// group for pg_cancel_backend and for its lock and statement timeouts, and
// the postmaster signals it for a shutdown; the owner alone decides how a
// child stops, and then stops the whole group (pg_dump -j and pg_restore -j
// run workers of their own). Out of the parent's group, a child would
// outlive a parent killed with SIGKILL; on Linux the kernel kills it then.
#include "core/base/child_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/base/signals_blocked.h"
#include "core/base/unique_fd.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

// kStderrTailSize bounds what is kept of a child's stderr.
constexpr size_t kStderrTailSize = 8192;

// ChildLaunch is everything the child uses between fork and exec, prepared
// in the parent so the child allocates nothing.
struct ChildLaunch {
  const char* program = nullptr;
  std::vector<char*> argv;
  std::vector<char*> envp;
  struct sigaction default_action;
  int devnull = -1;
  int stdout_write = -1;
  int stderr_write = -1;
  int exec_error_write = -1;
  int max_fd = 0;  // for the close loop when close_range is unavailable
  pid_t parent = 0;
};

// MakePipe creates a close-on-exec pipe whose ends are both above 2, so the
// child's dup2 onto 0..2 never hits one of them.
void MakePipe(UniqueFd& read_end, UniqueFd& write_end) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    ThrowErrno("could not create pipe", errno);
  }
  read_end.Reset(fds[0]);
  write_end.Reset(fds[1]);
}

// AboveStdio moves a descriptor above 2 (it can land on 0..2 if the process
// runs with a standard descriptor closed), keeping it close-on-exec.
void AboveStdio(UniqueFd& fd) {
  if (fd.get() > 2) {
    return;
  }
  int moved = fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0) {
    ThrowErrno("could not duplicate file descriptor", errno);
  }
  fd.Reset(moved);
}

// SetNonBlocking makes the parent's read end of a pipe non-blocking.
void SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    ThrowErrno("could not set pipe to non-blocking mode", errno);
  }
}

// CloseRange closes descriptors first..last, with close_range if the kernel
// has it and a plain loop otherwise; async-signal-safe.
void CloseRange(int first, int last, int max_fd) {
  if (first > last) {
    return;
  }
  if (syscall(SYS_close_range, static_cast<unsigned int>(first), static_cast<unsigned int>(last),
              0U) == 0) {
    return;
  }
  for (int fd = first; fd <= last && fd < max_fd; fd++) {
    close(fd);
  }
}

// RunChild is the child between fork and exec; it never returns. It starts
// with every signal blocked (see the constructor).
[[noreturn]] void RunChild(const ChildLaunch& launch) {
  // Out of the parent's process group first, then the dispositions: a signal
  // sent to the parent's group before setpgid is pending here, and setting
  // it to be ignored discards it; only then the default action. The mask is
  // emptied last, so that a signal that becomes deliverable finds the
  // default action, not a parent handler.
  int error = 0;
  if (setpgid(0, 0) != 0) {
    error = errno;
  }
  struct sigaction ignore = launch.default_action;
  ignore.sa_handler = SIG_IGN;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP) {
      sigaction(sig, &ignore, nullptr);
      sigaction(sig, &launch.default_action, nullptr);
    }
  }
#ifdef __linux__
  if (error == 0 && prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
    error = errno;
  }
  // Checked after the request: the parent may have died before it.
  if (error == 0 && getppid() != launch.parent) {
    error = ESRCH;
  }
#endif
  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &empty, nullptr);

  if (error == 0) {
    if (dup2(launch.devnull, 0) < 0 || dup2(launch.stdout_write, 1) < 0 ||
        dup2(launch.stderr_write, 2) < 0) {
      error = errno;
    } else {
      // Keep only 0..2 and the exec-error pipe, which closes itself on exec.
      CloseRange(3, launch.exec_error_write - 1, launch.max_fd);
      CloseRange(launch.exec_error_write + 1, ~0U >> 1, launch.max_fd);
      execve(launch.program, launch.argv.data(), launch.envp.data());
      error = errno;
    }
  }
  ssize_t ignored = write(launch.exec_error_write, &error, sizeof(error));
  (void)ignored;
  _exit(127);
}

// WaitForPid waits for pid, retrying interruptions; returns waitpid's result.
pid_t WaitForPid(pid_t pid, int* status, int options) {
  while (true) {
    pid_t result = waitpid(pid, status, options);
    if (result >= 0 || errno != EINTR) {
      return result;
    }
  }
}

// MonotonicMillis is a clock for grace periods that ignores wall-clock jumps.
int64_t MonotonicMillis() {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

}  // namespace

// ChildProcess forks and execs spec.program; throws kIo if fork or exec fails.
ChildProcess::ChildProcess(const ChildSpec& spec) : program_(spec.program) {
  if (spec.program.empty() || spec.program.front() != '/') {
    throw Error(ErrorKind::kInternal,
                "child program \"" + spec.program + "\" is not an absolute path");
  }
  ChildLaunch launch;
  launch.program = spec.program.c_str();
  launch.argv.push_back(const_cast<char*>(spec.program.c_str()));
  for (const std::string& arg : spec.args) {
    launch.argv.push_back(const_cast<char*>(arg.c_str()));
  }
  launch.argv.push_back(nullptr);
  for (const std::string& variable : spec.env) {
    launch.envp.push_back(const_cast<char*>(variable.c_str()));
  }
  launch.envp.push_back(nullptr);
  std::memset(&launch.default_action, 0, sizeof(launch.default_action));
  launch.default_action.sa_handler = SIG_DFL;
  sigemptyset(&launch.default_action.sa_mask);
  struct rlimit limit;
  launch.max_fd = 65536;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
      limit.rlim_cur < static_cast<rlim_t>(launch.max_fd)) {
    launch.max_fd = static_cast<int>(limit.rlim_cur);
  }

  UniqueFd devnull(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull.valid()) {
    ThrowErrno("could not open file \"/dev/null\"", errno);
  }
  UniqueFd stdout_read, stdout_write, stderr_read, stderr_write, error_read, error_write;
  MakePipe(stdout_read, stdout_write);
  MakePipe(stderr_read, stderr_write);
  MakePipe(error_read, error_write);
  for (UniqueFd* fd : {&devnull, &stdout_read, &stdout_write, &stderr_read, &stderr_write,
                       &error_read, &error_write}) {
    AboveStdio(*fd);
  }
  SetNonBlocking(stdout_read.get());
  SetNonBlocking(stderr_read.get());
  launch.devnull = devnull.get();
  launch.stdout_write = stdout_write.get();
  launch.stderr_write = stderr_write.get();
  launch.exec_error_write = error_write.get();
  launch.parent = getpid();

  pid_t pid;
  {
    AllSignalsBlocked blocked;  // the parent's mask comes back at the end of the block
    pid = fork();
    if (pid == 0) {
      RunChild(launch);
    }
  }
  if (pid < 0) {
    ThrowErrno("could not fork child process for \"" + spec.program + "\"", errno);
  }

  // Our copies of the child's ends must go, or we would never see EOF.
  devnull.Reset();
  stdout_write.Reset();
  stderr_write.Reset();
  error_write.Reset();

  int exec_errno = 0;
  ssize_t got;
  do {
    got = read(error_read.get(), &exec_errno, sizeof(exec_errno));
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof(exec_errno))) {
    int status = 0;
    WaitForPid(pid, &status, 0);
    ThrowErrno("could not execute \"" + spec.program + "\"", exec_errno);
  }

  pid_ = pid;
  stdout_fd_ = stdout_read.Release();
  stderr_fd_ = stderr_read.Release();
}

// ~ChildProcess kills a child that is still running and always reaps it.
ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    Signal(SIGKILL);
    int status = 0;
    WaitForPid(pid_, &status, 0);
  }
  if (stdout_fd_ >= 0) {
    close(stdout_fd_);
  }
  if (stderr_fd_ >= 0) {
    close(stderr_fd_);
  }
}

// ReadStdout reads without blocking; closes the pipe at end of file.
ssize_t ChildProcess::ReadStdout(uint8_t* buffer, size_t capacity) {
  if (stdout_fd_ < 0) {
    return 0;
  }
  while (true) {
    ssize_t got = read(stdout_fd_, buffer, capacity);
    if (got > 0) {
      return got;
    }
    if (got == 0) {
      close(stdout_fd_);
      stdout_fd_ = -1;
      return 0;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return -1;
    }
    if (errno != EINTR) {
      ThrowErrno("could not read from child process \"" + program_ + "\"", errno);
    }
  }
}

// DrainStderr keeps only the last kStderrTailSize bytes: the end of pg_dump's
// stderr is where its error is, and a chatty child must not grow memory.
bool ChildProcess::DrainStderr() {
  if (stderr_fd_ < 0) {
    return false;
  }
  char buffer[4096];
  while (true) {
    ssize_t got = read(stderr_fd_, buffer, sizeof(buffer));
    if (got > 0) {
      stderr_tail_.append(buffer, static_cast<size_t>(got));
      if (stderr_tail_.size() > kStderrTailSize) {
        stderr_tail_.erase(0, stderr_tail_.size() - kStderrTailSize);
      }
      continue;
    }
    if (got == 0) {
      close(stderr_fd_);
      stderr_fd_ = -1;
      return false;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return true;
    }
    if (errno != EINTR) {
      ThrowErrno("could not read from child process \"" + program_ + "\"", errno);
    }
  }
}

// TryReap checks for the child's exit without blocking.
bool ChildProcess::TryReap() {
  if (reaped_) {
    return true;
  }
  int status = 0;
  pid_t result = WaitForPid(pid_, &status, WNOHANG);
  if (result < 0) {
    ThrowErrno("could not wait for child process \"" + program_ + "\"", errno);
  }
  if (result == pid_) {
    reaped_ = true;
    wait_status_ = status;
  }
  return reaped_;
}

// Wait blocks until the child exits and records how it ended.
void ChildProcess::Wait() {
  if (reaped_) {
    return;
  }
  int status = 0;
  if (WaitForPid(pid_, &status, 0) < 0) {
    ThrowErrno("could not wait for child process \"" + program_ + "\"", errno);
  }
  reaped_ = true;
  wait_status_ = status;
}

bool ChildProcess::Succeeded() const {
  return reaped_ && WIFEXITED(wait_status_) && WEXITSTATUS(wait_status_) == 0;
}

// DescribeExit renders the wait status in words for messages.
std::string ChildProcess::DescribeExit() const {
  if (!reaped_) {
    return "has not exited yet";
  }
  if (WIFEXITED(wait_status_)) {
    return "exited with status " + std::to_string(WEXITSTATUS(wait_status_));
  }
  if (WIFSIGNALED(wait_status_)) {
    return "killed by signal " + std::to_string(WTERMSIG(wait_status_));
  }
  return "ended with wait status " + std::to_string(wait_status_);
}

// Signal signals the child's process group, so that what the child started
// gets the signal too; never once the child is reaped, when its pid (and
// group id) may belong to another process.
void ChildProcess::Signal(int sig) {
  if (pid_ > 0 && !reaped_) {
    if (kill(-pid_, sig) != 0) {
      kill(pid_, sig);
    }
  }
}

// Stop asks politely, then insists; the child is reaped either way.
void ChildProcess::Stop(int grace_ms) {
  if (reaped_) {
    return;
  }
  Signal(SIGTERM);
  int64_t deadline = MonotonicMillis() + grace_ms;
  while (!TryReap()) {
    if (MonotonicMillis() >= deadline) {
      Signal(SIGKILL);
      Wait();
      return;
    }
    struct timespec pause = {0, 5 * 1000 * 1000};
    nanosleep(&pause, nullptr);
  }
}

}  // namespace pgbak
