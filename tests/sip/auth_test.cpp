#include "sip/headers/auth.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace catchline::sip {
namespace {

TEST(ChallengeParser, ReadsDigestChallengeOfRfc3261Example) {
  // RFC 3261 §20.44.
  auto challenge = parse_challenge(
      R"(Digest realm="atlanta.com", domain="sip:boxesbybob.com", qop="auth", )"
      R"(nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=FALSE, algorithm=MD5)");
  ASSERT_TRUE(challenge) << challenge.error().reason;
  EXPECT_TRUE(challenge->is_digest());
  EXPECT_EQ(challenge->scheme(), "Digest");
  EXPECT_EQ(challenge->params().size(), 7u);
  EXPECT_EQ(challenge->get("realm"), "atlanta.com");
  EXPECT_EQ(challenge->get("domain"), "sip:boxesbybob.com");
  EXPECT_EQ(challenge->get("qop"), "auth");
  EXPECT_EQ(challenge->get("nonce"), "f84f1cec41e6cbe5aea9c8e88d359");
  EXPECT_EQ(challenge->get("opaque"), "");
  EXPECT_EQ(challenge->get("stale"), "FALSE");
  EXPECT_EQ(challenge->get("algorithm"), "MD5");
  EXPECT_FALSE(challenge->get("userhash"));
}

TEST(ChallengeParser, NamesAndSchemeMatchInAnyCase) {
  auto challenge = parse_challenge(R"(dIgEsT REALM="x", Nonce=abc)");
  ASSERT_TRUE(challenge) << challenge.error().reason;
  EXPECT_TRUE(challenge->is_digest());
  EXPECT_EQ(challenge->get("realm"), "x");
  EXPECT_EQ(challenge->get("NONCE"), "abc");
}

TEST(ChallengeParser, QuotedValueKeepsCommasAndMarksQuoting) {
  auto challenge = parse_challenge(R"(Digest qop="auth, auth-int", algorithm=SHA-256)");
  ASSERT_TRUE(challenge) << challenge.error().reason;
  const AuthParam* qop = challenge->find("qop");
  ASSERT_NE(qop, nullptr);
  EXPECT_EQ(qop->value, "auth, auth-int");
  EXPECT_TRUE(qop->quoted);
  EXPECT_FALSE(qop->escaped);
  const AuthParam* algorithm = challenge->find("algorithm");
  ASSERT_NE(algorithm, nullptr);
  EXPECT_FALSE(algorithm->quoted);
}

TEST(ChallengeParser, ViewsPointIntoTheInput) {
  std::string text = R"(Digest realm="pbx", nonce="n1")";
  auto challenge = parse_challenge(text);
  ASSERT_TRUE(challenge);
  std::string_view realm = *challenge->get("realm");
  EXPECT_GE(realm.data(), text.data());
  EXPECT_LE(realm.data() + realm.size(), text.data() + text.size());
}

TEST(ChallengeParser, ToleratesFoldedWhitespaceAndEmptyElements) {
  auto challenge = parse_challenge("Digest\r\n realm = \"a\" ,, \r\n\tnonce=\"b\" ,");
  ASSERT_TRUE(challenge) << challenge.error().reason;
  EXPECT_EQ(challenge->get("realm"), "a");
  EXPECT_EQ(challenge->get("nonce"), "b");
  EXPECT_EQ(challenge->params().size(), 2u);
}

TEST(ChallengeParser, SchemeAloneHasNoParameters) {
  auto challenge = parse_challenge("Negotiate");
  ASSERT_TRUE(challenge) << challenge.error().reason;
  EXPECT_EQ(challenge->scheme(), "Negotiate");
  EXPECT_TRUE(challenge->params().empty());
  EXPECT_FALSE(challenge->is_digest());
}

TEST(CredentialsParser, ReadsDigestCredentialsOfRfc3261Example) {
  // RFC 3261 §20.7.
  auto credentials = parse_credentials(
      R"(Digest username="Alice", realm="atlanta.com", nonce="84a4cc6f3082121f32b42a2187831a9e", )"
      R"(response="7587245234b3434cc3412213e5f113a5432")");
  ASSERT_TRUE(credentials) << credentials.error().reason;
  EXPECT_EQ(credentials->get("username"), "Alice");
  EXPECT_EQ(credentials->get("realm"), "atlanta.com");
  EXPECT_EQ(credentials->get("nonce"), "84a4cc6f3082121f32b42a2187831a9e");
  EXPECT_EQ(credentials->get("response"), "7587245234b3434cc3412213e5f113a5432");
}

TEST(CredentialsParser, AcceptsUnquotedUriAsPhonesSendIt) {
  auto credentials = parse_credentials(
      "Digest username=1001, uri=sip:pbx.example.test;transport=udp, nc=00000001");
  ASSERT_TRUE(credentials) << credentials.error().reason;
  EXPECT_EQ(credentials->get("uri"), "sip:pbx.example.test;transport=udp");
  EXPECT_EQ(credentials->get("nc"), "00000001");
}

TEST(CredentialsParser, EscapesAreFlaggedAndResolvedOnRequest) {
  auto credentials = parse_credentials(R"(Digest username="a\"b\\c", realm="r")");
  ASSERT_TRUE(credentials) << credentials.error().reason;
  const AuthParam* username = credentials->find("username");
  ASSERT_NE(username, nullptr);
  EXPECT_TRUE(username->escaped);
  EXPECT_EQ(username->value, R"(a\"b\\c)");
  EXPECT_EQ(credentials->get_unescaped("username"), R"(a"b\c)");
  EXPECT_EQ(credentials->get_unescaped("realm"), "r");
  EXPECT_FALSE(credentials->get_unescaped("nonce"));
}

TEST(CredentialsParser, ReadsToken68OfBearerScheme) {
  // RFC 8898 carries OAuth tokens as RFC 7235 token68.
  auto credentials = parse_credentials("Bearer mF_9.B5f-4.1JqM==");
  ASSERT_TRUE(credentials) << credentials.error().reason;
  EXPECT_EQ(credentials->scheme(), "Bearer");
  EXPECT_EQ(credentials->token68(), "mF_9.B5f-4.1JqM==");
  EXPECT_TRUE(credentials->params().empty());
}

TEST(CredentialsParser, SingleParameterIsNotMistakenForToken68) {
  auto credentials = parse_credentials("Digest realm=abc");
  ASSERT_TRUE(credentials) << credentials.error().reason;
  EXPECT_EQ(credentials->token68(), "");
  EXPECT_EQ(credentials->get("realm"), "abc");
}

TEST(CredentialsParser, AcceptsAllowedNumberOfParameters) {
  std::string text = "Digest ";
  for (std::size_t i = 0; i < AuthValue::kMaxParams; ++i) {
    text += "p" + std::to_string(i) + "=v, ";
  }
  auto credentials = parse_credentials(text);
  ASSERT_TRUE(credentials) << credentials.error().reason;
  EXPECT_EQ(credentials->params().size(), AuthValue::kMaxParams);
}

struct BadInput {
  std::string_view text;
  std::string_view reason;
};

class CredentialsRejects : public ::testing::TestWithParam<BadInput> {};

TEST_P(CredentialsRejects, WithReasonNamingTheFault) {
  auto credentials = parse_credentials(GetParam().text);
  ASSERT_FALSE(credentials) << GetParam().text;
  EXPECT_EQ(credentials.error().reason, GetParam().reason);
  EXPECT_EQ(credentials.error().status, 400);
}

INSTANTIATE_TEST_SUITE_P(
    Table, CredentialsRejects,
    ::testing::Values(
        BadInput{"", "Bad credentials: no scheme"}, BadInput{"   ", "Bad credentials: no scheme"},
        BadInput{R"("Digest" realm="a")", "Bad credentials: no scheme"},
        BadInput{R"(Digest="a")", "Bad credentials: no space after scheme"},
        BadInput{R"(Digest realm="abc)", "Bad credentials: unclosed quote"},
        BadInput{R"(Digest realm="abc\")", "Bad credentials: unclosed quote"},
        BadInput{R"(Digest realm=, nonce="a")", "Bad credentials: no value for realm"},
        BadInput{R"(Digest realm="a", nonce)", "Bad credentials: no value for nonce"},
        BadInput{R"(Digest realm="a", nonce nonce="b")",
                 "Bad credentials: two schemes in one header"},
        BadInput{R"(Digest realm="a", Digest nonce="b")",
                 "Bad credentials: two schemes in one header"},
        BadInput{R"(Digest realm="a" nonce="b")", "Bad credentials: expected ','"},
        BadInput{R"(Digest realm="a", REALM="b")", "Bad credentials: duplicate parameter REALM"},
        BadInput{R"(Digest realm="a", ="b")", "Bad credentials: parameter name"},
        BadInput{R"(Digest realm="a", response="1", response="2")",
                 "Bad credentials: duplicate parameter response"}));

TEST(ChallengeParser, ErrorsNameTheHeaderKind) {
  auto challenge = parse_challenge(R"(Digest realm="x)");
  ASSERT_FALSE(challenge);
  EXPECT_EQ(challenge.error().reason, "Bad challenge: unclosed quote");
  EXPECT_EQ(challenge.error().offset, 13u);
}

TEST(CredentialsParser, RefusesMoreParametersThanTheLimit) {
  std::string text = "Digest ";
  for (std::size_t i = 0; i <= AuthValue::kMaxParams; ++i) {
    text += "p" + std::to_string(i) + "=v, ";
  }
  auto credentials = parse_credentials(text);
  ASSERT_FALSE(credentials);
  EXPECT_EQ(credentials.error().reason, "Bad credentials: too many parameters");
}

TEST(AppendQuoted, EscapesQuoteAndBackslash) {
  std::string out;
  append_quoted(out, R"(a"b\c)");
  EXPECT_EQ(out, R"("a\"b\\c")");
  const std::string text = "Digest username=" + out;
  auto credentials = parse_credentials(text);
  ASSERT_TRUE(credentials);
  EXPECT_EQ(credentials->get_unescaped("username"), R"(a"b\c)");
}

TEST(CredentialsParser, RefusesControlCharactersQuotedEscapedOrBare) {
  const std::string_view cases[] = {
      R"(Digest username="al<CTL>ice", realm="a")",
      R"(Digest username="al\<CTL>ice", realm="a")",
      R"(Digest username=al<CTL>ice, realm="a")",
      R"(Digest username="alice", <CTL>realm="a")",
      R"(Digest<CTL> username="alice")",
      R"(<CTL>Digest username="alice")",
  };
  for (char control : {'\0', '\x01', '\x7f', '\x1b'}) {
    for (std::string_view text : cases) {
      std::string bad(text);
      bad.replace(bad.find("<CTL>"), 5, 1, control);
      auto credentials = parse_credentials(bad);
      ASSERT_FALSE(credentials) << text << " with " << int(control);
      EXPECT_EQ(credentials.error().reason, "Bad credentials: control character")
          << text << " with " << int(control);
      EXPECT_EQ(credentials.error().offset, bad.find(control)) << text << " with " << int(control);
    }
  }
}

TEST(CredentialsParser, RefusesAnEscapedCrOrLfInAQuotedValue) {
  for (std::string_view text : {"Digest username=\"a\\\r\n b\"", "Digest username=\"a\\\nb\""}) {
    auto credentials = parse_credentials(text);
    ASSERT_FALSE(credentials) << text;
    EXPECT_EQ(credentials.error().reason, "Bad credentials: control character") << text;
  }
}

TEST(CredentialsParser, AcceptsHtabAndUtf8InQuotedValues) {
  std::string_view text = "Digest username=\"Jos\xc3\xa9\t\\\t\xf0\x9f\x98\x80\", realm=\"a\"";
  auto credentials = parse_credentials(text);
  ASSERT_TRUE(credentials) << credentials.error().reason;
  EXPECT_EQ(credentials->get_unescaped("username"), "Jos\xc3\xa9\t\t\xf0\x9f\x98\x80");
}

}  // namespace
}  // namespace catchline::sip
