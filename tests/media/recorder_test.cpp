// The relay's taps with real UDP on 127.0.0.1: a leg records what its phone sends (decoded, in
// timestamp order, gaps of silence, ended by max_duration, stop_recording() or close_leg()) and
// reports the DTMF keys it sends as RFC 4733 events, while every packet still reaches its peer.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "media/audio/g711.h"
#include "media/audio/sound.h"
#include "media/relay/media_control.h"
#include "tests/media/relay_test_support.h"
#include "tests/media/test_sounds.h"

namespace catchline::media::relay {
namespace {

using namespace std::chrono_literals;
using audio::Codec;
using testing::Bytes;
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

constexpr std::uint8_t kTelephoneEvent = 101;

// An RTP packet with the given header fields.
Bytes rtp_at(std::uint16_t sequence, std::uint32_t timestamp, std::uint8_t payload_type,
             const std::vector<std::uint8_t>& payload, std::uint32_t ssrc = 0x11223344) {
  const std::uint8_t header[] = {0x80,
                                 payload_type,
                                 static_cast<std::uint8_t>(sequence >> 8),
                                 static_cast<std::uint8_t>(sequence),
                                 static_cast<std::uint8_t>(timestamp >> 24),
                                 static_cast<std::uint8_t>(timestamp >> 16),
                                 static_cast<std::uint8_t>(timestamp >> 8),
                                 static_cast<std::uint8_t>(timestamp),
                                 static_cast<std::uint8_t>(ssrc >> 24),
                                 static_cast<std::uint8_t>(ssrc >> 16),
                                 static_cast<std::uint8_t>(ssrc >> 8),
                                 static_cast<std::uint8_t>(ssrc)};
  Bytes packet(sizeof header + payload.size());
  std::copy(std::begin(header), std::end(header), packet.begin());
  std::copy(payload.begin(), payload.end(), packet.begin() + sizeof header);
  return packet;
}

// The RFC 4733 payload of one event packet.
std::vector<std::uint8_t> event_payload(std::uint8_t event, bool end, std::uint16_t duration) {
  return {event, static_cast<std::uint8_t>(end ? 0x8a : 0x0a),
          static_cast<std::uint8_t>(duration >> 8), static_cast<std::uint8_t>(duration)};
}

// A 1 kHz tone as a phone sends it: µ-law codes, 160 a packet.
std::vector<std::uint8_t> ulaw_tone(std::chrono::milliseconds duration) {
  std::vector<std::uint8_t> codes;
  for (std::int16_t sample : media::testing::sine(1000, duration).samples) {
    codes.push_back(audio::encode_ulaw(sample));
  }
  return codes;
}

std::vector<std::uint8_t> frame(const std::vector<std::uint8_t>& codes, std::size_t index) {
  const auto begin = codes.begin() + static_cast<std::ptrdiff_t>(index * audio::kFrameSamples);
  return {begin, begin + static_cast<std::ptrdiff_t>(audio::kFrameSamples)};
}

std::vector<std::int16_t> decoded(const std::vector<std::uint8_t>& codes) {
  std::vector<std::int16_t> samples;
  for (std::uint8_t code : codes) {
    samples.push_back(audio::decode_ulaw(code));
  }
  return samples;
}

// Two phones on legs a (the one that records or is watched) and b, bridged to each other.
struct Call {
  explicit Call(RunningRelay& running) : relay(running) {
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

  // Sends `packets` from a's phone and checks that b's phone gets each one unchanged: then the
  // relay has read them all.
  void send_through(const std::vector<Bytes>& packets) {
    for (const Bytes& packet : packets) {
      a_phone.send(a.rtp_port, packet);
    }
    for (std::size_t i = 0; i < packets.size(); ++i) {
      auto received = b_phone.receive();
      ASSERT_TRUE(received) << "packet " << i << " did not reach the peer";
      EXPECT_EQ(received->bytes, packets[i]) << "packet " << i;
    }
  }

  const RecordEnded* wait_record_end(std::size_t count = 1) {
    if (!relay.pump([&] { return relay.observer().record_ended.size() >= count; })) {
      return nullptr;
    }
    return &relay.observer().record_ended[count - 1];
  }

  RunningRelay& relay;
  Phone a_phone, b_phone;
  LegPorts a, b;
};

// A key pressed for 100 ms: three packets while it is down, three with the end bit.
std::vector<Bytes> key_press(std::uint8_t event, std::uint32_t timestamp, std::uint16_t sequence) {
  std::vector<Bytes> packets;
  for (std::uint16_t n = 1; n <= 3; ++n) {
    packets.push_back(rtp_at(sequence++, timestamp, kTelephoneEvent,
                             event_payload(event, false, static_cast<std::uint16_t>(160 * n))));
  }
  for (int n = 0; n < 3; ++n) {
    packets.push_back(
        rtp_at(sequence++, timestamp, kTelephoneEvent, event_payload(event, true, 800)));
  }
  return packets;
}

RecordRequest pcmu(std::chrono::milliseconds max_duration = 10s) {
  return RecordRequest{Codec::Pcmu, 0, max_duration};
}

TEST(Recorder, RecordsTheDecodedAudioOfThePhoneAndForwardsEveryPacket) {
  RunningRelay relay(options());
  Call call(relay);
  auto record = relay.control().record(call.a.leg, pcmu());
  ASSERT_TRUE(record) << record.error().reason;
  relay.settle();

  const std::vector<std::uint8_t> tone = ulaw_tone(200ms);
  std::vector<Bytes> packets;
  for (std::uint16_t i = 0; i < 10; ++i) {
    packets.push_back(rtp_at(i, 5000 + 160u * i, 0, frame(tone, i)));
  }
  call.send_through(packets);
  relay.control().stop_recording(call.a.leg);

  const RecordEnded* ended = call.wait_record_end();
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->leg, call.a.leg);
  EXPECT_EQ(ended->record, *record);
  EXPECT_EQ(ended->reason, RecordEndReason::Stopped);
  EXPECT_EQ(ended->packets, 10u);
  EXPECT_EQ(ended->samples, decoded(tone));
  EXPECT_EQ(ended->duration(), 200ms);
}

TEST(Recorder, FillsALostPacketWithSilence) {
  RunningRelay relay(options());
  Call call(relay);
  ASSERT_TRUE(relay.control().record(call.a.leg, pcmu()));
  relay.settle();

  const std::vector<std::uint8_t> tone = ulaw_tone(80ms);
  // The third packet (timestamp 320) was lost on the way.
  call.send_through({rtp_at(1, 0, 0, frame(tone, 0)), rtp_at(2, 160, 0, frame(tone, 1)),
                     rtp_at(4, 480, 0, frame(tone, 3))});
  relay.control().stop_recording(call.a.leg);

  const RecordEnded* ended = call.wait_record_end();
  ASSERT_TRUE(ended);
  ASSERT_EQ(ended->samples.size(), 640u);
  std::vector<std::int16_t> expected = decoded(tone);
  std::fill(expected.begin() + 320, expected.begin() + 480, 0);
  EXPECT_EQ(ended->samples, expected);
}

TEST(Recorder, EndsWithMaxDurationOnceItHoldsThatMuch) {
  RunningRelay relay(options());
  Call call(relay);
  auto record = relay.control().record(call.a.leg, pcmu(100ms));
  ASSERT_TRUE(record);
  relay.settle();

  const std::vector<std::uint8_t> tone = ulaw_tone(160ms);
  std::vector<Bytes> packets;
  for (std::uint16_t i = 0; i < 8; ++i) {
    packets.push_back(rtp_at(i, 160u * i, 0, frame(tone, i)));
  }
  call.send_through(packets);  // the peer gets all 8: recording never holds packets back

  const RecordEnded* ended = call.wait_record_end();
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->record, *record);
  EXPECT_EQ(ended->reason, RecordEndReason::MaxDuration);
  EXPECT_EQ(ended->duration(), 100ms);
  const std::vector<std::int16_t> all = decoded(tone);
  EXPECT_EQ(ended->samples, std::vector<std::int16_t>(all.begin(), all.begin() + 800));
  // It ended: stopping it now reports nothing more.
  relay.control().stop_recording(call.a.leg);
  relay.pump([] { return false; }, 100ms);
  EXPECT_EQ(relay.observer().record_ended.size(), 1u);
}

TEST(Recorder, EndsWithMaxDurationOnTimeWhenThePhoneFallsSilent) {
  RunningRelay relay(options());
  Call call(relay);
  const auto started = Clock::now();
  ASSERT_TRUE(relay.control().record(call.a.leg, pcmu(100ms)));
  relay.settle();
  const std::vector<std::uint8_t> tone = ulaw_tone(40ms);
  call.send_through({rtp_at(1, 0, 0, frame(tone, 0)), rtp_at(2, 160, 0, frame(tone, 1))});

  const RecordEnded* ended = call.wait_record_end();
  ASSERT_TRUE(ended);
  const auto took = Clock::now() - started;
  EXPECT_EQ(ended->reason, RecordEndReason::MaxDuration);
  EXPECT_EQ(ended->samples, decoded(tone));
  // max_duration and the grace for the last packets' delay (500 ms).
  EXPECT_GE(took, 590ms);
  EXPECT_LE(took, 1500ms);
}

TEST(Recorder, ANewRecordReplacesTheRunningOne) {
  RunningRelay relay(options());
  Call call(relay);
  auto first = relay.control().record(call.a.leg, pcmu());
  auto second = relay.control().record(call.a.leg, pcmu());
  ASSERT_TRUE(first && second);
  EXPECT_NE(*first, *second);
  const RecordEnded* ended = call.wait_record_end();
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->record, *first);
  EXPECT_EQ(ended->reason, RecordEndReason::Stopped);
  EXPECT_TRUE(ended->samples.empty());
  relay.control().stop_recording(call.a.leg);
  ended = call.wait_record_end(2);
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->record, *second);
}

TEST(Recorder, ClosingTheLegReportsTheRecordingBeforeItsCounters) {
  RunningRelay relay(options());
  Call call(relay);
  auto record = relay.control().record(call.a.leg, pcmu());
  ASSERT_TRUE(record);
  relay.settle();
  const std::vector<std::uint8_t> tone = ulaw_tone(40ms);
  call.send_through({rtp_at(1, 0, 0, frame(tone, 0)), rtp_at(2, 160, 0, frame(tone, 1))});

  relay.close(call.a.leg);  // the caller hung up
  ASSERT_EQ(relay.observer().record_ended.size(), 1u);
  const RecordEnded& ended = relay.observer().record_ended[0];
  EXPECT_EQ(ended.reason, RecordEndReason::Closed);
  EXPECT_EQ(ended.samples, decoded(tone));
  EXPECT_EQ(relay.observer().order, (std::vector<std::string>{"record_ended", "closed"}));
}

TEST(Recorder, RecordsWhileTheLegPlays) {
  // Voicemail: the greeting plays to the caller, whose words are recorded meanwhile.
  RunningRelay relay(options());
  Call call(relay);
  PlayRequest greeting;
  greeting.sounds = {
      std::make_shared<const audio::EncodedSound>(media::testing::sine(400, 2s), Codec::Pcmu)};
  ASSERT_TRUE(relay.control().play(call.a.leg, greeting));
  ASSERT_TRUE(relay.control().record(call.a.leg, pcmu()));
  relay.settle();
  const std::vector<std::uint8_t> tone = ulaw_tone(40ms);
  call.send_through({rtp_at(1, 0, 0, frame(tone, 0)), rtp_at(2, 160, 0, frame(tone, 1))});
  ASSERT_TRUE(call.a_phone.receive()) << "the greeting stopped";
  relay.control().stop_recording(call.a.leg);
  const RecordEnded* ended = call.wait_record_end();
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->samples, decoded(tone));
  EXPECT_TRUE(relay.observer().play_ended.empty());
}

TEST(Recorder, RecordsALegBridgedToNobody) {
  // Voicemail: the caller's leg talks to the server alone.
  RunningRelay relay(options());
  Phone caller;
  auto leg = relay.control().open_leg(remote(caller.endpoint()));
  ASSERT_TRUE(leg);
  ASSERT_TRUE(relay.control().record(leg->leg, pcmu(40ms)));
  relay.control().watch_dtmf(leg->leg, kTelephoneEvent);
  relay.settle();
  const std::vector<std::uint8_t> tone = ulaw_tone(40ms);
  caller.send(leg->rtp_port, rtp_at(1, 0, 0, frame(tone, 0)));
  caller.send(leg->rtp_port, rtp_at(2, 160, 0, frame(tone, 1)));
  for (const Bytes& packet : key_press(11, 320, 3)) {
    caller.send(leg->rtp_port, packet);
  }
  ASSERT_TRUE(relay.pump([&] { return relay.observer().dtmf.size() == 1; }));
  EXPECT_EQ(relay.observer().dtmf[0].digit, '#');
  ASSERT_EQ(relay.observer().record_ended.size(), 1u);  // reported before the key, in order
  const RecordEnded& ended = relay.observer().record_ended[0];
  EXPECT_EQ(ended.reason, RecordEndReason::MaxDuration);
  EXPECT_EQ(ended.samples, decoded(tone));
}

TEST(Recorder, RefusesAnUnknownLegAndABadRequest) {
  RunningRelay relay(options());
  auto unknown = relay.control().record(99, pcmu());
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().reason, "no such leg 99");
  EXPECT_EQ(unknown.error().status, 500);
  Call call(relay);
  auto bad = relay.control().record(call.a.leg, pcmu(0ms));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().reason, "max_duration of 0 ms is not above 0");
}

TEST(Dtmf, ReportsOneKeyForThreeStartAndThreeEndPacketsAndPassesThemOn) {
  RunningRelay relay(options());
  Call call(relay);
  relay.control().watch_dtmf(call.a.leg, kTelephoneEvent);
  relay.settle();

  call.send_through(key_press(11, 8000, 1));  // '#', every packet at the peer unchanged

  ASSERT_TRUE(relay.pump([&] { return !relay.observer().dtmf.empty(); }));
  relay.pump([] { return false; }, 200ms);
  ASSERT_EQ(relay.observer().dtmf.size(), 1u);
  const DtmfEvent& key = relay.observer().dtmf[0];
  EXPECT_EQ(key.leg, call.a.leg);
  EXPECT_EQ(key.digit, '#');
  EXPECT_EQ(key.duration, 100ms);
}

TEST(Dtmf, ALegNotWatchingReportsNone) {
  RunningRelay relay(options());
  Call call(relay);
  relay.control().watch_dtmf(call.b.leg, kTelephoneEvent);  // the other leg watches
  relay.settle();
  call.send_through(key_press(5, 8000, 1));
  relay.pump([] { return false; }, 300ms);
  EXPECT_TRUE(relay.observer().dtmf.empty());
}

TEST(Dtmf, StopsReportingWhenUnwatched) {
  RunningRelay relay(options());
  Call call(relay);
  relay.control().watch_dtmf(call.a.leg, kTelephoneEvent);
  relay.settle();
  call.send_through(key_press(1, 8000, 1));
  ASSERT_TRUE(relay.pump([&] { return relay.observer().dtmf.size() == 1; }));
  relay.control().watch_dtmf(call.a.leg, std::nullopt);
  relay.settle();
  call.send_through(key_press(2, 16000, 7));
  relay.pump([] { return false; }, 300ms);
  EXPECT_EQ(relay.observer().dtmf.size(), 1u);
}

TEST(Dtmf, KeysDuringARecordingAreReportedAndNotRecorded) {
  RunningRelay relay(options());
  Call call(relay);
  ASSERT_TRUE(relay.control().record(call.a.leg, pcmu()));
  relay.control().watch_dtmf(call.a.leg, kTelephoneEvent);
  relay.settle();
  const std::vector<std::uint8_t> tone = ulaw_tone(20ms);
  std::vector<Bytes> packets = {rtp_at(1, 0, 0, frame(tone, 0))};
  for (Bytes& packet : key_press(3, 160, 2)) {
    packets.push_back(std::move(packet));
  }
  call.send_through(packets);
  ASSERT_TRUE(relay.pump([&] { return relay.observer().dtmf.size() == 1; }));
  EXPECT_EQ(relay.observer().dtmf[0].digit, '3');
  relay.control().stop_recording(call.a.leg);
  const RecordEnded* ended = call.wait_record_end();
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->samples, decoded(tone));
}

}  // namespace
}  // namespace catchline::media::relay
