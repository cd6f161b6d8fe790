#include "media/audio/tone.h"

#include <cmath>
#include <numbers>

#include "media/audio/sound.h"

namespace catchline::media::audio {

double tone_share(std::span<const std::int16_t> samples, double frequency, double sample_rate) {
  if (samples.empty() || !(frequency > 0.0) || !(frequency < sample_rate / 2.0)) {
    return 0.0;
  }
  // Goertzel: s[n] = x[n] + 2 cos(w) s[n-1] - s[n-2]; |X(w)|^2 from the last two terms.
  const double omega = 2.0 * std::numbers::pi * frequency / sample_rate;
  const double coefficient = 2.0 * std::cos(omega);
  double previous = 0.0;
  double before = 0.0;
  double energy = 0.0;
  for (std::int16_t sample : samples) {
    const double x = sample / 32768.0;
    energy += x * x;
    const double current = x + coefficient * previous - before;
    before = previous;
    previous = current;
  }
  if (energy <= 0.0) {
    return 0.0;
  }
  const double power = previous * previous + before * before - coefficient * previous * before;
  // A sine of amplitude A over N samples gives |X|^2 = (A N / 2)^2 and energy N A^2 / 2.
  return 2.0 * power / (static_cast<double>(samples.size()) * energy);
}

bool has_tone(std::span<const std::int16_t> samples, double frequency, double min_share,
              double min_rms, double sample_rate) {
  return rms(samples) > min_rms && tone_share(samples, frequency, sample_rate) >= min_share;
}

}  // namespace catchline::media::audio
