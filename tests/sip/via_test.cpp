#include "sip/headers/via.h"

#include <gtest/gtest.h>

namespace catchline::sip {
namespace {

TEST(ViaParser, ReadsEveryPart) {
  auto via = parse_via(
      "SIP/2.0/UDP "
      "[2001:db8::1]:5060;branch=z9hG4bK7;received=192.0.2.1;rport=5062;maddr=239.1.1.1;ttl=16");
  ASSERT_TRUE(via) << via.error().reason;
  EXPECT_EQ(via->protocol_name, "SIP");
  EXPECT_EQ(via->protocol_version, "2.0");
  EXPECT_EQ(via->transport, "UDP");
  EXPECT_EQ(via->host, "[2001:db8::1]");
  EXPECT_EQ(via->port, 5060);
  EXPECT_EQ(via->sent_by, "[2001:db8::1]:5060");
  EXPECT_EQ(via->branch, "z9hG4bK7");
  EXPECT_TRUE(via->rfc3261_branch());
  EXPECT_EQ(via->received, "192.0.2.1");
  EXPECT_TRUE(via->rport);
  EXPECT_EQ(via->rport_value, 5062);
  EXPECT_EQ(via->maddr, "239.1.1.1");
  EXPECT_EQ(via->ttl, 16);
  EXPECT_EQ(via->params.get("branch"), "z9hG4bK7");
}

TEST(ViaParser, ReadsAnRportFlagWithoutValue) {
  auto via = parse_via("SIP/2.0/TCP pc33.example.com;rport;branch=z9hG4bKx");
  ASSERT_TRUE(via);
  EXPECT_TRUE(via->rport);
  EXPECT_FALSE(via->rport_value);
  EXPECT_FALSE(via->port);
  EXPECT_EQ(via->sent_by, "pc33.example.com");
  EXPECT_FALSE(via->received);
}

TEST(ViaParser, AcceptsWhitespaceAndFoldingAroundSeparators) {
  // RFC 4475 wsinv: LWS around '/', ':', ';' and '='.
  auto via =
      parse_via("SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8");
  ASSERT_TRUE(via) << via.error().reason;
  EXPECT_EQ(via->transport, "TCP");
  EXPECT_EQ(via->host, "spindle.example.com");
  EXPECT_EQ(via->branch, "z9hG4bK9ikj8");

  auto spaced_port = parse_via("SIP/2.0/UDP host.example.com : 5070 ;branch=z9hG4bKa");
  ASSERT_TRUE(spaced_port) << spaced_port.error().reason;
  EXPECT_EQ(spaced_port->port, 5070);
}

TEST(ViaParser, KeepsRfc2543BranchesAndUnknownTransports) {
  auto via = parse_via("SIP/2.0/UNKNOWN 192.0.2.2;branch=390skdjuw");
  ASSERT_TRUE(via);
  EXPECT_EQ(via->transport, "UNKNOWN");
  EXPECT_FALSE(via->rfc3261_branch());
  auto no_branch = parse_via("SIP/2.0/UDP iftgw.example.com");
  ASSERT_TRUE(no_branch);
  EXPECT_EQ(no_branch->branch, "");
}

TEST(ViaParser, AcceptsIpv6ReceivedWithAndWithoutBrackets) {
  // RFC 5118 §4.5
  auto bracketed =
      parse_via("SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3");
  ASSERT_TRUE(bracketed) << bracketed.error().reason;
  EXPECT_EQ(bracketed->received, "[2001:db8::9:255]");
  auto bare = parse_via("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3");
  ASSERT_TRUE(bare) << bare.error().reason;
  EXPECT_EQ(bare->received, "2001:db8::9:255");
}

TEST(ViaParser, RejectsMalformedEntriesWithReasons) {
  struct Case {
    std::string_view text;
    std::string_view reason;
  };
  const Case cases[] = {
      {"", "Bad Via: protocol"},
      {";", "Bad Via: protocol"},
      {"SIP 2.0/UDP host", "Bad Via: protocol"},
      {"SIP//UDP host", "Bad Via: protocol version"},
      {"SIP/2.0 host", "Bad Via: no transport"},
      {"SIP/2.0/ host", "Bad Via: no sent-by"},  // SWS after '/': "host" is the transport
      {"SIP/2.0/UDP", "Bad Via: no sent-by"},
      {"SIP/2.0/UDPhost", "Bad Via: no sent-by"},
      {"SIP/2.0/UDP ;branch=z9hG4bK1", "Bad Via: host"},
      {"SIP/2.0/UDP [2001:db8:::1]", "Bad Via: host"},
      {"SIP/2.0/UDP [2001:db8::1", "Bad Via: host"},
      {"SIP/2.0/UDP host:", "Bad Via: port"},
      {"SIP/2.0/UDP host:65536", "Bad Via: port"},
      {"SIP/2.0/UDP host:50a", "Bad Via: parameters"},
      {"SIP/2.0/UDP 192.0.2.15;;", "Bad Via: parameters"},
      {"SIP/2.0/UDP host;branch", "Bad Via: branch"},
      {"SIP/2.0/UDP host;branch=\"x\"", "Bad Via: branch"},
      {"SIP/2.0/UDP host;received=example.com", "Bad Via: received"},
      {"SIP/2.0/UDP host;received=256.0.0.1", "Bad Via: received"},
      {"SIP/2.0/UDP host;rport=x", "Bad Via: rport"},
      {"SIP/2.0/UDP host;rport=70000", "Bad Via: rport"},
      {"SIP/2.0/UDP host;ttl=256", "Bad Via: ttl"},
      {"SIP/2.0/UDP host;maddr=[::1", "Bad Via: maddr"},
      {"SIP/2.0/UDP host junk", "Bad Via: parameters"},
  };
  for (const Case& c : cases) {
    auto via = parse_via(c.text);
    ASSERT_FALSE(via) << c.text;
    EXPECT_EQ(via.error().reason, c.reason) << c.text;
  }
}

}  // namespace
}  // namespace catchline::sip
