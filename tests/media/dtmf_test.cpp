// RFC 4733 telephone-events: the payload reader, and one key per event however many packets
// carry it.

#include "media/relay/dtmf.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "media/rtp/telephone_event.h"

namespace catchline::media::relay {
namespace {

using namespace std::chrono_literals;

std::vector<std::uint8_t> event_payload(std::uint8_t event, bool end, std::uint16_t duration,
                                        std::uint8_t volume = 10) {
  return {event, static_cast<std::uint8_t>((end ? 0x80 : 0) | volume),
          static_cast<std::uint8_t>(duration >> 8), static_cast<std::uint8_t>(duration)};
}

TEST(TelephoneEvent, ReadsEventEndVolumeAndDuration) {
  const std::vector<std::uint8_t> payload = {11, 0x80 | 0x40 | 7, 0x03, 0x20};
  auto event = rtp::parse_telephone_event(payload);
  ASSERT_TRUE(event) << event.error().reason;
  EXPECT_EQ(event->event, 11);
  EXPECT_TRUE(event->end);
  EXPECT_EQ(event->volume, 7);  // the reserved bit is not volume
  EXPECT_EQ(event->duration, 800);
  EXPECT_EQ(event->duration_ms(), 100ms);
}

TEST(TelephoneEvent, RefusesAShortPayload) {
  const std::vector<std::uint8_t> payload = {1, 2, 3};
  auto event = rtp::parse_telephone_event(payload);
  ASSERT_FALSE(event);
  EXPECT_EQ(event.error().reason, "telephone-event: payload of 3 bytes, need 4");
}

TEST(TelephoneEvent, NamesTheSixteenDtmfKeys) {
  std::string keys;
  for (std::uint8_t event = 0; event < 16; ++event) {
    keys += rtp::dtmf_digit(event).value_or('?');
  }
  EXPECT_EQ(keys, "0123456789*#ABCD");
  EXPECT_FALSE(rtp::dtmf_digit(16));  // flash
  EXPECT_FALSE(rtp::dtmf_digit(255));
}

// A stream of events as a phone sends them, and what the detector makes of each packet.
class Keys {
 public:
  std::optional<DtmfKey> send(std::uint32_t timestamp, std::uint8_t event, bool end,
                              std::uint16_t duration, std::uint32_t ssrc = 0xabcd) {
    payload_ = event_payload(event, end, duration);
    rtp::RtpHeader header;
    header.payload_type = 101;
    header.timestamp = timestamp;
    header.ssrc = ssrc;
    header.payload = payload_;
    return detector_.on_packet(header);
  }
  // Three packets while the key is down, three with the end bit (RFC 4733 §2.5.1.4): the keys
  // reported.
  std::string press(std::uint32_t timestamp, std::uint8_t event) {
    std::string digits;
    for (std::uint16_t n = 1; n <= 3; ++n) {
      append(digits, send(timestamp, event, false, static_cast<std::uint16_t>(160 * n)));
    }
    for (int n = 0; n < 3; ++n) {
      append(digits, send(timestamp, event, true, 800));
    }
    return digits;
  }
  static void append(std::string& digits, std::optional<DtmfKey> key) {
    if (key) {
      digits += key->digit;
    }
  }

 private:
  DtmfDetector detector_;
  std::vector<std::uint8_t> payload_;
};

TEST(DtmfDetector, ReportsAnEventOnceAtItsFirstEndPacket) {
  Keys keys;
  EXPECT_FALSE(keys.send(1000, 5, false, 160));
  EXPECT_FALSE(keys.send(1000, 5, false, 320));
  auto key = keys.send(1000, 5, true, 800);
  ASSERT_TRUE(key);
  EXPECT_EQ(key->digit, '5');
  EXPECT_EQ(key->duration, 100ms);
  EXPECT_FALSE(keys.send(1000, 5, true, 800));
  EXPECT_FALSE(keys.send(1000, 5, true, 800));
}

TEST(DtmfDetector, TellsEventsApartByTimestamp) {
  Keys keys;
  EXPECT_EQ(keys.press(1000, 1), "1");
  EXPECT_EQ(keys.press(3000, 1), "1");  // the same key again
  EXPECT_EQ(keys.press(5000, 11), "#");
}

TEST(DtmfDetector, ReportsAnEventWhoseEndPacketsWereLostAtTheNextEvent) {
  Keys keys;
  EXPECT_FALSE(keys.send(1000, 7, false, 160));
  EXPECT_FALSE(keys.send(1000, 7, false, 320));
  auto lost_end = keys.send(3000, 10, false, 160);
  ASSERT_TRUE(lost_end);
  EXPECT_EQ(lost_end->digit, '7');
  auto star = keys.send(3000, 10, true, 480);
  ASSERT_TRUE(star);
  EXPECT_EQ(star->digit, '*');
}

TEST(DtmfDetector, IgnoresLatePacketsOfAReportedEvent) {
  Keys keys;
  EXPECT_EQ(keys.press(1000, 2), "2");
  EXPECT_EQ(keys.press(3000, 3), "3");
  EXPECT_FALSE(keys.send(1000, 2, true, 800));  // reordered behind the next event
  EXPECT_FALSE(keys.send(1000, 2, false, 480));
}

TEST(DtmfDetector, AnotherSsrcIsAnotherEvent) {
  Keys keys;
  EXPECT_EQ(keys.press(1000, 4), "4");
  EXPECT_EQ(keys.send(1000, 4, true, 800, 0x5555).value_or(DtmfKey{}).digit, '4');
}

TEST(DtmfDetector, IgnoresOtherEventsAndShortPayloads) {
  Keys keys;
  EXPECT_EQ(keys.press(1000, 16), "");  // flash
  DtmfDetector detector;
  const std::vector<std::uint8_t> short_payload = {5, 0x80};
  rtp::RtpHeader header;
  header.payload = short_payload;
  EXPECT_FALSE(detector.on_packet(header));
}

}  // namespace
}  // namespace catchline::media::relay
