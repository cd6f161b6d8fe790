#pragma once

// The values that cross between the signaling thread and the media thread: what a leg's phone
// said in its SDP, and what the relay reports about a leg. Plain values, copied by post().

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "media/audio/sound.h"

namespace catchline::media::relay {

/// A relay leg: one media stream (one m= line) between the relay and one phone. Given by
/// MediaControl::open_leg(), never reused while the process runs.
using LegId = std::uint64_t;

/// What the relay knows of a leg's phone, from its SDP and its signaling.
struct RemoteMedia {
  /// Where the phone said it receives RTP (c= address, m= port); nullopt before its SDP is
  /// known (an INVITE without offer). Until the leg latches, packets for it go here.
  std::optional<boost::asio::ip::udp::endpoint> rtp;
  /// Where it receives RTCP (a=rtcp, RFC 3605, else the RTP port + 1); unused with rtcp_mux.
  std::optional<boost::asio::ip::udp::endpoint> rtcp;
  /// The source address of the phone's SIP messages: behind a NAT, the SDP names a private
  /// address and media comes from this one.
  boost::asio::ip::address signaling_source;
  /// RFC 5761: RTP and RTCP share the RTP port on this leg (both sides agreed in the SDP).
  bool rtcp_mux = false;
  /// The phone is on hold (its stream is sendonly or inactive): the long inactivity timeout.
  bool on_hold = false;
};

/// A leg's counters. "In" is what the relay accepted from the leg's phone, "out" what it sent
/// to the phone; RTP and RTCP together. `reported_*` come from the RTCP the phone sent.
struct LegStats {
  std::uint64_t packets_in = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t packets_out = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t rtcp_in = 0;            // of packets_in
  std::uint64_t dropped_source = 0;     // from an address that is not (or no longer) the phone's
  std::uint64_t dropped_unbridged = 0;  // accepted while the leg was bridged to nobody
  std::uint64_t dropped_no_destination = 0;  // the peer had no address yet (no SDP, no latch)
  std::uint64_t dropped_too_large = 0;       // larger than the receive slot (truncated)
  std::uint64_t send_failures = 0;           // sendmmsg refused them (buffer full, unreachable)
  std::uint64_t rtcp_malformed = 0;          // RTCP that did not parse (forwarded all the same)
  std::uint64_t dropped_playing = 0;  // accepted while the peer was playing (the player owns it)
  std::uint64_t packets_played = 0;   // of packets_out: sent by the player
  /// From the phone's last SR: what it says it sent.
  std::optional<std::uint32_t> reported_packets_sent;
  std::optional<std::uint32_t> reported_octets_sent;
  /// From the first report block of the phone's last SR or RR: what it says it lost of the
  /// stream it receives (RFC 3550 §6.4.1 cumulative number of packets lost), and the fraction
  /// (in 1/256) since its previous report.
  std::optional<std::int32_t> reported_lost;
  std::optional<std::uint8_t> reported_fraction_lost;
};

/// Why the relay tells the signaling side about a leg, with what it knows.
struct LegInactive {
  LegId leg = 0;
  std::chrono::steady_clock::duration silence{};  // since the last accepted packet (or open)
  bool on_hold = false;
};

/// A leg closed on the media thread: its sockets are closed, its ports free to reuse.
struct LegClosed {
  LegId leg = 0;
  std::uint16_t rtp_port = 0;
  LegStats stats;
};

/// One play on a leg: given by MediaControl::play(), never reused while the process runs, so
/// that an event about a play that was since replaced can be told from the current one.
using PlayId = std::uint64_t;

/// Whether a play ends after its last sound, or starts over with the first (hold music,
/// ringback).
enum class PlayMode { Once, Loop };

/// What to play to a leg. The sounds are shared and immutable (a PromptSet encodes them once at
/// start-up); the media thread holds them while it plays.
struct PlayRequest {
  /// Played one after the other ("parked on", "digit_7", "digit_0"); at least one frame in all.
  std::vector<std::shared_ptr<const audio::EncodedSound>> sounds;
  /// Every sound is encoded in it: the codec the leg's SDP chose.
  audio::Codec codec = audio::Codec::Pcmu;
  /// The payload type the leg's SDP gives that codec (0 for PCMU, 8 for PCMA: RFC 3551).
  std::uint8_t payload_type = 0;
  PlayMode mode = PlayMode::Once;
};

/// Why a play ended. A leg closed while playing reports nothing of its play (on_leg_closed()
/// says the rest).
enum class PlayEndReason {
  Finished,  // a once play sent its last frame, and that frame's 20 ms have passed
  Stopped,   // stop_playing(), or a new play() on the same leg replaced it
};

/// A play ended on the media thread; the leg forwards its peer's packets to its phone again
/// (when still bridged).
struct PlayEnded {
  LegId leg = 0;
  PlayId play = 0;
  PlayEndReason reason = PlayEndReason::Finished;
  std::uint64_t packets = 0;  // sent by this play
};

/// One recording on a leg: given by MediaControl::record(), never reused while the process runs,
/// so that the end of a recording that was since replaced can be told from the current one.
using RecordId = std::uint64_t;

/// What to record of a leg: the audio its phone sends in one G.711 format (voicemail).
struct RecordRequest {
  /// How to decode the payload: the codec the leg's SDP chose.
  audio::Codec codec = audio::Codec::Pcmu;
  /// The payload type the leg's SDP gives that codec; packets of other payload types (comfort
  /// noise, RFC 4733 events, another codec) are not recorded.
  std::uint8_t payload_type = 0;
  /// The longest recording: it ends once it holds this much audio, and it bounds its memory
  /// (16 kB a second). Above 0 and at most kMaxRecordDuration.
  std::chrono::milliseconds max_duration{60'000};
};

/// The longest recording a request may ask for: 30 minutes are 28.8 MB of samples.
inline constexpr std::chrono::milliseconds kMaxRecordDuration{30 * 60 * 1000};

/// Why a recording ended.
enum class RecordEndReason {
  MaxDuration,  // it holds max_duration of audio, or max_duration passed since it started
  Stopped,      // stop_recording(), or a new record() on the same leg replaced it
  Closed,       // close_leg(): the caller hung up; voicemail keeps what was said
};

/// A recording ended on the media thread, with its audio: linear samples at 8 kHz, mono, in
/// RTP timestamp order from the first packet recorded, gaps (lost packets, silence suppression)
/// filled with silence. Moved to the signaling thread, which writes it (audio::write_wav()).
struct RecordEnded {
  LegId leg = 0;
  RecordId record = 0;
  RecordEndReason reason = RecordEndReason::Stopped;
  std::vector<std::int16_t> samples;
  std::uint64_t packets = 0;  // recorded (of the request's payload type)

  std::chrono::milliseconds duration() const {
    return std::chrono::milliseconds(samples.size() * 1000 / audio::kSampleRate);
  }
};

/// An RFC 4733 telephone-event (a key the phone's user pressed), on a leg that watches DTMF.
struct DtmfEvent {
  LegId leg = 0;
  char digit = 0;  // '0'-'9', '*', '#', 'A'-'D'
  /// How long the key was held, from the event's last packet (RFC 4733 §2.5.1.3).
  std::chrono::milliseconds duration{0};
};

}  // namespace catchline::media::relay
