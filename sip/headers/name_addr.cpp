#include "sip/headers/name_addr.h"

#include <limits>

#include "sip/headers/char_class.h"

namespace catchline::sip {

namespace {

// A display-name of the token form, *(token LWS): token characters and whitespace. Bytes of
// UTF-8 sequences are let through too, as phones send unquoted non-ASCII names.
bool is_display_char(char c) {
  return chars::is(c, chars::kToken | chars::kSpace) || static_cast<unsigned char>(c) >= 0x80;
}

}  // namespace

std::string_view NameAddr::tag() const { return params.get("tag").value_or(std::string_view{}); }

std::string NameAddr::display() const {
  if (display_quoted) {
    return unquote(display_name);
  }
  return std::string(display_name);
}

namespace detail {

std::string_view parse_name_addr_into(std::string_view text, NameAddr& out,
                                      std::string_view& uri_fault, std::string_view* tag) {
  text = trim(text);
  out = NameAddr{};
  if (text.empty()) {
    return "empty";
  }
  std::size_t open = std::string_view::npos;
  if (text[0] == '"') {
    bool control = false;
    std::size_t close = chars::quoted_end(text, 0, &control);
    if (close == std::string_view::npos) {
      return control ? "control character" : "unclosed quote";
    }
    out.display_name = text.substr(1, close - 2);
    out.display_quoted = true;
    open = chars::span(text, chars::kSpace, close);
    if (open == text.size() || text[open] != '<') {
      return open < text.size() && chars::is(text[open], chars::kControl)
                 ? "control character"
                 : "no < after display name";
    }
  } else {
    std::size_t k = 0;
    while (k < text.size() && is_display_char(text[k])) {
      ++k;
    }
    if (k < text.size() && text[k] == '<') {
      out.display_name = trim(text.substr(0, k));
      open = k;
    } else if (k < text.size() && chars::is(text[k], chars::kControl)) {
      return "control character";
    }
  }

  std::size_t after = 0;
  if (open != std::string_view::npos) {
    // name-addr = [ display-name ] LAQUOT addr-spec RAQUOT: nothing but the URI inside < >
    // (RFC 4475 §3.1.2.14 badaspec: spaces there make the message invalid).
    std::size_t close = text.find('>', open + 1);
    if (close == std::string_view::npos) {
      return "unclosed <";
    }
    out.uri_text = text.substr(open + 1, close - open - 1);
    after = close + 1;
  } else {
    if (text.find('<') != std::string_view::npos) {
      return "bad display name";
    }
    // RFC 3261 §20.10: without < > the URI ends at the first ';' (those parameters belong to
    // the header), and a URI holding ',' '?' or ';' must be enclosed (RFC 4475 regbadct).
    std::size_t end = 0;
    while (end < text.size() && text[end] != ';' && !chars::is(text[end], chars::kSpace)) {
      ++end;
    }
    out.uri_text = text.substr(0, end);
    if (out.uri_text.find_first_of("?,") != std::string_view::npos) {
      return "URI with '?' or ',' outside <>";
    }
    after = end;
  }

  uri_fault = parse_uri_into(out.uri_text, out.uri);
  if (!uri_fault.empty()) {
    return "bad URI";
  }
  out.params = ParamList(text.substr(chars::span(text, chars::kSpace, after)));
  bool good = scan_params(out.params.text(), [tag](std::string_view name, std::string_view value) {
    if (tag != nullptr && tag->data() == nullptr && name.size() == 3 && iequals(name, "tag")) {
      // A flag "tag" gives an empty tag that still points into the text (found, but empty).
      *tag = value.data() != nullptr ? value : name.substr(name.size());
    }
    return true;
  });
  if (!good) {
    return chars::has_control(out.params.text()) ? "control character" : "bad parameters";
  }
  return {};
}

}  // namespace detail

namespace {

ParseError name_addr_failure(std::string_view fault, std::string_view uri_fault) {
  if (!uri_fault.empty()) {
    return fail(std::string(fault) + ": " + std::string(uri_fault));
  }
  return fail(std::string(fault));
}

}  // namespace

Result<NameAddr> parse_name_addr(std::string_view text) {
  NameAddr out;
  std::string_view uri_fault;
  std::string_view fault = detail::parse_name_addr_into(text, out, uri_fault);
  if (!fault.empty()) {
    return name_addr_failure(fault, uri_fault);
  }
  return out;
}

namespace detail {

std::string_view parse_contact_into(std::string_view text, Contact& contact,
                                    std::string_view& uri_fault) {
  text = trim(text);
  contact.star = false;
  contact.expires.reset();
  contact.q.reset();
  if (text == "*") {
    contact.address = NameAddr{};
    contact.star = true;
    return {};
  }
  std::string_view fault = parse_name_addr_into(text, contact.address, uri_fault);
  if (!fault.empty()) {
    return fault;
  }

  std::optional<std::string_view> expires;
  std::optional<std::string_view> q;
  contact.address.params.for_each([&](std::string_view name, std::string_view value) {
    if (!expires && iequals(name, "expires")) {
      expires = value;
    } else if (!q && iequals(name, "q")) {
      q = value;
    }
  });

  if (expires) {
    if (expires->empty() || !chars::all(*expires, chars::kDigit)) {
      return "bad expires";
    }
    // An overlarge value means "as long as you allow" (RFC 4475 §3.1.2.4 scalar02 lets an
    // element treat it so); the registrar clamps it to its maximum anyway.
    std::uint64_t value = 0;
    for (char c : *expires) {
      value = value * 10 + static_cast<std::uint64_t>(c - '0');
      if (value > std::numeric_limits<std::uint32_t>::max()) {
        value = std::numeric_limits<std::uint32_t>::max();
        break;
      }
    }
    contact.expires = static_cast<std::uint32_t>(value);
  }

  if (q) {
    // qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
    std::string_view v = *q;
    if (v.empty() || (v[0] != '0' && v[0] != '1') || v.size() > 5 ||
        (v.size() > 1 && (v[1] != '.' || !chars::all(v.substr(2), chars::kDigit)))) {
      return "bad q";
    }
    float value = static_cast<float>(v[0] - '0');
    float scale = 0.1f;
    for (std::size_t i = 2; i < v.size(); ++i, scale /= 10) {
      value += scale * static_cast<float>(v[i] - '0');
    }
    if (value > 1.0f) {
      return "bad q";
    }
    contact.q = value;
  }
  return {};
}

}  // namespace detail

Result<Contact> parse_contact(std::string_view text) {
  Contact contact;
  std::string_view uri_fault;
  std::string_view fault = detail::parse_contact_into(text, contact, uri_fault);
  if (!fault.empty()) {
    return name_addr_failure(fault, uri_fault);
  }
  return contact;
}

}  // namespace catchline::sip
