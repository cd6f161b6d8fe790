// The SIP message parser (RFC 3261 §7, §18.3, §20, §25): one pass over the text that records
// each header line as offsets, then checks the headers every layer above relies on and caches
// them in the Message. Nothing is copied and nothing is allocated for up to 24 header lines.

#include <array>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "sip/headers/char_class.h"
#include "sip/headers/cseq.h"
#include "sip/headers/name_addr.h"
#include "sip/headers/params.h"
#include "sip/headers/simple.h"
#include "sip/headers/via.h"
#include "sip/message.h"
#include "sip/uri.h"

namespace catchline::sip {

namespace {

constexpr std::string_view kSipVersion = "SIP/2.0";

// Where a header that must appear at most once was seen first, and how often.
struct Seen {
  std::uint32_t first = 0;
  std::uint32_t count = 0;
};

bool is_line_space(char c) { return c == ' ' || c == '\t'; }

// A control character where a start line or a header name stands: any CTL but HTAB (the
// line's own CRLF or LF is cut off before these look at it).
bool has_line_control(std::string_view text) {
  for (char c : text) {
    if (chars::is_line_stop(c)) {
      return true;
    }
  }
  return false;
}

constexpr std::string_view kControlFault = "control character";

// Slots of Parser::seen_ for the headers the checks look at; 0 for the others.
enum : std::uint8_t {
  kNoSlot,
  kViaSlot,
  kFromSlot,
  kToSlot,
  kCallIdSlot,
  kCSeqSlot,
  kMaxForwardsSlot,
  kContentLengthSlot,
  kListSlot,
  kSlotCount,
};

constexpr std::array<std::uint8_t, static_cast<std::size_t>(Header::Count)> make_slots() {
  std::array<std::uint8_t, static_cast<std::size_t>(Header::Count)> slots{};
  slots[static_cast<std::size_t>(Header::Via)] = kViaSlot;
  slots[static_cast<std::size_t>(Header::From)] = kFromSlot;
  slots[static_cast<std::size_t>(Header::To)] = kToSlot;
  slots[static_cast<std::size_t>(Header::CallId)] = kCallIdSlot;
  slots[static_cast<std::size_t>(Header::CSeq)] = kCSeqSlot;
  slots[static_cast<std::size_t>(Header::MaxForwards)] = kMaxForwardsSlot;
  slots[static_cast<std::size_t>(Header::ContentLength)] = kContentLengthSlot;
  slots[static_cast<std::size_t>(Header::Contact)] = kListSlot;
  slots[static_cast<std::size_t>(Header::Route)] = kListSlot;
  slots[static_cast<std::size_t>(Header::RecordRoute)] = kListSlot;
  return slots;
}

constexpr auto kSeenSlot = make_slots();

}  // namespace

/// Fills a Message from its text; the friend of Message that sets its private fields.
class Parser {
 public:
  /// Parses `*owned` (taken over) when it is not null, else the borrowed text.
  static Result<Message> parse(std::string_view borrowed, std::string* owned,
                               const ParseLimits& limits);

  Parser(Message& message, const ParseLimits& limits)
      : message_(message), text_(message.raw()), limits_(limits) {}

  /// Parses and validates the whole message; nullopt when it is good.
  std::optional<ParseError> run() {
    std::optional<ParseError> error = parse();
    if (error && response_) {
      error->status = 0;  // a response is never answered (RFC 3261 §17.1.3)
    }
    return error;
  }

 private:
  std::optional<ParseError> parse();
  std::optional<ParseError> request_line(std::string_view line);
  std::optional<ParseError> status_line(std::string_view line);
  std::optional<ParseError> header_lines(std::size_t position);
  // Records one header line; false when the limit is reached. Inline: it runs for every line.
  [[gnu::always_inline]] inline bool add_header(Header id, std::string_view name,
                                                std::string_view value);
  // Moves the header table to the heap once the inline one is full.
  [[gnu::noinline]] void spill(const HeaderField& field);
  std::optional<ParseError> check_essentials();
  std::optional<ParseError> check_vias();
  std::optional<ParseError> check_address(Header header, Span& tag);
  std::optional<ParseError> check_call_id();
  std::optional<ParseError> check_cseq();
  std::optional<ParseError> check_max_forwards();
  std::optional<ParseError> check_body();
  std::optional<ParseError> check_lists();
  template <typename Check>
  std::optional<ParseError> each_element(Header id, std::string_view value, Check&& check);

  Span span_of(std::string_view part) const {
    return {static_cast<std::uint32_t>(part.data() - text_.data()),
            static_cast<std::uint32_t>(part.size())};
  }
  std::size_t offset_of(std::string_view part) const {
    return static_cast<std::size_t>(part.data() - text_.data());
  }
  ParseError error_at(std::string reason, std::string_view where, int status = 400) const {
    return fail(std::move(reason), offset_of(where), status);
  }
  const HeaderField& field(std::uint32_t index) const { return message_.headers_[index]; }
  std::string_view value_of(std::uint32_t index) const { return message_.view(field(index).value); }

  Message& message_;
  const std::string_view text_;
  const ParseLimits& limits_;
  bool response_ = false;
  std::size_t body_begin_ = 0;
  // Where the headers the checks need were first seen, and how often (index: kSeenSlot).
  std::array<Seen, kSlotCount> seen_{};
  Seen& via_ = seen_[kViaSlot];
  Seen& from_ = seen_[kFromSlot];
  Seen& to_ = seen_[kToSlot];
  Seen& call_id_ = seen_[kCallIdSlot];
  Seen& cseq_ = seen_[kCSeqSlot];
  Seen& max_forwards_ = seen_[kMaxForwardsSlot];
  Seen& content_length_ = seen_[kContentLengthSlot];
  Seen& lists_ = seen_[kListSlot];  // Contact, Route and Record-Route lines
  // Where the grammars write what they read: checked, then dropped (the Message keeps spans).
  Via via_scratch_;
  NameAddr address_scratch_;
  Contact contact_scratch_;
};

namespace {

// "Bad From: unclosed quote", "Bad Contact: bad URI: port".
std::string element_fault(std::string_view header, std::string_view fault,
                          std::string_view uri_fault) {
  std::string reason = "Bad " + std::string(header) + ": " + std::string(fault);
  if (!uri_fault.empty()) {
    reason += ": " + std::string(uri_fault);
  }
  return reason;
}

}  // namespace

std::optional<ParseError> Parser::parse() {
  std::size_t position = 0;
  // RFC 3261 §7.5: CRLFs before the start line are ignored (keep-alives on streams).
  while (position < text_.size() && (text_[position] == '\r' || text_[position] == '\n')) {
    ++position;
  }
  if (position == text_.size()) {
    return fail("Empty message", 0);
  }
  std::size_t newline = text_.find('\n', position);
  std::size_t line_end = newline == std::string_view::npos ? text_.size() : newline;
  std::size_t next = newline == std::string_view::npos ? text_.size() : newline + 1;
  if (line_end > position && text_[line_end - 1] == '\r') {
    --line_end;
  }
  std::string_view line = text_.substr(position, line_end - position);
  response_ = line.size() >= 4 && iequals(line.substr(0, 4), "SIP/");
  if (auto error = response_ ? status_line(line) : request_line(line)) {
    return error;
  }
  if (auto error = header_lines(next)) {
    return error;
  }
  return check_essentials();
}

// Request-Line = Method SP Request-URI SP SIP-Version CRLF: exactly one SP between the parts
// (RFC 4475 lwsstart, trws and lwsruri are invalid for that reason). No part takes a control
// character, so one there makes a check below fail; only then is the line searched for one,
// to name it.
std::optional<ParseError> Parser::request_line(std::string_view line) {
  auto bad_line = [&](std::string reason) {
    return error_at(
        has_line_control(line) ? "Bad request line: control character" : std::move(reason), line);
  };
  std::size_t first = line.find(' ');
  if (first == std::string_view::npos) {
    return bad_line("Bad request line");
  }
  std::string_view method = line.substr(0, first);
  if (!chars::is_token(method)) {
    return bad_line("Bad request line: method");
  }
  std::size_t second = line.find(' ', first + 1);
  if (second == std::string_view::npos || second == first + 1) {
    return bad_line("Bad request line");
  }
  std::string_view request_uri = line.substr(first + 1, second - first - 1);
  std::string_view version = line.substr(second + 1);
  if (!iequals(version, kSipVersion)) {
    // SIP/ and visible characters: a version we do not speak. Anything else is no version.
    bool sip_version = version.size() > 4 && iequals(version.substr(0, 4), "SIP/") &&
                       chars::all(version, chars::kVisible);
    if (sip_version) {
      return error_at("Version Not Supported", version, 505);
    }
    return bad_line("Bad request line");
  }
  Uri& uri = address_scratch_.uri;
  std::string_view fault = detail::parse_uri_into(request_uri, uri);
  if (!fault.empty()) {
    // A bare CR is no whitespace here (the URI parser would name the part it cuts).
    if (has_line_control(request_uri)) {
      fault = kControlFault;
    }
    return error_at("Bad Request-URI: " + std::string(fault), request_uri);
  }
  // RFC 3261 §19.1.1 (table 1): headers are not allowed in a Request-URI (RFC 4475 escruri).
  if ((uri.scheme == Scheme::Sip || uri.scheme == Scheme::Sips) && !uri.headers.empty()) {
    return error_at("Bad Request-URI: headers", request_uri);
  }
  message_.method_ = method_from_name(method);
  message_.method_text_ = span_of(method);
  message_.request_uri_ = span_of(request_uri);
  return std::nullopt;
}

// Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF. A missing reason phrase (no
// SP after the code) is tolerated; the phrase itself may be empty (RFC 4475 noreason).
// Reason-Phrase = *(reserved / unreserved / escaped / UTF8-NONASCII / UTF8-CONT / SP / HTAB):
// no other control character, as it is logged and shown.
std::optional<ParseError> Parser::status_line(std::string_view line) {
  std::size_t space = line.find(' ');
  std::string_view version = line.substr(0, space);
  if (!iequals(version, kSipVersion)) {
    if (has_line_control(version)) {
      return error_at("Bad status line: control character", line);
    }
    return error_at("Version Not Supported", line);
  }
  if (space == std::string_view::npos) {
    return error_at("Bad status code", line);
  }
  std::string_view rest = line.substr(space + 1);
  if (rest.size() < 3 || !chars::all(rest.substr(0, 3), chars::kDigit) ||
      (rest.size() > 3 && rest[3] != ' ')) {
    return error_at("Bad status code", rest);
  }
  int status = (rest[0] - '0') * 100 + (rest[1] - '0') * 10 + (rest[2] - '0');
  if (status < 100 || status > 699) {
    return error_at("Bad status code", rest);
  }
  std::string_view reason = rest.size() > 4 ? rest.substr(4) : rest.substr(rest.size());
  if (has_line_control(reason)) {
    return error_at("Bad reason phrase: control character", reason);
  }
  message_.status_ = status;
  message_.reason_ = span_of(reason);
  return std::nullopt;
}

inline bool Parser::add_header(Header id, std::string_view name, std::string_view value) {
  const std::size_t index = message_.header_count_;
  if (index >= limits_.max_headers) {
    return false;
  }
  const HeaderField field{id, span_of(name), span_of(value)};
  if (index < Message::kInlineHeaders) [[likely]] {
    message_.inline_headers_[index] = field;
  } else {
    spill(field);
  }
  message_.header_count_ = index + 1;
  if (const std::uint8_t slot = kSeenSlot[static_cast<std::size_t>(id)]; slot != 0) {
    Seen& seen = seen_[slot];
    if (seen.count++ == 0) {
      seen.first = static_cast<std::uint32_t>(index);
    }
  }
  return true;
}

void Parser::spill(const HeaderField& field) {
  if (message_.overflow_.empty()) {
    // One allocation for the whole message, sized for what the limits allow.
    message_.overflow_.reserve(std::max<std::size_t>(
        2 * Message::kInlineHeaders, std::min<std::size_t>(limits_.max_headers, 256)));
    message_.overflow_.assign(message_.inline_headers_.begin(), message_.inline_headers_.end());
  }
  message_.overflow_.push_back(field);
}

// message-header = field-name HCOLON field-value CRLF, HCOLON = *( SP / HTAB ) ":" SWS.
// A line starting with SP or HTAB continues the one above (RFC 3261 §7.3.1). A field-value is
// TEXT-UTF8, LWS, tokens and quoted strings (§25.1): no control character but HTAB, and CR and
// LF only as the line's end or a fold. The scan that finds each line's end stops at every
// control character, so that one pass finds the line and its faults.
std::optional<ParseError> Parser::header_lines(std::size_t position) {
  const std::size_t size = text_.size();
  // True when a control character stands at `at`, where a name or its colon should be; the
  // line's own CRLF or LF is none (that line has no colon).
  auto control_at = [&](std::size_t at) {
    if (at == size || !chars::is_line_stop(text_[at]) || text_[at] == '\n') {
      return false;
    }
    return text_[at] != '\r' || (at + 1 < size && text_[at + 1] != '\n');
  };
  for (;;) {
    if (position >= size) {
      body_begin_ = size;
      break;
    }
    const char first = text_[position];
    if (first == '\n') {
      body_begin_ = position + 1;
      break;
    }
    if (first == '\r' && (position + 1 == size || text_[position + 1] == '\n')) {
      body_begin_ = position + 1 == size ? size : position + 2;
      break;
    }
    // The name ends before the ':' (and the SP/HTAB before it). A known name is a token by
    // construction; only an unknown one is checked character by character.
    const void* found_colon = std::memchr(text_.data() + position, ':', size - position);
    std::size_t colon =
        found_colon == nullptr
            ? size
            : static_cast<std::size_t>(static_cast<const char*>(found_colon) - text_.data());
    std::size_t name_end = colon;
    while (name_end > position && is_line_space(text_[name_end - 1])) {
      --name_end;
    }
    Header id = colon == size ? Header::Other
                              : header_from_name(text_.substr(position, name_end - position));
    if (id == Header::Other) {
      name_end = chars::span(text_, chars::kToken, position);
      if (name_end == position) {
        return fail(control_at(position) ? "Bad header line: control character" : "Bad header line",
                    position);
      }
      colon = name_end;
      while (colon < size && is_line_space(text_[colon])) {
        ++colon;
      }
      if (colon == size || text_[colon] != ':') {
        return fail(
            control_at(colon) ? "Bad header line: control character" : "Bad header line: no colon",
            position);
      }
    }
    std::size_t scan = colon + 1;
    std::size_t value_end = size;
    std::size_t next = size;
    for (;;) {
      const std::size_t stop = chars::find_line_stop(text_, scan);
      if (stop == size) {
        break;
      }
      std::size_t newline = stop;
      if (text_[stop] == '\r') {
        if (stop + 1 == size) {
          break;  // the text ends in the middle of the CRLF
        }
        newline = stop + 1;
      }
      if (text_[newline] != '\n') {
        // A NUL, another control character, or a CR alone: refused, naming the header.
        return fail(element_fault(id == Header::Other ? text_.substr(position, name_end - position)
                                                      : header_name(id),
                                  kControlFault, {}),
                    stop);
      }
      if (newline + 1 < size && is_line_space(text_[newline + 1])) {
        scan = newline + 1;  // folded: the value goes on
        continue;
      }
      value_end = newline;
      next = newline + 1;
      break;
    }
    std::string_view name = text_.substr(position, name_end - position);
    std::string_view value = trim(text_.substr(colon + 1, value_end - colon - 1));
    if (value.empty()) {
      value = text_.substr(colon + 1, 0);
    }
    if (!add_header(id, name, value)) {
      return error_at("Too many headers", name);
    }
    position = next;
  }
  if (!message_.overflow_.empty()) {
    message_.headers_ = std::span<HeaderField>(message_.overflow_);
  }
  return std::nullopt;
}

std::optional<ParseError> Parser::check_essentials() {
  if (message_.overflow_.empty()) {
    message_.headers_ = std::span<HeaderField>(message_.inline_headers_);
  }
  if (auto error = check_vias()) {
    return error;
  }
  if (auto error = check_address(Header::From, message_.from_tag_)) {
    return error;
  }
  if (auto error = check_address(Header::To, message_.to_tag_)) {
    return error;
  }
  if (auto error = check_call_id()) {
    return error;
  }
  if (auto error = check_cseq()) {
    return error;
  }
  if (auto error = check_max_forwards()) {
    return error;
  }
  if (auto error = check_body()) {
    return error;
  }
  if (lists_.count > 0) {
    return check_lists();
  }
  return std::nullopt;
}

// Every Via entry must parse: a proxy or UA that answers sends the response along them
// (RFC 3261 §18.2.2), and RFC 4475 badinv01 shows empty entries that must be refused.
std::optional<ParseError> Parser::check_vias() {
  if (via_.count == 0) {
    return fail("Missing header: Via", 0);
  }
  bool top = true;
  for (std::size_t i = via_.first; i < message_.header_count_; ++i) {
    if (field(i).id != Header::Via) {
      continue;
    }
    auto error = each_element(Header::Via, value_of(i), [&](std::string_view entry) {
      std::string_view fault = detail::parse_via_into(entry, via_scratch_);
      if (!fault.empty()) {
        return std::optional<ParseError>(error_at(std::string(fault), entry));
      }
      if (top) {
        message_.top_via_ = span_of(entry);
        message_.branch_ = span_of(via_scratch_.branch);
        top = false;
      }
      return std::optional<ParseError>();
    });
    if (error) {
      return error;
    }
  }
  return std::nullopt;
}

std::optional<ParseError> Parser::check_address(Header header, Span& tag) {
  const Seen& seen = header == Header::From ? from_ : to_;
  const std::string_view name = header_name(header);
  if (seen.count == 0) {
    return fail("Missing header: " + std::string(name), 0);
  }
  std::string_view value = value_of(seen.first);
  if (seen.count > 1) {
    return error_at("Duplicate header: " + std::string(name), value);
  }
  std::string_view uri_fault;
  std::string_view found;
  std::string_view fault = detail::parse_name_addr_into(value, address_scratch_, uri_fault, &found);
  if (!fault.empty()) {
    return error_at(element_fault(name, fault, uri_fault), value);
  }
  if (found.data() != nullptr) {
    // tag-param = "tag" EQUAL token (RFC 3261 §25.1)
    if (!found.empty() && !chars::is_token(found)) {
      return error_at("Bad " + std::string(name) + ": tag", value);
    }
    tag = span_of(found);
  }
  return std::nullopt;
}

// Call-ID = word [ "@" word ] (RFC 3261 §20.8): printable characters without whitespace.
std::optional<ParseError> Parser::check_call_id() {
  if (call_id_.count == 0) {
    return fail("Missing header: Call-ID", 0);
  }
  std::string_view value = value_of(call_id_.first);
  if (call_id_.count > 1) {
    return error_at("Duplicate header: Call-ID", value);
  }
  if (value.empty()) {
    return error_at("Bad Call-ID", value);
  }
  // callid = word [ "@" word ]: visible characters only, no whitespace inside.
  bool bad = !chars::all(value, chars::kVisible);
  if (bad) {
    return error_at("Bad Call-ID", value);
  }
  message_.call_id_ = span_of(value);
  return std::nullopt;
}

std::optional<ParseError> Parser::check_cseq() {
  if (cseq_.count == 0) {
    return fail("Missing header: CSeq", 0);
  }
  std::string_view value = value_of(cseq_.first);
  if (cseq_.count > 1) {
    return error_at("Duplicate header: CSeq", value);
  }
  auto cseq = parse_cseq(value);
  if (!cseq) {
    return error_at(cseq.error().reason, value);
  }
  if (response_) {
    message_.method_ = cseq->method;
    message_.method_text_ = span_of(cseq->method_name);
  } else if (cseq->method_name != message_.method_name()) {
    // RFC 3261 §8.1.1.5: the CSeq method MUST match the request's (RFC 4475 mismatch01/02).
    return error_at("Bad CSeq: method mismatch", value);
  }
  message_.cseq_number_ = cseq->number;
  message_.cseq_method_ = cseq->method;
  message_.cseq_method_text_ = span_of(cseq->method_name);
  return std::nullopt;
}

// Max-Forwards = 1*DIGIT, 0..255 in practice (RFC 3261 §20.22); absent is tolerated on receipt.
std::optional<ParseError> Parser::check_max_forwards() {
  if (max_forwards_.count == 0) {
    return std::nullopt;
  }
  std::string_view value = value_of(max_forwards_.first);
  if (max_forwards_.count > 1) {
    return error_at("Duplicate header: Max-Forwards", value);
  }
  auto hops = parse_unsigned(value, 255);
  if (!hops) {
    return error_at("Bad Max-Forwards", value);
  }
  message_.max_forwards_ = static_cast<int>(*hops);
  return std::nullopt;
}

// RFC 3261 §18.3: a datagram's body is what follows the blank line; a Content-Length beyond it
// is an error (RFC 4475 clerr), a smaller one cuts the body (dblreq). RFC 4475 mcl01 and ncl:
// several or negative values are refused.
std::optional<ParseError> Parser::check_body() {
  std::string_view body = text_.substr(body_begin_);
  if (content_length_.count > 0) {
    std::string_view value = value_of(content_length_.first);
    if (content_length_.count > 1) {
      return error_at("Duplicate header: Content-Length", value);
    }
    auto length = parse_unsigned(value);
    if (!length || *length > body.size()) {
      return error_at("Bad Content-Length", value);
    }
    body = body.substr(0, *length);
  }
  message_.body_ = span_of(body);
  return std::nullopt;
}

// Contact, Route and Record-Route elements must parse, so that the dialog layer can rely on
// them. "Contact: *" stands alone (RFC 3261 §10.2.2).
std::optional<ParseError> Parser::check_lists() {
  bool star = false;
  std::size_t contacts = 0;
  for (std::size_t i = 0; i < message_.header_count_; ++i) {
    const Header id = field(i).id;
    if (id != Header::Contact && id != Header::Route && id != Header::RecordRoute) {
      continue;
    }
    auto error = each_element(id, value_of(i), [&](std::string_view element) {
      std::string_view uri_fault;
      std::string_view fault;
      if (id == Header::Contact) {
        fault = detail::parse_contact_into(element, contact_scratch_, uri_fault);
        star = star || contact_scratch_.star;
        ++contacts;
      } else {
        fault = detail::parse_name_addr_into(element, address_scratch_, uri_fault);
      }
      if (!fault.empty()) {
        return std::optional<ParseError>(
            error_at(element_fault(header_name(id), fault, uri_fault), element));
      }
      return std::optional<ParseError>();
    });
    if (error) {
      return error;
    }
  }
  if (star && contacts > 1) {
    return fail("Bad Contact: * with other contacts", 0);
  }
  return std::nullopt;
}

// The usual line holds one element: it goes to `check` whole, without HeaderList's scan.
template <typename Check>
std::optional<ParseError> Parser::each_element(Header id, std::string_view value, Check&& check) {
  if (std::memchr(value.data(), ',', value.size()) == nullptr) {
    if (value.empty()) {
      return error_at("Bad " + std::string(header_name(id)) + ": empty", value);
    }
    return check(value);
  }
  HeaderList list(value);
  bool any = false;
  while (auto element = list.next()) {
    any = true;
    if (auto error = check(*element)) {
      return error;
    }
  }
  if (list.broken()) {
    return error_at("Bad " + std::string(header_name(id)) + ": unclosed quote or <", value);
  }
  if (!any) {
    return error_at("Bad " + std::string(header_name(id)) + ": empty", value);
  }
  return std::nullopt;
}

namespace {

// A borrowed empty text has no data pointer; point it somewhere valid.
constexpr char kEmptyText[] = "";

std::size_t size_limit(const ParseLimits& limits) {
  return std::min<std::size_t>(limits.max_message_size, std::numeric_limits<std::uint32_t>::max());
}

}  // namespace

Result<Message> Parser::parse(std::string_view borrowed, std::string* owned,
                              const ParseLimits& limits) {
  std::size_t size = owned != nullptr ? owned->size() : borrowed.size();
  if (size > size_limit(limits)) {
    return fail("Message too large", size_limit(limits), 513);
  }
  // The message is parsed where the caller receives it: a single named result, so that the
  // ~600-byte Message is not moved on the way out.
  Result<Message> result{Message{}};
  Message& message = result.value();
  message.size_ = static_cast<std::uint32_t>(size);
  if (owned != nullptr) {
    message.owned_ = std::move(*owned);
  } else {
    message.borrowed_ = borrowed.data() != nullptr ? borrowed.data() : kEmptyText;
  }
  Parser parser(message, limits);
  if (auto error = parser.run()) {
    result = Result<Message>(std::move(*error));
  }
  return result;
}

Result<Message> parse_message_view(std::string_view text, const ParseLimits& limits) {
  return Parser::parse(text, nullptr, limits);
}

Result<Message> parse_message(std::string text, const ParseLimits& limits) {
  return Parser::parse({}, &text, limits);
}

}  // namespace catchline::sip
