// operation_cleanup.cpp: removing what a failed, crashed or expired backup
// left in storage.

extern "C" {
#include "postgres.h"
}

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/set_layout.h"
#include "pg/boundary.h"
#include "pg/operation_cleanup.h"
#include "pg/settings.h"

namespace pgbak {

namespace {

// kObjectNames are the files a backup set may contain.
const char* const kObjectNames[] = {kDataObjectCustom, kDataObjectPlain, kGlobalsObject,
                                    kManifestObject};

// IsOurFile says whether a file name in a set directory is one a backup
// writes: an object, or a writer's temporary ".<object>.partial-<pid>".
bool IsOurFile(const std::string& name) {
  for (const char* object : kObjectNames) {
    if (name == object)
      return true;
    std::string prefix = std::string(".") + object + ".partial-";
    if (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
        std::all_of(name.begin() + prefix.size(), name.end(),
                    [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      return true;
  }
  return false;
}

}  // namespace

// IsSetLocation says whether location is operation id's set directory.
bool IsSetLocation(int64_t id, const std::string& location) {
  std::string root = LocalStorageRoot();
  while (root.size() > 1 && root.back() == '/')
    root.pop_back();
  if (location.compare(0, root.size() + 1, root + "/") != 0)
    return false;
  // Exactly three components below the root, none of them "." or "..".
  std::string rest = location.substr(root.size() + 1);
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= rest.size()) {
    size_t slash = rest.find('/', start);
    if (slash == std::string::npos)
      slash = rest.size();
    parts.push_back(rest.substr(start, slash - start));
    start = slash + 1;
  }
  if (parts.size() != 3)
    return false;
  for (const std::string& part : parts)
    if (part.empty() || part == "." || part == "..")
      return false;
  std::string suffix = "-" + std::to_string(id);
  const std::string& leaf = parts[2];
  return leaf.size() > suffix.size() &&
         leaf.compare(leaf.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// RemovePartialSet removes the objects of the set at location, logging problems.
void RemovePartialSet(int64_t id, const std::string& location) {
  if (location.empty())
    return;
  std::string error;
  if (RemoveSetObjects(id, location, error))
    return;
  PgCall([&] {
    ereport(WARNING,
            (errmsg("pgbak: cleanup of operation " INT64_FORMAT ": %s", id, error.c_str())));
  });
}

// RemoveSetObjects removes every object of the set at location.
bool RemoveSetObjects(int64_t id, const std::string& location, std::string& error) {
  auto fail = [&](const std::string& what, int errnum) {
    error = what + ": " + std::strerror(errnum);
    return false;
  };
  if (!IsSetLocation(id, location)) {
    error = "refusing to remove \"" + location + "\": not the set directory of operation " +
            std::to_string(id) + " below pgbak.local_path";
    return false;
  }
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(location.c_str()), closedir);
  if (!dir) {
    if (errno == ENOENT)
      return true;
    return fail("could not open directory \"" + location + "\"", errno);
  }
  std::vector<std::string> names;
  while (struct dirent* entry = readdir(dir.get())) {
    std::string name = entry->d_name;
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
