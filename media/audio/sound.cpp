#include "media/audio/sound.h"

#include <cmath>

namespace catchline::media::audio {

EncodedSound::EncodedSound(const Sound& sound, Codec codec) : codec_(codec) {
  const std::size_t frames = (sound.samples.size() + kFrameSamples - 1) / kFrameSamples;
  bytes_.assign(frames * kFrameSamples, silence(codec));
  for (std::size_t i = 0; i < sound.samples.size(); ++i) {
    bytes_[i] = encode(codec, sound.samples[i]);
  }
}

double rms(std::span<const std::int16_t> samples) {
  if (samples.empty()) {
    return 0.0;
  }
  double sum = 0.0;
  for (std::int16_t sample : samples) {
    const double value = sample / 32768.0;
    sum += value * value;
  }
  return std::sqrt(sum / static_cast<double>(samples.size()));
}

}  // namespace catchline::media::audio
