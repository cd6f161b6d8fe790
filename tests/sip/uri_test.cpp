#include "sip/uri.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace catchline::sip {
namespace {

TEST(UriParser, ReadsEveryPartOfASipUri) {
  auto uri = parse_uri(
      "sip:alice:secret@atlanta.example.com:5070;transport=tcp;lr?subject=x&priority=urgent");
  ASSERT_TRUE(uri) << uri.error().reason;
  EXPECT_EQ(uri->scheme, Scheme::Sip);
  EXPECT_EQ(uri->scheme_text, "sip");
  EXPECT_EQ(uri->user, "alice");
  EXPECT_EQ(uri->password, "secret");
  EXPECT_EQ(uri->host, "atlanta.example.com");
  EXPECT_EQ(uri->port, 5070);
  EXPECT_EQ(uri->params.text(), ";transport=tcp;lr");
  EXPECT_EQ(uri->transport(), "tcp");
  EXPECT_TRUE(uri->params.has("lr"));
  EXPECT_EQ(uri->headers, "subject=x&priority=urgent");
  EXPECT_EQ(uri->opaque(),
            "alice:secret@atlanta.example.com:5070;transport=tcp;lr?subject=x&priority=urgent");
}

TEST(UriParser, ReadsHostOnlyAndSipsUris) {
  auto uri = parse_uri("SIPS:registrar.example.com");
  ASSERT_TRUE(uri);
  EXPECT_EQ(uri->scheme, Scheme::Sips);
  EXPECT_EQ(uri->scheme_text, "SIPS");
  EXPECT_EQ(uri->user, "");
  EXPECT_FALSE(uri->password);
  EXPECT_EQ(uri->host, "registrar.example.com");
  EXPECT_FALSE(uri->port);
  EXPECT_TRUE(uri->params.empty());
}

TEST(UriParser, KeepsIpv6ReferencesWithBrackets) {
  auto uri = parse_uri("sip:user@[2001:db8::10]:5070");
  ASSERT_TRUE(uri);
  EXPECT_TRUE(uri->is_ipv6());
  EXPECT_EQ(uri->host, "[2001:db8::10]");
  EXPECT_EQ(uri->bare_host(), "2001:db8::10");
  EXPECT_EQ(uri->port, 5070);

  // RFC 5118 §4.3: the 5070 here is part of the address, not a port.
  auto ambiguous = parse_uri("sip:user@[2001:db8::10:5070]");
  ASSERT_TRUE(ambiguous);
  EXPECT_EQ(ambiguous->bare_host(), "2001:db8::10:5070");
  EXPECT_FALSE(ambiguous->port);
}

TEST(UriParser, AllowsSemicolonsInTheUserPart) {
  // RFC 4475 semiuri
  auto uri = parse_uri("sip:user;par=u%40example.net@example.com");
  ASSERT_TRUE(uri);
  EXPECT_EQ(uri->user, "user;par=u%40example.net");
  EXPECT_EQ(uri->host, "example.com");
  EXPECT_TRUE(uri->params.empty());
}

TEST(UriParser, KeepsEscapesAsWritten) {
  auto uri = parse_uri("sip:sips%3Auser%40example.com@example.net");
  ASSERT_TRUE(uri);
  EXPECT_EQ(uri->user, "sips%3Auser%40example.com");
  EXPECT_EQ(unescape(uri->user), "sips:user@example.com");
  auto null_user = parse_uri("sip:null-%00-null@example.com");
  ASSERT_TRUE(null_user);
  EXPECT_EQ(unescape(null_user->user), std::string("null-\0-null", 11));
}

TEST(UriParser, ReadsTelUris) {
  auto uri = parse_uri("tel:+1-201-555-0123;phone-context=example.com");
  ASSERT_TRUE(uri);
  EXPECT_EQ(uri->scheme, Scheme::Tel);
  EXPECT_EQ(uri->user, "+1-201-555-0123");
  EXPECT_EQ(uri->params.get("phone-context"), "example.com");
  EXPECT_EQ(uri->host, "");
}

TEST(UriParser, AcceptsOtherSchemesAsOpaque) {
  for (std::string_view text :
       {"nobodyKnowsThisScheme:totallyopaquecontent", "soap.beep://192.0.2.103:3002",
        "http://www.example.com", "isbn:2983792873", "urn:service:sos"}) {
    auto uri = parse_uri(text);
    ASSERT_TRUE(uri) << text;
    EXPECT_EQ(uri->scheme, Scheme::Other) << text;
    EXPECT_EQ(uri->text, text);
  }
  EXPECT_EQ(parse_uri("soap.beep://192.0.2.103:3002")->scheme_text, "soap.beep");
}

TEST(UriParser, RejectsMalformedUrisWithReasons) {
  struct Case {
    std::string_view text;
    std::string_view reason;
  };
  const Case cases[] = {
      {"", "Bad URI: no scheme"},
      {"alice@example.com", "Bad URI: no scheme"},
      {"1sip:alice@example.com", "Bad URI: no scheme"},
      {"<sip:alice@example.com>", "Bad URI: no scheme"},
      {"sip:", "Bad URI: host"},
      {"sip:@example.com", "Bad URI: user"},
      {"sip:al ice@example.com", "Bad URI: user"},
      {"sip:alice:pa<ss@example.com", "Bad URI: password"},
      {"sip:alice@", "Bad URI: host"},
      {"sip:alice@exa mple.com", "Bad URI: host"},
      {"sip:2001:db8::10", "Bad URI: port"},
      {"sip:alice@example.com:", "Bad URI: port"},
      {"sip:alice@example.com:65536", "Bad URI: port"},
      {"sip:alice@example.com:123456", "Bad URI: port"},
      {"sip:[2001:db8:::192.0.2.1]", "Bad URI: IPv6 reference"},
      {"sip:[2001:db8::1", "Bad URI: IPv6 reference"},
      {"sip:[]", "Bad URI: IPv6 reference"},
      {"sip:[1:2:3:4:5:6:7:8:9]", "Bad URI: IPv6 reference"},
      {"sip:[1::2::3]", "Bad URI: IPv6 reference"},
      {"sip:alice@example.com;", "Bad URI: parameters"},
      {"sip:alice@example.com;;lr", "Bad URI: parameters"},
      {"sip:alice@example.com;a=", "Bad URI: parameters"},
      {"sip:alice@example.com; lr", "Bad URI: parameters"},
      {"sip:alice@example.com?", "Bad URI: headers"},
      {"sip:alice@example.com?subject", "Bad URI: headers"},
      {"sip:alice@example.com?a=b&", "Bad URI: headers"},
      {"sip:alice@example.com>", "Bad URI: host"},
      {"tel:", "Bad URI: tel number"},
      {"tel:+1 555", "Bad URI: tel number"},
      {"tel:+1555;", "Bad URI: parameters"},
      {"http:", "Bad URI: opaque part"},
      {"http://a b", "Bad URI: opaque part"},
  };
  for (const Case& c : cases) {
    auto uri = parse_uri(c.text);
    ASSERT_FALSE(uri) << c.text;
    EXPECT_EQ(uri.error().reason, c.reason) << c.text;
  }
}

TEST(Ipv6Address, FollowsRfc4291TextForms) {
  for (std::string_view good :
       {"::", "::1", "2001:db8::1", "2001:db8:0:0:0:0:0:1", "1:2:3:4:5:6:7::", "::ffff:192.0.2.1",
        "2001:db8::192.0.2.1", "1:2:3:4:5:6:192.0.2.1", "FEDC:BA98::7654:3210"}) {
    EXPECT_TRUE(is_ipv6_address(good)) << good;
  }
  for (std::string_view bad :
       {"", ":", ":::", "2001:db8:::192.0.2.1", "1:2:3:4:5:6:7:8:9", "12345::1", "1::2::3",
        "1:", ":1", "1:2:3:4:5:6:7:192.0.2.1", "::ffff:192.0.2.256", "g::1", "1:2:3:4:5:6:7:8::"}) {
    EXPECT_FALSE(is_ipv6_address(bad)) << bad;
  }
}

TEST(Ipv4Address, NeedsFourPartsUpTo255) {
  EXPECT_TRUE(is_ipv4_address("192.0.2.1"));
  EXPECT_TRUE(is_ipv4_address("255.255.255.255"));
  for (std::string_view bad :
       {"", "192.0.2", "192.0.2.1.5", "256.0.0.1", "1..2.3", "a.b.c.d", "192.0.2.1 "}) {
    EXPECT_FALSE(is_ipv4_address(bad)) << bad;
  }
}

// RFC 3261 §19.1.4: the equivalent and non-equivalent pairs of its examples, and more.
TEST(UriEqual, FollowsRfc3261ComparisonRules) {
  struct Case {
    std::string_view a;
    std::string_view b;
    bool equal;
  };
  const Case cases[] = {
      {"sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp", true},
      {"sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5", true},
      {"sip:carol@chicago.com", "sip:carol@chicago.com;security=on", true},
      {"sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on", true},
      {"sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
       "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com", true},
      {"sip:alice@atlanta.com?subject=project%20x&priority=urgent",
       "sip:alice@atlanta.com?priority=urgent&subject=project%20x", true},
      {"SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP", false},
      {"sip:bob@biloxi.com", "sip:bob@biloxi.com:5060", false},
      {"sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp", false},
      {"sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp", false},
      {"sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting", false},
      {"sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4", false},
      {"sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off", false},
      {"sip:alice@atlanta.com", "sips:alice@atlanta.com", false},
      {"sip:alice:x@atlanta.com", "sip:alice@atlanta.com", false},
      {"sip:alice:x@atlanta.com", "sip:alice:%78@atlanta.com", true},
      {"sip:a@[2001:db8::1]", "sip:a@[2001:DB8:0:0:0:0:0:1]", true},
      {"sip:a@[2001:db8::1]", "sip:a@[2001:db8::2]", false},
      {"sip:a@h;maddr=1.2.3.4", "sip:a@h", false},
      {"sip:a@h;user=phone", "sip:a@h;user=ip", false},
      {"sip:a@h?x=1", "sip:a@h?x=1&y=2", false},
      {"tel:+1-201-555-0123", "tel:+12015550123", true},
      {"tel:+12015550123;ext=1", "tel:+12015550123", false},
      {"tel:7042;phone-context=example.com", "tel:7042;PHONE-CONTEXT=Example.com", true},
      {"urn:service:sos", "urn:service:sos", true},
      // A repeated parameter: only the first counts, so equality stays reflexive (found by
      // fuzz_uri).
      {"sip:a@h;transport=x;transport=TCP", "sip:a@h;transport=x;transport=TCP", true},
      {"sip:a@h;transport=x;transport=TCP", "sip:a@h;transport=x", true},
      {"tel:+1555;a=1;a=2", "tel:+1555;a=1;a=2", true},
      {"urn:service:sos", "urn:service:police", false},
  };
  for (const Case& c : cases) {
    auto a = parse_uri(c.a);
    auto b = parse_uri(c.b);
    ASSERT_TRUE(a) << c.a;
    ASSERT_TRUE(b) << c.b;
    EXPECT_EQ(uri_equal(*a, *b), c.equal) << c.a << " vs " << c.b;
    EXPECT_EQ(uri_equal(*b, *a), c.equal) << c.b << " vs " << c.a;
  }
}

TEST(UriParser, RefusesRawControlCharactersAndNamesThem) {
  const std::string_view cases[] = {
      "sip:al<CTL>ice@example.com",
      "sip:alice:pw<CTL>@example.com",
      "sip:alice@exa<CTL>mple.com",
      "sip:alice@example.com:50<CTL>60",
      "sip:alice@example.com;transport=udp<CTL>",
      "sip:alice@example.com?subject=<CTL>",
      "sip:[2001:db8::1<CTL>]",
      "tel:+1555<CTL>",
      "http://example.com/<CTL>",
      "<CTL>sip:alice@example.com",
  };
  for (char control : {'\0', '\x01', '\x7f', '\x1b'}) {
    for (std::string_view text : cases) {
      std::string bad(text);
      bad.replace(bad.find("<CTL>"), 5, 1, control);
      auto uri = parse_uri(bad);
      ASSERT_FALSE(uri) << text << " with " << int(control);
      EXPECT_EQ(uri.error().reason, "Bad URI: control character")
          << text << " with " << int(control);
    }
  }
}

TEST(UriParser, AcceptsAnEscapedNul) {
  auto uri = parse_uri("sip:al%00ice@example.com;x=%00?h=%00");
  ASSERT_TRUE(uri) << uri.error().reason;
  EXPECT_EQ(uri->user, "al%00ice");
}

}  // namespace
}  // namespace catchline::sip
