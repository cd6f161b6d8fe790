#include "sip/txn/wire_text.h"

#include <gtest/gtest.h>

#include <string_view>

#include "sip/headers/via.h"

namespace catchline::sip::txn {
namespace {

TEST(ViaSentBy, AgreesWithTheViaParser) {
  for (std::string_view via : {
           "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport",
           "SIP/2.0/TCP host.example.test;branch=z9hG4bK2",
           "SIP / 2.0 / UDP  host.example.test ;branch=z9hG4bK3",
           "SIP/2.0/UDP [2001:db8::1]:5061;received=192.0.2.4",
           "SIP/2.0/UDP h",
           "SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK4",
       }) {
    auto parsed = parse_via(via);
    ASSERT_TRUE(parsed) << via;
    EXPECT_EQ(via_sent_by(via), parsed->sent_by) << via;
  }
}

TEST(ViaSentBy, GarbageGivesNothing) {
  EXPECT_EQ(via_sent_by("SIP/2.0"), "");
  EXPECT_EQ(via_sent_by(""), "");
}

TEST(AddressText, WritesIpv4AndIpv6) {
  EXPECT_EQ(AddressText(boost::asio::ip::make_address("192.0.2.1")).view(), "192.0.2.1");
  EXPECT_EQ(AddressText(boost::asio::ip::make_address("10.0.255.7")).view(), "10.0.255.7");
  EXPECT_EQ(AddressText(boost::asio::ip::make_address("0.0.0.0")).view(), "0.0.0.0");
  EXPECT_EQ(AddressText(boost::asio::ip::make_address("2001:db8::1")).view(), "2001:db8::1");
  EXPECT_EQ(AddressText(boost::asio::ip::make_address("::1")).view(), "::1");
}

}  // namespace
}  // namespace catchline::sip::txn
