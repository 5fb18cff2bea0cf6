// age.cpp: age-encryption.org/v1 (c2sp.org/age) on OpenSSL's libcrypto.
//
// Primitives: X25519 (EVP_PKEY), HKDF-SHA-256 (EVP_KDF), HMAC-SHA-256,
// ChaCha20-Poly1305 (EVP_chacha20_poly1305), scrypt (EVP_PBE_scrypt) and the
// system CSPRNG (RAND_bytes). Base64 is written here rather than taken from
// OpenSSL, because age uses unpadded base64 and the spec requires rejecting
// non-canonical encodings, which EVP_DecodeBlock accepts.
//
// The decryptor is a small state machine: header lines, then the 16-byte
// payload nonce, then chunks. It keeps at most one header (bounded) or one
// sealed chunk in memory.
#include "core/crypto/age.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "core/base/error.h"
#include "core/crypto/bech32.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

constexpr char kVersionLine[] = "age-encryption.org/v1";
constexpr char kVersionPrefix[] = "age-encryption.org/";
constexpr char kX25519Label[] = "age-encryption.org/v1/X25519";
constexpr char kScryptLabel[] = "age-encryption.org/v1/scrypt";
constexpr char kRecipientHrp[] = "age";
constexpr char kIdentityHrp[] = "age-secret-key-";

constexpr size_t kFileKeySize = 16;
constexpr size_t kKeySize = 32;
constexpr size_t kTagSize = 16;
constexpr size_t kNonceSize = 16;
constexpr size_t kScryptSaltSize = 16;
constexpr size_t kChunkSize = 64 * 1024;
constexpr size_t kSealedChunkSize = kChunkSize + kTagSize;
constexpr size_t kColumns = 64;
// kMaxHeaderSize bounds the header a decryptor buffers: real headers are a
// few hundred bytes per recipient, and a file that is not age at all must not
// make us buffer it whole looking for the end of a header.
constexpr size_t kMaxHeaderSize = 1 << 20;
// kMaxStanzas bounds the stanzas a header may hold, so that the X25519 work a
// forged header can cause stays bounded.
constexpr size_t kMaxStanzas = 1024;

// Secret is a fixed-size buffer of key material, wiped when it goes away.
template <size_t N>
struct Secret {
  std::array<uint8_t, N> bytes{};
  Secret() = default;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  ~Secret() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
  uint8_t* data() { return bytes.data(); }
  const uint8_t* data() const { return bytes.data(); }
  static constexpr size_t size() { return N; }
};

// WipeString clears a string that held a secret before it is freed.
void WipeString(std::string& text) {
  if (!text.empty()) {
    OPENSSL_cleanse(&text[0], text.size());
  }
  text.clear();
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
struct KdfDeleter {
  void operator()(EVP_KDF* kdf) const { EVP_KDF_free(kdf); }
};
struct KdfCtxDeleter {
  void operator()(EVP_KDF_CTX* ctx) const { EVP_KDF_CTX_free(ctx); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

// CryptoFailure is the exception for a libcrypto call that should not fail.
Error CryptoFailure(const char* what) {
  return Error(ErrorKind::kInternal, std::string("libcrypto failure: ") + what);
}

// Corrupt is the exception for a file that is malformed or was tampered with.
Error Corrupt(const std::string& message, std::string detail = {}) {
  return Error(ErrorKind::kCorrupt, message, std::move(detail));
}

// MalformedHeader is a Corrupt error for a header that does not parse.
Error MalformedHeader(const std::string& reason) {
  return Corrupt("malformed age header", reason);
}

// RandomBytes fills a buffer from the CSPRNG.
void RandomBytes(uint8_t* out, size_t size) {
  if (RAND_bytes(out, static_cast<int>(size)) != 1) {
    throw CryptoFailure("RAND_bytes");
  }
}

// --- base64 without padding, canonical only ---------------------------------

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Base64Value is the 6-bit value of a base64 character, or -1.
int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

// Base64Encode is RFC 4648 base64 without '=' padding.
std::string Base64Encode(const uint8_t* data, size_t size) {
  std::string text;
  text.reserve((size * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    uint32_t group = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    text.push_back(kBase64Alphabet[(group >> 18) & 63]);
    text.push_back(kBase64Alphabet[(group >> 12) & 63]);
    text.push_back(kBase64Alphabet[(group >> 6) & 63]);
    text.push_back(kBase64Alphabet[group & 63]);
  }
  if (size - i == 1) {
    uint32_t group = uint32_t{data[i]} << 16;
    text.push_back(kBase64Alphabet[(group >> 18) & 63]);
    text.push_back(kBase64Alphabet[(group >> 12) & 63]);
  } else if (size - i == 2) {
    uint32_t group = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    text.push_back(kBase64Alphabet[(group >> 18) & 63]);
    text.push_back(kBase64Alphabet[(group >> 12) & 63]);
    text.push_back(kBase64Alphabet[(group >> 6) & 63]);
  }
  return text;
}

// Base64Decode decodes unpadded base64; false if the text is not the
// canonical encoding of some bytes (bad character, '=' padding, impossible
// length, or non-zero unused bits in the last character).
bool Base64Decode(std::string_view text, std::vector<uint8_t>* out) {
  if (text.size() % 4 == 1) {
    return false;
  }
  out->clear();
  out->reserve(text.size() * 3 / 4);
  uint32_t accumulator = 0;
  int bits = 0;
  for (char c : text) {
    int value = Base64Value(c);
    if (value < 0) {
      return false;
    }
    accumulator = (accumulator << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<uint8_t>((accumulator >> bits) & 0xff));
    }
  }
  // Leftover bits (2 or 4) must be zero, or two texts would decode the same.
  return (accumulator & ((1u << bits) - 1)) == 0;
}

// IsBase64Char is true for the characters a stanza body line may hold.
bool IsBase64Char(char c) {
  return Base64Value(c) >= 0;
}

// --- key derivation, MAC, AEAD, X25519, scrypt ------------------------------

// HkdfSha256 derives 32 bytes (RFC 5869); an empty salt means no salt, which
// HKDF defines as a string of zeros, so both spellings agree.
void HkdfSha256(const uint8_t* ikm, size_t ikm_size, const uint8_t* salt, size_t salt_size,
                std::string_view info, uint8_t* out) {
  std::unique_ptr<EVP_KDF, KdfDeleter> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (!kdf) {
    throw CryptoFailure("EVP_KDF_fetch(HKDF)");
  }
  std::unique_ptr<EVP_KDF_CTX, KdfCtxDeleter> ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) {
    throw CryptoFailure("EVP_KDF_CTX_new");
  }
  OSSL_PARAM params[5];
  OSSL_PARAM* param = params;
  char digest[] = "SHA256";
  *param++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  *param++ =
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(ikm), ikm_size);
  if (salt_size > 0) {
    *param++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt),
                                                 salt_size);
  }
  *param++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()),
                                               info.size());
  *param = OSSL_PARAM_construct_end();
  if (EVP_KDF_derive(ctx.get(), out, kKeySize, params) != 1) {
    throw CryptoFailure("HKDF");
  }
}

// HeaderMac is HMAC-SHA-256 of the header text (up to and including "---")
// under HKDF(file key, no salt, "header").
std::array<uint8_t, 32> HeaderMac(const Secret<kFileKeySize>& file_key, std::string_view header) {
  Secret<kKeySize> mac_key;
  HkdfSha256(file_key.data(), file_key.size(), nullptr, 0, "header", mac_key.data());
  std::array<uint8_t, 32> mac{};
  unsigned int mac_size = 0;
  if (HMAC(EVP_sha256(), mac_key.data(), static_cast<int>(mac_key.size()),
           reinterpret_cast<const unsigned char*>(header.data()), header.size(), mac.data(),
           &mac_size) == nullptr ||
      mac_size != mac.size()) {
    throw CryptoFailure("HMAC-SHA256");
  }
  return mac;
}

// Aead is a reusable ChaCha20-Poly1305 context (RFC 7539, 12-byte nonce).
class Aead {
 public:
  Aead() : ctx_(EVP_CIPHER_CTX_new()) {
    if (!ctx_) {
      throw CryptoFailure("EVP_CIPHER_CTX_new");
    }
  }

  // Seal writes size bytes of ciphertext and then the 16-byte tag to out.
  void Seal(const uint8_t* key, const uint8_t* nonce, const uint8_t* in, size_t size,
            uint8_t* out) {
    int written = 0;
    int final_written = 0;
    static const uint8_t kNothing = 0;
    if (EVP_EncryptInit_ex(ctx_.get(), EVP_chacha20_poly1305(), nullptr, key, nonce) != 1 ||
        EVP_EncryptUpdate(ctx_.get(), out, &written, size > 0 ? in : &kNothing,
                          static_cast<int>(size)) != 1 ||
        EVP_EncryptFinal_ex(ctx_.get(), out + written, &final_written) != 1 ||
        static_cast<size_t>(written + final_written) != size ||
        EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kTagSize),
                            out + size) != 1) {
      throw CryptoFailure("ChaCha20-Poly1305 seal");
    }
  }

  // Open authenticates size bytes (ciphertext and tag) and writes the
  // plaintext (size - 16 bytes) to out; false if authentication fails, in
  // which case out has been wiped.
  bool Open(const uint8_t* key, const uint8_t* nonce, const uint8_t* in, size_t size,
            uint8_t* out) {
    if (size < kTagSize) {
      return false;
    }
    size_t plain_size = size - kTagSize;
    int written = 0;
    int final_written = 0;
    static const uint8_t kNothing = 0;
    // libcrypto takes a null output pointer to mean additional data, so an
    // empty plaintext still gets a real (unused) output address.
    uint8_t unused = 0;
    uint8_t* target = plain_size > 0 ? out : &unused;
    if (EVP_DecryptInit_ex(ctx_.get(), EVP_chacha20_poly1305(), nullptr, key, nonce) != 1 ||
        EVP_DecryptUpdate(ctx_.get(), target, &written, plain_size > 0 ? in : &kNothing,
                          static_cast<int>(plain_size)) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kTagSize),
                            const_cast<uint8_t*>(in + plain_size)) != 1) {
      throw CryptoFailure("ChaCha20-Poly1305 open");
    }
    if (EVP_DecryptFinal_ex(ctx_.get(), target + written, &final_written) != 1) {
      // The plaintext was written before the tag was checked: it must not be
      // left around for anyone to use.
      if (plain_size > 0) {
        OPENSSL_cleanse(out, plain_size);
      }
      return false;
    }
    return true;
  }

 private:
  CipherCtxPtr ctx_;
};

// kZeroNonce is the AEAD nonce of stanza bodies: each wrap key is used once.
constexpr uint8_t kZeroNonce[12] = {};

// X25519PrivateKey makes an EVP_PKEY from a raw secret scalar.
PkeyPtr X25519PrivateKey(const uint8_t* secret) {
  PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, secret, 32));
  if (!key) {
    throw CryptoFailure("EVP_PKEY_new_raw_private_key(X25519)");
  }
  return key;
}

// X25519PublicKey is the public key of a secret scalar: X25519(secret, 9).
std::array<uint8_t, 32> X25519PublicKey(const uint8_t* secret) {
  PkeyPtr key = X25519PrivateKey(secret);
  std::array<uint8_t, 32> public_key{};
  size_t size = public_key.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), public_key.data(), &size) != 1 ||
      size != public_key.size()) {
    throw CryptoFailure("EVP_PKEY_get_raw_public_key(X25519)");
  }
  return public_key;
}

// X25519Shared computes X25519(secret, peer) into shared; false if the result
// is the all-zero value that a low-order peer point produces (libcrypto
// refuses to derive it, and we check again rather than rely on that).
bool X25519Shared(const uint8_t* secret, const uint8_t* peer, Secret<32>* shared) {
  PkeyPtr own = X25519PrivateKey(secret);
  PkeyPtr other(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer, 32));
  if (!other) {
    throw CryptoFailure("EVP_PKEY_new_raw_public_key(X25519)");
  }
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new(own.get(), nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), other.get()) != 1) {
    throw CryptoFailure("EVP_PKEY_derive_init(X25519)");
  }
  size_t size = shared->size();
  if (EVP_PKEY_derive(ctx.get(), shared->data(), &size) != 1 || size != shared->size()) {
    return false;
  }
  uint8_t any_bit = 0;
  for (uint8_t byte : shared->bytes) {
    any_bit |= byte;
  }
  return any_bit != 0;
}

// X25519WrapKey is HKDF(shared secret, ephemeral share || recipient, label).
void X25519WrapKey(const Secret<32>& shared, const uint8_t* share, const uint8_t* recipient,
                   Secret<kKeySize>* wrap_key) {
  uint8_t salt[64];
  std::memcpy(salt, share, 32);
  std::memcpy(salt + 32, recipient, 32);
  HkdfSha256(shared.data(), shared.size(), salt, sizeof(salt), kX25519Label, wrap_key->data());
}

// ScryptWrapKey is scrypt(N = 2^work_factor, r = 8, p = 1) of the passphrase
// with the salt label prepended to the salt.
void ScryptWrapKey(std::string_view passphrase, const uint8_t* salt, int work_factor,
                   Secret<kKeySize>* wrap_key) {
  uint8_t labelled_salt[sizeof(kScryptLabel) - 1 + kScryptSaltSize];
  std::memcpy(labelled_salt, kScryptLabel, sizeof(kScryptLabel) - 1);
  std::memcpy(labelled_salt + sizeof(kScryptLabel) - 1, salt, kScryptSaltSize);
  const uint64_t n = uint64_t{1} << work_factor;
  const uint64_t r = 8;
  const uint64_t p = 1;
  // scrypt's working memory is 128 * r * (N + p + 2) bytes; OpenSSL refuses
  // to use more than maxmem, whose default (32 MiB) is below age's default.
  const uint64_t max_memory = 128 * r * (n + p + 2) + (1 << 20);
  if (EVP_PBE_scrypt(passphrase.data(), passphrase.size(), labelled_salt, sizeof(labelled_salt), n,
                     r, p, max_memory, wrap_key->data(), wrap_key->size()) != 1) {
    throw Error(ErrorKind::kInternal, "scrypt key derivation failed",
                "work factor " + std::to_string(work_factor) + " needs " +
                    std::to_string(max_memory >> 20) + " MiB of memory");
  }
}

// WrappedBodyLines is a stanza body as header text: base64 in 64-column
// lines, the last one always shorter than 64 (so possibly empty).
std::string WrappedBodyLines(const std::string& encoded) {
  std::string text;
  size_t pos = 0;
  while (encoded.size() - pos >= kColumns) {
    text.append(encoded, pos, kColumns);
    text.push_back('\n');
    pos += kColumns;
  }
  text.append(encoded, pos, std::string::npos);
  text.push_back('\n');
  return text;
}

// PayloadNonce is the STREAM nonce of a chunk: an 11-byte big-endian counter
// and a last-chunk flag.
void PayloadNonce(uint64_t counter, bool last, uint8_t nonce[12]) {
  std::memset(nonce, 0, 12);
  for (int i = 0; i < 8; ++i) {
    nonce[10 - i] = static_cast<uint8_t>(counter >> (8 * i));
  }
  nonce[11] = last ? 1 : 0;
}

// PayloadKey is HKDF(file key, payload nonce, "payload").
void PayloadKey(const Secret<kFileKeySize>& file_key, const uint8_t* nonce, Secret<kKeySize>* key) {
  HkdfSha256(file_key.data(), file_key.size(), nonce, kNonceSize, "payload", key->data());
}

// IsLowOrderPoint says whether X25519 with this public key yields all zeros
// for every secret: with a clamped scalar (a multiple of the cofactor 8) that
// happens exactly for points of small order, so one random secret tells.
bool IsLowOrderPoint(const uint8_t* point) {
  Secret<32> secret;
  RandomBytes(secret.data(), secret.size());
  Secret<32> shared;
  return !X25519Shared(secret.data(), point, &shared);
}

// Stanza is one parsed recipient stanza of a header.
struct Stanza {
  std::vector<std::string> args;
  std::vector<uint8_t> body;
};

// ParseWorkFactor checks the scrypt work factor spelling: ^[1-9][0-9]*$,
// no sign, no leading zero, no hex; at most two digits is enough for any
// factor we could accept and keeps the conversion from overflowing.
bool ParseWorkFactor(const std::string& text, int* work_factor) {
  if (text.empty() || text.size() > 2 || text[0] < '1' || text[0] > '9') {
    return false;
  }
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
    value = value * 10 + (c - '0');
  }
  *work_factor = value;
  return true;
}

// DecodeExactBase64 decodes a canonical base64 stanza argument of a given size.
bool DecodeExactBase64(const std::string& text, size_t size, std::vector<uint8_t>* out) {
  return Base64Decode(text, out) && out->size() == size;
}

}  // namespace

// --- recipients and identities ---------------------------------------------

AgeRecipient AgeRecipient::Parse(std::string_view text) {
  constexpr char kHint[] =
      "An age recipient is an X25519 public key as printed by age-keygen, "
      "\"age1\" followed by 58 characters.";
  if (text.size() >= sizeof(kIdentityHrp) - 1) {
    std::string prefix(text.substr(0, sizeof(kIdentityHrp) - 1));
    for (char& c : prefix) {
      c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    if (prefix == kIdentityHrp) {
      throw Error(ErrorKind::kInvalidParameter,
                  "an age identity (secret key) was given where a recipient (public key) belongs",
                  {},
                  "Give the public key printed by \"age-keygen -y\"; keep the secret key off "
                  "the server.");
    }
  }
  Bech32String decoded;
  try {
    decoded = Bech32Decode(text);
  } catch (const Error& error) {
    throw Error(ErrorKind::kInvalidParameter, "invalid age recipient", error.what(), kHint);
  }
  if (decoded.hrp != kRecipientHrp) {
    throw Error(ErrorKind::kInvalidParameter, "invalid age recipient",
                "the prefix is \"" + Printable(decoded.hrp) + "1\", not \"age1\"", kHint);
  }
  if (decoded.data.size() != 32) {
    throw Error(ErrorKind::kInvalidParameter, "invalid age recipient",
                "the key is " + std::to_string(decoded.data.size()) + " bytes long, not 32", kHint);
  }
  AgeRecipient recipient;
  std::copy(decoded.data.begin(), decoded.data.end(), recipient.public_key.begin());
  if (IsLowOrderPoint(recipient.public_key.data())) {
    throw Error(ErrorKind::kInvalidParameter, "invalid age recipient",
                "the key is a low-order X25519 point, which would let anyone decrypt", kHint);
  }
  return recipient;
}

std::string AgeRecipient::ToString() const {
  return Bech32Encode(kRecipientHrp, std::vector<uint8_t>(public_key.begin(), public_key.end()));
}

AgeIdentity AgeIdentity::Parse(std::string_view text) {
  constexpr char kHint[] =
      "An age identity is an X25519 secret key as written by age-keygen, "
      "\"AGE-SECRET-KEY-1\" followed by 58 characters.";
  Bech32String decoded;
  try {
    decoded = Bech32Decode(text);
  } catch (const Error& error) {
    throw Error(ErrorKind::kInvalidParameter, "invalid age identity", error.what(), kHint);
  }
  if (decoded.hrp != kIdentityHrp || decoded.data.size() != 32) {
    OPENSSL_cleanse(decoded.data.data(), decoded.data.size());
    throw Error(ErrorKind::kInvalidParameter, "invalid age identity",
                decoded.hrp != kIdentityHrp ? "it does not start with \"AGE-SECRET-KEY-1\""
                                            : "the key is not 32 bytes long",
                kHint);
  }
  AgeIdentity identity;
  std::copy(decoded.data.begin(), decoded.data.end(), identity.secret_key_.begin());
  OPENSSL_cleanse(decoded.data.data(), decoded.data.size());
  return identity;
}

AgeIdentity AgeIdentity::Generate() {
  AgeIdentity identity;
  RandomBytes(identity.secret_key_.data(), identity.secret_key_.size());
  return identity;
}

AgeIdentity::~AgeIdentity() {
  OPENSSL_cleanse(secret_key_.data(), secret_key_.size());
}

std::string AgeIdentity::ToString() const {
  std::vector<uint8_t> bytes(secret_key_.begin(), secret_key_.end());
  std::string text = Bech32Encode(kIdentityHrp, bytes);
  OPENSSL_cleanse(bytes.data(), bytes.size());
  for (char& c : text) {
    c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  }
  return text;
}

AgeRecipient AgeIdentity::Recipient() const {
  AgeRecipient recipient;
  recipient.public_key = X25519PublicKey(secret_key_.data());
  return recipient;
}

std::vector<AgeIdentity> ParseAgeIdentities(std::string_view contents) {
  std::vector<AgeIdentity> identities;
  size_t line_number = 0;
  size_t pos = 0;
  while (pos < contents.size()) {
    size_t end = contents.find('\n', pos);
    if (end == std::string_view::npos) {
      end = contents.size();
    }
    std::string_view line = contents.substr(pos, end - pos);
    pos = end + 1;
    ++line_number;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
      line.remove_prefix(1);
    }
    if (line.empty() || line.front() == '#') {
      continue;
    }
    try {
      identities.push_back(AgeIdentity::Parse(line));
    } catch (const Error& error) {
      throw Error(ErrorKind::kInvalidParameter,
                  "line " + std::to_string(line_number) +
                      " of the age identity file is not an X25519 identity",
                  error.detail(),
                  "Each line must be an \"AGE-SECRET-KEY-1...\" key as written by age-keygen, a "
                  "comment starting with '#', or empty; plugin identities are not supported.");
    }
  }
  if (identities.empty()) {
    throw Error(ErrorKind::kInvalidParameter, "the age identity file holds no identity", {},
                "Generate one with age-keygen.");
  }
  return identities;
}

AgeKeyPair AgeGenerateIdentity() {
  AgeIdentity identity = AgeIdentity::Generate();
  return {identity.ToString(), identity.Recipient().ToString()};
}

// --- encryption --------------------------------------------------------------

struct AgeEncryptSink::State {
  Secret<kKeySize> payload_key;
  std::string header;  // the header and the payload nonce, sent before any chunk
  bool header_sent = false;
  std::vector<uint8_t> plaintext;  // the chunk being filled, up to kChunkSize
  std::vector<uint8_t> sealed;     // one sealed chunk
  uint64_t counter = 0;
  bool finished = false;
  bool failed = false;
  Aead aead;

  // Begin makes the file key, lets wrap_stanzas add the stanzas, and
  // completes the header with its MAC and the payload nonce.
  template <typename WrapStanzas>
  void Begin(WrapStanzas wrap_stanzas) {
    Secret<kFileKeySize> file_key;
    RandomBytes(file_key.data(), file_key.size());
    header = kVersionLine;
    header.push_back('\n');
    wrap_stanzas(file_key);
    header += "---";
    std::array<uint8_t, 32> mac = HeaderMac(file_key, header);
    header += " " + Base64Encode(mac.data(), mac.size()) + "\n";
    uint8_t nonce[kNonceSize];
    RandomBytes(nonce, sizeof(nonce));
    PayloadKey(file_key, nonce, &payload_key);
    header.append(reinterpret_cast<const char*>(nonce), sizeof(nonce));
    plaintext.reserve(kChunkSize);
    sealed.resize(kSealedChunkSize);
  }

  // AddStanza appends one stanza: its arguments and its body.
  void AddStanza(const std::string& args, const uint8_t* body, size_t size) {
    header += "-> " + args + "\n";
    header += WrappedBodyLines(Base64Encode(body, size));
  }

  // WrapFileKey seals the file key under a wrap key into a stanza body.
  void WrapFileKey(const Secret<kKeySize>& wrap_key, const Secret<kFileKeySize>& file_key,
                   uint8_t body[kFileKeySize + kTagSize]) {
    aead.Seal(wrap_key.data(), kZeroNonce, file_key.data(), file_key.size(), body);
  }
};

AgeEncryptSink::AgeEncryptSink(Sink& next, const std::vector<AgeRecipient>& recipients)
    : state_(std::make_unique<State>()), next_(next) {
  if (recipients.empty()) {
    throw Error(ErrorKind::kInvalidParameter, "age encryption needs at least one recipient");
  }
  state_->Begin([&](const Secret<kFileKeySize>& file_key) {
    for (const AgeRecipient& recipient : recipients) {
      // A fresh ephemeral key per stanza and per file, as the spec requires.
      Secret<32> ephemeral;
      RandomBytes(ephemeral.data(), ephemeral.size());
      std::array<uint8_t, 32> share = X25519PublicKey(ephemeral.data());
      Secret<32> shared;
      if (!X25519Shared(ephemeral.data(), recipient.public_key.data(), &shared)) {
        throw Error(ErrorKind::kInvalidParameter, "invalid age recipient",
                    "the key is a low-order X25519 point");
      }
      Secret<kKeySize> wrap_key;
      X25519WrapKey(shared, share.data(), recipient.public_key.data(), &wrap_key);
      uint8_t body[kFileKeySize + kTagSize];
      state_->WrapFileKey(wrap_key, file_key, body);
      state_->AddStanza("X25519 " + Base64Encode(share.data(), share.size()), body, sizeof(body));
    }
  });
}

AgeEncryptSink::AgeEncryptSink(Sink& next, std::string_view passphrase, int work_factor)
    : state_(std::make_unique<State>()), next_(next) {
  if (passphrase.empty()) {
    throw Error(ErrorKind::kInvalidParameter, "age passphrase is empty");
  }
  if (work_factor < 1 || work_factor > kAgeMaxWorkFactor) {
    throw Error(ErrorKind::kInvalidParameter,
                "scrypt work factor " + std::to_string(work_factor) + " is out of range", {},
                "Use 1 to " + std::to_string(kAgeMaxWorkFactor) + "; age uses " +
                    std::to_string(kAgeDefaultWorkFactor) + ".");
  }
  state_->Begin([&](const Secret<kFileKeySize>& file_key) {
    uint8_t salt[kScryptSaltSize];
    RandomBytes(salt, sizeof(salt));
    Secret<kKeySize> wrap_key;
    ScryptWrapKey(passphrase, salt, work_factor, &wrap_key);
    uint8_t body[kFileKeySize + kTagSize];
    state_->WrapFileKey(wrap_key, file_key, body);
    state_->AddStanza(
        "scrypt " + Base64Encode(salt, sizeof(salt)) + " " + std::to_string(work_factor), body,
        sizeof(body));
  });
}

AgeEncryptSink::~AgeEncryptSink() = default;

// Write sends the header once, then seals every full chunk that is known not
// to be the last one: a full chunk is only sealed when more input follows it,
// so that the last chunk is never empty unless the whole input is.
void AgeEncryptSink::Write(const uint8_t* data, size_t size) {
  State& state = *state_;
  if (state.finished || state.failed) {
    throw Error(ErrorKind::kInternal, "write to a finished or failed age encryption stage");
  }
  try {
    if (!state.header_sent) {
      state.header_sent = true;
      WriteString(next_, state.header);
    }
    while (size > 0) {
      if (state.plaintext.size() == kChunkSize) {
        uint8_t nonce[12];
        PayloadNonce(state.counter, false, nonce);
        state.aead.Seal(state.payload_key.data(), nonce, state.plaintext.data(), kChunkSize,
                        state.sealed.data());
        ++state.counter;
        state.plaintext.clear();
        next_.Write(state.sealed.data(), kSealedChunkSize);
      }
      size_t take = std::min(size, kChunkSize - state.plaintext.size());
      state.plaintext.insert(state.plaintext.end(), data, data + take);
      data += take;
      size -= take;
    }
  } catch (...) {
    state.failed = true;
    throw;
  }
}

// Finish seals what is left as the last chunk and finishes next.
void AgeEncryptSink::Finish() {
  State& state = *state_;
  if (state.finished || state.failed) {
    throw Error(ErrorKind::kInternal, "age encryption stage finished twice or after a failure");
  }
  try {
    if (!state.header_sent) {
      state.header_sent = true;
      WriteString(next_, state.header);
    }
    uint8_t nonce[12];
    PayloadNonce(state.counter, true, nonce);
    state.aead.Seal(state.payload_key.data(), nonce, state.plaintext.data(), state.plaintext.size(),
                    state.sealed.data());
    next_.Write(state.sealed.data(), state.plaintext.size() + kTagSize);
    state.plaintext.clear();
    state.finished = true;
    next_.Finish();
  } catch (...) {
    state.failed = true;
    throw;
  }
}

// --- decryption --------------------------------------------------------------

struct AgeDecryptSink::State {
  enum class Phase { kHeader, kNonce, kPayload, kDone, kFailed };
  enum class HeaderLine { kVersion, kStanzaOrMac, kBody };

  Phase phase = Phase::kHeader;
  HeaderLine expect = HeaderLine::kVersion;

  // What may open the header.
  std::vector<AgeIdentity> identities;
  std::string passphrase;
  int max_work_factor = kAgeDefaultMaxWorkFactor;
  bool use_passphrase = false;

  // Header parsing.
  std::string header;     // every header byte seen so far
  size_t line_start = 0;  // where the current line starts in header
  std::vector<Stanza> stanzas;
  std::string body_text;  // base64 of the stanza being read

  // The file key, from the end of the header until the payload key is derived.
  Secret<kFileKeySize> file_key;

  // Payload.
  uint8_t nonce[kNonceSize] = {};
  size_t nonce_size = 0;
  Secret<kKeySize> payload_key;
  std::vector<uint8_t> sealed;  // the sealed chunk being filled
  std::vector<uint8_t> plaintext;
  uint64_t counter = 0;
  Aead aead;

  ~State() { WipeString(passphrase); }

  // HeaderByte takes one header byte; true once the header ended with it.
  bool HeaderByte(char byte);
  // HeaderLineDone interprets the line that just ended; true after the MAC.
  bool HeaderLineDone(std::string_view line);
  // OpenHeader unwraps the file key into file_key and checks the header MAC.
  void OpenHeader(std::string_view mac_text, size_t mac_input_size);
  // UnwrapX25519 tries every identity on every X25519 stanza.
  bool UnwrapX25519(Secret<kFileKeySize>* file_key);
  // UnwrapScrypt tries the passphrase on the (only) scrypt stanza.
  bool UnwrapScrypt(Secret<kFileKeySize>* file_key);
  // OpenChunk authenticates the buffered sealed chunk as number counter with
  // the given last flag; on success the plaintext is in plaintext.
  bool OpenChunk(bool last);
};

// HeaderByte appends a byte to the header and handles a completed line. The
// version line is checked byte by byte, so that something that is not an age
// file is refused at once rather than after buffering up to the size limit.
bool AgeDecryptSink::State::HeaderByte(char byte) {
  if (header.size() >= kMaxHeaderSize) {
    throw Corrupt("age header is too long", "more than " + std::to_string(kMaxHeaderSize) +
                                                " bytes without the end of the header");
  }
  header.push_back(byte);
  if (expect == HeaderLine::kVersion && header.size() <= sizeof(kVersionPrefix) - 1 &&
      byte != kVersionPrefix[header.size() - 1]) {
    throw Corrupt("not an age file", "it does not start with \"age-encryption.org/\"");
  }
  if (byte != '\n') {
    return false;
  }
  std::string_view line(header.data() + line_start, header.size() - 1 - line_start);
  bool done = HeaderLineDone(line);
  line_start = header.size();
  return done;
}

bool AgeDecryptSink::State::HeaderLineDone(std::string_view line) {
  switch (expect) {
    case HeaderLine::kVersion:
      if (line != kVersionLine) {
        throw Corrupt("unsupported age format version",
                      "the file says \"" + Printable(line.substr(0, 80)) +
                          "\"; only age-encryption.org/v1 is supported");
      }
      expect = HeaderLine::kStanzaOrMac;
      return false;

    case HeaderLine::kStanzaOrMac: {
      if (line.substr(0, 3) == "-> ") {
        if (stanzas.size() >= kMaxStanzas) {
          throw MalformedHeader("more than " + std::to_string(kMaxStanzas) + " stanzas");
        }
        Stanza stanza;
        std::string_view rest = line.substr(3);
        while (true) {
          size_t space = rest.find(' ');
          std::string_view arg = rest.substr(0, space);
          if (arg.empty()) {
            throw MalformedHeader("empty stanza argument");
          }
          for (char c : arg) {
            if (c < 33 || c > 126) {
              throw MalformedHeader("stanza argument with a character outside US-ASCII 33..126");
            }
          }
          stanza.args.emplace_back(arg);
          if (space == std::string_view::npos) {
            break;
          }
          rest = rest.substr(space + 1);
        }
        stanzas.push_back(std::move(stanza));
        body_text.clear();
        expect = HeaderLine::kBody;
        return false;
      }
      if (line.substr(0, 3) == "---") {
        if (stanzas.empty()) {
          throw MalformedHeader("no recipient stanza");
        }
        if (line.size() != 4 + 43 || line[3] != ' ') {
          throw MalformedHeader("the MAC line is not \"--- \" and 43 base64 characters");
        }
        OpenHeader(line.substr(4), line_start + 3);
        return true;
      }
      throw MalformedHeader("a line starts with neither \"-> \" nor \"---\"");
    }

    case HeaderLine::kBody: {
      if (line.size() > kColumns) {
        throw MalformedHeader("stanza body line longer than 64 columns");
      }
      for (char c : line) {
        if (!IsBase64Char(c)) {
          throw MalformedHeader("stanza body line with a character that is not base64");
        }
      }
      body_text.append(line.data(), line.size());
      if (line.size() < kColumns) {
        if (!Base64Decode(body_text, &stanzas.back().body)) {
          throw MalformedHeader("stanza body is not canonical base64");
        }
        expect = HeaderLine::kStanzaOrMac;
      }
      return false;
    }
  }
  return false;
}

// OpenHeader finds the file key and checks the header MAC with it. The MAC
// covers the header up to and including "---", and only the file key can
// produce it: a header altered in any way the stanzas did not catch fails here.
void AgeDecryptSink::State::OpenHeader(std::string_view mac_text, size_t mac_input_size) {
  std::vector<uint8_t> mac;
  if (!DecodeExactBase64(std::string(mac_text), 32, &mac)) {
    throw MalformedHeader("the header MAC is not canonical base64 of 32 bytes");
  }
  bool has_scrypt = false;
  for (const Stanza& stanza : stanzas) {
    has_scrypt = has_scrypt || stanza.args[0] == "scrypt";
  }
  // A passphrase-encrypted file promises that only the passphrase opens it;
  // an extra stanza would let someone else in without the passphrase holder
  // noticing.
  if (has_scrypt && stanzas.size() != 1) {
    throw MalformedHeader("an scrypt stanza must be the only stanza");
  }
  bool found = use_passphrase ? UnwrapScrypt(&file_key) : UnwrapX25519(&file_key);
  if (!found) {
    size_t x25519 = 0;
    for (const Stanza& stanza : stanzas) {
      x25519 += stanza.args[0] == "X25519" ? 1 : 0;
    }
    std::string detail;
    if (has_scrypt) {
      detail = use_passphrase ? "the passphrase is wrong" : "the file is encrypted to a passphrase";
    } else {
      detail = "the file has " + std::to_string(stanzas.size()) + " recipient stanza(s), " +
               std::to_string(x25519) + " of them X25519; " +
               (use_passphrase ? std::string("a passphrase was tried")
                               : std::to_string(identities.size()) + " identity(ies) were tried");
    }
    throw Error(ErrorKind::kInvalidParameter, "no identity matches any recipient of this file",
                detail, "Check that the identity is the one this file was encrypted to.");
  }
  std::array<uint8_t, 32> expected =
      HeaderMac(file_key, std::string_view(header.data(), mac_input_size));
  if (CRYPTO_memcmp(expected.data(), mac.data(), expected.size()) != 0) {
    throw Corrupt("age header MAC mismatch", "the header was modified or damaged");
  }
  // Nothing but the payload key is needed from the header from now on.
  std::string().swap(body_text);
  stanzas.clear();
}

bool AgeDecryptSink::State::UnwrapX25519(Secret<kFileKeySize>* file_key) {
  std::vector<AgeRecipient> recipients;
  recipients.reserve(identities.size());
  for (const AgeIdentity& identity : identities) {
    recipients.push_back(identity.Recipient());
  }
  std::vector<uint8_t> share;
  for (const Stanza& stanza : stanzas) {
    if (stanza.args[0] != "X25519") {
      continue;
    }
    if (stanza.args.size() != 2) {
      throw MalformedHeader("an X25519 stanza has " + std::to_string(stanza.args.size() - 1) +
                            " arguments instead of 1");
    }
    if (!DecodeExactBase64(stanza.args[1], 32, &share)) {
      throw MalformedHeader("an X25519 share is not canonical base64 of 32 bytes");
    }
    // Checking the size before trying to open guards against partitioning
    // oracle attacks, as the spec requires.
    if (stanza.body.size() != kFileKeySize + kTagSize) {
      throw MalformedHeader("an X25519 stanza body is not 32 bytes");
    }
    for (size_t i = 0; i < identities.size(); ++i) {
      Secret<32> shared;
      if (!X25519Shared(identities[i].secret_key().data(), share.data(), &shared)) {
        throw Corrupt("age X25519 stanza has a low-order ephemeral share",
                      "the shared secret would be all zeros");
      }
      Secret<kKeySize> wrap_key;
      X25519WrapKey(shared, share.data(), recipients[i].public_key.data(), &wrap_key);
      if (aead.Open(wrap_key.data(), kZeroNonce, stanza.body.data(), stanza.body.size(),
                    file_key->data())) {
        return true;
      }
    }
  }
  return false;
}

bool AgeDecryptSink::State::UnwrapScrypt(Secret<kFileKeySize>* file_key) {
  for (const Stanza& stanza : stanzas) {
    if (stanza.args[0] != "scrypt") {
      continue;
    }
    std::vector<uint8_t> salt;
    int work_factor = 0;
    if (stanza.args.size() != 3) {
      throw MalformedHeader("an scrypt stanza has " + std::to_string(stanza.args.size() - 1) +
                            " arguments instead of 2");
    }
    if (!DecodeExactBase64(stanza.args[1], kScryptSaltSize, &salt)) {
      throw MalformedHeader("the scrypt salt is not canonical base64 of 16 bytes");
    }
    if (!ParseWorkFactor(stanza.args[2], &work_factor)) {
      if (stanza.args[2].size() > 2 && stanza.args[2][0] >= '1' && stanza.args[2][0] <= '9' &&
          stanza.args[2].find_first_not_of("0123456789") == std::string::npos) {
        work_factor = 100;  // a long decimal: certainly above any limit
      } else {
        throw MalformedHeader("the scrypt work factor is not a decimal number");
      }
    }
    if (work_factor > max_work_factor) {
      throw Error(ErrorKind::kInvalidParameter,
                  "the age file's scrypt work factor exceeds the limit",
                  "the file asks for " + Printable(stanza.args[2]) + ", the limit is " +
                      std::to_string(max_work_factor),
                  "Raise the maximum work factor if this file is trusted.");
    }
    if (stanza.body.size() != kFileKeySize + kTagSize) {
      throw MalformedHeader("the scrypt stanza body is not 32 bytes");
    }
    Secret<kKeySize> wrap_key;
    ScryptWrapKey(passphrase, salt.data(), work_factor, &wrap_key);
    return aead.Open(wrap_key.data(), kZeroNonce, stanza.body.data(), stanza.body.size(),
                     file_key->data());
  }
  return false;
}

bool AgeDecryptSink::State::OpenChunk(bool last) {
  uint8_t chunk_nonce[12];
  PayloadNonce(counter, last, chunk_nonce);
  plaintext.resize(sealed.size() - kTagSize);
  return aead.Open(payload_key.data(), chunk_nonce, sealed.data(), sealed.size(), plaintext.data());
}

AgeDecryptSink::AgeDecryptSink(Sink& next, std::vector<AgeIdentity> identities)
    : state_(std::make_unique<State>()), next_(next) {
  if (identities.empty()) {
    throw Error(ErrorKind::kInvalidParameter, "age decryption needs at least one identity");
  }
  state_->identities = std::move(identities);
}

AgeDecryptSink::AgeDecryptSink(Sink& next, std::string_view passphrase, int max_work_factor)
    : state_(std::make_unique<State>()), next_(next) {
  if (passphrase.empty()) {
    throw Error(ErrorKind::kInvalidParameter, "age passphrase is empty");
  }
  if (max_work_factor < 1 || max_work_factor > kAgeMaxWorkFactor) {
    throw Error(
        ErrorKind::kInvalidParameter,
        "maximum scrypt work factor " + std::to_string(max_work_factor) + " is out of range", {},
        "Use 1 to " + std::to_string(kAgeMaxWorkFactor) + ".");
  }
  state_->passphrase.assign(passphrase.data(), passphrase.size());
  state_->use_passphrase = true;
  state_->max_work_factor = max_work_factor;
}

AgeDecryptSink::~AgeDecryptSink() = default;

// Write feeds header bytes to the parser, then the nonce, then chunks. A full
// sealed chunk is only opened once more input shows it is not the last one.
void AgeDecryptSink::Write(const uint8_t* data, size_t size) {
  State& state = *state_;
  if (state.phase == State::Phase::kDone || state.phase == State::Phase::kFailed) {
    throw Error(ErrorKind::kInternal, "write to a finished or failed age decryption stage");
  }
  try {
    while (size > 0 && state.phase == State::Phase::kHeader) {
      char byte = static_cast<char>(*data);
      ++data;
      --size;
      if (state.HeaderByte(byte)) {
        state.phase = State::Phase::kNonce;
        std::string().swap(state.header);
      }
    }
    if (size > 0 && state.phase == State::Phase::kNonce) {
      size_t take = std::min(size, kNonceSize - state.nonce_size);
      std::memcpy(state.nonce + state.nonce_size, data, take);
      state.nonce_size += take;
      data += take;
      size -= take;
      if (state.nonce_size == kNonceSize) {
        PayloadKey(state.file_key, state.nonce, &state.payload_key);
        OPENSSL_cleanse(state.file_key.data(), state.file_key.size());
        state.sealed.reserve(kSealedChunkSize);
        state.phase = State::Phase::kPayload;
      }
    }
    while (size > 0) {
      if (state.sealed.size() == kSealedChunkSize) {
        if (!state.OpenChunk(false)) {
          // A full final chunk followed by more bytes: its plaintext is
          // genuine and is passed on, but the file does not end where its
          // last chunk says it does.
          if (state.OpenChunk(true)) {
            next_.Write(state.plaintext.data(), state.plaintext.size());
            throw Corrupt("trailing data after the end of the age payload");
          }
          throw Corrupt("age payload is corrupt",
                        "chunk " + std::to_string(state.counter) + " failed authentication");
        }
        ++state.counter;
        state.sealed.clear();
        next_.Write(state.plaintext.data(), state.plaintext.size());
      }
      size_t take = std::min(size, kSealedChunkSize - state.sealed.size());
      state.sealed.insert(state.sealed.end(), data, data + take);
      data += take;
      size -= take;
    }
  } catch (...) {
    state.phase = State::Phase::kFailed;
    throw;
  }
}

// Finish opens the buffered chunk as the last one and finishes next; the file
// must end exactly there.
void AgeDecryptSink::Finish() {
  State& state = *state_;
  if (state.phase == State::Phase::kDone || state.phase == State::Phase::kFailed) {
    throw Error(ErrorKind::kInternal, "age decryption stage finished twice or after a failure");
  }
  try {
    if (state.phase == State::Phase::kHeader) {
      throw Corrupt("age file is truncated", "it ends inside the header");
    }
    if (state.phase == State::Phase::kNonce) {
      throw Corrupt("age file is truncated", "it ends inside the payload nonce");
    }
    if (state.sealed.empty() || state.sealed.size() < kTagSize) {
      throw Corrupt("age file is truncated",
                    "it ends before chunk " + std::to_string(state.counter) + " is complete");
    }
    if (!state.OpenChunk(true)) {
      // Either the last chunk was damaged, or the file was cut right after a
      // full chunk that is not the last.
      throw Corrupt("age payload is corrupt or truncated",
                    "chunk " + std::to_string(state.counter) + " is not a valid last chunk");
    }
    if (state.plaintext.empty() && state.counter > 0) {
      throw Corrupt("age payload is corrupt", "the last chunk is empty");
    }
    next_.Write(state.plaintext.data(), state.plaintext.size());
    state.phase = State::Phase::kDone;
    next_.Finish();
  } catch (...) {
    state.phase = State::Phase::kFailed;
    throw;
  }
}

}  // namespace pgbak
