#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sip/message.h"

namespace catchline::sip {

/// The standard reason phrase of a status code ("Ringing" for 180); "" for unknown codes.
std::string_view default_reason(int status);

/// Where a request really came from, so that a response can carry `received`/`rport` in its
/// top Via (RFC 3261 §18.2.1, RFC 3581 §4).
struct ReceivedFrom {
  std::string_view address;  // "192.0.2.1" or "2001:db8::1" (no brackets)
  std::uint16_t port = 0;
};

/// Builds one outgoing SIP message as text: start line, headers in the order added, then
/// Content-Length (always, computed from the body) and the body. Values are written as given:
/// the caller passes valid header text. Output is always a complete, parseable message.
class MessageBuilder {
 public:
  /// A request line: "INVITE sip:1002@pbx.example.test SIP/2.0".
  static MessageBuilder request(std::string_view method, std::string_view request_uri);
  static MessageBuilder request(Method method, std::string_view request_uri);
  /// A status line; an empty reason takes default_reason(status).
  static MessageBuilder response(int status, std::string_view reason = {});

  /// Appends "Name: value" under the header's canonical long name; Header::Other has no name
  /// and is ignored (use the string overload).
  MessageBuilder& header(Header header, std::string_view value);
  /// Appends "name: value" with the name as given.
  MessageBuilder& header(std::string_view name, std::string_view value);
  /// Copies every header line of kind `header` from `from`, in order, with its value as
  /// received under the canonical long name. Header::Other copies every unknown header line
  /// with the name it was received under.
  MessageBuilder& copy_headers(const Message& from, Header header);
  /// Sets the body and its Content-Type (an empty body writes no Content-Type).
  MessageBuilder& body(std::string_view content_type, std::string_view body);
  /// The same, taking the body's storage.
  MessageBuilder& body(std::string_view content_type, std::string&& body);
  MessageBuilder& body(std::string_view content_type, const char* body) {
    return this->body(content_type, std::string_view(body));
  }

  /// The finished message text; the builder is spent (its text is moved out). Callable on an
  /// lvalue so that a chain `request(...).header(...).finish()` works.
  std::string finish();

 private:
  friend MessageBuilder response_to(const Message&, int, std::string_view, std::string_view,
                                    std::optional<ReceivedFrom>);
  explicit MessageBuilder(std::size_t reserve) { text_.reserve(reserve); }
  void start_response(int status, std::string_view reason);
  void line(std::string_view name, std::string_view value);

  std::string text_;
  std::string body_;
  std::string content_type_;
};

/// A response to `request` (RFC 3261 §8.2.6): copies every Via, From, To, Call-ID, CSeq (and,
/// for a 100, Timestamp: §8.2.6.1); adds `;tag=to_tag` to To when To has no tag and to_tag is
/// not empty (a To that has a tag keeps it). When `received` is set, the top Via entry (only
/// it, even when its header line holds more entries) gains `received=address` when the address
/// differs from the sent-by host (RFC 3261 §18.2.1) or when the request asked for rport, which
/// RFC 3581 §4 requires even for an equal address; and a valueless `rport` becomes
/// `rport=port`. A top Via that already has received= keeps it. Add further headers and a
/// body, then finish().
MessageBuilder response_to(const Message& request, int status, std::string_view reason = {},
                           std::string_view to_tag = {},
                           std::optional<ReceivedFrom> received = std::nullopt);

/// A new random token for tags and branches: 16+ characters from [0-9a-zA-Z], unguessable
/// enough for tags (fast PRNG seeded from the OS; not a key).
std::string random_token(std::size_t length = 16);

/// A new branch: kBranchCookie followed by a random token.
std::string new_branch();
/// The same appended to `out` (no string of its own).
void append_branch(std::string& out);

}  // namespace catchline::sip
