// A recording without sockets: packets laid out by RTP timestamp, gaps of silence, the bound of
// max_duration, and what it ignores.

#include "media/relay/recording.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "media/audio/g711.h"

namespace catchline::media::relay {
namespace {

using namespace std::chrono_literals;

RecordRequest pcmu(std::chrono::milliseconds max_duration = 10s) {
  return RecordRequest{audio::Codec::Pcmu, 0, max_duration};
}

// One packet's payload: `count` µ-law codes of the samples value, value + 1, ...
std::vector<std::uint8_t> ulaw_ramp(std::int16_t value, std::size_t count = 160) {
  std::vector<std::uint8_t> codes;
  for (std::size_t i = 0; i < count; ++i) {
    codes.push_back(audio::encode_ulaw(static_cast<std::int16_t>(value + 64 * i)));
  }
  return codes;
}

std::vector<std::int16_t> decoded(const std::vector<std::uint8_t>& codes) {
  std::vector<std::int16_t> samples;
  for (std::uint8_t code : codes) {
    samples.push_back(audio::decode_ulaw(code));
  }
  return samples;
}

rtp::RtpHeader packet(std::uint32_t timestamp, const std::vector<std::uint8_t>& payload,
                      std::uint8_t payload_type = 0, std::uint32_t ssrc = 0x1234) {
  rtp::RtpHeader header;
  header.payload_type = payload_type;
  header.timestamp = timestamp;
  header.ssrc = ssrc;
  header.payload = payload;
  return header;
}

std::vector<std::int16_t> slice(const std::vector<std::int16_t>& samples, std::size_t from,
                                std::size_t count) {
  return {samples.begin() + static_cast<std::ptrdiff_t>(from),
          samples.begin() + static_cast<std::ptrdiff_t>(from + count)};
}

TEST(Recording, DecodesPacketsInTimestampOrder) {
  Recording recording(1, pcmu());
  const auto first = ulaw_ramp(100);
  const auto second = ulaw_ramp(-3000);
  const auto third = ulaw_ramp(5000);
  recording.add(packet(4000, first));
  recording.add(packet(4320, third));  // came before the second
  recording.add(packet(4160, second));
  ASSERT_EQ(recording.samples().size(), 480u);
  EXPECT_EQ(slice(recording.samples(), 0, 160), decoded(first));
  EXPECT_EQ(slice(recording.samples(), 160, 160), decoded(second));
  EXPECT_EQ(slice(recording.samples(), 320, 160), decoded(third));
  EXPECT_EQ(recording.packets(), 3u);
}

TEST(Recording, FillsALostPacketAndSilenceSuppressionWithSilence) {
  Recording recording(1, pcmu());
  recording.add(packet(0, ulaw_ramp(1000)));
  recording.add(packet(320, ulaw_ramp(1000)));   // 160 lost
  recording.add(packet(8320, ulaw_ramp(1000)));  // a second of nothing sent
  ASSERT_EQ(recording.samples().size(), 8480u);
  EXPECT_EQ(slice(recording.samples(), 160, 160), std::vector<std::int16_t>(160, 0));
  EXPECT_EQ(slice(recording.samples(), 480, 7840), std::vector<std::int16_t>(7840, 0));
  EXPECT_NE(recording.samples()[8320], 0);
}

TEST(Recording, DecodesALaw) {
  Recording recording(1, RecordRequest{audio::Codec::Pcma, 8, 10s});
  const std::vector<std::uint8_t> codes = {0xD5, 0xAA, 0x2A};
  recording.add(packet(0, codes, 8));
  EXPECT_EQ(recording.samples(), (std::vector<std::int16_t>{8, 32256, -32256}));
}

TEST(Recording, IgnoresOtherPayloadTypesAndPacketsFromBeforeTheStart) {
  Recording recording(1, pcmu());
  recording.add(packet(1000, ulaw_ramp(10), 101));  // an RFC 4733 event: not audio
  recording.add(packet(1000, ulaw_ramp(10), 13));   // comfort noise
  EXPECT_TRUE(recording.samples().empty());
  recording.add(packet(2000, ulaw_ramp(10)));
  recording.add(packet(1840, ulaw_ramp(10)));  // sent before the first recorded one
  EXPECT_EQ(recording.samples().size(), 160u);
  EXPECT_EQ(recording.packets(), 1u);
}

TEST(Recording, TimestampsWrapAround) {
  Recording recording(1, pcmu());
  recording.add(packet(0xFFFFFF60, ulaw_ramp(10)));
  recording.add(packet(0, ulaw_ramp(20)));
  ASSERT_EQ(recording.samples().size(), 320u);
  EXPECT_EQ(slice(recording.samples(), 160, 160), decoded(ulaw_ramp(20)));
}

TEST(Recording, NewSsrcOrTimestampJumpBackGoesOnAtTheEnd) {
  Recording recording(1, pcmu());
  recording.add(packet(50000, ulaw_ramp(10)));
  recording.add(packet(7, ulaw_ramp(20), 0, 0x9999));  // the phone restarted its stream
  recording.add(packet(167, ulaw_ramp(30), 0, 0x9999));
  recording.add(packet(static_cast<std::uint32_t>(7 - 160), ulaw_ramp(40), 0,
                       0x9999));  // late: before its first packet
  ASSERT_EQ(recording.samples().size(), 480u);
  EXPECT_EQ(slice(recording.samples(), 160, 160), decoded(ulaw_ramp(20)));
  EXPECT_EQ(slice(recording.samples(), 320, 160), decoded(ulaw_ramp(30)));
  recording.add(packet(static_cast<std::uint32_t>(167 - 16000), ulaw_ramp(50), 0,
                       0x9999));  // 2 s back: a jump
  ASSERT_EQ(recording.samples().size(), 640u);
  EXPECT_EQ(slice(recording.samples(), 480, 160), decoded(ulaw_ramp(50)));
}

TEST(Recording, StopsAtMaxDurationAndHoldsNoMore) {
  Recording recording(1, pcmu(50ms));  // 400 samples
  recording.add(packet(0, ulaw_ramp(10)));
  recording.add(packet(160, ulaw_ramp(10)));
  EXPECT_FALSE(recording.full());
  recording.add(packet(320, ulaw_ramp(10)));  // 80 of its 160 samples fit
  EXPECT_TRUE(recording.full());
  recording.add(packet(480, ulaw_ramp(10)));
  EXPECT_EQ(recording.samples().size(), 400u);
  EXPECT_EQ(recording.samples().capacity(), 400u);
}

TEST(Recording, ATimestampPastMaxDurationFillsItWithSilence) {
  Recording recording(1, pcmu(1s));
  recording.add(packet(0, ulaw_ramp(10)));
  recording.add(packet(800000, ulaw_ramp(10)));
  EXPECT_TRUE(recording.full());
  EXPECT_EQ(recording.samples().size(), 8000u);
  EXPECT_EQ(recording.samples().capacity(), 8000u);
}

TEST(Recording, ReservesTenSecondsAtFirstAndNeverMoreThanMaxDuration) {
  Recording short_one(1, pcmu(2s));
  EXPECT_EQ(short_one.samples().capacity(), 16000u);
  Recording long_one(2, pcmu(25s));
  EXPECT_EQ(long_one.samples().capacity(), 80000u);
  // 11 s of audio: the reserve doubles, up to max_duration's 200,000 samples.
  for (std::uint32_t i = 0; i < 550; ++i) {
    long_one.add(packet(i * 160, ulaw_ramp(10)));
  }
  EXPECT_EQ(long_one.samples().size(), 88000u);
  EXPECT_EQ(long_one.samples().capacity(), 160000u);
  for (std::uint32_t i = 550; i < 1300; ++i) {
    long_one.add(packet(i * 160, ulaw_ramp(10)));
  }
  EXPECT_TRUE(long_one.full());
  EXPECT_EQ(long_one.samples().capacity(), 200000u);
}

TEST(Recording, TakeSamplesHandsThemOver) {
  Recording recording(1, pcmu());
  recording.add(packet(0, ulaw_ramp(10)));
  std::vector<std::int16_t> samples = recording.take_samples();
  EXPECT_EQ(samples, decoded(ulaw_ramp(10)));
}

struct BadRequest {
  RecordRequest request;
  const char* reason;
};

class RecordRequestCheck : public ::testing::TestWithParam<BadRequest> {};

TEST_P(RecordRequestCheck, RefusesWithAReason) {
  auto checked = check_record_request(GetParam().request);
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().status, 500);
  EXPECT_EQ(checked.error().reason, GetParam().reason);
}

INSTANTIATE_TEST_SUITE_P(Bad, RecordRequestCheck,
                         ::testing::Values(BadRequest{RecordRequest{audio::Codec::Pcmu, 128, 1s},
                                                      "payload type 128 is not below 128"},
                                           BadRequest{RecordRequest{audio::Codec::Pcmu, 0, 0ms},
                                                      "max_duration of 0 ms is not above 0"},
                                           BadRequest{RecordRequest{audio::Codec::Pcmu, 0, -5ms},
                                                      "max_duration of -5 ms is not above 0"},
                                           BadRequest{
                                               RecordRequest{audio::Codec::Pcmu, 0, 3600s},
                                               "max_duration of 3600000 ms is over 1800000 ms"}));

TEST(RecordRequestCheck, GivesTheSamplesOfMaxDuration) {
  auto checked = check_record_request(RecordRequest{audio::Codec::Pcma, 8, 120s});
  ASSERT_TRUE(checked);
  EXPECT_EQ(*checked, 960000u);
}

}  // namespace
}  // namespace catchline::media::relay
