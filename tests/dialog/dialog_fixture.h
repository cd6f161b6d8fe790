#pragma once

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "sip/builder.h"
#include "sip/message.h"

namespace catchline::sip::dialog::testing {

inline Message parse(std::string text) {
  auto message = parse_message(std::move(text));
  if (!message) {
    ADD_FAILURE() << "test message does not parse: " << message.error().reason;
    return Message{};
  }
  return std::move(*message);
}

/// An INVITE from alice (sip:1001) to bob (sip:1002) through two record-routing proxies.
/// `extra` adds header lines ("Name: value\r\n").
inline std::string invite_text(std::string_view extra = {},
                               std::string_view request_uri = "sip:1002@192.0.2.20",
                               std::uint32_t cseq = 10) {
  std::string text = "INVITE " + std::string(request_uri) + " SIP/2.0\r\n";
  text += "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-inv-1;rport\r\n";
  text += "Max-Forwards: 70\r\n";
  text += "From: \"Alice\" <sip:1001@pbx.example.test>;tag=alice-tag\r\n";
  text += "To: <sip:1002@pbx.example.test>\r\n";
  text += "Call-ID: dialog-call-1@192.0.2.10\r\n";
  text += "CSeq: " + std::to_string(cseq) + " INVITE\r\n";
  text += "Contact: <sip:1001@192.0.2.10:5060;transport=udp>\r\n";
  text += extra;
  text += "Content-Length: 0\r\n\r\n";
  return text;
}

/// A response to `request` from bob with To tag `to_tag`, Contact `contact`, and `extra`.
inline Message response(const Message& request, int status, std::string_view to_tag,
                        std::string_view contact = "<sip:1002@192.0.2.20:5062>",
                        std::string_view extra_name = {}, std::string_view extra_value = {}) {
  auto builder = response_to(request, status, {}, to_tag);
  if (!contact.empty()) {
    builder.header(Header::Contact, contact);
  }
  if (!extra_name.empty()) {
    builder.header(extra_name, extra_value);
  }
  return parse(std::move(builder).finish());
}

}  // namespace catchline::sip::dialog::testing
