#pragma once

#include <arpa/inet.h>

#include <array>
#include <boost/asio/ip/address.hpp>
#include <cstddef>
#include <string_view>

namespace catchline::sip::txn {

/// An IP address as text without allocating: "192.0.2.1", "2001:db8::1" (no brackets), for
/// the received parameter of responses (RFC 3261 §18.2.1). asio's to_string() allocates and
/// goes through sprintf; a response per request makes that worth avoiding.
class AddressText {
 public:
  explicit AddressText(const boost::asio::ip::address& address) {
    if (address.is_v4()) {
      const auto bytes = address.to_v4().to_bytes();
      for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (i > 0) {
          text_[length_++] = '.';
        }
        write_byte(bytes[i]);
      }
      return;
    }
    const auto bytes = address.to_v6().to_bytes();
    if (inet_ntop(AF_INET6, bytes.data(), text_.data(), text_.size()) != nullptr) {
      length_ = std::char_traits<char>::length(text_.data());
    }
  }

  std::string_view view() const { return {text_.data(), length_}; }

 private:
  void write_byte(unsigned value) {
    if (value >= 100) {
      text_[length_++] = static_cast<char>('0' + value / 100);
    }
    if (value >= 10) {
      text_[length_++] = static_cast<char>('0' + value / 10 % 10);
    }
    text_[length_++] = static_cast<char>('0' + value % 10);
  }

  std::array<char, INET6_ADDRSTRLEN> text_{};
  std::size_t length_ = 0;
};

/// The sent-by of a top Via entry that parse_message() already validated
/// ("SIP/2.0/UDP host:port;branch=..." gives "host:port"), found without parsing the whole
/// entry: transaction matching (RFC 3261 §17.2.3) compares it as text for every request.
inline std::string_view via_sent_by(std::string_view top_via) {
  constexpr std::string_view kSpace = " \t\r\n";
  // Past "SIP / 2.0 / transport": the second '/', the transport token and the space after it.
  std::size_t at = top_via.find('/');
  at = at == std::string_view::npos ? at : top_via.find('/', at + 1);
  if (at == std::string_view::npos) {
    return {};
  }
  at = top_via.find_first_not_of(kSpace, at + 1);
  at = at == std::string_view::npos ? at : top_via.find_first_of(kSpace, at);
  at = at == std::string_view::npos ? at : top_via.find_first_not_of(kSpace, at);
  if (at == std::string_view::npos) {
    return {};
  }
  std::size_t end = top_via.find(';', at);
  std::string_view sent_by =
      top_via.substr(at, end == std::string_view::npos ? top_via.npos : end - at);
  while (!sent_by.empty() && kSpace.find(sent_by.back()) != std::string_view::npos) {
    sent_by.remove_suffix(1);
  }
  return sent_by;
}

}  // namespace catchline::sip::txn
