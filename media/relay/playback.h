#pragma once

// One play on one leg: which 20 ms frame of which sound goes next, and the RTP header of the
// stream the player sends in the leg's direction (RFC 3550 §5.1). No clock and no socket: the
// relay's player tick says when a packet is due, and sends it.

#include <cstddef>
#include <cstdint>
#include <span>

#include "media/audio/sound.h"
#include "media/relay/relay_types.h"
#include "media/rtp/rtp_header.h"
#include "sip/result.h"

namespace catchline::media::relay {

/// One packet of the player: the 12-byte RTP header and one 20 ms G.711 frame.
inline constexpr std::size_t kPlayPacketSize = rtp::kRtpFixedHeader + audio::kFrameSamples;

/// Checks a request before it is posted to the media thread. Returns the number of frames of
/// one pass through its sounds. Errors (status 500: the caller's mistake, not the phone's):
/// "no sounds to play", "sound 2 is missing (null)", "sound 1 is PCMA, the play is PCMU",
/// "the sounds hold no frame", "payload type 128 is not below 128".
sip::Result<std::size_t> check_play_request(const PlayRequest& request);

/// Where a play's RTP stream starts: RFC 3550 §5.1 wants the SSRC, the first sequence number
/// and the first timestamp random, so that a new play is a new source to the phone.
struct RtpStart {
  std::uint32_t ssrc = 0;
  std::uint16_t sequence = 0;
  std::uint32_t timestamp = 0;
};

/// The packets of one play: the request's sounds one after the other, looped or once, one RTP
/// packet per frame. The packets carry the play's own SSRC; the sequence number rises by one
/// and the timestamp by 160 (20 ms at 8 kHz) per packet, across sounds and loops alike; the
/// first packet has the marker bit (RFC 3551 §4.1: the first packet of a talkspurt).
///   Playing -> Playing    next_packet() or skip_frame() moves one frame on (a loop wraps)
///   Playing -> Finished   a once play moved past the last frame of its last sound
/// A plain value, owned by its leg on the media thread.
class Playback {
 public:
  /// `request` passed check_play_request().
  Playback(PlayId id, PlayRequest request, RtpStart start);

  PlayId id() const { return id_; }
  /// True once a once play moved past its last frame; never for a loop.
  bool finished() const { return finished_; }
  /// Packets written so far.
  std::uint64_t packets() const { return packets_; }
  /// The SSRC of the play's stream.
  std::uint32_t ssrc() const { return ssrc_; }

  /// Writes the next packet into `out` and moves one frame on. Call only while !finished().
  void next_packet(std::span<std::uint8_t, kPlayPacketSize> out);
  /// Moves one frame on without a packet (the media thread fell behind by more than it catches
  /// up): the timestamp rises, the sequence number does not (RFC 3550 §5.1: the timestamp
  /// follows the sampling clock, the sequence number counts packets sent). Nothing when
  /// finished.
  void skip_frame();

 private:
  void advance();

  PlayId id_;
  PlayRequest request_;
  std::uint32_t ssrc_;
  std::uint16_t sequence_;
  std::uint32_t timestamp_;
  std::size_t sound_ = 0;  // index in request_.sounds
  std::size_t frame_ = 0;  // index in that sound
  std::uint64_t packets_ = 0;
  bool finished_ = false;
};

}  // namespace catchline::media::relay
