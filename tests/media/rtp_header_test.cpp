#include "media/rtp/rtp_header.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace catchline::media::rtp {
namespace {

using Packet = std::vector<std::uint8_t>;

// A PCMA packet: V=2, PT 8, sequence 0x1234, timestamp 0x01020304, SSRC 0xdeadbeef, 4 bytes
// of payload.
Packet pcma() {
  return {0x80, 0x08, 0x12, 0x34, 0x01, 0x02, 0x03, 0x04,
          0xde, 0xad, 0xbe, 0xef, 0xd5, 0xd5, 0xd5, 0xd5};
}

TEST(RtpHeader, ReadsTheFixedHeader) {
  const Packet packet = pcma();
  auto header = parse_rtp(packet);
  ASSERT_TRUE(header) << header.error().reason;
  EXPECT_FALSE(header->marker);
  EXPECT_EQ(header->payload_type, 8);
  EXPECT_EQ(header->sequence, 0x1234);
  EXPECT_EQ(header->timestamp, 0x01020304u);
  EXPECT_EQ(header->ssrc, 0xdeadbeefu);
  EXPECT_EQ(header->csrc_count, 0);
  EXPECT_FALSE(header->has_extension);
  EXPECT_EQ(header->payload.size(), 4u);
  EXPECT_EQ(header->payload.data(), packet.data() + 12);  // a view, not a copy
  EXPECT_EQ(header->padding, 0);
}

TEST(RtpHeader, ReadsMarkerCsrcExtensionAndPadding) {
  // RFC 4733 event with marker, two CSRCs, a one-word extension and 3 octets of padding.
  Packet packet = {0xb2, 0xe5, 0x00, 0x01, 0, 0, 0, 1,    0, 0, 0, 2,  // P, X, CC=2, M, PT 101
                   0,    0,    0,    0x0a, 0, 0, 0, 0x0b,              // CSRCs 10, 11
                   0xbe, 0xde, 0x00, 0x01, 1, 2, 3, 4,                 // extension: 1 word
                   0x01, 0x0a, 0x00, 0xa0,                             // event 1, volume 10, 160
                   0,    0,    3};                                     // padding: 3 octets
  auto header = parse_rtp(packet);
  ASSERT_TRUE(header) << header.error().reason;
  EXPECT_TRUE(header->marker);
  EXPECT_EQ(header->payload_type, 101);
  ASSERT_EQ(header->csrc_count, 2);
  EXPECT_EQ(header->csrc_at(0), 10u);
  EXPECT_EQ(header->csrc_at(1), 11u);
  EXPECT_TRUE(header->has_extension);
  EXPECT_EQ(header->extension_profile, 0xbede);
  EXPECT_EQ(header->extension.size(), 4u);
  ASSERT_EQ(header->payload.size(), 4u);
  EXPECT_EQ(header->payload[0], 0x01);
  EXPECT_EQ(header->padding, 3);
}

struct BadPacket {
  Packet bytes;
  std::string reason;
};

TEST(RtpHeader, RejectsPacketsItsLengthsDoNotFit) {
  const std::vector<BadPacket> table = {
      {{0x80, 0x08, 0, 1}, "RTP: shorter than the 12-byte header"},
      {{0x40, 0x08, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, "RTP: version is not 2"},
      {{0x81, 0x08, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
       "RTP: CSRC list longer than the datagram"},
      {{0x90, 0x08, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde},
       "RTP: extension header longer than the datagram"},
      {{0x90, 0x08, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0, 2, 1, 2, 3, 4},
       "RTP: extension longer than the datagram"},
      {{0xa0, 0x08, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0},
       "RTP: padding bit set with a padding count of 0"},
      {{0xa0, 0x08, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 9, 3}, "RTP: padding longer than the payload"},
  };
  for (const BadPacket& bad : table) {
    auto header = parse_rtp(bad.bytes);
    ASSERT_FALSE(header) << bad.reason;
    EXPECT_EQ(header.error().reason, bad.reason);
    EXPECT_EQ(header.error().status, 400);
    EXPECT_LE(header.error().offset, bad.bytes.size());
  }
}

TEST(RtpHeader, ClassifiesBySecondByteAsRfc5761Says) {
  const std::vector<std::pair<std::uint8_t, PacketKind>> table = {
      {0x00, PacketKind::Rtp}, {0x08, PacketKind::Rtp}, {0x65, PacketKind::Rtp},
      {0xe5, PacketKind::Rtp},  // marker + PT 101: a DTMF event start
      {191, PacketKind::Rtp},  {192, PacketKind::Rtcp}, {200, PacketKind::Rtcp},
      {201, PacketKind::Rtcp}, {223, PacketKind::Rtcp}, {224, PacketKind::Rtp},
  };
  for (const auto& [second, kind] : table) {
    const Packet packet = {0x80, second, 0, 0};
    EXPECT_EQ(classify(packet), kind) << int{second};
  }
  EXPECT_EQ(classify(Packet{0x80}), PacketKind::Rtp);
}

}  // namespace
}  // namespace catchline::media::rtp
