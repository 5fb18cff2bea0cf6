// tar_extract.cpp: see tar_extract.h.
#include "core/recovery/tar_extract.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/archive/set_layout.h"
#include "core/base/error.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

// kMaxMetaBytes bounds a GNU long name or a pax header: names are short.
constexpr uint64_t kMaxMetaBytes = 1 << 20;

// Field reads a NUL-terminated field of a header.
std::string Field(const uint8_t* header, size_t offset, size_t length) {
  const char* start = reinterpret_cast<const char*>(header + offset);
  return std::string(start, strnlen(start, length));
}

// Number reads a numeric field: octal digits (with leading spaces, ending
// with a space or NUL), or GNU's base-256 form (first byte's high bit set)
// for sizes of 8 GiB and more, which PostgreSQL writes.
uint64_t Number(const uint8_t* header, size_t offset, size_t length, const std::string& entry) {
  const uint8_t* field = header + offset;
  if (field[0] & 0x80) {
    if (field[0] != 0x80)
      throw Error(ErrorKind::kCorrupt, "tar entry \"" + Printable(entry) + "\": negative size");
    uint64_t value = 0;
    for (size_t i = 1; i < length; i++) {
      if (value >> 56)
        throw Error(ErrorKind::kCorrupt, "tar entry \"" + Printable(entry) + "\": size too large");
      value = (value << 8) | field[i];
    }
    return value;
  }
  size_t i = 0;
  while (i < length && field[i] == ' ')
    i++;
  uint64_t value = 0;
  bool digits = false;
  for (; i < length && field[i] >= '0' && field[i] <= '7'; i++) {
    if (value >> 60)
      throw Error(ErrorKind::kCorrupt, "tar entry \"" + Printable(entry) + "\": number too large");
    value = value * 8 + (field[i] - '0');
    digits = true;
  }
  if (!digits || (i < length && field[i] != ' ' && field[i] != '\0'))
    throw Error(ErrorKind::kCorrupt,
                "tar entry \"" + Printable(entry) + "\": a numeric field is not a number");
  return value;
}

// Split cuts a path at '/', leaving out empty and "." components.
std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> parts;
  for (std::string& part : SplitKey(path))
    if (!part.empty() && part != ".")
      parts.push_back(std::move(part));
  return parts;
}

// FsyncPath makes a file or directory durable.
void FsyncPath(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    ThrowErrno("could not open \"" + Printable(path) + "\" to fsync it", errno);
  UniqueFd owner(fd);
  if (fsync(fd) != 0)
    ThrowErrno("could not fsync \"" + Printable(path) + "\"", errno);
}

}  // namespace

std::string SafeTarPath(const std::string& name) {
  if (!name.empty() && name[0] == '/')
    throw Error(ErrorKind::kCorrupt,
                "tar entry \"" + Printable(name) + "\" has an absolute path: refused");
  if (name.find('\0') != std::string::npos)
    throw Error(ErrorKind::kCorrupt, "tar entry \"" + Printable(name) + "\" has a NUL in its name");
  std::string out;
  for (const std::string& part : Split(name)) {
    if (part == "..")
      throw Error(ErrorKind::kCorrupt,
                  "tar entry \"" + Printable(name) + "\" climbs out with \"..\": refused");
    out += (out.empty() ? "" : "/") + part;
  }
  return out;
}

bool SymlinkStaysInside(const std::string& path, const std::string& target) {
  if (target.empty() || target[0] == '/')
    return false;
  // ".." only leads (then the link's own directory, a real one, decides
  // where it goes); after a name, ".." would be resolved through what that
  // name is, possibly another link.
  long depth = static_cast<long>(Split(path).size()) - 1;
  bool leading = true;
  for (const std::string& part : Split(target)) {
    if (part == "..") {
      if (!leading || --depth < 0)
        return false;
    } else {
      leading = false;
      depth++;
    }
  }
  return true;
}

TarExtractSink::TarExtractSink(std::string directory)
    : directory_(std::move(directory)), header_(kTarBlock) {}

TarExtractSink::~TarExtractSink() = default;

void TarExtractSink::Write(const uint8_t* data, size_t size) {
  while (size > 0) {
    if (ended_) {
      // After the end-of-archive blocks, only zero padding.
      for (size_t i = 0; i < size; i++)
        if (data[i] != 0)
          throw Error(ErrorKind::kCorrupt, "tar archive has data after its end");
      return;
    }
    size_t n;
    if (data_left_ > 0) {
      n = static_cast<size_t>(std::min<uint64_t>(data_left_, size));
      OnEntryData(data, n);
      data_left_ -= n;
      if (data_left_ == 0 && padding_left_ == 0)
        EndEntry();
    } else if (padding_left_ > 0) {
      n = static_cast<size_t>(std::min<uint64_t>(padding_left_, size));
      padding_left_ -= n;
      if (padding_left_ == 0)
        EndEntry();
    } else {
      n = std::min(kTarBlock - header_used_, size);
      std::memcpy(header_.data() + header_used_, data, n);
      header_used_ += n;
      if (header_used_ == kTarBlock) {
        header_used_ = 0;
        OnHeader();
      }
    }
    data += n;
    size -= n;
  }
}

void TarExtractSink::Finish() {
  if (!ended_)
    throw Error(ErrorKind::kCorrupt,
                data_left_ > 0 || padding_left_ > 0
                    ? "tar archive ends in the middle of entry \"" + Printable(entry_name_) + "\""
                    : "tar archive ends before its end-of-archive blocks");
  for (auto it = directories_.rbegin(); it != directories_.rend(); ++it)
    FsyncPath(*it);
  FsyncPath(directory_);
}

std::string TarExtractSink::SafePath(const std::string& name) const {
  return SafeTarPath(name);
}

void TarExtractSink::PrepareParents(const std::string& relative) {
  std::vector<std::string> parts = Split(relative);
  std::string path = directory_;
  for (size_t i = 0; i + 1 < parts.size(); i++) {
    path += "/" + parts[i];
    struct stat st;
    if (lstat(path.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode))
        throw Error(ErrorKind::kCorrupt,
                    "tar entry \"" + Printable(entry_name_) + "\" would be written through \"" +
                        Printable(parts[i]) + "\", which is not a directory: refused");
      continue;
    }
    if (errno != ENOENT)
      ThrowErrno("could not look at \"" + Printable(path) + "\"", errno);
    if (mkdir(path.c_str(), 0700) != 0)
      ThrowErrno("could not create directory \"" + Printable(path) + "\"", errno);
    directories_.push_back(path);
  }
}

void TarExtractSink::OnHeader() {
  const uint8_t* h = header_.data();
  if (std::all_of(h, h + kTarBlock, [](uint8_t b) { return b == 0; })) {
    if (++zero_blocks_ == 2)
      ended_ = true;
    return;
  }
  if (zero_blocks_ > 0)
    throw Error(ErrorKind::kCorrupt, "tar archive has an entry after an end-of-archive block");
  // The checksum: the sum of the header's bytes with its own field as
  // spaces.
  uint64_t sum = 0;
  for (size_t i = 0; i < kTarBlock; i++)
    sum += (i >= 148 && i < 156) ? ' ' : h[i];
  entry_name_ = Field(h, 0, 100);
  if (Number(h, 148, 8, entry_name_) != sum)
    throw Error(ErrorKind::kCorrupt,
                "tar header checksum mismatch (entry \"" + Printable(entry_name_) + "\")");
  std::string name = Field(h, 0, 100);
  // POSIX ustar ("ustar\0") has a name prefix at 345; GNU tar's old
  // format ("ustar  ") keeps access and change times there.
  if (std::memcmp(h + 257, "ustar\0", 6) == 0) {
    std::string prefix = Field(h, 345, 155);
    if (!prefix.empty())
      name = prefix + "/" + name;
  }
  if (!long_name_.empty())
    name = long_name_;
  std::string link = long_link_.empty() ? Field(h, 157, 100) : long_link_;
  entry_name_ = name;
  uint64_t size = have_pax_size_ ? pax_size_ : Number(h, 124, 12, name);
  uint64_t mode = Number(h, 100, 8, name) & 0777;
  type_ = static_cast<char>(h[156]);
  if (type_ != 'L' && type_ != 'K' && type_ != 'x' && type_ != 'g') {
    long_name_.clear();
    long_link_.clear();
    have_pax_size_ = false;
  }
  data_left_ = size;
  padding_left_ = (kTarBlock - size % kTarBlock) % kTarBlock;
  switch (type_) {
    case 'L':
    case 'K':
    case 'x':
    case 'g':
      if (size > kMaxMetaBytes)
        throw Error(ErrorKind::kCorrupt, "tar archive has an extended header too large to be one");
      meta_.clear();
      break;
    case '0':
    case '\0':
    case '7': {
      std::string relative = SafePath(name);
      if (relative.empty())
        throw Error(ErrorKind::kCorrupt, "tar archive has a file without a name");
      PrepareParents(relative);
      std::string path = directory_ + "/" + relative;
      // At most what PostgreSQL gives its files (0640 with group access).
      int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    static_cast<mode_t>((mode | 0600) & 0640));
      if (fd < 0) {
        if (errno == EEXIST)
          throw Error(ErrorKind::kCorrupt,
                      "tar archive holds \"" + Printable(relative) + "\" twice: refused");
        ThrowErrno("could not create \"" + Printable(path) + "\"", errno);
      }
      file_.Reset(fd);
      break;
    }
    case '5': {
      if (size != 0)
        throw Error(ErrorKind::kCorrupt,
                    "tar directory entry \"" + Printable(name) + "\" has data");
      std::string relative = SafePath(name);
      if (relative.empty())
        break;  // the target directory itself
      PrepareParents(relative);
      std::string path = directory_ + "/" + relative;
      // At most what PostgreSQL gives its directories (0750).
      if (mkdir(path.c_str(), static_cast<mode_t>((mode | 0700) & 0750)) == 0) {
        directories_.push_back(path);
      } else {
        struct stat st;
        if (errno != EEXIST || lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
          ThrowErrno("could not create directory \"" + Printable(path) + "\"",
                     errno == EEXIST ? EEXIST : errno);
      }
      break;
    }
    case '2': {
      if (size != 0)
        throw Error(ErrorKind::kCorrupt, "tar link entry \"" + Printable(name) + "\" has data");
      std::string relative = SafePath(name);
      if (relative.empty())
        throw Error(ErrorKind::kCorrupt, "tar archive has a symbolic link without a name");
      if (!SymlinkStaysInside(relative, link))
        throw Error(ErrorKind::kCorrupt, "tar entry \"" + Printable(name) +
                                             "\" is a symbolic link to \"" + Printable(link) +
                                             "\", outside the directory: refused");
      PrepareParents(relative);
      std::string path = directory_ + "/" + relative;
      if (symlink(link.c_str(), path.c_str()) != 0) {
        if (errno == EEXIST)
          throw Error(ErrorKind::kCorrupt,
                      "tar archive holds \"" + Printable(relative) + "\" twice: refused");
        ThrowErrno("could not create symbolic link \"" + Printable(path) + "\"", errno);
      }
      break;
    }
    case '1':
      throw Error(ErrorKind::kCorrupt, "tar entry \"" + Printable(name) +
                                           "\" is a hard link, which PostgreSQL's base backups "
                                           "never hold: refused");
    case '3':
    case '4':
    case '6':
      throw Error(ErrorKind::kCorrupt,
                  "tar entry \"" + Printable(name) + "\" is a device or a fifo: refused");
    default:
      throw Error(ErrorKind::kCorrupt, "tar entry \"" + Printable(name) + "\" has unknown type '" +
                                           Printable(std::string(1, type_)) + "': refused");
  }
  if (type_ != '0' && type_ != '\0' && type_ != '7' && type_ != 'L' && type_ != 'K' &&
      type_ != 'x' && type_ != 'g')
    data_left_ = padding_left_ = 0;  // links and directories carry no data
  if (data_left_ == 0 && padding_left_ == 0)
    EndEntry();
}

void TarExtractSink::OnEntryData(const uint8_t* data, size_t size) {
  if (file_.valid()) {
    while (size > 0) {
      ssize_t wrote = ::write(file_.get(), data, size);
      if (wrote < 0) {
        if (errno == EINTR)
          continue;
        ThrowErrno("could not write \"" + Printable(directory_ + "/" + entry_name_) + "\"", errno);
      }
      data += wrote;
      size -= static_cast<size_t>(wrote);
      bytes_ += static_cast<uint64_t>(wrote);
    }
  } else if (type_ == 'L' || type_ == 'K' || type_ == 'x' || type_ == 'g') {
    meta_.append(reinterpret_cast<const char*>(data), size);
  }
}

void TarExtractSink::EndEntry() {
  if (file_.valid()) {
    if (fsync(file_.get()) != 0)
      ThrowErrno("could not fsync \"" + Printable(directory_ + "/" + entry_name_) + "\"", errno);
    file_.Reset();
    files_++;
    return;
  }
  if (type_ == 'L') {
    long_name_ = meta_.substr(0, meta_.find('\0'));
  } else if (type_ == 'K') {
    long_link_ = meta_.substr(0, meta_.find('\0'));
  } else if (type_ == 'x') {
    // Records "<length> <key>=<value>\n".
    size_t at = 0;
    while (at < meta_.size()) {
      size_t space = meta_.find(' ', at);
      if (space == std::string::npos || space == at || space - at > 12)
        throw Error(ErrorKind::kCorrupt, "tar archive has a malformed pax header");
      std::string digits = meta_.substr(at, space - at);
      if (digits.find_first_not_of("0123456789") != std::string::npos)
        throw Error(ErrorKind::kCorrupt, "tar archive has a malformed pax header");
      size_t length = std::stoul(digits);
      if (length <= space - at + 1 || at + length > meta_.size() || meta_[at + length - 1] != '\n')
        throw Error(ErrorKind::kCorrupt, "tar archive has a malformed pax header");
      std::string record = meta_.substr(space + 1, at + length - 1 - (space + 1));
      size_t equals = record.find('=');
      if (equals == std::string::npos)
        throw Error(ErrorKind::kCorrupt, "tar archive has a malformed pax header");
      std::string key = record.substr(0, equals), value = record.substr(equals + 1);
      if (key == "path") {
        long_name_ = value;
      } else if (key == "linkpath") {
        long_link_ = value;
      } else if (key == "size") {
        if (value.empty() || value.size() > 19 ||
            value.find_first_not_of("0123456789") != std::string::npos)
          throw Error(ErrorKind::kCorrupt, "tar archive has a malformed pax size");
        pax_size_ = std::stoull(value);
        have_pax_size_ = true;
      }
      at += length;
    }
  }
  meta_.clear();
}

}  // namespace pgbak
