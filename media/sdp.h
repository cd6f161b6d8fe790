#pragma once

// SDP (RFC 8866, formerly RFC 4566) read without copying, and RFC 3264 answers built from a
// second phone's offer. Call pickup needs no media relay: the caller's offer is answered for the
// picker's phone and the picker's offer for the caller's, so the phones send media to each other.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sip/result.h"

namespace catchline::media {

/// Media direction attribute (RFC 3264 §5.1, RFC 8866 §6.7), as seen by the side that wrote it.
enum class Direction { SendRecv, SendOnly, RecvOnly, Inactive };

/// The attribute name for a direction: "sendrecv", "sendonly", "recvonly" or "inactive".
std::string_view direction_name(Direction direction);

/// o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address> (RFC 8866 §5.2).
struct Origin {
  std::string_view username;
  std::string_view session_id;
  std::string_view version;
  std::string_view net_type;   // "IN"
  std::string_view addr_type;  // "IP4", "IP6"
  std::string_view address;
};

/// c=<nettype> <addrtype> <connection-address> (RFC 8866 §5.7). A multicast "/ttl/count"
/// suffix is left out of `address`.
struct Connection {
  std::string_view net_type;   // "IN"
  std::string_view addr_type;  // "IP4", "IP6"
  std::string_view address;    // "192.0.2.1", "2001:db8::1"
};

/// a=<name>[:<value>] (RFC 8866 §5.13). `value` is "" for a property attribute such as
/// "a=rtcp-mux".
struct Attribute {
  std::string_view name;
  std::string_view value;
};

/// a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>] (RFC 8866 §6.6).
struct RtpMap {
  std::uint32_t payload = 0;  // 0-127
  std::string_view encoding;  // "PCMA", "opus", "telephone-event"
  std::uint32_t clock_rate = 0;
  std::uint32_t channels = 1;  // the encoding parameter of audio; 1 when absent
  std::string_view text;       // the whole value, "96 opus/48000/2"
};

/// a=fmtp:<format> <format specific parameters> (RFC 8866 §6.15).
struct Fmtp {
  std::string_view format;      // "101"
  std::string_view parameters;  // "0-16"; "" when none
};

/// a=crypto:<tag> <crypto-suite> <key-params> [<session-params>] (RFC 4568 §9.1).
struct Crypto {
  std::string_view tag;     // "1"
  std::string_view suite;   // "AES_CM_128_HMAC_SHA1_80"
  std::string_view params;  // "inline:...", with any session parameters after it
};

/// One m= section: the m= line and the c= and a= lines that follow it.
struct Media {
  std::string_view type;                  // "audio", "video", "image", ...
  std::uint32_t port = 0;                 // 0: the stream is disabled or rejected
  std::uint32_t port_count = 1;           // "49170/2" gives 2
  std::string_view protocol;              // "RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF", "udptl" ...
  std::vector<std::string_view> formats;  // payload numbers for RTP, as written, at least one
  std::optional<Connection> connection;   // the media-level c=, if any
  std::vector<Attribute> attributes;      // every a= line of the section, in order
  std::vector<RtpMap> rtpmaps;            // the well-formed a=rtpmap lines, in order
  std::vector<Fmtp> fmtps;                // the a=fmtp lines, in order
  std::vector<Crypto> cryptos;            // the well-formed a=crypto lines, in order
  Direction direction = Direction::SendRecv;  // this section's, else the session's, else sendrecv

  /// The first rtpmap for `payload`, or nullptr.
  const RtpMap* rtpmap(std::uint32_t payload) const;
  /// The value of the first attribute called `name` ("" for a property attribute), or
  /// std::nullopt when there is none.
  std::optional<std::string_view> attribute(std::string_view name) const;
};

/// A parsed session description. Every view points into the text given to parse_sdp(), which
/// must outlive the Session.
struct Session {
  Origin origin;
  std::string_view name;                      // s=, "" when absent
  std::optional<Connection> connection;       // the session-level c=, if any
  std::vector<Attribute> attributes;          // session-level a= lines, in order
  std::vector<std::string_view> times;        // the t= and r= lines as written, "t=0 0"
  Direction direction = Direction::SendRecv;  // the session-level direction attribute
  std::vector<Media> media;                   // in order; at most kMaxMediaLines
};

/// Limits of parse_sdp(): more media lines or bytes are refused with 488.
inline constexpr std::size_t kMaxMediaLines = 64;
inline constexpr std::size_t kMaxSdpSize = 64 * 1024;

/// Parses a session description (RFC 8866). Lines end in CRLF or a bare LF; blank lines may
/// follow the last one. Unknown line types (i=, u=, b=, k=, ...) and unknown attributes are
/// skipped, as are malformed rtpmap and crypto attributes (they stay in `attributes`).
/// Refused with status 488 and a reason naming the fault, e.g. "Bad SDP: first line is not v=0",
/// "Bad SDP: line is not <letter>=<value>", "Bad SDP: NUL or CR inside a line",
/// "Bad SDP: no o= line", "Bad SDP: o= needs 6 fields", "Bad SDP: c= needs 3 fields",
/// "Bad SDP: m= port is not a number", "Bad SDP: m= needs media, port, protocol and formats",
/// "Bad SDP: more than 64 m= lines", "Bad SDP: over 64 KiB". Work is linear in the text.
sip::Result<Session> parse_sdp(std::string_view text);

/// The numbers that make an answer's o= line unique and ordered (RFC 8866 §5.2, RFC 3264 §8).
struct AnswerOptions {
  std::uint64_t session_id = 0;
  std::uint64_t version = 0;
};

/// Builds the answer to `offer` on behalf of the phone that sent `other_offer` (RFC 3264 §6), so
/// that the offerer sends its media to that phone: one m= line for each offered one, in order.
/// An offered m= line is paired with the first m= line of `other_offer` not yet paired that has
/// the same media type, a compatible protocol (RTP/AVP with RTP/AVPF, RTP/SAVP with RTP/SAVPF,
/// others only with themselves), a port other than 0 and a connection address. A paired line
/// takes the other line's port and c= (its own, else the session's) and the codecs both list,
/// in the offer's order with the offer's payload numbers, rtpmap and fmtp lines. Codecs match by
/// encoding name (case-insensitive), clock rate and channels, or for static payloads 0-95 without
/// rtpmap by the RFC 3551 name or else by number; telephone-event and CN alone are no codec in
/// common. The answer's direction is what both sides allow (offer sendrecv, other sendonly:
/// sendonly); ptime, maxptime and rtcp come from the other line, rtcp-mux when both have it, and
/// for RTP/SAVP the SDES crypto suite (RFC 4568) both offered that ranks first in a fixed order
/// (so the answers built for the two phones agree), with the other phone's key under the
/// offer's tag. An offered line with port 0, without a pair, without a codec or suite in
/// common, or with DTLS-SRTP (UDP/TLS/RTP/SAVP[F], whose setup roles this cannot choose) is
/// rejected: port 0 and its first format (and "c=IN IP4 0.0.0.0" or "c=IN IP6 ::" when the
/// answer has no session c=). Origin: "catchline", the options' id and version, the
/// other offer's address; "s=-", "t=0 0", the other's session c= if it has one; CRLF line ends.
/// Returns the parse error of `offer` or `other_offer` when either does not parse; an answer
/// that rejects every line is still returned (see accepts_any_media()).
sip::Result<std::string> answer_from(std::string_view offer, std::string_view other_offer,
                                     const AnswerOptions& options);

/// True when `answer` parses and has an m= line with a port other than 0, i.e. some media was
/// in common; false otherwise, so the server can refuse with 488 instead.
bool accepts_any_media(std::string_view answer);

}  // namespace catchline::media
