#include "media/rtp/rtcp.h"

namespace catchline::media::rtp {
namespace {

constexpr std::size_t kRtcpHeader = 4;
constexpr std::size_t kSenderInfoSize = 20;

}  // namespace

ReportBlock RtcpReport::block(std::size_t index) const {
  const std::uint8_t* at = blocks.data() + index * kReportBlockSize;
  ReportBlock block;
  block.ssrc = read32(at);
  block.fraction_lost = at[4];
  // A 24-bit two's complement number: sign-extend it.
  std::uint32_t lost = (std::uint32_t{at[5]} << 16) | (std::uint32_t{at[6]} << 8) | at[7];
  block.cumulative_lost = (lost & 0x800000u) != 0 ? static_cast<std::int32_t>(lost) - 0x1000000
                                                  : static_cast<std::int32_t>(lost);
  block.highest_sequence = read32(at + 8);
  block.jitter = read32(at + 12);
  block.last_sr = read32(at + 16);
  block.delay_since_last_sr = read32(at + 20);
  return block;
}

sip::Result<RtcpCompound> parse_rtcp(Bytes datagram) {
  RtcpCompound compound;
  std::size_t at = 0;
  if (datagram.empty()) {
    return sip::fail("RTCP: empty datagram", 0);
  }
  while (at < datagram.size()) {
    if (datagram.size() - at < kRtcpHeader) {
      return sip::fail("RTCP: packet header cut short", at);
    }
    const std::uint8_t* bytes = datagram.data() + at;
    if ((bytes[0] >> 6) != 2) {
      return sip::fail("RTCP: version is not 2", at);
    }
    // RFC 3550 §6.4.1: the length is in 32-bit words minus one, header included.
    const std::size_t length = 4 * (std::size_t{read16(bytes + 2)} + 1);
    if (length > datagram.size() - at) {
      return sip::fail("RTCP: packet longer than the datagram", at);
    }
    std::size_t body = length;
    if ((bytes[0] & 0x20) != 0) {
      const std::uint8_t padding = bytes[length - 1];
      if (padding == 0 || padding > length - kRtcpHeader) {
        return sip::fail("RTCP: bad padding count", at);
      }
      body -= padding;
    }
    const std::uint8_t type = bytes[1];
    const std::size_t count = bytes[0] & 0x1f;
    if ((type == kRtcpSenderReport || type == kRtcpReceiverReport) && !compound.report) {
      const std::size_t fixed = kRtcpHeader + 4 + (type == kRtcpSenderReport ? kSenderInfoSize : 0);
      if (body < fixed + count * kReportBlockSize) {
        return sip::fail("RTCP: report shorter than its report count", at);
      }
      RtcpReport report;
      report.packet_type = type;
      report.ssrc = read32(bytes + 4);
      if (type == kRtcpSenderReport) {
        SenderInfo sender;
        sender.ntp_timestamp = (std::uint64_t{read32(bytes + 8)} << 32) | read32(bytes + 12);
        sender.rtp_timestamp = read32(bytes + 16);
        sender.packets = read32(bytes + 20);
        sender.octets = read32(bytes + 24);
        report.sender = sender;
      }
      report.blocks = datagram.subspan(at + fixed, count * kReportBlockSize);
      compound.report = report;
    }
    ++compound.packet_count;
    at += length;
  }
  return compound;
}

}  // namespace catchline::media::rtp
