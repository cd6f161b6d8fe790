#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "sip/headers/char_class.h"

namespace catchline::sip {

/// Reads the parameter at the front of `rest` into `name` and `value` (both trimmed; value ""
/// for a flag without '=') and removes it, with its leading ';', from `rest`. Leading ';' and
/// whitespace are skipped, and ';' inside a quoted value does not end the parameter.
/// Returns false when `rest` holds no further parameter. Lenient: checks no grammar.
bool next_param(std::string_view& rest, std::string_view& name, std::string_view& value);

/// The generic parameters after a URI, name-addr or header value: ";name=value;flag".
/// A view over the text from (and including) the first ';'; looks names up without
/// allocating. Names compare case-insensitively; values are returned as written (a quoted
/// value keeps its quotes: use unquote()).
class ParamList {
 public:
  ParamList() = default;
  explicit ParamList(std::string_view text) : text_(text) {}

  /// The value of parameter `name`: "" for a flag without '=', nullopt when absent.
  std::optional<std::string_view> get(std::string_view name) const;
  /// True when parameter `name` is present, with or without a value.
  bool has(std::string_view name) const { return get(name).has_value(); }
  /// True when there is no parameter text at all.
  bool empty() const { return text_.empty(); }
  /// The text as received, starting with ';' (or "").
  std::string_view text() const { return text_; }

  /// True when the text follows the header parameter grammar of RFC 3261 §25.1:
  /// *( SEMI token [ EQUAL ( token / host / quoted-string ) ] ) with SWS around ';' and '='.
  /// Unquoted values may also hold ':' '[' ']' '/' '@' and similar, as stacks send them.
  /// False for ";;", a missing name, an empty value after '=', an unclosed quote, a control
  /// character other than HTAB, CR and LF (in a quoted value too, escaped or not), or text
  /// that is not a parameter.
  bool well_formed() const;

  /// Calls f(name, value) for every parameter in order (value "" for a flag).
  template <typename F>
  void for_each(F&& f) const;

 private:
  std::string_view text_;
};

/// Splits a header value into its comma-separated elements (RFC 3261 §7.3.1), ignoring commas
/// inside quoted strings and <...>. Each element is trimmed. Use as:
///   HeaderList list(value); while (auto item = list.next()) { ... }
class HeaderList {
 public:
  explicit HeaderList(std::string_view value) : rest_(value) {}
  /// The next element, or nullopt at the end. Empty elements (",,") are skipped.
  std::optional<std::string_view> next();
  /// True when a quoted string or <...> was left open, or a quoted string holds a control
  /// character other than HTAB, CR and LF: the value is malformed.
  bool broken() const { return broken_; }

 private:
  std::string_view rest_;
  bool broken_ = false;
};

/// The content of a quoted-string with its backslash escapes resolved (RFC 3261 §25.1).
/// Accepts the text with or without the surrounding quotes.
std::string unquote(std::string_view quoted);

/// %-escapes resolved (RFC 3261 §19.1.2); an invalid escape is kept as written.
std::string unescape(std::string_view text);

/// Letter-case-insensitive ASCII comparison.
inline bool iequals(std::string_view a, std::string_view b) {
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

/// Trims SP, HTAB, CR and LF (folded whitespace) at both ends.
inline std::string_view trim(std::string_view text) {
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

/// Reads header parameters strictly, by the grammar of ParamList::well_formed(), calling
/// f(name, value) for each (value "" for a flag; a quoted value keeps its quotes). Stops and
/// returns false at the first fault, or as soon as f returns false; true at the end.
template <typename F>
bool scan_params(std::string_view text, F&& f) {
  std::size_t i = 0;
  for (;;) {
    i = chars::span(text, chars::kSpace, i);
    if (i == text.size()) {
      return true;
    }
    if (text[i] != ';') {
      return false;
    }
    i = chars::span(text, chars::kSpace, i + 1);
    const std::size_t name_end = chars::span(text, chars::kToken, i);
    if (name_end == i) {
      return false;
    }
    const std::string_view name = text.substr(i, name_end - i);
    std::string_view value;
    i = chars::span(text, chars::kSpace, name_end);
    if (i < text.size() && text[i] == '=') {
      i = chars::span(text, chars::kSpace, i + 1);
      const std::size_t value_begin = i;
      if (i < text.size() && text[i] == '"') {
        i = chars::quoted_end(text, i);
        if (i == std::string_view::npos) {
          return false;
        }
      } else {
        i = chars::span(text, chars::kParamValue, i);
        if (i == value_begin) {
          return false;
        }
      }
      value = text.substr(value_begin, i - value_begin);
    }
    if (!f(name, value)) {
      return false;
    }
  }
}

template <typename F>
void ParamList::for_each(F&& f) const {
  std::string_view rest = text_;
  std::string_view name;
  std::string_view value;
  while (next_param(rest, name, value)) {
    if (!name.empty()) {
      f(name, value);
    }
  }
}

}  // namespace catchline::sip
