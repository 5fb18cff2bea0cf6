// base_backup_stream.h: reading what PostgreSQL 15's BASE_BACKUP sends.
//
// With TARGET 'client', BASE_BACKUP sends every archive and the backup
// manifest in one COPY OUT stream whose CopyData messages start with a type
// byte (PostgreSQL's basebackup_copy.c): 'n' starts an archive (its name and
// its tablespace's path, each NUL-terminated), 'm' starts the manifest, 'd'
// carries bytes of the current one, 'p' reports progress (an int64 in
// network order). CopyStreamDemux turns those messages into calls on a
// handler; it keeps nothing of the data, so memory does not grow with the
// backup. ChecksumFailureCounter reads the server's warnings about bad page
// checksums (VERIFY_CHECKSUMS) and says how many pages failed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pgbak {

// CopyStreamPart is what a part of the stream holds: an archive (tar) of a
// tablespace, or the backup manifest.
struct CopyStreamPart {
  bool manifest = false;
  std::string archive_name;     // "base.tar", "16385.tar"; "" for the manifest
  std::string tablespace_path;  // "" for the main data directory and the manifest
};

// CopyStreamHandler receives the parts of the stream in order.
class CopyStreamHandler {
 public:
  virtual ~CopyStreamHandler() = default;
  virtual void BeginPart(const CopyStreamPart& part) = 0;
  virtual void PartData(const uint8_t* data, size_t size) = 0;
  // EndPart ends the current part (a new one begins, or the stream ended).
  virtual void EndPart() = 0;
  virtual void Progress(uint64_t bytes_done) { (void)bytes_done; }
};

// CopyStreamDemux splits the COPY stream into parts.
class CopyStreamDemux {
 public:
  explicit CopyStreamDemux(CopyStreamHandler& handler) : handler_(handler) {}
  // Message handles one CopyData message; throws kCorrupt on a message the
  // protocol does not allow (unknown type, data outside a part, an archive
  // after the manifest, a malformed 'n' or 'p').
  void Message(const uint8_t* data, size_t size);
  // Finish ends the last part once the COPY is over; throws kCorrupt if the
  // stream held no archive.
  void Finish();
  int archives() const { return archives_; }
  bool manifest_seen() const { return manifest_seen_; }

 private:
  CopyStreamHandler& handler_;
  bool in_part_ = false;
  bool manifest_seen_ = false;
  int archives_ = 0;
};

// ChecksumFailureCounter counts bad page checksums from the server's
// messages during a BASE_BACKUP with VERIFY_CHECKSUMS (PostgreSQL 15's
// basebackup.c): one warning per bad block (at most five per file), a
// per-file total when a file has more than one, a grand total when there
// is more than one in all, and finally the error "checksum verification
// failure during base backup" (SQLSTATE XX001) after the whole backup was
// sent.
class ChecksumFailureCounter {
 public:
  // Observe reads one primary message text (without "WARNING:  ").
  void Observe(const std::string& message);
  // total is the number of pages that failed their checksum.
  uint64_t total() const;
  // first_message is the first per-block warning, to show a user.
  const std::string& first_message() const { return first_message_; }

 private:
  uint64_t blocks_reported_ = 0;
  uint64_t grand_total_ = 0;
  bool failed_ = false;
  std::string first_message_;
};

}  // namespace pgbak
