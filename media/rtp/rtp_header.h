#pragma once

// RTP fixed header and its variable parts (RFC 3550 §5.1, §5.3.1), read in place: every part is
// a view into the datagram, nothing is copied. The relay forwards datagrams unchanged; it reads
// headers only to classify, count and check them.

#include <cstddef>
#include <cstdint>
#include <span>

#include "sip/result.h"

namespace catchline::media::rtp {

using Bytes = std::span<const std::uint8_t>;

/// What a datagram on an RTP port carries (RFC 5761 §4: RTP and RTCP on one port).
enum class PacketKind { Rtp, Rtcp };

/// RFC 5761 §4: a datagram whose second byte is 192-223 (RTCP packet types 192-223, or RTP
/// with the marker bit and payload type 64-95, which RFC 5761 forbids on a muxed port) is RTCP;
/// anything else is RTP. A datagram shorter than two bytes counts as RTP (it fails parsing).
PacketKind classify(Bytes datagram);

/// The smallest RTP packet: the 12-byte fixed header.
inline constexpr std::size_t kRtpFixedHeader = 12;

/// One RTP packet read in place. The views point into the datagram given to parse_rtp() and
/// live no longer than it.
///
/// Guarantees of a parsed packet (fuzz/fuzz_rtp.cpp traps when one breaks): version 2;
/// header + csrc + extension + payload + padding spans the datagram exactly, in that order;
/// csrc.size() == 4 * csrc_count; padding >= 1 when the P bit is set, else 0.
struct RtpHeader {
  bool marker = false;
  std::uint8_t payload_type = 0;  // 0-127
  std::uint16_t sequence = 0;
  std::uint32_t timestamp = 0;
  std::uint32_t ssrc = 0;
  std::uint8_t csrc_count = 0;  // 0-15
  Bytes csrc;                   // csrc_count big-endian 32-bit identifiers
  bool has_extension = false;
  std::uint16_t extension_profile = 0;  // "defined by profile" (RFC 3550 §5.3.1)
  Bytes extension;                      // the extension's words, after its 4-byte header
  Bytes payload;
  std::uint8_t padding = 0;  // octets of padding at the end, the last one included

  /// The CSRC at `index` (< csrc_count).
  std::uint32_t csrc_at(std::size_t index) const;
};

/// Reads the RTP packet in `datagram`. Errors (status 400, offset where it went wrong): shorter
/// than 12 bytes, a version other than 2, CSRC list or header extension longer than the datagram,
/// a padding count of 0 or larger than what follows the header.
sip::Result<RtpHeader> parse_rtp(Bytes datagram);

/// Big-endian reads; the caller checked the bounds.
inline std::uint16_t read16(const std::uint8_t* at) {
  return static_cast<std::uint16_t>((at[0] << 8) | at[1]);
}
inline std::uint32_t read32(const std::uint8_t* at) {
  return (std::uint32_t{at[0]} << 24) | (std::uint32_t{at[1]} << 16) | (std::uint32_t{at[2]} << 8) |
         std::uint32_t{at[3]};
}

}  // namespace catchline::media::rtp
