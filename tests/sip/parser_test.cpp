#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sip/headers/cseq.h"
#include "sip/headers/name_addr.h"
#include "sip/headers/params.h"
#include "sip/headers/via.h"
#include "sip/message.h"
#include "tests/sip/control_chars.h"

namespace catchline::sip {
namespace {

// Line ends written as \n in the text below become CRLF.
std::string crlf(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  return out;
}

// A request with every mandatory header; `extra` lines go after them, then `body`.
std::string request(std::string_view extra = "", std::string_view body = "",
                    std::string_view start = "INVITE sip:bob@biloxi.example.com SIP/2.0") {
  std::string text(start);
  text +=
      "\r\nVia: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
      "Max-Forwards: 70\r\n"
      "To: Bob <sip:bob@biloxi.example.com>\r\n"
      "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
      "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
      "CSeq: 314159 INVITE\r\n";
  text += crlf(extra);
  text += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  text += body;
  return text;
}

constexpr std::string_view kSdp =
    "v=0\r\no=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\ns=-\r\n"
    "c=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

TEST(MessageParser, ReadsARequestAndItsEssentials) {
  std::string text = request(
      "Contact: <sip:alice@pc33.atlanta.example.com>\nContent-Type: application/sdp\n", kSdp);
  auto message = parse_message_view(text);
  ASSERT_TRUE(message) << message.error().reason;
  EXPECT_TRUE(message->is_request());
  EXPECT_EQ(message->method(), Method::Invite);
  EXPECT_EQ(message->method_name(), "INVITE");
  EXPECT_EQ(message->request_uri(), "sip:bob@biloxi.example.com");
  EXPECT_EQ(message->status(), 0);
  EXPECT_EQ(message->call_id(), "a84b4c76e66710@pc33.atlanta.example.com");
  EXPECT_EQ(message->cseq_number(), 314159u);
  EXPECT_EQ(message->cseq_method(), Method::Invite);
  EXPECT_EQ(message->cseq_method_name(), "INVITE");
  EXPECT_EQ(message->top_via(), "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds");
  EXPECT_EQ(message->branch(), "z9hG4bK776asdhds");
  EXPECT_EQ(message->from_tag(), "1928301774");
  EXPECT_EQ(message->to_tag(), "");
  EXPECT_EQ(message->max_forwards(), 70);
  EXPECT_EQ(message->body(), kSdp);
  EXPECT_EQ(message->header_value(Header::ContentType), "application/sdp");
  EXPECT_EQ(message->headers().size(), 9u);
  EXPECT_FALSE(message->owns_text());
  EXPECT_EQ(message->raw().data(), text.data());
}

TEST(MessageParser, ReadsAResponse) {
  std::string text = crlf(
      "SIP/2.0 180 Ringing\n"
      "Via: SIP/2.0/UDP server10.biloxi.example.com;branch=z9hG4bK4b43c2ff8.1\n"
      "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;received=192.0.2.1\n"
      "To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\n"
      "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\n"
      "Call-ID: a84b4c76e66710\n"
      "CSeq: 314159 INVITE\n"
      "Content-Length: 0\n\n");
  auto message = parse_message(text);
  ASSERT_TRUE(message) << message.error().reason;
  EXPECT_TRUE(message->is_response());
  EXPECT_EQ(message->status(), 180);
  EXPECT_EQ(message->reason_phrase(), "Ringing");
  EXPECT_EQ(message->method(), Method::Invite);
  EXPECT_EQ(message->method_name(), "INVITE");
  EXPECT_EQ(message->request_uri(), "");
  EXPECT_EQ(message->to_tag(), "a6c85cf");
  EXPECT_EQ(message->branch(), "z9hG4bK4b43c2ff8.1");
  EXPECT_EQ(message->header_count(Header::Via), 2u);
  EXPECT_FALSE(message->max_forwards());
  EXPECT_TRUE(message->owns_text());
  EXPECT_EQ(message->body(), "");
}

TEST(MessageParser, AcceptsBareLineFeeds) {
  std::string text = request("", "hello");
  std::string lf;
  for (char c : text) {
    if (c != '\r') {
      lf += c;
    }
  }
  auto message = parse_message(lf);
  ASSERT_TRUE(message) << message.error().reason;
  EXPECT_EQ(message->call_id(), "a84b4c76e66710@pc33.atlanta.example.com");
  EXPECT_EQ(message->body(), "hello");
  EXPECT_EQ(message->header_value(Header::To), "Bob <sip:bob@biloxi.example.com>");
}

TEST(MessageParser, SkipsLineBreaksBeforeTheStartLine) {
  auto message = parse_message("\r\n\r\n\n" + request());
  ASSERT_TRUE(message) << message.error().reason;
  EXPECT_EQ(message->method(), Method::Invite);
}

TEST(MessageParser, KeepsFoldedValuesAndLetsTypedParsersReadThem) {
  auto message = parse_message(request("Subject: lunch\n  at noon\nX-Empty:\n"));
  ASSERT_TRUE(message) << message.error().reason;
  EXPECT_EQ(message->header_value(Header::Subject), "lunch\r\n  at noon");
  EXPECT_EQ(message->header_value("x-empty"), "");
  EXPECT_FALSE(message->header_value("X-Missing"));
}

TEST(MessageParser, FindsHeadersByCompactFormAndAnyCase) {
  std::string text = crlf(
      "OPTIONS sip:carol@chicago.example.com SIP/2.0\n"
      "v: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877\n"
      "MAX-FORWARDS: 70\n"
      "t: <sip:carol@chicago.example.com>\n"
      "f: Alice <sip:alice@atlanta.example.com>;tag=1928301774\n"
      "i: a84b4c76e66710\n"
      "cseq: 63104 OPTIONS\n"
      "m: <sip:alice@pc33.atlanta.example.com>\n"
      "k: 100rel\n"
      "l: 0\n\n");
  auto message = parse_message(text);
  ASSERT_TRUE(message) << message.error().reason;
  EXPECT_EQ(message->call_id(), "a84b4c76e66710");
  EXPECT_EQ(message->header_value(Header::Contact), "<sip:alice@pc33.atlanta.example.com>");
  EXPECT_EQ(message->header_value("Supported"), "100rel");
  EXPECT_EQ(message->header_value("K"), "100rel");
  EXPECT_EQ(message->header_value("content-length"), "0");
  EXPECT_EQ(message->max_forwards(), 70);
  EXPECT_EQ(message->view(message->headers()[0].name), "v");
  EXPECT_EQ(message->headers()[0].id, Header::Via);
}

TEST(MessageParser, CutsTheBodyToContentLengthAndTakesAllWithout) {
  std::string text = request("", "0123456789");
  text.replace(text.find("Content-Length: 10"), 18, "Content-Length: 4 ");
  auto cut = parse_message(text);
  ASSERT_TRUE(cut) << cut.error().reason;
  EXPECT_EQ(cut->body(), "0123");

  std::string without = request("", "abc");
  without.erase(without.find("Content-Length: 3\r\n"), 19);
  auto all = parse_message(without);
  ASSERT_TRUE(all) << all.error().reason;
  EXPECT_EQ(all->body(), "abc");
}

TEST(MessageParser, KeepsManyHeadersBeyondTheInlineTable) {
  std::string extra;
  for (int i = 0; i < 40; ++i) {
    extra += "X-Header-" + std::to_string(i) + ": value " + std::to_string(i) + "\n";
  }
  auto message = parse_message(request(extra));
  ASSERT_TRUE(message) << message.error().reason;
  EXPECT_EQ(message->headers().size(), 47u);
  EXPECT_EQ(message->header_value("x-header-39"), "value 39");
  EXPECT_EQ(message->call_id(), "a84b4c76e66710@pc33.atlanta.example.com");
  Message copy = *message;
  EXPECT_EQ(copy.header_value("X-Header-0"), "value 0");
  EXPECT_EQ(copy.headers().size(), 47u);
  EXPECT_NE(copy.headers().data(), message->headers().data());
}

TEST(MessageParser, ValidatesEveryViaContactAndRouteElement) {
  EXPECT_TRUE(
      parse_message(request("Via: SIP/2.0/TCP a.example.com;branch=z9hG4bK1, SIP/2.0/UDP "
                            "[2001:db8::1]:5070;branch=z9hG4bK2\n"
                            "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\n"
                            "Record-Route: <sip:p3.example.com;lr>\n"
                            "Contact: \"A, B\" <sip:a@b>;expires=60, <sip:c@d>\n")));
  struct Case {
    std::string_view extra;
    std::string_view reason;
  };
  const Case cases[] = {
      {"Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/UDP b:x\n", "Bad Via: port"},
      {"Via: SIP/2.0/UDP 192.0.2.15;;,;,,\n", "Bad Via: parameters"},
      {"Via:\n", "Bad Via: empty"},
      {"Contact: <sip:a@b>;;;;\n", "Bad Contact: bad parameters"},
      {"Contact: <sip:a@b>, *\n", "Bad Contact: * with other contacts"},
      {"Contact: <sip:a@b\n", "Bad Contact: unclosed <"},
      {"Contact:\n", "Bad Contact: empty"},
      {"Route: <sip:p1.example.com;lr>, <sip:p2 .example.com>\n", "Bad Route: bad URI: host"},
      {"Record-Route: sip:p1.example.com?x=y\n",
       "Bad Record-Route: URI with '?' or ',' outside <>"},
  };
  for (const Case& c : cases) {
    auto message = parse_message(request(c.extra));
    ASSERT_FALSE(message) << c.extra;
    EXPECT_EQ(message.error().reason, c.reason) << c.extra;
    EXPECT_EQ(message.error().status, 400) << c.extra;
  }
}

TEST(MessageParser, AcceptsAStarContactAlone) {
  std::string text =
      request("Contact: *\nExpires: 0\n", "", "REGISTER sip:registrar.example.com SIP/2.0");
  text.replace(text.find("314159 INVITE"), 13, "314159 REGISTER");
  auto registration = parse_message(text);
  ASSERT_TRUE(registration) << registration.error().reason;
  auto contact = parse_contact(*registration->header_value(Header::Contact));
  ASSERT_TRUE(contact);
  EXPECT_TRUE(contact->star);
}

// Replaces `from` in a good request by `to` and checks the reason of the refusal.
struct Refusal {
  std::string_view from;
  std::string_view to;
  std::string_view reason;
  int status = 400;
};

TEST(MessageParser, RefusesBrokenRequestsWithReasons) {
  const Refusal cases[] = {
      {"INVITE sip:bob@biloxi.example.com SIP/2.0", "INVITE sip:bob@biloxi.example.com SIP/3.0",
       "Version Not Supported", 505},
      {"INVITE sip:bob@biloxi.example.com SIP/2.0", "INVITE sip:bob@biloxi.example.com HTTP/1.1",
       "Bad request line"},
      {"INVITE sip:bob@biloxi.example.com SIP/2.0", "INVITE  sip:bob@biloxi.example.com SIP/2.0",
       "Bad request line"},
      {"INVITE sip:bob@biloxi.example.com SIP/2.0", "INVITE sip:bob@biloxi.example.com SIP/2.0 ",
       "Bad request line"},
      {"INVITE sip:bob@biloxi.example.com SIP/2.0", "INVITE sip:bob@biloxi.example.com",
       "Bad request line"},
      {"INVITE sip:bob@biloxi.example.com SIP/2.0", "IN(VITE sip:bob@biloxi.example.com SIP/2.0",
       "Bad request line: method"},
      {"INVITE sip:bob@biloxi.example.com SIP/2.0", "INVITE <sip:bob@biloxi.example.com> SIP/2.0",
       "Bad Request-URI: no scheme"},
      {"INVITE sip:bob@biloxi.example.com SIP/2.0",
       "INVITE sip:bob@biloxi.example.com?Route=x SIP/2.0", "Bad Request-URI: headers"},
      {"INVITE sip:bob@biloxi.example.com SIP/2.0", "INVITE sip:2001:db8::10 SIP/2.0",
       "Bad Request-URI: port"},
      {"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n", "", "Missing header: Call-ID"},
      {"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n", "",
       "Missing header: Via"},
      {"To: Bob <sip:bob@biloxi.example.com>\r\n", "", "Missing header: To"},
      {"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n", "",
       "Missing header: From"},
      {"CSeq: 314159 INVITE\r\n", "", "Missing header: CSeq"},
      {"CSeq: 314159 INVITE\r\n", "CSeq: 314159 INVITE\r\nCSeq: 314160 INVITE\r\n",
       "Duplicate header: CSeq"},
      {"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n", "Call-ID: a\r\ni: b\r\n",
       "Duplicate header: Call-ID"},
      {"To: Bob <sip:bob@biloxi.example.com>\r\n",
       "To: <sip:bob@biloxi.example.com>\r\nt: <sip:carol@chicago.example.com>\r\n",
       "Duplicate header: To"},
      {"Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nMax-Forwards: 69\r\n",
       "Duplicate header: Max-Forwards"},
      {"CSeq: 314159 INVITE", "CSeq: 314159", "Bad CSeq: no method"},
      {"CSeq: 314159 INVITE", "CSeq: 314159 OPTIONS", "Bad CSeq: method mismatch"},
      {"CSeq: 314159 INVITE", "CSeq: 314159 invite", "Bad CSeq: method mismatch"},
      {"CSeq: 314159 INVITE", "CSeq: 4294967301 INVITE", "Bad CSeq: number"},
      {"From: Alice <sip:alice@atlanta.example.com>",
       "From: \"Alice <sip:alice@atlanta.example.com>", "Bad From: unclosed quote"},
      {"To: Bob <sip:bob@biloxi.example.com>", "To: Bob < sip:bob@biloxi.example.com >",
       "Bad To: bad URI: no scheme"},
      {"To: Bob <sip:bob@biloxi.example.com>", "To: <sip:bob@biloxi.example.com>, <sip:b@c>",
       "Bad To: bad parameters"},
      {"Call-ID: a84b4c76e66710@pc33.atlanta.example.com", "Call-ID: a b", "Bad Call-ID"},
      {"Call-ID: a84b4c76e66710@pc33.atlanta.example.com", "Call-ID:", "Bad Call-ID"},
      {"Max-Forwards: 70", "Max-Forwards: 300", "Bad Max-Forwards"},
      {"Max-Forwards: 70", "Max-Forwards: seventy", "Bad Max-Forwards"},
      {"Content-Length: 0", "Content-Length: 1", "Bad Content-Length"},
      {"Content-Length: 0", "Content-Length: -999", "Bad Content-Length"},
      {"Content-Length: 0", "Content-Length: 0\r\nl: 0", "Duplicate header: Content-Length"},
      {"Max-Forwards: 70", "Max-Forwards 70", "Bad header line: no colon"},
      {"Max-Forwards: 70", "Max Forwards: 70", "Bad header line: no colon"},
      {"Max-Forwards: 70", ": 70", "Bad header line"},
      {"Max-Forwards: 70", " Max-Forwards: 70", "Bad Via: parameters"},  // folds into Via
  };
  for (const Refusal& c : cases) {
    std::string text = request();
    std::size_t at = text.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    text.replace(at, c.from.size(), c.to);
    auto message = parse_message(text);
    ASSERT_FALSE(message) << c.to;
    EXPECT_EQ(message.error().reason, c.reason) << c.to;
    EXPECT_EQ(message.error().status, c.status) << c.to;
  }
}

TEST(MessageParser, GivesResponsesStatusZeroSinceTheyAreNeverAnswered) {
  const std::string_view cases[] = {
      "SIP/2.0 4294967301 better not break the receiver\r\n",
      "SIP/2.0 99 Too Low\r\n",
      "SIP/2.0 700 Too High\r\n",
      "SIP/2.0 20 OK\r\n",
      "SIP/7.0 200 OK\r\n",
  };
  for (std::string_view start : cases) {
    std::string text = request();
    text.replace(0, text.find("\r\n") + 2, start);
    auto message = parse_message(text);
    ASSERT_FALSE(message) << start;
    EXPECT_EQ(message.error().status, 0) << start;
  }
  std::string text = request();
  text.replace(0, text.find("\r\n") + 2, "SIP/2.0 200 OK\r\n");
  text.replace(text.find("Call-ID"), 7, "X-Call-ID");
  auto missing = parse_message(text);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().reason, "Missing header: Call-ID");
  EXPECT_EQ(missing.error().status, 0);
}

TEST(MessageParser, ReadsStatusLinesWithEmptyOrMissingReason) {
  for (std::string_view start : {"SIP/2.0 100 \r\n", "SIP/2.0 100\r\n", "sip/2.0 100 \r\n"}) {
    std::string text = request();
    text.replace(0, text.find("\r\n") + 2, start);
    auto message = parse_message(text);
    ASSERT_TRUE(message) << start << message.error().reason;
    EXPECT_EQ(message->status(), 100);
    EXPECT_EQ(message->reason_phrase(), "");
  }
}

TEST(MessageParser, RefusesEmptyInput) {
  for (std::string_view text : {"", "\r\n\r\n", "\n"}) {
    auto message = parse_message_view(text);
    ASSERT_FALSE(message);
    EXPECT_EQ(message.error().reason, "Empty message");
  }
}

TEST(MessageParser, RefusesMessagesAboveTheSizeLimitWith513) {
  ParseLimits limits;
  limits.max_message_size = 100;
  auto message = parse_message(request(), limits);
  ASSERT_FALSE(message);
  EXPECT_EQ(message.error().reason, "Message too large");
  EXPECT_EQ(message.error().status, 513);

  std::string big = request("", std::string(70 * 1024, 'x'));
  auto default_limit = parse_message_view(big);
  ASSERT_FALSE(default_limit);
  EXPECT_EQ(default_limit.error().status, 513);
}

TEST(MessageParser, RefusesMoreHeaderLinesThanTheLimit) {
  ParseLimits limits;
  limits.max_headers = 10;  // the request has 7 lines of its own
  auto good = parse_message(request("X-A: 1\nX-B: 2\nX-C: 3\n"), limits);
  ASSERT_TRUE(good) << good.error().reason;
  auto message = parse_message(request("X-A: 1\nX-B: 2\nX-C: 3\nX-D: 4\n"), limits);
  ASSERT_FALSE(message);
  EXPECT_EQ(message.error().reason, "Too many headers");
}

TEST(MessageParser, ReportsWhereItWentWrong) {
  std::string text = request();
  text.replace(text.find("CSeq: 314159 INVITE"), 19, "CSeq: 314159 BYE");
  auto message = parse_message(text);
  ASSERT_FALSE(message);
  EXPECT_EQ(message.error().offset, text.find("314159 BYE"));
}

TEST(MessageParser, AcceptsHeadersWithoutTheFinalEmptyLine) {
  std::string text = request();
  text.resize(text.size() - 2);
  auto message = parse_message(text);
  ASSERT_TRUE(message) << message.error().reason;
  EXPECT_EQ(message->header_value(Header::ContentLength), "0");
  EXPECT_EQ(message->body(), "");
}

// ---- Control characters (RFC 3261 §25.1: no CTL in a header value but HTAB and folds) ----

// The control characters every table below tries, by name for the failure messages.
struct Control {
  char byte;
  std::string_view name;
};
constexpr Control kControls[] = {
    {'\0', "NUL"}, {'\x01', "SOH"}, {'\x7f', "DEL"}, {'\x1b', "ESC"}, {'\r', "bare CR"},
};

using testing::with_control;

// Replaces `from` in a good request (or response, when `start` is given) by `to` with each
// control character in place of "<CTL>", and checks the refusal's reason and status.
void expect_control_refused(std::string_view from, std::string_view to, std::string_view reason,
                            int status = 400, std::string_view start = "") {
  for (const Control& control : kControls) {
    std::string text = request();
    if (!start.empty()) {
      text.replace(0, text.find("\r\n"), start);
    }
    std::size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    const std::string bad = with_control(to, control.byte);
    text.replace(at, from.size(), bad);
    auto message = parse_message(text);
    ASSERT_FALSE(message) << control.name << " in " << to;
    EXPECT_EQ(message.error().reason, reason) << control.name << " in " << to;
    EXPECT_EQ(message.error().status, status) << control.name << " in " << to;
    EXPECT_EQ(message.error().reason.find(control.byte), std::string::npos) << control.name;
  }
}

TEST(MessageParser, RefusesAControlCharacterInAHeaderValueNamingTheHeader) {
  const std::string_view max = "Max-Forwards: 70";
  expect_control_refused(max, "Subject: lunch<CTL>at noon\r\nMax-Forwards: 70",
                         "Bad Subject: control character");
  expect_control_refused(max, "Subject: <CTL>\r\nMax-Forwards: 70",
                         "Bad Subject: control character");
  expect_control_refused(max, "Subject: lunch\r\n  at<CTL>noon\r\nMax-Forwards: 70",
                         "Bad Subject: control character");
  expect_control_refused(max, "s: lunch<CTL>\r\nMax-Forwards: 70",
                         "Bad Subject: control character");
  expect_control_refused(max, "X-Note: a<CTL>b\r\nMax-Forwards: 70",
                         "Bad X-Note: control character");
  expect_control_refused("Call-ID: a84b4c76e66710", "Call-ID: a84b4c<CTL>76e66710",
                         "Bad Call-ID: control character");
}

TEST(MessageParser, RefusesAControlCharacterInAToDisplayName) {
  const std::string_view to = "To: Bob <sip:bob@biloxi.example.com>";
  expect_control_refused(to, "To: \"Bob<CTL>\" <sip:bob@biloxi.example.com>",
                         "Bad To: control character");
  expect_control_refused(to, "To: \"Bob\\<CTL>\" <sip:bob@biloxi.example.com>",
                         "Bad To: control character");
  expect_control_refused(to, "To: Bob<CTL> <sip:bob@biloxi.example.com>",
                         "Bad To: control character");
}

TEST(MessageParser, RefusesAControlCharacterInAQuotedParameter) {
  expect_control_refused(
      "Max-Forwards: 70",
      "Reason: SIP;cause=200;text=\"Call completed<CTL>elsewhere\"\r\nMax-Forwards: 70",
      "Bad Reason: control character");
  expect_control_refused(
      "Max-Forwards: 70",
      "Contact: <sip:alice@pc33.atlanta.example.com>;note=\"a<CTL>b\"\r\nMax-Forwards: 70",
      "Bad Contact: control character");
}

TEST(MessageParser, RefusesAControlCharacterInAHeaderName) {
  expect_control_refused("Max-Forwards: 70", "Max-For<CTL>wards: 70",
                         "Bad header line: control character");
  expect_control_refused("Max-Forwards: 70", "X-Note<CTL>: 70",
                         "Bad header line: control character");
  expect_control_refused("Max-Forwards: 70", "<CTL>Max-Forwards: 70",
                         "Bad header line: control character");
  expect_control_refused("Max-Forwards: 70", "Max-Forwards <CTL>: 70",
                         "Bad header line: control character");
}

TEST(MessageParser, RefusesAControlCharacterInTheReasonPhraseOfAResponse) {
  // A response is never answered: status 0 (RFC 3261 §17.1.3).
  expect_control_refused("SIP/2.0 180 Ringing", "SIP/2.0 180 Ring<CTL>ing",
                         "Bad reason phrase: control character", 0, "SIP/2.0 180 Ringing");
  expect_control_refused("SIP/2.0 180 Ringing", "SIP/2.0 180 <CTL>",
                         "Bad reason phrase: control character", 0, "SIP/2.0 180 Ringing");
}

TEST(MessageParser, RefusesAControlCharacterInTheRequestUri) {
  const std::string_view line = "INVITE sip:bob@biloxi.example.com SIP/2.0";
  expect_control_refused(line, "INVITE sip:bob@bil<CTL>oxi.example.com SIP/2.0",
                         "Bad Request-URI: control character");
  expect_control_refused(line, "INVITE sip:b<CTL>ob@biloxi.example.com SIP/2.0",
                         "Bad Request-URI: control character");
  expect_control_refused(line, "INVITE sip:bob@biloxi.example.com;lr<CTL> SIP/2.0",
                         "Bad Request-URI: control character");
}

TEST(MessageParser, RefusesAControlCharacterElsewhereOnTheRequestLineWith400) {
  const std::string_view line = "INVITE sip:bob@biloxi.example.com SIP/2.0";
  // Not a version we do not speak (505): no version at all.
  expect_control_refused(line, "INVITE sip:bob@biloxi.example.com SIP/2.0<CTL>",
                         "Bad request line: control character");
  expect_control_refused(line, "INVITE sip:bob@biloxi.example.com SIP/2.<CTL>",
                         "Bad request line: control character");
  expect_control_refused(line, "INV<CTL>ITE sip:bob@biloxi.example.com SIP/2.0",
                         "Bad request line: control character");
}

TEST(MessageParser, RefusesABlankLineWithAControlCharacterBeforeTheBody) {
  // The headers end at CRLF CRLF; a line holding only a control character is no blank line.
  std::string text = request("", "body");
  for (const Control& control : kControls) {
    std::string bad = text;
    bad.replace(bad.find("\r\n\r\n") + 2, 0, with_control("<CTL>", control.byte));
    auto message = parse_message(bad);
    ASSERT_FALSE(message) << control.name;
    EXPECT_EQ(message.error().reason, "Bad header line: control character") << control.name;
  }
}

TEST(MessageParser, PointsTheOffsetAtTheControlCharacter) {
  std::string text = request(std::string("Subject: lunch\0at noon\n", 23));
  auto message = parse_message_view(text);
  ASSERT_FALSE(message);
  EXPECT_EQ(message.error().offset, text.find(std::string_view("\0", 1)));
}

TEST(MessageParser, AcceptsHtabAndUtf8InHeaderValues) {
  std::string text = request(
      "Subject: lunch\tat noon\n"
      "X-Note: caf\xc3\xa9 \xf0\x9f\x8d\x9d\t\xe2\x98\x80\n"
      "Contact: \"Jos\xc3\xa9\t\xf0\x9f\x98\x80\" <sip:alice@pc33.atlanta.example.com>\n"
      "Reason: SIP;cause=200;text=\"Anrufe \xc3\xbc\x62\x65rnommen\"\n");
  text.replace(text.find("To: Bob"), 7, "To: \"B\xc3\xb6\x62\tB\"");
  auto message = parse_message(text);
  ASSERT_TRUE(message) << message.error().reason;
  EXPECT_EQ(message->header_value(Header::Subject), "lunch\tat noon");
  EXPECT_EQ(message->header_value("X-Note"), "caf\xc3\xa9 \xf0\x9f\x8d\x9d\t\xe2\x98\x80");
  auto to = parse_name_addr(*message->header_value(Header::To));
  ASSERT_TRUE(to) << to.error().reason;
  EXPECT_EQ(to->display(), "B\xc3\xb6\x62\tB");
  auto contact = parse_contact(*message->header_value(Header::Contact));
  ASSERT_TRUE(contact) << contact.error().reason;
  EXPECT_EQ(contact->address.display(), "Jos\xc3\xa9\t\xf0\x9f\x98\x80");
}

TEST(MessageParser, AcceptsHtabAndUtf8InTheReasonPhrase) {
  std::string text = request();
  text.replace(0, text.find("\r\n"), "SIP/2.0 180 Es kl\xc3\xa4ngelt\t\xf0\x9f\x94\x94");
  auto message = parse_message(text);
  ASSERT_TRUE(message) << message.error().reason;
  EXPECT_EQ(message->reason_phrase(), "Es kl\xc3\xa4ngelt\t\xf0\x9f\x94\x94");
}

TEST(MessageParser, AcceptsControlCharactersInTheBody) {
  const std::string body("\0\x01\x1b\x7f\r", 5);
  auto message = parse_message(request("Content-Type: application/octet-stream\n", body));
  ASSERT_TRUE(message) << message.error().reason;
  EXPECT_EQ(message->body(), body);
}

TEST(MessageParser, AcceptsATruncatedCrlfAtTheEndOfTheText) {
  std::string text = request();
  text.resize(text.size() - 3);  // "Content-Length: 0\r"
  auto message = parse_message(text);
  ASSERT_TRUE(message) << message.error().reason;
  EXPECT_EQ(message->header_value(Header::ContentLength), "0");
}

}  // namespace
}  // namespace catchline::sip
