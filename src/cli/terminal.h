// terminal.h: what pgbak prints of text it did not write itself.
#pragma once

#include <string>

namespace pgbak::cli {

// TerminalText shows text from a storage, a manifest or a tool on a
// terminal: newlines and tabs are kept, every other control character
// (C0, DEL, and C1 as UTF-8) is shown as \xNN, so that no escape sequence
// reaches the terminal.
std::string TerminalText(const std::string& text);

}  // namespace pgbak::cli
