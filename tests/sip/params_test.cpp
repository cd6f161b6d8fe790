#include "sip/headers/params.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/sip/control_chars.h"

namespace catchline::sip {
namespace {

using testing::with_control;
constexpr const auto& kControls = testing::kGrammarControls;

TEST(ParamList, FindsValuesAndFlagsIgnoringNameCase) {
  ParamList params(";transport=TCP;lr;Maddr=192.0.2.1");
  EXPECT_EQ(params.get("transport"), "TCP");
  EXPECT_EQ(params.get("LR"), "");
  EXPECT_EQ(params.get("maddr"), "192.0.2.1");
  EXPECT_FALSE(params.get("ttl"));
  EXPECT_TRUE(params.has("lr"));
  EXPECT_FALSE(params.has("l"));
}

TEST(ParamList, TrimsFoldedWhitespaceAroundNamesAndValues) {
  ParamList params(" ;\r\n  tag    = 1918181833n ; q = 0.33 ;\r\n secondparam");
  EXPECT_EQ(params.get("tag"), "1918181833n");
  EXPECT_EQ(params.get("q"), "0.33");
  EXPECT_EQ(params.get("secondparam"), "");
}

TEST(ParamList, KeepsSemicolonsInsideQuotedValues) {
  ParamList params(";text=\"a;b \\\" c\";cause=200");
  EXPECT_EQ(params.get("text"), "\"a;b \\\" c\"");
  EXPECT_EQ(params.get("cause"), "200");
}

TEST(ParamList, VisitsEveryParameterInOrder) {
  std::vector<std::pair<std::string, std::string>> seen;
  ParamList(";a=1;b;c=\"x\"").for_each([&](std::string_view name, std::string_view value) {
    seen.emplace_back(name, value);
  });
  std::vector<std::pair<std::string, std::string>> expected{{"a", "1"}, {"b", ""}, {"c", "\"x\""}};
  EXPECT_EQ(seen, expected);
}

TEST(ParamList, WellFormedFollowsTheHeaderParameterGrammar) {
  struct Case {
    std::string_view text;
    bool good;
  };
  const Case cases[] = {
      {"", true},
      {";lr", true},
      {";tag=abc;expires=60", true},
      {" ; tag = abc ; flag ", true},
      {";\r\n tag = abc", true},
      {";received=[2001:db8::9:255]", true},
      {";received=2001:db8::9:255", true},
      {";+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"", true},
      {";text=\"unterminated", false},
      {";;", false},
      {";", false},
      {";a=", false},
      {";=b", false},
      {"tag=abc", false},
      {";tag=abc def", false},
      {";tag=abc,", false},
      {";tag=<x>", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ParamList(c.text).well_formed(), c.good) << c.text;
  }
}

TEST(HeaderList, SplitsOnCommasOutsideQuotesAndAngles) {
  HeaderList list(
      "\"Watson, Thomas\" <sip:t@example.org>, <sip:a@b;x=\"1,2\">,sip:c@d ,, \r\n <sip:e@f>");
  std::vector<std::string> items;
  while (auto item = list.next()) {
    items.emplace_back(*item);
  }
  std::vector<std::string> expected{"\"Watson, Thomas\" <sip:t@example.org>", "<sip:a@b;x=\"1,2\">",
                                    "sip:c@d", "<sip:e@f>"};
  EXPECT_EQ(items, expected);
  EXPECT_FALSE(list.broken());
}

TEST(HeaderList, ReportsAnUnclosedQuote) {
  HeaderList list("\"Mr. J. User <sip:j.user@example.com>");
  while (list.next()) {
  }
  EXPECT_TRUE(list.broken());
}

TEST(HeaderList, ReportsAnUnclosedAngle) {
  HeaderList list("<sip:a@b, sip:c@d");
  while (list.next()) {
  }
  EXPECT_TRUE(list.broken());
}

TEST(HeaderList, YieldsNothingForEmptyOrSeparatorOnlyValues) {
  HeaderList empty("");
  EXPECT_FALSE(empty.next());
  HeaderList commas(" , ,, ");
  EXPECT_FALSE(commas.next());
}

TEST(Unquote, ResolvesEscapesWithOrWithoutQuotes) {
  EXPECT_EQ(unquote("\"J Rosenberg \\\\\\\"\""), "J Rosenberg \\\"");
  EXPECT_EQ(unquote("\"Quoted string \\\"\\\"\""), "Quoted string \"\"");
  EXPECT_EQ(unquote("plain"), "plain");
  EXPECT_EQ(unquote("\"\""), "");
  EXPECT_EQ(unquote("a\\"), "a\\");
}

TEST(Unescape, DecodesValidEscapesAndKeepsInvalidOnes) {
  EXPECT_EQ(unescape("%75se%72"), "user");
  EXPECT_EQ(unescape("I%20have%20spaces"), "I have spaces");
  EXPECT_EQ(unescape("null-%00-null"), std::string("null-\0-null", 11));
  EXPECT_EQ(unescape("%Z%45"), "%ZE");
  EXPECT_EQ(unescape("100%"), "100%");
  EXPECT_EQ(unescape("%4"), "%4");
}

TEST(Iequals, IgnoresAsciiCaseOnly) {
  EXPECT_TRUE(iequals("Call-ID", "call-id"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("Call-ID", "Call-IDs"));
  EXPECT_FALSE(iequals("a-b", "a_b"));
  EXPECT_FALSE(iequals("\xC3\xA9", "\xC3\x89"));
}

TEST(Trim, RemovesSpacesTabsAndLineBreaksAtBothEnds) {
  EXPECT_EQ(trim(" \t\r\n value \r\n\t "), "value");
  EXPECT_EQ(trim("a b"), "a b");
  EXPECT_EQ(trim(" \r\n "), "");
  EXPECT_EQ(trim(""), "");
}

TEST(ParamList, IsNotWellFormedWithAControlCharacterInAQuotedValue) {
  for (char control : kControls) {
    EXPECT_FALSE(ParamList(with_control(";text=\"Call<CTL>completed\"", control)).well_formed())
        << int(control);
    EXPECT_FALSE(ParamList(with_control(";text=\"Call\\<CTL>completed\"", control)).well_formed())
        << int(control);
    EXPECT_FALSE(ParamList(with_control(";text=Call<CTL>", control)).well_formed()) << int(control);
  }
  EXPECT_TRUE(ParamList(";text=\"Call\tcompleted \xc3\xa9\\\t\"").well_formed());
}

TEST(HeaderList, ReportsAControlCharacterInAQuotedString) {
  for (char control : kControls) {
    const std::string value = with_control("\"Bob<CTL>\" <sip:b@c>, <sip:d@e>", control);
    HeaderList list(value);
    while (list.next()) {
    }
    EXPECT_TRUE(list.broken()) << int(control);
  }
}

}  // namespace
}  // namespace catchline::sip
