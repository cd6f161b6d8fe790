// The relay's player with real UDP on 127.0.0.1: a leg's phone receives the sound as 20 ms RTP
// packets paced by the media thread, the audio decodes to what was played, and the bridge
// carries the peer's packets again once the play ends.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "media/audio/g711.h"
#include "media/audio/prompt_set.h"
#include "media/audio/sound.h"
#include "media/audio/tone.h"
#include "media/relay/media_control.h"
#include "media/rtp/rtp_header.h"
#include "tests/media/relay_test_support.h"
#include "tests/media/test_sounds.h"

namespace catchline::media::relay {
namespace {

using namespace std::chrono_literals;
using audio::Codec;
using audio::EncodedSound;
using media::testing::sine;
using testing::Phone;
using testing::remote;
using testing::RunningRelay;
using Clock = std::chrono::steady_clock;

MediaOptions options() {
  MediaOptions media;
  media.address = boost::asio::ip::make_address("127.0.0.1");
  media.ports = {42000, 47999};
  return media;
}

std::shared_ptr<const EncodedSound> tone(double frequency, std::chrono::milliseconds duration,
                                         Codec codec = Codec::Pcmu) {
  return std::make_shared<const EncodedSound>(sine(frequency, duration), codec);
}

PlayRequest request_of(std::vector<std::shared_ptr<const EncodedSound>> sounds,
                       PlayMode mode = PlayMode::Once, Codec codec = Codec::Pcmu) {
  PlayRequest request;
  request.sounds = std::move(sounds);
  request.codec = codec;
  request.payload_type = audio::payload_type(codec);
  request.mode = mode;
  return request;
}

// A packet the phone received, read, with when it came.
struct Heard {
  rtp::RtpHeader header;
  std::vector<std::int16_t> samples;  // the payload decoded
  Clock::time_point at;
  boost::asio::ip::udp::endpoint source;
  testing::Bytes bytes;
};

std::optional<Heard> hear(const Phone& phone, Codec codec = Codec::Pcmu,
                          std::chrono::milliseconds timeout = 2s) {
  auto received = phone.receive(timeout);
  if (!received) {
    return std::nullopt;
  }
  Heard heard;
  heard.at = Clock::now();
  heard.source = received->source;
  heard.bytes = received->bytes;
  auto header = rtp::parse_rtp(received->bytes);
  if (!header) {
    ADD_FAILURE() << "not RTP: " << header.error().reason;
    return std::nullopt;
  }
  for (std::uint8_t code : header->payload) {
    heard.samples.push_back(audio::decode(codec, code));
  }
  heard.header = *header;
  // The header's views point into the received bytes, which go now.
  heard.header.payload = {};
  heard.header.csrc = {};
  heard.header.extension = {};
  return heard;
}

// One leg whose phone listens, and the relay it is open on.
struct Listener {
  explicit Listener(RunningRelay& relay) {
    auto opened = relay.control().open_leg(remote(phone.endpoint()));
    if (!opened) {
      throw std::runtime_error(opened.error().reason);
    }
    leg = *opened;
  }
  Phone phone;
  LegPorts leg;
};

bool ended(RunningRelay& relay, PlayId play) {
  for (const PlayEnded& event : relay.observer().play_ended) {
    if (event.play == play) {
      return true;
    }
  }
  return false;
}

const PlayEnded* end_of(RunningRelay& relay, PlayId play) {
  for (const PlayEnded& event : relay.observer().play_ended) {
    if (event.play == play) {
      return &event;
    }
  }
  return nullptr;
}

TEST(Player, SendsA1kHzWavTone50PacketsASecondWithOneRtpStream) {
  // The tone goes the way a prompt goes: a WAV file, read and encoded by a PromptSet.
  media::testing::TempFolder folder;
  folder.write("tone.wav", media::testing::wav_bytes(sine(1000, 1000ms)));
  auto prompts = audio::PromptSet::load(folder.path());
  ASSERT_TRUE(prompts) << prompts.error().reason;
  RunningRelay relay(options());
  Listener listener(relay);

  auto play = relay.control().play(
      listener.leg.leg, request_of({prompts->find("tone", Codec::Pcmu)}, PlayMode::Loop));
  ASSERT_TRUE(play) << play.error().reason;

  constexpr int kPackets = 101;  // two seconds of 20 ms packets between the first and last
  std::vector<Heard> heard;
  for (int i = 0; i < kPackets; ++i) {
    auto packet = hear(listener.phone);
    ASSERT_TRUE(packet) << "packet " << i;
    heard.push_back(std::move(*packet));
  }
  const Heard& first = heard.front();
  EXPECT_TRUE(first.header.marker);
  EXPECT_EQ(first.source.port(), listener.leg.rtp_port);
  for (int i = 1; i < kPackets; ++i) {
    const rtp::RtpHeader& header = heard[i].header;
    EXPECT_EQ(header.payload_type, 0) << i;
    EXPECT_EQ(header.ssrc, first.header.ssrc) << i;
    EXPECT_EQ(header.sequence, static_cast<std::uint16_t>(first.header.sequence + i)) << i;
    EXPECT_EQ(header.timestamp, static_cast<std::uint32_t>(first.header.timestamp + 160 * i)) << i;
    EXPECT_FALSE(header.marker) << i;
    EXPECT_EQ(heard[i].samples.size(), audio::kFrameSamples);
    EXPECT_TRUE(audio::has_tone(heard[i].samples, 1000, 0.9)) << i;
  }
  // 50 packets a second, paced from the start: 100 intervals of 20 ms. The margin is for a
  // busy machine that wakes the test thread late.
  const auto span = heard.back().at - first.at;
  EXPECT_GE(span, 1900ms);
  EXPECT_LE(span, 2150ms);
  relay.pump([] { return false; }, 100ms);
  EXPECT_TRUE(relay.observer().play_ended.empty());  // a loop plays on
}

TEST(Player, ReportsTheEndOfAOncePlayAfterItsDuration) {
  RunningRelay relay(options());
  Listener listener(relay);
  const auto started = Clock::now();
  auto play = relay.control().play(listener.leg.leg, request_of({tone(1000, 300ms)}));
  ASSERT_TRUE(play) << play.error().reason;

  ASSERT_TRUE(relay.pump([&] { return ended(relay, *play); }, 3s));
  const auto took = Clock::now() - started;
  EXPECT_GE(took, 300ms);
  EXPECT_LE(took, 800ms);
  const PlayEnded& event = *end_of(relay, *play);
  EXPECT_EQ(event.leg, listener.leg.leg);
  EXPECT_EQ(event.reason, PlayEndReason::Finished);
  EXPECT_EQ(event.packets, 15u);
  int packets = 0;
  while (hear(listener.phone, Codec::Pcmu, 200ms)) {
    ++packets;
  }
  EXPECT_EQ(packets, 15);
  relay.settle();
  EXPECT_EQ(relay.close(listener.leg.leg).packets_played, 15u);
}

TEST(Player, PlaysSoundsInSequenceAsOneStream) {
  RunningRelay relay(options());
  Listener listener(relay);
  // "Parked on" and a digit, as a sequence: 1 kHz for 100 ms, then 500 Hz for 100 ms.
  auto play = relay.control().play(
      listener.leg.leg, request_of({tone(1000, 100ms, Codec::Pcma), tone(500, 100ms, Codec::Pcma)},
                                   PlayMode::Once, Codec::Pcma));
  ASSERT_TRUE(play) << play.error().reason;
  std::vector<Heard> heard;
  for (int i = 0; i < 10; ++i) {
    auto packet = hear(listener.phone, Codec::Pcma);
    ASSERT_TRUE(packet) << "packet " << i;
    heard.push_back(std::move(*packet));
  }
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(heard[i].header.payload_type, 8);
    EXPECT_EQ(heard[i].header.ssrc, heard[0].header.ssrc);
    EXPECT_EQ(heard[i].header.sequence, static_cast<std::uint16_t>(heard[0].header.sequence + i));
    EXPECT_EQ(heard[i].header.timestamp,
              static_cast<std::uint32_t>(heard[0].header.timestamp + 160 * i));
    EXPECT_TRUE(audio::has_tone(heard[i].samples, i < 5 ? 1000 : 500, 0.9)) << i;
  }
  ASSERT_TRUE(relay.pump([&] { return ended(relay, *play); }));
  EXPECT_EQ(end_of(relay, *play)->packets, 10u);
  EXPECT_FALSE(hear(listener.phone, Codec::Pcma, 100ms));
}

TEST(Player, LoopKeepsGoingAcrossTheEndOfItsSound) {
  RunningRelay relay(options());
  Listener listener(relay);
  auto play =
      relay.control().play(listener.leg.leg, request_of({tone(1000, 60ms)}, PlayMode::Loop));
  ASSERT_TRUE(play);
  std::optional<Heard> first;
  for (int i = 0; i < 20; ++i) {  // six and a half passes through the sound
    auto packet = hear(listener.phone);
    ASSERT_TRUE(packet) << "packet " << i;
    if (!first) {
      first = std::move(packet);
      continue;
    }
    EXPECT_EQ(packet->header.sequence, static_cast<std::uint16_t>(first->header.sequence + i));
    EXPECT_EQ(packet->header.timestamp,
              static_cast<std::uint32_t>(first->header.timestamp + 160 * i));
  }
  relay.pump([] { return false; }, 50ms);
  EXPECT_TRUE(relay.observer().play_ended.empty());
}

// Two phones bridged through legs a and b.
struct Call {
  explicit Call(RunningRelay& relay) {
    auto opened_a = relay.control().open_leg(remote(a_phone.endpoint()));
    auto opened_b = relay.control().open_leg(remote(b_phone.endpoint()));
    if (!opened_a || !opened_b) {
      throw std::runtime_error("no ports");
    }
    a = *opened_a;
    b = *opened_b;
    relay.control().bridge(a.leg, b.leg);
    relay.settle();
  }
  Phone a_phone, b_phone;
  LegPorts a, b;
};

// Reads what a phone hears until a packet that is not the player's (another SSRC) comes.
std::optional<Heard> hear_other_than(const Phone& phone, std::uint32_t player_ssrc) {
  for (int i = 0; i < 200; ++i) {
    auto packet = hear(phone, Codec::Pcmu, 1s);
    if (!packet) {
      return std::nullopt;
    }
    if (packet->header.ssrc != player_ssrc) {
      return packet;
    }
  }
  return std::nullopt;
}

TEST(Player, StopEndsThePlayAndTheBridgeCarriesThePeerAgain) {
  RunningRelay relay(options());
  Call call(relay);
  // Hold music for a: b's packets do not reach a meanwhile.
  auto play = relay.control().play(call.a.leg, request_of({tone(1000, 200ms)}, PlayMode::Loop));
  ASSERT_TRUE(play);
  auto music = hear(call.a_phone);
  ASSERT_TRUE(music);
  const std::uint32_t player_ssrc = music->header.ssrc;
  EXPECT_NE(player_ssrc, 0x12345678u);  // the test phones' SSRC
  call.b_phone.send(call.b.rtp_port, testing::rtp_packet(1, 0));
  for (int i = 0; i < 5; ++i) {
    auto packet = hear(call.a_phone);
    ASSERT_TRUE(packet);
    EXPECT_EQ(packet->header.ssrc, player_ssrc);
  }

  relay.control().stop_playing(call.a.leg);
  ASSERT_TRUE(relay.pump([&] { return ended(relay, *play); }));
  EXPECT_EQ(end_of(relay, *play)->reason, PlayEndReason::Stopped);
  call.b_phone.send(call.b.rtp_port, testing::rtp_packet(2, 0));
  auto from_b = hear_other_than(call.a_phone, player_ssrc);
  ASSERT_TRUE(from_b);
  EXPECT_EQ(from_b->bytes, testing::rtp_packet(2, 0));
  EXPECT_FALSE(hear(call.a_phone, Codec::Pcmu, 100ms));  // nothing more of the player
  EXPECT_EQ(relay.close(call.b.leg).dropped_playing, 1u);
}

TEST(Player, APlayingLegsPhoneStillReachesItsBridgedPeer) {
  RunningRelay relay(options());
  Call call(relay);
  auto play = relay.control().play(call.a.leg, request_of({tone(1000, 200ms)}, PlayMode::Loop));
  ASSERT_TRUE(play);
  ASSERT_TRUE(hear(call.a_phone));
  call.a_phone.send(call.a.rtp_port, testing::rtp_packet(9, 0));
  auto at_b = call.b_phone.receive();
  ASSERT_TRUE(at_b);
  EXPECT_EQ(at_b->bytes, testing::rtp_packet(9, 0));
  // a latched to its phone's address: the player keeps sending there.
  ASSERT_TRUE(hear(call.a_phone));
}

TEST(Player, ANewPlayReplacesTheRunningOneWithANewStream) {
  RunningRelay relay(options());
  Listener listener(relay);
  auto first =
      relay.control().play(listener.leg.leg, request_of({tone(1000, 200ms)}, PlayMode::Loop));
  ASSERT_TRUE(first);
  auto heard_first = hear(listener.phone);
  ASSERT_TRUE(heard_first);
  auto second =
      relay.control().play(listener.leg.leg, request_of({tone(500, 200ms)}, PlayMode::Loop));
  ASSERT_TRUE(second);
  EXPECT_NE(*second, *first);
  ASSERT_TRUE(relay.pump([&] { return ended(relay, *first); }));
  EXPECT_EQ(end_of(relay, *first)->reason, PlayEndReason::Stopped);
  auto heard_second = hear_other_than(listener.phone, heard_first->header.ssrc);
  ASSERT_TRUE(heard_second);
  EXPECT_TRUE(heard_second->header.marker);
  EXPECT_TRUE(audio::has_tone(heard_second->samples, 500, 0.9));
}

TEST(Player, ClosingAPlayingLegEndsItsPlayWithoutAnEvent) {
  RunningRelay relay(options());
  Listener listener(relay);
  auto play =
      relay.control().play(listener.leg.leg, request_of({tone(1000, 200ms)}, PlayMode::Once));
  ASSERT_TRUE(play);
  ASSERT_TRUE(hear(listener.phone));
  const LegStats stats = relay.close(listener.leg.leg);
  EXPECT_GT(stats.packets_played, 0u);
  relay.pump([] { return false; }, 300ms);
  EXPECT_TRUE(relay.observer().play_ended.empty());
  std::size_t playing = 1;
  std::promise<void> done;
  relay.media().post([&] {
    playing = relay.control().relay().playing_count();
    done.set_value();
  });
  done.get_future().wait();
  EXPECT_EQ(playing, 0u);
}

TEST(Player, RefusesToPlayToALegThatIsNotOpen) {
  RunningRelay relay(options());
  auto play = relay.control().play(99, request_of({tone(1000, 20ms)}));
  ASSERT_FALSE(play);
  EXPECT_EQ(play.error().reason, "no such leg 99");
  Listener listener(relay);
  auto empty = relay.control().play(listener.leg.leg, request_of({}));
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().reason, "no sounds to play");
}

TEST(Player, HoldMusicFromThePromptSetIsAudibleAtThePhone) {
  auto prompts = audio::PromptSet::load(CATCHLINE_PROMPTS_DIR, audio::kServerPrompts);
  ASSERT_TRUE(prompts) << prompts.error().reason;
  RunningRelay relay(options());
  Listener listener(relay);
  auto play = relay.control().play(
      listener.leg.leg,
      request_of({prompts->find("hold_music", Codec::Pcma)}, PlayMode::Loop, Codec::Pcma));
  ASSERT_TRUE(play) << play.error().reason;
  std::vector<std::int16_t> samples;
  for (int i = 0; i < 50; ++i) {  // its first second
    auto packet = hear(listener.phone, Codec::Pcma);
    ASSERT_TRUE(packet) << "packet " << i;
    EXPECT_EQ(packet->header.payload_type, 8);
    samples.insert(samples.end(), packet->samples.begin(), packet->samples.end());
  }
  EXPECT_GT(audio::rms(samples), 0.01);  // -40 dBFS: the floor of the prompt set's own test
}

}  // namespace
}  // namespace catchline::media::relay
