// free_space.h: how much room a local storage's file system has, and which
// file system that is.
//
// A local storage can share its file system with the data directory (the
// default pgbak.local_path sits beside it): a backup must then never be the
// thing that fills the disk PostgreSQL needs. These are the facts such a
// check is made of; the policy (how much to keep) belongs to the caller.
#pragma once

#include <cstdint>
#include <string>

namespace pgbak {

// FileSystemSpace is what stat and statvfs say of the file system that
// holds a path.
struct FileSystemSpace {
  std::string probed;      // the path examined: the path itself or its nearest existing ancestor
  uint64_t device = 0;     // st_dev: equal devices, same file system
  uint64_t available = 0;  // bytes an unprivileged writer may still use (f_bavail)
  uint64_t size = 0;       // the file system's size in bytes
};

// SpaceAt examines path or, if it does not exist yet (a storage root is
// created on first write), its nearest existing ancestor, following
// symbolic links as a write would. Throws kIo if nothing can be examined.
FileSystemSpace SpaceAt(const std::string& path);

// FormatBytes renders a byte count for messages: "1572864 bytes (1.5 MB)",
// in PostgreSQL's units (1 MB = 1024 kB = 1048576 bytes).
std::string FormatBytes(uint64_t bytes);

}  // namespace pgbak
