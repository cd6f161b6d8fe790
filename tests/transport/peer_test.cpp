#include "sip/transport/peer.h"

#include <gtest/gtest.h>

#include "sip/transport/listen_spec.h"

namespace catchline::sip::transport {
namespace {

using boost::asio::ip::make_address;

TEST(Peer, WritesIpv4WithProtocolAndPort) {
  Peer peer{Protocol::Udp, make_address("127.0.0.1"), 5060};
  EXPECT_EQ(peer.to_string(), "udp:127.0.0.1:5060");
}

TEST(Peer, WritesIpv6InBrackets) {
  Peer peer{Protocol::Tcp, make_address("::1"), 5061};
  EXPECT_EQ(peer.to_string(), "tcp:[::1]:5061");
}

TEST(Peer, EqualityIncludesConnection) {
  Peer a{Protocol::Tcp, make_address("192.0.2.1"), 5060, 7, 0};
  Peer b = a;
  EXPECT_EQ(a, b);
  b.connection = 8;
  EXPECT_NE(a, b);
}

struct GoodSpec {
  const char* text;
  Protocol protocol;
  const char* address;
  std::uint16_t port;
};

TEST(ListenSpec, ParsesValidSpecs) {
  const GoodSpec cases[] = {
      {"udp:0.0.0.0:5060", Protocol::Udp, "0.0.0.0", 5060},
      {"tcp:[::1]:5061", Protocol::Tcp, "::1", 5061},
      {"udp:127.0.0.1:0", Protocol::Udp, "127.0.0.1", 0},
      {"TCP:10.0.0.1:65535", Protocol::Tcp, "10.0.0.1", 65535},
      {"udp:192.0.2.7", Protocol::Udp, "192.0.2.7", 5060},
      {"tcp:[::]", Protocol::Tcp, "::", 5060},
      {"udp:[2001:db8::1]:5080", Protocol::Udp, "2001:db8::1", 5080},
  };
  for (const GoodSpec& c : cases) {
    SCOPED_TRACE(c.text);
    auto spec = parse_listen_spec(c.text);
    ASSERT_TRUE(spec) << spec.error().reason;
    EXPECT_EQ(spec->protocol, c.protocol);
    EXPECT_EQ(spec->address, make_address(c.address));
    EXPECT_EQ(spec->port, c.port);
  }
}

struct BadSpec {
  const char* text;
  const char* reason;
};

TEST(ListenSpec, RefusesBadSpecsNamingTheFault) {
  const BadSpec cases[] = {
      {"0.0.0.0:5060", "listen \"0.0.0.0:5060\": protocol must be udp or tcp"},
      {"udp", "listen \"udp\": expected PROTOCOL:ADDRESS[:PORT], e.g. udp:0.0.0.0:5060"},
      {"tls:0.0.0.0:5061", "listen \"tls:0.0.0.0:5061\": protocol must be udp or tcp"},
      {"udp::5060",
       "listen \"udp::5060\": missing address (use 0.0.0.0 or [::] for every interface)"},
      {"udp:1.2.3.4:99999", "listen \"udp:1.2.3.4:99999\": port must be 0..65535"},
      {"udp:1.2.3.4:50x", "listen \"udp:1.2.3.4:50x\": port must be a number"},
      {"udp:1.2.3.4:", "listen \"udp:1.2.3.4:\": port must be a number"},
      {"tcp:pbx.example.test:5060",
       "listen \"tcp:pbx.example.test:5060\": address must be an IPv4 or bracketed IPv6 literal"},
      {"tcp:::1:5060",
       "listen \"tcp:::1:5060\": IPv6 addresses must be written in brackets, e.g. tcp:[::1]:5060"},
      {"tcp:[::1:5060", "listen \"tcp:[::1:5060\": IPv6 address lacks its closing ']'"},
      {"tcp:[::1]5060", "listen \"tcp:[::1]5060\": expected ':' and a port after ']'"},
      {"tcp:[127.0.0.1]:5060",
       "listen \"tcp:[127.0.0.1]:5060\": brackets are only for IPv6 addresses"},
  };
  for (const BadSpec& c : cases) {
    SCOPED_TRACE(c.text);
    auto spec = parse_listen_spec(c.text);
    ASSERT_FALSE(spec);
    EXPECT_EQ(spec.error().reason, c.reason);
  }
}

TEST(ListenSpec, WritesItselfBackAsASpec) {
  auto spec = parse_listen_spec("tcp:[::1]:5061");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->to_string(), "tcp:[::1]:5061");
}

}  // namespace
}  // namespace catchline::sip::transport
