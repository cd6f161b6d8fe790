// The prompt set made at build time (prompts/CMakeLists.txt): every file the call features play
// exists, reads with the WAV reader, is not silent and is about as long as it should be.

#include <gtest/gtest.h>

#include <chrono>
#include <span>
#include <string>

#include "media/audio/sound.h"
#include "media/audio/tone.h"
#include "media/audio/wav.h"

namespace catchline::media::audio {
namespace {

using std::chrono::milliseconds;

const std::string kPrompts = CATCHLINE_PROMPTS_DIR;

struct Expected {
  const char* name;
  milliseconds shortest;
  milliseconds longest;
};

constexpr Expected kPromptSet[] = {
    {"hold_music", milliseconds(20'000), milliseconds(30'000)},
    {"ringback", milliseconds(5'000), milliseconds(5'000)},
    {"ringback_us", milliseconds(6'000), milliseconds(6'000)},
    {"parked_on", milliseconds(300), milliseconds(2'500)},
    {"not_available", milliseconds(1'000), milliseconds(5'000)},
    {"transfer_failed", milliseconds(500), milliseconds(3'000)},
    {"nobody_available", milliseconds(500), milliseconds(3'000)},
    {"not_picked_up", milliseconds(500), milliseconds(4'000)},
    {"digit_0", milliseconds(200), milliseconds(1'500)},
    {"digit_1", milliseconds(200), milliseconds(1'500)},
    {"digit_2", milliseconds(200), milliseconds(1'500)},
    {"digit_3", milliseconds(200), milliseconds(1'500)},
    {"digit_4", milliseconds(200), milliseconds(1'500)},
    {"digit_5", milliseconds(200), milliseconds(1'500)},
    {"digit_6", milliseconds(200), milliseconds(1'500)},
    {"digit_7", milliseconds(200), milliseconds(1'500)},
    {"digit_8", milliseconds(200), milliseconds(1'500)},
    {"digit_9", milliseconds(200), milliseconds(1'500)},
};

// -40 dBFS: speech and tones at a telephone level are far above it, an empty file is 0.
constexpr double kSilenceFloor = 0.01;

class PromptSet : public ::testing::TestWithParam<Expected> {};

TEST_P(PromptSet, ReadsAndIsAudibleAndAsLongAsExpected) {
  const Expected& expected = GetParam();
  auto sound = read_wav(kPrompts + "/" + expected.name + ".wav");
  ASSERT_TRUE(sound) << sound.error().reason;
  EXPECT_GT(rms(sound->samples), kSilenceFloor) << expected.name;
  EXPECT_GE(sound->duration(), expected.shortest) << expected.name;
  EXPECT_LE(sound->duration(), expected.longest) << expected.name;
}

INSTANTIATE_TEST_SUITE_P(Prompts, PromptSet, ::testing::ValuesIn(kPromptSet),
                         [](const auto& info) { return std::string(info.param.name); });

std::span<const std::int16_t> seconds(const Sound& sound, double from, double to) {
  const auto begin = static_cast<std::size_t>(from * kSampleRate);
  const auto end = static_cast<std::size_t>(to * kSampleRate);
  return std::span<const std::int16_t>(sound.samples).subspan(begin, end - begin);
}

TEST(Ringback, IsItu425HertzOneSecondOnFourOff) {
  auto sound = read_wav(kPrompts + "/ringback.wav");
  ASSERT_TRUE(sound) << sound.error().reason;
  EXPECT_GT(tone_share(seconds(*sound, 0.1, 0.9), 425), 0.95);
  EXPECT_LT(rms(seconds(*sound, 1.1, 5.0)), 0.0001);
}

TEST(Ringback, UsIs440And480HertzTwoSecondsOnFourOff) {
  auto sound = read_wav(kPrompts + "/ringback_us.wav");
  ASSERT_TRUE(sound) << sound.error().reason;
  EXPECT_NEAR(tone_share(seconds(*sound, 0.1, 1.9), 440), 0.5, 0.05);
  EXPECT_NEAR(tone_share(seconds(*sound, 0.1, 1.9), 480), 0.5, 0.05);
  EXPECT_LT(rms(seconds(*sound, 2.1, 6.0)), 0.0001);
}

TEST(HoldMusic, IsATuneOfSeveralNotesWithoutGaps) {
  auto sound = read_wav(kPrompts + "/hold_music.wav");
  ASSERT_TRUE(sound) << sound.error().reason;
  // Every second has sound, and the strongest of a few notes of the tune changes over time.
  const double notes[] = {261.63, 329.63, 392.00, 440.00, 349.23, 493.88};  // C4 E4 G4 A4 F4 B4
  int changes = 0;
  int previous = -1;
  for (double t = 0; t + 1 <= 20; t += 0.375) {
    auto part = seconds(*sound, t, t + 0.375);
    EXPECT_GT(rms(part), kSilenceFloor) << "at " << t << " s";
    int strongest = 0;
    for (int i = 1; i < 6; ++i) {
      if (tone_share(part, notes[i]) > tone_share(part, notes[strongest])) {
        strongest = i;
      }
    }
    changes += previous >= 0 && strongest != previous ? 1 : 0;
    previous = strongest;
  }
  EXPECT_GT(changes, 10);
}

TEST(Announcements, EncodeToFramesOfBothCodecs) {
  auto sound = read_wav(kPrompts + "/parked_on.wav");
  ASSERT_TRUE(sound) << sound.error().reason;
  const std::size_t frames = (sound->samples.size() + kFrameSamples - 1) / kFrameSamples;
  EXPECT_EQ(EncodedSound(*sound, Codec::Pcmu).frame_count(), frames);
  EXPECT_EQ(EncodedSound(*sound, Codec::Pcma).frame_count(), frames);
}

}  // namespace
}  // namespace catchline::media::audio
