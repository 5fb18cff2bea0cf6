// bech32.cpp: Bech32 encoding and decoding (BIP-173 checksum constant 1).
//
// The checksum is a BCH code over the expanded human-readable part and the
// data; BIP-173 gives the generator polynomial and the charset. Decoding
// lowercases the text first (after refusing mixed case), because the checksum
// is defined over the lowercase form. The data part of an identity is a
// secret key, so every intermediate copy of it is wiped before it is freed.
#include "core/crypto/bech32.h"

#include <openssl/crypto.h>

#include <array>

#include "core/base/error.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

constexpr char kCharset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
constexpr size_t kChecksumLength = 6;

// Bech32Error is the exception for a malformed string; reason says what.
Error Bech32Error(const std::string& reason) {
  return Error(ErrorKind::kInvalidParameter, "invalid Bech32 string: " + reason);
}

// Polymod is BIP-173's checksum function over 5-bit values.
uint32_t Polymod(const std::vector<uint8_t>& values) {
  constexpr std::array<uint32_t, 5> kGenerator = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd,
                                                  0x2a1462b3};
  uint32_t checksum = 1;
  for (uint8_t value : values) {
    uint32_t top = checksum >> 25;
    checksum = ((checksum & 0x1ffffff) << 5) ^ value;
    for (size_t i = 0; i < kGenerator.size(); ++i) {
      if ((top >> i) & 1) {
        checksum ^= kGenerator[i];
      }
    }
  }
  return checksum;
}

// ExpandHrp is the human-readable part as the checksum sees it: the high bits
// of each character, a zero, then the low bits.
std::vector<uint8_t> ExpandHrp(std::string_view hrp) {
  std::vector<uint8_t> expanded;
  expanded.reserve(hrp.size() * 2 + 1);
  for (char c : hrp) {
    expanded.push_back(static_cast<uint8_t>(static_cast<unsigned char>(c) >> 5));
  }
  expanded.push_back(0);
  for (char c : hrp) {
    expanded.push_back(static_cast<uint8_t>(static_cast<unsigned char>(c) & 31));
  }
  return expanded;
}

// CheckHrp refuses an empty human-readable part or one with characters
// outside US-ASCII 33..126.
void CheckHrp(std::string_view hrp) {
  if (hrp.empty()) {
    throw Bech32Error("empty human-readable part");
  }
  for (char c : hrp) {
    unsigned char byte = static_cast<unsigned char>(c);
    if (byte < 33 || byte > 126) {
      throw Bech32Error("human-readable part has a character out of range");
    }
  }
}

// Wipe clears a buffer that may have held key material.
void Wipe(std::vector<uint8_t>& buffer) {
  if (!buffer.empty()) {
    OPENSSL_cleanse(buffer.data(), buffer.size());
  }
}

// ToLower lowercases US-ASCII letters only.
char ToLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// ConvertBits regroups bits from from_bits-wide values into to_bits-wide
// values. With pad, the last partial group is zero-filled; without, leftover
// bits must be fewer than from_bits and all zero (else there would be two
// encodings of the same bytes).
std::vector<uint8_t> ConvertBits(const std::vector<uint8_t>& input, int from_bits, int to_bits,
                                 bool pad) {
  std::vector<uint8_t> output;
  output.reserve(input.size() * static_cast<size_t>(from_bits) / static_cast<size_t>(to_bits) + 1);
  uint32_t accumulator = 0;
  int bits = 0;
  const uint32_t max_value = (1u << to_bits) - 1;
  for (uint8_t value : input) {
    if ((value >> from_bits) != 0) {
      Wipe(output);
      throw Bech32Error("data value out of range");
    }
    accumulator = (accumulator << from_bits) | value;
    bits += from_bits;
    while (bits >= to_bits) {
      bits -= to_bits;
      output.push_back(static_cast<uint8_t>((accumulator >> bits) & max_value));
    }
  }
  if (pad) {
    if (bits > 0) {
      output.push_back(static_cast<uint8_t>((accumulator << (to_bits - bits)) & max_value));
    }
  } else if (bits >= from_bits || ((accumulator << (to_bits - bits)) & max_value) != 0) {
    Wipe(output);
    throw Bech32Error("data part has non-zero or excess padding");
  }
  return output;
}

}  // namespace

std::string Bech32EncodeWords(std::string_view hrp, const std::vector<uint8_t>& words) {
  CheckHrp(hrp);
  std::string lower_hrp;
  lower_hrp.reserve(hrp.size());
  for (char c : hrp) {
    lower_hrp.push_back(ToLower(c));
  }
  std::vector<uint8_t> values = ExpandHrp(lower_hrp);
  for (uint8_t word : words) {
    if (word >= 32) {
      throw Bech32Error("data value out of range");
    }
  }
  values.insert(values.end(), words.begin(), words.end());
  values.insert(values.end(), kChecksumLength, 0);
  uint32_t checksum = Polymod(values) ^ 1;
  Wipe(values);

  std::string text = lower_hrp;
  text.push_back('1');
  for (uint8_t word : words) {
    text.push_back(kCharset[word]);
  }
  for (size_t i = 0; i < kChecksumLength; ++i) {
    text.push_back(kCharset[(checksum >> (5 * (kChecksumLength - 1 - i))) & 31]);
  }
  return text;
}

Bech32String Bech32DecodeWords(std::string_view text, size_t max_length) {
  if (text.size() > max_length) {
    throw Bech32Error("too long");
  }
  bool has_lower = false;
  bool has_upper = false;
  for (char c : text) {
    unsigned char byte = static_cast<unsigned char>(c);
    if (byte < 33 || byte > 126) {
      throw Bech32Error("character out of range");
    }
    has_lower = has_lower || (c >= 'a' && c <= 'z');
    has_upper = has_upper || (c >= 'A' && c <= 'Z');
  }
  if (has_lower && has_upper) {
    throw Bech32Error("mixed upper and lower case");
  }
  // The separator is the last '1': the human-readable part may contain '1's.
  size_t separator = text.rfind('1');
  if (separator == std::string_view::npos) {
    throw Bech32Error("no separator");
  }
  if (separator == 0) {
    throw Bech32Error("empty human-readable part");
  }
  if (text.size() - separator - 1 < kChecksumLength) {
    throw Bech32Error("checksum too short");
  }

  Bech32String decoded;
  decoded.hrp.reserve(separator);
  for (size_t i = 0; i < separator; ++i) {
    decoded.hrp.push_back(ToLower(text[i]));
  }
  std::vector<uint8_t> values = ExpandHrp(decoded.hrp);
  std::vector<uint8_t> words;
  words.reserve(text.size() - separator - 1);
  for (size_t i = separator + 1; i < text.size(); ++i) {
    const char* found = nullptr;
    char c = ToLower(text[i]);
    for (const char* p = kCharset; *p != '\0'; ++p) {
      if (*p == c) {
        found = p;
        break;
      }
    }
    if (found == nullptr) {
      Wipe(values);
      Wipe(words);
      throw Bech32Error("invalid data character");
    }
    words.push_back(static_cast<uint8_t>(found - kCharset));
  }
  values.insert(values.end(), words.begin(), words.end());
  uint32_t checksum = Polymod(values);
  Wipe(values);
  if (checksum != 1) {
    Wipe(words);
    throw Bech32Error("checksum mismatch");
  }
  words.resize(words.size() - kChecksumLength);
  decoded.data = std::move(words);
  return decoded;
}

std::string Bech32Encode(std::string_view hrp, const std::vector<uint8_t>& bytes) {
  std::vector<uint8_t> words = ConvertBits(bytes, 8, 5, true);
  std::string text;
  try {
    text = Bech32EncodeWords(hrp, words);
  } catch (...) {
    Wipe(words);
    throw;
  }
  Wipe(words);
  return text;
}

Bech32String Bech32Decode(std::string_view text) {
  Bech32String decoded = Bech32DecodeWords(text);
  std::vector<uint8_t> bytes;
  try {
    bytes = ConvertBits(decoded.data, 5, 8, false);
  } catch (...) {
    Wipe(decoded.data);
    throw;
  }
  Wipe(decoded.data);
  decoded.data = std::move(bytes);
  return decoded;
}

}  // namespace pgbak
