// test_util.h: helpers shared by the unit tests (temporary directories, files,
// running stock command-line tools for cross-checks).
#pragma once

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace pgbak::test {

// TempDir creates a private directory (in parent) and removes it with
// everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& parent = "/tmp") {
    std::string pattern = parent + "/pgbak_unit_XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (mkdtemp(buffer.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    path_ = buffer.data();
  }
  ~TempDir() {
    nftw(
        path_.c_str(),
        [](const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }, 16,
        FTW_DEPTH | FTW_PHYS);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Join(const std::string& relative) const { return path_ + "/" + relative; }

 private:
  std::string path_;
};

// ReadFile returns a whole file's contents.
inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read " + path);
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// WriteFile replaces a file's contents.
inline void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  if (!out) {
    throw std::runtime_error("cannot write " + path);
  }
}

// RunShell runs a shell command (tests only) and returns its stdout; the
// exit status goes to *status if given.
inline std::string RunShell(const std::string& command, int* status = nullptr) {
  struct PipeCloser {
    void operator()(FILE* f) const {
      if (f != nullptr) {
        pclose(f);
      }
    }
  };
  FILE* raw = popen(command.c_str(), "r");
  if (raw == nullptr) {
    throw std::runtime_error("popen failed: " + command);
  }
  std::string output;
  char buffer[4096];
  size_t got;
  while ((got = fread(buffer, 1, sizeof(buffer), raw)) > 0) {
    output.append(buffer, got);
  }
  int result = pclose(raw);
  if (status != nullptr) {
    *status = WIFEXITED(result) ? WEXITSTATUS(result) : -1;
  }
  return output;
}

// Sha256Sum is the first field of the stock sha256sum tool's output.
inline std::string Sha256Sum(const std::string& path) {
  std::string output = RunShell("sha256sum '" + path + "'");
  return output.substr(0, output.find(' '));
}

// Bytes views a string as the byte pointer the sinks take.
inline const uint8_t* Bytes(const std::string& text) {
  return reinterpret_cast<const uint8_t*>(text.data());
}

}  // namespace pgbak::test
