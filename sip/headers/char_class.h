#pragma once

// Character classes of the RFC 3261 §25.1 grammar, as one lookup table, so that every scanner
// in the parser tests a byte with one load and one mask. Internal to the sip library.

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
  kControl = 1 << 15,     // CTL (%x00-1F / %x7F) but HTAB, CR and LF: never in a header value,
                          // quoted or not (CR and LF only in folds, which the parsers read as
                          // whitespace and the message parser checks)
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
  for (int c = 0x00; c <= 0x1F; ++c) {
    if (c != '\t' && c != '\r' && c != '\n') {
      table[c] |= kControl;
    }
  }
  table[0x7F] |= kControl;
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

/// True when `text` holds a byte of kControl (a control character other than HTAB, CR and LF).
inline bool has_control(std::string_view text) {
  for (char c : text) {
    if (is(c, kControl)) {
      return true;
    }
  }
  return false;
}

/// A control character that ends a header line or breaks it: any CTL but HTAB. The line
/// scanners stop at these and decide between a line end (CRLF, LF), a fold and a fault.
inline bool is_line_stop(char c) { return is(c, kControl) || c == '\r' || c == '\n'; }

namespace detail {
/// find_line_stop() eight bytes at a time in a 64-bit word: the whole scan where SSE2 is
/// missing, and the tail of one where it is.
inline std::size_t find_line_stop_words(std::string_view text, std::size_t from) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  const char* data = text.data();
  const std::size_t size = text.size();
  std::size_t i = from;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, data + i, sizeof word);
    // A byte below 0x20 or equal to 0x7F sets its high bit here; HTAB does too, and a borrow
    // may flag a byte after a real one: a flagged word is looked at byte by byte.
    const std::uint64_t del = word ^ (kOnes * 0x7F);
    const std::uint64_t flagged =
        ((word - kOnes * 0x20) & ~word & kHigh) | ((del - kOnes) & ~del & kHigh);
    if (flagged != 0) {
      for (std::size_t k = i; k < i + 8; ++k) {
        if (is_line_stop(data[k])) {
          return k;
        }
      }
    }
  }
  for (; i < size; ++i) {
    if (is_line_stop(data[i])) {
      return i;
    }
  }
  return size;
}
}  // namespace detail

/// The index of the first byte at or after `from` that is a CTL other than HTAB (%x00-08,
/// %x0A-1F, %x7F), text.size() when there is none. Sixteen bytes at a time with SSE2, else
/// eight at a time: this one pass finds every header line's end and its faults.
inline std::size_t find_line_stop(std::string_view text, std::size_t from) {
#if defined(__SSE2__)
  const char* data = text.data();
  const std::size_t size = text.size();
  const __m128i below = _mm_set1_epi8(0x1F);
  const __m128i del = _mm_set1_epi8(0x7F);
  const __m128i tab = _mm_set1_epi8('\t');
  std::size_t i = from;
  for (; i + 16 <= size; i += 16) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
    // min(b, 0x1F) == b exactly when b <= 0x1F (unsigned).
    const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(bytes, below), bytes);
    const __m128i stop = _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(bytes, tab), control),
                                      _mm_cmpeq_epi8(bytes, del));
    if (const int mask = _mm_movemask_epi8(stop); mask != 0) {
      return i + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
    }
  }
  return detail::find_line_stop_words(text, i);
#else
  return detail::find_line_stop_words(text, from);
#endif
}

/// The index after the closing quote of the quoted-string opening at text[open], or npos when
/// it is not closed or holds a control character (RFC 3261 §25.1: qdtext has no CTL but LWS);
/// `control`, when given, is set to whether a control character was the reason.
/// A backslash escapes the next byte (quoted-pair), except a control character, CR or LF:
/// RFC 3261 lets %x00-09 be escaped, but unquote() would put the byte back raw, in a display
/// name that is shown and sent on, so they are refused as RFC 7230 §3.2.6 does.
inline std::size_t quoted_end(std::string_view text, std::size_t open, bool* control = nullptr) {
  for (std::size_t i = open + 1; i < text.size(); ++i) {
    const char c = text[i];
    bool bad = false;
    if (c == '\\') {
      ++i;
      bad = i < text.size() && is_line_stop(text[i]);
    } else if (c == '"') {
      return i + 1;
    } else {
      bad = is(c, kControl);
    }
    if (bad) {
      if (control != nullptr) {
        *control = true;
      }
      return std::string_view::npos;
    }
  }
  if (control != nullptr) {
    *control = false;
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
