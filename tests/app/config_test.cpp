#include "app/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace catchline::app {
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_config(text, "catchline.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, ReadsTheDocumentedShape) {
  Config config = parse_config(R"(sip:
  listen: ["udp:127.0.0.1:5070"]
  domain: pbx.example.test
  no_answer_timeout: 20s
storage:
  path: var/test.db
extensions:
  - number: "1001"
    name: "Front desk"
    password: "change-me"
    call_groups: [reception]
    pickup_groups: [reception, sales]
    directed_pickup: ["1002", "group:sales"]
    pickup_protected: true
  - number: "1002"
    password: "other"
)",
                               "catchline.yaml");
  EXPECT_EQ(config.sip.listen, std::vector<std::string>{"udp:127.0.0.1:5070"});
  EXPECT_EQ(config.sip.no_answer_timeout, std::chrono::seconds(20));
  EXPECT_EQ(config.storage.path, "var/test.db");
  ASSERT_EQ(config.extensions.size(), 2u);
  const pbx::Extension& ext = config.extensions[0];
  EXPECT_EQ(ext.number, "1001");
  EXPECT_EQ(ext.name, "Front desk");
  EXPECT_EQ(ext.pickup_groups, (std::vector<std::string>{"reception", "sales"}));
  EXPECT_EQ(ext.directed_pickup, (std::vector<std::string>{"1002", "group:sales"}));
  EXPECT_TRUE(ext.pickup_protected);
}

TEST(Config, ReadsTheMediaSectionAndAnExtensionsOwnMode) {
  Config config = parse_config(R"(media:
  mode: relay
  address: 192.0.2.10
  public_address: 203.0.113.7
  ports: 30000-30999
  timeout: 45s
  hold_timeout: 1h
  prompts: /srv/prompts/en
extensions:
  - number: "1001"
    password: x
    media: direct
  - number: "1002"
    password: y
)",
                               "catchline.yaml");
  EXPECT_EQ(config.media.mode, pbx::MediaMode::Relay);
  EXPECT_EQ(config.media.address, "192.0.2.10");
  EXPECT_EQ(config.media.public_address, "203.0.113.7");
  EXPECT_EQ(config.media.first_port, 30000);
  EXPECT_EQ(config.media.last_port, 30999);
  EXPECT_EQ(config.media.timeout, std::chrono::seconds(45));
  EXPECT_EQ(config.media.hold_timeout, std::chrono::hours(1));
  EXPECT_EQ(config.media.prompts, "/srv/prompts/en");
  EXPECT_EQ(config.extensions[0].media, pbx::MediaMode::Direct);
  EXPECT_FALSE(config.extensions[1].media.has_value()) << "follows media.mode";
  EXPECT_TRUE(config.media.needed(config.extensions));
}

TEST(Config, MediaIsNeededWhenOneExtensionIsRelayedInADirectServer) {
  Config config = parse_config(
      "media:\n  mode: direct\nextensions:\n  - number: \"1001\"\n    password: x\n"
      "    media: relay\n",
      "catchline.yaml");
  EXPECT_TRUE(config.media.needed(config.extensions));
  Config direct =
      parse_config("media:\n  mode: direct\nextensions:\n  - number: \"1001\"\n    password: x\n",
                   "catchline.yaml");
  EXPECT_FALSE(direct.media.needed(direct.extensions));
}

TEST(Config, RelaysMediaWhenTheFileSaysNothing) {
  // Phones behind NAT hear nothing unless the server relays: relay is what works everywhere.
  Config plain =
      parse_config("extensions:\n  - number: \"1001\"\n    password: x\n", "catchline.yaml");
  EXPECT_EQ(plain.media.mode, pbx::MediaMode::Relay);
  EXPECT_FALSE(plain.extensions[0].media.has_value()) << "follows media.mode";
  EXPECT_TRUE(plain.media.needed(plain.extensions));
  EXPECT_EQ(plain.media.first_port, 20000);
  EXPECT_EQ(plain.media.last_port, 30000);
}

TEST(Config, RefusesBadMediaSettingsNamingLineAndKey) {
  EXPECT_EQ(error_of("media:\n  mode: proxy\n"),
            "catchline.yaml:2: media.mode: expected relay or direct, got \"proxy\"");
  EXPECT_EQ(error_of("media:\n  address: 0.0.0.0\n"),
            "catchline.yaml:2: media.address: expected the IP address phones send media to, "
            "such as 192.0.2.10, got \"0.0.0.0\"");
  EXPECT_EQ(error_of("media:\n  ports: 30000\n"),
            "catchline.yaml:2: media.ports: expected a range of UDP ports such as 20000-30000 "
            "(1024-65535, at least two), got \"30000\"");
  EXPECT_EQ(error_of("media:\n  ports: 3000-2000\n"),
            "catchline.yaml:2: media.ports: expected a range of UDP ports such as 20000-30000 "
            "(1024-65535, at least two), got \"3000-2000\"");
  EXPECT_EQ(error_of("media:\n  public_address: relay.example.com\n"),
            "catchline.yaml:2: media.public_address: expected the IP address phones reach the "
            "relay at through its NAT, such as 203.0.113.7, got \"relay.example.com\"");
  EXPECT_EQ(error_of("media:\n  prompts: \"\"\n"),
            "catchline.yaml:2: media.prompts: expected a folder of WAV files, got \"\"");
  EXPECT_EQ(error_of("extensions:\n  - number: \"1001\"\n    password: x\n    media: yes\n"),
            "catchline.yaml:4: media: expected relay or direct, got \"yes\"");
}

TEST(Config, NamesFileLineAndKeyOfAWrongType) {
  EXPECT_EQ(
      error_of("extensions:\n  - number: \"1001\"\n    password: x\n    pickup_groups: sales\n"),
      "catchline.yaml:4: pickup_groups: expected a list, got \"sales\"");
}

TEST(Config, RefusesUnknownKeys) {
  EXPECT_EQ(error_of("sip:\n  domian: x\n"), "catchline.yaml:2: sip.domian: unknown key");
}

TEST(Config, RefusesBadDurations) {
  EXPECT_EQ(error_of("sip:\n  no_answer_timeout: 30\n"),
            "catchline.yaml:2: sip.no_answer_timeout: expected a duration such as 30s or 500ms, "
            "got \"30\"");
}

TEST(Config, RefusesDuplicateExtensions) {
  EXPECT_EQ(
      error_of("extensions:\n  - {number: \"1\", password: a}\n  - {number: \"1\", password: b}\n"),
      "catchline.yaml:3: number: extension 1 is defined twice");
}

TEST(Config, RefusesExtensionWithoutPassword) {
  EXPECT_EQ(error_of("extensions:\n  - number: \"1001\"\n"),
            "catchline.yaml:2: extensions[1001]: missing password");
}

TEST(Config, ReportsYamlSyntaxErrorsWithLine) {
  EXPECT_NE(error_of("sip:\n  listen: [\"udp:1\"\n").find("catchline.yaml:"), std::string::npos);
}

TEST(Config, LoadsAFile) {
  std::string path = testing::TempDir() + "catchline_config_test.yaml";
  std::ofstream(path) << "extensions:\n  - {number: \"1001\", password: x}\n";
  Config config = load_config(path);
  std::remove(path.c_str());
  ASSERT_EQ(config.extensions.size(), 1u);
  EXPECT_EQ(config.extensions[0].number, "1001");
  EXPECT_EQ(config.file, path);
}

TEST(Config, LoadsFromAPipe) {
  // `catchline check-config <(generate)` hands over a pipe, which has no size and cannot seek.
  int ends[2];
  ASSERT_EQ(pipe(ends), 0);
  const std::string text = "extensions:\n  - {number: \"1001\", password: x}\n";
  ASSERT_EQ(write(ends[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(ends[1]);
  Config config = load_config("/dev/fd/" + std::to_string(ends[0]));
  close(ends[0]);
  ASSERT_EQ(config.extensions.size(), 1u);
  EXPECT_EQ(config.extensions[0].number, "1001");
}

TEST(Config, ReportsAnEmptyValueAtItsKeysLine) {
  EXPECT_EQ(error_of("sip:\n  domain:\n  no_answer_timeout: 5s\n"),
            "catchline.yaml:2: sip.domain: expected a string, got nothing");
}

TEST(Config, ResolvesAnchorsAndAliases) {
  Config config = parse_config(
      "extensions:\n  - {number: \"1\", password: a, call_groups: &staff [x, y]}\n"
      "  - {number: \"2\", password: b, call_groups: *staff}\n",
      "catchline.yaml");
  ASSERT_EQ(config.extensions.size(), 2u);
  EXPECT_EQ(config.extensions[1].call_groups, (std::vector<std::string>{"x", "y"}));
}

TEST(Config, RefusesAnUnknownAlias) {
  EXPECT_EQ(error_of("extensions:\n  - {number: \"2\", password: b, call_groups: *staff}\n"),
            "catchline.yaml:2: unknown anchor \"staff\"");
}

TEST(Config, RefusesAnAliasInsideItsOwnAnchor) {
  EXPECT_EQ(error_of("extensions:\n  - {number: \"1\", password: a, call_groups: &g [x, *g]}\n"),
            "catchline.yaml:2: alias *g inside its own anchor");
}

TEST(Config, NullIsNothingButAQuotedNullIsAString) {
  EXPECT_EQ(error_of("log_level: ~\n"),
            "catchline.yaml:1: log_level: expected a string, got nothing");
  EXPECT_EQ(error_of("log_level: \"null\"\n"),
            "catchline.yaml:1: log_level: expected error, warn, info or debug, got \"null\"");
}

TEST(Config, ReadsTheFirstDocumentOnly) {
  EXPECT_EQ(parse_config("log_level: debug\n---\nlog_level: nonsense\n", "c.yaml").log_level,
            "debug");
}

TEST(Duration, ParsesUnits) {
  EXPECT_EQ(parse_duration("500ms"), std::chrono::milliseconds(500));
  EXPECT_EQ(parse_duration("2m"), std::chrono::minutes(2));
  EXPECT_THROW(parse_duration("5"), std::invalid_argument);
  EXPECT_THROW(parse_duration("-5s"), std::invalid_argument);
}

TEST(Config, ReadsPickupSectionRingGroupsAndCancelReason) {
  Config config = parse_config(R"(pickup:
  group_code: "*98"
  directed_prefix: "*97"
  cancel_reason: none
extensions:
  - {number: "1002", password: x, pickup_cancel_reason: completed-elsewhere}
  - {number: "1003", password: y}
ring_groups:
  - number: "2000"
    name: Sales
    members: ["1002", "1003"]
    strategy: sequential
    ring_time: 10s
    call_groups: [sales]
)",
                               "catchline.yaml");
  EXPECT_EQ(config.pickup.group_code, "*98");
  EXPECT_EQ(config.pickup.directed_prefix, "*97");
  EXPECT_FALSE(config.pickup.completed_elsewhere);
  ASSERT_EQ(config.ring_groups.size(), 1u);
  const pbx::RingGroup& group = config.ring_groups[0];
  EXPECT_EQ(group.members, (std::vector<std::string>{"1002", "1003"}));
  EXPECT_EQ(group.strategy, pbx::RingStrategy::Sequential);
  EXPECT_EQ(group.ring_time, std::chrono::seconds(10));
  EXPECT_EQ(group.call_groups, std::vector<std::string>{"sales"});
  pbx::Directory directory = config.directory();
  EXPECT_TRUE(directory.completed_elsewhere(*directory.find("1002")));
  EXPECT_FALSE(directory.completed_elsewhere(*directory.find("1003")));
  EXPECT_NE(directory.find_ring_group("2000"), nullptr);
}

TEST(Config, PickupDefaultsAreStarEightAndDoubleStar) {
  Config config = parse_config("extensions:\n  - {number: \"1001\", password: x}\n", "c.yaml");
  EXPECT_EQ(config.pickup.group_code, "*8");
  EXPECT_EQ(config.pickup.directed_prefix, "**");
  EXPECT_TRUE(config.pickup.completed_elsewhere);
}

TEST(Config, RefusesRingGroupMemberThatIsNoExtension) {
  EXPECT_EQ(error_of("extensions:\n  - {number: \"1001\", password: x}\nring_groups:\n"
                     "  - {number: \"2000\", members: [\"1001\", \"1009\"]}\n"),
            "catchline.yaml:4: members: no extension 1009");
}

TEST(Config, RefusesRingGroupNumberOfAnExtension) {
  EXPECT_EQ(error_of("extensions:\n  - {number: \"1001\", password: x}\nring_groups:\n"
                     "  - {number: \"1001\", members: [\"1001\"]}\n"),
            "catchline.yaml:4: number: number 1001 is defined twice");
}

TEST(Config, RefusesUnknownStrategy) {
  EXPECT_EQ(error_of("extensions:\n  - {number: \"1001\", password: x}\nring_groups:\n"
                     "  - {number: \"2000\", members: [\"1001\"], strategy: random}\n"),
            "catchline.yaml:4: strategy: expected ringall or sequential, got \"random\"");
}

TEST(Config, RefusesDirectedPickupOfUnknownNumber) {
  EXPECT_EQ(error_of("extensions:\n  - {number: \"1001\", password: x, directed_pickup: "
                     "[\"1077\"]}\n"),
            "catchline.yaml:2: directed_pickup: expected a number, group:NAME or *, got "
            "\"1077\" (no such number)");
}

TEST(Config, RefusesPickupCodeThatShadowsANumber) {
  EXPECT_EQ(error_of("pickup:\n  directed_prefix: \"10\"\nextensions:\n"
                     "  - {number: \"1001\", password: x}\n"),
            "catchline.yaml:2: pickup: code \"10\" shadows number 1001");
}

TEST(Config, RefusesBadCancelReason) {
  EXPECT_EQ(error_of("pickup:\n  cancel_reason: silent\n"),
            "catchline.yaml:2: pickup.cancel_reason: expected completed-elsewhere or none, got "
            "\"silent\"");
}

TEST(Config, ReadsBlfLimitsAndRules) {
  Config config = parse_config(R"(blf:
  min_expires: 30s
  rules:
    - {watchers: ["group:reception"], may_watch: ["*"]}
extensions:
  - {number: "1001", password: x, blf_list: ["1002"], blf_private: true, pickup_alert: true,
     pickup_alert_delay: 4s}
  - {number: "1002", password: y}
)",
                               "catchline.yaml");
  EXPECT_EQ(config.blf.min_expires, std::chrono::seconds(30));
  ASSERT_EQ(config.blf_rules.size(), 1u);
  EXPECT_EQ(config.blf_rules[0].watchers, std::vector<std::string>{"group:reception"});
  EXPECT_EQ(config.blf_rules[0].may_watch, std::vector<std::string>{"*"});
  const pbx::Extension& ext = config.extensions[0];
  EXPECT_EQ(ext.blf_list, std::vector<std::string>{"1002"});
  EXPECT_TRUE(ext.blf_private);
  EXPECT_TRUE(ext.pickup_alert);
  EXPECT_EQ(ext.pickup_alert_delay, std::chrono::seconds(4));
}

TEST(Config, RefusesBlfListOfUnknownNumber) {
  EXPECT_EQ(error_of("extensions:\n  - {number: \"1001\", password: x, blf_list: [\"1077\"]}\n"),
            "catchline.yaml:2: blf_list: no extension or ring group 1077");
}

TEST(Config, RefusesBlfRuleWithoutMayWatch) {
  EXPECT_EQ(error_of("blf:\n  rules:\n    - {watchers: [\"*\"]}\n"),
            "catchline.yaml:3: blf.rules[]: needs watchers and may_watch");
}

TEST(Config, RefusesFeatureCodeWithLetters) {
  EXPECT_EQ(error_of("pickup:\n  group_code: \"*8a\"\n"),
            "catchline.yaml:2: pickup.group_code: expected digits, * and #, got \"*8a\"");
}

TEST(Config, ReadsSecuritySection) {
  Config config = parse_config(R"(security:
  max_failures: 3
  max_failures_per_ip: 6
  window: 30s
  ban_time: 2s
  trusted: ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"]
)",
                               "catchline.yaml");
  EXPECT_EQ(config.security.max_failures, 3u);
  EXPECT_EQ(config.security.max_failures_per_ip, 6u);
  EXPECT_EQ(config.security.window, std::chrono::seconds(30));
  EXPECT_EQ(config.security.ban_time, std::chrono::seconds(2));
  ASSERT_EQ(config.security.trusted.size(), 3u);
  EXPECT_EQ(config.security.trusted[0].to_string(), "192.0.2.0/24");
  EXPECT_EQ(config.security.trusted[1].to_string(), "2001:db8::/32");
  EXPECT_EQ(config.security.trusted[2].to_string(), "198.51.100.7/32");
}

TEST(Config, SecurityDefaultsAreTenAMinutePerPortAndHundredPerAddressForTenMinutes) {
  Config config = parse_config("log_level: info\n", "catchline.yaml");
  EXPECT_EQ(config.security.max_failures, 10u);
  EXPECT_EQ(config.security.max_failures_per_ip, 100u);
  EXPECT_EQ(config.security.window, std::chrono::minutes(1));
  EXPECT_EQ(config.security.ban_time, std::chrono::minutes(10));
  EXPECT_TRUE(config.security.trusted.empty());
}

TEST(Config, RefusesBadTrustedBlockWithItsLine) {
  EXPECT_EQ(error_of("security:\n  trusted:\n    - 192.0.2.0/24\n    - 192.0.2.0/33\n"),
            "catchline.yaml:4: security.trusted: expected an address block such as 192.0.2.0/24 "
            "or 2001:db8::/32, got \"192.0.2.0/33\": prefix 33 is longer than 32 bits");
  EXPECT_EQ(error_of("security:\n  trusted: [office]\n"),
            "catchline.yaml:2: security.trusted: expected an address block such as 192.0.2.0/24 "
            "or 2001:db8::/32, got \"office\": \"office\" is not an IP address");
  EXPECT_EQ(error_of("security:\n  trusted: 192.0.2.0/24\n"),
            "catchline.yaml:2: security.trusted: expected a list, got \"192.0.2.0/24\"");
}

TEST(Config, RefusesBadSecurityValues) {
  EXPECT_EQ(error_of("security:\n  max_failures: ten\n"),
            "catchline.yaml:2: security.max_failures: expected a number of failures (0: off), "
            "got \"ten\"");
  EXPECT_EQ(error_of("security:\n  max_failures_per_ip: -1\n"),
            "catchline.yaml:2: security.max_failures_per_ip: expected a number of failures "
            "(0: off), got \"-1\"");
  EXPECT_EQ(error_of("security:\n  ban_time: 0s\n"),
            "catchline.yaml:2: security.ban_time: must be longer than 0s");
  EXPECT_EQ(error_of("security:\n  window: soon\n"),
            "catchline.yaml:2: security.window: expected a duration such as 30s or 500ms, got "
            "\"soon\"");
  EXPECT_EQ(error_of("security:\n  max_fails: 3\n"),
            "catchline.yaml:2: security.max_fails: unknown key");
}

}  // namespace
}  // namespace catchline::app
