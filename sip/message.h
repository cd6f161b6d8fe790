#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sip/result.h"

namespace catchline::sip {

/// SIP request methods we name; anything else is Method::Other with its text kept.
enum class Method : std::uint8_t {
  Invite,
  Ack,
  Bye,
  Cancel,
  Register,
  Options,
  Info,
  Update,
  Prack,
  Subscribe,
  Notify,
  Refer,
  Message,
  Publish,
  Other,
};

/// The method named exactly by `name` (methods are case-sensitive, RFC 3261 §7.1).
Method method_from_name(std::string_view name);
/// The canonical text of a method; "" for Method::Other.
std::string_view method_name(Method method);

/// Headers the stack knows by name. Anything else is Header::Other and is kept as text.
enum class Header : std::uint8_t {
  Other,
  Via,     // v
  From,    // f
  To,      // t
  CallId,  // i
  CSeq,
  MaxForwards,
  ContentLength,    // l
  ContentType,      // c
  ContentEncoding,  // e
  Contact,          // m
  Route,
  RecordRoute,
  Authorization,
  ProxyAuthorization,
  WwwAuthenticate,
  ProxyAuthenticate,
  AuthenticationInfo,
  Expires,
  MinExpires,
  Event,        // o
  AllowEvents,  // u
  SubscriptionState,
  Replaces,
  Reason,
  PAssertedIdentity,
  PPreferredIdentity,
  RemotePartyId,
  Allow,
  Accept,
  Supported,  // k
  Require,
  ProxyRequire,
  Unsupported,
  UserAgent,
  Server,
  Warning,
  ReferTo,     // r
  ReferredBy,  // b
  Subject,     // s
  Date,
  Timestamp,
  RetryAfter,
  SessionExpires,  // x
  MinSe,
  Identity,            // y
  IdentityInfo,        // n
  AcceptContact,       // a
  RejectContact,       // j
  RequestDisposition,  // d
  ContentDisposition,
  ContentLanguage,
  AcceptEncoding,
  AcceptLanguage,
  AlertInfo,
  CallInfo,
  ErrorInfo,
  InReplyTo,
  MimeVersion,
  Organization,
  Priority,
  ReplyTo,
  RSeq,
  RAck,
  Path,
  ServiceRoute,
  Privacy,
  Diversion,
  HistoryInfo,
  SipETag,
  SipIfMatch,
  Count,  // number of known headers; not a header
};

/// The header a name stands for, in any letter case, long or compact form
/// (i m f t v l c k s e o u r x b y, and a j d n); Header::Other when unknown.
/// Dispatches on length and first letter: no map, no allocation.
Header header_from_name(std::string_view name);
/// The canonical long name of a known header ("Call-ID"); "" for Header::Other.
std::string_view header_name(Header header);

/// A piece of a message's text: offsets rather than pointers, so a Message stays valid when
/// it is moved or copied. A plain aggregate, so that tables of them cost nothing to set up:
/// write `Span{}` for the empty span.
struct Span {
  std::uint32_t offset;
  std::uint32_t length;
};

/// One header line as received: its name and its value, trimmed, folding left in place.
/// A plain aggregate like Span (`HeaderField{}` is Header::Other with empty spans).
struct HeaderField {
  Header id;
  Span name;
  Span value;
};

/// What the parser accepts at most; beyond it the message is refused, never grown into.
struct ParseLimits {
  std::size_t max_message_size = 64 * 1024;  // bytes, headers and body together
  std::size_t max_headers = 128;             // header lines
};

/// A parsed and validated SIP request or response (RFC 3261 §7).
/// A plain value owned by whoever holds it (the signaling thread, normally); not thread-safe.
///
/// The text is either owned (parsed from a std::string) or borrowed (parsed from a
/// std::string_view that the caller keeps alive); `take_ownership()` turns the second into the
/// first. Every accessor returns a view into that text, valid as long as the Message (and,
/// when borrowed, the caller's buffer) lives. Copy what must outlive it into std::string.
///
/// parse_message() guarantees, for every Message it returns: exactly one start line; at least
/// one Via whose first entry parses; From and To that parse; Call-ID; a CSeq whose method equals
/// the request method (for requests); a Content-Length that matches the body when present.
/// It also guarantees that every Via entry, every Contact, Route and Record-Route element and a
/// sip/sips/tel Request-URI parse (parse_via, parse_contact, parse_name_addr, parse_uri give no
/// error on them), and that Max-Forwards, when present, is a number from 0 to 255.
/// No header value holds a control character other than HTAB (CTL, %x00-1F and %x7F), except
/// the CRLF or LF of a fold, each followed by SP or HTAB; no header name, method, Request-URI
/// or reason phrase holds one either (a reason phrase may hold HTAB).
class Message {
 public:
  Message() = default;

  bool is_request() const { return status_ == 0; }
  bool is_response() const { return status_ != 0; }

  // Start line.
  /// The request method; for a response, the method of its CSeq.
  Method method() const { return method_; }
  /// The method's text as received (for a response: CSeq's method text).
  std::string_view method_name() const { return view(method_text_); }
  /// The Request-URI as received; "" for a response.
  std::string_view request_uri() const { return view(request_uri_); }
  /// The status code; 0 for a request.
  int status() const { return status_; }
  /// The reason phrase of a response, as received.
  std::string_view reason_phrase() const { return view(reason_); }

  // Headers.
  /// Every header line in order of arrival.
  std::span<const HeaderField> headers() const { return {headers_.data(), header_count_}; }
  /// The value of the first header line of this kind, or nullopt when there is none.
  std::optional<std::string_view> header_value(Header header) const;
  /// The value of the first header line named `name` (any case, compact forms too).
  std::optional<std::string_view> header_value(std::string_view name) const;
  /// How many header lines of this kind there are (a line with commas counts once).
  std::size_t header_count(Header header) const;
  /// Calls `f(value)` for each header line of this kind, in order; stops early when `f`
  /// returns false (if it returns bool).
  template <typename F>
  void for_each_value(Header header, F&& f) const;

  // Essentials, checked by parse_message() and cached so that hot paths never re-parse.
  std::string_view call_id() const { return view(call_id_); }
  std::uint32_t cseq_number() const { return cseq_number_; }
  Method cseq_method() const { return cseq_method_; }
  std::string_view cseq_method_name() const { return view(cseq_method_text_); }
  /// The first entry of the first Via header, e.g. "SIP/2.0/UDP host:5060;branch=z9hG4bK1".
  std::string_view top_via() const { return view(top_via_); }
  /// The branch parameter of the top Via; "" when absent (RFC 2543 peers).
  std::string_view branch() const { return view(branch_); }
  /// The tag parameter of From; "" when absent.
  std::string_view from_tag() const { return view(from_tag_); }
  /// The tag parameter of To; "" when absent.
  std::string_view to_tag() const { return view(to_tag_); }
  /// Max-Forwards, when the header is present.
  std::optional<int> max_forwards() const {
    return max_forwards_ < 0 ? std::nullopt : std::optional<int>(max_forwards_);
  }
  /// The body (exactly Content-Length bytes when that header is present).
  std::string_view body() const { return view(body_); }

  // Text.
  /// The whole message as received.
  std::string_view raw() const { return {base(), size_}; }
  /// The text a Span refers to.
  std::string_view view(Span s) const { return {base() + s.offset, s.length}; }
  /// Copies borrowed text into the message so that it no longer depends on the caller's buffer.
  void take_ownership();
  bool owns_text() const { return borrowed_ == nullptr; }

 private:
  friend class Parser;

  // Points headers_ at the inline table or at overflow_, after a copy or a move.
  void rebind_headers();

  const char* base() const { return borrowed_ != nullptr ? borrowed_ : owned_.data(); }

  std::string owned_;
  const char* borrowed_ = nullptr;
  std::uint32_t size_ = 0;

  Method method_ = Method::Other;
  int status_ = 0;
  Span method_text_{}, request_uri_{}, reason_{};

  // Header table: inline for typical messages (a phone's INVITE has 12 to 16 lines), so parsing
  // allocates nothing per header; messages with more lines spill into overflow_ (one allocation
  // per message). Every message a transaction keeps carries the table, so it is not larger.
  static constexpr std::size_t kInlineHeaders = 16;
  std::array<HeaderField, kInlineHeaders> inline_headers_;  // the first header_count_ are set
  std::vector<HeaderField> overflow_;
  std::span<HeaderField> headers_{inline_headers_};
  std::size_t header_count_ = 0;

  Span call_id_{}, cseq_method_text_{}, top_via_{}, branch_{}, from_tag_{}, to_tag_{}, body_{};
  std::uint32_t cseq_number_ = 0;
  Method cseq_method_ = Method::Other;
  int max_forwards_ = -1;

 public:
  Message(const Message& other);
  Message& operator=(const Message& other);
  Message(Message&& other) noexcept;
  Message& operator=(Message&& other) noexcept;
  ~Message() = default;
};

/// Parses and validates one SIP message, taking ownership of `text`.
///
/// Input rules (RFC 3261 §7, §18.3, §25):
/// - CRLF or LF before the start line is skipped (§7.5). Lines may end in CRLF or a bare LF:
///   the RFC asks for CRLF, but captured traces and some stacks use LF, and accepting it costs
///   nothing and loses nothing. A line starting with SP or HTAB continues the header above it;
///   the value keeps the fold, and the typed parsers read CR and LF as whitespace.
/// - The headers end at the first empty line, or at the end of the text when there is none.
///   The body is what follows, cut to Content-Length when that is smaller (§18.3: extra bytes
///   of a datagram are discarded, RFC 4475 dblreq); a larger Content-Length is an error.
/// - No control character (CTL: %x00-1F, %x7F) but HTAB in a header value, a header name or
///   the start line (RFC 3261 §25.1: TEXT-UTF8, LWS, tokens and quoted strings hold none);
///   CR and LF only as line ends and folds. Bytes from 0x80 up pass (UTF-8). A NUL, an
///   ESC, a DEL or a CR alone there refuses the message with a reason naming where: "Bad
///   Subject: control character" (the canonical name of a known header, else the name as
///   received), "Bad header line: control character", "Bad request line: control character",
///   "Bad Request-URI: control character", "Bad reason phrase: control character" (or "Bad
///   status line: control character" in the version). Escapes
///   such as %00 in a URI are not control characters. The body is not looked at.
/// - Bounds: `limits.max_message_size` bytes (513 "Message too large") and
///   `limits.max_headers` header lines ("Too many headers"). The work is linear in the size.
///
/// On failure the ParseError says why ("Missing header: Call-ID", "Duplicate header: CSeq",
/// "Bad Via: port", "Bad From: unclosed quote", "Bad Subject: control character", "Bad CSeq:
/// method mismatch", "Bad
/// Content-Length", "Bad Request-URI: headers", "Bad request line", "Bad status code"...),
/// where (offset into `text`) and how to answer it: 400; 505 "Version Not Supported" for a
/// request whose version is SIP/ but not 2.0; 513 for size. For a response the status is 0:
/// responses are never answered (RFC 3261 §17.1.3 drops a malformed response).
Result<Message> parse_message(std::string text, const ParseLimits& limits = {});

/// Parses one SIP message without copying: the Message borrows `text`, which must outlive it
/// (or call take_ownership()). Same rules and errors as parse_message(). Allocates nothing for
/// a valid message of up to 24 header lines (one vector beyond that).
Result<Message> parse_message_view(std::string_view text, const ParseLimits& limits = {});

template <typename F>
void Message::for_each_value(Header header, F&& f) const {
  for (const HeaderField& field : headers()) {
    if (field.id != header) {
      continue;
    }
    if constexpr (std::is_same_v<decltype(f(std::string_view{})), bool>) {
      if (!f(view(field.value))) {
        return;
      }
    } else {
      f(view(field.value));
    }
  }
}

}  // namespace catchline::sip
