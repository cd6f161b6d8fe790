#pragma once

// The field reading shared by the SDP parser (sdp.cpp) and the relay rewriting
// (sdp_rewrite.cpp): an SDP line's fields are separated by spaces (RFC 8866).

#include <cstddef>
#include <string_view>

namespace catchline::media::detail {

inline bool is_blank(char c) { return c == ' ' || c == '\t'; }

/// The next field of a line whose fields are separated by spaces (RFC 8866 uses one SP; runs
/// are tolerated). Returns "" at the end and leaves `rest` after the field.
inline std::string_view next_field(std::string_view& rest) {
  std::size_t begin = 0;
  while (begin < rest.size() && is_blank(rest[begin])) {
    ++begin;
  }
  std::size_t end = begin;
  while (end < rest.size() && !is_blank(rest[end])) {
    ++end;
  }
  std::string_view field = rest.substr(begin, end - begin);
  rest.remove_prefix(end);
  return field;
}

}  // namespace catchline::media::detail
