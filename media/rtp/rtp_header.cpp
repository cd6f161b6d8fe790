#include "media/rtp/rtp_header.h"

namespace catchline::media::rtp {

PacketKind classify(Bytes datagram) {
  if (datagram.size() < 2) {
    return PacketKind::Rtp;
  }
  const std::uint8_t second = datagram[1];
  return second >= 192 && second <= 223 ? PacketKind::Rtcp : PacketKind::Rtp;
}

std::uint32_t RtpHeader::csrc_at(std::size_t index) const {
  return read32(csrc.data() + 4 * index);
}

sip::Result<RtpHeader> parse_rtp(Bytes datagram) {
  if (datagram.size() < kRtpFixedHeader) {
    return sip::fail("RTP: shorter than the 12-byte header", datagram.size());
  }
  const std::uint8_t* bytes = datagram.data();
  if ((bytes[0] >> 6) != 2) {
    return sip::fail("RTP: version is not 2", 0);
  }
  RtpHeader header;
  const bool padded = (bytes[0] & 0x20) != 0;
  header.has_extension = (bytes[0] & 0x10) != 0;
  header.csrc_count = bytes[0] & 0x0f;
  header.marker = (bytes[1] & 0x80) != 0;
  header.payload_type = bytes[1] & 0x7f;
  header.sequence = read16(bytes + 2);
  header.timestamp = read32(bytes + 4);
  header.ssrc = read32(bytes + 8);

  std::size_t at = kRtpFixedHeader;
  const std::size_t csrc_bytes = 4u * header.csrc_count;
  if (datagram.size() - at < csrc_bytes) {
    return sip::fail("RTP: CSRC list longer than the datagram", at);
  }
  header.csrc = datagram.subspan(at, csrc_bytes);
  at += csrc_bytes;

  if (header.has_extension) {
    // RFC 3550 §5.3.1: 16 bits profile-defined, 16 bits length in 32-bit words (header excluded).
    if (datagram.size() - at < 4) {
      return sip::fail("RTP: extension header longer than the datagram", at);
    }
    header.extension_profile = read16(bytes + at);
    const std::size_t words = read16(bytes + at + 2);
    at += 4;
    if (datagram.size() - at < 4 * words) {
      return sip::fail("RTP: extension longer than the datagram", at);
    }
    header.extension = datagram.subspan(at, 4 * words);
    at += 4 * words;
  }

  std::size_t end = datagram.size();
  if (padded) {
    // RFC 3550 §5.1: the last octet counts the padding, itself included.
    const std::uint8_t count = bytes[end - 1];
    if (count == 0) {
      return sip::fail("RTP: padding bit set with a padding count of 0", end - 1);
    }
    if (count > end - at) {
      return sip::fail("RTP: padding longer than the payload", end - 1);
    }
    header.padding = count;
    end -= count;
  }
  header.payload = datagram.subspan(at, end - at);
  return header;
}

}  // namespace catchline::media::rtp
