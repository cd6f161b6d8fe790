#include "media/rtp/telephone_event.h"

#include <string>

namespace catchline::media::rtp {

sip::Result<TelephoneEvent> parse_telephone_event(Bytes payload) {
  if (payload.size() < kTelephoneEventSize) {
    return sip::fail(
        "telephone-event: payload of " + std::to_string(payload.size()) + " bytes, need 4", 0);
  }
  TelephoneEvent event;
  event.event = payload[0];
  event.end = (payload[1] & 0x80) != 0;
  // The R bit (0x40) is reserved: the receiver ignores it (RFC 4733 §2.3).
  event.volume = payload[1] & 0x3f;
  event.duration = read16(payload.data() + 2);
  return event;
}

std::optional<char> dtmf_digit(std::uint8_t event) {
  // RFC 4733 §3.2, table 7.
  static constexpr char kDigits[] = "0123456789*#ABCD";
  if (event >= sizeof(kDigits) - 1) {
    return std::nullopt;
  }
  return kDigits[event];
}

}  // namespace catchline::media::rtp
