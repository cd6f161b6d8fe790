#include "media/audio/sound.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "media/audio/tone.h"

namespace catchline::media::audio {
namespace {

Sound sine(double frequency, std::size_t count, double amplitude = 0.5) {
  Sound sound;
  for (std::size_t n = 0; n < count; ++n) {
    sound.samples.push_back(static_cast<std::int16_t>(std::lround(
        amplitude * 32767.0 *
        std::sin(2.0 * std::numbers::pi * frequency * static_cast<double>(n) / kSampleRate))));
  }
  return sound;
}

TEST(EncodedSound, CutsIntoTwentyMillisecondFramesPaddedWithSilence) {
  Sound sound;
  sound.samples.assign(2 * kFrameSamples + 10, 1000);
  EncodedSound encoded(sound, Codec::Pcma);
  ASSERT_EQ(encoded.frame_count(), 3u);
  EXPECT_EQ(encoded.codec(), Codec::Pcma);
  auto last = encoded.frame(2);
  ASSERT_EQ(last.size(), kFrameSamples);
  EXPECT_EQ(last[9], encode_alaw(1000));
  EXPECT_EQ(last[10], 0xD5);
  EXPECT_EQ(last[kFrameSamples - 1], 0xD5);
}

TEST(EncodedSound, EncodesInTheLegsCodec) {
  Sound sound = sine(1000, kFrameSamples);
  EncodedSound ulaw(sound, Codec::Pcmu);
  ASSERT_EQ(ulaw.frame_count(), 1u);
  for (std::size_t i = 0; i < kFrameSamples; ++i) {
    EXPECT_EQ(ulaw.frame(0)[i], encode_ulaw(sound.samples[i]));
  }
}

TEST(EncodedSound, EmptySoundHasNoFrames) {
  EXPECT_EQ(EncodedSound(Sound{}, Codec::Pcmu).frame_count(), 0u);
}

TEST(Sound, DurationFollowsTheSampleCount) {
  EXPECT_EQ(sine(425, 8000).duration(), std::chrono::milliseconds(1000));
  EXPECT_EQ(sine(425, 160).duration(), kFrameDuration);
}

TEST(Rms, IsSeventyPercentOfASinesPeak) {
  Sound sound = sine(1000, 8000, 0.5);
  EXPECT_NEAR(rms(sound.samples), 0.5 / std::sqrt(2.0), 0.001);
  EXPECT_EQ(rms({}), 0.0);
}

TEST(ToneDetector, FindsThePureToneItIsAskedFor) {
  Sound sound = sine(1000, kFrameSamples);
  EXPECT_NEAR(tone_share(sound.samples, 1000), 1.0, 0.02);
  EXPECT_TRUE(has_tone(sound.samples, 1000));
}

TEST(ToneDetector, FindsToneBetweenDftBins) {
  // 425 Hz does not fill whole periods in 20 ms; leakage stays small.
  Sound sound = sine(425, kFrameSamples);
  EXPECT_GT(tone_share(sound.samples, 425), 0.9);
}

TEST(ToneDetector, IgnoresOtherFrequencies) {
  Sound sound = sine(1000, 4 * kFrameSamples);
  EXPECT_LT(tone_share(sound.samples, 425), 0.01);
  EXPECT_LT(tone_share(sound.samples, 1200), 0.01);
  EXPECT_FALSE(has_tone(sound.samples, 425));
}

TEST(ToneDetector, SplitsEnergyOfTwoTones) {
  Sound a = sine(440, 8000, 0.25);
  Sound b = sine(480, 8000, 0.25);
  for (std::size_t i = 0; i < a.samples.size(); ++i) {
    a.samples[i] = static_cast<std::int16_t>(a.samples[i] + b.samples[i]);
  }
  EXPECT_NEAR(tone_share(a.samples, 440), 0.5, 0.02);
  EXPECT_NEAR(tone_share(a.samples, 480), 0.5, 0.02);
}

TEST(ToneDetector, FindsToneThroughG711) {
  Sound sound = sine(1000, 4 * kFrameSamples, 0.3);
  EncodedSound coded(sound, Codec::Pcmu);
  Sound heard;
  for (std::size_t f = 0; f < coded.frame_count(); ++f) {
    for (std::uint8_t code : coded.frame(f)) {
      heard.samples.push_back(decode_ulaw(code));
    }
  }
  EXPECT_GT(tone_share(heard.samples, 1000), 0.95);
}

TEST(ToneDetector, SilenceIsNoTone) {
  Sound silence;
  silence.samples.assign(kFrameSamples, 0);
  EXPECT_EQ(tone_share(silence.samples, 1000), 0.0);
  EXPECT_FALSE(has_tone(silence.samples, 1000));
  EXPECT_EQ(tone_share(sine(1000, 160).samples, 5000), 0.0);  // above half the sample rate
}

}  // namespace
}  // namespace catchline::media::audio
