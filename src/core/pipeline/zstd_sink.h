// zstd_sink.h: streaming zstd compression and decompression stages.
//
// Compression may run libzstd worker threads; they are created with every
// signal blocked so that PostgreSQL's signal handlers only ever run on the
// process's main thread.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "core/pipeline/sink.h"

namespace pgbak {

// ZstdCompressSink writes one zstd frame of its input into next.
class ZstdCompressSink : public Sink {
 public:
  // level: 1..19 (negative fast levels allowed); threads: 0 = single-threaded.
  ZstdCompressSink(Sink& next, int level, int threads);
  ~ZstdCompressSink() override;
  void Write(const uint8_t* data, size_t size) override;
  void Finish() override;

  // SetInterruptCheck installs a callable that is run between compression
  // steps and may throw to abandon the stream: at high levels a flush can
  // take seconds, and a cancel must not wait for all of it.
  void SetInterruptCheck(std::function<void()> check);

 private:
  struct State;
  std::unique_ptr<State> state_;
  Sink& next_;
};

// ZstdDecompressSink writes the decompressed content of its input into next;
// Finish() fails if the input ended in the middle of a frame.
class ZstdDecompressSink : public Sink {
 public:
  explicit ZstdDecompressSink(Sink& next);
  ~ZstdDecompressSink() override;
  void Write(const uint8_t* data, size_t size) override;
  void Finish() override;

 private:
  struct State;
  std::unique_ptr<State> state_;
  Sink& next_;
};

}  // namespace pgbak
