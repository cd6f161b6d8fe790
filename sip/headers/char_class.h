#pragma once

// Character classes of the RFC 3261 §25.1 grammar, as one lookup table, so that every scanner
// in the parser tests a byte with one load and one mask. Internal to the sip library.

#include <array>
#include <cstdint>
#include <string_view>

namespace catchline::sip::chars {

enum : std::uint16_t {
  kToken = 1 << 0,  // token: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~"
  kSpace = 1 << 1,  // SP / HTAB / CR / LF: whitespace once folding is taken into account
  kDigit = 1 << 2,  // DIGIT
  kHex = 1 << 3,    // HEXDIG (either case)
  kAlpha = 1 << 4,  // ALPHA
  kUser = 1 << 5,   // user: unreserved / "%" / user-unreserved (& = + $ , ; ? /)
  kPassword = 1 << 6,     // password: unreserved / "%" / & = + $ ,
  kParam = 1 << 7,        // paramchar: unreserved / "%" / param-unreserved ([ ] / : & + $)
  kHeader = 1 << 8,       // hname / hvalue: unreserved / "%" / hnv-unreserved ([ ] / ? : + $)
  kHost = 1 << 9,         // hostname and IPv4 characters: alphanum / "-" / "." (and "_", seen in
                          // the wild although RFC 1034 forbids it)
  kSchemeChar = 1 << 10,  // scheme after its first letter: ALPHA / DIGIT / "+" / "-" / "."
  kTel = 1 << 11,         // tel number: digits, hex digits, "*" "#" "+" and visual separators
  kParamValue = 1 << 12,  // unquoted header parameter value: token, host and IPv6 characters
                          // and the few others that real stacks send unquoted
  kListStop = 1 << 13,    // what HeaderList must look at: , " < >
  kVisible = 1 << 14,     // visible ASCII, %x21-7E: Call-ID words (RFC 3261 §25.1 word)
};

namespace detail {
constexpr std::array<std::uint16_t, 256> make_table() {
  std::array<std::uint16_t, 256> table{};
  auto add = [&table](std::string_view set, std::uint16_t cls) {
    for (char c : set) {
      table[static_cast<unsigned char>(c)] |= cls;
    }
  };
  constexpr std::string_view digits = "0123456789";
  constexpr std::string_view alpha = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  constexpr std::string_view mark = "-_.!~*'()";
  for (std::string_view alnum : {digits, alpha}) {
    add(alnum, kToken | kUser | kPassword | kParam | kHeader | kHost | kSchemeChar | kParamValue);
  }
  add(digits, kDigit | kTel);
  add(alpha, kAlpha);
  add("0123456789abcdefABCDEF", kHex | kTel);
  add("-.!%*_+`'~", kToken | kParamValue);
  add(mark, kUser | kPassword | kParam | kHeader);
  add("%", kUser | kPassword | kParam | kHeader);
  add("&=+$,;?/", kUser);
  add("&=+$,", kPassword);
  add("[]/:&+$", kParam);
  add("[]/?:+$", kHeader);
  add("-._", kHost);
  add("+-.", kSchemeChar);
  add("*#+-.()", kTel);
  add(":[]/@?&$#()={}|^", kParamValue);
  add(" \t\r\n", kSpace);
  add(",\"<>", kListStop);
  for (int c = 0x21; c <= 0x7E; ++c) {
    table[c] |= kVisible;
  }
  return table;
}
}  // namespace detail

inline constexpr std::array<std::uint16_t, 256> kTable = detail::make_table();

/// True when `c` belongs to any of the classes or-ed into `cls`.
inline bool is(char c, std::uint16_t cls) {
  return (kTable[static_cast<unsigned char>(c)] & cls) != 0;
}

/// The index of the first byte at or after `from` that is not in `cls` (text.size() when
/// there is none). Unrolled by four: this loop reads most of every message.
inline std::size_t span(std::string_view text, std::uint16_t cls, std::size_t from = 0) {
  const char* data = text.data();
  const std::size_t size = text.size();
  std::size_t i = from;
  for (; i + 4 <= size; i += 4) {
    if (!is(data[i], cls)) {
      return i;
    }
    if (!is(data[i + 1], cls)) {
      return i + 1;
    }
    if (!is(data[i + 2], cls)) {
      return i + 2;
    }
    if (!is(data[i + 3], cls)) {
      return i + 3;
    }
  }
  while (i < size && is(data[i], cls)) {
    ++i;
  }
  return i;
}

/// True when every byte of `text` is in `cls` (true for "").
inline bool all(std::string_view text, std::uint16_t cls) { return span(text, cls) == text.size(); }

/// A non-empty token (RFC 3261 §25.1).
inline bool is_token(std::string_view text) { return !text.empty() && all(text, kToken); }

/// The index after the closing quote of the quoted-string opening at text[open], or npos when
/// it is not closed. A backslash escapes the next byte (RFC 3261 §25.1 quoted-pair).
inline std::size_t quoted_end(std::string_view text, std::size_t open) {
  for (std::size_t i = open + 1; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
    } else if (text[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

/// The value of a hex digit; only for bytes in kHex.
inline int hex_value(char c) {
  if (c <= '9') {
    return c - '0';
  }
  return (c | 0x20) - 'a' + 10;
}

inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c; }

}  // namespace catchline::sip::chars
