#pragma once

// RTCP compound packets (RFC 3550 §6.1, §6.4), read in place for the relay's per-leg figures:
// the packets and octets a phone says it sent (SR sender info) and the loss it says it saw (the
// report blocks of its SR or RR). The relay forwards RTCP unchanged whatever this reader says.

#include <cstddef>
#include <cstdint>
#include <optional>

#include "media/rtp/rtp_header.h"
#include "sip/result.h"

namespace catchline::media::rtp {

/// RTCP packet types (RFC 3550 §12.1).
inline constexpr std::uint8_t kRtcpSenderReport = 200;
inline constexpr std::uint8_t kRtcpReceiverReport = 201;

/// One report block's size in octets (RFC 3550 §6.4.1).
inline constexpr std::size_t kReportBlockSize = 24;

/// The sender information of an SR (RFC 3550 §6.4.1).
struct SenderInfo {
  std::uint64_t ntp_timestamp = 0;
  std::uint32_t rtp_timestamp = 0;
  std::uint32_t packets = 0;  // sender's packet count since it started sending
  std::uint32_t octets = 0;   // sender's payload octet count
};

/// One report block (RFC 3550 §6.4.1): what the reporter received from `ssrc`.
struct ReportBlock {
  std::uint32_t ssrc = 0;
  std::uint8_t fraction_lost = 0;      // since the previous report, in 1/256
  std::int32_t cumulative_lost = 0;    // 24-bit signed: duplicates can make it negative
  std::uint32_t highest_sequence = 0;  // extended highest sequence number received
  std::uint32_t jitter = 0;            // in timestamp units
  std::uint32_t last_sr = 0;
  std::uint32_t delay_since_last_sr = 0;
};

/// An SR or RR. `blocks` views the report blocks in the datagram (count * 24 octets).
struct RtcpReport {
  std::uint8_t packet_type = 0;      // kRtcpSenderReport or kRtcpReceiverReport
  std::uint32_t ssrc = 0;            // of the reporter
  std::optional<SenderInfo> sender;  // SR only
  Bytes blocks;

  std::size_t block_count() const { return blocks.size() / kReportBlockSize; }
  /// The report block at `index` (< block_count()), decoded.
  ReportBlock block(std::size_t index) const;
};

/// What a compound packet holds that the relay reads.
///
/// Guarantees of a parsed compound (fuzz/fuzz_rtp.cpp traps when one breaks): packet_count >= 1;
/// a report's blocks lie inside the datagram and are a whole number of 24-octet blocks, at most 31.
struct RtcpCompound {
  std::size_t packet_count = 0;
  std::optional<RtcpReport> report;  // the first SR or RR, when there is one
};

/// Reads the compound RTCP packet in `datagram`. Each packet must have version 2 and a length
/// inside the datagram, and the lengths must add up to it exactly; an SR or RR must hold the
/// report blocks its count announces. A compound without SR or RR (RFC 5506 reduced size) is
/// accepted with no report. Errors (status 400, offset of the offending packet) name the fault.
sip::Result<RtcpCompound> parse_rtcp(Bytes datagram);

}  // namespace catchline::media::rtp
