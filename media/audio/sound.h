#pragma once

// A sound to play to a leg: 8 kHz mono linear samples, and the same sound encoded once for a
// leg's codec and cut into the 20 ms frames the relay sends (one RTP packet each).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "media/audio/g711.h"

namespace catchline::media::audio {

/// The one sample rate of prompts: narrowband telephony, what G.711 carries.
inline constexpr std::uint32_t kSampleRate = 8000;
/// 20 ms at 8 kHz: the samples (and G.711 bytes) of one RTP packet (RFC 3551 §4.2 default ptime).
inline constexpr std::size_t kFrameSamples = 160;
inline constexpr std::chrono::milliseconds kFrameDuration{20};

/// Linear 16-bit samples at kSampleRate, one channel.
struct Sound {
  std::vector<std::int16_t> samples;

  std::chrono::milliseconds duration() const {
    return std::chrono::milliseconds(samples.size() * 1000 / kSampleRate);
  }
};

/// A Sound encoded in one codec and cut into 20 ms frames, the last one filled up with silence.
/// Built once (at start-up or when a leg's codec is known), then only read: frames may be read
/// from any thread.
class EncodedSound {
 public:
  EncodedSound(const Sound& sound, Codec codec);

  Codec codec() const { return codec_; }
  /// How many frames; 0 for an empty sound.
  std::size_t frame_count() const { return bytes_.size() / kFrameSamples; }
  /// Frame `index` (below frame_count()): kFrameSamples codes, the payload of one RTP packet.
  std::span<const std::uint8_t> frame(std::size_t index) const {
    return {bytes_.data() + index * kFrameSamples, kFrameSamples};
  }

 private:
  Codec codec_;
  std::vector<std::uint8_t> bytes_;
};

/// Root mean square of `samples` as a share of full scale (0 to 1); 0 for no samples.
double rms(std::span<const std::int16_t> samples);

}  // namespace catchline::media::audio
