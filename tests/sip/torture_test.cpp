// RFC 4475 (SIP torture tests) and RFC 5118 (IPv6 torture tests): our own messages that exercise
// the same corner cases, kept as fixtures in tests/sip/fixtures/{valid,invalid}/*.sip. Every
// valid fixture must parse with the fields checked here; every invalid one must be refused with
// the reason given. A fixture without an entry here fails the test, so none goes unchecked.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "sip/headers/cseq.h"
#include "sip/headers/name_addr.h"
#include "sip/headers/params.h"
#include "sip/headers/simple.h"
#include "sip/headers/via.h"
#include "sip/message.h"
#include "sip/uri.h"

namespace catchline::sip {
namespace {

std::filesystem::path fixtures() {
  return std::filesystem::path(__FILE__).parent_path() / "fixtures";
}

std::string read_fixture(const std::string& folder, const std::string& name) {
  std::ifstream file(fixtures() / folder / (name + ".sip"), std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

std::set<std::string> fixture_names(const std::string& folder) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(fixtures() / folder)) {
    if (entry.path().extension() == ".sip") {
      names.insert(entry.path().stem().string());
    }
  }
  return names;
}

std::vector<Via> all_vias(const Message& message) {
  std::vector<Via> vias;
  message.for_each_value(Header::Via, [&](std::string_view value) {
    HeaderList list(value);
    while (auto entry = list.next()) {
      auto via = parse_via(*entry);
      EXPECT_TRUE(via) << *entry;
      if (via) {
        vias.push_back(*via);
      }
    }
  });
  return vias;
}

std::vector<Contact> all_contacts(const Message& message) {
  std::vector<Contact> contacts;
  message.for_each_value(Header::Contact, [&](std::string_view value) {
    HeaderList list(value);
    while (auto element = list.next()) {
      auto contact = parse_contact(*element);
      EXPECT_TRUE(contact) << *element;
      if (contact) {
        contacts.push_back(*contact);
      }
    }
  });
  return contacts;
}

NameAddr address(const Message& message, Header header) {
  auto parsed = parse_name_addr(message.header_value(header).value_or(""));
  EXPECT_TRUE(parsed) << header_name(header);
  return parsed ? *parsed : NameAddr{};
}

Uri request_uri(const Message& message) {
  auto uri = parse_uri(message.request_uri());
  EXPECT_TRUE(uri) << message.request_uri();
  return uri ? *uri : Uri{};
}

using Check = std::function<void(const Message&)>;

const std::map<std::string, Check>& valid_checks() {
  static const std::map<std::string, Check> checks = {
      // RFC 4475 §3.1.1.1: folding, whitespace around ':' '/' ';' '=', escaped quotes.
      {"wsinv",
       [](const Message& m) {
         EXPECT_EQ(m.method(), Method::Invite);
         EXPECT_EQ(m.call_id(), "ws.tortuous.55a1@192.0.2.7");
         EXPECT_EQ(m.cseq_number(), 17u);
         EXPECT_EQ(m.cseq_method(), Method::Invite);
         EXPECT_EQ(m.max_forwards(), 42);
         EXPECT_EQ(m.to_tag(), "77zz91q");
         EXPECT_EQ(m.from_tag(), "4k2j9x");
         EXPECT_EQ(m.branch(), "plainOld2543");
         EXPECT_EQ(address(m, Header::From).display(), "Dr. \"Who\\\" Knows");
         EXPECT_EQ(request_uri(m).params.get("oddparam"), "");
         auto vias = all_vias(m);
         ASSERT_EQ(vias.size(), 3u);
         EXPECT_EQ(vias[1].transport, "TCP");
         EXPECT_EQ(vias[1].branch, "z9hG4bKws77a");
         EXPECT_EQ(vias[2].host, "198.51.100.250");
         EXPECT_EQ(vias[2].branch, "z9hG4bKws77b");
         auto contacts = all_contacts(m);
         ASSERT_EQ(contacts.size(), 1u);
         EXPECT_EQ(contacts[0].address.display(), "Quoted \"string\"");
         EXPECT_FLOAT_EQ(contacts[0].q.value_or(-1), 0.25f);
         EXPECT_EQ(contacts[0].address.params.get("custom"), "custval");
         EXPECT_TRUE(contacts[0].address.params.has("lonelyflag"));
         EXPECT_EQ(m.header_value(Header::Subject), "");
         EXPECT_EQ(m.header_value("x-strange-value"), "first piece\r\n second piece");
         EXPECT_EQ(m.header_value("X-Separators"), ";;,,;;,;");
         auto route = address(m, Header::Route);
         EXPECT_TRUE(route.uri.params.has("lr"));
         EXPECT_EQ(route.uri.params.get("mystery"), "value");
         EXPECT_EQ(m.body().substr(0, 4), "v=0\r");
       }},
      // §3.1.1.2: every token character in a method, odd characters in the Request-URI.
      {"intmeth",
       [](const Message& m) {
         EXPECT_EQ(m.method(), Method::Other);
         EXPECT_EQ(m.method_name(), "~odd!Method_4*+%.'Z");
         EXPECT_EQ(m.cseq_method_name(), "~odd!Method_4*+%.'Z");
         Uri uri = request_uri(m);
         EXPECT_EQ(uri.user, "3_unusual.user~(x!y)&is+it$/odd?,/;;*");
         EXPECT_EQ(uri.password, "&pass+w=1,we!*rd$~_.(ok)");
         EXPECT_EQ(uri.host, "example.com");
         EXPECT_EQ(address(m, Header::To).uri.user, "3_unusual.user~(x!y)&is+it$/odd?,/;;*");
       }},
      // §3.1.1.3: %-escapes in user parts.
      {"esc01",
       [](const Message& m) {
         EXPECT_EQ(unescape(request_uri(m).user), "sips:carol@example.org");
         EXPECT_EQ(request_uri(m).host, "example.net");
         EXPECT_EQ(unescape(address(m, Header::To).uri.user), "carol");
         EXPECT_EQ(unescape(address(m, Header::From).uri.user), "Has Spaces Too");
         auto contacts = all_contacts(m);
         ASSERT_EQ(contacts.size(), 1u);
         EXPECT_EQ(unescape(contacts[0].address.uri.user), "caller");
       }},
      // §3.1.1.4: escaped NULs.
      {"escnull",
       [](const Message& m) {
         EXPECT_EQ(unescape(address(m, Header::To).uri.user), std::string("zero-\0-zero", 11));
         auto contacts = all_contacts(m);
         ASSERT_EQ(contacts.size(), 2u);
         EXPECT_EQ(unescape(contacts[0].address.uri.user), std::string(1, '\0'));
         EXPECT_EQ(unescape(contacts[1].address.uri.user), std::string(2, '\0'));
       }},
      // §3.1.1.5: '%' that is not an escape: a method, a header name and a branch keep it.
      {"esc02",
       [](const Message& m) {
         EXPECT_EQ(m.method(), Method::Other);
         EXPECT_EQ(m.method_name(), "RE%47IST%45R");
         EXPECT_EQ(m.branch(), "z9hG4bK20%3%fz");
         EXPECT_EQ(m.header_count(Header::Contact), 2u);
         EXPECT_EQ(m.header_value("C%6Fntact"), "<sip:alias2@host2.example.com>");
         EXPECT_EQ(address(m, Header::To).display_name, "%Z%45");
       }},
      // §3.1.1.6: no LWS between display name and '<'.
      {"lwsdisp",
       [](const Message& m) {
         EXPECT_EQ(address(m, Header::From).display_name, "caller");
         EXPECT_EQ(m.from_tag(), "lw5");
       }},
      // §3.1.1.7: long values, 30 Via lines (more than the inline header table).
      {"longreq",
       [](const Message& m) {
         EXPECT_EQ(all_vias(m).size(), 30u);
         EXPECT_EQ(m.branch(), "z9hG4bKlong00");
         EXPECT_EQ(m.to_tag().size(), 450u);
         EXPECT_EQ(m.from_tag().size(), 200u);
         EXPECT_EQ(m.call_id().size(), 8u + 256u);
         EXPECT_EQ(request_uri(m).user.size(), 380u);
         EXPECT_GT(m.headers().size(), 24u);
         bool long_name = false;
         for (const HeaderField& field : m.headers()) {
           long_name = long_name || (field.id == Header::Other && m.view(field.name).size() > 200 &&
                                     m.view(field.value) == std::string(512, 'a'));
         }
         EXPECT_TRUE(long_name);
       }},
      // §3.1.1.8: a second request after Content-Length: 0 is not part of this one.
      {"dblreq",
       [](const Message& m) {
         EXPECT_EQ(m.method(), Method::Register);
         EXPECT_EQ(m.body(), "");
         EXPECT_EQ(m.from_tag(), "dbl0");
       }},
      // §3.1.1.9: ';' in the user part.
      {"semiuri",
       [](const Message& m) {
         Uri uri = request_uri(m);
         EXPECT_EQ(uri.user, "user;par=u%40example.net");
         EXPECT_EQ(uri.host, "example.com");
         EXPECT_TRUE(uri.params.empty());
         EXPECT_EQ(m.from_tag(), "33242");
         EXPECT_TRUE(for_each_token("a, b", [](std::string_view) {}));
       }},
      // §3.1.1.10: unknown transports are kept as written.
      {"transports",
       [](const Message& m) {
         auto vias = all_vias(m);
         ASSERT_EQ(vias.size(), 5u);
         EXPECT_EQ(vias[0].transport, "UDP");
         EXPECT_EQ(vias[1].transport, "SCTP");
         EXPECT_EQ(vias[2].transport, "TLS");
         EXPECT_EQ(vias[3].transport, "MADEUP");
         EXPECT_EQ(vias[4].transport, "TCP");
         EXPECT_EQ(m.call_id(), "transports.k2j3h4g5f6");
       }},
      // §3.1.1.11: a multipart body, untouched.
      {"mpart01",
       [](const Message& m) {
         EXPECT_EQ(m.method(), Method::Message);
         auto type = parse_content_type(*m.header_value(Header::ContentType));
         ASSERT_TRUE(type);
         EXPECT_EQ(type->subtype, "mixed");
         EXPECT_EQ(type->params.get("boundary"), "++seam++");
         EXPECT_EQ(m.body().substr(0, 10), "--++seam++");
         EXPECT_EQ(m.body().substr(m.body().size() - 14), "--++seam++--\r\n");
       }},
      // §3.1.1.12: a reason phrase with UTF-8 and punctuation.
      {"unreason",
       [](const Message& m) {
         EXPECT_EQ(m.status(), 200);
         EXPECT_EQ(m.reason_phrase(),
                   "\u2248 0.5\u00b7 2\u00b2 \u2013 \u00fcnusual r\u00e9ason, \u263a still fine!");
         EXPECT_EQ(m.method(), Method::Invite);
       }},
      // §3.1.1.13: an empty reason phrase.
      {"noreason",
       [](const Message& m) {
         EXPECT_EQ(m.status(), 100);
         EXPECT_EQ(m.reason_phrase(), "");
       }},
      // §3.1.5.1: RFC 2543 syntax: no branch, no tags, addr-spec with header parameters.
      {"inv2543",
       [](const Message& m) {
         EXPECT_EQ(m.branch(), "");
         EXPECT_EQ(m.from_tag(), "");
         EXPECT_EQ(m.to_tag(), "");
         EXPECT_FALSE(m.max_forwards());
         EXPECT_EQ(address(m, Header::To).params.get("user"), "phone");
         EXPECT_EQ(address(m, Header::From).uri.params.get("user"), "phone");
       }},
      // §3.1.4.2, §3.1.4.3, §3.1.4.4: schemes we do not know are well formed.
      {"unkscm",
       [](const Message& m) {
         Uri uri = request_uri(m);
         EXPECT_EQ(uri.scheme, Scheme::Other);
         EXPECT_EQ(uri.scheme_text, "whoKnows");
       }},
      {"novelsc", [](const Message& m) { EXPECT_EQ(request_uri(m).scheme_text, "beep.soap+x"); }},
      {"unksm2",
       [](const Message& m) {
         EXPECT_EQ(address(m, Header::To).uri.scheme_text, "isbn");
         EXPECT_EQ(address(m, Header::From).uri.scheme_text, "http");
         EXPECT_EQ(m.from_tag(), "3234233");
         EXPECT_EQ(all_contacts(m)[0].address.uri.scheme_text, "name");
       }},
      // §3.1.4.5: unknown option tags parse; refusing them is the UAS's business.
      {"bext01",
       [](const Message& m) {
         EXPECT_TRUE(list_contains(*m.header_value(Header::Require), "orThisOneEither"));
         EXPECT_TRUE(list_contains(*m.header_value(Header::ProxyRequire), "noProxyKnowsThis"));
       }},
      // §3.1.4.14: escaped URI headers inside <> are allowed in Contact.
      {"regescrt",
       [](const Message& m) {
         auto contacts = all_contacts(m);
         ASSERT_EQ(contacts.size(), 1u);
         EXPECT_EQ(contacts[0].address.uri.headers, "Route=%3Csip:sip.example.com%3E");
       }},
      // §3.1.4.12, §3.1.4.13: where the unknown parameter belongs depends on <>.
      {"cparam01",
       [](const Message& m) {
         auto contact = all_contacts(m).at(0);
         EXPECT_TRUE(contact.address.params.has("unknownparam"));
         EXPECT_FALSE(contact.address.uri.params.has("unknownparam"));
       }},
      {"cparam02",
       [](const Message& m) {
         auto contact = all_contacts(m).at(0);
         EXPECT_FALSE(contact.address.params.has("unknownparam"));
         EXPECT_TRUE(contact.address.uri.params.has("unknownparam"));
       }},
      // §3.1.4.11: Max-Forwards 0 is well formed (the proxy answers 483, not the parser).
      {"zeromf", [](const Message& m) { EXPECT_EQ(m.max_forwards(), 0); }},
      // §3.1.4.10: broadcast addresses in Via are syntax-valid.
      {"bcast",
       [](const Message& m) {
         auto vias = all_vias(m);
         ASSERT_EQ(vias.size(), 2u);
         EXPECT_EQ(vias[0].received, "255.255.255.255");
         EXPECT_EQ(vias[1].host, "255.255.255.255");
       }},
      // §3.1.3.1: a branch that is only the cookie: transaction matching's problem, not syntax.
      {"badbranch",
       [](const Message& m) {
         EXPECT_EQ(m.branch(), "z9hG4bK");
         EXPECT_EQ(m.from_tag(), "33242");
       }},
      // §3.1.4.7: an unknown authorization scheme is well formed (a registrar answers 401).
      {"regaut01",
       [](const Message& m) {
         EXPECT_EQ(m.header_value(Header::Authorization), "NoOneKnowsThisScheme opaque-data=here");
       }},
      // §3.1.2.12: a Date in another zone; nothing in the server reads Date, so it passes.
      {"baddate",
       [](const Message& m) {
         EXPECT_EQ(m.header_value(Header::Date), "Fri, 01 Jan 2010 16:00:00 EST");
       }},
      // §3.1.4.6: an unknown body type is the UAS's business.
      {"invut",
       [](const Message& m) {
         EXPECT_EQ(m.header_value(Header::ContentType), "application/unknownformat");
         EXPECT_EQ(m.body(), "<audio>\r\n <pcmu port=\"443\"/>\r\n</audio>\r\n");
       }},
      // Captured text with bare LF line ends (accepted by choice, see parse_message).
      {"lf-only",
       [](const Message& m) {
         EXPECT_EQ(m.call_id(), "lf-only.capture@192.0.2.9");
         EXPECT_EQ(m.to_tag(), "");
         EXPECT_EQ(m.from_tag(), "lf");
         EXPECT_EQ(m.max_forwards(), 70);
       }},
      // RFC 5118 §4.1
      {"ipv6-good",
       [](const Message& m) {
         Uri uri = request_uri(m);
         EXPECT_EQ(uri.host, "[2001:db8::10]");
         EXPECT_FALSE(uri.port);
         EXPECT_EQ(all_vias(m).at(0).host, "[2001:db8::9:1]");
         EXPECT_EQ(all_contacts(m).at(0).address.uri.bare_host(), "2001:db8::1");
       }},
      // §4.3, §4.4: inside the brackets a trailing group is part of the address.
      {"port-ambiguous",
       [](const Message& m) {
         Uri uri = request_uri(m);
         EXPECT_EQ(uri.bare_host(), "2001:db8::10:5070");
         EXPECT_FALSE(uri.port);
       }},
      {"port-unambiguous",
       [](const Message& m) {
         Uri uri = request_uri(m);
         EXPECT_EQ(uri.bare_host(), "2001:db8::10");
         EXPECT_EQ(uri.port, 5070);
       }},
      // §4.5: received with and without brackets.
      {"via-received-param-with-delim",
       [](const Message& m) {
         Via via = all_vias(m).at(0);
         EXPECT_EQ(via.received, "[2001:db8::9:255]");
         EXPECT_EQ(via.port, 6050);
         EXPECT_EQ(m.method(), Method::Bye);
       }},
      {"via-received-param-no-delim",
       [](const Message& m) { EXPECT_EQ(all_vias(m).at(0).received, "2001:db8::9:255"); }},
      // §4.6, §4.8: IPv6 in the body is the SDP parser's business; the body is intact.
      {"ipv6-in-sdp",
       [](const Message& m) {
         EXPECT_NE(m.body().find("c=IN IP6 2001:db8::20"), std::string_view::npos);
         EXPECT_EQ(address(m, Header::To).uri.host, "[2001:db8::10]");
       }},
      {"mult-ip-in-sdp",
       [](const Message& m) {
         EXPECT_NE(m.body().find("c=IN IP6 2001:db8::1"), std::string_view::npos);
         EXPECT_NE(m.body().find("c=IN IP4 192.0.2.1"), std::string_view::npos);
       }},
      // §4.7: IPv4 and IPv6 Via entries side by side.
      {"mult-ip-in-header",
       [](const Message& m) {
         auto vias = all_vias(m);
         ASSERT_EQ(vias.size(), 3u);
         EXPECT_EQ(vias[0].host, "[2001:db8::9:1]");
         EXPECT_EQ(vias[1].host, "192.0.2.1");
         EXPECT_EQ(vias[2].received, "192.0.2.200");
       }},
      // §4.9: IPv4-mapped IPv6 addresses.
      {"ipv4-mapped-ipv6",
       [](const Message& m) {
         auto vias = all_vias(m);
         ASSERT_EQ(vias.size(), 2u);
         EXPECT_EQ(vias[0].host, "[::ffff:192.0.2.10]");
         EXPECT_EQ(vias[0].port, 19823);
         EXPECT_EQ(all_contacts(m).at(0).address.uri.bare_host(), "::ffff:192.0.2.128");
       }},
      // §4.10: two colons before the IPv4 tail is correct.
      {"ipv6-correct-abnf-2-colons",
       [](const Message& m) { EXPECT_EQ(request_uri(m).bare_host(), "2001:db8::192.0.2.1"); }},
      // RFC 3261 §25.1: HTAB and UTF-8 (TEXT-UTF8) in a value, a display name, a quoted text.
      {"htab-utf8-values",
       [](const Message& m) {
         EXPECT_EQ(m.header_value(Header::Subject), "caf\xc3\xa9\tmit \xf0\x9f\x8d\x9d");
         EXPECT_EQ(address(m, Header::From).display(), "Jos\xc3\xa9\t\xf0\x9f\x98\x80");
         auto reason = parse_reason(m.header_value(Header::Reason).value_or(""));
         ASSERT_TRUE(reason);
         EXPECT_EQ(reason->text, "Anruf \xc3\xbc\x62\x65rnommen\t\xe2\x98\x8e");
       }},
  };
  return checks;
}

struct Refusal {
  std::string_view reason;
  int status = 400;
};

const std::map<std::string, Refusal>& invalid_reasons() {
  static const std::map<std::string, Refusal> reasons = {
      // RFC 4475 §3.1.2.1: empty Via and Contact parameters.
      {"badinv01", {"Bad Via: parameters"}},
      // §3.1.2.2, §3.1.2.3: Content-Length larger than the body, negative.
      {"clerr", {"Bad Content-Length"}},
      {"ncl", {"Bad Content-Length"}},
      // §3.1.2.4, §3.1.2.5: scalars out of range (CSeq is checked before Max-Forwards).
      {"scalar02", {"Bad CSeq: number"}},
      {"scalarlg", {"Bad CSeq: number", 0}},
      // §3.1.2.6: unterminated quoted display name.
      {"quotbal", {"Bad To: unclosed quote"}},
      // §3.1.2.7 - §3.1.2.10: Request-Line form.
      {"ltgtruri", {"Bad Request-URI: no scheme"}},
      {"lwsruri", {"Bad request line"}},
      {"lwsstart", {"Bad request line"}},
      {"trws", {"Bad request line"}},
      // §3.1.2.11: headers in a Request-URI.
      {"escruri", {"Bad Request-URI: headers"}},
      // §3.1.2.13: a URI with '?' outside <>.
      {"regbadct", {"Bad Contact: URI with '?' or ',' outside <>"}},
      // §3.1.2.14: spaces inside <>.
      {"badaspec", {"Bad To: bad URI: no scheme"}},
      // §3.1.2.15: a comma in an unquoted display name.
      {"baddn", {"Bad From: bad display name"}},
      // §3.1.2.16: SIP/7.0.
      {"badvers", {"Version Not Supported", 505}},
      // §3.1.2.17, §3.1.2.18: CSeq method differs from the request's.
      {"mismatch01", {"Bad CSeq: method mismatch"}},
      {"mismatch02", {"Bad CSeq: method mismatch"}},
      // §3.1.2.19: a status code of ten digits.
      {"bigcode", {"Bad status code", 0}},
      // §3.1.4.1: From, To and Call-ID missing (checked in that order after Via).
      {"insuf", {"Missing header: From"}},
      // §3.1.4.8: single-valued headers twice.
      {"multi01", {"Duplicate header: From"}},
      // §3.1.4.9: two Content-Length values.
      {"mcl01", {"Duplicate header: Content-Length"}},
      // An unterminated quote in Contact; a header line without a colon.
      {"untermcontact", {"Bad Contact: unclosed quote"}},
      {"nocolon", {"Bad header line: no colon"}},
      // RFC 5118 §4.2: an IPv6 address without brackets in a Request-URI.
      {"ipv6-bad", {"Bad Request-URI: port"}},
      // §4.10: three colons are not an IPv6 address.
      {"ipv6-bug-abnf-3-colons", {"Bad Request-URI: IPv6 reference"}},
      {"via-ipv6-unclosed", {"Bad Via: host"}},
      // RFC 3261 §25.1: no control character but HTAB in a header value, a header name, the
      // reason phrase or the Request-URI; a CR alone is one.
      {"nul-in-subject", {"Bad Subject: control character"}},
      {"esc-in-display-name", {"Bad To: control character"}},
      {"bare-cr-in-value", {"Bad Subject: control character"}},
      {"del-in-header-name", {"Bad header line: control character"}},
      {"ctl-in-reason-phrase", {"Bad reason phrase: control character", 0}},
      {"nul-in-request-uri", {"Bad Request-URI: control character"}},
  };
  return reasons;
}

TEST(TortureMessages, EveryValidFixtureParsesWithItsFields) {
  std::set<std::string> names = fixture_names("valid");
  ASSERT_GE(names.size(), 30u);
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    auto check = valid_checks().find(name);
    ASSERT_NE(check, valid_checks().end()) << "no checks for valid fixture " << name;
    auto message = parse_message(read_fixture("valid", name));
    ASSERT_TRUE(message) << message.error().reason << " at " << message.error().offset;
    check->second(*message);
  }
  for (const auto& [name, check] : valid_checks()) {
    EXPECT_TRUE(names.count(name)) << "missing fixture valid/" << name << ".sip";
  }
}

TEST(TortureMessages, EveryInvalidFixtureIsRefusedWithItsReason) {
  std::set<std::string> names = fixture_names("invalid");
  ASSERT_GE(names.size(), 20u);
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    auto expected = invalid_reasons().find(name);
    ASSERT_NE(expected, invalid_reasons().end()) << "no reason for invalid fixture " << name;
    std::string text = read_fixture("invalid", name);
    auto message = parse_message_view(text);
    ASSERT_FALSE(message);
    EXPECT_EQ(message.error().reason, expected->second.reason);
    EXPECT_EQ(message.error().status, expected->second.status);
    EXPECT_LE(message.error().offset, text.size());
  }
  for (const auto& [name, refusal] : invalid_reasons()) {
    EXPECT_TRUE(names.count(name)) << "missing fixture invalid/" << name << ".sip";
  }
}

TEST(TortureMessages, ValidFixturesParseTheSameBorrowedOrOwned) {
  for (const std::string& name : fixture_names("valid")) {
    std::string text = read_fixture("valid", name);
    auto borrowed = parse_message_view(text);
    auto owned = parse_message(text);
    ASSERT_TRUE(borrowed && owned) << name;
    EXPECT_EQ(borrowed->headers().size(), owned->headers().size()) << name;
    EXPECT_EQ(borrowed->call_id(), owned->call_id()) << name;
    EXPECT_EQ(borrowed->body(), owned->body()) << name;
  }
}

TEST(TortureMessages, EveryTruncationOfAValidFixtureIsHandled) {
  // Cutting a message anywhere must give a clean result or a clean error, never a crash.
  for (const char* name : {"wsinv", "longreq", "esc01", "mult-ip-in-header"}) {
    std::string text = read_fixture("valid", name);
    for (std::size_t cut = 0; cut <= text.size(); ++cut) {
      auto message = parse_message_view(std::string_view(text).substr(0, cut));
      if (!message) {
        EXPECT_FALSE(message.error().reason.empty()) << name << " cut at " << cut;
      }
    }
  }
}

}  // namespace
}  // namespace catchline::sip
