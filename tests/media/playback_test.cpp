#include "media/relay/playback.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <memory>
#include <vector>

#include "media/rtp/rtp_header.h"
#include "tests/media/test_sounds.h"

namespace catchline::media::relay {
namespace {

using namespace std::chrono_literals;
using audio::Codec;
using audio::EncodedSound;
using testing::sine;

std::shared_ptr<const EncodedSound> tone(double frequency, std::chrono::milliseconds duration,
                                         Codec codec = Codec::Pcmu) {
  return std::make_shared<const EncodedSound>(sine(frequency, duration), codec);
}

PlayRequest request_of(std::vector<std::shared_ptr<const EncodedSound>> sounds,
                       PlayMode mode = PlayMode::Once) {
  PlayRequest request;
  request.sounds = std::move(sounds);
  request.codec = Codec::Pcmu;
  request.payload_type = 0;
  request.mode = mode;
  return request;
}

struct Packet {
  std::array<std::uint8_t, kPlayPacketSize> bytes{};
  rtp::RtpHeader header;
};

Packet next(Playback& playback) {
  Packet packet;
  playback.next_packet(packet.bytes);
  auto header = rtp::parse_rtp(packet.bytes);
  EXPECT_TRUE(header) << header.error().reason;
  if (header) {
    packet.header = *header;
  }
  return packet;
}

constexpr RtpStart kStart{0xCAFEBABE, 65534, 0xFFFFFF00};

TEST(Playback, WritesAnRtpHeaderWithItsOwnSsrcAndTheMarkerOnTheFirstPacket) {
  auto sound = tone(1000, 60ms);
  PlayRequest request = request_of({sound});
  request.payload_type = 18;  // whatever the leg's SDP says
  Playback playback(7, request, kStart);
  Packet first = next(playback);
  EXPECT_TRUE(first.header.marker);
  EXPECT_EQ(first.header.payload_type, 18);
  EXPECT_EQ(first.header.ssrc, 0xCAFEBABE);
  EXPECT_EQ(first.header.sequence, 65534);
  EXPECT_EQ(first.header.timestamp, 0xFFFFFF00);
  EXPECT_EQ(first.header.csrc_count, 0);
  EXPECT_FALSE(first.header.has_extension);
  ASSERT_EQ(first.header.payload.size(), audio::kFrameSamples);
  EXPECT_TRUE(std::equal(first.header.payload.begin(), first.header.payload.end(),
                         sound->frame(0).begin()));
  Packet second = next(playback);
  EXPECT_FALSE(second.header.marker);
  EXPECT_EQ(second.header.ssrc, 0xCAFEBABE);
}

TEST(Playback, SequenceAndTimestampWrapAndRiseByOneAnd160) {
  Playback playback(1, request_of({tone(1000, 100ms)}), kStart);
  std::uint16_t sequence = kStart.sequence;
  std::uint32_t timestamp = kStart.timestamp;
  for (int i = 0; i < 5; ++i) {
    Packet packet = next(playback);
    EXPECT_EQ(packet.header.sequence, sequence);
    EXPECT_EQ(packet.header.timestamp, timestamp);
    ++sequence;
    timestamp += 160;
  }
}

TEST(Playback, OnceFinishesAfterTheLastFrameOfTheLastSound) {
  Playback playback(1, request_of({tone(1000, 40ms), tone(500, 60ms)}), kStart);
  for (int i = 0; i < 5; ++i) {
    ASSERT_FALSE(playback.finished()) << i;
    next(playback);
  }
  EXPECT_TRUE(playback.finished());
  EXPECT_EQ(playback.packets(), 5u);
}

TEST(Playback, PlaysSoundsOneAfterTheOtherWithOneContinuousStream) {
  auto first = tone(1000, 40ms);
  auto second = tone(500, 40ms);
  Playback playback(1, request_of({first, second}), kStart);
  const std::vector<std::span<const std::uint8_t>> expected = {first->frame(0), first->frame(1),
                                                               second->frame(0), second->frame(1)};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    Packet packet = next(playback);
    EXPECT_TRUE(
        std::equal(packet.header.payload.begin(), packet.header.payload.end(), expected[i].begin()))
        << i;
    EXPECT_EQ(packet.header.sequence, static_cast<std::uint16_t>(kStart.sequence + i));
    EXPECT_EQ(packet.header.timestamp, static_cast<std::uint32_t>(kStart.timestamp + 160 * i));
    EXPECT_EQ(packet.header.marker, i == 0);
  }
}

TEST(Playback, LoopStartsOverAndNeverFinishes) {
  auto sound = tone(1000, 40ms);
  Playback playback(1, request_of({sound}, PlayMode::Loop), kStart);
  for (std::size_t i = 0; i < 7; ++i) {
    Packet packet = next(playback);
    EXPECT_TRUE(std::equal(packet.header.payload.begin(), packet.header.payload.end(),
                           sound->frame(i % 2).begin()));
    EXPECT_EQ(packet.header.timestamp, static_cast<std::uint32_t>(kStart.timestamp + 160 * i));
    EXPECT_FALSE(packet.header.marker && i > 0);
  }
  EXPECT_FALSE(playback.finished());
}

TEST(Playback, StepsOverASoundWithoutFrames) {
  auto empty = std::make_shared<const EncodedSound>(audio::Sound{}, Codec::Pcmu);
  auto sound = tone(1000, 20ms);
  Playback playback(1, request_of({empty, sound, empty}, PlayMode::Loop), kStart);
  for (int i = 0; i < 3; ++i) {
    Packet packet = next(playback);
    EXPECT_TRUE(std::equal(packet.header.payload.begin(), packet.header.payload.end(),
                           sound->frame(0).begin()));
  }
}

TEST(Playback, SkippedFramesPassTheTimestampButNotTheSequence) {
  Playback playback(1, request_of({tone(1000, 100ms)}), kStart);
  next(playback);
  playback.skip_frame();
  playback.skip_frame();
  Packet packet = next(playback);
  EXPECT_EQ(packet.header.sequence, static_cast<std::uint16_t>(kStart.sequence + 1));
  EXPECT_EQ(packet.header.timestamp, kStart.timestamp + 3 * 160);
  playback.skip_frame();
  EXPECT_TRUE(playback.finished());
  playback.skip_frame();  // nothing past the end
  EXPECT_EQ(playback.packets(), 2u);
}

TEST(CheckPlayRequest, CountsTheFramesOfOnePass) {
  auto checked = check_play_request(request_of({tone(1000, 40ms), tone(500, 60ms)}));
  ASSERT_TRUE(checked) << checked.error().reason;
  EXPECT_EQ(*checked, 5u);
}

TEST(CheckPlayRequest, RefusesWhatCannotBePlayed) {
  auto reason = [](const PlayRequest& request) {
    auto checked = check_play_request(request);
    EXPECT_FALSE(checked);
    EXPECT_EQ(checked ? 0 : checked.error().status, 500);
    return checked ? std::string() : checked.error().reason;
  };
  EXPECT_EQ(reason(request_of({})), "no sounds to play");
  EXPECT_EQ(reason(request_of({tone(1000, 20ms), nullptr})), "sound 2 is missing (null)");
  EXPECT_EQ(reason(request_of({tone(1000, 20ms, Codec::Pcma)})),
            "sound 1 is PCMA, the play is PCMU");
  EXPECT_EQ(reason(request_of({std::make_shared<const EncodedSound>(audio::Sound{}, Codec::Pcmu)})),
            "the sounds hold no frame");
  PlayRequest request = request_of({tone(1000, 20ms)});
  request.payload_type = 128;
  EXPECT_EQ(reason(request), "payload type 128 is not below 128");
}

}  // namespace
}  // namespace catchline::media::relay
