// age.h: age file encryption (age-encryption.org/v1) as pipeline stages.
//
// A backup is encrypted to X25519 public keys ("age1..."), so the server only
// ever holds public keys and a stolen server cannot read old backups; an
// scrypt passphrase is the alternative. The output is the standard age format,
// byte for byte what the stock `age` tool reads and writes, so a restore never
// depends on this extension.
//
// The format: a text header ("age-encryption.org/v1", one stanza per
// recipient wrapping a random 16-byte file key, and an HMAC of the header
// under a key derived from the file key), then the payload: a 16-byte nonce
// and the plaintext in 64 KiB chunks, each sealed with ChaCha20-Poly1305 under
// a key derived from the file key and the nonce, with the chunk number and a
// last-chunk flag as the AEAD nonce (STREAM). Chunks cannot be reordered,
// dropped, duplicated or cut off without decryption failing.
//
// Secrets (identities, passphrases, file and wrap keys) are wiped from memory
// when they are no longer needed and never appear in error messages.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/pipeline/sink.h"

namespace pgbak {

// kAgeDefaultWorkFactor is log2 of the scrypt cost for passphrase encryption:
// 18 is what `age -p` uses (about a second and 256 MiB).
constexpr int kAgeDefaultWorkFactor = 18;
// kAgeMaxWorkFactor is the highest work factor we encrypt with or can be
// allowed to decrypt: the stock age tool refuses anything above 22.
constexpr int kAgeMaxWorkFactor = 22;
// kAgeDefaultMaxWorkFactor bounds the scrypt work a file may demand when it is
// decrypted: the work factor comes from the (untrusted) file and scrypt needs
// 2^N KiB of memory, so a forged header could otherwise make a server process
// allocate gigabytes. 20 (1 GiB) leaves room above age's own default of 18.
constexpr int kAgeDefaultMaxWorkFactor = 20;

// AgeRecipient is an X25519 public key: whom a file is encrypted to.
struct AgeRecipient {
  std::array<uint8_t, 32> public_key{};

  // Parse reads the "age1..." form (Bech32, lower or upper case). Throws
  // kInvalidParameter with a hint if the text is not an X25519 recipient
  // (including when it is a secret key pasted by mistake: the message then
  // says so and never repeats it).
  static AgeRecipient Parse(std::string_view text);
  // ToString is the canonical lowercase "age1..." form.
  std::string ToString() const;

  bool operator==(const AgeRecipient& other) const { return public_key == other.public_key; }
  bool operator!=(const AgeRecipient& other) const { return !(*this == other); }
};

// AgeIdentity is an X25519 secret key: what decrypts a file. The key is wiped
// when the object is destroyed.
class AgeIdentity {
 public:
  // Parse reads one "AGE-SECRET-KEY-1..." identity (either case). Throws
  // kInvalidParameter; the message never quotes the text.
  static AgeIdentity Parse(std::string_view text);
  // Generate makes a new identity from the system's CSPRNG.
  static AgeIdentity Generate();

  AgeIdentity(const AgeIdentity& other) = default;
  AgeIdentity& operator=(const AgeIdentity& other) = default;
  ~AgeIdentity();

  // ToString is the secret in age-keygen's form, "AGE-SECRET-KEY-1..." in
  // uppercase. The caller owns a copy of the secret from then on.
  std::string ToString() const;
  // Recipient is the matching public key.
  AgeRecipient Recipient() const;
  // secret_key is the raw X25519 scalar.
  const std::array<uint8_t, 32>& secret_key() const { return secret_key_; }

 private:
  AgeIdentity() = default;
  std::array<uint8_t, 32> secret_key_{};
};

// ParseAgeIdentities reads an identity file as age-keygen writes it: one
// identity per line, '#' comments and blank lines ignored (CRLF and spaces
// around a line tolerated). Only X25519 identities are supported; plugin
// identities are refused. Throws kInvalidParameter naming the line number
// (never its content), or if the file holds no identity at all.
std::vector<AgeIdentity> ParseAgeIdentities(std::string_view contents);

// AgeKeyPair is a generated identity and its recipient, in text form.
struct AgeKeyPair {
  std::string identity;   // "AGE-SECRET-KEY-1...", a secret
  std::string recipient;  // "age1..."
};

// AgeGenerateIdentity makes a new key pair, as `age-keygen` does (tests and
// tools; the identity string is an unwiped copy of the secret).
AgeKeyPair AgeGenerateIdentity();

// AgeEncryptSink writes an age file of its input into next: the header on the
// first Write or at Finish, then sealed 64 KiB chunks. It buffers one chunk.
// Finish seals the last chunk (possibly short, empty only if the whole input
// was empty) and then finishes next.
class AgeEncryptSink : public Sink {
 public:
  // To X25519 recipients (at least one; throws kInvalidParameter if none).
  AgeEncryptSink(Sink& next, const std::vector<AgeRecipient>& recipients);
  // To a passphrase (scrypt, work factor 1..kAgeMaxWorkFactor; throws
  // kInvalidParameter for an empty passphrase or a work factor out of range).
  // The key derivation runs here, in the constructor. Files above
  // kAgeDefaultMaxWorkFactor need a raised limit to be decrypted here.
  AgeEncryptSink(Sink& next, std::string_view passphrase, int work_factor = kAgeDefaultWorkFactor);
  ~AgeEncryptSink() override;
  AgeEncryptSink(const AgeEncryptSink&) = delete;
  AgeEncryptSink& operator=(const AgeEncryptSink&) = delete;

  void Write(const uint8_t* data, size_t size) override;
  void Finish() override;

 private:
  struct State;
  std::unique_ptr<State> state_;
  Sink& next_;
};

// AgeDecryptSink writes the plaintext of an age file written into it into
// next. Input may arrive in pieces of any size (one byte at a time works).
//
// The header is parsed as it arrives; at its end the file key is unwrapped
// with the first identity that matches a stanza and the header MAC is checked,
// before anything is written to next. Each chunk is authenticated before its
// plaintext is passed on. Because a stream cannot be checked before it ends,
// plaintext reaches next before the end is known to be intact: a truncated
// file is only detected at Finish, which then throws without finishing next.
// Consumers must treat what they received as unverified until Finish returns.
//
// Errors: kCorrupt for anything malformed, tampered with, truncated or
// followed by trailing data; kInvalidParameter "no identity matches any
// recipient of this file" when the keys given do not open the header, and for
// an scrypt work factor above the limit. After an error the sink refuses
// further use.
class AgeDecryptSink : public Sink {
 public:
  // With X25519 identities (at least one; throws kInvalidParameter if none).
  AgeDecryptSink(Sink& next, std::vector<AgeIdentity> identities);
  // With a passphrase; files asking for a scrypt work factor above
  // max_work_factor (1..kAgeMaxWorkFactor, else kInvalidParameter) are
  // refused before any scrypt work is done.
  AgeDecryptSink(Sink& next, std::string_view passphrase,
                 int max_work_factor = kAgeDefaultMaxWorkFactor);
  ~AgeDecryptSink() override;
  AgeDecryptSink(const AgeDecryptSink&) = delete;
  AgeDecryptSink& operator=(const AgeDecryptSink&) = delete;

  void Write(const uint8_t* data, size_t size) override;
  void Finish() override;

 private:
  struct State;
  std::unique_ptr<State> state_;
  Sink& next_;
};

}  // namespace pgbak
