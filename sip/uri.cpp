#include "sip/uri.h"

#include <array>
#include <string>

#include "sip/headers/char_class.h"

namespace catchline::sip {

namespace {

using Address6 = std::array<std::uint16_t, 8>;

// RFC 4291 §2.2: eight groups of up to four hex digits, one "::" standing for one or more zero
// groups, and an optional dotted IPv4 tail that counts as two groups.
bool parse_ipv6(std::string_view text, Address6& out) {
  std::array<std::uint16_t, 8> groups{};
  int count = 0;
  int gap = -1;
  std::size_t i = 0;
  if (text.size() >= 2 && text[0] == ':' && text[1] == ':') {
    gap = 0;
    i = 2;
  } else if (text.empty() || text[0] == ':') {
    return false;
  }
  while (i < text.size()) {
    std::size_t end = chars::span(text, chars::kHex, i);
    if (end == i) {
      return false;  // an empty group: ":::" or a stray character
    }
    if (end < text.size() && text[end] == '.') {
      std::string_view tail = text.substr(i);
      if (count > 6 || !is_ipv4_address(tail)) {
        return false;
      }
      std::uint32_t value = 0;
      std::uint32_t part = 0;
      for (char c : tail) {
        if (c == '.') {
          value = value << 8 | part;
          part = 0;
        } else {
          part = part * 10 + static_cast<std::uint32_t>(c - '0');
        }
      }
      value = value << 8 | part;
      groups[count++] = static_cast<std::uint16_t>(value >> 16);
      groups[count++] = static_cast<std::uint16_t>(value & 0xFFFF);
      i = text.size();
      break;
    }
    if (end - i > 4 || count == 8) {
      return false;
    }
    std::uint16_t value = 0;
    for (std::size_t k = i; k < end; ++k) {
      value = static_cast<std::uint16_t>(value << 4 | chars::hex_value(text[k]));
    }
    groups[count++] = value;
    i = end;
    if (i == text.size()) {
      break;
    }
    if (text[i] != ':') {
      return false;
    }
    ++i;
    if (i < text.size() && text[i] == ':') {
      if (gap >= 0) {
        return false;  // a second "::"
      }
      gap = count;
      ++i;
    } else if (i == text.size()) {
      return false;  // a trailing single ':'
    }
  }
  if (gap < 0) {
    if (count != 8) {
      return false;
    }
    out = groups;
    return true;
  }
  if (count > 7) {
    return false;  // "::" must stand for at least one group
  }
  out.fill(0);
  int tail = count - gap;
  for (int k = 0; k < gap; ++k) {
    out[k] = groups[k];
  }
  for (int k = 0; k < tail; ++k) {
    out[8 - tail + k] = groups[gap + k];
  }
  return true;
}

// uri-parameters (RFC 3261 §19.1.1): *( ";" pname [ "=" pvalue ] ), no whitespace anywhere.
bool uri_params_well_formed(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] != ';') {
      return false;
    }
    std::size_t name_end = chars::span(text, chars::kParam, i + 1);
    if (name_end == i + 1) {
      return false;
    }
    i = name_end;
    if (i < text.size() && text[i] == '=') {
      std::size_t value_end = chars::span(text, chars::kParam, i + 1);
      if (value_end == i + 1) {
        return false;
      }
      i = value_end;
    }
  }
  return true;
}

// headers (RFC 3261 §19.1.1): header *( "&" header ), header = hname "=" hvalue.
bool uri_headers_well_formed(std::string_view text) {
  std::size_t i = 0;
  for (;;) {
    std::size_t name_end = chars::span(text, chars::kHeader, i);
    if (name_end == i || name_end == text.size() || text[name_end] != '=') {
      return false;
    }
    i = chars::span(text, chars::kHeader, name_end + 1);
    if (i == text.size()) {
      return true;
    }
    if (text[i] != '&') {
      return false;
    }
    ++i;
  }
}

// The next character of an escaped text, with %HH decoded; advances `i`.
char next_decoded(std::string_view text, std::size_t& i) {
  char c = text[i];
  if (c == '%' && i + 2 < text.size() && chars::is(text[i + 1], chars::kHex) &&
      chars::is(text[i + 2], chars::kHex)) {
    i += 3;
    return static_cast<char>(chars::hex_value(text[i - 2]) * 16 + chars::hex_value(text[i - 1]));
  }
  ++i;
  return c;
}

// RFC 3261 §19.1.4: "characters other than those in the reserved set are equivalent to their
// %HEX HEX encoding"; compared without allocating.
bool escaped_equal(std::string_view a, std::string_view b, bool ignore_case) {
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() && j < b.size()) {
    char x = next_decoded(a, i);
    char y = next_decoded(b, j);
    if (ignore_case) {
      x = chars::lower(x);
      y = chars::lower(y);
    }
    if (x != y) {
      return false;
    }
  }
  return i == a.size() && j == b.size();
}

bool host_equal(const Uri& a, const Uri& b) {
  if (a.is_ipv6() && b.is_ipv6()) {
    Address6 x{};
    Address6 y{};
    if (parse_ipv6(a.bare_host(), x) && parse_ipv6(b.bare_host(), y)) {
      return x == y;
    }
  }
  return iequals(a.host, b.host);
}

// The parameters that must match when either URI has them (RFC 3261 §19.1.4).
bool must_be_in_both(std::string_view name) {
  return iequals(name, "user") || iequals(name, "ttl") || iequals(name, "method") ||
         iequals(name, "maddr") || iequals(name, "transport");
}

std::optional<std::string_view> find_param(const ParamList& params, std::string_view wanted) {
  std::optional<std::string_view> found;
  params.for_each([&](std::string_view name, std::string_view value) {
    if (!found && escaped_equal(name, wanted, true)) {
      found = value;
    }
  });
  return found;
}

// Calls f(name, value) for the first parameter of each name only: a repeated parameter is
// malformed, and comparing first occurrences keeps equality reflexive and symmetric.
template <typename F>
void for_each_first_param(const ParamList& params, F&& f) {
  std::string_view rest = params.text();
  std::string_view name;
  std::string_view value;
  while (next_param(rest, name, value)) {
    if (name.empty()) {
      continue;
    }
    // Seen before when the text before this parameter already holds one of that name.
    std::string_view before = params.text().substr(0, name.data() - params.text().data());
    if (!find_param(ParamList(before), name)) {
      f(name, value);
    }
  }
}

bool sip_params_equal(const ParamList& a, const ParamList& b) {
  bool equal = true;
  for_each_first_param(a, [&](std::string_view name, std::string_view value) {
    auto other = find_param(b, name);
    if (other) {
      equal = equal && escaped_equal(value, *other, true);
    } else if (must_be_in_both(name)) {
      equal = false;
    }
  });
  for_each_first_param(b, [&](std::string_view name, std::string_view) {
    if (must_be_in_both(name) && !find_param(a, name)) {
      equal = false;
    }
  });
  return equal;
}

// Calls f(name, value) for every "name=value" of a URI's headers part.
template <typename F>
void for_each_uri_header(std::string_view headers, F&& f) {
  while (!headers.empty()) {
    std::size_t amp = headers.find('&');
    std::string_view item = headers.substr(0, amp);
    headers.remove_prefix(amp == std::string_view::npos ? headers.size() : amp + 1);
    std::size_t eq = item.find('=');
    f(item.substr(0, eq), eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1));
  }
}

// "URI header components are never ignored": each header of one must be in the other.
bool headers_included(std::string_view a, std::string_view b) {
  bool included = true;
  for_each_uri_header(a, [&](std::string_view name, std::string_view value) {
    bool found = false;
    for_each_uri_header(b, [&](std::string_view other_name, std::string_view other_value) {
      found = found ||
              (escaped_equal(name, other_name, true) && escaped_equal(value, other_value, false));
    });
    included = included && found;
  });
  return included;
}

// RFC 3966 §3: visual separators carry no meaning.
bool is_visual_separator(char c) { return c == '-' || c == '.' || c == '(' || c == ')'; }

bool tel_number_equal(std::string_view a, std::string_view b) {
  std::size_t i = 0;
  std::size_t j = 0;
  for (;;) {
    while (i < a.size() && is_visual_separator(a[i])) {
      ++i;
    }
    while (j < b.size() && is_visual_separator(b[j])) {
      ++j;
    }
    if (i == a.size() || j == b.size()) {
      return i == a.size() && j == b.size();
    }
    if (chars::lower(a[i]) != chars::lower(b[j])) {
      return false;
    }
    ++i;
    ++j;
  }
}

bool tel_params_equal(const ParamList& a, const ParamList& b) {
  std::size_t count_a = 0;
  std::size_t count_b = 0;
  bool equal = true;
  for_each_first_param(a, [&](std::string_view name, std::string_view value) {
    ++count_a;
    auto other = find_param(b, name);
    equal = equal && other && escaped_equal(value, *other, true);
  });
  for_each_first_param(b, [&](std::string_view, std::string_view) { ++count_b; });
  return equal && count_a == count_b;
}

std::string_view parse_sip_uri(Uri& uri, std::string_view rest) {
  // userinfo: user characters up to '@', with an optional ":password". One scan finds it in
  // the usual URIs; a host-only URI runs to its end (or to a ':' that starts the port).
  std::size_t user_end = chars::span(rest, chars::kUser);
  std::size_t at = std::string_view::npos;
  if (user_end < rest.size()) {
    if (rest[user_end] == '@') {
      at = user_end;
    }
    std::size_t stop = user_end;  // where the userinfo scan ended
    if (rest[user_end] == ':') {
      stop = chars::span(rest, chars::kPassword, user_end + 1);
      if (stop < rest.size() && rest[stop] == '@') {
        at = stop;
      }
    }
    // A byte outside the userinfo characters (not the '[' of an IPv6 host, nor the ';' or '?'
    // after a port): when an '@' follows, name the part it spoils.
    if (at == std::string_view::npos && stop < rest.size() && stop > 0 && rest[stop] != ';' &&
        rest[stop] != '?' && rest[stop] != ':') {
      // A byte outside the user characters: name the part it spoils.
      std::size_t first_at = rest.find('@');
      if (first_at != std::string_view::npos) {
        std::size_t colon = rest.substr(0, first_at).find(':');
        return colon == std::string_view::npos || user_end < colon ? "user" : "password";
      }
    }
  }
  if (at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    std::size_t colon = userinfo.find(':');
    uri.user = userinfo.substr(0, colon);
    if (uri.user.empty()) {
      return "user";
    }
    if (colon != std::string_view::npos) {
      uri.password = userinfo.substr(colon + 1);
    }
    rest.remove_prefix(at + 1);
  }

  std::size_t i = 0;
  if (!rest.empty() && rest[0] == '[') {
    std::size_t close = rest.find(']');
    Address6 address{};
    if (close == std::string_view::npos || !parse_ipv6(rest.substr(1, close - 1), address)) {
      return "IPv6 reference";
    }
    i = close + 1;
  } else {
    i = chars::span(rest, chars::kHost);
    if (i == 0) {
      return "host";
    }
  }
  uri.host = rest.substr(0, i);

  if (i < rest.size() && rest[i] == ':') {
    std::size_t end = chars::span(rest, chars::kDigit, i + 1);
    if (end == i + 1 || end - i - 1 > 5) {
      return "port";
    }
    std::uint32_t port = 0;
    for (std::size_t k = i + 1; k < end; ++k) {
      port = port * 10 + static_cast<std::uint32_t>(rest[k] - '0');
    }
    if (port > 65535) {
      return "port";
    }
    uri.port = static_cast<std::uint16_t>(port);
    i = end;
  }

  if (i < rest.size() && rest[i] == ';') {
    // uri-parameters = *( ";" pname [ "=" pvalue ] ), read up to the '?' or the end.
    std::size_t begin = i;
    while (i < rest.size() && rest[i] == ';') {
      std::size_t name_end = chars::span(rest, chars::kParam, i + 1);
      if (name_end == i + 1) {
        return "parameters";
      }
      i = name_end;
      if (i < rest.size() && rest[i] == '=') {
        std::size_t value_end = chars::span(rest, chars::kParam, i + 1);
        if (value_end == i + 1) {
          return "parameters";
        }
        i = value_end;
      }
    }
    if (i < rest.size() && rest[i] != '?') {
      return "parameters";
    }
    uri.params = ParamList(rest.substr(begin, i - begin));
  }

  if (i < rest.size() && rest[i] == '?') {
    uri.headers = rest.substr(i + 1);
    if (!uri_headers_well_formed(uri.headers)) {
      return "headers";
    }
    i = rest.size();
  }

  if (i != rest.size()) {
    return "host";
  }
  return {};
}

std::string_view parse_uri_parts(std::string_view text, Uri& uri) {
  uri = Uri{};
  uri.text = text;
  // RFC 3261 §25.1 / RFC 3986: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
  if (text.empty() || !chars::is(text[0], chars::kAlpha)) {
    return "no scheme";
  }
  std::size_t colon = chars::span(text, chars::kSchemeChar, 1);
  if (colon >= text.size() || text[colon] != ':') {
    return "no scheme";
  }
  uri.scheme_text = text.substr(0, colon);
  std::string_view rest = text.substr(colon + 1);

  if (iequals(uri.scheme_text, "sip")) {
    uri.scheme = Scheme::Sip;
    return parse_sip_uri(uri, rest);
  }
  if (iequals(uri.scheme_text, "sips")) {
    uri.scheme = Scheme::Sips;
    return parse_sip_uri(uri, rest);
  }
  if (iequals(uri.scheme_text, "tel")) {
    uri.scheme = Scheme::Tel;
    std::size_t semicolon = rest.find(';');
    uri.user = rest.substr(0, semicolon);
    if (uri.user.empty() || !chars::all(uri.user, chars::kTel)) {
      return "tel number";
    }
    if (semicolon != std::string_view::npos) {
      std::string_view params = rest.substr(semicolon);
      if (!uri_params_well_formed(params)) {
        return "parameters";
      }
      uri.params = ParamList(params);
    }
    return {};
  }

  // Any other scheme (RFC 4475 §3.1.4.2 unkscm, §3.1.4.3 novelsc): opaque, but it must not hold
  // what would end it inside a header field.
  if (rest.empty()) {
    return "opaque part";
  }
  for (char c : rest) {
    auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7F || c == '<' || c == '>' || c == '"') {
      return "opaque part";
    }
  }
  return {};
}

}  // namespace

bool is_ipv4_address(std::string_view text) {
  int parts = 0;
  std::size_t i = 0;
  for (;;) {
    std::size_t end = chars::span(text, chars::kDigit, i);
    if (end == i || end - i > 3) {
      return false;
    }
    int value = 0;
    for (std::size_t k = i; k < end; ++k) {
      value = value * 10 + (text[k] - '0');
    }
    if (value > 255) {
      return false;
    }
    ++parts;
    if (end == text.size()) {
      return parts == 4;
    }
    if (text[end] != '.' || parts == 4) {
      return false;
    }
    i = end + 1;
  }
}

bool is_ipv6_address(std::string_view text) {
  Address6 address{};
  return parse_ipv6(text, address);
}

std::string_view Uri::bare_host() const {
  if (is_ipv6() && host.size() >= 2 && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

std::string_view Uri::transport() const {
  return params.get("transport").value_or(std::string_view{});
}

std::string_view Uri::opaque() const {
  if (text.size() <= scheme_text.size()) {
    return {};
  }
  return text.substr(scheme_text.size() + 1);
}

namespace detail {

std::string_view parse_uri_into(std::string_view text, Uri& uri) {
  std::string_view fault = parse_uri_parts(text, uri);
  // No part of a URI takes a control character (an escaped one, %00, is fine), so one makes
  // the parse fail; only then is the text searched for one, to say so rather than name the part.
  if (!fault.empty() && chars::has_control(text)) {
    return "control character";
  }
  return fault;
}

}  // namespace detail

Result<Uri> parse_uri(std::string_view text) {
  Uri uri;
  std::string_view fault = detail::parse_uri_into(text, uri);
  if (!fault.empty()) {
    return fail("Bad URI: " + std::string(fault));
  }
  return uri;
}

bool uri_equal(const Uri& a, const Uri& b) {
  if (a.scheme != b.scheme) {
    return false;
  }
  switch (a.scheme) {
    case Scheme::Other:
      return iequals(a.scheme_text, b.scheme_text) && a.opaque() == b.opaque();
    case Scheme::Tel:
      return tel_number_equal(a.user, b.user) && tel_params_equal(a.params, b.params);
    case Scheme::Sip:
    case Scheme::Sips:
      break;
  }
  if (!escaped_equal(a.user, b.user, false)) {
    return false;
  }
  if (a.password.has_value() != b.password.has_value() ||
      (a.password && !escaped_equal(*a.password, *b.password, false))) {
    return false;
  }
  if (!host_equal(a, b) || a.port != b.port) {
    return false;
  }
  if (!sip_params_equal(a.params, b.params)) {
    return false;
  }
  return headers_included(a.headers, b.headers) && headers_included(b.headers, a.headers);
}

}  // namespace catchline::sip
