// Fuzzes the URI grammar and what reads its result: parts stay inside the text, equality is
// reflexive and symmetric, unescape() and the IP address checks take any bytes.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sip/headers/params.h"
#include "sip/uri.h"

namespace sip = catchline::sip;

namespace {

void require(bool condition) {
  if (!condition) {
    __builtin_trap();
  }
}

void inside(std::string_view text, std::string_view part) {
  if (!part.empty()) {
    require(part.data() >= text.data() && part.data() + part.size() <= text.data() + text.size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Any outcome is fine; crashing, leaking or hanging is not.
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)sip::is_ipv6_address(text);
  (void)sip::is_ipv4_address(text);
  (void)sip::unescape(text);

  // Two URIs when the input holds a line break: compare them.
  const std::size_t split = text.find('\n');
  const std::string_view first = text.substr(0, split);
  auto uri = sip::parse_uri(first);
  if (!uri) {
    require(!uri.error().reason.empty());
    return 0;
  }
  for (std::string_view part : {uri->scheme_text, uri->user, uri->host, uri->params.text(),
                                uri->headers, uri->password.value_or(std::string_view{})}) {
    inside(first, part);
  }
  require(uri_equal(*uri, *uri));
  (void)uri->transport();
  (void)uri->bare_host();
  uri->params.for_each([](std::string_view name, std::string_view value) {
    (void)sip::unescape(name);
    (void)sip::unescape(value);
  });
  if (split != std::string_view::npos) {
    auto other = sip::parse_uri(text.substr(split + 1));
    if (other) {
      require(sip::uri_equal(*uri, *other) == sip::uri_equal(*other, *uri));
    }
  }
  return 0;
}
