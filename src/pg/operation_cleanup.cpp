// operation_cleanup.cpp: removing what a failed or crashed backup left.

extern "C" {
#include "postgres.h"
}

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
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

// LogCleanupProblem reports a cleanup failure in the server log.
void LogCleanupProblem(int64_t id, const std::string& what, int errnum) {
  std::string message = what + ": " + std::strerror(errnum);
  PgCall([&] {
    ereport(WARNING,
            (errmsg("pgbak: cleanup of operation " INT64_FORMAT ": %s", id, message.c_str())));
  });
}

}  // namespace

// RemovePartialSet removes the objects of the set at location.
void RemovePartialSet(int64_t id, const std::string& location) {
  if (location.empty() || location[0] != '/')
    return;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(location.c_str()), closedir);
  if (!dir) {
    if (errno != ENOENT)
      LogCleanupProblem(id, "could not open " + location, errno);
    return;
  }
  std::vector<std::string> names;
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
  std::vector<std::string> ordered;
  for (const std::string& name : names)
    if (name == kManifestObject)
      ordered.push_back(name);
  for (const std::string& name : names)
    if (name != kManifestObject)
      ordered.push_back(name);
  for (const std::string& name : ordered) {
    std::string path = location + "/" + name;
    if (unlink(path.c_str()) != 0 && errno != ENOENT)
      LogCleanupProblem(id, "could not remove " + path, errno);
  }
  if (rmdir(location.c_str()) != 0 && errno != ENOENT && errno != ENOTEMPTY)
    LogCleanupProblem(id, "could not remove directory " + location, errno);
}

}  // namespace pgbak
