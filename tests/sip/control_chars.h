#pragma once

#include <string>
#include <string_view>

namespace catchline::sip::testing {

/// The control characters that no header grammar takes (CR and LF are folded whitespace to
/// those parsers; the message parser refuses them anywhere else).
inline constexpr char kGrammarControls[] = {'\0', '\x01', '\x7f', '\x1b'};

/// `text` with every "<CTL>" replaced by `byte`.
inline std::string with_control(std::string_view text, char byte) {
  std::string out(text);
  for (std::size_t at = out.find("<CTL>"); at != std::string::npos; at = out.find("<CTL>", at)) {
    out.replace(at, 5, 1, byte);
  }
  return out;
}

}  // namespace catchline::sip::testing
