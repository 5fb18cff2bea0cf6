// free_space.cpp: stat and statvfs of the file system below a path.
#include "core/storage/local/free_space.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "core/base/error.h"
#include "core/base/no_postgres.h"

namespace pgbak {

// SpaceAt climbs from path to the first component that exists: a missing
// directory will be created on the file system of its existing parent.
FileSystemSpace SpaceAt(const std::string& path) {
  if (path.empty() || path.front() != '/')
    throw Error(ErrorKind::kInternal, "free space asked of a relative path \"" + path + "\"");
  std::string probed = path;
  while (true) {
    struct stat st;
    if (stat(probed.c_str(), &st) == 0) {
      struct statvfs info;
      if (statvfs(probed.c_str(), &info) != 0)
        ThrowErrno("could not read the free space of \"" + probed + "\"", errno);
      FileSystemSpace space;
      space.probed = probed;
      space.device = static_cast<uint64_t>(st.st_dev);
      space.available = static_cast<uint64_t>(info.f_bavail) * info.f_frsize;
      space.size = static_cast<uint64_t>(info.f_blocks) * info.f_frsize;
      return space;
    }
    int stat_errno = errno;
    if (stat_errno != ENOENT || probed == "/")
      ThrowErrno("could not stat \"" + probed + "\"", stat_errno);
    size_t slash = probed.find_last_of('/');
    probed = slash == 0 ? "/" : probed.substr(0, slash);
  }
}

// FormatBytes gives the exact count and a rounded one in PostgreSQL's units
// (pg_size_pretty's: 1 kB is 1024 bytes), the units of pgbak.local_reserve.
std::string FormatBytes(uint64_t bytes) {
  static const char* const kUnits[] = {"kB", "MB", "GB", "TB", "PB"};
  std::string text = std::to_string(bytes) + " bytes";
  if (bytes < 1024)
    return text;
  double value = static_cast<double>(bytes);
  int unit = -1;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    unit++;
  }
  char rounded[32];
  std::snprintf(rounded, sizeof(rounded), " (%.1f %s)", value, kUnits[unit]);
  return text + rounded;
}

}  // namespace pgbak
