// unique_fd.h: an owning file descriptor, closed when its owner goes away.
//
// Core-internal helper for the local storage driver and child processes, so
// that no error path leaks a descriptor into a long-lived backend process.
#pragma once

#include <unistd.h>

#include <utility>

namespace pgbak {

// UniqueFd owns one descriptor (or none, -1) and closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset(other.Release());
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Release gives up ownership and returns the descriptor.
  int Release() { return std::exchange(fd_, -1); }
  // Reset closes the owned descriptor (errors ignored) and takes fd instead.
  void Reset(int fd = -1) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace pgbak
