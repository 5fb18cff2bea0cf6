// local_storage.cpp: the local-directory storage driver.
//
// Durability protocol of a write: hidden temporary file in the final
// directory (so the rename cannot cross file systems), bounded write buffer,
// fsync of the file, rename to the final name, fsync of the directory. A
// reader therefore sees the whole object or nothing, even after a crash; the
// temporaries a crash leaves behind are named after their writer's pid so a
// later run can tell them apart from live writes and remove them. A write
// that fails (a full disk) leaves no temporary file behind: the writer
// removes it when it is aborted or destroyed unfinished.
#include "core/storage/local/local_storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/base/unique_fd.h"
#include "core/storage/local/free_space.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

// kWriteBufferSize bounds the memory of one object writer.
constexpr size_t kWriteBufferSize = 1 << 20;
// kTemporaryMarker separates the object name from the writer's pid.
constexpr const char* kTemporaryMarker = ".partial-";

struct DirCloser {
  void operator()(DIR* dir) const { closedir(dir); }
};
using UniqueDir = std::unique_ptr<DIR, DirCloser>;

// JoinPath joins a directory and a relative path with exactly one slash.
std::string JoinPath(const std::string& directory, const std::string& relative) {
  if (relative.empty()) {
    return directory;
  }
  if (!directory.empty() && directory.back() == '/') {
    return directory + relative;
  }
  return directory + "/" + relative;
}

// ParentOf returns the directory part of a path ("/" for "/x").
std::string ParentOf(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) {
    return ".";
  }
  return slash == 0 ? "/" : path.substr(0, slash);
}

// FsyncDirectory makes a directory's entries (a rename, a new file) durable.
void FsyncDirectory(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    ThrowErrno("could not open directory \"" + path + "\"", errno);
  }
  if (fsync(fd.get()) != 0) {
    ThrowErrno("could not fsync directory \"" + path + "\"", errno);
  }
}

// MakeDirectories is mkdir -p: every missing directory is created mode 0700
// (whatever the umask) and its parent fsynced, so it survives a crash.
void MakeDirectories(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return;
  }
  size_t position = 0;
  while (position != std::string::npos) {
    position = path.find('/', position + 1);
    std::string prefix = path.substr(0, position);
    if (prefix.empty() || prefix == "/") {
      continue;
    }
    if (mkdir(prefix.c_str(), 0700) == 0) {
      if (chmod(prefix.c_str(), 0700) != 0) {
        ThrowErrno("could not set permissions of directory \"" + prefix + "\"", errno);
      }
      FsyncDirectory(ParentOf(prefix));
      continue;
    }
    int mkdir_errno = errno;
    if (mkdir_errno != EEXIST) {
      ThrowErrno("could not create directory \"" + prefix + "\"", mkdir_errno);
    }
    if (stat(prefix.c_str(), &st) != 0) {
      ThrowErrno("could not stat \"" + prefix + "\"", errno);
    }
    if (!S_ISDIR(st.st_mode)) {
      ThrowErrno("could not create directory \"" + prefix + "\"", ENOTDIR);
    }
  }
}

// TemporaryOwner returns the pid in a temporary file name, or -1 if the name
// is not one of our temporaries.
pid_t TemporaryOwner(const std::string& name) {
  if (name.empty() || name.front() != '.') {
    return -1;
  }
  size_t marker = name.rfind(kTemporaryMarker);
  if (marker == std::string::npos || marker == 0) {
    return -1;
  }
  std::string digits = name.substr(marker + std::strlen(kTemporaryMarker));
  if (digits.empty() || digits.size() > 9 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return -1;
  }
  return static_cast<pid_t>(std::stol(digits));
}

// ProcessAlive says whether pid may still be writing its temporary file.
bool ProcessAlive(pid_t pid) {
  return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

// WalkEntry is one regular file found by WalkFiles.
struct WalkEntry {
  std::string path;  // absolute
  std::string key;   // relative to the storage root
  std::string name;  // last component
  uint64_t size = 0;
};

// OpenDirectoryOrNull opens a directory; a missing one yields nullptr.
UniqueDir OpenDirectoryOrNull(const std::string& path) {
  UniqueDir dir(opendir(path.c_str()));
  if (!dir && errno != ENOENT) {
    ThrowErrno("could not open directory \"" + path + "\"", errno);
  }
  return dir;
}

// WalkFiles calls visit for every regular file below path (key_prefix is the
// key of path with a trailing slash, or empty for the root); descend decides
// which subdirectories are worth entering. Symbolic links are not followed.
template <typename Descend, typename Visit>
void WalkFiles(const std::string& path, const std::string& key_prefix, Descend descend,
               Visit visit) {
  UniqueDir dir = OpenDirectoryOrNull(path);
  if (!dir) {
    return;
  }
  while (true) {
    errno = 0;
    struct dirent* entry = readdir(dir.get());
    if (entry == nullptr) {
      if (errno != 0) {
        ThrowErrno("could not read directory \"" + path + "\"", errno);
      }
      break;
    }
    std::string name = entry->d_name;
    if (name == "." || name == "..") {
      continue;
    }
    struct stat st;
    if (fstatat(dirfd(dir.get()), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) {
        continue;  // removed while we were listing
      }
      ThrowErrno("could not stat \"" + JoinPath(path, name) + "\"", errno);
    }
    if (S_ISDIR(st.st_mode)) {
      std::string child_key = key_prefix + name + "/";
      if (descend(child_key)) {
        WalkFiles(JoinPath(path, name), child_key, descend, visit);
      }
    } else if (S_ISREG(st.st_mode)) {
      visit(WalkEntry{JoinPath(path, name), key_prefix + name, name,
                      static_cast<uint64_t>(st.st_size)});
    }
  }
}

// LocalObjectWriter writes one object through a temporary file.
class LocalObjectWriter final : public ObjectWriter {
 public:
  LocalObjectWriter(std::string final_path, std::string directory, std::string temp_path,
                    UniqueFd fd, bool durable, uint64_t keep_free, std::string keep_free_why)
      : durable_(durable),
        keep_free_(keep_free),
        keep_free_why_(std::move(keep_free_why)),
        final_path_(std::move(final_path)),
        directory_(std::move(directory)),
        temp_path_(std::move(temp_path)),
        fd_(std::move(fd)),
        buffer_(kWriteBufferSize) {}

  ~LocalObjectWriter() override {
    if (!finished_) {
      Abort();
    }
  }

  // Write buffers small writes and passes large ones straight to the file.
  void Write(const uint8_t* data, size_t size) override {
    CheckWritable();
    try {
      while (size > 0) {
        if (used_ == 0 && size >= buffer_.size()) {
          WriteAll(data, size);
          return;
        }
        size_t chunk = std::min(size, buffer_.size() - used_);
        std::memcpy(buffer_.data() + used_, data, chunk);
        used_ += chunk;
        data += chunk;
        size -= chunk;
        if (used_ == buffer_.size()) {
          Flush();
        }
      }
    } catch (...) {
      failed_ = true;
      throw;
    }
  }

  // Finish makes the object durable and then visible under its final name.
  void Finish() override {
    CheckWritable();
    try {
      Flush();
      if (durable_ && fsync(fd_.get()) != 0) {
        ThrowErrno("could not fsync file \"" + temp_path_ + "\"", errno);
      }
      if (close(fd_.Release()) != 0) {
        ThrowErrno("could not close file \"" + temp_path_ + "\"", errno);
      }
      if (rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
        ThrowErrno("could not rename file \"" + temp_path_ + "\" to \"" + final_path_ + "\"",
                   errno);
      }
    } catch (...) {
      failed_ = true;
      throw;
    }
    finished_ = true;
    if (!durable_) {
      return;
    }
    try {
      FsyncDirectory(directory_);
    } catch (...) {
      // Not durable means not committed: take the object back rather than
      // let a caller that saw an error find it later.
      unlink(final_path_.c_str());
      throw;
    }
  }

  // Abort closes and removes the temporary file; the final name is untouched.
  void Abort() noexcept override {
    fd_.Reset();
    if (!finished_ && !aborted_) {
      unlink(temp_path_.c_str());
    }
    aborted_ = true;
  }

 private:
  // CheckWritable refuses use after Finish, Abort or a failed write.
  void CheckWritable() const {
    if (finished_ || aborted_ || failed_ || !fd_.valid()) {
      throw Error(ErrorKind::kInternal,
                  "object writer for \"" + final_path_ + "\" used after finish, abort or failure");
    }
  }

  // Flush writes out the buffer.
  void Flush() {
    if (used_ > 0) {
      WriteAll(buffer_.data(), used_);
      used_ = 0;
    }
  }

  // CheckRoom refuses a write of size bytes that would take the file system
  // below the floor KeepFree set. One fstatvfs per write of up to a
  // megabyte: cheap next to the write itself.
  void CheckRoom(size_t size) {
    if (keep_free_ == 0)
      return;
    struct statvfs info;
    if (fstatvfs(fd_.get(), &info) != 0)
      ThrowErrno("could not read the free space of \"" + temp_path_ + "\"", errno);
    uint64_t available = static_cast<uint64_t>(info.f_bavail) * info.f_frsize;
    if (available >= keep_free_ && available - keep_free_ >= size)
      return;
    throw Error(ErrorKind::kDiskFull,
                "could not write file \"" + temp_path_ + "\": writing " + std::to_string(size) +
                    " more bytes would leave less than " + FormatBytes(keep_free_) +
                    " free on its file system (" + FormatBytes(available) + " available)",
                keep_free_why_);
  }

  // WriteAll writes every byte, retrying short writes and interruptions.
  void WriteAll(const uint8_t* data, size_t size) {
    CheckRoom(size);
    while (size > 0) {
      ssize_t written = ::write(fd_.get(), data, size);
      if (written < 0) {
        if (errno == EINTR) {
          continue;
        }
        ThrowErrno("could not write file \"" + temp_path_ + "\"", errno);
      }
      data += written;
      size -= static_cast<size_t>(written);
    }
  }

  bool durable_;
  uint64_t keep_free_;
  std::string keep_free_why_;
  std::string final_path_;
  std::string directory_;
  std::string temp_path_;
  UniqueFd fd_;
  std::vector<uint8_t> buffer_;
  size_t used_ = 0;
  bool finished_ = false;
  bool aborted_ = false;
  bool failed_ = false;
};

// LocalObjectReader reads one object file.
class LocalObjectReader final : public ObjectReader {
 public:
  LocalObjectReader(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}

  // Read returns up to capacity bytes; 0 at the end of the file.
  size_t Read(uint8_t* buffer, size_t capacity) override {
    while (true) {
      ssize_t got = ::read(fd_.get(), buffer, capacity);
      if (got >= 0) {
        return static_cast<size_t>(got);
      }
      if (errno != EINTR) {
        ThrowErrno("could not read file \"" + path_ + "\"", errno);
      }
    }
  }

 private:
  std::string path_;
  UniqueFd fd_;
};

}  // namespace

// LocalStorage makes the root absolute now, so Location() stays right even
// if the process later changes its working directory.
LocalStorage::LocalStorage(std::string root, Durability durability)
    : root_(std::move(root)), durability_(durability) {
  if (root_.empty()) {
    throw Error(ErrorKind::kInvalidParameter, "local storage path cannot be empty");
  }
  if (root_.front() != '/') {
    std::vector<char> cwd(4096);
    if (getcwd(cwd.data(), cwd.size()) == nullptr) {
      ThrowErrno("could not get the current directory", errno);
    }
    root_ = JoinPath(cwd.data(), root_);
  }
  while (root_.size() > 1 && root_.back() == '/') {
    root_.pop_back();
  }
}

// Create opens a new temporary file for key in key's final directory.
std::unique_ptr<ObjectWriter> LocalStorage::Create(const std::string& key) {
  ValidateKey(key);
  std::string final_path = JoinPath(root_, key);
  std::string directory = ParentOf(final_path);
  std::string name = final_path.substr(final_path.find_last_of('/') + 1);
  MakeDirectories(directory);
  std::string temp_path =
      JoinPath(directory, "." + name + kTemporaryMarker + std::to_string(getpid()));
  UniqueFd fd(open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    ThrowErrno("could not create file \"" + temp_path + "\"", errno);
  }
  // The umask may have taken owner bits away; a backup is readable by its
  // owner only, whatever the umask said.
  if (fchmod(fd.get(), 0600) != 0) {
    int fchmod_errno = errno;
    unlink(temp_path.c_str());
    ThrowErrno("could not set permissions of file \"" + temp_path + "\"", fchmod_errno);
  }
  try {
    return std::make_unique<LocalObjectWriter>(final_path, directory, temp_path, std::move(fd),
                                               durability_ == Durability::kDurable, keep_free_,
                                               keep_free_why_);
  } catch (...) {
    unlink(temp_path.c_str());
    throw;
  }
}

void LocalStorage::KeepFree(uint64_t bytes, std::string why) {
  keep_free_ = bytes;
  keep_free_why_ = std::move(why);
}

// Open returns a reader for an existing object.
std::unique_ptr<ObjectReader> LocalStorage::Open(const std::string& key) {
  ValidateKey(key);
  std::string path = JoinPath(root_, key);
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    ThrowErrno("could not open file \"" + path + "\"", errno);
  }
  return std::make_unique<LocalObjectReader>(path, std::move(fd));
}

// List walks only the directory the prefix names, not the whole root.
std::vector<ObjectInfo> LocalStorage::List(const std::string& prefix) {
  std::string start_key;
  size_t slash = prefix.find_last_of('/');
  if (slash != std::string::npos) {
    start_key = prefix.substr(0, slash);
    ValidateKey(start_key);
    start_key += "/";
  }
  std::vector<ObjectInfo> objects;
  auto descend = [&prefix](const std::string& child_key) {
    return child_key.compare(0, prefix.size(), prefix) == 0 ||
           prefix.compare(0, child_key.size(), child_key) == 0;
  };
  auto visit = [&prefix, &objects](const WalkEntry& entry) {
    if (TemporaryOwner(entry.name) < 0 && entry.key.compare(0, prefix.size(), prefix) == 0) {
      objects.push_back(ObjectInfo{entry.key, entry.size});
    }
  };
  WalkFiles(JoinPath(root_, start_key), start_key, descend, visit);
  std::sort(objects.begin(), objects.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return objects;
}

// Remove unlinks an object; an object that is already gone is fine.
void LocalStorage::Remove(const std::string& key) {
  ValidateKey(key);
  std::string path = JoinPath(root_, key);
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    ThrowErrno("could not remove file \"" + path + "\"", errno);
  }
}

// Location is the absolute path of key (the root itself for an empty key).
std::string LocalStorage::Location(const std::string& key) const {
  if (key.empty()) {
    return root_;
  }
  ValidateKey(key);
  return JoinPath(root_, key);
}

void LocalStorage::Tidy(const std::string& directory_key) {
  RemoveStaleTemporaries(directory_key);
  std::string path = Location(directory_key);
  if (rmdir(path.c_str()) != 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
    ThrowErrno("could not remove directory \"" + path + "\"", errno);
}

// RemoveEmptyDirectories also accepts the key of a directory itself (a set
// directory), which is removed first if it is empty.
void LocalStorage::RemoveEmptyDirectories(const std::string& key) {
  ValidateKey(key);
  std::string relative = key;
  while (!relative.empty()) {
    std::string path = JoinPath(root_, relative);
    if (rmdir(path.c_str()) != 0) {
      int rmdir_errno = errno;
      if (rmdir_errno == ENOTEMPTY || rmdir_errno == EEXIST) {
        return;
      }
      // ENOTDIR: key is an object, not a directory; ENOENT: already gone.
      if (rmdir_errno != ENOENT && rmdir_errno != ENOTDIR) {
        ThrowErrno("could not remove directory \"" + path + "\"", rmdir_errno);
      }
    }
    size_t slash = relative.find_last_of('/');
    relative = slash == std::string::npos ? std::string() : relative.substr(0, slash);
  }
}

// RemoveStaleTemporaries removes temporaries whose writer process is gone; a
// temporary of a live process (maybe another worker writing) is left alone.
int LocalStorage::RemoveStaleTemporaries(const std::string& directory_key) {
  std::string start_key;
  if (!directory_key.empty()) {
    ValidateKey(directory_key);
    start_key = directory_key + "/";
  }
  int removed = 0;
  auto descend = [](const std::string&) { return true; };
  auto visit = [&removed](const WalkEntry& entry) {
    pid_t owner = TemporaryOwner(entry.name);
    if (owner < 0 || ProcessAlive(owner)) {
      return;
    }
    if (unlink(entry.path.c_str()) == 0) {
      removed++;
    } else if (errno != ENOENT) {
      ThrowErrno("could not remove file \"" + entry.path + "\"", errno);
    }
  };
  WalkFiles(JoinPath(root_, start_key), start_key, descend, visit);
  return removed;
}

}  // namespace pgbak
