#include "sip/headers/simple.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace catchline::sip {
namespace {

TEST(UnsignedParser, ReadsDigitsWithSurroundingWhitespace) {
  struct Case {
    std::string_view text;
    std::uint32_t value;
  };
  const Case cases[] = {
      {"0", 0}, {"3600", 3600}, {" 0068 ", 68}, {"\r\n 70", 70}, {"4294967295", 4294967295u}};
  for (const Case& c : cases) {
    auto value = parse_unsigned(c.text);
    ASSERT_TRUE(value) << c.text;
    EXPECT_EQ(*value, c.value) << c.text;
  }
}

TEST(UnsignedParser, RejectsNonNumbersAndValuesAboveTheMaximum) {
  struct Case {
    std::string_view text;
    std::uint32_t max;
    std::string_view reason;
  };
  const Case cases[] = {
      {"", 0xFFFFFFFFu, "not a number"},
      {"-1", 0xFFFFFFFFu, "not a number"},
      {"1 2", 0xFFFFFFFFu, "not a number"},
      {"12a", 0xFFFFFFFFu, "not a number"},
      {"+5", 0xFFFFFFFFu, "not a number"},
      {"4294967296", 0xFFFFFFFFu, "too large"},
      {"36893488147419103232", 0xFFFFFFFFu, "too large"},
      {"256", 255, "too large"},
  };
  for (const Case& c : cases) {
    auto value = parse_unsigned(c.text, c.max);
    ASSERT_FALSE(value) << c.text;
    EXPECT_EQ(value.error().reason, c.reason) << c.text;
  }
  EXPECT_EQ(*parse_unsigned("255", 255), 255u);
}

TEST(TokenList, VisitsEveryTokenAndRejectsNonTokens) {
  std::vector<std::string> tokens;
  EXPECT_TRUE(for_each_token("INVITE, ACK,CANCEL ,\r\n BYE",
                             [&](std::string_view token) { tokens.emplace_back(token); }));
  std::vector<std::string> expected{"INVITE", "ACK", "CANCEL", "BYE"};
  EXPECT_EQ(tokens, expected);

  tokens.clear();
  EXPECT_FALSE(for_each_token("replaces, time r, 100rel",
                              [&](std::string_view token) { tokens.emplace_back(token); }));
  EXPECT_EQ(tokens, std::vector<std::string>{"replaces"});
  EXPECT_FALSE(for_each_token("a, \"b", [](std::string_view) {}));
}

TEST(TokenList, ContainsIgnoresCase) {
  EXPECT_TRUE(list_contains("replaces, timer, 100rel", "100rel"));
  EXPECT_TRUE(list_contains("Replaces", "replaces"));
  EXPECT_FALSE(list_contains("replaces, timer", "100rel"));
  EXPECT_FALSE(list_contains("", "timer"));
  EXPECT_FALSE(list_contains("timers", "timer"));
}

TEST(TokenCheck, AcceptsTokenCharactersOnly) {
  EXPECT_TRUE(is_token("RE%47IST%45R"));
  EXPECT_TRUE(is_token("z9hG4bK-._!%*+`'~"));
  EXPECT_FALSE(is_token(""));
  EXPECT_FALSE(is_token("a b"));
  EXPECT_FALSE(is_token("a;b"));
  EXPECT_FALSE(is_token("\"a\""));
}

TEST(EventParser, ReadsPackageIdAndParameters) {
  auto event = parse_event("dialog;id=7;call-id=abc");
  ASSERT_TRUE(event);
  EXPECT_EQ(event->package, "dialog");
  EXPECT_EQ(event->id, "7");
  EXPECT_EQ(event->params.get("call-id"), "abc");

  auto plain = parse_event(" presence ");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->package, "presence");
  EXPECT_EQ(plain->id, "");
  EXPECT_TRUE(plain->params.empty());

  auto templated = parse_event("presence.winfo");
  ASSERT_TRUE(templated);
  EXPECT_EQ(templated->package, "presence.winfo");
}

TEST(EventParser, RejectsMissingPackageAndBadParameters) {
  EXPECT_EQ(parse_event("").error().reason, "Bad Event: package");
  EXPECT_EQ(parse_event(";id=1").error().reason, "Bad Event: package");
  EXPECT_EQ(parse_event("dialog;;").error().reason, "Bad Event: parameters");
  EXPECT_EQ(parse_event("dialog id=1").error().reason, "Bad Event: parameters");
}

TEST(SubscriptionStateParser, ReadsStateAndItsParameters) {
  auto active = parse_subscription_state("active;expires=600");
  ASSERT_TRUE(active);
  EXPECT_EQ(active->state, "active");
  EXPECT_EQ(active->expires, 600u);
  EXPECT_FALSE(active->retry_after);
  EXPECT_EQ(active->reason, "");

  auto terminated = parse_subscription_state("terminated;reason=timeout;retry-after=30");
  ASSERT_TRUE(terminated);
  EXPECT_EQ(terminated->state, "terminated");
  EXPECT_EQ(terminated->reason, "timeout");
  EXPECT_EQ(terminated->retry_after, 30u);
  EXPECT_FALSE(terminated->expires);
}

TEST(SubscriptionStateParser, RejectsBadValues) {
  EXPECT_EQ(parse_subscription_state("").error().reason, "Bad Subscription-State: state");
  EXPECT_EQ(parse_subscription_state("active;expires=soon").error().reason,
            "Bad Subscription-State: expires");
  EXPECT_EQ(parse_subscription_state("terminated;retry-after=-1").error().reason,
            "Bad Subscription-State: retry-after");
  EXPECT_EQ(parse_subscription_state("active;").error().reason,
            "Bad Subscription-State: parameters");
}

TEST(ReplacesParser, ReadsCallIdTagsAndEarlyOnly) {
  auto replaces =
      parse_replaces("98732@sip.example.com;from-tag=r33th4x0r;to-tag=ff87ff;early-only");
  ASSERT_TRUE(replaces);
  EXPECT_EQ(replaces->call_id, "98732@sip.example.com");
  EXPECT_EQ(replaces->from_tag, "r33th4x0r");
  EXPECT_EQ(replaces->to_tag, "ff87ff");
  EXPECT_TRUE(replaces->early_only);

  auto bare = parse_replaces("425928@bobster.example.org");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->call_id, "425928@bobster.example.org");
  EXPECT_EQ(bare->to_tag, "");
  EXPECT_EQ(bare->from_tag, "");
  EXPECT_FALSE(bare->early_only);

  // Either order of the tags: phones differ.
  auto swapped = parse_replaces("a@b ; to-tag = 1 ; from-tag = 2");
  ASSERT_TRUE(swapped);
  EXPECT_EQ(swapped->call_id, "a@b");
  EXPECT_EQ(swapped->to_tag, "1");
  EXPECT_EQ(swapped->from_tag, "2");
}

TEST(ReplacesParser, RejectsMissingCallIdAndBadParameters) {
  EXPECT_EQ(parse_replaces("").error().reason, "Bad Replaces: no call-id");
  EXPECT_EQ(parse_replaces(";to-tag=1").error().reason, "Bad Replaces: no call-id");
  EXPECT_EQ(parse_replaces("a b;to-tag=1").error().reason, "Bad Replaces: no call-id");
  EXPECT_EQ(parse_replaces("a@b;to-tag=1;;").error().reason, "Bad Replaces: parameters");
  EXPECT_EQ(parse_replaces("a@b;to-tag=1;=x").error().reason, "Bad Replaces: parameters");
  EXPECT_EQ(parse_replaces("a@b;to-tag=;x=").error().reason, "Bad Replaces: parameters");
  EXPECT_EQ(parse_replaces("a@b;from-tag=;x=\"a;b\"").error().reason,
            "Bad Replaces: parameters");
}

// A BLF key pressed before the phone's 18x gave its tag: "from-tag=" with nothing after it.
TEST(ReplacesParser, TakesAnEmptyTagAsAnAbsentOne) {
  for (std::string_view value : {"a@b;to-tag=ours;from-tag=", "a@b;from-tag=;to-tag=ours",
                                 "a@b;to-tag=ours;from-tag= ;early-only"}) {
    auto replaces = parse_replaces(value);
    ASSERT_TRUE(replaces) << value << ": " << replaces.error().reason;
    EXPECT_EQ(replaces->call_id, "a@b") << value;
    EXPECT_EQ(replaces->to_tag, "ours") << value;
    EXPECT_EQ(replaces->from_tag, "") << value;
  }
  auto both = parse_replaces("a@b;to-tag=;from-tag=");
  ASSERT_TRUE(both);
  EXPECT_EQ(both->to_tag, "");
  EXPECT_EQ(both->from_tag, "");
  EXPECT_TRUE(parse_replaces("a@b;to-tag=ours;from-tag= ;early-only")->early_only);
}

TEST(ReasonParser, ReadsProtocolCauseAndText) {
  auto reason = parse_reason("SIP;cause=200;text=\"Call completed elsewhere\"");
  ASSERT_TRUE(reason);
  EXPECT_EQ(reason->protocol, "SIP");
  EXPECT_EQ(reason->cause, 200u);
  EXPECT_EQ(reason->text, "Call completed elsewhere");

  auto q850 = parse_reason("Q.850 ; cause=16");
  ASSERT_TRUE(q850);
  EXPECT_EQ(q850->protocol, "Q.850");
  EXPECT_EQ(q850->cause, 16u);
  EXPECT_EQ(q850->text, "");
}

TEST(ReasonParser, RejectsBadValues) {
  EXPECT_EQ(parse_reason("").error().reason, "Bad Reason: protocol");
  EXPECT_EQ(parse_reason("SIP;cause=abc").error().reason, "Bad Reason: cause");
  EXPECT_EQ(parse_reason("SIP;text=\"open").error().reason, "Bad Reason: parameters");
}

TEST(ContentTypeParser, ReadsTypeSubtypeAndParameters) {
  auto sdp = parse_content_type("application/sdp");
  ASSERT_TRUE(sdp);
  EXPECT_EQ(sdp->type, "application");
  EXPECT_EQ(sdp->subtype, "sdp");
  EXPECT_TRUE(sdp->params.empty());

  auto multipart = parse_content_type("multipart/mixed;boundary=unique-boundary-1");
  ASSERT_TRUE(multipart);
  EXPECT_EQ(multipart->type, "multipart");
  EXPECT_EQ(multipart->subtype, "mixed");
  EXPECT_EQ(multipart->params.get("boundary"), "unique-boundary-1");

  auto spaced = parse_content_type("text / plain ; charset=\"utf-8\"");
  ASSERT_TRUE(spaced);
  EXPECT_EQ(spaced->subtype, "plain");
  EXPECT_EQ(spaced->params.get("charset"), "\"utf-8\"");
}

TEST(ContentTypeParser, RejectsBadValues) {
  EXPECT_EQ(parse_content_type("").error().reason, "Bad Content-Type: type");
  EXPECT_EQ(parse_content_type("application").error().reason, "Bad Content-Type: subtype");
  EXPECT_EQ(parse_content_type("application/").error().reason, "Bad Content-Type: subtype");
  EXPECT_EQ(parse_content_type("application/sdp;").error().reason, "Bad Content-Type: parameters");
  EXPECT_EQ(parse_content_type("application/sdp x").error().reason, "Bad Content-Type: parameters");
}

}  // namespace
}  // namespace catchline::sip
