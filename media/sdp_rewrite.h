#pragma once

// SDP for the RTP relay (issue 11): a phone's description rewritten so that its reader sends
// media to the relay, not to the phone, and what the relay needs to know of a phone's
// description (where it receives, whether it is on hold). Codecs, payload types, fmtp, crypto
// and direction pass through unchanged: the relay moves packets, it does not transcode.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "media/sdp.h"
#include "sip/result.h"

namespace catchline::media {

/// The o= line the server writes in every description it sends to one leg (RFC 3264 §8): the
/// same username, session id and address for the whole dialog, and a version that rises by one
/// each time the description changes. The caller keeps one per leg for the life of that leg's
/// dialog, whichever phone's media the leg is bridged to (a pickup or transfer that re-bridges
/// the leg keeps its LegOrigin). A plain value: copy or move it with the leg.
class LegOrigin {
 public:
  /// `session_id` and `first_version` should be numbers no other session of this server used
  /// (RFC 8866 §5.2 suggests an NTP timestamp); the first description sent carries
  /// `first_version`.
  LegOrigin(std::uint64_t session_id, std::uint64_t first_version);

  /// The o= value ("catchline <id> <version> IN <addr_type> <address>") for a description
  /// whose other lines are `body`. The version of the last call is repeated when `body` and
  /// `address` are the same as then (RFC 3264 §8: a description sent again unchanged keeps its
  /// version), otherwise it is the next one.
  std::string line_for(std::string_view body, std::string_view addr_type, std::string_view address);

  std::uint64_t session_id() const { return session_id_; }
  /// The version written last, or the first version when none was written yet.
  std::uint64_t version() const { return version_; }

 private:
  std::uint64_t session_id_;
  std::uint64_t version_;
  bool written_ = false;
  std::string last_;  // address and body of the last description, to tell a change
};

/// Where the relay receives one m= line's media from the leg that reads the rewritten
/// description.
struct RelayPorts {
  std::uint16_t rtp = 0;   // 0: the relay does not carry this stream; the line is turned off
  std::uint16_t rtcp = 0;  // usually rtp + 1; equal to rtp when the relay only offers rtcp-mux
  bool rtcp_mux = true;    // false: the relay cannot multiplex here, a=rtcp-mux is removed
  /// Written instead of the phone's direction (hold music: the server sends to a held phone
  /// whatever its holder wrote); nullopt keeps the phone's.
  std::optional<Direction> direction;
};

/// The relay's side of a leg: its address as that leg's phone reaches it and one RelayPorts
/// per m= line of the description, in order (entries for port 0 lines are not used).
struct RelayEndpoint {
  std::string address;  // "203.0.113.5" (written IP4) or "2001:db8::5" (written IP6)
  std::vector<RelayPorts> ports;
};

/// Rewrites one phone's description (an offer or an answer) for the other leg, so that its
/// reader sends every active stream to the relay:
/// - every c= line (session and media level) gets the relay's address and address type, except
///   an unspecified address ("0.0.0.0", "::"), which means hold and is kept; an active m= line
///   without any c= gets one;
/// - an active m= line gets the relay's RTP port (a "/2" port count is dropped: the relay gives
///   one port per line), or port 0 when RelayPorts::rtp is 0; a port 0 line stays port 0 with
///   its formats and attributes;
/// - a=rtcp (RFC 3605) gets the relay's RTCP port, or its RTP port where the phone wrote its own
///   RTP port there (RFC 5761 §5.1.3: multiplexing only) and rtcp-mux is kept; its address, if
///   written, becomes the relay's. Without a=rtcp one is added when the relay's RTCP port is not
///   RTP + 1. a=rtcp-mux is removed where RelayPorts::rtcp_mux is false;
/// - where RelayPorts::direction is set, the line's direction attributes are replaced by it (it
///   then also overrides a session-level one), and an unspecified c= address gets the relay's;
/// - ICE attributes (RFC 8839: candidate, remote-candidates, end-of-candidates and every
///   ice-*, such as ice-ufrag and ice-pwd) are removed: they name the phone's own addresses,
///   which the reader would try around the relay, and the relay answers no checks;
/// - o= comes from `origin` with the relay's address (see LegOrigin::line_for());
/// - every other line (s=, t=, b=, rtpmap, fmtp, crypto, fingerprint, direction, ...) is kept as
///   written and in order. Lines end in CRLF.
/// Returns the parse error of `sdp` (status 488, see parse_sdp()), or status 500
/// "Relay: no address" / "Relay: ports for 1 of 2 m= lines" when `relay` does not fit it;
/// `origin` is unchanged then.
sip::Result<std::string> rewrite_for_relay(std::string_view sdp, const RelayEndpoint& relay,
                                           LegOrigin& origin);

/// A payload type of a phone's line that carries G.711 (what the player can send).
struct G711Format {
  bool alaw = false;  // PCMA; else PCMU
  std::uint8_t payload = 0;
};

/// What the relay needs of one m= line of a phone's description: where that phone receives.
/// Owns its strings, so it can be posted to the media thread.
struct LegStream {
  std::string type;      // "audio", "video", ...
  std::string protocol;  // "RTP/AVP", ...
  bool active = false;   // port other than 0 and an address to send to
  std::string address;   // the line's c=, else the session's; "" when neither
  bool ipv6 = false;     // the address type is IP6
  std::uint16_t rtp_port = 0;
  std::string rtcp_address;     // a=rtcp's address when it gives one, else `address`
  std::uint16_t rtcp_port = 0;  // a=rtcp's port, else rtp_port + 1 (RFC 3550 §11); 0 if none
  bool rtcp_mux = false;        // the line has a=rtcp-mux (RFC 5761); used when both sides have it
  Direction direction = Direction::SendRecv;  // as the phone wrote it
  /// The phone holds the stream: sendonly or inactive (RFC 3264 §8.4), or the unspecified
  /// address of RFC 2543 ("c=IN IP4 0.0.0.0"); the relay sends it nothing but music, if any.
  bool on_hold = false;
  /// The first format of the line that is G.711 (RFC 3551 PCMU or PCMA, by its rtpmap, else by
  /// its static number), in the phone's order of preference: what the player can send it.
  std::optional<G711Format> g711;
  /// The payload type of the line's RFC 4733 telephone-events (a=rtpmap:<pt>
  /// telephone-event/8000 of a listed format): what the relay watches for DTMF keys. The first
  /// at 8000 Hz; nullopt when the phone sends no events at 8 kHz.
  std::optional<std::uint8_t> telephone_event;
};

/// Reads every m= line of `sdp`, in order, as LegStream values. Addresses are as written (the
/// relay checks they are IP literals). An a=rtcp whose port is not a number is ignored.
/// Returns the parse error of `sdp` (status 488) when it does not parse.
sip::Result<std::vector<LegStream>> read_leg_streams(std::string_view sdp);

}  // namespace catchline::media
