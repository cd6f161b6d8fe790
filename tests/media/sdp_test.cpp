#include "media/sdp.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

namespace catchline::media {
namespace {

// Joins lines into a session description with CRLF line ends (or `end` when given).
std::string sdp(std::initializer_list<std::string_view> lines, std::string_view end = "\r\n") {
  std::string text;
  for (std::string_view line : lines) {
    text += line;
    text += end;
  }
  return text;
}

const AnswerOptions kOptions{42, 7};

// The caller: PCMU, PCMA and telephone-event 101 at 192.0.2.10:49170.
const std::string kCallerOffer = sdp({
    "v=0",
    "o=alice 2890844526 2890844526 IN IP4 192.0.2.10",
    "s=call",
    "c=IN IP4 192.0.2.10",
    "t=0 0",
    "m=audio 49170 RTP/AVP 0 8 101",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-16",
    "a=ptime:20",
    "a=sendrecv",
});

// The picker: PCMA and telephone-event 96 at 198.51.100.20:30000.
const std::string kPickerOffer = sdp({
    "v=0",
    "o=bob 1 1 IN IP4 198.51.100.20",
    "s=-",
    "c=IN IP4 198.51.100.20",
    "t=0 0",
    "m=audio 30000 RTP/AVP 8 96",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:96 telephone-event/8000",
    "a=fmtp:96 0-15",
    "a=ptime:30",
});

// An audio-only offer at 198.51.100.20:`port` listing the given m= formats and attributes.
std::string audio_offer(std::string_view formats, std::initializer_list<std::string_view> extra,
                        std::string_view port = "30000") {
  std::string text =
      sdp({"v=0", "o=- 1 1 IN IP4 198.51.100.20", "s=-", "c=IN IP4 198.51.100.20", "t=0 0"});
  text += "m=audio " + std::string(port) + " RTP/AVP " + std::string(formats) + "\r\n";
  for (std::string_view line : extra) {
    text += line;
    text += "\r\n";
  }
  return text;
}

std::string answer(std::string_view offer, std::string_view other) {
  auto built = answer_from(offer, other, kOptions);
  EXPECT_TRUE(built) << (built ? "" : built.error().reason);
  return built ? *built : std::string();
}

// --- parse_sdp --------------------------------------------------------------------------------

TEST(SdpParser, ReadsOriginNameConnectionAndTimes) {
  auto session = parse_sdp(kCallerOffer);
  ASSERT_TRUE(session) << session.error().reason;
  EXPECT_EQ(session->origin.username, "alice");
  EXPECT_EQ(session->origin.session_id, "2890844526");
  EXPECT_EQ(session->origin.version, "2890844526");
  EXPECT_EQ(session->origin.net_type, "IN");
  EXPECT_EQ(session->origin.addr_type, "IP4");
  EXPECT_EQ(session->origin.address, "192.0.2.10");
  EXPECT_EQ(session->name, "call");
  ASSERT_TRUE(session->connection);
  EXPECT_EQ(session->connection->net_type, "IN");
  EXPECT_EQ(session->connection->addr_type, "IP4");
  EXPECT_EQ(session->connection->address, "192.0.2.10");
  ASSERT_EQ(session->times.size(), 1u);
  EXPECT_EQ(session->times[0], "t=0 0");
}

TEST(SdpParser, ReadsMediaLinePortCountProtocolAndFormats) {
  auto session = parse_sdp(sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0",
                                "m=video 49170/2 RTP/AVPF 96 97", "m=image 0 udptl t38"}));
  ASSERT_TRUE(session) << session.error().reason;
  ASSERT_EQ(session->media.size(), 2u);
  const Media& video = session->media[0];
  EXPECT_EQ(video.type, "video");
  EXPECT_EQ(video.port, 49170u);
  EXPECT_EQ(video.port_count, 2u);
  EXPECT_EQ(video.protocol, "RTP/AVPF");
  ASSERT_EQ(video.formats.size(), 2u);
  EXPECT_EQ(video.formats[0], "96");
  EXPECT_EQ(video.formats[1], "97");
  const Media& image = session->media[1];
  EXPECT_EQ(image.type, "image");
  EXPECT_EQ(image.port, 0u);
  EXPECT_EQ(image.port_count, 1u);
  EXPECT_EQ(image.protocol, "udptl");
  ASSERT_EQ(image.formats.size(), 1u);
  EXPECT_EQ(image.formats[0], "t38");
}

TEST(SdpParser, ReadsRtpmapWithAndWithoutChannels) {
  auto session =
      parse_sdp(audio_offer("0 111", {"a=rtpmap:0 PCMU/8000", "a=rtpmap:111 opus/48000/2"}));
  ASSERT_TRUE(session) << session.error().reason;
  const Media& audio = session->media[0];
  ASSERT_EQ(audio.rtpmaps.size(), 2u);
  const RtpMap* pcmu = audio.rtpmap(0);
  ASSERT_NE(pcmu, nullptr);
  EXPECT_EQ(pcmu->encoding, "PCMU");
  EXPECT_EQ(pcmu->clock_rate, 8000u);
  EXPECT_EQ(pcmu->channels, 1u);
  const RtpMap* opus = audio.rtpmap(111);
  ASSERT_NE(opus, nullptr);
  EXPECT_EQ(opus->payload, 111u);
  EXPECT_EQ(opus->encoding, "opus");
  EXPECT_EQ(opus->clock_rate, 48000u);
  EXPECT_EQ(opus->channels, 2u);
  EXPECT_EQ(opus->text, "111 opus/48000/2");
  EXPECT_EQ(audio.rtpmap(8), nullptr);
}

TEST(SdpParser, SkipsMalformedRtpmapButKeepsItAsAttribute) {
  auto session = parse_sdp(audio_offer(
      "96 97 98 99", {"a=rtpmap:96 opus", "a=rtpmap:128 opus/48000", "a=rtpmap:98 opus/0",
                      "a=rtpmap:x opus/48000", "a=rtpmap:99 opus/48000/2"}));
  ASSERT_TRUE(session) << session.error().reason;
  const Media& audio = session->media[0];
  ASSERT_EQ(audio.rtpmaps.size(), 1u);
  EXPECT_EQ(audio.rtpmaps[0].payload, 99u);
  EXPECT_EQ(audio.attributes.size(), 5u);
}

TEST(SdpParser, ReadsFmtpFormatAndParameters) {
  auto session = parse_sdp(audio_offer(
      "101 111", {"a=fmtp:101 0-16", "a=fmtp:111 minptime=10; useinbandfec=1", "a=fmtp:112"}));
  ASSERT_TRUE(session) << session.error().reason;
  const Media& audio = session->media[0];
  ASSERT_EQ(audio.fmtps.size(), 3u);
  EXPECT_EQ(audio.fmtps[0].format, "101");
  EXPECT_EQ(audio.fmtps[0].parameters, "0-16");
  EXPECT_EQ(audio.fmtps[1].format, "111");
  EXPECT_EQ(audio.fmtps[1].parameters, "minptime=10; useinbandfec=1");
  EXPECT_EQ(audio.fmtps[2].format, "112");
  EXPECT_EQ(audio.fmtps[2].parameters, "");
}

TEST(SdpParser, SplitsAttributesIntoNameAndValue) {
  auto session = parse_sdp(audio_offer("0", {"a=ptime:20", "a=rtcp-mux",
                                             "a=rtcp:30001 IN IP4 "
                                             "198.51.100.20"}));
  ASSERT_TRUE(session) << session.error().reason;
  const Media& audio = session->media[0];
  ASSERT_EQ(audio.attributes.size(), 3u);
  EXPECT_EQ(audio.attributes[0].name, "ptime");
  EXPECT_EQ(audio.attributes[0].value, "20");
  EXPECT_EQ(audio.attribute("rtcp-mux"), std::optional<std::string_view>(""));
  EXPECT_EQ(audio.attribute("rtcp"), std::optional<std::string_view>("30001 IN IP4 198.51.100.20"));
  EXPECT_EQ(audio.attribute("maxptime"), std::nullopt);
}

TEST(SdpParser, DirectionDefaultsToSendRecv) {
  auto session = parse_sdp(audio_offer("0", {}));
  ASSERT_TRUE(session) << session.error().reason;
  EXPECT_EQ(session->direction, Direction::SendRecv);
  EXPECT_EQ(session->media[0].direction, Direction::SendRecv);
}

TEST(SdpParser, MediaDirectionOverridesSessionDirection) {
  auto session =
      parse_sdp(sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
                     "a=sendonly", "m=audio 4000 RTP/AVP 0", "a=inactive",
                     "m=video 4002 RTP/AVP 31", "m=audio 4004 RTP/AVP 0", "a=recvonly"}));
  ASSERT_TRUE(session) << session.error().reason;
  EXPECT_EQ(session->direction, Direction::SendOnly);
  EXPECT_EQ(session->media[0].direction, Direction::Inactive);
  EXPECT_EQ(session->media[1].direction, Direction::SendOnly);
  EXPECT_EQ(session->media[2].direction, Direction::RecvOnly);
}

TEST(SdpParser, MediaLevelConnectionBelongsToItsSection) {
  auto session =
      parse_sdp(sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0", "m=audio 4000 RTP/AVP 0",
                     "c=IN IP4 192.0.2.2", "m=video 4002 RTP/AVP 31", "c=IN IP6 2001:db8::3"}));
  ASSERT_TRUE(session) << session.error().reason;
  EXPECT_FALSE(session->connection);
  ASSERT_TRUE(session->media[0].connection);
  EXPECT_EQ(session->media[0].connection->address, "192.0.2.2");
  ASSERT_TRUE(session->media[1].connection);
  EXPECT_EQ(session->media[1].connection->addr_type, "IP6");
  EXPECT_EQ(session->media[1].connection->address, "2001:db8::3");
}

TEST(SdpParser, LeavesMulticastSuffixOutOfTheAddress) {
  auto session = parse_sdp(sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-",
                                "c=IN IP4 233.252.0.1/127/3", "t=0 0", "m=audio 4000 RTP/AVP 0"}));
  ASSERT_TRUE(session) << session.error().reason;
  EXPECT_EQ(session->connection->address, "233.252.0.1");
}

TEST(SdpParser, AcceptsBareLineFeeds) {
  std::string text = sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
                          "m=audio 4000 RTP/AVP 0", "a=rtpmap:0 PCMU/8000"},
                         "\n");
  auto session = parse_sdp(text);
  ASSERT_TRUE(session) << session.error().reason;
  EXPECT_EQ(session->origin.address, "192.0.2.1");
  ASSERT_EQ(session->media.size(), 1u);
  EXPECT_EQ(session->media[0].formats[0], "0");
  EXPECT_EQ(session->media[0].rtpmaps[0].clock_rate, 8000u);
}

TEST(SdpParser, KeepsUnknownLineTypesOutOfTheWay) {
  auto session =
      parse_sdp(sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "i=about", "u=http://example.com/",
                     "e=a@example.com", "b=AS:64", "t=0 0", "r=7d 1h 0 25h", "z=2882844526 -1h",
                     "k=prompt", "x=future", "a=tool:phone", "m=audio 4000 RTP/AVP 0", "i=voice",
                     "b=TIAS:64000", "y=whatever", "a=x-custom:1"}));
  ASSERT_TRUE(session) << session.error().reason;
  ASSERT_EQ(session->times.size(), 2u);
  EXPECT_EQ(session->times[1], "r=7d 1h 0 25h");
  ASSERT_EQ(session->attributes.size(), 1u);
  EXPECT_EQ(session->attributes[0].name, "tool");
  ASSERT_EQ(session->media.size(), 1u);
  ASSERT_EQ(session->media[0].attributes.size(), 1u);
  EXPECT_EQ(session->media[0].attributes[0].value, "1");
}

TEST(SdpParser, ViewsPointIntoTheText) {
  auto session = parse_sdp(kCallerOffer);
  ASSERT_TRUE(session);
  const char* begin = kCallerOffer.data();
  const char* end = begin + kCallerOffer.size();
  for (std::string_view part :
       {session->origin.address, session->name, session->media[0].formats[2],
        session->media[0].rtpmaps[2].encoding, session->media[0].fmtps[0].parameters}) {
    EXPECT_GE(part.data(), begin);
    EXPECT_LE(part.data() + part.size(), end);
  }
}

TEST(SdpParser, AcceptsValidDescriptions) {
  const std::string cases[] = {
      sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.1"}),
      sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0", "m=audio 0 RTP/AVP 0"}),
      "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 65535 RTP/AVP 0",
      sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0"}) + "\r\n\r\n",
      sdp({"v=0", "o=- 1 1 IN IP6 2001:db8::1", "s= ", "c=IN IP6 2001:db8::1", "t=0 0",
           "m=audio 4000 UDP/TLS/RTP/SAVPF 111", "a=setup:actpass"}),
      sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0", "m=message 2855 TCP/MSRP *"}),
      sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0", "a=", "a=:x",
           "m=audio 4000 RTP/AVP 0", "a=rtpmap:"}),
  };
  for (const std::string& text : cases) {
    auto session = parse_sdp(text);
    EXPECT_TRUE(session) << text << (session ? "" : session.error().reason);
  }
}

TEST(SdpParser, RejectsBadDescriptionsWithReasons) {
  const std::string head = sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0"});
  struct Case {
    std::string text;
    std::string_view reason;
  };
  const Case cases[] = {
      {"", "Bad SDP: first line is not v=0"},
      {"\r\n", "Bad SDP: first line is not v=0"},
      {"v=1\r\no=- 1 1 IN IP4 192.0.2.1\r\n", "Bad SDP: first line is not v=0"},
      {"o=- 1 1 IN IP4 192.0.2.1\r\nv=0\r\n", "Bad SDP: first line is not v=0"},
      {" v=0\r\n", "Bad SDP: first line is not v=0"},
      {"v=0", "Bad SDP: no o= line"},
      {"v=0\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", "Bad SDP: no o= line"},
      {"v=0\r\no=- 1 1 IN IP4\r\n", "Bad SDP: o= needs 6 fields"},
      {"v=0\r\no=- 1 1 IN IP4 192.0.2.1 extra\r\n", "Bad SDP: o= needs 6 fields"},
      {head + "A=sendrecv\r\n", "Bad SDP: line is not <letter>=<value>"},
      {head + "ab=c\r\n", "Bad SDP: line is not <letter>=<value>"},
      {head + "a\r\n", "Bad SDP: line is not <letter>=<value>"},
      {head + "=x\r\n", "Bad SDP: line is not <letter>=<value>"},
      {head + "\r\nm=audio 4000 RTP/AVP 0\r\n", "Bad SDP: line is not <letter>=<value>"},
      {head + "a=x\ry\r\n", "Bad SDP: NUL or CR inside a line"},
      {head + std::string("a=x\0y\r\n", 7), "Bad SDP: NUL or CR inside a line"},
      {head + "c=IN IP4\r\n", "Bad SDP: c= needs 3 fields"},
      {head + "m=audio port RTP/AVP 0\r\n", "Bad SDP: m= port is not a number"},
      {head + "m=audio -1 RTP/AVP 0\r\n", "Bad SDP: m= port is not a number"},
      {head + "m=audio 65536 RTP/AVP 0\r\n", "Bad SDP: m= port is not a number"},
      {head + "m=audio 4000/0 RTP/AVP 0\r\n", "Bad SDP: m= port is not a number"},
      {head + "m=audio 4000/ RTP/AVP 0\r\n", "Bad SDP: m= port is not a number"},
      {head + "m=audio 99999999999999999999 RTP/AVP 0\r\n", "Bad SDP: m= port is not a number"},
      {head + "m=audio 4000 RTP/AVP\r\n", "Bad SDP: m= needs media, port, protocol and formats"},
      {head + "m=audio\r\n", "Bad SDP: m= needs media, port, protocol and formats"},
      {head + "m=\r\n", "Bad SDP: m= needs media, port, protocol and formats"},
  };
  for (const Case& c : cases) {
    auto session = parse_sdp(c.text);
    ASSERT_FALSE(session) << c.text;
    EXPECT_EQ(session.error().reason, c.reason) << c.text;
    EXPECT_EQ(session.error().status, 488) << c.text;
  }
}

TEST(SdpParser, ErrorOffsetPointsAtTheFault) {
  const std::string head = sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0"});
  auto bad_line = parse_sdp(head + "Q=1\r\n");
  ASSERT_FALSE(bad_line);
  EXPECT_EQ(bad_line.error().offset, head.size());
  auto bad_port = parse_sdp(head + "m=audio x RTP/AVP 0\r\n");
  ASSERT_FALSE(bad_port);
  EXPECT_EQ(bad_port.error().offset, head.size() + 8);
}

std::string with_media_lines(std::size_t count) {
  std::string text = sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0"});
  for (std::size_t i = 0; i < count; ++i) {
    text += "m=audio " + std::to_string(4000 + 2 * i) + " RTP/AVP 0\r\n";
  }
  return text;
}

TEST(SdpParser, Accepts64MediaLines) {
  auto session = parse_sdp(with_media_lines(64));
  ASSERT_TRUE(session) << session.error().reason;
  EXPECT_EQ(session->media.size(), 64u);
}

TEST(SdpParser, RejectsMoreThan64MediaLines) {
  auto session = parse_sdp(with_media_lines(65));
  ASSERT_FALSE(session);
  EXPECT_EQ(session.error().reason, "Bad SDP: more than 64 m= lines");
  EXPECT_EQ(session.error().status, 488);
}

TEST(SdpParser, RejectsTextOver64KiB) {
  std::string text = with_media_lines(1);
  const std::string filler = "a=x-filler:0123456789012345678901234567890123456789\r\n";
  while (text.size() + filler.size() <= kMaxSdpSize) {
    text += filler;
  }
  ASSERT_TRUE(parse_sdp(text));
  text.append(kMaxSdpSize + 1 - text.size(), 'a');
  auto session = parse_sdp(text);
  ASSERT_FALSE(session);
  EXPECT_EQ(session.error().reason, "Bad SDP: over 64 KiB");
  EXPECT_EQ(session.error().status, 488);
}

// --- answer_from ------------------------------------------------------------------------------

TEST(SdpAnswer, IdenticalCodecSetsAreAnsweredWithAllCodecsAtTheOtherAddress) {
  const std::string other = sdp({
      "v=0",
      "o=bob 5 5 IN IP4 198.51.100.20",
      "s=-",
      "c=IN IP4 198.51.100.20",
      "t=0 0",
      "m=audio 30000 RTP/AVP 0 8 101",
      "a=rtpmap:0 PCMU/8000",
      "a=rtpmap:8 PCMA/8000",
      "a=rtpmap:101 telephone-event/8000",
      "a=fmtp:101 0-15",
      "a=ptime:20",
      "a=sendrecv",
  });
  EXPECT_EQ(answer(kCallerOffer, other), sdp({
                                             "v=0",
                                             "o=catchline 42 7 IN IP4 198.51.100.20",
                                             "s=-",
                                             "c=IN IP4 198.51.100.20",
                                             "t=0 0",
                                             "m=audio 30000 RTP/AVP 0 8 101",
                                             "a=rtpmap:0 PCMU/8000",
                                             "a=rtpmap:8 PCMA/8000",
                                             "a=rtpmap:101 telephone-event/8000",
                                             "a=fmtp:101 0-16",
                                             "a=ptime:20",
                                             "a=sendrecv",
                                         }));
}

TEST(SdpAnswer, KeepsCommonCodecsWithTheOfferPayloadNumbers) {
  // PCMU/PCMA/telephone-event 101 against PCMA/telephone-event 96: 8 and 101 remain.
  EXPECT_EQ(answer(kCallerOffer, kPickerOffer), sdp({
                                                    "v=0",
                                                    "o=catchline 42 7 IN IP4 198.51.100.20",
                                                    "s=-",
                                                    "c=IN IP4 198.51.100.20",
                                                    "t=0 0",
                                                    "m=audio 30000 RTP/AVP 8 101",
                                                    "a=rtpmap:8 PCMA/8000",
                                                    "a=rtpmap:101 telephone-event/8000",
                                                    "a=fmtp:101 0-16",
                                                    "a=ptime:30",
                                                    "a=sendrecv",
                                                }));
}

TEST(SdpAnswer, AnswersTheOtherWayRoundWithThePickerNumbers) {
  const std::string built = answer(kPickerOffer, kCallerOffer);
  EXPECT_NE(built.find("o=catchline 42 7 IN IP4 192.0.2.10\r\n"), std::string::npos) << built;
  EXPECT_NE(built.find("\r\nc=IN IP4 192.0.2.10\r\n"), std::string::npos) << built;
  EXPECT_NE(built.find("\r\nm=audio 49170 RTP/AVP 8 96\r\n"), std::string::npos) << built;
  EXPECT_NE(built.find("\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\n"),
            std::string::npos)
      << built;
  EXPECT_NE(built.find("\r\na=ptime:20\r\n"), std::string::npos) << built;
}

TEST(SdpAnswer, MatchesOpusAcrossDifferentDynamicNumbers) {
  const std::string offer =
      audio_offer("111 0", {"a=rtpmap:111 opus/48000/2", "a=fmtp:111 useinbandfec=1"}, "4000");
  const std::string other = audio_offer("96 8", {"a=rtpmap:96 OPUS/48000/2"});
  const std::string built = answer(offer, other);
  EXPECT_NE(built.find("\r\nm=audio 30000 RTP/AVP 111\r\n"
                       "a=rtpmap:111 opus/48000/2\r\n"
                       "a=fmtp:111 useinbandfec=1\r\n"),
            std::string::npos)
      << built;
}

TEST(SdpAnswer, DoesNotMatchCodecsWithDifferentChannelsOrClockRate) {
  const std::string offer = audio_offer("111 9", {"a=rtpmap:111 opus/48000/2"}, "4000");
  const std::string mono = audio_offer("96", {"a=rtpmap:96 opus/48000"});
  const std::string wideband = audio_offer("9", {"a=rtpmap:9 G722/16000"});
  EXPECT_NE(answer(offer, mono).find("\r\nm=audio 0 RTP/AVP 111\r\n"), std::string::npos);
  EXPECT_NE(answer(offer, wideband).find("\r\nm=audio 0 RTP/AVP 111\r\n"), std::string::npos);
}

TEST(SdpAnswer, MatchesStaticPayloadsWithoutRtpmap) {
  // 0 without rtpmap is PCMU (RFC 3551); 2 is named by nothing but its number.
  const std::string offer = audio_offer("2 0", {}, "4000");
  const std::string other = audio_offer("0 2", {"a=rtpmap:0 PCMU/8000"});
  EXPECT_NE(answer(offer, other).find("\r\nm=audio 30000 RTP/AVP 2 0\r\na=sendrecv\r\n"),
            std::string::npos);
  const std::string renumbered = audio_offer("97", {"a=rtpmap:97 PCMU/8000"});
  EXPECT_NE(answer(offer, renumbered).find("\r\nm=audio 30000 RTP/AVP 0\r\n"), std::string::npos);
}

TEST(SdpAnswer, IgnoresDynamicPayloadsWithoutRtpmap) {
  const std::string offer = audio_offer("96", {}, "4000");
  const std::string other = audio_offer("96", {});
  EXPECT_NE(answer(offer, other).find("\r\nm=audio 0 RTP/AVP 96\r\n"), std::string::npos);
}

TEST(SdpAnswer, RejectsVideoWhenTheOtherOffersOnlyAudio) {
  const std::string offer = sdp({
      "v=0",
      "o=alice 1 1 IN IP4 192.0.2.10",
      "s=-",
      "c=IN IP4 192.0.2.10",
      "t=0 0",
      "m=audio 49170 RTP/AVP 0",
      "m=video 51372 RTP/AVP 96 31",
      "a=rtpmap:96 H264/90000",
  });
  const std::string built = answer(offer, audio_offer("0", {}));
  EXPECT_EQ(built, sdp({
                       "v=0",
                       "o=catchline 42 7 IN IP4 198.51.100.20",
                       "s=-",
                       "c=IN IP4 198.51.100.20",
                       "t=0 0",
                       "m=audio 30000 RTP/AVP 0",
                       "a=sendrecv",
                       "m=video 0 RTP/AVP 96",
                   }));
  EXPECT_TRUE(accepts_any_media(built));
}

TEST(SdpAnswer, RejectsStreamWithoutCommonCodec) {
  const std::string built = answer(audio_offer("18 4", {}, "4000"), audio_offer("0 8", {}));
  EXPECT_NE(built.find("\r\nm=audio 0 RTP/AVP 18\r\n"), std::string::npos) << built;
  EXPECT_EQ(built.find("a=sendrecv"), std::string::npos) << built;
  EXPECT_FALSE(accepts_any_media(built));
}

TEST(SdpAnswer, TelephoneEventAloneIsNoCodecInCommon) {
  const std::string offer = audio_offer("18 101", {"a=rtpmap:101 telephone-event/8000"}, "4000");
  const std::string other = audio_offer("0 96", {"a=rtpmap:96 telephone-event/8000"});
  const std::string built = answer(offer, other);
  EXPECT_NE(built.find("\r\nm=audio 0 RTP/AVP 18\r\n"), std::string::npos) << built;
  EXPECT_FALSE(accepts_any_media(built));
}

TEST(SdpAnswer, DirectionIsWhatBothSidesAllow) {
  struct Case {
    std::string_view offer;
    std::string_view other;
    std::string_view answer;
  };
  const Case cases[] = {
      {"a=sendrecv", "a=sendrecv", "a=sendrecv"}, {"a=sendrecv", "a=sendonly", "a=sendonly"},
      {"a=sendrecv", "a=recvonly", "a=recvonly"}, {"a=sendrecv", "a=inactive", "a=inactive"},
      {"a=sendonly", "a=sendrecv", "a=recvonly"}, {"a=recvonly", "a=sendrecv", "a=sendonly"},
      {"a=inactive", "a=sendrecv", "a=inactive"}, {"a=sendonly", "a=sendonly", "a=inactive"},
      {"a=recvonly", "a=recvonly", "a=inactive"}, {"a=sendonly", "a=recvonly", "a=recvonly"},
      {"a=x-none", "a=x-none", "a=sendrecv"},
  };
  for (const Case& c : cases) {
    const std::string built =
        answer(audio_offer("0", {c.offer}, "4000"), audio_offer("0", {c.other}));
    EXPECT_NE(built.find("\r\n" + std::string(c.answer) + "\r\n"), std::string::npos)
        << c.offer << " + " << c.other << ":\n"
        << built;
  }
}

TEST(SdpAnswer, SessionLevelDirectionOfEitherOfferCounts) {
  const std::string offer = sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10",
                                 "t=0 0", "a=sendonly", "m=audio 4000 RTP/AVP 0"});
  const std::string other =
      sdp({"v=0", "o=- 1 1 IN IP4 198.51.100.20", "s=-", "c=IN IP4 198.51.100.20", "t=0 0",
           "a=inactive", "m=audio 30000 RTP/AVP 0", "a=sendrecv"});
  EXPECT_NE(answer(offer, other).find("\r\na=recvonly\r\n"), std::string::npos);
  EXPECT_NE(answer(other, offer).find("\r\na=sendonly\r\n"), std::string::npos);
}

TEST(SdpAnswer, TakesIPv6AddressAndPortFromTheOtherOffer) {
  const std::string other = sdp({"v=0", "o=- 9 9 IN IP6 2001:db8::20", "s=-",
                                 "c=IN IP6 2001:db8::20", "t=0 0", "m=audio 40000 RTP/AVP 8"});
  EXPECT_EQ(answer(audio_offer("0 8", {}, "4000"), other),
            sdp({
                "v=0",
                "o=catchline 42 7 IN IP6 2001:db8::20",
                "s=-",
                "c=IN IP6 2001:db8::20",
                "t=0 0",
                "m=audio 40000 RTP/AVP 8",
                "a=sendrecv",
            }));
}

TEST(SdpAnswer, KeepsMediaLevelConnectionOfTheOtherOfferInItsSection) {
  const std::string offer = sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10",
                                 "t=0 0", "m=audio 4000 RTP/AVP 0", "m=video 4002 RTP/AVP 31"});
  const std::string other =
      sdp({"v=0", "o=- 1 1 IN IP4 198.51.100.20", "s=-", "c=IN IP4 198.51.100.20", "t=0 0",
           "m=audio 30000 RTP/AVP 0", "m=video 30002 RTP/AVP 31", "c=IN IP4 198.51.100.21"});
  EXPECT_EQ(answer(offer, other), sdp({
                                      "v=0",
                                      "o=catchline 42 7 IN IP4 198.51.100.20",
                                      "s=-",
                                      "c=IN IP4 198.51.100.20",
                                      "t=0 0",
                                      "m=audio 30000 RTP/AVP 0",
                                      "a=sendrecv",
                                      "m=video 30002 RTP/AVP 31",
                                      "c=IN IP4 198.51.100.21",
                                      "a=sendrecv",
                                  }));
}

TEST(SdpAnswer, WithoutSessionConnectionEveryMediaSectionGetsOne) {
  const std::string offer = sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10",
                                 "t=0 0", "m=audio 4000 RTP/AVP 0", "m=video 4002 RTP/AVP 31"});
  const std::string other = sdp({"v=0", "o=- 1 1 IN IP6 2001:db8::20", "s=-", "t=0 0",
                                 "m=audio 30000 RTP/AVP 0", "c=IN IP6 2001:db8::21"});
  EXPECT_EQ(answer(offer, other), sdp({
                                      "v=0",
                                      "o=catchline 42 7 IN IP6 2001:db8::20",
                                      "s=-",
                                      "t=0 0",
                                      "m=audio 30000 RTP/AVP 0",
                                      "c=IN IP6 2001:db8::21",
                                      "a=sendrecv",
                                      "m=video 0 RTP/AVP 31",
                                      "c=IN IP6 ::",
                                  }));
}

TEST(SdpAnswer, AnswersBareLineFeedOffersWithCrlf) {
  const std::string offer = sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10",
                                 "t=0 0", "m=audio 4000 RTP/AVP 0 8"},
                                "\n");
  const std::string other = sdp({"v=0", "o=- 1 1 IN IP4 198.51.100.20", "s=-",
                                 "c=IN IP4 198.51.100.20", "t=0 0", "m=audio 30000 RTP/AVP 8"},
                                "\n");
  EXPECT_EQ(answer(offer, other), sdp({
                                      "v=0",
                                      "o=catchline 42 7 IN IP4 198.51.100.20",
                                      "s=-",
                                      "c=IN IP4 198.51.100.20",
                                      "t=0 0",
                                      "m=audio 30000 RTP/AVP 8",
                                      "a=sendrecv",
                                  }));
}

TEST(SdpAnswer, KeepsTheOfferOrderOfMediaLines) {
  const std::string offer = sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10",
                                 "t=0 0", "m=video 4002 RTP/AVP 31", "m=audio 4000 RTP/AVP 0"});
  const std::string other =
      sdp({"v=0", "o=- 1 1 IN IP4 198.51.100.20", "s=-", "c=IN IP4 198.51.100.20", "t=0 0",
           "m=audio 30000 RTP/AVP 0", "m=video 30002 RTP/AVP 31"});
  auto built = parse_sdp(answer(offer, other));
  ASSERT_TRUE(built);
  ASSERT_EQ(built->media.size(), 2u);
  EXPECT_EQ(built->media[0].type, "video");
  EXPECT_EQ(built->media[0].port, 30002u);
  EXPECT_EQ(built->media[1].type, "audio");
  EXPECT_EQ(built->media[1].port, 30000u);
}

TEST(SdpAnswer, PairsEachOtherMediaLineOnlyOnce) {
  const std::string offer = sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10",
                                 "t=0 0", "m=audio 4000 RTP/AVP 0", "m=audio 4002 RTP/AVP 0"});
  auto built = parse_sdp(answer(offer, audio_offer("0", {})));
  ASSERT_TRUE(built);
  ASSERT_EQ(built->media.size(), 2u);
  EXPECT_EQ(built->media[0].port, 30000u);
  EXPECT_EQ(built->media[1].port, 0u);
}

TEST(SdpAnswer, LineWithoutCommonCodecLeavesItsPairToALaterLine) {
  const std::string offer = sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10",
                                 "t=0 0", "m=audio 4000 RTP/AVP 18", "m=audio 4002 RTP/AVP 0"});
  auto built = parse_sdp(answer(offer, audio_offer("0", {})));
  ASSERT_TRUE(built);
  EXPECT_EQ(built->media[0].port, 0u);
  EXPECT_EQ(built->media[1].port, 30000u);
}

TEST(SdpAnswer, SkipsDisabledMediaLinesOfTheOtherOffer) {
  const std::string other =
      sdp({"v=0", "o=- 1 1 IN IP4 198.51.100.20", "s=-", "c=IN IP4 198.51.100.20", "t=0 0",
           "m=audio 0 RTP/AVP 0", "m=audio 30002 RTP/AVP 0"});
  EXPECT_NE(answer(audio_offer("0", {}, "4000"), other).find("\r\nm=audio 30002 RTP/AVP 0\r\n"),
            std::string::npos);
}

TEST(SdpAnswer, RejectsLinesTheOfferDisabled) {
  const std::string built = answer(audio_offer("0", {}, "0"), audio_offer("0", {}));
  EXPECT_NE(built.find("\r\nm=audio 0 RTP/AVP 0\r\n"), std::string::npos) << built;
  EXPECT_FALSE(accepts_any_media(built));
}

TEST(SdpAnswer, CopiesPtimeMaxptimeAndRtcpOfTheOtherLine) {
  const std::string offer = audio_offer("0", {"a=ptime:20", "a=maxptime:60"}, "4000");
  const std::string other =
      audio_offer("0", {"a=maxptime:40", "a=rtcp:30011 IN IP4 198.51.100.20", "a=x-codec-thing"});
  const std::string built = answer(offer, other);
  EXPECT_NE(built.find("\r\nm=audio 30000 RTP/AVP 0\r\n"
                       "a=maxptime:40\r\n"
                       "a=rtcp:30011 IN IP4 198.51.100.20\r\n"
                       "a=sendrecv\r\n"),
            std::string::npos)
      << built;
}

TEST(SdpAnswer, CopiesRtcpMuxOnlyWhenBothOfferIt) {
  const std::string with_mux = audio_offer("0", {"a=rtcp-mux"});
  const std::string without = audio_offer("0", {});
  EXPECT_NE(answer(with_mux, with_mux).find("\r\na=rtcp-mux\r\n"), std::string::npos);
  EXPECT_EQ(answer(with_mux, without).find("rtcp-mux"), std::string::npos);
  EXPECT_EQ(answer(without, with_mux).find("rtcp-mux"), std::string::npos);
}

TEST(SdpAnswer, PairsAvpWithAvpfAndKeepsTheOfferProtocol) {
  std::string other = audio_offer("0", {});
  other.replace(other.find("RTP/AVP"), 7, "RTP/AVPF");
  EXPECT_NE(answer(audio_offer("0", {}, "4000"), other).find("\r\nm=audio 30000 RTP/AVP 0\r\n"),
            std::string::npos);
}

TEST(SdpAnswer, RejectsPlainRtpAgainstSecureRtp) {
  std::string other = audio_offer("0", {"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:KEY"});
  other.replace(other.find("RTP/AVP"), 7, "RTP/SAVP");
  EXPECT_NE(answer(audio_offer("0", {}, "4000"), other).find("\r\nm=audio 0 RTP/AVP 0\r\n"),
            std::string::npos);
}

std::string savp_offer(std::string_view port, std::initializer_list<std::string_view> cryptos) {
  std::string text = audio_offer("0", cryptos, port);
  text.replace(text.find("RTP/AVP"), 7, "RTP/SAVP");
  return text;
}

TEST(SdpAnswer, SdesTakesTheSameSuiteForBothPhonesWithTheOtherKey) {
  const std::string caller = savp_offer("4000", {"a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:C32",
                                                 "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:C80"});
  const std::string picker = savp_offer("30000", {"a=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:P80",
                                                  "a=crypto:6 AES_CM_128_HMAC_SHA1_32 inline:P32"});
  const std::string to_caller = answer(caller, picker);
  EXPECT_NE(to_caller.find("\r\nm=audio 30000 RTP/SAVP 0\r\n"), std::string::npos) << to_caller;
  EXPECT_NE(to_caller.find("\r\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:P80\r\n"),
            std::string::npos)
      << to_caller;
  const std::string to_picker = answer(picker, caller);
  EXPECT_NE(to_picker.find("\r\na=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:C80\r\n"),
            std::string::npos)
      << to_picker;
}

TEST(SdpAnswer, SdesWithoutCommonSuiteIsRejected) {
  const std::string caller = savp_offer("4000", {"a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:C"});
  const std::string picker = savp_offer("30000", {"a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:P"});
  EXPECT_NE(answer(caller, picker).find("\r\nm=audio 0 RTP/SAVP 0\r\n"), std::string::npos);
}

TEST(SdpAnswer, RejectsDtlsSrtp) {
  std::string offer = audio_offer("0", {"a=setup:actpass"}, "4000");
  offer.replace(offer.find("RTP/AVP"), 7, "UDP/TLS/RTP/SAVPF");
  std::string other = audio_offer("0", {"a=setup:actpass"});
  other.replace(other.find("RTP/AVP"), 7, "UDP/TLS/RTP/SAVPF");
  const std::string built = answer(offer, other);
  EXPECT_NE(built.find("\r\nm=audio 0 UDP/TLS/RTP/SAVPF 0\r\n"), std::string::npos) << built;
}

TEST(SdpAnswer, MatchesNonRtpFormatsByName) {
  const std::string offer = sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10",
                                 "t=0 0", "m=image 4000 udptl t38"});
  const std::string other = sdp({"v=0", "o=- 1 1 IN IP4 198.51.100.20", "s=-",
                                 "c=IN IP4 198.51.100.20", "t=0 0", "m=image 30000 UDPTL t38"});
  EXPECT_NE(answer(offer, other).find("\r\nm=image 30000 udptl t38\r\n"), std::string::npos);
}

TEST(SdpAnswer, ReturnsTheParseErrorOfEitherOffer) {
  auto bad_offer = answer_from("v=1\r\n", kPickerOffer, kOptions);
  ASSERT_FALSE(bad_offer);
  EXPECT_EQ(bad_offer.error().reason, "Bad SDP: first line is not v=0");
  EXPECT_EQ(bad_offer.error().status, 488);
  auto bad_other = answer_from(kCallerOffer, "v=0\r\ns=-\r\n", kOptions);
  ASSERT_FALSE(bad_other);
  EXPECT_EQ(bad_other.error().reason, "Bad SDP: no o= line");
}

TEST(SdpAnswer, AcceptsAnyMediaIsFalseForTextThatDoesNotParse) {
  EXPECT_FALSE(accepts_any_media(""));
  EXPECT_FALSE(accepts_any_media("v=0\r\nm=audio 4000 RTP/AVP 0\r\n"));
  EXPECT_FALSE(accepts_any_media(sdp({"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0"})));
  EXPECT_TRUE(accepts_any_media(audio_offer("0", {})));
}

}  // namespace
}  // namespace catchline::media
