// child_pump.cpp: copying a child's stdout into a sink with poll().
#include "core/pipeline/child_pump.h"

#include <errno.h>
#include <poll.h>

#include <cstdint>
#include <vector>

#include "core/base/error.h"
#include "core/base/no_postgres.h"

namespace pgbak {

// PumpChild copies stdout into the sink until both pipes end, then reaps.
// It does not Finish the sink: only the caller knows whether the output is
// complete enough to commit.
void PumpChild(ChildProcess& child, Sink& stdout_sink) {
  std::vector<uint8_t> buffer(64 * 1024);
  while (child.stdout_fd() >= 0 || child.stderr_fd() >= 0) {
    struct pollfd fds[2];
    nfds_t count = 0;
    for (int fd : {child.stdout_fd(), child.stderr_fd()}) {
      if (fd >= 0) {
        fds[count].fd = fd;
        fds[count].events = POLLIN;
        fds[count].revents = 0;
        count++;
      }
    }
    if (poll(fds, count, -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      ThrowErrno("could not poll child process pipes", errno);
    }
    while (true) {
      ssize_t got = child.ReadStdout(buffer.data(), buffer.size());
      if (got <= 0) {
        break;
      }
      stdout_sink.Write(buffer.data(), static_cast<size_t>(got));
    }
    child.DrainStderr();
  }
  child.Wait();
  if (!child.Succeeded()) {
    throw Error(ErrorKind::kChildFailed,
                "child process \"" + child.program() + "\" " + child.DescribeExit(),
                child.stderr_tail());
  }
}

}  // namespace pgbak
