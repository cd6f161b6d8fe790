#include "media/relay/dtmf.h"

#include <algorithm>

#include "media/rtp/telephone_event.h"

namespace catchline::media::relay {

std::optional<DtmfKey> DtmfDetector::on_packet(const rtp::RtpHeader& packet) {
  auto event = rtp::parse_telephone_event(packet.payload);
  if (!event) {
    return std::nullopt;
  }
  const std::optional<char> digit = rtp::dtmf_digit(event->event);
  if (!digit) {
    return std::nullopt;
  }
  const EventKey key{packet.ssrc, packet.timestamp};
  if (was_reported(key)) {
    return std::nullopt;
  }
  const DtmfKey pressed{*digit, event->duration_ms()};
  if (pending_ && *pending_ != key) {
    // A new event, and the last one never ended: its end packets were lost. It is reported
    // now; the new one waits for its own end (a retransmission of it, or the next event).
    const DtmfKey lost_end = pending_key_;
    mark_reported(*pending_);
    pending_ = key;
    pending_key_ = pressed;
    return lost_end;
  }
  if (!event->end) {
    pending_ = key;
    pending_key_ = pressed;
    return std::nullopt;
  }
  pending_.reset();
  mark_reported(key);
  return pressed;
}

bool DtmfDetector::was_reported(const EventKey& key) const {
  return std::find(reported_.begin(), reported_.end(), key) != reported_.end();
}

void DtmfDetector::mark_reported(const EventKey& key) {
  reported_[next_reported_] = key;
  next_reported_ = (next_reported_ + 1) % reported_.size();
}

}  // namespace catchline::media::relay
