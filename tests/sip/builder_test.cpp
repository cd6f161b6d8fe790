#include "sip/builder.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "sip/headers/via.h"
#include "sip/message.h"

namespace catchline::sip {
namespace {

Message parse_or_fail(std::string text) {
  auto parsed = parse_message(text);
  EXPECT_TRUE(parsed) << parsed.error().reason << "\n" << text;
  return parsed ? std::move(*parsed) : Message{};
}

std::vector<std::string> values_of(const Message& message, Header header) {
  std::vector<std::string> values;
  message.for_each_value(header, [&](std::string_view value) { values.emplace_back(value); });
  return values;
}

// A request as a phone behind NAT sends it: two Via lines, the first holding two entries.
constexpr std::string_view kInvite =
    "INVITE sip:1002@pbx.example.test SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.7:5062;rport;branch=z9hG4bKtop, SIP/2.0/TCP "
    "proxy.test;branch=z9hG4bKp\r\n"
    "Via: SIP/2.0/UDP 192.0.2.99;branch=z9hG4bKlast\r\n"
    "Max-Forwards: 70\r\n"
    "From: \"Alice\" <sip:1001@pbx.example.test>;tag=from1\r\n"
    "To: <sip:1002@pbx.example.test>\r\n"
    "Call-ID: call-1@10.0.0.7\r\n"
    "CSeq: 7 INVITE\r\n"
    "Contact: <sip:1001@10.0.0.7:5062>\r\n"
    "Timestamp: 54.2\r\n"
    "Route: <sip:a.test;lr>\r\n"
    "X-Custom: one\r\n"
    "Route: <sip:b.test;lr>\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 4\r\n"
    "\r\n"
    "v=0\n";

Message invite() { return parse_or_fail(std::string(kInvite)); }

// ---- MessageBuilder ---------------------------------------------------------------------------

TEST(MessageBuilder, RequestParsesBackWithItsFields) {
  std::string text = MessageBuilder::request(Method::Options, "sip:1002@pbx.example.test")
                         .header(Header::Via, "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc")
                         .header(Header::MaxForwards, "70")
                         .header(Header::From, "<sip:pbx.example.test>;tag=f1")
                         .header(Header::To, "<sip:1002@pbx.example.test>")
                         .header(Header::CallId, "id-1")
                         .header(Header::CSeq, "3 OPTIONS")
                         .header("X-Trace", "yes")
                         .finish();
  Message message = parse_or_fail(text);
  EXPECT_TRUE(message.is_request());
  EXPECT_EQ(message.method(), Method::Options);
  EXPECT_EQ(message.request_uri(), "sip:1002@pbx.example.test");
  EXPECT_EQ(message.branch(), "z9hG4bKabc");
  EXPECT_EQ(message.from_tag(), "f1");
  EXPECT_EQ(message.call_id(), "id-1");
  EXPECT_EQ(message.cseq_number(), 3u);
  EXPECT_EQ(message.max_forwards(), 70);
  EXPECT_EQ(message.header_value("X-Trace"), "yes");
  EXPECT_EQ(message.header_value(Header::ContentLength), "0");
  EXPECT_FALSE(message.header_value(Header::ContentType));
  EXPECT_TRUE(message.body().empty());
}

TEST(MessageBuilder, WritesStartLineAndHeadersInOrder) {
  std::string text = MessageBuilder::request("PUBLISH", "sip:x@y")
                         .header("A", "1")
                         .header(Header::CallId, "2")
                         .finish();
  EXPECT_EQ(text, "PUBLISH sip:x@y SIP/2.0\r\nA: 1\r\nCall-ID: 2\r\nContent-Length: 0\r\n\r\n");
}

TEST(MessageBuilder, BodyGetsContentTypeAndExactLength) {
  const std::string sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n";
  std::string text =
      MessageBuilder::response(200)
          .header(Header::Via, "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1")
          .header(Header::From, "<sip:a@b>;tag=1")
          .header(Header::To, "<sip:c@d>;tag=2")
          .header(Header::CallId, "x")
          .header(Header::CSeq, "1 INVITE")
          .body("application/sdp", sdp)
          .header(Header::Contact, "<sip:c@192.0.2.2>")  // after body(): still a header
          .finish();
  Message message = parse_or_fail(text);
  EXPECT_EQ(message.status(), 200);
  EXPECT_EQ(message.body(), sdp);
  EXPECT_EQ(message.header_value(Header::ContentType), "application/sdp");
  EXPECT_EQ(message.header_value(Header::ContentLength), std::to_string(sdp.size()));
  EXPECT_EQ(message.header_value(Header::Contact), "<sip:c@192.0.2.2>");
  EXPECT_EQ(text.substr(text.size() - sdp.size()), sdp);
}

TEST(MessageBuilder, EmptyBodyWritesNoContentType) {
  std::string text = MessageBuilder::response(200).body("application/sdp", "").finish();
  EXPECT_EQ(text.find("Content-Type"), std::string::npos);
  EXPECT_NE(text.find("Content-Length: 0\r\n\r\n"), std::string::npos);
}

TEST(MessageBuilder, ResponseTakesDefaultOrGivenReason) {
  EXPECT_EQ(MessageBuilder::response(180).finish(),
            "SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(MessageBuilder::response(486, "Do Not Disturb").finish(),
            "SIP/2.0 486 Do Not Disturb\r\nContent-Length: 0\r\n\r\n");
  // An unknown code still gets a phrase: its class name from RFC 3261 §21.
  EXPECT_EQ(MessageBuilder::response(499).finish(),
            "SIP/2.0 499 Request Failure\r\nContent-Length: 0\r\n\r\n");
}

TEST(MessageBuilder, HeaderOtherWithoutNameIsIgnored) {
  std::string text = MessageBuilder::response(200).header(Header::Other, "lost").finish();
  EXPECT_EQ(text.find("lost"), std::string::npos);
}

TEST(MessageBuilder, CopyHeadersKeepsOrderAndValues) {
  Message request = invite();
  std::string text = MessageBuilder::request(Method::Invite, "sip:1002@10.0.0.8")
                         .copy_headers(request, Header::Via)
                         .copy_headers(request, Header::From)
                         .copy_headers(request, Header::To)
                         .copy_headers(request, Header::CallId)
                         .copy_headers(request, Header::CSeq)
                         .copy_headers(request, Header::Route)
                         .copy_headers(request, Header::Other)
                         .finish();
  Message copy = parse_or_fail(text);
  EXPECT_EQ(values_of(copy, Header::Route),
            (std::vector<std::string>{"<sip:a.test;lr>", "<sip:b.test;lr>"}));
  EXPECT_EQ(values_of(copy, Header::Via), values_of(request, Header::Via));
  EXPECT_EQ(copy.header_value("X-Custom"), "one");
  EXPECT_FALSE(copy.header_value(Header::Contact));
  EXPECT_FALSE(copy.header_value(Header::Timestamp));
}

// ---- default_reason ---------------------------------------------------------------------------

TEST(DefaultReason, KnowsRfc3261AndExtensionCodes) {
  struct Case {
    int status;
    std::string_view reason;
  };
  for (const Case& c : {Case{100, "Trying"},
                        Case{180, "Ringing"},
                        Case{181, "Call Is Being Forwarded"},
                        Case{182, "Queued"},
                        Case{183, "Session Progress"},
                        Case{199, "Early Dialog Terminated"},
                        Case{200, "OK"},
                        Case{202, "Accepted"},
                        Case{204, "No Notification"},
                        Case{300, "Multiple Choices"},
                        Case{302, "Moved Temporarily"},
                        Case{380, "Alternative Service"},
                        Case{400, "Bad Request"},
                        Case{401, "Unauthorized"},
                        Case{407, "Proxy Authentication Required"},
                        Case{408, "Request Timeout"},
                        Case{412, "Conditional Request Failed"},
                        Case{414, "Request-URI Too Long"},
                        Case{417, "Unknown Resource-Priority"},
                        Case{420, "Bad Extension"},
                        Case{421, "Extension Required"},
                        Case{422, "Session Interval Too Small"},
                        Case{423, "Interval Too Brief"},
                        Case{428, "Use Identity Header"},
                        Case{429, "Provide Referrer Identity"},
                        Case{430, "Flow Failed"},
                        Case{433, "Anonymity Disallowed"},
                        Case{436, "Bad Identity Info"},
                        Case{437, "Unsupported Credential"},
                        Case{438, "Invalid Identity Header"},
                        Case{439, "First Hop Lacks Outbound Support"},
                        Case{440, "Max-Breadth Exceeded"},
                        Case{469, "Bad Info Package"},
                        Case{470, "Consent Needed"},
                        Case{480, "Temporarily Unavailable"},
                        Case{481, "Call/Transaction Does Not Exist"},
                        Case{486, "Busy Here"},
                        Case{487, "Request Terminated"},
                        Case{488, "Not Acceptable Here"},
                        Case{489, "Bad Event"},
                        Case{491, "Request Pending"},
                        Case{493, "Undecipherable"},
                        Case{494, "Security Agreement Required"},
                        Case{500, "Server Internal Error"},
                        Case{503, "Service Unavailable"},
                        Case{504, "Server Time-out"},
                        Case{513, "Message Too Large"},
                        Case{580, "Precondition Failure"},
                        Case{600, "Busy Everywhere"},
                        Case{603, "Decline"},
                        Case{604, "Does Not Exist Anywhere"},
                        Case{606, "Not Acceptable"},
                        Case{607, "Unwanted"},
                        Case{608, "Rejected"}}) {
    EXPECT_EQ(default_reason(c.status), c.reason) << c.status;
  }
}

TEST(DefaultReason, UnknownCodesHaveNone) {
  for (int status : {0, 99, 101, 299, 499, 599, 699, 700, -1}) {
    EXPECT_EQ(default_reason(status), "") << status;
  }
}

// ---- response_to ------------------------------------------------------------------------------

TEST(ResponseTo, CopiesViaFromToCallIdCSeqAndNothingElse) {
  Message request = invite();
  Message response = parse_or_fail(response_to(request, 180).finish());
  EXPECT_EQ(response.status(), 180);
  EXPECT_EQ(response.reason_phrase(), "Ringing");
  EXPECT_EQ(values_of(response, Header::Via), values_of(request, Header::Via));
  EXPECT_EQ(response.header_value(Header::From), request.header_value(Header::From));
  EXPECT_EQ(response.header_value(Header::To), request.header_value(Header::To));
  EXPECT_EQ(response.call_id(), "call-1@10.0.0.7");
  EXPECT_EQ(response.cseq_number(), 7u);
  EXPECT_EQ(response.cseq_method(), Method::Invite);
  EXPECT_EQ(response.branch(), "z9hG4bKtop");
  EXPECT_EQ(response.from_tag(), "from1");
  EXPECT_EQ(response.to_tag(), "");
  EXPECT_FALSE(response.header_value(Header::Contact));
  EXPECT_FALSE(response.header_value(Header::Route));
  EXPECT_FALSE(response.header_value(Header::MaxForwards));
  EXPECT_FALSE(response.header_value(Header::ContentType));
  EXPECT_FALSE(response.header_value(Header::Timestamp));
  EXPECT_EQ(response.header_value(Header::ContentLength), "0");
}

TEST(ResponseTo, AddsToTagWhenToHasNone) {
  Message response = parse_or_fail(response_to(invite(), 200, {}, "ourtag").finish());
  EXPECT_EQ(response.to_tag(), "ourtag");
  EXPECT_EQ(response.header_value(Header::To), "<sip:1002@pbx.example.test>;tag=ourtag");
}

TEST(ResponseTo, ToWithTagKeepsIt) {
  std::string text(kInvite);
  text.replace(text.find("To: <sip:1002@pbx.example.test>"),
               std::string_view("To: <sip:1002@pbx.example.test>").size(),
               "To: <sip:1002@pbx.example.test>;tag=theirs");
  Message request = parse_or_fail(text);
  Message response = parse_or_fail(response_to(request, 200, {}, "ourtag").finish());
  EXPECT_EQ(response.to_tag(), "theirs");
  EXPECT_EQ(response.header_value(Header::To), "<sip:1002@pbx.example.test>;tag=theirs");
}

TEST(ResponseTo, AddsToTagToAddrSpecForm) {
  std::string text(kInvite);
  text.replace(text.find("To: <sip:1002@pbx.example.test>"),
               std::string_view("To: <sip:1002@pbx.example.test>").size(),
               "t: sip:1002@pbx.example.test");
  Message response = parse_or_fail(response_to(parse_or_fail(text), 486, {}, "t9").finish());
  EXPECT_EQ(response.to_tag(), "t9");
}

TEST(ResponseTo, GivenReasonReplacesDefault) {
  Message response = parse_or_fail(response_to(invite(), 480, "On Holiday").finish());
  EXPECT_EQ(response.reason_phrase(), "On Holiday");
}

TEST(ResponseTo, HundredTryingEchoesTimestamp) {
  Message response = parse_or_fail(response_to(invite(), 100).finish());
  EXPECT_EQ(response.header_value(Header::Timestamp), "54.2");
}

TEST(ResponseTo, RportGetsPortAndReceivedOnlyInTopEntry) {
  Message request = invite();
  Message response = parse_or_fail(
      response_to(request, 180, {}, "t", ReceivedFrom{"198.51.100.7", 40000}).finish());
  std::vector<std::string> vias = values_of(response, Header::Via);
  ASSERT_EQ(vias.size(), 2u);
  EXPECT_EQ(vias[0],
            "SIP/2.0/UDP 10.0.0.7:5062;rport=40000;branch=z9hG4bKtop;received=198.51.100.7, "
            "SIP/2.0/TCP proxy.test;branch=z9hG4bKp");
  EXPECT_EQ(vias[1], "SIP/2.0/UDP 192.0.2.99;branch=z9hG4bKlast");
  auto top = parse_via(response.top_via());
  ASSERT_TRUE(top) << top.error().reason;
  EXPECT_EQ(top->received, "198.51.100.7");
  EXPECT_EQ(top->rport_value, 40000);
  EXPECT_EQ(top->branch, "z9hG4bKtop");
  EXPECT_EQ(response.branch(), "z9hG4bKtop");
}

Message request_with_top_via(std::string_view via) {
  std::string text = "OPTIONS sip:pbx.example.test SIP/2.0\r\nVia: " + std::string(via) +
                     "\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\n"
                     "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
  return parse_or_fail(text);
}

std::string top_via_of_response(std::string_view via, ReceivedFrom from) {
  Message request = request_with_top_via(via);
  Message response = parse_or_fail(response_to(request, 200, {}, "t", from).finish());
  return std::string(response.top_via());
}

TEST(ResponseTo, ReceivedWhenSentByDiffersFromSource) {
  EXPECT_EQ(top_via_of_response("SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK1", {"192.0.2.5", 5060}),
            "SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK1;received=192.0.2.5");
}

TEST(ResponseTo, ReceivedWhenSentByIsAName) {
  EXPECT_EQ(top_via_of_response("SIP/2.0/UDP phone.test;branch=z9hG4bK1", {"192.0.2.5", 5060}),
            "SIP/2.0/UDP phone.test;branch=z9hG4bK1;received=192.0.2.5");
}

TEST(ResponseTo, NoReceivedWhenSentByIsTheSource) {
  EXPECT_EQ(top_via_of_response("SIP/2.0/UDP 192.0.2.5:5070;branch=z9hG4bK1", {"192.0.2.5", 5070}),
            "SIP/2.0/UDP 192.0.2.5:5070;branch=z9hG4bK1");
}

TEST(ResponseTo, Ipv6SentByIsComparedAsAnAddress) {
  EXPECT_EQ(top_via_of_response("SIP/2.0/UDP [2001:DB8:0::1]:5060;branch=z9hG4bK1",
                                {"2001:db8::1", 5060}),
            "SIP/2.0/UDP [2001:DB8:0::1]:5060;branch=z9hG4bK1");
  EXPECT_EQ(
      top_via_of_response("SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1", {"2001:db8::2", 5060}),
      "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;received=2001:db8::2");
}

TEST(ResponseTo, RportAddsReceivedEvenWhenSentByIsTheSource) {
  // RFC 3581 §4: with rport the received parameter is added even when equal to sent-by.
  EXPECT_EQ(
      top_via_of_response("SIP/2.0/UDP 192.0.2.5:5060;branch=z9hG4bK1;rport", {"192.0.2.5", 5060}),
      "SIP/2.0/UDP 192.0.2.5:5060;branch=z9hG4bK1;rport=5060;received=192.0.2.5");
}

TEST(ResponseTo, RportWithValueIsLeftAlone) {
  EXPECT_EQ(
      top_via_of_response("SIP/2.0/UDP 10.0.0.7;rport=1234;branch=z9hG4bK1", {"192.0.2.5", 5060}),
      "SIP/2.0/UDP 10.0.0.7;rport=1234;branch=z9hG4bK1;received=192.0.2.5");
}

TEST(ResponseTo, RportNameInAnyCaseWithSpaces) {
  EXPECT_EQ(
      top_via_of_response("SIP/2.0/UDP 10.0.0.7 ; RPORT ;branch=z9hG4bK1", {"192.0.2.5", 6000}),
      "SIP/2.0/UDP 10.0.0.7 ; RPORT=6000 ;branch=z9hG4bK1;received=192.0.2.5");
}

TEST(ResponseTo, ExistingReceivedIsKept) {
  EXPECT_EQ(top_via_of_response("SIP/2.0/UDP 10.0.0.7;received=192.0.2.9;branch=z9hG4bK1",
                                {"192.0.2.5", 5060}),
            "SIP/2.0/UDP 10.0.0.7;received=192.0.2.9;branch=z9hG4bK1");
}

TEST(ResponseTo, WithoutSourceViaIsCopiedUnchanged) {
  EXPECT_EQ(parse_or_fail(
                response_to(request_with_top_via("SIP/2.0/UDP 10.0.0.7;rport;branch=z9hG4bK1"), 200)
                    .finish())
                .top_via(),
            "SIP/2.0/UDP 10.0.0.7;rport;branch=z9hG4bK1");
}

TEST(ResponseTo, FurtherHeadersAndBodyCanBeAdded) {
  std::string text = response_to(invite(), 200, {}, "t")
                         .header(Header::Contact, "<sip:1002@192.0.2.2>")
                         .body("application/sdp", "v=0\r\n")
                         .finish();
  Message response = parse_or_fail(text);
  EXPECT_EQ(response.header_value(Header::Contact), "<sip:1002@192.0.2.2>");
  EXPECT_EQ(response.body(), "v=0\r\n");
  EXPECT_EQ(response.header_value(Header::ContentLength), "5");
}

// ---- tokens -----------------------------------------------------------------------------------

TEST(RandomToken, HasLengthAndAlphabet) {
  for (std::size_t length : {0u, 1u, 7u, 16u, 33u}) {
    std::string token = random_token(length);
    EXPECT_EQ(token.size(), length);
    for (char c : token) {
      EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
          << token;
    }
  }
}

TEST(RandomToken, DoesNotRepeatAndUsesWholeAlphabet) {
  std::set<std::string> seen;
  std::set<char> letters;
  for (int i = 0; i < 10000; ++i) {
    std::string token = random_token();
    letters.insert(token.begin(), token.end());
    EXPECT_TRUE(seen.insert(std::move(token)).second);
  }
  EXPECT_EQ(letters.size(), 62u);
}

TEST(NewBranch, StartsWithMagicCookie) {
  std::string branch = new_branch();
  EXPECT_EQ(branch.substr(0, kBranchCookie.size()), kBranchCookie);
  EXPECT_EQ(branch.size(), kBranchCookie.size() + 16);
  EXPECT_NE(new_branch(), branch);
}

}  // namespace
}  // namespace catchline::sip
