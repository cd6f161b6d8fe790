#include "pbx/security/guess_guard.h"

#include <gtest/gtest.h>

#include <tuple>

namespace catchline::pbx::security {
namespace {

using namespace std::chrono_literals;
using boost::asio::ip::make_address;

const auto kPhone = make_address("192.0.2.7");
const auto kColleague = make_address("192.0.2.8");
const auto kOffice = make_address("198.51.100.1");
const auto kPhone6 = make_address("2001:db8::7");

GuardSettings small() {
  GuardSettings settings;
  settings.max_failures = 3;
  settings.max_failures_per_ip = 6;
  settings.window = 60s;
  settings.ban_time = 2s;
  return settings;
}

/// `count` failures from address:port; the ban the last one started, if any.
std::optional<Ban> fail(GuessGuard& guard, const boost::asio::ip::address& address,
                        std::uint16_t port, int count = 1) {
  std::optional<Ban> ban;
  for (int i = 0; i < count; ++i) {
    ban = guard.record_failure(address, port);
  }
  return ban;
}

TEST(GuessGuard, NothingBannedAtFirst) {
  base::ManualClock clock;
  GuessGuard guard(clock, small());
  EXPECT_FALSE(guard.banned(kPhone, 5060));
}

TEST(GuessGuard, PortTierBansThatPortAfterMaxFailures) {
  base::ManualClock clock;
  GuessGuard guard(clock, small());
  EXPECT_FALSE(fail(guard, kPhone, 5060, 2));
  EXPECT_FALSE(guard.banned(kPhone, 5060));
  auto ban = fail(guard, kPhone, 5060);
  ASSERT_TRUE(ban);
  EXPECT_EQ(ban->scope, Ban::Scope::Port);
  EXPECT_EQ(ban->source(), "192.0.2.7:5060");
  EXPECT_EQ(ban->failures, 3u);
  EXPECT_EQ(ban->until, clock.now() + 2s);
  EXPECT_TRUE(guard.banned(kPhone, 5060));
}

TEST(GuessGuard, PortBanSparesOtherPortsOfTheSameAddress) {
  base::ManualClock clock;
  GuessGuard guard(clock, small());
  fail(guard, kPhone, 5060, 3);
  EXPECT_TRUE(guard.banned(kPhone, 5060));
  EXPECT_FALSE(guard.banned(kPhone, 5062));
  EXPECT_FALSE(guard.banned(kColleague, 5060));
}

TEST(GuessGuard, IpTierBansTheAddressAcrossPorts) {
  base::ManualClock clock;
  GuessGuard guard(clock, small());
  // Two failures from each of three ports: no port reaches 3, the address reaches 6.
  EXPECT_FALSE(fail(guard, kPhone, 6000, 2));
  EXPECT_FALSE(fail(guard, kPhone, 6001, 2));
  EXPECT_FALSE(fail(guard, kPhone, 6002, 1));
  auto ban = fail(guard, kPhone, 6002);
  ASSERT_TRUE(ban);
  EXPECT_EQ(ban->scope, Ban::Scope::Ip);
  EXPECT_EQ(ban->source(), "192.0.2.7");
  EXPECT_EQ(ban->failures, 6u);
  EXPECT_TRUE(guard.banned(kPhone, 6000));
  EXPECT_TRUE(guard.banned(kPhone, 7777));
  EXPECT_FALSE(guard.banned(kColleague, 6000));
}

TEST(GuessGuard, IpTierWinsWhenBothTripAtOnce) {
  base::ManualClock clock;
  GuardSettings settings = small();
  settings.max_failures_per_ip = 3;
  GuessGuard guard(clock, settings);
  auto ban = fail(guard, kPhone, 5060, 3);
  ASSERT_TRUE(ban);
  EXPECT_EQ(ban->scope, Ban::Scope::Ip);
}

TEST(GuessGuard, TrustedAddressIsNeverBannedAsAWhole) {
  base::ManualClock clock;
  GuardSettings settings = small();
  settings.trusted = {*parse_cidr("198.51.100.0/24")};
  GuessGuard guard(clock, settings);
  for (std::uint16_t port = 6000; port < 6010; ++port) {
    EXPECT_FALSE(fail(guard, kOffice, port, 2));
  }
  EXPECT_FALSE(guard.banned(kOffice, 7000));
  EXPECT_EQ(guard.ip_entries(), 0u);
}

TEST(GuessGuard, TrustedAddressStillLosesTheGuessingPort) {
  base::ManualClock clock;
  GuardSettings settings = small();
  settings.trusted = {*parse_cidr("198.51.100.0/24")};
  GuessGuard guard(clock, settings);
  auto ban = fail(guard, kOffice, 6000, 3);
  ASSERT_TRUE(ban);
  EXPECT_EQ(ban->scope, Ban::Scope::Port);
  EXPECT_TRUE(guard.banned(kOffice, 6000));
  EXPECT_FALSE(guard.banned(kOffice, 6001));
}

TEST(GuessGuard, TrustedIpv6Block) {
  base::ManualClock clock;
  GuardSettings settings = small();
  settings.trusted = {*parse_cidr("2001:db8::/32")};
  GuessGuard guard(clock, settings);
  for (std::uint16_t port = 6000; port < 6010; ++port) {
    fail(guard, kPhone6, port, 2);
  }
  EXPECT_FALSE(guard.banned(kPhone6, 7000));
  fail(guard, make_address("2001:db9::7"), 6000, 2);
  fail(guard, make_address("2001:db9::7"), 6001, 2);
  auto ban = fail(guard, make_address("2001:db9::7"), 6002, 2);
  ASSERT_TRUE(ban);
  EXPECT_EQ(ban->source(), "2001:db9::7");
}

TEST(GuessGuard, Ipv6PortBanIsWrittenInBrackets) {
  base::ManualClock clock;
  GuessGuard guard(clock, small());
  auto ban = fail(guard, kPhone6, 5060, 3);
  ASSERT_TRUE(ban);
  EXPECT_EQ(ban->source(), "[2001:db8::7]:5060");
  EXPECT_TRUE(guard.banned(kPhone6, 5060));
}

TEST(GuessGuard, Ipv4MappedSourceIsTheSameAddress) {
  base::ManualClock clock;
  GuessGuard guard(clock, small());
  fail(guard, make_address("::ffff:192.0.2.7"), 5060, 2);
  ASSERT_TRUE(fail(guard, kPhone, 5060));
  EXPECT_TRUE(guard.banned(make_address("::ffff:192.0.2.7"), 5060));
}

TEST(GuessGuard, FailuresOlderThanTheWindowNoLongerCount) {
  base::ManualClock clock;
  GuessGuard guard(clock, small());
  fail(guard, kPhone, 5060, 2);
  clock.advance(61s);
  EXPECT_FALSE(fail(guard, kPhone, 5060));
  EXPECT_FALSE(guard.banned(kPhone, 5060));
}

TEST(GuessGuard, WindowSlides) {
  base::ManualClock clock;
  GuessGuard guard(clock, small());
  fail(guard, kPhone, 5060);  // t = 0
  clock.advance(30s);
  fail(guard, kPhone, 5060);  // t = 30 s
  clock.advance(31s);
  // t = 61 s: the first failure left the window, the second is still in it.
  EXPECT_FALSE(fail(guard, kPhone, 5060));
  clock.advance(20s);
  // t = 81 s: 30 s, 61 s and 81 s lie within one minute.
  EXPECT_TRUE(fail(guard, kPhone, 5060));
}

TEST(GuessGuard, FailuresSpreadOverTheWindowStillBan) {
  base::ManualClock clock;
  GuessGuard guard(clock, small());
  fail(guard, kPhone, 5060);
  clock.advance(29s);
  fail(guard, kPhone, 5060);
  clock.advance(29s);
  EXPECT_TRUE(fail(guard, kPhone, 5060));
}

TEST(GuessGuard, BanEndsAfterBanTime) {
  base::ManualClock clock;
  GuessGuard guard(clock, small());
  fail(guard, kPhone, 5060, 3);
  clock.advance(1999ms);
  EXPECT_TRUE(guard.banned(kPhone, 5060));
  clock.advance(1ms);
  EXPECT_FALSE(guard.banned(kPhone, 5060));
  EXPECT_EQ(guard.ban_count(), 0u);
}

TEST(GuessGuard, IpBanEndsAfterBanTime) {
  base::ManualClock clock;
  GuessGuard guard(clock, small());
  for (std::uint16_t port = 6000; port < 6003; ++port) {
    fail(guard, kPhone, port, 2);
  }
  EXPECT_TRUE(guard.banned(kPhone, 1));
  clock.advance(2s);
  EXPECT_FALSE(guard.banned(kPhone, 1));
}

TEST(GuessGuard, OneMoreFailureInTheWindowBansAgainAfterTheBan) {
  base::ManualClock clock;
  GuessGuard guard(clock, small());
  fail(guard, kPhone, 5060, 3);
  clock.advance(2s);
  ASSERT_FALSE(guard.banned(kPhone, 5060));
  EXPECT_TRUE(fail(guard, kPhone, 5060));
}

TEST(GuessGuard, LiftAllEndsBansAndForgetsFailures) {
  base::ManualClock clock;
  GuessGuard guard(clock, small());
  fail(guard, kPhone, 5060, 3);
  fail(guard, kColleague, 5060, 2);
  EXPECT_EQ(guard.lift_all(), 1u);
  EXPECT_FALSE(guard.banned(kPhone, 5060));
  EXPECT_FALSE(fail(guard, kColleague, 5060));
  EXPECT_FALSE(fail(guard, kPhone, 5060, 2));
}

TEST(GuessGuard, NewSettingsLiftBans) {
  base::ManualClock clock;
  GuessGuard guard(clock, small());
  fail(guard, kPhone, 5060, 3);
  GuardSettings looser = small();
  looser.max_failures = 5;
  guard.set_settings(looser);
  EXPECT_FALSE(guard.banned(kPhone, 5060));
  EXPECT_FALSE(fail(guard, kPhone, 5060, 4));
  EXPECT_TRUE(fail(guard, kPhone, 5060));
}

TEST(GuessGuard, ZeroTurnsATierOff) {
  base::ManualClock clock;
  GuardSettings settings = small();
  settings.max_failures = 0;
  settings.max_failures_per_ip = 0;
  GuessGuard guard(clock, settings);
  EXPECT_FALSE(fail(guard, kPhone, 5060, 50));
  EXPECT_EQ(guard.port_entries() + guard.ip_entries(), 0u);
}

TEST(GuessGuard, FailureTablesStayWithinCapacity) {
  base::ManualClock clock;
  GuardSettings settings = small();
  settings.capacity = 100;
  GuessGuard guard(clock, settings);
  // A flood of spoofed sources, one failure each.
  for (std::uint32_t i = 0; i < 10'000; ++i) {
    fail(guard, boost::asio::ip::address_v4(0x0a000000 + i), static_cast<std::uint16_t>(i));
  }
  EXPECT_EQ(guard.port_entries(), 100u);
  EXPECT_EQ(guard.ip_entries(), 100u);
}

TEST(GuessGuard, OldestEntryIsEvictedFirst) {
  base::ManualClock clock;
  GuardSettings settings = small();
  settings.capacity = 2;
  settings.max_failures_per_ip = 0;
  GuessGuard guard(clock, settings);
  fail(guard, kPhone, 5060, 2);
  fail(guard, kColleague, 5060, 2);
  fail(guard, kPhone, 5061);  // a third source: kPhone:5060 failed longest ago and goes
  // Its two failures were forgotten, so a third does not ban.
  EXPECT_FALSE(fail(guard, kPhone, 5060));
  EXPECT_EQ(guard.port_entries(), 2u);
}

TEST(GuessGuard, RecentlyFailedEntrySurvivesEviction) {
  base::ManualClock clock;
  GuardSettings settings = small();
  settings.capacity = 2;
  settings.max_failures_per_ip = 0;
  GuessGuard guard(clock, settings);
  fail(guard, kColleague, 5060);
  fail(guard, kPhone, 5060, 2);
  fail(guard, kColleague, 5061);  // evicts kColleague:5060, the least recently failed
  EXPECT_TRUE(fail(guard, kPhone, 5060));
}

TEST(GuessGuard, BanTableStaysWithinCapacity) {
  base::ManualClock clock;
  GuardSettings settings = small();
  settings.capacity = 10;
  settings.max_failures = 1;
  settings.max_failures_per_ip = 0;
  GuessGuard guard(clock, settings);
  for (std::uint32_t i = 0; i < 1'000; ++i) {
    ASSERT_TRUE(fail(guard, boost::asio::ip::address_v4(0x0a000000 + i), 5060));
  }
  EXPECT_EQ(guard.ban_count(), 10u);
  // The newest bans stay, the oldest went first.
  EXPECT_TRUE(guard.banned(boost::asio::ip::address_v4(0x0a000000 + 999), 5060));
  EXPECT_FALSE(guard.banned(boost::asio::ip::address_v4(0x0a000000), 5060));
}

TEST(Cidr, ParsesAndMatches) {
  const std::tuple<const char*, const char*, bool> cases[] = {
      {"192.0.2.0/24", "192.0.2.255", true},   {"192.0.2.0/24", "192.0.3.0", false},
      {"192.0.2.77/24", "192.0.2.1", true},  // host bits are ignored
      {"192.0.2.7", "192.0.2.7", true},        {"192.0.2.7", "192.0.2.8", false},
      {"0.0.0.0/0", "203.0.113.9", true},      {"10.0.0.0/9", "10.127.255.255", true},
      {"10.0.0.0/9", "10.128.0.0", false},     {"192.0.2.0/24", "::ffff:192.0.2.9", true},
      {"192.0.2.0/24", "2001:db8::1", false},  {"2001:db8::/32", "2001:db8:ffff::1", true},
      {"2001:db8::/32", "2001:db9::1", false}, {"::1", "::1", true},
      {"fe80::/10", "febf::1", true},          {"fe80::/10", "fec0::1", false},
  };
  for (const auto& [block, candidate, inside] : cases) {
    auto cidr = parse_cidr(block);
    ASSERT_TRUE(cidr) << block;
    EXPECT_EQ(cidr->contains(make_address(candidate)), inside) << block << " " << candidate;
  }
}

TEST(Cidr, RefusesWithAReason) {
  const std::pair<const char*, const char*> cases[] = {
      {"192.0.2.0/33", "prefix 33 is longer than 32 bits"},
      {"2001:db8::/129", "prefix 129 is longer than 128 bits"},
      {"192.0.2.0/", "\"\" is not a prefix length"},
      {"192.0.2.0/x", "\"x\" is not a prefix length"},
      {"192.0.2.0/-1", "\"-1\" is not a prefix length"},
      {"192.0.2/24", "\"192.0.2\" is not an IP address"},
      {"office", "\"office\" is not an IP address"},
      {"", "\"\" is not an IP address"},
  };
  for (const auto& [text, reason] : cases) {
    std::string why;
    EXPECT_FALSE(parse_cidr(text, &why)) << text;
    EXPECT_EQ(why, reason) << text;
  }
}

TEST(Cidr, WritesTheNetwork) {
  EXPECT_EQ(parse_cidr("192.0.2.77/24")->to_string(), "192.0.2.0/24");
  EXPECT_EQ(parse_cidr("2001:db8::1")->to_string(), "2001:db8::1/128");
}

}  // namespace
}  // namespace catchline::pbx::security
