#pragma once

// One recording on one leg: the audio its phone sends, decoded to 8 kHz linear samples and laid
// out by RTP timestamp. No clock and no socket: the relay hands it the leg's RTP packets and
// ends it (see Relay).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "media/relay/relay_types.h"
#include "media/rtp/rtp_header.h"
#include "sip/result.h"

namespace catchline::media::relay {

/// Checks a request before it is posted to the media thread. Errors (status 500: the caller's
/// mistake, not the phone's): "payload type 128 is not below 128", "max_duration of 0 ms is not
/// above 0", "max_duration of 3600000 ms is over 1800000 ms".
sip::Result<std::size_t> check_record_request(const RecordRequest& request);

/// The samples of one recording. The first packet of the request's payload type is sample 0;
/// every later packet goes where its timestamp says (RFC 3550 §5.1: the timestamp counts
/// samples, 8000 a second for G.711), so packets that come out of order land in order, and the
/// span of a lost packet or of silence suppression (RFC 3551 §4.1: the timestamp jumps) stays
/// silence (0). Ignored: packets of other payload types, packets from before the first one
/// recorded. A new SSRC (the phone restarted its stream: RFC 3550 §8.2), or a timestamp more
/// than a second before the first packet of its stream (its clock jumped back), goes on at the
/// end of what was recorded. A timestamp far ahead is silence up to there: it may end the
/// recording (max_duration).
///   Recording -> Full   once it holds max_duration of audio (what would pass it is cut off)
/// Memory: at most max_duration of samples (16 kB a second); it reserves 10 s at first and
/// doubles up to that bound.
/// A plain value, owned by its leg on the media thread.
class Recording {
 public:
  /// `request` passed check_record_request().
  Recording(RecordId id, const RecordRequest& request);

  RecordId id() const { return id_; }
  /// True once it holds max_duration of audio: it records nothing more.
  bool full() const { return samples_.size() >= max_samples_; }
  /// Packets recorded (of the request's payload type, not from before the start).
  std::uint64_t packets() const { return packets_; }
  const std::vector<std::int16_t>& samples() const { return samples_; }

  /// Records one RTP packet of the leg (any payload type: others are ignored).
  void add(const rtp::RtpHeader& packet);
  /// Hands the samples over; the recording is empty afterwards.
  std::vector<std::int16_t> take_samples() { return std::move(samples_); }

 private:
  void grow_to(std::size_t size);

  RecordId id_;
  audio::Codec codec_;
  std::uint8_t payload_type_;
  std::size_t max_samples_;
  std::vector<std::int16_t> samples_;
  std::optional<std::uint32_t> ssrc_;
  // The stream of ssrc_: its first packet recorded has timestamp origin_ and sits at start_.
  std::uint32_t origin_ = 0;
  std::size_t start_ = 0;
  std::uint64_t packets_ = 0;
};

}  // namespace catchline::media::relay
