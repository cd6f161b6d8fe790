#include "sip/headers/name_addr.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "tests/sip/control_chars.h"

namespace catchline::sip {
namespace {

using testing::with_control;
constexpr const auto& kControls = testing::kGrammarControls;

TEST(NameAddrParser, ReadsQuotedDisplayNameUriAndParameters) {
  auto address =
      parse_name_addr("\"Alice \\\"A\\\" Smith\" <sip:alice@atlanta.example.com>;tag=1928301774");
  ASSERT_TRUE(address) << address.error().reason;
  EXPECT_TRUE(address->display_quoted);
  EXPECT_EQ(address->display_name, "Alice \\\"A\\\" Smith");
  EXPECT_EQ(address->display(), "Alice \"A\" Smith");
  EXPECT_EQ(address->uri_text, "sip:alice@atlanta.example.com");
  EXPECT_EQ(address->uri.user, "alice");
  EXPECT_EQ(address->tag(), "1928301774");
}

TEST(NameAddrParser, ReadsTokenDisplayNamesWithOrWithoutSpaceBeforeAngle) {
  auto spaced = parse_name_addr("Bob Jones <sip:bob@biloxi.example.com>");
  ASSERT_TRUE(spaced);
  EXPECT_FALSE(spaced->display_quoted);
  EXPECT_EQ(spaced->display_name, "Bob Jones");
  EXPECT_EQ(spaced->display(), "Bob Jones");
  // RFC 4475 lwsdisp
  auto tight = parse_name_addr("caller<sip:caller@example.com>;tag=323");
  ASSERT_TRUE(tight);
  EXPECT_EQ(tight->display_name, "caller");
  EXPECT_EQ(tight->tag(), "323");
}

TEST(NameAddrParser, GivesAddrSpecParametersToTheHeader) {
  // RFC 3261 §20.10: without <>, ";user=phone" belongs to the header, not the URI.
  auto address = parse_name_addr("sip:+16505552222@ss1.example.net;user=phone;tag=77");
  ASSERT_TRUE(address);
  EXPECT_EQ(address->display_name, "");
  EXPECT_EQ(address->uri_text, "sip:+16505552222@ss1.example.net");
  EXPECT_TRUE(address->uri.params.empty());
  EXPECT_EQ(address->params.get("user"), "phone");
  EXPECT_EQ(address->tag(), "77");
}

TEST(NameAddrParser, KeepsUriParametersInsideAngles) {
  auto address = parse_name_addr("<sip:p1.example.com;lr>;foo=bar");
  ASSERT_TRUE(address);
  EXPECT_TRUE(address->uri.params.has("lr"));
  EXPECT_FALSE(address->params.has("lr"));
  EXPECT_EQ(address->params.get("foo"), "bar");
}

TEST(NameAddrParser, AcceptsFoldedWhitespaceBeforeParameters) {
  auto address = parse_name_addr(
      "\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8");
  ASSERT_TRUE(address) << address.error().reason;
  EXPECT_EQ(address->display(), "J Rosenberg \\\"");
  EXPECT_EQ(address->tag(), "98asjd8");
}

TEST(NameAddrParser, AcceptsUnknownSchemes) {
  auto address = parse_name_addr("<http://www.example.com>;tag=3234233");
  ASSERT_TRUE(address);
  EXPECT_EQ(address->uri.scheme, Scheme::Other);
  auto bare = parse_name_addr("isbn:2983792873");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->uri.scheme_text, "isbn");
}

TEST(NameAddrParser, RejectsMalformedAddressesWithReasons) {
  struct Case {
    std::string_view text;
    std::string_view reason;
  };
  const Case cases[] = {
      {"", "empty"},
      {"\"Mr. J. User <sip:j.user@example.com>", "unclosed quote"},
      {"\"Alice\" sip:alice@example.com", "no < after display name"},
      {"<sip:alice@example.com", "unclosed <"},
      {"\"Watson, Thomas\" < sip:t.watson@example.org >", "bad URI: no scheme"},
      {"<sip:t.watson@example.org >", "bad URI: host"},
      {"Bell, Alexander <sip:a.g.bell@example.com>", "bad display name"},
      {"sip:user@example.com?Route=%3Csip:sip.example.com%3E", "URI with '?' or ',' outside <>"},
      {"<sip:alice@example.com> junk", "bad parameters"},
      {"<sip:alice@example.com>;;;;", "bad parameters"},
      {"<sip:alice@example.com>;tag=a b", "bad parameters"},
      {"<sip:alice@[::1>", "bad URI: IPv6 reference"},
      {"alice", "bad URI: no scheme"},
  };
  for (const Case& c : cases) {
    auto address = parse_name_addr(c.text);
    ASSERT_FALSE(address) << c.text;
    EXPECT_EQ(address.error().reason, c.reason) << c.text;
  }
}

TEST(ContactParser, ReadsStar) {
  auto contact = parse_contact(" * ");
  ASSERT_TRUE(contact);
  EXPECT_TRUE(contact->star);
}

TEST(ContactParser, ReadsExpiresAndQ) {
  auto contact = parse_contact("<sip:alice@192.0.2.4:5060>;expires=3600;q=0.7");
  ASSERT_TRUE(contact) << contact.error().reason;
  EXPECT_FALSE(contact->star);
  EXPECT_EQ(contact->address.uri.host, "192.0.2.4");
  EXPECT_EQ(contact->expires, 3600u);
  ASSERT_TRUE(contact->q);
  EXPECT_FLOAT_EQ(*contact->q, 0.7f);
}

TEST(ContactParser, LeavesExpiresAndQUnsetWhenAbsent) {
  auto contact = parse_contact("sip:+19725552222@gw1.example.net;unknownparam");
  ASSERT_TRUE(contact);
  EXPECT_FALSE(contact->expires);
  EXPECT_FALSE(contact->q);
  EXPECT_TRUE(contact->address.params.has("unknownparam"));
}

TEST(ContactParser, ClampsAnOverlargeExpires) {
  auto contact = parse_contact("<sip:user@host5.example.net>;expires=280297596632815");
  ASSERT_TRUE(contact);
  EXPECT_EQ(contact->expires, 4294967295u);
}

TEST(ContactParser, ReadsQValuesOfTheGrammar) {
  struct Case {
    std::string_view q;
    float value;
  };
  const Case cases[] = {
      {"0", 0.0f}, {"1", 1.0f}, {"1.000", 1.0f}, {"0.5", 0.5f}, {"0.001", 0.001f}};
  for (const Case& c : cases) {
    auto contact = parse_contact("<sip:a@b>;q=" + std::string(c.q));
    ASSERT_TRUE(contact) << c.q;
    EXPECT_FLOAT_EQ(*contact->q, c.value) << c.q;
  }
}

TEST(ContactParser, RejectsBadExpiresAndQ) {
  for (std::string_view text : {"<sip:a@b>;expires=soon", "<sip:a@b>;expires=-1"}) {
    auto contact = parse_contact(text);
    ASSERT_FALSE(contact) << text;
    EXPECT_EQ(contact.error().reason, "bad expires") << text;
  }
  for (std::string_view text : {"<sip:a@b>;q=2", "<sip:a@b>;q=1.5", "<sip:a@b>;q=0.12345",
                                "<sip:a@b>;q=.5", "<sip:a@b>;q=0,5"}) {
    auto contact = parse_contact(text);
    ASSERT_FALSE(contact) << text;
  }
}

TEST(NameAddrParser, RefusesControlCharactersInTheDisplayNameUriAndParameters) {
  const std::string_view cases[] = {
      "\"Bob<CTL>\" <sip:bob@biloxi.example.com>",
      "\"<CTL>\" <sip:bob@biloxi.example.com>",
      "Bob<CTL> <sip:bob@biloxi.example.com>",
      "\"Bob\" <CTL><sip:bob@biloxi.example.com>",
      "<sip:bob@biloxi.example.com>;tag=1;note=\"a<CTL>b\"",
      "<sip:bob@biloxi.example.com> <CTL>;tag=1",
  };
  for (char control : kControls) {
    for (std::string_view text : cases) {
      const std::string bad = with_control(text, control);
      auto address = parse_name_addr(bad);
      ASSERT_FALSE(address) << text << " with " << int(control);
      EXPECT_EQ(address.error().reason, "control character") << text << " with " << int(control);
    }
    auto uri = parse_name_addr(with_control("<sip:bob@bil<CTL>oxi.example.com>", control));
    ASSERT_FALSE(uri) << int(control);
    EXPECT_EQ(uri.error().reason, "bad URI: control character") << int(control);
  }
}

TEST(NameAddrParser, RefusesEscapedControlCharactersCrAndLfInAQuotedDisplayName) {
  // RFC 3261's quoted-pair allows %x00-09 escaped, but display() would give the byte back raw.
  for (char control : {'\0', '\x01', '\x7f', '\x1b', '\r', '\n'}) {
    std::string text = with_control("\"Bob\\<CTL>\" <sip:bob@biloxi.example.com>", control);
    auto address = parse_name_addr(text);
    ASSERT_FALSE(address) << int(control);
    EXPECT_EQ(address.error().reason, "control character") << int(control);
  }
}

TEST(NameAddrParser, AcceptsHtabAndUtf8InDisplayNames) {
  auto quoted = parse_name_addr("\"Jos\xc3\xa9\t\xf0\x9f\x98\x80 \\\t\" <sip:jose@example.com>");
  ASSERT_TRUE(quoted) << quoted.error().reason;
  EXPECT_EQ(quoted->display(), "Jos\xc3\xa9\t\xf0\x9f\x98\x80 \t");
  auto token = parse_name_addr("Jos\xc3\xa9\t\xf0\x9f\x98\x80 <sip:jose@example.com>");
  ASSERT_TRUE(token) << token.error().reason;
  EXPECT_EQ(token->display(), "Jos\xc3\xa9\t\xf0\x9f\x98\x80");
}

}  // namespace
}  // namespace catchline::sip
