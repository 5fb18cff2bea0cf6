// terminal_test.cpp: text from a storage, a manifest or a tool reaches the
// terminal without escape sequences.
#include "cli/terminal.h"

#include <gtest/gtest.h>

#include <string>

namespace pgbak::cli {
namespace {

TEST(TerminalTextTest, KeepsLinesAndEscapesControls) {
  EXPECT_EQ(TerminalText("plain text, ünïcödé ✓"), "plain text, ünïcödé ✓");
  EXPECT_EQ(TerminalText("two\nlines\tand a tab"), "two\nlines\tand a tab");
  EXPECT_EQ(TerminalText("data.dump.zst\x1b]0;owned\x07"), "data.dump.zst\\x1b]0;owned\\x07");
  EXPECT_EQ(TerminalText("cr\rover"), "cr\\x0dover");
  EXPECT_EQ(TerminalText(std::string("nul\0byte", 8)), "nul\\x00byte");
  EXPECT_EQ(TerminalText("del\x7f"), "del\\x7f");
  // C1 controls as UTF-8 (CSI is U+009B), but not other two-byte letters.
  EXPECT_EQ(TerminalText("csi\xc2\x9b"
                         "31m"),
            "csi\\xc2\\x9b31m");
  EXPECT_EQ(TerminalText("\xc2\xa0nbsp"), "\xc2\xa0nbsp");
  EXPECT_EQ(TerminalText("cut\xc2"), "cut\xc2");
}

}  // namespace
}  // namespace pgbak::cli
