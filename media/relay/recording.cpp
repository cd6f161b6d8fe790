#include "media/relay/recording.h"

#include <algorithm>
#include <string>

#include "media/audio/g711.h"

namespace catchline::media::relay {
namespace {

constexpr int kCallerError = 500;
// What a recording reserves when it starts: 10 s (160 kB), short of max_duration.
constexpr std::size_t kFirstReserve = 10 * audio::kSampleRate;
// A timestamp this far (1 s) before sample 0 is a jump of the sender's clock, not a late packet.
constexpr std::int64_t kMaxLate = audio::kSampleRate;

std::size_t samples_of(std::chrono::milliseconds duration) {
  return static_cast<std::size_t>(duration.count()) * audio::kSampleRate / 1000;
}

}  // namespace

sip::Result<std::size_t> check_record_request(const RecordRequest& request) {
  if (request.payload_type >= 128) {
    return sip::fail("payload type " + std::to_string(request.payload_type) + " is not below 128",
                     0, kCallerError);
  }
  if (request.max_duration <= std::chrono::milliseconds::zero()) {
    return sip::fail(
        "max_duration of " + std::to_string(request.max_duration.count()) + " ms is not above 0", 0,
        kCallerError);
  }
  if (request.max_duration > kMaxRecordDuration) {
    return sip::fail("max_duration of " + std::to_string(request.max_duration.count()) +
                         " ms is over " + std::to_string(kMaxRecordDuration.count()) + " ms",
                     0, kCallerError);
  }
  return samples_of(request.max_duration);
}

Recording::Recording(RecordId id, const RecordRequest& request)
    : id_(id),
      codec_(request.codec),
      payload_type_(request.payload_type),
      max_samples_(samples_of(request.max_duration)) {
  samples_.reserve(std::min(max_samples_, kFirstReserve));
}

void Recording::add(const rtp::RtpHeader& packet) {
  if (packet.payload_type != payload_type_ || full() || packet.payload.empty()) {
    return;
  }
  const std::size_t recorded = samples_.size();
  if (ssrc_ != packet.ssrc) {
    // The first packet, or a new stream: it starts where the recording stands.
    ssrc_ = packet.ssrc;
    start_ = recorded;
    origin_ = packet.timestamp;
  }
  // Modulo 2^32: timestamps wrap (RFC 3550 §5.1), a packet a little late is a little negative.
  std::int64_t offset = static_cast<std::int32_t>(packet.timestamp - origin_);
  if (offset < -kMaxLate) {
    start_ = recorded;
    origin_ = packet.timestamp;
    offset = 0;
  }
  if (offset < 0) {
    return;  // from before the stream's first packet recorded
  }
  const std::size_t at = start_ + static_cast<std::size_t>(offset);
  if (at >= max_samples_) {
    grow_to(max_samples_);  // silence up to max_duration: the recording is full
    return;
  }
  const std::size_t count = std::min(packet.payload.size(), max_samples_ - at);
  if (at + count > recorded) {
    grow_to(at + count);
  }
  ++packets_;
  std::int16_t* out = samples_.data() + at;
  // One loop per codec: the decoder is chosen once a packet, not once a sample.
  if (codec_ == audio::Codec::Pcmu) {
    for (std::size_t i = 0; i < count; ++i) {
      out[i] = audio::decode_ulaw(packet.payload[i]);
    }
  } else {
    for (std::size_t i = 0; i < count; ++i) {
      out[i] = audio::decode_alaw(packet.payload[i]);
    }
  }
}

void Recording::grow_to(std::size_t size) {
  if (size > samples_.capacity()) {
    // Doubling, but never past max_duration: a full recording holds no slack.
    samples_.reserve(std::min(max_samples_, std::max(size, 2 * samples_.capacity())));
  }
  samples_.resize(size, 0);
}

}  // namespace catchline::media::relay
