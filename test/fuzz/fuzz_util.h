// fuzz_util.h: what the libFuzzer harnesses of test/fuzz/ share.
//
// A harness checks properties, not just the absence of crashes: when one
// does not hold, Violation prints why and aborts, which libFuzzer reports
// (and saves the input of) like any crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/pipeline/sink.h"

namespace pgbak::fuzz {

// Violation reports a broken property and aborts.
[[noreturn]] inline void Violation(const std::string& what) {
  std::fprintf(stderr, "PROPERTY VIOLATED: %s\n", what.c_str());
  std::abort();
}

// Check aborts with what unless condition holds.
inline void Check(bool condition, const std::string& what) {
  if (!condition) {
    Violation(what);
  }
}

// WriteInPieces writes data into sink in pieces whose sizes follow from
// pattern, so that one input also exercises a reader's handling of fields
// split across writes: pieces of 1 to 16 bytes while pattern has bits left,
// then the rest in one piece.
inline void WriteInPieces(Sink& sink, std::string_view data, uint64_t pattern) {
  size_t pos = 0;
  while (pos < data.size()) {
    size_t piece = data.size() - pos;
    if (pattern != 0) {
      piece = std::min<size_t>(piece, 1 + (pattern & 0xf));
      pattern >>= 4;
    }
    sink.Write(reinterpret_cast<const uint8_t*>(data.data() + pos), piece);
    pos += piece;
  }
}

// PatternOf derives a piece pattern from the input itself (its length and
// last bytes), so that seeds stay plain objects yet pieces vary.
inline uint64_t PatternOf(std::string_view data) {
  uint64_t pattern = data.size() * 0x9E3779B97F4A7C15ull;
  for (size_t i = data.size() > 8 ? data.size() - 8 : 0; i < data.size(); i++) {
    pattern = (pattern ^ static_cast<uint8_t>(data[i])) * 0x100000001B3ull;
  }
  return pattern;
}

}  // namespace pgbak::fuzz
