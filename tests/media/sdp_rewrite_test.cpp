#include "media/sdp_rewrite.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace catchline::media {
namespace {

// Joins lines into a session description with CRLF line ends.
std::string sdp(std::initializer_list<std::string_view> lines) {
  std::string text;
  for (std::string_view line : lines) {
    text += line;
    text += "\r\n";
  }
  return text;
}

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    std::size_t end = text.find("\r\n");
    EXPECT_NE(end, std::string_view::npos) << "a line without CRLF: " << text;
    if (end == std::string_view::npos) {
      break;
    }
    lines.emplace_back(text.substr(0, end));
    text.remove_prefix(end + 2);
  }
  return lines;
}

bool has_line(std::string_view text, std::string_view line) {
  for (const std::string& l : lines_of(text)) {
    if (l == line) {
      return true;
    }
  }
  return false;
}

// A Yealink T4x offer: static codecs, G.729 without annex B, DTMF events, no a=rtcp.
const std::string kYealink = sdp({
    "v=0",
    "o=- 20025 20025 IN IP4 10.0.1.50",
    "s=SDP data",
    "c=IN IP4 10.0.1.50",
    "t=0 0",
    "m=audio 11788 RTP/AVP 0 8 18 9 101",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:18 G729/8000",
    "a=fmtp:18 annexb=no",
    "a=rtpmap:9 G722/8000",
    "a=fmtp:101 0-15",
    "a=rtpmap:101 telephone-event/8000",
    "a=ptime:20",
    "a=sendrecv",
});

// A baresip 1.0 offer: opus first, rtcp-mux, SSRC and label attributes.
const std::string kBaresip = sdp({
    "v=0",
    "o=- 1658404651 2006474929 IN IP4 192.168.1.23",
    "s=-",
    "c=IN IP4 192.168.1.23",
    "t=0 0",
    "m=audio 11040 RTP/AVP 96 9 0 8 101",
    "b=AS:128",
    "a=rtpmap:96 opus/48000/2",
    "a=fmtp:96 stereo=1;sprop-stereo=1",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-15",
    "a=sendrecv",
    "a=label:1",
    "a=ssrc:1386578282 cname:7a5f1e40-3f7c-4b4a-9a9c-51a0d9a36e2d",
    "a=rtcp-rsize",
    "a=rtcp-mux",
    "a=ptime:20",
});

// A Polycom VVX offer with SDES-SRTP: the session-level direction before m=, two crypto lines.
const std::string kPolycomSrtp = sdp({
    "v=0",
    "o=- 1656067418 1656067418 IN IP4 10.0.1.60",
    "s=Polycom IP Phone",
    "c=IN IP4 10.0.1.60",
    "t=0 0",
    "a=sendrecv",
    "m=audio 2222 RTP/SAVP 9 102 0 8 18 127",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:102 G7221/16000",
    "a=fmtp:102 bitrate=32000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:18 G729/8000",
    "a=fmtp:18 annexb=no",
    "a=rtpmap:127 telephone-event/8000",
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:MTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5QUJjZGVm|2^31|1:1",
    "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:QUJjZGVmMTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5|2^31|1:1",
});

// baresip over IPv6 with an explicit RTCP port and address (RFC 3605).
const std::string kIpv6 = sdp({
    "v=0",
    "o=- 1 2 IN IP6 2001:db8::10",
    "s=-",
    "c=IN IP6 2001:db8::10",
    "t=0 0",
    "m=audio 5004 RTP/AVP 0 101",
    "a=rtpmap:101 telephone-event/8000",
    "a=rtcp:5005 IN IP6 2001:db8::10",
});

const RelayEndpoint kRelay4{"203.0.113.5", {{20000, 20001, true}, {20002, 20003, true}}};
const RelayEndpoint kRelay6{"2001:db8::5", {{30000, 30001, true}}};

std::string rewrite(std::string_view text, const RelayEndpoint& relay = kRelay4) {
  LegOrigin origin(77, 1);
  auto out = rewrite_for_relay(text, relay, origin);
  EXPECT_TRUE(out) << (out ? "" : out.error().reason);
  return out ? *out : std::string();
}

// --- rewrite_for_relay ------------------------------------------------------------------------

TEST(SdpRewrite, PointsSessionConnectionAndPortAtRelay) {
  std::string out = rewrite(kYealink);
  EXPECT_TRUE(has_line(out, "c=IN IP4 203.0.113.5"));
  EXPECT_TRUE(has_line(out, "m=audio 20000 RTP/AVP 0 8 18 9 101"));
  EXPECT_EQ(out.find("10.0.1.50"), std::string::npos) << out;
}

TEST(SdpRewrite, WritesOriginOfTheLegWithRelayAddress) {
  std::string out = rewrite(kYealink);
  EXPECT_EQ(lines_of(out)[0], "v=0");
  EXPECT_EQ(lines_of(out)[1], "o=catchline 77 1 IN IP4 203.0.113.5");
}

TEST(SdpRewrite, KeepsEveryOtherLineAsWrittenAndInOrder) {
  std::string out = rewrite(kPolycomSrtp);
  std::vector<std::string> in_lines = lines_of(kPolycomSrtp);
  std::vector<std::string> out_lines = lines_of(out);
  ASSERT_EQ(in_lines.size(), out_lines.size());
  for (std::size_t i = 0; i < in_lines.size(); ++i) {
    char type = in_lines[i][0];
    if (type != 'o' && type != 'c' && type != 'm') {
      EXPECT_EQ(out_lines[i], in_lines[i]);
    }
  }
  EXPECT_TRUE(has_line(out, "m=audio 20000 RTP/SAVP 9 102 0 8 18 127"));
}

TEST(SdpRewrite, KeepsRtcpMuxWhenRelayMultiplexes) {
  std::string out = rewrite(kBaresip);
  EXPECT_TRUE(has_line(out, "a=rtcp-mux"));
  EXPECT_TRUE(has_line(out, "a=rtcp-rsize"));
  EXPECT_TRUE(has_line(out, "a=ssrc:1386578282 cname:7a5f1e40-3f7c-4b4a-9a9c-51a0d9a36e2d"));
}

TEST(SdpRewrite, RemovesRtcpMuxWhenRelayCannotMultiplex) {
  RelayEndpoint relay{"203.0.113.5", {{20000, 20001, false}}};
  std::string out = rewrite(kBaresip, relay);
  EXPECT_FALSE(has_line(out, "a=rtcp-mux"));
}

TEST(SdpRewrite, AddsNoRtcpAttributeWhenRtcpIsNextPort) {
  std::string out = rewrite(kYealink);
  EXPECT_EQ(out.find("a=rtcp:"), std::string::npos) << out;
}

TEST(SdpRewrite, AddsRtcpAttributeWhenRelayRtcpIsElsewhere) {
  RelayEndpoint relay{"203.0.113.5", {{20000, 20101, true}}};
  std::string out = rewrite(kYealink, relay);
  std::vector<std::string> lines = lines_of(out);
  EXPECT_EQ(lines.back(), "a=rtcp:20101");
}

TEST(SdpRewrite, RewritesRtcpPortAndAddressToRelayInIpv6) {
  std::string out = rewrite(kIpv6, kRelay6);
  EXPECT_TRUE(has_line(out, "o=catchline 77 1 IN IP6 2001:db8::5"));
  EXPECT_TRUE(has_line(out, "c=IN IP6 2001:db8::5"));
  EXPECT_TRUE(has_line(out, "m=audio 30000 RTP/AVP 0 101"));
  EXPECT_TRUE(has_line(out, "a=rtcp:30001 IN IP6 2001:db8::5"));
  EXPECT_EQ(out.find("2001:db8::10"), std::string::npos) << out;
}

TEST(SdpRewrite, WritesIpv4ForIpv6PhoneBehindIpv4Relay) {
  std::string out = rewrite(kIpv6, kRelay4);
  EXPECT_TRUE(has_line(out, "c=IN IP4 203.0.113.5"));
  EXPECT_TRUE(has_line(out, "a=rtcp:20001 IN IP4 203.0.113.5"));
}

TEST(SdpRewrite, RtcpOnRtpPortMeansMultiplexedOnly) {
  std::string offer = sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0",
                           "m=audio 4000 RTP/AVP 0", "a=rtcp:4000", "a=rtcp-mux"});
  std::string out = rewrite(offer);
  EXPECT_TRUE(has_line(out, "a=rtcp:20000"));
}

TEST(SdpRewrite, RtcpOnRtpPortWithoutMuxGetsRelayRtcpPort) {
  std::string offer = sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0",
                           "m=audio 4000 RTP/AVP 0", "a=rtcp:4000", "a=rtcp-mux"});
  RelayEndpoint relay{"203.0.113.5", {{20000, 20001, false}}};
  std::string out = rewrite(offer, relay);
  EXPECT_TRUE(has_line(out, "a=rtcp:20001"));
  EXPECT_FALSE(has_line(out, "a=rtcp-mux"));
}

TEST(SdpRewrite, LeavesPortZeroLineAsItIs) {
  std::string offer =
      sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0",
           "m=video 0 RTP/AVP 96", "a=rtpmap:96 H264/90000", "m=audio 4000 RTP/AVP 8"});
  std::string out = rewrite(offer);
  EXPECT_TRUE(has_line(out, "m=video 0 RTP/AVP 96"));
  EXPECT_TRUE(has_line(out, "a=rtpmap:96 H264/90000"));
  // The second m= line takes the second relay ports.
  EXPECT_TRUE(has_line(out, "m=audio 20002 RTP/AVP 8"));
}

TEST(SdpRewrite, TurnsOffLineTheRelayDoesNotCarry) {
  std::string offer = sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0",
                           "m=audio 4000 RTP/AVP 8", "m=message 5000 TCP/MSRP *"});
  RelayEndpoint relay{"203.0.113.5", {{20000, 20001, true}, {0, 0, true}}};
  std::string out = rewrite(offer, relay);
  EXPECT_TRUE(has_line(out, "m=message 0 TCP/MSRP *"));
  EXPECT_FALSE(has_line(out, "a=rtcp:0"));
}

TEST(SdpRewrite, RewritesMediaLevelConnectionAndDropsMulticastLayers) {
  std::string offer =
      sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "t=0 0", "m=audio 4000 RTP/AVP 0",
           "c=IN IP4 10.0.0.8", "c=IN IP4 10.0.0.9", "a=sendrecv"});
  std::string out = rewrite(offer);
  std::vector<std::string> lines = lines_of(out);
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[4], "m=audio 20000 RTP/AVP 0");
  EXPECT_EQ(lines[5], "c=IN IP4 203.0.113.5");
  EXPECT_EQ(lines[6], "a=sendrecv");
}

TEST(SdpRewrite, AddsConnectionToActiveLineThatHasNone) {
  std::string offer =
      sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "t=0 0", "m=audio 4000 RTP/AVP 0"});
  std::string out = rewrite(offer);
  std::vector<std::string> lines = lines_of(out);
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[5], "c=IN IP4 203.0.113.5");
}

TEST(SdpRewrite, DropsPortCount) {
  std::string offer = sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0",
                           "m=video 4000/2 RTP/AVP 31"});
  EXPECT_TRUE(has_line(rewrite(offer), "m=video 20000 RTP/AVP 31"));
}

TEST(SdpRewrite, KeepsHoldDirection) {
  std::string offer =
      sdp({"v=0", "o=- 20025 20026 IN IP4 10.0.1.50", "s=SDP data", "c=IN IP4 10.0.1.50", "t=0 0",
           "m=audio 11788 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", "a=sendonly"});
  std::string out = rewrite(offer);
  EXPECT_TRUE(has_line(out, "a=sendonly"));
  EXPECT_TRUE(has_line(out, "c=IN IP4 203.0.113.5"));
}

TEST(SdpRewrite, KeepsUnspecifiedAddressOfRfc2543Hold) {
  std::string offer = sdp({"v=0", "o=- 20025 20026 IN IP4 10.0.1.50", "s=SDP data",
                           "c=IN IP4 0.0.0.0", "t=0 0", "m=audio 11788 RTP/AVP 0"});
  std::string out = rewrite(offer);
  EXPECT_TRUE(has_line(out, "c=IN IP4 0.0.0.0"));
  EXPECT_TRUE(has_line(out, "m=audio 20000 RTP/AVP 0"));
}

TEST(SdpRewrite, RemovesIceAttributes) {
  std::string offer = sdp({
      "v=0",
      "o=- 1 1 IN IP4 192.168.1.23",
      "s=-",
      "c=IN IP4 192.168.1.23",
      "t=0 0",
      "a=ice-lite",
      "m=audio 11040 RTP/AVP 0",
      "a=ice-ufrag:Hs4D",
      "a=ice-pwd:8fa1c5e0b3d94f2a6c7e1d20",
      "a=candidate:1 1 UDP 2130706431 192.168.1.23 11040 typ host",
      "a=candidate:2 1 UDP 1694498815 198.51.100.9 40100 typ srflx raddr 192.168.1.23 rport 11040",
      "a=end-of-candidates",
      "a=sendrecv",
  });
  std::string out = rewrite(offer);
  EXPECT_EQ(out.find("ice-"), std::string::npos) << out;
  EXPECT_EQ(out.find("candidate"), std::string::npos) << out;
  EXPECT_EQ(out.find("192.168.1.23"), std::string::npos) << out;
  EXPECT_TRUE(has_line(out, "a=sendrecv"));
}

TEST(SdpRewrite, OutputParsesAndReadsAsTheRelay) {
  std::string out = rewrite(kBaresip);
  auto streams = read_leg_streams(out);
  ASSERT_TRUE(streams) << streams.error().reason;
  ASSERT_EQ(streams->size(), 1u);
  EXPECT_EQ((*streams)[0].address, "203.0.113.5");
  EXPECT_EQ((*streams)[0].rtp_port, 20000);
  EXPECT_EQ((*streams)[0].rtcp_port, 20001);
  EXPECT_TRUE((*streams)[0].rtcp_mux);
}

TEST(SdpRewrite, AcceptsBareLineFeeds) {
  std::string lf = kYealink;
  for (std::size_t at = lf.find("\r\n"); at != std::string::npos; at = lf.find("\r\n", at)) {
    lf.erase(at, 1);
  }
  EXPECT_EQ(rewrite(lf), rewrite(kYealink));
}

TEST(SdpRewriteOrigin, KeepsVersionWhenSentAgainUnchanged) {
  LegOrigin origin(9, 100);
  auto first = rewrite_for_relay(kYealink, kRelay4, origin);
  auto again = rewrite_for_relay(kYealink, kRelay4, origin);
  ASSERT_TRUE(first && again);
  EXPECT_EQ(*first, *again);
  EXPECT_EQ(origin.version(), 100u);
}

TEST(SdpRewriteOrigin, RaisesVersionByOneOnEveryChange) {
  LegOrigin origin(9, 100);
  ASSERT_TRUE(rewrite_for_relay(kYealink, kRelay4, origin));
  std::string hold = kYealink;
  hold.replace(hold.find("a=sendrecv"), 10, "a=sendonly");
  auto held = rewrite_for_relay(hold, kRelay4, origin);
  ASSERT_TRUE(held);
  EXPECT_TRUE(has_line(*held, "o=catchline 9 101 IN IP4 203.0.113.5"));
  auto resumed = rewrite_for_relay(kYealink, kRelay4, origin);
  ASSERT_TRUE(resumed);
  EXPECT_TRUE(has_line(*resumed, "o=catchline 9 102 IN IP4 203.0.113.5"));
}

TEST(SdpRewriteOrigin, RaisesVersionWhenLegIsBridgedToAnotherPhone) {
  // A pickup or transfer re-bridges the leg: same origin, another phone's description.
  LegOrigin origin(9, 100);
  ASSERT_TRUE(rewrite_for_relay(kYealink, kRelay4, origin));
  auto other = rewrite_for_relay(kBaresip, kRelay4, origin);
  ASSERT_TRUE(other);
  EXPECT_TRUE(has_line(*other, "o=catchline 9 101 IN IP4 203.0.113.5"));
}

TEST(SdpRewriteOrigin, IgnoresThePhonesOwnOriginVersion) {
  // The phone raising its version without another change changes nothing for the other leg.
  LegOrigin origin(9, 100);
  ASSERT_TRUE(rewrite_for_relay(kYealink, kRelay4, origin));
  std::string bumped = kYealink;
  bumped.replace(bumped.find("20025 20025"), 11, "20025 20026");
  ASSERT_TRUE(rewrite_for_relay(bumped, kRelay4, origin));
  EXPECT_EQ(origin.version(), 100u);
}

TEST(SdpRewriteOrigin, RaisesVersionWhenRelayAddressChanges) {
  LegOrigin origin(9, 100);
  ASSERT_TRUE(rewrite_for_relay(kYealink, kRelay4, origin));
  RelayEndpoint moved{"203.0.113.6", kRelay4.ports};
  ASSERT_TRUE(rewrite_for_relay(kYealink, moved, origin));
  EXPECT_EQ(origin.version(), 101u);
}

TEST(SdpRewriteErrors, RefusesTooFewRelayPorts) {
  std::string offer = sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0",
                           "m=audio 4000 RTP/AVP 0", "m=video 4002 RTP/AVP 31"});
  LegOrigin origin(9, 100);
  RelayEndpoint relay{"203.0.113.5", {{20000, 20001, true}}};
  auto out = rewrite_for_relay(offer, relay, origin);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().status, 500);
  EXPECT_EQ(out.error().reason, "Relay: ports for 1 of 2 m= lines");
}

TEST(SdpRewriteErrors, RefusesRelayWithoutAddress) {
  LegOrigin origin(9, 100);
  auto out = rewrite_for_relay(kYealink, RelayEndpoint{"", {{20000, 20001, true}}}, origin);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().reason, "Relay: no address");
}

TEST(SdpRewriteErrors, ReturnsParseErrorAndLeavesOriginAlone) {
  LegOrigin origin(9, 100);
  ASSERT_TRUE(rewrite_for_relay(kYealink, kRelay4, origin));
  auto out = rewrite_for_relay("v=1\r\n", kRelay4, origin);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().status, 488);
  EXPECT_EQ(out.error().reason, "Bad SDP: first line is not v=0");
  auto again = rewrite_for_relay(kYealink, kRelay4, origin);
  ASSERT_TRUE(again);
  EXPECT_EQ(origin.version(), 100u);
}

// --- read_leg_streams -------------------------------------------------------------------------

LegStream only_stream(std::string_view text) {
  auto streams = read_leg_streams(text);
  EXPECT_TRUE(streams) << (streams ? "" : streams.error().reason);
  if (!streams || streams->size() != 1) {
    ADD_FAILURE() << "expected one stream";
    return LegStream{};
  }
  return (*streams)[0];
}

TEST(LegStreams, ReadsAddressPortsAndDirectionOfYealink) {
  LegStream s = only_stream(kYealink);
  EXPECT_EQ(s.type, "audio");
  EXPECT_EQ(s.protocol, "RTP/AVP");
  EXPECT_TRUE(s.active);
  EXPECT_EQ(s.address, "10.0.1.50");
  EXPECT_FALSE(s.ipv6);
  EXPECT_EQ(s.rtp_port, 11788);
  EXPECT_EQ(s.rtcp_address, "10.0.1.50");
  EXPECT_EQ(s.rtcp_port, 11789);
  EXPECT_FALSE(s.rtcp_mux);
  EXPECT_EQ(s.direction, Direction::SendRecv);
  EXPECT_FALSE(s.on_hold);
}

TEST(LegStreams, ReadsRtcpMuxOfBaresip) { EXPECT_TRUE(only_stream(kBaresip).rtcp_mux); }

TEST(LegStreams, ReadsRtcpAttributeWithIpv6Address) {
  std::string offer = kIpv6;
  const std::string_view rtcp = "a=rtcp:5005 IN IP6 2001:db8::10";
  offer.replace(offer.find(rtcp), rtcp.size(), "a=rtcp:6000 IN IP6 2001:db8::11");
  LegStream s = only_stream(offer);
  EXPECT_TRUE(s.ipv6);
  EXPECT_EQ(s.address, "2001:db8::10");
  EXPECT_EQ(s.rtcp_port, 6000);
  EXPECT_EQ(s.rtcp_address, "2001:db8::11");
}

TEST(LegStreams, IgnoresRtcpAttributeWithoutNumber) {
  std::string offer = sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0",
                           "m=audio 4000 RTP/AVP 0", "a=rtcp:port"});
  EXPECT_EQ(only_stream(offer).rtcp_port, 4001);
}

TEST(LegStreams, MediaConnectionOverridesSessionConnection) {
  std::string offer = sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0",
                           "m=audio 4000 RTP/AVP 0", "c=IN IP4 10.0.0.8"});
  EXPECT_EQ(only_stream(offer).address, "10.0.0.8");
}

struct HoldCase {
  const char* direction_line;  // "" for none
  const char* connection;
  bool on_hold;
};

class LegStreamsHold : public ::testing::TestWithParam<HoldCase> {};

TEST_P(LegStreamsHold, TellsHoldFromDirectionAndAddress) {
  const HoldCase& c = GetParam();
  std::string offer = "v=0\r\no=- 1 2 IN IP4 10.0.0.7\r\ns=-\r\nc=IN IP4 " +
                      std::string(c.connection) + "\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
  if (*c.direction_line != '\0') {
    offer += std::string(c.direction_line) + "\r\n";
  }
  EXPECT_EQ(only_stream(offer).on_hold, c.on_hold) << c.direction_line << " " << c.connection;
}

INSTANTIATE_TEST_SUITE_P(Rfc3264, LegStreamsHold,
                         ::testing::Values(HoldCase{"", "10.0.0.7", false},
                                           HoldCase{"a=sendrecv", "10.0.0.7", false},
                                           HoldCase{"a=recvonly", "10.0.0.7", false},
                                           HoldCase{"a=sendonly", "10.0.0.7", true},
                                           HoldCase{"a=inactive", "10.0.0.7", true},
                                           HoldCase{"", "0.0.0.0", true},
                                           HoldCase{"a=sendrecv", "0.0.0.0", true}));

TEST(LegStreams, SessionLevelSendonlyHoldsEveryLine) {
  std::string offer = sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0",
                           "a=sendonly", "m=audio 4000 RTP/AVP 0", "m=video 4002 RTP/AVP 31"});
  auto streams = read_leg_streams(offer);
  ASSERT_TRUE(streams);
  ASSERT_EQ(streams->size(), 2u);
  EXPECT_TRUE((*streams)[0].on_hold);
  EXPECT_TRUE((*streams)[1].on_hold);
  EXPECT_EQ((*streams)[1].direction, Direction::SendOnly);
}

TEST(LegStreams, IpV6UnspecifiedAddressIsHold) {
  std::string offer = sdp({"v=0", "o=- 1 1 IN IP6 2001:db8::10", "s=-", "c=IN IP6 ::", "t=0 0",
                           "m=audio 4000 RTP/AVP 0"});
  LegStream s = only_stream(offer);
  EXPECT_TRUE(s.on_hold);
  EXPECT_TRUE(s.ipv6);
}

TEST(LegStreams, PortZeroLineIsNotActive) {
  std::string offer = sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0",
                           "m=video 0 RTP/AVP 31"});
  LegStream s = only_stream(offer);
  EXPECT_FALSE(s.active);
  EXPECT_EQ(s.rtp_port, 0);
  EXPECT_EQ(s.rtcp_port, 0);
}

TEST(LegStreams, LineWithoutAnyAddressIsNotActive) {
  std::string offer =
      sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "t=0 0", "m=audio 4000 RTP/AVP 0"});
  LegStream s = only_stream(offer);
  EXPECT_FALSE(s.active);
  EXPECT_EQ(s.address, "");
}

TEST(LegStreams, FirstG711FormatInThePhonesOrder) {
  // baresip: opus, G.722, then PCMU (static 0, no rtpmap) before PCMA.
  LegStream baresip = only_stream(kBaresip);
  ASSERT_TRUE(baresip.g711);
  EXPECT_FALSE(baresip.g711->alaw);
  EXPECT_EQ(baresip.g711->payload, 0);
  // A dynamic payload type mapped to PCMA comes first here.
  std::string offer = sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0",
                           "m=audio 4000 RTP/AVP 9 98 0", "a=rtpmap:98 pcma/8000"});
  LegStream dynamic = only_stream(offer);
  ASSERT_TRUE(dynamic.g711);
  EXPECT_TRUE(dynamic.g711->alaw);
  EXPECT_EQ(dynamic.g711->payload, 98);
  // Payload 0 remapped to another codec is not G.711; nothing else is.
  offer = sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0",
               "m=audio 4000 RTP/AVP 0 9", "a=rtpmap:0 opus/48000/2"});
  EXPECT_FALSE(only_stream(offer).g711);
}

TEST(LegStreams, ReadsTelephoneEventPayloadType) {
  EXPECT_EQ(only_stream(kYealink).telephone_event, 101);
  EXPECT_EQ(only_stream(kBaresip).telephone_event, 101);
}

TEST(LegStreams, TelephoneEventOnlyAt8kHzAndListed) {
  // A wideband stream's events run at its clock (RFC 4733 §7.1.1): the 8 kHz one is taken.
  std::string offer = sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0",
                           "m=audio 4000 RTP/AVP 9 0 100 101", "a=rtpmap:100 telephone-event/16000",
                           "a=rtpmap:101 TELEPHONE-EVENT/8000"});
  EXPECT_EQ(only_stream(offer).telephone_event, 101);
  // An rtpmap of a format the m= line does not list is no offer of it.
  offer = sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0",
               "m=audio 4000 RTP/AVP 0", "a=rtpmap:101 telephone-event/8000"});
  EXPECT_FALSE(only_stream(offer).telephone_event);
  offer = sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0",
               "m=audio 4000 RTP/AVP 0 8"});
  EXPECT_FALSE(only_stream(offer).telephone_event);
}

TEST(SdpRewrite, DirectionOverrideReplacesThePhonesDirection) {
  // Hold music: the holder wrote "inactive" (session level here) and c=0.0.0.0; the held phone
  // reads "sendonly" and the relay's address, so that it plays what the relay sends.
  std::string offer = sdp({"v=0", "o=- 1 2 IN IP4 10.0.0.7", "s=-", "c=IN IP4 0.0.0.0", "t=0 0",
                           "a=inactive", "m=audio 4000 RTP/AVP 0", "a=rtpmap:0 PCMU/8000"});
  RelayEndpoint relay{"203.0.113.5", {{20000, 20001, true, Direction::SendOnly}}};
  LegOrigin origin(7, 1);
  auto out = rewrite_for_relay(offer, relay, origin);
  ASSERT_TRUE(out) << out.error().reason;
  EXPECT_TRUE(has_line(*out, "a=sendonly")) << *out;
  EXPECT_FALSE(has_line(*out, "a=inactive") && out->find("m=audio") < out->find("a=inactive"))
      << *out;
  EXPECT_TRUE(has_line(*out, "c=IN IP4 203.0.113.5")) << *out;
  auto streams = read_leg_streams(*out);
  ASSERT_TRUE(streams);
  EXPECT_EQ((*streams)[0].direction, Direction::SendOnly);
  EXPECT_EQ((*streams)[0].address, "203.0.113.5");

  // Without an override the phone's direction and hold address pass unchanged.
  relay.ports[0].direction.reset();
  out = rewrite_for_relay(offer, relay, origin);
  ASSERT_TRUE(out);
  EXPECT_TRUE(has_line(*out, "c=IN IP4 0.0.0.0")) << *out;
  EXPECT_EQ((*read_leg_streams(*out))[0].direction, Direction::Inactive);
}

TEST(SdpRewrite, DirectionOverrideAtMediaLevel) {
  std::string answer = sdp({"v=0", "o=- 1 2 IN IP4 10.0.0.7", "s=-", "c=IN IP4 10.0.0.7", "t=0 0",
                            "m=audio 4000 RTP/AVP 0", "a=recvonly", "a=ptime:20"});
  RelayEndpoint relay{"203.0.113.5", {{20000, 20001, true, Direction::Inactive}}};
  LegOrigin origin(7, 1);
  auto out = rewrite_for_relay(answer, relay, origin);
  ASSERT_TRUE(out) << out.error().reason;
  EXPECT_FALSE(has_line(*out, "a=recvonly")) << *out;
  EXPECT_TRUE(has_line(*out, "a=inactive")) << *out;
  EXPECT_TRUE(has_line(*out, "a=ptime:20")) << *out;
}

TEST(LegStreams, ReturnsParseError) {
  auto streams = read_leg_streams("v=0\r\ns=-\r\n");
  ASSERT_FALSE(streams);
  EXPECT_EQ(streams.error().status, 488);
  EXPECT_EQ(streams.error().reason, "Bad SDP: no o= line");
}

}  // namespace
}  // namespace catchline::media
