#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "media/rtp/rtcp.h"

namespace catchline::media::rtp {
namespace {

using Packet = std::vector<std::uint8_t>;

void put32(Packet& packet, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    packet.push_back(static_cast<std::uint8_t>(value >> shift));
  }
}

// A report block about `ssrc` with a 24-bit cumulative loss.
void put_block(Packet& packet, std::uint32_t ssrc, std::uint8_t fraction, std::uint32_t lost24) {
  put32(packet, ssrc);
  packet.push_back(fraction);
  packet.push_back(static_cast<std::uint8_t>(lost24 >> 16));
  packet.push_back(static_cast<std::uint8_t>(lost24 >> 8));
  packet.push_back(static_cast<std::uint8_t>(lost24));
  put32(packet, 1000);  // highest sequence
  put32(packet, 25);    // jitter
  put32(packet, 0);     // LSR
  put32(packet, 0);     // DLSR
}

// SR from 0x11111111 (sent 500 packets, 80000 octets) with one block about 0x22222222.
Packet sender_report(std::uint32_t lost24 = 7) {
  Packet packet = {0x81, 200, 0, 12};
  put32(packet, 0x11111111);
  put32(packet, 0xe0000000);
  put32(packet, 0x80000000);  // NTP
  put32(packet, 160000);      // RTP timestamp
  put32(packet, 500);
  put32(packet, 80000);
  put_block(packet, 0x22222222, 12, lost24);
  return packet;
}

// SDES with one CNAME "ab" (RFC 3550 §6.5), padded to a word.
Packet sdes() {
  Packet packet = {0x81, 202, 0, 2};
  put32(packet, 0x11111111);
  packet.insert(packet.end(), {1, 2, 'a', 'b'});
  return packet;
}

TEST(RtcpReader, ReadsSenderInfoAndTheReportBlock) {
  Packet packet = sender_report();
  const Packet tail = sdes();
  packet.insert(packet.end(), tail.begin(), tail.end());
  auto compound = parse_rtcp(packet);
  ASSERT_TRUE(compound) << compound.error().reason;
  EXPECT_EQ(compound->packet_count, 2u);
  ASSERT_TRUE(compound->report);
  const RtcpReport& report = *compound->report;
  EXPECT_EQ(report.packet_type, kRtcpSenderReport);
  EXPECT_EQ(report.ssrc, 0x11111111u);
  ASSERT_TRUE(report.sender);
  EXPECT_EQ(report.sender->packets, 500u);
  EXPECT_EQ(report.sender->octets, 80000u);
  EXPECT_EQ(report.sender->rtp_timestamp, 160000u);
  ASSERT_EQ(report.block_count(), 1u);
  const ReportBlock block = report.block(0);
  EXPECT_EQ(block.ssrc, 0x22222222u);
  EXPECT_EQ(block.fraction_lost, 12);
  EXPECT_EQ(block.cumulative_lost, 7);
  EXPECT_EQ(block.highest_sequence, 1000u);
  EXPECT_EQ(block.jitter, 25u);
}

TEST(RtcpReader, ReadsAReceiverReport) {
  Packet packet = {0x81, 201, 0, 7};
  put32(packet, 0x33333333);
  put_block(packet, 0x44444444, 0, 3);
  auto compound = parse_rtcp(packet);
  ASSERT_TRUE(compound) << compound.error().reason;
  ASSERT_TRUE(compound->report);
  EXPECT_EQ(compound->report->packet_type, kRtcpReceiverReport);
  EXPECT_FALSE(compound->report->sender);
  ASSERT_EQ(compound->report->block_count(), 1u);
  EXPECT_EQ(compound->report->block(0).cumulative_lost, 3);
}

TEST(RtcpReader, SignExtendsANegativeCumulativeLoss) {
  // Duplicates make the count negative (RFC 3550 §6.4.1): 0xfffffe is -2.
  const Packet packet = sender_report(0xfffffe);
  auto compound = parse_rtcp(packet);
  ASSERT_TRUE(compound) << compound.error().reason;
  EXPECT_EQ(compound->report->block(0).cumulative_lost, -2);
}

TEST(RtcpReader, AcceptsACompoundWithoutReport) {
  auto compound = parse_rtcp(sdes());
  ASSERT_TRUE(compound) << compound.error().reason;
  EXPECT_FALSE(compound->report);
}

struct BadCompound {
  Packet bytes;
  std::string reason;
};

TEST(RtcpReader, RejectsLengthsThatDoNotAddUp) {
  Packet cut = sender_report();
  cut.resize(cut.size() - 4);
  Packet trailing = sender_report();
  trailing.insert(trailing.end(), {0x80, 202});
  Packet short_report = {0x82, 201, 0, 7};  // RC 2, room for one block
  put32(short_report, 1);
  put_block(short_report, 2, 0, 0);
  const std::vector<BadCompound> table = {
      {{}, "RTCP: empty datagram"},
      {{0x80, 200, 0}, "RTCP: packet header cut short"},
      {{0x40, 200, 0, 0}, "RTCP: version is not 2"},
      {cut, "RTCP: packet longer than the datagram"},
      {trailing, "RTCP: packet header cut short"},
      {short_report, "RTCP: report shorter than its report count"},
      {{0xa0, 203, 0, 0}, "RTCP: bad padding count"},
      {{0xa0, 203, 0, 1, 0, 0, 0, 9}, "RTCP: bad padding count"},
  };
  for (const BadCompound& bad : table) {
    auto compound = parse_rtcp(bad.bytes);
    ASSERT_FALSE(compound) << bad.reason;
    EXPECT_EQ(compound.error().reason, bad.reason);
    EXPECT_LE(compound.error().offset, bad.bytes.size());
  }
}

}  // namespace
}  // namespace catchline::media::rtp
