// bech32.h: Bech32 strings (BIP-173, not bech32m), the text form of age keys.
//
// age writes recipients as "age1..." and identities as "AGE-SECRET-KEY-1...":
// a human-readable part, the separator '1', the key in 5-bit groups and a
// 6-character checksum that catches typos. age drops BIP-173's 90-character
// limit; decoding takes the limit as a parameter so the BIP's own vectors can
// be checked as written.
//
// Error messages never quote the decoded text: an identity is a secret key,
// and a message may end up in the server log.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace pgbak {

// kBech32NoLengthLimit lifts BIP-173's 90-character limit, as age does.
constexpr size_t kBech32NoLengthLimit = std::numeric_limits<size_t>::max();

// Bech32String is a decoded string: the human-readable part, always returned
// in lowercase, and the data part (5-bit groups or bytes, by the function).
struct Bech32String {
  std::string hrp;
  std::vector<uint8_t> data;
};

// Bech32EncodeWords encodes 5-bit groups (each < 32) under hrp; the result is
// lowercase (callers wanting the uppercase form convert the whole string).
// Throws kInvalidParameter for an empty or out-of-range hrp or a group >= 32.
std::string Bech32EncodeWords(std::string_view hrp, const std::vector<uint8_t>& words);

// Bech32DecodeWords checks a string the way BIP-173 says (one case only,
// characters in range, separator, checksum) and returns its 5-bit groups.
// Throws kInvalidParameter saying what is wrong.
Bech32String Bech32DecodeWords(std::string_view text, size_t max_length = kBech32NoLengthLimit);

// Bech32Encode encodes bytes (regrouped into 5-bit groups, zero-padded).
std::string Bech32Encode(std::string_view hrp, const std::vector<uint8_t>& bytes);

// Bech32Decode decodes a string whose data part holds bytes; the padding bits
// of the last group must be zero and fewer than 5, so each byte string has
// exactly one encoding. No length limit. Throws kInvalidParameter.
Bech32String Bech32Decode(std::string_view text);

}  // namespace pgbak
