#include "sip/headers/char_class.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>

namespace catchline::sip::chars {
namespace {

// What find_line_stop() must find, one byte at a time: a CTL other than HTAB.
std::size_t first_line_stop(std::string_view text, std::size_t from) {
  for (std::size_t i = from; i < text.size(); ++i) {
    auto byte = static_cast<unsigned char>(text[i]);
    if ((byte < 0x20 && byte != '\t') || byte == 0x7F) {
      return i;
    }
  }
  return text.size();
}

TEST(LineStop, IsEveryControlCharacterButHtab) {
  for (int c = 0; c < 256; ++c) {
    const bool control = (c < 0x20 && c != '\t') || c == 0x7F;
    EXPECT_EQ(is_line_stop(static_cast<char>(c)), control) << c;
    EXPECT_EQ(is(static_cast<char>(c), kControl), control && c != '\r' && c != '\n') << c;
  }
}

TEST(LineStop, WideAndWordScansFindTheFirstOneAtAnyPosition) {
  // Each stop byte alone at each position of texts of 0 to 40 bytes, among bytes that look
  // close to it (HTAB, SP, 0x80, 0xFF, '~'), from each start: the SSE2 scan (where built), the
  // word scan and the byte loop agree.
  const char fillers[] = {'a', '\t', ' ', '~', '\x80', '\xff', '\x20'};
  const char stops[] = {'\0', '\x01', '\x08', '\n', '\r', '\x1b', '\x1f', '\x7f'};
  for (char filler : fillers) {
    for (std::size_t size = 0; size <= 40; ++size) {
      for (char stop : stops) {
        for (std::size_t at = 0; at <= size; ++at) {
          std::string text(size, filler);
          if (at < size) {
            text[at] = stop;
          }
          for (std::size_t from : {std::size_t{0}, std::size_t{1}, std::size_t{7}}) {
            if (from > size) {
              continue;
            }
            const std::size_t expected = first_line_stop(text, from);
            ASSERT_EQ(find_line_stop(text, from), expected) << size << " " << at << " " << from;
            ASSERT_EQ(detail::find_line_stop_words(text, from), expected)
                << size << " " << at << " " << from;
          }
        }
      }
    }
  }
}

TEST(LineStop, ScansAgreeOnRandomBytes) {
  std::mt19937 random(4711);
  for (int round = 0; round < 2000; ++round) {
    std::string text(random() % 100, '\0');
    for (char& c : text) {
      // Mostly visible bytes, some UTF-8 and the odd control character.
      const unsigned pick = random() % 64;
      c = static_cast<char>(pick == 0   ? random() % 0x20
                            : pick == 1 ? 0x7F
                                        : 0x20 + random() % 0xE0);
    }
    const std::size_t from = text.empty() ? 0 : random() % text.size();
    ASSERT_EQ(find_line_stop(text, from), first_line_stop(text, from)) << round;
    ASSERT_EQ(detail::find_line_stop_words(text, from), first_line_stop(text, from)) << round;
  }
}

TEST(QuotedEnd, SaysWhetherAControlCharacterCutTheString) {
  bool control = true;
  EXPECT_EQ(quoted_end("\"a\\\"b\" x", 0, &control), 6u);
  EXPECT_EQ(quoted_end("\"abc", 0, &control), std::string_view::npos);
  EXPECT_FALSE(control);
  EXPECT_EQ(quoted_end(std::string_view("\"a\0b\"", 5), 0, &control), std::string_view::npos);
  EXPECT_TRUE(control);
  control = false;
  EXPECT_EQ(quoted_end("\"a\\\rb\"", 0, &control), std::string_view::npos);
  EXPECT_TRUE(control);
  // HTAB, escaped or not, and folded CRLF SP (LWS) are quoted text.
  EXPECT_EQ(quoted_end("\"a\t\\\tb\r\n c\"", 0), 11u);
}

}  // namespace
}  // namespace catchline::sip::chars
