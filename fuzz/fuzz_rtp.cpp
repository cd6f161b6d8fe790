// Fuzzes the RTP and RTCP readers: every part of a parsed RTP packet lies inside the datagram,
// in order, and the parts add up to it; its payload read as an RFC 4733 event parses when long
// enough; a parsed RTCP compound's report blocks lie inside it and are whole; classification
// never reads past two bytes.

#include <cstddef>
#include <cstdint>

#include "media/rtp/rtcp.h"
#include "media/rtp/rtp_header.h"
#include "media/rtp/telephone_event.h"

namespace rtp = catchline::media::rtp;

namespace {

void require(bool condition) {
  if (!condition) {
    __builtin_trap();
  }
}

void inside(rtp::Bytes datagram, rtp::Bytes part) {
  if (!part.empty()) {
    require(part.data() >= datagram.data() &&
            part.data() + part.size() <= datagram.data() + datagram.size());
  }
}

// Any payload may be read as a telephone-event (the relay reads what a leg's payload type
// says): it parses exactly when it holds the 4 bytes of one, and only events 0-15 are keys.
void check_telephone_event(rtp::Bytes payload) {
  auto event = rtp::parse_telephone_event(payload);
  require(event.has_value() == (payload.size() >= rtp::kTelephoneEventSize));
  if (!event) {
    return;
  }
  require(event->volume < 64);
  require(rtp::dtmf_digit(event->event).has_value() == (event->event < 16));
}

void check_rtp(rtp::Bytes datagram) {
  auto header = rtp::parse_rtp(datagram);
  if (!header) {
    require(!header.error().reason.empty());
    require(header.error().offset <= datagram.size());
    return;
  }
  require(datagram.size() >= rtp::kRtpFixedHeader);
  require((datagram[0] >> 6) == 2);
  require(header->payload_type < 128 && header->csrc_count < 16);
  require(header->csrc.size() == 4u * header->csrc_count);
  inside(datagram, header->csrc);
  inside(datagram, header->extension);
  inside(datagram, header->payload);
  require(header->has_extension || header->extension.empty());
  require(header->extension.size() % 4 == 0);
  // header, CSRCs, extension (with its 4-byte header), payload and padding span it exactly.
  const std::size_t extension = header->has_extension ? 4 + header->extension.size() : 0;
  require(rtp::kRtpFixedHeader + header->csrc.size() + extension + header->payload.size() +
              header->padding ==
          datagram.size());
  require(header->payload.data() + header->payload.size() + header->padding ==
          datagram.data() + datagram.size());
  require(((datagram[0] & 0x20) != 0) == (header->padding > 0));
  for (std::size_t i = 0; i < header->csrc_count; ++i) {
    (void)header->csrc_at(i);
  }
  check_telephone_event(header->payload);
}

void check_rtcp(rtp::Bytes datagram) {
  auto compound = rtp::parse_rtcp(datagram);
  if (!compound) {
    require(!compound.error().reason.empty());
    require(compound.error().offset <= datagram.size());
    return;
  }
  require(compound->packet_count >= 1);
  require(compound->packet_count <= datagram.size() / 4);
  if (compound->report) {
    const rtp::RtcpReport& report = *compound->report;
    require(report.packet_type == rtp::kRtcpSenderReport ||
            report.packet_type == rtp::kRtcpReceiverReport);
    require(report.sender.has_value() == (report.packet_type == rtp::kRtcpSenderReport));
    inside(datagram, report.blocks);
    require(report.blocks.size() % rtp::kReportBlockSize == 0);
    require(report.block_count() <= 31);
    for (std::size_t i = 0; i < report.block_count(); ++i) {
      const rtp::ReportBlock block = report.block(i);
      require(block.cumulative_lost >= -(1 << 23) && block.cumulative_lost < (1 << 23));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Any outcome is fine; crashing, leaking or hanging is not.
  const rtp::Bytes datagram(data, size);
  (void)rtp::classify(datagram);
  check_rtp(datagram);
  check_rtcp(datagram);
  return 0;
}
