#include "sip/headers/params.h"

#include "sip/headers/char_class.h"

namespace catchline::sip {

namespace {

// The end of the quoted-string that starts at text[open] (the index after its closing quote),
// or npos when it is not closed. A backslash escapes the next byte (RFC 3261 §25.1 quoted-pair).
std::size_t skip_quoted(std::string_view text, std::size_t open) {
  for (std::size_t i = open + 1; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
    } else if (text[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

}  // namespace

std::string_view trim(std::string_view text) {
  std::size_t begin = 0;
  std::size_t end = text.size();
  while (begin < end && chars::is(text[begin], chars::kSpace)) {
    ++begin;
  }
  while (end > begin && chars::is(text[end - 1], chars::kSpace)) {
    --end;
  }
  return text.substr(begin, end - begin);
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i] && chars::lower(a[i]) != chars::lower(b[i])) {
      return false;
    }
  }
  return true;
}

bool next_param(std::string_view& rest, std::string_view& name, std::string_view& value) {
  std::size_t begin = 0;
  while (begin < rest.size() && (rest[begin] == ';' || chars::is(rest[begin], chars::kSpace))) {
    ++begin;
  }
  if (begin == rest.size()) {
    rest = {};
    return false;
  }
  std::size_t end = begin;
  std::size_t equals = std::string_view::npos;
  while (end < rest.size() && rest[end] != ';') {
    if (rest[end] == '"') {
      std::size_t closed = skip_quoted(rest, end);
      end = closed == std::string_view::npos ? rest.size() : closed;
      continue;
    }
    if (rest[end] == '=' && equals == std::string_view::npos) {
      equals = end;
    }
    ++end;
  }
  if (equals == std::string_view::npos) {
    name = trim(rest.substr(begin, end - begin));
    value = {};
  } else {
    name = trim(rest.substr(begin, equals - begin));
    value = trim(rest.substr(equals + 1, end - equals - 1));
  }
  rest.remove_prefix(end);
  return true;
}

std::optional<std::string_view> ParamList::get(std::string_view wanted) const {
  std::string_view rest = text_;
  std::string_view name;
  std::string_view value;
  while (next_param(rest, name, value)) {
    if (iequals(name, wanted)) {
      return value;
    }
  }
  return std::nullopt;
}

bool ParamList::well_formed() const {
  const std::string_view text = text_;
  std::size_t i = 0;
  auto skip_space = [&] { i = chars::span(text, chars::kSpace, i); };
  for (;;) {
    skip_space();
    if (i == text.size()) {
      return true;
    }
    if (text[i] != ';') {
      return false;
    }
    ++i;
    skip_space();
    std::size_t name_end = chars::span(text, chars::kToken, i);
    if (name_end == i) {
      return false;
    }
    i = name_end;
    skip_space();
    if (i < text.size() && text[i] == '=') {
      ++i;
      skip_space();
      if (i < text.size() && text[i] == '"') {
        i = skip_quoted(text, i);
        if (i == std::string_view::npos) {
          return false;
        }
      } else {
        std::size_t value_end = chars::span(text, chars::kParamValue, i);
        if (value_end == i) {
          return false;
        }
        i = value_end;
      }
    }
  }
}

std::optional<std::string_view> HeaderList::next() {
  for (;;) {
    std::size_t begin = 0;
    while (begin < rest_.size() &&
           (rest_[begin] == ',' || chars::is(rest_[begin], chars::kSpace))) {
      ++begin;
    }
    if (begin == rest_.size()) {
      rest_ = {};
      return std::nullopt;
    }
    std::size_t end = begin;
    bool in_angle = false;
    while (end < rest_.size()) {
      char c = rest_[end];
      if (c == '"' && !in_angle) {
        std::size_t closed = skip_quoted(rest_, end);
        if (closed == std::string_view::npos) {
          broken_ = true;
          end = rest_.size();
          break;
        }
        end = closed;
        continue;
      }
      if (c == '<') {
        in_angle = true;
      } else if (c == '>') {
        in_angle = false;
      } else if (c == ',' && !in_angle) {
        break;
      }
      ++end;
    }
    if (in_angle) {
      broken_ = true;
    }
    std::string_view item = trim(rest_.substr(begin, end - begin));
    rest_.remove_prefix(end);
    if (!item.empty()) {
      return item;
    }
  }
}

std::string unquote(std::string_view quoted) {
  if (quoted.size() >= 2 && quoted.front() == '"' && quoted.back() == '"') {
    quoted = quoted.substr(1, quoted.size() - 2);
  }
  std::string out;
  out.reserve(quoted.size());
  for (std::size_t i = 0; i < quoted.size(); ++i) {
    // RFC 3261 §25.1: quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
    if (quoted[i] == '\\' && i + 1 < quoted.size()) {
      ++i;
    }
    out.push_back(quoted[i]);
  }
  return out;
}

std::string unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && chars::is(text[i + 1], chars::kHex) &&
        chars::is(text[i + 2], chars::kHex)) {
      out.push_back(
          static_cast<char>(chars::hex_value(text[i + 1]) * 16 + chars::hex_value(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

}  // namespace catchline::sip
