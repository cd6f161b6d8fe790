#pragma once

#include <cstddef>
#include <string_view>

/// The messages the benchmarks parse and answer: what a desk phone sends and receives when it
/// places a call through the server. Addresses and names come from the documentation ranges
/// (RFC 5737, RFC 6761) so that nothing here points at a real host.
namespace catchline::bench::fixtures {

/// A typical INVITE from a desk phone: one Via with branch and rport (RFC 3581), a display
/// name and tag in From, Contact, Allow, Supported, User-Agent and an SDP offer with one audio
/// m-line and a few codecs (RFC 4566). About 900 bytes, as phones send them.
inline constexpr std::string_view kInviteWithSdp =
    "INVITE sip:1002@pbx.example.test SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---7a3f1c2d4e5b6a79;rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: \"Alice Example\" <sip:1001@pbx.example.test>;tag=9fxced76sl\r\n"
    "To: <sip:1002@pbx.example.test>\r\n"
    "Call-ID: 3848276298220188511@192.0.2.10\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:1001@192.0.2.10:5060;transport=udp>\r\n"
    "Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, OPTIONS, UPDATE, PRACK, INFO, SUBSCRIBE, "
    "MESSAGE\r\n"
    "Supported: replaces, timer, 100rel\r\n"
    "User-Agent: ExamplePhone T46 66.86.0.15\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 346\r\n"
    "\r\n"
    "v=0\r\n"
    "o=- 20518 0 IN IP4 192.0.2.10\r\n"
    "s=SDP data\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "m=audio 11424 RTP/AVP 9 0 8 18 101\r\n"
    "a=rtpmap:9 G722/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:18 G729/8000\r\n"
    "a=fmtp:18 annexb=no\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n"
    "a=rtcp:11425 IN IP4 192.0.2.10\r\n"
    "a=maxptime:150\r\n";

/// The values a parser must find in kInviteWithSdp; the benchmarks check them once before
/// timing, so that a parser that fails fast is never measured as a fast parser.
inline constexpr std::string_view kInviteCallId = "3848276298220188511@192.0.2.10";
inline constexpr std::string_view kInviteBranch = "z9hG4bK-524287-1---7a3f1c2d4e5b6a79";
inline constexpr std::string_view kInviteFromTag = "9fxced76sl";
inline constexpr unsigned kInviteCSeq = 1;

/// The callee's 180 Ringing to that INVITE as it reaches the server: the Via answered with
/// received and rport (RFC 3581 §4), a To tag, Contact, Allow, Supported, Server, no body.
inline constexpr std::string_view kRinging =
    "SIP/2.0 180 Ringing\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---7a3f1c2d4e5b6a79;rport=5060;"
    "received=192.0.2.10\r\n"
    "From: \"Alice Example\" <sip:1001@pbx.example.test>;tag=9fxced76sl\r\n"
    "To: <sip:1002@pbx.example.test>;tag=8321234356\r\n"
    "Call-ID: 3848276298220188511@192.0.2.10\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:1002@192.0.2.20:5060;transport=udp>\r\n"
    "Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, OPTIONS, UPDATE, PRACK, INFO, SUBSCRIBE, "
    "MESSAGE\r\n"
    "Supported: replaces, timer\r\n"
    "Server: ExamplePhone T46 66.86.0.15\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

/// The To tag a parser must find in kRinging (other fields as in the INVITE).
inline constexpr std::string_view kRingingToTag = "8321234356";

/// True when the Content-Length header of `message` equals the size of its body: the fixtures
/// are checked at compile time, so an edit that breaks one fails the build, not the benchmark.
constexpr bool content_length_matches(std::string_view message) {
  constexpr std::string_view kName = "\r\nContent-Length: ";
  const std::size_t header = message.find(kName);
  const std::size_t blank_line = message.find("\r\n\r\n");
  if (header == std::string_view::npos || blank_line == std::string_view::npos) {
    return false;
  }
  std::size_t declared = 0;
  for (std::size_t i = header + kName.size(); i < message.size() && message[i] != '\r'; ++i) {
    if (message[i] < '0' || message[i] > '9') {
      return false;
    }
    declared = declared * 10 + static_cast<std::size_t>(message[i] - '0');
  }
  return declared == message.size() - (blank_line + 4);
}

static_assert(content_length_matches(kInviteWithSdp), "INVITE fixture: Content-Length != body");
static_assert(content_length_matches(kRinging), "180 fixture: Content-Length != body");
static_assert(kInviteWithSdp.size() > 850 && kInviteWithSdp.size() < 1000,
              "the INVITE fixture stands for a typical ~900-byte INVITE");

}  // namespace catchline::bench::fixtures
