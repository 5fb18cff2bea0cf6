// staging_file.cpp: a restore's scratch copy of its data object, written in
// large writes into space reserved up front.
#include "core/pipeline/staging_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/base/error.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

// kStagingBufferSize is the size of each write.
constexpr size_t kStagingBufferSize = 4 << 20;

// Reserve allocates size bytes to fd without changing its size. A file
// system that cannot reserve is only slower; one that is full fails here,
// before the restore has started.
void Reserve(int fd, uint64_t size, const std::string& path) {
#ifdef FALLOC_FL_KEEP_SIZE
  if (size == 0 || ::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(size)) == 0) {
    return;
  }
  if (errno == ENOSPC || errno == EDQUOT) {
    ThrowErrno("could not reserve " + std::to_string(size) + " bytes for \"" + path + "\"", errno);
  }
#else
  (void)fd;
  (void)size;
  (void)path;
#endif
}

}  // namespace

StagingFile::StagingFile(std::string path, uint64_t expected_size)
    : path_(std::move(path)),
      fd_(::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) {
  if (!fd_.valid()) {
    ThrowErrno("could not create file \"" + path_ + "\"", errno);
  }
  Reserve(fd_.get(), expected_size, path_);
  buffer_.resize(kStagingBufferSize);
}

// Write buffers; bytes that fill the buffer go out in one write.
void StagingFile::Write(const uint8_t* data, size_t size) {
  if (!fd_.valid()) {
    throw Error(ErrorKind::kInternal, "write to finished staging file \"" + path_ + "\"");
  }
  while (size > 0) {
    size_t take = std::min(size, buffer_.size() - used_);
    std::memcpy(buffer_.data() + used_, data, take);
    used_ += take;
    data += take;
    size -= take;
    if (used_ == buffer_.size()) {
      Flush();
    }
  }
}

void StagingFile::Finish() {
  if (!fd_.valid()) {
    throw Error(ErrorKind::kInternal, "staging file \"" + path_ + "\" finished twice");
  }
  Flush();
  if (::close(fd_.Release()) != 0) {
    ThrowErrno("could not close file \"" + path_ + "\"", errno);
  }
}

// Flush writes out the buffer, retrying short writes and interruptions.
void StagingFile::Flush() {
  size_t done = 0;
  while (done < used_) {
    ssize_t written = ::write(fd_.get(), buffer_.data() + done, used_ - done);
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      ThrowErrno("could not write file \"" + path_ + "\"", errno);
    }
    done += static_cast<size_t>(written);
  }
  bytes_ += used_;
  used_ = 0;
}

}  // namespace pgbak
