// sink.h: the push-model byte stream that every pipeline stage implements.
//
// A backup is a chain of sinks: bytes from pg_dump are written into the first
// one, each stage transforms or observes them and writes into the next, and
// the last one is a storage object. Finish() flushes a stage and then finishes
// the next, so finishing the head of the chain commits the whole chain.
// Buffers are bounded in every stage: memory does not grow with the stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pgbak {

// Sink accepts a stream of bytes.
class Sink {
 public:
  virtual ~Sink() = default;
  // Write consumes size bytes; it may block until the next stage accepts them.
  virtual void Write(const uint8_t* data, size_t size) = 0;
  // Finish flushes everything buffered and finishes the next stage; no Write
  // may follow.
  virtual void Finish() = 0;
};

// NullSink counts and drops what it is given.
class NullSink : public Sink {
 public:
  void Write(const uint8_t*, size_t size) override { bytes_ += size; }
  void Finish() override {}
  uint64_t bytes() const { return bytes_; }

 private:
  uint64_t bytes_ = 0;
};

// StringSink collects the stream in memory (tests, small objects).
class StringSink : public Sink {
 public:
  void Write(const uint8_t* data, size_t size) override {
    contents_.append(reinterpret_cast<const char*>(data), size);
  }
  void Finish() override { finished_ = true; }
  const std::string& contents() const { return contents_; }
  bool finished() const { return finished_; }

 private:
  std::string contents_;
  bool finished_ = false;
};

// WriteString writes a whole string into a sink.
inline void WriteString(Sink& sink, const std::string& text) {
  sink.Write(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

}  // namespace pgbak
