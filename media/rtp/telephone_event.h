#pragma once

// RFC 4733 telephone-events (DTMF keys sent as RTP, "telephone-event/8000" in the SDP), read in
// place from an RTP packet's payload.

#include <chrono>
#include <cstdint>
#include <optional>

#include "media/rtp/rtp_header.h"
#include "sip/result.h"

namespace catchline::media::rtp {

/// The 4-byte payload of a telephone-event packet (RFC 4733 §2.3).
struct TelephoneEvent {
  std::uint8_t event = 0;   // 0-9, 10 '*', 11 '#', 12-15 'A'-'D', others (flash, tones) above
  bool end = false;         // E: the key was released; the packet is sent three times (§2.5.1.4)
  std::uint8_t volume = 0;  // 0 to 63: -0 to -63 dBm0
  /// Since the event's start, in timestamp units (1/8000 s at telephone-event/8000).
  std::uint16_t duration = 0;

  std::chrono::milliseconds duration_ms() const { return std::chrono::milliseconds(duration / 8); }
};

/// The size of one event in a payload.
inline constexpr std::size_t kTelephoneEventSize = 4;

/// Reads the first event of a telephone-event payload; bytes after it (a sender that pads) are
/// ignored. Errors (status 400, offset 0): "telephone-event: payload of 3 bytes, need 4".
sip::Result<TelephoneEvent> parse_telephone_event(Bytes payload);

/// The DTMF key an event stands for ('0'-'9', '*', '#', 'A'-'D'), or nullopt for the other
/// events (flash hook, modem and fax tones: RFC 4734).
std::optional<char> dtmf_digit(std::uint8_t event);

}  // namespace catchline::media::rtp
