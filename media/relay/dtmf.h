#pragma once

// The DTMF keys of one leg's phone, from its RFC 4733 telephone-event packets: one key per
// event, however many packets carry it. No socket and no clock: the relay hands it the packets.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "media/rtp/rtp_header.h"

namespace catchline::media::relay {

/// A key the detector reports.
struct DtmfKey {
  char digit = 0;  // '0'-'9', '*', '#', 'A'-'D'
  std::chrono::milliseconds duration{0};
};

/// Tells the keys of one stream of telephone-events. RFC 4733 §2.5.1: every packet of one
/// event carries the timestamp of its start; the packets with the end bit are sent three times.
/// So an event is (SSRC, timestamp), and it is reported once:
///   - at its first packet with the end bit; its retransmissions, and packets of it that come
///     late (reordered), are recognised by their (SSRC, timestamp) and ignored;
///   - or, when every end packet was lost, at the first packet of the next event (it was seen,
///     so it was pressed).
/// Packets that do not parse and events that are no DTMF key (flash, tones) are ignored.
/// A plain value, owned by its leg on the media thread.
class DtmfDetector {
 public:
  /// Reads one telephone-event packet of the stream; returns the key it completes, if any.
  std::optional<DtmfKey> on_packet(const rtp::RtpHeader& packet);

 private:
  struct EventKey {
    std::uint32_t ssrc = 0;
    std::uint32_t timestamp = 0;
    bool operator==(const EventKey&) const = default;
  };
  bool was_reported(const EventKey& key) const;
  void mark_reported(const EventKey& key);

  // The event whose packets came last and is not reported yet.
  std::optional<EventKey> pending_;
  DtmfKey pending_key_;
  // The last events reported: more than one, so that a late packet of the one before the last
  // is no new event.
  std::array<std::optional<EventKey>, 4> reported_;
  std::size_t next_reported_ = 0;
};

}  // namespace catchline::media::relay
