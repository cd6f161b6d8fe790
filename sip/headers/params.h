#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace catchline::sip {

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
  bool has(std::string_view name) const { return get(name).has_value(); }
  bool empty() const { return text_.empty(); }
  /// The text as received, starting with ';' (or "").
  std::string_view text() const { return text_; }

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
  /// True when a quoted string or <...> was left open: the value is malformed.
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
bool iequals(std::string_view a, std::string_view b);

/// Trims SP, HTAB, CR and LF (folded whitespace) at both ends.
std::string_view trim(std::string_view text);

template <typename F>
void ParamList::for_each(F&& f) const {
  std::string_view rest = text_;
  while (!rest.empty()) {
    if (rest.front() == ';') {
      rest.remove_prefix(1);
    }
    // Find the end of this parameter, skipping ';' inside quotes.
    std::size_t end = 0;
    bool quoted = false;
    for (; end < rest.size(); ++end) {
      char c = rest[end];
      if (quoted && c == '\\') {
        ++end;
      } else if (c == '"') {
        quoted = !quoted;
      } else if (!quoted && c == ';') {
        break;
      }
    }
    std::string_view param = rest.substr(0, end);
    rest.remove_prefix(end < rest.size() ? end : rest.size());
    std::size_t eq = param.find('=');
    std::string_view name = trim(param.substr(0, eq));
    std::string_view value = eq == std::string_view::npos ? std::string_view{} : trim(param.substr(eq + 1));
    if (!name.empty()) {
      f(name, value);
    }
  }
}

}  // namespace catchline::sip
