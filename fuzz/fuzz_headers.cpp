// Fuzzes the header grammars one by one: the first byte picks the grammar, the rest is the
// header value. Views must stay inside the value; the strict parameter check must agree with
// what the lenient reader sees; what a grammar accepts holds no control character but HTAB,
// CR and LF (those two as folded whitespace), not even once unquoted.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sip/headers/cseq.h"
#include "sip/headers/name_addr.h"
#include "sip/headers/params.h"
#include "sip/headers/simple.h"
#include "sip/headers/via.h"
#include "sip/message.h"

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

// A control character that no accepted value may hold: CTL but HTAB, CR and LF.
void no_control(std::string_view text) {
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    require((byte >= 0x20 && byte != 0x7F) || c == '\t' || c == '\r' || c == '\n');
  }
}

void params(std::string_view value) {
  sip::ParamList list(value);
  std::size_t lenient = 0;
  list.for_each([&](std::string_view name, std::string_view param) {
    inside(value, name);
    inside(value, param);
    ++lenient;
  });
  std::size_t strict = 0;
  bool good = sip::scan_params(value, [&](std::string_view name, std::string_view param) {
    inside(value, name);
    inside(value, param);
    ++strict;
    return true;
  });
  require(good == list.well_formed());
  if (good) {
    no_control(value);
    // On a well-formed list both readers see the same parameters.
    require(strict == lenient);
    sip::scan_params(value, [&](std::string_view name, std::string_view) {
      require(list.get(name).has_value());
      return true;
    });
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Any outcome is fine; crashing, leaking or hanging is not.
  if (size == 0) {
    return 0;
  }
  const std::string_view value(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 14) {
    case 0:
      if (auto via = sip::parse_via(value)) {
        no_control(value);
        inside(value, via->host);
        inside(value, via->branch);
        inside(value, via->sent_by);
        require(via->branch.empty() || sip::is_token(via->branch));
      }
      break;
    case 1:
      if (auto address = sip::parse_name_addr(value)) {
        no_control(value);
        no_control(address->display());
        inside(value, address->uri_text);
        inside(value, address->display_name);
        (void)address->tag();
      }
      break;
    case 2:
      if (auto contact = sip::parse_contact(value)) {
        no_control(value);
        require(!contact->q || (*contact->q >= 0.0f && *contact->q <= 1.0f));
      }
      break;
    case 3:
      if (auto cseq = sip::parse_cseq(value)) {
        no_control(value);
        require(cseq->number < (1u << 31));
        require(!cseq->method_name.empty());
      }
      break;
    case 4:
      if (sip::parse_event(value)) {
        no_control(value);
      }
      break;
    case 5:
      if (sip::parse_subscription_state(value)) {
        no_control(value);
      }
      break;
    case 6:
      if (sip::parse_replaces(value)) {
        no_control(value);
      }
      break;
    case 7:
      if (sip::parse_reason(value)) {
        no_control(value);
      }
      break;
    case 8:
      if (sip::parse_content_type(value)) {
        no_control(value);
      }
      break;
    case 9:
      (void)sip::parse_unsigned(value, 255);
      (void)sip::parse_unsigned(value);
      break;
    case 10: {
      sip::HeaderList list(value);
      while (auto item = list.next()) {
        inside(value, *item);
        require(!item->empty());
      }
      (void)sip::for_each_token(value, [](std::string_view) {});
      (void)sip::list_contains(value, "timer");
      break;
    }
    case 11:
      params(value);
      break;
    case 12:
      (void)sip::unquote(value);
      (void)sip::unescape(value);
      (void)sip::trim(value);
      break;
    case 13:
      (void)sip::header_from_name(value);
      (void)sip::method_from_name(value);
      break;
  }
  return 0;
}
