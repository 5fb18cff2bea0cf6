// child_process_test.cpp: spawning children (src/core/child_process.cpp):
// exit reporting, bounded stderr, clean environment, descriptors and signal
// state, exec failures and stopping.
#include "core/base/child_process.h"
#include "core/pipeline/child_pump.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <sstream>
#include <string>

#include "core/base/error.h"
#include "core/pipeline/sink.h"
#include "test_util.h"

namespace pgbak {
namespace {

const std::vector<std::string> kPathEnv = {"PATH=/usr/bin:/bin"};

// RunToEnd runs a child to completion and returns its stdout.
std::string RunToEnd(const ChildSpec& spec) {
  ChildProcess child(spec);
  StringSink out;
  PumpChild(child, out);
  return out.contents();
}

// Lines splits text at newlines.
std::set<std::string> Lines(const std::string& text) {
  std::set<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    lines.insert(line);
  }
  return lines;
}

// WaitForStdout polls until the child has written expected to stdout.
void WaitForStdout(ChildProcess& child, const std::string& expected) {
  std::string seen;
  while (seen.find(expected) == std::string::npos) {
    struct pollfd fd = {child.stdout_fd(), POLLIN, 0};
    ASSERT_GE(poll(&fd, 1, 10000), 1) << "child never wrote " << expected;
    uint8_t buffer[256];
    ssize_t got = child.ReadStdout(buffer, sizeof(buffer));
    ASSERT_NE(got, 0) << "child closed stdout before writing " << expected;
    if (got > 0) {
      seen.append(reinterpret_cast<char*>(buffer), static_cast<size_t>(got));
    }
  }
}

TEST(ChildProcessTest, StdoutOfASuccessfulChild) {
  EXPECT_EQ(RunToEnd({"/bin/echo", {"hello", "two words", "$HOME;*"}, {}}),
            "hello two words $HOME;*\n");
}

TEST(ChildProcessTest, ExitStatusIsReported) {
  ChildProcess child({"/bin/sh", {"-c", "echo oops >&2; exit 3"}, {}});
  StringSink out;
  try {
    PumpChild(child, out);
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kChildFailed);
    EXPECT_STREQ(error.what(), "child process \"/bin/sh\" exited with status 3");
    EXPECT_EQ(error.detail(), "oops\n");
  }
  EXPECT_TRUE(child.exited());
  EXPECT_FALSE(child.Succeeded());
  EXPECT_EQ(child.DescribeExit(), "exited with status 3");
  EXPECT_FALSE(out.finished());
}

TEST(ChildProcessTest, KilledChildIsDescribed) {
  ChildProcess child({"/bin/sleep", {"30"}, {}});
  EXPECT_FALSE(child.TryReap());
  EXPECT_EQ(child.DescribeExit(), "has not exited yet");
  uint8_t buffer[16];
  EXPECT_EQ(child.ReadStdout(buffer, sizeof(buffer)), -1);  // non-blocking
  EXPECT_TRUE(child.DrainStderr());
  child.Signal(SIGKILL);
  child.Wait();
  EXPECT_TRUE(child.exited());
  EXPECT_FALSE(child.Succeeded());
  EXPECT_EQ(child.DescribeExit(), "killed by signal 9");
  child.Signal(SIGKILL);  // harmless once reaped
}

TEST(ChildProcessTest, StderrTailIsBounded) {
  ChildProcess child(
      {"/bin/sh", {"-c", "head -c 102400 /dev/zero | tr '\\000' x >&2; printf END >&2"}, kPathEnv});
  StringSink out;
  PumpChild(child, out);
  ASSERT_EQ(child.stderr_tail().size(), 8192u);
  EXPECT_EQ(child.stderr_tail(), std::string(8189, 'x') + "END");
}

TEST(ChildProcessTest, EnvironmentIsExactlyTheGivenOne) {
  setenv("PGBAK_SHOULD_NOT_LEAK", "1", 1);
  EXPECT_EQ(RunToEnd({"/usr/bin/env", {}, {"A=1", "B=two words"}}), "A=1\nB=two words\n");
  EXPECT_EQ(RunToEnd({"/usr/bin/env", {}, {}}), "");
  unsetenv("PGBAK_SHOULD_NOT_LEAK");
}

TEST(ChildProcessTest, NoDescriptorBeyondTheStandardOnesIsInherited) {
  int leaky = open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(leaky, 0);
  int high = dup2(leaky, 200);
  ASSERT_EQ(high, 200);
  // ls itself holds one descriptor (3) on the directory it lists.
  std::set<std::string> fds = Lines(RunToEnd({"/bin/ls", {"/proc/self/fd"}, {}}));
  close(leaky);
  close(high);
  EXPECT_EQ(fds, (std::set<std::string>{"0", "1", "2", "3"}));
  EXPECT_EQ(RunToEnd({"/usr/bin/readlink", {"/proc/self/fd/0"}, {}}), "/dev/null\n");
}

TEST(ChildProcessTest, ChildStartsWithDefaultSignalsAndEmptyMask) {
  struct sigaction ignore = {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction old_action;
  sigaction(SIGUSR2, &ignore, &old_action);
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigaddset(&block, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block, &old_mask);

  std::set<std::string> lines =
      Lines(RunToEnd({"/bin/grep", {"-E", "^Sig(Blk|Ign)", "/proc/self/status"}, {}}));

  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  sigaction(SIGUSR2, &old_action, nullptr);
  EXPECT_EQ(lines,
            (std::set<std::string>{"SigBlk:\t0000000000000000", "SigIgn:\t0000000000000000"}));
}

// fork_mask_pipe is where the pthread_atfork child handler below reports the
// signal mask a child starts with, before anything of ChildProcess runs in
// it; -1 outside the test that sets it.
int fork_mask_pipe = -1;

void ReportMaskAtFork() {
  if (fork_mask_pipe < 0) {
    return;
  }
  sigset_t mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  ssize_t ignored = write(fork_mask_pipe, &mask, sizeof(mask));
  (void)ignored;
}

TEST(ChildProcessTest, ForkRunsWithEverySignalBlocked) {
  // A signal that reached the child between fork and exec, before the
  // dispositions are reset, would run one of the parent's handlers (the
  // server's, in a backend) in the child.
  static bool registered = (pthread_atfork(nullptr, nullptr, ReportMaskAtFork) == 0);
  ASSERT_TRUE(registered);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  sigset_t before;
  pthread_sigmask(SIG_SETMASK, nullptr, &before);
  fork_mask_pipe = fds[1];
  RunToEnd({"/bin/true", {}, {}});
  fork_mask_pipe = -1;
  close(fds[1]);
  sigset_t at_fork;
  ASSERT_EQ(read(fds[0], &at_fork, sizeof(at_fork)), static_cast<ssize_t>(sizeof(at_fork)));
  close(fds[0]);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM, SIGQUIT, SIGCHLD}) {
    EXPECT_EQ(sigismember(&at_fork, sig), 1) << "signal " << sig << " is open at fork";
  }
  // The parent gets its own mask back.
  sigset_t after;
  pthread_sigmask(SIG_SETMASK, nullptr, &after);
  for (int sig = 1; sig < NSIG; sig++) {
    EXPECT_EQ(sigismember(&after, sig), sigismember(&before, sig)) << "signal " << sig;
  }
}

TEST(ChildProcessTest, ChildLeadsAProcessGroupOfItsOwn) {
  // A PostgreSQL backend signals its whole process group for
  // pg_cancel_backend and for its own lock and statement timeouts; none of
  // that is meant for pg_dump.
  ChildProcess child({"/bin/sleep", {"30"}, {}});
  EXPECT_EQ(getpgid(child.pid()), child.pid());
  EXPECT_NE(getpgid(child.pid()), getpgrp());
}

// ProcessGone is true once pid no longer exists or is a zombie.
bool ProcessGone(pid_t pid) {
  std::string stat;
  try {
    stat = test::ReadFile("/proc/" + std::to_string(pid) + "/stat");
  } catch (const std::runtime_error&) {
    return true;
  }
  size_t paren = stat.rfind(')');
  return stat.empty() || (paren != std::string::npos && stat.compare(paren + 1, 3, " Z ") == 0);
}

// WaitUntilGone polls ProcessGone for up to 10 s.
bool WaitUntilGone(pid_t pid) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!ProcessGone(pid)) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    usleep(20000);
  }
  return true;
}

TEST(ChildProcessTest, StopEndsWhatTheChildStarted) {
  // pg_restore -j and pg_dump -j run workers of their own: stopping the
  // child stops them too, even those that outlive it.
  ChildProcess child(
      {"/bin/sh", {"-c", "trap '' TERM; /bin/sleep 30 & echo $!; exec /bin/sleep 30"}, {}});
  std::string seen;
  while (seen.find('\n') == std::string::npos) {
    struct pollfd fd = {child.stdout_fd(), POLLIN, 0};
    ASSERT_GE(poll(&fd, 1, 10000), 1);
    uint8_t buffer[64];
    ssize_t got = child.ReadStdout(buffer, sizeof(buffer));
    ASSERT_NE(got, 0);
    if (got > 0) {
      seen.append(reinterpret_cast<char*>(buffer), static_cast<size_t>(got));
    }
  }
  pid_t grandchild = std::stoi(seen);
  child.Stop(200);
  EXPECT_TRUE(WaitUntilGone(grandchild)) << "the child's own child " << grandchild << " lives on";
  kill(grandchild, SIGKILL);
}

TEST(ChildProcessTest, ChildDiesWithItsParent) {
  // A worker killed with SIGKILL cannot stop its pg_dump: the kernel does.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t parent = fork();
  ASSERT_GE(parent, 0);
  if (parent == 0) {
    close(fds[0]);
    auto* child = new ChildProcess({"/bin/sleep", {"30"}, {}});  // never destroyed
    pid_t pid = child->pid();
    ssize_t ignored = write(fds[1], &pid, sizeof(pid));
    (void)ignored;
    _exit(0);
  }
  close(fds[1]);
  pid_t orphan = -1;
  ASSERT_EQ(read(fds[0], &orphan, sizeof(orphan)), static_cast<ssize_t>(sizeof(orphan)));
  close(fds[0]);
  int status;
  waitpid(parent, &status, 0);
  EXPECT_TRUE(WaitUntilGone(orphan)) << "the orphaned child " << orphan << " lives on";
  kill(orphan, SIGKILL);
}

TEST(ChildProcessTest, MissingProgramThrowsWithTheExecError) {
  try {
    ChildProcess child({"/nonexistent/program", {}, {}});
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kIo);
    EXPECT_STREQ(error.what(),
                 "could not execute \"/nonexistent/program\": No such file or directory");
  }
  try {
    ChildProcess child({"/etc/passwd", {}, {}});  // not executable
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(error.what()).find("could not execute"), std::string::npos);
  }
  EXPECT_THROW(ChildProcess({"sleep", {"1"}, {}}), Error);  // not an absolute path
  int status;
  EXPECT_EQ(waitpid(-1, &status, WNOHANG), -1);  // nothing left to reap
}

TEST(ChildProcessTest, StopKillsAChildThatIgnoresSigterm) {
  ChildProcess child({"/bin/sh", {"-c", "trap '' TERM; echo ready; exec sleep 30"}, kPathEnv});
  WaitForStdout(child, "ready");
  auto start = std::chrono::steady_clock::now();
  child.Stop(300);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(child.exited());
  EXPECT_EQ(child.DescribeExit(), "killed by signal 9");
  EXPECT_GE(elapsed, std::chrono::milliseconds(290));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST(ChildProcessTest, StopEndsAnOrdinaryChildWithSigterm) {
  ChildProcess child({"/bin/sleep", {"30"}, {}});
  auto start = std::chrono::steady_clock::now();
  child.Stop(10000);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(child.DescribeExit(), "killed by signal 15");
  child.Stop(10000);  // no-op once reaped
}

TEST(ChildProcessTest, DestructorKillsAndReaps) {
  pid_t pid;
  {
    ChildProcess child({"/bin/sleep", {"30"}, {}});
    pid = child.pid();
    EXPECT_GT(pid, 0);
  }
  int status;
  EXPECT_EQ(waitpid(pid, &status, WNOHANG), -1);  // already reaped: no zombie
  EXPECT_EQ(errno, ECHILD);
}

TEST(ChildProcessTest, LargeStdoutIsPumpedCompletely) {
  std::string out = RunToEnd({"/usr/bin/head", {"-c", "5000000", "/dev/zero"}, {}});
  EXPECT_EQ(out.size(), 5000000u);
  EXPECT_EQ(out.find_first_not_of('\0'), std::string::npos);
}

// OpenDescriptors counts this process's open descriptors.
size_t OpenDescriptors() {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir("/proc/self/fd"), closedir);
  size_t count = 0;
  while (struct dirent* entry = readdir(dir.get())) {
    if (entry->d_name[0] != '.') {
      count++;
    }
  }
  return count;
}

TEST(ChildProcessTest, NoDescriptorLeaksInTheParent) {
  size_t before = OpenDescriptors();
  RunToEnd({"/bin/echo", {"x"}, {}});
  EXPECT_THROW(ChildProcess({"/nonexistent/program", {}, {}}), Error);
  {
    ChildProcess running({"/bin/sleep", {"30"}, {}});
    EXPECT_EQ(OpenDescriptors(), before + 2);  // its stdout and stderr pipes
  }
  EXPECT_EQ(OpenDescriptors(), before);
}

}  // namespace
}  // namespace pgbak
