// Fuzzes the message parser and everything that reads what it accepted: for every Message that
// parse_message_view() returns, the guarantees written on Message must hold (the top Via, From,
// To, CSeq, every Contact and Route element parse; no control character but HTAB in a header
// name or value, except a fold's CRLF, nor in the method, Request-URI or reason phrase; views
// stay inside the text; copies, moves and take_ownership() keep every view). A broken
// guarantee traps, so libFuzzer reports it.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sip/headers/cseq.h"
#include "sip/headers/name_addr.h"
#include "sip/headers/params.h"
#include "sip/headers/simple.h"
#include "sip/headers/via.h"
#include "sip/message.h"
#include "sip/uri.h"

namespace sip = catchline::sip;

namespace {

void require(bool condition) {
  if (!condition) {
    __builtin_trap();
  }
}

// A view must lie inside the message text.
void inside(const sip::Message& message, std::string_view part) {
  if (part.empty()) {
    return;
  }
  const char* begin = message.raw().data();
  require(part.data() >= begin && part.data() + part.size() <= begin + message.raw().size());
}

// No control character (%x00-1F, %x7F) but HTAB; with `folds`, a CRLF or LF followed by SP or
// HTAB (a folded header value) is allowed too.
void no_control(std::string_view text, bool folds) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto byte = static_cast<unsigned char>(text[i]);
    if ((byte >= 0x20 && byte != 0x7F) || text[i] == '\t') {
      continue;
    }
    require(folds);
    if (text[i] == '\r') {
      require(i + 1 < text.size() && text[i + 1] == '\n');
      ++i;
    }
    require(text[i] == '\n');
    require(i + 1 < text.size() && (text[i + 1] == ' ' || text[i + 1] == '\t'));
  }
}

void check_accepted(const sip::Message& message) {
  for (std::string_view part :
       {message.method_name(), message.request_uri(), message.reason_phrase(), message.call_id(),
        message.cseq_method_name(), message.top_via(), message.branch(), message.from_tag(),
        message.to_tag(), message.body()}) {
    inside(message, part);
  }
  for (const sip::HeaderField& field : message.headers()) {
    inside(message, message.view(field.name));
    inside(message, message.view(field.value));
    require(sip::header_from_name(message.view(field.name)) == field.id);
    no_control(message.view(field.name), false);
    no_control(message.view(field.value), true);
  }
  no_control(message.method_name(), false);
  no_control(message.request_uri(), false);
  no_control(message.reason_phrase(), false);

  auto via = sip::parse_via(message.top_via());
  require(via.has_value());
  require(via->branch == message.branch());
  require(!message.call_id().empty());

  auto cseq = sip::parse_cseq(message.header_value(sip::Header::CSeq).value_or(""));
  require(cseq.has_value() && cseq->number == message.cseq_number());
  if (message.is_request()) {
    require(cseq->method_name == message.method_name());
    auto uri = sip::parse_uri(message.request_uri());
    require(uri.has_value());
    if (uri->scheme == sip::Scheme::Sip || uri->scheme == sip::Scheme::Sips) {
      require(sip::uri_equal(*uri, *uri));
    }
  } else {
    require(message.status() >= 100 && message.status() <= 699);
  }

  auto from = sip::parse_name_addr(message.header_value(sip::Header::From).value_or(""));
  auto to = sip::parse_name_addr(message.header_value(sip::Header::To).value_or(""));
  require(from.has_value() && to.has_value());
  require(from->tag() == message.from_tag() && to->tag() == message.to_tag());
  (void)from->display();

  for (sip::Header header :
       {sip::Header::Via, sip::Header::Contact, sip::Header::Route, sip::Header::RecordRoute}) {
    message.for_each_value(header, [&](std::string_view value) {
      sip::HeaderList list(value);
      while (auto element = list.next()) {
        if (header == sip::Header::Via) {
          require(sip::parse_via(*element).has_value());
        } else if (header == sip::Header::Contact) {
          require(sip::parse_contact(*element).has_value());
        } else {
          require(sip::parse_name_addr(*element).has_value());
        }
      }
    });
  }
  if (auto hops = message.max_forwards()) {
    require(*hops >= 0 && *hops <= 255);
  }

  // Typed readers of headers the parser leaves as text must not crash either.
  (void)sip::parse_event(message.header_value(sip::Header::Event).value_or(""));
  (void)sip::parse_subscription_state(
      message.header_value(sip::Header::SubscriptionState).value_or(""));
  (void)sip::parse_replaces(message.header_value(sip::Header::Replaces).value_or(""));
  (void)sip::parse_reason(message.header_value(sip::Header::Reason).value_or(""));
  (void)sip::parse_content_type(message.header_value(sip::Header::ContentType).value_or(""));
  (void)sip::list_contains(message.header_value(sip::Header::Supported).value_or(""), "100rel");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Any outcome is fine; crashing, leaking or hanging is not.
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto message = sip::parse_message_view(text);
  auto owned = sip::parse_message(std::string(text));
  require(message.has_value() == owned.has_value());
  if (!message) {
    require(!message.error().reason.empty());
    require(message.error().reason == owned.error().reason);
    require(message.error().offset <= size || message.error().status == 513);
    return 0;
  }
  check_accepted(*message);

  // Copies, moves and ownership keep every view.
  sip::Message copy = *message;
  sip::Message moved = std::move(*message);
  moved.take_ownership();
  require(copy.raw() == moved.raw());
  require(copy.call_id() == moved.call_id() && copy.branch() == moved.branch());
  require(copy.headers().size() == owned->headers().size());
  require(copy.body() == owned->body());
  check_accepted(moved);
  return 0;
}
