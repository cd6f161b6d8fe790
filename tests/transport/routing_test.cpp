#include "sip/transport/routing.h"

#include <gtest/gtest.h>

namespace catchline::sip::transport {
namespace {

using boost::asio::ip::make_address;

Via via(std::string_view transport, std::string_view host, std::optional<std::uint16_t> port) {
  Via v;
  v.protocol_name = "SIP";
  v.protocol_version = "2.0";
  v.transport = transport;
  v.host = host;
  v.port = port;
  v.branch = "z9hG4bK776asdhds";
  return v;
}

struct TargetCase {
  const char* name;
  Via top_via;
  Peer source;
  Peer expected;
};

TEST(ResponseTarget, FollowsRfc3261And3581) {
  const auto nat = make_address("198.51.100.7");
  const auto phone = make_address("192.168.1.20");
  Via rport = via("UDP", "192.168.1.20", 5062);
  rport.rport = true;
  Via rport_no_port = via("UDP", "192.168.1.20", std::nullopt);
  rport_no_port.rport = true;
  Via maddr = via("UDP", "192.168.1.20", 5070);
  maddr.maddr = "239.255.255.1";
  Via maddr_name = via("UDP", "192.168.1.20", 5070);
  maddr_name.maddr = "proxy.example.test";
  Via rport_tcp = via("TCP", "192.168.1.20", 5062);
  rport_tcp.rport = true;

  const TargetCase cases[] = {
      {"udp: received address, sent-by port",
       via("UDP", "192.168.1.20", 5062),
       {Protocol::Udp, nat, 40000, 0, 1},
       {Protocol::Udp, nat, 5062, 0, 1}},
      {"udp: sent-by without port means 5060",
       via("UDP", "192.168.1.20", std::nullopt),
       {Protocol::Udp, phone, 40000, 0, 0},
       {Protocol::Udp, phone, 5060, 0, 0}},
      {"udp with rport: source address and source port",
       rport,
       {Protocol::Udp, nat, 40000, 0, 2},
       {Protocol::Udp, nat, 40000, 0, 2}},
      {"udp with rport and no sent-by port: source port",
       rport_no_port,
       {Protocol::Udp, nat, 40001, 0, 0},
       {Protocol::Udp, nat, 40001, 0, 0}},
      {"udp with maddr: maddr and sent-by port",
       maddr,
       {Protocol::Udp, nat, 40000, 0, 0},
       {Protocol::Udp, make_address("239.255.255.1"), 5070, 0, 0}},
      {"udp with a maddr that is a name: received address",
       maddr_name,
       {Protocol::Udp, nat, 40000, 0, 0},
       {Protocol::Udp, nat, 5070, 0, 0}},
      {"tcp: same connection, sent-by port for a new one",
       via("TCP", "192.168.1.20", 5062),
       {Protocol::Tcp, nat, 40000, 17, 3},
       {Protocol::Tcp, nat, 5062, 17, 3}},
      {"tcp with rport: still the connection",
       rport_tcp,
       {Protocol::Tcp, nat, 40000, 18, 0},
       {Protocol::Tcp, nat, 5062, 18, 0}},
  };
  for (const TargetCase& c : cases) {
    SCOPED_TRACE(c.name);
    Peer target = response_target(c.top_via, c.source);
    EXPECT_EQ(target, c.expected) << target.to_string() << " connection=" << target.connection
                                  << " local=" << target.local;
  }
}

Uri sip_uri(std::string_view host, std::optional<std::uint16_t> port,
            std::string_view params = "") {
  Uri uri;
  uri.scheme = Scheme::Sip;
  uri.scheme_text = "sip";
  uri.user = "1002";
  uri.host = host;
  uri.port = port;
  uri.params = ParamList(params);
  return uri;
}

TEST(Resolve, TakesIpv4LiteralWithDefaultPortAndUdp) {
  auto peer = resolve(sip_uri("192.0.2.10", std::nullopt));
  ASSERT_TRUE(peer) << peer.error().reason;
  EXPECT_EQ(peer->protocol, Protocol::Udp);
  EXPECT_EQ(peer->address, make_address("192.0.2.10"));
  EXPECT_EQ(peer->port, 5060);
  EXPECT_EQ(peer->connection, 0u);
}

TEST(Resolve, TakesBracketedIpv6AndTransportTcp) {
  auto peer = resolve(sip_uri("[2001:db8::5]", 5080, ";transport=TCP"));
  ASSERT_TRUE(peer) << peer.error().reason;
  EXPECT_EQ(peer->protocol, Protocol::Tcp);
  EXPECT_EQ(peer->address, make_address("2001:db8::5"));
  EXPECT_EQ(peer->port, 5080);
}

TEST(Resolve, TakesLocalhostAsLoopback) {
  auto peer = resolve(sip_uri("localhost", 5070));
  ASSERT_TRUE(peer) << peer.error().reason;
  EXPECT_EQ(peer->address, make_address("127.0.0.1"));
  EXPECT_EQ(peer->port, 5070);
}

TEST(Resolve, PrefersMaddrOverHost) {
  auto peer = resolve(sip_uri("pbx.example.test", std::nullopt, ";maddr=192.0.2.99;lr"));
  ASSERT_TRUE(peer) << peer.error().reason;
  EXPECT_EQ(peer->address, make_address("192.0.2.99"));
}

TEST(Resolve, RefusesHostNames) {
  auto peer = resolve(sip_uri("pbx.example.test", std::nullopt));
  ASSERT_FALSE(peer);
  EXPECT_EQ(peer.error().reason,
            "resolve: host pbx.example.test is not an IP literal (names are resolved at "
            "configuration time)");
}

TEST(Resolve, RefusesTransportsWeDoNotSpeak) {
  auto peer = resolve(sip_uri("192.0.2.10", std::nullopt, ";transport=tls"));
  ASSERT_FALSE(peer);
  EXPECT_EQ(peer.error().reason, "resolve: transport tls not supported");
}

TEST(Resolve, RefusesSips) {
  Uri uri = sip_uri("192.0.2.10", std::nullopt);
  uri.scheme = Scheme::Sips;
  auto peer = resolve(uri);
  ASSERT_FALSE(peer);
  EXPECT_EQ(peer.error().reason, "resolve: sips requires TLS, not supported");
}

}  // namespace
}  // namespace catchline::sip::transport
