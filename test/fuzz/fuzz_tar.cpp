// fuzz_tar.cpp: libFuzzer harness for the tar reader of point-in-time
// recovery (src/core/recovery/tar_extract.cpp), which unpacks what a
// storage gives back into a new data directory.
//
// Every input is unpacked, in pieces of varying size, into a fresh
// directory "target" inside a scratch directory. Properties:
//   - only a kCorrupt Error (what the archive holds is refused) or a kIo
//     one (a name the file system refuses, such as one too long) is thrown;
//   - nothing is ever created beside "target" in the scratch directory
//     (no entry escaped), whatever the input;
//   - every symbolic link inside "target" points inside it, and nothing but
//     regular files, directories and such links is there.
#include <dirent.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/error.h"
#include "core/recovery/tar_extract.h"
#include "fuzz_util.h"

namespace pgbak {
namespace {

using fuzz::Check;

// g_target is the target directory of the input being checked (nftw's
// callback takes no context).
std::string g_target;

// CheckEntry checks one entry below the target.
int CheckEntry(const char* path, const struct stat* st, int, struct FTW*) {
  if (S_ISLNK(st->st_mode)) {
    char link[4096];
    ssize_t n = readlink(path, link, sizeof link - 1);
    Check(n > 0, "a link that cannot be read");
    std::string relative = std::string(path).substr(g_target.size() + 1);
    Check(SymlinkStaysInside(relative, std::string(link, static_cast<size_t>(n))),
          std::string("a link points outside: ") + path);
  } else {
    Check(S_ISREG(st->st_mode) || S_ISDIR(st->st_mode),
          std::string("neither file, directory nor link: ") + path);
  }
  return 0;
}

int RemoveEntry(const char* path, const struct stat*, int, struct FTW*) {
  return ::remove(path);
}

}  // namespace
}  // namespace pgbak

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pgbak;
  char pattern[] = "/tmp/pgbak_fuzz_tar_XXXXXX";
  if (mkdtemp(pattern) == nullptr)
    return 0;
  std::string scratch = pattern;
  g_target = scratch + "/target";
  mkdir(g_target.c_str(), 0700);
  std::string_view input(reinterpret_cast<const char*>(data), size);
  try {
    TarExtractSink sink(g_target);
    fuzz::WriteInPieces(sink, input, fuzz::PatternOf(input));
    sink.Finish();
  } catch (const Error& e) {
    fuzz::Check(e.kind() == ErrorKind::kCorrupt || e.kind() == ErrorKind::kIo,
                std::string("unexpected error kind: ") + e.what());
  }
  // Nothing beside the target.
  DIR* dir = opendir(scratch.c_str());
  fuzz::Check(dir != nullptr, "the scratch directory is gone");
  while (struct dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    fuzz::Check(name == "." || name == ".." || name == "target",
                "an entry escaped the target: " + name);
  }
  closedir(dir);
  nftw(g_target.c_str(), CheckEntry, 16, FTW_PHYS);
  nftw(scratch.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}
