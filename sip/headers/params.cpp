#include "sip/headers/params.h"

#include "sip/headers/char_class.h"

namespace catchline::sip {

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
      std::size_t closed = chars::quoted_end(rest, end);
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
  return scan_params(text_, [](std::string_view, std::string_view) { return true; });
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
      if (!chars::is(rest_[end], chars::kListStop)) {
        ++end;
        continue;
      }
      char c = rest_[end];
      if (c == '"' && !in_angle) {
        std::size_t closed = chars::quoted_end(rest_, end);
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
