#include "sip/message.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "sip/headers/char_class.h"
#include "sip/headers/params.h"

namespace catchline::sip {

namespace {

struct NameEntry {
  std::string_view name;  // lower case
  Header header;
};

constexpr std::size_t kLongestName = 24;

// A name of the index with, for each of its bytes, 0x20 where it is a letter (either case
// matches) and 0 elsewhere (the byte must match exactly).
struct IndexedName {
  std::string_view name;
  Header header = Header::Other;
  std::array<char, kLongestName> case_bits{};
};

// Every name a header is known by: the long form in lower case, then the compact forms
// (RFC 3261 §7.3.3 and the IANA SIP parameters registry).
constexpr NameEntry kHeaderNames[] = {
    {"via", Header::Via},
    {"v", Header::Via},
    {"from", Header::From},
    {"f", Header::From},
    {"to", Header::To},
    {"t", Header::To},
    {"call-id", Header::CallId},
    {"i", Header::CallId},
    {"cseq", Header::CSeq},
    {"max-forwards", Header::MaxForwards},
    {"content-length", Header::ContentLength},
    {"l", Header::ContentLength},
    {"content-type", Header::ContentType},
    {"c", Header::ContentType},
    {"content-encoding", Header::ContentEncoding},
    {"e", Header::ContentEncoding},
    {"contact", Header::Contact},
    {"m", Header::Contact},
    {"route", Header::Route},
    {"record-route", Header::RecordRoute},
    {"authorization", Header::Authorization},
    {"proxy-authorization", Header::ProxyAuthorization},
    {"www-authenticate", Header::WwwAuthenticate},
    {"proxy-authenticate", Header::ProxyAuthenticate},
    {"authentication-info", Header::AuthenticationInfo},
    {"expires", Header::Expires},
    {"min-expires", Header::MinExpires},
    {"event", Header::Event},
    {"o", Header::Event},
    {"allow-events", Header::AllowEvents},
    {"u", Header::AllowEvents},
    {"subscription-state", Header::SubscriptionState},
    {"replaces", Header::Replaces},
    {"reason", Header::Reason},
    {"p-asserted-identity", Header::PAssertedIdentity},
    {"p-preferred-identity", Header::PPreferredIdentity},
    {"remote-party-id", Header::RemotePartyId},
    {"allow", Header::Allow},
    {"accept", Header::Accept},
    {"supported", Header::Supported},
    {"k", Header::Supported},
    {"require", Header::Require},
    {"proxy-require", Header::ProxyRequire},
    {"unsupported", Header::Unsupported},
    {"user-agent", Header::UserAgent},
    {"server", Header::Server},
    {"warning", Header::Warning},
    {"refer-to", Header::ReferTo},
    {"r", Header::ReferTo},
    {"referred-by", Header::ReferredBy},
    {"b", Header::ReferredBy},
    {"subject", Header::Subject},
    {"s", Header::Subject},
    {"date", Header::Date},
    {"timestamp", Header::Timestamp},
    {"retry-after", Header::RetryAfter},
    {"session-expires", Header::SessionExpires},
    {"x", Header::SessionExpires},
    {"min-se", Header::MinSe},
    {"identity", Header::Identity},
    {"y", Header::Identity},
    {"identity-info", Header::IdentityInfo},
    {"n", Header::IdentityInfo},
    {"accept-contact", Header::AcceptContact},
    {"a", Header::AcceptContact},
    {"reject-contact", Header::RejectContact},
    {"j", Header::RejectContact},
    {"request-disposition", Header::RequestDisposition},
    {"d", Header::RequestDisposition},
    {"content-disposition", Header::ContentDisposition},
    {"content-language", Header::ContentLanguage},
    {"accept-encoding", Header::AcceptEncoding},
    {"accept-language", Header::AcceptLanguage},
    {"alert-info", Header::AlertInfo},
    {"call-info", Header::CallInfo},
    {"error-info", Header::ErrorInfo},
    {"in-reply-to", Header::InReplyTo},
    {"mime-version", Header::MimeVersion},
    {"organization", Header::Organization},
    {"priority", Header::Priority},
    {"reply-to", Header::ReplyTo},
    {"rseq", Header::RSeq},
    {"rack", Header::RAck},
    {"path", Header::Path},
    {"service-route", Header::ServiceRoute},
    {"privacy", Header::Privacy},
    {"diversion", Header::Diversion},
    {"history-info", Header::HistoryInfo},
    {"sip-etag", Header::SipETag},
    {"sip-if-match", Header::SipIfMatch},
};

constexpr std::size_t kNameCount = std::size(kHeaderNames);

// The names sorted by length, and for each length the range that holds it, so that a lookup
// compares against the one to four names of the same length only.
struct NameIndex {
  std::array<IndexedName, kNameCount> entries{};
  std::array<std::uint8_t, kLongestName + 2> begin{};  // begin[n]..begin[n+1]: length n
};

constexpr NameIndex make_index() {
  NameIndex index;
  for (std::size_t i = 0; i < kNameCount; ++i) {
    index.entries[i].name = kHeaderNames[i].name;
    index.entries[i].header = kHeaderNames[i].header;
    for (std::size_t k = 0; k < kHeaderNames[i].name.size() && k < kLongestName; ++k) {
      char c = kHeaderNames[i].name[k];
      index.entries[i].case_bits[k] = (c >= 'a' && c <= 'z') ? 0x20 : 0;
    }
  }
  std::sort(
      index.entries.begin(), index.entries.end(),
      [](const IndexedName& a, const IndexedName& b) { return a.name.size() < b.name.size(); });
  std::size_t next = 0;
  for (std::size_t length = 0; length <= kLongestName + 1; ++length) {
    while (next < kNameCount && index.entries[next].name.size() < length) {
      ++next;
    }
    index.begin[length] = static_cast<std::uint8_t>(next);
  }
  return index;
}

constexpr NameIndex kNameIndex = make_index();
static_assert(kNameIndex.begin[kLongestName + 1] == kNameCount, "a header name is too long");

constexpr std::string_view kCanonicalNames[] = {
    "",
    "Via",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Max-Forwards",
    "Content-Length",
    "Content-Type",
    "Content-Encoding",
    "Contact",
    "Route",
    "Record-Route",
    "Authorization",
    "Proxy-Authorization",
    "WWW-Authenticate",
    "Proxy-Authenticate",
    "Authentication-Info",
    "Expires",
    "Min-Expires",
    "Event",
    "Allow-Events",
    "Subscription-State",
    "Replaces",
    "Reason",
    "P-Asserted-Identity",
    "P-Preferred-Identity",
    "Remote-Party-ID",
    "Allow",
    "Accept",
    "Supported",
    "Require",
    "Proxy-Require",
    "Unsupported",
    "User-Agent",
    "Server",
    "Warning",
    "Refer-To",
    "Referred-By",
    "Subject",
    "Date",
    "Timestamp",
    "Retry-After",
    "Session-Expires",
    "Min-SE",
    "Identity",
    "Identity-Info",
    "Accept-Contact",
    "Reject-Contact",
    "Request-Disposition",
    "Content-Disposition",
    "Content-Language",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Call-Info",
    "Error-Info",
    "In-Reply-To",
    "MIME-Version",
    "Organization",
    "Priority",
    "Reply-To",
    "RSeq",
    "RAck",
    "Path",
    "Service-Route",
    "Privacy",
    "Diversion",
    "History-Info",
    "SIP-ETag",
    "SIP-If-Match",
};
static_assert(std::size(kCanonicalNames) == static_cast<std::size_t>(Header::Count),
              "every Header needs its canonical name");

constexpr std::string_view kMethodNames[] = {
    "INVITE", "ACK",   "BYE",       "CANCEL", "REGISTER", "OPTIONS", "INFO",
    "UPDATE", "PRACK", "SUBSCRIBE", "NOTIFY", "REFER",    "MESSAGE", "PUBLISH",
};
static_assert(std::size(kMethodNames) == static_cast<std::size_t>(Method::Other),
              "every Method needs its name");

}  // namespace

Method method_from_name(std::string_view name) {
  // Methods are case-sensitive (RFC 3261 §7.1); the first letter narrows the candidates.
  if (name.empty()) {
    return Method::Other;
  }
  auto is = [name](Method method) { return kMethodNames[static_cast<int>(method)] == name; };
  switch (name[0]) {
    case 'I':
      return is(Method::Invite) ? Method::Invite : is(Method::Info) ? Method::Info : Method::Other;
    case 'A':
      return is(Method::Ack) ? Method::Ack : Method::Other;
    case 'B':
      return is(Method::Bye) ? Method::Bye : Method::Other;
    case 'C':
      return is(Method::Cancel) ? Method::Cancel : Method::Other;
    case 'R':
      return is(Method::Register) ? Method::Register
             : is(Method::Refer)  ? Method::Refer
                                  : Method::Other;
    case 'O':
      return is(Method::Options) ? Method::Options : Method::Other;
    case 'U':
      return is(Method::Update) ? Method::Update : Method::Other;
    case 'P':
      return is(Method::Prack)     ? Method::Prack
             : is(Method::Publish) ? Method::Publish
                                   : Method::Other;
    case 'S':
      return is(Method::Subscribe) ? Method::Subscribe : Method::Other;
    case 'N':
      return is(Method::Notify) ? Method::Notify : Method::Other;
    case 'M':
      return is(Method::Message) ? Method::Message : Method::Other;
    default:
      return Method::Other;
  }
}

std::string_view method_name(Method method) {
  auto index = static_cast<std::size_t>(method);
  return index < std::size(kMethodNames) ? kMethodNames[index] : std::string_view{};
}

namespace {

// The compact forms by letter (RFC 3261 §7.3.3), for a lookup by index.
constexpr std::array<Header, 26> make_compact_table() {
  std::array<Header, 26> table{};
  table.fill(Header::Other);
  for (const NameEntry& entry : kHeaderNames) {
    if (entry.name.size() == 1) {
      table[entry.name[0] - 'a'] = entry.header;
    }
  }
  return table;
}

constexpr std::array<Header, 26> kCompactHeaders = make_compact_table();

}  // namespace

namespace {

template <typename Word>
Word load(const char* text) {
  Word word;
  std::memcpy(&word, text, sizeof(Word));
  return word;
}

// Compares `size` bytes (2 or more) of `name` with the lower-case `candidate` ignoring ASCII
// case, a word at a time with fixed-size, overlapping loads: or-ing 0x20 into a letter
// lower-cases it, and `case_bits` holds 0x20 exactly where the candidate has a letter, so that
// every other byte ('-') must match as it is.
bool matches_lower(const char* name, const IndexedName& entry, std::size_t size) {
  const char* candidate = entry.name.data();
  const char* bits = entry.case_bits.data();
  auto same = [&]<typename Word>(Word, std::size_t at) {
    return static_cast<Word>(load<Word>(name + at) | load<Word>(bits + at)) ==
           load<Word>(candidate + at);
  };
  if (size >= 8) {
    bool equal = true;
    for (std::size_t i = 0; i + 8 <= size; i += 8) {
      equal &= same(std::uint64_t{}, i);
    }
    return equal && same(std::uint64_t{}, size - 8);
  }
  if (size >= 4) {
    return same(std::uint32_t{}, 0) && same(std::uint32_t{}, size - 4);
  }
  return same(std::uint16_t{}, 0) && same(std::uint16_t{}, size - 2);
}

}  // namespace

Header header_from_name(std::string_view name) {
  if (name.size() == 1) {
    char letter = chars::lower(name[0]);
    return letter >= 'a' && letter <= 'z' ? kCompactHeaders[letter - 'a'] : Header::Other;
  }
  if (name.empty() || name.size() > kLongestName) {
    return Header::Other;
  }
  const char first = chars::lower(name[0]);
  for (std::size_t i = kNameIndex.begin[name.size()]; i < kNameIndex.begin[name.size() + 1]; ++i) {
    const IndexedName& entry = kNameIndex.entries[i];
    if (entry.name[0] == first && matches_lower(name.data(), entry, name.size())) {
      return entry.header;
    }
  }
  return Header::Other;
}

std::string_view header_name(Header header) {
  auto index = static_cast<std::size_t>(header);
  return index < std::size(kCanonicalNames) ? kCanonicalNames[index] : std::string_view{};
}

std::optional<std::string_view> Message::header_value(Header header) const {
  for (const HeaderField& field : headers()) {
    if (field.id == header) {
      return view(field.value);
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> Message::header_value(std::string_view name) const {
  Header header = header_from_name(name);
  if (header != Header::Other) {
    return header_value(header);
  }
  for (const HeaderField& field : headers()) {
    if (field.id == Header::Other && iequals(view(field.name), name)) {
      return view(field.value);
    }
  }
  return std::nullopt;
}

std::size_t Message::header_count(Header header) const {
  std::size_t count = 0;
  for (const HeaderField& field : headers()) {
    count += field.id == header ? 1 : 0;
  }
  return count;
}

void Message::take_ownership() {
  if (borrowed_ == nullptr) {
    return;
  }
  owned_.assign(borrowed_, size_);
  borrowed_ = nullptr;
}

void Message::rebind_headers() {
  if (overflow_.empty()) {
    headers_ = std::span<HeaderField>(inline_headers_);
  } else {
    headers_ = std::span<HeaderField>(overflow_);
  }
}

Message::Message(const Message& other) { *this = other; }

Message& Message::operator=(const Message& other) {
  if (this == &other) {
    return *this;
  }
  owned_ = other.owned_;
  borrowed_ = other.borrowed_;
  size_ = other.size_;
  method_ = other.method_;
  status_ = other.status_;
  method_text_ = other.method_text_;
  request_uri_ = other.request_uri_;
  reason_ = other.reason_;
  std::copy_n(other.inline_headers_.begin(), std::min(other.header_count_, kInlineHeaders),
              inline_headers_.begin());
  overflow_ = other.overflow_;
  header_count_ = other.header_count_;
  call_id_ = other.call_id_;
  cseq_method_text_ = other.cseq_method_text_;
  top_via_ = other.top_via_;
  branch_ = other.branch_;
  from_tag_ = other.from_tag_;
  to_tag_ = other.to_tag_;
  body_ = other.body_;
  cseq_number_ = other.cseq_number_;
  cseq_method_ = other.cseq_method_;
  max_forwards_ = other.max_forwards_;
  rebind_headers();
  return *this;
}

Message::Message(Message&& other) noexcept { *this = std::move(other); }

Message& Message::operator=(Message&& other) noexcept {
  if (this == &other) {
    return *this;
  }
  owned_ = std::move(other.owned_);
  borrowed_ = other.borrowed_;
  size_ = other.size_;
  method_ = other.method_;
  status_ = other.status_;
  method_text_ = other.method_text_;
  request_uri_ = other.request_uri_;
  reason_ = other.reason_;
  std::copy_n(other.inline_headers_.begin(), std::min(other.header_count_, kInlineHeaders),
              inline_headers_.begin());
  overflow_ = std::move(other.overflow_);
  header_count_ = other.header_count_;
  call_id_ = other.call_id_;
  cseq_method_text_ = other.cseq_method_text_;
  top_via_ = other.top_via_;
  branch_ = other.branch_;
  from_tag_ = other.from_tag_;
  to_tag_ = other.to_tag_;
  body_ = other.body_;
  cseq_number_ = other.cseq_number_;
  cseq_method_ = other.cseq_method_;
  max_forwards_ = other.max_forwards_;
  rebind_headers();
  // The moved-from message is left empty but valid.
  other.borrowed_ = nullptr;
  other.owned_.clear();
  other.size_ = 0;
  other.overflow_.clear();
  other.header_count_ = 0;
  other.rebind_headers();
  other.method_text_ = other.request_uri_ = other.reason_ = Span{};
  other.call_id_ = other.cseq_method_text_ = other.top_via_ = Span{};
  other.branch_ = other.from_tag_ = other.to_tag_ = other.body_ = Span{};
  return *this;
}

}  // namespace catchline::sip
