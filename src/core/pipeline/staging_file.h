// staging_file.h: the scratch file a restore stages its data object in.
//
// pg_restore -j needs a seekable file, so a restore decompresses the data
// object into one, below the storage root, and throws it away afterwards.
// Its blocks are reserved in one call before the first write (the size is
// known from the manifest): on ext4, allocating block by block as the
// page cache fills was measured to cost up to 1.5 s of system time for a
// 750 MiB copy right after a database was dropped, against 0.1 s reserved.
// The copy is never fsynced: it is not worth keeping after a crash.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/unique_fd.h"
#include "core/pipeline/sink.h"

namespace pgbak {

// StagingFile writes a new file (mode 0600, which must not exist yet) in
// large writes. The file is left in place by Finish and by the destructor:
// removing it is the caller's business (its staging directory).
class StagingFile : public Sink {
 public:
  // expected_size is reserved (not a limit; 0 reserves nothing). Throws a
  // kIo Error if the file cannot be created or the space is not there.
  StagingFile(std::string path, uint64_t expected_size);
  void Write(const uint8_t* data, size_t size) override;
  // Finish writes out what is buffered and closes the file.
  void Finish() override;
  // bytes is how many bytes were written so far, buffered ones included.
  uint64_t bytes() const { return bytes_ + used_; }
  // written is how many of them are in the file, where other readers of it
  // see them.
  uint64_t written() const { return bytes_; }
  const std::string& path() const { return path_; }
  // Flush writes out what is buffered (no fsync).
  void Flush();

 private:
  std::string path_;
  UniqueFd fd_;
  std::vector<uint8_t> buffer_;
  size_t used_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace pgbak
