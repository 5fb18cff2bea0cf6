// age_test.cpp: age encryption (src/core/age.cpp) and Bech32 (src/core/bech32.cpp).
//
// What a user relies on: a backup we encrypt opens with the stock `age` tool
// and with nothing but the identity; a file `age` wrote opens with our code;
// any change to an encrypted file (a flipped byte, a cut, appended bytes,
// chunks moved around) is an error, never silently different plaintext.
//
// Known answers come from outside this code: BIP-173's Bech32 test vectors,
// the X25519 key pair printed in the age specification (c2sp.org/age), a key
// pair made by age-keygen, and a set of the C2SP CCTV age test vectors
// (test/unit/crypto/data/age/, see make_cctv_vectors.py there for their provenance).
// The interoperability tests run /usr/bin/age and /usr/bin/age-keygen and skip
// when they are not installed.
#include "core/crypto/age.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/base/child_process.h"
#include "core/base/error.h"
#include "core/crypto/bech32.h"
#include "core/pipeline/child_pump.h"
#include "core/pipeline/sink.h"
#include "test_util.h"

namespace pgbak {
namespace {

using test::Bytes;

constexpr size_t kChunk = 64 * 1024;
constexpr size_t kWhole = 0;  // write the whole input in one piece
// kFastWorkFactor keeps scrypt cheap in tests (age's default is 18).
constexpr int kFastWorkFactor = 10;

// Pattern is size deterministic pseudo-random bytes (xorshift32).
std::string Pattern(size_t size, uint32_t seed = 2463534242u) {
  std::string bytes(size, '\0');
  uint32_t state = seed;
  for (size_t i = 0; i < size; ++i) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    bytes[i] = static_cast<char>(state & 0xff);
  }
  return bytes;
}

// Sha256Hex is the lowercase hex SHA-256 of data.
std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr), 1);
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 15]);
  }
  return hex;
}

// WriteInPieces writes data into sink piece bytes at a time (kWhole: at once).
void WriteInPieces(Sink& sink, const std::string& data, size_t piece) {
  if (piece == kWhole) {
    piece = data.size();
  }
  for (size_t pos = 0; pos < data.size(); pos += piece) {
    sink.Write(Bytes(data) + pos, std::min(piece, data.size() - pos));
  }
}

// Encrypt runs plaintext through an AgeEncryptSink to recipients.
std::string Encrypt(const std::string& plaintext, const std::vector<AgeRecipient>& recipients,
                    size_t piece = kWhole) {
  StringSink out;
  AgeEncryptSink encrypt(out, recipients);
  WriteInPieces(encrypt, plaintext, piece);
  encrypt.Finish();
  EXPECT_TRUE(out.finished());
  return out.contents();
}

// EncryptWithPassphrase runs plaintext through a passphrase AgeEncryptSink.
std::string EncryptWithPassphrase(const std::string& plaintext, const std::string& passphrase,
                                  int work_factor = kFastWorkFactor) {
  StringSink out;
  AgeEncryptSink encrypt(out, passphrase, work_factor);
  WriteInPieces(encrypt, plaintext, kWhole);
  encrypt.Finish();
  return out.contents();
}

// Outcome is what a decryption did: the plaintext released to the next stage
// (even when it failed later), whether it finished, and the error if any.
struct Outcome {
  bool ok = false;
  std::string released;
  bool finished = false;
  ErrorKind kind = ErrorKind::kInternal;
  std::string message;
  std::string detail;
};

using DecryptorFactory = std::function<std::unique_ptr<AgeDecryptSink>(Sink&)>;

// WithIdentities makes decryptors holding these identities.
DecryptorFactory WithIdentities(const std::vector<AgeIdentity>& identities) {
  return [identities](Sink& next) { return std::make_unique<AgeDecryptSink>(next, identities); };
}

// WithPassphrase makes passphrase decryptors.
DecryptorFactory WithPassphrase(const std::string& passphrase,
                                int max_work_factor = kAgeDefaultMaxWorkFactor) {
  return [passphrase, max_work_factor](Sink& next) {
    return std::make_unique<AgeDecryptSink>(next, passphrase, max_work_factor);
  };
}

// Decrypt feeds a file to a decryptor and reports what happened.
Outcome Decrypt(const std::string& file, const DecryptorFactory& factory, size_t piece = kWhole) {
  Outcome outcome;
  StringSink out;
  std::unique_ptr<AgeDecryptSink> decrypt = factory(out);
  try {
    WriteInPieces(*decrypt, file, piece);
    decrypt->Finish();
    outcome.ok = true;
  } catch (const Error& error) {
    outcome.kind = error.kind();
    outcome.message = error.what();
    outcome.detail = error.detail();
  }
  outcome.released = out.contents();
  outcome.finished = out.finished();
  return outcome;
}

// DecryptOrDie decrypts a file that must decrypt.
std::string DecryptOrDie(const std::string& file, const DecryptorFactory& factory,
                         size_t piece = kWhole) {
  Outcome outcome = Decrypt(file, factory, piece);
  EXPECT_TRUE(outcome.ok) << outcome.message << ": " << outcome.detail;
  EXPECT_TRUE(outcome.finished);
  return outcome.released;
}

// IsRejection is true for the two ways a damaged file may be refused: as
// corrupt, or (damage inside a stanza) as not matching the identity.
::testing::AssertionResult IsRejection(const Outcome& outcome) {
  if (outcome.ok) {
    return ::testing::AssertionFailure() << "decryption succeeded";
  }
  if (outcome.finished) {
    return ::testing::AssertionFailure() << "the next stage was finished";
  }
  if (outcome.kind == ErrorKind::kCorrupt) {
    return ::testing::AssertionSuccess();
  }
  if (outcome.kind == ErrorKind::kInvalidParameter &&
      outcome.message == "no identity matches any recipient of this file") {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "unexpected error kind " << static_cast<int>(outcome.kind) << ": " << outcome.message;
}

// HeaderSize is the length of an age file's header (through the MAC line).
size_t HeaderSize(const std::string& file) {
  size_t mac = file.find("\n--- ");
  EXPECT_NE(mac, std::string::npos);
  return file.find('\n', mac + 1) + 1;
}

// A key pair printed by `age-keygen -o` (age 1.1.1): a public test fixture,
// protecting nothing.
constexpr char kKeygenIdentity[] =
    "AGE-SECRET-KEY-1A4WWQUWZP2WDE2THTLUST7786J8E9F6LT5NQZN0208EWE38G3DRSA9HUPC";
constexpr char kKeygenRecipient[] =
    "age1s0zagqefd404zewsnag24h3l0rts2sklejnv0qppaprvfp0gfquq997l4t";

// The example key pair of the age specification (c2sp.org/age).
constexpr char kSpecIdentity[] =
    "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX";
constexpr char kSpecRecipient[] = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";

// =============================================================================
// Bech32
// =============================================================================

// BIP-173, "Test vectors": strings that are valid Bech32.
const std::vector<std::string> kBip173Valid = {
    "A12UEL5L",
    "a12uel5l",
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
};

TEST(Bech32Test, Bip173ValidStringsDecodeAndReencode) {
  for (const std::string& text : kBip173Valid) {
    SCOPED_TRACE(text);
    Bech32String decoded = Bech32DecodeWords(text, 90);
    std::string lower = text;
    for (char& c : lower) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    EXPECT_EQ(decoded.hrp, lower.substr(0, lower.rfind('1')));
    EXPECT_EQ(Bech32EncodeWords(decoded.hrp, decoded.data), lower);
  }
}

TEST(Bech32Test, Bip173AbcdefCarriesTheWholeCharset) {
  // The data part of this vector is the charset in order: values 0..31.
  Bech32String decoded = Bech32DecodeWords("abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw", 90);
  ASSERT_EQ(decoded.data.size(), 32u);
  for (uint8_t i = 0; i < 32; ++i) {
    EXPECT_EQ(decoded.data[i], i);
  }
  EXPECT_EQ(decoded.hrp, "abcdef");
}

TEST(Bech32Test, Bip173InvalidStringsAreRejected) {
  // BIP-173, "Test vectors": strings that are not valid Bech32, with reasons.
  const std::vector<std::pair<std::string, std::string>> invalid = {
      {std::string("\x20") + "1nwldj5", "HRP character out of range"},
      {std::string("\x7f") + "1axkwrx", "HRP character out of range"},
      {std::string("\x80") + "1eym55h", "HRP character out of range"},
      {"an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pv"
       "x",
       "overall max length exceeded"},
      {"pzry9x0s0muk", "No separator character"},
      {"1pzry9x0s0muk", "Empty HRP"},
      {"x1b4n0q5v", "Invalid data character"},
      {"li1dgmt3", "Too short checksum"},
      {std::string("de1lg7wt") + "\xff", "Invalid character in checksum"},
      {"A1G7SGD8", "checksum calculated with uppercase form of HRP"},
      {"10a06t8", "empty HRP"},
      {"1qzzfhee", "empty HRP"},
  };
  for (const auto& [text, reason] : invalid) {
    SCOPED_TRACE(reason);
    try {
      Bech32DecodeWords(text, 90);
      ADD_FAILURE() << "accepted";
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kInvalidParameter);
    }
  }
}

TEST(Bech32Test, Bech32mChecksumIsNotBech32) {
  // BIP-350's first valid bech32m string: age uses bech32, so it must fail.
  EXPECT_THROW(Bech32DecodeWords("A1LQFN3A"), Error);
  EXPECT_THROW(Bech32DecodeWords("a1lqfn3a"), Error);
}

TEST(Bech32Test, MixedCaseIsRejected) {
  EXPECT_NO_THROW(Bech32DecodeWords("A12UEL5L"));
  EXPECT_THROW(Bech32DecodeWords("A12uEL5L"), Error);
  EXPECT_THROW(Bech32Decode(std::string(kSpecRecipient).replace(5, 1, "V")), Error);
}

TEST(Bech32Test, BytesRoundTripAtEveryLength) {
  for (size_t size = 0; size <= 70; ++size) {
    std::string data = Pattern(size, static_cast<uint32_t>(size + 1));
    std::vector<uint8_t> bytes(data.begin(), data.end());
    std::string text = Bech32Encode("age", bytes);
    Bech32String decoded = Bech32Decode(text);
    EXPECT_EQ(decoded.hrp, "age");
    EXPECT_EQ(decoded.data, bytes) << size;
  }
}

TEST(Bech32Test, NoLengthLimitUnlessAsked) {
  // age drops BIP-173's 90-character limit.
  std::string data = Pattern(200);
  std::string text = Bech32Encode("age", std::vector<uint8_t>(data.begin(), data.end()));
  ASSERT_GT(text.size(), 90u);
  EXPECT_EQ(Bech32Decode(text).data.size(), 200u);
  EXPECT_THROW(Bech32DecodeWords(text, 90), Error);
}

TEST(Bech32Test, NonZeroPaddingBitsAreRejected) {
  // One byte is 8 bits: two 5-bit groups with 2 padding bits, which must be
  // zero; otherwise two strings would decode to the same key.
  std::string padded = Bech32EncodeWords("age", {0x1f, 0x1c});
  std::string unpadded = Bech32EncodeWords("age", {0x1f, 0x1d});
  EXPECT_EQ(Bech32Decode(padded).data, std::vector<uint8_t>{0xff});
  EXPECT_NO_THROW(Bech32DecodeWords(unpadded));
  EXPECT_THROW(Bech32Decode(unpadded), Error);
  // A whole spare group of padding is excess padding.
  EXPECT_THROW(Bech32Decode(Bech32EncodeWords("age", {0x1f, 0x1c, 0})), Error);
}

TEST(Bech32Test, EverySingleCharacterChangeIsCaught) {
  // The BCH checksum guarantees that any one substitution is detected.
  const std::string text = kSpecRecipient;
  const std::string charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
  for (size_t i = 4; i < text.size(); ++i) {
    for (char c : charset) {
      if (c == text[i]) {
        continue;
      }
      std::string changed = text;
      changed[i] = c;
      EXPECT_THROW(Bech32Decode(changed), Error) << i << " " << c;
    }
  }
}

TEST(Bech32Test, ErrorsDoNotQuoteTheText) {
  std::string broken = kSpecIdentity;
  broken[30] = broken[30] == 'Q' ? 'P' : 'Q';
  try {
    Bech32Decode(broken);
    FAIL() << "accepted";
  } catch (const Error& error) {
    EXPECT_EQ(std::string(error.what()).find("GFPYY"), std::string::npos) << error.what();
    EXPECT_EQ(error.detail().find("GFPYY"), std::string::npos);
  }
}

// =============================================================================
// Keys
// =============================================================================

TEST(AgeKeyTest, SpecificationExampleKeyPair) {
  AgeIdentity identity = AgeIdentity::Parse(kSpecIdentity);
  EXPECT_EQ(identity.Recipient().ToString(), kSpecRecipient);
  EXPECT_EQ(identity.ToString(), kSpecIdentity);
  EXPECT_EQ(AgeRecipient::Parse(kSpecRecipient), identity.Recipient());
}

TEST(AgeKeyTest, AgeKeygenKeyPair) {
  // The public key age-keygen printed for this identity, derived here.
  AgeIdentity identity = AgeIdentity::Parse(kKeygenIdentity);
  EXPECT_EQ(identity.Recipient().ToString(), kKeygenRecipient);
  EXPECT_EQ(AgeRecipient::Parse(kKeygenRecipient).ToString(), kKeygenRecipient);
}

TEST(AgeKeyTest, CctvTestIdentity) {
  // The identity of the CCTV vectors' testkit and the recipient that
  // age-keygen -y prints for it; the older vectors use that recipient's bytes
  // as an identity of their own (AGE-SECRET-KEY-1XMWWC06...).
  AgeIdentity identity = AgeIdentity::Parse(
      "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0");
  EXPECT_EQ(identity.Recipient().ToString(),
            "age1xmwwc06ly3ee5rytxm9mflaz2u56jjj36s0mypdrwsvlul66mv4q47ryef");
}

TEST(AgeKeyTest, EitherCaseIsAccepted) {
  std::string lower_identity = kSpecIdentity;
  for (char& c : lower_identity) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  EXPECT_EQ(AgeIdentity::Parse(lower_identity).ToString(), kSpecIdentity);
  std::string upper_recipient = kSpecRecipient;
  for (char& c : upper_recipient) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  EXPECT_EQ(AgeRecipient::Parse(upper_recipient).ToString(), kSpecRecipient);
}

TEST(AgeKeyTest, GeneratedKeyPairsAreFreshAndConsistent) {
  AgeKeyPair first = AgeGenerateIdentity();
  AgeKeyPair second = AgeGenerateIdentity();
  EXPECT_NE(first.identity, second.identity);
  EXPECT_EQ(first.identity.size(), 74u);
  EXPECT_EQ(first.identity.rfind("AGE-SECRET-KEY-1", 0), 0u);
  EXPECT_EQ(first.recipient.size(), 62u);
  EXPECT_EQ(first.recipient.rfind("age1", 0), 0u);
  EXPECT_EQ(AgeIdentity::Parse(first.identity).Recipient().ToString(), first.recipient);
  EXPECT_EQ(AgeIdentity::Parse(second.identity).Recipient().ToString(), second.recipient);
}

// RecipientError is the error AgeRecipient::Parse throws for text.
Error RecipientError(const std::string& text) {
  try {
    AgeRecipient::Parse(text);
  } catch (const Error& error) {
    return error;
  }
  ADD_FAILURE() << "accepted " << text;
  return Error(ErrorKind::kInternal, "accepted");
}

TEST(AgeKeyTest, BadRecipientsAreRejectedWithAHint) {
  std::string bad_checksum = kSpecRecipient;
  bad_checksum.back() = bad_checksum.back() == 'j' ? 'k' : 'j';
  std::vector<uint8_t> key(32, 7);
  std::vector<std::string> bad = {
      "",
      "age1",
      bad_checksum,
      Bech32Encode("agf", key),                          // another prefix
      Bech32Encode("age", std::vector<uint8_t>(31, 7)),  // short key
      Bech32Encode("age", std::vector<uint8_t>(33, 7)),  // long key
      Bech32Encode("age", std::vector<uint8_t>(32, 0)),  // low-order point
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN",
      std::string(kSpecRecipient) + " ",
  };
  for (const std::string& text : bad) {
    SCOPED_TRACE(text);
    Error error = RecipientError(text);
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidParameter);
    EXPECT_FALSE(error.hint().empty());
  }
}

TEST(AgeKeyTest, SecretKeyGivenAsRecipientIsNotRepeated) {
  for (std::string text : {std::string(kSpecIdentity), std::string(kKeygenIdentity)}) {
    Error error = RecipientError(text);
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidParameter);
    EXPECT_NE(std::string(error.what()).find("secret key"), std::string::npos) << error.what();
    std::string all = std::string(error.what()) + error.detail() + error.hint();
    EXPECT_EQ(all.find(text.substr(16, 20)), std::string::npos) << all;
  }
}

TEST(AgeKeyTest, BadIdentitiesAreRejectedWithoutQuotingThem) {
  std::string bad_checksum = kKeygenIdentity;
  bad_checksum.back() = bad_checksum.back() == 'C' ? 'D' : 'C';
  for (const std::string& text : {bad_checksum, std::string(kKeygenRecipient),
                                  std::string("AGE-PLUGIN-YUBIKEY-1QQQQQQQQQQQQQQQQQQQQQQQQ")}) {
    try {
      AgeIdentity::Parse(text);
      ADD_FAILURE() << "accepted";
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kInvalidParameter);
      std::string all = std::string(error.what()) + error.detail() + error.hint();
      EXPECT_EQ(all.find(text.substr(17, 20)), std::string::npos) << all;
    }
  }
}

TEST(AgeKeyTest, IdentityFileLikeAgeKeygenWritesIt) {
  AgeKeyPair other = AgeGenerateIdentity();
  std::string file = std::string("# created: 2026-11-22T04:10:37Z\r\n") +
                     "# public key: " + kKeygenRecipient + "\r\n" + kKeygenIdentity + "\r\n" +
                     "\n   \n# a second key\n  " + other.identity + "  \n";
  std::vector<AgeIdentity> identities = ParseAgeIdentities(file);
  ASSERT_EQ(identities.size(), 2u);
  EXPECT_EQ(identities[0].Recipient().ToString(), kKeygenRecipient);
  EXPECT_EQ(identities[1].Recipient().ToString(), other.recipient);
  // No final newline.
  EXPECT_EQ(ParseAgeIdentities(kKeygenIdentity).size(), 1u);
}

TEST(AgeKeyTest, IdentityFileErrorsNameTheLineNotTheKey) {
  std::string broken = kKeygenIdentity;
  broken[40] = broken[40] == 'Q' ? 'P' : 'Q';
  try {
    ParseAgeIdentities(std::string("# key\n") + kSpecIdentity + "\n" + broken + "\n");
    FAIL() << "accepted";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidParameter);
    EXPECT_STREQ(error.what(), "line 3 of the age identity file is not an X25519 identity");
    std::string all = std::string(error.what()) + error.detail() + error.hint();
    EXPECT_EQ(all.find(broken.substr(16, 20)), std::string::npos) << all;
    EXPECT_EQ(all.find("GFPYY"), std::string::npos) << all;
  }
  EXPECT_THROW(ParseAgeIdentities("# nothing here\n\n"), Error);
  EXPECT_THROW(ParseAgeIdentities(""), Error);
  EXPECT_THROW(ParseAgeIdentities(std::string(kKeygenRecipient) + "\n"), Error);
}

// =============================================================================
// Round trips
// =============================================================================

// RoundTripCase is one plaintext size written in one piece size.
struct RoundTripCase {
  size_t size;
  size_t piece;
};

class AgeRoundTripTest : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(AgeRoundTripTest, DecryptsToThePlaintext) {
  const RoundTripCase param = GetParam();
  AgeIdentity identity = AgeIdentity::Generate();
  std::string plaintext = Pattern(param.size);
  std::string file = Encrypt(plaintext, {identity.Recipient()}, param.piece);

  // The size is fixed by the format: header, nonce, chunks with a tag each
  // (an empty payload still has one, empty, last chunk).
  size_t chunks = param.size == 0 ? 1 : (param.size + kChunk - 1) / kChunk;
  EXPECT_EQ(file.size(), HeaderSize(file) + 16 + param.size + 16 * chunks);
  EXPECT_EQ(file.rfind("age-encryption.org/v1\n-> X25519 ", 0), 0u);

  std::string decrypted = DecryptOrDie(file, WithIdentities({identity}), param.piece);
  EXPECT_EQ(decrypted.size(), plaintext.size());
  EXPECT_TRUE(decrypted == plaintext);
}

INSTANTIATE_TEST_SUITE_P(
    AgeSizes, AgeRoundTripTest,
    ::testing::Values(RoundTripCase{0, kWhole}, RoundTripCase{0, 1}, RoundTripCase{1, kWhole},
                      RoundTripCase{1, 1}, RoundTripCase{kChunk - 1, 7},
                      RoundTripCase{kChunk, kWhole}, RoundTripCase{kChunk, 1},
                      RoundTripCase{kChunk, 65537}, RoundTripCase{kChunk + 1, kWhole},
                      RoundTripCase{kChunk + 1, 1}, RoundTripCase{kChunk + 1, 7},
                      RoundTripCase{2 * kChunk, 65537}, RoundTripCase{3 * kChunk + 17, 7},
                      RoundTripCase{(5 << 20) + 123, kWhole}, RoundTripCase{(5 << 20) + 123, 65537},
                      RoundTripCase{(4 << 20), 7}),
    [](const ::testing::TestParamInfo<RoundTripCase>& info) {
      return "Size" + std::to_string(info.param.size) + "Piece" +
             (info.param.piece == kWhole ? std::string("Whole") : std::to_string(info.param.piece));
    });

TEST(AgeEncryptTest, EveryRecipientCanDecrypt) {
  std::vector<AgeIdentity> identities = {AgeIdentity::Generate(), AgeIdentity::Generate(),
                                         AgeIdentity::Parse(kKeygenIdentity)};
  std::vector<AgeRecipient> recipients;
  for (const AgeIdentity& identity : identities) {
    recipients.push_back(identity.Recipient());
  }
  std::string plaintext = Pattern(100000);
  std::string file = Encrypt(plaintext, recipients);
  // One stanza per recipient, each with its own ephemeral share.
  size_t stanzas = 0;
  for (size_t pos = file.find("\n-> X25519 "); pos < HeaderSize(file);
       pos = file.find("\n-> X25519 ", pos + 1)) {
    ++stanzas;
  }
  EXPECT_EQ(stanzas, 3u);
  for (const AgeIdentity& identity : identities) {
    EXPECT_TRUE(DecryptOrDie(file, WithIdentities({identity})) == plaintext);
  }
  // A list where only the last identity matches works too.
  AgeIdentity stranger = AgeIdentity::Generate();
  EXPECT_TRUE(DecryptOrDie(file, WithIdentities({stranger, identities[2]})) == plaintext);

  Outcome outcome = Decrypt(file, WithIdentities({stranger}));
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.kind, ErrorKind::kInvalidParameter);
  EXPECT_EQ(outcome.message, "no identity matches any recipient of this file");
  EXPECT_TRUE(outcome.released.empty());
  EXPECT_FALSE(outcome.finished);
}

TEST(AgeEncryptTest, EachFileHasFreshKeys) {
  AgeRecipient recipient = AgeIdentity::Generate().Recipient();
  std::string first = Encrypt("same", {recipient});
  std::string second = Encrypt("same", {recipient});
  EXPECT_EQ(first.size(), second.size());
  // Different ephemeral share, stanza body, MAC, nonce and ciphertext.
  size_t header = HeaderSize(first);
  EXPECT_NE(first.substr(0, header), second.substr(0, header));
  EXPECT_NE(first.substr(header), second.substr(header));
}

TEST(AgeEncryptTest, OutputStreamsWithBoundedBuffering) {
  // A pipeline stage must not hold the stream: after 1 MiB of input at most
  // one chunk (and the header) is still inside the stage.
  StringSink out;
  AgeIdentity identity = AgeIdentity::Generate();
  AgeEncryptSink encrypt(out, {identity.Recipient()});
  std::string plaintext = Pattern(1 << 20);
  WriteInPieces(encrypt, plaintext, 4096);
  EXPECT_GE(out.contents().size(), (1u << 20) - kChunk);
  EXPECT_FALSE(out.finished());
  encrypt.Finish();
  EXPECT_TRUE(out.finished());

  StringSink plain;
  AgeDecryptSink decrypt(plain, {identity});
  WriteInPieces(decrypt, out.contents(), 4096);
  EXPECT_GE(plain.contents().size(), (1u << 20) - 2 * kChunk);
  EXPECT_FALSE(plain.finished());
  decrypt.Finish();
  EXPECT_TRUE(plain.finished());
  EXPECT_TRUE(plain.contents() == plaintext);
}

TEST(AgeEncryptTest, BadParametersAreRejected) {
  StringSink out;
  EXPECT_THROW(AgeEncryptSink(out, std::vector<AgeRecipient>{}), Error);
  EXPECT_THROW(AgeEncryptSink(out, std::string_view("")), Error);
  EXPECT_THROW(AgeEncryptSink(out, "pass", 0), Error);
  EXPECT_THROW(AgeEncryptSink(out, "pass", kAgeMaxWorkFactor + 1), Error);
  EXPECT_THROW(AgeDecryptSink(out, std::vector<AgeIdentity>{}), Error);
  EXPECT_THROW(AgeDecryptSink(out, std::string_view("")), Error);
  EXPECT_THROW(AgeDecryptSink(out, "pass", 0), Error);
  EXPECT_THROW(AgeDecryptSink(out, "pass", kAgeMaxWorkFactor + 1), Error);
  EXPECT_TRUE(out.contents().empty());
}

TEST(AgeEncryptTest, NoUseAfterFinish) {
  StringSink out;
  AgeEncryptSink encrypt(out, {AgeIdentity::Generate().Recipient()});
  encrypt.Finish();
  EXPECT_THROW(encrypt.Write(Bytes("x"), 1), Error);
  EXPECT_THROW(encrypt.Finish(), Error);
}

TEST(AgePassphraseTest, RoundTrip) {
  std::string plaintext = Pattern(kChunk + 5);
  std::string file = EncryptWithPassphrase(plaintext, "correct horse battery staple");
  EXPECT_EQ(file.rfind("age-encryption.org/v1\n-> scrypt ", 0), 0u);
  EXPECT_NE(file.find(" 10\n"), std::string::npos);
  EXPECT_TRUE(DecryptOrDie(file, WithPassphrase("correct horse battery staple"), 7) == plaintext);
}

TEST(AgePassphraseTest, WrongPassphraseOrKindDoesNotMatch) {
  std::string file = EncryptWithPassphrase("secret data", "right");
  Outcome wrong = Decrypt(file, WithPassphrase("wrong"));
  EXPECT_FALSE(wrong.ok);
  EXPECT_EQ(wrong.message, "no identity matches any recipient of this file");
  EXPECT_TRUE(wrong.released.empty());

  Outcome identity = Decrypt(file, WithIdentities({AgeIdentity::Generate()}));
  EXPECT_FALSE(identity.ok);
  EXPECT_EQ(identity.message, "no identity matches any recipient of this file");

  AgeIdentity x25519 = AgeIdentity::Generate();
  Outcome passphrase = Decrypt(Encrypt("data", {x25519.Recipient()}), WithPassphrase("right"));
  EXPECT_FALSE(passphrase.ok);
  EXPECT_EQ(passphrase.message, "no identity matches any recipient of this file");
}

TEST(AgePassphraseTest, WorkFactorLimitIsCheckedBeforeScrypt) {
  std::string file = EncryptWithPassphrase("data", "pw", 12);
  Outcome limited = Decrypt(file, WithPassphrase("pw", 11));
  EXPECT_FALSE(limited.ok);
  EXPECT_EQ(limited.kind, ErrorKind::kInvalidParameter);
  EXPECT_NE(limited.message.find("work factor"), std::string::npos) << limited.message;
  EXPECT_EQ(DecryptOrDie(file, WithPassphrase("pw", 12)), "data");
}

// =============================================================================
// Tampering
// =============================================================================

// SmallFile is a short file and the identity that opens it.
struct SmallFile {
  AgeIdentity identity = AgeIdentity::Generate();
  std::string plaintext = Pattern(100);
  std::string file = Encrypt(plaintext, {identity.Recipient()});
};

TEST(AgeTamperTest, EveryByteOfASmallFileIsProtected) {
  SmallFile small;
  ASSERT_TRUE(DecryptOrDie(small.file, WithIdentities({small.identity})) == small.plaintext);
  for (size_t i = 0; i < small.file.size(); ++i) {
    for (uint8_t mask : {0x01, 0x80, 0xff}) {
      std::string damaged = small.file;
      damaged[i] = static_cast<char>(damaged[i] ^ mask);
      Outcome outcome = Decrypt(damaged, WithIdentities({small.identity}));
      EXPECT_TRUE(IsRejection(outcome)) << "byte " << i << " mask " << int{mask};
      EXPECT_TRUE(outcome.released.empty()) << "byte " << i;
    }
  }
}

TEST(AgeTamperTest, EveryByteOfAPassphraseFileHeaderIsProtected) {
  std::string file = EncryptWithPassphrase("passphrase data", "pw", 2);
  for (size_t i = 0; i < HeaderSize(file) + 16; ++i) {
    std::string damaged = file;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x01);
    Outcome outcome = Decrypt(damaged, WithPassphrase("pw"));
    if (outcome.ok) {
      ADD_FAILURE() << "byte " << i << " accepted";
    } else if (outcome.kind == ErrorKind::kInvalidParameter) {
      // The work factor digit changed: refused by the limit or no match.
      EXPECT_TRUE(outcome.message.find("work factor") != std::string::npos ||
                  outcome.message == "no identity matches any recipient of this file")
          << i << outcome.message;
    } else {
      EXPECT_EQ(outcome.kind, ErrorKind::kCorrupt) << i;
    }
  }
}

TEST(AgeTamperTest, ChunkBoundariesAndSpotsOfALargeFileAreProtected) {
  AgeIdentity identity = AgeIdentity::Generate();
  std::string file = Encrypt(Pattern(2 * kChunk + 1000), {identity.Recipient()});
  size_t payload = HeaderSize(file) + 16;
  std::vector<size_t> positions;
  for (size_t chunk_start = payload; chunk_start < file.size(); chunk_start += kChunk + 16) {
    for (size_t offset : {size_t{0}, size_t{1}, kChunk - 1, kChunk, kChunk + 15}) {
      if (chunk_start + offset < file.size()) {
        positions.push_back(chunk_start + offset);
      }
    }
  }
  for (size_t i = payload; i < file.size(); i += 4099) {
    positions.push_back(i);
  }
  positions.push_back(file.size() - 1);
  for (size_t i : positions) {
    std::string damaged = file;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x04);
    Outcome outcome = Decrypt(damaged, WithIdentities({identity}), 65537);
    EXPECT_FALSE(outcome.ok) << i;
    EXPECT_EQ(outcome.kind, ErrorKind::kCorrupt) << i;
    EXPECT_FALSE(outcome.finished);
    // Chunks before the damaged one are genuine and may have been passed on;
    // nothing from the damaged chunk or after it may have been.
    size_t damaged_chunk = (i - payload) / (kChunk + 16);
    EXPECT_LE(outcome.released.size(), damaged_chunk * kChunk) << i;
  }
}

TEST(AgeTamperTest, EveryTruncationIsDetected) {
  SmallFile small;
  for (size_t size = 0; size < small.file.size(); ++size) {
    Outcome outcome = Decrypt(small.file.substr(0, size), WithIdentities({small.identity}));
    EXPECT_FALSE(outcome.ok) << size;
    EXPECT_EQ(outcome.kind, ErrorKind::kCorrupt) << size << ": " << outcome.message;
    EXPECT_TRUE(outcome.released.empty()) << size;
  }
}

TEST(AgeTamperTest, TruncationAtAChunkBoundaryIsDetected) {
  AgeIdentity identity = AgeIdentity::Generate();
  std::string plaintext = Pattern(2 * kChunk + 10);
  std::string file = Encrypt(plaintext, {identity.Recipient()});
  size_t payload = HeaderSize(file) + 16;
  for (size_t chunks : {1, 2}) {
    std::string cut = file.substr(0, payload + chunks * (kChunk + 16));
    Outcome outcome = Decrypt(cut, WithIdentities({identity}));
    EXPECT_FALSE(outcome.ok) << chunks;
    EXPECT_EQ(outcome.kind, ErrorKind::kCorrupt);
    EXPECT_FALSE(outcome.finished);
  }
  // Also when the last chunk is exactly full and the cut removes it whole.
  std::string full = Encrypt(Pattern(2 * kChunk), {identity.Recipient()});
  Outcome outcome =
      Decrypt(full.substr(0, HeaderSize(full) + 16 + kChunk + 16), WithIdentities({identity}));
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.kind, ErrorKind::kCorrupt);
}

TEST(AgeTamperTest, TrailingDataIsDetected) {
  AgeIdentity identity = AgeIdentity::Generate();
  for (size_t size : {size_t{0}, size_t{100}, kChunk, 2 * kChunk}) {
    std::string file = Encrypt(Pattern(size), {identity.Recipient()});
    for (size_t extra : {size_t{1}, size_t{16}, size_t{17}, kChunk + 16}) {
      Outcome outcome = Decrypt(file + Pattern(extra, 99), WithIdentities({identity}), 4096);
      EXPECT_FALSE(outcome.ok) << size << " + " << extra;
      EXPECT_EQ(outcome.kind, ErrorKind::kCorrupt) << size << " + " << extra;
      EXPECT_FALSE(outcome.finished);
    }
  }
}

TEST(AgeTamperTest, ReorderedDuplicatedOrDroppedChunksAreDetected) {
  AgeIdentity identity = AgeIdentity::Generate();
  std::string file = Encrypt(Pattern(3 * kChunk + 500), {identity.Recipient()});
  size_t payload = HeaderSize(file) + 16;
  auto chunk = [&](size_t n) { return file.substr(payload + n * (kChunk + 16), kChunk + 16); };
  std::string head = file.substr(0, payload);
  std::string last = file.substr(payload + 3 * (kChunk + 16));
  std::map<std::string, std::string> variants = {
      {"swap 0 and 1", head + chunk(1) + chunk(0) + chunk(2) + last},
      {"swap 1 and 2", head + chunk(0) + chunk(2) + chunk(1) + last},
      {"duplicate 0", head + chunk(0) + chunk(0) + chunk(1) + chunk(2) + last},
      {"duplicate 2", head + chunk(0) + chunk(1) + chunk(2) + chunk(2) + last},
      {"drop 1", head + chunk(0) + chunk(2) + last},
      {"drop last", head + chunk(0) + chunk(1) + chunk(2)},
      {"last first", head + last},
  };
  for (const auto& [name, variant] : variants) {
    Outcome outcome = Decrypt(variant, WithIdentities({identity}));
    EXPECT_FALSE(outcome.ok) << name;
    EXPECT_EQ(outcome.kind, ErrorKind::kCorrupt) << name;
  }
}

TEST(AgeTamperTest, HeaderOfOneFileWithThePayloadOfAnother) {
  AgeIdentity identity = AgeIdentity::Generate();
  std::string first = Encrypt("first file", {identity.Recipient()});
  std::string second = Encrypt("other file", {identity.Recipient()});
  size_t header = HeaderSize(first);
  Outcome outcome =
      Decrypt(first.substr(0, header) + second.substr(header), WithIdentities({identity}));
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.kind, ErrorKind::kCorrupt);
}

TEST(AgeTamperTest, SomethingElseIsRefusedAtOnce) {
  AgeIdentity identity = AgeIdentity::Generate();
  StringSink out;
  AgeDecryptSink decrypt(out, {identity});
  // A zstd frame (not encrypted): refused on its first byte, not after
  // buffering up to the header size limit.
  try {
    decrypt.Write(Bytes("\x28\xb5\x2f\xfd"), 4);
    FAIL() << "accepted";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kCorrupt);
    EXPECT_STREQ(error.what(), "not an age file");
  }
  // The stage refuses further use.
  EXPECT_THROW(decrypt.Write(Bytes("a"), 1), Error);
  EXPECT_THROW(decrypt.Finish(), Error);

  Outcome armored = Decrypt("-----BEGIN AGE ENCRYPTED FILE-----\n", WithIdentities({identity}));
  EXPECT_EQ(armored.message, "not an age file");
  Outcome empty = Decrypt("", WithIdentities({identity}));
  EXPECT_EQ(empty.kind, ErrorKind::kCorrupt);
}

TEST(AgeTamperTest, HeaderSizeIsBounded) {
  AgeIdentity identity = AgeIdentity::Generate();
  std::string endless = "age-encryption.org/v1\n-> grease\n";
  std::string line(64, 'A');
  line.push_back('\n');
  while (endless.size() < (1 << 20) + 100) {
    endless += line;
  }
  Outcome outcome = Decrypt(endless, WithIdentities({identity}));
  EXPECT_EQ(outcome.kind, ErrorKind::kCorrupt);
  EXPECT_EQ(outcome.message, "age header is too long");
}

TEST(AgeTamperTest, NonCanonicalHeaderEncodingsAreRejected) {
  // Re-encode the header of a valid file in ways a lax parser would accept.
  AgeIdentity identity = AgeIdentity::Generate();
  std::string file = Encrypt("data", {identity.Recipient()});
  size_t stanza = file.find("-> X25519 ");
  size_t share_end = file.find('\n', stanza);
  size_t body_end = file.find('\n', share_end + 1);
  std::vector<std::pair<std::string, std::string>> variants = {
      // '=' padding after the 43-character share.
      {"padded share", file.substr(0, share_end) + "=" + file.substr(share_end)},
      // Two spaces between arguments (an empty argument).
      {"double space", file.substr(0, stanza + 9) + " " + file.substr(stanza + 9)},
      // CRLF line ending on the version line.
      {"crlf", "age-encryption.org/v1\r\n" + file.substr(22)},
      // A stanza body that does not end with a short line.
      {"no short line",
       file.substr(0, body_end + 1) + std::string(64, 'A') + "\n" + file.substr(body_end + 1)},
      // A stanza body line longer than 64 columns.
      {"long body line", file.substr(0, stanza) + "-> grease\n" + std::string(65, 'A') + "\n\n" +
                             file.substr(stanza)},
      // No stanza at all.
      {"no stanza", "age-encryption.org/v1\n" + file.substr(file.find("--- "))},
  };
  for (const auto& [name, variant] : variants) {
    Outcome outcome = Decrypt(variant, WithIdentities({identity}));
    EXPECT_FALSE(outcome.ok) << name;
    EXPECT_EQ(outcome.kind, ErrorKind::kCorrupt) << name << ": " << outcome.message;
    // The parser itself must refuse these: the MAC would catch them too, but
    // a parser that accepts them would accept the same forms in a header
    // whose MAC was computed over them.
    EXPECT_NE(outcome.message, "age header MAC mismatch") << name;
  }
}

// =============================================================================
// C2SP CCTV test vectors (test/unit/crypto/data/age/)
// =============================================================================

// CctvVector is a parsed vector: its "key: value" lines and the age file.
struct CctvVector {
  std::multimap<std::string, std::string> meta;
  std::string file;
  std::string Get(const std::string& key) const {
    auto found = meta.find(key);
    return found == meta.end() ? std::string() : found->second;
  }
};

CctvVector ReadCctvVector(const std::string& name) {
  std::string source = __FILE__;
  std::string path = source.substr(0, source.rfind('/')) + "/data/age/" + name;
  std::string text = test::ReadFile(path);
  CctvVector vector;
  size_t end = text.find("\n\n");
  EXPECT_NE(end, std::string::npos) << name;
  size_t pos = 0;
  while (pos <= end) {
    size_t line_end = text.find('\n', pos);
    std::string line = text.substr(pos, line_end - pos);
    size_t colon = line.find(": ");
    EXPECT_NE(colon, std::string::npos) << line;
    vector.meta.emplace(line.substr(0, colon), line.substr(colon + 2));
    pos = line_end + 1;
  }
  vector.file = text.substr(end + 2);
  return vector;
}

// The vectors, by the outcome they expect. Every file in the directory is
// listed, so a missing one fails the test.
const std::vector<std::string> kCctvVectors = {
    "x25519",
    "x25519_grease",
    "x25519_multiple_recipients",
    "stanza_valid_characters",
    "scrypt",
    "x25519_bad_tag",
    "scrypt_uppercase",
    "scrypt_work_factor_wrong",
    "hmac_bad",
    "x25519_not_canonical_share",
    "x25519_extra_argument",
    "x25519_low_order",
    "hmac_garbage",
    "hmac_not_canonical",
    "stanza_missing_final_line",
    "stanza_long_line",
    "stanza_base64_padding",
    "version_unsupported",
    "scrypt_and_x25519",
    "scrypt_double",
    "scrypt_work_factor_23",
    "scrypt_work_factor_leading_plus",
    "scrypt_not_canonical_salt",
    "stream_short_nonce",
    "stream_bad_tag",
    "stream_no_final",
    "stream_missing_tag",
    "stream_no_chunks",
    "stream_last_chunk_empty",
    "stream_trailing_garbage_short",
    "stream_two_final_chunks",
};

// CheckCctvOutcome checks one decryption attempt against the vector's
// "expect" (see the CCTV age README for their meaning).
void CheckCctvOutcome(const CctvVector& vector, const Outcome& outcome) {
  const std::string expect = vector.Get("expect");
  const std::string context = outcome.message + ": " + outcome.detail;
  if (expect == "success") {
    EXPECT_TRUE(outcome.ok) << context;
    EXPECT_TRUE(outcome.finished);
    EXPECT_EQ(Sha256Hex(outcome.released), vector.Get("payload"));
    return;
  }
  EXPECT_FALSE(outcome.ok);
  EXPECT_FALSE(outcome.finished);
  if (expect == "payload failure") {
    // The header opened; what was released before the failure is exactly
    // the plaintext of the chunks before the bad one.
    EXPECT_EQ(outcome.kind, ErrorKind::kCorrupt) << context;
    EXPECT_EQ(Sha256Hex(outcome.released), vector.Get("payload"));
    return;
  }
  EXPECT_TRUE(outcome.released.empty());
  if (expect == "no match") {
    EXPECT_EQ(outcome.kind, ErrorKind::kInvalidParameter) << context;
    EXPECT_EQ(outcome.message, "no identity matches any recipient of this file");
  } else if (expect == "HMAC failure") {
    EXPECT_EQ(outcome.kind, ErrorKind::kCorrupt) << context;
    EXPECT_EQ(outcome.message, "age header MAC mismatch");
  } else if (expect == "header failure") {
    // Refused while reading the header: not mistaken for a wrong key, not
    // reported as a MAC mismatch (that would mean the parser accepted a
    // malformed header and only the MAC caught it).
    EXPECT_TRUE(outcome.kind == ErrorKind::kCorrupt || outcome.kind == ErrorKind::kInvalidParameter)
        << context;
    EXPECT_NE(outcome.message, "no identity matches any recipient of this file");
    EXPECT_NE(outcome.message, "age header MAC mismatch");
  } else {
    ADD_FAILURE() << "unknown expectation " << expect;
  }
}

class AgeCctvTest : public ::testing::TestWithParam<std::string> {};

TEST_P(AgeCctvTest, DecryptsAsExpected) {
  CctvVector vector = ReadCctvVector(GetParam());
  ASSERT_FALSE(vector.Get("expect").empty());
  std::vector<AgeIdentity> identities;
  std::vector<std::string> passphrases;
  for (const auto& [key, value] : vector.meta) {
    if (key == "identity") {
      identities.push_back(AgeIdentity::Parse(value));
    } else if (key == "passphrase") {
      passphrases.push_back(value);
    }
  }
  ASSERT_FALSE(identities.empty() && passphrases.empty());
  for (size_t piece : {kWhole, size_t{1}}) {
    SCOPED_TRACE(piece == kWhole ? "whole" : "byte by byte");
    if (!identities.empty()) {
      CheckCctvOutcome(vector, Decrypt(vector.file, WithIdentities(identities), piece));
    }
    for (const std::string& passphrase : passphrases) {
      // The age tool's own limit is 22; vectors above it must fail either way.
      CheckCctvOutcome(vector, Decrypt(vector.file, WithPassphrase(passphrase, 22), piece));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AgeCctvVectors, AgeCctvTest, ::testing::ValuesIn(kCctvVectors),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// =============================================================================
// Interoperability with the stock age tools
// =============================================================================

constexpr char kAge[] = "/usr/bin/age";
constexpr char kAgeKeygen[] = "/usr/bin/age-keygen";

// RunTool runs a program without a shell and returns its stdout; it fails the
// test (with stderr) if the program fails.
std::string RunTool(const std::string& program, const std::vector<std::string>& args) {
  ChildProcess child({program, args, {"PATH=/usr/bin:/bin", "HOME=/tmp"}});
  StringSink out;
  try {
    PumpChild(child, out);
  } catch (const Error& error) {
    ADD_FAILURE() << error.what() << ": " << error.detail();
  }
  return out.contents();
}

class AgeInteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kAge, X_OK) != 0 || access(kAgeKeygen, X_OK) != 0) {
      GTEST_SKIP() << "the stock age tools are not installed (apt-get install age)";
    }
    key_path_ = dir_.Join("key.txt");
    RunTool(kAgeKeygen, {"-o", key_path_});
    key_file_ = test::ReadFile(key_path_);
  }

  test::TempDir dir_;
  std::string key_path_;
  std::string key_file_;
};

TEST_F(AgeInteropTest, AgeKeygenFilesParseAndAgreeOnTheRecipient) {
  std::vector<AgeIdentity> identities = ParseAgeIdentities(key_file_);
  ASSERT_EQ(identities.size(), 1u);
  std::string printed = RunTool(kAgeKeygen, {"-y", key_path_});
  EXPECT_EQ(identities[0].Recipient().ToString() + "\n", printed);
  EXPECT_NE(key_file_.find("# public key: " + identities[0].Recipient().ToString()),
            std::string::npos);

  // And the other way: age-keygen reads identities we generate.
  AgeKeyPair ours = AgeGenerateIdentity();
  test::WriteFile(dir_.Join("ours.txt"), ours.identity + "\n");
  EXPECT_EQ(RunTool(kAgeKeygen, {"-y", dir_.Join("ours.txt")}), ours.recipient + "\n");
}

TEST_F(AgeInteropTest, StockAgeDecryptsWhatWeEncrypt) {
  AgeRecipient recipient = ParseAgeIdentities(key_file_)[0].Recipient();
  for (size_t size :
       {size_t{0}, size_t{1}, kChunk - 1, kChunk, kChunk + 1, (size_t{3} << 20) + 7}) {
    SCOPED_TRACE(size);
    std::string plaintext = Pattern(size, static_cast<uint32_t>(size + 3));
    std::string path = dir_.Join("ours.age");
    test::WriteFile(path, Encrypt(plaintext, {recipient}, 7777));
    std::string decrypted = RunTool(kAge, {"-d", "-i", key_path_, path});
    EXPECT_EQ(decrypted.size(), plaintext.size());
    EXPECT_TRUE(decrypted == plaintext);
  }
}

TEST_F(AgeInteropTest, StockAgeDecryptsOurMultiRecipientFiles) {
  AgeIdentity ours = AgeIdentity::Generate();
  AgeRecipient theirs = ParseAgeIdentities(key_file_)[0].Recipient();
  std::string plaintext = Pattern(200000);
  std::string path = dir_.Join("multi.age");
  test::WriteFile(path, Encrypt(plaintext, {ours.Recipient(), theirs}));
  EXPECT_TRUE(RunTool(kAge, {"-d", "-i", key_path_, path}) == plaintext);
  test::WriteFile(dir_.Join("ours.txt"), ours.ToString() + "\n");
  EXPECT_TRUE(RunTool(kAge, {"-d", "-i", dir_.Join("ours.txt"), path}) == plaintext);
}

TEST_F(AgeInteropTest, WeDecryptWhatStockAgeEncrypts) {
  std::vector<AgeIdentity> identities = ParseAgeIdentities(key_file_);
  std::string recipient = identities[0].Recipient().ToString();
  for (size_t size : {size_t{0}, size_t{1}, kChunk, kChunk + 1, (size_t{2} << 20) + 5}) {
    SCOPED_TRACE(size);
    std::string plaintext = Pattern(size, static_cast<uint32_t>(size + 11));
    test::WriteFile(dir_.Join("plain"), plaintext);
    std::string to_recipient = RunTool(kAge, {"-r", recipient, dir_.Join("plain")});
    EXPECT_TRUE(DecryptOrDie(to_recipient, WithIdentities(identities), 65537) == plaintext);
    // "age -e -i" encrypts to the recipients of an identity file.
    std::string to_identity = RunTool(kAge, {"-e", "-i", key_path_, dir_.Join("plain")});
    EXPECT_TRUE(DecryptOrDie(to_identity, WithIdentities(identities), 1) == plaintext);
  }
}

TEST_F(AgeInteropTest, StockAgeRejectsATamperedFileOfOurs) {
  // A sanity check of the tamper tests' premise with an independent decoder.
  AgeRecipient recipient = ParseAgeIdentities(key_file_)[0].Recipient();
  std::string file = Encrypt("sensitive", {recipient});
  file[file.size() - 3] ^= 1;
  test::WriteFile(dir_.Join("bad.age"), file);
  ChildProcess child({kAge, {"-d", "-i", key_path_, dir_.Join("bad.age")}, {}});
  StringSink out;
  EXPECT_THROW(PumpChild(child, out), Error);
}

// RunWithTerminal runs an age command line under script(1), which gives it
// the terminal it insists on for passphrases, and types input into it.
// Returns the exit status.
int RunWithTerminal(const std::string& command, const std::string& input) {
  std::string line = "/usr/bin/script -q -e -c '" + command + "' /dev/null > /dev/null";
  FILE* pipe = popen(line.c_str(), "w");
  if (pipe == nullptr) {
    return -1;
  }
  fwrite(input.data(), 1, input.size(), pipe);
  int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(AgeInteropTest, PassphrasesBothWays) {
  // age reads passphrases only from a terminal (no environment variable or
  // file option in age 1.1), so it runs under script(1) with a pseudo-tty.
  if (access("/usr/bin/script", X_OK) != 0) {
    GTEST_SKIP() << "script(1) is not installed";
  }
  const std::string passphrase = "tr0ub4dor & 3";
  std::string plaintext = Pattern(kChunk + 99);
  test::WriteFile(dir_.Join("plain"), plaintext);

  // Ours (work factor 10) opened by age.
  test::WriteFile(dir_.Join("ours.age"), EncryptWithPassphrase(plaintext, passphrase));
  ASSERT_EQ(
      RunWithTerminal("/usr/bin/age -d -o " + dir_.Join("ours.out") + " " + dir_.Join("ours.age"),
                      passphrase + "\n"),
      0);
  EXPECT_TRUE(test::ReadFile(dir_.Join("ours.out")) == plaintext);

  // age's (work factor 18) opened by us.
  ASSERT_EQ(
      RunWithTerminal("/usr/bin/age -p -o " + dir_.Join("theirs.age") + " " + dir_.Join("plain"),
                      passphrase + "\n" + passphrase + "\n"),
      0);
  std::string theirs = test::ReadFile(dir_.Join("theirs.age"));
  EXPECT_NE(theirs.find("-> scrypt "), std::string::npos);
  EXPECT_TRUE(DecryptOrDie(theirs, WithPassphrase(passphrase)) == plaintext);
  EXPECT_EQ(Decrypt(theirs, WithPassphrase("not it")).message,
            "no identity matches any recipient of this file");
}

}  // namespace
}  // namespace pgbak
