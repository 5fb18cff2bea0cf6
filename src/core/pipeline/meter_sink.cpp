// meter_sink.cpp: byte counting and SHA-256 (OpenSSL EVP) for the pipeline.
//
// The stored object's checksum is computed on the bytes as they pass to the
// storage driver, so it is the checksum of exactly what was stored, without
// reading the object back.
#include "core/pipeline/meter_sink.h"

#include <openssl/evp.h>

#include "core/base/error.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

struct EvpMdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

}  // namespace

struct Sha256::State {
  std::unique_ptr<EVP_MD_CTX, EvpMdCtxDeleter> ctx;
  bool finished = false;
};

// Sha256 starts a new digest; throws kInternal if libcrypto cannot.
Sha256::Sha256() : state_(std::make_unique<State>()) {
  state_->ctx.reset(EVP_MD_CTX_new());
  if (!state_->ctx || EVP_DigestInit_ex(state_->ctx.get(), EVP_sha256(), nullptr) != 1) {
    throw Error(ErrorKind::kInternal, "could not initialize SHA-256 digest");
  }
}

Sha256::~Sha256() = default;

// Update adds bytes to the digest.
void Sha256::Update(const uint8_t* data, size_t size) {
  if (state_->finished) {
    throw Error(ErrorKind::kInternal, "SHA-256 digest updated after it was finished");
  }
  if (size > 0 && EVP_DigestUpdate(state_->ctx.get(), data, size) != 1) {
    throw Error(ErrorKind::kInternal, "could not update SHA-256 digest");
  }
}

// HexDigest finishes the digest and renders it as lowercase hex.
std::string Sha256::HexDigest() {
  if (state_->finished) {
    throw Error(ErrorKind::kInternal, "SHA-256 digest finished twice");
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(state_->ctx.get(), digest, &length) != 1) {
    throw Error(ErrorKind::kInternal, "could not finish SHA-256 digest");
  }
  state_->finished = true;
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; i++) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xf]);
  }
  return hex;
}

MeterSink::MeterSink(Sink& next, bool hash)
    : next_(next), sha_(hash ? std::make_unique<Sha256>() : nullptr) {}

// Write observes the bytes and passes them on unchanged.
void MeterSink::Write(const uint8_t* data, size_t size) {
  if (sha_) {
    sha_->Update(data, size);
  }
  bytes_ += size;
  next_.Write(data, size);
}

// Finish fixes the digest before finishing the next stage, so the digest is
// known even if the caller only looks at it after a successful commit.
void MeterSink::Finish() {
  if (sha_) {
    sha256_hex_ = sha_->HexDigest();
  }
  next_.Finish();
}

}  // namespace pgbak
