#pragma once

// Tone detection with the Goertzel algorithm (one DFT term at any frequency, no FFT), so a test
// can tell that the 1 kHz tone one phone sent reached the other through the relay, and which
// ringback a file holds.

#include <cstdint>
#include <span>

namespace catchline::media::audio {

/// The share of the energy of `samples` that lies at `frequency` Hz, from 0 (none) to about 1
/// (a pure tone at that frequency). Leakage of a tone that does not fill a whole number of
/// periods keeps it a little off 1; at 8 kHz, 160 samples (20 ms) resolve about 50 Hz.
/// 0 for silence, no samples, or a frequency not between 0 and half of `sample_rate`.
double tone_share(std::span<const std::int16_t> samples, double frequency,
                  double sample_rate = 8000.0);

/// True when `frequency` holds at least `min_share` of the energy of `samples` and the samples
/// are louder than `min_rms` of full scale (so that noise-free silence is no tone).
bool has_tone(std::span<const std::int16_t> samples, double frequency, double min_share = 0.5,
              double min_rms = 0.001, double sample_rate = 8000.0);

}  // namespace catchline::media::audio
