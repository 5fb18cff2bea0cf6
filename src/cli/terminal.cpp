// terminal.cpp: see terminal.h.
#include "cli/terminal.h"

#include <cstdio>
#include <string>

namespace pgbak::cli {

std::string TerminalText(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  char hex[16];
  for (size_t i = 0; i < text.size(); i++) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
      std::snprintf(hex, sizeof hex, "\\xc2\\x%02x", static_cast<unsigned char>(text[++i]));
      out += hex;
    } else if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace pgbak::cli
