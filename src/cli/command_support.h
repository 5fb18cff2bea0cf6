// command_support.h: what the commands of pgbak share: the storage the
// command line names, stopping on a signal, the progress line on a
// terminal, the errors of steps on this machine, PostgreSQL's client
// tools, and small file chores.
#pragma once

#include <sys/time.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/cli_args.h"
#include "cli/commands.h"
#include "core/archive/set_reader.h"
#include "core/base/error.h"
#include "core/pipeline/sink.h"
#include "core/storage/storage.h"

namespace pgbak::cli {

// ThrowIfStopped ends the command (kCancelled) once a stop signal came.
void ThrowIfStopped();

// ReadWholeFile reads a small file named on the command line.
std::string ReadWholeFile(const std::string& path, const std::string& what);

// OpenCliStorage opens the storage the command line names.
std::unique_ptr<Storage> OpenCliStorage(const Arguments& args);

// OpenSource opens the storage with the identities of --identity (else of
// the options file's age_identity_file).
SourceStorage OpenSource(const Arguments& args);

// Progress is the progress line on a terminal: bytes, rate, time left.
class Progress {
 public:
  Progress(bool enabled, uint64_t total, std::string verb)
      : enabled_(enabled), total_(total), verb_(std::move(verb)) {
    gettimeofday(&start_, nullptr);
  }
  ~Progress() { Clear(); }
  void Add(size_t bytes) {
    ThrowIfStopped();
    done_ += bytes;
    if (!enabled_)
      return;
    double now = Elapsed();
    if (now - drawn_at_ < 0.25 && done_ < total_)
      return;
    drawn_at_ = now;
    double rate = now > 0 ? done_ / now : 0;
    std::string eta = "-";
    if (rate > 0 && total_ > done_) {
      long seconds = static_cast<long>((total_ - done_) / rate);
      char text[32];
      std::snprintf(text, sizeof text, "%ld:%02ld", seconds / 60, seconds % 60);
      eta = text;
    }
    std::fprintf(stderr, "\r%s %s of %s, %s/s, %s left   ", verb_.c_str(), Size(done_).c_str(),
                 Size(total_).c_str(), Size(static_cast<uint64_t>(rate)).c_str(), eta.c_str());
    std::fflush(stderr);
    shown_ = true;
  }
  void Clear() {
    if (shown_)
      std::fprintf(stderr, "\r%*s\r", 72, "");
    shown_ = false;
  }
  double Elapsed() const {
    struct timeval now;
    gettimeofday(&now, nullptr);
    return (now.tv_sec - start_.tv_sec) + (now.tv_usec - start_.tv_usec) / 1e6;
  }

 private:
  static std::string Size(uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1024 && unit < 4) {
      value /= 1024;
      unit++;
    }
    char text[32];
    std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
    return text;
  }

  bool enabled_;
  uint64_t total_;
  uint64_t done_ = 0;
  std::string verb_;
  struct timeval start_;
  double drawn_at_ = -1;
  bool shown_ = false;
};

// OnThisMachine runs a step that works on local files: its I/O errors are
// this machine's, not the storage's (exit 1, not 5).
template <typename Step>
auto OnThisMachine(Step step) {
  try {
    return step();
  } catch (const CliFailure&) {
    throw;
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kIo)
      throw CliFailure(e);
    throw;
  }
}

// ToolPath finds a PostgreSQL client program: beside pgbak (which is
// installed into PostgreSQL's bin directory), else in PATH.
std::string ToolPath(const std::string& tool);

// RunTool runs a client tool to completion, its output into output (or
// nowhere); kChildFailed with its error output if it fails. A stop signal
// stops it.
void RunTool(const std::string& tool, std::vector<std::string> args, Sink* output = nullptr);

// SyncFile makes a written file durable.
void SyncFile(const std::string& path);

// RequireEmpty throws kInvalidParameter ("<what> \"<directory>\" is not
// empty", with hint) if the existing directory holds anything.
void RequireEmpty(const std::string& directory, const std::string& what, const std::string& hint);

}  // namespace pgbak::cli
