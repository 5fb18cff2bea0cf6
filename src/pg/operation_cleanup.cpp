// operation_cleanup.cpp: removing what a failed or crashed backup left.

extern "C" {
#include "postgres.h"
}

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/set_layout.h"
#include "pg/boundary.h"
#include "pg/operation_cleanup.h"

namespace pgbak {

namespace {

// IsOurFile says whether a file name in a set directory is one we write:
// a known object name or a hidden temporary of a writer.
bool IsOurFile(const std::string& name) {
  return name == kDataObjectCustom || name == kDataObjectPlain || name == kGlobalsObject ||
         name == kManifestObject || (name.size() > 1 && name[0] == '.' && name != "..");
}

}  // namespace

// RemovePartialSet removes the objects of the set at location, logging problems.
void RemovePartialSet(int64_t id, const std::string& location) {
  std::string error;
  if (RemoveSetObjects(location, error))
    return;
  PgCall([&] {
    ereport(WARNING,
            (errmsg("pgbak: cleanup of operation " INT64_FORMAT ": %s", id, error.c_str())));
  });
}

// RemoveSetObjects removes every object of the set at location.
bool RemoveSetObjects(const std::string& location, std::string& error) {
  auto fail = [&](const std::string& what, int errnum) {
    error = what + ": " + std::strerror(errnum);
    return false;
  };
  if (location.empty() || location[0] != '/') {
    error = "not a local set location: \"" + location + "\"";
    return false;
  }
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(location.c_str()), closedir);
  if (!dir) {
    if (errno == ENOENT)
      return true;
    return fail("could not open directory \"" + location + "\"", errno);
  }
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* entry = readdir(dir.get())) {
    std::string name = entry->d_name;
    if (name == "." || name == "..")
      continue;
    if (IsOurFile(name))
      names.push_back(name);
  }
  dir.reset();
  // The manifest goes first: once it is gone the set no longer looks
  // complete, even if removing the rest fails half way.
  std::stable_partition(names.begin(), names.end(),
                        [](const std::string& name) { return name == kManifestObject; });
  for (const std::string& name : names) {
    std::string path = location + "/" + name;
    if (unlink(path.c_str()) != 0 && errno != ENOENT)
      return fail("could not remove file \"" + path + "\"", errno);
  }
  if (rmdir(location.c_str()) != 0 && errno != ENOENT)
    return fail("could not remove directory \"" + location + "\"", errno);
  return true;
}

}  // namespace pgbak
