// tar_extract.h: unpacking the tar archives of a base backup, safely.
//
// PostgreSQL's BASE_BACKUP sends one ustar archive per tablespace: regular
// files, directories and symbolic links (pg_wal when it is one, and the
// links of pg_tblspc when no tablespace_map is asked for), never hard links
// or device files. What a storage gives back is not trusted: an entry that
// would land outside the target directory (an absolute path, "..", a path
// through a symbolic link), a link that points outside it, a hard link, a
// device, a fifo or an entry of unknown type is refused (kCorrupt, naming
// the entry), before anything of it is written. GNU long names ('L', 'K')
// and pax headers ('x': path, linkpath, size) are read, as other writers
// than PostgreSQL produce them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/unique_fd.h"
#include "core/pipeline/sink.h"

namespace pgbak {

// kTarBlock is the size of a tar header and of the unit of its padding.
constexpr size_t kTarBlock = 512;

// TarExtractSink unpacks a tar stream written into it below directory,
// which must exist. Files and directories are created with the archive's
// mode, owner bits always on (0600, 0700) and at most what PostgreSQL
// itself uses with group access (0640, 0750: never setuid, setgid or
// sticky, never group-writable, nothing for others). Files must not exist
// yet, and are fsynced when complete; Finish checks that
// the archive ended with its end-of-archive blocks and fsyncs the
// directories it created.
class TarExtractSink : public Sink {
 public:
  explicit TarExtractSink(std::string directory);
  ~TarExtractSink() override;
  void Write(const uint8_t* data, size_t size) override;
  void Finish() override;
  uint64_t files() const { return files_; }
  uint64_t bytes() const { return bytes_; }

 private:
  // OnHeader acts on a complete header block: checks it and creates what
  // it describes (or starts gathering a long name or pax header).
  void OnHeader();
  // OnEntryData writes an entry's data (or gathers an extended header's).
  void OnEntryData(const uint8_t* data, size_t size);
  // EndEntry closes and fsyncs a file, or applies an extended header.
  void EndEntry();
  // SafePath is SafeTarPath of an entry's name.
  std::string SafePath(const std::string& name) const;
  // PrepareParents creates the missing parent directories of relative and
  // refuses a parent that is a link or no directory.
  void PrepareParents(const std::string& relative);

  std::string directory_;
  // The header (or a GNU long name / pax record set) being gathered.
  std::vector<uint8_t> header_;
  size_t header_used_ = 0;
  // The entry being read: its type, what is left of its data and padding.
  char type_ = 0;
  uint64_t data_left_ = 0;
  uint64_t padding_left_ = 0;
  std::string meta_;  // contents of an 'L', 'K', 'x' or 'g' entry
  std::string long_name_, long_link_;
  bool have_pax_size_ = false;
  uint64_t pax_size_ = 0;
  std::string entry_name_;  // for messages
  UniqueFd file_;
  int zero_blocks_ = 0;
  bool ended_ = false;
  uint64_t files_ = 0;
  uint64_t bytes_ = 0;
  std::vector<std::string> directories_;  // created, to fsync at the end
};

// SafeTarPath normalizes an entry's name relative to the target directory
// ("./a//b/" is "a/b"; "" is the directory itself); throws kCorrupt for an
// absolute name or one with a ".." component.
std::string SafeTarPath(const std::string& name);

// SymlinkStaysInside says whether a symbolic link at relative path (as
// SafeTarPath returns) with target stays inside the directory: a relative
// target whose ".." never climb above the directory's root.
bool SymlinkStaysInside(const std::string& path, const std::string& target);

}  // namespace pgbak
