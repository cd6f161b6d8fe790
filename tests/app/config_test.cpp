#include "app/config.h"

#include <gtest/gtest.h>

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
)",
                               "catchline.yaml");
  EXPECT_EQ(config.sip.listen, std::vector<std::string>{"udp:127.0.0.1:5070"});
  EXPECT_EQ(config.sip.no_answer_timeout, std::chrono::seconds(20));
  EXPECT_EQ(config.storage.path, "var/test.db");
  ASSERT_EQ(config.extensions.size(), 1u);
  const pbx::Extension& ext = config.extensions[0];
  EXPECT_EQ(ext.number, "1001");
  EXPECT_EQ(ext.name, "Front desk");
  EXPECT_EQ(ext.pickup_groups, (std::vector<std::string>{"reception", "sales"}));
  EXPECT_EQ(ext.directed_pickup, (std::vector<std::string>{"1002", "group:sales"}));
  EXPECT_TRUE(ext.pickup_protected);
}

TEST(Config, NamesFileLineAndKeyOfAWrongType) {
  EXPECT_EQ(error_of("extensions:\n  - number: \"1001\"\n    password: x\n    pickup_groups: sales\n"),
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
  EXPECT_EQ(error_of("extensions:\n  - {number: \"1\", password: a}\n  - {number: \"1\", password: b}\n"),
            "catchline.yaml:3: number: extension 1 is defined twice");
}

TEST(Config, RefusesExtensionWithoutPassword) {
  EXPECT_EQ(error_of("extensions:\n  - number: \"1001\"\n"),
            "catchline.yaml:2: extensions[1001]: missing password");
}

TEST(Config, ReportsYamlSyntaxErrorsWithLine) {
  EXPECT_NE(error_of("sip:\n  listen: [\"udp:1\"\n").find("catchline.yaml:"), std::string::npos);
}

TEST(Duration, ParsesUnits) {
  EXPECT_EQ(parse_duration("500ms"), std::chrono::milliseconds(500));
  EXPECT_EQ(parse_duration("2m"), std::chrono::minutes(2));
  EXPECT_THROW(parse_duration("5"), std::invalid_argument);
  EXPECT_THROW(parse_duration("-5s"), std::invalid_argument);
}

}  // namespace
}  // namespace catchline::app
