// meter_sink.h: a pass-through stage that counts bytes and, optionally,
// computes their SHA-256 (OpenSSL libcrypto), plus a stand-alone Sha256.
#pragma once

#include <memory>
#include <string>

#include "core/pipeline/sink.h"

namespace pgbak {

// Sha256 hashes a stream incrementally.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const uint8_t* data, size_t size);
  // HexDigest finishes the hash and returns 64 lowercase hex digits; call once.
  std::string HexDigest();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// MeterSink counts (and optionally hashes) the bytes that pass to next.
class MeterSink : public Sink {
 public:
  MeterSink(Sink& next, bool hash);
  void Write(const uint8_t* data, size_t size) override;
  void Finish() override;
  uint64_t bytes() const { return bytes_; }
  // sha256_hex is the digest of everything written; valid after Finish().
  const std::string& sha256_hex() const { return sha256_hex_; }

 private:
  Sink& next_;
  std::unique_ptr<Sha256> sha_;
  uint64_t bytes_ = 0;
  std::string sha256_hex_;
};

}  // namespace pgbak
