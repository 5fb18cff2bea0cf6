// base_backup_stream.cpp: the COPY sub-protocol of BASE_BACKUP and its
// checksum warnings.
#include "core/archive/base_backup_stream.h"

#include <cstring>
#include <string>

#include "core/base/error.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

// Malformed is the error for a message the protocol does not allow.
[[noreturn]] void Malformed(const std::string& why) {
  throw Error(ErrorKind::kCorrupt, "unexpected data from BASE_BACKUP: " + why);
}

// CString reads a NUL-terminated string at data[*offset], advancing offset.
std::string CString(const uint8_t* data, size_t size, size_t* offset) {
  const void* end = std::memchr(data + *offset, '\0', size - *offset);
  if (end == nullptr)
    Malformed("an unterminated string in a new-archive message");
  size_t length = static_cast<const uint8_t*>(end) - (data + *offset);
  std::string text(reinterpret_cast<const char*>(data + *offset), length);
  *offset += length + 1;
  return text;
}

// NumberAfter reads the decimal number that follows prefix in message at
// from, or 0 if there is none.
uint64_t NumberAfter(const std::string& message, size_t from) {
  uint64_t n = 0;
  bool any = false;
  while (from < message.size() && message[from] >= '0' && message[from] <= '9') {
    n = n * 10 + static_cast<uint64_t>(message[from] - '0');
    from++;
    any = true;
  }
  return any ? n : 0;
}

}  // namespace

void CopyStreamDemux::Message(const uint8_t* data, size_t size) {
  if (size == 0)
    Malformed("an empty message");
  switch (data[0]) {
    case 'n': {
      if (manifest_seen_)
        Malformed("an archive after the backup manifest");
      size_t offset = 1;
      CopyStreamPart part;
      part.archive_name = CString(data, size, &offset);
      part.tablespace_path = CString(data, size, &offset);
      if (offset != size || part.archive_name.empty())
        Malformed("a malformed new-archive message");
      if (in_part_)
        handler_.EndPart();
      in_part_ = false;
      archives_++;
      handler_.BeginPart(part);
      in_part_ = true;
      break;
    }
    case 'm': {
      if (manifest_seen_ || size != 1)
        Malformed("a second or malformed manifest message");
      if (in_part_)
        handler_.EndPart();
      in_part_ = false;
      manifest_seen_ = true;
      CopyStreamPart part;
      part.manifest = true;
      handler_.BeginPart(part);
      in_part_ = true;
      break;
    }
    case 'd':
      if (!in_part_)
        Malformed("data before the first archive");
      if (size > 1)
        handler_.PartData(data + 1, size - 1);
      break;
    case 'p': {
      if (size != 9)
        Malformed("a progress message of " + std::to_string(size) + " bytes");
      uint64_t done = 0;
      for (size_t i = 1; i < 9; i++)
        done = (done << 8) | data[i];
      handler_.Progress(done);
      break;
    }
    default:
      Malformed("a message of type " + std::to_string(static_cast<int>(data[0])));
  }
}

void CopyStreamDemux::Finish() {
  if (in_part_)
    handler_.EndPart();
  in_part_ = false;
  if (archives_ == 0)
    Malformed("the stream ended without an archive");
}

void ChecksumFailureCounter::Observe(const std::string& message) {
  static const std::string kBlock = "checksum verification failed in file ";
  static const std::string kTotalSuffix = " total checksum verification failure";
  static const std::string kFailed = "checksum verification failure during base backup";
  if (message.compare(0, kBlock.size(), kBlock) == 0) {
    blocks_reported_++;
    if (first_message_.empty())
      first_message_ = message;
  } else if (message == kFailed) {
    failed_ = true;
  } else {
    size_t at = message.find(kTotalSuffix);
    // "%lld total checksum verification failures": the number comes first.
    if (at != std::string::npos && at > 0 && message.find(' ') == at &&
        message.compare(0, 4, "file") != 0)
      grand_total_ = NumberAfter(message, 0);
  }
}

uint64_t ChecksumFailureCounter::total() const {
  if (grand_total_ > 0)
    return grand_total_;
  if (blocks_reported_ > 0)
    return blocks_reported_;
  return failed_ ? 1 : 0;
}

}  // namespace pgbak
