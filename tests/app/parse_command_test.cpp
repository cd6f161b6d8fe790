#include "app/parse_command.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace catchline::app {
namespace {

using nlohmann::json;

struct ParseRun {
  int code = -1;
  json out;
  std::string err;
};

ParseRun parse_run(const std::string& input) {
  std::istringstream in(input);
  std::ostringstream out;
  std::ostringstream err;
  ParseRun result;
  result.code = run_parse(in, out, err);
  result.out = json::parse(out.str());
  result.err = err.str();
  return result;
}

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

const std::string kInvite = crlf(
    "INVITE sip:bob@biloxi.example.com;transport=tcp SIP/2.0\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com:5062;branch=z9hG4bK776asdhds;rport, "
    "SIP/2.0/TCP [2001:db8::1];branch=z9hG4bK2;received=192.0.2.7\n"
    "Max-Forwards: 70\n"
    "To: Bob <sip:bob@biloxi.example.com>\n"
    "From: \"Alice \\\"A\\\" Smith\" <sip:alice:pw@atlanta.example.com?subject=hi>;tag=1928301774\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\n"
    "CSeq: 314159 INVITE\n"
    "Contact: <sip:alice@pc33.atlanta.example.com>;expires=60;q=0.5\n"
    "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\n"
    "Subject: lunch\n"
    "  at noon\n"
    "Content-Type: text/plain\n"
    "Content-Length: 5\n"
    "\n"
    "hello");

TEST(ParseCommand, PrintsTheStructureOfARequest) {
  ParseRun result = parse_run(kInvite);
  ASSERT_EQ(result.code, 0) << result.out.dump(2) << result.err;
  const json& out = result.out;
  EXPECT_EQ(out["type"], "request");
  EXPECT_EQ(out["method"], "INVITE");
  EXPECT_EQ(out["version"], "SIP/2.0");
  EXPECT_EQ(out["request_uri"]["scheme"], "sip");
  EXPECT_EQ(out["request_uri"]["user"], "bob");
  EXPECT_EQ(out["request_uri"]["host"], "biloxi.example.com");
  EXPECT_EQ(out["request_uri"]["params"]["transport"], "tcp");
  EXPECT_EQ(out["call_id"], "a84b4c76e66710@pc33.atlanta.example.com");
  EXPECT_EQ(out["cseq"]["number"], 314159);
  EXPECT_EQ(out["cseq"]["method"], "INVITE");
  EXPECT_EQ(out["max_forwards"], 70);
  EXPECT_EQ(out["body_length"], 5);
  EXPECT_EQ(out["record_route"], json::array());
  EXPECT_TRUE(result.err.empty());
}

TEST(ParseCommand, ListsHeadersAsReceivedInOrder) {
  ParseRun result = parse_run(kInvite);
  ASSERT_EQ(result.code, 0);
  const json& headers = result.out["headers"];
  ASSERT_EQ(headers.size(), 11u);
  EXPECT_EQ(headers[0]["name"], "Via");
  EXPECT_EQ(headers[2]["name"], "To");
  EXPECT_EQ(headers[2]["value"], "Bob <sip:bob@biloxi.example.com>");
  EXPECT_EQ(headers[8]["name"], "Subject");
  EXPECT_EQ(headers[8]["value"], "lunch\r\n  at noon");
}

TEST(ParseCommand, BreaksEveryViaEntryIntoItsParameters) {
  ParseRun result = parse_run(kInvite);
  ASSERT_EQ(result.code, 0);
  const json& via = result.out["via"];
  ASSERT_EQ(via.size(), 2u);
  EXPECT_EQ(via[0]["transport"], "UDP");
  EXPECT_EQ(via[0]["host"], "pc33.atlanta.example.com");
  EXPECT_EQ(via[0]["port"], 5062);
  EXPECT_EQ(via[0]["branch"], "z9hG4bK776asdhds");
  EXPECT_EQ(via[0]["rport"], true);
  EXPECT_EQ(via[0]["params"]["rport"], "");
  EXPECT_EQ(via[1]["transport"], "TCP");
  EXPECT_EQ(via[1]["host"], "[2001:db8::1]");
  EXPECT_EQ(via[1]["received"], "192.0.2.7");
  EXPECT_FALSE(via[1].contains("port"));
}

TEST(ParseCommand, ResolvesDisplayNamesAndSplitsUris) {
  ParseRun result = parse_run(kInvite);
  ASSERT_EQ(result.code, 0);
  const json& from = result.out["from"];
  EXPECT_EQ(from["display_name"], "Alice \"A\" Smith");
  EXPECT_EQ(from["tag"], "1928301774");
  EXPECT_EQ(from["uri"]["user"], "alice");
  EXPECT_EQ(from["uri"]["password"], "pw");
  EXPECT_EQ(from["uri"]["headers"]["subject"], "hi");
  EXPECT_EQ(result.out["to"]["display_name"], "Bob");
  EXPECT_FALSE(result.out["to"].contains("tag"));

  const json& contact = result.out["contact"];
  ASSERT_EQ(contact.size(), 1u);
  EXPECT_EQ(contact[0]["expires"], 60);
  EXPECT_FLOAT_EQ(contact[0]["q"].get<float>(), 0.5f);
  const json& route = result.out["route"];
  ASSERT_EQ(route.size(), 2u);
  EXPECT_EQ(route[1]["uri"]["host"], "p2.example.com");
  EXPECT_EQ(route[1]["uri"]["params"]["lr"], "");
}

TEST(ParseCommand, PrintsAResponse) {
  ParseRun result =
      parse_run(crlf("SIP/2.0 180 Ringing\n"
                     "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\n"
                     "To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\n"
                     "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\n"
                     "Call-ID: a84b4c76e66710\n"
                     "CSeq: 314159 INVITE\n"
                     "Contact: *\n"
                     "Content-Length: 0\n\n"));
  ASSERT_EQ(result.code, 0) << result.out.dump(2);
  EXPECT_EQ(result.out["type"], "response");
  EXPECT_EQ(result.out["status"], 180);
  EXPECT_EQ(result.out["reason"], "Ringing");
  EXPECT_FALSE(result.out.contains("method"));
  EXPECT_EQ(result.out["to"]["tag"], "a6c85cf");
  EXPECT_EQ(result.out["contact"][0]["star"], true);
  EXPECT_FALSE(result.out.contains("max_forwards"));
}

TEST(ParseCommand, AcceptsBareLineFeeds) {
  std::string lf;
  for (char c : kInvite) {
    if (c != '\r') {
      lf += c;
    }
  }
  ParseRun result = parse_run(lf);
  ASSERT_EQ(result.code, 0) << result.out.dump(2);
  EXPECT_EQ(result.out["body_length"], 5);
  EXPECT_EQ(result.out["headers"][8]["value"], "lunch\n  at noon");
}

TEST(ParseCommand, ShowsOtherSchemesAsOpaque) {
  std::string text = kInvite;
  text.replace(text.find("sip:bob@biloxi.example.com;transport=tcp"), 40, "urn:service:sos");
  ParseRun result = parse_run(text);
  ASSERT_EQ(result.code, 0) << result.out.dump(2);
  EXPECT_EQ(result.out["request_uri"]["scheme"], "urn");
  EXPECT_EQ(result.out["request_uri"]["opaque"], "service:sos");
}

TEST(ParseCommand, RefusesInvalidMessagesWithReasonStatusAndOffset) {
  struct Case {
    std::string_view from;
    std::string_view to;
    std::string_view reason;
    int status;
  };
  const Case cases[] = {
      {"CSeq: 314159 INVITE", "CSeq: 314159", "Bad CSeq: no method", 400},
      {"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n", "", "Missing header: Call-ID", 400},
      {"SIP/2.0\r\nVia", "SIP/3.0\r\nVia", "Version Not Supported", 505},
      {"<sip:p2.example.com;lr>", "<sip:p2.example.com;lr", "Bad Route: unclosed <", 400},
      {";expires=60", ";expires=soon", "Bad Contact: bad expires", 400},
      {"branch=z9hG4bK2;", "branch=z9hG4bK2;;", "Bad Via: parameters", 400},
      {"Content-Length: 5", "Content-Length: 6", "Bad Content-Length", 400},
  };
  for (const Case& c : cases) {
    std::string text = kInvite;
    std::size_t at = text.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    text.replace(at, c.from.size(), c.to);
    ParseRun result = parse_run(text);
    EXPECT_EQ(result.code, 1) << c.to;
    EXPECT_EQ(result.out["error"], c.reason) << c.to;
    EXPECT_EQ(result.out["status"], c.status) << c.to;
    EXPECT_TRUE(result.out["offset"].is_number()) << c.to;
    EXPECT_NE(result.err.find(std::string(c.reason)), std::string::npos) << result.err;
  }
}

TEST(ParseCommand, RefusesANulInAHeaderValueWithoutEchoingIt) {
  std::string text = kInvite;
  text.replace(text.find("lunch"), 5, std::string("lu\0ch", 5));
  std::istringstream in(text);
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(run_parse(in, out, err), 1);
  EXPECT_EQ(out.str().find('\0'), std::string::npos);
  EXPECT_EQ(err.str().find('\0'), std::string::npos);
  json report = json::parse(out.str());
  EXPECT_EQ(report["error"], "Bad Subject: control character");
  EXPECT_EQ(report["status"], 400);
  EXPECT_EQ(report["offset"], text.find('\0'));
  EXPECT_FALSE(report.contains("headers"));
}

TEST(ParseCommand, RefusesControlCharactersInADisplayNameAndTheRequestUri) {
  for (char control : {'\x01', '\x1b', '\x7f'}) {
    std::string name = kInvite;
    name.replace(name.find("To: Bob"), 7, std::string("To: B") + control + "ob");
    EXPECT_EQ(parse_run(name).out["error"], "Bad To: control character") << int(control);
    std::string uri = kInvite;
    uri.replace(uri.find("sip:bob@biloxi"), 7, std::string("sip:b") + control + "ob");
    EXPECT_EQ(parse_run(uri).out["error"], "Bad Request-URI: control character") << int(control);
  }
}

TEST(ParseCommand, PrintsHtabAndUtf8InValues) {
  std::string text = kInvite;
  text.replace(text.find("lunch"), 5, "caf\xc3\xa9\t\xf0\x9f\x8d\x9d");
  text.replace(text.find("To: Bob"), 7, "To: \"B\xc3\xb6\x62\t\xf0\x9f\x98\x80\"");
  ParseRun result = parse_run(text);
  ASSERT_EQ(result.code, 0) << result.out.dump(2);
  EXPECT_EQ(result.out["headers"][8]["value"], "caf\xc3\xa9\t\xf0\x9f\x8d\x9d\r\n  at noon");
  EXPECT_EQ(result.out["to"]["display_name"], "B\xc3\xb6\x62\t\xf0\x9f\x98\x80");
}

TEST(ParseCommand, RefusesEmptyAndOversizedInput) {
  ParseRun empty = parse_run("");
  EXPECT_EQ(empty.code, 1);
  EXPECT_EQ(empty.out["error"], "Empty message");

  ParseRun big = parse_run(kInvite + std::string(70 * 1024, 'x'));
  EXPECT_EQ(big.code, 1);
  EXPECT_EQ(big.out["error"], "Message too large");
  EXPECT_EQ(big.out["status"], 513);
}

TEST(ParseCommand, KeepsJsonValidForBytesThatAreNotUtf8) {
  std::string text = kInvite;
  text.replace(text.find("lunch"), 5, "l\xE9nch");
  ParseRun result = parse_run(text);
  ASSERT_EQ(result.code, 0);
  EXPECT_TRUE(result.out["headers"][8]["value"].is_string());
}

}  // namespace
}  // namespace catchline::app
